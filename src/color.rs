//! Colour, as ripgrep does it: `--color auto|always|never`; `auto` colours a stream only when it
//! is a terminal, NO_COLOR is unset (or empty) and TERM is not `dumb`. Used sparingly, where a
//! person must not miss a line: errors, dead letters, claims and entries taken over, idle and
//! claimable consumers in `inspect watch`. Message lines never change: a script reads the same
//! bytes whatever the setting.
//!
//! Set once per process ([`init`], by each binary after parsing), read by every thread.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// When to colour (`--color WHEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum When {
    /// On a terminal, unless NO_COLOR or TERM=dumb says otherwise.
    #[default]
    Auto,
    /// Always, even through a pipe (`--color always | less -R`).
    Always,
    /// Never.
    Never,
}

impl When {
    /// The words `--color` takes.
    pub const WORDS: [&'static str; 3] = ["auto", "always", "never"];

    /// `auto`, `always` or `never`.
    pub fn parse(word: &str) -> Option<When> {
        match word {
            "auto" => Some(When::Auto),
            "always" => Some(When::Always),
            "never" => Some(When::Never),
            _ => None,
        }
    }
}

/// What a coloured piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// `Error:` before an error's sentence (bold red).
    Error,
    /// A message that went to the dead-letter stream (red).
    DeadLetter,
    /// Messages claimed from others, or taken over by them (cyan).
    Claim,
    /// Something to look at, not wrong yet: a vanished group, an idle consumer (yellow).
    Warning,
}

impl Paint {
    /// The SGR parameters of this paint.
    fn sgr(self) -> &'static str {
        match self {
            Paint::Error => "1;31",
            Paint::DeadLetter => "31",
            Paint::Claim => "36",
            Paint::Warning => "33",
        }
    }
}

/// Whether stdout is coloured.
static STDOUT: AtomicBool = AtomicBool::new(false);
/// Whether stderr is coloured.
static STDERR: AtomicBool = AtomicBool::new(false);

/// Decides, once, whether stdout and stderr are coloured.
pub fn init(when: When) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    let on = |terminal: bool| decide(when, terminal, no_color, dumb);
    STDOUT.store(on(std::io::stdout().is_terminal()), Ordering::Relaxed);
    STDERR.store(on(std::io::stderr().is_terminal()), Ordering::Relaxed);
}

/// The rule: `always` and `never` are what they say; `auto` colours a terminal unless NO_COLOR
/// (set and not empty) or TERM=dumb.
fn decide(when: When, terminal: bool, no_color: bool, dumb: bool) -> bool {
    match when {
        When::Always => true,
        When::Never => false,
        When::Auto => terminal && !no_color && !dumb,
    }
}

/// Whether stdout is coloured (`inspect watch` asks before painting a tag).
pub fn on_stdout() -> bool {
    STDOUT.load(Ordering::Relaxed)
}

/// `text` painted for stderr (as it is when stderr is not coloured).
pub fn stderr(paint: Paint, text: &str) -> Cow<'_, str> {
    painted(STDERR.load(Ordering::Relaxed), paint, text)
}

/// `text` painted for stdout (as it is when stdout is not coloured).
pub fn stdout(paint: Paint, text: &str) -> Cow<'_, str> {
    painted(on_stdout(), paint, text)
}

/// `text` between the paint's SGR sequence and a reset, when `on`.
fn painted(on: bool, paint: Paint, text: &str) -> Cow<'_, str> {
    match on {
        true => Cow::Owned(format!("\x1b[{}m{text}\x1b[0m", paint.sgr())),
        false => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `always` and `never` win; `auto` needs a terminal, no NO_COLOR and a TERM that is not
    /// `dumb`.
    #[test]
    fn the_rule_is_ripgreps() {
        assert!(decide(When::Always, false, true, true));
        assert!(!decide(When::Never, true, false, false));
        assert!(decide(When::Auto, true, false, false));
        assert!(!decide(When::Auto, false, false, false));
        assert!(!decide(When::Auto, true, true, false));
        assert!(!decide(When::Auto, true, false, true));
    }

    /// Painted text is wrapped in its SGR sequence and a reset; unpainted text is untouched.
    #[test]
    fn painting_wraps_the_text() {
        assert_eq!(
            painted(true, Paint::Error, "Error:"),
            "\x1b[1;31mError:\x1b[0m"
        );
        assert_eq!(painted(false, Paint::Error, "Error:"), "Error:");
        assert_eq!(When::parse("always"), Some(When::Always));
        assert_eq!(When::parse("sometimes"), None);
    }
}
