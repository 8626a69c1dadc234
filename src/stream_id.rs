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

    /// Parses an ID as Redis prints it (`ms-seq`, or a bare `ms`: sequence 0, as Redis accepts
    /// for XGROUP and XRANGE); `None` when it is not one. Read straight from the bytes: this
    /// runs once per entry a consumer reads.
    pub fn parse_bytes(raw: &[u8]) -> Option<Self> {
        let (ms, rest) = leading_number(raw)?;
        let seq = match rest {
            [] => 0,
            [b'-', seq @ ..] => match leading_number(seq)? {
                (seq, []) => seq,
                _ => return None,
            },
            _ => return None,
        };
        Some(StreamId { ms, seq })
    }

    /// The ID as Redis prints it (`1534291200000-0`), formatted on the stack: the text of every
    /// entry printed and acknowledged, so it stays clear of `fmt` and the heap.
    pub fn text(self) -> IdText {
        let mut bytes = [0; ID_TEXT_MAX];
        let mut start = prepend_number(&mut bytes, ID_TEXT_MAX, self.seq);
        start -= 1;
        bytes[start] = b'-';
        let start = prepend_number(&mut bytes, start, self.ms);
        IdText { bytes, start }
    }
}

/// The number `text` starts with (at least one ASCII digit, any leading zeros, no overflow) and
/// what follows it.
fn leading_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    let mut digits = 0;
    while let Some(&b) = text.get(digits) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Nineteen digits never overflow a u64; only a longer number needs checked arithmetic.
        n = match digits {
            0..19 => n * 10 + u64::from(digit),
            _ => n.checked_mul(10)?.checked_add(u64::from(digit))?,
        };
        digits += 1;
    }
    (digits > 0).then(|| (n, &text[digits..]))
}

/// Writes `n`'s digits into `bytes` just before `start`, two at a time; returns where they
/// start. Room for 20 digits must be there.
fn prepend_number(bytes: &mut [u8; ID_TEXT_MAX], mut start: usize, mut n: u64) -> usize {
    /// "00" to "99".
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        start -= 2;
        bytes[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        start -= 2;
        bytes[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        bytes[start] = b'0' + n as u8;
    }
    start
}

/// The longest ID text: two 20-digit numbers and the `-`.
const ID_TEXT_MAX: usize = 41;

/// An ID's text, from [`StreamId::text`].
#[derive(Clone, Copy)]
pub struct IdText {
    /// The text is `bytes[start..]`: written from the end, the sequence first.
    bytes: [u8; ID_TEXT_MAX],
    start: usize,
}

impl IdText {
    /// The text's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
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
        StreamId::parse_bytes(text.as_bytes()).ok_or_else(|| InvalidStreamId(text.to_string()))
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

    /// The byte parser agrees with u64's own parsing on edge cases: leading zeros, the largest
    /// numbers and one past them; the stack text is `Display`'s, for numbers of every length.
    #[test]
    fn parses_bytes_and_writes_text() {
        let max = u64::MAX;
        assert_eq!(
            StreamId::parse_bytes(format!("{max}-{max}").as_bytes()),
            Some(StreamId::new(max, max))
        );
        assert_eq!(StreamId::parse_bytes(b"0007-08"), Some(StreamId::new(7, 8)));
        for bad in [
            "18446744073709551616",
            "1-18446744073709551616",
            "1-2-",
            "\u{663}",
        ] {
            assert_eq!(StreamId::parse_bytes(bad.as_bytes()), None, "{bad:?}");
        }
        let mut n = 0u64;
        while n < u64::MAX / 7 {
            for id in [
                StreamId::new(n, 0),
                StreamId::new(n + 9, n),
                StreamId::new(max, n),
            ] {
                assert_eq!(id.text().as_bytes(), id.to_string().as_bytes());
            }
            n = n * 7 + 3;
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
