//! The check every configurable URL gets (an APNs endpoint, FCM's base URL, a token
//! endpoint): an absolute `http(s)` URL that the gateway's transport can reach.

use http::Uri;

use crate::{ConfigError, Transport};

/// Whether a URL may have a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathRule {
    /// Scheme, host and port only (APNs builds its own paths).
    None,
    /// A path prefix or a full path is allowed.
    Allowed,
}

/// Parses and checks `url` for the setting `field`: `http` or `https`, a host, no user
/// information, query or fragment, a path only as `path` allows, and a scheme the transport
/// speaks (`https://` over TLS, `http://` over [`Transport::PlainText`]).
pub(crate) fn check_url(
    field: &'static str,
    url: &str,
    transport: &Transport,
    path: PathRule,
) -> Result<Uri, ConfigError> {
    let uri = check_shape(field, url, path)?;
    check_scheme(field, &uri, transport)?;
    Ok(uri)
}

/// The checks of [`check_url`] that need no transport, for a URL read before the transport
/// is known (a key file's `token_uri`).
pub(crate) fn check_shape(
    field: &'static str,
    url: &str,
    path: PathRule,
) -> Result<Uri, ConfigError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| ConfigError::invalid(field, "is not an absolute URL"))?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err(ConfigError::invalid(
            field,
            "must start with https:// (or http:// for a loopback test)",
        ));
    }
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(ConfigError::invalid(field, "has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(ConfigError::invalid(
            field,
            "must not have user information",
        ));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(ConfigError::invalid(
            field,
            "must not have a query or fragment",
        ));
    }
    if path == PathRule::None && !matches!(uri.path(), "" | "/") {
        return Err(ConfigError::invalid(field, "is a base URL and has no path"));
    }
    Ok(uri)
}

/// Whether the transport speaks the URL's scheme: `https://` needs TLS, `http://` plain text.
pub(crate) fn check_scheme(
    field: &'static str,
    uri: &Uri,
    transport: &Transport,
) -> Result<(), ConfigError> {
    let https = uri.scheme_str() == Some("https");
    match transport {
        Transport::PlainText if https => Err(ConfigError::invalid(
            field,
            "must be http:// with Transport::PlainText",
        )),
        Transport::Tls | Transport::TlsWithRoots(_) | Transport::TlsWithExtraRoots(_) if !https => {
            Err(ConfigError::invalid(
                field,
                "must be https:// unless the transport is Transport::PlainText",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, transport: Transport, path: PathRule) -> Result<Uri, ConfigError> {
        check_url("url", url, &transport, path)
    }

    #[test]
    fn the_scheme_must_suit_the_transport() {
        assert!(
            check(
                "http://127.0.0.1:8080",
                Transport::PlainText,
                PathRule::None
            )
            .is_ok()
        );
        assert!(check("https://example.com", Transport::Tls, PathRule::None).is_ok());
        assert!(check("https://127.0.0.1:1", Transport::PlainText, PathRule::None).is_err());
        assert!(check("http://127.0.0.1:1", Transport::Tls, PathRule::None).is_err());
        let extra = || Transport::TlsWithExtraRoots(Vec::new());
        assert!(check("https://relay.example", extra(), PathRule::None).is_ok());
        assert!(check("http://127.0.0.1:1", extra(), PathRule::None).is_err());
        assert!(check("ftp://127.0.0.1:1", Transport::PlainText, PathRule::None).is_err());
    }

    #[test]
    fn paths_queries_and_user_information_follow_the_rules() {
        let plain = || Transport::PlainText;
        assert!(check("http://127.0.0.1:1/3/device", plain(), PathRule::None).is_err());
        assert!(check("http://127.0.0.1:1/prefix", plain(), PathRule::Allowed).is_ok());
        assert!(check("http://127.0.0.1:1/?x=1", plain(), PathRule::Allowed).is_err());
        assert!(check("http://127.0.0.1:1/#x", plain(), PathRule::Allowed).is_err());
        assert!(check("http://user@127.0.0.1:1", plain(), PathRule::Allowed).is_err());
        assert!(check("127.0.0.1", plain(), PathRule::Allowed).is_err());
        let err = check("http:///x", plain(), PathRule::Allowed).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { field: "url", .. }),
            "{err}"
        );
    }
}
