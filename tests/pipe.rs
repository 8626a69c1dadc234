//! `consumer --pipe`: one long-running handler answers `ack`/`fail` per message; a message is
//! acknowledged only after its `ack`, whatever the handler does.

use std::collections::BTreeSet;

use support::{DATE, Server, assert_ok, pending, run, stderr, stdout, wait_until, xlen};

/// A Python handler that acks each JSON message, logging the IDs it acked to `log`, and exits
/// 3 after every `every`-th message it was sent.
fn crashing_handler(log: &std::path::Path, every: u32) -> String {
    format!(
        "python3 -c '
import json, sys
log = open(\"{}\", \"a\")
for n, line in enumerate(sys.stdin, 1):
    if n % {every} == 0:
        sys.exit(3)
    m = json.loads(line)
    log.write(m[\"id\"] + \"\\n\"); log.flush()
    print(\"ack\", m[\"stream\"], m[\"id\"], flush=True)
'",
        log.display()
    )
}

/// How many entries the group acknowledged: delivered (entries-read) less pending.
fn acked(con: &mut redis::Connection) -> u64 {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(con)
        .unwrap();
    let read: u64 = redis::from_redis_value(groups[0]["entries-read"].clone()).unwrap();
    read - pending(con, "chennai", "mygroup")
}

/// A handler that crashes after every 97th message: every message is acked exactly once, only
/// after the handler answered `ack` for it; nothing is pending at the end; restarts counted.
#[test]
fn heavy_a_crashing_handler_loses_nothing() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "3000"],
    ));
    let log = server.dir.path().join("acked.log");
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--json",
            "--pipe",
            &crashing_handler(&log, 97),
            "--idle-exit",
            "500ms",
        ],
    );
    assert_ok(&out);
    let mut con = server.con();
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let answered: BTreeSet<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(answered.len(), 3000, "the handler answered for every entry");
    assert_eq!(acked(&mut con), 3000);
    assert_eq!(xlen(&mut con, "chennai:dead"), 0);
    // With --json the summary is one JSON object on stderr.
    let summary = stderr(&out);
    let restarts = summary
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["summary"]["restarts"].as_u64())
        .unwrap_or_default();
    assert!(restarts >= 30, "{summary}");
}

/// A handler that answers `fail` for one message every time: it ends in the dead letters with
/// its reason after --max-deliveries; every other message is acked.
#[test]
fn a_message_that_always_fails_is_dead_lettered() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "20"],
    ));
    let handler = "awk '{ if ($3 == \"1534291205000-0\") print \"fail\", $2, $3, \"sensor offline\"; else print \"ack\", $2, $3; fflush() }'";
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--pipe",
            handler,
            "--max-deliveries",
            "3",
            "--idle-exit",
            "500ms",
        ],
    );
    assert_ok(&out);
    let mut con = server.con();
    let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("chennai:dead")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    assert_eq!(dead.len(), 1);
    let fields = &dead[0].1;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("id"), Some("1534291205000-0"));
    assert_eq!(get("reason"), Some("handler failed: sensor offline"));
    assert_eq!(get("deliveries"), Some("3"));
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    assert_eq!(acked(&mut con), 20);
}

/// The measured loss, repeated: the handler answers 5 messages and dies, and the one started
/// after it answers nothing; then the consumer is SIGKILLed. Exactly the 5 it answered are
/// acked; the rest stay pending or unread, never acked unseen.
#[test]
fn nothing_is_acked_that_the_handler_did_not_answer() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "330"],
    ));
    let marker = server.dir.path().join("died-once");
    let handler = format!(
        "if [ -e {0} ]; then touch {0}.again; cat >/dev/null; else touch {0}; \
         awk 'NR <= 5 {{ print \"ack\", $2, $3; fflush() }} NR == 5 {{ exit 1 }}'; fi",
        marker.display()
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--pipe",
            &handler,
            "--batch",
            "10",
            "--handler-timeout",
            "20s",
            "--claim-idle",
            "60s",
        ],
    );
    let again = server.dir.path().join("died-once.again");
    wait_until("the second handler runs", || again.exists());
    let mut con = server.con();
    wait_until("the five answered are acked", || acked(&mut con) >= 5);
    support::signal(&alice.child, "KILL");
    alice.wait();
    assert_eq!(acked(&mut con), 5, "only what was answered is acked");
    assert!(pending(&mut con, "chennai", "mygroup") > 0);
}

/// Two consumers with --pipe in one group share the entries: every one acked exactly once.
#[test]
fn two_pipe_consumers_share_the_work() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "2000"],
    ));
    let handler = "awk '{ print \"ack\", $2, $3; print \"did\", $3; fflush() }'";
    let args = ["--pipe", handler, "--batch", "50", "--idle-exit", "1s"];
    let mut alice = support::spawn("consumer", &server, &[&["alice"][..], &args].concat());
    let mut bob = support::spawn("consumer", &server, &[&["bob"][..], &args].concat());
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(bob.wait(), Some(0), "{}", bob.errors());
    let mut did: Vec<String> = alice.lines();
    did.extend(bob.lines());
    let total = did.len();
    let unique: BTreeSet<String> = did.into_iter().collect();
    assert_eq!(
        (total, unique.len()),
        (2000, 2000),
        "each once, passed on to stdout"
    );
    let mut con = server.con();
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    assert_eq!(acked(&mut con), 2000);
}

/// Bad inputs are usage errors (exit 2) with nothing acked: --pipe with --exec, a command that
/// cannot run.
#[test]
fn bad_pipe_inputs_touch_nothing() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    for args in [
        &["alice", "--pipe", "cat", "--exec", "true"][..],
        &[
            "alice",
            "--pipe",
            "no-such-command-here",
            "--idle-exit",
            "300ms",
        ],
    ] {
        let out = run("consumer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
    let mut con = server.con();
    assert_eq!(acked(&mut con), 0);
    assert_eq!(xlen(&mut con, "chennai:dead"), 0);
}

/// README's Python example keeps a per-minute mean per city, acking each message once counted:
/// its means are the stream's own, and everything is acked.
#[test]
fn the_minute_mean_example_averages_each_minute() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "180"],
    ));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/examples/minute_mean.py"
    );
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--json",
            "--pipe",
            &format!("python3 {script}"),
            "--idle-exit",
            "500ms",
        ],
    );
    assert_ok(&out);
    let mut con = server.con();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("chennai")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    let mut expected = Vec::new();
    for (minute, readings) in entries.chunks(60).enumerate() {
        let sum: f64 = readings
            .iter()
            .map(|(_, f)| {
                f.iter()
                    .find(|(k, _)| k == "temperature")
                    .unwrap()
                    .1
                    .parse::<f64>()
                    .unwrap()
            })
            .sum();
        expected.push(format!(
            "mean chennai 2018-08-15T00:{minute:02} {:.2}",
            sum / 60.0
        ));
    }
    let means: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(means, expected);
    assert_eq!(acked(&mut con), 180);
}

/// A server whose chennai holds three readings that consumer `name`'s `--pipe` handler failed on
/// their only delivery allowed: all three in the dead letters, and the run exited 5 (every
/// message dead-lettered, none processed).
fn three_dead_letters(name: &str) -> Server {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    let failing = "awk '{ print \"fail\", $2, $3, \"not yet\"; fflush() }'";
    let args = [
        name,
        "--pipe",
        failing,
        "--max-deliveries",
        "1",
        "--idle-exit",
        "300ms",
    ];
    let out = run("consumer", &server, &args);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(xlen(&mut server.con(), "chennai:dead"), 3);
    server
}

/// `--redrive --pipe`: dead letters left by a handler that failed them are handed to the fixed
/// handler and deleted once it acks them.
#[test]
fn redrive_through_a_pipe_handler() {
    let server = three_dead_letters("alice");
    let mut con = server.con();
    let fixed = "awk '{ print \"redriven\", $3; print \"ack\", $2, $3; fflush() }'";
    let out = run(
        "consumer",
        &server,
        &["alice", "--redrive", "--pipe", fixed],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
    assert_eq!(xlen(&mut con, "chennai:dead"), 0);
}

/// `--redrive --pipe` passes on every line the handler writes, those after its last `ack` and
/// what it prints at the end of its input included (before, the last line after an ack and the
/// totals were lost).
#[test]
fn redrive_through_a_pipe_passes_on_every_handler_line() {
    let server = three_dead_letters("dave");
    let tee = "awk '{ print \"ack\", $2, $3; print \"after\", $3; fflush() } END { print \"total\", NR }'";
    let out = run("consumer", &server, &["dave", "--redrive", "--pipe", tee]);
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("after ")).count(),
        3,
        "{lines:?}"
    );
    assert_eq!(lines[3], "total 3", "{lines:?}");
}

/// The calls the server counted for `command` (INFO commandstats), 0 when there were none.
fn calls(con: &mut redis::Connection, command: &str) -> u64 {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What is in a handler's hands is re-claimed only when it could otherwise look idle, not at
/// every answer: a quick `--pipe` handler and `--exec` rounds over 3,000 and 200 messages cost
/// a few EVALs, not one per message (that made `--pipe` answer 700 messages a second).
#[test]
fn keeping_messages_in_hand_costs_no_round_trip_per_message() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "3000"],
    ));
    let mut con = server.con();
    let handler = "awk '{ print \"ack\", $2, $3; fflush() }'";
    let out = run(
        "consumer",
        &server,
        &["alice", "--pipe", handler, "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    assert!(
        stderr(&out).contains("processed 3000 messages"),
        "{}",
        stderr(&out)
    );
    let pipe_evals = calls(&mut con, "eval");
    assert!(
        pipe_evals <= 5,
        "{pipe_evals} EVALs for 3000 --pipe messages"
    );

    assert_ok(&run(
        "producer",
        &server,
        &["--city", "ex", "--date", DATE, "--count", "200"],
    ));
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "ex",
            "--exec",
            "true",
            "--jobs",
            "2",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(pending(&mut con, "ex", "mygroup"), 0);
    let exec_evals = calls(&mut con, "eval") - pipe_evals;
    assert!(
        exec_evals <= 5,
        "{exec_evals} EVALs for 200 --exec messages"
    );
}
