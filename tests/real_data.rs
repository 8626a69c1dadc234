//! A real data set end to end: a year of Seattle's daily weather (tests/data, with its own
//! column names and no `temperature`) imported with its own columns, handled by a Python
//! `--pipe` handler and an `--exec` handler whose per-year aggregates must equal the same
//! aggregates computed from the CSV itself, exported back to the same columns, and charted.

use std::collections::BTreeMap;
use std::path::PathBuf;

use support::{Server, assert_ok, pending, run, stderr, stdout, xlen};

/// The CSV under tests/data.
fn csv_path() -> PathBuf {
    support::project_dir().join("tests/data/seattle-weather.csv")
}

/// The CSV's rows: header, then each row's cells.
fn csv_rows() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(csv_path()).expect("tests/data/seattle-weather.csv");
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

/// Per year (from `date`, `YYYY/MM/DD`): days, total precipitation, highest temp_max, as the
/// handlers print them (one decimal).
fn aggregates_from_the_csv() -> BTreeMap<String, String> {
    let (header, rows) = csv_rows();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (date, rain, high) = (at("date"), at("precipitation"), at("temp_max"));
    let mut years: BTreeMap<String, (u32, f64, f64)> = BTreeMap::new();
    for row in &rows {
        let (r, h): (f64, f64) = (row[rain].parse().unwrap(), row[high].parse().unwrap());
        let year = years
            .entry(row[date][..4].to_string())
            .or_insert((0, 0.0, f64::MIN));
        *year = (year.0 + 1, year.1 + r, year.2.max(h));
    }
    years
        .into_iter()
        .map(|(year, (days, rain, high))| (year, totals_line(days.into(), rain, high)))
        .collect()
}

/// A year's totals as the handlers print them (one decimal).
fn totals_line(days: f64, rain: f64, high: f64) -> String {
    format!("days={days} total_precipitation={rain:.1} max_temp_max={high:.1}")
}

/// Imports the CSV into `seattle` with its own columns; a rerun inserts nothing.
fn import(server: &Server) {
    let path = csv_path();
    let args = [
        "--from",
        path.to_str().unwrap(),
        "--time-column",
        "date",
        "--time-format",
        "%Y/%m/%d",
        "--stream",
        "seattle",
    ];
    let first = run("producer", server, &args);
    assert_ok(&first);
    assert!(
        stdout(&first).starts_with("Inserted 365 records into seattle"),
        "{}",
        stdout(&first)
    );
    let again = run("producer", server, &args);
    assert_ok(&again);
    assert!(
        stdout(&again).contains("nothing to insert"),
        "{}",
        stdout(&again)
    );
}

/// The whole path: import, a Python `--pipe` handler (scripts/examples/yearly.py) and a Python
/// `--exec` handler computing per-year aggregates equal to the CSV's, everything acked and
/// nothing dead-lettered.
#[test]
fn a_real_year_imported_and_handled() {
    let server = Server::start();
    import(&server);
    let expected = aggregates_from_the_csv();
    assert_eq!(
        expected.len(),
        2,
        "the year crosses a new year: {expected:?}"
    );

    let script = support::project_dir().join("scripts/examples/yearly.py");
    let handler = format!("python3 {} precipitation temp_max", script.display());
    let piped = run(
        "consumer",
        &server,
        &[
            "alice",
            "--stream",
            "seattle",
            "--json",
            "--idle-exit",
            "500ms",
            "--pipe",
            &handler,
        ],
    );
    assert_ok(&piped);
    let printed: BTreeMap<String, String> = stdout(&piped)
        .lines()
        .map(|l| {
            let (year, rest) = l.split_once(' ').unwrap();
            (year.to_string(), rest.to_string())
        })
        .collect();
    assert_eq!(printed, expected, "{}", stderr(&piped));
    let mut con = server.con();
    assert_eq!(pending(&mut con, "seattle", "mygroup"), 0);

    // --exec: a run per message (sh and awk, from MONSOON_ID and MONSOON_FIELD_*) keeps its
    // year's running totals in a file of the year's name (one job at a time).
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("yearly.sh");
    std::fs::write(
        &script,
        r#"year=$(date -u -d "@$(( ${MONSOON_ID%%-*} / 1000 ))" +%Y); f="$(dirname "$0")/$year"
[ -f "$f" ] || echo "0 0 -1000" > "$f"
awk -v r="$MONSOON_FIELD_PRECIPITATION" -v h="$MONSOON_FIELD_TEMP_MAX" \
  '{ print $1 + 1, $2 + r, (h + 0 > $3 + 0 ? h : $3) }' "$f" > "$f.new" && mv "$f.new" "$f"
"#,
    )
    .unwrap();
    let exec = format!("sh {}", script.display());
    let out = run(
        "consumer",
        &server,
        &[
            "bob",
            "--group",
            "exec",
            "--stream",
            "seattle",
            "--idle-exit",
            "500ms",
            "--exec",
            &exec,
        ],
    );
    assert_ok(&out);
    let mut computed = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let year = entry.file_name().into_string().unwrap();
        if year == "yearly.sh" {
            continue;
        }
        let totals = std::fs::read_to_string(entry.path()).unwrap();
        let [days, rain, high]: [f64; 3] = totals
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        computed.insert(year, totals_line(days, rain, high));
    }
    assert_eq!(computed, expected);
    assert_eq!(pending(&mut con, "seattle", "exec"), 0);
    assert_eq!(xlen(&mut con, "seattle:dead"), 0);
}

/// `inspect range --csv` gives the input back: the same columns (the time column as `time`),
/// the same values, row by row; and a chart of one of its fields spans its dates, years
/// included.
#[test]
fn a_real_year_exported_and_charted() {
    let server = Server::start();
    import(&server);
    let (header, rows) = csv_rows();
    let out = run("inspect", &server, &["range", "seattle", "--csv"]);
    assert_ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    let exported: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(exported[..2], ["monsoon-id", "time"]);
    assert_eq!(exported[2..], header[1..], "the input's own columns");
    let exported_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(exported_rows.len(), rows.len());
    for (ours, theirs) in exported_rows.iter().zip(&rows) {
        assert_eq!(
            ours[1],
            format!("{}T00:00:00Z", theirs[0].replace('/', "-"))
        );
        assert_eq!(ours[2..], theirs[1..]);
    }

    let highs: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let (lo, hi) = highs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let out = run(
        "inspect",
        &server,
        &["chart", "seattle", "--field", "temp_max", "--width", "70"],
    );
    assert_ok(&out);
    let chart = stdout(&out);
    assert!(
        chart.starts_with(&format!(
            "seattle temp_max: 365 readings, min {lo:.1}, max {hi:.1}\n"
        )),
        "{chart}"
    );
    let axis = chart.lines().rev().nth(1).unwrap().trim();
    assert!(
        axis.starts_with("2012-07-01") && axis.ends_with("2013-06-30"),
        "{chart}"
    );
    // Without --field: no temperature here, so the first numeric column.
    let out = run("inspect", &server, &["chart", "seattle", "--json"]);
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["field"], "precipitation");
    assert_eq!(json["readings"], 365);
}
