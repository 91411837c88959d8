//! Trace churn files (`{"model": "trace", "file": "churn.csv", "column": "vm01"}`): per-minute MB/s read
//! from a CSV beside the scenario and handed to the world's [`TraceChurn`]. The world's own reader knows
//! one layout (`minute,mb_per_s` with an optional filter column); this one also takes a column per VM or
//! disk (`minute,vm01,vm02`), and says where a problem is as `file:line:column` of the CSV, under the
//! scenario's field path.
//!
//! Each file is read once per build and each (file, column, filter, end) parsed once: disks that share a
//! trace share its table.

use super::error::Unlocated;
use super::inventory::{TraceEnd, TraceRows};
use super::location::{Segment, key};
use drsim_world::churn::{self, ChurnModel, MAX_TRACE_MINUTES, TraceChurn};
// The world's reader of a rate cell: exact decimal MB/s (MB = 10⁶ bytes) in whole bytes per second.
use drsim_world::churn::parse_mb_per_s as mb_per_s;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The largest trace file read (a bound on memory: two years of minutes for a few traces fit).
pub const MAX_TRACE_FILE_BYTES: u64 = 256 << 20;

type Res<T> = Result<T, Unlocated>;

/// One trace model, as the scenario asks for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    file: PathBuf,
    column: String,
    filter: Option<(String, String)>,
    end: TraceEnd,
}

/// The trace files of one build: read once, parsed once per column and filter.
pub struct TraceFiles {
    /// The directory relative file names start from (the scenario file's).
    base: PathBuf,
    texts: BTreeMap<PathBuf, Rc<String>>,
    models: BTreeMap<Key, TraceChurn>,
}

/// What a scenario's trace churn asks for.
#[derive(Clone, Copy, Debug)]
pub struct TraceRequest<'a> {
    /// The file as written.
    pub file: &'a str,
    /// The column of rates; `None`: `mb_per_s`.
    pub column: Option<&'a str>,
    /// Only these rows.
    pub filter: Option<&'a TraceRows>,
    /// After the last minute.
    pub end: TraceEnd,
}

impl TraceFiles {
    /// Trace files relative to the directory of `scenario_file`.
    pub fn new(scenario_file: &Path) -> Self {
        let base = scenario_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        TraceFiles {
            base,
            texts: BTreeMap::new(),
            models: BTreeMap::new(),
        }
    }

    /// The churn model of `req`; problems are reported at `path` (the churn object's) plus the field at
    /// fault (`file`, `column`, `filter.column`).
    pub fn model(&mut self, req: &TraceRequest<'_>, path: &[Segment]) -> Res<ChurnModel> {
        let at = |more: &[&str]| -> Vec<Segment> {
            path.iter()
                .cloned()
                .chain(more.iter().map(|k| key(k)))
                .collect()
        };
        if req.file.trim().is_empty() {
            return Err(Unlocated::new(
                at(&["file"]),
                "name the trace CSV file, e.g. \"churn.csv\" (relative to the scenario file)",
            ));
        }
        let file = self.base.join(req.file);
        let k = Key {
            file: file.clone(),
            column: req.column.unwrap_or("mb_per_s").to_owned(),
            filter: req
                .filter
                .map(|f| (f.column.clone(), f.value.trim().to_owned())),
            end: req.end,
        };
        if let Some(m) = self.models.get(&k) {
            return Ok(ChurnModel::Trace(m.clone()));
        }
        let text = match self.texts.get(&file) {
            Some(t) => Rc::clone(t),
            None => {
                let t = Rc::new(read(&file).map_err(|e| Unlocated::new(at(&["file"]), e))?);
                self.texts.insert(file.clone(), Rc::clone(&t));
                t
            }
        };
        let column_field: &[&str] = if req.column.is_some() {
            &["column"]
        } else {
            &["file"]
        };
        let rates = parse(&file, &text, &k).map_err(|e| match e {
            TraceProblem::Column(m) => Unlocated::new(at(column_field), m),
            TraceProblem::FilterColumn(m) => Unlocated::new(at(&["filter", "column"]), m),
            TraceProblem::Content(m) => Unlocated::new(at(&["file"]), m),
        })?;
        let end = match req.end {
            TraceEnd::Repeat => churn::TraceEnd::Repeat,
            TraceEnd::HoldLast => churn::TraceEnd::HoldLast,
        };
        let model = TraceChurn::from_rates_bps(rates, end)
            .map_err(|e| Unlocated::new(at(&["file"]), format!("{}: {e}", file.display())))?;
        self.models.insert(k, model.clone());
        Ok(ChurnModel::Trace(model))
    }
}

/// Reads a trace file: a regular file, at most [`MAX_TRACE_FILE_BYTES`], UTF-8.
fn read(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file)
        .map_err(|e| format!("cannot read the trace file {}: {e}", file.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "the trace file {} is not a regular file",
            file.display()
        ));
    }
    if meta.len() > MAX_TRACE_FILE_BYTES {
        return Err(format!(
            "the trace file {} is {} bytes: at most {MAX_TRACE_FILE_BYTES} are read",
            file.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the trace file {}: {e}", file.display()))
}

/// What is wrong, by the scenario field it concerns.
enum TraceProblem {
    /// The rate column is not in the header.
    Column(String),
    /// The filter column is not in the header.
    FilterColumn(String),
    /// Anything else in the file.
    Content(String),
}

/// Dense per-minute rates (bytes per second) of one trace in `text`.
fn parse(file: &Path, text: &str, k: &Key) -> Result<Vec<u64>, TraceProblem> {
    let name = file.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_problem = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        TraceProblem::Content(format!("{name}:{line}: not readable as CSV: {e}"))
    };
    let headers = rdr.headers().map_err(csv_problem)?.clone();
    let find = |c: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(c.trim()))
    };
    let found = || {
        let names: Vec<&str> = headers.iter().filter(|h| !h.is_empty()).collect();
        if names.is_empty() {
            "(an empty header)".to_owned()
        } else {
            names.join(", ")
        }
    };
    let Some(minute_col) = find("minute") else {
        return Err(TraceProblem::Content(format!(
            "{name}:1: the header has no column `minute` (found: {}); expected e.g. `minute,mb_per_s` \
             or `minute,vm01,vm02`",
            found()
        )));
    };
    let Some(rate_col) = find(&k.column) else {
        return Err(TraceProblem::Column(format!(
            "{name}:1: no column `{}`; the header has: {}",
            k.column,
            found()
        )));
    };
    if rate_col == minute_col {
        return Err(TraceProblem::Column(format!(
            "`{}` is the minute column, not a column of rates",
            k.column
        )));
    }
    let filter = match &k.filter {
        Some((c, v)) => match find(c) {
            Some(i) => Some((i, v.as_str())),
            None => {
                return Err(TraceProblem::FilterColumn(format!(
                    "{name}:1: no column `{c}` to select rows by; the header has: {}",
                    found()
                )));
            }
        },
        None => None,
    };
    let mut rates: Vec<u64> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_problem(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let cell = |c: usize| record.get(c).unwrap_or("");
        if let Some((c, v)) = filter
            && cell(c) != v
        {
            continue;
        }
        let bad = |c: usize, what: String| {
            let col = char_column(text, line, c);
            TraceProblem::Content(format!(
                "{name}:{line}:{col}: column `{}`: {what}",
                headers.get(c).unwrap_or("")
            ))
        };
        let minute: u64 = cell(minute_col).parse().map_err(|_| {
            bad(
                minute_col,
                format!(
                    "`{}` is not a whole number of minutes (0, 1, 2, …)",
                    cell(minute_col)
                ),
            )
        })?;
        if minute >= MAX_TRACE_MINUTES {
            return Err(bad(
                minute_col,
                format!(
                    "minute {minute} is beyond the longest trace ({MAX_TRACE_MINUTES} minutes)"
                ),
            ));
        }
        let rate = mb_per_s(cell(rate_col)).map_err(|why| {
            bad(
                rate_col,
                format!(
                    "`{}` is not a rate: {why}; expected MB/s as a plain decimal, e.g. 1.5",
                    cell(rate_col)
                ),
            )
        })?;
        match rates.last().copied() {
            None if minute != 0 => {
                return Err(bad(
                    minute_col,
                    format!("the first row is minute {minute}; a trace starts at minute 0"),
                ));
            }
            Some(_) if minute < rates.len() as u64 => {
                return Err(bad(
                    minute_col,
                    format!(
                        "minute {minute} after minute {}: minutes must increase",
                        rates.len() - 1
                    ),
                ));
            }
            // a gap holds the previous rate
            Some(previous) => rates.resize(minute as usize, previous),
            None => {}
        }
        rates.push(rate);
    }
    if rates.is_empty() {
        return Err(TraceProblem::Content(match &k.filter {
            Some((c, v)) => format!("{name}: no rows with `{c}` = `{v}`"),
            None => format!("{name}: no rows after the header"),
        }));
    }
    Ok(rates)
}

/// The 1-based character column where field `field` (0-based) starts on line `line` of `text`: the
/// position an editor shows (quotes honoured; leading spaces skipped, as the reader trims them).
fn char_column(text: &str, line: u64, field: usize) -> usize {
    let Some(l) = text.split('\n').nth(
        usize::try_from(line)
            .unwrap_or(usize::MAX)
            .saturating_sub(1),
    ) else {
        return 1;
    };
    let mut n = 0;
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in l.chars().enumerate() {
        if n == field {
            start = i;
            break;
        }
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                n += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    let skipped = l.chars().skip(start).take_while(|c| *c == ' ').count();
    start + skipped + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use drsim_engine::time::MINUTE_MS;

    fn key(column: &str, filter: Option<(&str, &str)>) -> Key {
        Key {
            file: PathBuf::from("t.csv"),
            column: column.into(),
            filter: filter.map(|(c, v)| (c.into(), v.into())),
            end: TraceEnd::Repeat,
        }
    }

    fn content(e: TraceProblem) -> String {
        match e {
            TraceProblem::Content(m) | TraceProblem::Column(m) | TraceProblem::FilterColumn(m) => m,
        }
    }

    #[test]
    fn a_column_per_vm() {
        let text = "minute,vm01,VM02\n0,1.5,0\n1,2,0.25\n4,0,1\n";
        let p = |c| parse(Path::new("t.csv"), text, &key(c, None)).ok().unwrap();
        assert_eq!(
            p("vm01"),
            vec![1_500_000, 2_000_000, 2_000_000, 2_000_000, 0]
        );
        assert_eq!(p("vm02"), vec![0, 250_000, 250_000, 250_000, 1_000_000]);
    }

    #[test]
    fn long_rows_by_filter() {
        let text = "minute,disk,mb_per_s\n0,a,1\n0,b,9\n1,a,2\n";
        let r = parse(
            Path::new("t.csv"),
            text,
            &key("mb_per_s", Some(("DISK", "b"))),
        );
        assert_eq!(r.ok().unwrap(), vec![9_000_000]);
        let none = parse(
            Path::new("t.csv"),
            text,
            &key("mb_per_s", Some(("disk", "z"))),
        );
        assert_eq!(
            content(none.err().unwrap()),
            "t.csv: no rows with `disk` = `z`"
        );
    }

    #[test]
    fn problems_say_line_and_column() {
        let text = "minute, vm01\n0, 1\n1, abc\n";
        let e = content(
            parse(Path::new("t.csv"), text, &key("vm01", None))
                .err()
                .unwrap(),
        );
        assert!(
            e.starts_with("t.csv:3:4: column `vm01`: `abc` is not a rate"),
            "{e}"
        );
        let e = content(
            parse(Path::new("t.csv"), "minute,x\n0,1\n0,2\n", &key("x", None))
                .err()
                .unwrap(),
        );
        assert!(
            e.starts_with("t.csv:3:1: column `minute`: minute 0 after minute 0"),
            "{e}"
        );
        let e = parse(Path::new("t.csv"), "minute,x\n0,1\n", &key("vm9", None));
        assert!(
            matches!(e, Err(TraceProblem::Column(ref m)) if m.contains("no column `vm9`") && m.contains("minute, x"))
        );
        let e = content(
            parse(Path::new("t.csv"), "min,x\n0,1\n", &key("x", None))
                .err()
                .unwrap(),
        );
        assert!(e.contains("no column `minute`"), "{e}");
        let e = content(
            parse(
                Path::new("t.csv"),
                "minute,x\n0,1\n1,2,3\n",
                &key("x", None),
            )
            .err()
            .unwrap(),
        );
        assert!(e.starts_with("t.csv:3: not readable as CSV"), "{e}");
        let e = content(
            parse(Path::new("t.csv"), "minute,x\n3,1\n", &key("x", None))
                .err()
                .unwrap(),
        );
        assert!(e.contains("a trace starts at minute 0"), "{e}");
    }

    #[test]
    fn rates_are_exact_decimal_megabytes() {
        assert_eq!(mb_per_s("12"), Ok(12_000_000));
        assert_eq!(mb_per_s(".25"), Ok(250_000));
        assert_eq!(mb_per_s("0.0000019"), Ok(1));
        for bad in [
            "",
            "-1",
            "1e3",
            "1.2.3",
            "+1",
            ".",
            "99999999999999999999",
            "2MB",
        ] {
            assert!(mb_per_s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn models_are_shared_and_files_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.csv"), "minute,vm01\n0,1\n1,2\n").unwrap();
        let mut files = TraceFiles::new(&dir.path().join("s.json"));
        let req = TraceRequest {
            file: "c.csv",
            column: Some("vm01"),
            filter: None,
            end: TraceEnd::HoldLast,
        };
        let a = files.model(&req, &[key_seg("churn")]).unwrap();
        let b = files.model(&req, &[key_seg("churn")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rate_at(5 * MINUTE_MS), 2_000_000, "holds the last minute");
        let missing = TraceRequest {
            file: "nope.csv",
            ..req
        };
        let e = files.model(&missing, &[key_seg("churn")]).unwrap_err();
        assert_eq!(super::super::location::display(&e.path), "churn.file");
        assert!(e.message.contains("nope.csv"), "{}", e.message);
        let dir_itself = TraceRequest { file: ".", ..req };
        let e = files.model(&dir_itself, &[key_seg("churn")]).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{}", e.message);
    }

    #[test]
    fn scenario_errors_name_the_field_and_the_csv_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.csv"), "minute,vm01\n0,1\n1, x\n").unwrap();
        let base = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scenarios/tutorial/05-churn-trace.json"),
        )
        .unwrap();
        let file = dir.path().join("s.json");
        let load = |text: &str| {
            crate::scenario::load_str(&file, text, None)
                .unwrap_err()
                .to_string()
        };
        let text = base.replace(
            r#""churn": { "model": "trace", "file": "05-churn-trace.csv", "column": "app01" },"#,
            r#""churn": { "model": "trace", "file": "c.csv", "column": "vm01" },"#,
        );
        let e = load(&text);
        assert!(
            e.contains("s.json:20:")
                && e.contains(": churn.file: ")
                && e.contains("c.csv:3:4: column `vm01`: `x` is not a rate"),
            "{e}"
        );
        let text = base.replace(r#""column": "db01""#, r#""column": "db09""#);
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scenarios/tutorial/05-churn-trace.csv"),
            dir.path().join("05-churn-trace.csv"),
        )
        .unwrap();
        let e = load(&text);
        assert!(
            e.contains(": machines[1].disks[1].churn.column: ")
                && e.contains("no column `db09`; the header has: minute, app01, db01"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("05-churn-trace.csv")).unwrap();
        let e = load(&base);
        assert!(
            e.contains(": churn.file: cannot read the trace file"),
            "{e}"
        );
    }

    fn key_seg(k: &str) -> Segment {
        super::key(k)
    }
}
