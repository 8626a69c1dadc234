//! Stream entries as the server sends them: XREAD / XREADGROUP replies (per stream) and XRANGE /
//! XAUTOCLAIM entry lists, decoded into [`Message`]s.
//!
//! ```text
//! XREADGROUP reply (RESP2):
//! *1                                  one entry per stream that had messages
//!   *2  $7 chennai                    the stream key
//!       *N  *2  $15 1534291200000-0   each message: its ID ...
//!               *6  sensor 1 temperature 27.4 humidity 71   ... and its fields (or nil: deleted)
//! ```
//!
//! Decoding walks redis-rs's [`Value`] tree once and moves the field bytes out of it: no hash map
//! per entry, no copies.

use std::sync::Arc;

use redis::Value;

use crate::message::Message;
use crate::stream_id::StreamId;

/// A reply that is not shaped like a stream read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected reply shape from the server: {0}")]
pub struct BadReply(pub &'static str);

/// Decodes an XREAD/XREADGROUP reply (`Nil` when BLOCK expired) into messages, in the reply's
/// order; stream names are matched against `streams` so each message shares its key's `Arc`.
pub fn decode_read(reply: Value, streams: &[Arc<str>]) -> Result<Vec<Message>, BadReply> {
    let per_stream: Vec<(Value, Value)> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    Ok((
                        pair.next().unwrap_or_default(),
                        pair.next().unwrap_or_default(),
                    ))
                }
                _ => Err(BadReply("a stream is not a [name, entries] pair")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(pairs) => pairs,
        _ => {
            return Err(BadReply(
                "the read reply is neither nil, an array nor a map",
            ));
        }
    };
    let mut messages = Vec::new();
    for (name, entries) in per_stream {
        let name = bytes(name).ok_or(BadReply("a stream name is not a string"))?;
        let stream = streams
            .iter()
            .find(|s| s.as_bytes() == name.as_slice())
            .cloned()
            .unwrap_or_else(|| Arc::from(String::from_utf8_lossy(&name).as_ref()));
        decode_entries(entries, &stream, &mut messages)?;
    }
    Ok(messages)
}

/// Decodes the `[[id, [field, value, ...]], ...]` list of one stream (XRANGE's reply too).
pub fn decode_entries(
    entries: Value,
    stream: &Arc<str>,
    out: &mut Vec<Message>,
) -> Result<(), BadReply> {
    let Value::Array(entries) = entries else {
        return Err(BadReply("a stream's entries are not a list"));
    };
    out.reserve(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else {
            return Err(BadReply("an entry is not an [id, fields] pair"));
        };
        let mut parts = parts.into_iter();
        let id = match parts.next() {
            Some(Value::BulkString(raw)) => parse_id(&raw),
            other => other.and_then(bytes).and_then(|raw| parse_id(&raw)),
        }
        .ok_or(BadReply("an entry has no valid ID"))?;
        let fields = match parts.next() {
            None | Some(Value::Nil) => None,
            Some(Value::Array(flat)) => {
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    pairs.push((bytes(k).unwrap_or_default(), bytes(v).unwrap_or_default()));
                }
                Some(pairs)
            }
            Some(Value::Map(map)) => Some(
                map.into_iter()
                    .map(|(k, v)| (bytes(k).unwrap_or_default(), bytes(v).unwrap_or_default()))
                    .collect(),
            ),
            Some(_) => return Err(BadReply("an entry's fields are not a list")),
        };
        out.push(Message {
            stream: Arc::clone(stream),
            id,
            fields,
            deliveries: 1,
        });
    }
    Ok(())
}

/// An entry ID as the server sends it. The usual `<ms>-<seq>` (at most 19 digits each, so no
/// overflow) is read straight from the bytes; anything else goes through [`StreamId::parse_bytes`],
/// which gives the same answer, only slower (this runs once per message).
fn parse_id(raw: &[u8]) -> Option<StreamId> {
    let digits = |part: &[u8]| -> Option<u64> {
        if part.is_empty() || part.len() > 19 {
            return None;
        }
        part.iter().try_fold(0u64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    let fast = raw.iter().position(|&b| b == b'-').and_then(|dash| {
        Some(StreamId::new(
            digits(&raw[..dash])?,
            digits(&raw[dash + 1..])?,
        ))
    });
    fast.or_else(|| StreamId::parse_bytes(raw))
}

/// The bytes of a string-like value, moved out without copying.
pub(super) fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(raw) => Some(raw),
        Value::SimpleString(text) => Some(text.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn reply() -> Value {
        Value::Array(vec![Value::Array(vec![
            bulk("chennai"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1534291200000-0"),
                    Value::Array(vec![
                        bulk("sensor"),
                        bulk("1"),
                        bulk("temperature"),
                        bulk("27.4"),
                        bulk("humidity"),
                        bulk("71"),
                    ]),
                ]),
                Value::Array(vec![bulk("1534291201500-0"), Value::Nil]),
            ]),
        ])])
    }

    /// A read reply decodes into messages with their fields in order, deleted entries as `None`.
    #[test]
    fn decodes_a_read_reply() {
        let streams = [Arc::from("chennai")];
        let messages = decode_read(reply(), &streams).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].id, StreamId::new(1534291200000, 0));
        assert_eq!(messages[0].field("temperature"), Some(&b"27.4"[..]));
        assert!(Arc::ptr_eq(&messages[0].stream, &streams[0]));
        assert_eq!(messages[1].fields, None);
        assert_eq!(decode_read(Value::Nil, &streams).unwrap(), vec![]);
        assert!(decode_read(Value::Int(3), &streams).is_err());
    }

    /// IDs are read as `StreamId::parse_bytes` reads them, odd ones included.
    #[test]
    fn ids_parse_as_stream_ids() {
        for raw in [
            &b"1534291200000-0"[..],
            b"0-0",
            b"18446744073709551615-18446744073709551615",
            b"18446744073709551616-0",
            b"99999999999999999999-0",
            b"1534291200000",
            b"-1",
            b"1-",
            b"1-2-3",
            b"+1-2",
            b"",
        ] {
            assert_eq!(parse_id(raw), StreamId::parse_bytes(raw), "{raw:?}");
        }
    }
}
