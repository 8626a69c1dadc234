//! Exit codes, the same for every binary (`edge::run_main` maps each error to its code), and
//! [`CODES`], the one table of what each means: `--help` prints it ([`help`]) and README's
//! table is checked against it.

/// Success.
pub const SUCCESS: i32 = 0;
/// Any failure not listed below.
pub const FAILURE: i32 = 1;
/// A bad flag or value on the command line.
pub const USAGE: i32 = 2;
/// The server could not be reached, or a broken connection could not be re-established.
pub const CONNECT: i32 = 3;
/// The server refused: authentication, permission, wrong key type, stream past the range (or
/// past an import's row it lacks).
pub const REFUSED: i32 = 4;
/// A consumer read messages and dead-lettered every one of them (processed none).
pub const ALL_DEAD: i32 = 5;
/// `--wait-replicas N`: fewer than N replicas confirmed a write within `--retry-for`.
pub const NOT_REPLICATED: i32 = 6;
/// Stopped by a signal before the work was done.
pub const INTERRUPTED: i32 = 130;

/// Every exit code and what it means.
pub const CODES: &[(i32, &str)] = &[
    (
        SUCCESS,
        "success (a consumer stopped by Ctrl-C or SIGTERM included, and a live producer without \
         --count: it is done when stopped)",
    ),
    (
        FAILURE,
        "any other failure (a stream or group to read that does not exist, entries of the range \
         missing from the stream, writes the server lost, output that cannot be written, an \
         internal error)",
    ),
    (
        USAGE,
        "usage error (a bad flag or value; an --exec/--pipe command that cannot run)",
    ),
    (CONNECT, "cannot connect, or gave up reconnecting"),
    (
        REFUSED,
        "refused by the server: authentication, permission, wrong key type, a stream already \
         past the range or written with other --sensors, an import's row at or before the \
         stream's last ID that it lacks, a refused dead letter",
    ),
    (
        ALL_DEAD,
        "a consumer dead-lettered every message it read and processed none (its last line on \
         stderr counts them by reason)",
    ),
    (
        NOT_REPLICATED,
        "not replicated: with --wait-replicas N, fewer than N replicas confirmed a write within \
         --retry-for (it is on the master, maybe not on a replica that a failover promotes; a \
         consumer's entry whose dead letter it was stays pending)",
    ),
    (
        INTERRUPTED,
        "interrupted (a second Ctrl-C; a producer stopped before done: a day or an import, a live \
         run before its --count, any producer while it waits for a lost server)",
    ),
];

/// The table for the end of every binary's `--help`, wrapped to 80 columns.
pub fn help() -> String {
    const WIDTH: usize = 80;
    const INDENT: &str = "       ";
    let mut text = String::from("Exit codes:");
    for (code, meaning) in CODES {
        let mut line = format!("  {code:<5}");
        for word in meaning.split_whitespace() {
            if line.len() + 1 + word.len() > WIDTH && line.len() > INDENT.len() {
                text.push('\n');
                text.push_str(line.trim_end());
                line = String::from(INDENT);
            } else if !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(word);
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code is listed once, and the help text fits 80 columns with each code on its own.
    #[test]
    fn table_and_help() {
        let help = help();
        for (code, _) in CODES {
            assert_eq!(
                help.lines()
                    .filter(|l| l.starts_with(&format!("  {code} ")))
                    .count(),
                1,
                "{help}"
            );
        }
        assert!(help.lines().all(|l| l.len() <= 80), "{help}");
        assert!(help.starts_with("Exit codes:\n  0    success"), "{help}");
    }
}
