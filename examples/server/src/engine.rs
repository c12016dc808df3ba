//! The engine the configuration describes: store, policy, endpoint rules and gateways.

use beams_core::{AssociationPolicy, Beams, EndpointRules, Gateways, WhenFull};
use beams_store_sled::SledDeviceStore;
use beams_store_sqlite::SqliteDeviceStore;

use crate::bootstrap::Identity;
use crate::config::{Config, LimitPolicy, StoreKind};
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

    let path = config.database_path();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StartupError::io(parent, e))?;
    }
    let (instance, secret) = (identity.instance_id.clone(), identity.secret_key.clone());
    let builder = match config.store {
        StoreKind::Sqlite => {
            let store =
                SqliteDeviceStore::open(&path)
                    .await
                    .map_err(|source| StartupError::Store {
                        store: "sqlite",
                        path: path.clone(),
                        source,
                    })?;
            Beams::builder(instance, secret, store)
        }
        StoreKind::Sled => {
            let store = SledDeviceStore::open(&path).map_err(|source| StartupError::Store {
                store: "sled",
                path: path.clone(),
                source,
            })?;
            Beams::builder(instance, secret, store)
        }
    };
    let builder = match config.allowed_web_push_hosts()? {
        Some(hosts) => builder.web_push_hosts(hosts),
        None => builder,
    };
    Ok(builder
        .policy(policy)
        .endpoint_rules(EndpointRules {
            allow_loopback: config.allow_loopback_http_endpoints,
        })
        .gateways(gateways)
        .build())
}
