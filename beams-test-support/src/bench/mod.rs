//! What the benches share: the publishing harness and the Device Interests benchmark.

pub mod harness;
pub mod interest_fanout;
