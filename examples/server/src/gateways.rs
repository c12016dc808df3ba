//! The push gateways the configuration enables: Web Push always (its key is generated on the
//! first run), APNs and FCM when their credentials are given.

use std::fs;
use std::sync::Arc;

use beams_core::{Gateways, Platform};
use beams_push::apns::{ApnsEndpoint, ApnsGateway};
use beams_push::fcm::{FcmGateway, ServiceAccountKey};
use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway};

use crate::config::Config;
use crate::startup::StartupError;

/// Builds a gateway for every platform the configuration has credentials for; returns them
/// and the platforms enabled.
pub fn gateways(
    config: &Config,
    vapid_key: VapidKey,
) -> Result<(Gateways, Vec<Platform>), StartupError> {
    let mut gateways = Gateways::new();

    let web_error = |reason: String| StartupError::Credentials {
        platform: "Web Push",
        reason,
    };
    let contact =
        VapidContact::new(config.vapid_contact.as_str()).map_err(|e| web_error(e.to_string()))?;
    let web = WebPushGateway::builder(vapid_key, contact)
        .allow_loopback(config.allow_loopback_http_endpoints)
        .build()
        .map_err(|e| web_error(e.to_string()))?;
    gateways = gateways.with(Platform::Web, Arc::new(web));

    if let Some(apns) = apns(config)? {
        gateways = gateways.with(Platform::Apns, Arc::new(apns));
    }

    if let Some(path) = &config.fcm_service_account {
        let fcm_error = |reason: String| StartupError::Credentials {
            platform: "FCM",
            reason: format!("{}: {reason}", path.display()),
        };
        let key = ServiceAccountKey::from_file(path).map_err(|e| fcm_error(e.to_string()))?;
        let gateway = FcmGateway::builder(key)
            .build()
            .map_err(|e| fcm_error(e.to_string()))?;
        gateways = gateways.with(Platform::Fcm, Arc::new(gateway));
    }

    let enabled = gateways.platforms().collect();
    Ok((gateways, enabled))
}

/// The APNs gateway, when any APNs setting is given (then all four are required).
fn apns(config: &Config) -> Result<Option<ApnsGateway>, StartupError> {
    let apns_error = |reason: String| StartupError::Credentials {
        platform: "APNs",
        reason,
    };
    let settings = (
        &config.apns_key,
        &config.apns_key_id,
        &config.apns_team_id,
        &config.apns_topic,
    );
    let (key_path, key_id, team_id, topic) = match settings {
        (None, None, None, None) => return Ok(None),
        (Some(key), Some(key_id), Some(team_id), Some(topic)) => (key, key_id, team_id, topic),
        _ => {
            return Err(apns_error(
                "--apns-key, --apns-key-id, --apns-team-id and --apns-topic go together".into(),
            ));
        }
    };
    let key_pem = fs::read_to_string(key_path)
        .map_err(|e| apns_error(format!("{}: {e}", key_path.display())))?;
    let endpoint = if config.apns_sandbox {
        ApnsEndpoint::Sandbox
    } else {
        ApnsEndpoint::Production
    };
    let gateway = ApnsGateway::builder(&key_pem, key_id, team_id, topic)
        .endpoint(endpoint)
        .build()
        .map_err(|e| apns_error(e.to_string()))?;
    Ok(Some(gateway))
}
