//! Replies shaped as name/value pairs (XINFO GROUPS, XINFO CONSUMERS, XPENDING rows), read by
//! name rather than by position, so new fields in later server versions change nothing.
//!
//! ```text
//! XINFO GROUPS chennai (RESP2: a flat list per group; RESP3: a map)
//! *1
//!   *12  name mygroup  consumers 2  pending 1  last-delivered-id 1534291200041-0
//!        entries-read 42  lag 86358
//! ```

use redis::Value;

use crate::stream_id::StreamId;

/// One record of a reply: its fields by name, in server order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record(pub Vec<(String, Value)>);

impl Record {
    /// A record from a flat `[name, value, ...]` list or a map; `None` for anything else.
    pub fn from_value(value: Value) -> Option<Self> {
        let pairs = match value {
            Value::Array(flat) => {
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    pairs.push((text(&k)?, v));
                }
                pairs
            }
            Value::Map(map) => map
                .into_iter()
                .map(|(k, v)| Some((text(&k)?, v)))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(Record(pairs))
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Field `name` as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(text)
    }

    /// Field `name` as a number (`None` when missing or nil, as `lag` can be).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(int)
    }

    /// Field `name` as a stream ID.
    pub fn id(&self, name: &str) -> Option<StreamId> {
        self.text(name)?.parse().ok()
    }
}

/// A list of records (one per group, per consumer); `None` when the reply is not a list.
pub fn records(value: Value) -> Option<Vec<Record>> {
    match value {
        Value::Array(items) => items.into_iter().map(Record::from_value).collect(),
        _ => None,
    }
}

/// A string-like value as text.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(raw) => Some(String::from_utf8_lossy(raw).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, whether the server sent it as an integer or as text.
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// Flat lists and maps both read by name; nil stays missing.
    #[test]
    fn reads_by_name() {
        let flat = Value::Array(vec![
            bulk("name"),
            bulk("mygroup"),
            bulk("lag"),
            Value::Nil,
            bulk("pending"),
            Value::Int(3),
            bulk("last-delivered-id"),
            bulk("5-1"),
        ]);
        let record = Record::from_value(flat).unwrap();
        assert_eq!(record.text("name").as_deref(), Some("mygroup"));
        assert_eq!(record.int("pending"), Some(3));
        assert_eq!(record.int("lag"), None);
        assert_eq!(record.id("last-delivered-id"), Some(StreamId::new(5, 1)));
        let map = Value::Map(vec![(bulk("pending"), Value::Int(7))]);
        assert_eq!(Record::from_value(map).unwrap().int("pending"), Some(7));
        assert_eq!(records(Value::Int(1)), None);
    }
}
