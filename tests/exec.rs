//! `consumer --exec` as a rolling pool (`--jobs N`: the next handler starts as soon as one ends,
//! all watched from one thread) and `--exec-batch N` (up to N messages on one handler's stdin).

use std::collections::BTreeSet;
use std::path::Path;

use support::{Server, dead_letters, field, pending, run, stderr, stdout, wait_until, xlen};

/// Writes entries `1-1` .. `count-1` into `chennai`, one field each.
fn entries(server: &Server, count: u64) -> Vec<String> {
    let mut con = server.con();
    (1..=count)
        .map(|n| {
            let id: String = redis::cmd("XADD")
                .arg("chennai")
                .arg(format!("{n}-1"))
                .arg("temperature")
                .arg(format!("2{n}.5"))
                .query(&mut con)
                .unwrap();
            id
        })
        .collect()
}

/// The lines of `path` (none while it does not exist).
fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// A shell loop that waits until `release` exists (the test's go-ahead; the handler timeout
/// bounds it).
fn until_released(release: &Path) -> String {
    format!("while [ ! -e {} ]; do sleep 0.02; done", release.display())
}

/// `--exec-batch 4`: each run gets as many JSON lines on its stdin as MONSOON_BATCH says, never
/// more than 4, every message exactly once (lossless JSON with its stream and ID); exit 0 acks
/// them all.
#[test]
fn a_batch_handler_gets_its_messages_as_lines() {
    let server = Server::start();
    let ids = entries(&server, 10);
    let (log, seen) = (
        server.dir.path().join("runs.log"),
        server.dir.path().join("seen.jsonl"),
    );
    let handler = format!(
        "n=$(tee -a {} | wc -l); echo \"$n $MONSOON_BATCH $MONSOON_CONSUMER $MONSOON_GROUP ${{MONSOON_ID:-none}}\" >> {}",
        seen.display(),
        log.display()
    );
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--exec-batch",
            "4",
            "--idle-exit",
            "300ms",
        ],
    );
    support::assert_ok(&out);
    let mut total = 0;
    for line in lines_of(&log) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], words[1], "lines on stdin = MONSOON_BATCH: {line}");
        assert_eq!(&words[2..], ["alice", "mygroup", "none"], "{line}");
        let n: usize = words[0].parse().unwrap();
        assert!((1..=4).contains(&n), "{line}");
        total += n;
    }
    assert_eq!(total, 10, "{:?}", lines_of(&log));
    let handed: Vec<String> = support::json_lines(&std::fs::read_to_string(&seen).unwrap())
        .iter()
        .map(|m| {
            assert_eq!(m["stream"], "chennai");
            m["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(handed, ids, "each message once, in order");
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
    assert!(
        stderr(&out).contains("processed 10 messages"),
        "{}",
        stderr(&out)
    );
}

/// A batch whose run fails has each of its messages run again alone (their own MONSOON_ID):
/// the good ones are acked, the bad one fails alone, is retried alone through the server and is
/// dead-lettered at --max-deliveries with the normal reason and stderr.
#[test]
fn a_failed_batch_runs_each_message_alone() {
    let server = Server::start();
    entries(&server, 5);
    let log = server.dir.path().join("runs.log");
    // Fails on any input holding 3-1, in a batch or alone.
    let handler = format!(
        "echo \"${{MONSOON_BATCH:-alone}} ${{MONSOON_ID:-}} ${{MONSOON_DELIVERIES:-}}\" >> {}; \
         if grep -q '\"id\":\"3-1\"'; then echo bad >&2; exit 3; fi",
        log.display()
    );
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--exec-batch",
            "100",
            "--max-deliveries",
            "2",
            "--idle-exit",
            "300ms",
        ],
    );
    support::assert_ok(&out);
    let mut con = server.con();
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let dead = dead_letters(&mut con, "chennai:dead");
    assert_eq!(dead.len(), 1, "{}", stderr(&out));
    assert_eq!(field(&dead[0], "id"), "3-1");
    assert_eq!(field(&dead[0], "reason"), "handler exited 3");
    assert_eq!(field(&dead[0], "stderr"), "bad\n");
    assert_eq!(
        field(&dead[0], "deliveries"),
        "2",
        "retried through the server"
    );
    let runs = lines_of(&log);
    // The bad one ran alone on both of its deliveries, never in a batch the second time.
    let alone: Vec<&str> = runs
        .iter()
        .filter(|r| r.starts_with("alone 3-1"))
        .map(String::as_str)
        .collect();
    assert_eq!(alone, ["alone 3-1 1", "alone 3-1 2"], "{runs:?}");
    assert!(stderr(&out).contains("each of its messages runs again alone"));
    assert!(
        stderr(&out).contains("processed 4 messages"),
        "{}",
        stderr(&out)
    );
    assert_eq!(xlen(&mut con, "chennai:dead"), 1);
}

/// The pool rolls: with `--jobs 2`, a handler still working on one message does not hold back
/// the others, which are handled and acknowledged meanwhile, one after the other, in its
/// second slot.
#[test]
fn a_slow_handler_does_not_hold_back_the_others() {
    let server = Server::start();
    entries(&server, 6);
    let release = server.dir.path().join("release");
    let handler = format!(
        "[ \"$MONSOON_ID\" = 1-1 ] && {}; echo \"$MONSOON_ID\"",
        until_released(&release)
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--jobs",
            "2",
            "--idle-exit",
            "300ms",
        ],
    );
    let mut con = server.con();
    wait_until("the five others are handled and acked", || {
        alice.lines().len() == 5 && pending(&mut con, "chennai", "mygroup") == 1
    });
    assert!(
        !alice.lines().contains(&String::from("1-1")),
        "the slow one still runs"
    );
    std::fs::write(&release, "").unwrap();
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(alice.lines().last().map(String::as_str), Some("1-1"));
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// Eight handlers at once start no thread each: the consumer has as many threads with eight
/// handlers running as it had before any message came.
#[test]
fn handlers_run_without_a_thread_each() {
    let server = Server::start();
    let (started, release) = (
        server.dir.path().join("started.log"),
        server.dir.path().join("release"),
    );
    let handler = format!(
        "echo \"$MONSOON_ID\" >> {}; {}",
        started.display(),
        until_released(&release)
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--jobs",
            "8",
            "--idle-exit",
            "3s",
        ],
    );
    let mut con = server.con();
    wait_until("alice joined the group", || {
        redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg("chennai")
            .arg("mygroup")
            .query::<Vec<redis::Value>>(&mut con)
            .is_ok_and(|c| !c.is_empty())
    });
    let before = support::threads(alice.child.id());
    entries(&server, 40);
    wait_until("eight handlers run", || lines_of(&started).len() == 8);
    let during = support::threads(alice.child.id());
    assert!(before > 0);
    assert_eq!(during, before, "no thread per handler");
    std::fs::write(&release, "").unwrap();
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(lines_of(&started).len(), 40);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A graceful stop with two handlers running lets both finish and acks what they did, starts
/// no other, and leaves the rest to a later run, which handles each of them once.
#[test]
fn a_graceful_stop_lets_the_running_handlers_finish() {
    let server = Server::start();
    let ids = entries(&server, 6);
    let (started, release) = (
        server.dir.path().join("started.log"),
        server.dir.path().join("release"),
    );
    let handler = format!(
        "echo \"$MONSOON_ID\" >> {}; {}; echo \"done $MONSOON_ID\"",
        started.display(),
        until_released(&release)
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--exec", &handler, "--jobs", "2"],
    );
    wait_until("two handlers run", || lines_of(&started).len() == 2);
    support::signal(&alice.child, "TERM");
    wait_until("alice says she is stopping", || {
        alice.errors().contains("Ctrl-C again")
    });
    std::fs::write(&release, "").unwrap();
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    let first = lines_of(&started);
    assert_eq!(first.len(), 2, "nothing started after the stop: {first:?}");
    let done: Vec<String> = first.iter().map(|id| format!("done {id}")).collect();
    let mut said = alice.lines();
    said.sort();
    assert_eq!(said, done);
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            "echo $MONSOON_ID",
            "--idle-exit",
            "300ms",
        ],
    );
    support::assert_ok(&out);
    let rest: BTreeSet<String> = stdout(&out).lines().map(String::from).collect();
    let all: BTreeSet<String> = first.into_iter().chain(rest.iter().cloned()).collect();
    assert_eq!(rest.len(), 4, "{}", stdout(&out));
    assert_eq!(all, ids.into_iter().collect());
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// A consumer SIGKILLed with four handlers running (`--jobs 4`, batches of two) takes every
/// one of them along, and what each started in its group: the watchdog kills the groups it
/// was told of, with no parent-death signal behind it.
#[test]
fn a_killed_consumer_takes_every_handler_along() {
    let server = Server::start();
    entries(&server, 8);
    let pids = server.dir.path().join("pids");
    let handler = format!(
        "cat > /dev/null; sleep 30 & echo \"$$ $!\" >> {}; wait",
        pids.display()
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--jobs",
            "4",
            "--exec-batch",
            "2",
            "--handler-timeout",
            "20s",
            "--claim-idle",
            "60s",
        ],
    );
    wait_until("four handlers run", || lines_of(&pids).len() == 4);
    let running: Vec<String> = lines_of(&pids)
        .iter()
        .flat_map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    support::signal(&alice.child, "KILL");
    alice.wait();
    wait_until("every handler and its program are gone", || {
        running
            .iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    });
}

/// `--exec-batch` needs `--exec` and is refused with `--pipe` and `--redrive`, and below 1 (exit
/// 2).
#[test]
fn exec_batch_needs_exec() {
    let server = Server::start();
    for args in [
        &["alice", "--exec-batch", "10"][..],
        &["alice", "--pipe", "cat", "--exec-batch", "10"],
        &["alice", "--exec", "true", "--exec-batch", "10", "--redrive"],
        &["alice", "--exec", "true", "--exec-batch", "0"],
    ] {
        let out = run("consumer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}
