//! The one place progress bars are made: on stderr when it is a terminal, hidden otherwise.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of bars, one per city; draws nothing unless stderr is a terminal.
pub fn bars() -> MultiProgress {
    if std::io::stderr().is_terminal() {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

/// A bar counting `total` entries written to `label`.
pub fn entries_bar(bars: &MultiProgress, label: &str, total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:40}] {pos}/{len} entries ({rate}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    // indicatif's {per_sec} prints four decimals (349,018.2029/s): whole entries a second.
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    bars.add(
        ProgressBar::new(total)
            .with_style(style)
            .with_prefix(label.to_string()),
    )
}

/// A bar counting the bytes of a file read into `label` (its length is set once known).
pub fn bytes_bar(bars: &MultiProgress, label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bars.add(
        ProgressBar::new(0)
            .with_style(style)
            .with_prefix(label.to_string()),
    )
}
