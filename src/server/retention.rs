//! Retention on the server: trimming a stream to the entries of its last DUR (by its own newest
//! entry ID, not the clock) without ever cutting into what a consumer group still needs, in one
//! script; and trimming a dead-letter stream by the clock.
//!
//! ```text
//! EVAL "<TRIM_RETAINED>" 1 chennai 3600000 0      -> [deleted, wanted cut, applied cut, holder]
//!   XREVRANGE chennai + - COUNT 1                 the newest entry: wanted cut = its ms - DUR + 1
//!   XINFO GROUPS chennai                          per group, its pin:
//!   XPENDING chennai slow - + 1                     its smallest pending ID, if it has any,
//!   XRANGE chennai (<last-delivered-id> + COUNT 1   else the first entry it was not given yet
//!   XTRIM chennai MINID <the lowest of them all>
//! XTRIM chennai:dead MINID <now ms - DUR>          dead letters: their IDs are server times
//! ```
//!
//! The computation and the trim run as one script so no group can read, claim or fall behind
//! between them; it touches one key (`KEYS[1]`), so it runs on a cluster node as it does on one
//! server. Counting what a group pins is left to the client ([`super::streams::count_entries`]): it can be
//! millions of entries, and a script would block the server while it counts.

use super::link::Link;
use super::resp::{Command, Reply};
use super::streams;
use crate::error::Result;
use crate::stream_id::StreamId;

/// The trim as one script. ARGV[1]: DUR in milliseconds, at least 1; ARGV[2]: `1` to ignore the
/// groups. Returns `{deleted, wanted cut, applied cut, holding group}`, empty strings for none (a
/// nil would end a Lua array). XINFO GROUPS answers a script with flat name/value lists (RESP2);
/// `lag` may be nil, and is not read.
///
/// Lua's numbers are doubles, exact only to 2^53, and an ID's parts are u64s: `5-9007199254740993`
/// would pass for `5-9007199254740992`, and a time near 2^64 rounds up past the stream's newest
/// entry. So every ID part is split into two exact halves (the digits above the last nine, and
/// the last nine), compared half by half, and the wanted cut is subtracted the same way, with a
/// borrow. Lua 5.1, as Redis 7.0 and Valkey 8 embed it.
const TRIM_RETAINED: &str = r"
    local function split(digits)
        local n = #digits
        if n <= 9 then return 0, tonumber(digits) end
        return tonumber(string.sub(digits, 1, n - 9)), tonumber(string.sub(digits, n - 8))
    end
    local function parse(id)
        local ms, seq = string.match(id, '^(%d+)-(%d+)$')
        local ms_high, ms_low = split(ms)
        local seq_high, seq_low = split(seq)
        return {ms_high, ms_low, seq_high, seq_low}
    end
    local function below(a, b)
        local x, y = parse(a), parse(b)
        for i = 1, 4 do
            if x[i] ~= y[i] then return x[i] < y[i] end
        end
        return false
    end
    local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
    if #newest == 0 then return {0, '', '', ''} end
    local newest_id = parse(newest[1][1])
    local dur_high, dur_low = split(ARGV[1])
    local high, low = newest_id[1] - dur_high, newest_id[2] - dur_low + 1
    if low < 0 then
        high, low = high - 1, low + 1e9
    elseif low >= 1e9 then
        high, low = high + 1, low - 1e9
    end
    if high < 0 or (high == 0 and low <= 0) then return {0, '', '', ''} end
    local wanted
    if high > 0 then
        wanted = string.format('%.0f%09.0f-0', high, low)
    else
        wanted = string.format('%.0f-0', low)
    end
    local cut, holder = wanted, ''
    if ARGV[2] ~= '1' then
        for _, flat in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
            local group = {}
            for i = 1, #flat, 2 do group[flat[i]] = flat[i + 1] end
            local pin
            if group['pending'] > 0 then
                pin = redis.call('XPENDING', KEYS[1], group['name'], '-', '+', 1)[1][1]
            else
                local after = '(' .. group['last-delivered-id']
                local first = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', 1)
                if #first > 0 then pin = first[1][1] end
            end
            if pin and below(pin, cut) then cut, holder = pin, group['name'] end
        end
    end
    return {redis.call('XTRIM', KEYS[1], 'MINID', cut), wanted, cut, holder}";

/// What one retention trim did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trim {
    /// Entries deleted.
    pub deleted: u64,
    /// Where DUR alone would cut (`None`: the stream is empty, or nothing in it is old enough).
    pub wanted: Option<StreamId>,
    /// Where it did cut: the wanted cut, or the lowest pin of a group below it.
    pub applied: Option<StreamId>,
    /// The group whose pin held the cut back, if one did.
    pub held_by: Option<String>,
}

/// The script's reply as a [`Trim`]; `None` when it is not the four values the script returns.
pub fn parse_trim(reply: Reply) -> Option<Trim> {
    let items = reply.into_array()?;
    let [deleted, wanted, applied, held_by] = <[Reply; 4]>::try_from(items).ok()?;
    let id = |value: &Reply| match value.text()?.as_str() {
        "" => Some(None),
        text => text.parse().ok().map(Some),
    };
    Some(Trim {
        deleted: u64::try_from(deleted.int()?).ok()?,
        wanted: id(&wanted)?,
        applied: id(&applied)?,
        held_by: Some(held_by.text()?).filter(|name| !name.is_empty()),
    })
}

/// The retention trim of `key` as a command, for a pipeline (it is the same every time, so it
/// is packed once per run). EVAL, not EVALSHA: EVALSHA needs SCRIPT LOAD first, one more
/// command an ACL user would need; the script is under a kilobyte.
pub fn trim_command(key: &str, keep_ms: u64, ignore_groups: bool) -> Command {
    Command::new("EVAL")
        .arg(TRIM_RETAINED)
        .arg(1u64)
        .arg(key)
        // The script's arithmetic needs DUR >= 1 (a cut past the newest ID could overflow).
        .arg(keep_ms.max(1))
        .arg(if ignore_groups { "1" } else { "0" })
}

/// What a failed retention trim of `key` is called in errors: the command and the key.
pub fn trim_what(key: &str) -> String {
    format!("EVAL (the --retain trim) on {key}")
}

/// Runs the retention trim of `key` once (safe to repeat after a break: it trims to the same
/// place or further).
pub fn trim(link: &mut Link, key: &str, keep_ms: u64, ignore_groups: bool) -> Result<Trim> {
    let command = trim_command(key, keep_ms, ignore_groups);
    let reply = link.call(&command, || trim_what(key))?;
    parse_trim(reply).ok_or_else(|| {
        streams::shape(
            link,
            &trim_what(key),
            "not [deleted, wanted cut, applied cut, group]",
        )
    })
}

/// Trims the dead-letter stream `key` to the entries at or after `min_id` (XTRIM MINID: dead
/// letters get server-assigned IDs, so this is by the clock); returns how many were deleted. A
/// missing key trims nothing; a key of another type is [`crate::Error::WrongType`] and is not
/// changed.
pub fn trim_dead(link: &mut Link, key: &str, min_id: StreamId) -> Result<u64> {
    let command = Command::new("XTRIM").arg(key).arg("MINID").arg(min_id);
    let trimmed = link.call_or(&command, || format!("XTRIM {key}"), |e| e.is("WRONGTYPE"))?;
    match trimmed {
        Ok(deleted) => Ok(deleted
            .int()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0)),
        // TYPE names what the key holds; should it be a stream again by now (replaced in
        // between), there was nothing of it to trim yet.
        Err(_) => streams::ensure_stream(link, key).map(|()| 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script's four values become a trim; empty strings are "none".
    #[test]
    fn parses_the_scripts_reply() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let held = Reply::Array(vec![
            Reply::Int(18_000),
            bulk("1534374000001-0"),
            bulk("1534309200000-0"),
            bulk("slow"),
        ]);
        assert_eq!(
            parse_trim(held),
            Some(Trim {
                deleted: 18_000,
                wanted: Some(StreamId::new(1_534_374_000_001, 0)),
                applied: Some(StreamId::new(1_534_309_200_000, 0)),
                held_by: Some(String::from("slow")),
            })
        );
        let empty = Reply::Array(vec![Reply::Int(0), bulk(""), bulk(""), bulk("")]);
        assert_eq!(parse_trim(empty), Some(Trim::default()));
        assert_eq!(parse_trim(Reply::Array(vec![Reply::Int(0)])), None);
        assert_eq!(parse_trim(Reply::Nil), None);
        let bad_id = Reply::Array(vec![Reply::Int(0), bulk("soon"), bulk(""), bulk("")]);
        assert_eq!(parse_trim(bad_id), None);
    }
}
