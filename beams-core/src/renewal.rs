//! What registering a token that a device already has may do to that device.
//!
//! The device API is open to anyone, and a push token is not much of a secret: it travels
//! through the app, its logs and its analytics. So a registration proves only that its caller
//! holds the token. The rule, decided here and applied by every store in the atomic step that
//! finds the token's device:
//!
//! - **The user stays.** A registration proves no user, and takes none away: the device keeps
//!   the user it has. (The iOS SDK registers its token at every launch.)
//! - **The interests stay.** For APNs the engine answers them as `initialInterestSet`
//!   ([`Beams::initial_interest_set`](crate::Beams::initial_interest_set)): the iOS SDK
//!   replaces its own interests with that set at every launch, and a reinstalled app gets its
//!   interests back that way. The Android and web SDKs never read the set, so for FCM and Web
//!   Push it is empty: a caller who holds only such a token learns nothing of the device.
//! - **A Web Push subscription keeps its keys.** A browser never changes the keys of a
//!   subscription, so the same endpoint with other `p256dh`/`auth` keys is not the browser:
//!   refused ([`RegistrationRefusal::OtherKeys`]), and nothing changes.
//! - **An FCM token of a signed-in device is not registered again.** The Android SDK
//!   registers a token once per install, and again only after a 404, when the device is gone.
//!   So only someone who found the token registers it while its device has a user, and the
//!   device id they would get lets its holder move the device to a token of theirs: refused
//!   ([`RegistrationRefusal::SignedInDevice`]), and nothing changes.
//! - Otherwise the device is renewed: the same id, the new metadata and registration time.
//!
//! What remains for APNs is what the iOS SDK's protocol gives whoever holds a token: the
//! device's id and interests. It gives no way to take the device's user or to redirect its
//! notifications (token refresh is offered for FCM only, as the SDKs use it).

use subtle::ConstantTimeEq;

use crate::{Device, DeviceRegistration, PushToken};

/// Why a registration of a known token was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationRefusal {
    /// The Web Push endpoint is registered with other keys.
    OtherKeys,
    /// The FCM token belongs to a device with a user.
    SignedInDevice,
}

/// Whether `registration`, of a token `existing` already has, may renew `existing` (see the
/// module's rule). Stores call it in the atomic step that read `existing`.
///
/// ```
/// use beams_core::{check_renewal, Device, DeviceId, DeviceMetadata, DeviceRegistration,
///                  FcmToken, Platform, PushToken, RegistrationRefusal, Timestamp, UserId};
///
/// let token = PushToken::Fcm(FcmToken::new("fcm:APA91b-example")?);
/// let registration = DeviceRegistration {
///     id: DeviceId::generate(Platform::Fcm),
///     token: token.clone(),
///     metadata: DeviceMetadata::default(),
///     at: Timestamp::from_unix_millis(2),
/// };
/// let mut existing = registration.clone().into_device();
/// assert_eq!(check_renewal(&existing, &registration), Ok(()));
/// existing.user = Some(UserId::new("alice")?);
/// assert_eq!(check_renewal(&existing, &registration), Err(RegistrationRefusal::SignedInDevice));
/// # Ok::<(), beams_core::ValidationError>(())
/// ```
pub fn check_renewal(
    existing: &Device,
    registration: &DeviceRegistration,
) -> Result<(), RegistrationRefusal> {
    match (&existing.token, &registration.token) {
        (PushToken::Web(stored), PushToken::Web(offered)) => {
            // The auth secret is compared in constant time: a caller must not learn it byte
            // by byte from how long a refusal takes.
            let same =
                stored.auth().ct_eq(offered.auth()) & stored.p256dh().ct_eq(offered.p256dh());
            if bool::from(same) {
                Ok(())
            } else {
                Err(RegistrationRefusal::OtherKeys)
            }
        }
        (PushToken::Fcm(_), _) if existing.user.is_some() => {
            Err(RegistrationRefusal::SignedInDevice)
        }
        _ => Ok(()),
    }
}
