//! `inspect range --csv` then `producer --from` against a private redis-server: a rerun that
//! skips rows proves the stream holds them, an absent field stays absent, a formula is
//! neutralised in the export and comes back exact, and a user's own CSV is read as it is.

use std::path::{Path, PathBuf};

use support::import_file as import;
use support::{Server, assert_ok, entries, run, stderr, stdout, xlen};

/// XADD of `fields` to `key` at `id`.
fn xadd_at(con: &mut redis::Connection, key: &str, id: &str, fields: &[(&str, &str)]) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg(id);
    for (name, value) in fields {
        cmd.arg(*name).arg(*value);
    }
    let _: String = cmd.query(con).expect("XADD");
}

/// `text` written to `DIR/NAME`; its path.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path
}

/// `inspect range src --csv` imported into `copy`: asserts that `copy` holds what `src` holds,
/// field for field, and returns the export's text.
fn round_trip(server: &Server) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run("inspect", server, &["range", "src", "--csv"]);
    assert_ok(&out);
    let text = stdout(&out);
    let path = file(dir.path(), "src.csv", &text);
    assert_ok(&import(server, "copy", &path, &[]));
    let mut con = server.con();
    assert_eq!(entries(&mut con, "copy"), entries(&mut con, "src"));
    text
}

/// `first` imported into stream `s`, then `then` (in `DIR/then.csv`): asserts that the second
/// import is refused (exit 4) with one line and writes nothing; its path and that line.
fn refused(server: &Server, dir: &Path, first: &str, then: &str) -> (PathBuf, String) {
    assert_ok(&import(server, "s", &file(dir, "first.csv", first), &[]));
    let mut con = server.con();
    let before = xlen(&mut con, "s");
    let path = file(dir, "then.csv", then);
    let out = import(server, "s", &path, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(!stdout(&out).contains("written"), "{}", stdout(&out));
    assert_eq!(xlen(&mut con, "s"), before, "nothing written");
    (path, message)
}

/// A stream holding one row, then a file with two older rows it does not hold: an error naming
/// the stream, the first missing row and the stream's last ID, exit 4 (as for a stream past a
/// day's range), and nothing written. A rerun of the first file says its row is already written
/// (exit 0); a file with that row and a newer one writes the new one and counts the other.
#[test]
fn older_rows_the_stream_lacks_are_an_error_not_written_before() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let one = "time,t\n3000,c\n";
    let three = "time,t\n1000,a\n2000,b\n3000,c\n";
    let (three, message) = refused(&server, dir.path(), one, three);
    assert!(
        message.starts_with(&format!(
            "Error: {}:2: stream s does not hold this row (ID 1000-0, 1970-01-01T00:00:01Z), \
             yet it lies at or before the stream's last ID 3000-0",
            three.display()
        )),
        "{message}"
    );

    let one = dir.path().join("first.csv");
    let rerun = import(&server, "s", &one, &[]);
    assert_ok(&rerun);
    assert_eq!(
        stdout(&rerun),
        format!(
            "s already holds all 1 rows of {}; nothing to insert\n",
            one.display()
        )
    );
    let more = file(dir.path(), "more.csv", "time,t\n3000,c\n5000,e\n");
    let out = import(&server, "s", &more, &[]);
    assert_ok(&out);
    let summary = stdout(&out);
    assert!(
        summary.starts_with(&format!(
            "Inserted 1 records into s from {} in ",
            more.display()
        )) && summary.ends_with("; skipped 1 rows already written (the stream holds them)\n"),
        "{summary}"
    );
    let mut con = server.con();
    assert_eq!(
        entries(&mut con, "s"),
        [
            (
                "3000-0".to_string(),
                vec![("t".to_string(), "c".to_string())]
            ),
            (
                "5000-0".to_string(),
                vec![("t".to_string(), "e".to_string())]
            ),
        ]
    );
}

/// A rerun's row whose ID the stream holds with other fields is not "written before" either: an
/// error naming the row and the stream (exit 4), and nothing written.
#[test]
fn a_held_id_with_other_fields_is_an_error() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let first = "time,t\n1000,a\n2000,b\n";
    let edited = "time,t\n1000,a\n2000,B\n3000,c\n";
    let (edited, message) = refused(&server, dir.path(), first, edited);
    assert!(
        message.starts_with(&format!(
            "Error: {}:3: stream s holds ID 2000-0 with other fields than this row",
            edited.display()
        )),
        "{message}"
    );
}

/// Rows a trim took since they were written (`--maxlen` here) are no error on a rerun: they lie
/// before the stream's first entry and within what XINFO says the stream lost; the report
/// counts them apart from the rows the stream still holds.
#[test]
fn rows_trimmed_since_are_no_error_on_a_rerun() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let text: String = std::iter::once(String::from("time,n\n"))
        .chain((1..=1000).map(|i| format!("{},{i}\n", i * 1000)))
        .collect();
    let path = file(dir.path(), "long.csv", &text);
    assert_ok(&import(&server, "kept", &path, &["--maxlen", "100"]));
    let mut con = server.con();
    let held = xlen(&mut con, "kept");
    assert!(held < 1000, "the trim took some: {held}");
    let out = import(&server, "kept", &path, &["--json"]);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(report["import"]["skipped"], held, "{report}");
    assert_eq!(report["import"]["trimmed"], 1000 - held, "{report}");
    assert_eq!(xlen(&mut con, "kept"), held);
}

/// Entries with absent and empty fields, exported and imported into another stream, come back
/// field for field: an absent field stays absent, an empty one stays empty.
#[test]
fn absent_fields_stay_absent_and_empty_ones_empty() {
    let server = Server::start();
    let mut con = server.con();
    xadd_at(&mut con, "src", "1534291200000-0", &[("a", "1"), ("b", "")]);
    xadd_at(&mut con, "src", "1534291201000-0", &[("a", "2")]);
    xadd_at(&mut con, "src", "1534291202000-0", &[("b", "x"), ("c", "")]);
    xadd_at(&mut con, "src", "1534291202000-1", &[("a", ""), ("c", "y")]);
    round_trip(&server);
}

/// Values that a spreadsheet would run as formulas are exported with a `'` before them and
/// quoted (numbers such as `-3.5` stay as they are; a value that starts with `'` gets one more),
/// and the import of that export gives every value back exactly.
#[test]
fn formulas_are_neutralised_and_come_back_exact() {
    let server = Server::start();
    let mut con = server.con();
    let values = [
        "=1+1", "+x", "-x", "@x", "-3.5", "'quoted", "''=x", "\tx", "+2", "-1e3",
    ];
    for (i, value) in values.iter().enumerate() {
        xadd_at(
            &mut con,
            "src",
            &format!("{}-0", 1000 * (i + 1)),
            &[("v", value)],
        );
    }
    xadd_at(&mut con, "src", "20000-0", &[("=name", "1")]);
    assert_eq!(
        round_trip(&server),
        "monsoon-id,time,v,\"'=name\"\n\
         1000-0,1970-01-01T00:00:01Z,\"'=1+1\",\n\
         2000-0,1970-01-01T00:00:02Z,\"'+x\",\n\
         3000-0,1970-01-01T00:00:03Z,\"'-x\",\n\
         4000-0,1970-01-01T00:00:04Z,\"'@x\",\n\
         5000-0,1970-01-01T00:00:05Z,-3.5,\n\
         6000-0,1970-01-01T00:00:06Z,\"''quoted\",\n\
         7000-0,1970-01-01T00:00:07Z,\"'''=x\",\n\
         8000-0,1970-01-01T00:00:08Z,\"'\tx\",\n\
         9000-0,1970-01-01T00:00:09Z,+2,\n\
         10000-0,1970-01-01T00:00:10Z,-1e3,\n\
         20000-0,1970-01-01T00:00:20Z,,1\n"
    );
}

/// A user's own CSV (not marked as an export, also one headed `id,time` as exports were before)
/// is read as it is: a value starting with `'` keeps it, and an empty cell is an empty field.
#[test]
fn a_users_own_csv_is_never_altered() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let own = file(dir.path(), "own.csv", "time,v,w\n1000,'abc,\n2000,'=x,''\n");
    assert_ok(&import(&server, "own", &own, &[]));
    let old = file(
        dir.path(),
        "old.csv",
        "id,time,v,w\n1000-0,1000,'abc,\n2000-0,2000,'=x,''\n",
    );
    assert_ok(&import(&server, "old", &old, &[]));
    let mut con = server.con();
    let pairs = |v: &str, w: &str| {
        vec![
            ("v".to_string(), v.to_string()),
            ("w".to_string(), w.to_string()),
        ]
    };
    let expected = vec![
        ("1000-0".to_string(), pairs("'abc", "")),
        ("2000-0".to_string(), pairs("'=x", "''")),
    ];
    assert_eq!(entries(&mut con, "own"), expected);
    assert_eq!(entries(&mut con, "old"), expected);
}
