//! Reading scenario and suite files: bytes to text (a UTF-8 byte-order mark is skipped,
//! anything that is not UTF-8 text is refused with its byte offset), RON text to values with
//! the failing field located, and a field path back to its line and column.
//!
//! ```
//! use lbsim::input::{decode, locate};
//! let text = decode(b"\xEF\xBB\xBF(nodes: (count: 0))").unwrap();
//! assert_eq!(locate(text, "nodes.count"), Some((1, 10)));
//! ```

use std::fmt;
use std::path::Path;

/// Why text did not deserialize: where, which field, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RonError {
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    /// The field path, e.g. `clients[0].load.OpenLoop.pacing` (empty at top level).
    pub field: String,
    /// What is wrong and what would be valid (ron lists the expected fields and variants).
    pub message: String,
}

/// The UTF-8 byte-order mark some editors (Notepad) put at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The text of a file's bytes: UTF-8 without a leading byte-order mark, and no NUL byte.
///
/// # Errors
/// A [`RonError`] with the line, column and byte offset (in `bytes`) of the first byte that
/// is not text.
pub fn decode(bytes: &[u8]) -> Result<&str, RonError> {
    let refuse = |position, message| RonError {
        position: Some(position),
        field: String::new(),
        message,
    };
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(refuse(
            (1, 1),
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8".into(),
        ));
    }
    let skipped = if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let body = &bytes[skipped..];
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            // The prefix is valid UTF-8 by definition of `valid_up_to`.
            let prefix = std::str::from_utf8(&body[..at]).unwrap_or_default();
            let (line, col) = line_col(prefix, at);
            return Err(refuse(
                (line, col),
                format!(
                    "not UTF-8 text: byte 0x{:02X} at offset {} (line {line}, column {col}) does not start a valid UTF-8 character; save the file as UTF-8",
                    body[at],
                    skipped + at
                ),
            ));
        }
    };
    if let Some(at) = text.find('\0') {
        return Err(refuse(
            line_col(text, at),
            format!(
                "a NUL byte at offset {}: a scenario is a text file (is this a binary or a damaged file?)",
                skipped + at
            ),
        ));
    }
    Ok(text)
}

/// Deserialize RON text into `T` (unknown fields refused where `T` says so; optional values may
/// be written bare), locating any error by line, column and field path.
///
/// # Errors
/// A [`RonError`].
pub fn parse_ron<T: serde::de::DeserializeOwned>(
    text: &str,
    recursion_limit: usize,
) -> Result<T, RonError> {
    let located = |e: ron::error::SpannedError, field: String| {
        let message = match e.code {
            // ron's own text suggests raising its limit, which a user cannot do.
            ron::Error::ExceededRecursionLimit => format!(
                "nested more than {recursion_limit} levels deep (a valid file needs far fewer)"
            ),
            code => code.to_string(),
        };
        RonError {
            position: Some((e.span.start.line, e.span.start.col)),
            field,
            message,
        }
    };
    let options = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .with_recursion_limit(recursion_limit);
    let mut de = ron::Deserializer::from_str_with_options(text, &options)
        .map_err(|e| located(e, String::new()))?;
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let field = known_segments(&e.path().to_string());
            return Err(located(de.span_error(e.into_inner()), field));
        }
    };
    if let Err(e) = de.end() {
        return Err(located(de.span_error(e), String::new()));
    }
    Ok(value)
}

/// A serde path without the `?` segments it has where the deserializer never got inside a
/// named field (`.` alone is the top level).
fn known_segments(path: &str) -> String {
    path.split('.')
        .filter(|s| !s.is_empty() && *s != "?")
        .collect::<Vec<_>>()
        .join(".")
}

/// The 1-based line and column of byte `offset` of `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where the field `path` (`variants[2].bgp.speaker.hold`, the form validation errors use)
/// is written in RON `text`: the 1-based line and column of its name (of the element, for an
/// index), or of the closest enclosing value that is written when the field itself takes its
/// default. Enum variants and `Some(..)` around a value are looked through; a segment naming
/// the variant (`load.OpenLoop.rate`) is accepted too. None when the text is not RON enough
/// to find even the top level.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segments = segments(path)?;
    let mut scan = Scan {
        b: text.as_bytes(),
        i: 0,
        deepest: None,
        entered: 0,
    };
    let at = scan.find(&segments).or(scan.deepest)?;
    Some(line_col(text, at))
}

/// The field names of the top-level struct of RON `text`, in order (none when it does not
/// start like a struct).
pub fn top_level_fields(text: &str) -> Vec<&str> {
    let mut scan = Scan {
        b: text.as_bytes(),
        i: 0,
        deepest: None,
        entered: 0,
    };
    let mut fields = Vec::new();
    scan.skip_blank();
    if scan.ident().is_some() {
        scan.skip_blank(); // a struct name: `Scenario(..)`
    }
    if scan.peek() != Some(b'(') {
        return fields;
    }
    scan.i += 1;
    loop {
        scan.skip_blank();
        match scan.peek() {
            None | Some(b')') => return fields,
            Some(b',') => scan.i += 1,
            _ => {
                if let Some(key) = scan.ident() {
                    scan.skip_blank();
                    if scan.peek() == Some(b':') {
                        scan.i += 1;
                        fields.push(key);
                    }
                }
                scan.skip_value();
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Field(name));
        }
        while let Some(tail) = rest.strip_prefix('[') {
            let (index, after) = tail.split_once(']')?;
            out.push(Segment::Index(index.parse().ok()?));
            rest = after;
        }
    }
    Some(out)
}

/// A forgiving walk over RON text: just enough structure (strings, comments, brackets,
/// `name:` entries) to follow a field path.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// The start of the deepest value or entry reached on the path.
    deepest: Option<usize>,
    /// Values entered by [`Scan::find`], bounded so that wrappers nested without end
    /// (`Some(Some(..` ) cannot exhaust the stack.
    entered: usize,
}

/// Deeper than any scenario or suite file can be (the parser stops at 64 levels).
const MAX_FIND_DEPTH: usize = 128;

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Whitespace and comments (`// ..` and nested `/* .. */`).
    fn skip_blank(&mut self) {
        loop {
            match (self.peek(), self.b.get(self.i + 1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.i += 1,
                (Some(b'/'), Some(b'/')) => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    self.i += 2;
                    let mut depth = 1;
                    while depth > 0 && self.i < self.b.len() {
                        if self.b[self.i..].starts_with(b"/*") {
                            depth += 1;
                            self.i += 2;
                        } else if self.b[self.i..].starts_with(b"*/") {
                            depth -= 1;
                            self.i += 2;
                        } else {
                            self.i += 1;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.i;
        let raw = self.b[self.i..].starts_with(b"r#");
        let mut j = if raw { start + 2 } else { start };
        if !self
            .b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        {
            return None;
        }
        while self
            .b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            j += 1;
        }
        self.i = j;
        let b: &'a [u8] = self.b;
        std::str::from_utf8(&b[if raw { start + 2 } else { start }..j]).ok()
    }

    /// A `"..."` or `r#"..."#` string or a `'c'` char.
    fn skip_quoted(&mut self) {
        let Some(open) = self.peek() else { return };
        if open == b'r' {
            let hashes = self.b[self.i + 1..]
                .iter()
                .take_while(|c| **c == b'#')
                .count();
            self.i += 2 + hashes; // r, the hashes, the quote
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            while self.i < self.b.len() && !self.b[self.i..].starts_with(&close) {
                self.i += 1;
            }
            self.i = (self.i + close.len()).min(self.b.len());
            return;
        }
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\\' {
                self.i += 1;
            } else if c == open {
                return;
            }
        }
        self.i = self.i.min(self.b.len());
    }

    fn at_raw_string(&self) -> bool {
        let rest = &self.b[self.i..];
        rest.first() == Some(&b'r')
            && rest[1..]
                .iter()
                .find(|c| **c != b'#')
                .is_some_and(|c| *c == b'"')
    }

    /// One value: a string, a bracketed group, or a token (number, identifier) with an
    /// optional group after it (`Frr(..)`, `Some(..)`).
    fn skip_value(&mut self) {
        self.skip_blank();
        match self.peek() {
            Some(b'"' | b'\'') => self.skip_quoted(),
            _ if self.at_raw_string() => self.skip_quoted(),
            Some(b'(' | b'[' | b'{') => self.skip_group(),
            Some(_) => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    !(c.is_ascii_whitespace()
                        || matches!(
                            c,
                            b',' | b')' | b']' | b'}' | b':' | b'(' | b'[' | b'{' | b'"'
                        ))
                }) {
                    self.i += 1;
                }
                if self.i == start {
                    self.i += 1; // a stray delimiter: step over it
                    return;
                }
                self.skip_blank();
                if self.peek() == Some(b'(') {
                    self.skip_group();
                }
            }
            None => {}
        }
    }

    /// A bracketed group and everything in it, however deep: a loop with a depth count, not
    /// recursion, so that no input can exhaust the stack.
    fn skip_group(&mut self) {
        let mut depth = 0usize;
        loop {
            self.skip_blank();
            match self.peek() {
                None => return,
                Some(b'(' | b'[' | b'{') => {
                    depth += 1;
                    self.i += 1;
                }
                Some(b')' | b']' | b'}') => {
                    self.i += 1;
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                Some(b'"' | b'\'') => self.skip_quoted(),
                _ if self.at_raw_string() => self.skip_quoted(),
                Some(_) => self.i += 1,
            }
        }
    }

    /// At the start of a value: the offset of `path` inside it.
    fn find(&mut self, path: &[Segment<'_>]) -> Option<usize> {
        self.entered += 1;
        if self.entered > MAX_FIND_DEPTH {
            return None;
        }
        self.skip_blank();
        let start = self.i;
        self.deepest = Some(start);
        let Some((first, rest)) = path.split_first() else {
            return Some(start);
        };
        if let Some(name) = self.ident() {
            self.skip_blank();
            if self.peek() != Some(b'(') {
                return None; // a plain identifier holds nothing
            }
            if *first == Segment::Field(name) {
                // The path names the enum variant itself (`load.OpenLoop.rate`).
                self.i = start;
                let _ = self.ident();
                self.skip_blank();
                return if rest.is_empty() {
                    Some(start)
                } else {
                    self.find_in_group(rest)
                };
            }
        }
        self.find_in_group(path)
    }

    /// At a `(` or `[`: the offset of `path` inside the group.
    fn find_in_group(&mut self, path: &[Segment<'_>]) -> Option<usize> {
        let (first, rest) = path.split_first()?;
        match (self.peek()?, first) {
            (b'[', Segment::Index(k)) => {
                self.i += 1;
                for _ in 0..*k {
                    self.skip_value();
                    self.skip_blank();
                    if self.peek() != Some(b',') {
                        return None;
                    }
                    self.i += 1;
                }
                self.skip_blank();
                if self.peek().is_none_or(|c| c == b']') {
                    return None;
                }
                self.find(rest)
            }
            (b'(', _) => {
                self.i += 1;
                loop {
                    self.skip_blank();
                    let entry = self.i;
                    match self.peek() {
                        None | Some(b')') => return None,
                        Some(b',') => {
                            self.i += 1;
                            continue;
                        }
                        _ => {}
                    }
                    if let Some(key) = self.ident() {
                        self.skip_blank();
                        if self.peek() == Some(b':') {
                            self.i += 1;
                            if *first == Segment::Field(key) {
                                self.deepest = Some(entry);
                                return if rest.is_empty() {
                                    Some(entry)
                                } else {
                                    self.find(rest)
                                };
                            }
                            self.skip_value();
                            continue;
                        }
                    }
                    // A positional value: `Some(..)`, `OnNodes([..])` or a newtype; the
                    // path goes on inside it.
                    self.i = entry;
                    return self.find(path);
                }
            }
            _ => None,
        }
    }
}

/// Writes where a located message is, `file:line:col: [kind: ]field `f``, as every error and
/// warning about a file begins.
pub(crate) fn write_place(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    position: Option<(usize, usize)>,
    kind: &str,
    field: &str,
) -> fmt::Result {
    write!(f, "{}", file.display())?;
    if let Some((line, col)) = position {
        write!(f, ":{line}:{col}")?;
    }
    if !kind.is_empty() {
        write!(f, ": {kind}")?;
    }
    if !field.is_empty() {
        write!(f, ": field `{field}`")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"(
    name: "t", // a comment with a ( bracket
    nodes: (count: 3),
    service: (pods: (replicas: 3, placement: OnNodes(["node-1", "node-2"]),
        service_time: LogNormal(median: "1ms", sigma: 0.5))),
    /* clients: nothing here */
    clients: [
        (name: "a", load: OpenLoop(rate: 1)),
        (name: "b,)", load: Wrk(threads: 2, connections: 1)),
    ],
    variants: [(name: "x"), (name: "y", bgp: Some((speaker: Frr(keepalive: "3s", hold: "1s"))))],
)"#;

    #[test]
    fn field_paths_find_their_line_and_column() {
        for (path, want) in [
            ("name", (2, 5)),
            ("nodes.count", (3, 13)),
            ("service.pods.placement[1]", (4, 65)),
            ("service.pods.service_time.sigma", (5, 48)),
            ("service.pods.service_time.LogNormal.sigma", (5, 48)),
            ("clients", (7, 5)),
            ("clients[1].load.connections", (9, 45)),
            ("variants[1].bgp.speaker.hold", (11, 82)),
            // A field left at its default: the closest written parent.
            ("variants[0].bgp", (11, 16)),
        ] {
            assert_eq!(locate(TEXT, path), Some(want), "{path}");
        }
    }

    #[test]
    fn top_level_fields_tell_a_suite_from_a_scenario() {
        assert_eq!(
            top_level_fields("// x\n(name: \"s\", tests: [(name: \"a\")], iterations: 3,)"),
            vec!["name", "tests", "iterations"]
        );
        assert_eq!(top_level_fields("SuiteFile(tests: [])"), vec!["tests"]);
        assert!(top_level_fields("[1, 2]").is_empty());
    }

    #[test]
    fn garbage_is_never_a_panic() {
        for text in [
            "",
            "(",
            ")",
            "([",
            "(a: r#\"x",
            "(a: \"\\",
            "(a: [1, 2",
            "/* (",
            "((((a:",
        ] {
            let _ = locate(text, "a[3].b.c");
            let _ = top_level_fields(text);
        }
    }

    #[test]
    fn a_bom_is_skipped_and_invalid_utf8_located_by_byte() {
        assert_eq!(decode(b"\xEF\xBB\xBF(a: 1)").unwrap(), "(a: 1)");
        let e = decode(b"(\n  a: \"\xFF\")").unwrap_err();
        assert_eq!(e.position, Some((2, 7)));
        assert!(
            e.message.contains("0xFF at offset 8 (line 2, column 7)"),
            "{}",
            e.message
        );
        let e = decode(b"\xEF\xBB\xBF\xC3(").unwrap_err();
        assert!(e.message.contains("offset 3"), "{}", e.message);
        assert!(decode(b"\xFF\xFE(\0")
            .unwrap_err()
            .message
            .contains("UTF-16"));
        let e = decode(b"(a:\n\0)").unwrap_err();
        assert_eq!(e.position, Some((2, 1)));
        assert!(e.message.contains("NUL byte at offset 4"), "{}", e.message);
    }
}
