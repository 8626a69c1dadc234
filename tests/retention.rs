//! `producer --retain`, `--retain-ignore-groups`, `--retain-dead` and `--count 0`: a stream keeps
//! exactly its last DUR (by its own newest entry), never less than a consumer group still needs;
//! dead letters keep their last DUR by the clock; bad values change nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::Value;
use support::{DATE, Server, assert_ok, entry_ids as ids, run, stderr, stdout, xlen};

/// 2018-08-15 (DATE) at 05:00 and 23:00 UTC, in Unix milliseconds.
const AT_05: u64 = 1_534_309_200_000;
const AT_23: u64 = 1_534_374_000_000;

/// The first entry's ID of `key`.
fn first_id(con: &mut redis::Connection, key: &str) -> String {
    let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(con)
        .expect("XRANGE");
    rows.into_iter().next().expect("an entry").0
}

/// XINFO STREAM's `entries-added` of `key`: what was ever written, trims notwithstanding.
fn entries_added(con: &mut redis::Connection, key: &str) -> i64 {
    let info: Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query(con)
        .expect("XINFO STREAM");
    let Value::Array(flat) = info else {
        panic!("XINFO STREAM shape: {info:?}")
    };
    let at = flat
        .iter()
        .position(|v| matches!(v, Value::BulkString(b) if b == b"entries-added"))
        .expect("entries-added");
    redis::from_redis_value(flat[at + 1].clone()).expect("a number")
}

/// Delivers `count` entries of `key` to `group` (as consumer `reader`), then acknowledges the
/// pending ones below `ack_before` (`+`: all of them).
fn read_and_ack(con: &mut redis::Connection, key: &str, group: &str, count: u64, ack_before: &str) {
    support::read_without_ack(con, key, group, "reader", count, ">");
    let end = match ack_before {
        "+" => String::from("+"),
        id => format!("({id}"),
    };
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .arg("-")
        .arg(&end)
        .arg(1_000_000)
        .query(con)
        .expect("XPENDING");
    for chunk in rows.chunks(10_000) {
        let mut ack = redis::cmd("XACK");
        ack.arg(key).arg(group);
        for row in chunk {
            ack.arg(&row.0);
        }
        let acked: u64 = ack.query(con).expect("XACK");
        assert_eq!(acked, chunk.len() as u64);
    }
}

/// A day of chennai (1 sensor, 86,400 entries) with group `fast` read to 12:00:00 and all of it
/// acknowledged, and group `slow` read to 06:00:00 with its entries from 05:00:00 on pending.
fn day_with_a_slow_group(server: &Server) -> redis::Connection {
    assert_ok(&run("producer", server, &["--date", DATE]));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "fast");
    support::create_group(&mut con, "chennai", "slow");
    read_and_ack(&mut con, "chennai", "fast", 43_201, "+");
    read_and_ack(&mut con, "chennai", "slow", 21_601, &format!("{AT_05}-0"));
    assert_eq!(support::pending(&mut con, "chennai", "slow"), 3_601);
    assert_eq!(support::pending(&mut con, "chennai", "fast"), 0);
    con
}

/// The guard: a group's oldest pending entry (05:00:00) stops the trim there, and the group is
/// named once with what it pins; once every group has read and acknowledged everything, the
/// same command leaves exactly the last hour.
#[test]
fn guard_keeps_what_a_group_still_needs() {
    let server = Server::start();
    let mut con = day_with_a_slow_group(&server);
    let trim = ["--count", "0", "--retain", "1h"];
    let out = run("producer", &server, &trim);
    assert_ok(&out);
    assert_eq!(xlen(&mut con, "chennai"), 86_400 - 18_000);
    assert_eq!(first_id(&mut con, "chennai"), format!("{AT_05}-0"));
    assert_eq!(stdout(&out), "Trimmed 18000 entries from chennai\n");
    // Entries from 05:00:00 to 22:59:59: older than an hour before 23:59:59, kept for slow.
    assert_eq!(
        stderr(&out),
        format!(
            "producer: retention of chennai held back by group slow at {AT_05}-0: it still \
             needs 64800 entries older than 1h\n"
        )
    );

    read_and_ack(&mut con, "chennai", "slow", 1_000_000, "+");
    read_and_ack(&mut con, "chennai", "fast", 1_000_000, "+");
    let out = run("producer", &server, &trim);
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    assert_eq!(xlen(&mut con, "chennai"), 3_600);
    assert_eq!(first_id(&mut con, "chennai"), format!("{AT_23}-0"));
    assert_eq!(stdout(&out), "Trimmed 64800 entries from chennai\n");
}

/// A group with nothing pending pins the first entry after its last-delivered-id: a group that
/// was given entries up to 12:00:00 and acknowledged them keeps the stream from 12:00:01 on.
#[test]
fn guard_keeps_what_a_group_was_not_given_yet() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "fast");
    read_and_ack(&mut con, "chennai", "fast", 43_201, "+");
    let out = run("producer", &server, &["--count", "0", "--retain", "1h"]);
    assert_ok(&out);
    assert_eq!(xlen(&mut con, "chennai"), 86_400 - 43_201);
    assert_eq!(first_id(&mut con, "chennai"), "1534334401000-0");
    assert!(
        stderr(&out).contains(
            "held back by group fast at 1534334401000-0: it still needs 39599 entries older than 1h"
        ),
        "{}",
        stderr(&out)
    );
}

/// A trim refused within the day producer's pipeline (here the ACL lets the script run but not
/// XTRIM, which a trim of a missing stream never reaches) is reported as the trim's refusal,
/// naming EVAL and the key (exit 4), never taken for another writer's entry; what the batches in
/// flight wrote (two of 1000) stays.
#[test]
fn a_trim_refused_in_the_pipeline_names_eval_and_the_key() {
    let server = Server::start();
    let mut con = server.con();
    support::create_stream_user(&mut con, &["chennai"], &["+eval", "-xtrim"]);
    let out = std::process::Command::new(support::bin("producer"))
        .arg("--redis-url")
        .arg(format!(
            "redis://sensor:pw-sensor-7@127.0.0.1:{}",
            server.port
        ))
        .args(["--date", DATE, "--retain", "1m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "Error: Redis at 127.0.0.1:{} refused EVAL (the --retain trim) on chennai: ",
            server.port
        )),
        "{err}"
    );
    assert_eq!(xlen(&mut con, "chennai"), 2_000);
}

/// `--retain-ignore-groups` trims to the last hour whatever the groups still need.
#[test]
fn ignore_groups_trims_regardless() {
    let server = Server::start();
    let mut con = day_with_a_slow_group(&server);
    let out = run(
        "producer",
        &server,
        &["--count", "0", "--retain", "1h", "--retain-ignore-groups"],
    );
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    assert_eq!(xlen(&mut con, "chennai"), 3_600);
    assert_eq!(first_id(&mut con, "chennai"), format!("{AT_23}-0"));
    // What slow had pending stays in its pending list; the entries are gone.
    assert_eq!(support::pending(&mut con, "chennai", "slow"), 3_601);
}

/// Writing a day with `--retain 1h` leaves exactly its last hour (by the entries' own times,
/// not the clock: the day is in 2018), on every sensor.
#[test]
fn retain_while_writing_a_day() {
    let server = Server::start();
    let out = run(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "2", "--retain", "1h"],
    );
    assert_ok(&out);
    assert!(
        stdout(&out).ends_with("; trimmed 165600 entries from chennai\n"),
        "{}",
        stdout(&out)
    );
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "chennai"), 7_200);
    assert_eq!(first_id(&mut con, "chennai"), format!("{AT_23}-0"));
    assert_eq!(entries_added(&mut con, "chennai"), 172_800);
    // A rerun finds the day complete (trims are not missing entries) and trims nothing more.
    let again = run(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "2", "--retain", "1h"],
    );
    assert_ok(&again);
    assert_eq!(
        stdout(&again),
        "chennai already holds all 172800 records of the range; nothing to insert; trimmed 0 \
         entries from chennai\n"
    );
}

/// A group created before the day was written and never read pins all of it: every batch's trim
/// is held back at the first entry, and the group is named once, with what it pins at the end.
#[test]
fn a_group_that_read_nothing_holds_a_day_write_back() {
    let server = Server::start();
    let mut con = server.con();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("chennai")
        .arg("idle")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut con)
        .unwrap();
    let out = run("producer", &server, &["--date", DATE, "--retain", "1h"]);
    assert_ok(&out);
    assert_eq!(xlen(&mut con, "chennai"), 86_400);
    assert_eq!(
        stderr(&out),
        "producer: retention of chennai held back by group idle at 1534291200000-0: it still \
         needs 82800 entries older than 1h\n"
    );
    assert!(
        stdout(&out).ends_with("; trimmed 0 entries from chennai\n"),
        "{}",
        stdout(&out)
    );
}

/// `--maxlen` and `--retain` both apply: the tighter one decides.
#[test]
fn retain_and_maxlen_both_apply() {
    let server = Server::start();
    let mut con = server.con();
    // --retain 10m keeps 600 entries, fewer than --maxlen's 1000: retention decides, exactly.
    let args = ["--date", DATE, "--maxlen", "1000", "--retain", "10m"];
    assert_ok(&run("producer", &server, &args));
    assert_eq!(xlen(&mut con, "chennai"), 600);
    assert_eq!(first_id(&mut con, "chennai"), "1534377000000-0");
    // --retain 1h keeps 3600, more than --maxlen 1000: MAXLEN ~ decides (whole nodes of 100,
    // so 1000 to 1099 entries), all of them within the last hour.
    let args = [
        "--city", "pune", "--date", DATE, "--maxlen", "1000", "--retain", "1h",
    ];
    assert_ok(&run("producer", &server, &args));
    let kept = xlen(&mut con, "pune");
    assert!((1_000..1_100).contains(&kept), "{kept}");
    let first: u64 = first_id(&mut con, "pune")
        .split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap();
    assert_eq!(first, 1_534_377_599_000 - (kept - 1) * 1000);
}

/// `--live --retain 1s` keeps the stream to the last second of ticks while it runs, and at the
/// end holds exactly the entries newer than a second before its newest: every entry seen written
/// (read as it ran) that lies in that window, and nothing older.
#[test]
fn heavy_retain_while_live() {
    let server = Server::start();
    let mut con = server.con();
    let mut producer = support::spawn(
        "producer",
        &server,
        &[
            "--live",
            "--interval",
            "100ms",
            "--retain",
            "1s",
            "--count",
            "40",
        ],
    );
    let mut seen: Vec<String> = Vec::new();
    let mut read_new = |con: &mut redis::Connection| {
        let after = seen.last().cloned().unwrap_or_else(|| String::from("0"));
        let reply: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("STREAMS")
            .arg("chennai")
            .arg(after)
            .query(con)
            .unwrap_or_default();
        for key in reply.keys {
            seen.extend(key.ids.into_iter().map(|entry| entry.id));
        }
    };
    let mut longest = 0;
    let code = loop {
        read_new(&mut con);
        longest = longest.max(xlen(&mut con, "chennai"));
        if let Some(status) = producer.child.try_wait().expect("try_wait") {
            break status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    read_new(&mut con);
    assert_eq!(code, Some(0), "{}", producer.errors());
    // Ten ticks fit in a second (eleven when a tick is late), plus the tick just written.
    assert!(longest <= 12, "the stream grew to {longest}");
    assert_eq!(entries_added(&mut con, "chennai"), 40);
    let ms = |id: &String| -> u64 { id.split('-').next().unwrap().parse().unwrap() };
    let kept = ids(&mut con, "chennai");
    let newest = ms(kept.last().expect("entries"));
    let window: Vec<String> = seen
        .into_iter()
        .filter(|id| ms(id) > newest - 1000)
        .collect();
    assert_eq!(kept, window);
    let lines = producer.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("Inserted 40 records into chennai in ")
            && lines[0].ends_with(&format!(
                "; trimmed {} entries from chennai",
                40 - kept.len()
            )),
        "{lines:?}"
    );
}

/// `--count 0 --retain` writes nothing and checks no range: a stream of another day is trimmed
/// (no "past the range" error), and a missing stream stays missing.
#[test]
fn count_zero_only_trims() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "7200"],
    ));
    let out = run(
        "producer",
        &server,
        &["--date", "2018-08-14", "--count", "0", "--retain", "1h"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "Trimmed 3600 entries from chennai\n");
    assert_eq!(xlen(&mut con, "chennai"), 3_600);
    assert_eq!(first_id(&mut con, "chennai"), "1534294800000-0");
    assert_eq!(entries_added(&mut con, "chennai"), 7_200);

    let out = run(
        "producer",
        &server,
        &["--city", "pune", "--count", "0", "--retain", "1h"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "Trimmed 0 entries from pune\n");
    let exists: i64 = redis::cmd("EXISTS").arg("pune").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

/// `--retain-dead 1h` keeps the dead letters of the last hour by the clock and drops older
/// ones; the city's stream is not touched.
#[test]
fn retain_dead_keeps_young_dead_letters() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10"],
    ));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for id in [
        String::from("1000-0"),
        format!("{}-0", now - 7_200_000),
        format!("{}-0", now - 3_700_000),
        String::from("*"),
        String::from("*"),
    ] {
        let _: String = redis::cmd("XADD")
            .arg("chennai:dead")
            .arg(id)
            .arg("reason")
            .arg("test")
            .query(&mut con)
            .unwrap();
    }
    let young = ids(&mut con, "chennai:dead")[3..].to_vec();
    let out = run(
        "producer",
        &server,
        &["--count", "0", "--retain-dead", "1h"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "Trimmed 3 from chennai:dead\n");
    assert_eq!(ids(&mut con, "chennai:dead"), young);
    assert_eq!(xlen(&mut con, "chennai"), 10);
}

/// A zero, negative or garbage retention, and `--count 0` without a trim, are usage errors
/// (exit 2) naming the flag, and nothing is written or trimmed.
#[test]
fn bad_retention_is_a_usage_error() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100"],
    ));
    for (args, flag) in [
        (&["--date", DATE, "--retain", "0s"][..], "--retain"),
        (&["--date", DATE, "--retain=-1h"], "--retain"),
        (&["--date", DATE, "--retain", "soon"], "--retain"),
        (&["--date", DATE, "--retain-dead", "0"], "--retain-dead"),
        (&["--count", "0"], "--count"),
        (&["--count", "0", "--retain", "1s", "--replace"], "--count"),
        (&["--retain-ignore-groups"], "--retain"),
    ] {
        let out = run("producer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert_eq!(xlen(&mut con, "chennai"), 100);
    assert_eq!(entries_added(&mut con, "chennai"), 100);
}

/// On a Redis Cluster the stream is trimmed on its node and `<stream>:dead` on whichever node
/// owns that key's slot (another one here).
#[test]
fn heavy_retain_on_a_cluster() {
    let cluster = support::Cluster::start(&[]);
    assert_ne!(
        cluster.owner("chennai").port,
        cluster.owner("chennai:dead").port,
        "the dead letters should live on another node for this test to mean anything"
    );
    let producer = |args: &[&str]| {
        std::process::Command::new(support::bin("producer"))
            .args(["--redis-url", &cluster.url(), "--cluster"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = producer(&["--date", DATE, "--count", "7200", "--retain", "1h"]);
    assert_ok(&out);
    let mut con = cluster.owner("chennai").con();
    assert_eq!(xlen(&mut con, "chennai"), 3_600);
    let mut dead = cluster.owner("chennai:dead").con();
    for id in ["1000-0", "*"] {
        let _: String = redis::cmd("XADD")
            .arg("chennai:dead")
            .arg(id)
            .arg("reason")
            .arg("test")
            .query(&mut dead)
            .unwrap();
    }
    let out = producer(&["--count", "0", "--retain", "1h", "--retain-dead", "1h"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "Trimmed 0 entries from chennai; trimmed 1 from chennai:dead\n"
    );
    assert_eq!(xlen(&mut dead, "chennai:dead"), 1);
    assert_eq!(xlen(&mut con, "chennai"), 3_600);
}

/// XADDs an entry with each of `ids` (made by hand) to `key`.
fn xadd_ids(con: &mut redis::Connection, key: &str, ids: &[&str]) {
    for id in ids {
        let _: String = redis::cmd("XADD")
            .arg(key)
            .arg(*id)
            .arg("sensor")
            .arg(1)
            .query(con)
            .expect("XADD");
    }
}

/// Creates `group` on `key` at `id`.
fn group_at(con: &mut redis::Connection, key: &str, group: &str, id: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg(id)
        .query(con)
        .expect("XGROUP CREATE");
}

/// Sequence numbers above 2^53 compare exactly: group `a` was given `5-9007199254740992` and pins
/// `5-9007199254740993`, group `b` was given nothing and pins `5-9007199254740992`, so the guard
/// keeps both and names `b` (as doubles the two pins are equal, and `b`'s unread entry was
/// trimmed).
#[test]
fn guard_compares_sequences_above_2_pow_53_exactly() {
    let server = Server::start();
    let mut con = server.con();
    let all = ["5-9007199254740992", "5-9007199254740993", "9-0"];
    xadd_ids(&mut con, "chennai", &all);
    group_at(&mut con, "chennai", "a", all[0]);
    group_at(&mut con, "chennai", "b", "0");
    let out = run(
        "producer",
        &server,
        &["--city", "chennai", "--count", "0", "--retain", "1ms"],
    );
    assert_ok(&out);
    assert_eq!(ids(&mut con, "chennai"), all);
    assert_eq!(stdout(&out), "Trimmed 0 entries from chennai\n");
    assert!(
        stderr(&out).contains("held back by group b at 5-9007199254740992: it still needs 2"),
        "{}",
        stderr(&out)
    );
}

/// Times near 2^64 cut exactly: with `--retain 1ms` the cut is the newest entry's own ms (a
/// double rounds 18446744073709548568 up, past the newest entry, and everything went, a group's
/// unread entry with it); at the largest ms there is (u64::MAX) the cut is still an ID, and a
/// cut that borrows across the script's two halves of a number is right too.
#[test]
fn retention_cuts_exactly_near_the_largest_time() {
    let server = Server::start();
    let mut con = server.con();
    let (older, newest) = ("18446744073709548567-0", "18446744073709548568-0");
    xadd_ids(&mut con, "chennai", &[older, newest]);
    group_at(&mut con, "chennai", "late", "0");
    let trim = |city: &str, keep: &str| {
        let out = run(
            "producer",
            &server,
            &["--city", city, "--count", "0", "--retain", keep],
        );
        assert_ok(&out);
        stdout(&out)
    };
    assert_eq!(trim("chennai", "1ms"), "Trimmed 0 entries from chennai\n");
    assert_eq!(ids(&mut con, "chennai"), [older, newest]);
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("chennai")
        .arg("late")
        .arg(older)
        .query(&mut con)
        .expect("XGROUP SETID");
    assert_eq!(trim("chennai", "1ms"), "Trimmed 1 entries from chennai\n");
    assert_eq!(ids(&mut con, "chennai"), [newest]);

    let at_the_end = ["18446744073709551614-0", "18446744073709551615-3"];
    xadd_ids(&mut con, "pune", &at_the_end);
    assert_eq!(trim("pune", "1ms"), "Trimmed 1 entries from pune\n");
    assert_eq!(ids(&mut con, "pune"), [at_the_end[1]]);

    // The cut crosses the split between the halves: 1000000000 - 2 + 1 is 999999999.
    let across = ["999999998-5", "999999999-0", "1000000000-0"];
    xadd_ids(&mut con, "kochi", &across);
    assert_eq!(trim("kochi", "2ms"), "Trimmed 1 entries from kochi\n");
    assert_eq!(ids(&mut con, "kochi"), across[1..]);
}
