//! Where a batch is encoded: XADD commands written straight into one reusable buffer.
//!
//! ```text
//! *9\r\n$4\r\nXADD\r\n$7\r\nchennai\r\n$15\r\n1534291200000-0\r\n
//! $6\r\nsensor\r\n$1\r\n1\r\n$11\r\ntemperature\r\n$4\r\n27.4\r\n$8\r\nhumidity\r\n$2\r\n71\r\n
//! ```
//!
//! The key, the command name and the optional `MAXLEN ~ N` never change within a run, so they are
//! encoded once; per entry only the ID and three numbers are formatted, on the stack, with no
//! allocation (the buffer is cleared and reused batch after batch).

use super::resp::{array_header, bulk, write_id};
use crate::reading::{Reading, format_tenths};
use crate::stream_id::StreamId;

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

    /// Appends one `XADD` at `id` of `fields` (names and values as they are) to `out`.
    pub fn push_fields(&self, out: &mut Vec<u8>, id: StreamId, fields: &[(Vec<u8>, Vec<u8>)]) {
        array_header(out, self.command_args + 1 + 2 * fields.len());
        out.extend_from_slice(&self.command);
        write_id(out, id);
        for (name, value) in fields {
            bulk(out, name);
            bulk(out, value);
        }
    }

    /// Appends one `XADD` of `reading` at `id` (`None`: a server-assigned `*` ID) to `out`.
    pub fn push(&self, out: &mut Vec<u8>, id: Option<StreamId>, reading: &Reading) {
        out.extend_from_slice(&self.head);
        match id {
            Some(id) => write_id(out, id),
            None => bulk(out, b"*"),
        }
        bulk(out, b"sensor");
        bulk(out, itoa::Buffer::new().format(reading.sensor).as_bytes());
        bulk(out, b"temperature");
        bulk(out, format_tenths(reading.temperature_tenths, &mut [0; 16]));
        bulk(out, b"humidity");
        bulk(out, itoa::Buffer::new().format(reading.humidity).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
