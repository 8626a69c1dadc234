//! `scripts/demo.sh`: the narrated walkthrough, run end to end as a user would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{Server, stdout};

/// The script, from the crate root.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh")
}

/// Runs the demo with `args`, our variables cleared, `REDIS_URL` set when given.
fn demo(args: &[&str], redis_url: Option<&str>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .env_remove("TMUX")
        .stdin(Stdio::null());
    if let Some(url) = redis_url {
        cmd.env("REDIS_URL", url);
    }
    cmd.output().expect("run scripts/demo.sh")
}

/// The ID bob held when he was killed, from the narration.
fn held_by_bob(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("bob held "))
        .unwrap_or_else(|| panic!("no 'bob held' line:\n{text}"));
    let id = line.split("bob held ").nth(1).unwrap_or_default();
    id.split(' ').next().unwrap_or_default().to_string()
}

/// Checks the narration of a whole run: every step announced, and what each must show.
fn check_walkthrough(text: &str, stream: &str) {
    // The build says it may take minutes, and cargo shows its progress meanwhile.
    assert!(
        text.contains("$ cargo build --release --bins\n") && text.contains("a few minutes"),
        "{text}"
    );
    for step in 1..=10 {
        assert!(
            text.contains(&format!("==> {step}. ")),
            "step {step} missing:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("Inserted 86400 records into {stream} in ")),
        "{text}"
    );
    assert!(
        text.contains("$ inspect range chennai --count 5\n"),
        "{text}"
    );
    assert!(
        text.contains("\n1534291200000-0  2018-08-15T00:00:00Z  sensor=1 "),
        "{text}"
    );
    assert!(
        text.contains("\n1534377599000-0  2018-08-15T23:59:59Z  sensor=1 "),
        "{text}"
    );
    assert!(
        text.contains("\n1534334400000-0  2018-08-15T12:00:00Z  sensor=1 "),
        "{text}"
    );
    // The live producer's report: one line per city, none glued to the next.
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("producer: "))
        .collect();
    assert!(
        reports.len() == 2 && reports.iter().all(|l| l.matches(" into ").count() == 1),
        "{reports:?}"
    );
    let coimbatore = stream.replace("chennai", "coimbatore");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{coimbatore}  17"))),
        "{text}"
    );
    assert!(
        text.contains("$ consumer alice --city chennai --delay"),
        "{text}"
    );
    assert!(
        text.contains("$ consumer bob --city chennai --delay"),
        "{text}"
    );
    // bob left with a real Ctrl-C (SIGINT): his summary, nothing held, and alice went on alone.
    let ctrl_c = text
        .split("==> 6. bob leaves with Ctrl-C")
        .nth(1)
        .and_then(|rest| rest.split("==> 7. ").next())
        .unwrap_or_else(|| panic!("no Ctrl-C step:\n{text}"));
    assert!(
        ctrl_c
            .lines()
            .any(|l| l.starts_with("$ kill -INT ") && l.ends_with("# bob: Ctrl-C")),
        "{ctrl_c}"
    );
    assert!(
        ctrl_c
            .lines()
            .any(|l| l.starts_with("bob: processed ") && l.contains(" messages in ")),
        "no summary from bob: {ctrl_c}"
    );
    let more: u64 = ctrl_c
        .split("alice went on alone: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("alice's progress not told:\n{ctrl_c}"));
    assert!(more > 0, "{ctrl_c}");
    // bob died holding a message, which `inspect pending` showed as his...
    let held = held_by_bob(text);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&held) && l.contains("  bob  ")),
        "{held} not shown pending on bob:\n{text}"
    );
    // ... and alice claimed and processed it, its second delivery.
    assert!(
        text.contains(&format!("alice {stream} {held} ")) && text.contains("(delivery 2)"),
        "{held} not claimed by alice:\n{text}"
    );
    assert!(text.contains("1 claimed from other consumers"), "{text}");
    // The handler step: the marked reading ends in the dead letters after three deliveries.
    let dead = stream.replace("chennai", "bengaluru:dead");
    assert!(
        text.contains("$ inspect range bengaluru:dead --json"),
        "{text}"
    );
    let bengaluru = stream.replace("chennai", "bengaluru");
    assert!(
        text.contains(&format!(
            "ALERT {bengaluru} 1534291206000-0 temperature 23.8 above 23.7\n"
        )),
        "the alert handler raised no alert:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("\"stream\":\"{dead}\""))
                && l.contains("\"reason\":\"handler exited 3\"")
                && l.contains("\"deliveries\":\"3\"")
                && l.contains("\"id\":\"1534291205000-0\"")),
        "{text}"
    );
    assert!(text.contains("$ inspect memory chennai\n"), "{text}");
    assert!(text.contains("used_memory (the whole server): "), "{text}");
    assert!(
        text.contains("the original walkthrough: 2.30 MB for 86400 entries"),
        "{text}"
    );
    let took: u64 = text
        .split("the walkthrough took ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no duration:\n{text}"));
    assert!(took < 60, "--fast took {took}s");
}

/// `demo.sh --fast` on its own private server runs every step, unattended, in under a minute.
#[test]
fn heavy_demo_fast_runs_end_to_end() {
    let output = demo(&["--fast"], None);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        support::stderr(&output)
    );
    assert!(text.contains("Started a private "), "{text}");
    check_walkthrough(&text, "chennai");
}

/// `demo.sh --fast --failover` ends with step 11: the master of a Sentinel set is killed while
/// alice and bob consume, the narration shows the replica promoted, and every reading was
/// processed (duplicates allowed, none lost, nothing pending).
#[test]
fn heavy_failover_demo_narrates_a_promotion() {
    let output = demo(&["--fast", "--failover"], None);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        support::stderr(&output)
    );
    // Steps 1 to 10 are checked by the other tests (with their one-minute bound, which step 11
    // is not part of).
    assert!(text.contains("==> 10. "), "{text}");
    let step = text
        .split("==> 11. The master dies")
        .nth(1)
        .unwrap_or_else(|| panic!("no step 11:\n{text}"));
    assert!(step.contains("# the master's machine dies"), "{step}");
    assert!(step.contains("is the master now"), "{step}");
    assert!(
        step.contains("processed 3000 distinct readings of 3000"),
        "{step}"
    );
    assert!(step.contains(", and 0 pending after the drain"), "{step}");
}

/// On a server it did not start, the demo writes only under a fresh prefix, leaves every other
/// key as it was, and removes its own keys at the end.
#[test]
fn heavy_demo_on_a_given_server_keeps_to_its_prefix() {
    let server = Server::start();
    let mut con = server.con();
    let _: () = redis::cmd("SET")
        .arg("chennai")
        .arg("not a stream")
        .query(&mut con)
        .unwrap();
    let output = demo(&["--fast"], Some(&server.url()));
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        support::stderr(&output)
    );
    let prefix = text
        .split("every key under the fresh prefix ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no prefix announced:\n{text}"))
        .to_string();
    assert!(
        prefix.starts_with("demo-") && prefix.ends_with('-'),
        "{prefix}"
    );
    check_walkthrough(&text, &format!("{prefix}chennai"));
    let value: String = redis::cmd("GET").arg("chennai").query(&mut con).unwrap();
    assert_eq!(value, "not a stream");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert_eq!(keys, ["chennai"]);
}

/// The demo builds its release binaries as a shell does, also when a test starts it: a release
/// build from a shell right after it compiles no dependency (they used to rebuild each other's,
/// ring and all above it, some 40 s each time).
#[test]
fn heavy_demo_build_is_the_one_a_shell_makes() {
    let output = demo(&["--fast"], None);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        support::stderr(&output)
    );
    let mut cargo = Command::new("cargo");
    support::forget_crate_env(&mut cargo);
    let build = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--bins"])
        .output()
        .expect("run cargo");
    support::assert_ok(&build);
    let log = support::stderr(&build);
    // monsoon itself may be compiled again: its sources can change in between.
    let rebuilt: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Compiling ") && !l.starts_with("Compiling monsoon "))
        .collect();
    assert!(
        rebuilt.is_empty(),
        "dependencies rebuilt: {rebuilt:?}\n{log}"
    );
}

/// `--help` explains the options; an unknown option is a usage error (exit 2).
#[test]
fn demo_help_and_bad_option() {
    let help = demo(&["--help"], None);
    assert!(help.status.success());
    let text = stdout(&help);
    assert!(
        text.contains("--fast") && text.contains("--tmux") && text.contains("--web"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("never prints the URL's password."),
        "the help ends with its last sentence:\n{text}"
    );
    let bad = demo(&["--slow"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(support::stderr(&bad).contains("unknown option --slow"));
}

/// `--web`: the live page is served while the walkthrough runs, at the URL the narration gives;
/// its events show chennai filling in. The run itself is the whole demo.
#[test]
fn heavy_demo_web_serves_the_live_page() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("bash")
        .arg(script())
        .args(["--fast", "--web"])
        .env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .env_remove("TMUX")
        .env("MONSOON_WEB_PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run scripts/demo.sh --web");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut narration = String::new();
    let url = loop {
        let line = lines
            .next()
            .expect("the narration ended before giving the URL")
            .unwrap();
        narration.push_str(&line);
        narration.push('\n');
        if let Some(rest) = line
            .split("open ")
            .nth(1)
            .filter(|_| line.contains("live page"))
        {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (status, page) = support::get(&addr, "/");
    assert_eq!(status, 200, "{narration}");
    assert!(page.contains("EventSource"), "{page}");
    support::wait_until("the page's events show chennai's day", || {
        let (_, metrics) = support::get(&addr, "/metrics");
        metrics.contains("monsoon_stream_length{stream=\"chennai\"} 86")
    });
    for line in lines {
        narration.push_str(&line.unwrap());
        narration.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{narration}");
    check_walkthrough(&narration, "chennai");
}

/// `scripts/test.sh --help` prints its help and exits, instead of starting the whole run; an
/// unknown option is refused.
#[test]
fn test_script_help() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh");
    let help = Command::new("bash")
        .arg(&script)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = stdout(&help);
    assert!(text.starts_with("The one test command"), "{text}");
    assert!(text.contains("SERVER_BIN=valkey-server"), "{text}");
    let bad = Command::new("bash")
        .arg(&script)
        .arg("--fast")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(support::stderr(&bad).contains("unknown option --fast"));
}
