//! A handler's three pipes, fed and read by one thread without blocking (poll): its stdin
//! written as it takes it, its stdout and stderr read into bounded [`Output`]s, so a handler
//! that never reads its input, or leaves a process holding its output, costs a timeout, never a
//! hang.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::output::Output;

/// Our ends of a handler's three pipes, with what is still to write and what was read.
pub(super) struct Pipes<'a> {
    /// Our end of its stdin, until all the input is written (or it stopped reading).
    pub stdin: Option<OwnedFd>,
    /// Our end of its stdout, until its end.
    pub stdout: Option<OwnedFd>,
    /// Our end of its stderr, until its end.
    pub stderr: Option<OwnedFd>,
    /// What is still to be written to its stdin.
    pub input: &'a [u8],
    /// Its stdout so far.
    pub out: Output,
    /// Its stderr so far.
    pub err: Output,
}

impl Pipes<'_> {
    /// Makes our three ends non-blocking, so no write or read can hang the thread.
    pub fn nonblocking(&self) -> std::io::Result<()> {
        for fd in [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd)?;
        }
        Ok(())
    }

    /// Reads what is left until both outputs close or `deadline`; whether they closed.
    pub fn drain_until(&mut self, deadline: Instant) -> bool {
        while self.stdout.is_some() || self.stderr.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.step(left.min(Duration::from_millis(50))).is_err() {
                return false;
            }
        }
        true
    }

    /// One poll of the open pipes for at most `wait`, then what they allow: a write of input,
    /// reads of output. Whether nothing happened.
    pub fn step(&mut self, wait: Duration) -> std::io::Result<bool> {
        let mut fds = Vec::with_capacity(3);
        if let Some(fd) = self.stdin.as_ref().filter(|_| !self.input.is_empty()) {
            fds.push(pollfd(fd, libc::POLLOUT));
        }
        for fd in [&self.stdout, &self.stderr].into_iter().flatten() {
            fds.push(pollfd(fd, libc::POLLIN));
        }
        if fds.is_empty() {
            std::thread::sleep(wait);
            return Ok(true);
        }
        let millis = libc::c_int::try_from(wait.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                std::io::ErrorKind::Interrupted => Ok(true),
                _ => Err(error),
            };
        }
        if ready == 0 {
            return Ok(true);
        }
        self.feed();
        read_into(&mut self.stdout, &mut self.out);
        read_into(&mut self.stderr, &mut self.err);
        Ok(false)
    }

    /// Writes what the pipe takes of the input now; a handler that exited without reading it
    /// all is normal (EPIPE is no error): the rest is dropped.
    fn feed(&mut self) {
        let Some(fd) = &self.stdin else { return };
        while !self.input.is_empty() {
            // SAFETY: writes from a valid slice to a file descriptor we own.
            let n = unsafe {
                libc::write(fd.as_raw_fd(), self.input.as_ptr().cast(), self.input.len())
            };
            match usize::try_from(n) {
                Ok(n) => self.input = &self.input[n..],
                Err(_) if would_block() => return,
                Err(_) => self.input = &[],
            }
        }
        // All of it written: the handler sees the end of its input.
        self.stdin = None;
    }
}

/// A `pollfd` asking for `events` on `fd`.
fn pollfd(fd: &OwnedFd, events: libc::c_short) -> libc::pollfd {
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
