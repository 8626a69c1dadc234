//! The board: the latest sample of every stream, published once per interval by the one reader
//! of Redis and read by every browser (`/events`), scraper (`/metrics`) and health check.
//!
//! A browser's thread waits for the next sample and for its browser going away at once (it
//! polls both: [`crate::http::Sink::wait`]), so the next sample comes with a [`Bell`]: a
//! socket whose other end the board drops at the next publication, which makes it readable.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::metrics::streams::StreamState;

/// What the reader saw last.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Counts the samples published; an SSE client sends each one once.
    pub seq: u64,
    /// The `/events` frame: one line of JSON.
    pub event: Arc<str>,
    /// The streams' state (for `/metrics`); empty while Redis cannot be read.
    pub states: Arc<Vec<StreamState>>,
    /// Why Redis could not be read, while it cannot.
    pub error: Option<String>,
}

/// Rings (becomes readable, at end of file) at the publication after the one it came with.
#[derive(Debug)]
pub struct Bell(UnixStream);

impl AsFd for Bell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The latest sample, and the bell for the next one.
#[derive(Debug)]
struct State {
    /// The latest sample.
    latest: Sample,
    /// Rings at the next publication.
    bell: Arc<Bell>,
    /// The bell's other end, dropped to ring it.
    ringer: UnixStream,
}

/// The latest sample, and a signal for those waiting for the next one.
#[derive(Debug)]
pub struct Board {
    /// What is published.
    state: Mutex<State>,
}

impl Board {
    /// A board with no sample yet; fails only without a file descriptor for its bell.
    pub fn new() -> io::Result<Board> {
        let (bell, ringer) = UnixStream::pair()?;
        Ok(Board {
            state: Mutex::new(State {
                latest: Sample::default(),
                bell: Arc::new(Bell(bell)),
                ringer,
            }),
        })
    }

    /// Publishes a new sample: `event` for the browsers, `states` for the scrapers.
    pub fn publish(&self, event: String, states: Vec<StreamState>, error: Option<String>) {
        let mut state = self.lock();
        let seq = state.latest.seq + 1;
        state.latest = Sample {
            seq,
            event: Arc::from(event),
            states: Arc::new(states),
            error,
        };
        // Out of file descriptors, the old bell stays up: its waiters see this sample with the
        // next publication (or their keep-alive), never a torn one.
        if let Ok((bell, ringer)) = UnixStream::pair() {
            state.bell = Arc::new(Bell(bell));
            drop(std::mem::replace(&mut state.ringer, ringer));
        }
    }

    /// The latest sample.
    pub fn latest(&self) -> Sample {
        self.lock().latest.clone()
    }

    /// The latest sample, and the bell that rings when the next one is published.
    pub fn watch(&self) -> (Sample, Arc<Bell>) {
        let state = self.lock();
        (state.latest.clone(), Arc::clone(&state.bell))
    }

    /// The state, also after a panic elsewhere (a sample is replaced whole, never half-written).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A bell rings at the publication after the sample it came with, not before.
    #[test]
    fn the_bell_rings_at_the_next_sample() {
        let board = Board::new().unwrap();
        board.publish(String::from("{}"), Vec::new(), None);
        let (sample, bell) = board.watch();
        assert_eq!(sample.seq, 1);
        bell.0.set_nonblocking(true).unwrap();
        let mut byte = [0];
        let quiet = (&bell.0).read(&mut byte).unwrap_err();
        assert_eq!(quiet.kind(), io::ErrorKind::WouldBlock);
        board.publish(String::from("{\"n\":2}"), Vec::new(), None);
        assert_eq!((&bell.0).read(&mut byte).unwrap(), 0, "rung: end of file");
        let (sample, _) = board.watch();
        assert_eq!((sample.seq, &*sample.event), (2, "{\"n\":2}"));
    }
}
