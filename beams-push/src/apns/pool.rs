//! The connection pool and its stream gate.
//!
//! A request takes a stream lease before it is sent. A connection lends at most one stream
//! until its first success, then as many as the server's current
//! SETTINGS_MAX_CONCURRENT_STREAMS allows; the lease goes to the connection with the most
//! room. When none has room, requests wait in one FIFO queue and are handed a lease as streams
//! free up, so nothing fails for lack of streams. Connections open lazily, when requests are
//! waiting and a slot is empty; one that closes (GOAWAY, error) leaves its slot empty, and the
//! next request that needs room opens a new one there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::connection::{self, ConnectError, Connection};
use super::endpoint::Target;

/// The pool of one credential.
#[derive(Debug)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: Target,
    connect_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    slots: Vec<Slot>,
    waiters: VecDeque<oneshot::Sender<Result<Lease, ConnectError>>>,
    next_id: u64,
    opened: u64,
}

#[derive(Debug)]
enum Slot {
    Empty {
        /// Consecutive failed connects, for the backoff.
        failures: u32,
        /// Not before this instant, after a failure.
        retry_at: Option<Instant>,
        last_error: Option<ConnectError>,
    },
    Connecting,
    Live(Live),
}

#[derive(Debug)]
struct Live {
    connection: Arc<Connection>,
    in_flight: usize,
    /// A request succeeded on it: the server's own limit applies from now on.
    confirmed: bool,
}

impl Live {
    fn room(&self) -> usize {
        let limit = if self.confirmed {
            self.connection.max_send_streams()
        } else {
            1
        };
        limit.saturating_sub(self.in_flight)
    }
}

/// One stream on one connection, returned to the pool when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) connection: Arc<Connection>,
    slot: usize,
    /// `None` once the lease is handed back by hand (see `dispatch`).
    pool: Option<Arc<Shared>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let mut state = pool.lock();
            if let Some(live) = state.live_mut(self.slot, self.connection.id) {
                live.in_flight = live.in_flight.saturating_sub(1);
            }
            pool.dispatch(&mut state);
        }
    }
}

impl Lease {
    /// The server accepted a request on this connection: lift the one-stream limit.
    pub(crate) fn confirm(&self) {
        if let Some(pool) = &self.pool {
            let mut state = pool.lock();
            if let Some(live) = state.live_mut(self.slot, self.connection.id)
                && !live.confirmed
            {
                live.confirmed = true;
                pool.dispatch(&mut state);
            }
        }
    }

    /// The connection stopped processing requests: lend no more of its streams.
    pub(crate) fn retire(&self) {
        if let Some(pool) = &self.pool {
            pool.closed(self.slot, self.connection.id);
        }
    }
}

impl State {
    fn live_mut(&mut self, slot: usize, id: u64) -> Option<&mut Live> {
        match self.slots.get_mut(slot) {
            Some(Slot::Live(live)) if live.connection.id == id => Some(live),
            _ => None,
        }
    }

    /// The slot with the most room, if any has room.
    fn roomiest(&self) -> Option<usize> {
        let mut best = None;
        let mut best_room = 0;
        for (index, slot) in self.slots.iter().enumerate() {
            if let Slot::Live(live) = slot
                && !live.connection.is_closed()
            {
                let room = live.room();
                if room > best_room {
                    best = Some(index);
                    best_room = room;
                }
            }
        }
        best
    }

    fn any_usable(&self) -> bool {
        self.slots
            .iter()
            .any(|slot| matches!(slot, Slot::Live(_) | Slot::Connecting))
    }
}

impl Pool {
    pub(crate) fn new(target: Target, size: usize, connect_timeout: Duration) -> Self {
        let slots = (0..size)
            .map(|_| Slot::Empty {
                failures: 0,
                retry_at: None,
                last_error: None,
            })
            .collect();
        Pool {
            shared: Arc::new(Shared {
                target,
                connect_timeout,
                state: Mutex::new(State {
                    slots,
                    waiters: VecDeque::new(),
                    next_id: 0,
                    opened: 0,
                }),
            }),
        }
    }

    /// Connections opened so far.
    pub(crate) fn connections_opened(&self) -> u64 {
        self.shared.lock().opened
    }

    /// Waits for a stream, opening a connection when none has room. Fails only when no
    /// connection is open or opening and the last attempt to open one failed.
    pub(crate) async fn acquire(&self) -> Result<Lease, ConnectError> {
        let receiver = {
            let mut state = self.shared.lock();
            if state.waiters.is_empty()
                && let Some(lease) = self.shared.lease_roomiest(&mut state)
            {
                return Ok(lease);
            }
            self.shared.open_one(&mut state)?;
            let (sender, receiver) = oneshot::channel();
            state.waiters.push_back(sender);
            receiver
        };
        match receiver.await {
            Ok(result) => result,
            Err(_) => Err(ConnectError("the APNs pool was shut down".into())),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stream on the connection with the most room, if any has room.
    fn lease_roomiest(self: &Arc<Self>, state: &mut State) -> Option<Lease> {
        let slot = state.roomiest()?;
        let Some(Slot::Live(live)) = state.slots.get_mut(slot) else {
            return None;
        };
        live.in_flight += 1;
        Some(Lease {
            connection: live.connection.clone(),
            slot,
            pool: Some(self.clone()),
        })
    }

    /// Hands free streams to waiters, first come first served.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        while let Some(waiter) = state.waiters.pop_front() {
            let Some(lease) = self.lease_roomiest(state) else {
                state.waiters.push_front(waiter);
                // Room may be gone because a connection closed: open another for them.
                if let Err(error) = self.open_one(state) {
                    for waiter in state.waiters.drain(..) {
                        let _ = waiter.send(Err(error.clone()));
                    }
                }
                return;
            };
            if let Err(Ok(mut unwanted)) = waiter.send(Ok(lease)) {
                // The waiter gave up; take the stream back here, under the lock we hold.
                unwanted.pool = None;
                if let Some(live) = state.live_mut(unwanted.slot, unwanted.connection.id) {
                    live.in_flight = live.in_flight.saturating_sub(1);
                }
            }
        }
    }

    /// Starts opening a connection in an empty slot that is not backing off. Errors when no
    /// connection is live or opening and every empty slot is backing off.
    fn open_one(self: &Arc<Self>, state: &mut State) -> Result<(), ConnectError> {
        let now = Instant::now();
        let ready = state.slots.iter().position(|slot| {
            matches!(slot, Slot::Empty { retry_at, .. } if retry_at.is_none_or(|at| at <= now))
        });
        if let Some(slot) = ready {
            let failures = match &state.slots[slot] {
                Slot::Empty { failures, .. } => *failures,
                _ => 0,
            };
            state.slots[slot] = Slot::Connecting;
            state.next_id += 1;
            let id = state.next_id;
            let pool = self.clone();
            tokio::spawn(async move { pool.connect(slot, id, failures).await });
            return Ok(());
        }
        if state.any_usable() {
            return Ok(());
        }
        let last_error = state.slots.iter().find_map(|slot| match slot {
            Slot::Empty { last_error, .. } => last_error.clone(),
            _ => None,
        });
        Err(last_error.unwrap_or_else(|| ConnectError("no APNs connection".into())))
    }

    async fn connect(self: Arc<Self>, slot: usize, id: u64, failures: u32) {
        let weak: Weak<Shared> = Arc::downgrade(&self);
        let on_close = move || {
            if let Some(pool) = weak.upgrade() {
                pool.closed(slot, id);
            }
        };
        let opened = connection::open(&self.target, id, self.connect_timeout, on_close).await;
        let mut state = self.lock();
        match opened {
            Ok(connection) => {
                state.opened += 1;
                state.slots[slot] = Slot::Live(Live {
                    connection,
                    in_flight: 0,
                    confirmed: false,
                });
                self.dispatch(&mut state);
            }
            Err(error) => {
                tracing::warn!(slot, error = %error.0, "cannot open an APNs connection");
                let failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(100)
                    .saturating_mul(1 << failures.min(6))
                    .min(Duration::from_secs(5));
                state.slots[slot] = Slot::Empty {
                    failures,
                    retry_at: Some(Instant::now() + backoff),
                    last_error: Some(error.clone()),
                };
                if !state.any_usable() {
                    for waiter in state.waiters.drain(..) {
                        let _ = waiter.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// Connection `id` in `slot` ended or stopped taking requests: empty the slot, and open
    /// a replacement at once if requests are waiting.
    fn closed(self: &Arc<Self>, slot: usize, id: u64) {
        let mut state = self.lock();
        if state.live_mut(slot, id).is_some() {
            state.slots[slot] = Slot::Empty {
                failures: 0,
                retry_at: None,
                last_error: None,
            };
            if !state.waiters.is_empty() {
                let _ = self.open_one(&mut state);
            }
        }
    }
}
