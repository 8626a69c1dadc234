//! Durable writes, `--wait-replicas N`, on a real master with a real replica: what the producer
//! reports as confirmed is on the replica, too few replicas is a clear error after `--retry-for`
//! (exit 6) with nothing reported beyond what was, a stalled replica and a broken connection are
//! ridden out exactly once, and a consumer acknowledges an entry only once its dead letter is on
//! the replica.

use std::time::{Duration, Instant};

use support::{DATE, Server, json_lines, pending, run, stderr, stdout, wait_until, xlen};

/// Entries in a day at one reading per second.
const DAY: u64 = 86_400;

/// Two replicas asked for, each WAIT blocking 200 ms: more than the tests' one replica gives.
const TWO_REPLICAS: [&str; 4] = ["--wait-replicas", "2", "--wait-timeout", "200ms"];

/// Whether the master has a client blocked (`flags=b`) in WAIT: a producer or consumer waiting
/// for replicas. (A WAIT answered at once never blocks.)
fn waiting(master: &Server) -> bool {
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut master.con())
        .expect("CLIENT LIST");
    clients
        .lines()
        .any(|l| l.contains(" flags=b ") && l.contains(" cmd=wait "))
}

/// Stops `replica` (SIGSTOP) once its master has seen it acknowledge every write so far, as a
/// replica stalled mid-run would have: a brand-new connection's WAIT then answers at once that
/// it has everything.
fn stall(master: &Server, replica: &Server) {
    let _: String = redis::cmd("SET")
        .arg("before-the-stall")
        .arg(1)
        .query(&mut master.con())
        .expect("SET");
    let acked = format!(
        "slave0:ip=127.0.0.1,port={},state=online,offset=",
        replica.port
    );
    wait_until("the replica acknowledged every write", || {
        let info = master.info("replication");
        let offset = |prefix: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|rest| rest.split([',', '\r']).next())
                .map(str::to_string)
        };
        offset(&acked).is_some() && offset(&acked) == offset("master_repl_offset:")
    });
    replica.signal("STOP");
}

/// `producer --wait-replicas 1` with one replica: the replica holds the whole day the moment the
/// producer exits, and the report says the day was confirmed on 1 replica (line and JSON).
#[test]
fn a_confirmed_day_is_on_the_replica() {
    let master = Server::start();
    let replica = Server::start_replica(&master);
    let out = run(
        "producer",
        &master,
        &["--date", DATE, "--wait-replicas", "1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(xlen(&mut replica.con(), "chennai"), DAY);
    assert!(
        stdout(&out).ends_with("; 86400 confirmed on 1 replica\n"),
        "{}",
        stdout(&out)
    );
    let args = [
        "--date",
        DATE,
        "--city",
        "pune",
        "--wait-replicas",
        "1",
        "--json",
    ];
    let out = run("producer", &master, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(xlen(&mut replica.con(), "pune"), DAY);
    let report = &json_lines(&stdout(&out))[0];
    assert_eq!(
        (
            &report["written"],
            &report["confirmed"],
            &report["replicas"]
        ),
        (&DAY.into(), &DAY.into(), &1.into())
    );
    let again = run("producer", &master, &args);
    assert!(again.status.success(), "{}", stderr(&again));
    let report = &json_lines(&stdout(&again))[0];
    assert_eq!(
        (
            &report["written"],
            &report["confirmed"],
            &report["already_complete"]
        ),
        (&0.into(), &DAY.into(), &true.into()),
        "a rerun of a complete day confirms all of it"
    );
}

/// `--wait-replicas 2` with one replica: after `--retry-for` (and within it and a few WAITs and a
/// connect attempt) a one-line error naming 2 and what WAIT reported, "1 replica", exit 6; no
/// report claims anything confirmed.
#[test]
fn too_few_replicas_is_a_clear_error_after_retry_for() {
    let master = Server::start();
    let _replica = Server::start_replica(&master);
    let retry_for = Duration::from_secs(3);
    let started = Instant::now();
    let args = [
        &["--date", DATE, "--retry-for", "3s", "--json"][..],
        &TWO_REPLICAS,
    ]
    .concat();
    let out = run("producer", &master, &args);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: ")
            && err.contains("on 1 replica, not the 2 --wait-replicas asks for")
            && err.contains("0 entries of this run were confirmed"),
        "{err}"
    );
    assert_eq!(stdout(&out), "", "no report of what was not confirmed");
    assert!(
        took >= retry_for && took < retry_for * 3,
        "took {took:?} for --retry-for {retry_for:?}"
    );
}

/// Runs the producer with `--wait-replicas 1` and `extra` on a master whose one replica is
/// stalled ([`stall`]): once the producer waits for the replica, `while_waiting` looks at the
/// master, the producer's connection is killed, and once it waits again after reconnecting the
/// replica goes on. Returns the master, the replica and the producer's JSON report, once it
/// exited 0.
fn through_a_break(
    extra: &[&str],
    while_waiting: impl FnOnce(&mut redis::Connection),
) -> (Server, Server, serde_json::Value) {
    let master = Server::start();
    let replica = Server::start_replica(&master);
    stall(&master, &replica);
    let mut args = vec![
        "--date",
        DATE,
        "--wait-replicas",
        "1",
        "--wait-timeout",
        "200ms",
        "--json",
    ];
    args.extend(extra);
    let mut producer = support::spawn("producer", &master, &args);
    wait_until("the producer waits for the replica", || waiting(&master));
    let mut con = master.con();
    while_waiting(&mut con);
    assert!(support::kill_clients(&mut con) >= 1);
    wait_until("the producer reconnects", || {
        producer.errors().contains("reconnected")
    });
    wait_until("the producer waits again", || waiting(&master));
    replica.signal("CONT");
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    let report = json_lines(&producer.lines().join("\n")).remove(0);
    (master, replica, report)
}

/// A break after the last batch was written, while its WAIT waits for a stalled replica: after
/// reconnecting nothing is left to send, yet the producer waits (blocked in WAIT, after touching
/// the stream: by WAIT's contract the new connection's own writes are all it covers) until the
/// replica goes on; the replica then holds every entry.
#[test]
fn a_break_after_the_last_batch_still_waits_for_the_replica() {
    let (_master, replica, report) = through_a_break(&["--count", "5"], |con| {
        assert_eq!(xlen(con, "chennai"), 5);
    });
    assert_eq!(xlen(&mut replica.con(), "chennai"), 5);
    // The break took the batch's replies (`written` counts those), not its entries.
    assert_eq!(report["confirmed"], 5, "{report}");
}

/// A replica that stops answering (SIGSTOP) while the producer waits for it, and a connection
/// of the producer's killed meanwhile: the producer waits, reconnects, asks the stream where it
/// ends, and once the replica goes on completes the day exactly once, all of it confirmed and on
/// the replica.
#[test]
fn heavy_a_stalled_replica_and_a_break_are_ridden_out_exactly_once() {
    let (master, replica, report) = through_a_break(&[], |con| {
        assert!(
            xlen(con, "chennai") < DAY,
            "no new batch while the replica lags"
        );
    });
    let mut con = master.con();
    assert_eq!(xlen(&mut con, "chennai"), DAY);
    let info: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg("chennai")
        .query(&mut con)
        .expect("XINFO STREAM");
    let added = info
        .iter()
        .position(|v| matches!(v, redis::Value::BulkString(b) if b == b"entries-added"))
        .map(|at| redis::from_redis_value::<u64>(info[at + 1].clone()).expect("a count"));
    assert_eq!(added, Some(DAY), "every entry written once");
    assert_eq!(xlen(&mut replica.con(), "chennai"), DAY);
    assert_eq!(report["confirmed"], DAY, "{report}");
}

/// Adds `n` entries without a temperature to `chennai` (poison under `--require
/// temperature:number`).
fn add_poison(con: &mut redis::Connection, n: usize) {
    for _ in 0..n {
        support::xadd(con, "chennai", &[("sensor", b"1")]);
    }
}

/// `consumer --wait-replicas 1`: every dead letter is on the replica when the consumer exits, and
/// every entry is acknowledged.
#[test]
fn dead_letters_are_on_the_replica_before_their_entries_are_acked() {
    let master = Server::start();
    let replica = Server::start_replica(&master);
    let mut con = master.con();
    support::assert_ok(&run("producer", &master, &["--date", DATE, "--count", "5"]));
    add_poison(&mut con, 3);
    let args = [
        "alice",
        "--require",
        "temperature:number",
        "--wait-replicas",
        "1",
        "--idle-exit",
        "300ms",
    ];
    let out = run("consumer", &master, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 5);
    assert_eq!(xlen(&mut replica.con(), "chennai:dead"), 3);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// `consumer --wait-replicas 2` with one replica: a clear error after `--retry-for` (exit 6)
/// naming 2 and "1 replica", and the poison entry stays pending: nothing is lost.
#[test]
fn a_dead_letter_too_few_replicas_have_leaves_its_entry_pending() {
    let master = Server::start();
    let _replica = Server::start_replica(&master);
    let mut con = master.con();
    add_poison(&mut con, 1);
    let retry_for = Duration::from_secs(2);
    let started = Instant::now();
    let poison = [
        "alice",
        "--require",
        "temperature:number",
        "--idle-exit",
        "300ms",
    ];
    let args = [&poison[..], &["--retry-for", "2s"], &TWO_REPLICAS].concat();
    let out = run("consumer", &master, &args);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Error: ")
            && last.contains("the dead letter of chennai ")
            && last.contains("on 1 replica, not the 2 --wait-replicas asks for")
            && last.contains("stays pending"),
        "{err}"
    );
    assert!(took >= retry_for && took < retry_for * 3, "took {took:?}");
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 1);
    assert_eq!(xlen(&mut con, "chennai:dead"), 1);
}

/// `--wait-timeout` must stay below `--timeout` (a WAIT that long would count as a break) and be
/// at least 1ms (`WAIT N 0` blocks for ever): usage errors, exit 2.
#[test]
fn wait_timeouts_are_checked() {
    let master = Server::start();
    for (name, args) in [
        (
            "producer",
            &["--wait-replicas", "1", "--wait-timeout", "30s"][..],
        ),
        (
            "consumer",
            &["alice", "--wait-replicas", "1", "--wait-timeout", "0"],
        ),
    ] {
        let out = run(name, &master, args);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("--wait-timeout"), "{}", stderr(&out));
    }
}

/// `--redrive --wait-replicas 1`: a dead letter that fails again is written anew and is on the
/// replica before the old one is deleted; the replica ends with the new letters only.
#[test]
fn redriven_letters_are_on_the_replica_before_the_old_are_deleted() {
    let master = Server::start();
    let replica = Server::start_replica(&master);
    let mut con = master.con();
    add_poison(&mut con, 2);
    let poison = [
        "alice",
        "--require",
        "temperature:number",
        "--idle-exit",
        "300ms",
    ];
    assert_eq!(run("consumer", &master, &poison).status.code(), Some(5));
    let before = support::entry_ids(&mut con, "chennai:dead");
    assert_eq!(before.len(), 2);
    let args = [
        "alice",
        "--redrive",
        "--exec",
        "exit 3",
        "--wait-replicas",
        "1",
    ];
    let out = run("consumer", &master, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = support::entry_ids(&mut replica.con(), "chennai:dead");
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.iter().all(|id| !before.contains(id)), "{after:?}");
}

/// `--from --wait-replicas 1`: an import's rows are on the replica when the producer exits, and
/// the report says they were confirmed.
#[test]
fn an_imported_file_is_confirmed_on_the_replica() {
    let master = Server::start();
    let replica = Server::start_replica(&master);
    let dir = tempfile::tempdir().expect("a temp dir");
    let csv = dir.path().join("rows.csv");
    let rows: String = (0..2_500)
        .map(|i| format!("{},{}\n", 1_534_291_200_000u64 + i * 1000, i % 40))
        .collect();
    std::fs::write(&csv, format!("time,temperature\n{rows}")).expect("write the CSV");
    let out = support::import_file(
        &master,
        "chennai",
        &csv,
        &["--wait-replicas", "1", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(xlen(&mut replica.con(), "chennai"), 2_500);
    let report = &json_lines(&stdout(&out))[0];
    assert_eq!(report["confirmed"], 2_500, "{report}");
}

/// On a cluster, a dead letter is waited for on the node of the dead-letter stream, not of the
/// entry: with a replica on that node only, `consumer --cluster --wait-replicas 1` dead-letters
/// the poison entry, the replica holds the letter, and nothing stays pending (a WAIT on the
/// entry's node, which has no replica, would fail after `--retry-for`).
#[test]
fn heavy_on_a_cluster_the_dead_letter_is_waited_for_on_its_own_node() {
    let cluster = support::Cluster::start(&[]);
    let city = support::CITIES
        .into_iter()
        .find(|city| cluster.owner(city).port != cluster.owner(&format!("{city}:dead")).port)
        .expect("a city whose dead letters live on another node");
    let dead = format!("{city}:dead");
    let replica = cluster.add_replica(cluster.owner(&dead));
    let mut con = cluster.con();
    for temperature in ["21.5", "hot"] {
        let _: String = redis::cmd("XADD")
            .arg(city)
            .arg("*")
            .arg("temperature")
            .arg(temperature)
            .query(&mut con)
            .expect("XADD");
    }
    let out = std::process::Command::new(support::bin("consumer"))
        .args(["alice", "--redis-url", &cluster.url(), "--cluster"])
        .args(["--city", city, "--require", "temperature:number"])
        .args([
            "--wait-replicas",
            "1",
            "--retry-for",
            "5s",
            "--idle-exit",
            "300ms",
        ])
        .output()
        .expect("run the consumer");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut on_replica = replica.con();
    let _: () = redis::cmd("READONLY")
        .query(&mut on_replica)
        .expect("READONLY");
    assert_eq!(xlen(&mut on_replica, &dead), 1);
    assert_eq!(pending(&mut cluster.owner(city).con(), city, "mygroup"), 0);
}

/// Ctrl-C while the producer waits for replicas it does not have: it stops at once (exit 130)
/// and its report says what was written and that none of it was confirmed; a consumer waiting
/// for its dead letter's replicas stops too (exit 0), the entry still pending.
#[test]
fn a_stop_while_waiting_for_replicas_reports_what_was_confirmed() {
    let master = Server::start();
    let _replica = Server::start_replica(&master);
    let args = [&["--date", DATE, "--json"][..], &TWO_REPLICAS].concat();
    let mut producer = support::spawn("producer", &master, &args);
    wait_until("the producer waits for replicas", || waiting(&master));
    support::signal(&producer.child, "INT");
    assert_eq!(producer.wait(), Some(130), "{}", producer.errors());
    let report = &json_lines(&producer.lines().join("\n"))[0];
    assert_eq!(
        (&report["interrupted"], &report["confirmed"]),
        (&true.into(), &0.into()),
        "{report}"
    );
    assert!(report["written"].as_u64() > Some(0), "{report}");
    let mut con = master.con();
    let _: u64 = redis::cmd("DEL")
        .arg("chennai")
        .query(&mut con)
        .expect("DEL");
    add_poison(&mut con, 1);
    let poison = [
        "alice",
        "--require",
        "temperature:number",
        "--city",
        "chennai",
    ];
    let mut consumer = support::spawn("consumer", &master, &[&poison[..], &TWO_REPLICAS].concat());
    wait_until("the consumer waits for replicas", || waiting(&master));
    support::signal(&consumer.child, "INT");
    assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 1);
}
