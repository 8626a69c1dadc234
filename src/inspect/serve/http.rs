//! `inspect serve`'s routes, on the program's HTTP server ([`crate::http`]). Each browser's
//! event stream gets a thread of its own that waits for the board's next sample and for the
//! browser's going away at once, and ends when it goes (or does not read a frame within the
//! write timeout), so a page closed is a thread gone at once; at most
//! [`http::MAX_STREAMS`] of them.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use super::board::Board;
use crate::error::{Error, Result};
use crate::http::{self, Handler, Reply, Request, Sink, Wake};
use crate::metrics;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// How long an event stream stays silent before a comment line keeps proxies from closing it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Serves `server`'s requests from `board`.
pub fn spawn(server: http::Server, board: Arc<Board>) -> Result<()> {
    server
        .spawn("serve-http", Site { board })
        .map_err(|e| Error::Internal {
            what: String::from("starting the web server's thread"),
            message: e.to_string(),
        })
}

/// The routes, and what they read.
struct Site {
    /// The latest sample.
    board: Arc<Board>,
}

impl Handler for Site {
    fn answer(&self, request: &Request) -> Reply {
        match (request.is_get(), request.path()) {
            (true, "/events") => {
                let board = Arc::clone(&self.board);
                Reply::stream("serve-events", move |sink| events(sink, &board))
            }
            (true, "/" | "/index.html") => Reply::whole(200, "text/html; charset=utf-8", PAGE),
            (true, "/metrics") => {
                let states = self.board.latest().states;
                match metrics::encode(&metrics::streams::registry(&states)) {
                    Some(text) => Reply::whole(200, metrics::CONTENT_TYPE, text),
                    None => Reply::whole(500, "text/plain", "encoding failed\n"),
                }
            }
            (true, "/healthz") => {
                let latest = self.board.latest();
                match (latest.seq, latest.error) {
                    (0, _) => Reply::whole(503, "text/plain", "starting\n"),
                    (_, None) => Reply::whole(200, "text/plain", "ok\n"),
                    (_, Some(error)) => Reply::whole(
                        503,
                        "text/plain",
                        format!("reconnecting to Redis: {error}\n"),
                    ),
                }
            }
            (true, _) => Reply::whole(404, "text/plain", "not found: try /\n"),
            (false, _) => Reply::whole(405, "text/plain", "only GET: nothing here changes\n"),
        }
    }
}

/// One browser's event stream: every new sample as one `data:` line, until the browser goes
/// away or a write fails.
fn events(mut sink: Sink, board: &Board) {
    let head = "HTTP/1.1 200 OK\r\n\
                Content-Type: text/event-stream\r\n\
                Cache-Control: no-cache\r\n\
                Connection: close\r\n\
                \r\n\
                retry: 1000\n\n";
    if sink.send(head.as_bytes()).is_err() {
        return;
    }
    let mut seen = 0;
    loop {
        let (sample, bell) = board.watch();
        let text = if sample.seq > seen {
            seen = sample.seq;
            format!("data: {}\n\n", sample.event)
        } else {
            match sink.wait(bell.as_fd(), KEEP_ALIVE) {
                Wake::Rung => continue,
                Wake::Gone => return,
                Wake::Quiet => String::from(": keep-alive\n\n"),
            }
        };
        if sink.send(text.as_bytes()).is_err() {
            return;
        }
    }
}
