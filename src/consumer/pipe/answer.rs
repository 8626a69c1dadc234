//! What a `--pipe` handler says: each line it prints, and the answers among them.
//!
//! ```text
//! ack chennai 1534291200000-0                 done: acknowledged
//! fail chennai 1534291200000-0 REASON...      a failed delivery
//! ack "new delhi" 1534291200000-0             the key as a JSON string (what --json has at hand)
//! mean 27.1                                   anything else: passed on to stdout
//! ```

use crate::message;
use crate::stream_id::StreamId;

/// What the handler printed: a line, or a piece of one longer than
/// `MAX_LINE` (the reader's, in `process`).
#[derive(Debug, PartialEq, Eq)]
pub(in crate::consumer) struct Said {
    /// The bytes, the newline included when it ends a line.
    pub bytes: Vec<u8>,
    /// Whether this is a whole line (only a whole line can be an answer).
    pub whole: bool,
}

impl Said {
    /// The answer this is, if it is a whole line that reads as one.
    pub fn answer(&self) -> Option<Answer> {
        self.whole.then(|| answer(&self.bytes)).flatten()
    }
}

/// What the handler said about one message.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::consumer) enum Answer {
    /// `ack STREAM ID`.
    Ack(String, StreamId),
    /// `fail STREAM ID REASON...`.
    Fail(String, StreamId, String),
}

/// Reads an answer line; `None` for any other line (passed on to stdout).
///
/// `STREAM` is the key as the human line prints it (a space as `\x20`, control characters
/// and `\` escaped: [`message::unescape_word`]), so `awk '{print "ack", $2, $3}'` answers
/// for any key, or a JSON string (`"new delhi"`), what a `--json` handler has at hand.
pub(in crate::consumer) fn answer(line: &[u8]) -> Option<Answer> {
    let line = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    let (verb, rest) = line.split_once(' ')?;
    if verb != "ack" && verb != "fail" {
        return None;
    }
    let (stream, rest) = stream_word(rest)?;
    let mut words = rest.splitn(2, ' ');
    let id = words.next()?.parse().ok()?;
    match verb {
        "ack" => Some(Answer::Ack(stream, id)),
        _ => Some(Answer::Fail(
            stream,
            id,
            words.next().unwrap_or("no reason given").to_string(),
        )),
    }
}

/// Whether `line` is `ack STREAM ID` for exactly `stream` and `id`, read without allocating:
/// what a quick handler answers nearly always, for the oldest message it was sent. It says
/// true only where [`answer`] reads the same; a key the human line escapes or a JSON handler
/// quotes is left to [`answer`].
pub(in crate::consumer) fn acks(line: &[u8], stream: &str, id: StreamId) -> bool {
    let plain = stream
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"');
    let Some(rest) = line
        .strip_prefix(b"ack ")
        .and_then(|rest| rest.strip_prefix(stream.as_bytes()))
        .and_then(|rest| rest.strip_prefix(b" "))
    else {
        return false;
    };
    let word = match rest.iter().position(|&b| b == b' ') {
        Some(at) => &rest[..at],
        None => rest.trim_ascii_end(),
    };
    plain
        && std::str::from_utf8(line).is_ok()
        && std::str::from_utf8(word).is_ok_and(|word| word.parse() == Ok(id))
}

/// The stream key at the start of `text` (a JSON string, or an escaped word) and what follows
/// the space after it.
fn stream_word(text: &str) -> Option<(String, &str)> {
    if text.starts_with('"') {
        let mut strings = serde_json::Deserializer::from_str(text).into_iter::<String>();
        let stream = strings.next()?.ok()?;
        let rest = text[strings.byte_offset()..].strip_prefix(' ')?;
        return Some((stream, rest));
    }
    let (word, rest) = text.split_once(' ')?;
    let stream = String::from_utf8(message::unescape_word(word)?).ok()?;
    Some((stream, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers are read by their first word; anything else is output to pass on.
    #[test]
    fn reads_answers() {
        assert_eq!(
            answer(b"ack chennai 5-0\n"),
            Some(Answer::Ack(String::from("chennai"), StreamId::new(5, 0)))
        );
        assert_eq!(
            answer(b"fail chennai 5-1 sensor offline\n"),
            Some(Answer::Fail(
                String::from("chennai"),
                StreamId::new(5, 1),
                String::from("sensor offline")
            ))
        );
        assert_eq!(answer(b"mean 27.1\n"), None);
        assert_eq!(answer(b"ack chennai\n"), None);
        assert_eq!(
            answer(b"ack chennai 5-0 extra words\n"),
            answer(b"ack chennai 5-0\n")
        );
    }

    /// The quick reading of `ack` agrees with the full one: the same answer for the same
    /// stream and ID, nothing for any other line.
    #[test]
    fn reads_acks_quickly_as_answers_reads_them() {
        let id = StreamId::new(5, 0);
        let lines: [&[u8]; 12] = [
            b"ack chennai 5-0\n",
            b"ack chennai 5-0\r\n",
            b"ack chennai 5-0 extra words\n",
            b"ack chennai 5-0",
            b"ack chennai 5-1\n",
            b"ack chennai 5-0x\n",
            b"ack pune 5-0\n",
            b"ack chennai\n",
            b"fail chennai 5-0 bad\n",
            b"ack chennai 5-0 \xff\n",
            b"ack  chennai 5-0\n",
            b"ack chennai:5 5-0\n",
        ];
        for line in lines {
            let full = answer(line) == Some(Answer::Ack(String::from("chennai"), id));
            assert_eq!(acks(line, "chennai", id), full, "{line:?}");
        }
        // A key the human line escapes is left to the full reading.
        assert!(!acks(b"ack a\\x20b 5-0\n", "a\\x20b", id));
        assert!(acks(b"ack chennai:5 5-0\n", "chennai:5", id));
    }

    /// Any key can be answered for: as the human line escapes it, or as a JSON string; an
    /// unquoted key with a plain space is not one word and is no answer.
    #[test]
    fn reads_answers_for_any_key() {
        let delhi = Some(Answer::Ack(String::from("new delhi"), StreamId::new(5, 0)));
        assert_eq!(answer(b"ack new\\x20delhi 5-0\n"), delhi);
        assert_eq!(answer(b"ack \"new delhi\" 5-0\n"), delhi);
        assert_eq!(answer(b"ack new delhi 5-0\n"), None);
        assert_eq!(
            answer(b"fail \"a\\\\b\" 5-1 bad value"),
            Some(Answer::Fail(
                String::from("a\\b"),
                StreamId::new(5, 1),
                String::from("bad value")
            ))
        );
        assert_eq!(
            answer(b"ack tab\\tkey 1-1"),
            Some(Answer::Ack(String::from("tab\tkey"), StreamId::new(1, 1)))
        );
        assert_eq!(answer(b"ack bad\\q 1-1"), None);
    }
}
