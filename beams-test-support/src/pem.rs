//! Certificates as PEM text, for the files a server's flags name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The DER certificate `der` as one PEM block, 64 base64 characters a line.
///
/// ```
/// let pem = beams_test_support::pem::certificate_pem(&[1, 2, 3]);
/// assert_eq!(pem, "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n");
/// ```
pub fn certificate_pem(der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        // Base64 is ASCII, so every chunk is text.
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
