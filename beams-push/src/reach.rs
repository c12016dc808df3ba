//! Which addresses a gateway's client may connect to, checked on the address it actually
//! connects to: after DNS for a name, before connecting for an address literal.
//!
//! A Web Push endpoint comes from whoever registered the device. Registration refuses hosts
//! that are not public, but a public-looking name can resolve (or later re-resolve) to a
//! private address, and subscriptions stored before the rule existed are still there. So the
//! Web Push client resolves names itself, keeps only public addresses, and refuses an address
//! literal that is not public; a refusal reaches the gateway as [`NotPublic`], which it
//! reports `Rejected` (never retried, the device kept).

use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use beams_core::{is_loopback_address, is_public_address};
use http::Uri;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The addresses a client may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Any address: the operator configured the URLs (FCM, its token endpoint).
    Anywhere,
    /// Public internet addresses only, and loopback when `allow_loopback` (tests).
    Public {
        /// Whether loopback addresses are allowed too.
        allow_loopback: bool,
    },
}

impl Reach {
    fn allows(self, ip: IpAddr) -> bool {
        match self {
            Reach::Anywhere => true,
            Reach::Public { allow_loopback } => {
                is_public_address(ip) || (allow_loopback && is_loopback_address(ip))
            }
        }
    }
}

/// A connection refused because its address is not one a push service can have.
#[derive(Debug, thiserror::Error)]
pub(crate) struct NotPublic {
    host: String,
    address: IpAddr,
}

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host == self.address.to_string() {
            write!(f, "{} is not a public internet address", self.address)
        } else {
            write!(
                f,
                "{} is at {}, which is not a public internet address",
                self.host, self.address
            )
        }
    }
}

impl NotPublic {
    /// The `NotPublic` somewhere in `error`'s chain of sources, if there is one.
    pub(crate) fn in_chain<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e NotPublic> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(refused) = error.downcast_ref::<NotPublic>() {
                return Some(refused);
            }
            current = error.source();
        }
        None
    }
}

/// The system resolver, keeping only the addresses `reach` allows; a name with none left is
/// refused with [`NotPublic`].
#[derive(Debug, Clone)]
pub(crate) struct ReachResolver {
    inner: GaiResolver,
    reach: Reach,
}

impl ReachResolver {
    pub(crate) fn new(reach: Reach) -> Self {
        ReachResolver {
            inner: GaiResolver::new(),
            reach,
        }
    }
}

impl Service<Name> for ReachResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let reach = self.reach;
        let host = name.as_str().to_owned();
        let resolving = self.inner.call(name);
        Box::pin(async move {
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolving.await?.partition(|addr| reach.allows(addr.ip()));
            match (allowed.is_empty(), refused.first()) {
                (true, Some(refused)) => Err(NotPublic {
                    host,
                    address: refused.ip(),
                }
                .into()),
                _ => Ok(allowed.into_iter()),
            }
        })
    }
}

/// A connector that refuses a URI whose host is an address literal `reach` does not allow,
/// before `inner` connects to it without asking the resolver.
#[derive(Debug, Clone)]
pub(crate) struct ReachCheck<C> {
    inner: C,
    reach: Reach,
}

impl<C> ReachCheck<C> {
    pub(crate) fn new(inner: C, reach: Reach) -> Self {
        ReachCheck { inner, reach }
    }
}

impl<C> Service<Uri> for ReachCheck<C>
where
    C: Service<Uri>,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let literal = uri
            .host()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|host| host.parse::<IpAddr>().ok().map(|ip| (host.to_owned(), ip)));
        if let Some((host, address)) = literal
            && !self.reach.allows(address)
        {
            return Box::pin(std::future::ready(Err(NotPublic { host, address }.into())));
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(reach: Reach, ip: &str) -> bool {
        reach.allows(ip.parse().unwrap())
    }

    #[test]
    fn public_reach_allows_public_addresses_and_loopback_only_when_asked() {
        let strict = Reach::Public {
            allow_loopback: false,
        };
        let tests = Reach::Public {
            allow_loopback: true,
        };
        assert!(allows(strict, "8.8.8.8"));
        assert!(!allows(strict, "127.0.0.1"));
        assert!(!allows(strict, "169.254.169.254"));
        assert!(allows(tests, "127.0.0.1"));
        assert!(allows(tests, "::ffff:127.0.0.1"));
        assert!(
            !allows(tests, "10.0.0.1"),
            "loopback, not every private address"
        );
        assert!(allows(Reach::Anywhere, "10.0.0.1"));
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_refused() {
        let mut resolver = ReachResolver::new(Reach::Public {
            allow_loopback: false,
        });
        let name: Name = "localhost".parse().unwrap();
        let error = resolver.call(name).await.unwrap_err();
        let refused = NotPublic::in_chain(&*error).expect("refused as not public");
        assert!(refused.to_string().contains("localhost"), "{refused}");
    }

    #[tokio::test]
    async fn an_address_literal_is_refused_before_connecting() {
        #[derive(Clone)]
        struct Unreachable;
        impl Service<Uri> for Unreachable {
            type Response = ();
            type Error = BoxError;
            type Future = std::future::Ready<Result<(), BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: Uri) -> Self::Future {
                panic!("the connector must not be reached")
            }
        }
        let mut check = ReachCheck::new(
            Unreachable,
            Reach::Public {
                allow_loopback: false,
            },
        );
        for uri in ["https://169.254.169.254/latest", "https://[::1]:8443/x"] {
            let error = check.call(uri.parse().unwrap()).await.unwrap_err();
            assert!(NotPublic::in_chain(&*error).is_some(), "{uri}: {error}");
        }
    }
}
