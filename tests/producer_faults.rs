//! The producer when its stream is tampered with: left with a partial last second and resumed
//! with another sensor count. (The plain cases, a DEL mid-run, a rerun with other `--sensors`,
//! two producers at once, are in `tests/exact.rs`.)

mod support;

use support::{DATE, Server, run, stderr, xlen};

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
        let _: String = redis::cmd("XADD")
            .arg("chennai")
            .arg(format!("1534291209000-{sensor}"))
            .arg("sensor")
            .arg(sensor + 1)
            .arg("temperature")
            .arg("20.0")
            .arg("humidity")
            .arg(70)
            .query(&mut con)
            .unwrap();
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
