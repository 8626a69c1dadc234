//! The board: the latest sample of every stream, published once per interval by the one reader
//! of Redis and read by every browser (`/events`), scraper (`/metrics`) and health check.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

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

/// The latest sample, and a signal for those waiting for the next one.
#[derive(Debug, Default)]
pub struct Board {
    /// The latest sample.
    latest: Mutex<Sample>,
    /// Rung at each publication.
    published: Condvar,
}

impl Board {
    /// Publishes a new sample: `event` for the browsers, `states` for the scrapers.
    pub fn publish(&self, event: String, states: Vec<StreamState>, error: Option<String>) {
        let mut latest = self.lock();
        let seq = latest.seq + 1;
        *latest = Sample {
            seq,
            event: Arc::from(event),
            states: Arc::new(states),
            error,
        };
        drop(latest);
        self.published.notify_all();
    }

    /// The latest sample.
    pub fn latest(&self) -> Sample {
        self.lock().clone()
    }

    /// Waits up to `wait` for a sample newer than `seen`; returns the latest either way.
    pub fn next_after(&self, seen: u64, wait: Duration) -> Sample {
        let latest = self.lock();
        let (latest, _) = self
            .published
            .wait_timeout_while(latest, wait, |s| s.seq <= seen)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        latest.clone()
    }

    /// The lock, also after a panic elsewhere (a sample is replaced whole, never half-written).
    fn lock(&self) -> MutexGuard<'_, Sample> {
        self.latest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiter gets the next sample as soon as it is published, or the same one on timeout.
    #[test]
    fn waiters_get_the_next_sample() {
        let board = Arc::new(Board::default());
        board.publish(String::from("{}"), Vec::new(), None);
        let waiting = {
            let board = Arc::clone(&board);
            std::thread::spawn(move || board.next_after(1, Duration::from_secs(30)))
        };
        board.publish(String::from("{\"n\":2}"), Vec::new(), None);
        let got = waiting.join().unwrap();
        assert_eq!((got.seq, &*got.event), (2, "{\"n\":2}"));
        assert_eq!(board.next_after(2, Duration::from_millis(10)).seq, 2);
    }
}
