//! Group commit for the journal's per-publish writes: accepts and finishes that arrive while
//! one is being written wait and are then written together, in one transaction.
//!
//! SQLite has one writer. Every publish journals an accept and a finish; one transaction
//! each makes the writer's lock, not the work, the limit once publishes arrive in parallel.
//! The first caller to find the queue empty leads: it takes the writer and drains the queue —
//! its own change and every one queued by then — into one immediate transaction, and answers
//! each. A caller that finds the queue non-empty waits for the leader already on its way.

use std::sync::{Arc, Mutex, PoisonError};

use beams_core::{StoreError, StoreErrorKind};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::SqliteDeviceStore;
use crate::queries::in_transaction;

/// One change of the batch: runs in the batch's transaction and answers its caller.
type Change<T> = Box<dyn FnOnce(&Connection) -> Result<T, StoreError> + Send>;

struct Queued<T> {
    change: Change<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

/// The changes waiting for the writer.
pub(crate) struct GroupCommit<T> {
    queue: Arc<Mutex<Vec<Queued<T>>>>,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit {
            queue: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Runs `change` in a transaction shared with the changes queued beside it. A change
    /// that fails with `Precondition` fails alone (it must have written nothing); any other
    /// failure rolls the whole batch back and every change in it gets the error.
    pub(crate) async fn run(
        &self,
        store: &SqliteDeviceStore,
        change: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let leads = queue.is_empty();
            queue.push(Queued {
                change: Box::new(change),
                reply,
            });
            leads
        };
        if leads {
            // Let the tasks that are ready queue theirs first: a bigger batch, fewer commits.
            tokio::task::yield_now().await;
            let queue = Arc::clone(&self.queue);
            let written = store.write(move |conn| write_batch(conn, &queue)).await;
            if let Err(err) = written {
                // The batch never ran (no worker): answer what is queued, ours included.
                let batch = take(&self.queue);
                for queued in batch {
                    let _ = queued.reply.send(Err(copy_of(&err)));
                }
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::new(StoreErrorKind::Unavailable)))
    }
}

fn take<T>(queue: &Mutex<Vec<Queued<T>>>) -> Vec<Queued<T>> {
    std::mem::take(&mut *queue.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Drains the queue into one transaction and answers every change in it.
fn write_batch<T>(conn: &mut Connection, queue: &Mutex<Vec<Queued<T>>>) -> Result<(), StoreError> {
    let (changes, replies): (Vec<_>, Vec<_>) = take(queue)
        .into_iter()
        .map(|queued| (queued.change, queued.reply))
        .unzip();
    let written = in_transaction(conn, |tx| {
        let mut answers = Vec::with_capacity(changes.len());
        for change in changes {
            let answer = change(tx);
            if let Err(err) = &answer
                && !matches!(err.kind(), StoreErrorKind::Precondition { .. })
            {
                return Err(copy_of(err));
            }
            answers.push(answer);
        }
        Ok(answers)
    });
    match written {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(err) => {
            for reply in replies {
                let _ = reply.send(Err(copy_of(&err)));
            }
        }
    }
    Ok(())
}

/// The same failure for another change of the batch (errors are not `Clone`: the source is
/// carried as its message).
fn copy_of(err: &StoreError) -> StoreError {
    StoreError::with_source(err.kind().clone(), err.to_string())
}
