//! The same answer at every edge: a missing stream or group, a date before 1970, a server that
//! never answers, a closed or full stdout. Each binary answers alike, with the exit code its
//! error means.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{CONNECT_TIMEOUT, DATE, Server, assert_ok, run, stderr, stdout, wait_until, xlen};

/// A server that answers LOADING longer than `--retry-for` (restarted, its data coming back
/// slowly) makes the consumer give up on time, exit 3, naming the wait; without `--retry-for` it
/// waits, saying so once, and Ctrl-C stops it within a moment (exit 0: nothing was in hand).
#[test]
fn a_loading_server_is_waited_for_within_retry_for() {
    let mut server = Server::start();
    server.restart_loading(60);
    let retry_for = Duration::from_secs(2);
    let started = Instant::now();
    let out = run("consumer", &server, &["alice", "--retry-for", "2s"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("LOADING"), "{}", stderr(&out));
    // Not before --retry-for, and after it no later than one connect attempt's bound.
    assert!(took >= retry_for, "gave up after {took:?}");
    assert!(took < retry_for + CONNECT_TIMEOUT, "gave up after {took:?}");

    let mut alice = support::spawn("consumer", &server, &["alice"]);
    wait_until("alice says she waits for the data", || {
        alice.errors().contains("is loading its data")
    });
    let stopped = Instant::now();
    support::signal(&alice.child, "INT");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert!(
        stopped.elapsed() < CONNECT_TIMEOUT,
        "took {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        alice.errors().matches("is loading its data").count(),
        1,
        "said once: {}",
        alice.errors()
    );
}

/// Every `inspect` subcommand that reads what a stream holds refuses a missing stream the same
/// way: exit 1, `Error: stream <key> does not exist`.
#[test]
fn a_missing_stream_is_the_same_error_everywhere() {
    let server = Server::start();
    for args in [
        &["range", "nosuch"][..],
        &["range", "nosuch", "--rev", "--json"],
        &["pending", "nosuch"],
        &["groups", "nosuch"],
        &["chart", "nosuch"],
        &["memory", "nosuch"],
    ] {
        let out = run("inspect", &server, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("Error: stream nosuch does not exist"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

/// The live view says a missing stream does not exist yet, then shows it once it appears.
#[test]
fn watch_says_a_stream_is_missing_then_shows_it() {
    let server = Server::start();
    let out = run("inspect", &server, &["watch", "chennai", "--frames", "1"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("stream chennai: does not exist yet"),
        "{}",
        stdout(&out)
    );
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let out = run("inspect", &server, &["watch", "chennai", "--frames", "1"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("stream chennai: 5 entries"),
        "{}",
        stdout(&out)
    );
}

/// `tail` waits for a missing stream to appear and prints its first entry.
#[test]
fn tail_waits_for_a_missing_stream() {
    let server = Server::start();
    let mut tail = support::spawn(
        "inspect",
        &server,
        &["tail", "chennai", "--from", "0", "--count", "1", "--json"],
    );
    // The stream does not exist while tail is blocked on it: the server saw its XREAD.
    let mut con = server.con();
    wait_until("tail blocks on XREAD", || {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut con)
            .unwrap_or_default();
        clients.contains("cmd=xread")
    });
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "1"]));
    assert_eq!(tail.wait(), Some(0), "{}", tail.errors());
    let lines = tail.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"1534291200000-0\""), "{lines:?}");
}

/// A missing group is an error naming the group and the stream, not the server's raw NOGROUP.
#[test]
fn a_missing_group_names_itself() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    let out = run(
        "inspect",
        &server,
        &["pending", "chennai", "--group", "nosuch"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "Error: group nosuch does not exist on stream chennai; check --group\n"
    );
    let watch = run(
        "inspect",
        &server,
        &["watch", "chennai", "--group", "nosuch", "--frames", "1"],
    );
    assert_ok(&watch);
    assert!(stdout(&watch).contains("group nosuch: not created yet"));
}

/// A key of another type is refused (exit 4) without suggesting a flag `inspect` does not have.
#[test]
fn a_wrong_type_suggests_only_real_flags() {
    let server = Server::start();
    let _: () = redis::cmd("SET")
        .arg("chennai")
        .arg("x")
        .query(&mut server.con())
        .unwrap();
    let out = run("inspect", &server, &["range", "chennai"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("key chennai holds a string"), "{err}");
    assert!(!err.contains("--city"), "{err}");
}

/// `--date` before 1970 is a usage error naming the flag; nothing is written.
#[test]
fn a_date_before_1970_is_a_usage_error() {
    let server = Server::start();
    let out = run(
        "producer",
        &server,
        &["--date", "1960-01-01", "--count", "3"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--date") && err.contains("1970-01-01"),
        "{err}"
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg("chennai")
        .query(&mut server.con())
        .unwrap();
    assert!(!exists);
}

/// Connecting gives up after 5 s also when the port accepts and never answers.
#[test]
fn a_silent_port_gives_up_in_five_seconds() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = Command::new(support::bin("inspect"))
        .args(["--redis-url", &url, "range", "chennai"])
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
    // One connect attempt's bound, not one per handshake read (redis-rs took two: 10 s).
    assert!(took >= CONNECT_TIMEOUT, "took {took:?}");
    assert!(took < 2 * CONNECT_TIMEOUT, "took {took:?}");
    drop(silent);
}

/// `--retry-for 1s` gives up about 1 s after the break is noticed, however the server behaves
/// (here it is stopped: the port accepts and never answers).
#[test]
fn heavy_retry_for_bounds_the_reconnect() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    let mut consumer = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--retry-for",
            "1s",
            "--block",
            "100ms",
            "--timeout",
            "2s",
        ],
    );
    let retry_for = Duration::from_secs(1);
    wait_until("alice drained the stream", || consumer.lines().len() == 3);
    let pid = server_pid(&server);
    let kill = |signal: &str| kill_pid(&pid, signal);
    kill("-STOP");
    wait_until("alice notices the break", || {
        consumer.errors().contains("lost the connection")
    });
    let noticed = Instant::now();
    let code = consumer.wait();
    let took = noticed.elapsed();
    kill("-CONT");
    assert_eq!(code, Some(3), "{}", consumer.errors());
    assert!(
        consumer.errors().contains("gave up"),
        "{}",
        consumer.errors()
    );
    // --retry-for and one connect attempt cut to it; before, each attempt took 10 s.
    assert!(took < retry_for + CONNECT_TIMEOUT, "took {took:?}");
}

/// The process ID of the server answering on `server`'s port.
fn server_pid(server: &Server) -> String {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut server.con())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("INFO server has process_id")
        .trim()
        .to_string()
}

/// Sends `signal` (e.g. `-STOP`) to the process `pid`.
fn kill_pid(pid: &str, signal: &str) {
    let sent = Command::new("kill").args([signal, pid]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// A closed stdout is a normal end for every binary (exit 0, no error), and the producer still
/// writes every city in full.
#[test]
fn a_closed_pipe_is_a_normal_end() {
    let server = Server::start();
    let closed = |name: &str, args: &[&str]| {
        let mut child = support::command(name, &server)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (child.wait().unwrap().code(), err)
    };
    let (code, err) = closed(
        "producer",
        &[
            "--date", DATE, "--count", "500", "--city", "a", "--city", "b",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("Error"), "{err}");
    let mut con = server.con();
    assert_eq!((xlen(&mut con, "a"), xlen(&mut con, "b")), (500, 500));
    let (code, err) = closed("inspect", &["range", "a"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
    let (code, err) = closed(
        "consumer",
        &["alice", "--city", "a", "--idle-exit", "200ms"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("Error"), "{err}");
}

/// A full disk is an error (exit 1) for the producer too, not ignored; the data is written.
#[test]
fn a_full_disk_is_an_error() {
    let server = Server::start();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let out = support::command("producer", &server)
        .args(["--date", DATE, "--count", "50"])
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write output"),
        "{}",
        stderr(&out)
    );
    assert_eq!(xlen(&mut server.con(), "chennai"), 50);
    let out = support::command("inspect", &server)
        .args(["range", "chennai"])
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Every socket read and write has a bound: against a server that stops answering (SIGSTOP), a
/// live producer and a producer in the middle of one huge batch both give up after `--timeout`
/// and `--retry-for` (exit 3) instead of waiting for ever (before: no read timeout in `--live`,
/// 75 s and more in a socket write).
#[test]
fn heavy_no_socket_wait_outlives_its_bound() {
    let server = Server::start();
    let mut con = server.con();
    let (timeout, retry_for) = (Duration::from_secs(3), Duration::from_secs(1));
    let bounds = ["--timeout", "3s", "--retry-for", "1s"];
    let mut live = support::spawn(
        "producer",
        &server,
        &[
            "--city",
            "pune",
            "--live",
            "--interval",
            "50ms",
            bounds[0],
            bounds[1],
            bounds[2],
            bounds[3],
        ],
    );
    let mut bulk = support::spawn(
        "producer",
        &server,
        &[
            "--date",
            DATE,
            "--sensors",
            "10",
            "--batch",
            "1000000",
            bounds[0],
            bounds[1],
            bounds[2],
            bounds[3],
        ],
    );
    wait_until("both producers write", || {
        xlen(&mut con, "pune") > 0 && xlen(&mut con, "chennai") > 0
    });
    let pid = server_pid(&server);
    let kill = |signal: &str| kill_pid(&pid, signal);
    kill("-STOP");
    let started = Instant::now();
    let (live_code, bulk_code) = (live.wait(), bulk.wait());
    let took = started.elapsed();
    kill("-CONT");
    assert_eq!(live_code, Some(3), "{}", live.errors());
    assert_eq!(bulk_code, Some(3), "{}", bulk.errors());
    // The read or write timeout, --retry-for, and a connect attempt cut to it. A socket write
    // returns what it sent within the timeout, so a huge write in progress when the server
    // stopped first fills what the kernel's buffers still take (up to two timeouts seen here),
    // then stalls for one more.
    assert!(
        took < 3 * timeout + retry_for + CONNECT_TIMEOUT,
        "took {took:?}"
    );
}

/// The test server helper trusts only its own child: another test's server answering on the
/// port is not taken for ours (so a killed server's port, taken over, cannot pass a test).
#[test]
fn the_test_server_is_our_own_child() {
    let mut ours = Server::start();
    assert!(ours.answers_as_our_child());
    let mut other = Server::start();
    other.port = ours.port;
    assert!(!other.answers_as_our_child());
}

/// A value from the environment is not shown as if typed: with REDIS_URL (holding a password)
/// and MONSOON_PREFIX exported, a usage error's line is the plain usage (`inspect range
/// <STREAM>`, `consumer <NAME>`), `--help` says which variable each option reads, and a run
/// still goes where REDIS_URL says, with MONSOON_PREFIX's keys.
#[test]
fn variables_from_the_environment_are_not_shown_as_typed() {
    let server = Server::start();
    let secret = "redis://someone:s3cret@127.0.0.1:1";
    let with_env = |name: &str, url: &str, args: &[&str]| {
        let out = Command::new(support::bin(name))
            .env("REDIS_URL", url)
            .env("MONSOON_PREFIX", "env:")
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let (code, _, errors) = with_env("inspect", secret, &["range"]);
    assert_eq!(code, Some(2), "{errors}");
    assert!(
        errors.contains("Usage: inspect range <STREAM>\n"),
        "{errors}"
    );
    assert!(
        !errors.contains("--redis-url") && !errors.contains("--prefix"),
        "{errors}"
    );
    let (code, _, errors) = with_env("consumer", secret, &[]);
    assert_eq!(code, Some(2), "{errors}");
    assert!(errors.contains("Usage: consumer <NAME>\n"), "{errors}");
    let (code, help, _) = with_env("consumer", secret, &["-h"]);
    assert_eq!(code, Some(0));
    assert!(help.contains("Usage: consumer [OPTIONS] <NAME>"), "{help}");
    assert!(
        help.contains("[env: REDIS_URL]") && help.contains("[env: MONSOON_PREFIX"),
        "{help}"
    );
    assert!(!help.contains("s3cret"), "{help}");
    let url = server.url();
    let (code, _, errors) = with_env("producer", &url, &["--date", DATE, "--count", "2"]);
    assert_eq!(code, Some(0), "{errors}");
    assert_eq!(xlen(&mut server.con(), "env:chennai"), 2);
    let (code, out, errors) = with_env("inspect", &url, &["range", "chennai"]);
    assert_eq!(code, Some(0), "{errors}");
    assert_eq!(out.lines().count(), 3, "a header and two entries: {out}");
}
