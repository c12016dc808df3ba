//! The server's configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use beams_core::{InstanceId, SecretKey, WELL_KNOWN_WEB_PUSH_HOSTS};
use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};

use crate::client_addr::IpNet;
use crate::client_limits::{
    ClientLimits, DEFAULT_EVENTS_PER_MINUTE, DEFAULT_INTEREST_CHANGES_PER_MINUTE,
    DEFAULT_REGISTRATIONS_PER_MINUTE,
};
use crate::connections::ConnectionLimits;
use crate::database::{DatabaseUrl, StoreLocation};
use crate::startup::StartupError;

/// Everything the server can be told. Every flag has a `BEAMS_…` environment variable; a flag
/// given on the command line wins over its variable.
///
/// With nothing given, the server keeps its state in `./beams-data`: on the first run it
/// creates the instance id, the secret key and a VAPID key pair there, and reuses them after.
///
/// ```
/// use beams_server::Config;
/// use clap::Parser;
///
/// let config = Config::try_parse_from(["beams-server", "--listen", "127.0.0.1:0"])?;
/// assert_eq!(config.data_dir, std::path::PathBuf::from("beams-data"));
/// assert_eq!(config.device_limit, 100);
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    name = "beams-server",
    version,
    about = "A self-hosted server speaking the Pusher Beams HTTP API (Authenticated Users).",
    long_about = "A self-hosted server speaking the Pusher Beams HTTP API \
        (Authenticated Users).\n\n\
        With no configuration it keeps its state in ./beams-data: on the first run it creates \
        an instance id, a secret key and a VAPID key pair there (secret files readable by you \
        only) and a SQLite database, and reuses them on every later run.\n\n\
        Logs go to standard error; set RUST_LOG (for example RUST_LOG=debug) to change how \
        much is logged."
)]
pub struct Config {
    /// Address to serve plain http on. With --tls-cert and --tls-key but no --tls-listen,
    /// https is served here instead (how TLS was served before --tls-listen existed).
    #[arg(long, env = "BEAMS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address to serve https on as well, beside plain http on --listen (needs --tls-cert
    /// and --tls-key): the Node server SDK with `endpoint` speaks only http, the Python one
    /// only https.
    #[arg(long, env = "BEAMS_TLS_LISTEN", requires_all = ["tls_cert", "tls_key"])]
    pub tls_listen: Option<SocketAddr>,

    /// Directory for the database and the generated instance id, secret key and VAPID key.
    #[arg(long, env = "BEAMS_DATA_DIR", default_value = "beams-data")]
    pub data_dir: PathBuf,

    /// Instance id served (default: generated once, kept in DATA_DIR/instance-id).
    #[arg(long, env = "BEAMS_INSTANCE_ID")]
    pub instance_id: Option<InstanceId>,

    /// Instance secret key; prefer the variable to the flag, which other users can see in
    /// the process list (default: generated once, kept in DATA_DIR/secret-key).
    #[arg(long, env = "BEAMS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretKey>,

    /// Device store: sqlite or sled in the data directory, or postgres, which several
    /// servers can share.
    #[arg(long, env = "BEAMS_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Database: a path for sqlite and sled (default: DATA_DIR/beams.db, DATA_DIR/beams.sled);
    /// for postgres (required) a URL, postgres://user:password@host:port/database or
    /// host=… user=… dbname=…. Prefer the variable when the URL holds a password.
    #[arg(long, env = "BEAMS_DATABASE", hide_env_values = true)]
    pub database: Option<PathBuf>,

    /// Most connections this server opens to PostgreSQL (--store postgres).
    #[arg(long, env = "BEAMS_DB_POOL_SIZE", default_value_t = DEFAULT_DB_POOL_SIZE)]
    pub db_pool_size: usize,

    /// CA certificates (PEM file) trusted for PostgreSQL's TLS certificate beside the public
    /// roots (--store postgres): for a database whose certificate a private CA signed.
    #[arg(long, env = "BEAMS_DATABASE_CA", value_name = "FILE")]
    pub database_ca: Option<PathBuf>,

    /// Most devices a user may have on each platform.
    #[arg(long, env = "BEAMS_DEVICE_LIMIT", default_value_t = 100)]
    pub device_limit: usize,

    /// What a new association does when its user is at the device limit.
    #[arg(
        long,
        env = "BEAMS_DEVICE_LIMIT_POLICY",
        value_enum,
        default_value_t = LimitPolicy::EvictOldest
    )]
    pub device_limit_policy: LimitPolicy,

    /// Accept Web Push subscriptions whose endpoint is plain http on a loopback address (for
    /// tests against a local push service).
    #[arg(long, env = "BEAMS_ALLOW_LOOPBACK_HTTP_ENDPOINTS", value_parser = BoolishValueParser::new())]
    pub allow_loopback_http_endpoints: bool,

    /// TLS certificate chain (PEM), with --tls-key: https on --tls-listen, or, without
    /// --tls-listen, on --listen in place of plain http.
    #[arg(long, env = "BEAMS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BEAMS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// APNs token-auth key (the .p8 file); enables APNs with the other --apns-* flags.
    #[arg(long, env = "BEAMS_APNS_KEY")]
    pub apns_key: Option<PathBuf>,

    /// APNs key id (10 characters, from the Apple developer account).
    #[arg(long, env = "BEAMS_APNS_KEY_ID")]
    pub apns_key_id: Option<String>,

    /// APNs team id (10 characters).
    #[arg(long, env = "BEAMS_APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,

    /// APNs topic: the app's bundle id.
    #[arg(long, env = "BEAMS_APNS_TOPIC")]
    pub apns_topic: Option<String>,

    /// Send to the APNs sandbox (development builds of the app).
    #[arg(long, env = "BEAMS_APNS_SANDBOX", value_parser = BoolishValueParser::new())]
    pub apns_sandbox: bool,

    /// APNs base URL in place of Apple's (`https://api.push.apple.com`, or the sandbox's): a
    /// staging server or a relay, `https://host[:port]` without a path; http:// only on a
    /// loopback address (HTTP/2 without TLS, for tests).
    #[arg(long, env = "BEAMS_APNS_ENDPOINT", value_name = "URL")]
    pub apns_endpoint: Option<String>,

    /// FCM service-account key (JSON, from the Firebase console); enables FCM. Its
    /// `token_uri` is where OAuth access tokens are fetched.
    #[arg(long, env = "BEAMS_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,

    /// FCM base URL in place of `https://fcm.googleapis.com`: what comes before
    /// /v1/projects/…, a path prefix allowed; http:// only on a loopback address (HTTP/2
    /// without TLS, for tests, with an http:// `token_uri` in the key file too).
    #[arg(long, env = "BEAMS_FCM_ENDPOINT", value_name = "URL")]
    pub fcm_endpoint: Option<String>,

    /// Extra root certificates (PEM file) that every gateway trusts beside the public ones:
    /// APNs, FCM and its token endpoint, and Web Push. For staging push services or a relay
    /// behind a private CA.
    #[arg(long, env = "BEAMS_PUSH_CA", value_name = "FILE")]
    pub push_ca: Option<PathBuf>,

    /// VAPID private key (PEM) for Web Push (default: generated once, kept in
    /// DATA_DIR/vapid-private-key.pem).
    #[arg(long, env = "BEAMS_VAPID_KEY")]
    pub vapid_key: Option<PathBuf>,

    /// VAPID contact given to push services: a mailto: or https: URI where they can reach you.
    #[arg(long, env = "BEAMS_VAPID_CONTACT", default_value = DEFAULT_VAPID_CONTACT)]
    pub vapid_contact: String,

    /// Serve the example token route GET /pusher/beams-auth, which trusts an
    /// X-Authenticated-User header (a stand-in for your own login): `auto` serves it only
    /// when every listening address is a loopback address.
    #[arg(long, env = "BEAMS_AUTH_EXAMPLE", value_enum, default_value_t = AuthExample::Auto)]
    pub auth_example: AuthExample,

    /// Seconds to wait, on Ctrl-C or SIGTERM, for open requests and in-flight publishes.
    /// Publishes still delivering then stay in the journal and resume on the next start.
    #[arg(long, env = "BEAMS_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,

    /// Seconds a server holds a publish it delivers without renewing its lease; another
    /// server sharing the database takes the publish over once it lapses.
    #[arg(long, env = "BEAMS_PUBLISH_LEASE", default_value_t = 30)]
    pub publish_lease: u64,

    /// Most publishes accepted and not yet delivered; past it the publish API answers 429
    /// with a Retry-After.
    #[arg(long, env = "BEAMS_MAX_UNFINISHED_PUBLISHES", default_value_t = 10_000)]
    pub max_unfinished_publishes: usize,

    /// Where accepted publishes are kept until delivered: `store` (the database, so they
    /// survive a crash and any server sharing it can finish them) or `memory` (lost with the
    /// process; for measuring what the journal costs).
    #[arg(long, env = "BEAMS_PUBLISH_JOURNAL", value_enum, default_value_t = JournalKind::Store)]
    pub publish_journal: JournalKind,

    /// Accept Web Push endpoints only on these hosts and their subdomains (comma-separated);
    /// `well-known` stands for the browsers' push services (FCM, Mozilla autopush, Apple,
    /// Windows). Default: any public host.
    #[arg(long, env = "BEAMS_WEB_PUSH_HOSTS", value_delimiter = ',')]
    pub web_push_hosts: Vec<String>,

    /// Proxies (addresses or networks, comma-separated) trusted to name the client in
    /// X-Forwarded-For, such as your load balancer's. Default: none; the peer is the client.
    #[arg(long, env = "BEAMS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Device registrations and FCM token refreshes per client address (IPv4, or IPv6 /64)
    /// per minute; 0 for no limit.
    #[arg(long, env = "BEAMS_REGISTRATIONS_PER_MINUTE", default_value_t = DEFAULT_REGISTRATIONS_PER_MINUTE)]
    pub registrations_per_minute: u32,

    /// Interest changes (set, subscribe, unsubscribe) per client address per minute; 0 for
    /// no limit.
    #[arg(long, env = "BEAMS_INTEREST_CHANGES_PER_MINUTE", default_value_t = DEFAULT_INTEREST_CHANGES_PER_MINUTE)]
    pub interest_changes_per_minute: u32,

    /// Connections open at once; more wait to be accepted.
    #[arg(long, env = "BEAMS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Seconds a client may take to send a request's headers; also how long an idle
    /// HTTP/1.1 keep-alive connection stays open.
    #[arg(long, env = "BEAMS_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,

    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, env = "BEAMS_IDLE_TIMEOUT", default_value_t = 30)]
    pub idle_timeout: u64,

    /// Seconds a request may take, its body included, before it is answered 408.
    #[arg(long, env = "BEAMS_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,

    /// Requests in flight at once on one HTTP/2 connection.
    #[arg(long, env = "BEAMS_HTTP2_MAX_STREAMS", default_value_t = 100)]
    pub http2_max_streams: u32,

    /// Reported delivery and open events per client address per minute; 0 for no limit.
    #[arg(long, env = "BEAMS_EVENTS_PER_MINUTE", default_value_t = DEFAULT_EVENTS_PER_MINUTE)]
    pub events_per_minute: u32,
}

/// Whether `host` looks like a DNS name: labels of letters, digits and hyphens.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The PostgreSQL pool size used when none is configured.
pub const DEFAULT_DB_POOL_SIZE: usize = 16;

/// The VAPID contact used when none is configured.
pub const DEFAULT_VAPID_CONTACT: &str = "mailto:admin@example.com";

impl Config {
    /// Where the store keeps its devices: `--database`, or the file store's default in the
    /// data dir; for postgres, `--database` checked as a connection string (required).
    pub fn store_location(&self) -> Result<StoreLocation, StartupError> {
        let default_file = match self.store {
            StoreKind::Sqlite => "beams.db",
            StoreKind::Sled => "beams.sled",
            StoreKind::Postgres => {
                let url = self.database.as_deref().ok_or_else(|| {
                    StartupError::flag(
                        "--database",
                        "is required with --store postgres: a URL such as \
                         postgres://beams@db.example.com/beams (or BEAMS_DATABASE)",
                    )
                })?;
                return DatabaseUrl::parse(url).map(StoreLocation::Postgres);
            }
        };
        if self.database_ca.is_some() {
            return Err(StartupError::flag(
                "--database-ca",
                "applies to --store postgres only",
            ));
        }
        Ok(StoreLocation::Path(
            self.database
                .clone()
                .unwrap_or_else(|| self.data_dir.join(default_file)),
        ))
    }

    /// The allowed Web Push hosts, `well-known` expanded; `None` when any public host is.
    pub fn allowed_web_push_hosts(&self) -> Result<Option<Vec<String>>, StartupError> {
        if self.web_push_hosts.is_empty() {
            return Ok(None);
        }
        let mut hosts = Vec::new();
        for host in &self.web_push_hosts {
            match host.trim() {
                "well-known" => hosts.extend(WELL_KNOWN_WEB_PUSH_HOSTS.map(String::from)),
                host if is_host_name(host) => hosts.push(host.to_owned()),
                host => {
                    return Err(StartupError::Config(format!(
                        "--web-push-hosts: {host:?} is not a host name (such as \
                         fcm.googleapis.com) or well-known"
                    )));
                }
            }
        }
        Ok(Some(hosts))
    }

    /// The per-client limits of the device and reporting APIs.
    pub fn client_limits(&self) -> ClientLimits {
        ClientLimits::new(
            self.registrations_per_minute,
            self.interest_changes_per_minute,
            self.trusted_proxies.clone(),
        )
        .with_events_per_minute(self.events_per_minute)
    }

    /// The bounds every connection is served within.
    pub fn connection_limits(&self) -> Result<ConnectionLimits, StartupError> {
        for (flag, value) in [
            ("--max-connections", self.max_connections as u64),
            ("--header-read-timeout", self.header_read_timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--request-timeout", self.request_timeout),
            ("--http2-max-streams", u64::from(self.http2_max_streams)),
        ] {
            if value == 0 {
                return Err(StartupError::Config(format!("{flag} must be at least 1")));
            }
        }
        Ok(ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            request_timeout: Duration::from_secs(self.request_timeout),
            http2_max_streams: self.http2_max_streams,
        })
    }

    /// Whether the example token route is served.
    pub fn serves_auth_example(&self) -> bool {
        match self.auth_example {
            AuthExample::On => true,
            AuthExample::Off => false,
            AuthExample::Auto => self.listen_addresses().all(|addr| addr.ip().is_loopback()),
        }
    }

    /// Every address the server listens on: `--listen`, then `--tls-listen` when given.
    pub fn listen_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.listen).chain(self.tls_listen)
    }
}

/// Which device store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// `SqliteDeviceStore`: one SQLite file (the default).
    Sqlite,
    /// `SledDeviceStore`: a sled directory, pure Rust.
    Sled,
    /// `PostgresDeviceStore`: a PostgreSQL database that several servers can share.
    Postgres,
}

impl StoreKind {
    /// The name `--store` takes: `sqlite`, `sled` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Sled => "sled",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// What happens when a user already has the most devices allowed on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitPolicy {
    /// Disassociate the user's device associated longest ago, then associate the new one.
    EvictOldest,
    /// Refuse the new association with 422, as Pusher Beams does.
    Refuse,
}

/// Whether to serve the example token route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthExample {
    /// Only when every listening address is a loopback address.
    Auto,
    /// Always (it trusts a header anyone can send: never on a public address).
    On,
    /// Never.
    Off,
}

/// Where accepted publishes are journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JournalKind {
    /// In the store's database: accepted publishes survive a crash.
    Store,
    /// In memory: lost with the process.
    Memory,
}
