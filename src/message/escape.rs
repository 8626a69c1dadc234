//! Where names, values, stream keys and consumer names are escaped for the human line: control
//! characters, `\` and bytes that are not UTF-8 as escapes, so one entry is always one line of
//! text; in a word (a stream key, a consumer name) a space too. And where a word is read back.

/// Appends `bytes` with control characters escaped (`\n`, `\r`, `\t`, `\\`, others as `\xNN`),
/// so a field value can never start a line of its own or drive the terminal: one entry is always
/// one line. Bytes that are not UTF-8 (a binary value) are `\xNN` too, so the line is text.
/// Bytes that need no escaping (nearly all) are copied in one go.
pub fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    write_escaped_as(out, bytes, false);
}

/// Appends `bytes` as one word of the human line: [`write_escaped`], and a space as `\x20`,
/// so a stream key or a consumer name with spaces (`new delhi`) stays one word, which a
/// `--pipe` handler can echo back in its answer as it is ([`unescape_word`] reads it).
pub fn write_word(out: &mut Vec<u8>, bytes: &[u8]) {
    write_escaped_as(out, bytes, true);
}

/// What a byte of the human line needs, as bits: [`CONTROL`] bytes are always escaped,
/// [`SPACE`] only in a word, [`HIGH`] bytes only when they are not part of valid UTF-8.
static CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = match b as u8 {
            0..0x20 | 0x7f | b'\\' => CONTROL,
            b' ' => SPACE,
            0x80.. => HIGH,
            _ => 0,
        };
        b += 1;
    }
    class
};

/// A control character or `\`: always escaped.
const CONTROL: u8 = 1;
/// A space: escaped in a word.
const SPACE: u8 = 2;
/// A byte of a multi-byte character, or of none: escaped unless valid UTF-8.
const HIGH: u8 = 4;

/// [`write_escaped`], with spaces escaped too when `word`.
#[inline]
fn write_escaped_as(out: &mut Vec<u8>, bytes: &[u8], word: bool) {
    // One table look-up a byte decides for nearly every name and value that it is copied as
    // it is, in one go: this runs for every name and value printed.
    let space = if word { SPACE } else { 0 };
    match bytes
        .iter()
        .any(|&b| CLASS[usize::from(b)] & (CONTROL | HIGH | space) != 0)
    {
        false => out.extend_from_slice(bytes),
        true => write_escaped_slowly(out, bytes, space),
    }
}

/// [`write_escaped_as`] of bytes that need a closer look, `space` being [`SPACE`] in a word: the
/// rare case, kept out of line so the common one stays small.
#[cold]
#[inline(never)]
fn write_escaped_slowly(out: &mut Vec<u8>, bytes: &[u8], space: u8) {
    for chunk in bytes.utf8_chunks() {
        write_escaped_text(out, chunk.valid().as_bytes(), CONTROL | space);
        for &b in chunk.invalid() {
            write_hex(out, b);
        }
    }
}

/// Appends `\xNN`.
fn write_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ]);
}

/// [`write_escaped`] of text already known to be UTF-8, escaping the bytes of the classes in
/// `escape`; the runs between them are copied whole.
fn write_escaped_text(out: &mut Vec<u8>, mut bytes: &[u8], escape: u8) {
    while let Some(at) = bytes
        .iter()
        .position(|&b| CLASS[usize::from(b)] & escape != 0)
    {
        out.extend_from_slice(&bytes[..at]);
        match bytes[at] {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b => write_hex(out, b),
        }
        bytes = &bytes[at + 1..];
    }
    out.extend_from_slice(bytes);
}

/// `text` as one word, escaped as [`write_word`] does (for stream keys in messages to people).
pub fn word(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    write_word(&mut out, text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads back a word [`write_word`] (or [`write_escaped`]) wrote: `\\`, `\n`, `\r`, `\t` and
/// `\xNN` become their bytes again; `None` for any other escape or a `\` at the end.
pub fn unescape_word(word: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(word.len());
    let mut bytes = word.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next()? {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = [bytes.next()?, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `text` with control characters escaped as [`write_escaped`] does.
pub fn escaped(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    write_escaped(&mut out, text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaping as first written, a byte at a time: the oracle for the table-driven one.
    fn escaped_bytewise(bytes: &[u8], word: bool) -> Vec<u8> {
        let needs = |b: u8| b < 0x20 || b == 0x7f || b == b'\\' || (word && b == b' ');
        let mut out = Vec::new();
        for chunk in bytes.utf8_chunks() {
            for &b in chunk.valid().as_bytes() {
                match b {
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b if needs(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    b => out.push(b),
                }
            }
            for &b in chunk.invalid() {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
        }
        out
    }

    /// Values and words of every byte, valid and broken UTF-8 escape as the byte-at-a-time
    /// oracle does.
    #[test]
    fn escapes_as_the_bytewise_oracle() {
        let alphabet: Vec<u8> = [
            b"ab \\\n\r\t\x00\x1f\x7f\xff\xc3".as_slice(),
            "é😀".as_bytes(),
        ]
        .concat();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        let mut inputs: Vec<Vec<u8>> = vec![(0..=255).collect(), Vec::new()];
        for _ in 0..5000 {
            let len = next(12);
            inputs.push((0..len).map(|_| alphabet[next(alphabet.len())]).collect());
        }
        for input in &inputs {
            let (mut value, mut word) = (Vec::new(), Vec::new());
            write_escaped(&mut value, input);
            write_word(&mut word, input);
            assert_eq!(value, escaped_bytewise(input, false), "{input:?}");
            assert_eq!(word, escaped_bytewise(input, true), "{input:?}");
        }
    }
}
