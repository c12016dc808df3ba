//! The server: built from a [`Config`], serving until told to stop, then finishing what it
//! accepted within a bounded time.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use beams_core::Platform;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::bootstrap::{self, Identity};
use crate::config::Config;
use crate::connections::{self, ConnectionLimits};
use crate::listeners::{Accepting, Listeners};
use crate::publishes::Publishes;
use crate::startup::StartupError;
use crate::state::AppState;
use crate::tls::{self, TlsListener};
use crate::{auth_example, engine, gateways, routes};

/// A configured server, ready to serve on a listener (or on plain http and https at once,
/// with [`Server::serve_on`] and [`Listeners`]).
///
/// ```no_run
/// use beams_server::{Config, Server, shutdown_signal};
/// use clap::Parser;
///
/// # async fn run() -> Result<(), beams_server::StartupError> {
/// let config = Config::parse();
/// let server = Server::from_config(&config).await?;
/// let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind");
/// server.serve(listener, shutdown_signal()).await
/// # }
/// ```
pub struct Server {
    state: AppState,
    identity: Identity,
    platforms: Vec<Platform>,
    app: Router,
    tls: Tls,
    connection_limits: ConnectionLimits,
    shutdown_timeout: Duration,
}

/// Where https is served.
enum Tls {
    /// Nowhere: plain http only.
    Off,
    /// On `--listen`, in place of plain http (no `--tls-listen`).
    OnListen(TlsAcceptor),
    /// On `--tls-listen`, beside plain http on `--listen`.
    Beside(TlsAcceptor),
}

impl Tls {
    fn from_config(config: &Config) -> Result<Self, StartupError> {
        let acceptor = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => tls::acceptor(cert, key)?,
            (None, None) if config.tls_listen.is_some() => {
                return Err(StartupError::flag(
                    "--tls-listen",
                    "needs --tls-cert and --tls-key",
                ));
            }
            (None, None) => return Ok(Tls::Off),
            _ => {
                return Err(StartupError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ));
            }
        };
        Ok(match config.tls_listen {
            Some(_) => Tls::Beside(acceptor),
            None => Tls::OnListen(acceptor),
        })
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("state", &self.state)
            .field("platforms", &self.platforms)
            .field("listen_scheme", &self.listen_scheme())
            .field("tls_listen", &self.serves_tls_listen())
            .field("connection_limits", &self.connection_limits)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Prepares everything `config` describes: the data directory and identity (created on
    /// the first run), the store, the gateways, TLS, and the routes.
    pub async fn from_config(config: &Config) -> Result<Self, StartupError> {
        let connection_limits = config.connection_limits()?;
        let identity = bootstrap::prepare(config)?;
        let (gateways, platforms) = gateways::gateways(config, identity.vapid_key.clone())?;
        let beams = engine::engine(config, &identity, gateways).await?;
        let state = AppState::new(beams)
            .with_vapid_public_key(identity.vapid_key.public_key_base64url())
            .with_client_limits(config.client_limits());
        let tls = Tls::from_config(config)?;
        let mut routes = routes::api_routes().with_state(state.clone());
        if config.serves_auth_example() {
            tracing::warn!(
                path = auth_example::PATH,
                "serving the example token route, which trusts the X-Authenticated-User \
                 header: a stand-in for your own login, not for a public address"
            );
            routes = routes.merge(auth_example::router(state.clone()));
        }
        let app = routes::finish(routes);
        Ok(Server {
            state,
            identity,
            platforms,
            app,
            tls,
            connection_limits,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout),
        })
    }

    /// The shared state (the engine, the publishes in flight).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The instance's identity and where each part came from.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The platforms with a gateway.
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// Whether `--listen` serves https (TLS configured without `--tls-listen`).
    pub fn uses_tls(&self) -> bool {
        matches!(self.tls, Tls::OnListen(_))
    }

    /// `http` or `https`: what `--listen` serves.
    pub fn listen_scheme(&self) -> &'static str {
        if self.uses_tls() { "https" } else { "http" }
    }

    /// Whether https is served on a listener of its own, `--tls-listen`.
    pub fn serves_tls_listen(&self) -> bool {
        matches!(self.tls, Tls::Beside(_))
    }

    /// Serves on `listener` as `--listen` until `shutdown` completes:
    /// [`serve_on`](Self::serve_on) with this one listener. A server configured with
    /// `--tls-listen` needs both listeners: use `serve_on`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        self.serve_on(Listeners::from(listener), shutdown).await
    }

    /// Serves on `listeners` until `shutdown` completes, then stops accepting, lets open
    /// requests finish and waits for in-flight publishes, all within the shutdown timeout.
    /// Both listeners share one connection cap, one set of timeouts and one router.
    pub async fn serve_on(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let tls_listener = |listener: TcpListener, acceptor| {
            let addr = crate::listeners::local_addr(&listener)?;
            TlsListener::new(listener, acceptor)
                .map_err(|source| StartupError::Listen { addr, source })
        };
        let accepting = match (self.tls, listeners.tls_listen) {
            (Tls::Off, None) => Accepting::new(Some(listeners.listen), None)?,
            (Tls::OnListen(acceptor), None) => {
                Accepting::new(None, Some(tls_listener(listeners.listen, acceptor)?))?
            }
            (Tls::Beside(acceptor), Some(tls_listen)) => Accepting::new(
                Some(listeners.listen),
                Some(tls_listener(tls_listen, acceptor)?),
            )?,
            (Tls::Beside(_), None) => {
                return Err(StartupError::Config(
                    "--tls-listen is configured but no listener was given for it".into(),
                ));
            }
            (Tls::Off | Tls::OnListen(_), Some(_)) => {
                return Err(StartupError::Config(
                    "a TLS listener was given but --tls-listen is not configured".into(),
                ));
            }
        };
        let stop = CancellationToken::new();
        let serving = tokio::spawn(connections::serve(
            accepting,
            self.app,
            self.connection_limits,
            stop.clone(),
        ));

        let every = self.state.beams().journal_config().lease() / 3;
        let resuming = tokio::spawn(crate::resumer::resume_publishes(
            self.state.clone(),
            every,
            stop.clone(),
        ));

        let deadline = Instant::now() + self.shutdown_timeout;
        let failure = supervise(serving, stop, shutdown, deadline, self.state.publishes()).await;
        resuming.abort();
        if self.state.publishes().drain(deadline).await {
            tracing::info!("every accepted publish finished; stopped");
        } else {
            tracing::warn!(
                abandoned = self.state.publishes().in_flight(),
                "publishes still delivering at the shutdown timeout stay in the journal; they resume on the next start"
            );
        }
        failure.map_or(Ok(()), Err)
    }
}

/// Waits for `shutdown`, then has `serving` stop (through `stop`) and waits for it until
/// `deadline`. A serving task that ends before a shutdown was asked for, or fails while
/// stopping, is the error returned; requests still open at the deadline are cut off.
async fn supervise(
    mut serving: JoinHandle<std::io::Result<()>>,
    stop: CancellationToken,
    shutdown: impl Future<Output = ()>,
    deadline: Instant,
    publishes: &Publishes,
) -> Option<StartupError> {
    let stopped_early = tokio::select! {
        finished = &mut serving => Some(finished),
        () = shutdown => None,
    };
    if let Some(finished) = stopped_early {
        // The server only returns after a shutdown was asked for: whatever ended it is a
        // failure, and the process must not exit as if it had stopped cleanly.
        let error = stopped_early_error(finished);
        tracing::error!(%error, "server stopped unexpectedly");
        return Some(error);
    }
    tracing::info!(
        timeout_secs = deadline.saturating_duration_since(Instant::now()).as_secs(),
        publishes_in_flight = publishes.in_flight(),
        "shutting down: finishing open requests and in-flight publishes"
    );
    stop.cancel();
    match tokio::time::timeout_at(deadline, &mut serving).await {
        Ok(Ok(Ok(()))) => None,
        Ok(finished) => {
            let error = stopped_early_error(finished);
            tracing::error!(%error, "server failed while shutting down");
            Some(error)
        }
        Err(_) => {
            tracing::warn!("requests still open at the shutdown timeout were cut off");
            serving.abort();
            None
        }
    }
}

/// The error for a serving task that ended on its own: a panic, an I/O error, or a return
/// nobody asked for.
fn stopped_early_error(
    finished: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> StartupError {
    StartupError::Stopped(match finished {
        Ok(Ok(())) => "the serving task returned before a shutdown was asked for".to_owned(),
        Ok(Err(error)) => format!("serving failed: {error}"),
        Err(error) if error.is_panic() => format!("the serving task panicked: {error}"),
        Err(error) => format!("the serving task was cancelled: {error}"),
    })
}

/// Binds `--listen` (and `--tls-listen`), prints where the server is and where its secret
/// is, and serves until `shutdown` completes: what the `beams-server` binary does.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let server = Server::from_config(&config).await?;
    let listeners = Listeners::bind(&config).await?;
    print_banner(&config, &server, &listeners)?;
    server.serve_on(listeners, shutdown).await
}

/// The banner, written at once: what is served, then one `listening on` line per listener,
/// `--listen`'s first. Tools that start the binary wait for those lines.
fn print_banner(
    config: &Config,
    server: &Server,
    listeners: &Listeners,
) -> Result<(), StartupError> {
    use std::fmt::Write as _;
    let identity = server.identity();
    let scheme = server.listen_scheme();
    let addr = listeners.listen_addr()?;
    let platforms: Vec<&str> = server.platforms().iter().map(|p| p.as_str()).collect();
    let mut banner = String::new();
    let _ = writeln!(banner, "beams-server {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        banner,
        "  instance id:  {} ({})",
        identity.instance_id, identity.instance_id_origin
    );
    let _ = writeln!(banner, "  secret key:   {}", identity.secret_key_origin);
    let _ = writeln!(banner, "  vapid key:    {}", identity.vapid_key_origin);
    // A PostgreSQL URL shows without its password.
    let _ = writeln!(
        banner,
        "  store:        {} at {}",
        config.store.as_str(),
        config.store_location()?
    );
    let _ = writeln!(banner, "  platforms:    {}", platforms.join(", "));
    if let Some(url) = &config.apns_endpoint {
        let _ = writeln!(banner, "  apns url:     {url}");
    }
    if let Some(url) = &config.fcm_endpoint {
        let _ = writeln!(banner, "  fcm url:      {url}");
    }
    if let Some(path) = &config.push_ca {
        let _ = writeln!(banner, "  push ca:      {}", path.display());
    }
    if config.serves_auth_example() {
        let _ = writeln!(
            banner,
            "  auth example: {scheme}://{addr}{} (trusts X-Authenticated-User)",
            auth_example::PATH
        );
    }
    let _ = writeln!(banner, "listening on {scheme}://{addr}");
    if let Some(tls_addr) = listeners.tls_listen_addr()? {
        let _ = writeln!(banner, "listening on https://{tls_addr}");
    }
    // At once, so a reader that stops at a `listening on` line finds the rest already there.
    print!("{banner}");
    Ok(())
}

/// Completes on Ctrl-C, or on SIGTERM on Unix. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives while the server is
/// still starting is not lost to the default action (which would kill the process).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let terminated = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = terminated => {}
                () = interrupted => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_serving_task_that_ends_on_its_own_is_an_error() {
        let never = std::future::pending::<()>;
        let soon = || Instant::now() + Duration::from_secs(5);
        let publishes = Publishes::new();

        let panicked = tokio::spawn(async {
            if true {
                panic!("boom");
            }
            std::io::Result::Ok(())
        });
        let error = supervise(
            panicked,
            CancellationToken::new(),
            never(),
            soon(),
            &publishes,
        )
        .await
        .expect("a panic is an error");
        assert!(matches!(error, StartupError::Stopped(_)), "{error:?}");
        assert!(error.to_string().contains("panicked"), "{error}");

        let failed = tokio::spawn(async { Err(std::io::Error::other("accept failed")) });
        let error = supervise(
            failed,
            CancellationToken::new(),
            never(),
            soon(),
            &publishes,
        )
        .await
        .expect("a failure is an error");
        assert!(error.to_string().contains("accept failed"), "{error}");

        let returned = tokio::spawn(async { Ok(()) });
        let error = supervise(
            returned,
            CancellationToken::new(),
            never(),
            soon(),
            &publishes,
        )
        .await
        .expect("a return nobody asked for is an error");
        assert!(error.to_string().contains("returned before"), "{error}");
    }

    #[tokio::test]
    async fn a_serving_task_that_stops_when_asked_is_a_clean_stop() {
        let stop = CancellationToken::new();
        let asked = stop.clone();
        let serving = tokio::spawn(async move {
            asked.cancelled().await;
            Ok(())
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let failure = supervise(serving, stop, async {}, deadline, &Publishes::new()).await;
        assert!(failure.is_none(), "{failure:?}");
    }
}
