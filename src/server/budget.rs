//! `consumer --count N`: how many entries a consumer may still read, so that it reads no more
//! than it acknowledges and leaves nothing pending when it stops at N.
//!
//! ```text
//! left 10     XREADGROUP ... COUNT 4 STREAMS a b > >    takes 8 (2 streams x 4), brings 5
//! left 5      (3 given back)
//! left 5      XAUTOCLAIM ... COUNT 5                    takes 5, brings 5
//! left 0      done once those 10 are acknowledged
//! ```
//!
//! A read takes from the budget the most it can bring before it goes out (COUNT is per stream,
//! and a consumer over a cluster reads several nodes at once, one thread each), and gives back
//! what it did not bring. One budget is shared by every node's reader.

use std::sync::atomic::{AtomicU64, Ordering};

/// What may still be read, and what was done; shared by a consumer's readers.
#[derive(Debug)]
pub struct Budget {
    /// The N of `--count`.
    total: u64,
    /// Entries not taken by a read yet.
    left: AtomicU64,
    /// Entries read and done with (acknowledged or about to be, with the next write).
    done: AtomicU64,
}

impl Budget {
    /// A budget of `total` entries.
    pub fn new(total: u64) -> Self {
        Budget {
            total,
            left: AtomicU64::new(total),
            done: AtomicU64::new(0),
        }
    }

    /// Takes up to `want` entries for a read; returns how many it got (0: nothing is left).
    pub fn take(&self, want: u64) -> u64 {
        let mut got = 0;
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                got = left.min(want);
                Some(left - got)
            });
        got
    }

    /// Gives back what a read took and did not bring.
    pub fn give_back(&self, n: u64) {
        if n > 0 {
            self.left.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Counts `n` entries done with.
    pub fn done(&self, n: u64) {
        self.done.fetch_add(n, Ordering::AcqRel);
    }

    /// Whether all N are done with: time to stop.
    pub fn is_spent(&self) -> bool {
        self.done.load(Ordering::Acquire) >= self.total
    }
}

/// How a read of `keys` streams at up to `count` each fits in `granted` entries: the COUNT to
/// ask for and how many of the streams to name (the first ones), at most `granted` in all.
pub fn fit(keys: usize, count: usize, granted: u64) -> (usize, usize) {
    let granted = usize::try_from(granted).unwrap_or(usize::MAX);
    match keys {
        0 => (count, 0),
        _ if granted >= keys => (count.min(granted / keys).max(1), keys),
        _ => (1, granted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read takes what it may bring, gives back the rest, and the budget never goes below 0.
    #[test]
    fn reads_take_and_give_back() {
        let budget = Budget::new(10);
        assert_eq!(budget.take(8), 8);
        budget.give_back(3);
        assert_eq!(budget.take(8), 5);
        assert_eq!(budget.take(1), 0);
        budget.done(9);
        assert!(!budget.is_spent());
        budget.done(1);
        assert!(budget.is_spent());
    }

    /// Several streams share one COUNT: it shrinks to fit, and below one per stream only the
    /// first streams are named.
    #[test]
    fn a_read_fits_its_grant() {
        assert_eq!(fit(2, 500, 1000), (500, 2));
        assert_eq!(fit(2, 500, 9), (4, 2));
        assert_eq!(fit(3, 500, 2), (1, 2));
        assert_eq!(fit(1, 500, 0), (1, 0));
    }
}
