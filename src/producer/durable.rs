//! `--wait-replicas N`: where a producer's entries are counted as confirmed, once a WAIT says N
//! replicas have them.
//!
//! Each batch ends with its WAIT (the window sends it). A short answer stops new batches: the
//! ones in flight are settled, then WAIT is asked again on the same connection, with no write in
//! between, until it says N or `--retry-for` is over ([`crate::Error::NotReplicated`]). After a
//! break the writer asks the stream where it ends and sends again what it lacks, whose WAIT then
//! covers everything the (maybe new) master holds; when nothing is left to send, a WAIT on the
//! new connection is preceded by a write that changes nothing
//! ([`touch`](crate::server::replicas::touch)): by WAIT's contract, a connection that wrote
//! nothing proves nothing.

use super::{CityRun, Replicated};
use crate::error::Result;
use crate::server::Link;
use crate::server::replicas::Durability;

/// How much of one run N replicas were seen to have.
pub struct Confirmation {
    durability: Durability,
    key: String,
    /// Entries of this run confirmed on N replicas.
    confirmed: u64,
    /// The link's epoch when a batch last settled: a WAIT on a later connection covers its
    /// writes only after a write of its own ([`touch`](crate::server::replicas::touch)).
    wrote_on: Option<u64>,
}

impl Confirmation {
    /// The confirmation of `run`'s writes, with `--wait-replicas` (`None` without).
    pub fn of(run: &CityRun) -> Option<Self> {
        run.wait.map(|replicas| Confirmation {
            durability: Durability::new(replicas, run.retry_for),
            key: run.key.clone(),
            confirmed: 0,
            wrote_on: None,
        })
    }

    /// A batch's WAIT said `got`, the run's first `done` entries being acknowledged up to the
    /// batch's end: `true` when they are confirmed, `false` when short (settle what is in flight,
    /// then [`Confirmation::confirm`]); an error after `--retry-for` of short answers.
    pub fn answered(&mut self, link: &Link, got: u64, done: u64) -> Result<bool> {
        self.wrote_on = Some(link.epoch());
        let (key, confirmed) = (&self.key, self.confirmed);
        let said = || about(key, confirmed);
        let enough = self.durability.answered(link, got, &said)?;
        if enough {
            self.confirmed = done;
        }
        Ok(enough)
    }

    /// Whether a WAIT came back short and nothing since confirmed the writes.
    pub fn is_short(&self) -> bool {
        self.durability.is_short()
    }

    /// Whether the run's first `done` entries are all confirmed.
    pub fn covers(&self, done: u64) -> bool {
        self.confirmed >= done
    }

    /// WAITs again until N replicas have the run's first `done` entries (`true`), or the
    /// connection breaks (`false`: ask the stream again where it ends). When they were written
    /// on an earlier connection (or none by this run), the stream is touched first.
    pub fn confirm(&mut self, link: &mut Link, done: u64) -> Result<bool> {
        let fresh = self.wrote_on != Some(link.epoch());
        let (key, confirmed) = (&self.key, self.confirmed);
        let said = || about(key, confirmed);
        let enough = self.durability.confirm(link, (key, fresh), &said)?;
        if enough {
            self.confirmed = done;
        }
        Ok(enough)
    }

    /// After a break: the stream now holds the run's first `held` entries; any confirmed beyond
    /// them were lost with a failover, and count again once written again.
    pub fn held(&mut self, held: u64) {
        self.confirmed = self.confirmed.min(held);
    }

    /// What the report says.
    pub fn report(&self) -> Replicated {
        Replicated {
            replicas: self.durability.replicas().wanted,
            entries: self.confirmed,
        }
    }
}

/// What a producer's confirmation is about, and what a failure leaves: the entries confirmed.
fn about(key: &str, confirmed: u64) -> (String, String) {
    (
        format!("the writes to {key}"),
        format!(
            "{confirmed} entries of this run were confirmed; the others are on the master (a \
             rerun with --wait-replicas writes what the stream lacks and confirms it)"
        ),
    )
}
