//! Opening connections: the URL, per-connection settings, TLS, and the pool.

use std::sync::Arc;

use beams_core::{StoreError, StoreErrorKind};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::PostgresOptions;

/// A pool for the database `url` names, every connection of it bounded by the options'
/// statement timeout.
///
/// TLS: `sslmode=disable` never uses it; `sslmode=require` always does; `prefer` (the
/// default) does except to a Unix socket or a loopback address. Whenever TLS is used, the
/// server's certificate is verified against the public web roots and the options' CA
/// certificates, for the host the URL names — unlike libpq's `require`, which encrypts
/// without knowing whom to.
pub(crate) fn pool(url: &str, options: &PostgresOptions) -> Result<Pool, StoreError> {
    let mut config: Config = url.parse().map_err(|e| {
        StoreError::with_source(
            StoreErrorKind::Precondition {
                detail: "the database URL does not parse (postgres://user@host:port/database?…)"
                    .to_owned(),
            },
            e,
        )
    })?;
    settle_connection_options(&mut config, options);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if uses_tls(&config) {
        let tls = MakeRustlsConnect::new(tls_config(options)?);
        Manager::from_config(config, tls, manager_config)
    } else {
        config.ssl_mode(SslMode::Disable);
        Manager::from_config(config, NoTls, manager_config)
    };
    Pool::builder(manager)
        .max_size(options.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.statement_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| StoreError::with_source(StoreErrorKind::Backend, e))
}

/// Adds what every connection needs to the URL's own settings: the statement timeout (so
/// no statement, lock waits included, runs unbounded), an idle-in-transaction timeout (so a
/// client that vanishes mid-transaction cannot hold its locks), and an application name.
fn settle_connection_options(config: &mut Config, options: &PostgresOptions) {
    let timeout = options.statement_timeout.as_millis().max(1);
    let mut settings = config.get_options().unwrap_or_default().to_owned();
    for setting in [
        format!("-c statement_timeout={timeout}"),
        format!("-c idle_in_transaction_session_timeout={}", timeout * 2),
    ] {
        if !settings.is_empty() {
            settings.push(' ');
        }
        settings.push_str(&setting);
    }
    config.options(&settings);
    config.connect_timeout(options.connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name("beams");
    }
}

fn uses_tls(config: &Config) -> bool {
    match config.get_ssl_mode() {
        SslMode::Disable => false,
        SslMode::Require => true,
        // A `hostaddr` is where the connection goes when both are given, so both must be
        // local to go without TLS.
        _ => {
            !(config.get_hosts().iter().all(is_local)
                && config.get_hostaddrs().iter().all(|ip| ip.is_loopback()))
        }
    }
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

fn tls_config(options: &PostgresOptions) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in &options.ca_certificates {
        roots.add(certificate.clone()).map_err(|e| {
            StoreError::with_source(
                StoreErrorKind::Precondition {
                    detail: "a CA certificate for the database is not a valid X.509 certificate"
                        .to_owned(),
                },
                e,
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::with_source(StoreErrorKind::Backend, e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        url.parse().expect("a valid URL")
    }

    #[test]
    fn tls_is_used_unless_disabled_or_local_by_default() {
        assert!(!uses_tls(&config("postgres://u@127.0.0.1/db")));
        assert!(!uses_tls(&config("postgres://u@localhost/db")));
        assert!(!uses_tls(&config("postgres://u@[::1]/db")));
        assert!(!uses_tls(&config(
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db"
        )));
        assert!(uses_tls(&config("postgres://u@db.example.com/db")));
        assert!(uses_tls(&config(
            "postgres://u@127.0.0.1/db?sslmode=require"
        )));
        assert!(!uses_tls(&config(
            "postgres://u@db.example.com/db?sslmode=disable"
        )));
        assert!(uses_tls(&config("hostaddr=10.0.0.5 user=u dbname=db")));
        assert!(uses_tls(&config("host=localhost hostaddr=10.0.0.5 user=u")));
        assert!(!uses_tls(&config("hostaddr=127.0.0.1 user=u dbname=db")));
    }

    #[test]
    fn every_connection_carries_the_timeouts_beside_the_urls_own_options() {
        let mut parsed = config("postgres://u@h/db?options=-c%20search_path%3Dtenant");
        settle_connection_options(&mut parsed, &PostgresOptions::default());
        assert_eq!(
            parsed.get_options(),
            Some(
                "-c search_path=tenant -c statement_timeout=5000 \
                 -c idle_in_transaction_session_timeout=10000"
            )
        );
        assert_eq!(parsed.get_application_name(), Some("beams"));
    }

    #[test]
    fn a_bad_url_is_a_precondition_that_does_not_echo_it() {
        let err = pool(
            "postgres://u:hunter2@h:notaport/db",
            &PostgresOptions::default(),
        )
        .expect_err("a bad port");
        assert!(matches!(err.kind(), StoreErrorKind::Precondition { .. }));
        assert!(!err.to_string().contains("hunter2"));
    }
}
