//! TLS to the database on the project's rustls: the local server's certificate is verified
//! against a CA given in the options, and refused without it.

use beams_core::testing::fixtures::register;
use beams_core::{DeviceStore, Platform};
use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_test_support::postgres::{TestSchema, required};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Where Debian's PostgreSQL keeps the self-signed certificate it serves (for `localhost`).
const SERVER_CERTIFICATE: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_certificate_is_verified() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let certificate = match std::fs::read(SERVER_CERTIFICATE) {
        Ok(pem) => CertificateDer::from_pem_slice(&pem).expect("a PEM certificate"),
        Err(e) if !required() => {
            eprintln!("TLS test skipped: no server certificate at {SERVER_CERTIFICATE} ({e})");
            return;
        }
        Err(e) => panic!("the server certificate {SERVER_CERTIFICATE}: {e}"),
    };
    let url = schema.url().replace("@127.0.0.1:", "@localhost:") + "&sslmode=require";

    let refused = PostgresDeviceStore::connect(&url)
        .await
        .expect_err("a self-signed certificate without its CA");
    assert!(
        format!("{refused:?}").contains("UnknownIssuer"),
        "refused for its certificate: {refused:?}"
    );

    let store = PostgresDeviceStore::connect_with(
        &url,
        PostgresOptions::default().ca_certificate(certificate),
    )
    .await
    .expect("the certificate verifies against the given CA");
    let device = register(&store, Platform::Fcm, 1, 1).await;
    assert!(store.device(&device.id).await.expect("a read").is_some());
    let client = store.pool().get().await.expect("a pooled connection");
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("the connection's TLS state")
        .get(0);
    assert!(encrypted, "the store's connections are encrypted");
}
