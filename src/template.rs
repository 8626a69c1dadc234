//! `--template TEMPLATE`: one line per entry in a shape a script chooses, as kcat's `-f` does
//! (named `--template`: the producer's `--format` is the format of its input).
//!
//! ```text
//! --template '{id} {field:temperature}'        1534291200000-0 27.4
//! --template '{time}\t{stream}\t{fields}'      2018-08-15T00:00:00Z<TAB>chennai<TAB>sensor=1 ...
//! ```
//!
//! Placeholders: `{stream}`, `{id}`, `{ms}` (the ID's milliseconds), `{time}` (its UTC time),
//! `{consumer}` and `{deliveries}` (the consumer's; empty and 1 where no group delivered it),
//! `{field:NAME}` (empty when the entry has no such field), `{fields}` (every field as
//! `name=value`, as the human line writes them); `{{` and `}}` are braces, `\n` `\t` `\\` what
//! they are in C. Values are escaped as in the human line (a control character as `\n`, `\xNN`),
//! so an entry is always its own line, however it is shaped; each entry's text ends with a
//! newline.

use crate::message::{self, Entry};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied as it is.
    Text(Vec<u8>),
    Stream,
    Id,
    Ms,
    Time,
    Consumer,
    Deliveries,
    /// One field's value.
    Field(Vec<u8>),
    /// Every field, `name=value` with spaces between.
    Fields,
}

/// The placeholders a template knows, for error messages.
const KNOWN: &str =
    "{stream}, {id}, {ms}, {time}, {consumer}, {deliveries}, {field:NAME}, {fields}";

impl Template {
    /// Parses `text`; an unknown placeholder, an unclosed `{`, a lone `}` or an unknown `\`
    /// escape is an error that names it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push(b'{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push(b'}');
                }
                '}' => return Err(String::from("a '}' without its '{' (write }} for a brace)")),
                '{' => {
                    let mut name = String::new();
                    let closed = loop {
                        match chars.next() {
                            Some('}') => break true,
                            Some(c) => name.push(c),
                            None => break false,
                        }
                    };
                    if !closed {
                        return Err(format!("'{{{name}' is not closed with '}}'"));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(&name)?);
                }
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => {
                        return Err(format!("unknown escape \\{other} (use \\n, \\t, \\\\)"));
                    }
                    None => return Err(String::from("a '\\' at the end (write \\\\)")),
                },
                c => literal.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Appends `entry`'s line, delivered to `consumer` (empty where no group delivered it),
    /// ending with a newline.
    pub fn write(&self, out: &mut Vec<u8>, consumer: &str, entry: &Entry<'_>) {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.extend_from_slice(text),
                Part::Stream => message::write_word(out, entry.stream.as_bytes()),
                Part::Id => {
                    let mut ms = itoa::Buffer::new();
                    let mut seq = itoa::Buffer::new();
                    out.extend_from_slice(ms.format(entry.id.ms).as_bytes());
                    out.push(b'-');
                    out.extend_from_slice(seq.format(entry.id.seq).as_bytes());
                }
                Part::Ms => {
                    out.extend_from_slice(itoa::Buffer::new().format(entry.id.ms).as_bytes())
                }
                Part::Time => message::write_time(out, entry.id),
                Part::Consumer => message::write_word(out, consumer.as_bytes()),
                Part::Deliveries => {
                    let deliveries = entry.deliveries.max(1);
                    out.extend_from_slice(itoa::Buffer::new().format(deliveries).as_bytes());
                }
                Part::Field(name) => {
                    let value = entry
                        .fields
                        .iter()
                        .flat_map(|f| f.iter())
                        .find(|(k, _)| k == name);
                    if let Some((_, value)) = value {
                        message::write_escaped(out, value);
                    }
                }
                Part::Fields => match &entry.fields {
                    Some(fields) => {
                        for (i, (name, value)) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(b' ');
                            }
                            message::write_escaped(out, name);
                            out.push(b'=');
                            message::write_escaped(out, value);
                        }
                    }
                    None => out.extend_from_slice(b"(deleted)"),
                },
            }
        }
        out.push(b'\n');
    }
}

/// The part a `{name}` stands for.
fn placeholder(name: &str) -> Result<Part, String> {
    Ok(match name {
        "stream" => Part::Stream,
        "id" => Part::Id,
        "ms" => Part::Ms,
        "time" => Part::Time,
        "consumer" => Part::Consumer,
        "deliveries" => Part::Deliveries,
        "fields" => Part::Fields,
        _ => match name.strip_prefix("field:") {
            Some(field) if !field.is_empty() => Part::Field(field.as_bytes().to_vec()),
            _ => return Err(format!("unknown placeholder {{{name}}} (known: {KNOWN})")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::stream_id::StreamId;
    use std::sync::Arc;

    /// A reading of chennai with a newline in one value, delivered twice.
    fn message() -> Message {
        let mut message = Message {
            stream: Arc::from("new delhi"),
            id: StreamId::new(1534291200500, 0),
            fields: None,
            deliveries: 2,
        };
        let mut fields = crate::message::OwnedFields::default();
        fields.push(b"temperature", b"27.4");
        fields.push(b"note", b"a\nb");
        message.fields = Some(fields);
        message
    }

    /// Text around the shape.
    fn render(template: &str) -> String {
        let mut out = Vec::new();
        Template::parse(template)
            .unwrap()
            .write(&mut out, "alice", &message().entry());
        String::from_utf8(out).unwrap()
    }

    /// Every placeholder, escapes in the template, and values escaped as in the human line.
    #[test]
    fn every_placeholder_fills_in() {
        assert_eq!(
            render("{consumer} {stream} {id} {ms} {time} {deliveries}"),
            "alice new\\x20delhi 1534291200500-0 1534291200500 2018-08-15T00:00:00.500Z 2\n"
        );
        assert_eq!(
            render("{field:temperature}\\t{field:note}|{field:absent}|{{x}}"),
            "27.4\ta\\nb||{x}\n"
        );
        assert_eq!(render("{fields}"), "temperature=27.4 note=a\\nb\n");
    }

    /// Mistakes are named: the placeholder, an unclosed brace, a lone one, an escape.
    #[test]
    fn mistakes_are_named() {
        let error = |t: &str| Template::parse(t).unwrap_err();
        assert!(
            error("{temp}").contains("unknown placeholder {temp}"),
            "{}",
            error("{temp}")
        );
        assert!(error("{id").contains("not closed"));
        assert!(error("a}b").contains("without its '{'"));
        assert!(error("\\q").contains("unknown escape \\q"));
        assert!(error("{field:}").contains("unknown placeholder"));
    }
}
