//! The per-client limits of the open device and reporting APIs, and the extractors that
//! apply them: a registration, an interest change or a reported event is taken only when the
//! calling client is within its limit, and is answered 429 with `Retry-After` otherwise.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::client_addr::{IpNet, client_addr};
use crate::errors::ApiError;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;

/// Registrations (and FCM token refreshes) per client address per minute, by default.
pub const DEFAULT_REGISTRATIONS_PER_MINUTE: u32 = 600;
/// Interest changes (set, add, remove) per client address per minute, by default.
pub const DEFAULT_INTEREST_CHANGES_PER_MINUTE: u32 = 1200;
/// Reported events (deliveries and opens) per client address per minute, by default: a
/// phone reports two per notification, and one carrier address can front thousands of
/// phones receiving the same publish.
pub const DEFAULT_EVENTS_PER_MINUTE: u32 = 6000;

/// How many requests of each kind one client may make, and which proxies are trusted to say
/// who the client is.
///
/// The limits need the peer's address: serve the router with
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) (as
/// `into_make_service_with_connect_info::<SocketAddr>()` does, and the `beams-server` binary
/// always does). Without it, a limited request is answered 500 and logged, so a missing
/// setup shows at once rather than leaving the limits silently off.
///
/// ```
/// use beams_server::client_limits::ClientLimits;
///
/// let limits = ClientLimits::new(600, 1200, vec!["10.0.0.0/8".parse()?]);
/// assert_eq!(limits.registrations_per_minute(), 600);
/// assert_eq!(limits.events_per_minute(), 6000);
/// let open = ClientLimits::new(0, 0, Vec::new()).with_events_per_minute(0);
/// assert_eq!(open.registrations_per_minute(), 0);
/// assert_eq!(open.events_per_minute(), 0);
/// # Ok::<(), beams_server::client_addr::BadIpNet>(())
/// ```
#[derive(Debug)]
pub struct ClientLimits {
    registrations: Option<RateLimiter>,
    interest_changes: Option<RateLimiter>,
    events: Option<RateLimiter>,
    trusted_proxies: Vec<IpNet>,
}

impl ClientLimits {
    /// Limits per client address per minute (0 for none), reading the client from
    /// `X-Forwarded-For` when the peer is one of `trusted_proxies`; reported events at
    /// [`DEFAULT_EVENTS_PER_MINUTE`].
    pub fn new(
        registrations_per_minute: u32,
        interest_changes_per_minute: u32,
        trusted_proxies: Vec<IpNet>,
    ) -> Self {
        ClientLimits {
            registrations: RateLimiter::per_minute(registrations_per_minute),
            interest_changes: RateLimiter::per_minute(interest_changes_per_minute),
            events: RateLimiter::per_minute(DEFAULT_EVENTS_PER_MINUTE),
            trusted_proxies,
        }
    }

    /// Limits reported events to `per_minute` per client address (0 for none).
    pub fn with_events_per_minute(self, per_minute: u32) -> Self {
        ClientLimits {
            events: RateLimiter::per_minute(per_minute),
            ..self
        }
    }

    /// Reported events per client per minute (0: no limit).
    pub fn events_per_minute(&self) -> u32 {
        self.events.as_ref().map_or(0, RateLimiter::limit)
    }

    /// Registrations per client per minute (0: no limit).
    pub fn registrations_per_minute(&self) -> u32 {
        self.registrations.as_ref().map_or(0, RateLimiter::limit)
    }

    /// Interest changes per client per minute (0: no limit).
    pub fn interest_changes_per_minute(&self) -> u32 {
        self.interest_changes.as_ref().map_or(0, RateLimiter::limit)
    }

    /// The client that sent `parts`.
    fn client(&self, parts: &Parts) -> Result<IpAddr, ApiError> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            tracing::error!(
                "per-client limits need the peer address: serve with \
                 into_make_service_with_connect_info::<SocketAddr>()"
            );
            return Err(ApiError::internal());
        };
        Ok(client_addr(
            peer.ip(),
            &parts.headers,
            &self.trusted_proxies,
        ))
    }
}

/// Takes one request from `limiter` (if there is one) for the client of `parts`.
fn allow(
    parts: &Parts,
    state: &AppState,
    limiter: impl Fn(&ClientLimits) -> Option<&RateLimiter>,
    what: &str,
) -> Result<(), ApiError> {
    let Some(limits) = state.client_limits() else {
        return Ok(());
    };
    let Some(limiter) = limiter(limits) else {
        return Ok(());
    };
    let client = limits.client(parts)?;
    limiter.take(client, Instant::now()).map_err(|wait| {
        tracing::debug!(%client, what, "rate limited");
        ApiError::too_many_requests(what, wait)
    })
}

/// A registration (or token refresh) within the client's limit.
#[derive(Debug)]
pub(crate) struct RegistrationAllowed;

impl FromRequestParts<AppState> for RegistrationAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        allow(parts, state, |l| l.registrations.as_ref(), "registrations")?;
        Ok(RegistrationAllowed)
    }
}

/// An interest change within the client's limit.
#[derive(Debug)]
pub(crate) struct InterestChangeAllowed;

impl FromRequestParts<AppState> for InterestChangeAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        allow(
            parts,
            state,
            |l| l.interest_changes.as_ref(),
            "interest changes",
        )?;
        Ok(InterestChangeAllowed)
    }
}

/// A reported event within the client's limit.
#[derive(Debug)]
pub(crate) struct EventAllowed;

impl FromRequestParts<AppState> for EventAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        allow(parts, state, |l| l.events.as_ref(), "reported events")?;
        Ok(EventAllowed)
    }
}
