//! What the publish journal costs a publish: the server with each store's journal against the
//! same server with the memory journal, one right after the other.
//!
//! For each store (SQLite, sled, PostgreSQL when a database is reachable) two servers run in
//! turn on fresh data: `--publish-journal memory`, the baseline, then `--publish-journal store`.
//! Each takes a short warm-up run and then `requests` publishes over HTTP/1.1 keep-alive, 16 in
//! flight, to 16 users without devices: every publish is journaled before its 200 (with the
//! store journal, a committed write), then looked up, found empty and finished in the
//! background (a second write). Past the answer nothing is sent, so the figures are the
//! journal's and the accept path's. The bound on unfinished publishes is lifted so that no run
//! meets a 429. After each run the bench waits for the server to go idle, and reports how long
//! the background finishing went on. The target: on SQLite, at least 0.5× the memory journal's
//! publishes/s. `cargo bench -p beams-server --bench load -- journal sqlite` (or `sled`,
//! `postgres`) measures one store.

use std::path::Path;

use crate::h2load::Runs;
use crate::measure::{Measure, Row, print_table};
use crate::server::{server_warnings, start_server, wait_until_idle};
use crate::{CONCURRENCY, INSTANCE, Protocol, SECRET};

/// Publishes sent before each measured run, so that both servers are measured warm.
const WARM_UP: usize = 200;

/// The stores measured, by their `--store` name.
const STORES: [&str; 3] = ["sqlite", "sled", "postgres"];

/// Measures publish accepts with each store's journal against the memory journal.
pub(crate) fn journal_runs(
    rt: &tokio::runtime::Runtime,
    temp: &Path,
    requests: usize,
) -> Result<(), String> {
    let mut rows = Vec::new();
    let mut settled = Vec::new();
    // `-- journal sqlite` (or sled, postgres) measures that store alone.
    let asked: Vec<String> = std::env::args().collect();
    let only: Vec<&str> = STORES
        .into_iter()
        .filter(|store| asked.iter().any(|arg| arg == store))
        .collect();
    let stores = if only.is_empty() {
        STORES.to_vec()
    } else {
        only
    };
    for store in stores {
        let mut baseline: Option<Measure> = None;
        for journal in ["memory", "store"] {
            let label = format!("{store}, {journal}");
            // A fresh schema for each PostgreSQL server, dropped when the run ends.
            let schema = if store == "postgres" {
                match rt.block_on(beams_test_support::postgres::TestSchema::create()) {
                    Some(schema) => Some(schema),
                    None => break,
                }
            } else {
                None
            };
            let dir = temp.join(format!("journal-{store}-{journal}"));
            let data_dir = dir.join("data");
            std::fs::create_dir_all(&data_dir).map_err(|e| format!("no data directory: {e}"))?;
            let work = dir.join("h2load");
            std::fs::create_dir_all(&work).map_err(|e| format!("no h2load directory: {e}"))?;
            let url = schema.as_ref().map(|schema| schema.url());
            let mut flags = vec![
                "--store",
                store,
                "--publish-journal",
                journal,
                "--max-unfinished-publishes",
                "100000000",
            ];
            if let Some(url) = &url {
                flags.extend(["--database", url]);
            }
            let log = dir.join("server.log");
            let mut server = start_server(&data_dir, &log, &flags)?;
            let measured = {
                let mut runs = Runs {
                    server: &server,
                    work: &work,
                    counter: 0,
                };
                let path = format!("/publish_api/v1/instances/{INSTANCE}/publishes/users");
                let headers = [
                    "content-type: application/json".to_owned(),
                    format!("authorization: Bearer {SECRET}"),
                ];
                let body = publish_body();
                runs.post(Protocol::Http1, &path, &body, &headers, WARM_UP)?;
                wait_until_idle(server.pid)?;
                let measure = runs.post(Protocol::Http1, &path, &body, &headers, requests)?;
                settled.push((label.clone(), wait_until_idle(server.pid)?));
                measure
            };
            server.kill_now()?;
            let warnings = server_warnings(&log);
            if warnings != "no warnings or errors" {
                println!("server ({label}) log: {warnings}");
            }
            let ratio = baseline.as_ref().map(|memory| {
                let rps = measured.per_second() / memory.per_second().max(f64::MIN_POSITIVE);
                let p99 = measured.percentile(0.99).as_secs_f64()
                    / memory.percentile(0.99).as_secs_f64().max(f64::MIN_POSITIVE);
                format!("rps {rps:.2}×, p99 {p99:.2}× memory journal")
            });
            rows.push(Row::new("publish accept", &label, &measured, ratio));
            baseline.get_or_insert(measured);
        }
    }
    print_table(&rows);
    println!();
    println!(
        "{requests} publishes per run after {WARM_UP} to warm up, HTTP/1.1, {CONCURRENCY} \
         connections; each publish to {CONCURRENCY} users without devices"
    );
    for (label, took) in settled {
        println!(
            "{label}: the server finished its publishes {:.1}s after the last answer",
            took.as_secs_f64()
        );
    }
    Ok(())
}

/// To 16 users without devices: the fan-out looks them up and finishes at once.
fn publish_body() -> String {
    let users: Vec<String> = (0..CONCURRENCY)
        .map(|i| format!("journal-user-{i}"))
        .collect();
    serde_json::json!({
        "users": users,
        "fcm": {"notification": {"title": "Journal", "body": "a journaled publish"}}
    })
    .to_string()
}
