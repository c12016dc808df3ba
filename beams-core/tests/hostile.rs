//! Hostile input to every parser of beams-core: ids and names, push tokens, Web Push
//! subscriptions and their endpoints, Beams Tokens, publish bodies and reporting events. Each property is
//! stated once, in `beams_test_support::hostile`, and the `beams-fuzz` binary runs the same
//! ones for longer.

use beams_core::PublishTargetKind;
use beams_test_support::hostile::{
    self, beams_tokens, endpoints, ids, publish, push_tokens, reporting, text,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(hostile::config())]

    #[test]
    fn a_user_id_is_1_to_164_characters_and_round_trips(t in ids::user_id_text()) {
        ids::check_user_id(&t)?;
    }

    #[test]
    fn an_interest_is_1_to_164_characters_of_its_alphabet(t in ids::interest_text()) {
        ids::check_interest(&t)?;
    }

    #[test]
    fn an_instance_id_is_1_to_64_characters_of_a_host_label(t in ids::instance_id_text()) {
        ids::check_instance_id(&t)?;
    }

    #[test]
    fn a_secret_key_is_visible_ascii_and_never_shown(t in ids::secret_key_text()) {
        ids::check_secret_key(&t)?;
    }

    #[test]
    fn a_device_id_has_exactly_one_spelling(t in ids::device_id_text()) {
        ids::check_device_id(&t)?;
    }

    #[test]
    fn a_platform_is_named_exactly(t in ids::platform_text()) {
        ids::check_platform(&t)?;
    }

    #[test]
    fn metadata_is_bounded_and_keeps_every_pair(pairs in ids::metadata_pairs()) {
        ids::check_metadata(&pairs)?;
    }

    #[test]
    fn a_push_token_follows_its_platforms_rule((platform, t) in push_tokens::registration()) {
        push_tokens::check_registration(platform, &t)?;
    }

    #[test]
    fn an_endpoint_is_accepted_exactly_when_its_host_is_public_in_any_spelling(
        endpoint in endpoints::endpoint(),
        keys in endpoints::keys(),
    ) {
        endpoints::check_endpoint(&endpoint, &keys)?;
    }

    #[test]
    fn subscription_keys_as_bytes_agree_with_keys_as_base64(
        endpoint in endpoints::endpoint(),
        keys in endpoints::key_bytes(),
    ) {
        endpoints::check_key_bytes(&endpoint, &keys)?;
    }

    #[test]
    fn any_subscription_text_is_refused_or_a_public_subscription_that_round_trips(
        t in endpoints::subscription_text(),
    ) {
        endpoints::check_subscription(&t)?;
    }

    #[test]
    fn an_issued_token_verifies_for_its_user_until_it_expires(issue in beams_tokens::issue()) {
        beams_tokens::check_issued(&issue)?;
    }

    #[test]
    fn an_edited_token_is_refused((issue, edits) in beams_tokens::edited_token()) {
        beams_tokens::check_edited_token(&issue, &edits)?;
    }

    #[test]
    fn a_hand_made_token_gets_the_verdict_of_its_first_broken_rule(
        crafted in beams_tokens::crafted(),
    ) {
        beams_tokens::check_crafted(&crafted)?;
    }

    #[test]
    fn arbitrary_text_is_no_token(
        setting in beams_tokens::setting(),
        t in beams_tokens::token_text(),
    ) {
        beams_tokens::check_token_text(&setting, &t)?;
    }

    #[test]
    fn a_publish_body_is_a_valid_request_that_round_trips_or_a_named_refusal(
        (kind, body) in publish::publish(),
    ) {
        publish::check_publish(kind, &body)?;
    }

    #[test]
    fn a_request_built_by_the_constructors_round_trips(request in publish::built_request()) {
        publish::check_built_request(&request)?;
    }

    #[test]
    fn a_long_user_list_collapses_or_is_refused(count in publish::user_list_length()) {
        publish::check_long_user_list(count)?;
    }

    #[test]
    fn arbitrary_bytes_are_no_publish(body in text::any_bytes(256)) {
        publish::check_publish(PublishTargetKind::Users, &body)?;
        publish::check_publish(PublishTargetKind::Interests, &body)?;
    }

    #[test]
    fn a_publish_id_has_exactly_one_spelling(t in reporting::publish_id_text()) {
        reporting::check_publish_id(&t)?;
    }

    #[test]
    fn a_report_body_is_an_event_saying_what_it_said_or_a_refusal_naming_a_field(
        body in reporting::body(),
    ) {
        reporting::check_event(&body)?;
    }

    #[test]
    fn every_event_an_sdk_sends_is_accepted(body in reporting::sdk_event()) {
        reporting::check_sdk_event(&body)?;
    }

    #[test]
    fn arbitrary_bytes_are_no_event(body in text::any_bytes(256)) {
        reporting::check_event(&body)?;
    }
}
