//! One HTTP/2 connection to APNs: TCP, TLS with ALPN `h2` (or plain text with prior
//! knowledge), the hyper handshake, and the task that drives it.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::endpoint::Target;

/// A byte stream: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type ClientTask = http2::Connection<TokioIo<Box<dyn Io>>, Full<Bytes>, TokioExecutor>;

/// A live connection. Dropping every handle closes it once its streams finish.
pub(crate) struct Connection {
    pub(crate) id: u64,
    sender: http2::SendRequest<Full<Bytes>>,
    /// Shared with the driver task, which polls it and drops it when it ends (so requests
    /// still queued in it fail as cancelled, instead of waiting for a task nobody polls);
    /// read here for the server's limit.
    task: Arc<Mutex<Option<Pin<Box<ClientTask>>>>>,
    /// The limit as of the driver's last poll, for when the driver holds the lock.
    cached_limit: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish()
    }
}

impl Connection {
    /// The server's current SETTINGS_MAX_CONCURRENT_STREAMS as h2 applies it (1 until the
    /// server's first SETTINGS frame).
    pub(crate) fn max_send_streams(&self) -> usize {
        // Never wait for the driver: its poll is about to refresh the cached value anyway.
        let task = match self.task.try_lock() {
            Ok(task) => task,
            Err(TryLockError::Poisoned(task)) => task.into_inner(),
            Err(TryLockError::WouldBlock) => return self.cached_limit.load(Ordering::Relaxed),
        };
        task.as_ref()
            .map_or(0, |task| task.as_ref().get_ref().current_max_send_streams())
    }

    /// Whether the connection stopped taking requests (GOAWAY received, or closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and waits for the response head.
    pub(crate) fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> impl Future<Output = Result<Response<Incoming>, hyper::Error>> + use<> {
        let mut sender = self.sender.clone();
        sender.send_request(request)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a connection could not be opened; the text becomes a `RetryLater` reason.
#[derive(Debug, Clone)]
pub(crate) struct ConnectError(pub(crate) String);

/// Opens connection `id` to `target` and spawns its driver; `on_close` runs when it ends
/// (GOAWAY, error, or every handle dropped).
pub(crate) async fn open(
    target: &Target,
    id: u64,
    timeout: Duration,
    on_close: impl FnOnce() + Send + 'static,
) -> Result<Arc<Connection>, ConnectError> {
    let handshake = async {
        let io = connect_io(target).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            // APNs allows one stream until the first success; never assume more before its
            // SETTINGS arrive.
            .initial_max_send_streams(1)
            .keep_alive_interval(Duration::from_secs(60))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        builder
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ConnectError(format!("HTTP/2 handshake failed: {e}")))
    };
    let (sender, task) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| ConnectError(format!("connecting took longer than {timeout:?}")))??;
    let task = Arc::new(Mutex::new(Some(Box::pin(task))));
    let cached_limit = Arc::new(AtomicUsize::new(1));
    let (driven, limit) = (task.clone(), cached_limit.clone());
    tokio::spawn(async move {
        let result = poll_fn(|cx| {
            let mut slot = lock(&driven);
            let Some(task) = slot.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let poll = task.as_mut().poll(cx);
            limit.store(
                task.as_ref().get_ref().current_max_send_streams(),
                Ordering::Relaxed,
            );
            if poll.is_ready() {
                // Dropping it closes its request queue: queued requests fail as cancelled
                // (never sent), and the pool sends them again elsewhere.
                *slot = None;
                limit.store(0, Ordering::Relaxed);
            }
            poll
        })
        .await;
        match result {
            Ok(()) => tracing::debug!(connection = id, "APNs connection closed"),
            Err(error) => tracing::debug!(connection = id, %error, "APNs connection failed"),
        }
        on_close();
    });
    tracing::debug!(connection = id, "APNs connection open");
    Ok(Arc::new(Connection {
        id,
        sender,
        task,
        cached_limit,
    }))
}

async fn connect_io(target: &Target) -> Result<Box<dyn Io>, ConnectError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| ConnectError(format!("cannot connect to {}: {e}", target.authority)))?;
    // Requests are small and latency-bound.
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &target.tls else {
        return Ok(Box::new(tcp));
    };
    let name = ServerName::try_from(target.host.clone())
        .map_err(|_| ConnectError(format!("`{}` is not a TLS server name", target.host)))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| {
            ConnectError(format!(
                "TLS handshake with {} failed: {e}",
                target.authority
            ))
        })?;
    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err(ConnectError(format!(
            "{} did not agree to HTTP/2 (ALPN h2)",
            target.authority
        )));
    }
    Ok(Box::new(stream))
}

/// A request that provably never reached the server's application, so sending it again
/// cannot deliver twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unprocessed {
    /// The connection is going away: it never left hyper's queue, or it was above a GOAWAY's
    /// last stream id.
    ConnectionGone,
    /// The server refused this one stream (REFUSED_STREAM); the connection may be fine.
    StreamRefused,
}

/// Whether (and how) a failed request was never processed.
///
/// hyper keeps h2's error in its source chain: a GOAWAY from the server (the request was
/// above its last stream id) or REFUSED_STREAM. Only if no h2 error is found there is the
/// chain's text matched instead, in case hyper ever wraps it differently; the GOAWAY tests
/// fail if neither recognises it.
pub(crate) fn unprocessed(error: &hyper::Error) -> Option<Unprocessed> {
    if error.is_canceled() {
        return Some(Unprocessed::ConnectionGone);
    }
    let mut found_h2 = false;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            found_h2 = true;
            if h2.is_go_away() && h2.is_remote() {
                return Some(Unprocessed::ConnectionGone);
            }
            if h2.reason() == Some(h2::Reason::REFUSED_STREAM) {
                return Some(Unprocessed::StreamRefused);
            }
        }
        source = cause.source();
    }
    if found_h2 {
        return None;
    }
    unprocessed_by_text(error)
}

/// The fallback: h2's wording of the same two errors.
fn unprocessed_by_text(error: &hyper::Error) -> Option<Unprocessed> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if text.starts_with("connection error received") {
            return Some(Unprocessed::ConnectionGone);
        }
        if text.contains("refused stream") {
            return Some(Unprocessed::StreamRefused);
        }
        source = cause.source();
    }
    None
}
