//! A least-privilege ACL user (`+@stream +@connection +type +exists` on its city's keys) can run
//! the producer and the consumer; a NOPERM names the command and key, never the password.

mod support;

use support::{DATE, Server, pending, stderr, stdout, xlen};

/// Creates the user the README documents and returns its URL.
fn city_user(server: &Server) -> String {
    support::create_stream_user(&mut server.con(), &["chennai"], &[]);
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
    let out = run_as("consumer", &url, &["alice", "--idle-exit", "300ms"]);
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
    ] {
        let out = run_as("inspect", &url, args);
        assert!(out.status.success(), "inspect {args:?}: {}", stderr(&out));
    }
}
