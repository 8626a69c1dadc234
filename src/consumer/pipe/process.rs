//! The `--pipe` handler process: starting it, writing to it, reading its answers.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::super::Pipe;
use super::super::handler::{self, Ended};
use crate::error::{Error, Result};
use crate::stream_id::StreamId;

/// A running `--pipe` handler.
pub(in crate::consumer) struct PipeProcess {
    /// The `sh -c CMD` process (its own process group).
    pub(super) child: Child,
    /// Where messages are written.
    pub(super) stdin: Option<ChildStdin>,
    /// Its stdout, line by line (`None`: it closed).
    pub(super) lines: Receiver<Option<Vec<u8>>>,
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
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else {
                let _ = sender.send(None);
                return;
            };
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        let _ = sender.send(None);
                        return;
                    }
                    Ok(_) => {
                        if sender.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(PipeProcess {
            child,
            stdin,
            lines,
        })
    }

    /// Writes message lines; false when the handler no longer reads (it exited: EPIPE is no
    /// error of ours).
    pub(super) fn send(&mut self, line: &[u8]) -> bool {
        match &mut self.stdin {
            Some(stdin) => stdin.write_all(line).and_then(|()| stdin.flush()).is_ok(),
            None => false,
        }
    }

    /// Stops it and returns how it ended.
    pub(super) fn stop(&mut self) -> Ended {
        drop(self.stdin.take());
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
        drop(self.stdin.take());
        handler::kill_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
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
            match process
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Some(heard)) => match answer(&heard) {
                    Some(Answer::Ack(s, i)) if s == stream && i == id => return Ok(Ok(())),
                    Some(Answer::Fail(s, i, reason)) if s == stream && i == id => {
                        return Ok(Err(format!("handler failed: {reason}")));
                    }
                    Some(_) => {}
                    None => out.write_all(&heard)?,
                },
                Ok(None) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
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
    drop(process.stdin.take());
    let deadline = Instant::now() + timeout;
    while let Ok(Some(line)) = process
        .lines
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        if answer(&line).is_none() {
            out.write_all(&line)?;
        }
    }
    out.flush()?;
    process.stop();
    Ok(())
}

/// What the handler said about one message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// `ack STREAM ID`.
    Ack(String, StreamId),
    /// `fail STREAM ID REASON...`.
    Fail(String, StreamId, String),
}

/// Reads an answer line; `None` for any other line (passed on to stdout).
pub(super) fn answer(line: &[u8]) -> Option<Answer> {
    let line = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    let mut words = line.splitn(4, ' ');
    let verb = words.next()?;
    let stream = words.next()?.to_string();
    let id = words.next()?.parse().ok()?;
    match verb {
        "ack" => Some(Answer::Ack(stream, id)),
        "fail" => Some(Answer::Fail(
            stream,
            id,
            words.next().unwrap_or("no reason given").to_string(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers are read by their first word; anything else is output to pass on.
    #[test]
    fn reads_answers() {
        assert_eq!(
            answer(b"ack chennai 5-0\n"),
            Some(Answer::Ack(String::from("chennai"), StreamId::new(5, 0)))
        );
        assert_eq!(
            answer(b"fail chennai 5-1 sensor offline\n"),
            Some(Answer::Fail(
                String::from("chennai"),
                StreamId::new(5, 1),
                String::from("sensor offline")
            ))
        );
        assert_eq!(answer(b"mean 27.1\n"), None);
        assert_eq!(answer(b"ack chennai\n"), None);
    }
}
