//! A stream entry as a consumer or reader gets it, and where messages are rendered for output:
//! one human line or one JSON object per message, appended to one buffer per batch, so a batch is
//! one write.
//!
//! [`Entry`] is the borrowed view every renderer and handler reads (from a reply's bytes,
//! without a copy); [`Message`] is the owned copy for what outlives its batch (a handler's queue,
//! a dead letter being redriven).
//!
//! The human line's escaping lives in `escape`, the JSON line in `json`; both are re-exported
//! here.

use std::cell::Cell;
use std::io::Write;
use std::sync::Arc;

use chrono::{Datelike, Timelike};

use crate::stream_id::StreamId;

mod escape;
mod json;

pub use escape::{escaped, unescape_word, word, write_escaped, write_word};
pub use json::{to_json, write_json};

/// Where a field's name and value lie in their bytes: `[name.0, name.1)` and `[value.0, value.1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

impl Span {
    /// A field whose name and value lie at these ranges of their bytes.
    pub fn new(name: (u32, u32), value: (u32, u32)) -> Self {
        Span { name, value }
    }

    /// Appends `name` and `value` to `bytes`; the span of the field they make there.
    pub fn append(bytes: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Self {
        let mut at = |part: &[u8]| {
            let start = bytes.len() as u32;
            bytes.extend_from_slice(part);
            (start, bytes.len() as u32)
        };
        let name = at(name);
        let value = at(value);
        Span { name, value }
    }
}

/// An entry's fields: its field/value pairs in stream order, borrowed from their bytes.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Fields<'a> {
    /// The fields of `bytes` that `spans` point at.
    pub fn new(bytes: &'a [u8], spans: &'a [Span]) -> Self {
        Fields { bytes, spans }
    }

    /// The field/value pairs, in the entry's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.spans.iter().map(move |span| {
            (
                &bytes[span.name.0 as usize..span.name.1 as usize],
                &bytes[span.value.0 as usize..span.value.1 as usize],
            )
        })
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The bytes of names and values together (what the entry costs in memory, roughly).
    pub fn size(&self) -> usize {
        self.spans
            .iter()
            .map(|s| (s.name.1 - s.name.0 + s.value.1 - s.value.0) as usize)
            .sum()
    }
}

impl PartialEq for Fields<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// One stream entry as a consumer or reader gets it, borrowed from its [`Batch`] (or from a
/// [`Message`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry<'a> {
    /// The stream key it came from.
    pub stream: &'a Arc<str>,
    /// Its entry ID.
    pub id: StreamId,
    /// Its fields; `None` when the entry was deleted while pending.
    pub fields: Option<Fields<'a>>,
    /// Times delivered: 1 for a new entry, from the pending list for a re-read or claimed one.
    pub deliveries: u64,
}

impl<'a> Entry<'a> {
    /// The value of `name`, if the entry has that field.
    pub fn field(&self, name: &str) -> Option<&'a [u8]> {
        self.fields?.get(name)
    }

    /// The bytes of its fields (what a read of it costs, roughly).
    pub fn size(&self) -> usize {
        self.fields.map_or(0, |f| f.size())
    }

    /// An owned copy, to keep past its batch.
    pub fn to_message(&self) -> Message {
        Message {
            stream: Arc::clone(self.stream),
            id: self.id,
            deliveries: self.deliveries,
            fields: self.fields.map(|fields| {
                let mut owned = OwnedFields::default();
                for (name, value) in fields.iter() {
                    owned.push(name, value);
                }
                owned
            }),
        }
    }
}

/// Field/value pairs owned: their bytes and where each lies in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedFields {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

impl OwnedFields {
    /// Appends a field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.spans.push(Span::append(&mut self.bytes, name, value));
    }

    /// The borrowed view.
    pub fn view(&self) -> Fields<'_> {
        Fields {
            bytes: &self.bytes,
            spans: &self.spans,
        }
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for OwnedFields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut fields = OwnedFields::default();
        for (name, value) in pairs {
            fields.push(name.as_ref(), value.as_ref());
        }
        fields
    }
}

/// One stream entry, owned: for what outlives the batch it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The stream key it came from.
    pub stream: Arc<str>,
    /// Its entry ID.
    pub id: StreamId,
    /// Its fields; `None` when the entry was deleted while pending.
    pub fields: Option<OwnedFields>,
    /// Times delivered.
    pub deliveries: u64,
}

impl Message {
    /// The borrowed view every renderer and handler reads.
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            stream: &self.stream,
            id: self.id,
            fields: self.fields.as_ref().map(OwnedFields::view),
            deliveries: self.deliveries,
        }
    }

    /// The value of `name`, if the entry has that field.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields.as_ref()?.view().get(name)
    }
}

/// Appends the ID's time as ISO 8601 UTC (`2018-08-15T00:00:00Z`, `.250` when not on a second),
/// without allocating: this runs once per printed message.
pub fn write_time(out: &mut Vec<u8>, id: StreamId) {
    // Years up to 9999 (every time a sensor can have) by plain arithmetic; later ones, rare and
    // printed with more digits, through chrono, which also knows where representable dates end.
    if id.ms >= YEAR_10000_MS {
        return write_time_chrono(out, id);
    }
    let (days, ms_of_day) = (id.ms / 86_400_000, (id.ms % 86_400_000) as u32);
    let (second, ms) = (ms_of_day / 1000, ms_of_day % 1000);
    // One buffer, appended in one piece: `2018-08-15T00:00:00Z` or `2018-08-15T00:00:00.250Z`.
    let mut text = [0; 24];
    text[..11].copy_from_slice(&date_text(days));
    for (at, n) in [
        (11, second / 3600),
        (14, second / 60 % 60),
        (17, second % 60),
    ] {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    }
    (text[13], text[16]) = (b':', b':');
    match ms {
        0 => {
            text[19] = b'Z';
            out.extend_from_slice(&text[..20]);
        }
        _ => {
            text[19..].copy_from_slice(&[
                b'.',
                b'0' + (ms / 100) as u8,
                b'0' + (ms / 10 % 10) as u8,
                b'0' + (ms % 10) as u8,
                b'Z',
            ]);
            out.extend_from_slice(&text);
        }
    }
}

/// `2018-08-15T`, the date of a count of days since 1970-01-01 (in years up to 9999), worked out
/// once per day: a consumer prints entries in order, so the date of the last one asked about is
/// nearly always the next one's too.
fn date_text(days: u64) -> [u8; 11] {
    thread_local! {
        /// The last day asked about, and its text.
        static LAST: Cell<(u64, [u8; 11])> = const { Cell::new((u64::MAX, [0; 11])) };
    }
    let (last, text) = LAST.get();
    if last == days {
        return text;
    }
    let (year, month, day) = civil_from_days(days);
    let year = year as u32;
    let mut text = [
        b'0' + (year / 1000) as u8,
        b'0' + (year / 100 % 10) as u8,
        b'0' + (year / 10 % 10) as u8,
        b'0' + (year % 10) as u8,
        b'-',
        0,
        0,
        b'-',
        0,
        0,
        b'T',
    ];
    for (at, n) in [(5, month), (8, day)] {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    }
    LAST.set((days, text));
    text
}

/// Unix ms of 10000-01-01T00:00:00Z: below it a year has four digits.
const YEAR_10000_MS: u64 = 253_402_300_800_000;

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// [`write_time`] through chrono, for the years past 9999.
fn write_time_chrono(out: &mut Vec<u8>, id: StreamId) {
    let Some(t) = id.time() else {
        out.push(b'-');
        return;
    };
    let two = |out: &mut Vec<u8>, n: u32| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    let _ = write!(out, "{:04}", t.year());
    out.push(b'-');
    two(out, t.month());
    out.push(b'-');
    two(out, t.day());
    out.push(b'T');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    let ms = id.ms % 1000;
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
    out.push(b'Z');
}

/// Appends the human line: `alice chennai 1534291200000-0 2018-08-15T00:00:00Z sensor=1 ...`.
pub fn write_line(out: &mut Vec<u8>, consumer: &str, message: &Entry<'_>) {
    write_word(out, consumer.as_bytes());
    out.push(b' ');
    write_word(out, message.stream.as_bytes());
    out.push(b' ');
    out.extend_from_slice(message.id.text().as_bytes());
    out.push(b' ');
    write_time(out, message.id);
    match &message.fields {
        Some(fields) => {
            for (name, value) in fields.iter() {
                out.push(b' ');
                write_escaped(out, name);
                out.push(b'=');
                write_escaped(out, value);
            }
        }
        None => out.extend_from_slice(b" (deleted)"),
    }
    if message.deliveries > 1 {
        out.extend_from_slice(b" (delivery ");
        out.extend_from_slice(itoa::Buffer::new().format(message.deliveries).as_bytes());
        out.push(b')');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message the documented examples show, and one deleted while pending.
    fn messages() -> [Message; 2] {
        [
            Message {
                stream: Arc::from("chennai"),
                id: StreamId::new(1534291200000, 0),
                fields: Some(
                    [("sensor", "1"), ("temperature", "27.4"), ("humidity", "71")]
                        .into_iter()
                        .collect(),
                ),
                deliveries: 1,
            },
            Message {
                stream: Arc::from("chennai"),
                id: StreamId::new(1534291201500, 0),
                fields: None,
                deliveries: 1,
            },
        ]
    }

    /// The human line matches the documented example.
    #[test]
    fn renders_the_documented_line() {
        let messages = messages();
        let mut out = Vec::new();
        write_line(&mut out, "alice", &messages[0].entry());
        write_line(
            &mut out,
            "alice",
            &Message {
                deliveries: 2,
                ..messages[1].clone()
            }
            .entry(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "alice chennai 1534291200000-0 2018-08-15T00:00:00Z sensor=1 temperature=27.4 humidity=71\n\
             alice chennai 1534291201500-0 2018-08-15T00:00:01.500Z (deleted) (delivery 2)\n"
        );
    }

    /// The arithmetic time is chrono's, from 1970 to the year 10000 and past it.
    #[test]
    fn time_matches_chrono() {
        // Every day of 400 years (a whole Gregorian cycle), at some time of that day ...
        for day in 0..146_097u64 {
            let id = StreamId::new(day * 86_400_000 + day * 7919 % 86_400_000, 0);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_time(&mut ours, id);
            write_time_chrono(&mut theirs, id);
            assert_eq!(ours, theirs, "{}", id.ms);
        }
        // ... then ever larger steps up to past the year 10000.
        let mut ms = 0u64;
        let mut step = 1u64;
        while ms < 400_000_000_000_000 {
            let id = StreamId::new(ms, 0);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_time(&mut ours, id);
            write_time_chrono(&mut theirs, id);
            assert_eq!(ours, theirs, "{ms}");
            ms += step;
            step = step * 3 / 2 + 997;
        }
        for ms in [
            0,
            951_782_400_000,   // 2000-02-29
            4_107_456_000_999, // 2100-02-28T00:00:00.999
            YEAR_10000_MS - 1,
            YEAR_10000_MS,
            u64::MAX,
        ] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_time(&mut ours, StreamId::new(ms, 0));
            write_time_chrono(&mut theirs, StreamId::new(ms, 0));
            assert_eq!(ours, theirs, "{ms}");
        }
    }

    /// Control characters in names and values are escaped: one entry is one line, and no
    /// escape sequence reaches the terminal.
    #[test]
    fn escapes_control_characters() {
        let forged = b"21\nalice chennai 1-0 1970-01-01T00:00:00.001Z temperature=99";
        let message = Message {
            fields: Some(
                [
                    (&b"temperature"[..], &forged[..]),
                    (b"note", b"\x1b[31mred\r\0\\ \x7f"),
                ]
                .into_iter()
                .collect(),
            ),
            ..messages()[0].clone()
        };
        let mut out = Vec::new();
        write_line(&mut out, "alice", &message.entry());
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.ends_with(
                " temperature=21\\nalice chennai 1-0 1970-01-01T00:00:00.001Z temperature=99 \
             note=\\x1b[31mred\\r\\x00\\\\ \\x7f\n"
            ),
            "{line}"
        );
        assert_eq!(escaped("plain text"), "plain text");
    }
}
