//! Where a field path (`clients[2].load.interval`) is written in RON text: the line and column
//! of its key (or, for a list element, of the element), so an error about a value that parsed
//! fine (too large, too small, too costly) points at the place a person would edit.
//!
//! A single pass over the text's tokens, keeping the path of the innermost key; variant and
//! struct names (`OpenLoop(...)`, `Some(...)`) are transparent, as are CamelCase segments of
//! the path asked for, so `clients[0].load.OpenLoop.rate` and `clients[0].load.rate` both find
//! `rate` inside `load: OpenLoop(rate: ...)`. A field left out (it took its default) is located
//! at the nearest enclosing one that is written.

/// The 1-based line and column of `path` in `text`, or of its longest written prefix; `None`
/// when not even the first segment is written.
pub fn field(text: &str, path: &str) -> Option<(usize, usize)> {
    let target = segments(path);
    if target.is_empty() {
        return None;
    }
    let tokens = tokens(text);
    let mut current: Vec<String> = Vec::new();
    // Per open bracket: its kind, the path length where it opened, and the list index.
    let mut frames: Vec<(u8, usize, usize)> = Vec::new();
    let mut best: Option<(usize, usize)> = None; // (matched segments, byte offset)
    let mut element_next = false;
    let consider = |current: &[String], at: usize, best: &mut Option<(usize, usize)>| {
        let n = current
            .iter()
            .zip(&target)
            .take_while(|(a, b)| a == b)
            .count();
        if n == current.len() && n > best.map_or(0, |b| b.0) {
            *best = Some((n, at));
        }
    };
    let mut i = 0;
    while i < tokens.len() {
        let (at, tok) = tokens[i];
        if element_next && tok != Tok::Close(b']') {
            consider(&current, at, &mut best);
        }
        element_next = false;
        match tok {
            Tok::Open(kind) => {
                frames.push((kind, current.len(), 0));
                if kind == b'[' {
                    current.push("[0]".into());
                    element_next = true;
                }
            }
            Tok::Close(_) => {
                if let Some((_, len, _)) = frames.pop() {
                    current.truncate(len);
                }
            }
            Tok::Comma => {
                if let Some((kind, len, index)) = frames.last_mut() {
                    if *kind == b'[' {
                        *index += 1;
                        current.truncate(*len);
                        current.push(format!("[{index}]"));
                        element_next = true;
                    }
                }
            }
            Tok::Ident(name) => {
                let is_key = matches!(tokens.get(i + 1), Some((_, Tok::Colon)))
                    && frames.last().is_some_and(|f| f.0 == b'(');
                if is_key {
                    if let Some((_, len, _)) = frames.last() {
                        current.truncate(*len);
                    }
                    current.push(name.to_string());
                    consider(&current, at, &mut best);
                    i += 1; // the colon
                }
            }
            Tok::Colon | Tok::Other => {}
        }
        if best.is_some_and(|b| b.0 == target.len()) {
            break;
        }
        i += 1;
    }
    best.map(|(_, at)| line_col(text, at))
}

/// `a[2].b.Variant.c` -> `a`, `[2]`, `b`, `c` (variant names dropped).
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push(name.to_string());
        }
        for index in rest.split_inclusive(']') {
            out.push(index.to_string());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Open(u8),
    Close(u8),
    Comma,
    Colon,
    Ident(&'a str),
    Other,
}

/// The tokens that matter for structure, with their byte offsets; strings, chars, numbers and
/// comments are skipped whole.
fn tokens(text: &str) -> Vec<(usize, Tok<'_>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b'(' | b'[' | b'{' => {
                out.push((i, Tok::Open(c)));
                i += 1;
            }
            b')' | b']' | b'}' => {
                out.push((i, Tok::Close(c)));
                i += 1;
            }
            b',' => {
                out.push((i, Tok::Comma));
                i += 1;
            }
            b':' => {
                out.push((i, Tok::Colon));
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in RON.
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push((start, Tok::Other));
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && raw_string_end(b, i).is_some() => {
                i = raw_string_end(b, i).unwrap_or(b.len());
                out.push((start, Tok::Other));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push((start, Tok::Ident(&text[start..i])));
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                // Numbers, signs, attributes, anything else: one token up to a delimiter.
                i += 1;
                while i < b.len() && !b"()[]{},: \t\r\n\"'/".contains(&b[i]) {
                    i += 1;
                }
                out.push((start, Tok::Other));
            }
        }
    }
    out
}

/// The end of a raw string `r#"..."#` starting at `i`, if it is one.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
    let open = i + 1 + hashes;
    if b.get(open) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    b[open + 1..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map(|p| open + 1 + p + close.len())
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"// a comment with clients: [ and (
(
    name: "t (with brackets [ in a string",
    duration: "1s",
    nodes: (count: 3),
    clients: [
        (name: "a", load: OpenLoop(rate: 100)),
        (name: "b", count: 7, load: Ping(interval: "1ns")),
        /* (name: "c") */ (name: "c", load: Fortio(qps: 10, connections: 2)),
    ],
    variants: [(name: "v", l2: (clients: OnSegment))],
)"#;

    #[test]
    fn finds_keys_by_path_not_by_first_occurrence() {
        assert_eq!(field(TEXT, "duration"), Some((4, 5)));
        assert_eq!(field(TEXT, "nodes.count"), Some((5, 13)));
        assert_eq!(field(TEXT, "clients[1].count"), Some((8, 21)));
        assert_eq!(field(TEXT, "clients[1].load.interval"), Some((8, 42)));
        assert_eq!(field(TEXT, "clients[1].load.Ping.interval"), Some((8, 42)));
        assert_eq!(field(TEXT, "clients[2].load.qps"), Some((9, 52)));
        assert_eq!(field(TEXT, "variants[0].l2.clients"), Some((11, 33)));
    }

    #[test]
    fn a_field_left_out_is_located_at_what_encloses_it() {
        // clients[0] has no count: its element is where to add one.
        assert_eq!(field(TEXT, "clients[0].count"), Some((7, 9)));
        assert_eq!(field(TEXT, "timeseries_bucket"), None);
        assert_eq!(field(TEXT, "clients[2]"), Some((9, 27)));
    }

    #[test]
    fn raw_strings_and_garbage_do_not_confuse_it() {
        let text = "(name: r#\"x: [\"#, duration: \"1s\", ]]]) ) (";
        assert_eq!(field(text, "duration"), Some((1, 19)));
        assert_eq!(field("", "duration"), None);
        assert_eq!(field("(((((", "a[3].b"), None);
    }
}
