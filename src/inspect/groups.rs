//! `inspect groups STREAM`: each consumer group with its consumers, pending count, last
//! delivered ID and lag; each consumer with its pending count and idle time.
//!
//! ```text
//! XINFO GROUPS chennai                 name, consumers, pending, last-delivered-id,
//!                                      entries-read, lag (the last two from Redis 7.0)
//! XINFO CONSUMERS chennai mygroup      name, pending, idle (ms)
//! XPENDING chennai mygroup; XRANGE ... what it still needs: its pin (see server::pins)
//! ```

use std::io::Write;

use super::table::Table;
use crate::error::Result;
use crate::server::info::Group;
use crate::server::pins::{self, Hold};
use crate::server::{Link, streams};

/// `groups`: which stream, printed how.
#[derive(Debug, Clone)]
pub struct Groups {
    /// The full stream key.
    pub key: String,
    /// One JSON object per group instead of columns.
    pub json: bool,
}

impl Groups {
    /// Asks for the groups and their consumers, and writes them.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        let groups = streams::groups(link, &self.key)?;
        let holds = groups
            .iter()
            .map(|g| pins::hold(link, &self.key, g))
            .collect::<Result<Vec<_>>>()?;
        let text = if self.json {
            groups
                .iter()
                .zip(&holds)
                .map(|(g, h)| format!("{}\n", to_json(&self.key, g, h)))
                .collect()
        } else {
            render(&self.key, &groups, &holds)
        };
        super::emit(out, &text)
    }
}

/// A group as a JSON object: `stream`, `name`, `consumers` (a count), `pending`,
/// `last_delivered_id`, `entries_read`, `lag` (null where the server cannot tell), what it holds
/// back from retention (`pins`: the first ID it still needs or null, `pinned_entries`, `stale`)
/// and `members` (`name`, `pending`, `idle_ms`).
pub fn to_json(stream: &str, group: &Group, hold: &Hold) -> serde_json::Value {
    serde_json::json!({
        "stream": stream,
        "name": group.name,
        "consumers": group.consumers,
        "pending": group.pending,
        "last_delivered_id": group.last_delivered.map(|id| id.to_string()),
        "entries_read": group.entries_read,
        "lag": group.lag,
        "pins": hold.pins.map(|id| id.to_string()),
        "pinned_entries": hold.pinned_entries,
        "stale": hold.stale,
        "members": group.members.iter()
            .map(|m| serde_json::json!({"name": m.name, "pending": m.pending, "idle_ms": m.idle_ms}))
            .collect::<Vec<_>>(),
    })
}

/// The groups for people: one table of groups, then one table of consumers per group.
pub fn render(stream: &str, groups: &[Group], holds: &[Hold]) -> String {
    if groups.is_empty() {
        return format!("{stream} has no consumer groups\n");
    }
    let mut table = Table::new(&[
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAST DELIVERED (UTC)",
        "LAG",
        "PINS (UTC)",
        "PINNED",
        "STALE",
    ]);
    table.right(1).right(2).right(4).right(6);
    for (group, hold) in groups.iter().zip(holds) {
        table.row(vec![
            group.name.clone(),
            group.consumers.to_string(),
            group.pending.to_string(),
            super::id_with_time(group.last_delivered),
            group
                .lag
                .map_or_else(|| String::from("?"), |lag| lag.to_string()),
            super::id_with_time(hold.pins),
            hold.pinned_entries.to_string(),
            String::from(if hold.stale { "yes" } else { "no" }),
        ]);
    }
    let mut text = table.render(true);
    for group in groups {
        text.push_str(&format!("\nconsumers of {}:\n", group.name));
        if group.members.is_empty() {
            text.push_str("(none)\n");
            continue;
        }
        let mut members = Table::new(&["CONSUMER", "PENDING", "IDLE"]);
        members.right(1).right(2);
        for member in &group.members {
            members.row(vec![
                member.name.clone(),
                member.pending.to_string(),
                super::human_ms(member.idle_ms),
            ]);
        }
        text.push_str(&members.render(true));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::info::Member;
    use crate::stream_id::StreamId;

    fn sample() -> Group {
        let member = |name: &str, pending, idle_ms| Member {
            name: name.to_string(),
            pending,
            idle_ms,
        };
        Group {
            name: String::from("mygroup"),
            consumers: 2,
            pending: 1,
            last_delivered: Some(StreamId::new(1534291241000, 0)),
            entries_read: Some(42),
            lag: None,
            members: vec![member("alice", 0, 120), member("bob", 1, 4100)],
        }
    }

    fn hold() -> Hold {
        Hold {
            pins: Some(StreamId::new(1534291240000, 0)),
            pinned_entries: 86_360,
            stale: false,
        }
    }

    /// A group's JSON has the issue's names, with an unknown lag as null.
    #[test]
    fn json_shape() {
        assert_eq!(
            to_json("chennai", &sample(), &hold()),
            serde_json::json!({"stream": "chennai", "name": "mygroup", "consumers": 2,
                "pending": 1, "last_delivered_id": "1534291241000-0", "entries_read": 42,
                "lag": null, "pins": "1534291240000-0", "pinned_entries": 86360, "stale": false,
                "members": [{"name": "alice", "pending": 0, "idle_ms": 120},
                {"name": "bob", "pending": 1, "idle_ms": 4100}]})
        );
    }

    /// People see the groups, then each group's consumers, in aligned columns.
    #[test]
    fn renders_for_people() {
        assert_eq!(
            render("chennai", &[sample()], &[hold()]),
            "GROUP    CONSUMERS  PENDING  LAST DELIVERED (UTC)                    LAG  \
             PINS (UTC)                              PINNED  STALE\n\
             mygroup          2        1  1534291241000-0 (2018-08-15T00:00:41Z)    ?  \
             1534291240000-0 (2018-08-15T00:00:40Z)   86360  no\n\
             \n\
             consumers of mygroup:\n\
             CONSUMER  PENDING   IDLE\n\
             alice           0  120ms\n\
             bob             1   4.1s\n"
        );
        assert_eq!(
            render("chennai", &[], &[]),
            "chennai has no consumer groups\n"
        );
    }
}
