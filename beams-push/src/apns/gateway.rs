//! `ApnsGateway`: sends a batch concurrently over the pool and classifies every answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use beams_core::async_trait;
use beams_core::{Delivery, DeliveryOutcome, Payload, PushGateway, PushToken};
use futures_util::future::join_all;
use http_body_util::{BodyExt, Limited};
use tracing::Instrument;

use super::classify::{Answer, Verdict, classify};
use super::config::{ApnsConfig, Target};
use super::connection::{Unprocessed, unprocessed};
use super::pool::Pool;
use super::provider_token::{ProviderToken, ProviderTokens};
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

/// The result of one attempt on one connection.
enum Attempt {
    Answered(Answer),
    /// The connection closed before the server processed the request: send it again.
    NotProcessed(String),
    Failed(DeliveryOutcome),
}

impl ApnsGateway {
    /// A gateway for `config`. Connections open lazily, on the first send.
    pub fn new(config: ApnsConfig) -> Self {
        ApnsGateway {
            tokens: ProviderTokens::new(config.signer, config.clock),
            pool: Pool::new(
                config.target.clone(),
                config.pool_size.get(),
                config.connect_timeout,
            ),
            target: config.target,
            topic: config.topic,
            counters: Counters::default(),
            request_timeout: config.request_timeout,
            max_resends: config.max_resends,
        }
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
        delivery: &Delivery,
        prepared: &Result<PreparedPayload, String>,
    ) -> DeliveryOutcome {
        let token = match &delivery.token {
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

/// Each distinct payload of a batch, serialized once (deliveries share it by `Arc`), and for
/// each delivery the index of its payload.
fn prepare_all(
    deliveries: &[Delivery],
    topic: &str,
) -> (Vec<Result<PreparedPayload, String>>, Vec<usize>) {
    let mut seen: HashMap<*const Payload, usize> = HashMap::new();
    let mut prepared = Vec::new();
    let indices = deliveries
        .iter()
        .map(|delivery| {
            *seen
                .entry(Arc::as_ptr(&delivery.payload))
                .or_insert_with(|| {
                    prepared.push(PreparedPayload::new(&delivery.payload.body, topic));
                    prepared.len() - 1
                })
        })
        .collect();
    (prepared, indices)
}

#[async_trait]
impl PushGateway for ApnsGateway {
    async fn send(&self, deliveries: &[Delivery]) -> Vec<DeliveryOutcome> {
        let span = tracing::debug_span!("apns_send", deliveries = deliveries.len());
        async {
            let (prepared, indices) = prepare_all(deliveries, &self.topic);
            let outcomes = join_all(deliveries.iter().zip(indices).map(|(delivery, index)| {
                let payload = &prepared[index];
                self.deliver(delivery, payload)
            }))
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
}
