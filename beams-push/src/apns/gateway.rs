//! `ApnsGateway`: sends a batch concurrently over the pool and classifies every answer.

use std::time::Duration;

use beams_core::async_trait;
use beams_core::{Batch, DeliveryOutcome, Payload, PushGateway, PushToken, Recipient};
use futures_util::future::join_all;
use http_body_util::{BodyExt, Limited};
use tracing::Instrument;

use std::num::NonZeroUsize;
use std::sync::Arc;

use beams_core::Clock;

use super::classify::{Answer, Verdict, classify};
use super::connection::{Unprocessed, unprocessed};
use super::endpoint::Target;
use super::pool::Pool;
use super::provider_token::{ProviderToken, ProviderTokens, Signer};
use super::request::PreparedPayload;
use super::stats::{ApnsStats, Counters};
use crate::retry_after::retry_after;

/// The largest error body read from APNs (they are a few dozen bytes).
const MAX_ANSWER_BODY: usize = 16 * 1024;

/// A [`PushGateway`] to APNs over HTTP/2 with token auth.
///
/// One gateway holds one credential: a pool of connections that share one provider token.
/// Every delivery of a batch is sent at once; they queue for streams, so a batch of any size
/// completes without exceeding what the server allows. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ApnsGateway {
    target: Target,
    topic: String,
    tokens: ProviderTokens,
    pool: Pool,
    counters: Counters,
    request_timeout: Duration,
    max_resends: u32,
}

/// What the builder checked, for the gateway to take apart.
pub(crate) struct Settings {
    pub(crate) signer: Arc<Signer>,
    pub(crate) topic: String,
    pub(crate) target: Target,
    pub(crate) pool_size: NonZeroUsize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_resends: u32,
}

/// The result of one attempt on one connection.
enum Attempt {
    Answered(Answer),
    /// The connection closed before the server processed the request: send it again.
    NotProcessed(String),
    Failed(DeliveryOutcome),
}

impl ApnsGateway {
    pub(crate) fn new(settings: Settings) -> Self {
        ApnsGateway {
            tokens: ProviderTokens::new(settings.signer, settings.clock),
            pool: Pool::new(
                settings.target.clone(),
                settings.pool_size.get(),
                settings.connect_timeout,
            ),
            target: settings.target,
            topic: settings.topic,
            counters: Counters::default(),
            request_timeout: settings.request_timeout,
            max_resends: settings.max_resends,
        }
    }

    /// The topic notifications are sent to (the bundle id).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// What the gateway did so far.
    pub fn stats(&self) -> ApnsStats {
        self.counters
            .snapshot(self.tokens.signed(), self.pool.connections_opened())
    }

    /// One delivery, from queueing for a stream to its classified answer. Each request it
    /// sends has the request timeout, counted from when it holds a stream; the wait for one
    /// is not bounded here (streams free up as requests end or time out), but by the engine.
    async fn deliver(
        &self,
        recipient: &Recipient,
        prepared: &Result<PreparedPayload, String>,
    ) -> DeliveryOutcome {
        let token = match &recipient.token {
            PushToken::Apns(token) => token.as_str(),
            other => {
                return DeliveryOutcome::Rejected {
                    reason: format!("a {} token cannot go to APNs", other.platform().as_str()),
                };
            }
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => {
                return DeliveryOutcome::Rejected {
                    reason: reason.clone(),
                };
            }
        };
        self.attempts(token, prepared).await
    }

    /// Sends until an answer counts: again on another connection when one was not processed,
    /// and once more with a new provider token after `ExpiredProviderToken`.
    async fn attempts(&self, device_token: &str, prepared: &PreparedPayload) -> DeliveryOutcome {
        let mut resends = 0;
        let mut provider = match self.tokens.current() {
            Ok(token) => token,
            Err(_) => return sign_failed(),
        };
        let mut renewed = false;
        loop {
            match self.attempt(device_token, prepared, &provider).await {
                Attempt::Failed(outcome) => return outcome,
                Attempt::NotProcessed(reason) => {
                    if resends >= self.max_resends {
                        return DeliveryOutcome::RetryLater {
                            retry_after: None,
                            reason,
                        };
                    }
                    resends += 1;
                    self.counters.resent();
                }
                Attempt::Answered(answer) => match classify(&answer) {
                    Verdict::Delivered => return DeliveryOutcome::Delivered,
                    Verdict::Outcome(outcome) => return outcome,
                    Verdict::ExpiredProviderToken => {
                        match self.tokens.renew_after_expired(&provider) {
                            Ok(Some(fresh)) if !renewed => {
                                renewed = true;
                                provider = fresh;
                            }
                            Ok(_) => return expired_anyway(&provider),
                            Err(_) => return sign_failed(),
                        }
                    }
                },
            }
        }
    }

    async fn attempt(
        &self,
        device_token: &str,
        prepared: &PreparedPayload,
        provider: &ProviderToken,
    ) -> Attempt {
        let lease = match self.pool.acquire().await {
            Ok(lease) => lease,
            Err(error) => {
                return Attempt::Failed(DeliveryOutcome::RetryLater {
                    retry_after: None,
                    reason: error.0,
                });
            }
        };
        let request = match prepared.request(&self.target, device_token, &provider.authorization) {
            Ok(request) => request,
            Err(error) => {
                return Attempt::Failed(DeliveryOutcome::Rejected {
                    reason: format!("the request cannot be built: {error}"),
                });
            }
        };
        // The timeout starts now that the request holds a stream: it bounds sending and
        // reading the answer, not queueing. On expiry the request is dropped (its stream
        // reset) and the lease handed back.
        let exchange = async {
            let response = match lease.connection.send(request).await {
                Ok(response) => response,
                Err(error) => {
                    return match unprocessed(&error) {
                        Some(why) => {
                            if why == Unprocessed::ConnectionGone {
                                lease.retire();
                            }
                            Attempt::NotProcessed(format!(
                                "APNs did not process the request: {error}"
                            ))
                        }
                        None => Attempt::Failed(DeliveryOutcome::RetryLater {
                            retry_after: None,
                            reason: format!("APNs connection failed: {error}"),
                        }),
                    };
                }
            };
            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers(), self.tokens.now());
            // A body cut short still leaves the status to classify by.
            let body = match Limited::new(response.into_body(), MAX_ANSWER_BODY)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => bytes::Bytes::new(),
            };
            // 410 proves the provider token was accepted as surely as 200 does.
            if status == 200 || status == 410 {
                lease.confirm();
            }
            Attempt::Answered(Answer::parse(status, retry_after, &body))
        };
        let attempt = tokio::time::timeout(self.request_timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Attempt::Failed(DeliveryOutcome::RetryLater {
                    retry_after: None,
                    reason: format!("no answer from APNs within {:?}", self.request_timeout),
                })
            });
        drop(lease);
        attempt
    }
}

fn sign_failed() -> DeliveryOutcome {
    DeliveryOutcome::ConfigFailure {
        reason: "the provider token could not be signed".into(),
    }
}

/// APNs still calls the token expired though it is fresh (or was just renewed): the clock
/// or the key is wrong, and re-signing again would only earn `TooManyProviderTokenUpdates`.
fn expired_anyway(provider: &ProviderToken) -> DeliveryOutcome {
    DeliveryOutcome::ConfigFailure {
        reason: format!(
            "ExpiredProviderToken for a token issued at {}: check the system clock",
            provider.issued_at
        ),
    }
}

#[async_trait]
impl PushGateway for ApnsGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        let span = tracing::debug_span!("apns_send", deliveries = batch.recipients.len());
        async {
            // One payload, serialized once for the whole batch.
            let prepared = PreparedPayload::new(&batch.payload.body, &self.topic);
            let outcomes = join_all(
                batch
                    .recipients
                    .iter()
                    .map(|recipient| self.deliver(recipient, &prepared)),
            )
            .await;
            let mut config_failure = None;
            for outcome in &outcomes {
                self.counters.count(outcome);
                if let DeliveryOutcome::ConfigFailure { reason } = outcome {
                    config_failure.get_or_insert(reason);
                }
            }
            if let Some(reason) = config_failure {
                tracing::warn!(%reason, "APNs credential or configuration failure");
            }
            outcomes
        }
        .instrument(span)
        .await
    }

    fn check(&self, payload: &Payload) -> Result<(), String> {
        PreparedPayload::new(&payload.body, &self.topic).map(drop)
    }
}
