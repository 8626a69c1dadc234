//! `inspect range --csv` then `producer --from` against a private redis-server: an absent field
//! stays absent, a formula is neutralised in the export and comes back exact, and a user's own
//! CSV is read as it is.

use std::path::{Path, PathBuf};

use support::import_file as import;
use support::{Server, assert_ok, entries, run, stdout};

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
