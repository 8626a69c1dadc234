//! Poison messages: entries that fail the `--require` schema, or were delivered too often, go
//! to a dead-letter stream instead of being processed, and are then acknowledged. Without
//! `--require` no content is poison: any fields, binary values and repeated names included, are
//! data (printed escaped, or handed to the handler, which decides).
//!
//! ```text
//! XADD chennai:dead * stream chennai id 1534291200000-0 reason "..." consumer alice deliveries 6
//!                     field:sensor 1 field:temperature abc ...
//! ```

use crate::message::{Entry, escaped};

/// One `--require FIELD[:number|:integer|:text]`: a field every entry must have, and the kind
/// of value it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    /// The field's name.
    pub field: String,
    /// What its value must be.
    pub kind: Kind,
}

/// What a required field's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything, as long as the field is there.
    Present,
    /// A finite number (`21`, `-3.5`, `1e3`).
    Number,
    /// A whole number.
    Integer,
    /// UTF-8 text.
    Text,
}

impl Require {
    /// Parses `FIELD`, `FIELD:number`, `FIELD:integer` or `FIELD:text` (the command line's
    /// parser names the flag around the reason it fails with).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let (field, kind) = match text.rsplit_once(':') {
            Some((field, "number")) => (field, Kind::Number),
            Some((field, "integer")) => (field, Kind::Integer),
            Some((field, "text")) => (field, Kind::Text),
            Some((_, other)) => {
                return Err(format!(
                    "unknown kind {other:?} (use FIELD, FIELD:number, FIELD:integer or FIELD:text)"
                ));
            }
            None => (text, Kind::Present),
        };
        if field.is_empty() {
            return Err(String::from(
                "it names no field (use e.g. temperature:number)",
            ));
        }
        Ok(Require {
            field: field.to_string(),
            kind,
        })
    }

    /// How `--require` was written, for a reason.
    fn flag(&self) -> String {
        let kind = match self.kind {
            Kind::Present => "",
            Kind::Number => ":number",
            Kind::Integer => ":integer",
            Kind::Text => ":text",
        };
        format!("--require {}{kind}", escaped(&self.field))
    }

    /// Why `value` fails this requirement, if it does.
    fn refuses(&self, value: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(value).ok();
        let ok = match self.kind {
            Kind::Present => true,
            Kind::Text => text.is_some(),
            Kind::Number => text.is_some_and(|t| t.parse::<f64>().is_ok_and(f64::is_finite)),
            Kind::Integer => text.is_some_and(|t| t.parse::<i64>().is_ok()),
        };
        let what = match self.kind {
            Kind::Text => "UTF-8 text",
            Kind::Integer => "an integer",
            _ => "a number",
        };
        (!ok).then(|| {
            format!(
                "{} \"{}\" is not {what} ({})",
                escaped(&self.field),
                escaped(&String::from_utf8_lossy(value)),
                self.flag()
            )
        })
    }
}

/// Why a message is not processed, if it is poison: past `--max-deliveries`, or failing one of
/// the `--require` rules (every value of a required field that repeats must pass).
pub fn verdict(message: &Entry<'_>, max_deliveries: u64, require: &[Require]) -> Option<String> {
    if message.deliveries > max_deliveries {
        return Some(format!(
            "delivered {} times, more than --max-deliveries {max_deliveries}",
            message.deliveries
        ));
    }
    let fields = message.fields?;
    for rule in require {
        let mut values = fields
            .iter()
            .filter(|(name, _)| *name == rule.field.as_bytes())
            .map(|(_, value)| value)
            .peekable();
        if values.peek().is_none() {
            return Some(format!(
                "no {} field ({})",
                escaped(&rule.field),
                rule.flag()
            ));
        }
        if let Some(reason) = values.find_map(|value| rule.refuses(value)) {
            return Some(reason);
        }
    }
    None
}

/// The kind of `reason`, without what is particular to one entry, for the count of dead letters
/// per reason at the end: `failed --require temperature:number`, `delivered more than
/// --max-deliveries 5`, or a handler's reason as it is (`handler exited 3`).
pub fn class(reason: &str) -> String {
    if let Some(rule) = reason
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once("(--require "))
        .map(|(_, rule)| rule)
    {
        return format!("failed --require {rule}");
    }
    if let Some((_, max)) = reason.split_once(", more than --max-deliveries ") {
        return format!("delivered more than --max-deliveries {max}");
    }
    reason.to_string()
}

/// The arguments of the dead-letter XADD (after the key and `*`), as described above.
pub fn dead_letter_fields(
    message: &Entry<'_>,
    reason: &str,
    consumer: &str,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut fields = vec![
        (b"stream".to_vec(), message.stream.as_bytes().to_vec()),
        (b"id".to_vec(), message.id.to_string().into_bytes()),
        (b"reason".to_vec(), reason.as_bytes().to_vec()),
        (b"consumer".to_vec(), consumer.as_bytes().to_vec()),
        (
            b"deliveries".to_vec(),
            message.deliveries.to_string().into_bytes(),
        ),
    ];
    for (name, value) in message.fields.iter().flat_map(|f| f.iter()) {
        let mut prefixed = b"field:".to_vec();
        prefixed.extend_from_slice(name);
        fields.push((prefixed, value.to_vec()));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::stream_id::StreamId;
    use std::sync::Arc;

    fn message(fields: &[(&[u8], &[u8])]) -> Message {
        Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1, 0),
            fields: Some(fields.iter().copied().collect()),
            deliveries: 1,
        }
    }

    fn verdict(message: &Message, max: u64) -> Option<String> {
        super::verdict(&message.entry(), max, &[])
    }

    fn required(message: &Message, rules: &[&str]) -> Option<String> {
        let rules: Vec<Require> = rules.iter().map(|r| Require::parse(r).unwrap()).collect();
        super::verdict(&message.entry(), 5, &rules)
    }

    /// Without `--require` no content is poison: other fields, binary values, repeated names,
    /// a temperature that is no number.
    #[test]
    fn any_content_is_data() {
        for fields in [
            &[(&b"item"[..], &b"book"[..]), (b"qty", b"2")][..],
            &[(b"temperature", b"abc")],
            &[(b"blob", b"\xff\x00\x01")],
            &[(b"qty", b"1"), (b"qty", b"2")],
            &[(b"\xff", b"1")],
        ] {
            assert_eq!(verdict(&message(fields), 5), None, "{fields:?}");
        }
    }

    /// `--require` names the field and the rule in its reason; every value of a repeated
    /// required field must pass.
    #[test]
    fn require_judges_each_rule() {
        let reading = message(&[(b"sensor", b"1"), (b"temperature", b"-3.5")]);
        assert_eq!(
            required(
                &reading,
                &["temperature:number", "sensor:integer", "sensor"]
            ),
            None
        );
        assert_eq!(
            required(&message(&[(b"humidity", b"10")]), &["temperature:number"]).as_deref(),
            Some("no temperature field (--require temperature:number)")
        );
        assert_eq!(
            required(
                &message(&[(b"temperature", b"warm")]),
                &["temperature:number"]
            )
            .as_deref(),
            Some("temperature \"warm\" is not a number (--require temperature:number)")
        );
        assert!(
            required(
                &message(&[(b"temperature", b"NaN")]),
                &["temperature:number"]
            )
            .is_some()
        );
        assert!(required(&message(&[(b"sensor", b"1.5")]), &["sensor:integer"]).is_some());
        assert!(required(&message(&[(b"note", b"\xff")]), &["note:text"]).is_some());
        assert_eq!(required(&message(&[(b"note", b"\xff")]), &["note"]), None);
        assert!(
            required(
                &message(&[(b"temperature", b"25"), (b"temperature", b"hot")]),
                &["temperature:number"]
            )
            .unwrap()
            .contains("\"hot\"")
        );
    }

    /// A bad `--require` is a usage error naming it; a field name may hold a colon when a kind
    /// follows it.
    #[test]
    fn require_parses() {
        assert_eq!(
            Require::parse("temperature").unwrap(),
            Require {
                field: String::from("temperature"),
                kind: Kind::Present
            }
        );
        assert_eq!(Require::parse("a:b:integer").unwrap().field, "a:b");
        assert!(Require::parse("").unwrap_err().contains("no field"));
        assert!(Require::parse(":number").unwrap_err().contains("no field"));
        assert!(
            Require::parse("temperature:float")
                .unwrap_err()
                .contains("unknown kind \"float\"")
        );
    }

    /// Reasons of one kind count together, whatever the entry.
    #[test]
    fn classes_of_reasons() {
        assert_eq!(
            class("temperature \"x\" is not a number (--require temperature:number)"),
            "failed --require temperature:number"
        );
        assert_eq!(
            class("no temperature field (--require temperature:number)"),
            "failed --require temperature:number"
        );
        assert_eq!(
            class("delivered 6 times, more than --max-deliveries 5"),
            "delivered more than --max-deliveries 5"
        );
        assert_eq!(class("handler exited 3"), "handler exited 3");
    }

    /// A field name in a reason is escaped: the consumer prints the reason as one line.
    #[test]
    fn reasons_escape_field_names() {
        let raw = message(&[(b"a\nb", b"x")]);
        assert_eq!(
            required(&raw, &["a\nb:number"]).as_deref(),
            Some("a\\nb \"x\" is not a number (--require a\\nb:number)")
        );
    }

    /// The sixth delivery with the default limit of five is poison.
    #[test]
    fn too_many_deliveries() {
        let over = Message {
            deliveries: 6,
            ..message(&[(b"temperature", b"26")])
        };
        assert!(verdict(&over, 5).unwrap().contains("delivered 6 times"));
        assert_eq!(
            verdict(
                &Message {
                    deliveries: 5,
                    ..over
                },
                5
            ),
            None
        );
    }

    /// A dead letter carries where it came from and the original fields under `field:`.
    #[test]
    fn dead_letter_shape() {
        let fields =
            dead_letter_fields(&message(&[(b"temperature", b"x")]).entry(), "bad", "alice");
        let names: Vec<_> = fields
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "stream",
                "id",
                "reason",
                "consumer",
                "deliveries",
                "field:temperature"
            ]
        );
        assert_eq!(fields[1].1, b"1-0");
    }
}
