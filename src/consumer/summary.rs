//! What a consumer did: counts printed on stderr when it stops.

use std::collections::BTreeMap;
use std::time::Duration;

/// What a consumer did, printed on stderr when it stops.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Messages processed and acknowledged (re-read and claimed ones included).
    pub processed: u64,
    /// Own pending messages re-read after a restart or a broken connection.
    pub recovered: u64,
    /// Messages claimed from other consumers.
    pub claimed: u64,
    /// Messages sent to the dead-letter stream.
    pub dead_lettered: u64,
    /// The dead letters by the kind of their reason ([`super::poison::class`]).
    pub dead_reasons: BTreeMap<String, u64>,
    /// Pending IDs acknowledged because their entry no longer exists.
    pub deleted: u64,
    /// Idle consumers deleted from the group.
    pub pruned: u64,
    /// Entries in hand that another consumer took over meanwhile (dropped, not processed).
    pub taken_by_others: u64,
    /// Handler runs that failed (`--exec`, `--pipe`): retried, or dead-lettered after the last.
    pub failed: u64,
    /// Times the `--pipe` handler was started again after it stopped.
    pub restarts: u64,
    /// Time from start to stop.
    pub elapsed: Duration,
}

impl Summary {
    /// Adds another part's counts (cluster mode runs one part per stream).
    pub fn add(&mut self, other: &Summary) {
        self.processed += other.processed;
        self.recovered += other.recovered;
        self.claimed += other.claimed;
        self.dead_lettered += other.dead_lettered;
        for (reason, n) in &other.dead_reasons {
            *self.dead_reasons.entry(reason.clone()).or_default() += n;
        }
        self.deleted += other.deleted;
        self.pruned += other.pruned;
        self.taken_by_others += other.taken_by_others;
        self.failed += other.failed;
        self.restarts += other.restarts;
    }

    /// Whether the run read messages and dead-lettered every one (processed none): a schema
    /// or a handler that refuses everything, which a script should not take for success.
    pub fn all_dead(&self) -> bool {
        self.processed == 0 && self.dead_lettered > 0
    }

    /// The line of dead letters by reason, when there were any: `alice: 1461 of 1461
    /// dead-lettered: 1461 failed --require temperature:number`.
    pub fn dead_line(&self, name: &str) -> Option<String> {
        if self.dead_lettered == 0 {
            return None;
        }
        let reasons: Vec<String> = self
            .dead_reasons
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        Some(format!(
            "{name}: {} of {} dead-lettered: {}",
            self.dead_lettered,
            self.processed + self.dead_lettered,
            reasons.join(", ")
        ))
    }

    /// The one line printed on stderr at the end.
    pub fn line(&self, name: &str) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.processed as f64 / secs
        } else {
            0.0
        };
        format!(
            "{name}: processed {} messages in {secs:.1} s ({rate:.0}/s); {} re-read from its own pending list, \
             {} claimed from other consumers, {} dead-lettered, {} deleted while pending, {} idle consumers pruned, \
             {} taken over by others while in hand, {} handler runs failed, {} handler restarts",
            self.processed,
            self.recovered,
            self.claimed,
            self.dead_lettered,
            self.deleted,
            self.pruned,
            self.taken_by_others,
            self.failed,
            self.restarts
        )
    }
}
