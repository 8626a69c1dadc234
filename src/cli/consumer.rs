//! `consumer`'s command line, and the settings it runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::{ConnectionArgs, parse_duration, parse_name};
use crate::cli::man_and_completions::Generate;
use crate::consumer::poison::Require;
use crate::consumer::{self, Exec, Handler, Job, Pipe, Work};
use crate::error::{Error, Result};
use crate::exit;
use crate::metrics::consumer::Meter;
use crate::metrics::parse_listen;
use crate::stream_id::StreamId;
use crate::template::Template;

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

/// Joins a consumer group on one or more city streams, processes each message (wait --delay,
/// print, XACK), takes over what dead consumers left pending, and dead-letters poison messages.
#[derive(Debug, Parser)]
#[command(name = "consumer", version, after_help = exit::help())]
pub struct ConsumerArgs {
    /// Consumer name within the group (e.g. alice, bob).
    #[arg(value_parser = parse_name, required = true)]
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

    /// A stream to read by its own key, exactly as given (no --prefix): any stream another
    /// program writes (repeatable; beside --city).
    #[arg(long = "stream", value_name = "KEY", value_parser = parse_name)]
    pub streams: Vec<String>,

    /// Stream keys from FILE, one per line (blank lines and # comments skipped), as if each
    /// were given with --stream.
    #[arg(long, value_name = "FILE")]
    pub streams_from: Option<PathBuf>,

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

    /// Print each message as one line in the shape TEMPLATE (kcat's -f): {consumer} {stream}
    /// {id} {ms} {time} {deliveries} {field:NAME} {fields} ({{ and }} are braces; \n, \t as
    /// in C); values escaped as in the human line.
    #[arg(long, value_name = "TEMPLATE", value_parser = Template::parse,
          conflicts_with_all = ["json", "exec", "pipe"])]
    pub template: Option<Template>,

    /// Print and acknowledge N messages (its own pending and claimed ones included), then exit
    /// 0, reading no more than that: nothing is left pending (kcat's -c). Print mode only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with_all = ["exec", "pipe", "reset_to"])]
    pub count: Option<u64>,

    /// Colour errors, dead letters and claims (and idle consumers in `inspect watch`): auto (on
    /// a terminal, unless NO_COLOR is set or TERM=dumb), always, or never. Message lines are
    /// never coloured.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = super::parse_color)]
    pub color: crate::color::When,

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

    /// Dead-letter each entry without FIELD, or whose FIELD is not a number, an integer or UTF-8
    /// text (FIELD:number, FIELD:integer, FIELD:text); repeatable. Without it no content is
    /// poison: any entry is printed, or handed to the handler, which decides.
    #[arg(long, value_name = "FIELD[:KIND]", value_parser = Require::parse)]
    pub require: Vec<Require>,

    /// Dead-letter stream (after --prefix) [default: <stream>:dead].
    #[arg(long, value_name = "KEY", value_parser = parse_name)]
    pub dead_letter: Option<String>,

    /// Delete consumers idle longer than DUR from the group, once they hold nothing pending.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub prune_idle: Option<Duration>,

    /// Hand each message to `sh -c CMD` (the message as a JSON line on stdin, MONSOON_* in the
    /// environment; a command of plain words runs its program directly) and acknowledge it only
    /// when the command exits 0; a failed run is retried, then dead-lettered with its reason and
    /// stderr.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["delay", "pipe"])]
    pub exec: Option<String>,

    /// Start `sh -c CMD` once and write each message to its stdin (the line it would print, or
    /// JSON with --json); it answers `ack STREAM ID` (acknowledged) or `fail STREAM ID REASON`
    /// per message on its stdout (STREAM as the line's second word prints it, or a JSON string);
    /// other lines are passed on. Restarted when it stops.
    #[arg(long, value_name = "CMD", conflicts_with = "delay")]
    pub pipe: Option<String>,

    /// Messages sent to the --pipe handler and not yet answered, at most.
    #[arg(long, default_value_t = 1000, requires = "pipe", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub in_flight: u64,

    /// Hand the dead letters of each stream to the --exec or --pipe handler once more, as the
    /// original messages; delete those it handles, keep the others with their new reason; exit.
    #[arg(long)]
    pub redrive: bool,

    /// Handlers running at once with --exec (the next one starts as soon as one ends).
    #[arg(long, default_value_t = 1, requires = "exec", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: u64,

    /// Hand up to N messages (what has arrived) to one --exec run: one JSON line each on its
    /// stdin, and MONSOON_CONSUMER, MONSOON_GROUP and MONSOON_BATCH (how many) in its
    /// environment instead of one message's MONSOON_*. Exit 0 acknowledges them all; a failed
    /// run hands each of them again to a run of its own, as --exec without it does.
    #[arg(long, value_name = "N", requires = "exec", conflicts_with_all = ["pipe", "redrive"],
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub exec_batch: Option<u64>,

    /// How long one --exec run may take (then SIGTERM, 2 s later SIGKILL), or a --pipe answer
    /// may be waited for (then the handler is restarted); it counts as failed. Must stay below
    /// --claim-idle.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub handler_timeout: Duration,

    /// Give up (exit 3) when a broken connection cannot be re-established within DUR; with
    /// --wait-replicas, also when fewer than N replicas have a dead letter for DUR (exit 6)
    /// [default: keep trying].
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub retry_for: Option<Duration>,

    /// Acknowledge a dead-lettered entry (and, with --redrive, delete a dead letter written
    /// again) only once N replicas have its dead letter: WAIT N on the dead-letter stream's node
    /// after its XADD. Fewer than N for --retry-for is an error (exit 6); the entry stays pending.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with = "reset_to")]
    pub wait_replicas: Option<u64>,

    /// How long one WAIT of --wait-replicas blocks for the replicas (at least 1ms, below
    /// --timeout).
    #[arg(long, default_value = "1s", value_parser = super::parse_wait_timeout, value_name = "DUR")]
    pub wait_timeout: Duration,

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
    /// What the consumer is asked to do: consume (printing, or with a handler), redrive the
    /// dead letters, or move the group.
    pub fn job(&self) -> Result<Job> {
        let handler = match (&self.exec, &self.pipe) {
            (Some(command), _) => Some(Handler::Exec(Exec {
                command: command.clone(),
                jobs: self.jobs as usize,
                batch: self.exec_batch.map(|n| n as usize),
                timeout: self.handler_timeout,
            })),
            (None, Some(command)) => Some(Handler::Pipe(Pipe {
                command: command.clone(),
                in_flight: self.in_flight as usize,
                timeout: self.handler_timeout,
            })),
            (None, None) => None,
        };
        if handler.is_some() && self.handler_timeout >= self.claim_idle {
            return Err(Error::Usage(format!(
                "invalid value for --handler-timeout: {} must stay below --claim-idle {}, or a \
                 message in a handler's hands would look idle to the other consumers",
                humantime::format_duration(self.handler_timeout),
                humantime::format_duration(self.claim_idle)
            )));
        }
        if let Some(Handler::Exec(Exec { command, .. }) | Handler::Pipe(Pipe { command, .. })) =
            &handler
            && command.trim().is_empty()
        {
            return Err(Error::Usage(String::from(
                "invalid value for --exec/--pipe: the command is empty",
            )));
        }
        Ok(match (self.reset_to, self.redrive, handler) {
            (Some(at), _, _) => Job::ResetTo {
                at,
                dry_run: self.dry_run,
            },
            (None, true, Some(handler)) => Job::Redrive(handler),
            (None, true, None) => {
                return Err(Error::Usage(String::from(
                    "--redrive needs a handler: --exec CMD or --pipe CMD",
                )));
            }
            (None, false, Some(handler)) => Job::Consume(Work::Handle(handler)),
            (None, false, None) => Job::Consume(Work::Print { delay: self.delay }),
        })
    }

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
        let streams: Vec<String> = self
            .connection
            .streams(
                (&self.cities, self.cities_from.as_deref()),
                (&self.streams, self.streams_from.as_deref()),
            )?
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        Ok(consumer::Settings {
            name: self.name.clone().unwrap_or_default(),
            streams: streams.clone(),
            group: self.group.clone(),
            batch: self.batch as usize,
            start: self.start.clone(),
            recreate_at: self.recreate_at.clone(),
            block: self.block,
            idle_exit: self.idle_exit,
            json: self.json,
            template: self.template.clone(),
            count: self.count,
            claim_idle: self.claim_idle,
            max_deliveries: self.max_deliveries,
            require: self.require.clone(),
            dead_letter: self.dead_letter.as_deref().map(|k| self.connection.key(k)),
            prune_idle: self.prune_idle,
            retry_for: self.retry_for,
            wait: self
                .connection
                .replicas(self.wait_replicas, self.wait_timeout)?,
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

    /// clap's own consistency checks pass.
    #[test]
    fn command_is_consistent() {
        ConsumerArgs::command().debug_assert();
    }
}
