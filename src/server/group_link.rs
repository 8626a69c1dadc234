//! One consumer's link to its group: the consumer's door to the server. It reads (new entries,
//! or its own pending ones), acknowledges, claims and keeps in hand, each a named operation, and
//! it owns the read-ahead, so no other request can cut in between a read and its reply.
//!
//! ```text
//! XREADGROUP GROUP g alice COUNT 500 BLOCK 1000 STREAMS chennai >        batch 1
//! XREADGROUP GROUP g alice COUNT 500 STREAMS chennai >                   batch 2, asked for
//!                                                                       before 1 is printed
//! XACK chennai g <batch 1>; XREADGROUP ... STREAMS chennai >             batch 3, with the acks
//!                                                                       of what was printed
//! ```
//!
//! A read whose reply is still on its way is "in flight": its entries are delivered to us (in
//! hand) once the server has it. Any other request first reads that reply, and keeps what it
//! brought for the next read: nothing delivered is skipped, and the connection never loses step.
//! After a break the link reports it (`broke`): whatever a lost reply delivered is pending on us,
//! unseen, and the consumer re-reads its own pending list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::Batch;
use super::budget::{self, Budget};
use super::fault::{self, Failure, Fault};
use super::group;
use super::link::Link;
use super::resp::{Command, Reply, ServerError};
use super::streams::{self, next_count};
use super::target::Target;
use super::{Health, cluster};
use crate::error::Result;
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// An entry done with (processed or dead-lettered), to be acknowledged: its stream, its ID, and
/// when it was taken up (for `monsoon_consumer_processing_seconds`).
pub type Done = (Arc<str>, StreamId, Instant);

/// What is told of acknowledgements as they land.
type AckObserver = Box<dyn Fn(&[Done]) + Send>;

/// Which entries a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// New entries (`>`).
    New,
    /// Our own pending entries after these IDs (one per stream; `None`: that stream is done).
    Pending(&'a [Option<StreamId>]),
}

/// What a read brought besides its entries.
#[derive(Debug, Default)]
pub struct Read {
    /// Groups found gone and re-created: the stream, and how many of its entries come again.
    pub recreated: Vec<(Arc<str>, u64)>,
    /// The connection was re-established: what a lost reply delivered is pending, unseen.
    pub broke: bool,
}

/// A read sent whose replies are not read yet.
struct InFlight {
    /// The acknowledgements it carries (its XACK commands come first).
    acks: Vec<Done>,
    /// How many XACK commands that is.
    ack_commands: usize,
    /// The streams of each XREADGROUP that follows (one per hash slot on a cluster).
    reads: Vec<Vec<usize>>,
    /// Sending failed: its replies never come (judged when they are read).
    send_error: Option<std::io::Error>,
    /// What it took from the `--count` budget: the most it can bring.
    taken: u64,
}

/// One consumer's link to its group; see the module docs.
pub struct GroupLink {
    link: Link,
    group: String,
    consumer: String,
    streams: Vec<Arc<str>>,
    /// The streams in groups a read may name together: all off a cluster, one group per hash
    /// slot on one (a command on keys of two slots is refused, even when one node serves both).
    slots: Vec<Vec<usize>>,
    /// Where a vanished group is re-created (`--recreate-at`).
    recreate_at: String,
    /// COUNT of the next read: it starts at 1 and adapts to the entries' size.
    count: usize,
    /// The most one read may ask for.
    max_count: usize,
    in_flight: Option<InFlight>,
    /// Acknowledgements waiting to go out with the next read.
    deferred: Vec<Done>,
    /// Entries a read in flight brought while another request needed the connection.
    stash: Batch,
    /// What that read brought besides.
    stash_read: Read,
    /// Told of every acknowledgement as soon as it landed (for the processing-time metric).
    on_acked: Option<AckObserver>,
    /// `--count`: what reads may still bring, shared with the consumer's other readers.
    budget: Option<Arc<Budget>>,
}

impl GroupLink {
    /// Connects for `consumer` of `group` on `streams` (all on one node), with reads that may
    /// block up to `block`; a stop ends every wait for the server, the first connect's included.
    pub fn open(
        target: &Target,
        streams: &[String],
        (group, consumer): (&str, &str),
        block: Duration,
        (retry_for, stop): (Option<Duration>, &Shutdown),
    ) -> Result<Self> {
        let mut link = Link::open_until(target, &streams[0], retry_for, Some(stop))?;
        link.block_for(block)?;
        let streams: Vec<Arc<str>> = streams.iter().map(|s| Arc::from(s.as_str())).collect();
        let mut slots: Vec<(u16, Vec<usize>)> = Vec::new();
        for (index, key) in streams.iter().enumerate() {
            let slot = if target.is_cluster() {
                cluster::slot(key)
            } else {
                0
            };
            match slots.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, part)) => part.push(index),
                None => slots.push((slot, vec![index])),
            }
        }
        Ok(GroupLink {
            link,
            group: group.to_string(),
            consumer: consumer.to_string(),
            streams,
            slots: slots.into_iter().map(|(_, part)| part).collect(),
            recreate_at: String::from("0"),
            count: 1,
            max_count: 1,
            in_flight: None,
            deferred: Vec::new(),
            stash: Batch::new(),
            stash_read: Read::default(),
            on_acked: None,
            budget: None,
        })
    }

    /// Tells `observer` of every acknowledgement as soon as it landed, also one that rode with
    /// a read still waiting for its entries.
    pub fn on_acked(&mut self, observer: impl Fn(&[Done]) + Send + 'static) {
        self.on_acked = Some(Box::new(observer));
    }

    /// Reports breaks to `health`.
    pub fn report_to(&mut self, health: Option<&Arc<Health>>) {
        if let Some(health) = health {
            self.link.report_to(health);
        }
    }

    /// Reads (and claims) bring no more than `budget` has left (`--count`).
    pub fn share_budget(&mut self, budget: Arc<Budget>) {
        self.budget = Some(budget);
    }

    /// Where a vanished group is re-created (`--recreate-at`): `0`, `$` or an ID.
    pub fn recreate_at(&mut self, at: &str) {
        self.recreate_at = at.to_string();
    }

    /// The most one read may ask for (`--batch`, or what the work can take at once).
    pub fn set_max_count(&mut self, max: usize) {
        self.max_count = max.max(1);
        self.count = self.count.min(self.max_count);
    }

    /// The streams read, in order.
    pub fn streams(&self) -> &[Arc<str>] {
        &self.streams
    }

    /// Whether reads ask without blocking (one read per slot: a BLOCK on one would hold up the
    /// others), so the caller waits between empty ones.
    pub fn polled(&self) -> bool {
        self.slots.len() > 1
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Creates or joins the group on every stream, at `start` when created.
    pub fn join(&mut self, start: &str) -> Result<()> {
        self.settle_into_stash()?;
        for key in &self.streams {
            group::join(&mut self.link, key, &self.group, start)?;
        }
        Ok(())
    }

    /// Reads what `wanted` names into `batch` (cleared first), blocking up to `block` for new
    /// entries; with `ahead`, the next read of new entries is sent at once (without BLOCK), so
    /// the server works on it while this batch is processed. What a read in flight or the stash
    /// holds comes first.
    pub fn read(
        &mut self,
        wanted: Wanted<'_>,
        block: Option<Duration>,
        ahead: bool,
        batch: &mut Batch,
    ) -> Result<Read> {
        batch.clear();
        batch.append(&self.stash);
        self.stash.clear();
        let mut read = std::mem::take(&mut self.stash_read);
        if !batch.is_empty() || read.broke || !read.recreated.is_empty() {
            return Ok(read);
        }
        let next = match (&self.in_flight, wanted) {
            (Some(_), Wanted::New) => self.receive(batch)?,
            (Some(_), Wanted::Pending(_)) => {
                // What is in flight is in hand: it comes first.
                let next = self.receive(batch)?;
                merge(&mut read, next);
                return Ok(read);
            }
            (None, wanted) => {
                self.send(wanted, block);
                self.receive(batch)?
            }
        };
        merge(&mut read, next);
        if ahead && !batch.is_empty() && !read.broke {
            self.send(Wanted::New, None);
        }
        Ok(read)
    }

    /// Reads what a read in flight brings into `batch` (cleared first), with the stash; nothing
    /// is sent. The caller processes it before anything that must see the pending list as it is
    /// (claims, `--idle-exit`, recovery, a stop).
    pub fn settle(&mut self, batch: &mut Batch) -> Result<Read> {
        batch.clear();
        batch.append(&self.stash);
        self.stash.clear();
        let mut read = std::mem::take(&mut self.stash_read);
        if self.in_flight.is_some() {
            let mut more = Batch::new();
            let next = self.receive(&mut more)?;
            batch.append(&more);
            merge(&mut read, next);
        }
        Ok(read)
    }

    /// Queues acknowledgements to go out with the next read, in the same write.
    pub fn ack_later(&mut self, done: impl IntoIterator<Item = Done>) {
        self.deferred.extend(done);
    }

    /// Whether acknowledgements wait for the next read.
    pub fn acks_waiting(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Acknowledges `done` now (and whatever waited for the next read), one XACK per run of
    /// entries of the same stream.
    pub fn ack(&mut self, done: &[Done]) -> Result<()> {
        self.settle_into_stash()?;
        let mut all = std::mem::take(&mut self.deferred);
        all.extend_from_slice(done);
        for run in all.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<StreamId> = run.iter().map(|(_, id, _)| *id).collect();
            if let Err(err) = group::ack(&mut self.link, &run[0].0, &self.group, &ids) {
                // What did not go out waits for the next try (XACK is safe to repeat).
                self.deferred = all;
                return Err(err);
            }
        }
        if let Some(observer) = &self.on_acked {
            observer(&all);
        }
        Ok(())
    }

    /// Acknowledges IDs of stream `index` that were pending but are gone from the stream: there
    /// is nothing to process, only the pending entry to drop.
    pub fn ack_gone(&mut self, index: usize, ids: &[StreamId]) -> Result<()> {
        self.settle_into_stash()?;
        let key = Arc::clone(&self.streams[index]);
        group::ack(&mut self.link, &key, &self.group, ids)
    }

    /// Fills in each entry's delivery count from our pending list.
    pub fn fill_deliveries(&mut self, batch: &mut Batch) -> Result<()> {
        self.settle_into_stash()?;
        group::fill_deliveries(&mut self.link, (&self.group, &self.consumer), batch)
    }

    /// One claim step on stream `index` (see [`group::claim_step`]).
    pub fn claim_step(
        &mut self,
        index: usize,
        (min_idle, cursor, count): (Duration, StreamId, usize),
        batch: &mut Batch,
    ) -> Result<(StreamId, Vec<StreamId>)> {
        self.settle_into_stash()?;
        let key = Arc::clone(&self.streams[index]);
        let who = (self.group.as_str(), self.consumer.as_str());
        let Some(budget) = self.budget.clone() else {
            return group::claim_step(&mut self.link, &key, who, (min_idle, cursor, count), batch);
        };
        let granted = budget.take(count as u64);
        if granted == 0 {
            batch.clear();
            return Ok((StreamId::ZERO, Vec::new()));
        }
        let count = granted as usize;
        let step = group::claim_step(&mut self.link, &key, who, (min_idle, cursor, count), batch);
        let got = step.as_ref().map_or(0, |_| batch.len() as u64);
        budget.give_back(granted.saturating_sub(got));
        step
    }

    /// Re-claims those of `ids` of stream `key` still pending on us (see
    /// [`group::reclaim_own`]); returns them.
    pub fn reclaim_own(&mut self, key: &str, ids: &[StreamId]) -> Result<Vec<StreamId>> {
        self.settle_into_stash()?;
        let who = (self.group.as_str(), self.consumer.as_str());
        group::reclaim_own(&mut self.link, key, who, ids)
    }

    /// Re-claims what a read sent ahead brought and was not read by the caller yet (as
    /// [`GroupLink::reclaim_own`] does), so it does not look idle to the others while the work
    /// before it goes on; what another consumer took meanwhile is dropped. Returns how many.
    pub fn keep_read_ahead(&mut self) -> Result<u64> {
        self.settle_into_stash()?;
        let mut lost = 0;
        for key in self.streams.clone() {
            let ids: Vec<StreamId> = self
                .stash
                .iter()
                .filter(|e| *e.stream == key)
                .map(|e| e.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let who = (self.group.as_str(), self.consumer.as_str());
            let mut mine = group::reclaim_own(&mut self.link, &key, who, &ids)?;
            mine.sort_unstable();
            let before = self.stash.len();
            self.stash
                .retain(|e| *e.stream != key || mine.binary_search(&e.id).is_ok());
            lost += (before - self.stash.len()) as u64;
        }
        Ok(lost)
    }

    /// Deletes consumers of stream `index`'s group idle longer than `idle` that hold nothing.
    pub fn prune_idle(&mut self, index: usize, idle: Duration) -> Result<Vec<String>> {
        self.settle_into_stash()?;
        let key = Arc::clone(&self.streams[index]);
        let who = (self.group.as_str(), self.consumer.as_str());
        group::prune_idle(&mut self.link, &key, who, idle)
    }

    /// How many times the connection was re-established.
    pub fn epoch(&self) -> u64 {
        self.link.epoch()
    }

    /// Reads what is in flight into the stash, so another request can go out.
    fn settle_into_stash(&mut self) -> Result<()> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        let mut more = Batch::new();
        let read = self.receive(&mut more)?;
        self.stash.append(&more);
        merge(&mut self.stash_read, read);
        Ok(())
    }

    /// Sends the acknowledgements waiting and the reads `wanted` names, in one write. A failed
    /// send is judged when the replies are read.
    fn send(&mut self, wanted: Wanted<'_>, block: Option<Duration>) {
        let acks = std::mem::take(&mut self.deferred);
        let mut packed = Vec::with_capacity(128 + 24 * acks.len());
        let mut ack_commands = 0;
        for run in acks.chunk_by(|a, b| a.0 == b.0) {
            Command::new("XACK")
                .arg(&*run[0].0)
                .arg(self.group.as_str())
                .args(run.iter().map(|(_, id, _)| *id))
                .write_to(&mut packed);
            ack_commands += 1;
        }
        // Several reads in one write: a BLOCK on one would hold up the others. BLOCK 0 would
        // mean "for ever": never less than a millisecond.
        let block = match self.slots.len() {
            1 => block.map(|b| b.max(Duration::from_millis(1))),
            _ => None,
        };
        let mut parts: Vec<Vec<usize>> = Vec::with_capacity(self.slots.len());
        for part in &self.slots {
            let keys: Vec<usize> = match wanted {
                Wanted::New => part.clone(),
                Wanted::Pending(after) => part
                    .iter()
                    .copied()
                    .filter(|i| after.get(*i).is_some_and(Option::is_some))
                    .collect(),
            };
            if !keys.is_empty() {
                parts.push(keys);
            }
        }
        let (count, taken) = self.fit_budget(&mut parts);
        let mut reads = Vec::with_capacity(parts.len());
        for keys in parts {
            let mut command = Command::new("XREADGROUP")
                .arg("GROUP")
                .arg(self.group.as_str())
                .arg(self.consumer.as_str())
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                command.push("BLOCK");
                command.push(block.as_millis() as u64);
            }
            command.push("STREAMS");
            for index in &keys {
                command.push(&*self.streams[*index]);
            }
            for index in &keys {
                match wanted {
                    Wanted::New => command.push(">"),
                    Wanted::Pending(after) => {
                        command.push(after[*index].unwrap_or(StreamId::ZERO));
                    }
                }
            }
            command.write_to(&mut packed);
            reads.push(keys);
        }
        let send_error = self.link.conn().send(&packed).err();
        self.in_flight = Some(InFlight {
            acks,
            ack_commands,
            reads,
            send_error,
            taken,
        });
    }

    /// The COUNT of a read of `parts` (the streams of each XREADGROUP), and what it takes from
    /// the `--count` budget: without one, the adaptive COUNT and nothing. With one, the read
    /// asks for no more than the budget grants (streams beyond it are left out this time) and
    /// gives back at once what it cannot bring.
    fn fit_budget(&self, parts: &mut Vec<Vec<usize>>) -> (usize, u64) {
        let Some(budget) = &self.budget else {
            return (self.count, 0);
        };
        let keys: usize = parts.iter().map(Vec::len).sum();
        let granted = budget.take((keys * self.count) as u64);
        let (count, named) = budget::fit(keys, self.count, granted);
        let mut left = named;
        for part in parts.iter_mut() {
            part.truncate(left);
            left -= part.len();
        }
        parts.retain(|part| !part.is_empty());
        let taken = (count * named) as u64;
        budget.give_back(granted - taken);
        (count, taken)
    }

    /// Reads the replies of the read in flight: its acknowledgements, then its entries,
    /// appended to `batch`. A group found gone is re-created; a break is ridden out (reported as
    /// `broke`, with the acknowledgements that may not have landed queued again).
    fn receive(&mut self, batch: &mut Batch) -> Result<Read> {
        let Some(InFlight {
            acks,
            ack_commands,
            reads,
            send_error,
            taken,
        }) = self.in_flight.take()
        else {
            return Ok(Read::default());
        };
        let before = batch.len();
        let mut read = Read::default();
        let mut acks_landed = false;
        let mut refused: Option<ServerError> = None;
        let mut vanished: Vec<usize> = Vec::new();
        let mut answered: Option<ServerError> = None;
        let outcome = (|| -> std::result::Result<(), Fault> {
            if let Some(err) = send_error {
                return Err(Fault::Io(err));
            }
            let conn = self.link.conn();
            for _ in 0..ack_commands {
                if let Reply::Error(err) = Reply::parse(conn.next_reply()?)? {
                    refused.get_or_insert(err);
                }
            }
            acks_landed = refused.is_none();
            if acks_landed && let Some(observer) = &self.on_acked {
                // Acknowledged now, before the read's reply (which may block for --block).
                observer(&acks);
            }
            // Every reply is read, errors too, so the connection stays in step.
            for keys in &reads {
                let bytes = conn.next_reply()?;
                if bytes.first() == Some(&b'-') {
                    if let Reply::Error(err) = Reply::parse(bytes)? {
                        match fault::is_no_group(&err) {
                            true => vanished.extend(keys),
                            false => {
                                answered.get_or_insert(err);
                            }
                        }
                    }
                    continue;
                }
                batch.extend_streams(bytes, &self.streams)?;
            }
            Ok(())
        })();
        if let Some(budget) = &self.budget {
            // What a lost reply delivered is pending on us, unseen: the re-read takes it again.
            let got = (batch.len() - before) as u64;
            budget.give_back(taken.saturating_sub(got));
        }
        let streams = &self.streams;
        let what = || format!("XREADGROUP on {}", names(streams));
        match outcome {
            Ok(()) => {
                self.link.settled();
                let first = acks
                    .first()
                    .map(|(s, _, _)| s.to_string())
                    .unwrap_or_default();
                let group = self.group.clone();
                let ack_what = || format!("XACK {first} {group}");
                match refused {
                    // A failover under way (CLUSTERDOWN, READONLY, ...): the acks go again
                    // once the link has found the master.
                    Some(err) if fault::is_ridden_out(&err, self.link.is_routed()) => {
                        let mut again = acks;
                        again.append(&mut self.deferred);
                        self.deferred = again;
                        let before = self.link.epoch();
                        self.link.ride_out(&ack_what, Failure::Answer(err))?;
                        read.broke = self.link.epoch() != before;
                    }
                    Some(err) => return Err(self.link.error(&ack_what, &Failure::Answer(err))),
                    None => {}
                }
                if let Some(err) = answered.filter(|_| !read.broke) {
                    let before = self.link.epoch();
                    self.link.ride_out(&what, Failure::Answer(err))?;
                    read.broke = self.link.epoch() != before;
                }
            }
            Err(fault) => {
                if !acks_landed {
                    // XACK is safe to repeat: what may not have landed goes again.
                    let mut again = acks;
                    again.append(&mut self.deferred);
                    self.deferred = again;
                }
                self.link.ride_out(&what, Failure::Fault(fault))?;
                read.broke = true;
            }
        }
        for index in vanished {
            let key = Arc::clone(&self.streams[index]);
            if let Some(again) =
                group::recreate(&mut self.link, &key, &self.group, &self.recreate_at)?
            {
                read.recreated.push((key, again));
            }
        }
        let bytes = batch.iter().map(|e| e.size()).sum();
        self.count = next_count(self.count, batch.len(), bytes, self.max_count);
        Ok(read)
    }

    /// The consumers' pending entries of our group on stream `index`, for a caller that checks.
    pub fn pending_count(&mut self, index: usize) -> Result<u64> {
        self.settle_into_stash()?;
        let key = Arc::clone(&self.streams[index]);
        Ok(streams::pending_summary(&mut self.link, &key, &self.group)?.pending)
    }
}

/// The stream names, for messages.
fn names(streams: &[Arc<str>]) -> String {
    let names: Vec<&str> = streams.iter().map(|s| &**s).collect();
    names.join(" ")
}

/// Adds what `more` brought to `read`.
fn merge(read: &mut Read, more: Read) {
    read.recreated.extend(more.recreated);
    read.broke |= more.broke;
}
