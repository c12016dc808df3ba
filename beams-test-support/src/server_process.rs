//! The `beams-server` binary as a child process: started with the given flags and none of the
//! caller's `BEAMS_…` variables, ready once it prints its `listening on` lines (two with
//! `--tls-listen`: `--listen`'s, then the https one), and killed when dropped (so a failing
//! test never leaves it running).
//!
//! ```no_run
//! use beams_test_support::server_process::ServerProcess;
//! use std::process::Stdio;
//!
//! # fn run(binary: &std::path::Path) -> Result<(), String> {
//! let mut server = ServerProcess::start(binary, &["--data-dir", "/tmp/x"], Stdio::null())?;
//! println!("serving at http://{}", server.addr);
//! server.kill_now()?;
//! # Ok(())
//! # }
//! ```

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the server may take to start listening, or to exit once killed.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `beams-server`.
#[derive(Debug)]
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// Its process id.
    pub pid: u32,
    /// Where it listens, `host:port` (the `--listen 127.0.0.1:0` it is always given): plain
    /// http, or https when TLS is configured without `--tls-listen`.
    pub addr: String,
    /// Where it serves https, `host:port`, when `flags` had `--tls-listen`.
    pub tls_addr: Option<String>,
    /// What it printed before its `listening on` lines: the banner.
    pub banner: Vec<String>,
}

impl ServerProcess {
    /// Starts `binary` listening on an ephemeral loopback port with `flags`, logging at `warn`
    /// to `stderr`, and waits (bounded) until it listens.
    pub fn start(binary: &Path, flags: &[&str], stderr: impl Into<Stdio>) -> Result<Self, String> {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BEAMS_")) {
            command.env_remove(name);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("beams-server does not start: {e}"))?;
        let stdout = child.stdout.take();
        let mut server = ServerProcess {
            pid: child.id(),
            child,
            addr: String::new(),
            tls_addr: None,
            banner: Vec::new(),
        };
        let tls_listen = flags
            .iter()
            .any(|flag| *flag == "--tls-listen" || flag.starts_with("--tls-listen="));
        let stdout = stdout.ok_or("beams-server has no stdout")?;
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end even when nobody listens any more: a closed pipe would make the
            // server's next write to its standard output fail.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let line = received
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| format!("no `listening on` line; printed {:?}", server.banner))?;
            let Some(addr) = listening_address(&line) else {
                server.banner.push(line);
                continue;
            };
            if server.addr.is_empty() {
                server.addr = addr;
                if !tls_listen {
                    return Ok(server);
                }
            } else {
                server.tls_addr = Some(addr);
                return Ok(server);
            }
        }
    }

    /// SIGTERM (a graceful stop), and waits (bounded) until the process has exited; answers
    /// its exit status.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus, String> {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("kill -TERM: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {pid} failed"));
        }
        let deadline = Instant::now() + START_LIMIT * 4;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => return Err("still running after SIGTERM".into()),
                Err(e) => return Err(format!("wait: {e}")),
            }
        }
    }

    /// SIGKILL, and waits (bounded) until the process has exited.
    pub fn kill_now(&mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| format!("kill: {e}"))?;
        let deadline = Instant::now() + START_LIMIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => return Err("still running after SIGKILL".into()),
                Err(e) => return Err(format!("wait: {e}")),
            }
        }
    }
}

/// The `host:port` of a `listening on http://…` or `listening on https://…` line.
fn listening_address(line: &str) -> Option<String> {
    let url = line.strip_prefix("listening on ")?;
    let addr = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    Some(addr.trim().to_owned())
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_give_their_address_whatever_the_scheme() {
        assert_eq!(
            listening_address("listening on http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            listening_address("listening on https://[::1]:8443 ").as_deref(),
            Some("[::1]:8443")
        );
        assert_eq!(listening_address("  platforms:    web"), None);
        assert_eq!(listening_address("listening on ftp://x"), None);
    }
}
