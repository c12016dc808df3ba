//! h2load runs against the server, and what their per-request logs say.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use beams_core::DeviceId;

use crate::direct::token_for;
use crate::measure::Measure;
use beams_test_support::server_process::ServerProcess;

use crate::server::{cpu_seconds, reset_peak, status_kib};
use crate::{DeviceSet, INSTANCE, LIMIT, Protocol, split};

/// Starts h2load runs against one server, each with its own files.
pub(crate) struct Runs<'a> {
    pub(crate) server: &'a ServerProcess,
    pub(crate) work: &'a Path,
    pub(crate) counter: usize,
}

impl Runs<'_> {
    fn file(&mut self, name: &str) -> PathBuf {
        self.counter += 1;
        self.work.join(format!("{}-{name}", self.counter))
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// One h2load process per connection, each with its own user and slice of `devices`.
    pub(crate) fn associate(
        &mut self,
        set: DeviceSet,
        devices: &[DeviceId],
    ) -> Result<Measure, String> {
        let protocol = set.protocol;
        let (connections, streams) = protocol.connections_and_streams();
        let mut processes = Vec::new();
        for (i, slice) in split(devices, connections).into_iter().enumerate() {
            let mut uris = String::new();
            for device in &slice {
                let _ = writeln!(
                    uris,
                    "{}/device_api/v1/instances/{INSTANCE}/devices/fcm/{device}/user",
                    self.base()
                );
            }
            let uri_file = self.file("uris.txt");
            std::fs::write(&uri_file, uris).map_err(|e| format!("write {uri_file:?}: {e}"))?;
            let token = token_for(&format!("{}-{i}", set.users()))?;
            let mut args: Vec<String> = protocol.h2load_args().iter().map(|&a| a.into()).collect();
            args.extend([
                "-c".into(),
                "1".into(),
                "-m".into(),
                streams.to_string(),
                "-n".into(),
                slice.len().to_string(),
                "-i".into(),
                path_arg(&uri_file)?,
                "-H".into(),
                ":method: PUT".into(),
                "-H".into(),
                format!("authorization: Bearer {token}"),
            ]);
            processes.push(args);
        }
        self.measure(processes)
    }

    /// One h2load process sending `requests` POSTs of `body` to `path`.
    pub(crate) fn post(
        &mut self,
        protocol: Protocol,
        path: &str,
        body: &str,
        headers: &[String],
        requests: usize,
    ) -> Result<Measure, String> {
        self.send(protocol, path, Some(body), headers, requests)
    }

    /// One h2load process sending `requests` GETs of `path`.
    pub(crate) fn get(
        &mut self,
        protocol: Protocol,
        path: &str,
        requests: usize,
    ) -> Result<Measure, String> {
        self.send(protocol, path, None, &[], requests)
    }

    fn send(
        &mut self,
        protocol: Protocol,
        path: &str,
        body: Option<&str>,
        headers: &[String],
        requests: usize,
    ) -> Result<Measure, String> {
        let (connections, streams) = protocol.connections_and_streams();
        let mut args: Vec<String> = protocol.h2load_args().iter().map(|&a| a.into()).collect();
        args.extend([
            "-c".into(),
            connections.to_string(),
            "-m".into(),
            streams.to_string(),
            "-n".into(),
            requests.to_string(),
        ]);
        if let Some(body) = body {
            let body_file = self.file("body.json");
            std::fs::write(&body_file, body).map_err(|e| format!("write {body_file:?}: {e}"))?;
            args.extend(["-d".into(), path_arg(&body_file)?]);
        }
        for header in headers {
            args.extend(["-H".into(), header.clone()]);
        }
        args.push(format!("{}{path}", self.base()));
        self.measure(vec![args])
    }

    /// Runs the h2load processes at once and merges their per-request logs.
    fn measure(&mut self, processes: Vec<Vec<String>>) -> Result<Measure, String> {
        let pid = self.server.pid;
        reset_peak(pid);
        let cpu_before = cpu_seconds(pid);
        let mut running = Vec::new();
        for mut args in processes {
            let log = self.file("log.tsv");
            args.push(format!("--log-file={}", path_arg(&log)?));
            let child = Command::new("h2load")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("h2load does not start: {e}"))?;
            running.push((H2load(Some(child)), log));
        }
        let mut measure = Measure::default();
        let (mut first_start, mut last_end) = (u64::MAX, 0_u64);
        for (mut h2load, log) in running {
            let output = h2load.wait(LIMIT)?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            measure.errored += count_after(&stdout, " errored").unwrap_or(0)
                + count_after(&stdout, " timeout").unwrap_or(0);
            let log = std::fs::read_to_string(&log).map_err(|e| format!("read {log:?}: {e}"))?;
            for line in log.lines() {
                let mut fields = line.split('\t').map(str::parse::<u64>);
                let (Some(Ok(start)), Some(Ok(status)), Some(Ok(micros))) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(format!("unexpected h2load log line {line:?}"));
                };
                *measure
                    .statuses
                    .entry(u16::try_from(status).unwrap_or(0))
                    .or_default() += 1;
                measure.latencies.push(Duration::from_micros(micros));
                first_start = first_start.min(start);
                last_end = last_end.max(start + micros);
            }
            if !output.status.success() {
                return Err(format!(
                    "h2load failed ({}): {}{}",
                    output.status,
                    stdout,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        measure.seconds = last_end.saturating_sub(first_start) as f64 / 1e6;
        measure.peak_rss_kib = status_kib(pid, "VmHWM");
        measure.cpu_seconds = cpu_seconds(pid)
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        Ok(measure)
    }
}

/// An h2load process, killed if still running when dropped.
struct H2load(Option<Child>);

impl H2load {
    /// Waits (bounded) for h2load to exit and returns its output.
    fn wait(&mut self, limit: Duration) -> Result<Output, String> {
        let deadline = Instant::now() + limit;
        let child = self.0.as_mut().ok_or("h2load already waited for")?;
        while child
            .try_wait()
            .map_err(|e| format!("h2load: {e}"))?
            .is_none()
        {
            if Instant::now() > deadline {
                return Err(format!("h2load still running after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let child = self.0.take().ok_or("h2load already waited for")?;
        child
            .wait_with_output()
            .map_err(|e| format!("h2load output: {e}"))
    }
}

impl Drop for H2load {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn path_arg(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{path:?} is not UTF-8"))
}

/// The number before `label` in h2load's `requests:` line, e.g. `3 errored`.
fn count_after(stdout: &str, label: &str) -> Option<usize> {
    let line = stdout.lines().find(|line| line.starts_with("requests:"))?;
    line.split(',')
        .find(|part| part.ends_with(label))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
