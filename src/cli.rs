//! The binaries' command lines (clap), and their conversion into validated settings; nothing
//! downstream of this module sees clap types.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use clap::{Args, Parser};

use crate::consumer;
use crate::error::{Error, Result};
use crate::exit;
use crate::generate::Generate;
use crate::import::{Format, Import};
use crate::metrics::consumer::Meter;
use crate::metrics::parse_listen;
use crate::metrics::producer::ProducerMeter;
use crate::producer::retain::Retention;
use crate::producer::{CityRun, Mode, ReportStyle};
use crate::reading::seed_from;
use crate::schedule::Schedule;
use crate::server::{Target, TlsFiles};
use crate::stream_id::StreamId;

/// Options every binary shares: where Redis is, and the prefix of every key.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Redis server URL: redis://[user:password@]host[:port][/db]. The password is never printed.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        hide_default_value = false
    )]
    pub redis_url: String,

    /// Prefix of every stream key (the key of a city is PREFIX + city), so that demos and tests
    /// can share a server without colliding.
    #[arg(long, env = "MONSOON_PREFIX", default_value = "", value_name = "P")]
    pub prefix: String,

    /// Trust this CA (PEM) for the server's certificate instead of the system roots (rediss://).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM), for servers that require one; goes with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Key of the client certificate (PEM); goes with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Do not verify the server's certificate (prints a warning). Never the default.
    #[arg(long)]
    pub tls_insecure: bool,

    /// Treat --redis-url as a seed node of a Redis Cluster: each stream is read and written on the
    /// node that owns its slot.
    #[arg(long)]
    pub cluster: bool,
}

impl ConnectionArgs {
    /// The server to talk to; a bad URL is a usage error that hides the password.
    pub fn target(&self) -> Result<Target> {
        let tls = TlsFiles {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            insecure: self.tls_insecure,
        };
        let target = Target::with_tls(&self.redis_url, &tls)?.in_cluster(self.cluster);
        if self.tls_insecure {
            eprintln!(
                "warning: --tls-insecure: the server's certificate is not verified; anyone in between can read and change the traffic"
            );
        }
        Ok(target)
    }

    /// The stream key of a city (or any stream name given on the command line).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// A duration such as `0`, `250ms`, `1s`, `1m30s`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (use e.g. 0, 250ms, 1s, 2m)"))
}

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

/// Where `--reset-to` puts a group: the first ID it reads again, from a full ID
/// (`1534334400000-0`), Unix milliseconds, or an ISO 8601 time (`2018-08-15T12:00:00Z`; without
/// a zone it is UTC; a bare date is its midnight).
pub fn parse_reset_point(text: &str) -> std::result::Result<StreamId, String> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && let Ok(id) = text.parse::<StreamId>()
    {
        return Ok(id);
    }
    let ms = crate::time::parse_iso(text);
    match ms {
        Some(ms) if ms >= 0 => Ok(StreamId::new(ms as u64, 0)),
        Some(_) => Err(String::from(
            "the time must be 1970-01-01 or later (entry IDs are Unix milliseconds)",
        )),
        None => Err(format!(
            "'{text}' is neither a time (e.g. 2018-08-15T12:00:00Z), Unix milliseconds, nor an \
             entry ID (e.g. 1534334400000-0)"
        )),
    }
}

/// The cities of `--city` and `--cities-from`, in order, each once; `chennai` when neither
/// names one. An unreadable file, or a name in it that is blank, is a usage error naming it.
pub fn cities(given: &[String], from: Option<&std::path::Path>) -> Result<Vec<String>> {
    let mut cities: Vec<String> = given.to_vec();
    if let Some(path) = from {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "invalid value for --cities-from: cannot read {}: {e}",
                path.display()
            ))
        })?;
        cities.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string),
        );
        if cities.is_empty() {
            return Err(Error::Usage(format!(
                "invalid value for --cities-from: {} names no city",
                path.display()
            )));
        }
    }
    if cities.is_empty() {
        cities.push(String::from("chennai"));
    }
    let mut seen = std::collections::HashSet::new();
    cities.retain(|city| seen.insert(city.clone()));
    Ok(cities)
}

/// A name used in a key: not empty.
fn parse_name(text: &str) -> std::result::Result<String, String> {
    if text.trim().is_empty() {
        return Err(String::from("must not be empty"));
    }
    Ok(text.to_string())
}

/// Writes a day of per-second weather readings for one or more cities into Redis Streams, in
/// pipelined batches; reruns only add what is missing.
#[derive(Debug, Parser)]
#[command(name = "producer", version, after_help = exit::HELP)]
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
    /// stderr. Combines with --maxlen (both apply). With --from: before and after the import.
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
    /// are written, and a rerun skips what the stream holds.
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

    /// How long to keep reconnecting after the connection breaks before giving up (exit 3).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub retry_for: Duration,

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
        let cities = cities(&self.cities, self.cities_from.as_deref())?;
        if import.is_some() && cities.len() > 1 {
            return Err(Error::Usage(String::from(
                "--from writes one file into one stream: give one --city",
            )));
        }
        let date = self
            .date
            .unwrap_or_else(|| Utc::now().date_naive().pred_opt().unwrap_or_default());
        let interval_ms = self.interval.as_millis() as u64;
        let meter = self.metrics.map(|_| ProducerMeter::default());
        let retention = self.retain.map(|keep| Retention {
            keep,
            ignore_groups: self.retain_ignore_groups,
        });
        Ok(cities
            .iter()
            .map(|city| CityRun {
                key: self.connection.key(city),
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

/// Joins a consumer group on one or more city streams, processes each message (wait --delay,
/// print, XACK), takes over what dead consumers left pending, and dead-letters poison messages.
#[derive(Debug, Parser)]
#[command(name = "consumer", version, after_help = exit::HELP)]
pub struct ConsumerArgs {
    /// Consumer name within the group (e.g. alice, bob).
    #[arg(value_parser = parse_name, required_unless_present = "generate")]
    pub name: Option<String>,

    /// Print a man page or shell completions for this binary on stdout, and exit.
    #[arg(long, value_name = "KIND", value_enum)]
    pub generate: Option<Generate>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// City stream to read (repeatable: several streams in one group) [default: chennai].
    #[arg(long = "city", value_name = "CITY", value_parser = parse_name)]
    pub cities: Vec<String>,

    /// Cities from FILE, one per line (blank lines and # comments skipped), as if each were
    /// given with --city: one read names them all.
    #[arg(long, value_name = "FILE")]
    pub cities_from: Option<PathBuf>,

    /// Consumer group, created when missing (at --start), joined when it exists.
    #[arg(long, default_value = "mygroup", value_parser = parse_name)]
    pub group: String,

    /// Simulated processing time per message; above 0, messages are taken one at a time so
    /// consumers share the work.
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DUR")]
    pub delay: Duration,

    /// Messages per read (and per XACK round trip) when --delay is 0.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,

    /// Where a newly created group starts: 0 (the whole stream), $ (only new entries) or an ID.
    #[arg(long, default_value = "0", value_name = "ID")]
    pub start: String,

    /// Where a group that vanished (deleted stream, XGROUP DESTROY, a server restarted without
    /// persistence) is re-created: 0 (every entry still in the stream is delivered again:
    /// duplicates possible, nothing skipped), $ (only new entries) or an ID.
    #[arg(long, default_value = "0", value_name = "ID")]
    pub recreate_at: String,

    /// How long each read blocks waiting for new messages (Ctrl-C is noticed between reads).
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub block: Duration,

    /// Exit 0 after DUR without a message (never while entries can still be claimed).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub idle_exit: Option<Duration>,

    /// Print one JSON object per message instead of a line of text.
    #[arg(long)]
    pub json: bool,

    /// Print no summary at the end and no notes on reconnecting; the messages are still printed
    /// (they are the output), and errors and warnings still go to stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Take over entries pending on another consumer for longer than DUR (checked at start and
    /// at least every DUR), a few at a time; must be above --delay (what is in hand is kept from
    /// looking idle meanwhile).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub claim_idle: Duration,

    /// Dead-letter an entry instead of processing it once it was delivered more than N times.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_deliveries: u64,

    /// Dead-letter stream (after --prefix) [default: <stream>:dead].
    #[arg(long, value_name = "KEY", value_parser = parse_name)]
    pub dead_letter: Option<String>,

    /// Delete consumers idle longer than DUR from the group, once they hold nothing pending.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub prune_idle: Option<Duration>,

    /// Hand each message to `sh -c CMD` (the message as a JSON line on stdin, MONSOON_* in the
    /// environment) and acknowledge it only when the command exits 0; a failed run is retried,
    /// then dead-lettered with its reason and stderr.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["delay", "pipe"])]
    pub exec: Option<String>,

    /// Start `sh -c CMD` once and write each message to its stdin (the line it would print, or
    /// JSON with --json); it answers `ack STREAM ID` (acknowledged) or `fail STREAM ID REASON`
    /// per message on its stdout; other lines are passed on. Restarted when it stops.
    #[arg(long, value_name = "CMD", conflicts_with = "delay")]
    pub pipe: Option<String>,

    /// Messages sent to the --pipe handler and not yet answered, at most.
    #[arg(long, default_value_t = 1000, requires = "pipe", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub in_flight: u64,

    /// Hand the dead letters of each stream to the --exec or --pipe handler once more, as the
    /// original messages; delete those it handles, keep the others with their new reason; exit.
    #[arg(long)]
    pub redrive: bool,

    /// Handlers running at once with --exec.
    #[arg(long, default_value_t = 1, requires = "exec", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: u64,

    /// How long one --exec run may take (then SIGTERM, 2 s later SIGKILL), or a --pipe answer
    /// may be waited for (then the handler is restarted); it counts as failed. Must stay below
    /// --claim-idle.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub handler_timeout: Duration,

    /// Give up (exit 3) when a broken connection cannot be re-established within DUR
    /// [default: keep trying].
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub retry_for: Option<Duration>,

    /// Move the group (--group) so that its next read starts at TIME (ISO 8601, e.g.
    /// 2018-08-15T12:00:00Z, a zone-less time being UTC), Unix milliseconds, or an entry ID: its
    /// last-delivered-id becomes the entry just before; print what moved and exit without
    /// consuming. Pending entries stay pending.
    #[arg(long, value_name = "TIME|ID", value_parser = parse_reset_point, conflicts_with = "redrive")]
    pub reset_to: Option<StreamId>,

    /// With --reset-to: only print what would move.
    #[arg(long, requires = "reset_to")]
    pub dry_run: bool,

    /// Serve Prometheus metrics (GET /metrics: messages by outcome, processing time, pending,
    /// lag, reconnects) and a health check (GET /healthz) on ADDR, e.g. 127.0.0.1:9464; a bare
    /// port listens on loopback only.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, conflicts_with_all = ["reset_to", "redrive"])]
    pub metrics: Option<SocketAddr>,
}

impl ConsumerArgs {
    /// The consumer's settings; an invalid `--start` is a usage error.
    pub fn settings(&self) -> Result<consumer::Settings> {
        for (flag, value) in [
            ("--start", &self.start),
            ("--recreate-at", &self.recreate_at),
        ] {
            if value != "$" {
                value
                    .parse::<StreamId>()
                    .map_err(|e| Error::Usage(format!("invalid value for {flag}: {e}, or $")))?;
            }
        }
        if (self.exec.is_some() || self.pipe.is_some()) && self.handler_timeout >= self.claim_idle {
            return Err(Error::Usage(format!(
                "invalid value for --handler-timeout: {} must stay below --claim-idle {}, or a \
                 message in a handler's hands would look idle to the other consumers",
                humantime::format_duration(self.handler_timeout),
                humantime::format_duration(self.claim_idle)
            )));
        }
        if [&self.exec, &self.pipe]
            .iter()
            .any(|c| c.as_deref().is_some_and(|c| c.trim().is_empty()))
        {
            return Err(Error::Usage(String::from(
                "invalid value for --exec/--pipe: the command is empty",
            )));
        }
        if !self.delay.is_zero() && self.claim_idle <= self.delay {
            return Err(Error::Usage(format!(
                "invalid value for --claim-idle: {} must be above --delay {}, or a message in hand \
                 would look idle to the other consumers and be taken from it while it is worked on",
                humantime::format_duration(self.claim_idle),
                humantime::format_duration(self.delay)
            )));
        }
        if self.block < Duration::from_millis(1) {
            return Err(Error::Usage(String::from(
                "invalid value for --block: it must be at least 1ms (BLOCK 0 would wait for ever)",
            )));
        }
        let streams: Vec<String> = cities(&self.cities, self.cities_from.as_deref())?
            .iter()
            .map(|c| self.connection.key(c))
            .collect();
        Ok(consumer::Settings {
            name: self.name.clone().unwrap_or_default(),
            streams: streams.clone(),
            group: self.group.clone(),
            delay: self.delay,
            batch: self.batch as usize,
            start: self.start.clone(),
            recreate_at: self.recreate_at.clone(),
            block: self.block,
            idle_exit: self.idle_exit,
            json: self.json,
            claim_idle: self.claim_idle,
            max_deliveries: self.max_deliveries,
            dead_letter: self.dead_letter.as_deref().map(|k| self.connection.key(k)),
            prune_idle: self.prune_idle,
            retry_for: self.retry_for,
            exec: self.exec.as_ref().map(|command| consumer::Exec {
                command: command.clone(),
                jobs: self.jobs as usize,
                timeout: self.handler_timeout,
            }),
            pipe: self.pipe.as_ref().map(|command| consumer::Pipe {
                command: command.clone(),
                in_flight: self.in_flight as usize,
                timeout: self.handler_timeout,
            }),
            meter: self.metrics.map(|_| {
                Meter::new(
                    &self.group,
                    self.name.as_deref().unwrap_or_default(),
                    &streams,
                )
            }),
        })
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

    /// clap's own consistency checks pass for every binary.
    #[test]
    fn commands_are_consistent() {
        ProducerArgs::command().debug_assert();
        ConsumerArgs::command().debug_assert();
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

    /// `--reset-to` reads full IDs, milliseconds, ISO 8601 times (zone-less is UTC) and dates.
    #[test]
    fn reset_points() {
        let noon = Ok(StreamId::new(1534334400000, 0));
        assert_eq!(parse_reset_point("2018-08-15T12:00:00Z"), noon);
        assert_eq!(parse_reset_point("2018-08-15T14:00:00+02:00"), noon);
        assert_eq!(parse_reset_point("2018-08-15T12:00:00"), noon);
        assert_eq!(parse_reset_point("2018-08-15 12:00:00"), noon);
        assert_eq!(parse_reset_point("1534334400000"), noon);
        assert_eq!(
            parse_reset_point("1534334400000-7"),
            Ok(StreamId::new(1534334400000, 7))
        );
        assert_eq!(
            parse_reset_point("2018-08-15"),
            Ok(StreamId::new(1534291200000, 0))
        );
        assert!(parse_reset_point("1969-12-31T23:00:00Z").is_err());
        assert!(parse_reset_point("noon").unwrap_err().contains("'noon'"));
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

    /// `--start` takes 0, $ or an ID, and nothing else.
    #[test]
    fn start_ids() {
        for ok in ["0", "$", "1534291200000-0"] {
            assert!(
                ConsumerArgs::parse_from(["consumer", "alice", "--start", ok])
                    .settings()
                    .is_ok()
            );
        }
        let err = ConsumerArgs::parse_from(["consumer", "alice", "--start", "yesterday"])
            .settings()
            .unwrap_err();
        assert!(err.to_string().contains("--start"));
        assert_eq!(err.exit_code(), exit::USAGE);
    }
}
