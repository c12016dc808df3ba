//! `Retry-After` as push services send it: delay-seconds of any size, HTTP dates in the
//! three forms a recipient must read, and anything else, read by the function every
//! beams-push gateway uses (through its `fuzzing` feature).

use std::time::Duration;

use beams_core::Timestamp;
use beams_push::fuzzing;
use http::{HeaderMap, HeaderValue, header::RETRY_AFTER};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::text::{any_text, text_of};

/// The first second of the year 10000, past the last date an HTTP date can name.
const YEAR_10000: i64 = 253_402_300_800;

/// The three forms of an HTTP date (RFC 9110 §5.6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateForm {
    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    Imf,
    /// `Sunday, 06-Nov-94 08:49:37 GMT`
    Rfc850,
    /// `Sun Nov  6 08:49:37 1994`
    Asctime,
}

/// A `Retry-After` value and what it means.
#[derive(Debug, Clone)]
pub enum RetryAfter {
    /// Delay-seconds: digits (possibly more than a `u64` holds), with white space around.
    Seconds {
        /// The digits.
        digits: String,
        /// White space before and after.
        padding: (String, String),
    },
    /// An HTTP date, `secs` after the epoch.
    Date {
        /// The date, in seconds since the epoch.
        secs: i64,
        /// How it is written.
        form: DateForm,
    },
    /// Anything else.
    Text(String),
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `secs` (from 1970 to 9999) written as an HTTP date, from the calendar walked a year and a
/// month at a time, not from the parser's own library.
pub fn http_date(secs: i64, form: DateForm) -> String {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (hour, minute, second) = (in_day / 3600, in_day % 3600 / 60, in_day % 60);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)];
    let (year, month, day) = date_of(days);
    let month = MONTHS[month];
    let short = &weekday[..3];
    match form {
        DateForm::Imf => {
            format!("{short}, {day:02} {month} {year} {hour:02}:{minute:02}:{second:02} GMT")
        }
        DateForm::Rfc850 => format!(
            "{weekday}, {day:02}-{month}-{:02} {hour:02}:{minute:02}:{second:02} GMT",
            year % 100
        ),
        DateForm::Asctime => {
            format!("{short} {month} {day:>2} {hour:02}:{minute:02}:{second:02} {year}")
        }
    }
}

/// The year, month (0-based) and day of the month `days` (at least 0) after 1970-01-01,
/// walked a year and then a month at a time: slow and plain, so it shares nothing with the
/// date arithmetic under test.
fn date_of(mut days: i64) -> (i64, usize, i64) {
    let leap = |year: i64| (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let lengths = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while month < 11 && days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    (year, month, days + 1)
}

impl RetryAfter {
    /// The header's text.
    pub fn text(&self) -> String {
        match self {
            RetryAfter::Seconds {
                digits,
                padding: (before, after),
            } => format!("{before}{digits}{after}"),
            RetryAfter::Date { secs, form } => http_date(*secs, *form),
            RetryAfter::Text(text) => text.clone(),
        }
    }
}

/// `Retry-After` values: seconds of any size, dates in every form from 1970 to 9999 (a
/// two-digit year only within 1970 to 2069, where it is unambiguous), and other text.
pub fn header() -> impl Strategy<Value = RetryAfter> {
    let blank = text_of(" \t", 0..=2);
    let digits = prop_oneof![
        4 => any::<u64>().prop_map(|n| n.to_string()),
        1 => text_of("0123456789", 1..=40),
    ];
    let seconds =
        (digits, blank.clone(), blank).prop_map(|(digits, before, after)| RetryAfter::Seconds {
            digits,
            padding: (before, after),
        });
    let date = prop_oneof![
        (
            0..YEAR_10000,
            prop_oneof![Just(DateForm::Imf), Just(DateForm::Asctime)]
        ),
        (0..3_155_760_000_i64, Just(DateForm::Rfc850)),
    ]
    .prop_map(|(secs, form)| RetryAfter::Date { secs, form });
    prop_oneof![
        3 => seconds,
        3 => date,
        2 => any_text(40).prop_map(RetryAfter::Text),
        1 => proptest::sample::select(&["-5", "1.5", "+3", "0x10", "1e3", "Sun, 06 Nov 1994 25:49:37 GMT", "Mon, 06 Nov 1994 08:49:37 GMT"][..])
            .prop_map(|text| RetryAfter::Text(text.to_owned())),
    ]
}

/// Now: any millisecond from before 1970 to past 9999, and the ends of the range.
pub fn now() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        6 => (-1_000_000_000_000_i64..300_000_000_000_000).prop_map(Timestamp::from_unix_millis),
        1 => Just(Timestamp::from_unix_millis(i64::MIN)),
        1 => Just(Timestamp::from_unix_millis(i64::MAX)),
    ]
}

/// Delay-seconds read as written (more digits than a `u64` holds saturate), a date as the
/// time from `now` until it (none once past), and a date never asks to wait past the year
/// 9999; the header map gives the same reading as its value, and a value that is not text
/// gives none.
pub fn check_retry_after(value: &RetryAfter, now: Timestamp) -> TestCaseResult {
    let text = value.text();
    let read = fuzzing::parse_retry_after(&text, now);
    match value {
        RetryAfter::Seconds { digits, .. } => {
            let secs = digits.parse::<u64>().unwrap_or(u64::MAX);
            prop_assert_eq!(read, Some(Duration::from_secs(secs)));
        }
        RetryAfter::Date { secs, .. } => {
            let wait = secs
                .saturating_mul(1000)
                .saturating_sub(now.as_unix_millis())
                .max(0);
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            prop_assert_eq!(read, Some(wait), "{}", text);
        }
        RetryAfter::Text(_) => {
            let trimmed = text.trim();
            if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                prop_assert!(read.is_some());
            } else if let Some(wait) = read {
                let latest = YEAR_10000
                    .saturating_mul(1000)
                    .saturating_sub(now.as_unix_millis())
                    .max(0);
                prop_assert!(
                    wait <= Duration::from_millis(u64::try_from(latest).unwrap_or(0)),
                    "{text:?} waits {wait:?}"
                );
            }
        }
    }
    let mut headers = HeaderMap::new();
    if let Ok(header) = HeaderValue::from_str(&text) {
        headers.insert(RETRY_AFTER, header);
        prop_assert_eq!(fuzzing::retry_after(&headers, now), read);
    }
    Ok(())
}

/// Header bytes that are not text (`obs-text`) give no wait.
pub fn check_retry_after_bytes(bytes: &[u8], now: Timestamp) -> TestCaseResult {
    let Ok(header) = HeaderValue::from_bytes(bytes) else {
        return Ok(());
    };
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, header.clone());
    let read = fuzzing::retry_after(&headers, now);
    match header.to_str() {
        Ok(text) => prop_assert_eq!(read, fuzzing::parse_retry_after(text, now)),
        Err(_) => prop_assert_eq!(read, None),
    }
    Ok(())
}
