//! Publishing to users: the request model, the fan-out with retries and dead-token cleanup,
//! the report, and the hooks around them.

mod breaker;
mod config;
pub(crate) mod fanout;
mod observer;
mod publication;
mod report;
mod request;
mod router;

pub use config::{BreakerPolicy, PublishConfig, RetryPolicy};
pub use observer::{DeliveryEvent, PublishObserver};
pub use publication::Publication;
pub use report::{DeviceReport, DeviceResult, PlatformReport, PublishReport, SkipReason};
pub use request::PublishRequest;
pub use router::GatewayRouter;
