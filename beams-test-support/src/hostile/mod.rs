//! Hostile input: generators of what the outside world can send, and the properties every
//! parser of it must keep.
//!
//! Each module covers one family of input. It offers proptest strategies (valid values built
//! by construction, values near the valid ones, and arbitrary text, bytes or JSON) and
//! `check_*` functions that state the properties: no panic, and either a typed error or a
//! value that round-trips. The same strategies and checks run in two places, so they cannot
//! drift apart:
//!
//! - the crates' property tests, with [`config`] (a few hundred cases, a few seconds each):
//!   `beams-core/tests/hostile.rs`, `beams-push/tests/hostile_answers.rs`, and the server's
//!   own parsers in `examples/server/src/extract_properties.rs`;
//! - the `beams-fuzz` binary of this crate, which runs every [`targets::Target`] for as long
//!   as it is told: `cargo run --release -p beams-test-support --bin beams-fuzz -- --seconds 60`.
//!
//! Three choices shape this module:
//!
//! - beams-core's properties are integration tests, not unit tests inside its `src`: this
//!   crate depends on beams-core, so a unit test of beams-core would see a second copy of its
//!   types, while an integration test links the one copy both share.
//! - The push services' answers are read by functions private to beams-push. Its `fuzzing`
//!   feature, which this crate turns on, exposes them in a module hidden from the docs, so
//!   one set of properties serves its tests and the fuzz binary alike.
//! - The example server's parsers are private to it and the server is not a dependency of
//!   this crate; their properties live in the server's tests, on the strategies from here,
//!   and the fuzz binary does not run them.
//!
//! ```
//! use beams_test_support::hostile::{self, ids};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::new(hostile::config());
//! runner.run(&ids::user_id_text(), |text| ids::check_user_id(&text)).unwrap();
//! ```

pub mod answers;
pub mod beams_tokens;
pub mod endpoints;
pub mod hosts;
pub mod ids;
pub mod json;
pub mod publish;
pub mod push_tokens;
pub mod reporting;
pub mod retry_after;
pub mod targets;
pub mod text;

use beams_core::{Rule, ValidationError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult};

/// The configuration of the property tests: enough cases to find the usual mistakes, few
/// enough that each test takes seconds. `PROPTEST_CASES` still overrides the count.
pub fn config() -> Config {
    let default = Config::default();
    // A count set in the environment is kept; otherwise 256.
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        256
    };
    Config { cases, ..default }
}

/// A refused body of at most `max` bytes: the error names one of `fields`, and a body over
/// `max` is refused as too long, whatever else is wrong with it.
pub(crate) fn check_body_refusal(
    error: &ValidationError,
    fields: &[&str],
    body: &[u8],
    max: usize,
) -> TestCaseResult {
    prop_assert!(fields.contains(&error.field()), "{error}");
    if body.len() > max {
        prop_assert_eq!(error.field(), "body");
        prop_assert_eq!(
            error.rule(),
            &Rule::TooLong {
                max,
                actual: body.len()
            }
        );
    }
    Ok(())
}
