//! FCM configuration: the service-account key file is checked field by field, errors name the
//! field and never quote the key, URLs must suit the transport, and Debug redacts the key.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use beams_push::fcm::{FcmGateway, GOOGLE_TOKEN_URI, ServiceAccountKey};
use beams_push::{ConfigError, Transport};
use beams_test_support::fcm_fixtures::{CLIENT_EMAIL, PROJECT, TestKey, service_account_json};
use serde_json::{Value, json};

fn key_file() -> Value {
    serde_json::from_str(&service_account_json(
        TestKey::shared(),
        "https://oauth2.googleapis.com/token",
    ))
    .unwrap()
}

fn field_of(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::Invalid { field, .. } => field,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_console_key_file_parses() {
    let key = ServiceAccountKey::from_json(&key_file().to_string()).unwrap();
    assert_eq!(key.project_id(), PROJECT);
    assert_eq!(key.client_email(), CLIENT_EMAIL);
    assert_eq!(key.token_uri(), "https://oauth2.googleapis.com/token");
    let gateway = FcmGateway::builder(key).build().unwrap();
    assert_eq!(gateway.project_id(), PROJECT);
}

#[test]
fn token_uri_defaults_to_googles() {
    let mut file = key_file();
    file.as_object_mut().unwrap().remove("token_uri");
    let key = ServiceAccountKey::from_json(&file.to_string()).unwrap();
    assert_eq!(key.token_uri(), GOOGLE_TOKEN_URI);
}

#[test]
fn each_missing_field_is_named() {
    for field in ["project_id", "client_email", "private_key"] {
        let mut file = key_file();
        file.as_object_mut().unwrap().remove(field);
        let error = ServiceAccountKey::from_json(&file.to_string()).unwrap_err();
        assert_eq!(field_of(&error), field, "{error:?}");
        assert!(error.to_string().contains("is missing"), "{error}");
        assert!(error.to_string().contains(field), "{error}");
    }
}

#[test]
fn each_bad_field_is_named_without_quoting_it() {
    let cases = [
        ("type", json!("authorized_user")),
        ("project_id", json!("has spaces/and slashes")),
        ("client_email", json!("not an email")),
        (
            "private_key",
            json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ),
        ("private_key", json!(42)),
        ("token_uri", json!("ftp://example.com/token")),
        ("token_uri", json!("https://example.com/token?x=1")),
    ];
    for (field, value) in cases {
        let mut file = key_file();
        file[field] = value.clone();
        let error = ServiceAccountKey::from_json(&file.to_string()).unwrap_err();
        assert_eq!(field_of(&error), field, "{value}: {error}");
        // Not the value, nor any line of it, in the message or the Debug form.
        if let Some(text) = value.as_str() {
            for part in text.lines().filter(|line| !line.is_empty()) {
                assert!(!error.to_string().contains(part), "{error}");
                assert!(!format!("{error:?}").contains(part), "{error:?}");
            }
        }
    }
}

#[test]
fn a_file_that_is_not_json_says_where_without_quoting() {
    let pem = &TestKey::shared().pem;
    let error = ServiceAccountKey::from_json(&format!("{{\"private_key\": {pem}")).unwrap_err();
    assert_eq!(field_of(&error), "service_account_key", "{error:?}");
    assert!(error.to_string().contains("line 1"), "{error}");
    assert!(!error.to_string().contains("BEGIN"), "{error}");
    let missing = ServiceAccountKey::from_file("/nonexistent/key.json").unwrap_err();
    assert!(
        matches!(missing, ConfigError::ReadFile { .. }),
        "{missing:?}"
    );
}

#[test]
fn the_private_key_never_shows_in_debug() {
    let key = ServiceAccountKey::from_json(&key_file().to_string()).unwrap();
    let builder = FcmGateway::builder(key.clone());
    let pem_line = TestKey::shared().pem.lines().nth(1).unwrap().to_owned();
    for shown in [format!("{key:?}"), format!("{builder:?}")] {
        assert!(!shown.contains(&pem_line), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(shown.contains(CLIENT_EMAIL), "{shown}");
    }
}

#[test]
fn urls_must_suit_the_transport() {
    let builder =
        || FcmGateway::builder(ServiceAccountKey::from_json(&key_file().to_string()).unwrap());
    let error = builder().base_url("not a url").build().unwrap_err();
    assert_eq!(field_of(&error), "base_url");
    // TLS needs https everywhere; plain text needs http everywhere.
    let plain_base = builder().base_url("http://127.0.0.1:1").build();
    assert_eq!(field_of(&plain_base.unwrap_err()), "base_url");
    let plain_everywhere = builder()
        .base_url("http://127.0.0.1:1")
        .transport(Transport::PlainText)
        .build();
    assert_eq!(
        field_of(&plain_everywhere.unwrap_err()),
        "token_uri",
        "the key's token_uri is https"
    );
    let tls_base_plain_transport = builder().transport(Transport::PlainText).build();
    assert_eq!(field_of(&tls_base_plain_transport.unwrap_err()), "base_url");
    let prefixed = builder().base_url("https://proxy.example.com/fcm/").build();
    assert!(prefixed.is_ok());
    let zero = builder().request_timeout(std::time::Duration::ZERO).build();
    assert_eq!(field_of(&zero.unwrap_err()), "request_timeout");
}
