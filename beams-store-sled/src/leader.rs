//! The leader: the one thread at a time that commits the writer's queue.
//!
//! The caller whose write finds no leader becomes it. On a multi-thread runtime it commits
//! the first batch in place (`block_in_place`): a lone writer's write then costs no hop to
//! the blocking pool and back, which is a good part of its time. If more writes queued
//! meanwhile, a leader on the blocking pool takes over, so that caller returns with its answer
//! instead of committing for others indefinitely. Elsewhere the leader starts on the pool.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::database::Database;
use crate::writer::{Pending, Writer};

/// The longest a leader waits for as many writes as its last batch held, when that was more
/// than one: a little more than a caller takes to come back with its next write.
const GATHER: Duration = Duration::from_micros(100);

/// Commits queued writes until none wait.
pub(crate) struct Leader {
    writer: Arc<Writer>,
    /// Held only while committing a batch, whose callers keep the store open until answered:
    /// a caller may close the store (and release its directory) the moment it has its answer.
    database: Weak<Database>,
    /// The size of the last batch committed.
    last_batch: usize,
    finished: bool,
}

impl Leader {
    /// Leads, for a caller whose write found no leader (see the module's notes).
    pub(crate) fn start(writer: Arc<Writer>, database: Weak<Database>) {
        let mut leader = Leader {
            writer,
            database,
            last_batch: 0,
            finished: false,
        };
        let multi_thread = Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
        if !multi_thread {
            // Detached: the answers come through the channels.
            drop(tokio::task::spawn_blocking(move || leader.run(None)));
            return;
        }
        let next = tokio::task::block_in_place(|| {
            let batch = leader.writer.next_batch()?;
            leader.commit(batch).then(|| leader.writer.next_batch())?
        });
        match next {
            Some(batch) => drop(tokio::task::spawn_blocking(move || {
                leader.run(Some(batch));
            })),
            // Nothing more waited and the leader stepped down, or the store is closed.
            None => leader.finished = true,
        }
    }

    /// Commits `first`, if given, then every batch that waits.
    fn run(mut self, mut first: Option<Vec<Pending>>) {
        loop {
            let batch = match first.take() {
                Some(batch) => batch,
                None => {
                    if self.last_batch > 1 {
                        // Others are writing too: let the callers just answered queue up
                        // again, so the next transaction (and its disk writes) carries more.
                        self.writer.gather(self.last_batch, GATHER);
                    }
                    match self.writer.next_batch() {
                        Some(batch) => batch,
                        None => break,
                    }
                }
            };
            if !self.commit(batch) {
                break;
            }
        }
        self.finished = true;
    }

    /// Commits `batch` and answers its writes; false when the store is closed, and the
    /// leader has stepped down.
    fn commit(&mut self, batch: Vec<Pending>) -> bool {
        self.last_batch = batch.len();
        let Some(database) = self.database.upgrade() else {
            // Every caller gave up waiting and the store is closed.
            drop(batch);
            self.writer.abandon();
            return false;
        };
        let answers = self.writer.commit(&database.db, &database.trees, &batch);
        let mut answered = batch.into_iter().zip(answers);
        let last = answered.next_back();
        for (pending, answer) in answered {
            pending.answer(answer);
        }
        // Those answered can come back with their next writes while this waits for the disk;
        // the last caller, still waiting, keeps the store open meanwhile.
        self.writer.flush_if_behind(&database.db);
        drop(database);
        if let Some((pending, answer)) = last {
            pending.answer(answer);
        }
        true
    }
}

impl Drop for Leader {
    /// A leader that panicked, or never ran (the runtime shut down), steps down here.
    fn drop(&mut self) {
        if !self.finished {
            self.writer.abandon();
        }
    }
}
