//! Runs every property of `beams_test_support::hostile` for a given time, with fresh random
//! cases each round, and reports how many cases each target ran and any failure with its
//! smallest input.
//!
//! ```text
//! cargo run --release -p beams-test-support --bin beams-fuzz -- --seconds 600
//! cargo run --release -p beams-test-support --bin beams-fuzz -- --seconds 60 --target subscription
//! ```
//!
//! The time is shared evenly between the targets run. Each round of a target runs
//! `--cases` cases (default 64) from one seed; a failure names the seed, so
//! `--target NAME --seed SEED` runs the failing round again first. Exits 1 when a property
//! fails, 2 on a bad command line.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use beams_test_support::hostile::targets::{self, Target};
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    seconds: u64,
    target: Option<String>,
    seed: Option<u64>,
    cases: u32,
}

const USAGE: &str = "usage: beams-fuzz --seconds N [--target NAME] [--seed N] [--cases N] | --list";

/// What one target did in its time.
#[derive(Debug)]
struct Tally {
    name: &'static str,
    cases: u64,
    elapsed: Duration,
    failure: Option<String>,
}

/// The last panic's message and place: a property that panics is reported with it, while
/// the panics of shrinking stay quiet.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = targets::all();
    if args.iter().any(|arg| arg == "--list") {
        for target in &all {
            println!("{}", target.name());
        }
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let chosen: Vec<&Target> = all
        .iter()
        .filter(|target| {
            options
                .target
                .as_deref()
                .is_none_or(|name| name == target.name())
        })
        .collect();
    if chosen.is_empty() {
        eprintln!("no target named {:?}; --list shows them", options.target);
        return ExitCode::from(2);
    }

    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
    }));
    let first_seed = options.seed.unwrap_or_else(random_seed);
    let share = Duration::from_secs(options.seconds) / u32::try_from(chosen.len()).unwrap_or(1);
    println!(
        "beams-fuzz: {} target(s), {:?} each, {} cases a round, first seed {first_seed}",
        chosen.len(),
        share,
        options.cases
    );
    let tallies: Vec<Tally> = chosen
        .iter()
        .map(|target| fuzz(target, share, first_seed, options.cases))
        .collect();

    println!("\n{:<22} {:>12} {:>10}", "target", "cases", "seconds");
    for tally in &tallies {
        let verdict = if tally.failure.is_some() {
            "  FAILED"
        } else {
            ""
        };
        println!(
            "{:<22} {:>12} {:>10.1}{verdict}",
            tally.name,
            tally.cases,
            tally.elapsed.as_secs_f64()
        );
    }
    let total: u64 = tallies.iter().map(|tally| tally.cases).sum();
    let elapsed: Duration = tallies.iter().map(|tally| tally.elapsed).sum();
    println!(
        "{:<22} {total:>12} {:>10.1}",
        "total",
        elapsed.as_secs_f64()
    );

    let failures: Vec<&Tally> = tallies.iter().filter(|t| t.failure.is_some()).collect();
    for tally in &failures {
        println!(
            "\nFAILED {}:\n{}",
            tally.name,
            tally.failure.as_deref().unwrap_or("")
        );
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs rounds of `target` until `share` has passed or a round fails.
fn fuzz(target: &Target, share: Duration, first_seed: u64, cases: u32) -> Tally {
    let started = Instant::now();
    let mut tally = Tally {
        name: target.name(),
        cases: 0,
        elapsed: Duration::ZERO,
        failure: None,
    };
    let mut seed = first_seed;
    while started.elapsed() < share {
        let mut runner = TestRunner::new(Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            // Fresh cases every round; a failure is reported by its seed instead.
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(failure) = target.run(&mut runner) {
            let panic = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut last| last.take())
                .map_or(String::new(), |panic| format!("\nlast panic: {panic}"));
            tally.failure = Some(format!(
                "{failure}{panic}\nagain: --target {} --seed {seed} --cases {cases}",
                target.name()
            ));
            break;
        }
        tally.cases += u64::from(cases);
        seed = seed.wrapping_add(1);
    }
    tally.elapsed = started.elapsed();
    tally
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: 0,
        target: None,
        seed: None,
        cases: 64,
    };
    let mut seconds = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: &String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: {text:?} is not a whole number"))
        };
        match flag.as_str() {
            "--seconds" => seconds = Some(number(value()?)?),
            "--target" => options.target = Some(value()?.clone()),
            "--seed" => options.seed = Some(number(value()?)?),
            "--cases" => {
                let cases = number(value()?)?;
                options.cases = u32::try_from(cases.max(1)).unwrap_or(u32::MAX);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.seconds = seconds.ok_or("--seconds is required")?;
    Ok(options)
}

/// A seed from the standard library's per-process random keys.
fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    hasher.finish()
}
