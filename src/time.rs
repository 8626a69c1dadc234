//! Times as people write them, turned into Unix milliseconds (the time half of an entry ID):
//! `--reset-to` and the time column of `producer --from` read them.
//!
//! Without a pattern a time is ISO 8601/RFC 3339 with or without a zone (`2018-08-15T12:00:00Z`,
//! `2018-08-15 14:00:00.250+02:00`, `2018-08-15T12:00`), a bare date (its midnight), or integer
//! Unix milliseconds. A time without a zone is UTC. With a pattern (chrono's strftime, e.g.
//! `%Y/%m/%d %H:%M`) only the pattern is tried.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The zone-less ISO 8601 forms, tried in order (`%.f` also takes no fraction).
const NAIVE_FORMS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Unix milliseconds of an ISO 8601 time or of integer milliseconds; `None` when `text` is
/// neither. May be negative (before 1970): the caller says why that is refused.
pub fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    let naive = NAIVE_FORMS
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(text, form).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })?;
    Some(naive.and_utc().timestamp_millis())
}

/// Unix milliseconds of `text` read with the strftime `pattern`: with a zone (`%z`, `%:z`) when
/// the pattern has one, else as UTC; a pattern of only a date gives its midnight. The error says
/// why chrono refused it.
pub fn parse_with(text: &str, pattern: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_str(text, pattern) {
        return Ok(time.timestamp_millis());
    }
    match NaiveDateTime::parse_from_str(text, pattern) {
        Ok(time) => Ok(time.and_utc().timestamp_millis()),
        Err(err) => NaiveDate::parse_from_str(text, pattern)
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .ok_or_else(|| err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_534_334_400_000;

    /// Every ISO form, with or without zone and fraction, and milliseconds, meet at the same
    /// instant; a zone-less time is UTC.
    #[test]
    fn iso_forms_and_milliseconds() {
        for text in [
            "2018-08-15T12:00:00Z",
            "2018-08-15T14:00:00+02:00",
            "2018-08-15T12:00:00",
            "2018-08-15 12:00:00",
            "2018-08-15T12:00:00.000",
            "2018-08-15T12:00",
            " 1534334400000 ",
        ] {
            assert_eq!(parse_iso(text), Some(NOON), "{text}");
        }
        assert_eq!(parse_iso("2018-08-15T12:00:00.250Z"), Some(NOON + 250));
        assert_eq!(parse_iso("2018-08-15"), Some(NOON - 43_200_000));
        assert_eq!(parse_iso("-5"), Some(-5));
        assert_eq!(parse_iso("noon"), None);
        assert_eq!(parse_iso(""), None);
        assert_eq!(parse_iso("2018-13-01T00:00:00Z"), None);
    }

    /// A pattern reads zone-less times as UTC, zoned ones by their zone, dates as midnight.
    #[test]
    fn patterns() {
        assert_eq!(parse_with("2018/08/15 12:00", "%Y/%m/%d %H:%M"), Ok(NOON));
        assert_eq!(
            parse_with("15.08.2018 14:00 +0200", "%d.%m.%Y %H:%M %z"),
            Ok(NOON)
        );
        assert_eq!(parse_with("15/08/2018", "%d/%m/%Y"), Ok(NOON - 43_200_000));
        assert_eq!(parse_with("1534334400", "%s"), Ok(NOON));
        assert!(parse_with("2018-08-15", "%Y/%m/%d").is_err());
    }
}
