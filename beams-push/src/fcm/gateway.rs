//! `FcmGateway`: sends each delivery as one FCM HTTP v1 message and classifies the answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use beams_core::{
    Batch, Clock, DeliveryOutcome, Payload, PushGateway, PushToken, Recipient, async_trait,
};
use bytes::Bytes;
use futures_util::future::join_all;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Request, Uri};
use http_body_util::Full;
use tokio::sync::Semaphore;
use tracing::Instrument;
use tracing::field::Empty;

use super::access_token::{AccessTokenError, AccessTokenSource};
use super::classify::{Verdict, classify};
use super::http::{HttpClient, exchange};
use super::message::PreparedMessage;
use super::stats::{FcmStats, OutcomeCounters};
use super::token_cache::{Bearer, TokenCache};

/// The FCM HTTP v1 gateway: one message per device over pooled HTTP/2 connections, at most
/// `max_in_flight` at once, authenticated with one shared, self-refreshing access token.
///
/// Each delivery's answer is classified by FCM's `errorCode` (SPEC §5): `UNREGISTERED`,
/// `SENDER_ID_MISMATCH` and an `INVALID_ARGUMENT` that names the registration token are
/// [`TokenDead`](DeliveryOutcome::TokenDead); any other `INVALID_ARGUMENT`, and payloads
/// refused before sending, are [`Rejected`](DeliveryOutcome::Rejected);
/// `THIRD_PARTY_AUTH_ERROR` and `PERMISSION_DENIED` are
/// [`ConfigFailure`](DeliveryOutcome::ConfigFailure); `UNAVAILABLE`, `INTERNAL`,
/// `QUOTA_EXCEEDED`, timeouts and connection errors are
/// [`RetryLater`](DeliveryOutcome::RetryLater) with the `Retry-After` FCM gave. A plain 401
/// replaces the access token once and sends again.
pub struct FcmGateway {
    project_id: String,
    send_uri: Uri,
    client: HttpClient,
    tokens: TokenCache,
    permits: Semaphore,
    max_in_flight: usize,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    counters: OutcomeCounters,
}

/// What the builder checked, for the gateway to take apart.
pub(crate) struct Settings {
    pub(crate) project_id: String,
    pub(crate) send_uri: Uri,
    pub(crate) client: HttpClient,
    pub(crate) source: Arc<dyn AccessTokenSource>,
    pub(crate) max_in_flight: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl FcmGateway {
    pub(crate) fn new(settings: Settings) -> Self {
        FcmGateway {
            project_id: settings.project_id,
            send_uri: settings.send_uri,
            client: settings.client,
            tokens: TokenCache::new(settings.source, settings.clock.clone()),
            permits: Semaphore::new(settings.max_in_flight),
            max_in_flight: settings.max_in_flight,
            timeout: settings.request_timeout,
            clock: settings.clock,
            counters: OutcomeCounters::default(),
        }
    }

    /// The Firebase project messages are sent for.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Counts of outcomes and token refreshes since the gateway was built.
    pub fn stats(&self) -> FcmStats {
        self.counters.snapshot(&self.tokens.counters)
    }

    async fn send_batch(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        // One payload, translated once for the whole batch.
        let message = PreparedMessage::from_section(&batch.payload.body).inspect_err(|reason| {
            tracing::debug!(publish = %batch.payload.publish_id, %reason, "FCM payload refused");
        });
        // Every delivery is polled at once and the semaphore alone bounds the requests in
        // flight, so one slow answer does not hold the others back; outcomes keep their order.
        let outcomes: Vec<DeliveryOutcome> = join_all(
            batch
                .recipients
                .iter()
                .map(|recipient| self.deliver(recipient, &message)),
        )
        .await;
        let stats = FcmStats::of_batch(&outcomes);
        self.counters.record(&stats);
        let span = tracing::Span::current();
        span.record("delivered", stats.delivered);
        span.record("token_dead", stats.token_dead);
        span.record("retry_later", stats.retry_later);
        span.record("rejected", stats.rejected);
        span.record("config_failure", stats.config_failure);
        tracing::debug!("FCM batch sent");
        outcomes
    }

    async fn deliver(
        &self,
        recipient: &Recipient,
        message: &Result<PreparedMessage, String>,
    ) -> DeliveryOutcome {
        let outcome = self.try_deliver(recipient, message).await;
        if outcome != DeliveryOutcome::Delivered {
            tracing::debug!(device = %recipient.device, ?outcome, "FCM did not take a message");
        }
        outcome
    }

    async fn try_deliver(
        &self,
        recipient: &Recipient,
        message: &Result<PreparedMessage, String>,
    ) -> DeliveryOutcome {
        let message = match message {
            Ok(message) => message,
            Err(reason) => {
                return DeliveryOutcome::Rejected {
                    reason: reason.clone(),
                };
            }
        };
        let PushToken::Fcm(token) = &recipient.token else {
            return DeliveryOutcome::Rejected {
                reason: format!(
                    "a {} token cannot be sent through FCM",
                    recipient.token.platform()
                ),
            };
        };
        let body = message.body_for(token);
        let Ok(_permit) = self.permits.acquire().await else {
            return retry("the FCM gateway is shutting down".to_owned());
        };
        let mut bearer = match self.tokens.bearer().await {
            Ok(bearer) => bearer,
            Err(error) => return token_failure(error),
        };
        let mut replaced = false;
        loop {
            let answer = match self.post(body.clone(), &bearer).await {
                Ok(answer) => answer,
                Err(reason) => return retry(format!("FCM: {reason}")),
            };
            match classify(
                answer.status,
                &answer.headers,
                &answer.body,
                self.clock.now(),
            ) {
                Verdict::Outcome(outcome) => return outcome,
                Verdict::RefreshToken if !replaced => {
                    replaced = true;
                    bearer = match self.tokens.replace(bearer.generation).await {
                        Ok(bearer) => bearer,
                        Err(error) => return token_failure(error),
                    };
                }
                Verdict::RefreshToken => {
                    return DeliveryOutcome::ConfigFailure {
                        reason: "FCM 401: a freshly fetched access token was refused too"
                            .to_owned(),
                    };
                }
            }
        }
    }

    async fn post(&self, body: Bytes, bearer: &Bearer) -> Result<super::http::Answer, String> {
        let request = Request::post(self.send_uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, bearer.header.clone())
            .body(Full::new(body))
            .map_err(|e| format!("building the request failed: {e}"))?;
        exchange(&self.client, request, self.timeout).await
    }
}

#[async_trait]
impl PushGateway for FcmGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        let span = tracing::info_span!(
            "fcm_send",
            project = %self.project_id,
            deliveries = batch.recipients.len(),
            delivered = Empty,
            token_dead = Empty,
            retry_later = Empty,
            rejected = Empty,
            config_failure = Empty,
        );
        self.send_batch(batch).instrument(span).await
    }

    fn check(&self, payload: &Payload) -> Result<(), String> {
        PreparedMessage::from_section(&payload.body).map(drop)
    }
}

impl fmt::Debug for FcmGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmGateway")
            .field("project_id", &self.project_id)
            .field("send_uri", &self.send_uri)
            .field("tokens", &self.tokens)
            .field("max_in_flight", &self.max_in_flight)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn retry(reason: String) -> DeliveryOutcome {
    DeliveryOutcome::RetryLater {
        retry_after: None,
        reason,
    }
}

fn token_failure(error: AccessTokenError) -> DeliveryOutcome {
    match error {
        AccessTokenError::Refused { .. } => DeliveryOutcome::ConfigFailure {
            reason: format!("FCM access token: {error}"),
        },
        AccessTokenError::Unavailable { retry_after, .. } => DeliveryOutcome::RetryLater {
            retry_after,
            reason: format!("FCM access token: {error}"),
        },
    }
}
