//! `inspect`'s command line (clap), turned into one validated [`Request`]; nothing in
//! [`crate::inspect`] sees clap types.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use super::man_and_completions::Generate;
use super::{ConnectionArgs, parse_duration};
use crate::exit;
use crate::inspect::Request;
use crate::inspect::bound::{Bound, parse_bound};
use crate::inspect::tail::{Start, parse_start};
use crate::inspect::{chart, groups, memory, pending, range, serve, server, tail, watch};
use crate::metrics::parse_listen;
use crate::template::Template;

/// Chart width when stdout is not a terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// Reads streams and looks into consumer groups: entries, pending lists, groups, a live view,
/// charts and memory, for people (aligned columns), scripts (--json) or spreadsheets (`range
/// --csv`). Each subcommand has its own page: `inspect range --generate man` prints
/// inspect-range(1).
#[derive(Debug, Parser)]
#[command(name = "inspect", version, after_help = exit::help())]
pub struct InspectArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Print a man page or shell completions for `inspect` on stdout, and exit.
    #[arg(long, value_name = "KIND", value_enum)]
    pub generate: Option<Generate>,

    /// Colour errors, dead letters and claims (and idle consumers in `inspect watch`): auto (on
    /// a terminal, unless NO_COLOR is set or TERM=dumb), always, or never. Message lines are
    /// never coloured.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = super::parse_color, global = true)]
    pub color: crate::color::When,

    /// Take every STREAM as its key exactly, without --prefix (a stream another program
    /// writes, while MONSOON_PREFIX is set for the demo's).
    #[arg(long, global = true)]
    pub no_prefix: bool,

    /// What to look at.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// `--generate KIND`, for this command line (inspect's, or a subcommand's).
    Generate(Generate, Box<clap::Command>),
    /// A subcommand to run.
    Run(Box<InspectArgs>),
}

/// The subcommands; every STREAM is a name the prefix is put in front of (unless --no-prefix).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Entries of a stream, oldest first (newest first with --rev).
    Range {
        /// Stream name (after --prefix), e.g. chennai.
        stream: String,
        /// First entry: an ID, milliseconds or an ISO 8601 UTC time [default: the start].
        #[arg(long, value_parser = parse_bound, value_name = "ID|MS|TIME")]
        from: Option<Bound>,
        /// Last entry: an ID, milliseconds or an ISO 8601 UTC time [default: the end].
        #[arg(long, value_parser = parse_bound, value_name = "ID|MS|TIME")]
        to: Option<Bound>,
        /// At most N entries.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Newest first (XREVRANGE).
        #[arg(long)]
        rev: bool,
        /// One JSON object per entry (JSON lines): stream, id, time, fields.
        #[arg(long, alias = "jsonl", conflicts_with = "csv")]
        json: bool,
        /// One line per entry in the shape TEMPLATE, as kcat's -f: {stream} {id} {ms} {time}
        /// {field:NAME} {fields} ({{ and }} are braces; \n, \t as in C); values escaped as in
        /// the columns.
        #[arg(long, value_name = "TEMPLATE", value_parser = Template::parse, conflicts_with_all = ["json", "csv"])]
        template: Option<Template>,
        /// CSV (RFC 4180): a header `monsoon-id,time,<fields>` (fields in the order they first
        /// appear in the range), then one row per entry; an absent field is an empty cell, an
        /// empty value `'`, and a value a spreadsheet would run as a formula gets a `'` before it
        /// (`producer --from` takes it off again); for spreadsheets, and `producer --from`.
        #[arg(long)]
        csv: bool,
    },
    /// Entries of one or more streams as they arrive (a blocking XREAD), until Ctrl-C or --count.
    Tail {
        /// Stream names (after --prefix), e.g. chennai coimbatore.
        #[arg(required = true, num_args = 1..)]
        streams: Vec<String>,
        /// $ (only new entries), or entries after an ID, from a millisecond or ISO 8601 UTC time.
        #[arg(long, default_value = "$", value_parser = parse_start, value_name = "ID|$")]
        from: Start,
        /// Exit after N entries.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// One JSON object per entry: stream, id, time, fields.
        #[arg(long)]
        json: bool,
        /// One line per entry in the shape TEMPLATE, as kcat's -f: {stream} {id} {ms} {time}
        /// {field:NAME} {fields} ({{ and }} are braces; \n, \t as in C); values escaped as in
        /// the columns.
        #[arg(long, value_name = "TEMPLATE", value_parser = Template::parse, conflicts_with_all = ["json"])]
        template: Option<Template>,
    },
    /// A group's pending entries: the summary (count, smallest and largest ID, per consumer) and
    /// the detail (ID, consumer, idle time, deliveries).
    Pending {
        /// Stream name (after --prefix).
        stream: String,
        /// Consumer group.
        #[arg(long, default_value = "mygroup")]
        group: String,
        /// At most N entries in the detail.
        #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: u64,
        /// One JSON object: stream, group, pending, min, max, members, entries.
        #[arg(long)]
        json: bool,
    },
    /// Each consumer group of a stream (consumers, pending, last delivered ID, lag) and its
    /// consumers (pending, idle time).
    Groups {
        /// Stream name (after --prefix).
        stream: String,
        /// One JSON object per group: name, consumers, pending, last_delivered_id, lag, members.
        #[arg(long)]
        json: bool,
    },
    /// A live view, redrawn every second: stream length, group lag, and per consumer its rate,
    /// pending count and idle time. Ctrl-C leaves the terminal clean.
    Watch {
        /// Stream name (after --prefix).
        stream: String,
        /// Consumer group.
        #[arg(long, default_value = "mygroup")]
        group: String,
        /// Time between frames.
        #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
        interval: Duration,
        /// Stop after N frames [default: until Ctrl-C].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        frames: Option<u64>,
        /// One JSON object per frame.
        #[arg(long)]
        json: bool,
        /// Tag a consumer idle this long: `claimable` while it holds entries (set it to the
        /// consumers' --claim-idle), `idle` without.
        #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
        claim_idle: Duration,
    },
    /// A field over a time range as a terminal chart, downsampled to the terminal width.
    Chart {
        /// Stream name (after --prefix).
        stream: String,
        /// Numeric field to draw [default: temperature where the entries have one, else the
        /// first numeric field].
        #[arg(long)]
        field: Option<String>,
        /// First entry: an ID, milliseconds or an ISO 8601 UTC time [default: the start].
        #[arg(long, value_parser = parse_bound, value_name = "ID|MS|TIME")]
        from: Option<Bound>,
        /// Last entry: an ID, milliseconds or an ISO 8601 UTC time [default: the end].
        #[arg(long, value_parser = parse_bound, value_name = "ID|MS|TIME")]
        to: Option<Bound>,
        /// Width in characters [default: the terminal's, or 80].
        #[arg(long, value_parser = clap::value_parser!(u16).range(20..))]
        width: Option<u16>,
        /// Height of the plot in rows.
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(2..=200))]
        height: u16,
        /// The downsampled points as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// A live page for a browser (a projector in a demo): per stream its length, newest reading,
    /// temperature chart, group lag and pending, and per consumer its rate, pending count and
    /// idle time; plus /events (the frames as Server-Sent Events) and /metrics (Prometheus).
    /// Read-only; until Ctrl-C.
    Serve {
        /// Stream names (after --prefix), e.g. chennai coimbatore.
        #[arg(required = true, num_args = 1..)]
        streams: Vec<String>,
        /// Where to listen: HOST:PORT, or a bare port on 127.0.0.1 (anything reachable from
        /// elsewhere, e.g. 0.0.0.0:8080, must be asked for).
        #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_listen, value_name = "ADDR")]
        listen: SocketAddr,
        /// Consumer group shown.
        #[arg(long, default_value = "mygroup")]
        group: String,
        /// A consumer idle longer than this with entries pending is marked: they can be claimed
        /// (set it to the consumers' --claim-idle).
        #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
        claim_idle: Duration,
        /// Time between samples (and frames sent to the browsers).
        #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
        interval: Duration,
        /// Numeric field charted [default: temperature where the entries have one, else the
        /// first numeric field].
        #[arg(long)]
        field: Option<String>,
    },
    /// Where it is connected: each master's address, server and replication offset, and its
    /// replicas with how far each lags (INFO replication); every master of a cluster. With
    /// --interval, again every interval, riding out a failover (for a demo).
    Server {
        /// Show it again every DUR [default: once].
        #[arg(long, value_parser = parse_duration, value_name = "DUR")]
        interval: Option<Duration>,
        /// Stop after N frames (with --interval) [default: until Ctrl-C].
        #[arg(long, value_name = "N", requires = "interval", value_parser = clap::value_parser!(u64).range(1..))]
        frames: Option<u64>,
        /// One JSON object per frame: time, nodes (address, server, role, offset, replicas).
        #[arg(long)]
        json: bool,
    },
    /// Memory a stream takes (MEMORY USAGE) and the server's used_memory, next to the original
    /// demo's 2.3 MB for 86,400 entries.
    Memory {
        /// Stream names (after --prefix).
        #[arg(required = true, num_args = 1..)]
        streams: Vec<String>,
        /// One JSON object: streams, used_memory, original.
        #[arg(long)]
        json: bool,
    },
}

impl InspectArgs {
    /// The clap command, with `--redis-url`, `--prefix` and `--cluster` accepted before or after
    /// the subcommand, and `--generate` after it too (`inspect range --generate man` prints the
    /// page `inspect.1` names as inspect-range(1)).
    pub fn command_line() -> clap::Command {
        Self::command()
            .mut_arg("redis_url", |a| a.global(true))
            .mut_arg("prefix", |a| a.global(true))
            .mut_arg("cluster", |a| a.global(true))
            .mut_arg("generate", |a| a.global(true))
            .subcommand_required(true)
            // `inspect range --help` instead: a `help` subcommand would be a man page, too.
            .disable_help_subcommand(true)
    }

    /// Parses the process's arguments: what `--generate` asks for, or the run; on a usage error
    /// (a missing subcommand included, unless --generate is given) prints it and exits 2.
    pub fn parse_args() -> Invocation {
        let matches = super::get_matches(Self::command_line());
        if let Some(&kind) = matches.get_one::<Generate>("generate") {
            // A subcommand has a page of its own; completions are the whole binary's.
            let sub = matches.subcommand_name().filter(|_| kind == Generate::Man);
            return Invocation::Generate(kind, Box::new(Self::page(sub)));
        }
        Invocation::Run(Box::new(Self::from_matches(matches)))
    }

    /// The command line a man page or a completion describes: `inspect` itself, or one of its
    /// subcommands as `inspect-SUB` (the name `inspect.1` refers to it by).
    pub fn page(subcommand: Option<&str>) -> clap::Command {
        let mut cmd = Self::command_line();
        cmd.build();
        let sub = subcommand
            .and_then(|name| cmd.find_subcommand(name))
            .cloned();
        match sub {
            // Built, a subcommand knows its display name (`inspect-range`) and usage
            // (`inspect range`); the version is the binary's.
            Some(sub) => sub.version(env!("CARGO_PKG_VERSION")),
            None => cmd,
        }
    }

    /// The subcommands' names, in the order `inspect --help` lists them (each has a man page).
    pub fn subcommands() -> Vec<String> {
        Self::command_line()
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .collect()
    }

    /// Parses `args` (the first being the program name).
    pub fn try_parse_args_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command_line().try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }

    fn from_matches(matches: ArgMatches) -> Self {
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The validated request; `terminal` says whether stdout is a terminal (then `watch` redraws
    /// in place and `chart` fits the terminal's width).
    ///
    /// Parsing made sure there is a subcommand unless `--generate` was given; without one this
    /// answers `None`.
    pub fn request(&self, terminal: bool) -> Option<Request> {
        let key = |name: &str| match self.no_prefix {
            true => name.to_string(),
            false => self.connection.key(name),
        };
        Some(match self.command.as_ref()? {
            Command::Range {
                stream,
                from,
                to,
                count,
                rev,
                json,
                csv,
                template,
            } => Request::Range(range::Range {
                key: key(stream),
                from: from.unwrap_or(Bound::Open),
                to: to.unwrap_or(Bound::Open),
                count: *count,
                rev: *rev,
                json: *json,
                csv: *csv,
                template: template.clone(),
            }),
            Command::Tail {
                streams,
                from,
                count,
                json,
                template,
            } => Request::Tail(tail::Tail {
                keys: streams.iter().map(|s| key(s)).collect(),
                start: *from,
                count: *count,
                json: *json,
                template: template.clone(),
            }),
            Command::Pending {
                stream,
                group,
                count,
                json,
            } => Request::Pending(pending::Pending {
                key: key(stream),
                group: group.clone(),
                count: *count,
                json: *json,
            }),
            Command::Groups { stream, json } => Request::Groups(groups::Groups {
                key: key(stream),
                json: *json,
            }),
            Command::Watch {
                stream,
                group,
                interval,
                frames,
                json,
                claim_idle,
            } => Request::Watch(watch::Watch {
                key: key(stream),
                group: group.clone(),
                interval: (*interval).max(Duration::from_millis(100)),
                frames: *frames,
                json: *json,
                ansi: terminal,
                claim_idle: *claim_idle,
            }),
            Command::Chart {
                stream,
                field,
                from,
                to,
                width,
                height,
                json,
            } => {
                let width = width
                    .map(usize::from)
                    .unwrap_or_else(|| terminal_width(terminal).unwrap_or(DEFAULT_WIDTH));
                Request::Chart(chart::Chart {
                    key: key(stream),
                    field: field.clone(),
                    from: from.unwrap_or(Bound::Open),
                    to: to.unwrap_or(Bound::Open),
                    width,
                    height: usize::from(*height),
                    json: *json,
                })
            }
            Command::Serve {
                streams,
                listen,
                group,
                claim_idle,
                interval,
                field,
            } => Request::Serve(serve::Serve {
                keys: streams.iter().map(|s| key(s)).collect(),
                group: group.clone(),
                listen: *listen,
                claim_idle: *claim_idle,
                interval: (*interval).max(Duration::from_millis(100)),
                field: field.clone(),
            }),
            Command::Server {
                interval,
                frames,
                json,
            } => Request::Server(server::Server {
                interval: interval.map(|i| i.max(Duration::from_millis(100))),
                frames: *frames,
                json: *json,
            }),
            Command::Memory { streams, json } => Request::Memory(memory::Memory {
                keys: streams.iter().map(|s| key(s)).collect(),
                json: *json,
            }),
        })
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// The terminal's width in columns, when stdout is one.
fn terminal_width(terminal: bool) -> Option<usize> {
    if !terminal {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_rows, columns)| usize::from(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> InspectArgs {
        InspectArgs::try_parse_args_from(std::iter::once("inspect").chain(args.iter().copied()))
            .unwrap()
    }

    /// clap's own consistency checks pass.
    #[test]
    fn command_is_consistent() {
        InspectArgs::command_line().debug_assert();
    }

    /// Connection options work before and after the subcommand, and the prefix reaches every
    /// stream name.
    #[test]
    fn prefix_applies_everywhere() {
        for args in [
            &["--prefix", "t-", "tail", "chennai", "coimbatore"][..],
            &["tail", "chennai", "coimbatore", "--prefix", "t-"][..],
        ] {
            let Some(Request::Tail(tail)) = parse(args).request(false) else {
                panic!("not a tail");
            };
            assert_eq!(tail.keys, ["t-chennai", "t-coimbatore"]);
            assert_eq!(tail.start, Start::New);
        }
        let args = parse(&["range", "chennai", "--redis-url", "redis://127.0.0.1:7777"]);
        assert_eq!(args.connection.redis_url, "redis://127.0.0.1:7777");
        assert!(!args.connection.cluster);
        assert!(parse(&["--cluster", "range", "chennai"]).connection.cluster);
        assert!(
            parse(&["memory", "chennai", "--cluster"])
                .connection
                .cluster
        );
    }

    /// `--from` takes times, and the chart is 80 wide off a terminal.
    #[test]
    fn defaults_and_bounds() {
        let Some(Request::Range(range)) = parse(&[
            "range",
            "chennai",
            "--from",
            "2018-08-15T12:00:00Z",
            "--rev",
        ])
        .request(false) else {
            panic!("not a range");
        };
        assert_eq!(range.from, Bound::Ms(1534334400000));
        assert_eq!(range.to, Bound::Open);
        assert!(range.rev);
        let Some(Request::Chart(chart)) = parse(&["chart", "chennai"]).request(false) else {
            panic!("not a chart");
        };
        assert_eq!((chart.width, chart.field.as_deref()), (80, None));
        assert!(
            InspectArgs::try_parse_args_from(["inspect", "range", "chennai", "--from", "noon"])
                .is_err()
        );
    }
}
