//! `PerPlatform<T>`: one value for each push platform.

use std::ops::{Index, IndexMut};

use crate::Platform;

/// One `T` for each [`Platform`], indexed by platform: counts, gateways, payloads, breakers.
///
/// ```
/// use beams_core::{PerPlatform, Platform};
///
/// let mut sent: PerPlatform<usize> = PerPlatform::default();
/// sent[Platform::Web] += 2;
/// assert_eq!(sent[Platform::Web], 2);
/// assert_eq!(sent.iter().map(|(_, n)| n).sum::<usize>(), 2);
/// let named = sent.map(|platform, n| format!("{platform}: {n}"));
/// assert_eq!(named[Platform::Apns], "apns: 0");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PerPlatform<T> {
    /// The APNs value.
    pub apns: T,
    /// The FCM value.
    pub fcm: T,
    /// The Web Push value.
    pub web: T,
}

impl<T> PerPlatform<T> {
    /// Each platform's value made by `make`.
    pub fn from_fn(mut make: impl FnMut(Platform) -> T) -> Self {
        PerPlatform {
            apns: make(Platform::Apns),
            fcm: make(Platform::Fcm),
            web: make(Platform::Web),
        }
    }

    /// Each platform with its value, in [`Platform::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Platform, &T)> {
        Platform::ALL
            .into_iter()
            .map(|platform| (platform, &self[platform]))
    }

    /// Each value turned into another by `f`.
    pub fn map<U>(self, mut f: impl FnMut(Platform, T) -> U) -> PerPlatform<U> {
        PerPlatform {
            apns: f(Platform::Apns, self.apns),
            fcm: f(Platform::Fcm, self.fcm),
            web: f(Platform::Web, self.web),
        }
    }
}

impl<T> Index<Platform> for PerPlatform<T> {
    type Output = T;

    fn index(&self, platform: Platform) -> &T {
        match platform {
            Platform::Apns => &self.apns,
            Platform::Fcm => &self.fcm,
            Platform::Web => &self.web,
        }
    }
}

impl<T> IndexMut<Platform> for PerPlatform<T> {
    fn index_mut(&mut self, platform: Platform) -> &mut T {
        match platform {
            Platform::Apns => &mut self.apns,
            Platform::Fcm => &mut self.fcm,
            Platform::Web => &mut self.web,
        }
    }
}
