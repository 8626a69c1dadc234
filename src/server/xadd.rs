//! Where a batch is encoded: XADD commands written straight into one reusable buffer.
//!
//! ```text
//! *9\r\n$4\r\nXADD\r\n$7\r\nchennai\r\n$15\r\n1534291200000-0\r\n
//! $6\r\nsensor\r\n$1\r\n1\r\n$11\r\ntemperature\r\n$4\r\n27.4\r\n$8\r\nhumidity\r\n$2\r\n71\r\n
//! ```
//!
//! The key, the command name and the optional `MAXLEN ~ N` never change within a run, so they are
//! encoded once; per entry only the ID and three numbers are formatted, on the stack, between
//! the constant field names, and the whole entry is copied to the buffer in two pieces (the
//! buffer is cleared and reused batch after batch, so nothing is allocated per entry).
//!
//! Each push returns where the ID argument lies in the buffer: the reply to an XADD that names
//! its ID is that same bulk string, so a window can check its replies against those bytes.

use std::ops::Range;

use super::resp::{
    ID_BULK_MAX, StackArgs, TENTHS_BULK_MAX, UINT_BULK_MAX, array_header, bulk, write_id,
};
use crate::reading::Reading;
use crate::stream_id::StreamId;

// A reading's XADD after its head is its ID, then each field's name and value: the names
// never change, so they are RESP already.
/// The `sensor` field name, encoded.
const SENSOR: &[u8] = b"$6\r\nsensor\r\n";
/// The `temperature` field name, encoded.
const TEMPERATURE: &[u8] = b"$11\r\ntemperature\r\n";
/// The `humidity` field name, encoded.
const HUMIDITY: &[u8] = b"$8\r\nhumidity\r\n";

/// The longest tail of a reading's XADD (its ID, names and values): the stack buffer's size.
const READING_TAIL_MAX: usize = ID_BULK_MAX
    + SENSOR.len()
    + UINT_BULK_MAX
    + TEMPERATURE.len()
    + TENTHS_BULK_MAX
    + HUMIDITY.len()
    + UINT_BULK_MAX;

/// Encodes XADDs for one stream key.
#[derive(Debug, Clone)]
pub struct XaddEncoder {
    /// `*N`, `XADD`, the key and `MAXLEN ~ N`, already in RESP: the start of a reading's XADD.
    head: Vec<u8>,
    /// The same without `*N`, for entries of any number of fields.
    command: Vec<u8>,
    /// The arguments in `command`.
    command_args: usize,
}

impl XaddEncoder {
    /// An encoder for `key`, trimming approximately to `maxlen` entries when given.
    pub fn new(key: &str, maxlen: Option<u64>) -> Self {
        let mut command = Vec::with_capacity(64 + key.len());
        bulk(&mut command, b"XADD");
        bulk(&mut command, key.as_bytes());
        if let Some(maxlen) = maxlen {
            bulk(&mut command, b"MAXLEN");
            bulk(&mut command, b"~");
            bulk(&mut command, itoa::Buffer::new().format(maxlen).as_bytes());
        }
        let command_args = if maxlen.is_some() { 5 } else { 2 };
        let mut head = Vec::with_capacity(8 + command.len());
        array_header(&mut head, command_args + 7);
        head.extend_from_slice(&command);
        XaddEncoder {
            head,
            command,
            command_args,
        }
    }

    /// Appends one `XADD` at `id` of `fields` (names and values as they are) to `out`; returns
    /// where in `out` its ID argument lies.
    pub fn push_fields(
        &self,
        out: &mut Vec<u8>,
        id: StreamId,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) -> Range<usize> {
        array_header(out, self.command_args + 1 + 2 * fields.len());
        out.extend_from_slice(&self.command);
        let at = out.len();
        write_id(out, id);
        let id_end = out.len();
        for (name, value) in fields {
            bulk(out, name);
            bulk(out, value);
        }
        at..id_end
    }

    /// Appends one `XADD` of `reading` at `id` (`None`: a server-assigned `*` ID) to `out`;
    /// returns where in `out` its ID argument lies.
    pub fn push(&self, out: &mut Vec<u8>, id: Option<StreamId>, reading: &Reading) -> Range<usize> {
        let mut tail = StackArgs::<READING_TAIL_MAX>::new();
        match id {
            Some(id) => tail.id(id),
            None => tail.raw(b"$1\r\n*\r\n"),
        }
        let id_len = tail.len();
        tail.raw(SENSOR);
        tail.uint(u64::from(reading.sensor));
        tail.raw(TEMPERATURE);
        tail.tenths(reading.temperature_tenths);
        tail.raw(HUMIDITY);
        tail.uint(u64::from(reading.humidity));
        out.reserve(self.head.len() + tail.len());
        out.extend_from_slice(&self.head);
        let at = out.len();
        out.extend_from_slice(tail.as_bytes());
        at..at + id_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::format_tenths;

    /// The encoding is exactly what redis-rs would pack for the same command.
    #[test]
    fn matches_redis_rs_packing() {
        let reading = Reading {
            sensor: 3,
            temperature_tenths: -45,
            humidity: 71,
        };
        let mut ours = Vec::new();
        XaddEncoder::new("chennai", None).push(
            &mut ours,
            Some(StreamId::new(1534291200000, 2)),
            &reading,
        );
        let theirs = redis::cmd("XADD")
            .arg("chennai")
            .arg("1534291200000-2")
            .arg("sensor")
            .arg("3")
            .arg("temperature")
            .arg("-4.5")
            .arg("humidity")
            .arg("71")
            .get_packed_command();
        assert_eq!(ours, theirs);
        assert_eq!(format_tenths(-45, &mut [0; 16]), b"-4.5");
    }

    /// MAXLEN ~ and a server-assigned ID are encoded as redis-rs would.
    #[test]
    fn maxlen_and_auto_id() {
        let reading = Reading {
            sensor: 1,
            temperature_tenths: 274,
            humidity: 5,
        };
        let mut ours = Vec::new();
        XaddEncoder::new("k", Some(1000)).push(&mut ours, None, &reading);
        let theirs = redis::cmd("XADD")
            .arg("k")
            .arg("MAXLEN")
            .arg("~")
            .arg("1000")
            .arg("*")
            .arg("sensor")
            .arg("1")
            .arg("temperature")
            .arg("27.4")
            .arg("humidity")
            .arg("5")
            .get_packed_command();
        assert_eq!(ours, theirs);
    }

    /// Entries of any fields are encoded as redis-rs would, with and without MAXLEN.
    #[test]
    fn any_fields() {
        let fields = vec![
            (b"station".to_vec(), b"M\xfcnchen".to_vec()),
            (b"note".to_vec(), b"".to_vec()),
        ];
        for maxlen in [None, Some(7)] {
            let mut ours = Vec::new();
            XaddEncoder::new("k", maxlen).push_fields(&mut ours, StreamId::new(5, 1), &fields);
            let mut theirs = redis::cmd("XADD");
            theirs.arg("k");
            if let Some(n) = maxlen {
                theirs.arg("MAXLEN").arg("~").arg(n);
            }
            theirs
                .arg("5-1")
                .arg(&b"station"[..])
                .arg(&b"M\xfcnchen"[..])
                .arg("note")
                .arg("");
            assert_eq!(ours, theirs.get_packed_command());
        }
    }

    /// Readings and IDs of every digit count, extremes included, encode exactly as redis-rs
    /// packs the same command, and the range returned is the ID's bulk string (what the
    /// server's reply echoes).
    #[test]
    fn every_width_matches_redis_rs() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let edges = [0, 1, 9, 10, 99, 100, 999, 1000, 1534291200000, u64::MAX];
        let mut cases: Vec<(StreamId, Reading)> = Vec::new();
        for (n, edge) in edges.iter().enumerate() {
            let other = edges[edges.len() - 1 - n];
            let tenths = [
                i32::MIN,
                -1001,
                -100,
                -10,
                -9,
                -5,
                0,
                5,
                9,
                10,
                99,
                100,
                274,
            ];
            cases.push((
                StreamId::new(*edge, other),
                Reading {
                    sensor: [0, 1, 9, 10, u32::MAX][n % 5],
                    temperature_tenths: tenths[n % tenths.len()],
                    humidity: [0, 9, 10, 99, 100, 255][n % 6],
                },
            ));
        }
        cases.push((
            StreamId::new(1, 1),
            Reading {
                sensor: 12,
                temperature_tenths: i32::MAX,
                humidity: 71,
            },
        ));
        for _ in 0..2000 {
            // Random values of random digit counts: a random number shifted right at random.
            let mut width = || {
                let x = next();
                x >> (x % 64)
            };
            let id = StreamId::new(width(), width());
            let reading = Reading {
                sensor: width() as u32,
                temperature_tenths: width() as i32,
                humidity: width() as u8,
            };
            cases.push((id, reading));
        }
        for maxlen in [None, Some(1000)] {
            let encoder = XaddEncoder::new("chennai", maxlen);
            for (id, reading) in &cases {
                let mut ours = b"before".to_vec();
                let at = encoder.push(&mut ours, Some(*id), reading);
                let id_text = format!("{}-{}", id.ms, id.seq);
                let echo = format!("${}\r\n{id_text}\r\n", id_text.len());
                assert_eq!(&ours[at], echo.as_bytes());
                let mut theirs = redis::cmd("XADD");
                theirs.arg("chennai");
                if let Some(n) = maxlen {
                    theirs.arg("MAXLEN").arg("~").arg(n);
                }
                theirs
                    .arg(id_text)
                    .arg("sensor")
                    .arg(reading.sensor)
                    .arg("temperature")
                    .arg(format_tenths(reading.temperature_tenths, &mut [0; 16]))
                    .arg("humidity")
                    .arg(reading.humidity);
                assert_eq!(
                    &ours[6..],
                    theirs.get_packed_command(),
                    "{id:?} {reading:?}"
                );
            }
        }
    }

    /// The range `push_fields` returns is the ID's bulk string.
    #[test]
    fn fields_push_returns_the_id() {
        let mut ours = Vec::new();
        let at = XaddEncoder::new("k", Some(3)).push_fields(
            &mut ours,
            StreamId::new(15, 2),
            &[(b"a".to_vec(), b"b".to_vec())],
        );
        assert_eq!(&ours[at], b"$4\r\n15-2\r\n");
    }
}
