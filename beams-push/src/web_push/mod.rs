//! The Web Push gateway (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID).
