//! Beams Tokens: the official SDKs' tokens verify, and every refusal names its reason.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop at the first surprise"
)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use beams_core::{
    Clock, InstanceId, ManualClock, SecretKey, Timestamp, TokenError, TokenIssuer, TokenVerifier,
    UserId,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const INSTANCE: &str = "00000000-0000-0000-0000-000000000000";
const ISSUER: &str = "https://00000000-0000-0000-0000-000000000000.pushnotifications.pusher.com";
const SECRET: &str = "SECRETKEY";
const ISSUED: i64 = 1_700_000_000;
const EXPIRES: i64 = 1_700_086_400;
/// Made by the official Node server SDK (`iat` included).
const NODE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDA4NjQwMCwiaXNzIjoiaHR0cHM6Ly8wMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAucHVzaG5vdGlmaWNhdGlvbnMucHVzaGVyLmNvbSIsInN1YiI6ImFsaWNlIn0.5HBW7m3ZIeoM7UTDRWKxUiR2CFrLppb0XHc0A_Bz-E4";
/// Made by the official Python server SDK (no `iat`).
const PYTHON_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovLzAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMC5wdXNobm90aWZpY2F0aW9ucy5wdXNoZXIuY29tIiwic3ViIjoiYWxpY2UiLCJleHAiOjE3MDAwODY0MDB9.MICrzgz_VODhi54_bgNPuEKxnO1Akvxpu-o-v6Oc-Qs";

fn alice() -> UserId {
    UserId::new("alice").unwrap()
}

fn verifier_at(secs: i64, leeway: Duration) -> TokenVerifier {
    let clock = ManualClock::new(Timestamp::from_unix_secs(secs));
    TokenVerifier::new(
        &InstanceId::new(INSTANCE).unwrap(),
        &SecretKey::new(SECRET).unwrap(),
    )
    .with_clock(Arc::new(clock))
    .with_leeway(leeway)
}

fn verifier() -> TokenVerifier {
    verifier_at(ISSUED + 60, Duration::ZERO)
}

fn sign(claims: Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn good_claims() -> Value {
    json!({"sub": "alice", "iss": ISSUER, "exp": EXPIRES, "iat": ISSUED})
}

#[test]
fn official_node_and_python_tokens_verify_within_their_lifetime() {
    for token in [NODE_TOKEN, PYTHON_TOKEN] {
        for now in [ISSUED, ISSUED + 43_200, EXPIRES - 1] {
            let verified = verifier_at(now, Duration::ZERO)
                .verify_for(token, &alice())
                .unwrap();
            assert_eq!(verified.user, alice());
            assert_eq!(verified.expires_at, Timestamp::from_unix_secs(EXPIRES));
        }
    }
    let node = verifier().verify(NODE_TOKEN).unwrap();
    assert_eq!(node.issued_at, Some(Timestamp::from_unix_secs(ISSUED)));
    assert_eq!(verifier().verify(PYTHON_TOKEN).unwrap().issued_at, None);
}

#[test]
fn official_tokens_are_refused_after_their_expiry() {
    for token in [NODE_TOKEN, PYTHON_TOKEN] {
        let err = verifier_at(EXPIRES, Duration::ZERO)
            .verify(token)
            .unwrap_err();
        assert_eq!(
            err,
            TokenError::Expired {
                expired_at: Timestamp::from_unix_secs(EXPIRES)
            }
        );
        // The leeway tolerates clock skew, and no more.
        let leeway = Duration::from_secs(30);
        assert!(verifier_at(EXPIRES + 29, leeway).verify(token).is_ok());
        assert!(verifier_at(EXPIRES + 30, leeway).verify(token).is_err());
    }
}

#[test]
fn node_token_used_before_it_was_issued_is_refused() {
    let err = verifier_at(ISSUED - 31, Duration::from_secs(30))
        .verify(NODE_TOKEN)
        .unwrap_err();
    assert_eq!(err, TokenError::UsedBeforeIssued);
    assert!(
        verifier_at(ISSUED - 30, Duration::from_secs(30))
            .verify(NODE_TOKEN)
            .is_ok()
    );
}

#[test]
fn alg_none_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good_claims().to_string());
    for signature in ["", "AAAA"] {
        let token = format!("{header}.{payload}.{signature}");
        assert_eq!(
            verifier().verify(&token).unwrap_err(),
            TokenError::WrongAlgorithm
        );
    }
}

#[test]
fn other_algorithms_are_refused() {
    let hs384 = sign(good_claims(), SECRET, Algorithm::HS384);
    assert_eq!(
        verifier().verify(&hs384).unwrap_err(),
        TokenError::WrongAlgorithm
    );

    // An RS256 header over an HMAC signature: the classic key-confusion attempt.
    let hs256 = sign(good_claims(), SECRET, Algorithm::HS256);
    let (_, rest) = hs256.split_once('.').unwrap();
    let rs256 = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#)
    );
    assert_eq!(
        verifier().verify(&rs256).unwrap_err(),
        TokenError::WrongAlgorithm
    );
}

#[test]
fn tampered_payload_is_refused() {
    let parts: Vec<&str> = NODE_TOKEN.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("mallory");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        verifier().verify(&forged).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn wrong_secret_is_refused() {
    let token = sign(good_claims(), "NOTTHESECRET", Algorithm::HS256);
    assert_eq!(
        verifier().verify(&token).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn another_instances_issuer_is_refused() {
    let mut claims = good_claims();
    claims["iss"] =
        json!("https://11111111-0000-0000-0000-000000000000.pushnotifications.pusher.com");
    let token = sign(claims, SECRET, Algorithm::HS256);
    assert_eq!(
        verifier().verify(&token).unwrap_err(),
        TokenError::WrongIssuer
    );
}

#[test]
fn token_for_another_user_is_refused() {
    let bob = UserId::new("bob").unwrap();
    assert_eq!(
        verifier().verify_for(NODE_TOKEN, &bob).unwrap_err(),
        TokenError::WrongUser
    );
}

#[test]
fn subject_must_be_a_valid_user_id() {
    for sub in [String::new(), "x".repeat(165)] {
        let mut claims = good_claims();
        claims["sub"] = json!(sub);
        let token = sign(claims, SECRET, Algorithm::HS256);
        assert!(
            matches!(
                verifier().verify(&token),
                Err(TokenError::InvalidSubject(_))
            ),
            "sub of {} characters",
            sub.chars().count()
        );
    }
    let mut claims = good_claims();
    claims["sub"] = json!("é".repeat(164));
    assert!(
        verifier()
            .verify(&sign(claims, SECRET, Algorithm::HS256))
            .is_ok()
    );
}

#[test]
fn missing_claims_are_named() {
    for claim in ["exp", "sub", "iss"] {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let token = sign(claims, SECRET, Algorithm::HS256);
        assert_eq!(
            verifier().verify(&token).unwrap_err(),
            TokenError::MissingClaim { claim },
        );
    }
}

#[test]
fn far_future_expiry_and_absent_iat_are_accepted() {
    // The Python SDK's expiry depends on the server's time zone: no cap on exp - now.
    let claims = json!({"sub": "alice", "iss": ISSUER, "exp": 32_503_680_000_i64});
    assert!(
        verifier()
            .verify(&sign(claims, SECRET, Algorithm::HS256))
            .is_ok()
    );
}

#[test]
fn garbage_is_malformed_and_never_panics() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let inputs = [
        String::new(),
        "garbage".into(),
        "a.b.c".into(),
        "..".into(),
        "....".into(),
        format!("{header}.!!!.sig"),
        format!("{header}.{}.sig", URL_SAFE_NO_PAD.encode("[1,2,3]")),
        format!(
            "{header}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"exp":"soon"}"#)
        ),
        "\u{0}\u{ffff}.é.☃".into(),
    ];
    for input in &inputs {
        let err = verifier().verify(input).unwrap_err();
        assert!(
            matches!(err, TokenError::Malformed { .. } | TokenError::BadSignature),
            "{input:?} gave {err:?}"
        );
    }
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    let huge = "a".repeat(beams_core::token::MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        verifier().verify(&huge),
        Err(TokenError::TooLarge { .. })
    ));
}

#[test]
fn issued_tokens_have_the_official_shape() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_secs(ISSUED)));
    let issuer = TokenIssuer::new(
        &InstanceId::new(INSTANCE).unwrap(),
        &SecretKey::new(SECRET).unwrap(),
    )
    .with_clock(clock.clone());
    let issued = issuer.issue(&alice()).unwrap();
    assert_eq!(issued.expires_at, Timestamp::from_unix_secs(EXPIRES));
    assert_eq!(
        serde_json::to_value(&issued).unwrap(),
        json!({"token": issued.token})
    );

    let parts: Vec<&str> = issued.token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims, good_claims());
    // Same claims and key as the Node SDK: the very same token.
    assert_eq!(
        verifier().verify(&issued.token).unwrap(),
        verifier().verify(NODE_TOKEN).unwrap()
    );

    let without_iat = issuer
        .with_issued_at(false)
        .with_lifetime(Duration::from_secs(60))
        .issue(&alice())
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(without_iat.token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims,
        json!({"sub": "alice", "iss": ISSUER, "exp": ISSUED + 60})
    );
    assert_eq!(clock.now(), Timestamp::from_unix_secs(ISSUED));
}

#[test]
fn secret_never_shows_in_debug() {
    let instance = InstanceId::new(INSTANCE).unwrap();
    let secret = SecretKey::new("super-secret-value").unwrap();
    let issuer = TokenIssuer::new(&instance, &secret);
    let verifier = TokenVerifier::new(&instance, &secret);
    for shown in [format!("{issuer:?}"), format!("{verifier:?}")] {
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(!shown.contains("115, 117, 112"), "{shown}");
    }
}
