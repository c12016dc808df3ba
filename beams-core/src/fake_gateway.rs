//! `FakePushGateway`: a scriptable `PushGateway` that records what it is asked to send.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{Batch, DeliveryOutcome, Payload, Platform, PushGateway, PushToken, Recipient};

/// A `PushGateway` for tests: records every batch and answers as scripted. Clones share state.
///
/// Each recipient is answered by the first that applies: the script for the next call (queued
/// with [`answer_next_call`](Self::answer_next_call)), the answer for its token
/// ([`answer_for_token`](Self::answer_for_token)), then the default (`Delivered`, or what
/// [`answer_by_default`](Self::answer_by_default) set).
///
/// ```
/// use beams_core::{DeliveryOutcome, FakePushGateway};
///
/// let gateway = FakePushGateway::new();
/// gateway.answer_next_call(DeliveryOutcome::RetryLater { retry_after: None, reason: "busy".into() });
/// assert!(gateway.calls().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakePushGateway {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    default: Option<DeliveryOutcome>,
    by_token: HashMap<(Platform, String), DeliveryOutcome>,
    next_calls: VecDeque<DeliveryOutcome>,
    calls: Vec<Batch>,
    refusal: Option<String>,
}

impl FakePushGateway {
    /// A gateway that delivers everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `outcome` to every recipient that nothing more specific covers.
    pub fn answer_by_default(&self, outcome: DeliveryOutcome) {
        self.lock().default = Some(outcome);
    }

    /// Answers `outcome` to every delivery to `token` (matched by platform and key).
    pub fn answer_for_token(&self, token: &PushToken, outcome: DeliveryOutcome) {
        self.lock()
            .by_token
            .insert((token.platform(), token.key().to_owned()), outcome);
    }

    /// Answers `outcome` to every recipient of the next call not yet scripted; calls queue up.
    pub fn answer_next_call(&self, outcome: DeliveryOutcome) {
        self.lock().next_calls.push_back(outcome);
    }

    /// Refuses every payload from now on in [`check`](PushGateway::check) with `reason`, as a
    /// real gateway refuses one its push service would not take (so a publish is refused when
    /// it arrives).
    pub fn refuse_payloads(&self, reason: impl Into<String>) {
        self.lock().refusal = Some(reason.into());
    }

    /// Every batch sent so far, in order.
    pub fn calls(&self) -> Vec<Batch> {
        self.lock().calls.clone()
    }

    /// Every recipient so far, in order, across calls.
    pub fn sent(&self) -> Vec<Recipient> {
        self.lock()
            .calls
            .iter()
            .flat_map(|batch| batch.recipients.iter().cloned())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl PushGateway for FakePushGateway {
    async fn send(&self, batch: &Batch) -> Vec<DeliveryOutcome> {
        let mut state = self.lock();
        state.calls.push(batch.clone());
        let for_call = state.next_calls.pop_front();
        batch
            .recipients
            .iter()
            .map(|recipient| {
                let key = (recipient.token.platform(), recipient.token.key().to_owned());
                for_call
                    .as_ref()
                    .or_else(|| state.by_token.get(&key))
                    .or(state.default.as_ref())
                    .cloned()
                    .unwrap_or(DeliveryOutcome::Delivered)
            })
            .collect()
    }

    fn check(&self, _payload: &Payload) -> Result<(), String> {
        match &self.lock().refusal {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceId, FcmToken, Payload, PublishId};

    fn batch(tokens: &[&str]) -> Batch {
        let mut batch = Batch::new(Arc::new(Payload {
            publish_id: PublishId::generate(),
            instance: crate::InstanceId::new("test").unwrap(),
            platform: Platform::Fcm,
            body: serde_json::json!({}),
        }));
        for token in tokens {
            batch.recipients.push(Recipient {
                device: DeviceId::generate(Platform::Fcm),
                token: PushToken::Fcm(FcmToken::new(*token).unwrap()),
            });
        }
        batch
    }

    fn dead() -> DeliveryOutcome {
        DeliveryOutcome::TokenDead {
            dead_since: None,
            reason: "UNREGISTERED".into(),
        }
    }

    #[tokio::test]
    async fn answers_follow_call_then_token_then_default() {
        let gateway = FakePushGateway::new();
        let both = batch(&["token-aaaa", "token-bbbb"]);
        gateway.answer_for_token(&both.recipients[1].token, dead());
        let retry = DeliveryOutcome::RetryLater {
            retry_after: None,
            reason: "503".into(),
        };
        gateway.answer_next_call(retry.clone());

        assert_eq!(gateway.send(&both).await, vec![retry.clone(), retry]);
        assert_eq!(
            gateway.send(&both).await,
            vec![DeliveryOutcome::Delivered, dead()]
        );
        gateway.answer_by_default(dead());
        assert_eq!(gateway.send(&batch(&["token-cccc"])).await, vec![dead()]);

        let calls = gateway.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].recipients.len(), 1);
        assert_eq!(gateway.sent().len(), 5);
    }
}
