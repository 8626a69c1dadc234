//! The one place progress bars are made: on stderr when it is a terminal, hidden otherwise.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of bars, one per city; draws nothing unless stderr is a terminal (and not `--quiet`).
pub fn bars() -> MultiProgress {
    if std::io::stderr().is_terminal() && !crate::notice::is_quiet() {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

/// A bar counting `total` entries written to `label`.
pub fn entries_bar(bars: &MultiProgress, label: &str, total: u64) -> ProgressBar {
    let style = styled("{prefix:>12} [{bar:40}] {pos}/{len} entries ({rate}, eta {eta})");
    bars.add(
        ProgressBar::new(total)
            .with_style(style)
            .with_prefix(label.to_string()),
    )
}

/// A counter of entries written live to `label`, with no end: the count, the rate, and the
/// message (ticks and lag) the writer sets.
pub fn live_bar(bars: &MultiProgress, label: &str) -> ProgressBar {
    let style = styled("{prefix:>12} {spinner} {pos} entries ({rate}) {msg}");
    bars.add(
        ProgressBar::no_length()
            .with_style(style)
            .with_prefix(label.to_string()),
    )
}

/// Our style from a template, with `{rate}`: indicatif's `{per_sec}` prints four decimals
/// (349,018.2029/s), ours whole entries a second.
fn styled(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

/// A bar counting the bytes of a file read into `label` (its length is set once known).
pub fn bytes_bar(bars: &MultiProgress, label: &str) -> ProgressBar {
    let style =
        styled("{prefix:>12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})");
    bars.add(
        ProgressBar::new(0)
            .with_style(style)
            .with_prefix(label.to_string()),
    )
}
