//! Where the store keeps its devices: a file or directory for SQLite and sled, a database for
//! PostgreSQL, whose connection string is checked when the server starts and is never shown
//! with its password.

use std::fmt;
use std::path::{Path, PathBuf};

use beams_store_postgres::deadpool_postgres::tokio_postgres::config::{
    Config as ConnectionConfig, Host, SslMode,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::startup::StartupError;

/// Where the configured store keeps its devices.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// SQLite's database file, or sled's directory.
    Path(PathBuf),
    /// A PostgreSQL database.
    Postgres(DatabaseUrl),
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Path(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// A PostgreSQL connection string (`postgres://user:password@host:port/database?…`, or
/// `host=… user=… dbname=…`), checked. It shows (`Display` and `Debug`) as a URL with the
/// password replaced by `***`, so it can be printed and logged; only
/// [`expose`](Self::expose) gives the password.
///
/// ```
/// use beams_server::database::DatabaseUrl;
///
/// let url = DatabaseUrl::parse("postgres://beams:hunter2@db.example.com/beams".as_ref())?;
/// assert_eq!(url.to_string(), "postgres://beams:***@db.example.com:5432/beams");
/// # Ok::<(), beams_server::StartupError>(())
/// ```
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    shown: String,
}

/// The flag every refusal names.
const FLAG: &str = "--database";

impl DatabaseUrl {
    /// Checks `value`, the `--database` flag's: text that PostgreSQL's client parses and that
    /// names a host. A refusal names the flag and never repeats the value, which may hold a
    /// password.
    pub fn parse(value: &Path) -> Result<Self, StartupError> {
        let url = value.to_str().ok_or_else(|| {
            StartupError::flag(FLAG, "is not valid UTF-8: a PostgreSQL URL is text")
        })?;
        if url.trim().is_empty() {
            return Err(StartupError::flag(
                FLAG,
                "is empty: --store postgres needs a URL such as postgres://beams@db.example.com/beams",
            ));
        }
        let parsed: ConnectionConfig = url.parse().map_err(|e| {
            StartupError::flag(
                FLAG,
                format!(
                    "is not a PostgreSQL connection string (postgres://user:password@host:port/database, \
                     or host=… user=… dbname=…): {e}"
                ),
            )
        })?;
        if parsed.get_hosts().is_empty() && parsed.get_hostaddrs().is_empty() {
            return Err(StartupError::flag(
                FLAG,
                "names no host (postgres://user@host/database, or host=…)",
            ));
        }
        Ok(DatabaseUrl {
            url: url.to_owned(),
            shown: shown_without_password(&parsed),
        })
    }

    /// The connection string as given, password included: for connecting, never for showing.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.shown).finish()
    }
}

/// What a URL's parts may hold unescaped (RFC 3986's unreserved characters).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parsed settings written back as a URL, without the password: built from what was
/// understood rather than by cutting the password out of the text, so neither form of
/// connection string, nor a password in a query parameter, can leak it.
fn shown_without_password(config: &ConnectionConfig) -> String {
    let encode = |text: &str| utf8_percent_encode(text, UNRESERVED).to_string();
    let mut shown = String::from("postgres://");
    let password = if config.get_password().is_some() {
        ":***"
    } else {
        ""
    };
    if let Some(user) = config.get_user() {
        shown.push_str(&format!("{}{password}@", encode(user)));
    } else if !password.is_empty() {
        shown.push_str(&format!("{password}@"));
    }
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        config
            .get_hostaddrs()
            .iter()
            .map(|addr| match addr {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                std::net::IpAddr::V4(v4) => v4.to_string(),
            })
            .collect()
    } else {
        config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => encode(name),
                Host::Unix(path) => encode(&path.to_string_lossy()),
            })
            .collect()
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = hosts
        .into_iter()
        .enumerate()
        .map(|(n, host)| match ports.get(n).or(ports.first()) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
        .collect();
    shown.push_str(&hosts.join(","));
    if let Some(database) = config.get_dbname() {
        shown.push_str(&format!("/{}", encode(database)));
    }
    let mut parameters = Vec::new();
    match config.get_ssl_mode() {
        SslMode::Disable => parameters.push("sslmode=disable".to_owned()),
        SslMode::Require => parameters.push("sslmode=require".to_owned()),
        _ => {}
    }
    if let Some(options) = config.get_options() {
        parameters.push(format!("options={}", encode(options)));
    }
    if !parameters.is_empty() {
        shown.push_str(&format!("?{}", parameters.join("&")));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<DatabaseUrl, StartupError> {
        DatabaseUrl::parse(Path::new(value))
    }

    fn refusal(value: &str) -> String {
        let error = parse(value).unwrap_err();
        assert!(
            matches!(error, StartupError::InvalidFlag { flag: FLAG, .. }),
            "{error:?}"
        );
        error.to_string()
    }

    #[test]
    fn a_url_shows_without_its_password() {
        let url = parse(
            "postgres://beams:s3cret%21@db.example.com:6432/beams?sslmode=require&options=-c%20search_path%3Dtenant",
        )
        .unwrap();
        let shown = url.to_string();
        assert_eq!(
            shown,
            "postgres://beams:***@db.example.com:6432/beams?sslmode=require&options=-c%20search_path%3Dtenant"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(url.expose().contains("s3cret"));
    }

    #[test]
    fn a_password_given_as_a_parameter_or_keyword_does_not_show_either() {
        for value in [
            "postgres://beams@db.example.com/beams?password=s3cret",
            "host=db.example.com user=beams password='s3cret with spaces' dbname=beams",
            "postgresql://:s3cret@db.example.com/beams",
        ] {
            let shown = parse(value).unwrap().to_string();
            assert!(!shown.contains("s3cret"), "{value} shows as {shown}");
            assert!(shown.contains(":***@db.example.com"), "{shown}");
        }
    }

    #[test]
    fn unix_sockets_and_several_hosts_show_as_the_url_form_has_them() {
        let shown = parse("postgres://beams@%2Fvar%2Frun%2Fpostgresql/beams")
            .unwrap()
            .to_string();
        assert_eq!(
            shown,
            "postgres://beams@%2Fvar%2Frun%2Fpostgresql:5432/beams"
        );
        let shown = parse("host=a.example,b.example port=5432,5433 user=beams")
            .unwrap()
            .to_string();
        assert_eq!(shown, "postgres://beams@a.example:5432,b.example:5433");
        let shown = parse("postgres://beams@[::1]:6432/beams")
            .unwrap()
            .to_string();
        assert_eq!(shown, "postgres://beams@[::1]:6432/beams");
    }

    #[test]
    fn unusable_values_are_refused_naming_the_flag_without_repeating_them() {
        for (value, rule) in [
            ("", "is empty"),
            ("   ", "is empty"),
            (
                "postgres://beams:hunter2@db.example.com:notaport/beams",
                "not a PostgreSQL connection string",
            ),
            ("user=beams password=hunter2", "names no host"),
        ] {
            let reason = refusal(value);
            assert!(reason.starts_with("--database: "), "{reason}");
            assert!(reason.contains(rule), "{value:?}: {reason}");
            assert!(!reason.contains("hunter2"), "{reason}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let value = std::ffi::OsStr::from_bytes(b"postgres://db\xff.example.com/beams");
        let error = DatabaseUrl::parse(Path::new(value)).unwrap_err();
        assert!(error.to_string().contains("not valid UTF-8"), "{error}");
    }
}
