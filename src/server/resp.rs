//! A small RESP2 reader for the consumer's hot path: the replies of XREADGROUP and XACK read
//! straight from the bytes the server sent, into [`Message`]s, without building a generic value
//! tree first (redis-rs's parser and its allocations were most of the consumer's time).
//!
//! ```text
//! *1\r\n                          one element per stream that had messages (*-1: BLOCK expired)
//!   *2\r\n $7\r\nchennai\r\n      the stream's name ...
//!     *500\r\n                    ... and its entries, each [id, fields] (fields *-1: deleted)
//!       *2\r\n $15\r\n1534291200000-0\r\n *6\r\n $6\r\nsensor\r\n $1\r\n1\r\n ...
//! :500\r\n                        XACK: how many were acknowledged
//! -NOGROUP No such key ...\r\n    an error, handed back as text
//! ```
//!
//! Every function takes the bytes received so far and answers [`Parsed::Partial`] when the reply
//! is not complete yet; the caller reads more and asks again. Malformed input is a
//! [`BadReply`], never a panic.

use std::sync::Arc;

use super::entries::BadReply;
use crate::message::Message;
use crate::stream_id::StreamId;

/// A reply parsed from the front of a buffer, or the news that more bytes are needed.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<T> {
    /// The reply, and how many bytes it took.
    Done(T, usize),
    /// The buffer ends inside the reply.
    Partial,
}

/// What an XREADGROUP (or XREAD) answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadReply {
    /// The messages, in the reply's order (none when BLOCK expired).
    Messages(Vec<Message>),
    /// An error reply (`NOGROUP ...`, `MOVED ...`), as the server worded it.
    Error(String),
}

/// A short reply: an integer (XACK's count), a status (`OK`) or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Simple {
    /// `:n`.
    Int(i64),
    /// `+text`.
    Status(String),
    /// `-text`.
    Error(String),
}

/// Returns `Partial` from the enclosing parser when `$e` needs more bytes.
macro_rules! need {
    ($e:expr) => {
        match $e? {
            Some(value) => value,
            None => return Ok(Parsed::Partial),
        }
    };
}

/// The bytes of a reply, read front to back.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next line without its `\r\n`; `None` when it is not all here yet.
    fn line(&mut self) -> Result<Option<&'a [u8]>, BadReply> {
        let rest = &self.buf[self.pos..];
        let Some(at) = rest.windows(2).position(|w| w == b"\r\n") else {
            // A line without its end: more to come, unless it is absurdly long already.
            return match rest.len() > 64 * 1024 {
                true => Err(BadReply("a reply line has no end")),
                false => Ok(None),
            };
        };
        self.pos += at + 2;
        Ok(Some(&rest[..at]))
    }

    /// The next element's type byte and the rest of its line.
    fn header(&mut self) -> Result<Option<(u8, &'a [u8])>, BadReply> {
        let start = self.pos;
        match self.line()? {
            Some([kind, rest @ ..]) => Ok(Some((*kind, rest))),
            Some([]) => {
                self.pos = start;
                Err(BadReply("an empty reply line"))
            }
            None => Ok(None),
        }
    }

    /// The length of an array (`*n`); `-1` for a null array.
    fn array(&mut self) -> Result<Option<i64>, BadReply> {
        match self.header()? {
            Some((b'*', n)) => number(n).map(Some),
            Some(_) => Err(BadReply("expected an array")),
            None => Ok(None),
        }
    }

    /// A bulk string (`$n` then n bytes); `Some(None)` for a null one.
    fn bulk(&mut self) -> Result<Option<Option<&'a [u8]>>, BadReply> {
        let Some((kind, n)) = self.header()? else {
            return Ok(None);
        };
        if kind != b'$' {
            return Err(BadReply("expected a bulk string"));
        }
        let n = number(n)?;
        if n < 0 {
            return Ok(Some(None));
        }
        let n = usize::try_from(n).map_err(|_| BadReply("a bulk string's length is too large"))?;
        let end = self
            .pos
            .checked_add(n)
            .and_then(|end| end.checked_add(2))
            .ok_or(BadReply("a bulk string's length is too large"))?;
        if end > self.buf.len() {
            return Ok(None);
        }
        if &self.buf[end - 2..end] != b"\r\n" {
            return Err(BadReply("a bulk string does not end where its length says"));
        }
        let bytes = &self.buf[self.pos..end - 2];
        self.pos = end;
        Ok(Some(Some(bytes)))
    }
}

/// A RESP length or integer.
fn number(text: &[u8]) -> Result<i64, BadReply> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(BadReply("a length or integer is not a number"))
}

/// Reads an XREADGROUP/XREAD reply from the front of `buf`; stream names are matched against
/// `streams` so that each message shares its key's `Arc`.
pub fn read_reply(buf: &[u8], streams: &[Arc<str>]) -> Result<Parsed<ReadReply>, BadReply> {
    let mut cursor = Cursor { buf, pos: 0 };
    if buf.first() == Some(&b'-') {
        let line = need!(cursor.line());
        let text = String::from_utf8_lossy(&line[1..]).into_owned();
        return Ok(Parsed::Done(ReadReply::Error(text), cursor.pos));
    }
    let mut messages = Vec::new();
    let per_stream = need!(cursor.array());
    for _ in 0..per_stream.max(0) {
        if need!(cursor.array()) != 2 {
            return Err(BadReply("a stream is not a [name, entries] pair"));
        }
        let name = need!(cursor.bulk()).ok_or(BadReply("a stream name is null"))?;
        let stream = streams
            .iter()
            .find(|s| s.as_bytes() == name)
            .cloned()
            .unwrap_or_else(|| Arc::from(String::from_utf8_lossy(name).as_ref()));
        let entries = need!(cursor.array());
        let entries = usize::try_from(entries).map_err(|_| BadReply("a null list of entries"))?;
        // What the server says is coming, not more than the bytes could hold: a lying length
        // must not reserve gigabytes.
        messages.reserve(entries.min(buf.len() / 16));
        for _ in 0..entries {
            if need!(cursor.array()) != 2 {
                return Err(BadReply("an entry is not an [id, fields] pair"));
            }
            let id = need!(cursor.bulk()).ok_or(BadReply("an entry ID is null"))?;
            let id = StreamId::parse_bytes(id).ok_or(BadReply("an entry ID is not an ID"))?;
            let count = need!(cursor.array());
            let fields = match count {
                -1 => None,
                n if n >= 0 && n % 2 == 0 => {
                    let n = usize::try_from(n / 2).unwrap_or_default();
                    let mut fields = Vec::with_capacity(n.min(buf.len() / 8));
                    for _ in 0..n {
                        let name = need!(cursor.bulk()).ok_or(BadReply("a field name is null"))?;
                        let value = need!(cursor.bulk()).ok_or(BadReply("a value is null"))?;
                        fields.push((name.to_vec(), value.to_vec()));
                    }
                    Some(fields)
                }
                _ => return Err(BadReply("an entry's fields are not name/value pairs")),
            };
            messages.push(Message {
                stream: Arc::clone(&stream),
                id,
                fields,
                deliveries: 1,
            });
        }
    }
    Ok(Parsed::Done(ReadReply::Messages(messages), cursor.pos))
}

/// Reads a short reply (integer, status or error) from the front of `buf`.
pub fn simple_reply(buf: &[u8]) -> Result<Parsed<Simple>, BadReply> {
    let mut cursor = Cursor { buf, pos: 0 };
    let (kind, rest) = need!(cursor.header());
    let text = || String::from_utf8_lossy(rest).into_owned();
    let reply = match kind {
        b':' => Simple::Int(number(rest)?),
        b'+' => Simple::Status(text()),
        b'-' => Simple::Error(text()),
        _ => return Err(BadReply("expected an integer, a status or an error")),
    };
    Ok(Parsed::Done(reply, cursor.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry to encode: its ID and its fields (`None`: deleted).
    type Entry<'a> = (&'a str, Option<&'a [(&'a str, &'a str)]>);

    /// The RESP2 bytes of an XREADGROUP reply for `chennai` with `entries`.
    fn encode(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut out = format!("*1\r\n*2\r\n$7\r\nchennai\r\n*{}\r\n", entries.len()).into_bytes();
        for (id, fields) in entries {
            out.extend(format!("*2\r\n${}\r\n{id}\r\n", id.len()).bytes());
            match fields {
                None => out.extend(b"*-1\r\n"),
                Some(fields) => {
                    out.extend(format!("*{}\r\n", fields.len() * 2).bytes());
                    for (k, v) in *fields {
                        out.extend(
                            format!("${}\r\n{k}\r\n${}\r\n{v}\r\n", k.len(), v.len()).bytes(),
                        );
                    }
                }
            }
        }
        out
    }

    fn streams() -> Vec<Arc<str>> {
        vec![Arc::from("chennai")]
    }

    /// A reply with two entries, one of them deleted, is read whole, sharing the stream's Arc.
    #[test]
    fn reads_messages() {
        let bytes = encode(&[
            (
                "1534291200000-0",
                Some(&[("sensor", "1"), ("temperature", "27.4")]),
            ),
            ("1534291201000-0", None),
        ]);
        let streams = streams();
        let Parsed::Done(ReadReply::Messages(messages), used) =
            read_reply(&bytes, &streams).unwrap()
        else {
            panic!("not done");
        };
        assert_eq!(used, bytes.len());
        assert_eq!(messages.len(), 2);
        assert!(Arc::ptr_eq(&messages[0].stream, &streams[0]));
        assert_eq!(messages[0].id, StreamId::new(1534291200000, 0));
        assert_eq!(messages[0].field("temperature"), Some(&b"27.4"[..]));
        assert_eq!(messages[1].fields, None);
    }

    /// Every cut of a valid reply is Partial, never an error or a panic; the whole is Done.
    #[test]
    fn every_prefix_is_partial() {
        let bytes = encode(&[
            (
                "1534291200000-0",
                Some(&[("sensor", "1"), ("humidity", "71")]),
            ),
            ("1534291201000-0", Some(&[("a", "")])),
        ]);
        for cut in 0..bytes.len() {
            assert_eq!(
                read_reply(&bytes[..cut], &streams()),
                Ok(Parsed::Partial),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            read_reply(&bytes, &streams()),
            Ok(Parsed::Done(..))
        ));
    }

    /// A null reply (BLOCK expired) is no messages; an error reply is its text; a reply is
    /// read only up to its end (what follows is the next reply's).
    #[test]
    fn nil_errors_and_what_follows() {
        let mut bytes = b"*-1\r\n".to_vec();
        bytes.extend(b":1\r\n");
        assert_eq!(
            read_reply(&bytes, &streams()),
            Ok(Parsed::Done(ReadReply::Messages(Vec::new()), 5))
        );
        assert_eq!(
            read_reply(b"-NOGROUP No such key\r\n", &streams()),
            Ok(Parsed::Done(
                ReadReply::Error(String::from("NOGROUP No such key")),
                22
            ))
        );
        assert_eq!(
            simple_reply(b":500\r\n"),
            Ok(Parsed::Done(Simple::Int(500), 6))
        );
        assert_eq!(
            simple_reply(b"+OK\r\n"),
            Ok(Parsed::Done(Simple::Status("OK".into()), 5))
        );
        assert_eq!(simple_reply(b":5"), Ok(Parsed::Partial));
        assert!(simple_reply(b"$3\r\nabc\r\n").is_err());
    }

    /// Malformed replies are errors: wrong types, bad lengths, a bulk string not ending where
    /// its length says, an odd number of fields, a bad ID.
    #[test]
    fn malformed_replies_are_errors() {
        for bad in [
            &b"$3\r\nabc\r\n"[..],
            b"*1\r\n*3\r\n",
            b"*1\r\n*2\r\n$7\r\nchennaiXX",
            b"*1\r\n*2\r\n$7\r\nchennai\r\n*1\r\n*2\r\n$3\r\nabc\r\n*0\r\n",
            b"*1\r\n*2\r\n$7\r\nchennai\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n",
            b"*x\r\n",
            b"\r\n",
        ] {
            assert!(
                read_reply(bad, &streams()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Fuzz-style: random bytes, and valid replies with random bytes changed, never panic, and
    /// whatever is Done never claims more bytes than there are.
    #[test]
    fn random_damage_never_panics() {
        let valid = encode(&[
            (
                "1534291200000-0",
                Some(&[("sensor", "1"), ("temperature", "27.4")]),
            ),
            ("1534291201000-0", None),
            ("1534291202000-0", Some(&[("humidity", "71")])),
        ]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"*$:-+\r\n0123456789-1abc";
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                valid.clone()
            } else {
                (0..(next() % 64) as usize)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            if !bytes.is_empty() {
                for _ in 0..=next() % 3 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
            }
            if let Ok(Parsed::Done(_, used)) = read_reply(&bytes, &streams()) {
                assert!(used <= bytes.len());
            }
            let _ = simple_reply(&bytes);
        }
    }
}
