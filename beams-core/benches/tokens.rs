//! What a Beams Token costs: issuing one, verifying one, and, as a baseline measured in the
//! same run, jsonwebtoken's own `decode` of the same token (signature and JSON only, no beams
//! checks). All ids are in the group `beams_token`; the figure the README quotes is the ratio
//! `verify_official_node_token` / `jsonwebtoken_decode_official_node_token`, on the token the
//! official Node SDK issues for `alice`.
//!
//! The clock is fixed at 1700000000 s, inside every token's validity, so each verifies.
//!
//! Run with `cargo bench -p beams-core --bench tokens`
//! (add `-- --warm-up-time 1 --measurement-time 3` for a short run).

use std::hint::black_box;
use std::sync::Arc;

use beams_core::{Clock, InstanceId, ManualClock, SecretKey, Timestamp, UserId};
use beams_core::{TokenIssuer, TokenVerifier};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

const INSTANCE: &str = "00000000-0000-0000-0000-000000000000";
const SECRET: &str = "SECRETKEY";
const NOW_SECS: i64 = 1_700_000_000;
const DAY_SECS: i64 = 24 * 60 * 60;
/// What the official Node SDK's `generateToken("alice")` returns for `INSTANCE` and `SECRET`
/// at `NOW_SECS`.
const NODE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMCwiaXNzIjoiaHR0cHM6Ly8wMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAucHVzaG5vdGlmaWNhdGlvbnMucHVzaGVyLmNvbSIsInN1YiI6ImFsaWNlIn0.5HBW7m3ZIeoM7UTDRWKxUiR2CFrLppb0XHc0A_Bz-E4";

/// The claims the baseline decodes into: the same fields beams reads.
#[derive(Deserialize)]
struct BaselineClaims {
    sub: String,
    iss: String,
    exp: i64,
    iat: Option<i64>,
}

/// Bare HS256 decoding: no time checks (the clock is fixed in the past) and no required claims.
fn baseline_validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation
}

fn beams_token(c: &mut Criterion) {
    let instance = InstanceId::new(INSTANCE).expect("bench instance id is valid");
    let secret = SecretKey::new(SECRET).expect("bench secret key is valid");
    let alice = UserId::new("alice").expect("bench user id is valid");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp::from_unix_secs(NOW_SECS)));
    let issuer = TokenIssuer::new(&instance, &secret).with_clock(Arc::clone(&clock));
    let verifier = TokenVerifier::new(&instance, &secret).with_clock(clock);
    let issued = issuer.issue(&alice).expect("issuing succeeds").token;

    let key = DecodingKey::from_secret(b"SECRETKEY");
    let validation = baseline_validation();

    // Checked once, outside the timed loops: both paths accept both tokens and agree on them.
    let issuer_claim = instance.token_issuer();
    for token in [issued.as_str(), NODE_TOKEN] {
        let verified = verifier
            .verify_for(token, &alice)
            .expect("the token verifies at the fixed clock");
        assert_eq!(verified.expires_at.as_unix_secs(), NOW_SECS + DAY_SECS);
        let claims = jsonwebtoken::decode::<BaselineClaims>(token, &key, &validation)
            .expect("the baseline decodes the token")
            .claims;
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.iss, issuer_claim);
        assert_eq!(claims.exp, NOW_SECS + DAY_SECS);
        assert_eq!(claims.iat, Some(NOW_SECS));
    }

    let mut group = c.benchmark_group("beams_token");
    group.bench_function("issue", |b| b.iter(|| issuer.issue(black_box(&alice))));
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify_for(black_box(&issued), black_box(&alice)))
    });
    group.bench_function("jsonwebtoken_decode_baseline", |b| {
        b.iter(|| jsonwebtoken::decode::<BaselineClaims>(black_box(&issued), &key, &validation))
    });
    group.bench_function("verify_official_node_token", |b| {
        b.iter(|| verifier.verify_for(black_box(NODE_TOKEN), black_box(&alice)))
    });
    group.bench_function("jsonwebtoken_decode_official_node_token", |b| {
        b.iter(|| jsonwebtoken::decode::<BaselineClaims>(black_box(NODE_TOKEN), &key, &validation))
    });
    group.finish();
}

criterion_group!(benches, beams_token);
criterion_main!(benches);
