//! `inspect serve`'s `/metrics`: the state of the streams it watches, from its latest sample,
//! under the names the consumer's `--metrics` uses for groups and consumers, so one dashboard
//! reads both. Every group of each stream is exported, not only the one the page shows.
//!
//! ```text
//! monsoon_stream_length{stream}                       redis_stream_length
//! monsoon_stream_first_entry_time_seconds{stream}     (none)
//! monsoon_stream_last_entry_time_seconds{stream}      redis_stream_last_generated_id (an ID)
//! monsoon_group_lag{stream,group}                     redis_stream_group_lag
//! monsoon_group_pending{stream,group}                 redis_stream_group_messages_pending
//! monsoon_group_entries_read{stream,group}            redis_stream_group_entries_read
//! monsoon_group_consumers{stream,group}               redis_stream_group_consumers
//! monsoon_consumer_pending{stream,group,consumer}     redis_stream_group_consumer_messages_pending
//! monsoon_consumer_idle_seconds{stream,group,consumer}  redis_stream_group_consumer_idle_seconds
//! ```

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::server::info::Group;
use crate::stream_id::StreamId;

/// What a stream's gauges are made of.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    /// The stream key.
    pub stream: String,
    /// XLEN.
    pub length: u64,
    /// Its first entry.
    pub first: Option<StreamId>,
    /// Its newest entry.
    pub last: Option<StreamId>,
    /// Its groups, with their consumers.
    pub groups: Vec<Group>,
}

/// Labels of a stream's gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

/// Labels of a group's gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    stream: String,
    group: String,
}

/// Labels of a consumer's gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    stream: String,
    group: String,
    consumer: String,
}

/// A gauge family registered under `name`.
fn family<L>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> Family<L, Gauge<f64, std::sync::atomic::AtomicU64>>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    registry.register(name, help, family.clone());
    family
}

/// The registry of `streams`' gauges, as they were sampled.
pub fn registry(streams: &[StreamState]) -> Registry {
    let mut registry = Registry::default();
    let length = family::<StreamLabels>(
        &mut registry,
        "monsoon_stream_length",
        "Entries in the stream (XLEN)",
    );
    let first = family::<StreamLabels>(
        &mut registry,
        "monsoon_stream_first_entry_time_seconds",
        "Time of the stream's first entry (from its ID), Unix seconds",
    );
    let last = family::<StreamLabels>(
        &mut registry,
        "monsoon_stream_last_entry_time_seconds",
        "Time of the stream's newest entry (from its ID), Unix seconds",
    );
    let lag = family::<GroupLabels>(
        &mut registry,
        "monsoon_group_lag",
        "Entries not yet delivered to the group (null lag: not exported)",
    );
    let pending = family::<GroupLabels>(
        &mut registry,
        "monsoon_group_pending",
        "Entries delivered to the group and not acknowledged",
    );
    let entries_read = family::<GroupLabels>(
        &mut registry,
        "monsoon_group_entries_read",
        "Entries delivered to the group so far",
    );
    let consumers = family::<GroupLabels>(
        &mut registry,
        "monsoon_group_consumers",
        "Consumers in the group",
    );
    let member_pending = family::<MemberLabels>(
        &mut registry,
        "monsoon_consumer_pending",
        "Entries delivered to the consumer and not acknowledged",
    );
    let idle = family::<MemberLabels>(
        &mut registry,
        "monsoon_consumer_idle_seconds",
        "Seconds since the consumer last read or claimed",
    );
    let seconds = |id: StreamId| id.ms as f64 / 1000.0;
    for state in streams {
        let labels = StreamLabels {
            stream: state.stream.clone(),
        };
        length.get_or_create(&labels).set(state.length as f64);
        if let Some(id) = state.first {
            first.get_or_create(&labels).set(seconds(id));
        }
        if let Some(id) = state.last {
            last.get_or_create(&labels).set(seconds(id));
        }
        for group in &state.groups {
            let labels = GroupLabels {
                stream: state.stream.clone(),
                group: group.name.clone(),
            };
            if let Some(n) = group.lag {
                lag.get_or_create(&labels).set(n as f64);
            }
            if let Some(n) = group.entries_read {
                entries_read.get_or_create(&labels).set(n as f64);
            }
            pending.get_or_create(&labels).set(group.pending as f64);
            consumers.get_or_create(&labels).set(group.consumers as f64);
            for member in &group.members {
                let labels = MemberLabels {
                    stream: state.stream.clone(),
                    group: group.name.clone(),
                    consumer: member.name.clone(),
                };
                member_pending
                    .get_or_create(&labels)
                    .set(member.pending as f64);
                idle.get_or_create(&labels)
                    .set(member.idle_ms as f64 / 1000.0);
            }
        }
    }
    registry
}
