//! The push gateways the configuration enables: Web Push always (its key is generated on the
//! first run), APNs and FCM when their credentials are given. Each reaches its push service
//! as [`push_services`](crate::push_services) says: Apple's and Google's hosts unless
//! `--apns-endpoint` or `--fcm-endpoint` name others, trusting `--push-ca`'s roots too.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use beams_core::{Gateways, Platform};
use beams_push::apns::{APNS_PRODUCTION_URL, APNS_SANDBOX_URL, ApnsEndpoint, ApnsGateway};
use beams_push::fcm::{FCM_BASE_URL, FcmGateway, ServiceAccountKey};
use beams_push::web_push::{VapidContact, VapidKey, WebPushGateway};

use crate::config::Config;
use crate::push_services::{PathRule, PushEndpoint, PushTrust};
use crate::startup::StartupError;

/// Builds a gateway for every platform the configuration has credentials for; returns them
/// and the platforms enabled.
pub fn gateways(
    config: &Config,
    vapid_key: VapidKey,
) -> Result<(Gateways, Vec<Platform>), StartupError> {
    let trust = PushTrust::new(config.push_ca.as_deref())?;
    let mut gateways = Gateways::new();

    let web_error = |reason: String| StartupError::Credentials {
        platform: "Web Push",
        reason,
    };
    let contact =
        VapidContact::new(config.vapid_contact.as_str()).map_err(|e| web_error(e.to_string()))?;
    let web = WebPushGateway::builder(vapid_key, contact)
        .allow_loopback(config.allow_loopback_http_endpoints)
        .transport(trust.tls())
        .build()
        .map_err(|e| web_error(e.to_string()))?;
    gateways = gateways.with(Platform::Web, Arc::new(web));

    if let Some(apns) = apns(config, &trust)? {
        gateways = gateways.with(Platform::Apns, Arc::new(apns));
    }

    match (&config.fcm_service_account, &config.fcm_endpoint) {
        (Some(path), _) => {
            let gateway = fcm(path, config.fcm_endpoint.as_deref(), &trust)?;
            gateways = gateways.with(Platform::Fcm, Arc::new(gateway));
        }
        (None, Some(_)) => {
            return Err(StartupError::flag(
                "--fcm-endpoint",
                "needs FCM enabled with --fcm-service-account",
            ));
        }
        (None, None) => {}
    }

    let enabled = gateways.platforms().collect();
    Ok((gateways, enabled))
}

/// The FCM gateway for the service-account key at `path`, sending to `endpoint` (default
/// Google's) and fetching access tokens from the key's `token_uri`.
fn fcm(path: &Path, endpoint: Option<&str>, trust: &PushTrust) -> Result<FcmGateway, StartupError> {
    let fcm_error = |reason: String| StartupError::Credentials {
        platform: "FCM",
        reason: format!("{}: {reason}", path.display()),
    };
    let key = ServiceAccountKey::from_file(path).map_err(|e| fcm_error(e.to_string()))?;
    let endpoint = match endpoint {
        Some(url) => PushEndpoint::parse("--fcm-endpoint", url, PathRule::PrefixAllowed)?,
        None => PushEndpoint::parse("--fcm-endpoint", FCM_BASE_URL, PathRule::PrefixAllowed)?,
    };
    // One transport reaches both FCM and the token endpoint: both plain text (a loopback
    // test) or both TLS.
    let token_endpoint = PushEndpoint::parse("token_uri", key.token_uri(), PathRule::PrefixAllowed)
        .map_err(|e| fcm_error(e.to_string()))?;
    if token_endpoint.is_plain_text() != endpoint.is_plain_text() {
        return Err(fcm_error(format!(
            "token_uri {} and the FCM endpoint {} (--fcm-endpoint) must both be https://, or \
             both http:// on a loopback address",
            key.token_uri(),
            endpoint.url()
        )));
    }
    FcmGateway::builder(key)
        .base_url(endpoint.url())
        .transport(trust.transport_for(&endpoint))
        .build()
        .map_err(|e| fcm_error(e.to_string()))
}

/// The APNs gateway, when any APNs setting is given (then all four are required).
fn apns(config: &Config, trust: &PushTrust) -> Result<Option<ApnsGateway>, StartupError> {
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
        (None, None, None, None) if config.apns_endpoint.is_some() => {
            return Err(StartupError::flag(
                "--apns-endpoint",
                "needs APNs enabled with --apns-key, --apns-key-id, --apns-team-id and \
                 --apns-topic",
            ));
        }
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
    let endpoint = apns_endpoint(config, trust)?;
    let gateway = ApnsGateway::builder(&key_pem, key_id, team_id, topic)
        .endpoint(endpoint)
        .build()
        .map_err(|e| apns_error(e.to_string()))?;
    Ok(Some(gateway))
}

/// Where APNs is: `--apns-endpoint`, or Apple's production or sandbox host (trusting
/// `--push-ca`'s roots too when it is given).
fn apns_endpoint(config: &Config, trust: &PushTrust) -> Result<ApnsEndpoint, StartupError> {
    let url = match (&config.apns_endpoint, config.apns_sandbox) {
        (Some(_), true) => {
            return Err(StartupError::flag(
                "--apns-endpoint",
                "replaces the endpoint --apns-sandbox chooses: give one of the two",
            ));
        }
        (Some(url), false) => url.as_str(),
        (None, _) if trust.extra_roots() == 0 => {
            return Ok(if config.apns_sandbox {
                ApnsEndpoint::Sandbox
            } else {
                ApnsEndpoint::Production
            });
        }
        (None, true) => APNS_SANDBOX_URL,
        (None, false) => APNS_PRODUCTION_URL,
    };
    let endpoint = PushEndpoint::parse("--apns-endpoint", url, PathRule::NoPath)?;
    Ok(ApnsEndpoint::custom(
        endpoint.url(),
        trust.transport_for(&endpoint),
    ))
}
