//! The Device Interests benchmark, shared by the SQLite and sled stores (each bench names its
//! store with a [`BenchStore`] and calls [`run`]).
//!
//! The store holds 100,000 Web devices subscribed to `news`, some of them to `alerts`, `sports`
//! and one of 20 `region-*` interests as well, and 1,000 devices in `alerts` and `sports` only,
//! which a publish to `news` must pass over. It is built through `DeviceStore`
//! (`register_device`, then `set_interests`) from concurrent tasks; the build time is printed.
//!
//! - Group `interests_publish_100k/<store>` (devices per second, 10 samples):
//!   `publish_to_interests` publishes to `news` through a gateway that answers at once;
//!   `store_paging_baseline` pages through the same devices with `subscribers_page` and sends
//!   nothing, so the ratio shows what the fan-out adds to the store's own paging.
//! - Memory: fresh child processes open the store and run one step twice (cold, then warm
//!   cache), reporting the peak RSS (`VmHWM`, reset through `/proc/self/clear_refs`) over the
//!   RSS before it; one child publishes, another only pages, so the difference is the fan-out's.
//!
//! `cargo test --benches` runs it once on 1,000 devices and skips the memory step.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::harness::{delivered, engine, reset_peak, run_child, status_kb};
use beams_core::testing::fixtures::{metadata, push_token};
use beams_core::{
    Beams, DeviceId, DeviceRegistration, DeviceStore, Interest, Platform, PublishRequest, Timestamp,
};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use serde_json::json;
use tokio::runtime::Runtime;

/// Devices subscribed to `news` in a benchmark run.
const DEVICES: usize = 100_000;
/// Devices subscribed to `news` in test mode (`cargo test --benches`).
const TEST_DEVICES: usize = 1_000;
/// The platform of every device.
const PLATFORM: Platform = Platform::Web;
/// Devices per page in the paging baseline: the fan-out's page with the default config.
const PAGE: usize = 1000;
/// Set in a child process that measures memory: `step devices path` (see [`memory_child`]).
const MEMORY_CHILD_ENV: &str = "BEAMS_INTERESTS_BENCH_MEMORY";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// A store the benchmark runs on.
#[derive(Debug, Clone, Copy)]
pub struct BenchStore<S> {
    /// The name in the criterion group.
    pub name: &'static str,
    /// Concurrent tasks building the store.
    pub builders: usize,
    /// Opens (creating if needed) the store at a path.
    pub open: fn(&Runtime, &Path) -> Result<S, String>,
}

fn interest(name: &str) -> Interest {
    Interest::new(name).expect("bench interest names are valid")
}

/// Device `n`'s interests: `news` for the first `devices`, others for the rest.
fn interests_of(n: usize, devices: usize) -> BTreeSet<Interest> {
    let mut set = BTreeSet::new();
    if n < devices {
        set.insert(interest("news"));
        if n.is_multiple_of(3) {
            set.insert(interest("alerts"));
        }
        if n.is_multiple_of(4) {
            set.insert(interest("sports"));
        }
        if n.is_multiple_of(10) {
            set.insert(interest(&format!("region-{}", n % 20)));
        }
    } else {
        set.insert(interest("alerts"));
        set.insert(interest("sports"));
    }
    set
}

/// Registers `devices` devices in `news` and `devices / 100` outside it, from concurrent tasks.
async fn populate<S: DeviceStore + Clone + 'static>(store: &S, builders: usize, devices: usize) {
    let total = devices + devices / 100;
    let tasks: Vec<_> = (0..builders)
        .map(|first| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in (first..total).step_by(builders) {
                    let device = store
                        .register_device(DeviceRegistration {
                            id: DeviceId::generate(PLATFORM),
                            token: push_token(PLATFORM, n as u64),
                            metadata: metadata("1.0.0"),
                            at: Timestamp::from_unix_millis(n as i64),
                        })
                        .await
                        .expect("register_device succeeds")
                        .into_device()
                        .expect("a new token registers");
                    store
                        .set_interests(&device.id, &interests_of(n, devices))
                        .await
                        .expect("set_interests succeeds")
                        .expect("the device was just registered");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a builder did not panic");
    }
}

fn request() -> PublishRequest {
    let section = json!({"notification": {"title": "Hello", "body": "A benchmark notification"}});
    PublishRequest::to_interests([interest("news")])
        .expect("one interest")
        .with_section(PLATFORM, section)
        .expect("the section is an object")
}

/// Pages through the devices of `interests` to the end, as the fan-out does, sending nothing;
/// returns how many there were.
async fn page_through(store: &dyn DeviceStore, interests: &[Interest]) -> usize {
    let (mut after, mut seen) = (None::<DeviceId>, 0);
    loop {
        let page = store
            .subscribers_page(interests, after.as_ref(), PAGE)
            .await
            .expect("subscribers_page succeeds");
        seen += page.len();
        if page.len() < PAGE {
            return seen;
        }
        after = page.last().map(|device| device.id.clone());
    }
}

fn interests_publish(c: &mut Criterion, rt: &Runtime, beams: &Beams, devices: usize, name: &str) {
    let request = request();
    let report = rt
        .block_on(beams.publish(request.clone()))
        .expect("the request has a section");
    assert_eq!(
        delivered(&report),
        devices,
        "every device in news is reached"
    );
    let news = [interest("news")];
    let store = beams.store().as_ref();
    let seen = rt.block_on(page_through(store, &news));
    assert_eq!(seen, devices, "paging finds every device in news");

    let mut group = c.benchmark_group(format!("interests_publish_100k/{name}"));
    group.throughput(Throughput::Elements(devices as u64));
    // One iteration per sample, about a second each (criterion may say 10 s is a little short).
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("publish_to_interests", |b| {
        b.iter_batched(
            || request.clone(),
            |request| rt.block_on(beams.publish(request)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("store_paging_baseline", |b| {
        b.iter(|| rt.block_on(page_through(store, &news)))
    });
    group.finish();
}

/// What a memory child runs twice: a publish, or the store's paging alone.
#[derive(Debug, Clone, Copy)]
enum Step {
    Publish,
    Paging,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Publish => "publish_to_interests",
            Step::Paging => "store_paging_baseline",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Step::Publish, Step::Paging]
            .into_iter()
            .find(|step| step.name() == name)
    }
}

/// Runs `step`; returns its peak RSS over the RSS before it and the RSS it leaves over that,
/// in kB.
fn around(step: impl FnOnce() -> usize, devices: usize) -> Result<(u64, u64), String> {
    let before = status_kb("VmRSS")?;
    reset_peak().map_err(|e| format!("cannot reset the peak (clear_refs: {e})"))?;
    let reached = step();
    let peak = status_kb("VmHWM")?;
    assert_eq!(reached, devices, "every device in news is reached");
    let after = status_kb("VmRSS")?;
    Ok((peak.saturating_sub(before), after.saturating_sub(before)))
}

/// In the child: the opened store's RSS, then `step` run twice (cold, then warm store cache),
/// each as [`around`] measures it, in kB.
fn measure<S: DeviceStore + Clone + 'static>(
    bench: BenchStore<S>,
    path: &Path,
    devices: usize,
    step: Step,
) -> Result<[u64; 5], String> {
    let rt = runtime();
    let empty = status_kb("VmRSS")?;
    let store = (bench.open)(&rt, path)?;
    let beams = engine(store);
    let open = status_kb("VmRSS")?.saturating_sub(empty);
    let news = [interest("news")];
    let run = || match step {
        Step::Publish => {
            let report = rt.block_on(beams.publish(request()));
            delivered(&report.expect("the request has a section"))
        }
        Step::Paging => rt.block_on(page_through(beams.store().as_ref(), &news)),
    };
    let (cold_peak, cold_left) = around(run, devices)?;
    let (warm_peak, warm_left) = around(run, devices)?;
    Ok([open, cold_peak, cold_left, warm_peak, warm_left])
}

/// Runs [`measure`] in a fresh child process, so no earlier phase's heap is reused.
fn measure_isolated(path: &Path, devices: usize, step: Step) -> Result<[u64; 5], String> {
    let path = path.to_str().ok_or("the temp path is not UTF-8")?;
    let task = format!("{} {devices} {path}", step.name());
    let output = run_child(MEMORY_CHILD_ENV, &task)
        .map_err(|e| format!("cannot start a child process: {e}"))?;
    let output = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let numbers: Vec<u64> = output
        .split(' ')
        .map_while(|field| field.parse().ok())
        .collect();
    numbers
        .try_into()
        .map_err(|_| format!("the measuring child said: {output}"))
}

/// The child's side: `MEMORY_CHILD_ENV` is `step devices path`.
fn memory_child<S: DeviceStore + Clone + 'static>(bench: BenchStore<S>, task: &str) {
    let mut fields = task.splitn(3, ' ');
    let step = fields.next().and_then(Step::parse);
    let devices = fields.next().and_then(|n| n.parse().ok());
    let (Some(step), Some(devices), Some(path)) = (step, devices, fields.next()) else {
        println!("the parent passed no step, count and path: {task}");
        return;
    };
    match measure(bench, Path::new(path), devices, step) {
        Ok(kb) => println!("{} {} {} {} {}", kb[0], kb[1], kb[2], kb[3], kb[4]),
        Err(e) => println!("{e}"),
    }
}

fn memory_report(path: &Path, devices: usize) {
    println!(
        "\ninterests memory, {devices} devices in news (each line a fresh process: open the \
         store, run twice; peak and left are over the RSS just before the run):"
    );
    let mut peaks = Vec::new();
    for step in [Step::Publish, Step::Paging] {
        match measure_isolated(path, devices, step) {
            Ok([open, cold_peak, cold_left, warm_peak, warm_left]) => {
                println!(
                    "  {:<21} store open {open} kB RSS; 1st run (cold cache): peak +{cold_peak} \
                     kB, left +{cold_left} kB; 2nd run: peak +{warm_peak} kB, left +{warm_left} kB",
                    step.name()
                );
                peaks.push([cold_peak, warm_peak]);
            }
            Err(e) => println!("  {}: not measured: {e}", step.name()),
        }
    }
    if let [publish, paging] = peaks[..] {
        let added = |run: usize| publish[run] as i64 - paging[run] as i64;
        println!(
            "  the fan-out adds {:+} kB (1st run) and {:+} kB (2nd run) to the peak of the \
             store's own paging",
            added(0),
            added(1)
        );
    }
}

/// Runs the whole benchmark on the store `bench` opens.
pub fn run<S: DeviceStore + Clone + 'static>(bench: BenchStore<S>) {
    if let Ok(task) = std::env::var(MEMORY_CHILD_ENV) {
        memory_child(bench, &task);
        return;
    }
    // `cargo bench` passes `--bench`; without it criterion only tests, on a small store.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let devices = if benching { DEVICES } else { TEST_DEVICES };

    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let path = dir.path().join("interests");
    let store = (bench.open)(&rt, &path).expect("the bench store opens");
    let start = Instant::now();
    rt.block_on(populate(&store, bench.builders, devices));
    println!(
        "built {} devices ({devices} in news) in {:.1} s",
        devices + devices / 100,
        start.elapsed().as_secs_f64()
    );

    let beams = engine(store);
    let mut criterion = Criterion::default().configure_from_args();
    interests_publish(&mut criterion, &rt, &beams, devices, bench.name);
    criterion.final_summary();
    // Stores that lock their files (sled) open in the child only once this process lets go.
    drop(beams);
    if benching {
        memory_report(&path, devices);
    }
}
