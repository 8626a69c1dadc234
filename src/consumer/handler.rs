//! A handler program run for messages: how it is started (`posix_spawn`, its own process group,
//! the stop signals unblocked, a watchdog that takes it down with a killed consumer), the
//! environment it gets, how a run ended and the words a dead letter gives for it.
//!
//! ```text
//! sh -c CMD     stdin: the message as one JSON line; env: MONSOON_STREAM, MONSOON_ID,
//!               MONSOON_CONSUMER, MONSOON_GROUP, MONSOON_DELIVERIES, MONSOON_FIELD_<NAME>
//! sh -c CMD     --exec-batch: stdin: N such lines; env: MONSOON_CONSUMER, MONSOON_GROUP,
//!               MONSOON_BATCH=N
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

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
pub const GRACE: Duration = Duration::from_secs(2);

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

/// The environment a handler of a batch of `count` messages gets (`--exec-batch`): who hands
/// it over and how many; each message's stream, ID and deliveries are in its JSON line.
pub fn batch_environment(consumer: &str, group: &str, count: usize) -> Vec<(String, OsString)> {
    vec![
        (String::from("MONSOON_CONSUMER"), consumer.into()),
        (String::from("MONSOON_GROUP"), group.into()),
        (String::from("MONSOON_BATCH"), count.to_string().into()),
    ]
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

/// The watchdog: a small shell, in a process group of its own, told on its stdin which handler
/// groups are running (`+PGID`, `-PGID`). When its stdin closes (the consumer ended, even by
/// SIGKILL), it kills the groups still listed: this is what takes the handlers down with a
/// killed consumer, and everything they started in their groups.
///
/// A parent-death signal set between fork and exec once did part of this, for the `sh` alone
/// (Debian's dash forks for the command's last program, which it never reached); setting it
/// forced a fork for every handler, where `posix_spawn` (what [`Command`] uses without such a
/// hook) starts one twice as fast.
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

/// What the watchdog is told, and what it knows.
struct Watchdog {
    /// Its stdin (`None`: not started yet, or found gone; the next start starts one, told of
    /// every group still running).
    input: Option<ChildStdin>,
    /// The handler groups running: what it must kill if we die.
    running: Vec<u32>,
    /// Groups that ended and that it was not told of yet: told with the next start, in the same
    /// write (one wake-up of the watchdog per handler, not two), or as soon as nothing runs.
    ended: Vec<u32>,
}

/// The one watchdog of this process.
static WATCHDOG_STATE: Mutex<Watchdog> = Mutex::new(Watchdog {
    input: None,
    running: Vec::new(),
    ended: Vec::new(),
});

impl Watchdog {
    /// Tells it that group `pgid` started (with the ends not told yet).
    fn started(&mut self, pgid: u32) -> std::io::Result<()> {
        self.running.push(pgid);
        let mut lines = String::with_capacity(16 * (self.ended.len() + 1));
        for ended in self.ended.drain(..) {
            lines.push_str(&format!("-{ended}\n"));
        }
        lines.push_str(&format!("+{pgid}\n"));
        self.tell(&lines)
    }

    /// Notes that group `pgid` ended (it was killed and its leader has exited).
    fn ended(&mut self, pgid: u32) {
        let Some(at) = self.running.iter().position(|g| *g == pgid) else {
            return;
        };
        self.running.swap_remove(at);
        self.ended.push(pgid);
        if self.running.is_empty() {
            // Nothing runs: a group number it still held could be reused by a stranger.
            let lines: String = self.ended.drain(..).map(|g| format!("-{g}\n")).collect();
            let _ = self.tell(&lines);
        }
    }

    /// Writes `lines` to it, starting it first when it is not running (then it is told of every
    /// group running instead).
    fn tell(&mut self, lines: &str) -> std::io::Result<()> {
        if let Some(input) = &mut self.input {
            if input.write_all(lines.as_bytes()).is_ok() {
                return Ok(());
            }
            // It is gone (someone killed it): a new one takes over every group running.
            self.input = None;
        }
        let mut watchdog = Command::new(shell())
            .arg("-c")
            .arg(WATCHDOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        // It is never waited for: it ends when our end of its stdin closes with us.
        let mut input = watchdog
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the watchdog has no stdin"))?;
        std::mem::forget(watchdog);
        self.ended.clear();
        let all: String = self.running.iter().map(|g| format!("+{g}\n")).collect();
        input.write_all(all.as_bytes())?;
        self.input = Some(input);
        Ok(())
    }
}

/// The watchdog, whatever a thread that panicked holding it left.
fn watchdog() -> MutexGuard<'static, Watchdog> {
    WATCHDOG_STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts `cmd` (made by [`command_for`]) with the watchdog told about its process group.
///
/// What this guarantees of a consumer killed by SIGKILL: every handler the watchdog was told
/// of goes with it. The one exception is a kill in the instant between the handler's start
/// and that one write to the watchdog: that handler keeps running, but without its message,
/// for its stdin (written only after this returns) closes empty with the consumer.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let (mut child, told) = with_stop_signals_unblocked(|| {
        let child = cmd.spawn()?;
        let told = watchdog().started(child.id());
        Ok::<_, std::io::Error>((child, told))
    })?;
    if let Err(e) = told {
        // A handler nothing would stop with the consumer is not started.
        kill_group(&child, libc::SIGKILL);
        let _ = child.wait();
        return Err(std::io::Error::other(format!(
            "the watchdog that stops handlers with the consumer cannot start: {e}"
        )));
    }
    Ok(child)
}

/// Runs `start` with the stop signals (SIGINT, SIGTERM, SIGHUP) unblocked in this thread: the
/// consumer blocks them in every thread but the one that handles them, and `posix_spawn` starts
/// a child with the mask of the thread that spawns it, so a handler would never see the SIGTERM
/// of its timeout. A stop signal arriving meanwhile runs the process's handler here, which only
/// records it (and `posix_spawn` itself blocks every signal around its clone).
fn with_stop_signals_unblocked<R>(start: impl FnOnce() -> R) -> R {
    // SAFETY: sigemptyset/sigaddset fill local sets; pthread_sigmask changes this thread's mask
    // only, and the old one is put back.
    unsafe {
        let mut stop: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut stop);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut stop, signal);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &stop, &mut old);
        let started = start();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        started
    }
}

/// `sh -c command` set up as every handler runs: in a process group of its own (so a timeout
/// or a stop takes down whatever it started). Start it with [`spawn`] and end it with
/// [`kill_group`], so the watchdog knows about it.
///
/// A command of plain words (see [`plain_words`]) whose program is found on `PATH` runs that
/// program directly, as `sh` would after splitting it: one process and one exec instead of a
/// shell that forks for it.
///
/// No hook runs between fork and exec, so the standard library starts it with `posix_spawn`
/// (a process group is one of its attributes); [`spawn`] unblocks the stop signals around it,
/// so the handler starts with none blocked.
pub fn command_for(command: &str) -> Command {
    let direct = plain_words(command).and_then(|words| {
        let first = *words.first()?;
        Some((first, program(first)?, words[1..].to_vec()))
    });
    let mut cmd = match direct {
        Some((name, program, args)) => {
            let mut cmd = Command::new(program);
            // Its argv[0] as typed, as the shell would pass it.
            cmd.arg0(name).args(args);
            cmd
        }
        None => {
            let mut cmd = Command::new(shell());
            cmd.arg("-c").arg(command);
            cmd
        }
    };
    cmd.process_group(0);
    cmd
}

/// The shell's builtins and reserved words: a command naming one first needs the shell.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval",
    "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local",
    "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true",
    "type", "ulimit", "umask", "unalias", "unset", "wait", "case", "do", "done", "elif", "else",
    "esac", "fi", "for", "if", "in", "then", "until", "while",
];

/// The words of `command` when the shell would only split it at blanks and run its first word
/// as a program: no quoting, expansion, globbing, redirection, operator, comment or
/// assignment, and a first word that is no builtin or reserved word (`true` and `false` alone
/// excepted: their programs exit as the builtins do, and an exit status is all a handler's run
/// tells when it prints nothing). `None` when it needs the shell.
pub fn plain_words(command: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = command
        .split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect();
    let plain = |word: &str| {
        word.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./,:+@%=-".contains(&b))
    };
    let first = *words.first()?;
    let alone = matches!(first, "true" | "false") && words.len() == 1;
    if !words.iter().all(|w| plain(w))
        || first.contains('=')
        || (SHELL_WORDS.contains(&first) && !alone)
    {
        return None;
    }
    Some(words)
}

/// Where `name` runs from: itself when it names a path, else the first executable file of that
/// name on `PATH`, looked up once per name; `None` when there is none (then the shell says
/// "not found", exit 127, as before), or when it is neither a binary nor a `#!` script (the
/// shell runs such a file as a script; `posix_spawn` would refuse it).
fn program(name: &str) -> Option<PathBuf> {
    static FOUND: Mutex<Vec<(String, Option<PathBuf>)>> = Mutex::new(Vec::new());
    let mut found = FOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = found.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let runnable = |path: &Path| {
        let mut head = [0u8; 4];
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            && std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok_and(|()| head == *b"\x7fELF" || head.starts_with(b"#!"))
    };
    let path = match name.contains('/') {
        true => Some(PathBuf::from(name)).filter(|p| runnable(p)),
        false => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_absolute() && runnable(p))
        }),
    };
    found.push((name.to_string(), path.clone()));
    path
}

/// The `sh` of `PATH`, looked up once: started by its bare name, every handler's start tried
/// each directory of `PATH` in turn (seven failed execs on a usual PATH before `/bin/sh`).
fn shell() -> &'static Path {
    static SHELL: OnceLock<PathBuf> = OnceLock::new();
    SHELL.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("sh"))
                    .find(|sh| {
                        sh.is_absolute()
                            && sh
                                .metadata()
                                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    })
            })
            .unwrap_or_else(|| PathBuf::from("sh"))
    })
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
        watchdog().ended(child.id());
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

    /// Plain words run without the shell; anything the shell would interpret keeps it.
    #[test]
    fn plain_words_or_the_shell() {
        assert_eq!(plain_words("true"), Some(vec!["true"]));
        assert_eq!(
            plain_words("my-handler --to=db  /tmp/x"),
            Some(vec!["my-handler", "--to=db", "/tmp/x"])
        );
        for shell in [
            "true --help",
            "echo hi",
            "read line",
            "exit 3",
            "cat > /dev/null",
            "a && b",
            "sleep 1; echo",
            "echo $MONSOON_ID",
            "FOO=1 cmd",
            "ls *.txt",
            "cat ~/x",
            "say 'hi'",
            "a\nb",
            "",
        ] {
            assert_eq!(plain_words(shell), None, "{shell:?}");
        }
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
}
