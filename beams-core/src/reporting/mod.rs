//! The reporting API's model: the delivery and open events client SDKs send
//! ([`ReportEvent`]), and the bounded per-publish counts kept from them ([`EventLedger`]).
//!
//! Every official client SDK reports on the notifications it receives:
//! `POST /reporting_api/v2/instances/{instance}/events` with
//! `{event, publishId, deviceId, userId?, timestampSecs, appInBackground?,
//! hasDisplayableContent?, hasData?}`, where `event` is `delivery` / `open` from the web
//! service worker and `Delivery` / `Open` from iOS and Android.

mod event;
mod ledger;

pub use event::{EventKind, ReportEvent};
pub use ledger::{Classified, EventCounts, EventLedger, LedgerLimits, Recorded};
