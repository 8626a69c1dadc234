//! `inspect serve`'s endpoints, on tiny_http: a small synchronous server that fits the rest of
//! the program (threads and blocking calls, no async runtime). Each browser's event stream gets
//! a thread of its own that waits on the board and ends at the first write that fails (the
//! browser went away), so a page closed is a thread gone within one interval.

use std::io::Write;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::board::Board;
use crate::error::{Error, Result};
use crate::metrics;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// How long an event stream stays silent before a comment line keeps proxies from closing it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Serves `server`'s requests from `board` on a thread of its own.
pub fn spawn(server: tiny_http::Server, board: Arc<Board>) -> Result<()> {
    thread::Builder::new()
        .name(String::from("serve-http"))
        .spawn(move || {
            for request in server.incoming_requests() {
                route(request, &board);
            }
        })
        .map(drop)
        .map_err(|e| Error::Internal {
            what: String::from("starting the web server's thread"),
            message: e.to_string(),
        })
}

/// Answers one request; a browser that went away is no concern of ours.
fn route(request: tiny_http::Request, board: &Arc<Board>) {
    let (get, path) = metrics::get_path(&request);
    let (status, content_type, body) = match (get, path.as_str()) {
        (true, "/events") => {
            let board = Arc::clone(board);
            // A thread per browser: it only waits and writes.
            let _ = thread::Builder::new()
                .name(String::from("serve-events"))
                .spawn(move || events(request, &board));
            return;
        }
        (true, "/" | "/index.html") => (200, "text/html; charset=utf-8", PAGE.to_string()),
        (true, "/metrics") => {
            let states = board.latest().states;
            match metrics::encode(&metrics::streams::registry(&states)) {
                Some(text) => (200, metrics::CONTENT_TYPE, text),
                None => (500, "text/plain", String::from("encoding failed\n")),
            }
        }
        (true, "/healthz") => {
            let latest = board.latest();
            match (latest.seq, latest.error) {
                (0, _) => (503, "text/plain", String::from("starting\n")),
                (_, None) => (200, "text/plain", String::from("ok\n")),
                (_, Some(error)) => (
                    503,
                    "text/plain",
                    format!("reconnecting to Redis: {error}\n"),
                ),
            }
        }
        (true, _) => (404, "text/plain", String::from("not found: try /\n")),
        (false, _) => (
            405,
            "text/plain",
            String::from("only GET: nothing here changes\n"),
        ),
    };
    let _ = metrics::respond(request, status, content_type, body);
}

/// One browser's event stream: every new sample as one `data:` line, until a write fails.
fn events(request: tiny_http::Request, board: &Board) {
    let mut writer = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\n\
                Content-Type: text/event-stream\r\n\
                Cache-Control: no-cache\r\n\
                Connection: close\r\n\
                \r\n\
                retry: 1000\n\n";
    if send(&mut writer, head).is_err() {
        return;
    }
    let mut seen = 0;
    loop {
        let sample = board.next_after(seen, KEEP_ALIVE);
        let text = if sample.seq > seen {
            seen = sample.seq;
            format!("data: {}\n\n", sample.event)
        } else {
            String::from(": keep-alive\n\n")
        };
        if send(&mut writer, &text).is_err() {
            return;
        }
    }
}

/// Writes and flushes `text`.
fn send(writer: &mut impl Write, text: &str) -> std::io::Result<()> {
    writer.write_all(text.as_bytes())?;
    writer.flush()
}
