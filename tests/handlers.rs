//! `consumer --exec`: a handler program does the work, and only its success acks a message;
//! failures are retried through the server and dead-lettered with their reason and stderr.

use std::time::{Duration, Instant};

use support::{
    DATE, Server, assert_ok, dead_letters, field, pending, run, stderr, stdout, wait_until, xlen,
};

/// A handler that exits 0 acks each message once it ran: it got the JSON line on stdin and the
/// MONSOON_* environment, and its stdout reaches the consumer's.
#[test]
fn a_successful_handler_acks() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let handler = r#"read line; echo "$MONSOON_CONSUMER $MONSOON_GROUP $MONSOON_STREAM $MONSOON_ID $MONSOON_DELIVERIES $MONSOON_FIELD_SENSOR ${#line}""#;
    let out = run(
        "consumer",
        &server,
        &["alice", "--exec", handler, "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 5, "{}", stdout(&out));
    assert!(
        lines[0].starts_with("alice mygroup chennai 1534291200000-0 1 1 "),
        "{lines:?}"
    );
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// Exit 3, a signal and a hang past --handler-timeout are failed runs: retried through the
/// server, then dead-lettered on the last allowed delivery with the run's reason and stderr.
#[test]
fn failed_runs_are_retried_then_dead_lettered() {
    for (handler, reason) in [
        ("echo boom >&2; exit 3", "handler exited 3"),
        ("echo boom >&2; kill -SEGV $$", "handler killed by SIGSEGV"),
        ("echo boom >&2; sleep 30", "handler timed out after 300ms"),
    ] {
        let server = Server::start();
        assert_ok(&run("producer", &server, &["--date", DATE, "--count", "1"]));
        let out = run(
            "consumer",
            &server,
            &[
                "alice",
                "--exec",
                handler,
                "--max-deliveries",
                "3",
                "--handler-timeout",
                "300ms",
                "--claim-idle",
                "5s",
                "--idle-exit",
                "300ms",
            ],
        );
        // Its one message dead-lettered, none processed: exit 5.
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        let mut con = server.con();
        let dead = dead_letters(&mut con, "chennai:dead");
        assert_eq!(dead.len(), 1, "{handler}: {}", stderr(&out));
        assert_eq!(field(&dead[0], "reason"), reason);
        assert_eq!(field(&dead[0], "stderr"), "boom\n");
        assert_eq!(
            field(&dead[0], "deliveries"),
            "3",
            "retried through the server"
        );
        assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
        assert_eq!(
            stderr(&out).matches("it will be delivered again").count(),
            2,
            "{}",
            stderr(&out)
        );
    }
}

/// `--jobs 4` runs four handlers at once (their own records of start and end overlap four
/// deep) and still handles every message exactly once.
#[test]
fn heavy_jobs_run_handlers_side_by_side() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "8"]));
    let log = server.dir.path().join("runs.log");
    let handler = format!(
        "echo \"start $MONSOON_ID\" >> {0}; sleep 0.5; echo \"end $MONSOON_ID\" >> {0}; echo $MONSOON_ID",
        log.display()
    );
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--jobs",
            "4",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    let mut ids: Vec<String> = stdout(&out).lines().map(String::from).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let mut running = 0;
    let mut most = 0;
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        running += if line.starts_with("start") { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(most, 4, "at most four, and four at once");
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// A consumer SIGKILLed while its handler runs takes the handler and what it started with it;
/// on restart the message is handed over again, as its second delivery.
#[test]
fn a_killed_consumer_takes_its_handler_along() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "1"]));
    let pid_file = server.dir.path().join("handler.pid");
    // The shell and a program it started: both must go (dash forks for its last program).
    let lives = Duration::from_secs(30);
    let handler = format!(
        "sleep {} & echo \"$$ $!\" > {}; echo $MONSOON_DELIVERIES; wait",
        lives.as_secs(),
        pid_file.display()
    );
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            &handler,
            "--handler-timeout",
            "20s",
            "--claim-idle",
            "60s",
        ],
    );
    wait_until("the handler runs", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    });
    let pids = std::fs::read_to_string(&pid_file).unwrap();
    support::signal(&alice.child, "KILL");
    alice.wait();
    let killed = Instant::now();
    let alive = || {
        pids.split_whitespace()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    wait_until("the handler and its program are gone", || !alive());
    // Before the program would have ended on its own (on two loaded cores the reaping of the
    // killed processes alone once took 2 s).
    assert!(killed.elapsed() < lives, "{:?}", killed.elapsed());
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            "echo $MONSOON_DELIVERIES",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), "2");
}

/// A graceful stop lets the running handler finish and acks what it did.
#[test]
fn a_graceful_stop_lets_the_handler_finish() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "1"]));
    let started = server.dir.path().join("started");
    let handler = format!("touch {}; sleep 1; echo done", started.display());
    let mut alice = support::spawn("consumer", &server, &["alice", "--exec", &handler]);
    wait_until("the handler runs", || started.exists());
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(alice.lines(), ["done"]);
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// Bad inputs are usage errors (exit 2) with nothing acked and nothing dead-lettered: --exec
/// with --delay, a handler timeout not below --claim-idle, and a command that cannot run.
#[test]
fn bad_handler_inputs_touch_nothing() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    for args in [
        &["alice", "--exec", "true", "--delay", "1s"][..],
        &["alice", "--exec", "true", "--handler-timeout", "30s"],
        &[
            "alice",
            "--exec",
            "no-such-command-here",
            "--idle-exit",
            "300ms",
        ],
    ] {
        let out = run("consumer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let mut con = server.con();
    // The one message handed to the command that cannot run stays pending: nothing acked.
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 1, "nothing acked");
    assert_eq!(xlen(&mut con, "chennai:dead"), 0, "nothing dead-lettered");
}

/// The README's example handler raises an alert for readings over its threshold only.
#[test]
fn the_alert_example_alerts() {
    let server = Server::start();
    let mut con = server.con();
    for t in ["21.5", "35.2", "30.0"] {
        let _: String = redis::cmd("XADD")
            .arg("chennai")
            .arg("*")
            .arg("temperature")
            .arg(t)
            .query(&mut con)
            .unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/examples/alert.sh");
    let out = run(
        "consumer",
        &server,
        &["alice", "--exec", script, "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    let text = stdout(&out);
    let alerts: Vec<&str> = text.lines().collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("temperature 35.2 above 33"),
        "{alerts:?}"
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// `--redrive`: dead letters left by a failing handler are handed over again as the original
/// messages; what the fixed handler handles is deleted from the dead letters, what fails again
/// stays with its new reason.
#[test]
fn redrive_hands_dead_letters_over_again() {
    let server = Server::start();
    let mut con = server.con();
    for t in ["21.0", "99", "98"] {
        let _: String = redis::cmd("XADD")
            .arg("chennai")
            .arg("*")
            .arg("temperature")
            .arg(t)
            .query(&mut con)
            .unwrap();
    }
    // A handler that rejects the marked readings (9x): both end in the dead letters.
    let picky = r#"case "$MONSOON_FIELD_TEMPERATURE" in 9*) exit 4;; esac"#;
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            picky,
            "--max-deliveries",
            "1",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(xlen(&mut con, "chennai:dead"), 2);
    // Fixed for 99 only: 99 is handled and deleted, 98 fails again with a new reason.
    let fixed = r#"echo "redriven $MONSOON_FIELD_TEMPERATURE"; [ "$MONSOON_FIELD_TEMPERATURE" = 99 ] || exit 5"#;
    let out = run(
        "consumer",
        &server,
        &["alice", "--redrive", "--exec", fixed],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "redriven 99\nredriven 98\n");
    let dead = dead_letters(&mut con, "chennai:dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(field(&dead[0], "field:temperature"), "98");
    assert_eq!(field(&dead[0], "reason"), "handler exited 5");
    assert!(stderr(&out).contains("1 handled and deleted, 1 failed again"));
    // --redrive needs --exec.
    let bare = run("consumer", &server, &["alice", "--redrive"]);
    assert_eq!(bare.status.code(), Some(2));
}

/// A second stop exits at once (130), the running handler and what it started die with the
/// consumer, and the message it held stays pending.
#[test]
fn a_second_stop_takes_the_handler_down() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "1"]));
    let pid_file = server.dir.path().join("handler.pid");
    let handler = format!("sleep 30 & echo \"$$ $!\" > {}; wait", pid_file.display());
    let mut alice = support::spawn("consumer", &server, &["alice", "--exec", &handler]);
    wait_until("the handler runs", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| p.split_whitespace().count() == 2)
    });
    let pids = std::fs::read_to_string(&pid_file).unwrap();
    support::signal(&alice.child, "TERM");
    wait_until("alice says she is stopping", || {
        alice.errors().contains("Ctrl-C again")
    });
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(130), "{}", alice.errors());
    wait_until("the handler and its program are gone", || {
        pids.split_whitespace()
            .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    });
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 1);
}
