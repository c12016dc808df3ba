//! The mass-invalidation breaker: holds back device removals until a publish has shown that
//! dead tokens are the exception, not the rule.

use crate::publish::BreakerPolicy;

/// Per publish and platform: counts verdicts on tokens and releases the removals it holds.
#[derive(Debug)]
pub(crate) struct Breaker<T> {
    policy: BreakerPolicy,
    verdicts: usize,
    dead: usize,
    tripped: bool,
    held: Vec<T>,
}

/// What to do with dead-token removals now.
#[derive(Debug)]
pub(crate) struct Released<T> {
    /// Remove these devices.
    pub(crate) remove: Vec<T>,
    /// Keep these: the breaker tripped.
    pub(crate) keep: Vec<T>,
}

impl<T> Default for Released<T> {
    fn default() -> Self {
        Released {
            remove: Vec::new(),
            keep: Vec::new(),
        }
    }
}

impl<T> Breaker<T> {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            verdicts: 0,
            dead: 0,
            tripped: false,
            held: Vec::new(),
        }
    }

    pub(crate) fn tripped(&self) -> bool {
        self.tripped
    }

    /// Records one verdict on a token — `dead` carries the removal a dead token asks for —
    /// and says which held removals to carry out or drop.
    pub(crate) fn verdict(&mut self, dead: Option<T>) -> Released<T> {
        self.verdicts += 1;
        if let Some(removal) = dead {
            self.dead += 1;
            self.held.push(removal);
        }
        if self.tripped {
            return Released {
                remove: Vec::new(),
                keep: std::mem::take(&mut self.held),
            };
        }
        if self.verdicts < self.policy.min_deliveries {
            return Released::default();
        }
        if self.dead as f64 > self.policy.share * self.verdicts as f64 {
            self.tripped = true;
            return Released {
                remove: Vec::new(),
                keep: std::mem::take(&mut self.held),
            };
        }
        Released {
            remove: std::mem::take(&mut self.held),
            keep: Vec::new(),
        }
    }

    /// At the end of the publish: a publish too small to judge removes what it held.
    pub(crate) fn finish(&mut self) -> Released<T> {
        if self.tripped {
            Released {
                remove: Vec::new(),
                keep: std::mem::take(&mut self.held),
            }
        } else {
            Released {
                remove: std::mem::take(&mut self.held),
                keep: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_the_sample_is_large_enough_then_releases() {
        let mut breaker = Breaker::new(BreakerPolicy::new(0.5, 4));
        assert!(breaker.verdict(Some(1)).remove.is_empty());
        assert!(breaker.verdict(None).remove.is_empty());
        assert!(breaker.verdict(None).remove.is_empty());
        // 1 dead of 4: under half, release.
        assert_eq!(breaker.verdict(None).remove, vec![1]);
        assert_eq!(breaker.verdict(Some(2)).remove, vec![2]);
        assert!(!breaker.tripped());
    }

    #[test]
    fn trips_on_a_majority_of_dead_tokens_and_removes_nothing() {
        let mut breaker = Breaker::new(BreakerPolicy::new(0.5, 4));
        for n in 0..3 {
            let released = breaker.verdict(Some(n));
            assert!(released.remove.is_empty());
        }
        let released = breaker.verdict(None);
        assert!(breaker.tripped());
        assert!(released.remove.is_empty());
        assert_eq!(released.keep, vec![0, 1, 2]);
        assert_eq!(breaker.verdict(Some(9)).keep, vec![9]);
        assert!(breaker.finish().remove.is_empty());
    }

    #[test]
    fn a_small_publish_removes_at_the_end() {
        let mut breaker = Breaker::new(BreakerPolicy::default());
        breaker.verdict(Some("a"));
        assert_eq!(breaker.finish().remove, vec!["a"]);
    }
}
