//! Opening: what a path must hold, the trees, and the layout version check.

use std::path::Path;

use beams_core::{StoreError, StoreErrorKind};

use crate::error::from_sled;
use crate::keys::{self, LAYOUT_BEFORE_INTERESTS, LAYOUT_KEY, LAYOUT_VERSION, tree};

/// The trees of one store.
#[derive(Clone)]
pub(crate) struct Trees {
    pub(crate) devices: sled::Tree,
    pub(crate) tokens: sled::Tree,
    pub(crate) users: sled::Tree,
    pub(crate) device_interests: sled::Tree,
    pub(crate) interests: sled::Tree,
    /// Store-wide facts: the layout version, and the number of unfinished publishes.
    pub(crate) meta: sled::Tree,
    pub(crate) publishes: sled::Tree,
    pub(crate) unfinished_publishes: sled::Tree,
    pub(crate) finished_publishes: sled::Tree,
}

/// Refuses a path that cannot be a sled directory before sled creates anything there: a file,
/// or a directory that holds other things but no sled database.
pub(crate) fn check_path(path: &Path) -> Result<(), StoreError> {
    let not_a_store = |detail: String| StoreError::new(StoreErrorKind::NotAStore { detail });
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(StoreError::with_source(StoreErrorKind::Unavailable, err)),
    };
    if !metadata.is_dir() {
        return Err(not_a_store(format!(
            "{} is a file; a sled store is a directory",
            path.display()
        )));
    }
    let unavailable = |err| StoreError::with_source(StoreErrorKind::Unavailable, err);
    let mut entries = std::fs::read_dir(path).map_err(unavailable)?;
    let empty = entries.next().is_none();
    if !empty && !path.join("db").is_file() {
        return Err(not_a_store(format!(
            "{} holds other files and no sled database",
            path.display()
        )));
    }
    Ok(())
}

/// Opens the store's trees in `db` (creating those an older store lacks, such as the
/// journal's), writing the layout version into a new store and refusing a store of an
/// unknown layout.
pub(crate) fn open_trees(db: &sled::Db) -> Result<Trees, StoreError> {
    let meta = db.open_tree(tree::META).map_err(from_sled)?;
    let trees = Trees {
        devices: db.open_tree(tree::DEVICES).map_err(from_sled)?,
        tokens: db.open_tree(tree::TOKENS).map_err(from_sled)?,
        users: db.open_tree(tree::USERS).map_err(from_sled)?,
        device_interests: db.open_tree(tree::DEVICE_INTERESTS).map_err(from_sled)?,
        interests: db.open_tree(tree::INTERESTS).map_err(from_sled)?,
        meta: meta.clone(),
        publishes: db.open_tree(tree::PUBLISHES).map_err(from_sled)?,
        unfinished_publishes: db
            .open_tree(tree::UNFINISHED_PUBLISHES)
            .map_err(from_sled)?,
        finished_publishes: db.open_tree(tree::FINISHED_PUBLISHES).map_err(from_sled)?,
    };
    let found = match meta.get(LAYOUT_KEY).map_err(from_sled)? {
        Some(found) => found,
        None => {
            let holds_data = [
                &trees.devices,
                &trees.tokens,
                &trees.users,
                &trees.device_interests,
                &trees.interests,
                &trees.publishes,
                &trees.unfinished_publishes,
                &trees.finished_publishes,
            ]
            .into_iter()
            .any(|tree| !tree.is_empty());
            if holds_data {
                return Err(StoreError::new(StoreErrorKind::NotAStore {
                    detail: format!(
                        "beams trees hold data but {} is missing",
                        keys::name::layout()
                    ),
                }));
            }
            // Another handle on the same `Db` may be initialising it too: whoever loses the
            // race reads the winner's version.
            match meta
                .compare_and_swap(LAYOUT_KEY, None::<&[u8]>, Some(LAYOUT_VERSION.as_bytes()))
                .map_err(from_sled)?
            {
                Ok(()) => {
                    db.flush().map_err(from_sled)?;
                    return Ok(trees);
                }
                Err(current) => current.current.unwrap_or_default(),
            }
        }
    };
    let found = if found == LAYOUT_BEFORE_INTERESTS.as_bytes() {
        upgrade_from_1(db, &meta)?
    } else {
        found
    };
    if found != LAYOUT_VERSION.as_bytes() {
        return Err(StoreError::new(StoreErrorKind::IncompatibleVersion {
            found: String::from_utf8_lossy(&found).into_owned(),
            supported: LAYOUT_VERSION.to_owned(),
        }));
    }
    Ok(trees)
}

/// Upgrades a store of layout 1 to [`LAYOUT_VERSION`]: layout 1 differs only in having no
/// interest trees, which start empty, so the upgrade is the version alone. It keeps a build of
/// layout 1, which would delete devices and leave their subscriptions behind, from opening the
/// store again. Returns the version now stored (a concurrent opener may have upgraded first).
fn upgrade_from_1(db: &sled::Db, meta: &sled::Tree) -> Result<sled::IVec, StoreError> {
    let swapped = meta
        .compare_and_swap(
            LAYOUT_KEY,
            Some(LAYOUT_BEFORE_INTERESTS.as_bytes()),
            Some(LAYOUT_VERSION.as_bytes()),
        )
        .map_err(from_sled)?;
    match swapped {
        Ok(()) => {
            db.flush().map_err(from_sled)?;
            Ok(sled::IVec::from(LAYOUT_VERSION.as_bytes()))
        }
        Err(current) => Ok(current.current.unwrap_or_default()),
    }
}
