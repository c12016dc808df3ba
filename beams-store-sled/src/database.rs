//! The open database: sled's handle and the store's trees in it, shared by a store's clones
//! and lent to the writer's leader while it commits.

use crate::layout::Trees;

/// sled's handle and the store's trees. Dropping the last `Arc` of it closes the database.
pub(crate) struct Database {
    pub(crate) db: sled::Db,
    pub(crate) trees: Trees,
}
