//! `--metrics ADDR`: what a long-running consumer or live producer is doing, served for
//! Prometheus to scrape.
//!
//! ```text
//! GET /metrics   the Prometheus text format (OpenMetrics), base units, _total and _seconds
//! GET /healthz   200 while connected to Redis, 503 while a connection is being re-established
//! ```
//!
//! - [`consumer`]: messages by outcome, processing time, reconnects, and pending and lag
//!   sampled from the server when scraped.
//! - [`producer`]: entries written per stream, reconnects.
//! - [`streams`]: `inspect serve`'s streams, groups and consumers, from its latest sample.
//!
//! The format is prometheus-client's; the endpoint is the program's HTTP server
//! ([`crate::http`]: threads and blocking calls, no async runtime, bounded against hostile
//! clients), the one `inspect serve` runs on too.

pub mod consumer;
pub mod producer;
pub mod streams;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use prometheus_client::registry::Registry;

use crate::error::{Error, Result};
use crate::http::{self, Handler, Reply, Request};
use crate::server::Health;

/// What the endpoint serves: the registry as text, sampled afresh by `refresh` first.
pub trait Exporter: Send + 'static {
    /// Updates what is sampled rather than counted (gauges read from the server).
    fn refresh(&mut self);
    /// The registry to encode.
    fn registry(&self) -> &Registry;
    /// The connection's health, for `/healthz`.
    fn health(&self) -> Arc<Health>;
}

/// Reads `--metrics`: `HOST:PORT` (an IP address), or a bare port, which listens on loopback
/// only: anything reachable from elsewhere must be asked for with its address.
pub fn parse_listen(text: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("'{text}' is not an address to listen on (expected e.g. 127.0.0.1:9464 or 9464)")
    })
}

/// A bound endpoint, not serving yet: binding comes first, so a port in use is a usage error
/// before anything is read or written.
pub struct Endpoint {
    /// The listening server.
    server: http::Server,
}

impl Endpoint {
    /// Listens on `addr`; a port in use (or not ours to take) is [`Error::Usage`] naming it.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let server = http::Server::bind(addr).map_err(|e| {
            Error::Usage(format!(
                "invalid value for --metrics: cannot listen on {addr}: {e}"
            ))
        })?;
        Ok(Endpoint { server })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.server.local_addr().ok()
    }

    /// Serves `exporter` until the program ends.
    pub fn serve(self, exporter: impl Exporter) {
        let scrapes = Scrapes {
            health: exporter.health(),
            exporter: Mutex::new(exporter),
        };
        self.server
            .spawn("metrics", scrapes)
            .unwrap_or_else(|e| eprintln!("monsoon: --metrics: cannot start its thread: {e}"));
    }
}

/// Says on stderr where the metrics are served (the port the system chose, for port 0).
pub fn announce(endpoint: &Endpoint) {
    if let Some(addr) = endpoint.addr() {
        eprintln!("monsoon: metrics on http://{addr}/metrics");
    }
}

/// The media type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `registry` in the text format; `None` if it cannot be encoded.
pub fn encode(registry: &Registry) -> Option<String> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).ok()?;
    Some(text)
}

/// The routes: the exporter behind a lock (one scrape samples at a time), its health beside
/// it (a health check never waits for a scrape).
struct Scrapes<E> {
    /// What `/metrics` encodes.
    exporter: Mutex<E>,
    /// What `/healthz` reads.
    health: Arc<Health>,
}

impl<E: Exporter> Handler for Scrapes<E> {
    fn answer(&self, request: &Request) -> Reply {
        match (request.is_get(), request.path()) {
            (true, "/metrics") => {
                // A scrape that panicked left nothing half-done that encoding could trip on.
                let mut exporter = self
                    .exporter
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                exporter.refresh();
                match encode(exporter.registry()) {
                    Some(text) => Reply::whole(200, CONTENT_TYPE, text),
                    None => Reply::whole(500, "text/plain", "encoding failed\n"),
                }
            }
            (true, "/healthz") => match self.health.is_up() {
                true => Reply::whole(200, "text/plain", "ok\n"),
                false => Reply::whole(503, "text/plain", "reconnecting to Redis\n"),
            },
            (true, _) => Reply::whole(404, "text/plain", "not found: try /metrics\n"),
            (false, _) => Reply::whole(405, "text/plain", "only GET\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare port listens on loopback; an address is taken as given; anything else is refused.
    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9464"), Ok("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(
            parse_listen("0.0.0.0:9464"),
            Ok("0.0.0.0:9464".parse().unwrap())
        );
        assert!(parse_listen("[::1]:9464").is_ok());
        assert!(parse_listen("localhost").unwrap_err().contains("localhost"));
    }
}
