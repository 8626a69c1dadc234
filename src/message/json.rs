//! A message as one line of JSON: [`to_json`]'s value for callers that want a value, and
//! [`write_json`], which appends the very bytes serde_json writes for that value (same keys in
//! the same order, same escaping) without building it: no value tree, no allocation per message.
//!
//! ```text
//! {"consumer":"alice","stream":"chennai","id":"1534291200000-0","time":"2018-08-15T00:00:00Z",
//!  "fields":{"sensor":"1","temperature":"27.4","humidity":"71"},"deliveries":1}
//! ```

use std::collections::HashSet;

use base64::Engine;

use super::{Entry, Fields, write_time};

/// The JSON object of a message: `consumer`, `stream`, `id`, `time`, `fields`, `deliveries`.
///
/// `fields` is an object of name to value in stream order; a value that is not UTF-8 is
/// `{"base64": "..."}`. When a name repeats, or a name is not UTF-8, `fields` is instead the
/// list of `[name, value]` pairs in order (names in the same two forms): nothing is lost.
pub fn to_json(consumer: &str, message: &Entry<'_>) -> serde_json::Value {
    let fields = match message.fields {
        Some(fields) => fields_json(fields),
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let mut time = Vec::with_capacity(24);
    write_time(&mut time, message.id);
    serde_json::json!({
        "consumer": consumer,
        "stream": &**message.stream,
        "id": message.id.to_string(),
        "time": String::from_utf8_lossy(&time),
        "fields": fields,
        "deliveries": message.deliveries,
    })
}

/// A name or value as JSON: a string when it is UTF-8, else `{"base64": "..."}`.
fn bytes_json(bytes: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => serde_json::json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes)
        }),
    }
}

/// The `fields` of [`to_json`]: an object, or the list of pairs when an object would lose one.
fn fields_json(fields: Fields<'_>) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (name, value) in fields.iter() {
        let name = match std::str::from_utf8(name) {
            Ok(name) if !object.contains_key(name) => name,
            _ => {
                let pairs = fields
                    .iter()
                    .map(|(name, value)| serde_json::json!([bytes_json(name), bytes_json(value)]))
                    .collect();
                return serde_json::Value::Array(pairs);
            }
        };
        object.insert(name.to_string(), bytes_json(value));
    }
    serde_json::Value::Object(object)
}

/// Appends the message as one line of JSON: [`to_json`]'s value as serde_json writes it.
pub fn write_json(out: &mut Vec<u8>, consumer: &str, message: &Entry<'_>) {
    out.extend_from_slice(b"{\"consumer\":");
    write_bytes(out, consumer.as_bytes());
    out.extend_from_slice(b",\"stream\":");
    write_bytes(out, message.stream.as_bytes());
    out.extend_from_slice(b",\"id\":\"");
    out.extend_from_slice(message.id.text().as_bytes());
    // The time is ASCII digits and punctuation: nothing to escape.
    out.extend_from_slice(b"\",\"time\":\"");
    write_time(out, message.id);
    out.extend_from_slice(b"\",\"fields\":");
    match message.fields {
        Some(fields) => write_fields(out, fields),
        None => out.extend_from_slice(b"{}"),
    }
    out.extend_from_slice(b",\"deliveries\":");
    out.extend_from_slice(itoa::Buffer::new().format(message.deliveries).as_bytes());
    out.extend_from_slice(b"}\n");
}

/// The `fields` of [`write_json`], in [`fields_json`]'s two forms.
fn write_fields(out: &mut Vec<u8>, fields: Fields<'_>) {
    let object = is_object(fields);
    out.push(if object { b'{' } else { b'[' });
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        if object {
            write_bytes(out, name);
            out.push(b':');
            write_bytes(out, value);
        } else {
            out.push(b'[');
            write_bytes(out, name);
            out.push(b',');
            write_bytes(out, value);
            out.push(b']');
        }
    }
    out.push(if object { b'}' } else { b']' });
}

/// Whether `fields` can be an object without losing one: every name is UTF-8, none repeats.
fn is_object(fields: Fields<'_>) -> bool {
    let names = || fields.iter().map(|(name, _)| name);
    if !names().all(is_utf8) {
        return false;
    }
    // A few names (nearly every entry) are compared pairwise, which needs no memory; a set
    // keeps an entry with thousands of fields from costing millions of comparisons.
    if fields.len() <= 16 {
        return names()
            .enumerate()
            .all(|(index, name)| names().take(index).all(|earlier| earlier != name));
    }
    let mut seen = HashSet::with_capacity(fields.len());
    names().all(|name| seen.insert(name))
}

/// Whether `bytes` are UTF-8: ASCII (nearly always) is seen by the escape table alone.
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b < 0x80) || std::str::from_utf8(bytes).is_ok()
}

/// How serde_json writes each byte of a string: `0` as it is, [`HIGH`] as it is too (a byte of
/// a multi-byte character, once the text is known to be UTF-8), `u` as `\u00XX`, any other letter
/// after a backslash (`\n`, `\"`, ...).
static ESCAPE: [u8; 256] = {
    let mut escape = [0; 256];
    let mut b = 0;
    while b < 256 {
        escape[b] = match b as u8 {
            b'\x08' => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            b'\x0c' => b'f',
            b'\r' => b'r',
            0..0x20 => b'u',
            b'"' => b'"',
            b'\\' => b'\\',
            0x80.. => HIGH,
            _ => 0,
        };
        b += 1;
    }
    escape
};

/// In [`ESCAPE`]: a byte of 0x80 or more.
const HIGH: u8 = 1;

/// Appends `bytes` as [`bytes_json`] has serde_json write them: a string when they are UTF-8,
/// else `{"base64":"..."}`.
#[inline]
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    // Nearly every name and value is ASCII with nothing to escape: one table look-up a byte
    // says so, and it is copied in one go.
    match bytes.iter().all(|&b| ESCAPE[usize::from(b)] == 0) {
        true => {
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        false => write_bytes_slowly(out, bytes),
    }
}

/// [`write_bytes`] of bytes with something to escape or beyond ASCII, after the opening quote:
/// the rare case, kept out of line so the common one stays small.
#[cold]
#[inline(never)]
fn write_bytes_slowly(out: &mut Vec<u8>, bytes: &[u8]) {
    if std::str::from_utf8(bytes).is_err() {
        out.pop();
        return write_base64(out, bytes);
    }
    let mut rest = bytes;
    while let Some(at) = rest
        .iter()
        .position(|&b| !matches!(ESCAPE[usize::from(b)], 0 | HIGH))
    {
        out.extend_from_slice(&rest[..at]);
        match ESCAPE[usize::from(rest[at])] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = rest[at];
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            letter => out.extend_from_slice(&[b'\\', letter]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Appends `{"base64":"..."}` of `bytes` (standard alphabet, padded), encoded in place.
fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"{\"base64\":\"");
    let start = out.len();
    let engine = &base64::engine::general_purpose::STANDARD;
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    // The room is the encoded length: the encoding fits, and base64 is ASCII with nothing to
    // escape.
    if engine.encode_slice(bytes, &mut out[start..]).is_err() {
        out.truncate(start);
        out.extend_from_slice(engine.encode(bytes).as_bytes());
    }
    out.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::message::{Message, OwnedFields};
    use crate::stream_id::StreamId;

    /// What serde_json writes for [`to_json`]'s value: the bytes [`write_json`] must match.
    fn serde_line(consumer: &str, message: &Entry<'_>) -> Vec<u8> {
        let mut out = serde_json::to_vec(&to_json(consumer, message)).unwrap();
        out.push(b'\n');
        out
    }

    /// A message of `stream` with `fields` (`None`: deleted).
    fn message(stream: &str, fields: Option<OwnedFields>, deliveries: u64) -> Message {
        Message {
            stream: Arc::from(stream),
            id: StreamId::new(1534291200250, 7),
            fields,
            deliveries,
        }
    }

    /// The JSON line carries consumer, stream, id, time, fields and deliveries.
    #[test]
    fn renders_json() {
        let fields = [("sensor", "1"), ("temperature", "27.4"), ("humidity", "71")];
        let mut message = message("chennai", Some(fields.into_iter().collect()), 1);
        message.id = StreamId::new(1534291200000, 0);
        let mut out = Vec::new();
        write_json(&mut out, "bob", &message.entry());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"consumer\":\"bob\",\"stream\":\"chennai\",\"id\":\"1534291200000-0\",\
             \"time\":\"2018-08-15T00:00:00Z\",\"fields\":{\"sensor\":\"1\",\
             \"temperature\":\"27.4\",\"humidity\":\"71\"},\"deliveries\":1}\n"
        );
    }

    /// Every byte, escapes, multi-byte characters, broken UTF-8, repeated and binary names,
    /// deleted and empty entries, many fields: the bytes are serde_json's, every time.
    #[test]
    fn writes_what_serde_json_writes() {
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let pieces: [&[u8]; 12] = [
            b"",
            b"plain",
            b"\"quoted\" \\ back/slash",
            b"\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f",
            "é 😀 ü\u{2028}".as_bytes(),
            b"\xff\xfe",
            b"ok \xc3",
            b"\xe2\x82",
            &every_byte,
            &every_byte[..128],
            b"a",
            b"{\"base64\":\"x\"}",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        let names: Vec<String> = (0..40).map(|n| format!("n{n}")).collect();
        let many = |count: usize| names.iter().take(count).map(|n| (n, "v")).collect();
        let mut messages = vec![
            message("chennai", None, 1),
            message("chennai", Some(OwnedFields::default()), 3),
            message("chennai", Some(many(16)), 1),
            message("chennai", Some(many(40)), 1),
        ];
        for round in 0..2000 {
            let count = match round % 10 {
                0 => 17 + next(40),
                _ => next(5),
            };
            let mut fields = OwnedFields::default();
            for _ in 0..count {
                let name: &[u8] = match next(4) {
                    0 => pieces[next(pieces.len())],
                    1 => b"a",
                    _ => names[next(30)].as_bytes(),
                };
                fields.push(name, pieces[next(pieces.len())]);
            }
            let stream = ["chennai", "new delhi", "\"x\"\n", "é"][next(4)];
            messages.push(message(stream, Some(fields), 1 + next(3) as u64));
        }
        for (index, message) in messages.iter().enumerate() {
            let consumer = ["alice", "b\"o\\b", "\u{1b}[31m", "ünï"][index % 4];
            let mut ours = Vec::new();
            write_json(&mut ours, consumer, &message.entry());
            let theirs = serde_line(consumer, &message.entry());
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            assert_eq!(ours, theirs);
        }
    }
}
