//! First run: the data directory and the instance's identity, created once and reused.
//!
//! ```text
//! beams-data/                    0700
//!   .gitignore                   "*": the directory never ends up in a commit
//!   instance-id                  a UUID
//!   node-id                      this server's id in the publish journal (node-<uuid>)
//!   secret-key                   0600, 64 hex digits (256 random bits)
//!   vapid-private-key.pem        0600, PKCS#8 P-256
//!   beams.db                     the SQLite store (or beams.sled)
//! ```
//!
//! Whatever is configured (flag or environment variable) wins and is not written; what is not
//! is read from its file, or generated into it when the file does not exist. Files are
//! created with `O_EXCL`, so two servers starting at once on a fresh directory agree.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use beams_core::{InstanceId, SecretKey};
use beams_push::web_push::VapidKey;

use crate::config::Config;
use crate::startup::StartupError;

/// The file holding the instance id, in the data directory.
pub const INSTANCE_ID_FILE: &str = "instance-id";
/// The file holding this server's id in the publish journal, in the data directory.
pub const NODE_ID_FILE: &str = "node-id";
/// The file holding the secret key, in the data directory.
pub const SECRET_KEY_FILE: &str = "secret-key";
/// The file holding the VAPID private key, in the data directory.
pub const VAPID_KEY_FILE: &str = "vapid-private-key.pem";

/// Where a piece of the identity came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A flag or environment variable.
    Configured,
    /// Read from this file.
    Loaded(PathBuf),
    /// Generated now and saved in this file.
    Created(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Configured => f.write_str("configured"),
            Origin::Loaded(path) => write!(f, "from {}", path.display()),
            Origin::Created(path) => write!(f, "generated, saved in {}", path.display()),
        }
    }
}

/// The instance's identity: its id, secret key and VAPID key, and where each came from.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The instance id.
    pub instance_id: InstanceId,
    /// Where the instance id came from.
    pub instance_id_origin: Origin,
    /// The secret key (never printed).
    pub secret_key: SecretKey,
    /// Where the secret key came from.
    pub secret_key_origin: Origin,
    /// The VAPID key pair.
    pub vapid_key: VapidKey,
    /// Where the VAPID key came from.
    pub vapid_key_origin: Origin,
    /// This server's id in the publish journal: the same across its restarts, so it takes
    /// back the publishes it was delivering when it stopped. Servers sharing a database need
    /// data directories of their own.
    pub node_id: String,
}

/// Creates the data directory if needed and reads or generates the identity.
pub fn prepare(config: &Config) -> Result<Identity, StartupError> {
    let dir = &config.data_dir;
    create_data_dir(dir)?;

    let (instance_id, instance_id_origin) = match &config.instance_id {
        Some(id) => (id.clone(), Origin::Configured),
        None => {
            let path = dir.join(INSTANCE_ID_FILE);
            let (text, origin) = load_or_create(&path, Visibility::Public, || {
                Ok(uuid::Uuid::new_v4().hyphenated().to_string())
            })?;
            let id = InstanceId::new(text.trim()).map_err(|e| bad_file(&path, e))?;
            (id, origin)
        }
    };

    let (secret_key, secret_key_origin) = match &config.secret_key {
        Some(key) => (key.clone(), Origin::Configured),
        None => {
            let path = dir.join(SECRET_KEY_FILE);
            let (text, origin) = load_or_create(&path, Visibility::Secret, random_secret)?;
            let key = SecretKey::new(text.trim()).map_err(|e| bad_file(&path, e))?;
            (key, origin)
        }
    };

    let (vapid_key, vapid_key_origin) = match &config.vapid_key {
        Some(path) => {
            let pem = fs::read_to_string(path).map_err(|e| StartupError::io(path, e))?;
            let key = VapidKey::from_pem(&pem).map_err(|e| bad_file(path, e))?;
            (key, Origin::Loaded(path.clone()))
        }
        None => {
            let path = dir.join(VAPID_KEY_FILE);
            let (pem, origin) = load_or_create(&path, Visibility::Secret, || {
                VapidKey::generate()
                    .map(|key| key.to_pem())
                    .map_err(|e| bad_file(&path, e))
            })?;
            let key = VapidKey::from_pem(&pem).map_err(|e| bad_file(&path, e))?;
            (key, origin)
        }
    };

    let node_path = dir.join(NODE_ID_FILE);
    let (node_id, _) = load_or_create(&node_path, Visibility::Public, || {
        Ok(format!("node-{}", uuid::Uuid::new_v4().simple()))
    })?;
    let node_id = node_id.trim().to_owned();
    if node_id.is_empty() || node_id.len() > 200 || node_id.chars().any(char::is_control) {
        return Err(bad_file(&node_path, "not a node id"));
    }

    Ok(Identity {
        node_id,
        instance_id,
        instance_id_origin,
        secret_key,
        secret_key_origin,
        vapid_key,
        vapid_key_origin,
    })
}

/// 64 hex digits from 32 bytes of the operating system's randomness.
fn random_secret() -> Result<String, StartupError> {
    let mut bytes = [0_u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| StartupError::Config("no randomness for a secret key".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn bad_file(path: &Path, error: impl fmt::Display) -> StartupError {
    StartupError::BadFile {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

fn create_data_dir(dir: &Path) -> Result<(), StartupError> {
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| StartupError::io(dir, e))?;
    }
    // Keep secrets out of commits when the directory sits inside a checkout.
    let gitignore = dir.join(".gitignore");
    match create_new(&gitignore, Visibility::Public) {
        Ok(mut file) => file
            .write_all(b"# Created by beams-server: secrets live here.\n*\n")
            .map_err(|e| StartupError::io(&gitignore, e)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StartupError::io(&gitignore, e)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    Public,
    /// Readable and writable by the owner only.
    Secret,
}

fn create_new(path: &Path, visibility: Visibility) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(
        &mut options,
        match visibility {
            Visibility::Public => 0o644,
            Visibility::Secret => 0o600,
        },
    );
    #[cfg(not(unix))]
    let _ = visibility;
    options.open(path)
}

/// The file's text, or `make()`'s, saved in a new file, when there is no file.
fn load_or_create(
    path: &Path,
    visibility: Visibility,
    make: impl FnOnce() -> Result<String, StartupError>,
) -> Result<(String, Origin), StartupError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            if visibility == Visibility::Secret {
                warn_if_readable_by_others(path);
            }
            return Ok((text, Origin::Loaded(path.to_path_buf())));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StartupError::io(path, e)),
    }
    let text = make()?;
    // Written in full to a temporary file first, then linked into place: a server racing on
    // the same fresh directory sees either no file or the whole of one, never an empty one.
    let temp = TempFile::create(path, visibility)?;
    temp.write(text.as_bytes())?;
    let linked = fs::hard_link(&temp.path, path);
    drop(temp);
    match linked {
        Ok(()) => Ok((text, Origin::Created(path.to_path_buf()))),
        // Another server created it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::read_to_string(path)
            .map(|text| (text, Origin::Loaded(path.to_path_buf())))
            .map_err(|e| StartupError::io(path, e)),
        Err(e) => Err(StartupError::io(path, e)),
    }
}

/// A uniquely named file beside `path`, removed when dropped.
struct TempFile {
    path: PathBuf,
    file: fs::File,
}

impl TempFile {
    fn create(path: &Path, visibility: Visibility) -> Result<Self, StartupError> {
        let name = path
            .file_name()
            .map_or_else(Default::default, |name| name.to_string_lossy());
        let temp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let file = create_new(&temp, visibility).map_err(|e| StartupError::io(&temp, e))?;
        Ok(TempFile { path: temp, file })
    }

    /// Writes `text` and a newline, and syncs them to disk.
    fn write(&self, text: &[u8]) -> Result<(), StartupError> {
        let mut file = &self.file;
        file.write_all(text)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| StartupError::io(&self.path, e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove a temporary file");
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "secret file is accessible to other users; `chmod 600` it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(dir: &Path) -> Config {
        Config::try_parse_from(["beams-server", "--data-dir", dir.to_str().unwrap()]).unwrap()
    }

    #[test]
    fn a_fresh_directory_gets_an_identity_that_is_reused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data");
        let first = prepare(&config(&dir)).unwrap();
        assert!(matches!(first.instance_id_origin, Origin::Created(_)));
        assert!(matches!(first.secret_key_origin, Origin::Created(_)));
        assert!(matches!(first.vapid_key_origin, Origin::Created(_)));
        let again = prepare(&config(&dir)).unwrap();
        assert_eq!(again.instance_id, first.instance_id);
        assert_eq!(again.secret_key, first.secret_key);
        assert_eq!(
            again.vapid_key.public_key_base64url(),
            first.vapid_key.public_key_base64url()
        );
        assert!(matches!(again.secret_key_origin, Origin::Loaded(_)));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data");
        prepare(&config(&dir)).unwrap();
        for name in [SECRET_KEY_FILE, VAPID_KEY_FILE] {
            let mode = fs::metadata(dir.join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name}: {mode:o}");
        }
        let dir_mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");
    }

    #[test]
    fn servers_racing_on_a_fresh_directory_agree_on_one_identity() {
        for _ in 0..20 {
            let temp = tempfile::tempdir().unwrap();
            let dir = temp.path().join("data");
            let identities: Vec<Identity> = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..8)
                    .map(|_| scope.spawn(|| prepare(&config(&dir))))
                    .collect();
                racers
                    .into_iter()
                    .map(|racer| racer.join().unwrap().unwrap())
                    .collect()
            });
            let first = &identities[0];
            for identity in &identities {
                assert_eq!(identity.instance_id, first.instance_id);
                assert_eq!(identity.secret_key, first.secret_key);
                assert_eq!(identity.node_id, first.node_id);
                assert_eq!(
                    identity.vapid_key.public_key_base64url(),
                    first.vapid_key.public_key_base64url()
                );
            }
            let created = identities
                .iter()
                .filter(|identity| matches!(identity.secret_key_origin, Origin::Created(_)))
                .count();
            assert_eq!(created, 1);
            // No temporary file is left behind.
            let mut names: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    ".gitignore",
                    INSTANCE_ID_FILE,
                    NODE_ID_FILE,
                    SECRET_KEY_FILE,
                    VAPID_KEY_FILE
                ]
            );
        }
    }

    #[test]
    fn a_damaged_file_is_named() {
        let temp = tempfile::tempdir().unwrap();
        fs::write(temp.path().join(INSTANCE_ID_FILE), "not/an id").unwrap();
        let error = prepare(&config(temp.path())).unwrap_err();
        assert!(error.to_string().contains(INSTANCE_ID_FILE), "{error}");
    }
}
