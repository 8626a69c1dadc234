//! Dead letters: written exactly once into a dead-letter stream, across breaks, on whichever
//! node holds that stream (on a cluster `<stream>:dead` hashes to a slot of its own).
//!
//! ```text
//! XINFO STREAM chennai:dead                      its last ID before we write (once per letter)
//! XADD chennai:dead * stream chennai id 1534291200000-0 reason ... field:temperature abc
//! (a break:) XRANGE chennai:dead (<that last ID> +   did the XADD land before the break?
//! WAIT 1 1000                                     --wait-replicas: before the entry's XACK
//! XDEL chennai:dead <id>                          a redriven letter, handled
//! ```
//!
//! With `--wait-replicas N` a letter is written only once N replicas have it, on the link that
//! wrote it (on a cluster, the node of the dead-letter stream): the caller acknowledges the
//! entry after that, so a failover cannot leave an entry acknowledged whose letter is lost.
//!
//! An XADD with `*` repeated blindly after a break writes a second dead letter; so after a break
//! only what was added since the stream's last ID before the attempt is looked through (other
//! consumers' dead letters of that moment, a handful), never the whole stream.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use super::fault::{self, Failure, Verdict};
use super::link::{Health, Link};
use super::replicas::{Durability, Replicas};
use super::resp::Command;
use super::streams::{self, Direction};
use super::target::Target;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// The writer of dead letters, with one link per node it writes to (opened on first use).
pub struct DeadLetters {
    target: Target,
    retry_for: Option<Duration>,
    stop: Option<Shutdown>,
    health: Option<Arc<Health>>,
    /// `--wait-replicas`: a letter counts as written once this many replicas have it.
    replicas: Option<Replicas>,
    /// Links by dead-letter key on a cluster; one link (under `""`) off a cluster.
    links: HashMap<String, Link>,
}

impl DeadLetters {
    /// A writer to `target` that rides out breaks within `retry_for`.
    pub fn new(target: &Target, retry_for: Option<Duration>) -> Self {
        DeadLetters {
            target: target.clone(),
            retry_for,
            stop: None,
            health: None,
            replicas: None,
            links: HashMap::new(),
        }
    }

    /// Counts a letter as written only once `replicas` have it (`--wait-replicas`).
    pub fn wait_for(&mut self, replicas: Option<Replicas>) {
        self.replicas = replicas;
    }

    /// Stops every wait on `stop`, and reports breaks to `health`.
    pub fn watch(&mut self, stop: &Shutdown, health: Option<&Arc<Health>>) {
        self.stop = Some(stop.clone());
        self.health = health.cloned();
    }

    /// The link for `key`, opened on first use.
    fn link(&mut self, key: &str) -> Result<&mut Link> {
        let slot = if self.target.is_cluster() { key } else { "" };
        match self.links.entry(slot.to_string()) {
            Entry::Occupied(link) => Ok(link.into_mut()),
            Entry::Vacant(place) => {
                let mut link = Link::open(&self.target, key, self.retry_for)?;
                if let Some(stop) = &self.stop {
                    link.stop_on(stop);
                }
                if let Some(health) = &self.health {
                    link.report_to(health);
                }
                Ok(place.insert(link))
            }
        }
    }

    /// Writes the dead letter `fields` of the entry `origin` (its stream and ID, which the
    /// letter's `stream` and `id` fields carry) into `key`, exactly once, and with
    /// `--wait-replicas` waits until N replicas have it. A refusal by the server is
    /// [`Error::DeadLetter`], too few replicas for `--retry-for` [`Error::NotReplicated`]: the
    /// entry stays pending.
    pub fn write(
        &mut self,
        key: &str,
        fields: &[(Vec<u8>, Vec<u8>)],
        origin: (&str, StreamId),
    ) -> Result<()> {
        let (replicas, retry_for) = (self.replicas, self.retry_for);
        let link = self.link(key)?;
        let before = last_id(link, key)?;
        let mut earlier = add(link, key, fields, (before, origin))?;
        let Some(replicas) = replicas else {
            return Ok(());
        };
        let mut durability = Durability::new(replicas, retry_for);
        let about = || {
            (
                format!("the dead letter of {} {} in {key}", origin.0, origin.1),
                String::from("the entry stays pending (not acknowledged: nothing is lost)"),
            )
        };
        // A break while waiting: the (maybe new) master may not hold the letter; it is written
        // again unless it does, and waited for again.
        while !durability.confirm(link, (key, earlier), &about)? {
            earlier = landed(link, key, before, origin)?;
            if !earlier {
                earlier = add(link, key, fields, (before, origin))?;
            }
        }
        Ok(())
    }

    /// Deletes the entries `ids` of `key` (a redriven dead letter that was handled).
    pub fn delete(&mut self, key: &str, ids: &[StreamId]) -> Result<()> {
        let link = self.link(key)?;
        streams::delete_entries(link, key, ids)
    }

    /// Every dead letter of `key` up to its newest at this moment, page by page; `each` returns
    /// whether to go on.
    pub fn read_all(
        &mut self,
        key: &str,
        mut each: impl FnMut(&super::Batch) -> Result<bool>,
    ) -> Result<()> {
        let link = self.link(key)?;
        // Only what is there now: letters written from here on come after it.
        let Some(end) = streams::newest_entry(link, key)? else {
            return Ok(());
        };
        let end = end.to_string();
        streams::range_pages(
            link,
            key,
            ("-", &end),
            Direction::Forward,
            1000,
            None,
            |page| each(page),
        )
    }
}

/// XADDs the dead letter `fields` of `origin` into `key` once, across breaks (`before`: the
/// stream's last ID before the first attempt). Returns whether it landed on an earlier
/// connection (its reply lost to a break, the letter found after it).
fn add(
    link: &mut Link,
    key: &str,
    fields: &[(Vec<u8>, Vec<u8>)],
    (before, origin): (Option<StreamId>, (&str, StreamId)),
) -> Result<bool> {
    let command = Command::new("XADD")
        .arg(key)
        .arg("*")
        .args(fields.iter().flat_map(|(name, value)| [name, value]));
    let what = || format!("XADD {key}");
    let refused = |reason: String| Error::DeadLetter {
        key: key.to_string(),
        entry: format!("{} {}", origin.0, origin.1),
        reason,
    };
    loop {
        let failure = match link.attempt(&command) {
            Ok(Ok(_)) => {
                link.settled();
                return Ok(false);
            }
            Ok(Err(answer)) => Failure::Answer(answer),
            Err(fault) => Failure::Fault(fault),
        };
        let verdict = fault::judge(&failure, link.is_routed());
        if matches!(verdict, Verdict::Refused | Verdict::Answer) {
            return Err(match link.error(&what, &failure) {
                Error::Server { reason, .. } | Error::Refused { reason, .. } => refused(reason),
                other => other,
            });
        }
        // An error answer means it was not written; a lost reply may mean it was.
        let lost = matches!(failure, Failure::Fault(_));
        link.ride_out(&what, failure)?;
        if lost && landed(link, key, before, origin)? {
            return Ok(true);
        }
    }
}

/// The last ID of the dead-letter stream `key` (`None`: missing, or not a stream: the XADD
/// then says why it cannot be written, and that is the dead letter's refusal).
fn last_id(link: &mut Link, key: &str) -> Result<Option<StreamId>> {
    let command = Command::new("XINFO").arg("STREAM").arg(key);
    let what = || format!("XINFO STREAM {key}");
    Ok(match link.call_or(&command, what, |_| true)? {
        Ok(reply) => super::info::stream_info(reply).and_then(|info| info.last_generated_id),
        Err(_) => None,
    })
}

/// Whether `key` holds a dead letter of `origin` added after `before` (its last ID before the
/// attempt; `None`: it had none).
fn landed(
    link: &mut Link,
    key: &str,
    before: Option<StreamId>,
    origin: (&str, StreamId),
) -> Result<bool> {
    let from = before.map_or_else(|| String::from("-"), |id| id.successor().to_string());
    let (stream, id) = (origin.0.as_bytes(), origin.1.to_string());
    let mut found = false;
    streams::range_pages(
        link,
        key,
        (&from, "+"),
        Direction::Forward,
        1000,
        None,
        |page| {
            found = page.iter().any(|dead| {
                dead.field("stream") == Some(stream) && dead.field("id") == Some(id.as_bytes())
            });
            Ok(!found)
        },
    )?;
    Ok(found)
}
