//! The FCM HTTP v1 gateway (service-account auth).
