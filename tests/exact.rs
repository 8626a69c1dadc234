//! Exactly-once writes under attack: a stream deleted mid-run, a rerun with another sensor
//! count, two producers on the same range at once.

use support::{DATE, Server, assert_ok, run, stderr, stdout, wait_until, xlen};

/// All IDs of `key`, in order.
fn ids(con: &mut redis::Connection, key: &str) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    entries.into_iter().map(|(id, _)| id).collect()
}

/// A stream deleted while the producer writes is an error (exit 1) that counts the missing
/// entries, not "Inserted"; a rerun says the same instead of "already holds all".
#[test]
fn heavy_a_stream_deleted_mid_run_is_reported() {
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
    assert_eq!(producer.wait(), Some(1), "{}", producer.errors());
    let errors = producer.errors();
    assert!(errors.contains("stream chennai is missing"), "{errors}");
    assert!(errors.contains("--replace"), "{errors}");
    assert!(
        producer.lines().iter().all(|l| !l.starts_with("Inserted")),
        "{:?}",
        producer.lines()
    );
    let missing = 864_000 - xlen(&mut con, "chennai");
    assert!(
        errors.contains(&format!("missing {missing} entries")),
        "{errors}"
    );
    let rerun = run("producer", &server, &["--date", DATE, "--sensors", "10"]);
    assert_eq!(rerun.status.code(), Some(1), "{}", stderr(&rerun));
    assert!(
        stderr(&rerun).contains(&format!("missing {missing} entries")),
        "{}",
        stderr(&rerun)
    );
    assert!(!stdout(&rerun).contains("already holds all"));
    // --replace writes the day anew.
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "10", "--replace"],
    ));
    assert_eq!(xlen(&mut con, "chennai"), 864_000);
}

/// A rerun with another --sensors than the stream was written with is refused (exit 4) naming
/// both counts and the ways out, whether it asks for more sensors or fewer.
#[test]
fn a_rerun_with_other_sensors_is_refused() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100", "--sensors", "10"],
    ));
    let mut con = server.con();
    for (asked, count) in [("20", "100"), ("1", "100"), ("20", "200")] {
        let out = run(
            "producer",
            &server,
            &["--date", DATE, "--count", count, "--sensors", asked],
        );
        assert_eq!(
            out.status.code(),
            Some(4),
            "--sensors {asked}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("written with 10 sensors")
                && err.contains(&format!("not --sensors {asked}"))
                && err.contains("--sensors 10")
                && err.contains("--replace"),
            "{err}"
        );
        assert_eq!(xlen(&mut con, "chennai"), 1000, "nothing written");
    }
}

/// An interrupted run (its last second partly written) resumes with the same --sensors: a
/// partial last timestamp is not taken for another sensor count.
#[test]
fn a_partial_last_second_resumes() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "9", "--sensors", "10"],
    ));
    // The last second with only its first 6 sensors, as an interrupted batch leaves it.
    for sensor in 0..6 {
        let _: String = redis::cmd("XADD")
            .arg("chennai")
            .arg(format!("1534291209000-{sensor}"))
            .arg("sensor")
            .arg(sensor + 1)
            .arg("temperature")
            .arg("20.0")
            .query(&mut con)
            .unwrap();
    }
    let out = run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10", "--sensors", "10"],
    );
    assert_ok(&out);
    assert_eq!(xlen(&mut con, "chennai"), 100);
    assert!(
        stdout(&out).contains("Inserted 4 records"),
        "{}",
        stdout(&out)
    );
}

/// Two producers on the same city and range at once both exit 0, and the range holds every
/// entry exactly once, with exactly the schedule's IDs.
#[test]
fn heavy_two_producers_on_one_range_write_it_once() {
    let server = Server::start();
    let mut con = server.con();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "20000", "--city", "alone"],
    ));
    let expected = ids(&mut con, "alone");
    for batch in ["10", "1000"] {
        let _: i64 = redis::cmd("DEL").arg("chennai").query(&mut con).unwrap();
        let args = ["--date", DATE, "--count", "20000", "--batch", batch];
        let mut first = support::spawn("producer", &server, &args);
        let mut second = support::spawn("producer", &server, &args);
        assert_eq!(first.wait(), Some(0), "batch {batch}: {}", first.errors());
        assert_eq!(second.wait(), Some(0), "batch {batch}: {}", second.errors());
        assert_eq!(ids(&mut con, "chennai"), expected, "batch {batch}");
    }
}
