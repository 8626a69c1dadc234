//! Long handler runs say how far they are: every few seconds one line on stderr, when it is a
//! terminal (and not `--quiet`), with the messages done, the rate and what the handlers hold.
//!
//! ```text
//! alice: 1461 messages done in 20 s (73 messages/s), 2 in flight
//! ```
//!
//! A line of its own rather than a bar drawn in place: the handlers' output and the consumer's
//! notes share the terminal, and a bar redrawn over them would garble both.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a line is said.
pub(super) const EVERY: Duration = Duration::from_secs(2);

/// When the next progress line is due; see the module docs.
#[derive(Debug)]
pub(super) struct Progress {
    /// Whether lines are said at all.
    on: bool,
    /// When the run started.
    started: Instant,
    /// When the next line is due.
    next: Instant,
}

impl Progress {
    /// Progress for a run behind a handler (`handler`), shown only when stderr is a terminal
    /// and `--quiet` was not asked for.
    pub fn new(handler: bool) -> Self {
        let on = handler && std::io::stderr().is_terminal() && !crate::notice::is_quiet();
        let now = Instant::now();
        Progress {
            on,
            started: now,
            next: now + EVERY,
        }
    }

    /// Says the line when it is due: `name`'s `done` messages so far and `in_flight` with its
    /// handlers.
    pub fn tick(&mut self, name: &str, done: u64, in_flight: usize) {
        if !self.on || Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + EVERY;
        eprintln!("{}", line(name, done, in_flight, self.started.elapsed()));
    }
}

/// The progress line.
fn line(name: &str, done: u64, in_flight: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = match secs > 0.0 {
        true => (done as f64 / secs).round() as u64,
        false => 0,
    };
    format!(
        "{name}: {done} messages done in {} s ({rate} messages/s), {in_flight} in flight",
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line names the consumer, the count, the time, a whole rate and what is in flight.
    #[test]
    fn the_line_says_how_far() {
        assert_eq!(
            line("alice", 1461, 2, Duration::from_secs(20)),
            "alice: 1461 messages done in 20 s (73 messages/s), 2 in flight"
        );
    }

    /// Off the terminal (as under a test runner), nothing is said.
    #[test]
    fn off_a_terminal_it_is_off() {
        let progress = Progress::new(true);
        assert_eq!(progress.on, std::io::stderr().is_terminal());
        assert!(!Progress::new(false).on);
    }
}
