//! What a consumer group still needs of its stream: its pin, the first entry it has not
//! finished with, which retention must never trim past; and whether anyone still reads it.
//!
//! ```text
//! XPENDING chennai mygroup                      its smallest pending ID, when it has any
//! XRANGE chennai (<last-delivered-id> + COUNT 1  else the first entry it was not given yet
//! XRANGE chennai <pin> <last-delivered-id> ...  counted page by page (lag counts the rest)
//! ```

use std::time::Duration;

use super::info::Group;
use super::link::Link;
use super::streams::{self, count_entries, first_entry_after};
use crate::error::Result;
use crate::stream_id::StreamId;

/// A group none of whose consumers was seen for this long is stale: nobody reads it, and it
/// holds retention back for ever.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// What a group holds of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The first ID the group still needs; `None`: it needs nothing (all read and acked).
    pub pins: Option<StreamId>,
    /// Entries of the stream at or after the pin.
    pub pinned_entries: u64,
    /// No consumer of the group was seen for [`STALE_AFTER`] (or it has none).
    pub stale: bool,
}

/// What `group` (with its members filled in) holds of `key`.
pub fn hold(link: &mut Link, key: &str, group: &Group) -> Result<Hold> {
    let pins = pin(link, key, group)?;
    let pinned_entries = match pins {
        Some(pin) => pinned_from(link, key, group, pin)?,
        None => 0,
    };
    Ok(Hold {
        pins,
        pinned_entries,
        stale: is_stale(group),
    })
}

/// The first ID `group` still needs: its smallest pending ID, else the first entry after its
/// last-delivered-id; `None` when it has read and acknowledged everything.
pub fn pin(link: &mut Link, key: &str, group: &Group) -> Result<Option<StreamId>> {
    if group.pending > 0
        && let Some(min) = streams::pending_summary(link, key, &group.name)?.min
    {
        return Ok(Some(min));
    }
    let after = group.last_delivered.map_or(StreamId::new(0, 0), |id| id);
    first_entry_after(link, key, after)
}

/// Whether no consumer of `group` was seen for [`STALE_AFTER`]; a group without consumers is
/// stale too (nobody will come back to read what it pins).
pub fn is_stale(group: &Group) -> bool {
    let limit = STALE_AFTER.as_millis() as u64;
    group.members.iter().all(|m| m.idle_ms > limit)
}

/// Entries of `key` at or after `pin`: the server's lag counts those after the group's
/// last-delivered-id exactly when it reports one, so only the pending part is read; without it,
/// everything from the pin is counted page by page.
fn pinned_from(link: &mut Link, key: &str, group: &Group, pin: StreamId) -> Result<u64> {
    match (group.lag, group.last_delivered) {
        (Some(lag), Some(last)) if pin <= last => {
            Ok(lag + count_entries(link, key, pin, &last.to_string())?)
        }
        (Some(lag), _) => Ok(lag),
        _ => count_entries(link, key, pin, "+"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::info::Member;

    /// Stale means every consumer was idle past a day, or there is none.
    #[test]
    fn stale_groups() {
        let member = |idle_ms| Member {
            name: String::from("alice"),
            pending: 0,
            idle_ms,
        };
        let group = |members| Group {
            members,
            ..Group::default()
        };
        assert!(is_stale(&group(vec![])));
        assert!(is_stale(&group(vec![member(90_000_000)])));
        assert!(!is_stale(&group(vec![member(90_000_000), member(5)])));
        assert!(!is_stale(&group(vec![member(86_400_000)])));
    }
}
