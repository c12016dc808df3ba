//! FCM configuration: the service-account key file is checked field by field, errors name the
//! field and never quote the key, URLs must suit the transport, and Debug redacts the key.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

#[path = "support/fcm_fixtures.rs"]
mod fcm_fixtures;
#[path = "support/fcm_mock.rs"]
mod fcm_mock;

use beams_push::Transport;
use beams_push::fcm::{FcmConfig, FcmConfigError, FcmGateway, GOOGLE_TOKEN_URI, ServiceAccountKey};
use fcm_fixtures::{CLIENT_EMAIL, PROJECT, TestKey, service_account_json};
use serde_json::{Value, json};

fn key_file() -> Value {
    serde_json::from_str(&service_account_json(
        TestKey::shared(),
        "https://oauth2.googleapis.com/token",
    ))
    .unwrap()
}

fn field_of(error: &FcmConfigError) -> &'static str {
    match error {
        FcmConfigError::MissingField { field } | FcmConfigError::InvalidField { field, .. } => {
            field
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_console_key_file_parses() {
    let key = ServiceAccountKey::from_json(&key_file().to_string()).unwrap();
    assert_eq!(key.project_id(), PROJECT);
    assert_eq!(key.client_email(), CLIENT_EMAIL);
    assert_eq!(key.token_uri(), "https://oauth2.googleapis.com/token");
    let config = FcmConfig::from_service_account(key);
    assert_eq!(config.project_id(), PROJECT);
    assert!(FcmGateway::new(config).is_ok());
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
        assert!(
            matches!(error, FcmConfigError::MissingField { field: f } if f == field),
            "{error:?}"
        );
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
        if let Some(text) = value.as_str() {
            assert!(!error.to_string().contains(text), "{error}");
        }
    }
}

#[test]
fn a_file_that_is_not_json_says_where_without_quoting() {
    let pem = &TestKey::shared().pem;
    let error = ServiceAccountKey::from_json(&format!("{{\"private_key\": {pem}")).unwrap_err();
    assert!(matches!(error, FcmConfigError::NotJson { .. }), "{error:?}");
    assert!(!error.to_string().contains("BEGIN"), "{error}");
    let missing = FcmConfig::from_service_account_file("/nonexistent/key.json").unwrap_err();
    assert!(
        matches!(missing, FcmConfigError::ReadFile { .. }),
        "{missing:?}"
    );
}

#[test]
fn the_private_key_never_shows_in_debug() {
    let key = ServiceAccountKey::from_json(&key_file().to_string()).unwrap();
    let config = FcmConfig::from_service_account(key.clone());
    let pem_line = TestKey::shared().pem.lines().nth(1).unwrap().to_owned();
    for shown in [format!("{key:?}"), format!("{config:?}")] {
        assert!(!shown.contains(&pem_line), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(shown.contains(CLIENT_EMAIL), "{shown}");
    }
}

#[test]
fn urls_must_suit_the_transport() {
    let config = || FcmConfig::from_service_account_json(&key_file().to_string()).unwrap();
    let error = config().base_url("not a url").unwrap_err();
    assert_eq!(field_of(&error), "base_url");
    // TLS needs https everywhere; plain text needs http everywhere.
    let plain_base = config().base_url("http://127.0.0.1:1").unwrap();
    assert_eq!(
        field_of(&FcmGateway::new(plain_base).unwrap_err()),
        "base_url"
    );
    let plain_everywhere = config()
        .base_url("http://127.0.0.1:1")
        .unwrap()
        .transport(Transport::PlainText);
    assert_eq!(
        field_of(&FcmGateway::new(plain_everywhere).unwrap_err()),
        "token_uri",
        "the key's token_uri is https"
    );
    let tls_base_plain_transport = config().transport(Transport::PlainText);
    assert_eq!(
        field_of(&FcmGateway::new(tls_base_plain_transport).unwrap_err()),
        "base_url"
    );
    let prefixed = config().base_url("https://proxy.example.com/fcm/").unwrap();
    assert!(FcmGateway::new(prefixed).is_ok());
}
