//! The `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP date, in any of the
//! three date formats a recipient must accept (`httpdate` reads them all).

use std::time::Duration;

use beams_core::Timestamp;
use http::HeaderMap;

/// How long `headers` ask to wait from `now`, if they say so in a form we understand.
pub(crate) fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// How long `value` asks to wait from `now`; `None` if it does not parse. A date in the past
/// means no wait.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = Timestamp::from(httpdate::parse_http_date(value).ok()?);
    let millis = at.as_unix_millis().saturating_sub(now.as_unix_millis());
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// 1994-11-06T08:49:37Z, the RFC's example date.
    const RFC_EXAMPLE: i64 = 784_111_777;

    #[test]
    fn delay_seconds_are_read_as_is() {
        let now = Timestamp::from_unix_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn all_three_date_formats_are_a_wait_from_now() {
        let now = Timestamp::from_unix_secs(RFC_EXAMPLE - 90);
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(90)),
                "{date}"
            );
        }
        let later = Timestamp::from_unix_secs(RFC_EXAMPLE + 5);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_is_not_a_wait() {
        let now = Timestamp::UNIX_EPOCH;
        for bad in [
            "",
            "-5",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn the_header_is_read_from_a_map() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, Timestamp::UNIX_EPOCH), None);
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            retry_after(&headers, Timestamp::UNIX_EPOCH),
            Some(Duration::from_secs(7))
        );
    }
}
