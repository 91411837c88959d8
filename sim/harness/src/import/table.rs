//! An RVTools tab as rows of cells, from an `.xlsx` workbook (calamine) or from the tab's CSV file: the
//! one shape the rest of the import reads, with each row's number in its file (the CSV line, the
//! spreadsheet row) so that every problem can be pointed at.

use super::ImportError;
use calamine::{Data, Reader, Sheets};
use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The tabs of an RVTools export the import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tab {
    /// One row per VM (or template): required.
    VInfo,
    /// One row per virtual disk: required.
    VDisk,
    /// One row per ESXi host.
    VHost,
    /// One row per datastore.
    VDatastore,
    /// One row per guest partition (the used size seen from inside).
    VPartition,
    /// One row per snapshot.
    VSnapshot,
}

impl Tab {
    /// Every tab, required ones first.
    pub const ALL: [Tab; 6] = [
        Tab::VInfo,
        Tab::VDisk,
        Tab::VHost,
        Tab::VDatastore,
        Tab::VPartition,
        Tab::VSnapshot,
    ];

    /// Its sheet name, as RVTools writes it.
    pub fn name(self) -> &'static str {
        match self {
            Tab::VInfo => "vInfo",
            Tab::VDisk => "vDisk",
            Tab::VHost => "vHost",
            Tab::VDatastore => "vDatastore",
            Tab::VPartition => "vPartition",
            Tab::VSnapshot => "vSnapshot",
        }
    }

    /// The prefix of its headers in RVTools' CSV export (`vInfoVMName`), normalised.
    pub fn prefix(self) -> &'static str {
        match self {
            Tab::VInfo => "vinfo",
            Tab::VDisk => "vdisk",
            Tab::VHost => "vhost",
            Tab::VDatastore => "vdatastore",
            Tab::VPartition => "vpartition",
            Tab::VSnapshot => "vsnapshot",
        }
    }

    /// Whether an export must have it.
    pub fn required(self) -> bool {
        matches!(self, Tab::VInfo | Tab::VDisk)
    }
}

/// A cell as the file holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing (or only spaces).
    Empty,
    /// Text (trimmed).
    Text(String),
    /// A number (a spreadsheet's numeric cell).
    Number(f64),
    /// A boolean (a spreadsheet's TRUE/FALSE).
    Bool(bool),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Empty => Ok(()),
            Cell::Text(t) => f.write_str(t),
            Cell::Number(n) => write!(f, "{n}"),
            Cell::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
        }
    }
}

impl Cell {
    fn text(s: &str) -> Cell {
        let t = s.trim_matches(|c: char| c.is_whitespace());
        if t.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(t.to_owned())
        }
    }

    fn from_data(d: &Data) -> Cell {
        match d {
            Data::Empty => Cell::Empty,
            Data::Int(i) => Cell::Number(*i as f64),
            Data::Float(x) => Cell::Number(*x),
            Data::Bool(b) => Cell::Bool(*b),
            Data::String(s) => Cell::text(s),
            // dates, durations and error values are text to this import (none of its columns is a date)
            other => Cell::text(&other.to_string()),
        }
    }
}

/// Where a table was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A tab's CSV file.
    Csv(PathBuf),
    /// A sheet of a workbook.
    Sheet {
        /// The workbook.
        file: PathBuf,
        /// The sheet's name as written in it.
        sheet: String,
    },
}

impl Origin {
    /// A row of it as people look it up: `vinfo.csv:17`, `export.xlsx: sheet vInfo, row 17`.
    pub fn row(&self, row: usize) -> String {
        match self {
            Origin::Csv(f) => format!("{}:{row}", f.display()),
            Origin::Sheet { file, sheet } => {
                format!("{}: sheet {sheet}, row {row}", file.display())
            }
        }
    }

    /// The file or sheet itself: `vinfo.csv`, `export.xlsx: sheet vInfo`.
    pub fn whole(&self) -> String {
        match self {
            Origin::Csv(f) => f.display().to_string(),
            Origin::Sheet { file, sheet } => format!("{}: sheet {sheet}", file.display()),
        }
    }
}

/// A data row: its number in the file (CSV line, spreadsheet row) and its cells.
#[derive(Clone, Debug)]
pub struct Row {
    /// 1-based, as an editor or spreadsheet shows it.
    pub number: usize,
    /// The cells, in header order (missing trailing cells are empty).
    pub cells: Vec<Cell>,
}

/// One tab: its header and data rows (rows of empty cells left out).
#[derive(Clone, Debug)]
pub struct Table {
    /// Which tab.
    pub tab: Tab,
    /// Where from.
    pub origin: Origin,
    /// The header cells as written.
    pub headers: Vec<String>,
    /// The header's row number.
    pub header_row: usize,
    /// The data rows.
    pub rows: Vec<Row>,
}

impl Table {
    fn new(
        tab: Tab,
        origin: Origin,
        header_row: usize,
        mut lines: Vec<Row>,
    ) -> Result<Table, ImportError> {
        if lines.is_empty() {
            return Err(ImportError::new(format!(
                "{}: empty: expected a header row ({} tab)",
                origin.whole(),
                tab.name()
            )));
        }
        let header = lines.remove(0);
        let headers = header.cells.iter().map(|c| c.to_string()).collect();
        lines.retain(|r| r.cells.iter().any(|c| *c != Cell::Empty));
        Ok(Table {
            tab,
            origin,
            headers,
            header_row: header.number.max(header_row),
            rows: lines,
        })
    }
}

/// The largest export file read (RVTools workbooks of big estates are tens of MB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

fn check_file(path: &Path) -> Result<(), ImportError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ImportError::new(format!("{}: cannot read it: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(ImportError::new(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ImportError::new(format!(
            "{}: {} bytes: larger than the {MAX_FILE_BYTES} bytes an export is read up to",
            path.display(),
            meta.len()
        )));
    }
    Ok(())
}

/// Reads a tab's CSV file: UTF-8 (with or without BOM), UTF-16 with BOM, or else Windows-1252/Latin-1
/// text; `,`, `;` or tab separated (whichever the header line has most of).
pub fn read_csv(tab: Tab, path: &Path) -> Result<Table, ImportError> {
    check_file(path)?;
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::new(format!("{}: cannot read it: {e}", path.display())))?;
    let text = decode(&bytes);
    let first = text.lines().next().unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (first.matches(char::from(*d)).count(), *d == b','))
        .unwrap_or(b',');
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            ImportError::new(format!(
                "{}:{line}: not readable as CSV: {e}",
                path.display()
            ))
        })?;
        let number = rec.position().map_or(rows.len() + 1, |p| p.line() as usize);
        rows.push(Row {
            number,
            cells: rec.iter().map(Cell::text).collect(),
        });
    }
    Table::new(tab, Origin::Csv(path.to_owned()), 1, rows)
}

/// Text of a CSV file whatever its encoding.
fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let utf16 = |rest: &[u8], le: bool| {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|p| {
                if le {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|b| char::from(*b)).collect(),
    }
}

/// An open workbook (`.xlsx`, also `.xlsm`, `.xlsb`, `.xls`, `.ods`).
pub struct Workbook {
    file: PathBuf,
    sheets: Sheets<BufReader<std::fs::File>>,
}

impl Workbook {
    /// Opens a workbook.
    pub fn open(path: &Path) -> Result<Workbook, ImportError> {
        check_file(path)?;
        let opened = std::panic::catch_unwind(|| calamine::open_workbook_auto(path));
        match opened {
            Ok(Ok(sheets)) => Ok(Workbook {
                file: path.to_owned(),
                sheets,
            }),
            Ok(Err(e)) => {
                let csv = path
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("csv"));
                Err(ImportError::new(format!(
                    "{}: not readable as a workbook: {e}{}",
                    path.display(),
                    if csv {
                        " (CSV files: give their directory, or --vinfo FILE --vdisk FILE …)"
                    } else {
                        ""
                    }
                )))
            }
            Err(_) => Err(ImportError::new(format!(
                "{}: not readable as a workbook (the reader failed on it)",
                path.display()
            ))),
        }
    }

    /// The sheet names, as written.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.sheet_names()
    }

    /// A tab's sheet (its name matched ignoring case and surrounding spaces), or `None` when the
    /// workbook has no such sheet.
    pub fn table(&mut self, tab: Tab) -> Result<Option<Table>, ImportError> {
        let Some(sheet) = self
            .sheet_names()
            .into_iter()
            .find(|n| n.trim().eq_ignore_ascii_case(tab.name()))
        else {
            return Ok(None);
        };
        let origin = Origin::Sheet {
            file: self.file.clone(),
            sheet: sheet.clone(),
        };
        let sheets = &mut self.sheets;
        let range = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sheets.worksheet_range(&sheet)
        }));
        let range = match range {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(ImportError::new(format!(
                    "{}: not readable: {e}",
                    origin.whole()
                )));
            }
            Err(_) => {
                return Err(ImportError::new(format!(
                    "{}: not readable (the reader failed on it)",
                    origin.whole()
                )));
            }
        };
        let first = range.start().map_or(0, |(r, _)| r as usize);
        let rows = range
            .rows()
            .enumerate()
            .map(|(i, cells)| Row {
                number: first + i + 1,
                cells: cells.iter().map(Cell::from_data).collect(),
            })
            .collect();
        Table::new(tab, origin, first + 1, rows).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_encodings_and_separators() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        std::fs::write(&f, b"\xEF\xBB\xBFVM;Memory\n\"a;b\";1\n\n;\nc;2\n").unwrap();
        let t = read_csv(Tab::VInfo, &f).unwrap();
        assert_eq!(t.headers, vec!["VM", "Memory"]);
        assert_eq!(t.rows.len(), 2, "blank rows are left out");
        assert_eq!(t.rows[0].cells[0], Cell::Text("a;b".into()));
        assert_eq!(t.rows[1].number, 5);
        // Latin-1
        std::fs::write(&f, b"VM,Host\nm\xFCller,esx\n").unwrap();
        let t = read_csv(Tab::VInfo, &f).unwrap();
        assert_eq!(t.rows[0].cells[0], Cell::Text("müller".into()));
        // UTF-16 LE with BOM
        let mut b = vec![0xFF, 0xFE];
        for u in "VM\tHost\nx\ty\n".encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        std::fs::write(&f, b).unwrap();
        let t = read_csv(Tab::VInfo, &f).unwrap();
        assert_eq!(t.headers, vec!["VM", "Host"]);
        assert_eq!(t.rows[0].cells[1], Cell::Text("y".into()));
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        std::fs::write(&f, "").unwrap();
        let e = read_csv(Tab::VDisk, &f).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = read_csv(Tab::VDisk, &dir.path().join("nope.csv")).unwrap_err();
        assert!(e.to_string().contains("cannot read it"), "{e}");
        let e = Workbook::open(&f).err().unwrap();
        assert!(e.to_string().contains("not readable as a workbook"), "{e}");
    }
}
