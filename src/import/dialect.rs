//! monsoon's own CSV: what `inspect range --csv` writes so that `--from` reads back exactly the
//! entries it came from, and a spreadsheet never runs a value as a formula.
//!
//! ```text
//! monsoon-id,time,v,"'=name"                   the mark: the first column is `monsoon-id`
//! 1000-0,1970-01-01T00:00:01Z,"'=1+1",         a formula, neutralised; `=name` absent
//! 2000-0,1970-01-01T00:00:02Z,-3.5,"'"         a number as it is; `=name` empty
//! 3000-0,1970-01-01T00:00:03Z,"''quoted",7     a value that starts with ' gets one more
//! ```
//!
//! Every cell (header and rows alike) that starts with `=`, `+`, `-`, `@`, a tab or a CR (as
//! OWASP lists what spreadsheets take for a formula), or with `'`, gets one `'` before it and
//! is quoted, unless it is a plain number (`-3.5`, `+2`, `-1e3`). An empty value is written as
//! `'` alone, so an empty cell is a field the entry does not have. The import strips the one
//! `'` from a cell that starts with it, and reads an empty cell as no field, only in a file
//! whose header is marked ([`MARK`]): any other CSV is read as it is.

use std::borrow::Cow;

/// The first header cell of an export: the mark of a file in this dialect.
pub const MARK: &str = "monsoon-id";

/// The text an export writes for `value`: with a `'` before it where a spreadsheet would take
/// it for a formula, where it starts with `'` itself, or where it is empty.
pub fn escape(value: &[u8]) -> Cow<'_, [u8]> {
    let marked = match value.first() {
        None | Some(b'\'' | b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => !is_plain_number(value),
        Some(_) => false,
    };
    if !marked {
        return Cow::Borrowed(value);
    }
    let mut text = Vec::with_capacity(value.len() + 1);
    text.push(b'\'');
    text.extend_from_slice(value);
    Cow::Owned(text)
}

/// A cell of a marked file as the value it stands for: `None` for an empty cell (no field),
/// else the cell without the one `'` [`escape`] put before it.
pub fn unescape(cell: &[u8]) -> Option<&[u8]> {
    match cell {
        [] => None,
        [b'\'', rest @ ..] => Some(rest),
        _ => Some(cell),
    }
}

/// Whether `value` is a plain decimal number: a sign, digits with at most one `.` (at least one
/// digit), and an optional exponent (`e`, a sign, digits). Nothing else, not even a space.
pub fn is_plain_number(value: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = value
        .strip_prefix(b"+")
        .or(value.strip_prefix(b"-"))
        .unwrap_or(value);
    let whole = digits(rest);
    rest = &rest[whole..];
    let mut fraction = 0;
    if let Some(after) = rest.strip_prefix(b".") {
        fraction = digits(after);
        rest = &after[fraction..];
    }
    if whole + fraction == 0 {
        return false;
    }
    if let Some(after) = rest.strip_prefix(b"e").or(rest.strip_prefix(b"E")) {
        let after = after
            .strip_prefix(b"+")
            .or(after.strip_prefix(b"-"))
            .unwrap_or(after);
        let exponent = digits(after);
        return exponent > 0 && exponent == after.len();
    }
    rest.is_empty()
}

/// Appends one CSV row of `cells` (already escaped where they need it) to `out`, RFC 4180: a
/// cell is quoted when it holds a comma, a quote or a line end, or starts with the `'` of
/// [`escape`] (as OWASP advises for a neutralised cell), its quotes doubled.
pub fn write_row<'c>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'c [u8]>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let quoted = cell.first() == Some(&b'\'')
            || cell
                .iter()
                .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
        if !quoted {
            out.extend_from_slice(cell);
            continue;
        }
        out.push(b'"');
        for &b in cell {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formula starts and `'` get one `'`; numbers, other text and an ID do not; empty is `'`.
    #[test]
    fn escapes_what_a_spreadsheet_would_run() {
        for (value, written) in [
            ("=1+1", "'=1+1"),
            ("+x", "'+x"),
            ("-x", "'-x"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("", "'"),
            ("-", "'-"),
            ("-.", "'-."),
            ("-1e", "'-1e"),
            ("-1e3x", "'-1e3x"),
            ("- 3", "'- 3"),
            ("-inf", "'-inf"),
            ("-3.5", "-3.5"),
            ("+2", "+2"),
            ("-1e3", "-1e3"),
            ("-.5", "-.5"),
            ("+1.E-7", "+1.E-7"),
            ("1534291200000-0", "1534291200000-0"),
            ("rain", "rain"),
        ] {
            assert_eq!(escape(value.as_bytes()), written.as_bytes(), "{value:?}");
            assert_eq!(
                unescape(&escape(value.as_bytes())),
                Some(value.as_bytes()),
                "{value:?} comes back"
            );
        }
        assert_eq!(unescape(b""), None, "an empty cell is no field");
    }

    /// Cells are quoted where RFC 4180 needs it and where they were neutralised.
    #[test]
    fn writes_rows() {
        let mut out = Vec::new();
        let cells: [&[u8]; 5] = [b"a", b"hot, \"very\"", b"'=1", b"", b"x\ny"];
        write_row(&mut out, cells);
        assert_eq!(out, b"a,\"hot, \"\"very\"\"\",\"'=1\",,\"x\ny\"\n");
    }
}
