//! What a handler prints, held with bounded memory: the first [`IN_MEMORY`] bytes in memory,
//! the rest in an unnamed temporary file (gone with the process), so an `--exec` handler that
//! prints gigabytes costs disk, not RAM, and is still passed on whole, never interleaved with
//! another's.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// How much of one handler's output stays in memory before the rest spills to a file
/// (`--jobs N` holds at most N times this).
pub const IN_MEMORY: usize = 1024 * 1024;

/// How much of the end of the output is kept apart, for a dead letter's `stderr`.
pub const TAIL: usize = 1024;

/// One stream of a handler's output (its stdout or its stderr).
#[derive(Debug, Default)]
pub struct Output {
    /// The first [`IN_MEMORY`] bytes.
    head: Vec<u8>,
    /// What came after them (`None`: nothing did, or no temporary file could be made).
    spill: Option<File>,
    /// Bytes written to `spill`.
    spilled: u64,
    /// Bytes dropped because no temporary file could be made (said on stderr when passed on).
    lost: u64,
    /// The last [`TAIL`] bytes, whatever their total.
    tail: Vec<u8>,
}

impl Output {
    /// Appends `bytes`.
    pub fn push(&mut self, bytes: &[u8]) {
        self.keep_tail(bytes);
        let room = IN_MEMORY.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        let rest = &bytes[room..];
        if rest.is_empty() {
            return;
        }
        if self.spill.is_none() && self.lost == 0 {
            self.spill = tempfile::tempfile().ok();
        }
        match self.spill.as_mut().map(|f| f.write_all(rest)) {
            Some(Ok(())) => self.spilled += rest.len() as u64,
            // A full disk costs the output past the bound, never the consumer.
            _ => {
                self.spill = None;
                self.lost += rest.len() as u64;
            }
        }
    }

    /// Keeps the last [`TAIL`] bytes seen.
    fn keep_tail(&mut self, bytes: &[u8]) {
        if bytes.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - TAIL..]);
            return;
        }
        let over = (self.tail.len() + bytes.len()).saturating_sub(TAIL);
        self.tail.drain(..over);
        self.tail.extend_from_slice(bytes);
    }

    /// Whether nothing was printed.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// The output's total size in bytes.
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.spilled + self.lost
    }

    /// The last [`TAIL`] bytes (all of it when shorter).
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// Whether it ends with a newline (or is empty).
    pub fn ends_with_newline(&self) -> bool {
        self.tail.last().is_none_or(|&b| b == b'\n')
    }

    /// Writes all of it to `out`, in order: the part in memory, then the spilled part read
    /// back in chunks.
    pub fn pass_on(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.head)?;
        if let Some(file) = self.spill.as_mut() {
            file.seek(SeekFrom::Start(0))?;
            let mut chunk = vec![0; 64 * 1024];
            loop {
                match file.read(&mut chunk)? {
                    0 => break,
                    n => out.write_all(&chunk[..n])?,
                }
            }
        }
        if self.lost > 0 {
            eprintln!(
                "monsoon: {} bytes of a handler's output were dropped: no temporary file could \
                 hold what passed {IN_MEMORY} bytes",
                self.lost
            );
        }
        Ok(())
    }

    /// All of it in memory (for tests).
    #[cfg(test)]
    pub fn to_vec(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len().min(IN_MEMORY as u64 * 2) as usize);
        let _ = self.pass_on(&mut all);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the bound the output goes to a file, and comes back whole and in order.
    #[test]
    fn spills_past_the_bound_and_comes_back_whole() {
        let mut output = Output::default();
        let piece: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        for _ in 0..5 {
            output.push(&piece);
        }
        assert_eq!(output.head.len(), IN_MEMORY);
        assert_eq!(output.len(), 1_500_000);
        let all = output.to_vec();
        assert_eq!(all.len(), 1_500_000);
        assert!(all.chunks(300_000).all(|c| c == piece.as_slice()));
        assert_eq!(output.tail(), &piece[piece.len() - TAIL..]);
    }

    /// The tail follows small pushes too; an empty output ends with a newline trivially.
    #[test]
    fn keeps_the_tail() {
        let mut output = Output::default();
        assert!(output.ends_with_newline() && output.is_empty());
        for _ in 0..300 {
            output.push(b"abcd");
        }
        output.push(b"end\n");
        assert_eq!(output.tail().len(), TAIL);
        assert!(output.tail().ends_with(b"abcdend\n"));
        assert!(output.ends_with_newline());
    }
}
