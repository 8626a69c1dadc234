//! A handler program run for messages: how it is started (its own process group, dying with the
//! consumer, the stop signals unblocked), the environment it gets, how a run ended and the
//! words a dead letter gives for it.
//!
//! ```text
//! sh -c CMD     stdin: the message as one JSON line; env: MONSOON_STREAM, MONSOON_ID,
//!               MONSOON_CONSUMER, MONSOON_GROUP, MONSOON_DELIVERIES, MONSOON_FIELD_<NAME>
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::handler_pipes::Pipes;
pub use super::handler_pipes::set_nonblocking;
use super::output::{self, Output};
use crate::message::Entry;

/// How much of a handler's stderr a dead letter keeps (its end).
pub const STDERR_TAIL: usize = output::TAIL;

/// How long a handler's stdout and stderr are read after it ended: what it printed is in the
/// pipe by then; only a process it left behind outside its group (`setsid cmd &`) keeps them
/// open, and its exit is what counts.
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// How long a handler has between SIGTERM and SIGKILL once its time is up.
const GRACE: Duration = Duration::from_secs(2);

/// How a handler's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Exit status 0: the message is done.
    Done,
    /// Another exit status.
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
    /// Still running after the handler timeout (then stopped).
    TimedOut(Duration),
}

impl Ended {
    /// Whether the message is done (to be acknowledged).
    pub fn is_done(self) -> bool {
        self == Ended::Done
    }

    /// Whether `sh` could not run the command at all (126: not executable, 127: not found).
    pub fn cannot_run(self) -> bool {
        matches!(self, Ended::Exited(126 | 127))
    }

    /// The dead letter's `reason` for a failed run.
    pub fn reason(self) -> String {
        match self {
            Ended::Done => String::from("handler succeeded"),
            Ended::Exited(code) => format!("handler exited {code}"),
            Ended::Killed(signal) => format!("handler killed by {}", signal_name(signal)),
            Ended::TimedOut(limit) => format!(
                "handler timed out after {}",
                humantime::format_duration(limit)
            ),
        }
    }

    /// The outcome an exit status stands for.
    pub fn of(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(0), _) => Ended::Done,
            (Some(code), _) => Ended::Exited(code),
            (None, Some(signal)) => Ended::Killed(signal),
            (None, None) => Ended::Exited(-1),
        }
    }
}

/// `SIGSEGV`, `SIGKILL`, ... for the signals a handler is likely to die of.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        other => return format!("signal {other}"),
    };
    String::from(name)
}

/// What one run of a handler left behind.
#[derive(Debug)]
pub struct Run {
    /// How it ended.
    pub ended: Ended,
    /// Everything it printed on stdout (passed on whole, never interleaved with another's).
    pub stdout: Output,
    /// Everything it printed on stderr.
    pub stderr: Output,
    /// Whether its output was still open [`OUTPUT_GRACE`] after it ended (a process it left
    /// behind, outside its group, holds the pipe): what came after is not waited for.
    pub output_cut: bool,
}

impl Run {
    /// The last [`STDERR_TAIL`] bytes of its stderr, for a dead letter.
    pub fn stderr_tail(&self) -> &[u8] {
        self.stderr.tail()
    }

    /// Passes its output on: stdout whole to `out` (ending in a newline, so the next
    /// handler's output starts a line of its own), stderr to ours; `who` names the consumer
    /// and the message when the output was cut short.
    pub fn pass_on(
        &mut self,
        out: &mut impl Write,
        who: impl FnOnce() -> String,
    ) -> std::io::Result<()> {
        if !self.stdout.is_empty() {
            self.stdout.pass_on(out)?;
            if !self.stdout.ends_with_newline() {
                out.write_all(b"\n")?;
            }
        }
        if !self.stderr.is_empty() {
            let _ = self.stderr.pass_on(&mut std::io::stderr().lock());
        }
        if self.output_cut {
            eprintln!(
                "{}: the handler exited but left a process holding its output; what it printed \
                 after {} more is not passed on",
                who(),
                humantime::format_duration(OUTPUT_GRACE)
            );
        }
        Ok(())
    }
}

/// The environment a handler gets for `message`: where it comes from, and each field whose
/// name makes a valid variable name (upper-cased, other characters as `_`) and whose value is
/// UTF-8 text without NUL; a name that repeats holds its last value. Binary values and every
/// repeated value are in the JSON on stdin.
pub fn environment(message: &Entry<'_>, consumer: &str, group: &str) -> Vec<(String, OsString)> {
    let mut env = vec![
        (
            String::from("MONSOON_STREAM"),
            OsString::from(&**message.stream),
        ),
        (String::from("MONSOON_ID"), message.id.to_string().into()),
        (String::from("MONSOON_CONSUMER"), consumer.into()),
        (String::from("MONSOON_GROUP"), group.into()),
        (
            String::from("MONSOON_DELIVERIES"),
            message.deliveries.to_string().into(),
        ),
    ];
    for (name, value) in message.fields.iter().flat_map(|f| f.iter()) {
        let Some(name) = variable_name(name) else {
            continue;
        };
        // A NUL cannot travel in the environment, and a variable is text; the field is still
        // on stdin.
        if !value.contains(&0) && std::str::from_utf8(value).is_ok() {
            env.push((
                format!("MONSOON_FIELD_{name}"),
                OsString::from_vec(value.to_vec()),
            ));
        }
    }
    env
}

/// A field name as a variable name: `temperature` -> `TEMPERATURE`, `wind-speed` ->
/// `WIND_SPEED`; `None` when it cannot be one (empty, not ASCII).
fn variable_name(field: &[u8]) -> Option<String> {
    if field.is_empty() || !field.is_ascii() {
        return None;
    }
    Some(
        field
            .iter()
            .map(|&b| match b {
                b'a'..=b'z' => char::from(b.to_ascii_uppercase()),
                b'A'..=b'Z' | b'0'..=b'9' => char::from(b),
                _ => '_',
            })
            .collect(),
    )
}

/// Runs `sh -c command` with `input` on its stdin and `env`, until it ends or `timeout` passes
/// (then SIGTERM to its process group, SIGKILL after a grace period).
///
/// The handler runs in a process group of its own (so a timeout or a stop takes down whatever
/// it started) with a parent-death signal (so it dies with the consumer, even a SIGKILLed one;
/// the signal follows the thread that spawned it, which here waits for it), and with the stop
/// signals the consumer blocks unblocked again.
///
/// One thread writes its stdin and reads its stdout and stderr, all three without blocking
/// (poll): a handler that never reads its input, or leaves a process holding its output, costs
/// at most `timeout` (or [`OUTPUT_GRACE`] after its exit), never a hang; its output is held
/// with bounded memory ([`Output`]).
pub fn run(
    command: &str,
    input: &[u8],
    env: &[(String, OsString)],
    timeout: Duration,
) -> std::io::Result<Run> {
    let mut cmd = command_for(command);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd)?;
    let mut pipes = Pipes {
        stdin: child.stdin.take().map(OwnedFd::from),
        stdout: child.stdout.take().map(OwnedFd::from),
        stderr: child.stderr.take().map(OwnedFd::from),
        input,
        out: Output::default(),
        err: Output::default(),
    };
    pipes.nonblocking()?;
    let ended = until_exit(&mut pipes, &mut child, timeout)?;
    // Whatever it started in its group goes too, so its pipes close; a process outside the
    // group gets OUTPUT_GRACE, then the pipes close on our side.
    kill_group(&child, libc::SIGKILL);
    drop(pipes.stdin.take());
    let output_cut = !pipes.drain_until(Instant::now() + OUTPUT_GRACE);
    Ok(Run {
        ended,
        stdout: pipes.out,
        stderr: pipes.err,
        output_cut,
    })
}

/// Feeds and reads `pipes` until `child` exits: SIGTERM to its group at `timeout`, SIGKILL after
/// [`GRACE`].
fn until_exit(
    pipes: &mut Pipes<'_>,
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Ended> {
    let mut deadline = Instant::now() + timeout;
    let mut timed_out = false;
    // Quick handlers end within a millisecond or two: look soon, then less and less often (a
    // fixed 5 ms made `--exec true --jobs 2` wait 5 ms a round, 300 messages a second). A
    // handler's exit closes its pipes, which wakes the poll at once.
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(match timed_out {
                true => Ended::TimedOut(timeout),
                false => Ended::of(status),
            });
        }
        if Instant::now() >= deadline {
            match timed_out {
                false => {
                    kill_group(child, libc::SIGTERM);
                    timed_out = true;
                    deadline = Instant::now() + GRACE;
                }
                true => kill_group(child, libc::SIGKILL),
            }
        }
        let idle = pipes.step(pause)?;
        if idle {
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

/// The watchdog: a small shell, in a process group of its own, told on its stdin which handler
/// groups are running (`+PGID`, `-PGID`). When its stdin closes (the consumer ended, even by
/// SIGKILL), it kills the groups still listed.
///
/// The parent-death signal reaches only the `sh` a handler runs in: Debian's `sh` (dash) forks
/// for the command's last program instead of exec'ing it, so without this the program itself
/// (a python script, a `sleep`) would outlive a killed consumer and go on working on messages
/// the group will deliver again.
const WATCHDOG: &str = r#"
groups=""
while read -r line; do
  case $line in
    +*) groups="$groups ${line#+}" ;;
    -*) kept=""; for g in $groups; do [ "$g" = "${line#-}" ] || kept="$kept $g"; done; groups=$kept ;;
  esac
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
"#;

/// The watchdog's stdin, once started (`None`: it could not start; the parent-death signal
/// still takes down each handler's shell).
static WATCHDOG_INPUT: std::sync::OnceLock<Option<std::sync::Mutex<std::process::ChildStdin>>> =
    std::sync::OnceLock::new();

/// Tells the watchdog that handler group `pgid` started (`+`) or ended (`-`).
fn watch(sign: char, pgid: u32) {
    let input = WATCHDOG_INPUT.get_or_init(|| {
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        // It is never waited for: it ends when our end of its stdin closes with us.
        let input = watchdog.stdin.take()?;
        std::mem::forget(watchdog);
        Some(std::sync::Mutex::new(input))
    });
    if let Some(Ok(mut input)) = input.as_ref().map(|i| i.lock()) {
        let _ = writeln!(input, "{sign}{pgid}");
    }
}

/// Starts `cmd` (made by [`command_for`]) with the watchdog told about its process group.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let child = cmd.spawn()?;
    watch('+', child.id());
    Ok(child)
}

/// `sh -c command` set up as every handler runs: in a process group of its own, with a
/// parent-death signal, and the stop signals the consumer blocks unblocked again. Start it with
/// [`spawn`] and end it with [`kill_group`], so the watchdog knows about it.
pub fn command_for(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, sigemptyset/sigaddset, pthread_sigmask)
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd
}

/// Sends `signal` to the child's whole process group; after SIGKILL the watchdog forgets it.
pub fn kill_group(child: &Child, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory effects; a group that is gone answers ESRCH.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
    if signal == libc::SIGKILL {
        watch('-', child.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_id::StreamId;
    use std::sync::Arc;

    /// Fields become variables when their names can; the message's origin always does.
    #[test]
    fn environment_of_a_message() {
        let message = crate::message::Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(5, 1),
            fields: Some(
                [
                    (&b"temperature"[..], &b"21.5"[..]),
                    (b"wind-speed", b"3"),
                    (b"\xff", b"x"),
                    (b"note", b"a\0b"),
                ]
                .into_iter()
                .collect(),
            ),
            deliveries: 2,
        };
        let env: Vec<(String, String)> = environment(&message.entry(), "alice", "mygroup")
            .into_iter()
            .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
            .collect();
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("MONSOON_ID"), Some("5-1"));
        assert_eq!(get("MONSOON_DELIVERIES"), Some("2"));
        assert_eq!(get("MONSOON_FIELD_TEMPERATURE"), Some("21.5"));
        assert_eq!(get("MONSOON_FIELD_WIND_SPEED"), Some("3"));
        assert_eq!(get("MONSOON_FIELD_NOTE"), None);
        assert_eq!(env.len(), 7);
    }

    /// Exit codes, signals and timeouts read as a dead letter's reason.
    #[test]
    fn reasons() {
        assert_eq!(Ended::Exited(3).reason(), "handler exited 3");
        assert_eq!(
            Ended::Killed(libc::SIGSEGV).reason(),
            "handler killed by SIGSEGV"
        );
        assert_eq!(
            Ended::TimedOut(Duration::from_secs(10)).reason(),
            "handler timed out after 10s"
        );
        assert!(Ended::Exited(127).cannot_run());
    }

    /// A real `sh -c` run: stdin in, stdout and stderr out, the exit status read.
    #[test]
    fn runs_a_command() {
        let run = run(
            "read line; echo \"got $line $MONSOON_X\"; echo oops >&2; exit 3",
            b"hello\n",
            &[(String::from("MONSOON_X"), OsString::from("x"))],
            Duration::from_secs(10),
        )
        .unwrap();
        let mut run = run;
        assert_eq!(run.ended, Ended::Exited(3));
        assert_eq!(run.stdout.to_vec(), b"got hello x\n");
        assert_eq!(run.stderr_tail(), b"oops\n");
        let slow = super::run("sleep 5", b"", &[], Duration::from_millis(100)).unwrap();
        assert_eq!(slow.ended, Ended::TimedOut(Duration::from_millis(100)));
    }
}
