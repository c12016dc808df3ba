//! `Beams`: the engine a server calls for the device lifecycle of Authenticated Users.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::publish::fanout::Fanout;
use crate::{
    AssociationOutcome, AssociationPolicy, AssociationRefusal, AssociationRequest, Clock,
    DeadToken, Device, DeviceId, DeviceMetadata, DeviceRegistration, DeviceStore, EndpointRules,
    Gateways, InstanceId, Interest, InterestChange, IssuedToken, Platform, Publication,
    PublishConfig, PublishId, PublishObserver, PublishReport, PublishRequest, PushGateway,
    PushToken, SecretKey, StoreError, SystemClock, TokenError, TokenIssuer, TokenVerifier, UserId,
    ValidationError,
};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeamsError {
    /// Input broke a rule; the error names the field and the rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The Beams Token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No device has this id.
    #[error("could not find device {device}")]
    DeviceNotFound {
        /// The id asked for.
        device: DeviceId,
    },
    /// The device is associated with a different user; it must be disassociated (stopped)
    /// first. The other user is not named, so the message is safe to show the caller.
    #[error("a user id is already associated with device {device}")]
    UserMismatch {
        /// The device.
        device: DeviceId,
    },
    /// The user has the most devices allowed on the platform and the policy refuses more.
    #[error("user already has reached the maximum of {limit} devices on {platform}")]
    DeviceLimitReached {
        /// The limit in force.
        limit: usize,
        /// The platform that is full.
        platform: Platform,
    },
    /// The device would have more interests than allowed.
    #[error("interest set too large: at most {max} interests per device")]
    TooManyInterests {
        /// The limit in force.
        max: usize,
    },
    /// The device store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`Beams::associate_device`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The user the device now belongs to (the token's `sub`).
    pub user: UserId,
    /// The user's devices disassociated to stay within the limit, oldest first.
    pub evicted: Vec<DeviceId>,
    /// Whether the device already belonged to the user (then nothing changed).
    pub unchanged: bool,
}

/// The engine: register devices, associate them with users on presentation of a Beams Token,
/// stop devices, delete users, and clean up dead tokens, over any [`DeviceStore`].
///
/// ```
/// use beams_core::{Beams, DeviceMetadata, InstanceId, MemoryDeviceStore, Platform, SecretKey, UserId};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let beams = Beams::builder(
///     InstanceId::new("00000000-0000-0000-0000-000000000000")?,
///     SecretKey::new("SECRETKEY")?,
///     MemoryDeviceStore::new(),
/// )
/// .build();
///
/// let device = beams
///     .register_device(Platform::Fcm, "fcm-registration-token", DeviceMetadata::default())
///     .await?;
/// let alice = UserId::new("alice")?;
/// let token = beams.issue_token(&alice)?;
/// let association = beams.associate_device(&device.id, &token.token).await?;
/// assert_eq!(association.user, alice);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Beams {
    instance: InstanceId,
    secret: SecretKey,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    store: Arc<dyn DeviceStore>,
    policy: AssociationPolicy,
    endpoint_rules: EndpointRules,
    clock: Arc<dyn Clock>,
    /// What publishes fan out with; shared by every [`Publication`].
    fanout: Arc<Fanout>,
    max_interests: usize,
}

/// Configures a [`Beams`] engine.
#[derive(Debug)]
pub struct BeamsBuilder {
    instance: InstanceId,
    secret: SecretKey,
    store: Arc<dyn DeviceStore>,
    policy: AssociationPolicy,
    endpoint_rules: EndpointRules,
    clock: Arc<dyn Clock>,
    token_lifetime: Duration,
    token_leeway: Duration,
    gateways: Gateways,
    publish_config: PublishConfig,
    observer: Option<Arc<dyn PublishObserver>>,
    max_interests: usize,
}

impl BeamsBuilder {
    /// The most interests one device may have (default 5000, as Beams).
    pub fn max_interests_per_device(mut self, max: usize) -> Self {
        self.max_interests = max;
        self
    }

    /// The per-user device limit and what happens at it (default: 100, evict the oldest).
    pub fn policy(mut self, policy: AssociationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which Web Push endpoints registrations may use (default: https only).
    pub fn endpoint_rules(mut self, rules: EndpointRules) -> Self {
        self.endpoint_rules = rules;
        self
    }

    /// Where "now" comes from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long issued Beams Tokens live (default: 24 hours).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How far clocks may disagree when checking `exp` and `iat` (default: 30 seconds).
    pub fn token_leeway(mut self, leeway: Duration) -> Self {
        self.token_leeway = leeway;
        self
    }

    /// Sends `platform`'s notifications through `gateway`. A platform with no gateway is
    /// skipped when publishing (and counted), not an error.
    pub fn gateway(mut self, platform: Platform, gateway: Arc<dyn PushGateway>) -> Self {
        self.gateways = self.gateways.with(platform, gateway);
        self
    }

    /// Sets every platform's gateway at once.
    pub fn gateways(mut self, gateways: Gateways) -> Self {
        self.gateways = gateways;
        self
    }

    /// How publishes fan out, retry and give up (default: [`PublishConfig::default`]).
    pub fn publish_config(mut self, config: PublishConfig) -> Self {
        self.publish_config = config;
        self
    }

    /// Receives every delivery's outcome as publishes run, for webhooks and metrics.
    pub fn publish_observer(mut self, observer: Arc<dyn PublishObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the engine.
    pub fn build(self) -> Beams {
        let issuer = TokenIssuer::new(&self.instance, &self.secret)
            .with_lifetime(self.token_lifetime)
            .with_clock(self.clock.clone());
        let verifier = TokenVerifier::new(&self.instance, &self.secret)
            .with_leeway(self.token_leeway)
            .with_clock(self.clock.clone());
        let fanout = Fanout {
            store: Arc::clone(&self.store),
            gateways: self.gateways,
            clock: Arc::clone(&self.clock),
            config: self.publish_config,
            observer: self.observer,
            instance: self.instance.clone(),
        };
        Beams {
            instance: self.instance,
            secret: self.secret,
            issuer,
            verifier,
            store: self.store,
            policy: self.policy,
            endpoint_rules: self.endpoint_rules,
            clock: self.clock,
            fanout: Arc::new(fanout),
            max_interests: self.max_interests,
        }
    }
}

impl Beams {
    /// Starts configuring an engine for one instance over `store`.
    pub fn builder(
        instance: InstanceId,
        secret: SecretKey,
        store: impl DeviceStore + 'static,
    ) -> BeamsBuilder {
        BeamsBuilder {
            instance,
            secret,
            store: Arc::new(store),
            policy: AssociationPolicy::default(),
            endpoint_rules: EndpointRules::default(),
            clock: Arc::new(SystemClock),
            token_lifetime: crate::token::DEFAULT_TOKEN_LIFETIME,
            token_leeway: crate::token::DEFAULT_LEEWAY,
            gateways: Gateways::new(),
            publish_config: PublishConfig::default(),
            observer: None,
            max_interests: crate::DEFAULT_MAX_INTERESTS_PER_DEVICE,
        }
    }

    /// The instance this engine serves.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance
    }

    /// The instance secret key, to authenticate publish and customer API calls with
    /// [`SecretKey::matches`].
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The store devices are kept in.
    pub fn store(&self) -> &Arc<dyn DeviceStore> {
        &self.store
    }

    /// The association policy in force.
    pub fn policy(&self) -> AssociationPolicy {
        self.policy
    }

    /// The verifier the engine checks Beams Tokens with.
    pub fn token_verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// Issues a Beams Token for `user`, for a customer's auth endpoint to hand to the client.
    pub fn issue_token(&self, user: &UserId) -> Result<IssuedToken, BeamsError> {
        Ok(self.issuer.issue(user)?)
    }

    /// Registers a device from the token its client SDK sent for `platform`. A token already
    /// known on the platform renews its device (same id, no user).
    pub async fn register_device(
        &self,
        platform: Platform,
        raw_token: &str,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        let token = PushToken::parse(platform, raw_token, self.endpoint_rules)?;
        self.register_token(token, metadata).await
    }

    /// Registers a device from an already validated push token.
    pub async fn register_token(
        &self,
        token: PushToken,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        let registration = DeviceRegistration {
            id: DeviceId::generate(token.platform()),
            token,
            metadata,
            at: self.clock.now(),
        };
        Ok(self.store.register_device(registration).await?)
    }

    /// The device with this id.
    pub async fn device(&self, id: &DeviceId) -> Result<Device, BeamsError> {
        self.store
            .device(id)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Replaces a device's metadata (the client SDK's `PUT …/metadata`).
    pub async fn update_metadata(
        &self,
        id: &DeviceId,
        metadata: DeviceMetadata,
    ) -> Result<Device, BeamsError> {
        self.store
            .update_metadata(id, metadata)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Gives a device the new push token its client SDK reports (an FCM token refresh),
    /// keeping its id and user. The token is validated for the device's platform.
    pub async fn refresh_token(
        &self,
        id: &DeviceId,
        raw_token: &str,
    ) -> Result<Device, BeamsError> {
        let token = PushToken::parse(id.platform(), raw_token, self.endpoint_rules)?;
        self.store
            .update_token(id, token, self.clock.now())
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Associates a device with the user named by a Beams Token's `sub`, after verifying it.
    ///
    /// At the limit, the policy evicts the user's oldest device on the platform or refuses;
    /// a device of another user is refused until it is stopped.
    pub async fn associate_device(
        &self,
        device: &DeviceId,
        beams_token: &str,
    ) -> Result<Association, BeamsError> {
        let verified = self.verifier.verify(beams_token)?;
        let request = AssociationRequest {
            device: device.clone(),
            user: verified.user,
            policy: self.policy,
            at: self.clock.now(),
        };
        let outcome = self.store.associate(&request).await?;
        match outcome.ok_or_else(|| BeamsError::DeviceNotFound {
            device: request.device.clone(),
        })? {
            AssociationOutcome::Associated { evicted } => Ok(Association {
                user: request.user,
                evicted,
                unchanged: false,
            }),
            AssociationOutcome::AlreadyAssociated => Ok(Association {
                user: request.user,
                evicted: Vec::new(),
                unchanged: true,
            }),
            AssociationOutcome::Refused(refusal) => Err(match refusal {
                AssociationRefusal::UserMismatch => BeamsError::UserMismatch {
                    device: request.device,
                },
                AssociationRefusal::DeviceLimitReached { limit } => {
                    BeamsError::DeviceLimitReached {
                        limit,
                        platform: device.platform(),
                    }
                }
            }),
        }
    }

    /// Deletes a device, as the client SDK's `stop()` (logout) asks. Returns what was deleted.
    pub async fn stop_device(&self, id: &DeviceId) -> Result<Device, BeamsError> {
        self.store
            .remove_device(id)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Deletes every device of `user` on every platform, for account deletion. An unknown user
    /// has nothing to delete and is not an error.
    pub async fn delete_user(&self, user: &UserId) -> Result<Vec<Device>, BeamsError> {
        Ok(self.store.remove_user(user).await?)
    }

    /// Applies a push service's dead-token verdict: deletes the device that has the token,
    /// unless the token was registered again after the verdict's [cutoff](DeadToken::cutoff).
    /// Returns the deleted device, if one was.
    pub async fn remove_dead_token(&self, dead: &DeadToken) -> Result<Option<Device>, BeamsError> {
        Ok(self
            .store
            .remove_device_by_token(&dead.token, dead.cutoff())
            .await?)
    }

    /// Replaces a device's interests (the client SDK's `PUT …/interests`); repeats collapse.
    pub async fn set_device_interests(
        &self,
        id: &DeviceId,
        interests: Vec<Interest>,
    ) -> Result<Vec<Interest>, BeamsError> {
        let set: BTreeSet<Interest> = interests.into_iter().collect();
        if set.len() > self.max_interests {
            return Err(BeamsError::TooManyInterests {
                max: self.max_interests,
            });
        }
        self.store
            .set_interests(id, &set)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })?;
        Ok(set.into_iter().collect())
    }

    /// Subscribes a device to an interest; `false` if it was subscribed already.
    pub async fn add_device_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<bool, BeamsError> {
        let change = self
            .store
            .add_interest(id, interest, self.max_interests)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })?;
        match change {
            InterestChange::Added => Ok(true),
            InterestChange::AlreadySubscribed => Ok(false),
            InterestChange::TooMany { max } => Err(BeamsError::TooManyInterests { max }),
        }
    }

    /// Unsubscribes a device from an interest; `false` if it was not subscribed.
    pub async fn remove_device_interest(
        &self,
        id: &DeviceId,
        interest: &Interest,
    ) -> Result<bool, BeamsError> {
        self.store
            .remove_interest(id, interest)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// A page of a device's interests in name order, after `after`, at most `limit`.
    pub async fn interests_of_device(
        &self,
        id: &DeviceId,
        after: Option<&Interest>,
        limit: usize,
    ) -> Result<Vec<Interest>, BeamsError> {
        self.store
            .interests_of_device(id, after, limit)
            .await?
            .ok_or_else(|| BeamsError::DeviceNotFound { device: id.clone() })
    }

    /// Accepts a publish (to users or interests): checks it has a platform section and gives it its id.
    /// Nothing is sent until [`Publication::deliver`].
    pub fn publication(&self, request: PublishRequest) -> Result<Publication, BeamsError> {
        request.check_has_section()?;
        Ok(Publication {
            id: PublishId::generate(),
            request,
            fanout: Arc::clone(&self.fanout),
        })
    }

    /// Publishes and waits for the delivery to finish: to every device of the request's users,
    /// or to every device subscribed to any of its interests (each device once); each
    /// platform's payload built once, retries with backoff, dead tokens removed.
    pub async fn publish(&self, request: PublishRequest) -> Result<PublishReport, BeamsError> {
        Ok(self.publication(request)?.deliver().await)
    }

    /// The gateways publishes go through.
    pub fn gateways(&self) -> &Gateways {
        &self.fanout.gateways
    }
}
