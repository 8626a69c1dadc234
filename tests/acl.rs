//! README's least-privilege ACL, read from README itself: its base line runs the producer, the
//! consumer and `inspect`; each row of its table makes its mode work, and without the row the
//! mode is refused (NOPERM, exit 4) naming the command, never the password.

use support::{DATE, Server, assert_ok, pending, stderr, stdout, xlen};

/// Creates the user the README documents and returns its URL.
fn city_user(server: &Server) -> String {
    support::create_stream_user(&mut server.con(), &["chennai"], &[] as &[&str]);
    format!("redis://sensor:pw-sensor-7@127.0.0.1:{}", server.port)
}

/// Runs a binary with an explicit URL.
fn run_as(name: &str, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(support::bin(name))
        .arg("--redis-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

/// The producer, a consumer (with a poison entry to dead-letter) and a rerun all work as that user.
#[test]
fn producer_and_consumer_work_with_least_privilege() {
    let server = Server::start();
    let url = city_user(&server);
    let out = run_as("producer", &url, &["--date", DATE, "--count", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = run_as("producer", &url, &["--date", DATE, "--count", "100"]);
    assert!(
        stdout(&again).contains("nothing to insert"),
        "{}",
        stderr(&again)
    );
    let mut con = server.con();
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("*")
        .arg("temperature")
        .arg("bad")
        .query(&mut con)
        .unwrap();
    let out = run_as(
        "consumer",
        &url,
        &[
            "alice",
            "--idle-exit",
            "300ms",
            "--require",
            "temperature:number",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 100);
    assert_eq!(xlen(&mut con, "chennai:dead"), 1);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A key outside the user's patterns is a NOPERM refusal (exit 4) naming the key.
#[test]
fn noperm_names_command_and_key() {
    let server = Server::start();
    let url = city_user(&server);
    let out = run_as("producer", &url, &["--date", DATE, "--city", "pune"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("TYPE pune") && err.contains("NOPERM") && !err.contains("pw-sensor-7"),
        "{err}"
    );
    let replace = run_as("producer", &url, &["--date", DATE, "--replace"]);
    assert_eq!(replace.status.code(), Some(4), "{}", stderr(&replace));
    assert!(
        stderr(&replace).contains("DEL chennai"),
        "{}",
        stderr(&replace)
    );
}

/// `inspect` reads streams and groups as that user too.
#[test]
fn inspect_works_with_least_privilege() {
    let server = Server::start();
    let url = city_user(&server);
    assert!(
        run_as("producer", &url, &["--date", DATE, "--count", "20"])
            .status
            .success()
    );
    assert!(
        run_as("consumer", &url, &["alice", "--idle-exit", "300ms"])
            .status
            .success()
    );
    for args in [
        &["range", "chennai", "--count", "3"][..],
        &["groups", "chennai"],
        &["pending", "chennai"],
        &["chart", "chennai", "--width", "40"],
        &["tail", "chennai", "--from", "0", "--count", "2"],
        &["watch", "chennai", "--frames", "1"],
    ] {
        let out = run_as("inspect", &url, args);
        assert!(out.status.success(), "inspect {args:?}: {}", stderr(&out));
    }
}

/// Runs `mode` (binary and arguments) first as README's base user, which must be refused with
/// NOPERM naming `command` (exit 4), then with the table row `row` added, which must work.
fn needs_row(server: &Server, row: &str, command: &str, mode: (&str, &[&str])) {
    let url = city_user(server);
    let (name, args) = mode;
    let refused = run_as(name, &url, args);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "{row}: {}",
        stderr(&refused)
    );
    let err = stderr(&refused);
    assert!(
        err.contains("NOPERM") && err.contains(command) && !err.contains("pw-sensor-7"),
        "{row}: {err}"
    );
    support::create_stream_user(&mut server.con(), &["chennai"], &support::readme_rules(row));
    let granted = run_as(name, &url, args);
    assert!(granted.status.success(), "{row}: {}", stderr(&granted));
}

/// README's row for `producer --replace` is exactly what it needs.
#[test]
fn acl_row_producer_replace() {
    let server = Server::start();
    let args = ["--date", DATE, "--count", "10", "--replace"];
    needs_row(&server, "producer --replace", "DEL", ("producer", &args));
    assert_eq!(xlen(&mut server.con(), "chennai"), 10);
}

/// README's row for `consumer --prune-idle` is exactly what it needs.
#[test]
fn acl_row_consumer_prune_idle() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&support::run(
        "producer",
        &server,
        &["--date", DATE, "--count", "5"],
    ));
    support::create_group(&mut con, "chennai", "mygroup");
    let _: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg("chennai")
        .arg("mygroup")
        .arg("idler")
        .query(&mut con)
        .unwrap();
    let args = ["alice", "--prune-idle", "0s", "--idle-exit", "300ms"];
    needs_row(
        &server,
        "consumer --prune-idle",
        "eval",
        ("consumer", &args),
    );
}

/// README's row for `consumer --delay` (keeping claimed entries in hand) is what it needs.
#[test]
fn acl_row_consumer_delay() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&support::run(
        "producer",
        &server,
        &["--date", DATE, "--count", "2"],
    ));
    support::create_group(&mut con, "chennai", "mygroup");
    support::read_without_ack(&mut con, "chennai", "mygroup", "ghost", 2, ">");
    let args = [
        "alice",
        "--delay",
        "100ms",
        "--claim-idle",
        "150ms",
        "--idle-exit",
        "500ms",
    ];
    // Wait until ghost's entries can be claimed, so alice holds claimed entries in hand.
    support::wait_until("ghost's entries are idle", || {
        let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg("chennai")
            .arg("mygroup")
            .arg("-")
            .arg("+")
            .arg(1)
            .query(&mut con)
            .unwrap();
        rows.first().is_some_and(|row| row.2 >= 150)
    });
    needs_row(&server, "consumer --delay", "eval", ("consumer", &args));
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// README's row for `inspect memory` is exactly what it needs.
#[test]
fn acl_row_inspect_memory() {
    let server = Server::start();
    assert_ok(&support::run(
        "producer",
        &server,
        &["--date", DATE, "--count", "5"],
    ));
    needs_row(
        &server,
        "inspect memory",
        "memory",
        ("inspect", &["memory", "chennai"]),
    );
}

/// README's row for `inspect server` is exactly what it needs.
#[test]
fn acl_row_inspect_server() {
    let server = Server::start();
    needs_row(&server, "inspect server", "info", ("inspect", &["server"]));
}

/// README's row for `consumer --exec` and `--pipe` (keeping what waits for a handler in hand) is
/// what they need.
#[test]
fn acl_row_consumer_exec() {
    let server = Server::start();
    assert_ok(&support::run(
        "producer",
        &server,
        &["--date", DATE, "--count", "2"],
    ));
    // A handler timeout close to the claim time: what waits for the handler must be kept
    // claimed at once (the EVAL the row is for).
    let args = [
        "alice",
        "--exec",
        "cat >/dev/null",
        "--claim-idle",
        "3s",
        "--handler-timeout",
        "2s",
        "--idle-exit",
        "300ms",
    ];
    needs_row(&server, "consumer --exec", "eval", ("consumer", &args));
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// README's row for `producer --retain` (the trim is one script) is exactly what it needs; the
/// refusal comes before anything is written. `--retain-dead` needs no row (XTRIM is @stream).
#[test]
fn acl_row_producer_retain() {
    let server = Server::start();
    let args = [
        "--date",
        DATE,
        "--count",
        "100",
        "--retain",
        "1m",
        "--retain-dead",
        "1h",
    ];
    needs_row(&server, "producer --retain", "EVAL", ("producer", &args));
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "chennai"), 60);
    let exists: i64 = redis::cmd("EXISTS")
        .arg("chennai:dead")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, 0);
}

/// `--wait-replicas` needs no row: WAIT is in `@connection` and the touch before a rerun's WAIT
/// (XSETID) in `@stream`, so README's base user runs a day, its rerun and a consumer's dead
/// letters with it; a user denied WAIT is refused (NOPERM, exit 4) naming it.
#[test]
fn wait_replicas_needs_no_row() {
    let server = Server::start();
    let _replica = Server::start_replica(&server);
    let url = city_user(&server);
    let args = ["--date", DATE, "--count", "100", "--wait-replicas", "1"];
    for _ in 0..2 {
        let out = run_as("producer", &url, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("confirmed on 1 replica"),
            "{}",
            stdout(&out)
        );
    }
    let mut con = server.con();
    support::create_stream_user(&mut con, &["chennai"], &["-wait"]);
    let refused = run_as("producer", &url, &args);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("WAIT") && err.contains("NOPERM") && !err.contains("pw-sensor-7"),
        "{err}"
    );
    support::create_stream_user(&mut con, &["chennai"], &[] as &[&str]);
    support::xadd(&mut con, "chennai", &[("temperature", b"bad")]);
    let consumer = [
        "alice",
        "--idle-exit",
        "300ms",
        "--require",
        "temperature:number",
        "--wait-replicas",
        "1",
    ];
    let out = run_as("consumer", &url, &consumer);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(xlen(&mut con, "chennai:dead"), 1);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}
