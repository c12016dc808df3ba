//! What subscribing a device to an interest did.

/// The outcome of [`DeviceStore::add_interest`](crate::DeviceStore::add_interest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterestChange {
    /// The device is now subscribed.
    Added,
    /// The device was subscribed already; nothing changed.
    AlreadySubscribed,
    /// No device has that id.
    DeviceNotFound,
    /// The device has the most interests allowed; nothing changed.
    TooMany {
        /// The limit in force.
        max: usize,
    },
}

/// How many interests a device may have unless configured otherwise (Beams answers
/// "Interest set too large" beyond it).
pub const DEFAULT_MAX_INTERESTS_PER_DEVICE: usize = 5000;
