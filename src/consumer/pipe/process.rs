//! The `--pipe` handler process: starting it, writing to it, reading its answers.
//!
//! The consumer's own thread never blocks on the handler: its stdin and stdout are written
//! and read without blocking, so a handler that stops reading its stdin only leaves what was
//! sent waiting, and the consumer goes on keeping what is in hand claimed, timing the handler
//! out, and honouring a stop. A line is held up to [`MAX_LINE`] bytes; a longer one is passed
//! on in pieces.
//!
//! Both pipes are served when the consumer looks ([`PipeProcess::hear`]): what the stdin pipe
//! did not take at once is written, and all the handler printed since is read, waiting (poll)
//! only when nothing came and the consumer has nothing else to do. A reader thread blocked on
//! the stdout pipe woke up for each line a quick handler flushed, and made each of the
//! handler's writes wake it (tens of thousands of context switches over a day of entries, and
//! a handler slowed down by them); a writer thread cost a hand-off per write.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use super::super::Pipe;
use super::super::handler::{self, Ended};
use super::answer::{Answer, Said};
use crate::error::{Error, Result};
use crate::stream_id::StreamId;

/// The longest line of the handler's output held whole (an answer is far shorter); a longer
/// one is passed on in pieces of this size and never read as an answer.
pub(in crate::consumer) const MAX_LINE: usize = 64 * 1024;

/// The most one read of the handler's stdout takes.
const READ_SIZE: usize = 64 * 1024;

/// The most one look at the handler's stdout takes: what a handler's output holds in memory
/// at most before the consumer passes it on (a handler that prints without end is read as the
/// consumer goes, never all at once).
const LOOK_SIZE: usize = 16 * READ_SIZE;

/// A running `--pipe` handler.
pub(in crate::consumer) struct PipeProcess {
    /// The `sh -c CMD` process (its own process group).
    pub(super) child: Child,
    /// Its stdin, written without blocking.
    input: Input,
    /// Its stdout, read without blocking.
    stdout: Output,
    /// What it printed that was read and not looked at yet, oldest first.
    heard: VecDeque<Said>,
}

/// A handler's stdin, written without blocking: what the pipe does not take at once waits here
/// and goes as the pipe takes it.
struct Input {
    /// Our end of the pipe (`None` once closed, or once the handler stopped reading).
    pipe: Option<ChildStdin>,
    /// What was sent and is not written yet (at most what is in flight).
    unwritten: Vec<u8>,
    /// Whether it is closed once everything sent is written (a stop asked for it).
    closing: bool,
}

/// A handler's stdout, read without blocking and cut into lines.
struct Output {
    /// Our end of the pipe (`None` after its end).
    pipe: Option<ChildStdout>,
    /// Where a read lands.
    buffer: Vec<u8>,
    /// The line being read (begun in an earlier read).
    line: Vec<u8>,
    /// Whether that line was already cut (its later pieces are pieces too).
    cut: bool,
    /// The handler's command, for the note on a line too long.
    command: String,
}

impl PipeProcess {
    /// Starts `sh -c command`; its stderr is the consumer's.
    pub(super) fn start(command: &str) -> std::io::Result<Self> {
        let mut child = handler::spawn(
            handler::command_for(command)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        if let Some(stdin) = &stdin {
            handler::set_nonblocking(stdin)?;
        }
        if let Some(stdout) = &stdout {
            handler::set_nonblocking(stdout)?;
        }
        Ok(PipeProcess {
            child,
            input: Input {
                pipe: stdin,
                unwritten: Vec::new(),
                closing: false,
            },
            stdout: Output {
                pipe: stdout,
                buffer: vec![0; READ_SIZE],
                line: Vec::new(),
                cut: false,
                command: command.to_string(),
            },
            heard: VecDeque::new(),
        })
    }

    /// Everything the handler printed so far (up to [`LOOK_SIZE`]), oldest first; when nothing
    /// came yet, what it prints within `wait`. Empty when it printed nothing within `wait`, or
    /// after its end ([`PipeProcess::ended`]).
    pub(super) fn hear(&mut self, wait: Duration) -> VecDeque<Said> {
        self.look(wait);
        std::mem::take(&mut self.heard)
    }

    /// The next thing the handler printed, waiting up to `wait` for it; `None` when it printed
    /// nothing within `wait`, or after its end ([`PipeProcess::ended`]).
    pub(super) fn next_said(&mut self, wait: Duration) -> Option<Said> {
        if self.heard.is_empty() {
            self.look(wait);
        }
        self.heard.pop_front()
    }

    /// Whether its stdout ended and everything it printed was taken.
    pub(super) fn ended(&self) -> bool {
        self.stdout.pipe.is_none() && self.heard.is_empty()
    }

    /// Writes what its stdin takes of what was sent, and reads what it printed into `heard`;
    /// when nothing came, waits up to `wait` for it (writing meanwhile as the pipe takes it).
    fn look(&mut self, wait: Duration) {
        self.input.feed();
        self.stdout.read_now(&mut self.heard);
        if !self.heard.is_empty() || wait.is_zero() {
            return;
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (readable, writable) = self.poll(left);
            if writable {
                self.input.feed();
            }
            if readable || left.is_zero() {
                break;
            }
        }
        self.stdout.read_now(&mut self.heard);
    }

    /// Waits up to `wait` (rounded up to a millisecond, so no wait is a busy loop) for its
    /// stdout to have something to read (or to end), or its stdin to take more of what waits:
    /// which of the two may.
    fn poll(&self, wait: Duration) -> (bool, bool) {
        let mut fds = Vec::with_capacity(2);
        if let Some(pipe) = &self.stdout.pipe {
            fds.push(libc::pollfd {
                fd: pipe.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let reading = fds.len();
        if let Some(pipe) = self
            .input
            .pipe
            .as_ref()
            .filter(|_| !self.input.unwritten.is_empty())
        {
            fds.push(libc::pollfd {
                fd: pipe.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        if fds.is_empty() {
            return (true, false);
        }
        let millis = wait.as_micros().div_ceil(1000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready <= 0 {
            return (false, false);
        }
        let readable = fds[..reading].iter().any(|fd| fd.revents != 0);
        let writable = fds[reading..].iter().any(|fd| fd.revents != 0);
        (readable, writable)
    }

    /// Sends message lines: written as far as its stdin takes them now, the rest as it takes
    /// it. False when the handler no longer reads (it exited: EPIPE is no error of ours).
    /// Never blocks.
    pub(super) fn send(&mut self, lines: &[u8]) -> bool {
        let Some(pipe) = &mut self.input.pipe else {
            return false;
        };
        if !self.input.unwritten.is_empty() {
            self.input.unwritten.extend_from_slice(lines);
            return self.input.feed();
        }
        // Nothing waits: written straight from `lines`, only what the pipe does not take kept.
        let (written, open) = write_now(pipe, lines);
        if !open {
            self.input.close_now();
            return false;
        }
        self.input.unwritten.extend_from_slice(&lines[written..]);
        true
    }

    /// Closes its stdin once what was sent is written, as a stop asks.
    pub(super) fn close_input(&mut self) {
        self.input.closing = true;
        self.input.feed();
    }

    /// Stops it and returns how it ended.
    pub(super) fn stop(&mut self) -> Ended {
        self.input.close_now();
        if let Ok(Some(status)) = self.child.try_wait() {
            handler::kill_group(&self.child, libc::SIGKILL);
            return Ended::of(status);
        }
        // Its stdout closed but it lives on, or it must go: give it a moment, then kill it.
        let deadline = Instant::now() + Duration::from_millis(50);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                handler::kill_group(&self.child, libc::SIGKILL);
                return Ended::of(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        handler::kill_group(&self.child, libc::SIGKILL);
        self.child.wait().map_or(Ended::Exited(-1), Ended::of)
    }
}

impl Drop for PipeProcess {
    fn drop(&mut self) {
        self.input.close_now();
        handler::kill_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Input {
    /// Writes what the pipe takes now of what waits (closing it once all is written, when
    /// closing); false once the handler no longer reads: the rest is dropped.
    fn feed(&mut self) -> bool {
        let Some(pipe) = &mut self.pipe else {
            return false;
        };
        let (written, open) = write_now(pipe, &self.unwritten);
        self.unwritten.drain(..written);
        if !open {
            self.close_now();
            return false;
        }
        if self.closing && self.unwritten.is_empty() {
            // The handler sees the end of its input.
            self.pipe = None;
        }
        true
    }

    /// Closes it now, dropping what was not written.
    fn close_now(&mut self) {
        self.pipe = None;
        self.unwritten = Vec::new();
    }
}

/// Writes what the non-blocking `pipe` takes of `bytes` now: how much, and whether the reader
/// is still there (EPIPE, or any other failure, means it no longer reads).
fn write_now(pipe: &mut ChildStdin, bytes: &[u8]) -> (usize, bool) {
    let mut written = 0;
    while written < bytes.len() {
        match pipe.write(&bytes[written..]) {
            Ok(0) => return (written, false),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (written, false),
        }
    }
    (written, true)
}

impl Output {
    /// Reads what the pipe holds now (up to [`LOOK_SIZE`]), cut into lines, into `heard`; at
    /// its end, the last line too, and the pipe is closed.
    fn read_now(&mut self, heard: &mut VecDeque<Said>) {
        let Some(mut pipe) = self.pipe.take() else {
            return;
        };
        let mut looked = 0;
        while looked < LOOK_SIZE {
            match pipe.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(read) => {
                    looked += read;
                    self.cut_lines(read, heard);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.pipe = Some(pipe);
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if looked >= LOOK_SIZE {
            // More may wait: the next look takes it.
            self.pipe = Some(pipe);
            return;
        }
        // Its end (or an error, the same to us): the last line, even without a newline.
        if !self.line.is_empty() {
            heard.push_back(Said {
                bytes: std::mem::take(&mut self.line),
                whole: !self.cut,
            });
        }
    }

    /// Cuts the first `read` bytes of the buffer into lines (each held up to [`MAX_LINE`]),
    /// into `heard`; what does not end a line is kept for the next read. A longer line goes in
    /// pieces, said once on stderr.
    fn cut_lines(&mut self, read: usize, heard: &mut VecDeque<Said>) {
        let mut rest = &self.buffer[..read];
        while !rest.is_empty() {
            let room = (MAX_LINE - self.line.len()).min(rest.len());
            let (take, ends) = match rest[..room].iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (room, false),
            };
            self.line.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if !ends && self.line.len() < MAX_LINE {
                // The rest of the line comes with a later read.
                return;
            }
            if !ends && !self.cut {
                eprintln!(
                    "monsoon: the --pipe handler `{}` printed a line longer than {MAX_LINE} \
                     bytes: it is passed on in pieces and not read as an answer",
                    self.command
                );
            }
            heard.push_back(Said {
                bytes: std::mem::take(&mut self.line),
                whole: ends && !self.cut,
            });
            self.cut = !ends;
        }
    }
}

/// Sends one message line to the `--pipe` handler in `slot` (started if needed) and waits for
/// its answer: `Ok(())` for `ack`, `Err(reason)` for `fail`, a crash or no answer in time (the
/// handler is then stopped, to be started again for the next). Other lines go to `out`.
pub(in crate::consumer) fn ask_once(
    slot: &mut Option<PipeProcess>,
    pipe: &Pipe,
    line: &[u8],
    (stream, id): (&str, StreamId),
    out: &mut impl Write,
) -> Result<std::result::Result<(), String>> {
    if slot.is_none() {
        *slot = Some(
            PipeProcess::start(&pipe.command)
                .map_err(|e| Error::Usage(format!("cannot start --pipe {}: {e}", pipe.command)))?,
        );
    }
    let Some(process) = slot.as_mut() else {
        return Ok(Err(String::from("the handler did not start")));
    };
    let deadline = Instant::now() + pipe.timeout;
    let mut failure = None;
    if process.send(line) {
        loop {
            match process.next_said(deadline.saturating_duration_since(Instant::now())) {
                Some(heard) => match heard.answer() {
                    Some(Answer::Ack(s, i)) if s == stream && i == id => return Ok(Ok(())),
                    Some(Answer::Fail(s, i, reason)) if s == stream && i == id => {
                        return Ok(Err(format!("handler failed: {reason}")));
                    }
                    Some(_) => {}
                    None => out.write_all(&heard.bytes)?,
                },
                None if process.ended() => break,
                None if Instant::now() < deadline => {}
                None => {
                    failure = Some(Ended::TimedOut(pipe.timeout).reason());
                    break;
                }
            }
        }
    }
    let outcome = slot.take().map_or(Ended::Exited(-1), |mut p| p.stop());
    Ok(Err(failure.unwrap_or_else(|| {
        format!("{} while handling it", outcome.reason())
    })))
}

/// Ends a `--pipe` handler: closes its stdin and passes on what it still prints (everything
/// but answers) until it exits, within `timeout`; then it is stopped.
pub(in crate::consumer) fn finish(
    mut process: PipeProcess,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<()> {
    process.close_input();
    let deadline = Instant::now() + timeout;
    while !process.ended() && Instant::now() < deadline {
        let Some(said) = process.next_said(deadline.saturating_duration_since(Instant::now()))
        else {
            continue;
        };
        if said.answer().is_none() {
            out.write_all(&said.bytes)?;
        }
    }
    out.flush()?;
    process.stop();
    Ok(())
}
