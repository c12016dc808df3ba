//! The server end to end: a real server on 127.0.0.1 with an ephemeral port, a real HTTP
//! client, and a loopback push service that decrypts what it receives.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

mod support;

mod connections;
mod customer_api;
mod first_run;
mod flow;
mod hostile;
mod interests;
mod limits;
mod mobile_payloads;
mod mobile_sdks;
mod postgres;
mod push_services;
mod refusals;
mod reporting;
mod success;
mod tls;
