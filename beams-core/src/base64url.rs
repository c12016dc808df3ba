//! Lenient base64 decoding for values that clients encode in differing ways.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);

/// URL-safe alphabet, unpadded output; decoding accepts padding or not.
pub(crate) const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// Decodes base64 in either alphabet, padded or not: browsers give keys URL-safe and
/// unpadded, `btoa` gives standard and padded, and both reach us.
pub(crate) fn decode_any(input: &str) -> Option<Vec<u8>> {
    URL_SAFE
        .decode(input)
        .or_else(|_| STANDARD.decode(input))
        .ok()
}

/// Encodes URL-safe without padding, the form Web Push uses for keys.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}
