//! The producer when its stream is tampered with: deleted under it before a stop or a rerun, or
//! left with a partial last second and resumed with another sensor count. (The plain cases, a
//! DEL mid-run, a rerun with other `--sensors`, two producers at once, are in `tests/exact.rs`.)

use support::{DATE, Server, run, stderr, stdout, wait_until, xlen};

/// The first timestamp of [`DATE`], in Unix ms.
const START_MS: u64 = 1_534_291_200_000;

/// How many entries of a `sensors`-per-second range starting at [`DATE`] the stream `key` lost to
/// something other than a trim: the index of its `last-generated-id` + 1, less `entries-added`.
fn missing(con: &mut redis::Connection, key: &str, sensors: u64) -> u64 {
    let info: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query(con)
        .expect("XINFO STREAM");
    let field = |name: &str| {
        let at = info
            .iter()
            .position(|v| matches!(v, redis::Value::BulkString(b) if b == name.as_bytes()))
            .unwrap_or_else(|| panic!("XINFO STREAM has no {name}"));
        redis::from_redis_value::<String>(info[at + 1].clone()).expect("a text field")
    };
    let last = field("last-generated-id");
    let (ms, seq) = last.split_once('-').expect("an entry ID");
    let ms: u64 = ms.parse().expect("ms");
    let seq: u64 = seq.parse().expect("seq");
    let index = (ms - START_MS) / 1000 * sensors + seq;
    let added: u64 = field("entries-added").parse().expect("entries-added");
    index + 1 - added
}

/// Appends a reading to `chennai` with the ID `id` (`<ms>-<sensor index>`), as a producer would.
fn add_reading(con: &mut redis::Connection, id: &str) {
    let sensor = id
        .split_once('-')
        .and_then(|(_, seq)| seq.parse::<u64>().ok());
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg(id)
        .arg("sensor")
        .arg(sensor.expect("an entry ID") + 1)
        .arg("temperature")
        .arg("20.0")
        .arg("humidity")
        .arg(70)
        .query(con)
        .expect("XADD");
}

/// A stream deleted mid-run and then Ctrl-C: the stop reports the missing entries (exit 1), it
/// does not say "rerun to complete the range", which no rerun can.
#[test]
fn heavy_a_stream_deleted_then_interrupted_is_reported() {
    let server = Server::start();
    let mut con = server.con();
    let mut producer = support::spawn(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "10", "--batch", "100"],
    );
    wait_until("the producer is under way", || {
        xlen(&mut con, "chennai") > 50_000
    });
    let _: i64 = redis::cmd("DEL").arg("chennai").query(&mut con).unwrap();
    wait_until("the producer writes on after the DEL", || {
        xlen(&mut con, "chennai") > 20_000
    });
    support::signal(&producer.child, "INT");
    assert_eq!(producer.wait(), Some(1), "{}", producer.errors());
    let errors = producer.errors();
    assert!(
        errors.contains("stopping after the batch in flight"),
        "stopped by the signal, not done: {errors}"
    );
    let missing = missing(&mut con, "chennai", 10);
    assert!(missing >= 50_000, "{missing}");
    assert!(
        errors.contains(&format!("stream chennai is missing {missing} entries"))
            && errors.contains("--replace"),
        "{errors}"
    );
    assert!(
        producer.lines().iter().all(|l| !l.contains("rerun")),
        "{:?}",
        producer.lines()
    );
}

/// A rerun of a range that lost entries to a DEL is refused (exit 1, the missing count) before it
/// writes anything: writing the rest cannot make the range whole.
#[test]
fn a_rerun_after_a_delete_writes_nothing() {
    let server = Server::start();
    let mut con = server.con();
    // What a DEL mid-run leaves: a stream whose entries before 1534291249000-9 are gone.
    add_reading(&mut con, "1534291249000-9");
    let out = run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100", "--sensors", "10"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stream chennai is missing 499 entries"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("Inserted"), "{}", stdout(&out));
    assert_eq!(xlen(&mut con, "chennai"), 1, "nothing written");
}

/// A rerun asking for fewer sensors than a partial last second holds names the count the stream
/// was written with (from the last whole second), not the partial second's.
#[test]
fn a_partial_last_second_does_not_hide_the_sensor_count() {
    let server = Server::start();
    let mut con = server.con();
    support::assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "9", "--sensors", "10"],
    ));
    // The tenth second with only its first 6 sensors, as an interrupted batch leaves it.
    for sensor in 0..6 {
        add_reading(&mut con, &format!("1534291209000-{sensor}"));
    }
    let out = run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10", "--sensors", "5"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("written with 10 sensors, not --sensors 5")
            && err.contains("rerun with --sensors 10"),
        "{err}"
    );
    assert_eq!(xlen(&mut con, "chennai"), 96, "nothing written");
}
