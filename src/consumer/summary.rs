//! What a consumer did: counts printed on stderr when it stops.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::color::{self, Paint};

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
        let line = format!(
            "{name}: {} of {} dead-lettered: {}",
            self.dead_lettered,
            self.processed + self.dead_lettered,
            reasons.join(", ")
        );
        Some(color::stderr(Paint::DeadLetter, &line).into_owned())
    }

    /// Messages per second over the run, as a whole number.
    fn rate(&self) -> u64 {
        let secs = self.elapsed.as_secs_f64();
        match secs > 0.0 {
            true => (self.processed as f64 / secs).round() as u64,
            false => 0,
        }
    }

    /// The counts beside `processed`, with their words, in the order the line says them.
    fn counts(&self) -> [(u64, &'static str); 8] {
        [
            (self.recovered, "re-read from its own pending list"),
            (self.claimed, "claimed from other consumers"),
            (self.dead_lettered, "dead-lettered"),
            (self.deleted, "deleted while pending"),
            (self.pruned, "idle consumers pruned"),
            (self.taken_by_others, "taken over by others while in hand"),
            (self.failed, "handler runs failed"),
            (self.restarts, "handler restarts"),
        ]
    }

    /// The one line printed on stderr at the end: what was processed and how fast, then only
    /// the counts that are not zero (`alice: processed 3 messages in 0.3 s (9 messages/s); 1
    /// claimed from other consumers`).
    pub fn line(&self, name: &str) -> String {
        let noun = match self.processed {
            1 => "message",
            _ => "messages",
        };
        let mut line = format!(
            "{name}: processed {} {noun} in {:.1} s ({} messages/s)",
            self.processed,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        let happened: Vec<String> = self
            .counts()
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, words)| {
                let count = format!("{n} {words}");
                match words {
                    "claimed from other consumers" | "taken over by others while in hand" => {
                        color::stderr(Paint::Claim, &count).into_owned()
                    }
                    "dead-lettered" => color::stderr(Paint::DeadLetter, &count).into_owned(),
                    _ => count,
                }
            })
            .collect();
        if !happened.is_empty() {
            line.push_str("; ");
            line.push_str(&happened.join(", "));
        }
        line
    }

    /// All of it as one JSON object for scripts (`--json`): every count, zeros included, the
    /// dead letters by reason, the time taken and the rate.
    pub fn to_json(&self, name: &str) -> serde_json::Value {
        serde_json::json!({
            "consumer": name,
            "processed": self.processed,
            "recovered": self.recovered,
            "claimed": self.claimed,
            "dead_lettered": self.dead_lettered,
            "dead_reasons": self.dead_reasons,
            "deleted": self.deleted,
            "pruned": self.pruned,
            "taken_by_others": self.taken_by_others,
            "failed": self.failed,
            "restarts": self.restarts,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "messages_per_second": self.rate(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line names only what happened; the JSON holds every count.
    #[test]
    fn names_only_what_happened() {
        let mut summary = Summary {
            processed: 3,
            elapsed: Duration::from_millis(300),
            ..Summary::default()
        };
        assert_eq!(
            summary.line("alice"),
            "alice: processed 3 messages in 0.3 s (10 messages/s)"
        );
        summary.claimed = 2;
        summary.restarts = 1;
        assert_eq!(
            summary.line("alice"),
            "alice: processed 3 messages in 0.3 s (10 messages/s); 2 claimed from other \
             consumers, 1 handler restarts"
        );
        summary.processed = 1;
        assert!(
            summary
                .line("bob")
                .starts_with("bob: processed 1 message in")
        );
        let json = summary.to_json("bob");
        assert_eq!(json["claimed"], 2);
        assert_eq!(json["pruned"], 0);
        assert_eq!(json["consumer"], "bob");
        assert_eq!(json["elapsed_ms"], 300);
    }
}
