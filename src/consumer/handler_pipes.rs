//! A handler's three pipes, fed and read without blocking: its stdin written as it takes it, its
//! stdout and stderr read into bounded [`Output`]s, so a handler that never reads its input, or
//! leaves a process holding its output, costs a timeout, never a hang. The pipes of every running
//! handler are polled together, from one thread (the pool: `handler_pool`).

use std::os::fd::{AsRawFd, OwnedFd};

use super::output::Output;

/// Our ends of a handler's three pipes, with what is still to write and what was read.
pub(super) struct Pipes {
    /// Our end of its stdin, until all the input is written (or it stopped reading).
    stdin: Option<OwnedFd>,
    /// Our end of its stdout, until its end.
    stdout: Option<OwnedFd>,
    /// Our end of its stderr, until its end.
    stderr: Option<OwnedFd>,
    /// Its whole input.
    input: Vec<u8>,
    /// How much of `input` is written.
    written: usize,
    /// Its stdout so far.
    pub out: Output,
    /// Its stderr so far.
    pub err: Output,
}

impl Pipes {
    /// Our ends of a handler's pipes, made non-blocking (so no write or read can hang the
    /// thread), with `input` to write to its stdin; what its stdin takes at once is written now
    /// (a message's JSON line fits a pipe's buffer: its stdin closes here, and only the outputs
    /// are polled).
    pub fn new(
        (stdin, stdout, stderr): (Option<OwnedFd>, Option<OwnedFd>, Option<OwnedFd>),
        input: Vec<u8>,
    ) -> std::io::Result<Self> {
        for fd in [&stdin, &stdout, &stderr].into_iter().flatten() {
            set_nonblocking(fd)?;
        }
        let mut pipes = Pipes {
            stdin,
            stdout,
            stderr,
            input,
            written: 0,
            out: Output::default(),
            err: Output::default(),
        };
        pipes.feed();
        Ok(pipes)
    }

    /// Adds what to poll for: its stdin while input is left, its outputs until they end.
    pub fn interest(&self, fds: &mut Vec<libc::pollfd>) {
        if let Some(fd) = &self.stdin {
            fds.push(pollfd(fd, libc::POLLOUT));
        }
        for fd in [&self.stdout, &self.stderr].into_iter().flatten() {
            fds.push(pollfd(fd, libc::POLLIN));
        }
    }

    /// Does what the pipes allow now: a write of input, reads of output.
    pub fn serve(&mut self) {
        self.feed();
        read_into(&mut self.stdout, &mut self.out);
        read_into(&mut self.stderr, &mut self.err);
    }

    /// Whether its stdout or stderr is still open.
    pub fn outputs_open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Closes our end of its stdin: it has ended, what it did not read is dropped.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Closes our ends of its outputs: what comes later is not waited for.
    pub fn close_outputs(&mut self) {
        self.stdout = None;
        self.stderr = None;
    }

    /// Writes what the pipe takes of the input now; a handler that exited without reading it
    /// all is normal (EPIPE is no error): the rest is dropped.
    fn feed(&mut self) {
        let Some(fd) = &self.stdin else { return };
        while self.written < self.input.len() {
            let left = &self.input[self.written..];
            // SAFETY: writes from a valid slice to a file descriptor we own.
            let n = unsafe { libc::write(fd.as_raw_fd(), left.as_ptr().cast(), left.len()) };
            match usize::try_from(n) {
                Ok(n) => self.written += n,
                Err(_) if would_block() => return,
                Err(_) => break,
            }
        }
        // All of it written (or it stopped reading): the handler sees the end of its input.
        self.stdin = None;
        self.input = Vec::new();
    }
}

/// A `pollfd` asking for `events` on `fd`.
pub(super) fn pollfd(fd: &OwnedFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Reads what `pipe` has now into `output`; at its end (or an error) the pipe is closed.
fn read_into(pipe: &mut Option<OwnedFd>, output: &mut Output) {
    let Some(fd) = pipe else { return };
    let mut chunk = [0u8; 64 * 1024];
    loop {
        // SAFETY: reads into a valid buffer of the length given from a descriptor we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        match usize::try_from(n) {
            Ok(0) => break,
            Ok(n) => output.push(&chunk[..n]),
            Err(_) if would_block() => return,
            Err(_) => break,
        }
    }
    *pipe = None;
}

/// Whether the last system call failed only because it would have blocked (or was
/// interrupted: it is tried again at the next poll).
fn would_block() -> bool {
    matches!(
        std::io::Error::last_os_error().kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
    )
}

/// Sets `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: &impl AsRawFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
