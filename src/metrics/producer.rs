//! A live producer's metrics, and the health of a program's links as metrics.
//!
//! ```text
//! monsoon_producer_entries_total{stream}    entries the server took
//! monsoon_producer_reconnects_total, monsoon_producer_up
//! ```

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::Exporter;
use crate::server::Health;

/// Labels of a stream's counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

/// The producer's side: counts entries written. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ProducerMeter {
    /// Entries the server took, per stream.
    entries: Family<StreamLabels, Counter>,
    /// The links' health (reconnects, up).
    health: Arc<Health>,
}

impl ProducerMeter {
    /// Counts `n` entries written to `stream`.
    pub fn wrote(&self, stream: &str, n: u64) {
        self.entries
            .get_or_create(&StreamLabels {
                stream: stream.to_string(),
            })
            .inc_by(n);
    }

    /// Where the producer's links report breaks and reconnects.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The endpoint's side of these metrics.
    pub fn exporter(&self) -> ProducerExporter {
        let mut registry = Registry::default();
        registry.register(
            "monsoon_producer_entries",
            "Entries written (the server took them)",
            self.entries.clone(),
        );
        registry.register_collector(Box::new(HealthCollector {
            health: Arc::clone(&self.health),
            role: "producer",
        }));
        ProducerExporter {
            registry,
            health: Arc::clone(&self.health),
        }
    }
}

/// The endpoint's side of a producer's metrics: all counted, nothing to sample.
pub struct ProducerExporter {
    /// Everything served.
    registry: Registry,
    /// The links' health.
    health: Arc<Health>,
}

impl Exporter for ProducerExporter {
    fn refresh(&mut self) {}

    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }
}

/// `monsoon_<role>_up` and `monsoon_<role>_reconnects_total`, read from the links' health at
/// each scrape.
#[derive(Debug)]
pub(super) struct HealthCollector {
    /// What the links report.
    pub(super) health: Arc<Health>,
    /// `consumer` or `producer`.
    pub(super) role: &'static str,
}

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let up = ConstGauge::new(i64::from(self.health.is_up()));
        let name = format!("monsoon_{}_up", self.role);
        let help = "1 while connected to Redis, 0 while a connection is being re-established";
        up.encode(encoder.encode_descriptor(&name, help, None, up.metric_type())?)?;
        let reconnects = ConstCounter::new(self.health.reconnects());
        let name = format!("monsoon_{}_reconnects", self.role);
        let help = "Connections to Redis re-established after a break";
        reconnects.encode(encoder.encode_descriptor(
            &name,
            help,
            None,
            reconnects.metric_type(),
        )?)?;
        Ok(())
    }
}
