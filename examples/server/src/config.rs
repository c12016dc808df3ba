//! The server's configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use beams_core::{InstanceId, SecretKey};
use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};

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
    /// Address to listen on.
    #[arg(long, env = "BEAMS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

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

    /// Device store.
    #[arg(long, env = "BEAMS_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Database path (default: DATA_DIR/beams.db for sqlite, DATA_DIR/beams.sled for sled).
    #[arg(long, env = "BEAMS_DATABASE")]
    pub database: Option<PathBuf>,

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

    /// TLS certificate chain (PEM); serve https with --tls-key. Some official SDKs only speak
    /// https.
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

    /// FCM service-account key (JSON, from the Firebase console); enables FCM.
    #[arg(long, env = "BEAMS_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,

    /// VAPID private key (PEM) for Web Push (default: generated once, kept in
    /// DATA_DIR/vapid-private-key.pem).
    #[arg(long, env = "BEAMS_VAPID_KEY")]
    pub vapid_key: Option<PathBuf>,

    /// VAPID contact given to push services: a mailto: or https: URI where they can reach you.
    #[arg(long, env = "BEAMS_VAPID_CONTACT", default_value = DEFAULT_VAPID_CONTACT)]
    pub vapid_contact: String,

    /// Serve the example token route GET /pusher/beams-auth, which trusts an
    /// X-Authenticated-User header (a stand-in for your own login): `auto` serves it only
    /// when listening on a loopback address.
    #[arg(long, env = "BEAMS_AUTH_EXAMPLE", value_enum, default_value_t = AuthExample::Auto)]
    pub auth_example: AuthExample,

    /// Seconds to wait, on Ctrl-C or SIGTERM, for open requests and in-flight publishes.
    #[arg(long, env = "BEAMS_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
}

/// The VAPID contact used when none is configured.
pub const DEFAULT_VAPID_CONTACT: &str = "mailto:admin@example.com";

impl Config {
    /// Where the database lives: `--database`, or the store's default file in the data dir.
    pub fn database_path(&self) -> PathBuf {
        self.database.clone().unwrap_or_else(|| {
            self.data_dir.join(match self.store {
                StoreKind::Sqlite => "beams.db",
                StoreKind::Sled => "beams.sled",
            })
        })
    }

    /// Whether the example token route is served.
    pub fn serves_auth_example(&self) -> bool {
        match self.auth_example {
            AuthExample::On => true,
            AuthExample::Off => false,
            AuthExample::Auto => self.listen.ip().is_loopback(),
        }
    }
}

/// Which device store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// `SqliteDeviceStore`: one SQLite file (the default).
    Sqlite,
    /// `SledDeviceStore`: a sled directory, pure Rust.
    Sled,
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
    /// Only when listening on a loopback address.
    Auto,
    /// Always (it trusts a header anyone can send: never on a public address).
    On,
    /// Never.
    Off,
}
