//! `Webhook-Signature`: the hex HMAC-SHA1 of the exact body bytes, keyed with the webhook's
//! secret.

use aws_lc_rs::hmac;

/// Signs a webhook body as Beams does: lowercase hex of HMAC-SHA1(`secret`, `body`), the
/// value of the `Webhook-Signature` header.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, body);
    tag.as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `signature` (a `Webhook-Signature` header value: hex, either case, surrounding
/// spaces ignored) is the signature of `body` under `secret`. The comparison takes the same
/// time wherever the first wrong byte is, so a receiver calling this tells a forger nothing.
/// Pass the body exactly as received, before any JSON parsing.
///
/// ```
/// use beams_core::webhooks::{sign_webhook, verify_webhook_signature};
///
/// let secret = b"the webhook's secret";
/// let body = br#"{"payload":{},"metadata":{},"custom_data":{}}"#;
/// let header = sign_webhook(secret, body);
/// assert!(verify_webhook_signature(secret, body, &header));
/// assert!(!verify_webhook_signature(secret, b"{}", &header));
/// assert!(!verify_webhook_signature(b"another secret", body, &header));
/// ```
pub fn verify_webhook_signature(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(tag) = decode_hex(signature.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    hmac::verify(&key, body, &tag).is_ok()
}

/// The bytes of an even-length hex string, or `None`.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{sign_webhook, verify_webhook_signature};

    /// SHA-1 (FIPS 180-4) and HMAC (RFC 2104) written out here, apart from the crypto library
    /// the product signs with, so the two check each other.
    mod reference {
        fn sha1(message: &[u8]) -> [u8; 20] {
            let mut h: [u32; 5] = [
                0x6745_2301,
                0xEFCD_AB89,
                0x98BA_DCFE,
                0x1032_5476,
                0xC3D2_E1F0,
            ];
            let mut data = message.to_vec();
            let bits = (message.len() as u64).wrapping_mul(8);
            data.push(0x80);
            while data.len() % 64 != 56 {
                data.push(0);
            }
            data.extend_from_slice(&bits.to_be_bytes());
            for block in data.chunks(64) {
                let mut w = [0u32; 80];
                for (i, word) in block.chunks(4).enumerate() {
                    w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
                }
                for i in 16..80 {
                    w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
                }
                let [mut a, mut b, mut c, mut d, mut e] = h;
                for (i, wi) in w.iter().enumerate() {
                    let (f, k) = match i {
                        0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                        20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                        40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                        _ => (b ^ c ^ d, 0xCA62_C1D6),
                    };
                    let t = a
                        .rotate_left(5)
                        .wrapping_add(f)
                        .wrapping_add(e)
                        .wrapping_add(k)
                        .wrapping_add(*wi);
                    (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
                }
                for (state, add) in h.iter_mut().zip([a, b, c, d, e]) {
                    *state = state.wrapping_add(add);
                }
            }
            let mut out = [0u8; 20];
            for (chunk, word) in out.chunks_mut(4).zip(h) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        }

        pub(super) fn hmac_sha1_hex(key: &[u8], message: &[u8]) -> String {
            let mut block = [0u8; 64];
            if key.len() > 64 {
                block[..20].copy_from_slice(&sha1(key));
            } else {
                block[..key.len()].copy_from_slice(key);
            }
            let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
            let mut inner = pad(0x36);
            inner.extend_from_slice(message);
            let mut outer = pad(0x5c);
            outer.extend_from_slice(&sha1(&inner));
            sha1(&outer).iter().map(|b| format!("{b:02x}")).collect()
        }
    }

    #[test]
    fn the_reference_matches_rfc_2202() {
        // RFC 2202, test cases 1, 2 and 6 (a key longer than a block).
        assert_eq!(
            reference::hmac_sha1_hex(&[0x0b; 20], b"Hi There"),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            reference::hmac_sha1_hex(b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            reference::hmac_sha1_hex(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn signatures_match_the_reference_for_every_size() {
        for len in [0, 1, 55, 56, 63, 64, 65, 1000] {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for secret in [&b""[..], b"s", &[0x5a; 64], &[0x33; 100]] {
                assert_eq!(
                    sign_webhook(secret, &body),
                    reference::hmac_sha1_hex(secret, &body),
                    "body of {len} bytes, secret of {} bytes",
                    secret.len()
                );
            }
        }
    }

    #[test]
    fn verification_accepts_the_signature_in_either_case_and_nothing_else() {
        let (secret, body) = (b"secret".as_slice(), b"{\"payload\":{}}".as_slice());
        let signature = sign_webhook(secret, body);
        assert!(verify_webhook_signature(secret, body, &signature));
        assert!(verify_webhook_signature(
            secret,
            body,
            &signature.to_uppercase()
        ));
        assert!(verify_webhook_signature(
            secret,
            body,
            &format!(" {signature}\n")
        ));
        let mut flipped = signature.clone().into_bytes();
        flipped[39] = if flipped[39] == b'0' { b'1' } else { b'0' };
        for wrong in [
            String::from_utf8(flipped).expect("hex"),
            signature[..38].to_owned(),
            format!("{signature}00"),
            "zz".repeat(20),
            String::new(),
            "é".repeat(20),
        ] {
            assert!(!verify_webhook_signature(secret, body, &wrong), "{wrong:?}");
        }
        assert!(!verify_webhook_signature(b"other", body, &signature));
        assert!(!verify_webhook_signature(
            secret,
            b"{\"payload\": {}}",
            &signature
        ));
    }
}
