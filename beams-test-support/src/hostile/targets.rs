//! Every property as a named target: the list the `beams-fuzz` binary runs.

use std::fmt;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseResult, TestError, TestRunner};

use super::{
    answers, beams_tokens, endpoints, ids, publish, push_tokens, reporting, retry_after, text,
};

type Run = dyn Fn(&mut TestRunner) -> Result<(), String>;

/// One property over one strategy, run as often as a [`TestRunner`] is configured to.
pub struct Target {
    name: &'static str,
    run: Box<Run>,
}

impl Target {
    fn new<S>(
        name: &'static str,
        strategy: S,
        check: impl Fn(S::Value) -> TestCaseResult + 'static,
    ) -> Self
    where
        S: Strategy + 'static,
    {
        let run = move |runner: &mut TestRunner| match runner.run(&strategy, &check) {
            Ok(()) => Ok(()),
            // The failure, with the smallest input proptest shrank it to.
            Err(TestError::Fail(reason, input)) => Err(format!("{reason}\ninput: {input:#?}")),
            Err(TestError::Abort(reason)) => Err(format!("aborted: {reason}")),
        };
        Target {
            name,
            run: Box::new(run),
        }
    }

    /// The target's name, as `--target` takes it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the runner's configured number of cases; a failure is described with its
    /// smallest input.
    pub fn run(&self, runner: &mut TestRunner) -> Result<(), String> {
        (self.run)(runner)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every target, in a fixed order.
pub fn all() -> Vec<Target> {
    vec![
        Target::new("user-id", ids::user_id_text(), |t| ids::check_user_id(&t)),
        Target::new("interest", ids::interest_text(), |t| {
            ids::check_interest(&t)
        }),
        Target::new("instance-id", ids::instance_id_text(), |t| {
            ids::check_instance_id(&t)
        }),
        Target::new("secret-key", ids::secret_key_text(), |t| {
            ids::check_secret_key(&t)
        }),
        Target::new("device-id", ids::device_id_text(), |t| {
            ids::check_device_id(&t)
        }),
        Target::new("platform", ids::platform_text(), |t| {
            ids::check_platform(&t)
        }),
        Target::new("metadata", ids::metadata_pairs(), |pairs| {
            ids::check_metadata(&pairs)
        }),
        Target::new(
            "push-token",
            push_tokens::registration(),
            |(platform, t)| push_tokens::check_registration(platform, &t),
        ),
        Target::new(
            "endpoint-host",
            (endpoints::endpoint(), endpoints::keys()),
            |(endpoint, keys)| endpoints::check_endpoint(&endpoint, &keys),
        ),
        Target::new(
            "subscription-keys",
            (endpoints::endpoint(), endpoints::key_bytes()),
            |(endpoint, keys)| endpoints::check_key_bytes(&endpoint, &keys),
        ),
        Target::new("subscription", endpoints::subscription_text(), |t| {
            endpoints::check_subscription(&t)
        }),
        Target::new("beams-token-issued", beams_tokens::issue(), |issue| {
            beams_tokens::check_issued(&issue)
        }),
        Target::new(
            "beams-token-edited",
            beams_tokens::edited_token(),
            |(issue, edits)| beams_tokens::check_edited_token(&issue, &edits),
        ),
        Target::new("beams-token-crafted", beams_tokens::crafted(), |crafted| {
            beams_tokens::check_crafted(&crafted)
        }),
        Target::new(
            "beams-token-text",
            (beams_tokens::setting(), beams_tokens::token_text()),
            |(setting, t)| beams_tokens::check_token_text(&setting, &t),
        ),
        Target::new("publish-body", publish::publish(), |(kind, body)| {
            publish::check_publish(kind, &body)
        }),
        Target::new("publish-built", publish::built_request(), |request| {
            publish::check_built_request(&request)
        }),
        Target::new("publish-user-list", publish::user_list_length(), |count| {
            publish::check_long_user_list(count)
        }),
        Target::new("publish-id", reporting::publish_id_text(), |t| {
            reporting::check_publish_id(&t)
        }),
        Target::new("report-event", reporting::body(), |body| {
            reporting::check_event(&body)
        }),
        Target::new("report-event-sdk", reporting::sdk_event(), |body| {
            reporting::check_sdk_event(&body)
        }),
        Target::new(
            "retry-after",
            (retry_after::header(), retry_after::now()),
            |(value, now)| retry_after::check_retry_after(&value, now),
        ),
        Target::new(
            "retry-after-bytes",
            (text::any_bytes(40), retry_after::now()),
            |(bytes, now)| retry_after::check_retry_after_bytes(&bytes, now),
        ),
        Target::new(
            "apns-answer",
            (
                answers::apns_status(),
                answers::wait(),
                answers::apns_body(),
            ),
            |(status, wait, body)| answers::check_apns(status, wait, &body),
        ),
        Target::new(
            "fcm-answer",
            (
                answers::status(),
                proptest::option::of(retry_after::header()),
                answers::fcm_body(),
                retry_after::now(),
            ),
            |(status, wait, body, now)| answers::check_fcm(status, wait.as_ref(), &body, now),
        ),
        Target::new(
            "web-push-answer",
            (answers::status(), answers::wait(), text::any_text(60)),
            |(status, wait, detail)| answers::check_web_push(status, wait, &detail),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::test_runner::Config;

    use super::*;

    #[test]
    fn every_target_runs_and_names_are_unique() {
        let targets = all();
        let names: HashSet<_> = targets.iter().map(Target::name).collect();
        assert_eq!(names.len(), targets.len());
        for target in &targets {
            let mut runner = TestRunner::new(Config {
                cases: 4,
                failure_persistence: None,
                ..Config::default()
            });
            if let Err(failure) = target.run(&mut runner) {
                panic!("{}: {failure}", target.name());
            }
        }
    }
}
