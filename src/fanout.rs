//! One thread per city, stream or cluster slot, and one locked output they share.
//!
//! The producer writes each city on its own connection, the consumer reads each stream of a
//! cluster on the node that owns it, `inspect tail` reads each slot's streams: all the same
//! shape, so one helper. A worker that panics is a bug of ours: it becomes
//! [`Error::Internal`] (exit 1), never "interrupted".

use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// An output several threads share: each use takes the lock, so a batch goes out whole.
#[derive(Debug)]
pub struct Shared<O>(Mutex<O>);

impl<O> Shared<O> {
    /// Shares `out`.
    pub fn new(out: O) -> Self {
        Shared(Mutex::new(out))
    }

    /// The output, locked; a thread that panicked while holding it leaves no usable output.
    pub fn lock(&self) -> Result<MutexGuard<'_, O>> {
        self.0.lock().map_err(|_| Error::Internal {
            what: String::from("the shared output"),
            message: String::from("a thread panicked while writing"),
        })
    }
}

/// A shared writer: each `write` goes out whole under the lock (so format a line or a batch
/// first and write it with one `write_all`; `writeln!` writes in pieces that may interleave).
impl<W: Write> Write for &Shared<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self.lock().map_err(std::io::Error::other)?;
        out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().map_err(std::io::Error::other)?.flush()
    }
}

/// Runs `work` on each item, each in its own thread, all sharing `out`; waits for all of them
/// and returns their results in item order, or the first error (in item order). `what` names an
/// item's work for an internal error ("the producer of chennai"). With `stop`, a worker that
/// fails (or panics) raises it, so the others stop at their next safe point.
pub fn fan_out<I, R, O>(
    items: &[I],
    what: impl Fn(&I) -> String,
    out: &Shared<O>,
    stop: Option<&Shutdown>,
    work: impl Fn(&I, &Shared<O>) -> Result<R> + Sync,
) -> Result<Vec<R>>
where
    I: Sync,
    R: Send,
    O: Send,
{
    let outcomes: Vec<Result<R>> = std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .iter()
            .map(|item| {
                let work = &work;
                scope.spawn(move || {
                    let outcome = work(item, out);
                    if outcome.is_err() {
                        stop.inspect(|s| s.request());
                    }
                    outcome
                })
            })
            .collect();
        workers
            .into_iter()
            .zip(items)
            .map(|(worker, item)| {
                worker.join().unwrap_or_else(|panic| {
                    stop.inspect(|s| s.request());
                    Err(Error::Internal {
                        what: what(item),
                        message: panic_message(panic.as_ref()),
                    })
                })
            })
            .collect()
    });
    outcomes.into_iter().collect()
}

/// The text a panic was raised with.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| String::from("(no message)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item runs; results come back in item order; the output is shared whole.
    #[test]
    fn runs_each_item_with_one_output() {
        let out = Shared::new(Vec::new());
        let results = fan_out(
            &[1, 2, 3],
            |n| format!("item {n}"),
            &out,
            None,
            |n, out| {
                (&*out).write_all(format!("line {n}\n").as_bytes())?;
                Ok(n * 10)
            },
        )
        .unwrap();
        assert_eq!(results, [10, 20, 30]);
        let mut lines: Vec<String> = String::from_utf8(out.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        assert_eq!(lines, ["line 1", "line 2", "line 3"]);
    }

    /// A panicking worker is an internal error (exit 1) naming its work and the panic's message,
    /// never "interrupted"; it raises the stop for the others.
    #[test]
    fn a_panic_is_an_internal_error() {
        let stop = Shutdown::new();
        let out = Shared::new(());
        let err = fan_out(
            &["chennai", "pune"],
            |city| format!("the producer of {city}"),
            &out,
            Some(&stop),
            |city, _| match *city {
                "pune" => panic!("index out of bounds"),
                _ => Ok(()),
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "internal error in the producer of pune: index out of bounds"
        );
        assert_eq!(err.exit_code(), crate::exit::FAILURE);
        assert!(stop.is_requested());
    }

    /// A failing worker raises the stop, and its error is the result.
    #[test]
    fn a_failure_stops_the_others() {
        let stop = Shutdown::new();
        let out = Shared::new(());
        let err = fan_out(
            &[1, 2],
            |n| n.to_string(),
            &out,
            Some(&stop),
            |n, _| {
                if *n == 2 {
                    return Err(Error::Usage(String::from("two")));
                }
                // The first waits for the second's failure, as a long-running reader would.
                while !stop.sleep(std::time::Duration::from_millis(10)) {}
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "two");
    }
}
