//! The judge: every failure of an exchange with the server is decided here, once, and nowhere
//! else. Is it a break to ride out (the connection dropped, a cluster moved the key, the server
//! is loading or was demoted), a refusal (authentication, permission), or the server's answer to
//! report? And the sentence each one becomes.
//!
//! ```text
//! connection reset, EOF, timeout        Break      reconnect within --retry-for
//! MOVED, ASK, TRYAGAIN, CLUSTERDOWN     Redirect   ask the cluster again (with --cluster)
//! LOADING                               Loading    wait: the data is coming back
//! READONLY, MASTERDOWN, WAIT on replica Demoted    find the master again (a failover)
//! NOAUTH, WRONGPASS, NOPERM, ACL (ERR)  Refused    exit 4
//! anything else                         Answer     the server's words, exit 1
//! ```

use std::io;
use std::time::Duration;

use super::resp::{BadReply, ServerError};
use crate::error::Error;

/// Why an exchange failed before the server answered it.
#[derive(Debug)]
pub enum Fault {
    /// The connection failed: reset, closed, or no reply within its timeout.
    Io(io::Error),
    /// What came back is not the protocol, or not shaped as the reply must be.
    Garbled(BadReply),
}

impl From<io::Error> for Fault {
    fn from(err: io::Error) -> Self {
        Fault::Io(err)
    }
}

impl From<BadReply> for Fault {
    fn from(err: BadReply) -> Self {
        Fault::Garbled(err)
    }
}

/// A failed exchange: the connection's fault, or the server's error answer.
#[derive(Debug)]
pub enum Failure {
    /// The exchange itself failed.
    Fault(Fault),
    /// The server answered with an error.
    Answer(ServerError),
}

impl From<Fault> for Failure {
    fn from(fault: Fault) -> Self {
        Failure::Fault(fault)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Fault(Fault::Io(err))
    }
}

impl From<BadReply> for Failure {
    fn from(err: BadReply) -> Self {
        Failure::Fault(Fault::Garbled(err))
    }
}

/// What a failure means for the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection broke: reconnect; the caller then re-syncs what the server holds.
    Break,
    /// A cluster serves the key elsewhere, or is not ready: ask it again where the key is.
    Redirect,
    /// The server is loading its data after a restart: wait for it.
    Loading,
    /// The node is no longer a master (a failover): find the master again.
    Demoted,
    /// The server refused the credentials or the command.
    Refused,
    /// The server's answer, to report as it is.
    Answer,
}

/// Judges `failure` on a link that is (`cluster`) or is not routed by a cluster.
pub fn judge(failure: &Failure, cluster: bool) -> Verdict {
    match failure {
        Failure::Fault(Fault::Io(_)) => Verdict::Break,
        Failure::Fault(Fault::Garbled(_)) => Verdict::Answer,
        Failure::Answer(err) => judge_answer(err, cluster),
    }
}

/// Judges a server's error answer.
pub fn judge_answer(err: &ServerError, cluster: bool) -> Verdict {
    match err.code() {
        "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN" if cluster => Verdict::Redirect,
        "LOADING" => Verdict::Loading,
        "READONLY" | "MASTERDOWN" => Verdict::Demoted,
        // A WAIT sent to a master demoted since (a failover): find the master again.
        "ERR" if err.detail().starts_with("WAIT cannot be used with replica") => Verdict::Demoted,
        _ if refused(err) => Verdict::Refused,
        _ => Verdict::Answer,
    }
}

/// Whether an error answer is a break in disguise, ridden out by the link rather than reported:
/// loading, a demoted master, a cluster redirect (on a cluster link).
pub fn is_ridden_out(err: &ServerError, cluster: bool) -> bool {
    matches!(
        judge_answer(err, cluster),
        Verdict::Loading | Verdict::Demoted | Verdict::Redirect
    )
}

/// Whether the server refused the credentials or the command: an authentication or ACL error,
/// also one raised inside a script (Redis 7 and Valkey answer those with `ERR`, in their words:
/// "The user executing the script can't run this command", "ACL failure in script").
fn refused(err: &ServerError) -> bool {
    matches!(err.code(), "NOAUTH" | "WRONGPASS" | "NOPERM")
        || (err.is("ERR")
            && (err.detail().contains("user executing the script can't run")
                || err.detail().contains("ACL failure in script")
                || err.detail().starts_with("invalid password")
                || err.detail().starts_with("AUTH")))
}

/// Whether an XADD was refused because the stream already reached its ID: another writer wrote
/// it (or a later one) first.
pub fn is_taken(err: &ServerError) -> bool {
    err.detail()
        .contains("equal or smaller than the target stream top item")
}

/// Whether XSETID was refused because the stream already holds a later entry (another writer
/// appended since its last ID was read).
pub fn is_taken_by_setid(err: &ServerError) -> bool {
    err.detail()
        .contains("smaller than the target stream top item")
}

/// Whether the server lost the group (or the stream under a blocked read): NOGROUP, or Redis 7's
/// UNBLOCKED for a stream deleted while a read waited on it.
pub fn is_no_group(err: &ServerError) -> bool {
    err.is("NOGROUP") || err.is("UNBLOCKED")
}

/// One line for an I/O failure; a timeout says how long was waited.
pub fn describe_io(err: &io::Error, waited: Option<Duration>) -> String {
    match (err.kind(), waited) {
        (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(waited)) => {
            format!("no answer within {}", humantime::format_duration(waited))
        }
        (io::ErrorKind::UnexpectedEof, _) => String::from("the server closed the connection"),
        _ => err.to_string().replace('\n', " "),
    }
}

/// The reason a server error is reported with: its words, with a hint where one helps.
pub fn reason(err: &ServerError, cluster: bool) -> String {
    let mut reason = err.to_string();
    if !cluster && (err.is("MOVED") || err.is("ASK")) {
        reason.push_str(" (this server is part of a Redis Cluster: pass --cluster)");
    }
    if err.is("NOAUTH") {
        reason.push_str(
            " (the server wants a password: redis://:PASSWORD@host, best given in REDIS_URL)",
        );
    }
    reason
}

/// The sentence for a reply that is not the Redis protocol at all (an HTTP server answered),
/// or not shaped as expected.
pub fn garbled(err: &BadReply) -> String {
    match err.0 {
        "the reply is not the Redis protocol" => format!(
            "what answered is not a Redis server (its reply is not the Redis protocol: {err})"
        ),
        other => format!("unexpected reply: {other}"),
    }
}

/// The [`Error`] for a failure of `what` on the server at `address` that is not a break.
pub fn error(address: &str, what: String, failure: &Failure, cluster: bool) -> Error {
    let address = address.to_string();
    match failure {
        Failure::Answer(err) if judge_answer(err, cluster) == Verdict::Refused => Error::Refused {
            address,
            what,
            reason: reason(err, cluster),
        },
        Failure::Answer(err) => Error::Server {
            address,
            what,
            reason: reason(err, cluster),
        },
        Failure::Fault(Fault::Garbled(err)) => Error::Server {
            address,
            what,
            reason: garbled(err),
        },
        Failure::Fault(Fault::Io(err)) => Error::Server {
            address,
            what,
            reason: describe_io(err, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Failure {
        Failure::Answer(ServerError(text.to_string()))
    }

    /// Every kind of failure gets its verdict; redirects only count on a cluster.
    #[test]
    fn verdicts() {
        let io = Failure::Fault(Fault::Io(io::Error::from(io::ErrorKind::ConnectionReset)));
        assert_eq!(judge(&io, false), Verdict::Break);
        assert_eq!(
            judge(&answer("MOVED 3999 127.0.0.1:7001"), true),
            Verdict::Redirect
        );
        assert_eq!(
            judge(&answer("MOVED 3999 127.0.0.1:7001"), false),
            Verdict::Answer
        );
        assert_eq!(
            judge(&answer("CLUSTERDOWN The cluster is down"), true),
            Verdict::Redirect
        );
        assert_eq!(
            judge(&answer("LOADING Redis is loading"), false),
            Verdict::Loading
        );
        assert_eq!(
            judge(
                &answer("READONLY You can't write against a read only replica."),
                false
            ),
            Verdict::Demoted
        );
        assert_eq!(
            judge(&answer("NOPERM no permissions"), false),
            Verdict::Refused
        );
        assert_eq!(
            judge(
                &answer("ERR WAIT cannot be used with replica instances. Please also note ..."),
                false
            ),
            Verdict::Demoted
        );
        assert_eq!(
            judge(&answer("NOGROUP No such key"), false),
            Verdict::Answer
        );
        assert_eq!(
            judge(&Failure::Fault(Fault::Garbled(BadReply("x"))), false),
            Verdict::Answer
        );
    }

    /// A command a script was refused by the ACL is a refusal (exit 4), as NOPERM is; any other
    /// script error is not.
    #[test]
    fn a_script_refused_by_the_acl_is_a_refusal() {
        for refused in [
            "ERR The user executing the script can't run this command or subcommand script: 85, on @user_script:32.",
            "ERR ACL failure in script: User sensor has no permissions to run the 'xtrim' command script: 85, on @user_script:32.",
        ] {
            let err = error(
                "127.0.0.1:7000",
                "EVAL on chennai".into(),
                &answer(refused),
                false,
            );
            assert_eq!(err.exit_code(), crate::exit::REFUSED, "{err}");
        }
        let failed = error(
            "127.0.0.1:7000",
            "EVAL on chennai".into(),
            &answer(
                "ERR user_script:1: Script attempted to access nonexistent global variable 'x'",
            ),
            false,
        );
        assert_eq!(failed.exit_code(), crate::exit::FAILURE, "{failed}");
    }

    /// Only bytes that are not the protocol mean "not a Redis server"; a reply of another
    /// shape, from a real server, is reported as what it is.
    #[test]
    fn only_a_protocol_error_means_not_redis() {
        let http = Failure::Fault(Fault::Garbled(BadReply(
            "the reply is not the Redis protocol",
        )));
        let said = error("127.0.0.1:80", "XRANGE chennai".into(), &http, false).to_string();
        assert!(said.contains("is not a Redis server"), "{said}");
        let shape = Failure::Fault(Fault::Garbled(BadReply("expected an array")));
        let said = error("127.0.0.1:80", "XRANGE chennai".into(), &shape, false).to_string();
        assert!(!said.contains("not a Redis server"), "{said}");
    }

    /// A redirect off a cluster suggests --cluster; NOAUTH says how to pass a password.
    #[test]
    fn hints() {
        let moved = ServerError(String::from("MOVED 1 127.0.0.1:7001"));
        assert!(reason(&moved, false).contains("pass --cluster"));
        assert!(!reason(&moved, true).contains("pass --cluster"));
        let noauth = ServerError(String::from("NOAUTH Authentication required."));
        assert!(reason(&noauth, false).contains("redis://:PASSWORD@host"));
        assert!(is_taken(&ServerError(String::from(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        ))));
    }
}
