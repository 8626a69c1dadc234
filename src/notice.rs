//! Notes on stderr that need no action: a connection lost and found again, a cluster slot
//! asked for again. `--quiet` silences them for the whole process; errors and warnings (a dead
//! letter, a vanished group, a trim held back) are always said.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once by `--quiet`, read by every thread that has something to note.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences (or lets through again) the notes of this process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` asked for silence.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Says `text` on stderr, one line, unless `--quiet`.
pub fn note(text: &str) {
    if !is_quiet() {
        eprintln!("{text}");
    }
}
