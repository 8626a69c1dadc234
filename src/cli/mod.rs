//! The binaries' command lines (clap), and their conversion into validated settings; nothing
//! downstream of this module sees clap types.
//!
//! - this module: what every binary shares (the connection, durations, names, cities);
//! - [`producer`]: `producer`'s command line, into one [`crate::producer::CityRun`] per city;
//! - [`consumer`]: `consumer`'s command line, into [`crate::consumer::Settings`] and one
//!   [`crate::consumer::Job`];
//! - [`inspect`]: `inspect`'s command line, into one [`crate::inspect::Request`];
//! - [`man_and_completions`]: `--generate`: man pages and shell completions.

pub mod consumer;
pub mod inspect;
pub mod man_and_completions;
pub mod producer;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args};

use crate::error::{Error, Result};
use crate::server::{Target, TlsFiles};

pub use consumer::ConsumerArgs;
pub use producer::ProducerArgs;

/// The options whose value may come from the environment as a plain string: (id, variable).
const FROM_ENVIRONMENT: [(&str, &str); 2] =
    [("redis_url", "REDIS_URL"), ("prefix", "MONSOON_PREFIX")];

/// Parses the process's command line with `cmd`: every binary's one way in.
/// - `--generate KIND` needs nothing else (see `man_and_completions::relaxed`).
/// - A value from the environment (REDIS_URL, MONSOON_PREFIX) counts as a default, not as
///   typed: clap would print `--redis-url <REDIS_URL>` in the usage line of an unrelated
///   mistake, as if the user had typed it. `--help` still says which variable an option reads.
pub fn get_matches(cmd: clap::Command) -> ArgMatches {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cmd = match man_and_completions::asks_to_generate(&args) {
        true => man_and_completions::relaxed(cmd),
        false => cmd,
    };
    let asks_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help");
    let cmd = match asks_help {
        true => cmd,
        false => environment_as_defaults(cmd, |name| std::env::var_os(name)),
    };
    cmd.get_matches_from(args)
}

/// `cmd` with each variable of [`FROM_ENVIRONMENT`] that `lookup` finds (and is not empty) as its
/// option's default, hidden (it may hold a password), instead of clap's own `env`.
fn environment_as_defaults(
    cmd: clap::Command,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> clap::Command {
    FROM_ENVIRONMENT.iter().fold(cmd, |cmd, (id, variable)| {
        let known = cmd.get_arguments().any(|arg| arg.get_id() == id);
        match lookup(variable).filter(|value| known && !value.is_empty()) {
            // Parsing happens once per process: the leak is one string.
            Some(value) => {
                let value: &'static OsStr = Box::leak(value.into_boxed_os_str());
                cmd.mut_arg(*id, |arg| {
                    arg.env(None).default_value(value).hide_default_value(true)
                })
            }
            None => cmd,
        }
    })
}

/// Options every binary shares: where Redis is, and the prefix of every key.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Redis server URL: redis://[user:password@]host[:port][/db] (rediss:// for TLS; with
    /// --cluster, several seeds: redis://host:port,host:port), or a master found through Redis
    /// Sentinel: redis+sentinel://[user:password@]host[:port][,host:port...]/MASTER[/db]
    /// (rediss+sentinel:// for TLS; ?sentinel_user=U&sentinel_password=P to log in to the
    /// sentinels). The password is never printed.
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

    /// How long a reply may take (a write may stall at most 10 s of it) before the connection
    /// counts as broken and is re-established within --retry-for; a blocking read may take its
    /// BLOCK and up to 10 s of this more. Lower it to notice a silent network sooner.
    #[arg(long, env = "MONSOON_TIMEOUT", value_name = "DUR", default_value = "30s",
          value_parser = parse_timeout)]
    pub timeout: Duration,
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
        let target = Target::with_tls(&self.redis_url, &tls)?
            .in_cluster(self.cluster)
            .with_timeout(self.timeout);
        match (target.is_sentinel(), self.cluster) {
            (true, true) => {
                return Err(Error::Usage(String::from(
                    "--cluster and a redis+sentinel:// --redis-url do not go together: a \
                     cluster has no sentinels (give its nodes as redis://host:port,host:port)",
                )));
            }
            (false, false) if target.hosts() > 1 => {
                return Err(Error::Usage(String::from(
                    "--redis-url names several hosts: pass --cluster for seeds of a Redis \
                     Cluster, or use redis+sentinel://host:port,host:port/MASTER for sentinels",
                )));
            }
            _ => {}
        }
        if self.tls_insecure {
            eprintln!(
                "warning: --tls-insecure: the server's certificate is not verified; anyone in between can read and change the traffic"
            );
        }
        Ok(target)
    }

    /// `--wait-replicas N` with `--wait-timeout`, checked against `--timeout`: a WAIT blocks
    /// its timeout, and a reply that takes `--timeout` counts as a broken connection.
    pub fn replicas(
        &self,
        wanted: Option<u64>,
        timeout: Duration,
    ) -> Result<Option<crate::server::replicas::Replicas>> {
        let Some(wanted) = wanted else {
            return Ok(None);
        };
        if timeout >= self.timeout {
            return Err(Error::Usage(format!(
                "invalid value for --wait-timeout: {} must stay below --timeout {}, or a WAIT \
                 would count as a broken connection",
                humantime::format_duration(timeout),
                humantime::format_duration(self.timeout)
            )));
        }
        Ok(Some(crate::server::replicas::Replicas { wanted, timeout }))
    }

    /// The stream key of a city (or any stream name given on the command line).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The streams a command names, as (name, key): each `--city` (and `--cities-from` line) as
    /// PREFIX + city, then each `--stream` (and `--streams-from` line) exactly as given; chennai
    /// when none is named; each key once. The name seeds a simulated day.
    pub fn streams(
        &self,
        (cities, cities_from): (&[String], Option<&std::path::Path>),
        (streams, streams_from): (&[String], Option<&std::path::Path>),
    ) -> Result<Vec<(String, String)>> {
        let cities = names(cities, cities_from, ("--cities-from", "city"))?;
        let exact = names(streams, streams_from, ("--streams-from", "stream"))?;
        let mut named: Vec<(String, String)> = cities
            .into_iter()
            .map(|city| (city.clone(), self.key(&city)))
            .chain(exact.into_iter().map(|key| (key.clone(), key)))
            .collect();
        if named.is_empty() {
            named.push((String::from("chennai"), self.key("chennai")));
        }
        let mut seen = std::collections::HashSet::new();
        named.retain(|(_, key)| seen.insert(key.clone()));
        Ok(named)
    }
}

/// `--wait-timeout`: at least 1ms (`WAIT N 0` would block for ever), whole milliseconds.
fn parse_wait_timeout(text: &str) -> std::result::Result<Duration, String> {
    match parse_duration(text)? {
        wait if wait >= Duration::from_millis(1) && wait.subsec_nanos() % 1_000_000 == 0 => {
            Ok(wait)
        }
        _ => Err(String::from(
            "must be whole milliseconds, at least 1ms (WAIT 0 would block for ever)",
        )),
    }
}

/// `--timeout`: a duration above zero (a zero socket timeout would mean none).
fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(String::from("must be above 0 (e.g. 5s)")),
        timeout => Ok(timeout),
    }
}

/// `--color WHEN`: auto, always or never.
pub fn parse_color(text: &str) -> std::result::Result<crate::color::When, String> {
    crate::color::When::parse(text)
        .ok_or_else(|| format!("use one of {}", crate::color::When::WORDS.join(", ")))
}

/// A duration such as `0`, `250ms`, `1s`, `1m30s`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (use e.g. 0, 250ms, 1s, 2m)"))
}

/// The names given on the command line, then those of `from` (one per line, blank lines and `#`
/// comments skipped); a file that names none is a usage error naming `flag` and what it lists.
fn names(
    given: &[String],
    from: Option<&std::path::Path>,
    (flag, what): (&str, &str),
) -> Result<Vec<String>> {
    let mut names: Vec<String> = given.to_vec();
    if let Some(path) = from {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!(
                "invalid value for {flag}: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let before = names.len();
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string),
        );
        if names.len() == before {
            return Err(Error::Usage(format!(
                "invalid value for {flag}: {} names no {what}",
                path.display()
            )));
        }
    }
    Ok(names)
}

/// A name used in a key: not empty.
fn parse_name(text: &str) -> std::result::Result<String, String> {
    if text.trim().is_empty() {
        return Err(String::from("must not be empty"));
    }
    Ok(text.to_string())
}
