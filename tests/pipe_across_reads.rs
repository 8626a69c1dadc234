//! `consumer --pipe` keeps its handler busy across reads: a batch goes to the handler as soon as
//! it fits in flight, the next read goes out while the handler works, and the acks ride with the
//! reads. None of that may cost an XACK round trip per answer, ack what was not answered, or
//! leave anything answered unacked, through a stop or a broken connection.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{DATE, Server, assert_ok, entry_ids, pending, run, stderr, wait_until};

/// The handler of these tests: a Python `--pipe` handler that, for each human line, writes the
/// ID to `log` and then answers `ack`, pausing 10 ms every `every` lines (so a drain of a few
/// thousand entries lasts long enough to be interrupted).
fn logging_handler(log: &Path, every: u32) -> String {
    format!(
        "python3 -c '
import sys, time
log = open(\"{}\", \"a\")
for n, line in enumerate(sys.stdin, 1):
    words = line.split()
    if n % {every} == 0:
        time.sleep(0.01)
    log.write(words[2] + \"\\n\"); log.flush()
    print(\"ack\", words[1], words[2], flush=True)
'",
        log.display()
    )
}

/// The IDs the handler logged it answered for.
fn answered(log: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// A field of the first group of chennai (XINFO GROUPS), as the server gave it.
fn group_field(con: &mut redis::Connection, field: &str) -> redis::Value {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(con)
        .unwrap();
    groups[0][field].clone()
}

/// The IDs of chennai that mygroup acknowledged: delivered (up to last-delivered-id) and not
/// pending.
fn acked_ids(con: &mut redis::Connection) -> BTreeSet<String> {
    let last: String = redis::from_redis_value(group_field(con, "last-delivered-id")).unwrap();
    let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg("chennai")
        .arg("mygroup")
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(con)
        .unwrap();
    let pending: BTreeSet<String> = pending.into_iter().map(|(id, ..)| id).collect();
    let delivered = |id: &String| -> bool {
        let (ms, seq) = id.split_once('-').unwrap();
        let (last_ms, last_seq) = last.split_once('-').unwrap();
        let key = |ms: &str, seq: &str| (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
        key(ms, seq) <= key(last_ms, last_seq)
    };
    entry_ids(con, "chennai")
        .into_iter()
        .filter(|id| delivered(id) && !pending.contains(id))
        .collect()
}

/// The calls the server counted for `command` (INFO commandstats), 0 when there were none.
fn calls(con: &mut redis::Connection, command: &str) -> u64 {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A quick handler's answers cost no XACK round trip of their own: draining 5,000 entries
/// through awk takes at most one XACK per read (they ride with the reads), and leaves nothing
/// pending and no lag. (Acking whenever no answer was at hand took two to four XACKs a read.)
#[test]
fn a_quick_handler_costs_at_most_one_xack_per_read() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "5000"],
    ));
    let handler = "awk '{ print \"ack\", $2, $3; fflush() }'";
    let out = run(
        "consumer",
        &server,
        &["alice", "--pipe", handler, "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    assert!(
        stderr(&out).contains("processed 5000 messages"),
        "{}",
        stderr(&out)
    );
    let mut con = server.con();
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let lag: u64 = redis::from_redis_value(group_field(&mut con, "lag")).unwrap();
    assert_eq!(lag, 0);
    let (xacks, reads) = (calls(&mut con, "xack"), calls(&mut con, "xreadgroup"));
    assert!(xacks >= 1, "nothing was acked");
    assert!(xacks <= reads, "{xacks} XACKs for {reads} reads");
}

/// Ctrl-C in the middle of a drain, with reads going out while the handler works: the consumer
/// stops within its grace (the handler timeout), every entry it acked was answered `ack`, and
/// every entry answered was acked; what it had not sent stays pending or unread.
#[test]
fn ctrl_c_mid_drain_acks_exactly_what_was_answered() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "20000"],
    ));
    let log = server.dir.path().join("answered.log");
    let timeout = Duration::from_secs(2);
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--pipe",
            &logging_handler(&log, 50),
            "--handler-timeout",
            "2s",
        ],
    );
    wait_until("the handler answered 2,000 messages", || {
        answered(&log).len() >= 2000
    });
    let stopped = Instant::now();
    support::signal(&alice.child, "INT");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert!(
        stopped.elapsed() < timeout * 2 + Duration::from_secs(3),
        "Ctrl-C took {:?}: {}",
        stopped.elapsed(),
        alice.errors()
    );
    let mut con = server.con();
    let acked = acked_ids(&mut con);
    let answered = answered(&log);
    assert!(acked.len() < 20000, "the stop came after the drain");
    assert_eq!(
        acked.difference(&answered).count(),
        0,
        "acked without an answer"
    );
    assert_eq!(
        answered.difference(&acked).count(),
        0,
        "answered but left unacked"
    );
}

/// Connections broken twice in the middle of a drain (CLIENT KILL): the consumer rides it out,
/// and at the end every entry was answered `ack` and acknowledged, nothing pending, no lag.
#[test]
fn a_broken_connection_mid_drain_loses_nothing() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "20000"],
    ));
    let log = server.dir.path().join("answered.log");
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--pipe",
            &logging_handler(&log, 50),
            "--idle-exit",
            "1s",
        ],
    );
    let mut con = server.con();
    for answers in [2000, 6000] {
        wait_until("the handler answered enough", || {
            answered(&log).len() >= answers
        });
        assert!(support::kill_clients(&mut con) >= 1);
    }
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let lag: u64 = redis::from_redis_value(group_field(&mut con, "lag")).unwrap();
    assert_eq!(lag, 0);
    let all: BTreeSet<String> = entry_ids(&mut con, "chennai").into_iter().collect();
    assert_eq!(all.len(), 20000);
    assert_eq!(acked_ids(&mut con), all);
    assert_eq!(answered(&log), all, "an entry acked without an answer");
}
