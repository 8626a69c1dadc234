//! Nothing lost: real faults (SIGKILLed consumers and servers, killed connections, deleted
//! streams, poison entries) and refusals by the server, each with the outcome the user relies on.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use redis::Value;
use support::{DATE, Server, assert_ok, pending, run, stderr, stdout, wait_until, xadd, xlen};

/// Entry IDs in human output lines.
fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split(' ').nth(2).map(str::to_string))
        .collect()
}

/// Entries of a stream as (id, field/value pairs).
fn range(con: &mut redis::Connection, key: &str) -> Vec<(String, Vec<(String, String)>)> {
    type RawEntry = (String, Vec<(String, Vec<u8>)>);
    let raw: Vec<RawEntry> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    raw.into_iter()
        .map(|(id, fields)| {
            let fields = fields
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()));
            (id, fields.collect())
        })
        .collect()
}

/// SIGKILL one of three consumers mid-run: every entry is still processed, nothing left pending.
#[test]
fn heavy_sigkill_one_of_three_consumers_loses_nothing() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "600"],
    ));
    let args = ["--delay", "5ms", "--claim-idle", "1s", "--idle-exit", "3s"];
    let consumers: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| support::spawn("consumer", &server, &[&[*name][..], &args].concat()))
        .collect();
    wait_until("bob is working", || consumers[1].lines().len() >= 20);
    support::signal(&consumers[1].child, "KILL");
    let mut seen = BTreeSet::new();
    for mut consumer in consumers {
        consumer.wait();
        seen.extend(ids(&consumer.lines()));
    }
    let expected: BTreeSet<String> = (0..600)
        .map(|i| format!("{}-0", 1534291200000u64 + i * 1000))
        .collect();
    assert_eq!(seen, expected, "some entry was never processed");
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// A malformed entry and an over-delivered entry land in the dead-letter stream, then are acked;
/// the original walkthrough's readings (no sensor, no humidity) are processed as valid.
#[test]
fn poison_entries_go_to_the_dead_letter_stream() {
    let server = Server::start();
    let mut con = server.con();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("chennai")
        .arg("mygroup")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut con)
        .unwrap();
    let tired = xadd(
        &mut con,
        "chennai",
        &[
            ("sensor", b"1"),
            ("temperature", b"20.5"),
            ("humidity", b"50"),
        ],
    );
    // Delivered five times to a consumer that never acks (one new read, four re-reads).
    support::read_without_ack(&mut con, "chennai", "mygroup", "ghost", 100, ">");
    for _ in 0..4 {
        support::read_without_ack(&mut con, "chennai", "mygroup", "ghost", 100, "0");
    }
    let valid_a = xadd(
        &mut con,
        "chennai",
        &[("temperature", b"26"), ("humidity", b"10")],
    );
    let valid_b = xadd(
        &mut con,
        "chennai",
        &[("sensor", b"1"), ("temperature", b"21")],
    );
    let bad_number = xadd(
        &mut con,
        "chennai",
        &[("sensor", b"1"), ("temperature", b"hot")],
    );
    let no_temp = xadd(
        &mut con,
        "chennai",
        &[("sensor", b"1"), ("humidity", b"10")],
    );
    let not_utf8 = xadd(&mut con, "chennai", &[("temperature", b"\xff\xfe")]);
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--claim-idle",
            "0s",
            "--idle-exit",
            "500ms",
            "--require",
            "temperature:number",
        ],
    );
    assert_ok(&out);
    let processed = ids(&stdout(&out).lines().map(str::to_string).collect::<Vec<_>>());
    assert_eq!(processed, [valid_a.clone(), valid_b.clone()]);
    let dead = range(&mut con, "chennai:dead");
    let dead_ids: Vec<&str> = dead
        .iter()
        .map(|(_, f)| {
            f.iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(
        dead_ids.iter().copied().collect::<BTreeSet<_>>(),
        [tired.as_str(), &bad_number, &no_temp, &not_utf8]
            .into_iter()
            .collect()
    );
    let tired_letter = &dead
        .iter()
        .find(|(_, f)| f.iter().any(|(k, v)| k == "id" && *v == tired))
        .unwrap()
        .1;
    let names: Vec<&str> = tired_letter.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "stream",
            "id",
            "reason",
            "consumer",
            "deliveries",
            "field:sensor",
            "field:temperature",
            "field:humidity"
        ]
    );
    assert_eq!(tired_letter[4].1, "6");
    assert_eq!(tired_letter[3].1, "alice");
    assert!(
        tired_letter[2].1.contains("--max-deliveries 5"),
        "{}",
        tired_letter[2].1
    );
    assert!(stderr(&out).contains("4 dead-lettered"), "{}", stderr(&out));
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// SIGKILL the server (AOF on) while the producer writes 864,000 entries; after a restart on the
/// same port the stream holds exactly 864,000 entries, in order, with no gap.
#[test]
fn heavy_server_crash_during_produce_ends_with_every_reading_once() {
    let mut server = Server::start_with(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let producer = support::command("producer", &server)
        .args(["--date", DATE, "--sensors", "10", "--retry-for", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut con = server.con();
    wait_until("the producer is half-way", || {
        xlen(&mut con, "chennai") > 300_000
    });
    server.kill();
    server.restart();
    let out = producer.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(stderr(&out).contains("reconnect"), "{}", stderr(&out));
    support::assert_day_once(&mut server.con(), "chennai", 10);
}

/// A killed connection and a deleted stream: the consumer reconnects, re-creates its group, goes on.
#[test]
fn consumer_survives_client_kill_and_a_deleted_stream() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let mut alice = support::spawn("consumer", &server, &["alice", "--block", "200ms"]);
    wait_until("first five processed", || alice.lines().len() == 5);
    let mut con = server.con();
    support::kill_clients(&mut con);
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10"],
    ));
    wait_until("entries after the kill processed", || {
        alice.lines().len() == 10
    });
    let _: i64 = redis::cmd("DEL").arg("chennai").query(&mut con).unwrap();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    wait_until("entries of the new stream processed", || {
        alice.lines().len() == 13
    });
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0));
    let errors = alice.errors();
    assert!(errors.contains("reconnected"), "{errors}");
    assert!(errors.contains("re-created it at 0"), "{errors}");
    let seen = ids(&alice.lines());
    assert_eq!(
        seen[10..],
        ["1534291200000-0", "1534291201000-0", "1534291202000-0"]
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A consumer gives up with exit 3 when the server stays away longer than --retry-for.
#[test]
fn consumer_gives_up_after_retry_for() {
    let mut server = Server::start();
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--block", "100ms", "--retry-for", "1s"],
    );
    let mut con = server.con();
    wait_until("alice joined", || {
        let groups: Vec<Value> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg("chennai")
            .query(&mut con)
            .unwrap_or_default();
        !groups.is_empty()
    });
    server.kill();
    // Hold the freed port, so that no other test's server can take it and answer alice.
    let _hold = std::net::TcpListener::bind(("127.0.0.1", server.port));
    let started = Instant::now();
    let code = alice.wait();
    let errors = alice.errors();
    assert_eq!(code, Some(3), "{errors}");
    // Its --retry-for, and a connect attempt cut to it.
    assert!(
        started.elapsed() < Duration::from_secs(1) + support::CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert!(errors.contains("gave up reconnecting"), "{errors}");
}

/// Entries claimed from a dead consumer that were trimmed away are acked and counted, not retried.
#[test]
fn claimed_ids_that_no_longer_exist_are_acknowledged() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10"],
    ));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "mygroup");
    support::read_without_ack(&mut con, "chennai", "mygroup", "ghost", 4, ">");
    let _: i64 = redis::cmd("XDEL")
        .arg("chennai")
        .arg("1534291200000-0")
        .arg("1534291201000-0")
        .query(&mut con)
        .unwrap();
    let out = run(
        "consumer",
        &server,
        &["alice", "--claim-idle", "0s", "--idle-exit", "500ms"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 8);
    assert!(
        stderr(&out).contains("2 deleted while pending"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// --prune-idle deletes idle consumers only once their pending entries were claimed.
#[test]
fn prune_idle_never_drops_a_pending_entry() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "6"]));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "mygroup");
    support::read_without_ack(&mut con, "chennai", "mygroup", "ghost", 3, ">");
    let _: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg("chennai")
        .arg("mygroup")
        .arg("idler")
        .query(&mut con)
        .unwrap();
    // Not yet claimable (claim-idle 1h): ghost keeps its entries and is not pruned.
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--prune-idle",
            "0s",
            "--claim-idle",
            "1h",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 3);
    let names = |con: &mut redis::Connection| -> BTreeSet<String> {
        let rows: Vec<std::collections::HashMap<String, Value>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg("chennai")
            .arg("mygroup")
            .query(con)
            .unwrap();
        rows.iter()
            .map(|r| redis::from_redis_value::<String>(r["name"].clone()).unwrap())
            .collect()
    };
    assert_eq!(
        names(&mut con),
        ["alice", "ghost"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 3);
    // Claimable now: bob takes ghost's entries, then prunes ghost (and idle alice, who holds none).
    let out = run(
        "consumer",
        &server,
        &[
            "bob",
            "--prune-idle",
            "0s",
            "--claim-idle",
            "0s",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 3);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    assert!(!names(&mut con).contains("ghost"));
}

/// A wrong password, a missing one (NOAUTH) and a NOPERM reply are refusals (exit 4) that name
/// what was refused; the password never appears.
#[test]
fn refused_by_the_server() {
    let server = Server::start_with(&["--requirepass", "s3cr3t-pw"]);
    let url = |auth: &str| format!("redis://{auth}127.0.0.1:{}", server.port);
    let mut admin = redis::Client::open(url(":s3cr3t-pw@"))
        .unwrap()
        .get_connection()
        .unwrap();
    let run_as = |name: &str, auth: &str, args: &[&str]| {
        std::process::Command::new(support::bin(name))
            .arg("--redis-url")
            .arg(url(auth))
            .args(args)
            .output()
            .unwrap()
    };
    for out in [
        run_as("producer", ":hunter2-wrong@", &["--date", DATE]),
        run_as("consumer", ":hunter2-wrong@", &["alice"]),
    ] {
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("refused the login") && !stderr(&out).contains("hunter2"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
    }
    let noauth = run_as("producer", "", &["--date", DATE]);
    assert_eq!(noauth.status.code(), Some(4), "{}", stderr(&noauth));
    assert!(stderr(&noauth).contains("NOAUTH"), "{}", stderr(&noauth));
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">pw-reader-9")
        .arg("~other")
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let noperm = run_as("consumer", "reader:pw-reader-9@", &["alice"]);
    assert_eq!(noperm.status.code(), Some(4), "{}", stderr(&noperm));
    assert!(
        stderr(&noperm).contains("NOPERM") && stderr(&noperm).contains("chennai"),
        "{}",
        stderr(&noperm)
    );
    assert!(!stderr(&noperm).contains("pw-reader-9"));
}

/// A key of another type is named with its type (exit 4) and left exactly as it was.
#[test]
fn wrong_type_key_is_left_alone() {
    let server = Server::start();
    let mut con = server.con();
    let _: i64 = redis::cmd("RPUSH")
        .arg("chennai")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    for out in [
        run("producer", &server, &["--date", DATE]),
        run("producer", &server, &["--date", DATE, "--replace"]),
        run("consumer", &server, &["alice"]),
    ] {
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("key chennai holds a list, not a stream"),
            "{}",
            stderr(&out)
        );
    }
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg("chennai")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(items, ["a", "b"]);
}
