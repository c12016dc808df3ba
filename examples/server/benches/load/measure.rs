//! What a run measured, and the table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// One measured run.
#[derive(Debug, Default)]
pub(crate) struct Measure {
    /// Answers by status.
    pub(crate) statuses: BTreeMap<u16, usize>,
    /// Requests h2load gave up on (connection errors, timeouts).
    pub(crate) errored: usize,
    pub(crate) seconds: f64,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) peak_rss_kib: Option<u64>,
    pub(crate) cpu_seconds: Option<f64>,
}

impl Measure {
    pub(crate) fn ok(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    pub(crate) fn per_second(&self) -> f64 {
        self.ok() as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// The server's (or, for the baseline, this process's) CPU time per answer.
    pub(crate) fn cpu_per_request(&self) -> Option<Duration> {
        let answers: usize = self.statuses.values().sum();
        self.cpu_seconds
            .filter(|_| answers > 0)
            .map(|cpu| Duration::from_secs_f64(cpu / answers as f64))
    }

    pub(crate) fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[at.min(sorted.len() - 1)]
    }

    /// Non-2xx answers and errors, for the table, e.g. `429×12 err×3`.
    pub(crate) fn other(&self) -> String {
        let mut other = String::new();
        for (status, n) in &self.statuses {
            if !(200..300).contains(status) {
                let _ = write!(other, "{status}×{n} ");
            }
        }
        if self.errored > 0 {
            let _ = write!(other, "err×{}", self.errored);
        }
        match other.trim() {
            "" => "-".to_owned(),
            trimmed => trimmed.to_owned(),
        }
    }
}

pub(crate) struct Row {
    operation: String,
    protocol: String,
    answers: usize,
    other: String,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request: Option<Duration>,
    peak_rss_kib: Option<u64>,
    ratio: String,
}

impl Row {
    pub(crate) fn new(
        operation: &str,
        protocol: &str,
        measure: &Measure,
        ratio: Option<String>,
    ) -> Self {
        let answers = measure.statuses.values().sum();
        Row {
            operation: operation.to_owned(),
            protocol: protocol.to_owned(),
            answers,
            other: measure.other(),
            per_second: measure.per_second(),
            p50: measure.percentile(0.5),
            p99: measure.percentile(0.99),
            cpu_per_request: measure.cpu_per_request(),
            peak_rss_kib: measure.peak_rss_kib,
            ratio: ratio.unwrap_or_else(|| "baseline".into()),
        }
    }
}

pub(crate) fn print_table(rows: &[Row]) {
    println!(
        "{:<22} {:<16} {:>7} {:<10} {:>9} {:>8} {:>8} {:>9} {:>9}  ratio",
        "operation",
        "client",
        "answers",
        "non-2xx",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/rq",
        "peak MiB"
    );
    for row in rows {
        println!(
            "{:<22} {:<16} {:>7} {:<10} {:>9.0} {:>8.2} {:>8.2} {:>9} {:>9}  {}",
            row.operation,
            row.protocol,
            row.answers,
            row.other,
            row.per_second,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.cpu_per_request
                .map_or("-".into(), |cpu| format!("{:.0}", cpu.as_secs_f64() * 1e6)),
            row.peak_rss_kib
                .map_or("-".into(), |kib| format!("{:.1}", mib(kib))),
            row.ratio
        );
    }
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
