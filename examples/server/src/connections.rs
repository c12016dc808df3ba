//! Accepting and serving connections within bounds no client can lift: a cap on open
//! connections, a deadline for each request's headers, an idle timeout, a timeout for each
//! request, a cap on concurrent HTTP/2 streams, and a graceful stop.
//!
//! The device API is open to anyone, so a slow or greedy client must not starve the others.
//! A connection that sends its headers a byte at a time is closed when the header deadline
//! passes; one that sends nothing, or sits idle between requests, when the idle timeout does;
//! a request that takes too long (a slow body included) is answered 408. Past the connection
//! cap, new connections wait in the kernel's backlog until one closes.
//!
//! On HTTP/1.1 a request whose body was not read to its end (refused before the body
//! mattered, or too large) is answered with `Connection: close`: the unread bytes would
//! otherwise be taken for the next request, and a client reusing the connection would fail.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, Version, header};
use axum::response::IntoResponse;
use axum::serve::Listener;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::errors::ApiError;

/// The bounds every connection is served within.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight (before its first
    /// request too).
    pub idle_timeout: Duration,
    /// How long a request may take, its body included, before it is answered 408.
    pub request_timeout: Duration,
    /// Requests in flight on one HTTP/2 connection.
    pub http2_max_streams: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            http2_max_streams: 100,
        }
    }
}

/// Serves `app` on every connection `listener` accepts until `stop` is cancelled, then stops
/// accepting, lets every open connection finish the requests it has (closing idle ones), and
/// returns once all have closed. Each request carries the peer's address as
/// [`ConnectInfo`].
pub(crate) async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let max_connections = u32::try_from(limits.max_connections)
        .unwrap_or(u32::MAX)
        .clamp(1, Semaphore::MAX_PERMITS as u32);
    let open = Arc::new(Semaphore::new(max_connections as usize));
    let builder = connection_builder(limits);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => permit,
            () = stop.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let activity = Arc::new(Activity::new());
        let service = {
            let (app, activity) = (app.clone(), Arc::clone(&activity));
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let busy = Activity::begin(&activity);
                let app = app.clone();
                async move {
                    let response = answer(app, request, peer, limits.request_timeout).await;
                    drop(busy);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let (builder, stop) = (builder.clone(), stop.clone());
        tokio::spawn(async move {
            let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
            let mut closing = false;
            loop {
                tokio::select! {
                    finished = connection.as_mut() => {
                        if let Err(error) = finished {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                        break;
                    }
                    () = stop.cancelled(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = activity.idle_for(limits.idle_timeout), if !closing => {
                        tracing::debug!(%peer, "closing an idle connection");
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection holds a permit until it has closed: having them all back means all
    // have.
    let _all_closed = open.acquire_many(max_connections).await;
    Ok(())
}

fn connection_builder(limits: ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        // A peer that stops answering pings is gone: close its connection.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

/// One request through `app` within `timeout`, with `Connection: close` added on HTTP/1 when
/// its body was not read to the end.
async fn answer(
    mut app: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    timeout: Duration,
) -> Response<Body> {
    let http1 = request.version() < Version::HTTP_2;
    let (parts, body) = request.into_parts();
    let (body, read_to_end) = ReadToEnd::new(body);
    let mut request = Request::from_parts(parts, Body::new(body));
    request.extensions_mut().insert(ConnectInfo(peer));
    let mut response = match tokio::time::timeout(timeout, app.call(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => ApiError::request_timeout(timeout).into_response(),
    };
    if http1 && !read_to_end.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records whether it was read to its end.
struct ReadToEnd {
    inner: Incoming,
    ended: Arc<AtomicBool>,
}

impl ReadToEnd {
    fn new(inner: Incoming) -> (Self, Arc<AtomicBool>) {
        let ended = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let body = ReadToEnd {
            inner,
            ended: Arc::clone(&ended),
        };
        (body, ended)
    }
}

impl HttpBody for ReadToEnd {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended, in milliseconds after `opened`.
    idle_since_ms: AtomicU64,
}

/// A request in flight; dropping it (answered or cancelled) ends it.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(activity: &Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(activity))
    }

    /// Completes once the connection has had no request in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            // In this order: a request that ends sets the time before it stops counting.
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            let since =
                self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            if busy {
                // Checked again soon, so a connection whose last request just ended is
                // closed close to its timeout, not up to twice it.
                tokio::time::sleep(timeout / 8).await;
            } else if since + timeout <= Instant::now() {
                return;
            } else {
                tokio::time::sleep_until(since + timeout).await;
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let ended = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.store(ended, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
