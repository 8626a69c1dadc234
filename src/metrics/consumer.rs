//! A consumer's metrics: what it did with each message (counted as it happens) and where its
//! group stands (sampled from the server at each scrape, so never older than the scrape).
//!
//! ```text
//! monsoon_consumer_messages_total{stream,group,consumer,outcome}   acked | dead_lettered
//!                                  (each message ends in one), failed (handler runs), claimed
//! monsoon_consumer_processing_seconds       histogram: delay, print or handler, to its ack
//! monsoon_consumer_reconnects_total, monsoon_consumer_up
//! monsoon_consumer_pending{stream,group,consumer}   XPENDING, this consumer's share
//! monsoon_group_lag{stream,group}           XINFO GROUPS lag; absent while the server says null
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Exporter;
use super::producer::HealthCollector;
use crate::error::Result;
use crate::server::{Health, Link, Target, streams};

/// What became of a message, or of a handler run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Processed and acknowledged.
    Acked,
    /// Sent to the dead-letter stream (and acknowledged).
    DeadLettered,
    /// A handler run that failed (the message is retried or dead-lettered later).
    Failed,
    /// Taken over from another consumer.
    Claimed,
}

impl Outcome {
    /// The `outcome` label.
    fn label(self) -> &'static str {
        match self {
            Outcome::Acked => "acked",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Failed => "failed",
            Outcome::Claimed => "claimed",
        }
    }
}

/// Labels of a message counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    stream: String,
    group: String,
    consumer: String,
    outcome: &'static str,
}

/// Labels of a consumer's gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    stream: String,
    group: String,
    consumer: String,
}

/// Labels of a group's gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    stream: String,
    group: String,
}

/// The consumer's side of its metrics: counts what happens to messages. Cheap to clone; with
/// no `--metrics` nobody reads it.
#[derive(Debug, Clone)]
pub struct Meter {
    /// Messages by outcome.
    messages: Family<MessageLabels, Counter>,
    /// Time from taking a message up to its ack.
    processing: Histogram,
    /// The group's name (a label).
    group: String,
    /// The consumer's name (a label).
    consumer: String,
    /// The links' health (reconnects, up).
    health: Arc<Health>,
}

impl Meter {
    /// A meter for `consumer` in `group` on `streams`, every outcome at 0 (a series that
    /// appears only with its first event hides that first event from `rate()`).
    pub fn new(group: &str, consumer: &str, streams: &[String]) -> Self {
        let meter = Meter {
            messages: Family::default(),
            // 100 µs .. about 100 s: a print is fast, a handler may take seconds.
            processing: Histogram::new(exponential_buckets(0.0001, 4.0, 11)),
            group: group.to_string(),
            consumer: consumer.to_string(),
            health: Arc::new(Health::default()),
        };
        for stream in streams {
            for outcome in [
                Outcome::Acked,
                Outcome::DeadLettered,
                Outcome::Failed,
                Outcome::Claimed,
            ] {
                meter.labels(stream, outcome);
            }
        }
        meter
    }

    /// The counter of `stream`'s messages that ended in `outcome`.
    fn labels(&self, stream: &str, outcome: Outcome) -> Counter {
        self.messages
            .get_or_create(&MessageLabels {
                stream: stream.to_string(),
                group: self.group.clone(),
                consumer: self.consumer.clone(),
                outcome: outcome.label(),
            })
            .clone()
    }

    /// Counts `n` messages of `stream` that ended in `outcome`.
    pub fn count(&self, stream: &str, outcome: Outcome, n: u64) {
        self.labels(stream, outcome).inc_by(n);
    }

    /// Records how long one message took from being taken up to its ack.
    pub fn processed_in(&self, took: Duration) {
        self.processing.observe(took.as_secs_f64());
    }

    /// Where the consumer's links report breaks and reconnects.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }
}

/// The endpoint's side: the registry, and the sampler of pending and lag.
pub struct ConsumerExporter {
    /// Everything served.
    registry: Registry,
    /// This consumer's pending entries per stream.
    pending: Family<MemberLabels, Gauge>,
    /// The group's lag per stream.
    lag: Family<GroupLabels, Gauge>,
    /// The links' health.
    health: Arc<Health>,
    /// Reads the server on a scrape.
    sampler: Sampler,
}

impl ConsumerExporter {
    /// Exports `meter`'s counts, and samples `streams` on `target` for pending and lag.
    pub fn new(meter: &Meter, target: &Target, streams: &[String]) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "monsoon_consumer_messages",
            "Messages by outcome: each ends acked or dead_lettered; failed counts failed handler runs, claimed takeovers from other consumers",
            meter.messages.clone(),
        );
        registry.register(
            "monsoon_consumer_processing_seconds",
            "Time from taking a message up (delay, print or handler) to its ack",
            meter.processing.clone(),
        );
        let pending = Family::<MemberLabels, Gauge>::default();
        registry.register(
            "monsoon_consumer_pending",
            "Entries delivered to this consumer and not acknowledged (XPENDING)",
            pending.clone(),
        );
        let lag = Family::<GroupLabels, Gauge>::default();
        registry.register(
            "monsoon_group_lag",
            "Entries of the stream not yet delivered to the group (XINFO GROUPS lag; absent while the server cannot tell, after deletions in the unread part)",
            lag.clone(),
        );
        registry.register_collector(Box::new(HealthCollector {
            health: Arc::clone(&meter.health),
            role: "consumer",
        }));
        ConsumerExporter {
            registry,
            pending,
            lag,
            health: Arc::clone(&meter.health),
            sampler: Sampler {
                target: target.clone(),
                streams: streams.to_vec(),
                group: meter.group.clone(),
                consumer: meter.consumer.clone(),
                links: HashMap::new(),
            },
        }
    }
}

impl Exporter for ConsumerExporter {
    fn refresh(&mut self) {
        // A sample that cannot be taken is no sample: old numbers are not served as new.
        self.pending.clear();
        self.lag.clear();
        if let Err(err) = self.sampler.sample(&self.pending, &self.lag) {
            self.pending.clear();
            self.lag.clear();
            self.sampler.links.clear();
            eprintln!("monsoon: --metrics: cannot sample pending and lag: {err}");
        }
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }
}

/// Reads pending and lag on links of its own (the consumer's link may be blocked in a read).
struct Sampler {
    /// The server (or cluster seed).
    target: Target,
    /// The streams read.
    streams: Vec<String>,
    /// The group.
    group: String,
    /// This consumer.
    consumer: String,
    /// One link per node: per stream on a cluster, one for all on a single server.
    links: HashMap<String, Link>,
}

impl Sampler {
    /// Sets each stream's pending (this consumer's) and lag (the group's).
    fn sample(
        &mut self,
        pending: &Family<MemberLabels, Gauge>,
        lag: &Family<GroupLabels, Gauge>,
    ) -> Result<()> {
        for key in &self.streams {
            let slot = if self.target.is_cluster() { key } else { "" };
            if !self.links.contains_key(slot) {
                let link = Link::open(&self.target, key, Some(Duration::ZERO))?;
                self.links.insert(slot.to_string(), link);
            }
            let Some(link) = self.links.get_mut(slot) else {
                continue;
            };
            let Some(group) = streams::group(link, key, &self.group)? else {
                continue;
            };
            // A scrape reads a fixed handful of replies, however long the stream: where the
            // server cannot tell the lag (null after deletions in the unread part), the gauge is
            // left out rather than counted entry by entry.
            if let Some(behind) = group.lag {
                lag.get_or_create(&GroupLabels {
                    stream: key.clone(),
                    group: self.group.clone(),
                })
                .set(i64::try_from(behind).unwrap_or(i64::MAX));
            }
            let mine = streams::pending_summary(link, key, &self.group)?
                .members
                .into_iter()
                .find(|(name, _)| *name == self.consumer)
                .map_or(0, |(_, n)| n);
            pending
                .get_or_create(&MemberLabels {
                    stream: key.clone(),
                    group: self.group.clone(),
                    consumer: self.consumer.clone(),
                })
                .set(i64::try_from(mine).unwrap_or(i64::MAX));
        }
        Ok(())
    }
}
