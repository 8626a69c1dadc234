//! `producer --retain-dead` and `consumer --redrive` on the same dead letters: retention drops
//! only the letters older than DUR by the clock, a redriven letter that fails again comes back
//! as a new (young) one, and across trims and redrives nothing is lost and nothing is handed to
//! the handler twice.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use support::{DATE, Server, assert_ok, dead_letters, entry_ids, field, run, stderr, stdout, xlen};

/// Entries produced, all dead-lettered by a failing handler.
const ENTRIES: usize = 20;

/// A handler that logs `ID ok` or `ID failed` to `log` and succeeds only for the IDs of even
/// seconds of the day (`...0000-0`, `...2000-0`, ...), unless `all` is set.
fn handler(log: &std::path::Path, all: bool) -> String {
    let even = if all { "*" } else { "*[02468]000-0" };
    format!(
        "case $MONSOON_ID in {even}) echo \"$MONSOON_ID ok\" >> {0};; \
         *) echo \"$MONSOON_ID failed\" >> {0}; exit 3;; esac",
        log.display()
    )
}

/// `consumer alice --redrive` with [`handler`] logging to `<name>.log`: what it was handed, as
/// the original's ID -> its outcomes (`ok`, `failed`) in the order they came.
fn redrive(server: &Server, name: &str, all: bool) -> BTreeMap<String, Vec<String>> {
    let log = server.dir.path().join(format!("{name}.log"));
    let out = run(
        "consumer",
        server,
        &["alice", "--redrive", "--exec", &handler(&log, all)],
    );
    assert_ok(&out);
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
        let (id, outcome) = line.split_once(' ').expect("ID outcome");
        by_id.entry(id.into()).or_default().push(outcome.into());
    }
    by_id
}

/// `producer --count 0 --retain-dead 1h`; its summary line.
fn trim_dead(server: &Server) -> String {
    let out = run("producer", server, &["--count", "0", "--retain-dead", "1h"]);
    assert_ok(&out);
    stdout(&out)
}

/// Twenty dead letters from a failing handler and three two days old (of entries long gone):
/// retention drops the three, keeps the twenty; a redrive hands each of the twenty over once,
/// deletes the ten that succeed and replaces the ten that fail with young letters that the next
/// trim keeps; a second redrive hands those ten over once and empties the dead letters. Every
/// entry succeeded exactly once, none was handed over twice in a run, none was lost.
#[test]
fn retention_and_redrive_lose_nothing_and_repeat_nothing() {
    let server = Server::start();
    let mut con = server.con();
    let count = ENTRIES.to_string();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", &count],
    ));
    let two_days_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 2 * 24 * 3_600_000;
    for seq in 0..3 {
        let _: String = redis::cmd("XADD")
            .arg("chennai:dead")
            .arg(format!("{two_days_ago}-{seq}"))
            .arg("stream")
            .arg("chennai")
            .arg("id")
            .arg(format!("1534200000000-{seq}"))
            .arg("reason")
            .arg("handler exited 3")
            .arg("consumer")
            .arg("zed")
            .arg("deliveries")
            .arg(1)
            .arg("field:sensor")
            .arg(1)
            .query(&mut con)
            .unwrap();
    }
    let failing = run(
        "consumer",
        &server,
        &[
            "alice",
            "--exec",
            "exit 3",
            "--max-deliveries",
            "1",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_eq!(failing.status.code(), Some(5), "{}", stderr(&failing));
    let originals = entry_ids(&mut con, "chennai");
    assert_eq!(originals.len(), ENTRIES);
    assert_eq!(xlen(&mut con, "chennai:dead"), 3 + ENTRIES as u64);

    assert_eq!(trim_dead(&server), "Trimmed 3 from chennai:dead\n");
    let young = entry_ids(&mut con, "chennai:dead");
    assert_eq!(young.len(), ENTRIES);

    let handed = redrive(&server, "first", false);
    assert_eq!(handed.keys().cloned().collect::<Vec<_>>(), originals);
    assert!(
        handed.values().all(|o| o.len() == 1),
        "handed twice: {handed:?}"
    );
    let failed: Vec<String> = handed
        .iter()
        .filter(|(_, o)| o[0] == "failed")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(failed.len(), ENTRIES / 2);
    let kept = dead_letters(&mut con, "chennai:dead");
    let kept_ids: Vec<&str> = kept.iter().map(|f| field(f, "id")).collect();
    assert_eq!(kept_ids, failed);
    assert!(
        kept.iter()
            .all(|f| field(f, "reason") == "handler exited 3")
    );
    let replaced = entry_ids(&mut con, "chennai:dead");
    assert!(
        replaced.iter().all(|id| !young.contains(id)),
        "a failed letter is replaced by a new one, not kept"
    );

    assert_eq!(trim_dead(&server), "Trimmed 0 from chennai:dead\n");
    assert_eq!(entry_ids(&mut con, "chennai:dead"), replaced);

    let again = redrive(&server, "second", true);
    assert_eq!(again.keys().cloned().collect::<Vec<_>>(), failed);
    assert!(again.values().all(|o| o == &["ok"]), "{again:?}");
    assert_eq!(xlen(&mut con, "chennai:dead"), 0);
    let succeeded = handed
        .iter()
        .chain(&again)
        .filter(|(_, o)| o[0] == "ok")
        .count();
    assert_eq!(succeeded, ENTRIES, "every entry succeeded exactly once");
}
