//! Handlers running side by side, all watched from one thread: one `poll` over every running
//! handler's pipes and its exit, so `--jobs N` starts no thread per handler, and the caller can
//! start the next handler the moment one ends (a rolling pool, not rounds).
//!
//! ```text
//! start     posix_spawn sh -c CMD; its input written (what its stdin takes at once)
//! wait      poll: stdin writable, stdout/stderr readable, exited (a pidfd), the next deadline
//! exited    SIGKILL to its group (whatever it left there), reaped; its output read until it
//!           closes, for OUTPUT_GRACE at most (a process outside its group may hold it)
//! timeout   SIGTERM to its group at --handler-timeout, SIGKILL after GRACE
//! ```

use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::handler::{self, Ended, GRACE, OUTPUT_GRACE, Run};
use super::handler_pipes::{Pipes, pollfd};

/// How often a handler is looked at when the kernel gives no descriptor for its exit (no
/// pidfd: Linux before 5.3); its exit usually closes its pipes, which wakes the poll sooner.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// Handlers running, each with the caller's `T` (what it was handed).
pub(super) struct Pool<T> {
    running: Vec<Running<T>>,
    /// Reused for every poll.
    fds: Vec<libc::pollfd>,
}

/// One running handler.
struct Running<T> {
    /// The caller's: what it was handed.
    tag: T,
    /// The `sh -c CMD` process, leader of its own group.
    child: Child,
    /// Readable once it exited (a pidfd); `None` when the kernel has none.
    exit: Option<OwnedFd>,
    /// Our ends of its pipes, with its input and its output so far.
    pipes: Pipes,
    /// Its --handler-timeout.
    timeout: Duration,
    /// When its next step is due: SIGTERM at the timeout, SIGKILL after [`GRACE`]; once it
    /// exited, the end of [`OUTPUT_GRACE`].
    deadline: Instant,
    /// Where it is.
    stage: Stage,
}

/// Where a running handler is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// At work.
    Running,
    /// Past its timeout: sent SIGTERM, SIGKILL due at its deadline.
    Stopping,
    /// Exited so: its output is read until it closes or the deadline.
    Exited(Ended),
}

impl<T> Pool<T> {
    /// A pool with nothing running.
    pub fn new() -> Self {
        Pool {
            running: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// How many handlers are running (or being read after their exit).
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether nothing runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// What each running handler was handed.
    pub fn tags(&self) -> impl Iterator<Item = &T> {
        self.running.iter().map(|r| &r.tag)
    }

    /// What each running handler was handed, to change.
    pub fn tags_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.running.iter_mut().map(|r| &mut r.tag)
    }

    /// Starts `sh -c command` with `input` on its stdin and `env`, for at most `timeout`,
    /// holding `tag` for the caller.
    pub fn start(
        &mut self,
        command: &str,
        (input, env): (Vec<u8>, &[(String, OsString)]),
        timeout: Duration,
        tag: T,
    ) -> std::io::Result<()> {
        let mut cmd = handler::command_for(command);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = handler::spawn(&mut cmd)?;
        let exit = pidfd(child.id());
        let ends = (
            child.stdin.take().map(OwnedFd::from),
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        );
        let pipes = match Pipes::new(ends, input) {
            Ok(pipes) => pipes,
            Err(e) => {
                handler::kill_group(&child, libc::SIGKILL);
                let _ = child.wait();
                return Err(e);
            }
        };
        self.running.push(Running {
            tag,
            child,
            exit,
            pipes,
            timeout,
            deadline: Instant::now() + timeout,
            stage: Stage::Running,
        });
        Ok(())
    }

    /// Feeds and reads the running handlers until at least one has ended (exited and its
    /// output read), or `limit` passed; returns those that ended, with what they were handed.
    /// Nothing running returns at once.
    pub fn wait(&mut self, limit: Duration) -> std::io::Result<Vec<(T, Run)>> {
        let until = Instant::now() + limit;
        loop {
            let ended = self.take_ended();
            if !ended.is_empty() || self.running.is_empty() {
                return Ok(ended);
            }
            let now = Instant::now();
            self.stop_overdue(now);
            if now >= until {
                return Ok(ended);
            }
            let mut wake = self
                .running
                .iter()
                .map(|r| r.deadline)
                .fold(until, Instant::min);
            let unwatched =
                |r: &Running<T>| r.exit.is_none() && !matches!(r.stage, Stage::Exited(_));
            if self.running.iter().any(unwatched) {
                wake = wake.min(now + EXIT_POLL);
            }
            self.poll(wake.saturating_duration_since(now))?;
        }
    }

    /// Sends SIGTERM to the groups past their timeout, SIGKILL to those past its grace too.
    fn stop_overdue(&mut self, now: Instant) {
        for running in &mut self.running {
            if now < running.deadline {
                continue;
            }
            match running.stage {
                Stage::Running => {
                    handler::kill_group(&running.child, libc::SIGTERM);
                    running.stage = Stage::Stopping;
                    running.deadline = now + GRACE;
                }
                Stage::Stopping => {
                    handler::kill_group(&running.child, libc::SIGKILL);
                    // Its exit is what comes next; no other deadline until then.
                    running.deadline = now + GRACE;
                }
                Stage::Exited(_) => {}
            }
        }
    }

    /// One poll of every pipe and exit for at most `wait`, then what they allow.
    fn poll(&mut self, wait: Duration) -> std::io::Result<()> {
        self.fds.clear();
        let mut spans = Vec::with_capacity(self.running.len());
        for running in &self.running {
            let from = self.fds.len();
            running.pipes.interest(&mut self.fds);
            if let (Some(exit), Stage::Running | Stage::Stopping) = (&running.exit, running.stage) {
                self.fds.push(pollfd(exit, libc::POLLIN));
            }
            spans.push(from..self.fds.len());
        }
        // Round up: a deadline a fraction of a millisecond away must not spin.
        let millis = wait.as_micros().div_ceil(1000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        let ready = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                std::io::ErrorKind::Interrupted => Ok(()),
                _ => Err(error),
            };
        }
        for (running, span) in self.running.iter_mut().zip(spans) {
            let woke = self.fds[span].iter().any(|fd| fd.revents != 0);
            if woke {
                running.pipes.serve();
            }
            if (woke || running.exit.is_none()) && !matches!(running.stage, Stage::Exited(_)) {
                running.look_for_exit()?;
            }
        }
        Ok(())
    }

    /// Takes out the handlers that exited and whose output is read (or past its grace).
    fn take_ended(&mut self) -> Vec<(T, Run)> {
        let now = Instant::now();
        let mut ended = Vec::new();
        let mut at = 0;
        while at < self.running.len() {
            let running = &self.running[at];
            let Stage::Exited(how) = running.stage else {
                at += 1;
                continue;
            };
            let open = running.pipes.outputs_open();
            if open && now < running.deadline {
                at += 1;
                continue;
            }
            // Order among the running does not matter: each is found by its own fds.
            let mut running = self.running.swap_remove(at);
            running.pipes.close_outputs();
            ended.push((
                running.tag,
                Run {
                    ended: how,
                    stdout: running.pipes.out,
                    stderr: running.pipes.err,
                    output_cut: open,
                },
            ));
        }
        ended
    }
}

impl<T> Running<T> {
    /// Whether it exited: then whatever it started in its group goes too (so its pipes close),
    /// it is reaped, and its output is read for [`OUTPUT_GRACE`] more at most.
    fn look_for_exit(&mut self) -> std::io::Result<()> {
        let status = match &self.exit {
            Some(exit) => {
                let mut exited = [pollfd(exit, libc::POLLIN)];
                // SAFETY: one valid pollfd, no wait.
                if unsafe { libc::poll(exited.as_mut_ptr(), 1, 0) } <= 0 {
                    return Ok(());
                }
                // Exited, not reaped yet: its group's number cannot be taken by another
                // process while the kill goes out.
                handler::kill_group(&self.child, libc::SIGKILL);
                self.child.wait()?
            }
            None => match self.child.try_wait()? {
                Some(status) => {
                    handler::kill_group(&self.child, libc::SIGKILL);
                    status
                }
                None => return Ok(()),
            },
        };
        self.exit = None;
        self.stage = Stage::Exited(match self.stage {
            Stage::Stopping => Ended::TimedOut(self.timeout),
            _ => Ended::of(status),
        });
        self.pipes.close_input();
        self.deadline = Instant::now() + OUTPUT_GRACE;
        // What it printed last is in the pipes already.
        self.pipes.serve();
        Ok(())
    }
}

impl<T> Drop for Pool<T> {
    /// Whatever still runs when the pool goes (the consumer stops on an error) is killed with
    /// its group and reaped.
    fn drop(&mut self) {
        for running in &mut self.running {
            handler::kill_group(&running.child, libc::SIGKILL);
            let _ = running.child.wait();
        }
    }
}

/// A descriptor that becomes readable when process `pid` (our unreaped child, so its number
/// stays its own) exits; `None` when the kernel has none.
fn pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor (close-on-exec) or
    // -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let fd = libc::c_int::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a descriptor just returned to us, owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs `sh -c command` once with `input` on its stdin and `env`, until it ends or `timeout`
/// passes (then SIGTERM to its process group, SIGKILL after [`GRACE`]).
pub fn run(
    command: &str,
    input: Vec<u8>,
    env: &[(String, OsString)],
    timeout: Duration,
) -> std::io::Result<Run> {
    let mut pool = Pool::new();
    pool.start(command, (input, env), timeout, ())?;
    loop {
        if let Some(((), run)) = pool.wait(timeout + GRACE)?.pop() {
            return Ok(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `sh -c` run: stdin in, stdout and stderr out, the exit status read; a hang past
    /// the timeout ends as timed out.
    #[test]
    fn runs_a_command() {
        let mut run = run(
            "read line; echo \"got $line $MONSOON_X\"; echo oops >&2; exit 3",
            b"hello\n".to_vec(),
            &[(String::from("MONSOON_X"), OsString::from("x"))],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(run.ended, Ended::Exited(3));
        assert_eq!(run.stdout.to_vec(), b"got hello x\n");
        assert_eq!(run.stderr_tail(), b"oops\n");
        let slow = super::run("sleep 5", Vec::new(), &[], Duration::from_millis(100)).unwrap();
        assert_eq!(slow.ended, Ended::TimedOut(Duration::from_millis(100)));
    }

    /// Input larger than a pipe's buffer reaches the handler whole, fed as it reads.
    #[test]
    fn feeds_input_past_a_pipe_buffer() {
        let input = vec![b'x'; 1 << 20];
        let mut run = run("wc -c", input, &[], Duration::from_secs(10)).unwrap();
        assert_eq!(run.ended, Ended::Done);
        assert_eq!(
            String::from_utf8(run.stdout.to_vec()).unwrap().trim(),
            "1048576"
        );
    }

    /// A handler started from a thread that blocks the stop signals (as every consumer thread
    /// does) has none blocked: SIGTERM reaches it.
    #[test]
    fn handlers_start_with_no_signal_blocked() {
        // SAFETY: fills a local set and changes this test thread's mask only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let mut run = run(
            "grep SigBlk /proc/self/status",
            Vec::new(),
            &[],
            Duration::from_secs(10),
        )
        .unwrap();
        let text = String::from_utf8(run.stdout.to_vec()).unwrap();
        assert_eq!(text.split_whitespace().nth(1), Some("0000000000000000"));
    }

    /// Two handlers side by side: the quick one ends (and is returned) while the slow one
    /// still runs.
    #[test]
    fn the_quick_end_before_the_slow() {
        let mut pool = Pool::new();
        let timeout = Duration::from_secs(10);
        pool.start("sleep 5", (Vec::new(), &[]), timeout, "slow")
            .unwrap();
        pool.start("echo quick", (Vec::new(), &[]), timeout, "quick")
            .unwrap();
        let mut ended = Vec::new();
        while ended.is_empty() {
            ended = pool.wait(timeout).unwrap();
        }
        assert_eq!(ended.len(), 1);
        let (tag, run) = &mut ended[0];
        assert_eq!(*tag, "quick");
        assert_eq!(run.stdout.to_vec(), b"quick\n");
        assert_eq!(pool.len(), 1, "the slow one still runs");
    }
}
