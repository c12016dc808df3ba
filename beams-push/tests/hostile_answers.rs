//! Hostile answers from push services: any status, body and `Retry-After` header, read as
//! the APNs, FCM and Web Push gateways read them. Each property is stated once, in
//! `beams_test_support::hostile::answers`, and the `beams-fuzz` binary runs the same ones for
//! longer.

use beams_test_support::hostile::{self, answers, retry_after, text};
use proptest::prelude::*;

proptest! {
    #![proptest_config(hostile::config())]

    #[test]
    fn retry_after_reads_seconds_and_dates_and_nothing_else(
        value in retry_after::header(),
        now in retry_after::now(),
    ) {
        retry_after::check_retry_after(&value, now)?;
    }

    #[test]
    fn a_retry_after_header_that_is_not_text_asks_no_wait(
        bytes in text::any_bytes(40),
        now in retry_after::now(),
    ) {
        retry_after::check_retry_after_bytes(&bytes, now)?;
    }

    #[test]
    fn apns_answers_are_classified_by_status_and_reason(
        status in answers::apns_status(),
        wait in answers::wait(),
        body in answers::apns_body(),
    ) {
        answers::check_apns(status, wait, &body)?;
    }

    #[test]
    fn fcm_answers_are_classified_and_a_foreign_body_never_kills_a_token(
        status in answers::status(),
        wait in proptest::option::of(retry_after::header()),
        body in answers::fcm_body(),
        now in retry_after::now(),
    ) {
        answers::check_fcm(status, wait.as_ref(), &body, now)?;
    }

    #[test]
    fn web_push_answers_are_classified_by_status(
        status in answers::status(),
        wait in answers::wait(),
        detail in text::any_text(60),
    ) {
        answers::check_web_push(status, wait, &detail)?;
    }
}
