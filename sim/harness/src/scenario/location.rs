//! Where a field path points in JSON text: serde says *what* is wrong with a parsed value, this finds the
//! line and column of the value a semantic check complains about (`machines[2].host`).

use std::fmt::Write;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// An object's field.
    Key(String),
    /// An array's element.
    Index(usize),
}

/// Shorthand for a field segment.
pub fn key(k: &str) -> Segment {
    Segment::Key(k.to_owned())
}

/// A path printed as people read it: `machines[2].disks[0].size`.
pub fn display(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

/// The 1-based line and column (in characters) of the value at `path` in `text`, or of the nearest
/// enclosing value that exists. None if `text` is not JSON.
pub fn find(text: &str, path: &[Segment]) -> Option<(usize, usize)> {
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    c.ws();
    let mut at = c.i;
    for seg in path {
        match c.descend(seg) {
            Some(()) => at = c.i,
            None => break,
        }
    }
    Some(line_col(text, at))
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// Moves to the start of the value at `seg` inside the value at the cursor.
    fn descend(&mut self, seg: &Segment) -> Option<()> {
        let start = self.i;
        let found = match seg {
            Segment::Key(k) => self.field(k),
            Segment::Index(n) => self.element(*n),
        };
        if found.is_none() {
            self.i = start;
        }
        found
    }

    fn field(&mut self, k: &str) -> Option<()> {
        self.eat(b'{')?;
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                return None;
            }
            let s = self.i;
            self.skip_string()?;
            let name: String = serde_json::from_slice(&self.b[s..self.i]).ok()?;
            self.eat(b':')?;
            self.ws();
            if name == k {
                return Some(());
            }
            self.skip_value()?;
            self.eat(b',')?;
        }
    }

    fn element(&mut self, n: usize) -> Option<()> {
        self.eat(b'[')?;
        for _ in 0..n {
            self.ws();
            self.skip_value()?;
            self.eat(b',')?;
        }
        self.ws();
        (self.peek() != Some(b']')).then_some(())
    }

    fn skip_string(&mut self) -> Option<()> {
        (self.peek() == Some(b'"')).then_some(())?;
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'"' => return Some(()),
                _ => {}
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                None
            }
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = "{\n  \"a\": 1,\n  \"machines\": [\n    {\"name\": \"x\"},\n    {\"name\": \"y\", \"host\": \"h\"}\n  ]\n}";
        let p = [key("machines"), Segment::Index(1), key("host")];
        assert_eq!(find(text, &p), Some((5, 27)));
        assert_eq!(display(&p), "machines[1].host");
        // a missing field: the nearest enclosing value
        let p = [key("machines"), Segment::Index(0), key("host")];
        assert_eq!(find(text, &p), Some((4, 5)));
        assert_eq!(find(text, &[key("a")]), Some((2, 8)));
    }
}
