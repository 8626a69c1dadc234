//! Stream entries as the server sends them, read straight from the reply's bytes into a
//! [`Batch`]: one copy of the bytes and a table of where each field lies in them, no value tree
//! and no allocation per entry (the vectors are kept and reused from batch to batch).
//!
//! ```text
//! XREADGROUP / XREAD   *1                            one element per stream that had entries
//!                        *2 $7 chennai               the stream's name, then its entries:
//!                           *N *2 $15 1534291200000-0 *6 sensor 1 temperature 27.4 humidity 71
//!                                 *2 $15 1534291201000-0 *-1     (nil fields: deleted while pending)
//! XRANGE / XREVRANGE   *N entries, as above
//! XAUTOCLAIM           *3 $cursor *N entries *M deleted IDs
//! ```
//!
//! Each entry is read as a [`crate::message::Entry`], the borrowed view every renderer and
//! handler reads.

use std::sync::Arc;

use super::resp::{BadReply, Cursor};
use crate::message::{Entry, Fields, Span};
use crate::stream_id::StreamId;

/// Where one entry of a batch lies: its stream (an index into the batch's streams), ID,
/// deliveries, and its spans (`None`: deleted).
#[derive(Debug, Clone, Copy)]
struct Slot {
    stream: usize,
    id: StreamId,
    deliveries: u64,
    spans: Option<(u32, u32)>,
}

/// The entries of one reply, in the reply's order: a copy of its bytes, and where each entry's
/// fields lie in them. Cleared and refilled, it allocates nothing once it has grown.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    spans: Vec<Span>,
    slots: Vec<Slot>,
    /// The streams the entries came from (each entry names one by index).
    streams: Vec<Arc<str>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Entry `index`.
    pub fn get(&self, index: usize) -> Option<Entry<'_>> {
        let slot = self.slots.get(index)?;
        Some(Entry {
            stream: &self.streams[slot.stream],
            id: slot.id,
            fields: slot.spans.map(|(start, end)| {
                Fields::new(&self.bytes, &self.spans[start as usize..end as usize])
            }),
            deliveries: slot.deliveries,
        })
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The IDs, in order.
    pub fn ids(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.slots.iter().map(|s| s.id)
    }

    /// Sets entry `index`'s delivery count (read from the pending list).
    pub fn set_deliveries(&mut self, index: usize, deliveries: u64) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.deliveries = deliveries;
        }
    }

    /// Owned copies of every entry.
    pub fn to_messages(&self) -> Vec<crate::message::Message> {
        self.iter().map(|e| e.to_message()).collect()
    }

    /// Empties it, keeping what it allocated.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.slots.clear();
        self.streams.clear();
    }

    /// Moves every entry of `other` to the end of this batch.
    pub fn append(&mut self, other: &Batch) {
        for entry in other.iter() {
            self.push(&entry);
        }
    }

    /// Appends a copy of `entry`.
    pub fn push(&mut self, entry: &Entry<'_>) {
        let stream = self.stream_index(entry.stream);
        let spans = entry.fields.map(|fields| {
            let start = self.spans.len() as u32;
            for (name, value) in fields.iter() {
                self.spans.push(Span::append(&mut self.bytes, name, value));
            }
            (start, self.spans.len() as u32)
        });
        self.slots.push(Slot {
            stream,
            id: entry.id,
            deliveries: entry.deliveries,
            spans,
        });
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry<'_>) -> bool) {
        let mut kept = Vec::with_capacity(self.slots.len());
        for index in 0..self.slots.len() {
            if self.get(index).is_some_and(|e| keep(&e)) {
                kept.push(self.slots[index]);
            }
        }
        self.slots = kept;
    }

    /// The index of `stream` among the batch's streams, added when new.
    fn stream_index(&mut self, stream: &Arc<str>) -> usize {
        match self.streams.iter().position(|s| **s == **stream) {
            Some(index) => index,
            None => {
                self.streams.push(Arc::clone(stream));
                self.streams.len() - 1
            }
        }
    }

    /// Reads the XREADGROUP / XREAD reply `reply` (framed, whole) into this batch, cleared first.
    /// Stream names are matched against `known`, so entries share their key's `Arc`.
    pub fn read_streams(&mut self, reply: &[u8], known: &[Arc<str>]) -> Result<(), BadReply> {
        self.clear();
        self.extend_streams(reply, known)
    }

    /// Reads the XREADGROUP / XREAD reply `reply`, appending its entries.
    pub fn extend_streams(&mut self, reply: &[u8], known: &[Arc<str>]) -> Result<(), BadReply> {
        let base = self.take_bytes(reply)?;
        let mut cursor = Cursor::new(reply);
        let per_stream = cursor.array()?;
        for _ in 0..per_stream.max(0) {
            if cursor.array()? != 2 {
                return Err(BadReply("a stream is not a [name, entries] pair"));
            }
            let name = cursor.bulk()?.ok_or(BadReply("a stream name is null"))?;
            let stream = match known.iter().position(|s| s.as_bytes() == name) {
                Some(at) => self.stream_index(&known[at]),
                None => self.stream_index(&Arc::from(String::from_utf8_lossy(name).as_ref())),
            };
            self.entries(&mut cursor, stream, base)?;
        }
        self.check_end(&cursor)
    }

    /// Reads an XRANGE / XREVRANGE reply of `stream` into this batch, cleared first.
    pub fn read_range(&mut self, reply: &[u8], stream: &Arc<str>) -> Result<(), BadReply> {
        self.clear();
        let base = self.take_bytes(reply)?;
        let index = self.stream_index(stream);
        let mut cursor = Cursor::new(reply);
        self.entries(&mut cursor, index, base)?;
        self.check_end(&cursor)
    }

    /// Reads an XAUTOCLAIM reply of `stream` into this batch, cleared first: returns the next
    /// cursor and the IDs that were pending but are gone from the stream (listed by Redis 7.0+;
    /// 6.2 shows them as entries without fields, which are moved to that list too).
    pub fn read_autoclaim(
        &mut self,
        reply: &[u8],
        stream: &Arc<str>,
    ) -> Result<(StreamId, Vec<StreamId>), BadReply> {
        self.clear();
        let base = self.take_bytes(reply)?;
        let index = self.stream_index(stream);
        let mut cursor = Cursor::new(reply);
        let parts = cursor.array()?;
        if parts < 2 {
            return Err(BadReply(
                "the XAUTOCLAIM reply is not [cursor, entries, ...]",
            ));
        }
        let next = cursor
            .bulk()?
            .and_then(StreamId::parse_bytes)
            .ok_or(BadReply("the XAUTOCLAIM reply has no cursor"))?;
        self.entries(&mut cursor, index, base)?;
        let mut deleted = Vec::new();
        if parts >= 3 {
            for _ in 0..cursor.array()?.max(0) {
                let id = cursor.bulk()?.and_then(StreamId::parse_bytes);
                deleted.push(id.ok_or(BadReply("a deleted ID is not an ID"))?);
            }
        }
        self.check_end(&cursor)?;
        deleted.extend(
            self.slots
                .iter()
                .filter(|s| s.spans.is_none())
                .map(|s| s.id),
        );
        self.slots.retain(|s| s.spans.is_some());
        Ok((next, deleted))
    }

    /// Copies the reply's bytes in; returns where they start (spans are offsets from there).
    fn take_bytes(&mut self, reply: &[u8]) -> Result<u32, BadReply> {
        let base = self.bytes.len();
        if base + reply.len() > u32::MAX as usize {
            return Err(BadReply("a reply larger than 4 GiB"));
        }
        self.bytes.extend_from_slice(reply);
        Ok(base as u32)
    }

    /// The entries of one list (`*N` of `[id, fields]`), as `stream`'s.
    fn entries(
        &mut self,
        cursor: &mut Cursor<'_>,
        stream: usize,
        base: u32,
    ) -> Result<(), BadReply> {
        let count = cursor.array()?;
        let count = usize::try_from(count).map_err(|_| BadReply("a null list of entries"))?;
        self.slots.reserve(count.min(cursor.buf.len() / 16));
        for _ in 0..count {
            if cursor.array()? != 2 {
                return Err(BadReply("an entry is not an [id, fields] pair"));
            }
            let id = cursor.bulk()?.ok_or(BadReply("an entry ID is null"))?;
            let id = StreamId::parse_bytes(id).ok_or(BadReply("an entry ID is not an ID"))?;
            let spans = match cursor.array()? {
                -1 => None,
                n if n >= 0 && n % 2 == 0 => {
                    let start = self.spans.len() as u32;
                    for _ in 0..n / 2 {
                        let name = cursor
                            .bulk_span()?
                            .ok_or(BadReply("a field name is null"))?;
                        let value = cursor.bulk_span()?.ok_or(BadReply("a value is null"))?;
                        let at = |(s, e): (usize, usize)| (base + s as u32, base + e as u32);
                        self.spans.push(Span::new(at(name), at(value)));
                    }
                    Some((start, self.spans.len() as u32))
                }
                _ => return Err(BadReply("an entry's fields are not name/value pairs")),
            };
            self.slots.push(Slot {
                stream,
                id,
                deliveries: 1,
                spans,
            });
        }
        Ok(())
    }

    /// Fails unless the whole reply was read.
    fn check_end(&self, cursor: &Cursor<'_>) -> Result<(), BadReply> {
        match cursor.pos == cursor.buf.len() {
            true => Ok(()),
            false => Err(BadReply("bytes after the end of a reply")),
        }
    }
}

impl Clone for Batch {
    fn clone(&self) -> Self {
        Batch {
            bytes: self.bytes.clone(),
            spans: self.spans.clone(),
            slots: self.slots.clone(),
            streams: self.streams.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry to encode: its ID and its fields (`None`: deleted).
    type Raw<'a> = (&'a str, Option<&'a [(&'a str, &'a [u8])]>);

    /// The RESP2 bytes of a list of entries.
    fn encode_entries(entries: &[Raw<'_>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", entries.len()).into_bytes();
        for (id, fields) in entries {
            out.extend(format!("*2\r\n${}\r\n{id}\r\n", id.len()).bytes());
            match fields {
                None => out.extend(b"*-1\r\n"),
                Some(fields) => {
                    out.extend(format!("*{}\r\n", fields.len() * 2).bytes());
                    for (k, v) in *fields {
                        out.extend(format!("${}\r\n{k}\r\n${}\r\n", k.len(), v.len()).bytes());
                        out.extend_from_slice(v);
                        out.extend(b"\r\n");
                    }
                }
            }
        }
        out
    }

    /// An XREADGROUP reply of `chennai`.
    fn read_reply(entries: &[Raw<'_>]) -> Vec<u8> {
        let mut out = b"*1\r\n*2\r\n$7\r\nchennai\r\n".to_vec();
        out.extend(encode_entries(entries));
        out
    }

    fn streams() -> Vec<Arc<str>> {
        vec![Arc::from("chennai")]
    }

    /// A read reply with two entries, one deleted, reads whole and shares the stream's Arc;
    /// binary values come through as they are.
    #[test]
    fn reads_a_read_reply() {
        let bytes = read_reply(&[
            (
                "1534291200000-0",
                Some(&[
                    ("sensor", b"1"),
                    ("temperature", b"27.4"),
                    ("raw", b"\xff\x00"),
                ]),
            ),
            ("1534291201000-0", None),
        ]);
        let known = streams();
        let mut batch = Batch::new();
        batch.read_streams(&bytes, &known).unwrap();
        assert_eq!(batch.len(), 2);
        let first = batch.get(0).unwrap();
        assert!(Arc::ptr_eq(first.stream, &known[0]));
        assert_eq!(first.id, StreamId::new(1534291200000, 0));
        assert_eq!(first.field("temperature"), Some(&b"27.4"[..]));
        assert_eq!(first.field("raw"), Some(&b"\xff\x00"[..]));
        assert_eq!(batch.get(1).unwrap().fields, None);
        assert_eq!(batch.to_messages()[0].entry(), first);
        batch.read_streams(b"*-1\r\n", &known).unwrap();
        assert!(batch.is_empty());
    }

    /// Pushing, appending and retaining keep every entry's fields intact.
    #[test]
    fn batches_copy_and_filter_entries() {
        let bytes = read_reply(&[
            ("1-0", Some(&[("a", b"1")])),
            ("2-0", Some(&[("b", b"2"), ("c", b"3")])),
            ("3-0", None),
        ]);
        let mut first = Batch::new();
        first.read_streams(&bytes, &streams()).unwrap();
        let mut copy = Batch::new();
        copy.append(&first);
        copy.append(&first);
        assert_eq!(copy.len(), 6);
        assert_eq!(copy.get(4).unwrap(), first.get(1).unwrap());
        copy.retain(|e| e.id == StreamId::new(2, 0));
        assert_eq!(copy.len(), 2);
        assert_eq!(copy.get(1).unwrap().field("c"), Some(&b"3"[..]));
    }

    /// XRANGE replies read as one stream's entries; XAUTOCLAIM gives cursor and deleted IDs.
    #[test]
    fn reads_ranges_and_claims() {
        let stream: Arc<str> = Arc::from("chennai");
        let range = encode_entries(&[("5-0", Some(&[("t", b"21")]))]);
        let mut batch = Batch::new();
        batch.read_range(&range, &stream).unwrap();
        assert_eq!(batch.get(0).unwrap().field("t"), Some(&b"21"[..]));
        let mut claim = b"*3\r\n$3\r\n7-0\r\n".to_vec();
        claim.extend(encode_entries(&[
            ("5-0", Some(&[("t", b"21")])),
            ("6-0", None),
        ]));
        claim.extend(b"*1\r\n$3\r\n4-0\r\n");
        let (next, deleted) = batch.read_autoclaim(&claim, &stream).unwrap();
        assert_eq!(next, StreamId::new(7, 0));
        assert_eq!(batch.ids().collect::<Vec<_>>(), [StreamId::new(5, 0)]);
        assert_eq!(deleted, [StreamId::new(4, 0), StreamId::new(6, 0)]);
    }

    /// Malformed replies are errors: wrong shapes, odd field counts, bad IDs, trailing bytes.
    #[test]
    fn malformed_replies_are_errors() {
        for bad in [
            &b"$3\r\nabc\r\n"[..],
            b"*1\r\n*3\r\n",
            b"*1\r\n*2\r\n$7\r\nchennai\r\n*1\r\n*2\r\n$3\r\nabc\r\n*0\r\n",
            b"*1\r\n*2\r\n$7\r\nchennai\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\na\r\n",
            b"*0\r\n:1\r\n",
            b"*x\r\n",
        ] {
            let mut batch = Batch::new();
            assert!(
                batch.read_streams(bad, &streams()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
