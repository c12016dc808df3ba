//! When written data reaches the disk.

use std::time::Duration;

/// When an acknowledged write is made durable.
///
/// sled writes every transaction's log buffer to disk in the background whatever is chosen
/// here; this says whether a write waits for that before it is acknowledged. Either way a
/// crash leaves a consistent store: a transaction survives whole or not at all, so the
/// indexes always agree with the devices.
///
/// ```
/// use std::time::Duration;
/// use beams_store_sled::Durability;
///
/// assert_eq!(Durability::default(), Durability::FlushEveryWrite);
/// let faster = Durability::FlushEvery(Duration::from_millis(200));
/// # let _ = faster;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every write is flushed (`sled::Db::flush`) before it is acknowledged: nothing
    /// acknowledged is lost, also on power loss, as far as sled's flush guarantees it.
    /// Concurrent writes share one flush.
    #[default]
    FlushEveryWrite,
    /// Writes are acknowledged once committed; sled's background flusher writes them out every
    /// interval (at least 1 ms), and the store waits for the disk only every few
    /// transactions, to keep sled's queue of unwritten buffers short. Faster for a lone
    /// writer; a crash or power loss may lose the writes acknowledged in roughly the last
    /// interval.
    FlushEvery(Duration),
}

impl Durability {
    /// The interval for sled's background flusher, in milliseconds.
    pub(crate) fn background_flush_ms(self) -> Option<u64> {
        match self {
            // Each write flushes itself; a background flusher would find nothing to do.
            Durability::FlushEveryWrite => None,
            Durability::FlushEvery(interval) => Some(
                u64::try_from(interval.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            ),
        }
    }

    /// Whether each write must flush before it is acknowledged.
    pub(crate) fn flushes_every_write(self) -> bool {
        self == Durability::FlushEveryWrite
    }
}
