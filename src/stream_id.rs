//! Stream entry IDs: `<milliseconds>-<sequence>`, ordered as Redis orders them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

/// A stream entry ID. The producer writes `<unix ms of the reading>-<sensor index>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Unix time in milliseconds.
    pub ms: u64,
    /// Sequence number within that millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID; a group created at `0` delivers the whole stream.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The next possible ID, used to read on from just after this one.
    pub fn successor(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId::new(self.ms, seq),
            None => StreamId::new(self.ms.saturating_add(1), 0),
        }
    }

    /// The ID just before this one, if there is one (reading a range newest first).
    pub fn predecessor(self) -> Option<Self> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// The UTC time the ID's milliseconds stand for, if it is a representable date.
    pub fn time(self) -> Option<DateTime<Utc>> {
        i64::try_from(self.ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    }

    /// The ID's time as ISO 8601 UTC (`2018-08-15T00:00:00Z`, milliseconds only when non-zero).
    pub fn iso_time(self) -> String {
        match self.time() {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => String::from("-"),
        }
    }

    /// Parses an ID as Redis prints it; `None` when it is not one.
    pub fn parse_bytes(raw: &[u8]) -> Option<Self> {
        std::str::from_utf8(raw).ok()?.parse().ok()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a text is not a stream ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a stream ID (expected <milliseconds>-<sequence>, e.g. 1534291200000-0, or <milliseconds>)"
)]
pub struct InvalidStreamId(pub String);

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    /// Accepts `ms-seq` and a bare `ms` (sequence 0), as Redis does for XGROUP and XRANGE.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidStreamId(text.to_string());
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, Some(seq)),
            None => (text, None),
        };
        let number = |s: &str| -> Result<u64, InvalidStreamId> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse().map_err(|_| invalid())
        };
        let ms = number(ms)?;
        let seq = match seq {
            Some(seq) => number(seq)?,
            None => 0,
        };
        Ok(StreamId { ms, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IDs parse in both forms Redis accepts and print back in full.
    #[test]
    fn parses_and_prints() {
        assert_eq!(
            "1534291200000-0".parse(),
            Ok(StreamId::new(1534291200000, 0))
        );
        assert_eq!("1534291200000".parse(), Ok(StreamId::new(1534291200000, 0)));
        assert_eq!("5-7".parse::<StreamId>().unwrap().to_string(), "5-7");
        for bad in ["", "-", "1-", "-1", "a-1", "1-b", "1-2-3", "+1", " 1"] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad:?} parsed");
        }
    }

    /// IDs order by time first, then sequence, as the server orders them.
    #[test]
    fn orders_like_redis() {
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
        assert!(StreamId::new(2, 0) < StreamId::new(2, 1));
        assert_eq!(StreamId::new(2, u64::MAX).successor(), StreamId::new(3, 0));
        assert_eq!(StreamId::new(5, 1).predecessor(), Some(StreamId::new(5, 0)));
        assert_eq!(
            StreamId::new(5, 0).predecessor(),
            Some(StreamId::new(4, u64::MAX))
        );
        assert_eq!(StreamId::ZERO.predecessor(), None);
    }

    /// The ID's time prints as ISO 8601 UTC.
    #[test]
    fn time_is_utc() {
        assert_eq!(
            StreamId::new(1534291200000, 0).iso_time(),
            "2018-08-15T00:00:00Z"
        );
        assert_eq!(
            StreamId::new(1534291200250, 3).iso_time(),
            "2018-08-15T00:00:00.250Z"
        );
    }
}
