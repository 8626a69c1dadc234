//! The producer's pipelined write window: batches of XADDs (each maybe ending with a retention
//! trim) sent ahead of the replies still due, so the server never waits for our encoding; the
//! replies settled in order, batch by batch. One window serves a day, a file's import and the
//! live ticks.
//!
//! ```text
//! XADD chennai 1534291200000-0 ... x 1000, EVAL <trim>     batch 1 sent
//! XADD chennai 1534291201000-0 ... x 1000, EVAL <trim>     batch 2 sent before 1 is settled
//! <1000 IDs> <trim reply>                                  batch 1 settled: 1000 written
//! ```
//!
//! An XADD that names its ID is answered with that ID, byte for byte the bulk string it sent:
//! such replies are matched against the batch's own bytes, not decoded; anything else (a
//! refusal, a reply that has not fully arrived) is read as any reply.
//!
//! After a break the batches in flight are in doubt: the window rides the break out and says so
//! ([`Landed::Broke`]); the writer then asks the stream where it ends and either drops what the
//! stream holds and sends the rest again ([`Window::keep_after`], [`Window::resend`]) or starts
//! over from there ([`Window::clear`]). A batch with server-assigned IDs is never resent (it
//! would write twice).
//!
//! With `--wait-replicas` each batch ends with `WAIT N TIMEOUT` ([`Window::waiting_for`]): its
//! answer, read last, says how many replicas have every write of the connection up to there.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use super::fault::{self, Failure, Fault};
use super::link::Link;
use super::replicas::{self, Replicas};
use super::resp::{BadReply, Reply, ServerError};
use super::retention;
use super::xadd::XaddEncoder;
use crate::error::{Error, Result};
use crate::reading::Reading;
use crate::stream_id::StreamId;

/// The part of a batch that writes one stream: its XADDs, then its trims.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The stream key.
    pub key: Arc<str>,
    /// XADDs in the segment.
    pub entries: usize,
    /// Retention trims after them (0 or 1).
    pub trims: usize,
}

/// A batch of writes: the encoded commands and what they are.
#[derive(Debug, Default)]
pub struct Outgoing {
    commands: Vec<u8>,
    /// Each exact-ID entry's ID and where its XADD starts in `commands` (empty for `*` IDs).
    ids: Vec<StreamId>,
    starts: Vec<usize>,
    /// Each XADD's expected reply, as a range of `commands`: its ID argument, which an XADD
    /// that names its ID answers with, byte for byte (empty for `*` IDs).
    echoes: Vec<Range<usize>>,
    segments: Vec<Segment>,
}

impl Outgoing {
    /// An empty batch.
    pub fn new() -> Self {
        Outgoing::default()
    }

    /// Empties the batch, keeping its buffers for the next.
    fn reset(&mut self) {
        self.commands.clear();
        self.ids.clear();
        self.starts.clear();
        self.echoes.clear();
        self.segments.clear();
    }

    /// Starts the segment of `key` (its entries and trim follow).
    pub fn begin(&mut self, key: &Arc<str>) {
        self.segments.push(Segment {
            key: Arc::clone(key),
            entries: 0,
            trims: 0,
        });
    }

    /// Appends the XADD of `reading` at `id` (`None`: a server-assigned ID).
    pub fn push_reading(&mut self, encoder: &XaddEncoder, id: Option<StreamId>, reading: &Reading) {
        self.mark(id);
        let echo = encoder.push(&mut self.commands, id, reading);
        self.echoes.push(if id.is_some() { echo } else { 0..0 });
    }

    /// Appends the XADD of `fields` at `id`.
    pub fn push_fields(
        &mut self,
        encoder: &XaddEncoder,
        id: StreamId,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) {
        self.mark(Some(id));
        let echo = encoder.push_fields(&mut self.commands, id, fields);
        self.echoes.push(echo);
    }

    /// Appends the retention trim (packed once by its [`retention`] command).
    pub fn push_trim(&mut self, trim: &[u8]) {
        self.commands.extend_from_slice(trim);
        if let Some(segment) = self.segments.last_mut() {
            segment.trims += 1;
        }
    }

    /// Counts an XADD in the open segment, and notes its ID and start.
    fn mark(&mut self, id: Option<StreamId>) {
        if let Some(id) = id {
            self.ids.push(id);
            self.starts.push(self.commands.len());
        }
        if let Some(segment) = self.segments.last_mut() {
            segment.entries += 1;
        }
    }

    /// XADDs in the batch.
    pub fn entries(&self) -> usize {
        self.segments.iter().map(|s| s.entries).sum()
    }

    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries() == 0
    }

    /// The IDs of its exact-ID entries.
    pub fn ids(&self) -> &[StreamId] {
        &self.ids
    }

    /// Keeps only the entries after `last` (one exact-ID segment): the others are in the stream
    /// already. A batch left without entries loses its trim too.
    fn keep_after(&mut self, last: StreamId) {
        let first = self.ids.partition_point(|id| *id <= last);
        if first == 0 {
            return;
        }
        let cut = self.starts.get(first).copied();
        match cut {
            Some(cut) => {
                self.commands.drain(..cut);
                for start in &mut self.starts {
                    *start = start.saturating_sub(cut);
                }
                for echo in &mut self.echoes {
                    *echo = echo.start.saturating_sub(cut)..echo.end.saturating_sub(cut);
                }
            }
            None => self.commands.clear(),
        }
        self.ids.drain(..first);
        self.starts.drain(..first);
        self.echoes.drain(..first.min(self.echoes.len()));
        if let Some(segment) = self.segments.first_mut() {
            segment.entries = self.ids.len();
            if segment.entries == 0 {
                segment.trims = 0;
            }
        }
    }
}

/// What one segment's replies said.
#[derive(Debug)]
pub struct Settled {
    /// The stream key.
    pub key: Arc<str>,
    /// XADDs the server took.
    pub written: u64,
    /// Whether an XADD was refused because another writer had taken the stream past its ID.
    pub taken: bool,
    /// The first other refusal of an XADD, as the error to report.
    pub refused: Option<Error>,
    /// The trims' replies (an error answer as the error to report).
    pub trims: Vec<Result<Reply>>,
}

/// How settling a batch went.
#[derive(Debug)]
pub enum Landed {
    /// Its replies, segment by segment, and with `--wait-replicas` what its WAIT said: how many
    /// replicas have every write of this connection up to the batch's end.
    Settled(Vec<Settled>, Option<u64>),
    /// The connection broke and was re-established: every batch in flight is in doubt.
    Broke,
}

/// Batches sent and not settled yet, at most `depth` of them.
pub struct Window {
    depth: usize,
    in_flight: VecDeque<Outgoing>,
    /// `WAIT N TIMEOUT`, packed, sent after each batch (`--wait-replicas`).
    wait: Option<Vec<u8>>,
    /// The last batch settled, whose buffers the next batch reuses: a batch's commands grow to
    /// about 100 kB, and growing them afresh each time copies every byte again.
    spare: Option<Outgoing>,
}

impl Window {
    /// A window of `depth` batches in flight.
    pub fn new(depth: usize) -> Self {
        Window {
            depth: depth.max(1),
            in_flight: VecDeque::with_capacity(depth + 1),
            wait: None,
            spare: None,
        }
    }

    /// An empty batch to fill and [`Window::send`], in the buffers of one settled before.
    pub fn batch(&mut self) -> Outgoing {
        let mut batch = self.spare.take().unwrap_or_default();
        batch.reset();
        batch
    }

    /// Ends every batch with a WAIT for `replicas` (none: no WAIT).
    pub fn waiting_for(mut self, replicas: Option<Replicas>) -> Self {
        self.wait = replicas.map(|r| r.command().packed());
        self
    }

    /// Whether `depth` batches are in flight: settle one before sending the next.
    pub fn is_full(&self) -> bool {
        self.in_flight.len() >= self.depth
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The batches in flight, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &Outgoing> {
        self.in_flight.iter()
    }

    /// Sends `batch` (an empty one is not sent); `false`: the connection broke and was
    /// re-established, and what is in flight is in doubt.
    pub fn send(&mut self, link: &mut Link, batch: Outgoing) -> Result<bool> {
        if batch.is_empty() {
            self.spare = Some(batch);
            return Ok(true);
        }
        let sent = Self::send_one(link, &batch, self.wait.as_deref());
        self.in_flight.push_back(batch);
        match sent {
            Ok(()) => Ok(true),
            Err(err) => self.broke(link, Fault::Io(err)).map(|()| false),
        }
    }

    /// Reads the replies of the oldest batch in flight. Every reply is read, refusals too, so
    /// the connection stays in step.
    pub fn settle_oldest(&mut self, link: &mut Link) -> Result<Landed> {
        let Some(batch) = self.in_flight.front() else {
            return Ok(Landed::Settled(Vec::new(), None));
        };
        let cluster = link.is_routed();
        let address = link.target().address().to_string();
        let mut settled = Vec::with_capacity(batch.segments.len());
        // An answer that is a break in disguise (LOADING, READONLY after a failover, a cluster
        // redirect): ridden out once every reply is read.
        let mut ride: Option<ServerError> = None;
        // The WAIT's answer, or its refusal (NOPERM) as the error to report.
        let mut waited: Option<Result<u64>> = None;
        // Each XADD's expected reply, in the order they were sent.
        let mut echoes = batch.echoes.iter();
        let outcome = (|| -> std::result::Result<(), Fault> {
            let conn = link.conn();
            for segment in &batch.segments {
                let mut one = Settled {
                    key: Arc::clone(&segment.key),
                    written: 0,
                    taken: false,
                    refused: None,
                    trims: Vec::with_capacity(segment.trims),
                };
                for _ in 0..segment.entries {
                    // The reply that is the XADD's own ID, already here, is taken without
                    // framing or decoding (most of them): anything else is read as any reply.
                    let echo = echoes.next().and_then(|at| batch.commands.get(at.clone()));
                    if let Some(echo) = echo.filter(|echo| !echo.is_empty())
                        && conn.take_reply_if(echo)
                    {
                        one.written += 1;
                        continue;
                    }
                    let bytes = conn.next_reply()?;
                    if bytes.first() != Some(&b'-') {
                        one.written += 1;
                        continue;
                    }
                    let Reply::Error(err) = Reply::parse(bytes)? else {
                        continue;
                    };
                    if fault::is_ridden_out(&err, cluster) {
                        ride.get_or_insert(err);
                        continue;
                    }
                    match fault::is_taken(&err) {
                        true => one.taken = true,
                        false if one.refused.is_none() => {
                            let what = format!("XADD {}", segment.key);
                            one.refused = Some(answer(&address, what, err, cluster));
                        }
                        false => {}
                    }
                }
                for _ in 0..segment.trims {
                    let reply = match Reply::parse(conn.next_reply()?)? {
                        Reply::Error(err) if fault::is_ridden_out(&err, cluster) => {
                            ride.get_or_insert(err);
                            continue;
                        }
                        Reply::Error(err) => {
                            let what = retention::trim_what(&segment.key);
                            Err(answer(&address, what, err, cluster))
                        }
                        reply => Ok(reply),
                    };
                    one.trims.push(reply);
                }
                settled.push(one);
            }
            if self.wait.is_some() {
                waited = match Reply::parse(conn.next_reply()?)? {
                    Reply::Error(err) if fault::is_ridden_out(&err, cluster) => {
                        ride.get_or_insert(err);
                        None
                    }
                    Reply::Error(err) => {
                        Some(Err(answer(&address, String::from("WAIT"), err, cluster)))
                    }
                    reply => match replicas::read_reply(&reply) {
                        Some(got) => Some(Ok(got)),
                        None => {
                            return Err(Fault::Garbled(BadReply("WAIT did not answer a number")));
                        }
                    },
                };
            }
            Ok(())
        })();
        match (outcome, ride) {
            (Ok(()), None) => {
                self.spare = self.in_flight.pop_front();
                link.settled();
                Ok(Landed::Settled(settled, waited.transpose()?))
            }
            (Ok(()), Some(err)) => {
                let key = settled
                    .first()
                    .map_or_else(String::new, |s| s.key.to_string());
                link.ride_out(&|| format!("XADD {key}"), Failure::Answer(err))?;
                Ok(Landed::Broke)
            }
            (Err(fault), _) => self.broke(link, fault).map(|()| Landed::Broke),
        }
    }

    /// Rides out a break (anything else is the error); what is in flight stays, in doubt.
    fn broke(&mut self, link: &mut Link, fault: Fault) -> Result<()> {
        let key = self
            .in_flight
            .front()
            .and_then(|b| b.segments.first())
            .map_or_else(String::new, |s| s.key.to_string());
        link.ride_out(&|| format!("XADD {key}"), Failure::Fault(fault))
    }

    /// Reads the replies of every batch in flight, whatever they say, so what was sent is
    /// taken by the server before an error ends the run (a connection closed with requests
    /// unread has them dropped).
    pub fn drain(&mut self, link: &mut Link) {
        while !self.in_flight.is_empty() {
            if !matches!(self.settle_oldest(link), Ok(Landed::Settled(..))) {
                break;
            }
        }
    }

    /// Forgets every batch in flight (the writer starts over from what the stream holds).
    pub fn clear(&mut self) {
        self.in_flight.clear();
    }

    /// Drops from the batches in flight what the stream holds up to `last`, and batches left
    /// empty.
    pub fn keep_after(&mut self, last: Option<StreamId>) {
        if let Some(last) = last {
            for batch in &mut self.in_flight {
                batch.keep_after(last);
            }
        }
        self.in_flight.retain(|batch| !batch.is_empty());
    }

    /// Sends every batch in flight again (after [`Window::keep_after`]); `false`: it broke again.
    pub fn resend(&mut self, link: &mut Link) -> Result<bool> {
        for index in 0..self.in_flight.len() {
            let sent = Self::send_one(link, &self.in_flight[index], self.wait.as_deref());
            if let Err(err) = sent {
                return self.broke(link, Fault::Io(err)).map(|()| false);
            }
        }
        Ok(true)
    }

    /// Writes one batch's commands, and its WAIT when there is one.
    fn send_one(link: &mut Link, batch: &Outgoing, wait: Option<&[u8]>) -> std::io::Result<()> {
        let conn = link.conn();
        conn.send(&batch.commands)?;
        match wait {
            Some(wait) => conn.send(wait),
            None => Ok(()),
        }
    }
}

/// The error an XADD or a trim was answered with.
fn answer(address: &str, what: String, err: ServerError, cluster: bool) -> Error {
    fault::error(address, what, &Failure::Answer(err), cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeping what lies after an ID drops a prefix of the entries and of their commands, and
    /// the expected replies still point at the IDs.
    #[test]
    fn keep_after_cuts_the_prefix() {
        let encoder = XaddEncoder::new("k", None);
        let key: Arc<str> = Arc::from("k");
        let mut batch = Outgoing::new();
        batch.begin(&key);
        for ms in 1..=3 {
            batch.push_fields(&encoder, StreamId::new(ms, 0), &[]);
        }
        batch.push_trim(b"TRIM");
        let mut expected = Vec::new();
        encoder.push_fields(&mut expected, StreamId::new(3, 0), &[]);
        expected.extend_from_slice(b"TRIM");
        batch.keep_after(StreamId::new(2, 0));
        assert_eq!(batch.ids(), [StreamId::new(3, 0)]);
        assert_eq!(batch.starts, vec![0]);
        let echo = batch.echoes[0].clone();
        assert_eq!(&batch.commands[echo], b"$3\r\n3-0\r\n");
        assert_eq!(batch.commands, expected);
        assert_eq!((batch.segments[0].entries, batch.segments[0].trims), (1, 1));
        batch.keep_after(StreamId::new(9, 0));
        assert!(batch.is_empty() && batch.commands.is_empty());
        assert_eq!(batch.segments[0].trims, 0);
    }

    /// A batch made from a settled one's buffers starts empty, whatever that one held.
    #[test]
    fn a_reused_batch_starts_empty() {
        let encoder = XaddEncoder::new("k", None);
        let key: Arc<str> = Arc::from("k");
        let mut settled = Outgoing::new();
        settled.begin(&key);
        settled.push_fields(&encoder, StreamId::new(1, 0), &[]);
        settled.push_trim(b"TRIM");
        let mut window = Window::new(2);
        window.spare = Some(settled);
        let batch = window.batch();
        assert!(batch.is_empty() && batch.commands.is_empty() && batch.segments.is_empty());
        assert!(batch.ids.is_empty() && batch.starts.is_empty() && batch.echoes.is_empty());
        assert!(batch.commands.capacity() > 0);
    }
}
