//! The accept thread: each connection goes to a thread of its own while fewer than
//! [`MAX_CONNECTIONS`] are open. Past that, it is answered 503 here, on a non-blocking socket
//! (a new socket's send buffer takes the few bytes at once, so the thread never waits on a
//! client), and kept for [`LINGER`] before it closes: the request the client is still sending
//! is read and dropped meanwhile, rather than answered with a reset that could cost the client
//! its answer.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Handler, LINGER, MAX_CONNECTIONS, MAX_STREAMS, Slots, connection, poll, response};

/// The most refused connections lingering at once; past it, the oldest closes at once (a flood
/// of connections costs file descriptors, not memory or threads).
const MAX_REFUSED: usize = 64;

/// How long the thread pauses after a failed accept (out of file descriptors: the connection
/// waits in the backlog meanwhile, rather than the thread spinning).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Takes `listener`'s connections (it is non-blocking) for ever: each on a thread named
/// `name` answered by `handler`, or refused.
pub(super) fn run<H: Handler>(listener: &TcpListener, name: &'static str, handler: &Arc<H>) {
    let open = Slots::new(MAX_CONNECTIONS);
    let streams = Slots::new(MAX_STREAMS);
    let mut refused: VecDeque<Refused> = VecDeque::new();
    loop {
        let wait = refused
            .front()
            .map(|first| first.until.saturating_duration_since(Instant::now()));
        let mut fds = [libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if poll(&mut fds, wait).is_err() {
            thread::sleep(ACCEPT_PAUSE);
        }
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(_) => {
                    thread::sleep(ACCEPT_PAUSE);
                    break;
                }
            };
            let Some(slot) = open.take() else {
                if refused.len() == MAX_REFUSED {
                    refused.pop_front();
                }
                refused.extend(Refused::answer(stream));
                continue;
            };
            let (handler, streams) = (Arc::clone(handler), Arc::clone(&streams));
            // A thread that cannot start drops the connection (and its slot) with it.
            let _ = thread::Builder::new()
                .name(name.to_string())
                .spawn(move || connection::converse(stream, slot, &streams, &*handler));
        }
        refused.retain_mut(Refused::lingers);
    }
}

/// A connection answered 503, lingering before it closes.
struct Refused {
    /// The client (non-blocking, shut for writing).
    stream: TcpStream,
    /// When it closes, whatever the client does.
    until: Instant,
}

impl Refused {
    /// Answers `stream` 503 without waiting; `None` if it cannot even be made non-blocking.
    fn answer(stream: TcpStream) -> Option<Refused> {
        stream.set_nonblocking(true).ok()?;
        let busy = response(
            503,
            "text/plain",
            "busy: too many connections, try again shortly\n",
            false,
        );
        let _ = (&stream).write(&busy);
        let _ = stream.shutdown(Shutdown::Write);
        let mut refused = Refused {
            stream,
            until: Instant::now() + LINGER,
        };
        refused.lingers().then_some(refused)
    }

    /// Reads and drops what the client sent; whether to keep it open (not at its end of file,
    /// an error, or past [`LINGER`]).
    fn lingers(&mut self) -> bool {
        let mut scrap = [0; 1024];
        for _ in 0..16 {
            match (&self.stream).read(&mut scrap) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        Instant::now() < self.until
    }
}
