//! The whole device lifecycle of one user, in memory.
//!
//! A `Beams` engine over a `MemoryDeviceStore` issues a Beams Token for `alice`, registers an
//! iPhone (APNs), two Android phones and a tablet (FCM) and a browser (Web Push), associates
//! them with her under a limit of two devices per platform (so the oldest FCM device is
//! evicted), refuses her device to `bob`, publishes through a `FakePushGateway` that reports
//! one token dead, logs one device out and finally deletes the user. Nothing leaves the process.
//!
//! Run it with `cargo run -p example-quickstart`.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use beams_core::{
    AssociationPolicy, Beams, BeamsError, Clock, DeliveryOutcome, DeviceId, DeviceMetadata,
    FakePushGateway, Gateways, InstanceId, ManualClock, MemoryDeviceStore, Platform,
    PublishRequest, SecretKey, Timestamp, UserId, WhenFull,
};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const PIXEL_FCM: &str = "fcm-pixel:APA91bHun4MxP5";
const TABLET_FCM: &str = "fcm-tablet:APA91bKq8Z";
const GALAXY_FCM: &str = "fcm-galaxy:APA91bXy7R";
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
const ENDPOINT: &str = "https://push.example.net/send/abc";

/// The engine, the clock it reads, and names for the random device ids so the story reads well.
struct Demo {
    beams: Beams,
    clock: ManualClock,
    names: HashMap<DeviceId, &'static str>,
}

impl Demo {
    async fn register(
        &mut self,
        name: &'static str,
        platform: Platform,
        raw_token: &str,
    ) -> Result<DeviceId> {
        let metadata = DeviceMetadata::new([("sdkVersion", "1.1.0")])?;
        let device = self
            .beams
            .register_device(platform, raw_token, metadata)
            .await?;
        println!("  registered {name:<8} as {}", device.id);
        self.names.insert(device.id.clone(), name);
        Ok(device.id)
    }

    async fn associate(&self, device: &DeviceId, beams_token: &str) -> Result<(), BeamsError> {
        // A second apart, so "the oldest device" is never a tie.
        self.clock.advance(Duration::from_secs(1));
        let association = self.beams.associate_device(device, beams_token).await?;
        println!(
            "  {} associated with {}",
            self.name(device),
            association.user
        );
        for evicted in &association.evicted {
            println!(
                "    evicted {}, its oldest on {}",
                self.name(evicted),
                evicted.platform()
            );
        }
        Ok(())
    }

    fn name(&self, id: &DeviceId) -> &str {
        self.names.get(id).copied().unwrap_or("unknown device")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    step("1. An engine with at most 2 devices per user per platform, oldest evicted");
    // Stands in for APNs, FCM and Web Push: records what it is asked and answers as told.
    let gateway = FakePushGateway::new();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let beams = Beams::builder(
        InstanceId::new("00000000-0000-0000-0000-000000000000")?,
        SecretKey::new("SECRETKEY")?,
        MemoryDeviceStore::new(),
    )
    .policy(AssociationPolicy::try_new(2, WhenFull::EvictOldest)?)
    .clock(Arc::new(clock.clone()))
    .gateways(gateways(&gateway))
    .build();
    println!("  instance {}", beams.instance_id());
    let mut demo = Demo {
        beams,
        clock,
        names: HashMap::new(),
    };

    step("2. Your auth endpoint issues a Beams Token for alice");
    let alice = UserId::new("alice")?;
    let token = demo.beams.issue_token(&alice)?;
    let lifetime_h = (token.expires_at.as_unix_secs() - demo.clock.now().as_unix_secs()) / 3600;
    println!(
        "  expires at {} ({lifetime_h} h from now)",
        token.expires_at
    );
    println!("  response body: {}", serde_json::to_string(&token)?);

    step("3. alice's devices register their push tokens, one per platform");
    let iphone = demo.register("iPhone", Platform::Apns, APNS_TOKEN).await?;
    let pixel = demo.register("Pixel", Platform::Fcm, PIXEL_FCM).await?;
    let web_token = web_sdk_token();
    let browser = demo.register("browser", Platform::Web, &web_token).await?;

    step("4. Each presents alice's token; a third FCM device evicts the oldest");
    for device in [&iphone, &pixel, &browser] {
        demo.associate(device, &token.token).await?;
    }
    let tablet = demo.register("tablet", Platform::Fcm, TABLET_FCM).await?;
    demo.associate(&tablet, &token.token).await?;
    let galaxy = demo.register("Galaxy", Platform::Fcm, GALAXY_FCM).await?;
    demo.associate(&galaxy, &token.token).await?;

    step("5. The tablet, still alice's, presents bob's token");
    let bob_token = demo.beams.issue_token(&UserId::new("bob")?)?;
    match demo.associate(&tablet, &bob_token.token).await {
        Err(e @ BeamsError::UserMismatch { .. }) => println!("  refused: {e}"),
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("bob was given alice's tablet".into()),
    }

    step("6. Publish to alice; FCM says the tablet's token is dead");
    // The app was uninstalled: FCM will answer UNREGISTERED for the tablet's token.
    let dead = DeliveryOutcome::TokenDead {
        dead_since: None,
        reason: "UNREGISTERED".into(),
    };
    gateway.answer_for_token(&demo.beams.device(&tablet).await?.token, dead);
    let mut request = PublishRequest::to_users([alice.clone()])?;
    for platform in Platform::ALL {
        request = request.with_section(platform, notification(platform))?;
    }
    let report = demo.beams.publish(request).await?;
    println!(
        "  {} to {} devices",
        report.publish_id, report.devices_targeted
    );
    for recipient in gateway.sent() {
        println!("    sent to {}", demo.name(&recipient.device));
    }
    for (platform, counts) in report.platforms.iter() {
        println!(
            "  {platform}: {} delivered, {} invalidated (device removed)",
            counts.delivered, counts.invalidated
        );
    }

    step("7. The browser logs out, then alice deletes her account");
    let stopped = demo.beams.stop_device(&browser).await?;
    println!(
        "  stopped {} ({})",
        demo.name(&stopped.id),
        stopped.token.key()
    );
    for device in demo.beams.delete_user(&alice).await? {
        println!("  deleted {} with the user", demo.name(&device.id));
    }
    let left = demo.beams.store().devices_of_user(&alice).await?;
    println!("  alice now has {} devices", left.len());
    let pixel_user = demo.beams.device(&pixel).await?.user;
    println!("  the evicted Pixel is still registered, with user {pixel_user:?}");
    Ok(())
}

/// One gateway for every platform: the fake stands in for APNs, FCM and Web Push alike.
fn gateways(fake: &FakePushGateway) -> Gateways {
    Platform::ALL
        .into_iter()
        .fold(Gateways::new(), |gateways, platform| {
            gateways.with(platform, Arc::new(fake.clone()))
        })
}

/// The platform's section of a publish request, as a customer would send it.
fn notification(platform: Platform) -> serde_json::Value {
    let (title, body) = ("Hello", "Hello from beams");
    match platform {
        Platform::Apns => {
            serde_json::json!({ "aps": { "alert": { "title": title, "body": body } } })
        }
        Platform::Fcm | Platform::Web => {
            serde_json::json!({ "notification": { "title": title, "body": body } })
        }
    }
}

/// What the official web SDK registers: `btoa(JSON.stringify(pushSubscription))`.
fn web_sdk_token() -> String {
    let subscription = serde_json::json!({
        "endpoint": ENDPOINT,
        "expirationTime": null,
        "keys": { "p256dh": P256DH, "auth": AUTH },
    });
    base64::engine::general_purpose::STANDARD.encode(subscription.to_string())
}

fn step(title: &str) {
    println!("\n{title}");
}
