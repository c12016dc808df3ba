//! RFC 8291 message encryption: one aes128gcm record (RFC 8188) for a browser's keys.
//!
//! The primitives are aws-lc-rs's (ECDH P-256, HKDF-SHA-256, AES-128-GCM); this file only
//! composes them as the RFC says.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use beams_core::WebSubscription;

/// The record size written in the header; one record holds the whole message.
const RECORD_SIZE: u32 = 4096;
/// salt (16) + rs (4) + idlen (1) + keyid (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// AES-GCM tag.
const TAG_LEN: usize = 16;
/// The largest plaintext that fits one 4096-byte record: 4096 − header − tag − delimiter.
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext is larger than one record allows.
    #[error("payload of {actual} bytes exceeds the Web Push maximum of {max}")]
    TooLarge {
        /// The most allowed.
        max: usize,
        /// The payload's size.
        actual: usize,
    },
    /// The browser's public key is not a point on P-256.
    #[error("the subscription's p256dh key is not a valid P-256 point")]
    BadBrowserKey,
    /// The system random generator or a primitive failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

/// The sender-side secrets of one message: its ephemeral key and salt. Fresh for every
/// message; fixed only to reproduce the RFC's test vector.
pub(crate) struct MessageKeys {
    private: PrivateKey,
    salt: [u8; 16],
}

impl MessageKeys {
    /// A fresh ephemeral P-256 key and random salt.
    pub(crate) fn generate() -> Result<Self, EncryptError> {
        let private =
            PrivateKey::generate(&ECDH_P256).map_err(|_| EncryptError::Crypto("key generation"))?;
        let mut salt = [0; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| EncryptError::Crypto("random salt"))?;
        Ok(MessageKeys { private, salt })
    }

    /// Fixed keys, for known-answer tests.
    #[cfg(test)]
    pub(crate) fn fixed(private_scalar: &[u8], salt: [u8; 16]) -> Self {
        MessageKeys {
            private: PrivateKey::from_private_key(&ECDH_P256, private_scalar)
                .expect("a valid test scalar"),
            salt,
        }
    }
}

/// Encrypts `plaintext` for `subscription` with fresh keys.
pub fn encrypt(subscription: &WebSubscription, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    encrypt_with(subscription, plaintext, &MessageKeys::generate()?)
}

pub(crate) fn encrypt_with(
    subscription: &WebSubscription,
    plaintext: &[u8],
    keys: &MessageKeys,
) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::TooLarge {
            max: MAX_PLAINTEXT,
            actual: plaintext.len(),
        });
    }
    let sender_public = keys
        .private
        .compute_public_key()
        .map_err(|_| EncryptError::Crypto("public key"))?;
    let sender_public = sender_public.as_ref();
    let browser_public = subscription.p256dh();

    // RFC 8291 §3.3: combine the shared secret with the browser's auth secret.
    let peer = UnparsedPublicKey::new(&ECDH_P256, browser_public);
    let ikm = agreement::agree(&keys.private, peer, EncryptError::BadBrowserKey, |shared| {
        let prk = Salt::new(HKDF_SHA256, subscription.auth()).extract(shared);
        let mut info = Vec::with_capacity(14 + 65 + 65);
        info.extend_from_slice(b"WebPush: info\0");
        info.extend_from_slice(browser_public);
        info.extend_from_slice(sender_public);
        expand::<32>(&prk, &info)
    })?;

    // RFC 8188 §2.2: content-encryption key and nonce from the per-message salt.
    let prk = Salt::new(HKDF_SHA256, &keys.salt).extract(&ikm);
    let cek = expand::<16>(&prk, b"Content-Encoding: aes128gcm\0")?;
    let nonce = expand::<12>(&prk, b"Content-Encoding: nonce\0")?;

    let mut body = Vec::with_capacity(HEADER_LEN + plaintext.len() + 1 + TAG_LEN);
    body.extend_from_slice(&keys.salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(sender_public);

    let mut record = Vec::with_capacity(plaintext.len() + 1 + TAG_LEN);
    record.extend_from_slice(plaintext);
    // The last (and only) record ends with delimiter 0x02 and no further padding.
    record.push(0x02);
    let key = UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EncryptError::Crypto("aes key"))?;
    LessSafeKey::new(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut record,
        )
        .map_err(|_| EncryptError::Crypto("aes-gcm"))?;
    body.extend_from_slice(&record);
    Ok(body)
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &Prk, info: &[u8]) -> Result<[u8; N], EncryptError> {
    let mut out = [0; N];
    prk.expand(&[info], Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| EncryptError::Crypto("hkdf"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use beams_core::EndpointRules;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).expect("test vector is base64url")
    }

    /// RFC 8291 Appendix A, byte for byte.
    #[test]
    fn reproduces_the_rfc_8291_example() {
        let subscription = WebSubscription::from_parts(
            "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
            EndpointRules::default(),
        )
        .expect("the RFC's subscription is valid");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let keys = MessageKeys::fixed(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"), salt);

        let body = encrypt_with(
            &subscription,
            b"When I grow up, I want to be a watermelon",
            &keys,
        )
        .expect("encrypts");

        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn the_largest_plaintext_fills_exactly_one_record() {
        let subscription = crate::web_push::tests_support::subscription();
        let body = encrypt(&subscription, &vec![7; MAX_PLAINTEXT]).expect("fits");
        assert_eq!(body.len(), 4096);
        assert_eq!(MAX_PLAINTEXT, 3993);
        let err = encrypt(&subscription, &vec![7; MAX_PLAINTEXT + 1]).unwrap_err();
        assert_eq!(
            err,
            EncryptError::TooLarge {
                max: 3993,
                actual: 3994
            }
        );
    }

    #[test]
    fn every_message_has_fresh_keys_and_salt() {
        let subscription = crate::web_push::tests_support::subscription();
        let a = encrypt(&subscription, b"same").expect("encrypts");
        let b = encrypt(&subscription, b"same").expect("encrypts");
        assert_ne!(a[..16], b[..16], "salt");
        assert_ne!(a[21..86], b[21..86], "ephemeral key");
    }
}
