//! Beams Tokens as devices present them: issued ones, edited ones, hand-made ones with every
//! claim and the header's algorithm chosen, and arbitrary text.
//!
//! Hand-made tokens are signed here (HMAC-SHA256 from aws-lc-rs, not the JWT library the
//! verifier uses), so a check can say which rule a token breaks before the verifier reads it.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use beams_core::token::MAX_TOKEN_BYTES;
use beams_core::{
    InstanceId, ManualClock, SecretKey, Timestamp, TokenError, TokenIssuer, TokenVerifier, UserId,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Map, Value};

use super::ids::{INSTANCE_ALPHABET, user_id, uuid};
use super::text::{Mutation, any_text, mutation, text_of};

/// An instance, its secret key, and the moment tokens are checked at.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The instance id.
    pub instance: String,
    /// The instance secret key.
    pub secret: String,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// How far clocks may disagree, in seconds.
    pub leeway: u32,
}

impl Setting {
    /// The `iss` of this instance's tokens, written out from the Beams Token rules.
    pub fn token_issuer(&self) -> String {
        format!("https://{}.pushnotifications.pusher.com", self.instance)
    }

    fn instance_and_secret(&self) -> Result<(InstanceId, SecretKey), TestCaseError> {
        let instance = InstanceId::new(self.instance.as_str()).map_err(fail)?;
        let secret = SecretKey::new(self.secret.as_str()).map_err(fail)?;
        Ok((instance, secret))
    }

    fn clock(at: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock::new(Timestamp::from_unix_secs(at)))
    }

    /// The verifier of this setting, at `now`.
    pub fn verifier(&self) -> Result<TokenVerifier, TestCaseError> {
        self.verifier_at(self.now)
    }

    /// The verifier of this setting, at `at` seconds since the epoch.
    pub fn verifier_at(&self, at: i64) -> Result<TokenVerifier, TestCaseError> {
        let (instance, secret) = self.instance_and_secret()?;
        Ok(TokenVerifier::new(&instance, &secret)
            .with_leeway(Duration::from_secs(u64::from(self.leeway)))
            .with_clock(Self::clock(at)))
    }

    /// The issuer of this setting, at `now`.
    pub fn issuer(&self) -> Result<TokenIssuer, TestCaseError> {
        let (instance, secret) = self.instance_and_secret()?;
        Ok(TokenIssuer::new(&instance, &secret).with_clock(Self::clock(self.now)))
    }
}

/// Settings: UUID or other instance ids, short or long keys, any time from 1970 to 2100, no
/// leeway to an hour of it.
pub fn setting() -> impl Strategy<Value = Setting> {
    (
        prop_oneof![
            uuid(),
            text_of(INSTANCE_ALPHABET, 1..=InstanceId::MAX_CHARS)
        ],
        proptest::collection::vec(proptest::char::range('!', '~'), 1..=64)
            .prop_map(String::from_iter),
        0..4_102_444_800_i64,
        prop_oneof![Just(30), 0..=3600_u32],
    )
        .prop_map(|(instance, secret, now, leeway)| Setting {
            instance,
            secret,
            now,
            leeway,
        })
}

/// A token issued in a setting, and how.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Where it was issued.
    pub setting: Setting,
    /// For whom.
    pub user: String,
    /// For how long, in seconds.
    pub lifetime: u64,
    /// Whether it carries `iat`.
    pub issued_at: bool,
}

/// Issued tokens: any user, lifetimes from a second to ten years, with and without `iat`.
pub fn issue() -> impl Strategy<Value = Issue> {
    (setting(), user_id(), 1..=315_360_000_u64, any::<bool>()).prop_map(
        |(setting, user, lifetime, issued_at)| Issue {
            setting,
            user,
            lifetime,
            issued_at,
        },
    )
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

fn issued(issue: &Issue) -> Result<(UserId, String), TestCaseError> {
    let user = UserId::new(issue.user.as_str()).map_err(fail)?;
    let token = issue
        .setting
        .issuer()?
        .with_lifetime(Duration::from_secs(issue.lifetime))
        .with_issued_at(issue.issued_at)
        .issue(&user)
        .map_err(fail)?;
    Ok((user, token.token))
}

/// An issued token verifies for its user until its expiry plus the leeway and not after,
/// names its expiry and issue time, and is refused for another user, with another key and
/// for another instance.
pub fn check_issued(issue: &Issue) -> TestCaseResult {
    let setting = &issue.setting;
    let (user, token) = issued(issue)?;
    let exp = setting.now + i64::try_from(issue.lifetime).map_err(fail)?;
    let verified = setting
        .verifier()?
        .verify_for(&token, &user)
        .map_err(fail)?;
    prop_assert_eq!(&verified.user, &user);
    prop_assert_eq!(verified.expires_at, Timestamp::from_unix_secs(exp));
    let issued_at = issue
        .issued_at
        .then(|| Timestamp::from_unix_secs(setting.now));
    prop_assert_eq!(verified.issued_at, issued_at);

    let last_second = exp + i64::from(setting.leeway) - 1;
    prop_assert!(setting.verifier_at(last_second)?.verify(&token).is_ok());
    prop_assert_eq!(
        setting.verifier_at(last_second + 1)?.verify(&token),
        Err(TokenError::Expired {
            expired_at: Timestamp::from_unix_secs(exp)
        })
    );

    let other = if issue.user == "someone" {
        "someone else"
    } else {
        "someone"
    };
    prop_assert_eq!(
        setting
            .verifier()?
            .verify_for(&token, &UserId::new(other).map_err(fail)?),
        Err(TokenError::WrongUser)
    );
    let other_key = Setting {
        secret: format!("{}x", setting.secret),
        ..setting.clone()
    };
    prop_assert_eq!(
        other_key.verifier()?.verify(&token),
        Err(TokenError::BadSignature)
    );
    let other_instance = Setting {
        instance: if setting.instance == "other" {
            "another"
        } else {
            "other"
        }
        .to_owned(),
        ..setting.clone()
    };
    // The key is the instance's secret alone, so the signature holds and `iss` decides.
    prop_assert_eq!(
        other_instance.verifier()?.verify(&token),
        Err(TokenError::WrongIssuer)
    );
    Ok(())
}

/// An issued token, edited.
pub fn edited_token() -> impl Strategy<Value = (Issue, Vec<Mutation>)> {
    (issue(), proptest::collection::vec(mutation(), 1..=3))
}

/// A token with any edit is refused unless the edits undid themselves, and never panics.
pub fn check_edited_token(issue: &Issue, mutations: &[Mutation]) -> TestCaseResult {
    let (user, token) = issued(issue)?;
    let edited = mutations
        .iter()
        .fold(token.clone(), |token, mutation| mutation.apply(&token));
    let verified = issue.setting.verifier()?.verify(&edited);
    if edited == token {
        prop_assert_eq!(verified.map(|v| v.user).map_err(fail)?, user);
    } else {
        prop_assert!(verified.is_err(), "an edited token verified: {edited}");
    }
    Ok(())
}

/// Which key signs a hand-made token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// The instance secret key.
    Right,
    /// Another key.
    WrongKey,
    /// Not base64 at all.
    Garbage,
}

/// One claim of a hand-made token.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Not in the token.
    Absent,
    /// This JSON value.
    Is(Value),
    /// Now plus this many seconds.
    FromNow(i64),
    /// The instance's own issuer.
    Issuer,
}

/// A hand-made token: the header's `alg`, each claim (absent, `null`, of the right type or
/// not), padding, and the signature.
#[derive(Debug, Clone)]
pub struct Crafted {
    /// Where it is checked.
    pub setting: Setting,
    /// The header's `alg`, or none.
    pub alg: Option<Value>,
    /// `iss`.
    pub iss: Claim,
    /// `sub`.
    pub sub: Claim,
    /// `exp`.
    pub exp: Claim,
    /// `iat`.
    pub iat: Claim,
    /// The length of an extra claim that makes the token large.
    pub padding: usize,
    /// How it is signed.
    pub signature: Signature,
}

/// A time relative to now: around now and the leeway, far off, or at the ends of `i64`.
fn time_claim() -> impl Strategy<Value = Claim> {
    prop_oneof![
        6 => (-4000..4000_i64).prop_map(Claim::FromNow),
        1 => any::<i64>().prop_map(|at| Claim::Is(Value::from(at))),
        1 => Just(Claim::Is(Value::from(i64::MAX))),
        1 => Just(Claim::Is(Value::from(i64::MIN))),
        1 => Just(Claim::Is(Value::from(u64::MAX))),
        1 => Just(Claim::Is(Value::from(1.7e9))),
        1 => Just(Claim::Is(Value::from("1700000000"))),
        1 => Just(Claim::Is(Value::Null)),
        2 => Just(Claim::Absent),
    ]
}

/// Hand-made tokens: mostly well-formed, each part sometimes wrong.
pub fn crafted() -> impl Strategy<Value = Crafted> {
    let alg = prop_oneof![
        8 => Just(Some(Value::from("HS256"))),
        1 => proptest::sample::select(&["none", "None", "HS384", "HS512", "RS256", "ES256", "hs256", ""][..])
            .prop_map(|alg| Some(Value::from(alg))),
        1 => Just(Some(Value::from(256))),
        1 => Just(None),
    ];
    let iss = prop_oneof![
        8 => Just(Claim::Issuer),
        1 => any_text(40).prop_map(|iss| Claim::Is(Value::from(iss))),
        1 => Just(Claim::Is(Value::from(5))),
        1 => Just(Claim::Is(Value::Null)),
        1 => Just(Claim::Absent),
    ];
    let sub = prop_oneof![
        8 => user_id().prop_map(|sub| Claim::Is(Value::from(sub))),
        1 => Just(Claim::Is(Value::from(""))),
        1 => Just(Claim::Is(Value::from("u".repeat(UserId::MAX_CHARS + 1)))),
        1 => Just(Claim::Is(Value::from(42))),
        1 => Just(Claim::Is(Value::Null)),
        1 => Just(Claim::Absent),
    ];
    let signature = prop_oneof![
        8 => Just(Signature::Right),
        1 => Just(Signature::WrongKey),
        1 => Just(Signature::Garbage),
    ];
    let padding = prop_oneof![4 => Just(0), 1 => 0..64_usize, 1 => 5900..6300_usize];
    (
        setting(),
        alg,
        iss,
        sub,
        time_claim(),
        time_claim(),
        padding,
        signature,
    )
        .prop_map(
            |(setting, alg, iss, sub, exp, iat, padding, signature)| Crafted {
                setting,
                alg,
                iss,
                sub,
                exp,
                iat,
                padding,
                signature,
            },
        )
}

impl Crafted {
    /// A claim's value in the token, if it has one.
    fn resolve(&self, claim: &Claim) -> Option<Value> {
        match claim {
            Claim::Absent => None,
            Claim::Is(value) => Some(value.clone()),
            Claim::FromNow(offset) => Some(Value::from(self.setting.now + offset)),
            Claim::Issuer => Some(Value::from(self.setting.token_issuer())),
        }
    }

    /// The token's text.
    pub fn token(&self) -> String {
        let mut header = Map::new();
        if let Some(alg) = &self.alg {
            header.insert("alg".into(), alg.clone());
        }
        header.insert("typ".into(), Value::from("JWT"));
        let mut claims = Map::new();
        for (name, claim) in [
            ("iss", &self.iss),
            ("sub", &self.sub),
            ("exp", &self.exp),
            ("iat", &self.iat),
        ] {
            if let Some(value) = self.resolve(claim) {
                claims.insert(name.into(), value);
            }
        }
        if self.padding > 0 {
            claims.insert("pad".into(), Value::from("p".repeat(self.padding)));
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signature = match self.signature {
            Signature::Right | Signature::WrongKey => {
                let key = match self.signature {
                    Signature::Right => self.setting.secret.clone(),
                    _ => format!("{}x", self.setting.secret),
                };
                let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
                URL_SAFE_NO_PAD.encode(hmac::sign(&key, signing_input.as_bytes()))
            }
            Signature::Garbage => "!!".to_owned(),
        };
        format!("{signing_input}.{signature}")
    }

    /// What the verifier must answer: the user, or the first rule the token breaks, in the
    /// order the verifier checks (size, header, algorithm, signature, claim types, `iss`,
    /// `sub`, `exp`, expiry, `iat`).
    pub fn expected(&self, token: &str) -> Result<String, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                max: MAX_TOKEN_BYTES,
                actual: token.len(),
            });
        }
        let malformed = TokenError::Malformed { reason: "" };
        match &self.alg {
            Some(Value::String(alg)) if alg == "HS256" => {}
            Some(Value::String(_)) => return Err(TokenError::WrongAlgorithm),
            _ => return Err(malformed),
        }
        match self.signature {
            Signature::Right => {}
            Signature::WrongKey => return Err(TokenError::BadSignature),
            Signature::Garbage => return Err(malformed),
        }
        let text = |claim| match self.resolve(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(malformed.clone()),
        };
        let time = |claim| match self.resolve(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or(malformed.clone()),
        };
        let (iss, sub) = (text(&self.iss)?, text(&self.sub)?);
        let (exp, iat) = (time(&self.exp)?, time(&self.iat)?);
        let iss = iss.ok_or(TokenError::MissingClaim { claim: "iss" })?;
        if iss != self.setting.token_issuer() {
            return Err(TokenError::WrongIssuer);
        }
        let sub = sub.ok_or(TokenError::MissingClaim { claim: "sub" })?;
        UserId::new(sub.as_str()).map_err(TokenError::InvalidSubject)?;
        let exp = exp.ok_or(TokenError::MissingClaim { claim: "exp" })?;
        let (now, leeway) = (self.setting.now, i64::from(self.setting.leeway));
        if now >= exp.saturating_add(leeway) {
            return Err(TokenError::Expired {
                expired_at: Timestamp::from_unix_secs(exp),
            });
        }
        if iat.is_some_and(|iat| iat > now + leeway) {
            return Err(TokenError::UsedBeforeIssued);
        }
        Ok(sub)
    }
}

/// A hand-made token gets exactly the verdict its parts call for; malformed ones are told
/// apart by kind only, since their reason is prose.
pub fn check_crafted(crafted: &Crafted) -> TestCaseResult {
    let token = crafted.token();
    let got = crafted.setting.verifier()?.verify(&token);
    match (got, crafted.expected(&token)) {
        (Ok(verified), Ok(user)) => prop_assert_eq!(verified.user.as_str(), user),
        (Err(TokenError::Malformed { .. }), Err(TokenError::Malformed { .. })) => {}
        (got, expected) => {
            let got = got.map(|verified| verified.user.into_string());
            prop_assert_eq!(got, expected, "{}", token);
        }
    }
    Ok(())
}

/// Text to present as a token: any text, dotted parts of base64 alphabet, and long text.
pub fn token_text() -> impl Strategy<Value = String> {
    let part = text_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/",
        0..=60,
    );
    prop_oneof![
        2 => any_text(120),
        2 => proptest::collection::vec(part, 1..=5).prop_map(|parts| parts.join(".")),
        1 => (MAX_TOKEN_BYTES - 2..=MAX_TOKEN_BYTES + 2).prop_map(|len| "a.b.".to_owned() + &"c".repeat(len - 4)),
    ]
}

/// Arbitrary text is never a valid token, and is refused as too large exactly when it is.
pub fn check_token_text(setting: &Setting, text: &str) -> TestCaseResult {
    let verified = setting.verifier()?.verify(text);
    prop_assert!(verified.is_err(), "{text:?} verified");
    prop_assert_eq!(
        matches!(verified, Err(TokenError::TooLarge { .. })),
        text.len() > MAX_TOKEN_BYTES
    );
    Ok(())
}
