//! `inspect serve STREAM...`: the live walkthrough in a browser, and the streams' state for
//! Prometheus.
//!
//! ```text
//! GET /          one page (embedded: HTML, CSS and JavaScript, nothing fetched from elsewhere)
//! GET /events    Server-Sent Events: one JSON frame per --interval for every browser
//! GET /metrics   streams, groups and consumers as gauges (Prometheus text format)
//! GET /healthz   200 while Redis answers
//! ```
//!
//! One reader of Redis (this thread) takes a sample per interval, as `inspect watch` does, plus
//! each stream's chart, which it keeps up to date by reading only what is new; it publishes the
//! sample on the [`board::Board`], where every browser and scraper reads it. Nothing here writes
//! to Redis, and the page never sees the URL (or its password).
//!
//! - `board.rs`: the latest sample, and the signal for the browsers waiting for the next.
//! - `feed.rs`: a stream's chart that grows as readings arrive.
//! - `http.rs`: the routes, one thread each for the browsers' event streams (at most 32).
//! - `page.html`: the page.

mod board;
mod feed;
mod http;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use self::board::Board;
use self::feed::Feed;
use super::{chart, watch};
use crate::error::{Error, Result};
use crate::metrics::streams::StreamState;
use crate::server::{Link, Target, streams};
use crate::shutdown::Shutdown;

/// Chart columns sent to the page: enough for a projector's width.
const CHART_COLUMNS: usize = 240;

/// `serve`: which streams and group, where to listen, how often to sample.
#[derive(Debug, Clone)]
pub struct Serve {
    /// The full stream keys.
    pub keys: Vec<String>,
    /// The consumer group shown.
    pub group: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Consumers idle longer than this with entries pending are marked: their entries can be
    /// claimed (the consumer's `--claim-idle`).
    pub claim_idle: Duration,
    /// Time between samples (and frames).
    pub interval: Duration,
    /// `--field`: the numeric field charted; `None`: `temperature` where present, else the
    /// first numeric field.
    pub field: Option<String>,
}

/// One stream as the reader follows it.
struct View {
    /// The stream key.
    key: String,
    /// Its link, opened again after a failure.
    link: Option<Link>,
    /// Frames and rates, as `inspect watch` takes them.
    watcher: watch::Watcher,
    /// Its chart.
    feed: Feed,
}

impl Serve {
    /// Listens, then samples and publishes until Ctrl-C. A port that cannot be listened on is a
    /// usage error (exit 2). The URL to open is printed on `out`.
    pub fn run(&self, target: &Target, shutdown: &Shutdown, out: &mut impl Write) -> Result<()> {
        let server = crate::http::Server::bind(self.listen).map_err(|e| {
            Error::Usage(format!(
                "invalid value for --listen: cannot listen on {}: {e}",
                self.listen
            ))
        })?;
        let addr = server.local_addr().unwrap_or(self.listen);
        let board = Arc::new(Board::new().map_err(|e| Error::Internal {
            what: String::from("setting up the web server's board"),
            message: e.to_string(),
        })?);
        super::emit(
            out,
            &format!("inspect serve: open http://{addr}/ (Ctrl-C to stop)\n"),
        )?;
        http::spawn(server, Arc::clone(&board))?;
        let mut views: Vec<View> = self
            .keys
            .iter()
            .map(|key| View {
                key: key.clone(),
                link: None,
                watcher: watch::Watcher::new(key, &self.group),
                feed: Feed::new(key, self.field.as_deref()),
            })
            .collect();
        loop {
            let taken = Instant::now();
            self.publish(target, &mut views, &board);
            let next = taken + self.interval;
            while Instant::now() < next {
                for view in &mut views {
                    if let Some(link) = view.link.as_mut()
                        && view.watcher.sample(link).is_err()
                    {
                        view.link = None;
                    }
                }
                let pause = watch::SAMPLE.min(next.saturating_duration_since(Instant::now()));
                if shutdown.sleep(pause) {
                    return Ok(());
                }
            }
        }
    }

    /// Samples every stream and publishes the frame; a stream that cannot be read makes it a
    /// frame that says Redis is being reconnected to.
    fn publish(&self, target: &Target, views: &mut [View], board: &Board) {
        let mut streams = Vec::with_capacity(views.len());
        let mut states = Vec::with_capacity(views.len());
        let mut error = None;
        for view in views.iter_mut() {
            match view.take(target) {
                Ok((json, state)) => {
                    streams.push(json);
                    states.push(state);
                }
                Err(err) => {
                    view.link = None;
                    error.get_or_insert(err.to_string());
                }
            }
        }
        if error.is_some() {
            streams.clear();
            states.clear();
        }
        let event = serde_json::json!({
            "time": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "group": self.group,
            "interval_ms": self.interval.as_millis() as u64,
            "claim_idle_ms": self.claim_idle.as_millis() as u64,
            "redis": if error.is_some() { "reconnecting" } else { "connected" },
            "error": error,
            "streams": streams,
        });
        board.publish(event.to_string(), states, error);
    }
}

impl View {
    /// The stream's frame (the object `inspect watch --json` prints, plus its chart `points`)
    /// and its state for `/metrics`.
    fn take(&mut self, target: &Target) -> Result<(serde_json::Value, StreamState)> {
        let link = match self.link.take() {
            Some(link) => link,
            None => {
                // No retrying here: the next interval tries again, and the page says meanwhile.
                let mut link = Link::open(target, &self.key, Some(Duration::ZERO))?;
                link.limit_replies(Duration::from_secs(5))?;
                link
            }
        };
        let link = self.link.insert(link);
        let frame = self.watcher.frame(link)?;
        let info = match frame.exists {
            true => streams::stream_info(link, &self.key)?.unwrap_or_default(),
            false => Default::default(),
        };
        let newest = frame.newest.as_ref().map(|m| m.id);
        self.feed.update(link, info.first_entry, newest)?;
        let buckets = self.feed.buckets(CHART_COLUMNS);
        let mut json = watch::to_json(&frame);
        let field = self.feed.field().unwrap_or_default();
        let chart = chart::to_json(&self.key, field, 0, &buckets);
        let present: Vec<&chart::Bucket> = buckets.iter().flatten().collect();
        let (first, last) = match (present.first(), present.last()) {
            (Some(first), Some(last)) => (first.start_ms, last.end_ms),
            _ => (0, 0),
        };
        if let Some(object) = json.as_object_mut() {
            object.insert(String::from("field"), field.into());
            // The page draws points by time and breaks the line where slices are missing.
            let slice = (last - first + 1) / CHART_COLUMNS as u64;
            object.insert(String::from("slice_ms"), slice.max(1).into());
            if !present.is_empty() {
                object.insert(String::from("span"), chart::span_label(first, last).into());
            }
            object.insert(String::from("points"), chart["points"].clone());
        }
        let state = StreamState {
            stream: self.key.clone(),
            length: frame.length,
            first: info.first_entry,
            last: newest,
            groups: frame.groups,
        };
        Ok((json, state))
    }
}
