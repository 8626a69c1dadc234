//! RESP2, the protocol Redis speaks, both ways: commands encoded straight into bytes, replies
//! framed as they arrive and then read into a [`Reply`] (or, for stream entries, into a
//! `Batch` without a value tree).
//!
//! ```text
//! *3\r\n$4\r\nXLEN\r\n$7\r\nchennai\r\n        a command: an array of bulk strings
//! :86400\r\n                                  an integer        +OK\r\n   a status
//! $7\r\nchennai\r\n   $-1\r\n (nil)           a bulk string     -NOGROUP ...\r\n   an error
//! *2\r\n:1\r\n$1\r\na\r\n   *-1\r\n (nil)      an array of any of these
//! ```
//!
//! Framing and decoding are apart: [`Framer`] finds where a reply ends as its bytes arrive,
//! remembering how far it got, so a 16 MB reply that comes in a thousand reads is scanned once,
//! not a thousand times; a decoder then reads the whole reply. Malformed input is a
//! [`BadReply`], never a panic.

/// A reply that is not the protocol, or not shaped as the command's reply should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadReply(pub &'static str);

/// The longest bulk string accepted: Redis's own `proto-max-bulk-len` default.
const MAX_BULK: usize = 512 << 20;

/// The longest line (a status, an error, a length) before it is not the protocol.
const MAX_LINE: usize = 64 << 10;

/// Arrays nested deeper than this are not a reply of any command we send.
const MAX_DEPTH: usize = 32;

/// A command, encoded as it is built: `Command::new("XLEN").arg(key)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// The encoded arguments, without the array header (which needs their count).
    body: Vec<u8>,
    /// How many arguments `body` holds, the name included.
    args: usize,
}

/// What a command argument can be made of.
pub trait Arg {
    /// Appends the argument as one bulk string.
    fn write_arg(&self, out: &mut Vec<u8>);
}

impl Arg for [u8] {
    fn write_arg(&self, out: &mut Vec<u8>) {
        bulk(out, self);
    }
}

impl Arg for str {
    fn write_arg(&self, out: &mut Vec<u8>) {
        bulk(out, self.as_bytes());
    }
}

impl Arg for String {
    fn write_arg(&self, out: &mut Vec<u8>) {
        bulk(out, self.as_bytes());
    }
}

impl Arg for Vec<u8> {
    fn write_arg(&self, out: &mut Vec<u8>) {
        bulk(out, self);
    }
}

impl Arg for crate::stream_id::StreamId {
    fn write_arg(&self, out: &mut Vec<u8>) {
        write_id(out, *self);
    }
}

/// Integers, formatted on the stack.
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn write_arg(&self, out: &mut Vec<u8>) {
                bulk(out, itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
int_arg!(u16, u32, u64, usize, i64);

impl<T: Arg + ?Sized> Arg for &T {
    fn write_arg(&self, out: &mut Vec<u8>) {
        (**self).write_arg(out);
    }
}

impl Command {
    /// A command named `name` (`XADD`, `XINFO`, ...), no arguments yet.
    pub fn new(name: &str) -> Self {
        let mut command = Command {
            body: Vec::with_capacity(64),
            args: 0,
        };
        command.push(name);
        command
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Arg) -> Self {
        self.push(arg);
        self
    }

    /// Adds an argument in place.
    pub fn push(&mut self, arg: impl Arg) {
        arg.write_arg(&mut self.body);
        self.args += 1;
    }

    /// Adds every argument of `args`.
    pub fn args<A: Arg>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        for arg in args {
            self.push(arg);
        }
        self
    }

    /// Appends the whole command to `out`, ready to send (several may go in one write).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        array_header(out, self.args);
        out.extend_from_slice(&self.body);
    }

    /// The whole command as bytes.
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 16);
        self.write_to(&mut out);
        out
    }
}

/// Appends the header of an array of `len` elements.
pub fn array_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string.
pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends an entry ID as a bulk string, formatted on the stack and appended in one piece (no
/// `fmt` machinery): an XACK carries one per message.
pub fn write_id(out: &mut Vec<u8>, id: crate::stream_id::StreamId) {
    let mut arg = StackArgs::<ID_BULK_MAX>::new();
    arg.id(id);
    out.extend_from_slice(arg.as_bytes());
}

/// The longest entry ID as a bulk string: `$41\r\n`, 20 digits, `-`, 20 digits, `\r\n`.
pub const ID_BULK_MAX: usize = 48;

/// The longest integer as a bulk string: `$20\r\n`, 20 digits, `\r\n`.
pub const UINT_BULK_MAX: usize = 27;

/// The longest tenths as a bulk string: `$12\r\n-214748364.8\r\n`.
pub const TENTHS_BULK_MAX: usize = 19;

/// Every two-digit number, for writing digits two at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// How many decimal digits `n` has.
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes the last `out.len()` decimal digits of `n` into `out`, leading zeros included; `out`
/// of a constant length unrolls to straight-line code.
#[inline(always)]
fn fixed_digits(mut n: u64, out: &mut [u8]) {
    let mut at = out.len();
    while at >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        out[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if at == 1 {
        out[0] = b'0' + (n % 10) as u8;
    }
}

/// Arguments encoded into a fixed buffer of `N` bytes on the stack, then copied to the
/// command buffer at once: the hot path's XADD is a few small numbers between constant parts,
/// and writing those straight into a `Vec` costs a capacity check and a `memcpy` call per piece.
///
/// `N` must hold everything written (the `*_MAX` constants bound each argument); more is an
/// internal error and panics.
#[derive(Debug, Clone, Copy)]
pub struct StackArgs<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for StackArgs<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> StackArgs<N> {
    /// Nothing written yet.
    #[inline]
    pub fn new() -> Self {
        StackArgs {
            buf: [0; N],
            len: 0,
        }
    }

    /// The bytes written so far.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// How many bytes are written.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends bytes that are already RESP (a constant part of a command).
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Appends `n` as a bulk string.
    #[inline(always)]
    pub fn uint(&mut self, n: u64) {
        // Most values are a sensor number or a humidity: one or two digits, written whole.
        if n < 10 {
            self.raw(&[b'$', b'1', b'\r', b'\n', b'0' + n as u8, b'\r', b'\n']);
        } else if n < 100 {
            let pair = n as usize * 2;
            let (tens, ones) = (PAIRS[pair], PAIRS[pair + 1]);
            self.raw(&[b'$', b'2', b'\r', b'\n', tens, ones, b'\r', b'\n']);
        } else {
            self.long_uint(n);
        }
    }

    /// [`StackArgs::uint`] of a number of three digits or more.
    #[inline(never)]
    fn long_uint(&mut self, n: u64) {
        let digits = digit_count(n);
        self.bulk_header(digits);
        self.digits(n, digits);
        self.raw(b"\r\n");
    }

    /// Appends a number of tenths as a bulk string with one decimal (`274`: `27.4`, `-5`:
    /// `-0.5`), as [`crate::reading::format_tenths`] writes it.
    #[inline]
    pub fn tenths(&mut self, tenths: i32) {
        let abs = tenths.unsigned_abs();
        let (whole, tenth) = (u64::from(abs / 10), (abs % 10) as u8);
        // Most temperatures are positive with two digits before the point: written whole.
        if (10..100).contains(&whole) && tenths > 0 {
            let (tens, ones) = (PAIRS[whole as usize * 2], PAIRS[whole as usize * 2 + 1]);
            return self.raw(&[
                b'$',
                b'4',
                b'\r',
                b'\n',
                tens,
                ones,
                b'.',
                b'0' + tenth,
                b'\r',
                b'\n',
            ]);
        }
        let digits = digit_count(whole);
        let sign = usize::from(tenths < 0);
        self.bulk_header(sign + digits + 2);
        if sign == 1 {
            self.raw(b"-");
        }
        self.digits(whole, digits);
        self.raw(&[b'.', b'0' + tenth, b'\r', b'\n']);
    }

    /// Appends an entry ID as a bulk string: `$15\r\n1534291200000-0\r\n`.
    #[inline]
    pub fn id(&mut self, id: crate::stream_id::StreamId) {
        // Every millisecond from 2001 to 2286 has 13 digits, and a sensor index below 10 one:
        // then the whole argument has one shape, filled in at fixed places.
        if (1_000_000_000_000..10_000_000_000_000).contains(&id.ms) && id.seq < 10 {
            let mut arg = *b"$15\r\n0000000000000-0\r\n";
            let (ms, seq) = arg[5..20].split_at_mut(13);
            fixed_digits(id.ms, ms);
            seq[1] = b'0' + id.seq as u8;
            return self.raw(&arg);
        }
        let (ms, seq) = (digit_count(id.ms), digit_count(id.seq));
        self.bulk_header(ms + 1 + seq);
        self.digits(id.ms, ms);
        self.raw(b"-");
        self.digits(id.seq, seq);
        self.raw(b"\r\n");
    }

    /// Appends `$len\r\n`.
    #[inline]
    fn bulk_header(&mut self, len: usize) {
        // Every argument written here is shorter than 100 bytes (the `*_MAX` constants).
        if len < 10 {
            return self.raw(&[b'$', b'0' + len as u8, b'\r', b'\n']);
        }
        if len < 100 {
            let (tens, ones) = (PAIRS[len * 2], PAIRS[len * 2 + 1]);
            return self.raw(&[b'$', tens, ones, b'\r', b'\n']);
        }
        self.raw(b"$");
        let len = len as u64;
        self.digits(len, digit_count(len));
        self.raw(b"\r\n");
    }

    /// Appends the `count` decimal digits of `n` (`count` is [`digit_count`] of it), two at a
    /// time from the right.
    #[inline]
    fn digits(&mut self, n: u64, count: usize) {
        let end = self.len + count;
        fixed_digits(n, &mut self.buf[self.len..end]);
        self.len = end;
    }
}

/// A server's error reply, `-CODE detail`, as it worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError(pub String);

impl ServerError {
    /// The first word: `NOGROUP`, `MOVED`, `ERR`, ...
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or_default()
    }

    /// What follows the code.
    pub fn detail(&self) -> &str {
        self.0.split_once(' ').map_or("", |(_, detail)| detail)
    }

    /// Whether the code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == code
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.replace(['\r', '\n'], " "))
    }
}

/// A reply as a value tree: for the replies of administrative commands (XINFO, XPENDING,
/// CLUSTER SLOTS, scripts). Stream entries are read without one (the batch module).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `$-1` or `*-1`.
    Nil,
    /// `:n`.
    Int(i64),
    /// `+text`.
    Status(String),
    /// `$n` and its bytes.
    Bulk(Vec<u8>),
    /// `*n` and its elements.
    Array(Vec<Reply>),
    /// `-text`.
    Error(ServerError),
}

impl Reply {
    /// Reads one whole reply (as framed by [`Framer`]).
    pub fn parse(bytes: &[u8]) -> Result<Reply, BadReply> {
        let mut cursor = Cursor::new(bytes);
        let reply = cursor.value(0)?;
        match cursor.pos == bytes.len() {
            true => Ok(reply),
            false => Err(BadReply("bytes after the end of a reply")),
        }
    }

    /// A string-like value as text (an integer as its digits).
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Bulk(raw) => Some(String::from_utf8_lossy(raw).into_owned()),
            Reply::Status(text) => Some(text.clone()),
            Reply::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A number, whether sent as an integer or as text.
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(raw) => std::str::from_utf8(raw).ok()?.parse().ok(),
            Reply::Status(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// The elements of an array; `None` for anything else.
    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Reply::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The server's error, if this is one.
    pub fn into_error(self) -> Result<Reply, ServerError> {
        match self {
            Reply::Error(err) => Err(err),
            other => Ok(other),
        }
    }
}

/// Finds where a reply ends in bytes that arrive in pieces: [`Framer::scan`] is called with
/// everything received so far, and picks up where it stopped the last time.
#[derive(Debug, Default)]
pub struct Framer {
    /// How far the reply has been scanned.
    pos: usize,
    /// Elements still to come at each open array level, innermost last: `open[..depth]` (a
    /// fixed array, so framing a reply never allocates).
    open: [u64; MAX_DEPTH],
    /// How many array levels are open.
    depth: usize,
    /// Whether the top-level element was seen.
    started: bool,
}

impl Framer {
    /// Scans `buf` (the reply's bytes from its start, more each call) and returns the reply's
    /// length once it is all there; `None`: more bytes are needed. After a length, the framer
    /// is ready for the next reply.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, BadReply> {
        // The state lives in locals while scanning (registers, not memory): where it got to, how
        // many levels are open, and what is left of the innermost one (`open[depth - 1]`, stored
        // back when it is left or the bytes run out).
        let (mut pos, mut depth, mut started) = (self.pos, self.depth, self.started);
        let mut left = depth.checked_sub(1).map_or(0, |top| self.open[top]);
        loop {
            if started && depth == 0 {
                *self = Framer::default();
                return Ok(Some(pos));
            }
            let Some(&kind) = buf.get(pos) else {
                break;
            };
            let mut children = 0;
            // Lengths and integers (every header of a stream reply) are read where they stand;
            // statuses, errors and what is not the protocol go through the general line reader.
            let next = match kind {
                b'$' => {
                    let Some((n, body)) = number_line(buf, pos + 1)? else {
                        break;
                    };
                    match usize::try_from(n) {
                        // A nil bulk string (`$-1`) has no body.
                        Err(_) => body,
                        Ok(n) if n > MAX_BULK => {
                            return Err(BadReply("a bulk string longer than 512 MB"));
                        }
                        Ok(n) => {
                            let end = body + n + 2;
                            if buf.len() < end {
                                break;
                            }
                            if &buf[end - 2..end] != b"\r\n" {
                                return Err(BadReply(
                                    "a bulk string does not end where its length says",
                                ));
                            }
                            end
                        }
                    }
                }
                b'*' | b':' => {
                    let Some((n, next)) = number_line(buf, pos + 1)? else {
                        break;
                    };
                    if kind == b'*' && n > 0 {
                        children = n as u64;
                    }
                    next
                }
                _ => {
                    let mut cursor = Cursor { buf, pos };
                    let Some((kind, _)) = cursor.header()? else {
                        break;
                    };
                    if kind != b'+' && kind != b'-' {
                        return Err(BadReply("the reply is not the Redis protocol"));
                    }
                    cursor.pos
                }
            };
            pos = next;
            started = true;
            // This element is one of its parent's: count it, and close the levels it completes.
            if depth > 0 {
                left -= 1;
            }
            if children > 0 {
                if depth >= MAX_DEPTH {
                    return Err(BadReply("arrays nested too deep"));
                }
                if depth > 0 {
                    self.open[depth - 1] = left;
                }
                (left, depth) = (children, depth + 1);
            }
            while depth > 0 && left == 0 {
                depth -= 1;
                left = depth.checked_sub(1).map_or(0, |top| self.open[top]);
            }
        }
        // Only whole elements count as scanned: the next call reads a partial one again.
        if depth > 0 {
            self.open[depth - 1] = left;
        }
        (self.pos, self.depth, self.started) = (pos, depth, started);
        Ok(None)
    }
}

/// The number of a `$`, `*` or `:` header whose digits start at `at`, and where the next line
/// starts; `None` when the line is not all here yet.
///
/// Read in one pass over the digits, without looking for the line's end first: this runs for
/// every header of every reply, twice (framing, then decoding), and inlined where it is called
/// so its answer stays in registers.
#[inline(always)]
fn number_line(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, BadReply> {
    match buf.get(at) {
        // Negative: a nil (`$-1`, `*-1`) or an integer reply, rare in a stream of entries.
        Some(b'-') => negative_line(buf, at + 1),
        _ => digits_line(buf, at),
    }
}

/// [`number_line`] of a negative number, its digits at `at`, kept out of line.
#[cold]
#[inline(never)]
fn negative_line(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, BadReply> {
    Ok(digits_line(buf, at)?.map(|(n, next)| (-n, next)))
}

/// [`number_line`] of the digits at `at`, then the line's end.
#[inline(always)]
fn digits_line(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, BadReply> {
    let mut pos = at;
    // Nineteen digits fit a u64 without wrapping; more are refused below.
    let mut n = 0u64;
    let end = loop {
        let Some(&b) = buf.get(pos) else {
            return Ok(None);
        };
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break b;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
        pos += 1;
        if pos - at > 19 {
            return Err(BadReply("a length or integer is not a number"));
        }
    };
    if end != b'\r' || pos == at {
        return Err(BadReply("a length or integer is not a number"));
    }
    match buf.get(pos + 1) {
        Some(b'\n') => {}
        Some(_) => return Err(BadReply("a reply line holds a carriage return")),
        None => return Ok(None),
    }
    let n = i64::try_from(n).map_err(|_| BadReply("a length or integer is too large"))?;
    Ok(Some((n, pos + 2)))
}

/// The bytes of one whole reply, read front to back.
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// The next line without its `\r\n`; `None` when it is not all here yet.
    fn line(&mut self) -> Result<Option<&'a [u8]>, BadReply> {
        let rest = &self.buf[self.pos..];
        if let Some(cr) = rest.iter().position(|&b| b == b'\r') {
            match rest.get(cr + 1) {
                Some(b'\n') => {
                    self.pos += cr + 2;
                    return Ok(Some(&rest[..cr]));
                }
                Some(_) => return Err(BadReply("a reply line holds a carriage return")),
                None => {}
            }
        }
        match rest.len() > MAX_LINE {
            true => Err(BadReply("a reply line has no end")),
            false => Ok(None),
        }
    }

    /// The next element's type byte and the rest of its line; `None` when not all here.
    fn header(&mut self) -> Result<Option<(u8, &'a [u8])>, BadReply> {
        match self.line()? {
            Some([kind, rest @ ..]) => Ok(Some((*kind, rest))),
            Some([]) => Err(BadReply("an empty reply line")),
            None => Ok(None),
        }
    }

    /// The next element's header, which must be all here (the reply was framed).
    fn whole_header(&mut self) -> Result<(u8, &'a [u8]), BadReply> {
        self.header()?.ok_or(BadReply("the reply ends early"))
    }

    /// The number of the next element's header when its type is `kind` (`None`: it is of
    /// another type, and the cursor has not moved).
    #[inline(always)]
    fn number_of(&mut self, kind: u8) -> Result<Option<i64>, BadReply> {
        if self.buf.get(self.pos) != Some(&kind) {
            return Ok(None);
        }
        let (n, next) =
            number_line(self.buf, self.pos + 1)?.ok_or(BadReply("the reply ends early"))?;
        self.pos = next;
        Ok(Some(n))
    }

    /// The length of an array (`*n`); `-1` for a nil one.
    #[inline(always)]
    pub(super) fn array(&mut self) -> Result<i64, BadReply> {
        if let Some(n) = self.number_of(b'*')? {
            return Ok(n);
        }
        match self.whole_header()? {
            (b'-', _) => Err(BadReply("an error where an array was expected")),
            _ => Err(BadReply("expected an array")),
        }
    }

    /// A bulk string's bytes as a range of the buffer; `None` for a nil one.
    #[inline(always)]
    pub(super) fn bulk_span(&mut self) -> Result<Option<(usize, usize)>, BadReply> {
        let Some(n) = self.number_of(b'$')? else {
            self.whole_header()?;
            return Err(BadReply("expected a bulk string"));
        };
        if n < 0 {
            return Ok(None);
        }
        let start = self.pos;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|end| end.saturating_add(2) <= self.buf.len())
            .ok_or(BadReply("a bulk string runs past the reply"))?;
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(BadReply("a bulk string does not end where its length says"));
        }
        self.pos = end + 2;
        Ok(Some((start, end)))
    }

    /// A bulk string's bytes; `None` for a nil one.
    pub(super) fn bulk(&mut self) -> Result<Option<&'a [u8]>, BadReply> {
        Ok(self.bulk_span()?.map(|(start, end)| &self.buf[start..end]))
    }

    /// Any element, as a value tree.
    fn value(&mut self, depth: usize) -> Result<Reply, BadReply> {
        if depth > MAX_DEPTH {
            return Err(BadReply("arrays nested too deep"));
        }
        let start = self.pos;
        let (kind, rest) = self.whole_header()?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        Ok(match kind {
            b'+' => Reply::Status(text()),
            b'-' => Reply::Error(ServerError(text())),
            b':' => Reply::Int(number(rest)?),
            b'$' => {
                self.pos = start;
                match self.bulk()? {
                    Some(bytes) => Reply::Bulk(bytes.to_vec()),
                    None => Reply::Nil,
                }
            }
            b'*' => match number(rest)? {
                n if n < 0 => Reply::Nil,
                n => {
                    // What the reply says is coming, not more than its bytes could hold: a
                    // lying length must not reserve gigabytes.
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    let mut items = Vec::with_capacity(n.min(self.buf.len() / 4));
                    for _ in 0..n {
                        items.push(self.value(depth + 1)?);
                    }
                    Reply::Array(items)
                }
            },
            _ => return Err(BadReply("the reply is not the Redis protocol")),
        })
    }
}

/// A RESP length or integer.
pub(super) fn number(text: &[u8]) -> Result<i64, BadReply> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BadReply("a length or integer is not a number"));
    }
    let n = digits
        .iter()
        .try_fold(0i64, |n, d| {
            n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
        })
        .ok_or(BadReply("a length or integer is too large"))?;
    Ok(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_id::StreamId;

    /// Frames every reply in `bytes`, fed one byte at a time: each reply's length.
    fn frame_bytewise(bytes: &[u8]) -> Vec<usize> {
        let (mut framer, mut start, mut lengths) = (Framer::default(), 0, Vec::new());
        for end in 0..=bytes.len() {
            while let Some(len) = framer.scan(&bytes[start..end]).unwrap() {
                lengths.push(len);
                start += len;
            }
        }
        lengths
    }

    /// Commands encode as arrays of bulk strings, integers and IDs included.
    #[test]
    fn encodes_commands() {
        let command = Command::new("XADD")
            .arg("chennai")
            .arg(StreamId::new(5, 1))
            .arg(b"t".as_slice())
            .arg(27u64);
        assert_eq!(
            command.packed(),
            b"*5\r\n$4\r\nXADD\r\n$7\r\nchennai\r\n$3\r\n5-1\r\n$1\r\nt\r\n$2\r\n27\r\n"
        );
        assert_eq!(Command::new("PING").packed(), b"*1\r\n$4\r\nPING\r\n");
        let long = StreamId::new(u64::MAX, 1534291200000);
        let mut id = Vec::new();
        write_id(&mut id, long);
        assert_eq!(id, format!("$34\r\n{long}\r\n").into_bytes());
    }

    /// Integers, tenths and IDs written on the stack are the bytes of `bulk` of their text, at
    /// every digit count (the fixed shapes' edges included).
    #[test]
    fn stack_args_match_bulk() {
        let mut numbers = vec![0, 1, 9, 10, 11, 99, 100, 101, u64::MAX, u64::MAX / 10];
        numbers.extend((0..20).map(|p| 10u64.pow(p)));
        numbers.extend((1..20).map(|p| 10u64.pow(p) - 1));
        for &n in &numbers {
            let mut ours = StackArgs::<UINT_BULK_MAX>::new();
            ours.uint(n);
            let mut theirs = Vec::new();
            bulk(&mut theirs, n.to_string().as_bytes());
            assert_eq!(ours.as_bytes(), theirs);
            for &seq in &[0, 7, 9, 10, n, u64::MAX] {
                let id = StreamId::new(n, seq);
                let mut ours = Vec::new();
                write_id(&mut ours, id);
                let mut theirs = Vec::new();
                bulk(&mut theirs, format!("{n}-{seq}").as_bytes());
                assert_eq!(ours, theirs);
            }
        }
        let negative = [i32::MIN, i32::MIN + 1, -1000, -999, -100, -11, -10, -9, -1];
        let positive = [0, 1, 9, 10, 99, 100, 274, 999, 1000, 99_999, i32::MAX];
        for tenths in negative.into_iter().chain(positive) {
            let mut ours = StackArgs::<TENTHS_BULK_MAX>::new();
            ours.tenths(tenths);
            let mut theirs = Vec::new();
            bulk(
                &mut theirs,
                crate::reading::format_tenths(tenths, &mut [0; 16]),
            );
            assert_eq!(ours.as_bytes(), theirs, "{tenths}");
        }
    }

    /// Replies are framed however their bytes arrive, one after another.
    #[test]
    fn frames_replies_as_they_arrive() {
        let replies: [&[u8]; 7] = [
            b"+OK\r\n",
            b":500\r\n",
            b"$5\r\nab\r\nc\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*2\r\n*1\r\n$1\r\na\r\n*0\r\n",
            b"-NOGROUP No such key\r\n",
        ];
        let mut replies = replies.to_vec();
        // A stream reply: headers and bulk strings cut anywhere, a partial one read again.
        let stream = b"*1\r\n*2\r\n$7\r\nchennai\r\n*2\r\n*2\r\n$15\r\n1534291200000-0\r\n\
            *4\r\n$6\r\nsensor\r\n$2\r\n12\r\n$1\r\nt\r\n$0\r\n\r\n*2\r\n$3\r\n1-0\r\n*-1\r\n";
        replies.insert(3, stream.as_slice());
        let all: Vec<u8> = replies.concat();
        let lengths: Vec<usize> = replies.iter().map(|r| r.len()).collect();
        assert_eq!(frame_bytewise(&all), lengths);
    }

    /// Values read as trees; errors keep their code and detail.
    #[test]
    fn parses_values() {
        let reply = Reply::parse(b"*4\r\n:1\r\n$1\r\na\r\n$-1\r\n*1\r\n+OK\r\n").unwrap();
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Bulk(b"a".to_vec()),
                Reply::Nil,
                Reply::Array(vec![Reply::Status(String::from("OK"))]),
            ])
        );
        let Reply::Error(err) = Reply::parse(b"-NOGROUP No such key\r\n").unwrap() else {
            panic!("not an error");
        };
        assert_eq!((err.code(), err.detail()), ("NOGROUP", "No such key"));
        assert_eq!(Reply::parse(b":-42\r\n"), Ok(Reply::Int(-42)));
    }

    /// Bytes that are not the protocol, lengths that lie, and absurd nesting are errors.
    #[test]
    fn malformed_replies_are_errors() {
        for bad in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"$3\r\nabcd\r\n",
            b":x\r\n",
            b"*1\r\n$3\r\nab\r\n\r\n",
            b"\r\n",
            b"+a\rb\r\n",
        ] {
            let framed = Framer::default().scan(bad);
            let parsed = Reply::parse(bad);
            assert!(
                framed.is_err() || parsed.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "*1\r\n".repeat(40);
        assert!(Framer::default().scan(deep.as_bytes()).is_err());
        assert!(Framer::default().scan(b"$999999999999\r\n").is_err());
        assert_eq!(Framer::default().scan(b"$5\r\nab"), Ok(None));
    }

    /// Fuzz-style: random bytes and damaged replies never panic the framer or the parser.
    #[test]
    fn random_damage_never_panics() {
        let valid = b"*3\r\n*2\r\n$7\r\nchennai\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n:5\r\n+OK\r\n";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"*$:-+\r\n0123456789-1abc";
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                valid.to_vec()
            } else {
                (0..(next() % 64) as usize)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            if !bytes.is_empty() {
                for _ in 0..=next() % 3 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
            }
            if let Ok(Some(len)) = Framer::default().scan(&bytes) {
                assert!(len <= bytes.len());
                let _ = Reply::parse(&bytes[..len]);
            }
            let _ = Reply::parse(&bytes);
        }
    }
}
