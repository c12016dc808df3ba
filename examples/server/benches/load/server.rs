//! The server binary as a child process, and what `/proc` says about it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use beams_test_support::server_process::ServerProcess;

use crate::{INSTANCE, LIMIT, SECRET};

/// The server binary of this build on `data_dir`, logging to `log`, without per-client limits
/// (a load test is many clients on one address) or the example token route.
/// `extra` adds flags (a store, a journal).
pub(crate) fn start_server(
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
) -> Result<ServerProcess, String> {
    let log = std::fs::File::create(log).map_err(|e| format!("no server log: {e}"))?;
    let data_dir = data_dir.to_str().ok_or("the data directory is not UTF-8")?;
    let mut args = vec![
        "--data-dir",
        data_dir,
        "--instance-id",
        INSTANCE,
        "--secret-key",
        SECRET,
        "--registrations-per-minute",
        "0",
        "--interest-changes-per-minute",
        "0",
        "--events-per-minute",
        "0",
        "--auth-example",
        "off",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_beams-server")), &args, log)
}

/// A `kB` field of the process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS (Linux).
pub(crate) fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// User and system CPU time the process has used, in seconds (Linux).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks; 100 a second on every Linux this runs on (USER_HZ).
    Some((utime + stime) as f64 / 100.0)
}

/// Waits (bounded) until the server uses no CPU for half a second; returns how long that took.
pub(crate) fn wait_until_idle(pid: u32) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = cpu_seconds(pid).ok_or("cannot read the server's CPU time")?;
    let mut quiet_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = cpu_seconds(pid).ok_or("cannot read the server's CPU time")?;
        if now - last > 0.015 {
            quiet_since = Instant::now();
        }
        last = now;
        if quiet_since.elapsed() >= Duration::from_millis(500) {
            return Ok(quiet_since.duration_since(started));
        }
        if started.elapsed() > LIMIT {
            return Err(format!("the server was still busy after {LIMIT:?}"));
        }
    }
}

/// The warnings and errors the server logged, counted by message.
pub(crate) fn server_warnings(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return "unreadable".into();
    };
    let mut by_message: BTreeMap<String, usize> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        // Drop the timestamp; keep level, target and message.
        let message = line.split_once(' ').map_or(line, |(_, rest)| rest).trim();
        let message: String = message.chars().take(160).collect();
        *by_message.entry(message).or_default() += 1;
    }
    if by_message.is_empty() {
        return "no warnings or errors".into();
    }
    by_message
        .iter()
        .map(|(message, n)| format!("\n  {n}× {message}"))
        .collect()
}
