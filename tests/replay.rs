//! `consumer --reset-to`: group time travel on a private redis-server. A day consumed, the
//! group moved back to noon: the next read is exactly the noon entry and the lag says so, also
//! while another client writes to the stream.

use support::{DATE, Server, assert_ok, run, stderr, stdout};

/// The noon entry of DATE, and the one before it.
const NOON: &str = "1534334400000-0";
const BEFORE_NOON: &str = "1534334399000-0";
/// The last entry of DATE.
const LAST: &str = "1534377599000-0";

/// The group's fields as XINFO GROUPS reports them.
fn group_info(
    con: &mut redis::Connection,
    group: &str,
) -> std::collections::HashMap<String, redis::Value> {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(con)
        .unwrap();
    groups
        .into_iter()
        .find(|g| g.get("name") == Some(&redis::Value::BulkString(group.as_bytes().to_vec())))
        .unwrap_or_else(|| panic!("no group {group}"))
}

/// The group's (last-delivered-id, lag) as XINFO GROUPS reports them.
fn group_state(con: &mut redis::Connection, group: &str) -> (String, Option<u64>) {
    let info = group_info(con, group);
    let last: String = redis::from_redis_value(info["last-delivered-id"].clone()).unwrap();
    let lag: Option<u64> = redis::from_redis_value(info["lag"].clone()).unwrap();
    (last, lag)
}

/// The group's (entries-read, lag) as XINFO GROUPS reports them.
fn group_counters(con: &mut redis::Connection, group: &str) -> (Option<u64>, Option<u64>) {
    let info = group_info(con, group);
    let read = |name: &str| redis::from_redis_value(info[name].clone()).unwrap();
    (read("entries-read"), read("lag"))
}

/// The ID of the next entry the group delivers to a new consumer.
fn next_read(con: &mut redis::Connection, group: &str) -> String {
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("probe")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg("chennai")
        .arg(">")
        .query(con)
        .unwrap();
    reply.keys[0].ids[0].id.clone()
}

/// Runs `consumer x --group replay --reset-to AT --json` and returns its JSON line.
fn reset_json(server: &Server, at: &str) -> serde_json::Value {
    let out = run(
        "consumer",
        server,
        &["x", "--group", "replay", "--reset-to", at, "--json"],
    );
    assert_ok(&out);
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// A consumed day, reset to noon: it says from where to where and how many entries come again,
/// the next read returns exactly the noon entry, and the lag counts the afternoon.
#[test]
fn reset_to_noon_replays_the_afternoon() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let alice = run("consumer", &server, &["alice", "--idle-exit", "300ms"]);
    assert_ok(&alice);
    let mut con = server.con();
    assert_eq!(
        group_state(&mut con, "mygroup"),
        (LAST.to_string(), Some(0))
    );

    let dry = run(
        "consumer",
        &server,
        &["alice", "--reset-to", "2018-08-15T12:00:00Z", "--dry-run"],
    );
    assert_ok(&dry);
    assert_eq!(
        stdout(&dry).trim(),
        format!(
            "chennai mygroup: would move last-delivered-id from {LAST} (2018-08-15T23:59:59Z) to \
             {BEFORE_NOON} (2018-08-15T11:59:59Z); 43200 entries will be delivered again \
             (dry run: nothing changed)"
        )
    );
    assert_eq!(
        group_state(&mut con, "mygroup"),
        (LAST.to_string(), Some(0))
    );

    let reset = run(
        "consumer",
        &server,
        &["alice", "--reset-to", "2018-08-15T12:00:00Z"],
    );
    assert_ok(&reset);
    assert!(
        stdout(&reset).contains("moved last-delivered-id"),
        "{}",
        stdout(&reset)
    );
    assert!(stdout(&reset).contains("43200 entries will be delivered again"));
    assert_eq!(
        group_state(&mut con, "mygroup"),
        (BEFORE_NOON.to_string(), Some(43_200))
    );
    assert_eq!(next_read(&mut con, "mygroup"), NOON);
}

/// A group that does not exist yet: the dry run says it would be created at the entry before
/// noon and that the afternoon (43,200 entries) would be delivered, and creates nothing; the
/// real run creates it there, with that many entries as its lag.
#[test]
fn reset_of_a_missing_group_says_what_it_would_create() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let line = format!(
        "chennai fresh: would create the group at {BEFORE_NOON} (2018-08-15T11:59:59Z); 43200 \
         entries will be delivered (dry run: nothing changed)"
    );
    let args = [
        "alice",
        "--group",
        "fresh",
        "--reset-to",
        "2018-08-15T12:00",
    ];
    let dry = run("consumer", &server, &[&args[..], &["--dry-run"]].concat());
    assert_ok(&dry);
    assert_eq!(stdout(&dry).trim(), line);
    let mut con = server.con();
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut con)
        .unwrap();
    assert!(groups.is_empty(), "a dry run created {groups:?}");
    let real = run("consumer", &server, &args);
    assert_ok(&real);
    assert_eq!(
        stdout(&real).trim(),
        line.replace("would create", "created")
            .replace(" (dry run: nothing changed)", "")
    );
    assert_eq!(
        group_state(&mut con, "fresh"),
        (BEFORE_NOON.to_string(), Some(43_200))
    );
    let json = reset_json(&server, "2018-08-15T12:00");
    assert_eq!(json["to_deliver"], 43_200, "{json}");
}

/// Milliseconds, an ID and a zone-less time name the same point; a group that does not exist
/// is created there (JSON says so); moving forward skips entries and says how many.
#[test]
fn reset_by_id_milliseconds_and_creates_a_group() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100"],
    ));
    let mut con = server.con();
    let json = reset_json(&server, "1534291250000");
    assert_eq!(json["from"], serde_json::Value::Null);
    assert_eq!(json["to"], "1534291249000-0");
    assert_eq!(json["entries_read"], 50);
    assert_eq!(
        group_state(&mut con, "replay"),
        ("1534291249000-0".into(), Some(50))
    );

    let json = reset_json(&server, "1534291210000-0");
    assert_eq!(
        (json["redelivered"].clone(), json["skipped"].clone()),
        (40.into(), 0.into())
    );

    let json = reset_json(&server, "2018-08-15T00:01:30");
    assert_eq!(
        (json["redelivered"].clone(), json["skipped"].clone()),
        (0.into(), 80.into())
    );
    assert_eq!(
        group_state(&mut con, "replay"),
        ("1534291289000-0".into(), Some(10))
    );
    assert_eq!(next_read(&mut con, "replay"), "1534291290000-0");
}

/// A time after the stream's end, a missing stream, and a time that is no time are errors that
/// say so, and the group is left as it was.
#[test]
fn reset_refuses_what_cannot_be() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100"],
    ));
    let after = run(
        "consumer",
        &server,
        &["alice", "--reset-to", "2018-08-16T00:00:00Z"],
    );
    assert_eq!(after.status.code(), Some(2), "{}", stderr(&after));
    let err = stderr(&after);
    assert!(
        err.contains("--reset-to") && err.contains("after the end of chennai"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let mut con = server.con();
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut con)
        .unwrap();
    assert!(groups.is_empty(), "nothing created");

    let missing = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "pune",
            "--reset-to",
            "2018-08-15T12:00:00Z",
        ],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("pune"));

    let garbage = run("consumer", &server, &["alice", "--reset-to", "noonish"]);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(
        stderr(&garbage).contains("--reset-to"),
        "{}",
        stderr(&garbage)
    );
}

/// `--reset-to` while another client XADDs to the same stream without pause: after each reset the
/// group's entries-read is exactly the entries up to its new position (43,200 before noon), and
/// once the writer stops and the group has read everything its lag is 0. (Counting what lies after
/// the position up to `+`, five pages of 10,000 while the writer adds between them, subtracted
/// the writer's entries too: entries-read came out short by them, and the lag stayed that high.)
#[test]
fn heavy_reset_while_a_writer_writes_keeps_the_lag_exact() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let (stop, written) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writer = {
        let (stop, written, mut con) = (Arc::clone(&stop), Arc::clone(&written), server.con());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                support::xadd(&mut con, "chennai", &[("sensor", b"9")]);
                written.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut con = server.con();
    for _ in 0..3 {
        let before = written.load(Ordering::Relaxed);
        let out = run(
            "consumer",
            &server,
            &["alice", "--reset-to", "2018-08-15T12:00:00Z"],
        );
        assert_ok(&out);
        assert!(
            written.load(Ordering::Relaxed) > before,
            "the writer wrote while the reset ran"
        );
        assert_eq!(group_counters(&mut con, "mygroup").0, Some(43_200));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer");
    loop {
        let reply: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("mygroup")
            .arg("drain")
            .arg("COUNT")
            .arg(10_000)
            .arg("STREAMS")
            .arg("chennai")
            .arg(">")
            .query(&mut con)
            .unwrap();
        if reply == redis::Value::Nil {
            break;
        }
    }
    let length = support::xlen(&mut con, "chennai");
    assert_eq!(length, 86_400 + written.load(Ordering::Relaxed));
    assert_eq!(group_counters(&mut con, "mygroup"), (Some(length), Some(0)));
}
