//! The one HTTP server of the program, behind `inspect serve` and `--metrics`: HTTP/1.1 on
//! blocking sockets and threads (no async runtime), bounded so that no client, however hostile,
//! holds more than its own connection or grows the process's memory with what it sends.
//!
//! ```text
//! accept thread       takes each connection; past MAX_CONNECTIONS open ones it answers 503
//!                     itself (a write that cannot block) and closes it shortly after
//! a connection's      reads a head (at most MAX_HEAD bytes, within HEAD_DEADLINE of the accept
//!   thread            or of the previous answer), answers it (each write within WRITE_TIMEOUT),
//!                     then the next pipelined or kept-alive request, in order; closes on any
//!                     fault. A stream (SSE) goes on on a thread of its own, in the
//!                     connection's place; past MAX_STREAMS open ones, it is answered 503.
//! ```
//!
//! A client that never reads its answers blocks its own thread until the write timeout drops
//! it; a client that sends a head without end is answered 431 after [`MAX_HEAD`] bytes; one
//! that sends it slowly is closed at [`HEAD_DEADLINE`]. What is served is the [`Handler`]'s:
//! this module knows no route.
//!
//! - `accept.rs`: the accept thread: a thread per connection up to the cap, 503 past it.
//! - `connection.rs`: a connection's requests and answers, and a stream's [`Sink`].
//! - `head.rs`: a request's head, read within its limits and parsed.

mod accept;
mod connection;
mod head;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

pub use self::connection::{Sink, Wake};
pub use self::head::{MAX_HEAD, Request};

/// The most connections open at once (each has a thread); past it, a new one is answered 503
/// by the accept thread.
pub const MAX_CONNECTIONS: usize = 64;

/// The most streams (`inspect serve`'s `/events`) open at once; past it, a request for one
/// is answered 503. Each holds a thread and one of the [`MAX_CONNECTIONS`]: half of those are
/// left for pages, scrapes and health checks.
pub const MAX_STREAMS: usize = 32;

/// How long a request's head may take to arrive, counted from the accept or from the end of
/// the previous answer on the connection: past it, a connection in the middle of a head is
/// answered 408 and closed, an idle one closed.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// How long one answer (of a stream: one frame) may take to write: a client that does not
/// read it within that time is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// After a last answer (or a refusal), how long what the client still sends is read and
/// dropped before the socket closes: a close with unread input resets the connection, and
/// the client may then lose the answer or fail to send its request.
const LINGER: Duration = Duration::from_millis(500);

/// What a server answers: the routes.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`.
    fn answer(&self, request: &Request) -> Reply;
}

/// An answer.
pub enum Reply {
    /// A whole response, of `content_type`; the connection stays open if the client wants.
    Whole {
        /// The status code.
        status: u16,
        /// The media type of `body`.
        content_type: &'static str,
        /// The body.
        body: String,
    },
    /// A response without end (SSE), on a thread of its own named `thread`: `run` writes the
    /// head and then the body to the [`Sink`] until it returns; the connection then closes.
    Stream {
        /// The thread's name.
        thread: &'static str,
        /// What writes the stream.
        run: Box<dyn FnOnce(Sink) + Send>,
    },
}

impl Reply {
    /// A whole response.
    pub fn whole(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply::Whole {
            status,
            content_type,
            body: body.into(),
        }
    }

    /// A stream written by `run` on a thread named `thread`.
    pub fn stream(thread: &'static str, run: impl FnOnce(Sink) + Send + 'static) -> Reply {
        Reply::Stream {
            thread,
            run: Box::new(run),
        }
    }
}

/// A bound socket, not serving yet: binding comes first, so that a port in use is known before
/// anything else is done.
#[derive(Debug)]
pub struct Server {
    /// The listening socket.
    listener: TcpListener,
}

impl Server {
    /// Listens on `addr`.
    pub fn bind(addr: SocketAddr) -> io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr)?,
        })
    }

    /// The address listened on (the port the system chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `handler`'s answers until the program ends, on an accept thread and one thread
    /// per connection, all named `name` (streams: as their [`Reply::Stream`] says).
    pub fn spawn(self, name: &'static str, handler: impl Handler) -> io::Result<()> {
        self.listener.set_nonblocking(true)?;
        let handler = Arc::new(handler);
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || accept::run(&self.listener, name, &handler))
            .map(drop)
    }
}

/// A counted resource with a cap (connections, streams): a [`Slot`] is one unit of it, given
/// back when dropped.
#[derive(Debug)]
struct Slots {
    /// Units taken now.
    taken: AtomicUsize,
    /// The most that may be taken at once.
    cap: usize,
}

/// One unit of [`Slots`], held while the thing it counts lives.
#[derive(Debug)]
struct Slot(Arc<Slots>);

impl Slots {
    /// `cap` units, none taken.
    fn new(cap: usize) -> Arc<Slots> {
        Arc::new(Slots {
            taken: AtomicUsize::new(0),
            cap,
        })
    }

    /// A unit, or `None` if all `cap` are taken.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

/// poll(2): waits until one of `fds` is ready or `wait` passed (`None`: no end); how many are
/// ready, 0 also when a signal interrupted the wait.
fn poll(fds: &mut [libc::pollfd], wait: Option<Duration>) -> io::Result<usize> {
    let ms = wait.map_or(-1, |wait| {
        wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int
    });
    // SAFETY: `fds` is a slice of initialised pollfd that outlives the call, and its length is
    // the count given.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    match ready {
        0.. => Ok(ready as usize),
        _ => match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            e => Err(e),
        },
    }
}

/// A whole response: status line, headers (`Connection: close` unless `open`) and `body`.
fn response(status: u16, content_type: &str, body: &str, open: bool) -> Vec<u8> {
    let allow = match status {
        405 => "Allow: GET\r\n",
        _ => "",
    };
    let connection = if open { "keep-alive" } else { "close" };
    let mut text = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {allow}Connection: {connection}\r\n\r\n",
        reason(status),
        body.len(),
    )
    .into_bytes();
    text.extend_from_slice(body.as_bytes());
    text
}

/// The reason phrase of the status codes answered.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots are handed out up to the cap and come back when dropped.
    #[test]
    fn slots_are_capped_and_given_back() {
        let slots = Slots::new(2);
        let (a, b) = (slots.take(), slots.take());
        assert!(a.is_some() && b.is_some());
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }

    /// A response says its length and whether the connection stays open.
    #[test]
    fn responses_carry_length_and_connection() {
        let text = response(404, "text/plain", "not found\n", true);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\
             Connection: keep-alive\r\n\r\nnot found\n"
        );
        let text = String::from_utf8(response(405, "text/plain", "", false)).unwrap();
        assert!(
            text.contains("Allow: GET\r\nConnection: close\r\n\r\n"),
            "{text}"
        );
    }
}
