//! Poison messages: entries that cannot be read as a reading, or were delivered too often, go to
//! a dead-letter stream instead of being processed, and are then acknowledged.
//!
//! ```text
//! XADD chennai:dead * stream chennai id 1534291200000-0 reason "..." consumer alice deliveries 6
//!                     field:sensor 1 field:temperature abc ...
//! ```

use crate::message::{Entry, escaped};

/// Why a message is not processed, if it is poison.
pub fn verdict(message: &Entry<'_>, max_deliveries: u64) -> Option<String> {
    if message.deliveries > max_deliveries {
        return Some(format!(
            "delivered {} times, more than --max-deliveries {max_deliveries}",
            message.deliveries
        ));
    }
    let fields = message.fields?;
    for (index, (name, _)) in fields.iter().enumerate() {
        // A field twice: which value is the reading? Validating one and printing the other
        // would pass a bad value as good.
        if fields
            .iter()
            .take(index)
            .any(|(earlier, _)| earlier == name)
        {
            return Some(format!("field {} appears twice", shown(name)));
        }
    }
    for (name, value) in fields.iter() {
        if std::str::from_utf8(name).is_err() || std::str::from_utf8(value).is_err() {
            return Some(format!("field {} is not UTF-8", shown(name)));
        }
    }
    let number = |name: &str, integer: bool| -> Option<String> {
        let value = std::str::from_utf8(message.field(name)?).unwrap_or_default();
        let ok = if integer {
            value.parse::<i64>().is_ok()
        } else {
            value.parse::<f64>().is_ok_and(f64::is_finite)
        };
        (!ok).then(|| format!("{name} {value:?} is not a number"))
    };
    if message.field("temperature").is_none() {
        return Some(String::from("no temperature field"));
    }
    number("temperature", false)
        .or_else(|| number("humidity", false))
        .or_else(|| number("sensor", true))
}

/// A field name as a reason shows it: escaped, because the consumer prints the reason as one
/// line on stderr.
fn shown(name: &[u8]) -> String {
    escaped(&String::from_utf8_lossy(name))
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
        super::verdict(&message.entry(), max)
    }

    /// The original walkthrough's entries are valid readings; broken ones are poison.
    #[test]
    fn judges_readings() {
        assert_eq!(
            verdict(
                &message(&[(b"temperature", b"26"), (b"humidity", b"10")]),
                5
            ),
            None
        );
        assert_eq!(
            verdict(&message(&[(b"sensor", b"1"), (b"temperature", b"21")]), 5),
            None
        );
        assert_eq!(
            verdict(
                &message(&[
                    (b"sensor", b"2"),
                    (b"temperature", b"-3.5"),
                    (b"humidity", b"71")
                ]),
                5
            ),
            None
        );
        assert!(
            verdict(&message(&[(b"humidity", b"10")]), 5)
                .unwrap()
                .contains("no temperature")
        );
        assert!(
            verdict(&message(&[(b"temperature", b"warm")]), 5)
                .unwrap()
                .contains("temperature")
        );
        assert!(
            verdict(
                &message(&[(b"temperature", b"2"), (b"humidity", b"wet")]),
                5
            )
            .unwrap()
            .contains("humidity")
        );
        assert!(
            verdict(&message(&[(b"temperature", b"2"), (b"sensor", b"1.5")]), 5)
                .unwrap()
                .contains("sensor")
        );
        assert!(
            verdict(&message(&[(b"temperature", b"2"), (b"note", b"\xff")]), 5)
                .unwrap()
                .contains("UTF-8")
        );
        assert!(verdict(&message(&[(b"temperature", b"NaN")]), 5).is_some());
        assert_eq!(
            verdict(
                &message(&[(b"temperature", b"25"), (b"temperature", b"hot")]),
                5
            )
            .as_deref(),
            Some("field temperature appears twice")
        );
    }

    /// A field name in a reason is escaped: the consumer prints the reason as one line.
    #[test]
    fn reasons_escape_field_names() {
        let twice = message(&[(b"a\nb", b"1"), (b"a\nb", b"2")]);
        assert_eq!(
            verdict(&twice, 5).as_deref(),
            Some("field a\\nb appears twice")
        );
        let raw = message(&[(b"temperature", b"2"), (b"\x1b[2J\xff", b"1")]);
        assert_eq!(
            verdict(&raw, 5).as_deref(),
            Some("field \\x1b[2J\u{fffd} is not UTF-8")
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
