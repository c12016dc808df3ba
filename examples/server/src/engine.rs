//! The engine the configuration describes: store, policy, endpoint rules and gateways.

use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    AssociationPolicy, Beams, EndpointRules, Gateways, JournalConfig, MemoryPublishJournal,
    PublishJournal, WhenFull,
};
use std::path::Path;

use beams_store_postgres::{PostgresDeviceStore, PostgresOptions};
use beams_store_sled::SledDeviceStore;
use beams_store_sqlite::SqliteDeviceStore;

use crate::bootstrap::Identity;
use crate::config::{Config, JournalKind, LimitPolicy, StoreKind};
use crate::database::StoreLocation;
use crate::push_services::read_roots;
use crate::startup::StartupError;

/// Opens the configured store and builds the engine over it.
pub async fn engine(
    config: &Config,
    identity: &Identity,
    gateways: Gateways,
) -> Result<Beams, StartupError> {
    let when_full = match config.device_limit_policy {
        LimitPolicy::EvictOldest => WhenFull::EvictOldest,
        LimitPolicy::Refuse => WhenFull::Refuse,
    };
    let policy = AssociationPolicy::try_new(config.device_limit, when_full)
        .map_err(|_| StartupError::Config("--device-limit must be at least 1".into()))?;

    let (instance, secret) = (identity.instance_id.clone(), identity.secret_key.clone());
    let (builder, journal) = match (config.store, config.store_location()?) {
        (StoreKind::Postgres, StoreLocation::Postgres(url)) => {
            let options = postgres_options(config)?;
            let store = PostgresDeviceStore::connect_with(url.expose(), options)
                .await
                .map_err(|source| StartupError::Database {
                    database: url.to_string(),
                    source,
                })?;
            let journal: Arc<dyn PublishJournal> = Arc::new(store.journal());
            (Beams::builder(instance, secret, store), journal)
        }
        (StoreKind::Sqlite, StoreLocation::Path(path)) => {
            create_parent(&path)?;
            let store =
                SqliteDeviceStore::open(&path)
                    .await
                    .map_err(|source| StartupError::Store {
                        store: "sqlite",
                        path: path.clone(),
                        source,
                    })?;
            let journal: Arc<dyn PublishJournal> = Arc::new(store.journal());
            (Beams::builder(instance, secret, store), journal)
        }
        (StoreKind::Sled, StoreLocation::Path(path)) => {
            create_parent(&path)?;
            let store = SledDeviceStore::open(&path).map_err(|source| StartupError::Store {
                store: "sled",
                path: path.clone(),
                source,
            })?;
            let journal: Arc<dyn PublishJournal> = Arc::new(store.journal());
            (Beams::builder(instance, secret, store), journal)
        }
        (kind, location) => {
            return Err(StartupError::Config(format!(
                "the {} store cannot be kept at {location}",
                kind.as_str()
            )));
        }
    };
    let builder = match config.allowed_web_push_hosts()? {
        Some(hosts) => builder.web_push_hosts(hosts),
        None => builder,
    };
    let journal = match config.publish_journal {
        JournalKind::Store => journal,
        JournalKind::Memory => Arc::new(MemoryPublishJournal::new()),
    };
    if config.publish_lease == 0 {
        return Err(StartupError::flag(
            "--publish-lease",
            "must be at least 1 second",
        ));
    }
    let journal_config = JournalConfig::new(identity.node_id.clone())
        .with_lease(Duration::from_secs(config.publish_lease))
        .with_max_unfinished(config.max_unfinished_publishes);
    Ok(builder
        .journal(journal, journal_config)
        .policy(policy)
        .endpoint_rules(EndpointRules {
            allow_loopback: config.allow_loopback_http_endpoints,
        })
        .gateways(gateways)
        .build())
}

/// The file stores make their file (or directory) themselves, but not the directories above it.
fn create_parent(path: &Path) -> Result<(), StartupError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StartupError::io(parent, e))?;
    }
    Ok(())
}

/// How the PostgreSQL store connects: `--db-pool-size` connections at most, and the roots of
/// `--database-ca` trusted beside the public ones.
fn postgres_options(config: &Config) -> Result<PostgresOptions, StartupError> {
    if config.db_pool_size == 0 {
        return Err(StartupError::flag("--db-pool-size", "must be at least 1"));
    }
    let mut options = PostgresOptions::default().pool_size(config.db_pool_size);
    if let Some(path) = &config.database_ca {
        for certificate in read_roots("--database-ca", path)? {
            options = options.ca_certificate(certificate);
        }
    }
    Ok(options)
}
