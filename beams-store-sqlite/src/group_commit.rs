//! Group commit for the journal's per-publish writes: accepts and finishes that arrive while
//! one is being written wait and are then written together, in one transaction.
//!
//! SQLite has one writer. Every publish journals an accept and a finish; one transaction
//! each makes the writer's lock, not the work, the limit once publishes arrive in parallel.
//! The first caller to find the queue empty leads: it takes the writer and drains the queue —
//! its own change and every one queued by then, of whatever kind — into one immediate
//! transaction, and answers each once it has committed. A caller that finds the queue
//! non-empty waits for the leader already on its way.

use std::sync::{Arc, Mutex, PoisonError};

use beams_core::{StoreError, StoreErrorKind};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::SqliteDeviceStore;
use crate::queries::in_transaction;

/// A change waiting in the queue, whatever it answers.
trait Pending: Send {
    /// Runs the change in the batch's transaction, keeping its answer. Fails the batch for
    /// any error but a broken precondition, which the change answers alone (having written
    /// nothing).
    fn apply(&mut self, tx: &Connection) -> Result<(), StoreError>;

    /// Answers the caller: the kept answer, or the batch's failure.
    fn answer(self: Box<Self>, failed: Option<&StoreError>);
}

struct Typed<T, F> {
    change: Option<F>,
    answer: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, tx: &Connection) -> Result<(), StoreError> {
        let Some(change) = self.change.take() else {
            return Ok(());
        };
        let answer = change(tx);
        if let Err(err) = &answer
            && !matches!(err.kind(), StoreErrorKind::Precondition { .. })
        {
            return Err(copy_of(err));
        }
        self.answer = Some(answer);
        Ok(())
    }

    fn answer(self: Box<Self>, failed: Option<&StoreError>) {
        let answer = match (failed, self.answer) {
            (Some(err), _) => Err(copy_of(err)),
            (None, Some(answer)) => answer,
            // Not run: only a batch that failed before reaching it leaves one so.
            (None, None) => Err(StoreError::new(StoreErrorKind::Unavailable)),
        };
        let _ = self.reply.send(answer);
    }
}

type Queue = Arc<Mutex<Vec<Box<dyn Pending>>>>;

/// The changes waiting for the writer.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Queue,
}

impl GroupCommit {
    /// Runs `change` in a transaction shared with the changes queued beside it. A change
    /// that fails with `Precondition` fails alone (it must have written nothing); any other
    /// failure rolls the whole batch back and every change in it gets the error.
    pub(crate) async fn run<T, F>(
        &self,
        store: &SqliteDeviceStore,
        change: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let leads = queue.is_empty();
            queue.push(Box::new(Typed {
                change: Some(change),
                answer: None,
                reply,
            }));
            leads
        };
        if leads {
            let queue = Arc::clone(&self.queue);
            let written = store.write(move |conn| write_batch(conn, &queue)).await;
            if let Err(err) = written {
                // The batch never ran (no worker): answer what is queued, ours included.
                for pending in take(&self.queue) {
                    pending.answer(Some(&err));
                }
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::new(StoreErrorKind::Unavailable)))
    }
}

fn take(queue: &Mutex<Vec<Box<dyn Pending>>>) -> Vec<Box<dyn Pending>> {
    std::mem::take(&mut *queue.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Drains the queue into one transaction and answers every change in it.
fn write_batch(
    conn: &mut Connection,
    queue: &Mutex<Vec<Box<dyn Pending>>>,
) -> Result<(), StoreError> {
    let mut batch = take(queue);
    let written = in_transaction(conn, |tx| {
        batch.iter_mut().try_for_each(|pending| pending.apply(tx))
    });
    let failed = written.err();
    for pending in batch {
        pending.answer(failed.as_ref());
    }
    Ok(())
}

/// The same failure for another change of the batch (errors are not `Clone`: the source is
/// carried as its message).
fn copy_of(err: &StoreError) -> StoreError {
    StoreError::with_source(err.kind().clone(), err.to_string())
}
