//! Ctrl-C and SIGTERM: the first asks the work to stop at a safe point, the second exits at once.
//!
//! The flag is a value handed to the code that runs (like mini-redis's `Shutdown`), so library
//! functions can be driven by tests without signals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::exit;

/// Records that a stop was asked for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// A flag nobody has raised yet, with no signal handler attached.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag raised by the first Ctrl-C/SIGTERM/SIGHUP; the second one exits the process with
    /// code 130 straight away, leaving whatever was in hand to the server (pending, not lost).
    /// `notice` is printed on stderr at the first signal, so the user knows what happens next.
    ///
    /// Call it from the main thread before starting any other: the stop signals are then blocked
    /// in every thread but the handler's (see `block_stop_signals`).
    pub fn install(notice: &'static str) -> crate::Result<Self> {
        let shutdown = Shutdown::new();
        let flag = Arc::clone(&shutdown.requested);
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(exit::INTERRUPTED);
            }
            eprintln!("{notice}");
        })
        .map_err(|e| crate::Error::Internal {
            what: String::from("installing the Ctrl-C handler"),
            message: e.to_string(),
        })?;
        block_stop_signals();
        Ok(shutdown)
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Asks for a stop, as a signal would.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Sleeps for `pause`, waking early if a stop is asked for; returns whether it was.
    pub fn sleep(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            if self.is_requested() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// A stop asked for while waiting for the server (a reconnect, a loading server) ends the work
/// like any graceful stop: for the consumer nothing is in hand then (what was delivered and not
/// acked stays pending, on the server), for `inspect tail` and `watch` it is how they end.
pub fn stopped_is_done(outcome: crate::Result<()>) -> crate::Result<()> {
    match outcome {
        Err(crate::Error::Stopped { .. }) => Ok(()),
        other => other,
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it starts later, so
/// they reach only the handler's own thread (started just before by `ctrlc`).
///
/// A signal caught by a thread that sits in a socket read with a timeout interrupts that read
/// (EINTR: with a timeout set, the kernel does not restart it), which looks like a broken
/// connection: a graceful stop then looked like an outage, and the batch just delivered
/// stayed pending. A signal is not a connection loss. Child processes inherit the mask: whoever
/// starts one unblocks these in it.
fn block_stop_signals() {
    // SAFETY: sigemptyset/sigaddset fill a local set; pthread_sigmask only changes this thread's
    // mask. Failure leaves the old mask, which costs only the EINTR case above.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
