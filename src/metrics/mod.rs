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
//! The format is prometheus-client's; the endpoint is tiny_http on one thread of its own,
//! which fits the rest of the program (blocking, no async runtime) and a scraper's pace.

pub mod consumer;
pub mod producer;
pub mod streams;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread;

use prometheus_client::registry::Registry;

use crate::error::{Error, Result};
use crate::server::Health;

/// What the endpoint serves: the registry as text, sampled afresh by `refresh` first.
pub trait Exporter: Send + 'static {
    /// Updates what is sampled rather than counted (gauges read from the server).
    fn refresh(&mut self);
    /// The registry to encode.
    fn registry(&self) -> &Registry;
    /// The connection's health, for `/healthz`.
    fn health(&self) -> &Health;
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
    server: tiny_http::Server,
}

impl Endpoint {
    /// Listens on `addr`; a port in use (or not ours to take) is [`Error::Usage`] naming it.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(|e| {
            Error::Usage(format!(
                "invalid value for --metrics: cannot listen on {addr}: {e}"
            ))
        })?;
        Ok(Endpoint { server })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves `exporter` on a thread of its own until the program ends.
    pub fn serve(self, mut exporter: impl Exporter) {
        thread::Builder::new()
            .name(String::from("metrics"))
            .spawn(move || {
                for request in self.server.incoming_requests() {
                    let _ = answer(request, &mut exporter);
                }
            })
            .map(drop)
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

/// Answers one request; a scraper that went away is no concern of ours.
fn answer(request: tiny_http::Request, exporter: &mut impl Exporter) -> std::io::Result<()> {
    let (get, path) = get_path(&request);
    let (status, content_type, body) = match (get, path.as_str()) {
        (true, "/metrics") => {
            exporter.refresh();
            match encode(exporter.registry()) {
                Some(text) => (200, CONTENT_TYPE, text),
                None => (500, "text/plain", String::from("encoding failed\n")),
            }
        }
        (true, "/healthz") => match exporter.health().is_up() {
            true => (200, "text/plain", String::from("ok\n")),
            false => (503, "text/plain", String::from("reconnecting to Redis\n")),
        },
        (true, _) => (404, "text/plain", String::from("not found: try /metrics\n")),
        (false, _) => (405, "text/plain", String::from("only GET\n")),
    };
    respond(request, status, content_type, body)
}

/// Whether `request` is a GET, and its path without the query.
pub fn get_path(request: &tiny_http::Request) -> (bool, String) {
    let get = *request.method() == tiny_http::Method::Get;
    let path = request.url().split('?').next().unwrap_or_default();
    (get, path.to_string())
}

/// Answers `request` with `status` and `body` of `content_type`.
pub fn respond(
    request: tiny_http::Request,
    status: u16,
    content_type: &str,
    body: String,
) -> std::io::Result<()> {
    let header = tiny_http::Header::from_bytes("Content-Type", content_type)
        .map_err(|()| std::io::Error::other("bad header"))?;
    request.respond(
        tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header),
    )
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
