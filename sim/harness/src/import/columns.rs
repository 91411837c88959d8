//! Finding RVTools columns and reading their cells. Headers are matched ignoring case, spaces and
//! punctuation, with the tab's CSV prefix taken off (`vInfoProvisioned` = `Provisioned MiB`), and under
//! the names older RVTools versions used (`Provisioned MB`). A size column's unit comes from its header
//! (`MiB`, `MB`, `GiB`, `GB`, `TiB`, `TB`, `KiB`, `KB`; none: MiB): RVTools has always counted in binary
//! units and only relabelled `MB` as `MiB` in later versions, so `MB` is read as MiB. Numbers may carry
//! thousands separators (`1,234,567`, `1.234.567`, `1 234 567`, `1'234`) or a decimal comma (`12,5`);
//! flags read `True`/`False`, `Yes`/`No`, `1`/`0`, `On`/`Off`.

use super::ImportError;
use super::table::{Cell, Row, Table};

/// A column the import reads.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Its header in the spreadsheet tab, for messages.
    pub label: &'static str,
    /// Every accepted header, normalised (lower-case letters and digits only; without a unit for a
    /// size column).
    pub aliases: &'static [&'static str],
    /// A size: the header may end in a unit.
    pub size: bool,
}

/// A column found in a table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Its position.
    pub index: usize,
    /// Its header as written.
    pub header: String,
    /// Bytes per unit of a size column (1 MiB when the header names none).
    pub unit: u64,
}

const MIB: u64 = 1 << 20;

/// Header unit suffixes of size columns and their bytes (RVTools' `MB` and `GB` are binary).
const UNITS: &[(&str, u64)] = &[
    ("mib", MIB),
    ("mb", MIB),
    ("gib", 1 << 30),
    ("gb", 1 << 30),
    ("tib", 1 << 40),
    ("tb", 1 << 40),
    ("kib", 1 << 10),
    ("kb", 1 << 10),
    ("", MIB),
];

/// Lower-case letters and digits only, `#` read as "num": `Provisioned MiB` → `provisionedmib`,
/// `# Hosts` → `numhosts` (a count, not the `Hosts` list).
pub fn normalise(header: &str) -> String {
    header
        .replace('#', "num")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The column of `spec` in `table`, if any: the first header that matches, a size column's headers
/// with a unit (`Free MiB`) before those without (`Free %` is no size).
pub fn find(table: &Table, spec: &Spec) -> Option<Column> {
    let prefix = table.tab.prefix();
    let passes: &[bool] = if spec.size { &[true, false] } else { &[false] };
    for &with_unit in passes {
        for (index, header) in table.headers.iter().enumerate() {
            let n = normalise(header);
            let mut candidates = vec![n.as_str()];
            if let Some(rest) = n.strip_prefix(prefix)
                && !rest.is_empty()
            {
                candidates.push(rest);
            }
            for c in candidates {
                for a in spec.aliases {
                    let unit = if spec.size {
                        c.strip_prefix(a).and_then(|suffix| {
                            UNITS
                                .iter()
                                .find(|(u, _)| *u == suffix && u.is_empty() != with_unit)
                                .map(|(_, bytes)| *bytes)
                        })
                    } else {
                        (c == *a).then_some(1)
                    };
                    if let Some(unit) = unit {
                        return Some(Column {
                            index,
                            header: header.clone(),
                            unit,
                        });
                    }
                }
            }
        }
    }
    None
}

/// The column of `spec`, or an error naming it, the headers it is accepted under and those found.
pub fn require(table: &Table, spec: &Spec) -> Result<Column, ImportError> {
    find(table, spec).ok_or_else(|| missing(table, spec))
}

/// The error for a missing column.
pub fn missing(table: &Table, spec: &Spec) -> ImportError {
    const SHOWN: usize = 40;
    let found: Vec<String> = table
        .headers
        .iter()
        .filter(|h| !h.is_empty())
        .take(SHOWN)
        .map(|h| format!("\"{h}\""))
        .collect();
    let more = table
        .headers
        .iter()
        .filter(|h| !h.is_empty())
        .count()
        .saturating_sub(SHOWN);
    ImportError::new(format!(
        "{}: missing column \"{}\" ({} tab; also accepted: {}); found: {}{}",
        table.origin.row(table.header_row),
        spec.label,
        table.tab.name(),
        accepted(table, spec),
        if found.is_empty() {
            "no headers".to_owned()
        } else {
            found.join(", ")
        },
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

fn accepted(table: &Table, spec: &Spec) -> String {
    let csv = spec
        .aliases
        .iter()
        .take(2)
        .map(|a| format!("\"{}{a}\"", table.tab.name()))
        .collect::<Vec<_>>()
        .join(", ");
    if spec.size {
        format!(
            "\"{} MB\", \"… GiB\", {csv}",
            spec.label.trim_end_matches(" MiB")
        )
    } else {
        csv
    }
}

/// Reads the cells of one row, with errors naming the file, row and column.
pub struct Cells<'a> {
    table: &'a Table,
    row: &'a Row,
}

impl<'a> Cells<'a> {
    /// The cells of `row` of `table`.
    pub fn new(table: &'a Table, row: &'a Row) -> Self {
        Cells { table, row }
    }

    /// Where the row is, e.g. `vinfo.csv:17`.
    pub fn at(&self) -> String {
        self.table.origin.row(self.row.number)
    }

    fn cell(&self, col: &Column) -> &Cell {
        self.row.cells.get(col.index).unwrap_or(&Cell::Empty)
    }

    fn bad(&self, col: &Column, expected: &str) -> ImportError {
        ImportError::new(format!(
            "{}: column \"{}\": expected {expected}, found \"{}\"",
            self.at(),
            col.header,
            self.cell(col)
        ))
    }

    /// Text, or `None` for an empty cell or an absent column.
    pub fn text(&self, col: Option<&Column>) -> Option<String> {
        let c = self.cell(col?);
        (*c != Cell::Empty).then(|| c.to_string())
    }

    /// Text that must be there.
    pub fn required_text(&self, col: &Column, expected: &str) -> Result<String, ImportError> {
        self.text(Some(col))
            .ok_or_else(|| self.bad(col, &format!("{expected} (the cell is empty)")))
    }

    /// A non-negative number.
    pub fn number(&self, col: Option<&Column>) -> Result<Option<f64>, ImportError> {
        let Some(col) = col else { return Ok(None) };
        match self.cell(col) {
            Cell::Empty => Ok(None),
            Cell::Number(x) if x.is_finite() && *x >= 0.0 => Ok(Some(*x)),
            Cell::Text(t) => match parse_number(t) {
                Some((x, None)) => Ok(Some(x)),
                _ => Err(self.bad(col, "a number")),
            },
            _ => Err(self.bad(col, "a number")),
        }
    }

    /// A size in bytes: the cell's number in the column's unit (or in a unit written in the cell,
    /// `40 GB`), rounded to whole bytes.
    pub fn size(&self, col: Option<&Column>) -> Result<Option<u64>, ImportError> {
        let Some(col) = col else { return Ok(None) };
        let expected = "a size (a number of MiB, or e.g. \"40 GiB\")";
        let (x, unit) = match self.cell(col) {
            Cell::Empty => return Ok(None),
            Cell::Number(x) if x.is_finite() && *x >= 0.0 => (*x, col.unit),
            Cell::Text(t) => match parse_number(t) {
                Some((x, None)) => (x, col.unit),
                Some((x, Some(u))) => (x, u),
                None => return Err(self.bad(col, expected)),
            },
            _ => return Err(self.bad(col, expected)),
        };
        let bytes = (x * unit as f64).round();
        if bytes >= u64::MAX as f64 {
            return Err(self.bad(col, "a size below 16 EiB"));
        }
        Ok(Some(bytes as u64))
    }

    /// A whole count.
    pub fn count(&self, col: Option<&Column>) -> Result<Option<u32>, ImportError> {
        let x = self.number(col)?;
        match (x, col) {
            (Some(x), Some(c)) => {
                if x.fract() != 0.0 || x > f64::from(u32::MAX) {
                    Err(self.bad(c, "a whole number"))
                } else {
                    Ok(Some(x as u32))
                }
            }
            _ => Ok(None),
        }
    }

    /// A flag: True/False, Yes/No, 1/0, On/Off (any case).
    pub fn flag(&self, col: Option<&Column>) -> Result<Option<bool>, ImportError> {
        let Some(col) = col else { return Ok(None) };
        let expected = "True or False (or 1/0, Yes/No)";
        match self.cell(col) {
            Cell::Empty => Ok(None),
            Cell::Bool(b) => Ok(Some(*b)),
            Cell::Number(x) if *x == 1.0 => Ok(Some(true)),
            Cell::Number(x) if *x == 0.0 => Ok(Some(false)),
            Cell::Text(t) => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" | "wahr" => Ok(Some(true)),
                "false" | "no" | "0" | "off" | "falsch" => Ok(Some(false)),
                _ => Err(self.bad(col, expected)),
            },
            Cell::Number(_) => Err(self.bad(col, expected)),
        }
    }
}

/// A non-negative number as people and spreadsheets write it, with an optional size unit after it:
/// `1,234,567.5`, `1.234.567,5`, `1 234`, `12,5`, `40 GiB`. `None` when it is none.
pub fn parse_number(text: &str) -> Option<(f64, Option<u64>)> {
    let t = text.trim();
    let split = t
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map_or(t.len(), |(i, _)| i);
    let (num, unit) = t.split_at(split);
    let unit = match normalise(unit).as_str() {
        "" => None,
        u => Some(
            UNITS
                .iter()
                .find(|(name, _)| *name == u && !name.is_empty())
                .map(|(_, b)| *b)?,
        ),
    };
    let cleaned: String = num
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '_'))
        .collect();
    if cleaned.is_empty()
        || !cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let commas = cleaned.matches(',').count();
    let dots = cleaned.matches('.').count();
    let plain: String = if commas == 0 && dots == 0 {
        cleaned
    } else if commas > 0 && dots > 0 {
        // both: the last one is the decimal separator, and appears once
        let (thousands, decimal) = if cleaned.rfind(',') > cleaned.rfind('.') {
            ('.', ',')
        } else {
            (',', '.')
        };
        if cleaned.matches(decimal).count() != 1 {
            return None;
        }
        cleaned
            .chars()
            .filter(|c| *c != thousands)
            .map(|c| if c == decimal { '.' } else { c })
            .collect()
    } else {
        // one kind: thousands when it repeats or a comma groups by three, else decimal
        let sep = if commas > 0 { ',' } else { '.' };
        let groups: Vec<&str> = cleaned.split(sep).collect();
        let by_three = !groups[0].is_empty() && groups[1..].iter().all(|g| g.len() == 3);
        if groups.len() > 2 || (sep == ',' && by_three) {
            if !by_three {
                return None;
            }
            groups.concat()
        } else {
            cleaned.replace(',', ".")
        }
    };
    let x: f64 = plain.parse().ok()?;
    x.is_finite().then_some((x, unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::table::{Origin, Tab};
    use std::path::PathBuf;

    fn table(tab: Tab, headers: &[&str], row: Vec<Cell>) -> Table {
        Table {
            tab,
            origin: Origin::Csv(PathBuf::from("t.csv")),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            header_row: 1,
            rows: vec![Row {
                number: 2,
                cells: row,
            }],
        }
    }

    const PROVISIONED: Spec = Spec {
        label: "Provisioned MiB",
        aliases: &["provisioned"],
        size: true,
    };

    #[test]
    fn headers_match_in_every_style() {
        for (h, unit) in [
            ("Provisioned MiB", MIB),
            ("provisioned_mib", MIB),
            ("Provisioned MB", MIB),
            ("Provisioned GiB", 1 << 30),
            ("vInfoProvisioned", MIB),
            ("VINFO PROVISIONED GB", 1 << 30),
        ] {
            let t = table(Tab::VInfo, &["VM", h], vec![]);
            let c = find(&t, &PROVISIONED).unwrap_or_else(|| panic!("{h}"));
            assert_eq!((c.index, c.unit), (1, unit), "{h}");
        }
        let t = table(Tab::VInfo, &["VM", "Provisioned Bytes"], vec![]);
        assert!(find(&t, &PROVISIONED).is_none());
        let e = require(&t, &PROVISIONED).unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv:1: missing column \"Provisioned MiB\""),
            "{e}"
        );
        assert!(e.contains("found: \"VM\", \"Provisioned Bytes\""), "{e}");
    }

    #[test]
    fn numbers_as_people_write_them() {
        for (s, x) in [
            ("1234", 1234.0),
            ("1,234", 1234.0),
            ("1,234,567", 1_234_567.0),
            ("1.234.567", 1_234_567.0),
            ("1 234", 1234.0),
            ("1\u{a0}234,5", 1234.5),
            ("1,234.5", 1234.5),
            ("1.234,5", 1234.5),
            ("12,5", 12.5),
            ("12.5", 12.5),
            ("1'024", 1024.0),
            (".5", 0.5),
        ] {
            assert_eq!(parse_number(s), Some((x, None)), "{s}");
        }
        assert_eq!(parse_number("40 GiB"), Some((40.0, Some(1 << 30))));
        assert_eq!(parse_number("2TB"), Some((2.0, Some(1 << 40))));
        for bad in [
            "abc",
            "",
            "-5",
            "1,2,3",
            "1.2.3,4.5",
            "4 parsecs",
            "1e5",
            "NaN",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn cells_read_with_located_errors() {
        let t = table(
            Tab::VInfo,
            &["Provisioned MiB", "Template", "CPUs"],
            vec![
                Cell::Text("abc".into()),
                Cell::Text("maybe".into()),
                Cell::Number(2.5),
            ],
        );
        let cells = Cells::new(&t, &t.rows[0]);
        let col = |i: usize| Column {
            index: i,
            header: t.headers[i].clone(),
            unit: MIB,
        };
        let e = cells.size(Some(&col(0))).unwrap_err().to_string();
        assert_eq!(
            e,
            "t.csv:2: column \"Provisioned MiB\": expected a size (a number of MiB, or e.g. \"40 GiB\"), found \"abc\""
        );
        assert!(cells.flag(Some(&col(1))).is_err());
        assert!(cells.count(Some(&col(2))).is_err());
        assert_eq!(cells.size(None).unwrap(), None);
        let t = table(
            Tab::VInfo,
            &["a", "b", "c", "d"],
            vec![
                Cell::Number(1.5),
                Cell::Bool(true),
                Cell::Text("FALSE".into()),
                Cell::Text("2,048".into()),
            ],
        );
        let cells = Cells::new(&t, &t.rows[0]);
        let col = |i: usize| Column {
            index: i,
            header: t.headers[i].clone(),
            unit: MIB,
        };
        assert_eq!(cells.size(Some(&col(0))).unwrap(), Some(3 * MIB / 2));
        assert_eq!(cells.flag(Some(&col(1))).unwrap(), Some(true));
        assert_eq!(cells.flag(Some(&col(2))).unwrap(), Some(false));
        assert_eq!(cells.size(Some(&col(3))).unwrap(), Some(2048 * MIB));
        let beyond = Column {
            index: 4,
            header: "e".into(),
            unit: MIB,
        };
        assert_eq!(cells.text(Some(&beyond)), None, "beyond the row: empty");
    }
}
