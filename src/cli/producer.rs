//! `producer`'s command line, and the run of each city it asks for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use clap::Parser;

use super::{ConnectionArgs, parse_duration, parse_name};
use crate::cli::man_and_completions::Generate;
use crate::error::{Error, Result};
use crate::exit;
use crate::import::{Format, Import};
use crate::metrics::parse_listen;
use crate::metrics::producer::ProducerMeter;
use crate::producer::retain::Retention;
use crate::producer::{CityRun, Mode, ReportStyle};
use crate::reading::seed_from;
use crate::schedule::Schedule;

/// A positive interval in whole milliseconds.
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(1) || interval.subsec_nanos() % 1_000_000 != 0 {
        return Err(String::from(
            "the interval must be whole milliseconds, at least 1ms",
        ));
    }
    Ok(interval)
}

/// A retention: a positive duration in whole milliseconds (`0s` would trim everything but the
/// newest millisecond, surely not what was meant).
fn parse_retention(text: &str) -> std::result::Result<Duration, String> {
    let keep = parse_duration(text)?;
    if keep < Duration::from_millis(1) || keep.subsec_nanos() % 1_000_000 != 0 {
        return Err(String::from(
            "a retention must be whole milliseconds, at least 1ms (e.g. 1h, 7d)",
        ));
    }
    Ok(keep)
}

/// A calendar date, `YYYY-MM-DD`, `today` or `yesterday` (UTC), from 1970-01-01 on: entry IDs
/// are Unix milliseconds, so an earlier day has no IDs to give its readings.
fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    let today = Utc::now().date_naive();
    let date = match text {
        "today" => today,
        "yesterday" => today.pred_opt().unwrap_or(today),
        _ => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
            format!("{e} (expected YYYY-MM-DD, e.g. 2018-08-15, or today, or yesterday)")
        })?,
    };
    if date < chrono::DateTime::UNIX_EPOCH.date_naive() {
        return Err(String::from(
            "the date must be 1970-01-01 or later (entry IDs are Unix milliseconds)",
        ));
    }
    Ok(date)
}

/// Writes a day of per-second weather readings for one or more cities into Redis Streams (or
/// the rows of a CSV or JSON-lines file, with --from), in pipelined batches; reruns only add
/// what is missing.
#[derive(Debug, Parser)]
#[command(name = "producer", version, after_help = exit::help())]
pub struct ProducerArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// City to produce (repeatable, produced concurrently); its stream key is PREFIX + CITY
    /// [default: chennai].
    #[arg(long = "city", value_name = "CITY", value_parser = parse_name)]
    pub cities: Vec<String>,

    /// Cities from FILE, one per line (blank lines and # comments skipped), as if each were
    /// given with --city; with --live one thread writes them all, one pipeline per tick.
    #[arg(long, value_name = "FILE")]
    pub cities_from: Option<PathBuf>,

    /// A stream to write by its own key, exactly as given (no --prefix), e.g. for --from
    /// (repeatable; beside --city).
    #[arg(long = "stream", value_name = "KEY", value_parser = parse_name)]
    pub streams: Vec<String>,

    /// Stream keys from FILE, one per line (blank lines and # comments skipped), as if each
    /// were given with --stream.
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    pub streams_from: Option<PathBuf>,

    /// Day to produce (UTC) [default: yesterday].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD|today|yesterday")]
    pub date: Option<NaiveDate>,

    /// Sensors per city; each timestamp gets one entry per sensor (IDs <ms>-0 .. <ms>-(N-1)).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sensors: u32,

    /// Time between readings, in whole milliseconds (e.g. 1s, 250ms).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Timestamps to write [default: a whole day at --interval; with --live: until Ctrl-C].
    /// 0 (only with --retain or --retain-dead): write nothing, check no range, trim once (cron).
    #[arg(long)]
    pub count: Option<u64>,

    /// XADD commands per pipelined batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,

    /// Seed of the simulated weather [default: derived from city and date].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Trim the stream to about N entries as it is written (XADD MAXLEN ~ N).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub maxlen: Option<u64>,

    /// Keep only the entries of the last DUR before the stream's newest entry (its ID's time, not
    /// the clock: a backfilled day keeps its last DUR). Trimmed after every batch (every tick
    /// with --live), never past an entry a consumer group still needs (its oldest pending
    /// entry, or the first it was not given yet); a group that holds a trim back is named on
    /// stderr. Combines with --maxlen (both apply).
    #[arg(long, value_parser = parse_retention, value_name = "DUR")]
    pub retain: Option<Duration>,

    /// With --retain: trim regardless of consumer groups. THIS DELETES ENTRIES THAT GROUPS HAVE
    /// NOT READ OR NOT ACKNOWLEDGED YET; they are lost to every consumer.
    #[arg(long, requires = "retain")]
    pub retain_ignore_groups: bool,

    /// Also trim <stream>:dead (the consumer's default dead-letter stream) to the dead letters
    /// of the last DUR by the clock, once per run (every tick with --live).
    #[arg(long, value_parser = parse_retention, value_name = "DUR")]
    pub retain_dead: Option<Duration>,

    /// Delete the stream first (only a stream: a key of another type is refused).
    #[arg(long)]
    pub replace: bool,

    /// Append one reading per sensor per --interval at the current time, with server-assigned
    /// IDs, until Ctrl-C (exit 0) or --count.
    #[arg(long)]
    pub live: bool,

    /// Write the rows of FILE instead of simulated readings: CSV with a header, or JSON lines
    /// (one object per line); - is stdin. A row's entry ID is <ms>-<n>: its time's Unix
    /// milliseconds (--time-column), n counting the rows of the same millisecond from 0. Rows
    /// must be in time order; a bad row is an error FILE:LINE (exit 2) after the rows before it
    /// are written. A rerun skips the rows the stream holds; one at or before its last ID that it
    /// lacks is an error (exit 4). An `inspect range --csv` export reads back exactly.
    #[arg(
        long,
        value_name = "FILE|-",
        conflicts_with_all = ["date", "sensors", "interval", "count", "seed", "live", "cities_from"]
    )]
    pub from: Option<PathBuf>,

    /// Format of --from [default: by its extension: .csv; .jsonl, .ndjson or .json].
    #[arg(long, value_enum, requires = "from")]
    pub format: Option<Format>,

    /// The column (JSON key) of --from holding each row's time: ISO 8601 with or without a zone
    /// (without one it is UTC), Unix milliseconds, or as --time-format says.
    #[arg(long, default_value = "time", value_name = "NAME", value_parser = parse_name, requires = "from")]
    pub time_column: String,

    /// A chrono strftime pattern for the times of --from, e.g. '%Y/%m/%d %H:%M' (without %z
    /// the time is UTC).
    #[arg(long, value_name = "PATTERN", requires = "from")]
    pub time_format: Option<String>,

    /// The columns (JSON keys) of --from to write as fields, in this order [default: all but
    /// the time].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_parser = parse_name, requires = "from")]
    pub fields: Option<Vec<String>>,

    /// How long to keep reconnecting after the connection breaks before giving up (exit 3);
    /// with --wait-replicas, also how long fewer than N replicas may have a batch (exit 6).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub retry_for: Duration,

    /// Count a batch as written only once N replicas have it: WAIT N after each batch, in the
    /// same pipeline; while fewer have it, no new batch is sent and WAIT is asked again. After a
    /// break, what the stream lacks is sent again (exactly once) and waited for. Fewer than N
    /// for --retry-for is an error (exit 6). The report says how many entries were confirmed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with = "live")]
    pub wait_replicas: Option<u64>,

    /// How long one WAIT of --wait-replicas blocks for the replicas (at least 1ms, below
    /// --timeout).
    #[arg(long, default_value = "1s", value_parser = super::parse_wait_timeout, value_name = "DUR")]
    pub wait_timeout: Duration,

    /// Colour errors, dead letters and claims (and idle consumers in `inspect watch`): auto (on
    /// a terminal, unless NO_COLOR is set or TERM=dumb), always, or never. Message lines are
    /// never coloured.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = super::parse_color)]
    pub color: crate::color::When,

    /// Print no report and no progress bars, and no notes on reconnecting (errors and warnings
    /// still go to stderr).
    #[arg(short, long)]
    pub quiet: bool,

    /// Print each city's report as one JSON object per line instead of a sentence (also with
    /// --quiet).
    #[arg(long)]
    pub json: bool,

    /// Print a man page or shell completions for this binary on stdout, and exit.
    #[arg(long, value_name = "KIND", value_enum)]
    pub generate: Option<Generate>,

    /// With --live: serve Prometheus metrics (GET /metrics) and a health check (GET /healthz)
    /// on ADDR, e.g. 127.0.0.1:9464; a bare port listens on loopback only.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, requires = "live")]
    pub metrics: Option<SocketAddr>,
}

impl ProducerArgs {
    /// One run per city, with the defaults filled in; `--count 0` without a trim to do is a
    /// usage error.
    pub fn city_runs(&self) -> Result<Vec<CityRun>> {
        if self.count == Some(0) {
            if self.retain.is_none() && self.retain_dead.is_none() {
                return Err(Error::Usage(String::from(
                    "invalid value for --count: 0 writes nothing, so it goes only with --retain \
                     or --retain-dead (to trim once, e.g. from cron)",
                )));
            }
            if self.replace {
                return Err(Error::Usage(String::from(
                    "invalid value for --count: 0 only trims; it does not go with --replace, \
                     which would delete the stream",
                )));
            }
        }
        let import = match &self.from {
            Some(from) => Some(Import::new(
                from.clone(),
                self.format,
                self.time_column.clone(),
                self.time_format.clone(),
                self.fields.clone(),
            )?),
            None => None,
        };
        let streams = self.connection.streams(
            (&self.cities, self.cities_from.as_deref()),
            (&self.streams, self.streams_from.as_deref()),
        )?;
        if import.is_some() && streams.len() > 1 {
            return Err(Error::Usage(String::from(
                "--from writes one file into one stream: give one --city or --stream",
            )));
        }
        let date = self
            .date
            .unwrap_or_else(|| Utc::now().date_naive().pred_opt().unwrap_or_default());
        let interval_ms = self.interval.as_millis() as u64;
        let wait = self
            .connection
            .replicas(self.wait_replicas, self.wait_timeout)?;
        let meter = self.metrics.map(|_| ProducerMeter::default());
        let retention = self.retain.map(|keep| Retention {
            keep,
            ignore_groups: self.retain_ignore_groups,
        });
        Ok(streams
            .into_iter()
            .map(|(city, key)| CityRun {
                key,
                schedule: Schedule::day(date, interval_ms, self.count, self.sensors),
                seed: self
                    .seed
                    .unwrap_or_else(|| seed_from(&format!("{city}@{date}"))),
                batch: self.batch as usize,
                maxlen: self.maxlen,
                replace: self.replace,
                retry_for: Some(self.retry_for),
                meter: meter.clone(),
                retention,
                retain_dead: self.retain_dead,
                import: import.clone(),
                wait,
            })
            .collect())
    }

    /// How the report is printed: sentences, JSON (`--json`), or nothing (`--quiet`).
    pub fn report_style(&self) -> ReportStyle {
        match (self.json, self.quiet) {
            (true, _) => ReportStyle::Json,
            (false, true) => ReportStyle::Quiet,
            (false, false) => ReportStyle::Lines,
        }
    }

    /// What the producer writes: a day (or `--count` timestamps), live readings, a file's rows
    /// (`--from`), or (`--count 0`) nothing: it only trims.
    pub fn mode(&self) -> Mode {
        if self.from.is_some() {
            return Mode::Import;
        }
        match (self.count, self.live) {
            (Some(0), _) => Mode::Trim,
            (_, false) => Mode::Day,
            (_, true) => Mode::Live { ticks: self.count },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A day before 1970 is refused with the reason; 1970-01-01 is the first day there is.
    #[test]
    fn dates_from_1970() {
        assert!(
            parse_date("1960-01-01")
                .unwrap_err()
                .contains("1970-01-01 or later")
        );
        assert!(parse_date("1969-12-31").is_err());
        assert_eq!(parse_date("1970-01-01"), Ok(NaiveDate::default()));
        assert!(parse_date("2018-02-30").is_err());
        let today = Utc::now().date_naive();
        assert_eq!(parse_date("today"), Ok(today));
        assert_eq!(parse_date("yesterday"), Ok(today.pred_opt().unwrap()));
    }

    /// Intervals are whole milliseconds, at least one.
    #[test]
    fn intervals() {
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("1500us").is_err());
        assert!(parse_interval("soon").is_err());
    }

    /// The default seed depends on city and date, so reruns write the same data.
    #[test]
    fn default_seed_per_city_and_date() {
        let args = ProducerArgs::parse_from([
            "producer",
            "--city",
            "a",
            "--city",
            "b",
            "--date",
            "2018-08-15",
        ]);
        let runs = args.city_runs().unwrap();
        assert_eq!(runs[0].key, "a");
        assert_ne!(runs[0].seed, runs[1].seed);
        assert_eq!(
            runs[0].seed,
            ProducerArgs::parse_from(["producer", "--city", "a", "--date", "2018-08-15"])
                .city_runs()
                .unwrap()[0]
                .seed
        );
        assert_eq!(runs[0].schedule.total(), 86_400);
    }

    /// A retention is at least a whole millisecond; `--count 0` needs a trim to do and is the
    /// trim-only mode.
    #[test]
    fn retention_and_count_zero() {
        assert_eq!(parse_retention("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_retention("0s").is_err());
        assert!(parse_retention("1500us").is_err());
        assert!(parse_retention("-1h").is_err());
        let args = |extra: &[&str]| {
            ProducerArgs::parse_from([&["producer", "--count", "0"][..], extra].concat())
        };
        let err = args(&[]).city_runs().unwrap_err();
        assert!(err.to_string().contains("--count"));
        assert_eq!(err.exit_code(), exit::USAGE);
        assert_eq!(
            args(&["--retain", "1h", "--replace"])
                .city_runs()
                .unwrap_err()
                .exit_code(),
            exit::USAGE
        );
        assert_eq!(args(&["--retain", "1h"]).mode(), Mode::Trim);
        assert_eq!(args(&["--retain-dead", "1d", "--live"]).mode(), Mode::Trim);
        let runs = args(&["--retain", "1h", "--retain-ignore-groups"])
            .city_runs()
            .unwrap();
        assert_eq!(
            runs[0].retention,
            Some(Retention {
                keep: Duration::from_secs(3600),
                ignore_groups: true
            })
        );
        assert!(
            ProducerArgs::try_parse_from(["producer", "--retain-ignore-groups"]).is_err(),
            "--retain-ignore-groups needs --retain"
        );
    }

    /// clap's own consistency checks pass.
    #[test]
    fn command_is_consistent() {
        ProducerArgs::command().debug_assert();
    }
}
