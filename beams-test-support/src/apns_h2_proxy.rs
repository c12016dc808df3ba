//! An HTTP/2 frame proxy on 127.0.0.1 between the client and the APNs mock, for what hyper's
//! server cannot do on a live connection:
//!
//! - advertise its own SETTINGS_MAX_CONCURRENT_STREAMS (rewriting the server's) and raise it
//!   later with a SETTINGS frame of its own (whose ACK it swallows), while counting the
//!   client's open streams against the limit in force;
//! - answer like a server sending GOAWAY with a last-stream-id below streams in flight: the
//!   streams above it are never forwarded, so the server never processes them.
//!
//! Plain text only (HTTP/2 with prior knowledge).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Default)]
struct Shared {
    /// The limit new connections advertise.
    limit: AtomicU32,
    /// After this many completed streams, advertise `raise_to` (0: never).
    raise_after: AtomicUsize,
    raise_to: AtomicU32,
    raised: AtomicBool,
    /// The n-th stream of the first connection triggers a GOAWAY below it (0: never).
    goaway_at: AtomicUsize,
    goaway_sent: AtomicBool,
    completed: AtomicUsize,
    max_open: AtomicUsize,
    max_open_before_raise: AtomicUsize,
    connections: AtomicUsize,
    withheld: AtomicUsize,
    violations: Mutex<Vec<String>>,
}

/// Per connection: what the client may open and what it has open.
struct Conn {
    number: usize,
    limit: AtomicU32,
    open: Mutex<HashSet<u32>>,
    opened: AtomicUsize,
    /// Streams above an injected GOAWAY's last-stream-id: never forwarded.
    withheld: Mutex<HashSet<u32>>,
    /// For each SETTINGS frame sent to the client, whether the proxy made it.
    settings_sent: Mutex<VecDeque<bool>>,
    to_client: tokio::sync::Mutex<OwnedWriteHalf>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running proxy; stops when dropped.
pub struct H2Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for H2Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Proxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for H2Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl H2Proxy {
    /// A proxy to `upstream` advertising `limit` concurrent streams.
    pub async fn start(upstream: SocketAddr, limit: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        shared.limit.store(limit, Ordering::SeqCst);
        let task = tokio::spawn(accept(listener, upstream, shared.clone()));
        H2Proxy { addr, shared, task }
    }

    /// Once `completed` streams have finished, advertise `limit` on that connection.
    pub fn raise_after(&self, completed: usize, limit: u32) {
        self.shared.raise_to.store(limit, Ordering::SeqCst);
        self.shared.raise_after.store(completed, Ordering::SeqCst);
    }

    /// When the client opens its `n`-th stream on the first connection, withhold it and every
    /// later stream of that connection and send GOAWAY naming the stream before it.
    pub fn goaway_at(&self, n: usize) {
        self.shared.goaway_at.store(n, Ordering::SeqCst);
    }

    /// What the client did that the advertised limits forbid.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared.violations).clone()
    }

    /// The most streams the client had open at once.
    pub fn max_open(&self) -> usize {
        self.shared.max_open.load(Ordering::SeqCst)
    }

    /// The most streams open at once before the limit was raised.
    pub fn max_open_before_raise(&self) -> usize {
        self.shared.max_open_before_raise.load(Ordering::SeqCst)
    }

    /// Whether the proxy has raised the limit yet.
    pub fn raised(&self) -> bool {
        self.shared.raised.load(Ordering::SeqCst)
    }

    /// Connections the client opened.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Streams the client opened that the proxy never forwarded (above a GOAWAY).
    pub fn withheld(&self) -> usize {
        self.shared.withheld.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let Ok(server) = TcpStream::connect(upstream).await else {
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let number = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let conn = Arc::new(Conn {
            number,
            limit: AtomicU32::new(shared.limit.load(Ordering::SeqCst)),
            open: Mutex::default(),
            opened: AtomicUsize::new(0),
            withheld: Mutex::default(),
            settings_sent: Mutex::default(),
            to_client: tokio::sync::Mutex::new(client_write),
        });
        tokio::spawn(client_to_server(
            client_read,
            server_write,
            conn.clone(),
            shared.clone(),
        ));
        tokio::spawn(server_to_client(server_read, conn, shared.clone()));
    }
}

async fn read_frame(read: &mut OwnedReadHalf) -> Option<([u8; 9], Vec<u8>)> {
    let mut head = [0u8; 9];
    read.read_exact(&mut head).await.ok()?;
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; length];
    read.read_exact(&mut payload).await.ok()?;
    Some((head, payload))
}

fn stream_id(head: &[u8; 9]) -> u32 {
    u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut bytes = vec![length[1], length[2], length[3], kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

async fn client_to_server(
    mut read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
) {
    let mut preface = [0u8; 24];
    if read.read_exact(&mut preface).await.is_err() || &preface != PREFACE {
        return;
    }
    if write.write_all(&preface).await.is_err() {
        return;
    }
    while let Some((head, payload)) = read_frame(&mut read).await {
        let (kind, flags, stream) = (head[3], head[4], stream_id(&head));
        if kind == SETTINGS && flags & ACK != 0 {
            let ours = lock(&conn.settings_sent).pop_front().unwrap_or(false);
            if ours {
                continue;
            }
        }
        if stream != 0 && lock(&conn.withheld).contains(&stream) {
            continue;
        }
        if kind == HEADERS && stream % 2 == 1 && !lock(&conn.open).contains(&stream) {
            let n = conn.opened.fetch_add(1, Ordering::SeqCst) + 1;
            let goaway_at = shared.goaway_at.load(Ordering::SeqCst);
            let goaway_now = conn.number == 1
                && goaway_at != 0
                && n >= goaway_at
                && !shared.goaway_sent.load(Ordering::SeqCst);
            if goaway_now || (conn.number == 1 && shared.goaway_sent.load(Ordering::SeqCst)) {
                lock(&conn.withheld).insert(stream);
                shared.withheld.fetch_add(1, Ordering::SeqCst);
                if goaway_now {
                    shared.goaway_sent.store(true, Ordering::SeqCst);
                    // Last stream processed: the one before this (client ids are odd).
                    let last = stream.saturating_sub(2);
                    let mut body = last.to_be_bytes().to_vec();
                    body.extend_from_slice(&0u32.to_be_bytes());
                    let _ = conn
                        .to_client
                        .lock()
                        .await
                        .write_all(&frame(GOAWAY, 0, 0, &body))
                        .await;
                }
                continue;
            }
            let open = {
                let mut open = lock(&conn.open);
                open.insert(stream);
                open.len()
            };
            let limit = conn.limit.load(Ordering::SeqCst) as usize;
            if open > limit {
                lock(&shared.violations).push(format!(
                    "connection {}: {open} streams open, limit {limit}",
                    conn.number
                ));
            }
            shared.max_open.fetch_max(open, Ordering::SeqCst);
            if !shared.raised.load(Ordering::SeqCst) {
                shared
                    .max_open_before_raise
                    .fetch_max(open, Ordering::SeqCst);
            }
        }
        if kind == RST_STREAM {
            lock(&conn.open).remove(&stream);
        }
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(&payload);
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn server_to_client(mut read: OwnedReadHalf, conn: Arc<Conn>, shared: Arc<Shared>) {
    while let Some((head, mut payload)) = read_frame(&mut read).await {
        let (kind, flags, stream) = (head[3], head[4], stream_id(&head));
        let mut extra = None;
        if kind == SETTINGS && flags & ACK == 0 {
            // Advertise our limit instead of the server's.
            let limit = conn.limit.load(Ordering::SeqCst);
            let mut found = false;
            for setting in payload.chunks_mut(6) {
                if setting.len() == 6
                    && u16::from_be_bytes([setting[0], setting[1]]) == MAX_CONCURRENT_STREAMS
                {
                    setting[2..6].copy_from_slice(&limit.to_be_bytes());
                    found = true;
                }
            }
            if !found {
                payload.extend_from_slice(&MAX_CONCURRENT_STREAMS.to_be_bytes());
                payload.extend_from_slice(&limit.to_be_bytes());
            }
            lock(&conn.settings_sent).push_back(false);
        }
        let ends = (kind == HEADERS || kind == DATA) && flags & END_STREAM != 0;
        if (ends || kind == RST_STREAM) && lock(&conn.open).remove(&stream) {
            let completed = shared.completed.fetch_add(1, Ordering::SeqCst) + 1;
            let raise_after = shared.raise_after.load(Ordering::SeqCst);
            if raise_after != 0
                && completed >= raise_after
                && !shared.raised.swap(true, Ordering::SeqCst)
            {
                let limit = shared.raise_to.load(Ordering::SeqCst);
                let mut body = MAX_CONCURRENT_STREAMS.to_be_bytes().to_vec();
                body.extend_from_slice(&limit.to_be_bytes());
                extra = Some((limit, frame(SETTINGS, 0, 0, &body)));
            }
        }
        let bytes = frame(kind, flags, stream, &payload);
        let mut to_client = conn.to_client.lock().await;
        if to_client.write_all(&bytes).await.is_err() {
            return;
        }
        if let Some((limit, settings)) = extra {
            // The new limit counts from the moment the client can see it.
            conn.limit.store(limit, Ordering::SeqCst);
            shared.limit.store(limit, Ordering::SeqCst);
            lock(&conn.settings_sent).push_back(true);
            if to_client.write_all(&settings).await.is_err() {
                return;
            }
        }
    }
}
