//! `consumer NAME --redrive --exec CMD` (or `--pipe CMD`): the dead letters of each stream
//! handed to the handler once more, each as the original message the handler would have seen; a dead letter whose run
//! succeeds is deleted, one that fails again is replaced by one with the new reason.
//!
//! ```text
//! XRANGE chennai:dead - <its last ID at the start>        page by page
//! sh -c CMD < {"stream":"chennai","id":"1534...-0","fields":{...},...}
//! exit 0:  XDEL chennai:dead <dead letter ID>
//! else:    XADD chennai:dead * ... reason <new reason> stderr ...; XDEL chennai:dead <old ID>
//! ```

use std::io::Write;
use std::sync::Arc;

use super::handler;
use super::poison::dead_letter_fields;
use super::{Exec, Settings};
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::server::queries::{self, Direction};
use crate::server::{Link, Target};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Dead letters handed to the handler.
    pub handed: u64,
    /// Of those, the ones whose run succeeded (deleted from the dead letters).
    pub succeeded: u64,
    /// Of those, the ones that failed again (kept, with the new reason).
    pub failed: u64,
    /// Entries of the dead-letter stream that are no dead letters of ours (left alone).
    pub foreign: u64,
}

impl Redriven {
    /// The one line printed on stderr at the end.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: redrove {} dead letters: {} handled and deleted, {} failed again and kept \
             with their new reason, {} entries that are not dead letters left alone",
            self.handed, self.succeeded, self.failed, self.foreign
        )
    }
}

/// Hands the dead letters of every stream of `settings` to its handler once; stops
/// between dead letters when a stop is asked for.
pub fn run<W: Write>(
    target: &Target,
    settings: &Settings,
    shutdown: &Shutdown,
    out: &mut W,
) -> Result<Redriven> {
    if settings.exec.is_none() && settings.pipe.is_none() {
        return Err(Error::Usage(String::from(
            "--redrive needs a handler: --exec CMD or --pipe CMD",
        )));
    }
    let mut pipe_process = None;
    let mut done = Redriven::default();
    for stream in &settings.streams {
        let key = settings
            .dead_letter
            .clone()
            .unwrap_or_else(|| format!("{stream}:dead"));
        let mut link = Link::open(target, &key, settings.retry_for)?;
        link.stop_on(shutdown);
        // Only what is there now: the replacements written below come after it.
        let Some(end) = queries::newest_entry(&mut link, &key)? else {
            continue;
        };
        let end = end.to_string();
        let mut letters = Vec::new();
        queries::range_pages(
            &mut link,
            &key,
            ("-", &end),
            Direction::Forward,
            1000,
            None,
            |page| {
                letters.extend(page);
                Ok(true)
            },
        )?;
        for letter in letters {
            if shutdown.is_requested() {
                return Ok(done);
            }
            let Some(original) = original_of(&letter) else {
                done.foreign += 1;
                continue;
            };
            done.handed += 1;
            let (failure, stderr) = match (&settings.exec, &settings.pipe) {
                (Some(exec), _) => {
                    let run = hand_over(exec, settings, &original)?;
                    out.write_all(&run.stdout)?;
                    let _ = std::io::stderr().write_all(&run.stderr);
                    let failure = (!run.outcome.is_done()).then(|| run.outcome.reason());
                    (failure, run.stderr_tail().to_vec())
                }
                (None, Some(pipe)) => {
                    let mut line = Vec::with_capacity(256);
                    match settings.json {
                        true => message::write_json(&mut line, &settings.name, &original),
                        false => message::write_line(&mut line, &settings.name, &original),
                    }
                    let said = super::pipe::ask_once(
                        &mut pipe_process,
                        pipe,
                        &line,
                        (&original.stream, original.id),
                        out,
                    )?;
                    (said.err(), Vec::new())
                }
                (None, None) => (None, Vec::new()),
            };
            out.flush()?;
            if let Some(reason) = failure {
                done.failed += 1;
                let mut cmd = redis::cmd("XADD");
                cmd.arg(&key).arg("*");
                for (name, value) in dead_letter_fields(&original, &reason, &settings.name) {
                    cmd.arg(name).arg(value);
                }
                if !stderr.is_empty() {
                    cmd.arg("stderr").arg(stderr);
                }
                link.call(&format!("XADD {key}"), |con| cmd.query::<redis::Value>(con))?;
            } else {
                done.succeeded += 1;
            }
            let id = letter.id.to_string();
            link.call(&format!("XDEL {key}"), |con| {
                redis::cmd("XDEL").arg(&key).arg(&id).query::<i64>(con)
            })?;
        }
    }
    Ok(done)
}

/// Runs the handler for one original message.
fn hand_over(exec: &Exec, settings: &Settings, original: &Message) -> Result<handler::Run> {
    let mut input = Vec::with_capacity(256);
    message::write_json(&mut input, &settings.name, original);
    let env = handler::environment(original, &settings.name, &settings.group);
    handler::run(&exec.command, &input, &env, exec.timeout)
        .map_err(|e| Error::Usage(format!("cannot start --exec {}: {e}", exec.command)))
}

/// The message a dead letter stands for: its `stream`, `id`, `deliveries` and the `field:`
/// fields; `None` for an entry that is not one of our dead letters.
fn original_of(letter: &Message) -> Option<Message> {
    let text = |name: &str| std::str::from_utf8(letter.field(name)?).ok();
    let stream: Arc<str> = Arc::from(text("stream")?);
    let id: StreamId = text("id")?.parse().ok()?;
    let deliveries = text("deliveries").and_then(|d| d.parse().ok()).unwrap_or(1);
    let fields = letter
        .fields
        .iter()
        .flatten()
        .filter_map(|(name, value)| {
            let name = name.strip_prefix(b"field:")?;
            Some((name.to_vec(), value.clone()))
        })
        .collect();
    Some(Message {
        stream,
        id,
        fields: Some(fields),
        deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead letter gives back the original stream, ID, deliveries and fields in order.
    #[test]
    fn reads_the_original_back() {
        let original = Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1534291200000, 0),
            fields: Some(vec![
                (b"sensor".to_vec(), b"1".to_vec()),
                (b"temperature".to_vec(), b"hot".to_vec()),
            ]),
            deliveries: 5,
        };
        let letter = Message {
            stream: Arc::from("chennai:dead"),
            id: StreamId::new(9, 0),
            fields: Some(dead_letter_fields(&original, "bad", "alice")),
            deliveries: 1,
        };
        assert_eq!(original_of(&letter), Some(original));
        let foreign = Message {
            fields: Some(vec![(b"x".to_vec(), b"1".to_vec())]),
            ..letter
        };
        assert_eq!(original_of(&foreign), None);
    }
}
