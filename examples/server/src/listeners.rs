//! The sockets the server accepts on, plain http and https side by side: `--listen` and
//! `--tls-listen`. Some official server SDKs reach a custom host only over http (Node, with
//! `endpoint`), others only over https (Python), so one server may need both.
//!
//! Both listeners feed one accept loop, so the connection cap, the timeouts and the graceful
//! stop of [`connections`](crate::connections) count them together, and every request meets
//! the same router.

use std::io;
use std::net::SocketAddr;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

use crate::config::Config;
use crate::startup::StartupError;
use crate::tls::{self, TlsListener};

/// The sockets a [`Server`](crate::Server) serves on.
///
/// ```no_run
/// use beams_server::{Config, Listeners, Server, shutdown_signal};
/// use clap::Parser;
///
/// # async fn run() -> Result<(), beams_server::StartupError> {
/// let config = Config::parse();
/// let server = Server::from_config(&config).await?;
/// let listeners = Listeners::bind(&config).await?;
/// println!("http on {}", listeners.listen_addr()?);
/// server.serve_on(listeners, shutdown_signal()).await
/// # }
/// ```
#[derive(Debug)]
pub struct Listeners {
    /// `--listen`: plain http, or https when TLS is configured without `--tls-listen`.
    pub listen: TcpListener,
    /// `--tls-listen`: https.
    pub tls_listen: Option<TcpListener>,
}

impl Listeners {
    /// Binds `--listen`, and `--tls-listen` when given; an address that cannot be bound is
    /// the error.
    pub async fn bind(config: &Config) -> Result<Self, StartupError> {
        if config.tls_listen == Some(config.listen) && config.listen.port() != 0 {
            return Err(StartupError::flag(
                "--tls-listen",
                format!(
                    "{} is --listen's address too: give https its own port",
                    config.listen
                ),
            ));
        }
        let listen = bind(config.listen).await?;
        let tls_listen = match config.tls_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Listeners { listen, tls_listen })
    }

    /// Where `--listen` is bound (its port chosen when it was 0).
    pub fn listen_addr(&self) -> Result<SocketAddr, StartupError> {
        local_addr(&self.listen)
    }

    /// Where `--tls-listen` is bound, when it is.
    pub fn tls_listen_addr(&self) -> Result<Option<SocketAddr>, StartupError> {
        self.tls_listen.as_ref().map(local_addr).transpose()
    }
}

impl From<TcpListener> for Listeners {
    /// One listener, served as `--listen` is.
    fn from(listen: TcpListener) -> Self {
        Listeners {
            listen,
            tls_listen: None,
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })
}

/// The address `listener` is bound to.
pub(crate) fn local_addr(listener: &TcpListener) -> Result<SocketAddr, StartupError> {
    listener
        .local_addr()
        .map_err(|source| StartupError::Listen {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })
}

/// One accept loop over a plain listener, a TLS one, or both: whichever has a connection
/// ready first hands it over.
#[derive(Debug)]
pub(crate) struct Accepting {
    plain: Option<TcpListener>,
    tls: Option<TlsListener>,
    local_addr: SocketAddr,
}

impl Accepting {
    /// Accepts on `plain` and `tls`; at least one must be given.
    pub(crate) fn new(
        plain: Option<TcpListener>,
        tls: Option<TlsListener>,
    ) -> Result<Self, StartupError> {
        let local_addr = match (&plain, &tls) {
            (Some(plain), _) => local_addr(plain)?,
            (None, Some(tls)) => {
                Listener::local_addr(tls).map_err(|source| StartupError::Listen {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    source,
                })?
            }
            (None, None) => {
                return Err(StartupError::Config("no listener to serve on".into()));
            }
        };
        Ok(Accepting {
            plain,
            tls,
            local_addr,
        })
    }
}

impl Listener for Accepting {
    type Io = Either<TcpStream, TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let Accepting { plain, tls, .. } = self;
        // Both accepts are cancel-safe: the one that loses the race loses no connection.
        let plain = async {
            match plain {
                Some(listener) => {
                    let (stream, peer) = Listener::accept(listener).await;
                    tls::set_nodelay(&stream);
                    (stream, peer)
                }
                None => std::future::pending().await,
            }
        };
        let tls = async {
            match tls {
                Some(listener) => listener.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            (stream, peer) = plain => (Either::Left(stream), peer),
            (stream, peer) = tls => (Either::Right(stream), peer),
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
