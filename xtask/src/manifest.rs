//! Just enough TOML to read `Cargo.toml` files: tables, dotted keys, strings, arrays and
//! inline tables. Numbers, booleans and dates are kept as their text.
//!
//! xtask keeps to `clap`, `anyhow` and `job-schedule`, so it reads manifests with this
//! reader rather than the `toml` crate. It accepts every manifest that Cargo accepts in
//! practice and fails with a line number on anything it does not understand.

use std::fmt::Write as _;

/// A TOML value. Tables keep their keys in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Array(Vec<Value>),
    Table(Table),
    /// A number, a boolean or a date, as written.
    Other(String),
}

/// A TOML table: keys in the order they appear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table(Vec<(String, Value)>);

impl Table {
    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value at a dotted path of keys, such as `["workspace", "members"]`.
    pub fn path(&self, keys: &[&str]) -> Option<&Value> {
        let (first, rest) = keys.split_first()?;
        let value = self.get(first)?;
        if rest.is_empty() {
            Some(value)
        } else {
            value.as_table()?.path(rest)
        }
    }

    /// The table at a dotted path of keys.
    pub fn table(&self, keys: &[&str]) -> Option<&Table> {
        self.path(keys)?.as_table()
    }

    /// The string at a dotted path of keys.
    pub fn string(&self, keys: &[&str]) -> Option<&str> {
        self.path(keys)?.as_str()
    }

    /// The keys and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn entry_table(&mut self, key: &str, line: usize) -> Result<&mut Table, String> {
        let index = match self.0.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.0
                    .push((key.to_owned(), Value::Table(Table::default())));
                self.0.len() - 1
            }
        };
        match &mut self.0[index].1 {
            Value::Table(table) => Ok(table),
            // `[[bin]]` then `[bin.x]`, or a key under an array of tables: the last one.
            Value::Array(items) => match items.last_mut() {
                Some(Value::Table(table)) => Ok(table),
                _ => Err(format!("line {line}: `{key}` is not a table")),
            },
            _ => Err(format!("line {line}: `{key}` is not a table")),
        }
    }

    fn insert(&mut self, keys: &[String], value: Value, line: usize) -> Result<(), String> {
        let (last, parents) = keys.split_last().expect("a key has at least one part");
        let mut table = self;
        for key in parents {
            table = table.entry_table(key, line)?;
        }
        if table.get(last).is_some() {
            return Err(format!("line {line}: duplicate key `{last}`"));
        }
        table.0.push((last.clone(), value));
        Ok(())
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether the value is the boolean `true`.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Other(text) if text == "true")
    }
}

/// Parses a whole document.
pub fn parse(text: &str) -> Result<Table, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    parser.document()
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("line {}: {what}", self.line))
    }

    /// Spaces and tabs.
    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Spaces, tabs, newlines and comments.
    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                return;
            }
            self.bump();
        }
    }

    /// The rest of a line after a key-value pair or a header: blanks and a comment.
    fn end_of_line(&mut self) -> Result<(), String> {
        self.skip_blank();
        if self.peek() == Some('#') {
            self.skip_comment();
        }
        match self.peek() {
            None | Some('\n') => Ok(()),
            Some('\r') if self.peek_at(1) == Some('\n') => Ok(()),
            Some(c) => self.error(&format!("unexpected `{c}` at the end of a line")),
        }
    }

    fn document(&mut self) -> Result<Table, String> {
        let mut root = Table::default();
        let mut current: Vec<String> = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Ok(root),
                Some('[') => {
                    let line = self.line;
                    self.bump();
                    let array = self.peek() == Some('[');
                    if array {
                        self.bump();
                    }
                    self.skip_blank();
                    let keys = self.key()?;
                    self.skip_blank();
                    let close = if array { "]]" } else { "]" };
                    if !self.starts_with(close) {
                        return self.error(&format!("expected `{close}` after a table name"));
                    }
                    for _ in 0..close.len() {
                        self.bump();
                    }
                    self.end_of_line()?;
                    if array {
                        let (last, parents) = keys.split_last().expect("a key");
                        let mut table = &mut root;
                        for key in parents {
                            table = table.entry_table(key, line)?;
                        }
                        match table.0.iter_mut().find(|(k, _)| k == last) {
                            Some((_, Value::Array(items))) => {
                                items.push(Value::Table(Table::default()));
                            }
                            Some(_) => return self.error(&format!("`{last}` is not an array")),
                            None => table.0.push((
                                last.clone(),
                                Value::Array(vec![Value::Table(Table::default())]),
                            )),
                        }
                    } else {
                        let mut table = &mut root;
                        for key in &keys {
                            table = table.entry_table(key, line)?;
                        }
                    }
                    current = keys;
                }
                Some(_) => {
                    let line = self.line;
                    let keys = self.key()?;
                    self.skip_blank();
                    if self.bump() != Some('=') {
                        return self.error("expected `=` after a key");
                    }
                    self.skip_blank();
                    let value = self.value()?;
                    self.end_of_line()?;
                    let mut table = &mut root;
                    for key in &current {
                        table = table.entry_table(key, line)?;
                    }
                    table.insert(&keys, value, line)?;
                }
            }
        }
    }

    /// A possibly dotted key: `a`, `a.b`, `"a b".c`, `target.'cfg(unix)'.dependencies`.
    fn key(&mut self) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        loop {
            self.skip_blank();
            let key = match self.peek() {
                Some('"') => self.basic_string()?,
                Some('\'') => self.literal_string()?,
                Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' => {
                    let mut key = String::new();
                    while let Some(c) = self.peek() {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                            key.push(c);
                            self.bump();
                        } else {
                            break;
                        }
                    }
                    key
                }
                _ => return self.error("expected a key"),
            };
            keys.push(key);
            self.skip_blank();
            if self.peek() == Some('.') {
                self.bump();
            } else {
                return Ok(keys);
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('"') => Ok(Value::String(self.basic_string()?)),
            Some('\'') => Ok(Value::String(self.literal_string()?)),
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(']') {
                        self.bump();
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value()?);
                    self.skip_space();
                    match self.bump() {
                        Some(',') => {}
                        Some(']') => return Ok(Value::Array(items)),
                        _ => return self.error("expected `,` or `]` in an array"),
                    }
                }
            }
            Some('{') => {
                self.bump();
                let mut table = Table::default();
                self.skip_blank();
                if self.peek() == Some('}') {
                    self.bump();
                    return Ok(Value::Table(table));
                }
                loop {
                    let line = self.line;
                    let keys = self.key()?;
                    self.skip_blank();
                    if self.bump() != Some('=') {
                        return self.error("expected `=` in an inline table");
                    }
                    self.skip_blank();
                    let value = self.value()?;
                    table.insert(&keys, value, line)?;
                    self.skip_blank();
                    match self.bump() {
                        Some(',') => self.skip_blank(),
                        Some('}') => return Ok(Value::Table(table)),
                        _ => return self.error("expected `,` or `}` in an inline table"),
                    }
                }
            }
            Some(_) => {
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if matches!(c, ',' | ']' | '}' | '#' | '\n' | '\r') {
                        break;
                    }
                    text.push(c);
                    self.bump();
                }
                let text = text.trim_end().to_owned();
                if text.is_empty() {
                    return self.error("expected a value");
                }
                Ok(Value::Other(text))
            }
            None => self.error("expected a value"),
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        let start = self.line;
        let multiline = self.starts_with("\"\"\"");
        let quotes = if multiline { 3 } else { 1 };
        for _ in 0..quotes {
            self.bump();
        }
        if multiline && self.peek() == Some('\n') {
            self.bump();
        }
        let mut text = String::new();
        loop {
            if multiline && self.starts_with("\"\"\"") && !self.starts_with("\"\"\"\"") {
                for _ in 0..3 {
                    self.bump();
                }
                return Ok(text);
            }
            match self.bump() {
                None => return Err(format!("line {start}: unterminated string")),
                Some('"') if !multiline => return Ok(text),
                Some('\n') if !multiline => {
                    return Err(format!("line {start}: unterminated string"));
                }
                Some('\\') => match self.bump() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('b') => text.push('\u{8}'),
                    Some('f') => text.push('\u{c}'),
                    Some('e') => text.push('\u{1b}'),
                    Some('"') => text.push('"'),
                    Some('\\') => text.push('\\'),
                    Some(u @ ('u' | 'U' | 'x')) => {
                        let digits = match u {
                            'u' => 4,
                            'U' => 8,
                            _ => 2,
                        };
                        let mut hex = String::new();
                        for _ in 0..digits {
                            hex.extend(self.bump());
                        }
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) => text.push(c),
                            None => return self.error(&format!("invalid escape `\\{u}{hex}`")),
                        }
                    }
                    Some(c) if multiline && c.is_whitespace() => {
                        // A line-ending backslash: trim up to the next non-blank.
                        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
                            self.bump();
                        }
                    }
                    Some(c) => {
                        let _ = write!(text, "\\{c}");
                    }
                    None => return Err(format!("line {start}: unterminated string")),
                },
                Some(c) => text.push(c),
            }
        }
    }

    fn literal_string(&mut self) -> Result<String, String> {
        let start = self.line;
        let multiline = self.starts_with("'''");
        let quotes = if multiline { 3 } else { 1 };
        for _ in 0..quotes {
            self.bump();
        }
        if multiline && self.peek() == Some('\n') {
            self.bump();
        }
        let mut text = String::new();
        loop {
            if multiline && self.starts_with("'''") && !self.starts_with("''''") {
                for _ in 0..3 {
                    self.bump();
                }
                return Ok(text);
            }
            match self.bump() {
                None => return Err(format!("line {start}: unterminated string")),
                Some('\'') if !multiline => return Ok(text),
                Some('\n') if !multiline => {
                    return Err(format!("line {start}: unterminated string"));
                }
                Some(c) => text.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_manifest() {
        let doc = parse(
            r#"
# A comment.
[package]
name = "demo" # trailing comment
version.workspace = true
description = """
Two "lines",
of text."""

[dependencies]
job-core.workspace = true
serde = { version = "1", features = ["derive"] }
tokio = { workspace = true, features = [
    "macros", # the test attribute
    "rt",
] }
plain = "1.2"

[dependencies.renamed]
package = "real-name"
features = ['a', "b"]

[target.'cfg(unix)'.dev-dependencies]
libc = "0.2"

[[bin]]
name = "one"

[[bin]]
name = "two"
"#,
        )
        .unwrap();
        assert_eq!(doc.string(&["package", "name"]), Some("demo"));
        assert!(
            doc.path(&["package", "version", "workspace"])
                .unwrap()
                .is_true()
        );
        assert_eq!(
            doc.string(&["package", "description"]),
            Some("Two \"lines\",\nof text.")
        );
        assert!(
            doc.path(&["dependencies", "job-core", "workspace"])
                .unwrap()
                .is_true()
        );
        let tokio = doc.table(&["dependencies", "tokio"]).unwrap();
        let features: Vec<_> = tokio
            .get("features")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(features, ["macros", "rt"]);
        assert_eq!(doc.string(&["dependencies", "plain"]), Some("1.2"));
        assert_eq!(
            doc.string(&["dependencies", "renamed", "package"]),
            Some("real-name")
        );
        assert_eq!(
            doc.string(&["target", "cfg(unix)", "dev-dependencies", "libc"]),
            Some("0.2")
        );
        let bins = doc.path(&["bin"]).unwrap().as_array().unwrap();
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[1].as_table().unwrap().string(&["name"]), Some("two"));
    }

    #[test]
    fn reads_this_workspace() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        for manifest in ["Cargo.toml", "examples/Cargo.toml", "xtask/Cargo.toml"] {
            let text = std::fs::read_to_string(format!("{root}/{manifest}")).unwrap();
            parse(&text).unwrap_or_else(|e| panic!("{manifest}: {e}"));
        }
    }

    #[test]
    fn reports_the_line_of_a_mistake() {
        assert_eq!(
            parse("[package]\nname = \"x\nversion = 1").unwrap_err(),
            "line 2: unterminated string"
        );
        assert_eq!(
            parse("a = 1\na = 2").unwrap_err(),
            "line 2: duplicate key `a`"
        );
        assert_eq!(
            parse("[a\n").unwrap_err(),
            "line 1: expected `]` after a table name"
        );
    }
}
