//! Where the gateways send: `--apns-endpoint`, `--fcm-endpoint` and `--push-ca` point the
//! server at the loopback APNs and Google (FCM and its OAuth token endpoint, named by the key
//! file's `token_uri`), over TLS behind their own certificates or in plain text. Only the
//! arrival is checked here; what each push service receives is checked elsewhere.

use std::path::Path;
use std::time::Duration;

use beams_server::{Config, Server, StartupError};
use beams_test_support::apns_mock::{self, KEY_ID, MockApns, MockOptions, TEAM_ID, TOPIC};
use beams_test_support::fcm_fixtures;
use beams_test_support::fcm_mock::MockGoogle;
use beams_test_support::pem::certificate_pem;
use clap::Parser;
use serde_json::json;

use crate::support::{APNS_TOKEN, FCM_TOKEN, LIMIT, TestServer, token_for};

/// The loopback push services, and the files the server's flags name.
pub(crate) struct Services {
    pub(crate) apns: MockApns,
    pub(crate) google: MockGoogle,
    dir: tempfile::TempDir,
}

impl Services {
    /// Both mocks, behind TLS with their own self-signed certificates when `tls`, and the
    /// APNs key, the service-account key (whose `token_uri` is the mock) and, over TLS, a
    /// `--push-ca` bundle of both certificates, written to files.
    pub(crate) async fn start(tls: bool) -> Self {
        let apns_key = apns_mock::TestKey::generate();
        let apns = MockApns::start(
            &apns_key,
            MockOptions {
                tls,
                record: true,
                ..MockOptions::default()
            },
        )
        .await;
        let google_key = fcm_fixtures::TestKey::shared();
        let (google, google_certificate) = if tls {
            let (google, certificate) = MockGoogle::start_tls(google_key).await;
            (google, Some(certificate))
        } else {
            (MockGoogle::start(google_key).await, None)
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apns.p8"), &apns_key.pem).unwrap();
        std::fs::write(
            dir.path().join("service-account.json"),
            google.service_account_json(google_key),
        )
        .unwrap();
        if let Some(google_certificate) = google_certificate {
            let bundle = format!(
                "{}{}",
                certificate_pem(apns.certificate().unwrap()),
                certificate_pem(&google_certificate)
            );
            std::fs::write(dir.path().join("push-ca.pem"), bundle).unwrap();
        }
        Services { apns, google, dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// The flags that enable APNs and FCM and point them at the mocks.
    pub(crate) fn flags(&self) -> Vec<String> {
        let scheme = if self.apns.certificate().is_some() {
            "https"
        } else {
            "http"
        };
        let mut flags = vec![
            "--apns-key".to_owned(),
            self.path("apns.p8"),
            "--apns-key-id".to_owned(),
            KEY_ID.to_owned(),
            "--apns-team-id".to_owned(),
            TEAM_ID.to_owned(),
            "--apns-topic".to_owned(),
            TOPIC.to_owned(),
            "--apns-endpoint".to_owned(),
            format!("{scheme}://{}", self.apns.addr),
            "--fcm-service-account".to_owned(),
            self.path("service-account.json"),
            "--fcm-endpoint".to_owned(),
            self.google.base_url(),
        ];
        if Path::new(&self.path("push-ca.pem")).exists() {
            flags.extend(["--push-ca".to_owned(), self.path("push-ca.pem")]);
        }
        flags
    }

    /// Waits (bounded) until APNs has seen one request and FCM has accepted one message.
    pub(crate) async fn wait_for_both(&self) {
        tokio::time::timeout(LIMIT, async {
            while self.apns.seen().is_empty() || self.google.accepted() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("both push services receive the publish within the limit");
    }
}

/// Registers alice's phone on each platform and publishes to her; returns the publish's
/// answer status.
async fn publish_to_alices_phones(server: &TestServer) -> u16 {
    for (platform, token) in [("apns", APNS_TOKEN), ("fcm", FCM_TOKEN)] {
        let device = server.register(platform, token).await;
        let answer = server.set_user(&device, &token_for("alice")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let answer = server
        .publish(&json!({
            "users": ["alice"],
            "apns": {"aps": {"alert": {"title": "Hi", "body": "there"}}},
            "fcm": {"notification": {"title": "Hi", "body": "there"}},
        }))
        .await;
    answer.status
}

fn assert_arrived(services: &Services) {
    let seen = services.apns.seen();
    assert_eq!(seen.len(), 1, "one APNs request");
    assert_eq!(seen[0].token, APNS_TOKEN);
    services.apns.assert_no_violations();
    let messages = services.google.messages();
    assert_eq!(messages.len(), 1, "one FCM message");
    assert_eq!(messages[0]["token"], FCM_TOKEN);
    assert!(
        services.google.tokens_issued() >= 1,
        "the access token came from the key file's token_uri"
    );
}

/// Publishes to alice's phones through a server pointed at the mocks (over TLS when `tls`)
/// and checks both arrived.
async fn publish_reaches_both(tls: bool) {
    let services = Services::start(tls).await;
    let flags = services.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start(&flags).await;

    assert_eq!(publish_to_alices_phones(&server).await, 200);
    services.wait_for_both().await;
    server.publishes_settled().await;

    assert_arrived(&services);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_apns_and_fcm_behind_a_private_ca() {
    publish_reaches_both(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_plain_text_loopback_services() {
    publish_reaches_both(false).await;
}

/// Why the server refuses to start with `flags` (and the test instance, in a fresh data
/// directory).
async fn startup_error(flags: &[&str]) -> StartupError {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut args = vec!["beams-server", "--data-dir", data_dir.to_str().unwrap()];
    args.extend_from_slice(flags);
    let config = Config::try_parse_from(args).unwrap();
    Server::from_config(&config)
        .await
        .expect_err("the server refuses to start")
}

#[tokio::test]
async fn bad_endpoints_and_roots_stop_the_server_naming_the_flag() {
    let services = Services::start(true).await;
    let service_account = services.path("service-account.json");
    let apns_key = services.path("apns.p8");
    let apns = |endpoint: &'static str| {
        vec![
            "--apns-key",
            apns_key.as_str(),
            "--apns-key-id",
            KEY_ID,
            "--apns-team-id",
            TEAM_ID,
            "--apns-topic",
            TOPIC,
            "--apns-endpoint",
            endpoint,
        ]
    };
    let empty = services.path("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = services.path("missing.pem");

    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (apns("not a url"), "--apns-endpoint", "not a URL"),
        (
            apns("http://push.example.com"),
            "--apns-endpoint",
            "https://",
        ),
        (
            apns("https://api.push.apple.com/3/device"),
            "--apns-endpoint",
            "no path",
        ),
        (
            [apns("https://127.0.0.1:1"), vec!["--apns-sandbox"]].concat(),
            "--apns-endpoint",
            "--apns-sandbox",
        ),
        (
            vec!["--apns-endpoint", "https://127.0.0.1:1"],
            "--apns-endpoint",
            "--apns-key",
        ),
        (
            vec![
                "--fcm-service-account",
                service_account.as_str(),
                "--fcm-endpoint",
                "ftp://127.0.0.1",
            ],
            "--fcm-endpoint",
            "https://",
        ),
        (
            vec!["--fcm-endpoint", "https://127.0.0.1:1"],
            "--fcm-endpoint",
            "--fcm-service-account",
        ),
        (
            vec!["--push-ca", empty.as_str()],
            "--push-ca",
            "no certificate",
        ),
        (
            vec!["--push-ca", missing.as_str()],
            "--push-ca",
            "missing.pem",
        ),
    ];
    for (flags, flag, rule) in cases {
        let error = startup_error(&flags).await;
        assert!(
            matches!(&error, StartupError::InvalidFlag { flag: named, .. } if *named == flag),
            "{flags:?}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(rule), "{flags:?}: {message}");
    }
}

#[tokio::test]
async fn a_token_uri_and_an_fcm_endpoint_on_different_transports_are_refused() {
    // The key file's token_uri is the TLS mock's https://…; FCM in plain text cannot share
    // a transport with it.
    let services = Services::start(true).await;
    let service_account = services.path("service-account.json");
    let error = startup_error(&[
        "--fcm-service-account",
        &service_account,
        "--fcm-endpoint",
        "http://127.0.0.1:1",
    ])
    .await;
    assert!(
        matches!(
            &error,
            StartupError::Credentials {
                platform: "FCM",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("token_uri"), "{message}");
    assert!(message.contains("--fcm-endpoint"), "{message}");
}
