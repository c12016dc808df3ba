//! What subscribing a device to an interest did.

/// What [`DeviceStore::add_interest`](crate::DeviceStore::add_interest) did to a device that
/// exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterestChange {
    /// The device is now subscribed.
    Added,
    /// The device was subscribed already; nothing changed.
    AlreadySubscribed,
    /// The device has the most interests allowed; nothing changed.
    TooMany {
        /// The limit in force.
        max: usize,
    },
}

/// How many interests a device may have unless configured otherwise (Beams answers
/// "Interest set too large" beyond it).
pub const DEFAULT_MAX_INTERESTS_PER_DEVICE: usize = 5000;
