//! The hot path: new messages read on the link's plain connection, the replies read straight
//! from the bytes (`server::resp`), no generic value tree. With `--delay 0` and no handler, the
//! XACK of what was printed rides in the next read's write, and while a batch is printed the
//! next one is already asked for (without BLOCK), so the server never waits for our printing.
//!
//! ```text
//! XREADGROUP ... COUNT 500 BLOCK 1000 STREAMS chennai >        batch 1
//! XREADGROUP ... COUNT 500 STREAMS chennai >                   batch 2, asked before 1 is printed
//! XACK chennai mygroup <batch 1>; XREADGROUP ... STREAMS chennai >   batch 3, after 2 arrived
//! ```
//!
//! A message is acknowledged only after it was printed: an XACK goes out with a read sent after
//! its batch was written. What a read in flight brings is processed before anything that must
//! see the pending list as it is (claims, `--idle-exit`, recovery, a stop).

use std::io::Write;
use std::time::Duration;

use super::{Consumer, Done, Source};
use crate::error::Result;
use crate::message::Message;
use crate::server::raw::RawError;
use crate::server::resp::{self, ReadReply, Simple};

/// A request sent on the plain connection whose replies are not read yet.
pub(super) struct InFlight {
    /// The acknowledgements it carries (its XACK commands come first).
    acks: Vec<Done>,
    /// How many XACK commands that is.
    commands: usize,
    /// How many XREADGROUPs follow them (one per hash slot on a cluster).
    reads: usize,
}

impl<W: Write> Consumer<'_, W> {
    /// New messages on the hot path; `None` when the ordinary path must serve (over TLS, or to
    /// judge an error answer).
    pub(super) fn read_fast(&mut self, block: Option<Duration>) -> Result<Option<Vec<Message>>> {
        if self.in_flight.is_none() && !self.send_read(block)? {
            return Ok(None);
        }
        let got = self.receive_read()?;
        if got.as_ref().is_some_and(|m| !m.is_empty())
            && self.defers_acks()
            && !self.shutdown.is_requested()
        {
            // Ask for the next batch now: the server works on it while this one is printed.
            self.send_read(None)?;
        }
        Ok(got)
    }

    /// Processes what a read in flight brings (it was delivered to us: it is in hand), so that
    /// the pending list is what it looks like.
    pub(super) fn settle_in_flight(&mut self) -> Result<()> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        match self.receive_read()? {
            Some(messages) if !messages.is_empty() => self.handle(messages, Source::New),
            _ => Ok(()),
        }
    }

    /// Sends the acknowledgements waiting and an XREADGROUP in one write; false when there is no
    /// plain connection (TLS).
    fn send_read(&mut self, block: Option<Duration>) -> Result<bool> {
        let settings = self.settings;
        let acks = std::mem::take(&mut self.deferred);
        let mut packed = Vec::with_capacity(64 + 24 * acks.len());
        let mut commands = 0;
        for run in acks.chunk_by(|a, b| a.0 == b.0) {
            let mut cmd = redis::cmd("XACK");
            cmd.arg(&*run[0].0).arg(&settings.group);
            for (_, id, _) in run {
                cmd.arg(id.to_string());
            }
            cmd.write_packed_command(&mut packed);
            commands += 1;
        }
        let all: Vec<usize> = (0..self.streams.len()).collect();
        let groups = self.slot_groups(&all);
        // Several reads in one write: a BLOCK on one would hold up the others.
        let block = if groups.len() > 1 { None } else { block };
        for group in &groups {
            self.xreadgroup(group, &[">"], block)
                .write_packed_command(&mut packed);
        }
        let reads = groups.len();
        let sent = match self.link.raw() {
            Ok(Some(raw)) => raw.send(&packed),
            Ok(None) => {
                self.deferred = acks;
                return Ok(false);
            }
            Err(err) => {
                self.deferred = acks;
                return Err(err);
            }
        };
        self.in_flight = Some(InFlight {
            acks,
            commands,
            reads,
        });
        if let Err(err) = sent {
            // Judged with the replies: receive_read sees the broken connection.
            self.in_flight_error = Some(err);
        }
        Ok(true)
    }

    /// Reads the replies of the request in flight: its acknowledgements, then its messages
    /// (`None`: an error answer, for the ordinary path to ask again and judge). After a break,
    /// reconnects and re-reads our own pending entries, then answers no messages.
    fn receive_read(&mut self) -> Result<Option<Vec<Message>>> {
        let Some(InFlight {
            acks,
            commands,
            reads,
        }) = self.in_flight.take()
        else {
            return Ok(Some(Vec::new()));
        };
        let settings = self.settings;
        let streams = &self.streams;
        let mut refused = None;
        let mut landed = false;
        let exchange = match (self.in_flight_error.take(), self.link.raw_if_open()) {
            (Some(err), _) => Err(RawError::Io(err)),
            (None, Some(raw)) => (|| {
                for _ in 0..commands {
                    if let Simple::Error(reason) = raw.receive(resp::simple_reply)? {
                        refused.get_or_insert(reason);
                    }
                }
                // Acknowledged now, before the read's reply (which may block for --block).
                landed = refused.is_none();
                if landed && let Some(meter) = &settings.meter {
                    for (_, _, since) in &acks {
                        meter.processed_in(since.elapsed());
                    }
                }
                // Every reply is read, errors too, so the connection stays in step.
                let mut messages = Vec::new();
                let mut answered_error = false;
                for _ in 0..reads {
                    match raw.receive(|bytes| resp::read_reply(bytes, streams))? {
                        ReadReply::Messages(more) => messages.extend(more),
                        ReadReply::Error(_) => answered_error = true,
                    }
                }
                Ok(match answered_error {
                    true => ReadReply::Error(String::new()),
                    false => ReadReply::Messages(messages),
                })
            })(),
            // The plain connection went away meanwhile (a reconnect): the request went with it.
            (None, _) => Err(RawError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the connection was re-established",
            ))),
        };
        match exchange {
            Ok(reply) => {
                self.link.settled();
                if refused.is_some() {
                    // The ordinary path asks again, and reports the refusal as it would.
                    self.ack_done(&acks)?;
                }
                match reply {
                    ReadReply::Messages(messages) => {
                        self.adapt_count(&messages);
                        Ok(Some(messages))
                    }
                    ReadReply::Error(_) => Ok(None),
                }
            }
            Err(err) => {
                if !landed {
                    // XACK is safe to repeat: what may not have landed goes again.
                    let mut again = acks;
                    again.append(&mut self.deferred);
                    self.deferred = again;
                }
                let what = format!("XREADGROUP on {}", settings.streams.join(" "));
                self.link.raw_failed(&what, err)?;
                // A reply lost with the connection left its entries pending on us, unseen.
                self.recover_pending()?;
                Ok(Some(Vec::new()))
            }
        }
    }
}
