//! Writes: group commit by one leader at a time, and sled's write queue kept short.
//!
//! sled 0.34 seals and writes a log buffer twice for every transaction, on its own small I/O
//! thread pool, after `transaction` has returned, and syncs each (`sync_file_range`): each
//! transaction costs disk writes however durable the caller asked it to be. So writes are
//! grouped: a write joins the queue, and if no leader is committing, its caller starts one
//! (see `leader`). The leader commits every waiting operation (up to [`MAX_BATCH`]) in one
//! transaction, in arrival order, answers them, and repeats until the queue is empty, while
//! the callers wait as futures. After a batch of several, the leader waits (briefly) until as
//! many writes are queued again: the callers it just answered are usually about to write
//! once more, and a transaction's disk writes cost the same for one operation as for sixty.
//! Each operation sees the ones before it in its batch, as if committed alone; if a batch
//! fails, each of its operations is retried in a transaction of its own, so one bad operation
//! fails alone.
//!
//! The buffers sled has not yet written must also stay few: when they pile up, every pool
//! thread ends up waiting on the segment accountant while the committing thread, holding it,
//! waits for a file truncation queued behind them, and the database stops for good (the pool
//! does not grow past that point). Flushing (`Db::flush`, which waits for those writes) at
//! least every [`MAX_UNFLUSHED`] transactions keeps the queue short whatever the durability.
//! That flush is for sled's sake, not the callers': the leader makes it after answering
//! (see `leader`), while the callers prepare their next writes.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use beams_core::{StoreError, StoreErrorKind};
use tokio::sync::oneshot;

use crate::Durability;
use crate::error::from_sled;
use crate::layout::Trees;
use crate::txn::{self, WriteOp, Written};

/// The most operations committed in one transaction, which holds sled's global transaction
/// lock (readers wait for it) while it runs.
const MAX_BATCH: usize = 64;

/// Transactions committed without waiting for the disk before the next one waits.
const MAX_UNFLUSHED: usize = 2;

/// A write's answer.
pub(crate) type Answer = Result<Written, StoreError>;

/// The store's queue of writes and the state of its leader.
#[derive(Debug)]
pub(crate) struct Writer {
    durability: Durability,
    queue: Mutex<Queue>,
    /// Signalled when as many writes wait as a gathering leader wants.
    gathered: Condvar,
    /// Transactions since the last flush; only the leader touches it.
    unflushed: Mutex<usize>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Pending>,
    /// Whether a leader is committing; it takes what waits before it steps down.
    leading: bool,
    /// How many waiting writes wake a gathering leader; 0 when none gathers.
    wanted: usize,
}

/// A write waiting for the leader.
#[derive(Debug)]
pub(crate) struct Pending {
    op: WriteOp,
    reply: oneshot::Sender<Answer>,
}

impl Pending {
    /// Hands the caller its answer (a caller that stopped waiting gets nothing).
    pub(crate) fn answer(self, answer: Answer) {
        let _ = self.reply.send(answer);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data whole, even if a panic cut it short.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The error for a write whose leader stopped (it panicked, or the runtime shut down) before
/// answering.
pub(crate) fn writer_stopped() -> StoreError {
    StoreError::with_source(StoreErrorKind::Unavailable, "the store's writer stopped")
}

impl Writer {
    pub(crate) fn new(durability: Durability) -> Self {
        Writer {
            durability,
            queue: Mutex::default(),
            gathered: Condvar::new(),
            unflushed: Mutex::new(0),
        }
    }

    /// Queues `op`; true when the caller must start a leader, as none is committing.
    pub(crate) fn enqueue(&self, op: WriteOp, reply: oneshot::Sender<Answer>) -> bool {
        let mut queue = lock(&self.queue);
        queue.waiting.push_back(Pending { op, reply });
        if queue.wanted != 0 && queue.waiting.len() >= queue.wanted {
            queue.wanted = 0;
            self.gathered.notify_one();
        }
        !std::mem::replace(&mut queue.leading, true)
    }

    /// Waits until `count` writes are queued, or `timeout` has passed.
    ///
    /// A fixed pause would be the simpler way to let callers come back, but a sleeping
    /// thread wakes late (timer slack and the scheduler added about 90 µs to a 100 µs sleep
    /// here), and the leader is the one thread every write waits for.
    pub(crate) fn gather(&self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.queue);
        while queue.waiting.len() < count {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queue.wanted = count;
            queue = self
                .gathered
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        queue.wanted = 0;
    }

    /// The leader's next batch, oldest first; `None` when nothing waits, and the leader has
    /// stepped down.
    pub(crate) fn next_batch(&self) -> Option<Vec<Pending>> {
        let mut queue = lock(&self.queue);
        if queue.waiting.is_empty() {
            queue.leading = false;
            return None;
        }
        let take = queue.waiting.len().min(MAX_BATCH);
        Some(queue.waiting.drain(..take).collect())
    }

    /// Steps down for a leader that cannot go on, failing what waits rather than stranding it.
    pub(crate) fn abandon(&self) {
        let mut queue = lock(&self.queue);
        queue.leading = false;
        for pending in queue.waiting.drain(..) {
            pending.answer(Err(writer_stopped()));
        }
    }

    /// Commits `batch` (blocking) and, if the durability asks for it, flushes; returns each
    /// operation's answer, in order.
    pub(crate) fn commit(&self, db: &sled::Db, trees: &Trees, batch: &[Pending]) -> Vec<Answer> {
        let mut transactions = 1;
        let together = trees.transaction(|tx| {
            batch
                .iter()
                .map(|pending| txn::apply(tx, &pending.op))
                .collect::<Result<Vec<_>, _>>()
        });
        let answers: Vec<Answer> = match together {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(err) if batch.len() == 1 => vec![Err(err)],
            Err(_) => {
                transactions += batch.len();
                batch
                    .iter()
                    .map(|pending| trees.transaction(|tx| txn::apply(tx, &pending.op)))
                    .collect()
            }
        };
        let changed = answers
            .iter()
            .any(|answer| answer.as_ref().is_ok_and(Written::changed));
        *lock(&self.unflushed) += transactions;
        let flushed = if self.durability.flushes_every_write() && changed {
            self.flush(db)
        } else {
            Ok(())
        };
        match flushed {
            Ok(()) => answers,
            // The changes are applied but may not be durable: say so to those who made them.
            Err(err) => answers
                .into_iter()
                .map(|answer| match answer {
                    Ok(written) if written.changed() => Err(StoreError::with_source(
                        err.kind().clone(),
                        format!("flushing the write failed: {err}"),
                    )),
                    other => other,
                })
                .collect(),
        }
    }

    /// Flushes if [`MAX_UNFLUSHED`] transactions have not been; see the module's notes.
    ///
    /// A failure here reaches no caller: their writes are answered already, and with an
    /// interval durability were never promised to be on disk yet. sled keeps the error and
    /// fails the writes after it.
    pub(crate) fn flush_if_behind(&self, db: &sled::Db) {
        if *lock(&self.unflushed) >= MAX_UNFLUSHED {
            let _ = self.flush(db);
        }
    }

    /// Writes everything committed so far to disk.
    pub(crate) fn flush(&self, db: &sled::Db) -> Result<(), StoreError> {
        let mut unflushed = lock(&self.unflushed);
        db.flush().map_err(from_sled)?;
        *unflushed = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use beams_core::testing::fixtures::{metadata, push_token, user};
    use beams_core::{
        AssociationOutcome, AssociationPolicy, AssociationRefusal, AssociationRequest, DeviceId,
        DeviceRegistration, InterestChange, Platform, RegistrationOutcome, Timestamp,
    };

    use super::*;

    fn store() -> (sled::Db, Trees) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees = crate::layout::open_trees(&db).unwrap();
        (db, trees)
    }

    fn queued(ops: Vec<WriteOp>) -> (Vec<Pending>, Vec<oneshot::Receiver<Answer>>) {
        ops.into_iter()
            .map(|op| {
                let (reply, answer) = oneshot::channel();
                (Pending { op, reply }, answer)
            })
            .unzip()
    }

    fn registration(n: u64) -> DeviceRegistration {
        DeviceRegistration {
            id: DeviceId::generate(Platform::Fcm),
            token: push_token(Platform::Fcm, n),
            metadata: metadata("1.0.0"),
            at: Timestamp::from_unix_millis(1),
        }
    }

    fn associate(device: &DeviceId, name: &str) -> WriteOp {
        WriteOp::Associate(AssociationRequest {
            device: device.clone(),
            user: user(name),
            policy: AssociationPolicy::default(),
            at: Timestamp::from_unix_millis(2),
        })
    }

    #[test]
    fn a_batch_applies_in_order_each_operation_seeing_the_ones_before() {
        let (db, trees) = store();
        let device = registration(1);
        let id = device.id.clone();
        let (batch, _) = queued(vec![
            WriteOp::Register(device),
            associate(&id, "alice"),
            associate(&id, "bob"),
            WriteOp::RemoveDevice(id.clone()),
            associate(&id, "bob"),
        ]);
        let answers = Writer::new(Durability::FlushEveryWrite).commit(&db, &trees, &batch);
        let outcomes: Vec<String> = answers.iter().map(|a| format!("{a:?}")).collect();
        assert!(
            matches!(
                answers[0],
                Ok(Written::Registered(RegistrationOutcome::Registered(_)))
            ),
            "{outcomes:?}"
        );
        assert!(matches!(
            answers[1],
            Ok(Written::Associated(Some(
                AssociationOutcome::Associated { .. }
            )))
        ));
        assert!(matches!(
            answers[2],
            Ok(Written::Associated(Some(AssociationOutcome::Refused(
                AssociationRefusal::UserMismatch
            ))))
        ));
        assert!(
            matches!(&answers[3], Ok(Written::Removed(Some(d))) if d.user == Some(user("alice")))
        );
        assert!(matches!(answers[4], Ok(Written::Associated(None))));
        assert_eq!(trees.device(&id).unwrap(), None);
    }

    #[test]
    fn subscriptions_in_one_batch_see_each_other_and_the_maximum() {
        let (db, trees) = store();
        let device = registration(1);
        let id = device.id.clone();
        let interest = |name: &str| beams_core::Interest::new(name).unwrap();
        let add = |name: &str| WriteOp::AddInterest(id.clone(), interest(name), 2);
        let (batch, _) = queued(vec![
            WriteOp::Register(device),
            add("a"),
            add("b"),
            add("c"),
            WriteOp::RemoveInterest(id.clone(), interest("a")),
            add("c"),
            WriteOp::RemoveDevice(id.clone()),
            add("d"),
        ]);
        let answers = Writer::new(Durability::FlushEveryWrite).commit(&db, &trees, &batch);
        let added = |n: usize| matches!(&answers[n], Ok(Written::InterestAdded(c)) if *c == Some(InterestChange::Added));
        assert!(added(1) && added(2), "{answers:?}");
        assert!(matches!(
            answers[3],
            Ok(Written::InterestAdded(Some(InterestChange::TooMany {
                max: 2
            })))
        ));
        assert!(matches!(
            answers[4],
            Ok(Written::InterestRemoved(Some(true)))
        ));
        assert!(added(5));
        assert!(matches!(answers[6], Ok(Written::Removed(Some(_)))));
        assert!(matches!(answers[7], Ok(Written::InterestAdded(None))));
        assert!(trees.device_interests.is_empty() && trees.interests.is_empty());
    }

    #[test]
    fn a_failing_operation_fails_alone() {
        let (db, trees) = store();
        let bad = registration(1);
        let bad_id = bad.id.clone();
        let (setup, _) = queued(vec![WriteOp::Register(bad)]);
        let writer = Writer::new(Durability::FlushEveryWrite);
        assert!(writer.commit(&db, &trees, &setup)[0].is_ok());
        trees
            .devices
            .insert(bad_id.as_str(), &b"garbage"[..])
            .unwrap();

        let (first, second) = (registration(2), registration(3));
        let ids = [first.id.clone(), second.id.clone()];
        let (batch, _) = queued(vec![
            WriteOp::Register(first),
            associate(&bad_id, "alice"),
            WriteOp::Register(second),
        ]);
        let answers = writer.commit(&db, &trees, &batch);
        assert!(answers[0].is_ok() && answers[2].is_ok());
        let err = answers[1].as_ref().unwrap_err();
        assert!(
            matches!(err.kind(), StoreErrorKind::Corrupt { .. }),
            "{err}"
        );
        for id in &ids {
            assert!(
                trees.device(id).unwrap().is_some(),
                "the others are committed"
            );
        }
    }

    #[test]
    fn a_gathering_leader_wakes_once_enough_writes_are_queued() {
        let writer = std::sync::Arc::new(Writer::new(Durability::FlushEveryWrite));
        let (reply, _first) = oneshot::channel();
        assert!(writer.enqueue(WriteOp::RemoveUser(user("alice")), reply));
        let late = {
            let writer = std::sync::Arc::clone(&writer);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let (reply, answer) = oneshot::channel();
                assert!(!writer.enqueue(WriteOp::RemoveUser(user("bob")), reply));
                answer
            })
        };
        // Far longer than the test may take: only the second write can end the wait early.
        let started = Instant::now();
        writer.gather(2, Duration::from_secs(600));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "woken by the second write, not by the timeout"
        );
        let _second = late.join().unwrap();
        assert_eq!(writer.next_batch().map(|batch| batch.len()), Some(2));
    }

    #[test]
    fn a_gathering_leader_stops_waiting_at_the_timeout() {
        let writer = Writer::new(Durability::FlushEveryWrite);
        let (reply, _answer) = oneshot::channel();
        assert!(writer.enqueue(WriteOp::RemoveUser(user("alice")), reply));
        let timeout = Duration::from_millis(5);
        let started = Instant::now();
        writer.gather(2, timeout);
        assert!(started.elapsed() >= timeout);
        assert_eq!(writer.next_batch().map(|batch| batch.len()), Some(1));
    }

    #[test]
    fn an_abandoned_queue_answers_every_waiting_write() {
        let writer = Writer::new(Durability::FlushEveryWrite);
        let (reply, mut answer) = oneshot::channel();
        assert!(writer.enqueue(WriteOp::RemoveUser(user("alice")), reply));
        let (reply, mut second) = oneshot::channel();
        assert!(
            !writer.enqueue(WriteOp::RemoveUser(user("bob")), reply),
            "one leader"
        );
        writer.abandon();
        for answer in [&mut answer, &mut second] {
            let err = answer.try_recv().unwrap().unwrap_err();
            assert_eq!(err.kind(), &StoreErrorKind::Unavailable);
        }
        let (reply, _answer) = oneshot::channel();
        assert!(
            writer.enqueue(WriteOp::RemoveUser(user("carol")), reply),
            "leads again"
        );
    }
}
