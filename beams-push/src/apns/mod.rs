//! The APNs gateway (HTTP/2 provider API with token auth).
