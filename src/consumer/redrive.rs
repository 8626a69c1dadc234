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
use super::handler_pool;
use super::pipe::{ask_once, finish};
use super::poison::dead_letter_fields;
use super::{Exec, Handler, Settings};
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::server::Target;
use crate::server::dead::DeadLetters;
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

/// Hands the dead letters of every stream of `settings` to `handler` once; stops between dead
/// letters when a stop is asked for. A `--pipe` handler is closed at the end, and everything it
/// printed is passed on.
pub fn run<W: Write>(
    target: &Target,
    settings: &Settings,
    handler: &Handler,
    shutdown: &Shutdown,
    mut out: W,
) -> Result<Redriven> {
    let mut pipe_process = None;
    let mut dead = DeadLetters::new(target, settings.retry_for);
    dead.watch(shutdown, None);
    dead.wait_for(settings.wait);
    let mut done = Redriven::default();
    let outcome = redrive_all(
        settings,
        handler,
        shutdown,
        (&mut dead, &mut pipe_process),
        &mut out,
        &mut done,
    );
    if let (Handler::Pipe(pipe), Some(process)) = (handler, pipe_process.take()) {
        finish(process, pipe.timeout, &mut out)?;
    }
    out.flush()?;
    outcome.map(|()| done)
}

/// The dead letters of every stream, one after another.
fn redrive_all<W: Write>(
    settings: &Settings,
    handler: &Handler,
    shutdown: &Shutdown,
    (dead, pipe_process): (&mut DeadLetters, &mut Option<super::pipe::PipeProcess>),
    out: &mut W,
    done: &mut Redriven,
) -> Result<()> {
    for stream in &settings.streams {
        let key = settings.dead_letter_key(stream);
        let mut letters = Vec::new();
        dead.read_all(&key, |page| {
            letters.extend(page.to_messages());
            Ok(true)
        })?;
        for letter in letters {
            if shutdown.is_requested() {
                return Ok(());
            }
            let Some(original) = original_of(&letter) else {
                done.foreign += 1;
                continue;
            };
            done.handed += 1;
            let (failure, stderr) = match handler {
                Handler::Exec(exec) => {
                    let mut run = hand_over(exec, settings, &original)?;
                    run.pass_on(&mut *out, || {
                        format!(
                            "{}: {} {}",
                            settings.name,
                            message::word(&original.stream),
                            original.id
                        )
                    })?;
                    let failure = (!run.ended.is_done()).then(|| run.ended.reason());
                    (failure, run.stderr_tail().to_vec())
                }
                Handler::Pipe(pipe) => {
                    let mut line = Vec::with_capacity(256);
                    match settings.json {
                        true => message::write_json(&mut line, &settings.name, &original.entry()),
                        false => message::write_line(&mut line, &settings.name, &original.entry()),
                    }
                    let origin = (&*original.stream, original.id);
                    let said = ask_once(pipe_process, pipe, &line, origin, &mut *out)?;
                    (said.err(), Vec::new())
                }
            };
            out.flush()?;
            if let Some(reason) = failure {
                done.failed += 1;
                let mut fields = dead_letter_fields(&original.entry(), &reason, &settings.name);
                if !stderr.is_empty() {
                    fields.push((b"stderr".to_vec(), stderr));
                }
                dead.write(&key, &fields, (&original.stream, original.id))?;
            } else {
                done.succeeded += 1;
            }
            dead.delete(&key, &[letter.id])?;
        }
    }
    Ok(())
}

/// Runs the handler for one original message.
fn hand_over(exec: &Exec, settings: &Settings, original: &Message) -> Result<handler::Run> {
    let mut input = Vec::with_capacity(256);
    message::write_json(&mut input, &settings.name, &original.entry());
    let env = handler::environment(&original.entry(), &settings.name, &settings.group);
    handler_pool::run(&exec.command, input, &env, exec.timeout)
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
        .entry()
        .fields
        .iter()
        .flat_map(|f| f.iter())
        .filter_map(|(name, value)| Some((name.strip_prefix(b"field:")?, value)))
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
            fields: Some(
                [("sensor", "1"), ("temperature", "hot")]
                    .into_iter()
                    .collect(),
            ),
            deliveries: 5,
        };
        let letter = Message {
            stream: Arc::from("chennai:dead"),
            id: StreamId::new(9, 0),
            fields: Some(
                dead_letter_fields(&original.entry(), "bad", "alice")
                    .into_iter()
                    .collect(),
            ),
            deliveries: 1,
        };
        assert_eq!(original_of(&letter), Some(original));
        let foreign = Message {
            fields: Some([("x", "1")].into_iter().collect()),
            ..letter
        };
        assert_eq!(original_of(&foreign), None);
    }
}
