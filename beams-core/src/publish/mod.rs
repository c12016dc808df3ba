//! Publishing: the request model and its target, the fan-out with retries and dead-token
//! cleanup, the gateways it sends through, the report, and the hooks around them.

mod accepting;
mod breaker;
mod config;
pub(crate) mod fanout;
mod gateways;
mod observer;
mod progress;
mod publication;
mod pusher_data;
mod report;
mod request;
mod target;

pub use accepting::JournalConfig;
pub use config::{BreakerPolicy, PublishConfig, RetryPolicy};
pub use gateways::Gateways;
pub use observer::{DeliveryEvent, PublishObserver};
pub use publication::Publication;
pub use report::{DeviceReport, DeviceResult, PlatformReport, PublishReport, SkipReason};
pub use request::PublishRequest;
pub use target::{PublishTarget, PublishTargetKind};
