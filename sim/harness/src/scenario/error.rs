//! Bad input, said clearly: the file, line:column, the field path (`machines[1].disks[0].size`) and what was
//! expected. The CLI exits 2 on any of these; nothing in scenario handling panics on bad input.

use super::location::{self, Segment};
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: the file could not be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field path, e.g. `machines[0].disks[1].size` (empty: the document).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

impl InputError {
    /// The file could not be read.
    pub fn io(file: &Path, e: &std::io::Error) -> Self {
        InputError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read it: {e}"),
        }
    }

    /// A serde_json error at `path`.
    pub fn from_json(file: &Path, path: &str, e: &serde_json::Error) -> Self {
        // serde_json appends " at line L column C"; the position is printed in front instead.
        let text = e.to_string();
        let message = match text.rfind(" at line ") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
        InputError {
            file: file.to_owned(),
            line: e.line(),
            // serde_json says column 0 at the very start of a line (an empty file)
            column: e.column().max(1),
            path: path.to_owned(),
            message: explain(&message),
        }
    }

    /// A typed-deserialisation error with its field path.
    pub fn from_serde(
        file: &Path,
        text: &str,
        e: &serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let syntax = e.inner().is_syntax() || e.inner().is_eof();
        let path = e.path().to_string();
        let path = if syntax || path == "." || path.contains('?') {
            String::new()
        } else {
            path
        };
        let mut err = InputError::from_json(file, &path, e.inner());
        // serde reports a bad value after it, and a missing field at the end of its object: point at the
        // value's start, or the object's.
        if !syntax
            && let Some(segments) = segments_of(e.path())
            && let Some((l, c)) = location::find(text, &segments)
        {
            err.line = l;
            err.column = c;
        }
        err
    }
}

/// A semantic problem found after parsing, at a field path; [`Unlocated::locate`] adds the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unlocated {
    /// Where.
    pub path: Vec<Segment>,
    /// What.
    pub message: String,
}

impl Unlocated {
    /// A problem at `path`.
    pub fn new(path: Vec<Segment>, message: impl Into<String>) -> Self {
        Unlocated {
            path,
            message: message.into(),
        }
    }

    /// The error with file, line:column and the printed path.
    pub fn locate(self, file: &Path, text: &str) -> InputError {
        let (line, column) = location::find(text, &self.path).unwrap_or((1, 1));
        InputError {
            file: file.to_owned(),
            line,
            column,
            path: location::display(&self.path),
            message: self.message,
        }
    }
}

fn segments_of(path: &serde_path_to_error::Path) -> Option<Vec<Segment>> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .map(|s| match s {
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Enum { variant } => Some(Segment::Key(variant.clone())),
            S::Unknown => None,
        })
        .collect()
}

/// Rewords serde's messages where they say less than a person needs.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return format!("wrong type: {rest}");
    }
    message.to_owned()
}
