//! `--from` / `--to`: where a range starts and ends, as a person would say it.
//!
//! ```text
//! 1534291200000-0          a full entry ID
//! 1534291200000            a Unix time in milliseconds (every sequence number within it)
//! 2018-08-15T12:00:00Z     an ISO 8601 time (UTC when no offset is given; a date alone is
//! 2018-08-15               its midnight, UTC)
//! - / +                    the start / end of the stream
//! ```
//!
//! Milliseconds and times are passed to XRANGE as bare milliseconds, which Redis reads as the
//! first sequence number for a start and the last one for an end: `--to 12:00:00` includes every
//! sensor's reading at noon.

use crate::stream_id::StreamId;

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The start or end of the stream (`-` / `+`, or no flag).
    Open,
    /// An exact entry ID.
    Id(StreamId),
    /// A millisecond: every entry ID within it.
    Ms(u64),
}

impl Bound {
    /// Parses a full ID, milliseconds, an ISO 8601 time, `-` or `+`.
    pub fn parse(text: &str) -> Result<Bound, String> {
        let text = text.trim();
        if text == "-" || text == "+" {
            return Ok(Bound::Open);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(Bound::Ms).map_err(|_| invalid(text));
        }
        if let Ok(id) = text.parse::<StreamId>() {
            return Ok(Bound::Id(id));
        }
        let ms = crate::time::parse_iso(text).ok_or_else(|| invalid(text))?;
        u64::try_from(ms)
            .map(Bound::Ms)
            .map_err(|_| format!("'{text}' is before 1970, and stream IDs cannot be"))
    }

    /// The argument for XRANGE's start (or XREVRANGE's end).
    pub fn start_arg(self) -> String {
        match self {
            Bound::Open => String::from("-"),
            Bound::Id(id) => id.to_string(),
            Bound::Ms(ms) => ms.to_string(),
        }
    }

    /// The argument for XRANGE's end (or XREVRANGE's start).
    pub fn end_arg(self) -> String {
        match self {
            Bound::Open => String::from("+"),
            Bound::Id(id) => id.to_string(),
            Bound::Ms(ms) => ms.to_string(),
        }
    }

    /// The ID to give XREAD so that it returns what this bound includes: XREAD returns entries
    /// strictly after its ID, so a millisecond starts just before its first entry.
    pub fn read_after(self) -> StreamId {
        match self {
            Bound::Open => StreamId::ZERO,
            Bound::Id(id) => id,
            Bound::Ms(0) => StreamId::ZERO,
            Bound::Ms(ms) => StreamId::new(ms - 1, u64::MAX),
        }
    }
}

/// The clap value parser for `--from`/`--to`.
pub fn parse_bound(text: &str) -> Result<Bound, String> {
    Bound::parse(text)
}

fn invalid(text: &str) -> String {
    format!(
        "'{text}' is neither an entry ID (1534291200000-0), milliseconds (1534291200000) \
         nor an ISO 8601 UTC time (2018-08-15T12:00:00Z)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IDs, milliseconds and ISO times all parse; times become milliseconds in UTC.
    #[test]
    fn parses_every_form() {
        let noon = Bound::Ms(1534334400000);
        assert_eq!(
            Bound::parse("1534291200000-3"),
            Ok(Bound::Id(StreamId::new(1534291200000, 3)))
        );
        assert_eq!(Bound::parse("1534334400000"), Ok(noon));
        assert_eq!(Bound::parse("2018-08-15T12:00:00Z"), Ok(noon));
        assert_eq!(Bound::parse("2018-08-15T12:00:00"), Ok(noon));
        assert_eq!(Bound::parse("2018-08-15T17:30:00+05:30"), Ok(noon));
        assert_eq!(Bound::parse("2018-08-15T12:00"), Ok(noon));
        assert_eq!(Bound::parse("2018-08-15"), Ok(Bound::Ms(1534291200000)));
        assert_eq!(Bound::parse("-"), Ok(Bound::Open));
        for bad in ["", "noon", "2018-13-01", "1-2-3", "1969-12-31T00:00:00Z"] {
            assert!(Bound::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    /// Bounds become XRANGE arguments, and XREAD starts just before a millisecond.
    #[test]
    fn arguments() {
        assert_eq!(Bound::Open.start_arg(), "-");
        assert_eq!(Bound::Open.end_arg(), "+");
        assert_eq!(Bound::Ms(5).end_arg(), "5");
        assert_eq!(Bound::Id(StreamId::new(5, 2)).start_arg(), "5-2");
        assert_eq!(Bound::Ms(5).read_after(), StreamId::new(4, u64::MAX));
        assert_eq!(Bound::Ms(0).read_after(), StreamId::ZERO);
    }
}
