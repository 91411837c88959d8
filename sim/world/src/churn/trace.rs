//! Trace-driven churn: per-minute MB/s replayed from a CSV file.
//!
//! # File format
//!
//! ```text
//! minute,mb_per_s,disk
//! 0,1.5,vm1-disk0
//! 1,2.25,vm1-disk0
//! 5,0,vm1-disk0
//! 0,4,vm2-disk0
//! ```
//!
//! - A header row is required. Column names are matched after trimming, ignoring ASCII case; their
//!   order does not matter and extra columns are ignored.
//! - `minute`: whole minutes since simulated time 0 (a non-negative integer). After filtering, the
//!   first row must be minute 0 and minutes must strictly increase; a gap holds the previous value
//!   (a step function), so `0,1` then `5,0` means 1 MB/s for minutes 0–4.
//! - `mb_per_s`: the average write rate of that minute in **decimal megabytes per second, MB = 10⁶
//!   bytes** (the unit of DOMAIN.md §4's churn limits and of the ASR deployment planner). It is a plain
//!   non-negative decimal (`12`, `0.5`, `.25`; no sign, no exponent), parsed exactly, without floating
//!   point, to whole bytes per second; digits below 1 B/s (beyond the 6th decimal) are truncated.
//! - Optional filter: when a [`TraceFilter`] is given (e.g. column `disk` or `vm`), only rows whose
//!   cell in that column equals the filter value (after trimming, case-sensitive) are used, so one
//!   file can hold the traces of many disks.
//! - Beyond the last minute the trace either repeats from minute 0 ([`TraceEnd::Repeat`], period =
//!   last minute + 1) or holds its last value forever ([`TraceEnd::HoldLast`]).
//! - At most [`MAX_TRACE_MINUTES`] minutes.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use drsim_engine::Millis;
use drsim_engine::time::MINUTE_MS;
use serde::{Deserialize, Serialize};

use super::{BYTES_PER_MB, ChurnError, ChurnSegment, mul_u64};

/// Longest accepted trace: 2²⁰ minutes (about two years), a bound on memory (~28 bytes a minute).
pub const MAX_TRACE_MINUTES: u64 = 1 << 20;

/// What a trace does after its last minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceEnd {
    /// Start again from minute 0 (a daily or weekly trace replayed over a longer run).
    Repeat,
    /// Keep the last minute's rate forever.
    HoldLast,
}

/// Selects the rows of one disk (or VM) from a multi-disk trace file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFilter {
    /// Header name of the filter column, e.g. `disk` or `vm` (matched ignoring ASCII case).
    pub column: String,
    /// The value rows must carry in that column (trimmed, case-sensitive).
    pub value: String,
}

/// The shared, immutable per-minute table of a trace.
#[derive(Debug, PartialEq, Eq)]
struct TraceData {
    end: TraceEnd,
    /// Rate of each minute, bytes per second (non-empty).
    rates_bps: Vec<u64>,
    /// `prefix[m]` = exact churn over minutes `0..m` in milli-bytes (`len = rates + 1`).
    prefix_millibytes: Vec<u128>,
    /// Distance in minutes from minute `m` to the next minute with a different rate, following
    /// [`TraceData::end`] (cyclically for `Repeat`); 0 = the rate never changes again.
    next_change_minutes: Vec<u32>,
}

/// Trace-driven churn: per-minute rates from a CSV (see the module docs for the format).
///
/// The table lives behind an `Arc`: cloning the model for many disks shares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceChurn {
    data: Arc<TraceData>,
}

impl TraceChurn {
    /// Builds a trace from per-minute rates in bytes per second (minute `i` = `rates_bps[i]`).
    pub fn from_rates_bps(rates_bps: Vec<u64>, end: TraceEnd) -> Result<Self, ChurnError> {
        if rates_bps.is_empty() {
            return Err(ChurnError::NoRows { filter: None });
        }
        if rates_bps.len() as u64 > MAX_TRACE_MINUTES {
            return Err(ChurnError::InvalidParameter {
                model: "trace",
                parameter: "minutes",
                reason: format!(
                    "{} minutes exceed the limit of {MAX_TRACE_MINUTES}",
                    rates_bps.len()
                ),
            });
        }
        let mut prefix_millibytes = Vec::with_capacity(rates_bps.len() + 1);
        let mut acc = 0u128;
        prefix_millibytes.push(acc);
        for &r in &rates_bps {
            acc = acc.saturating_add(mul_u64(r, MINUTE_MS));
            prefix_millibytes.push(acc);
        }
        let next_change_minutes = next_change_table(&rates_bps, end);
        Ok(TraceChurn {
            data: Arc::new(TraceData {
                end,
                rates_bps,
                prefix_millibytes,
                next_change_minutes,
            }),
        })
    }

    /// Parses a trace CSV from any reader (see the module docs for the format).
    pub fn from_csv_reader<R: Read>(
        reader: R,
        filter: Option<&TraceFilter>,
        end: TraceEnd,
    ) -> Result<Self, ChurnError> {
        let rates = parse_csv(reader, filter)?;
        Self::from_rates_bps(rates, end)
    }

    /// Parses a trace CSV held in a string.
    pub fn from_csv_str(
        text: &str,
        filter: Option<&TraceFilter>,
        end: TraceEnd,
    ) -> Result<Self, ChurnError> {
        Self::from_csv_reader(text.as_bytes(), filter, end)
    }

    /// Reads and parses a trace CSV file.
    pub fn from_csv_path(
        path: &Path,
        filter: Option<&TraceFilter>,
        end: TraceEnd,
    ) -> Result<Self, ChurnError> {
        let file = std::fs::File::open(path).map_err(|e| ChurnError::Io {
            source_name: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_csv_reader(std::io::BufReader::new(file), filter, end)
    }

    /// Number of minutes in the trace (its period under [`TraceEnd::Repeat`]).
    pub fn minutes(&self) -> u64 {
        self.data.rates_bps.len() as u64
    }

    /// The per-minute rates in bytes per second.
    pub fn rates_bps(&self) -> &[u64] {
        &self.data.rates_bps
    }

    /// What happens after the last minute.
    pub fn end(&self) -> TraceEnd {
        self.data.end
    }

    /// Index into the table for minute `m`, or `None` beyond the end of a `HoldLast` trace.
    fn index(&self, minute: u64) -> Option<usize> {
        let n = self.minutes();
        if minute < n {
            return Some(minute as usize);
        }
        match self.data.end {
            TraceEnd::Repeat => Some((minute % n) as usize),
            TraceEnd::HoldLast => None,
        }
    }

    pub(super) fn segment_at(&self, t: Millis) -> ChurnSegment {
        let d = &self.data;
        let minute = t / MINUTE_MS;
        let Some(i) = self.index(minute) else {
            return ChurnSegment {
                rate_bps: d.rates_bps[d.rates_bps.len() - 1],
                until_ms: None,
            };
        };
        let distance = u64::from(d.next_change_minutes[i]);
        let until_ms = (distance > 0)
            .then(|| minute.checked_add(distance))
            .flatten()
            .and_then(|m| m.checked_mul(MINUTE_MS));
        ChurnSegment {
            rate_bps: d.rates_bps[i],
            until_ms,
        }
    }

    pub(super) fn cumulative_millibytes(&self, t: Millis) -> u128 {
        let d = &self.data;
        let n = self.minutes();
        let period_ms = n * MINUTE_MS;
        let total = d.prefix_millibytes[d.prefix_millibytes.len() - 1];
        let (whole, t_in) = if t < period_ms {
            (0u128, t)
        } else {
            match d.end {
                TraceEnd::Repeat => (
                    u128::from(t / period_ms).saturating_mul(total),
                    t % period_ms,
                ),
                TraceEnd::HoldLast => {
                    let last = d.rates_bps[d.rates_bps.len() - 1];
                    return total.saturating_add(mul_u64(last, t - period_ms));
                }
            }
        };
        let m = (t_in / MINUTE_MS) as usize;
        whole
            .saturating_add(d.prefix_millibytes[m])
            .saturating_add(mul_u64(d.rates_bps[m], t_in % MINUTE_MS))
    }
}

/// For every minute, the distance to the next minute whose rate differs (0 = never), following
/// the end behaviour. O(n).
fn next_change_table(rates: &[u64], end: TraceEnd) -> Vec<u32> {
    let n = rates.len();
    let mut next = vec![0u32; n];
    match end {
        TraceEnd::HoldLast => {
            // Beyond the end the rate is the last one, so only changes inside the table count.
            for i in (0..n.saturating_sub(1)).rev() {
                next[i] = if rates[i + 1] != rates[i] {
                    1
                } else if next[i + 1] == 0 {
                    0
                } else {
                    next[i + 1] + 1
                };
            }
        }
        TraceEnd::Repeat => {
            if rates.iter().all(|&r| r == rates[0]) {
                return next;
            }
            // Two backward passes around the circle: the second sees the wrap-around.
            for _pass in 0..2 {
                for i in (0..n).rev() {
                    let j = (i + 1) % n;
                    let candidate = if rates[j] != rates[i] {
                        1
                    } else if next[j] == 0 {
                        0
                    } else {
                        next[j] + 1
                    };
                    // Pass 0 is exact except for runs that reach the end of the table (they
                    // see 0 at the wrap); pass 1 recomputes them with minute 0 already exact.
                    next[i] = candidate;
                }
            }
        }
    }
    next
}

/// Parses the CSV into dense per-minute rates (bytes per second).
fn parse_csv<R: Read>(reader: R, filter: Option<&TraceFilter>) -> Result<Vec<u64>, ChurnError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = rdr.headers().map_err(csv_error)?.clone();
    let find = |name: &str| -> Result<usize, ChurnError> {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| ChurnError::MissingColumn {
                column: name.to_string(),
                found: headers.iter().collect::<Vec<_>>().join(","),
            })
    };
    let minute_col = find("minute")?;
    let rate_col = find("mb_per_s")?;
    let filter_col = match filter {
        Some(f) => Some((find(&f.column)?, f.value.trim())),
        None => None,
    };

    let mut rates: Vec<u64> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e)),
        }
        let row = record.position().map_or(0, |p| p.line());
        let cell = |col: usize| record.get(col).unwrap_or("");
        if let Some((col, value)) = filter_col
            && cell(col) != value
        {
            continue;
        }
        let invalid = |col: usize, reason: &str| ChurnError::InvalidValue {
            row,
            column: headers.get(col).unwrap_or("").to_string(),
            column_number: col + 1,
            value: cell(col).to_string(),
            reason: reason.to_string(),
        };
        let minute: u64 = cell(minute_col)
            .parse()
            .map_err(|_| invalid(minute_col, "not a non-negative whole number of minutes"))?;
        if minute >= MAX_TRACE_MINUTES {
            return Err(invalid(
                minute_col,
                &format!("minute is beyond the limit of {MAX_TRACE_MINUTES} minutes"),
            ));
        }
        let rate_bps =
            parse_mb_per_s(cell(rate_col)).map_err(|reason| invalid(rate_col, reason))?;
        let expected_next = rates.len() as u64;
        match rates.last().copied() {
            None if minute != 0 => {
                return Err(ChurnError::MinuteOutOfOrder {
                    row,
                    minute,
                    expectation: "0".to_string(),
                });
            }
            Some(_) if minute < expected_next => {
                return Err(ChurnError::MinuteOutOfOrder {
                    row,
                    minute,
                    expectation: format!("after minute {}", expected_next - 1),
                });
            }
            Some(previous) => {
                // Gaps hold the previous value.
                rates.resize(minute as usize, previous);
            }
            None => {}
        }
        rates.push(rate_bps);
    }
    if rates.is_empty() {
        return Err(ChurnError::NoRows {
            filter: filter.map(|f| format!("{} = {}", f.column, f.value)),
        });
    }
    Ok(rates)
}

fn csv_error(e: csv::Error) -> ChurnError {
    let row = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => ChurnError::Io {
            source_name: "reader".to_string(),
            message: io.to_string(),
        },
        _ => ChurnError::Csv {
            row,
            message: e.to_string(),
        },
    }
}

/// Parses a non-negative decimal MB/s (MB = 10⁶ bytes) exactly into whole bytes per second;
/// digits beyond the 6th decimal (below 1 B/s) are truncated.
pub fn parse_mb_per_s(text: &str) -> Result<u64, &'static str> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty cell; expected a rate in MB/s");
    }
    if s.starts_with('-') {
        return Err("negative rate");
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(
            "not a plain decimal number of MB/s (digits with an optional '.', no sign or exponent)",
        );
    }
    let too_big = "rate too large";
    let mut bps: u64 = 0;
    for b in int_part.bytes() {
        bps = bps
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(too_big)?;
    }
    bps = bps.checked_mul(BYTES_PER_MB).ok_or(too_big)?;
    let mut scale = BYTES_PER_MB / 10;
    for b in frac_part.bytes().take(6) {
        bps = bps
            .checked_add(u64::from(b - b'0') * scale)
            .ok_or(too_big)?;
        scale /= 10;
    }
    Ok(bps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::ChurnModel;

    #[test]
    fn parses_decimal_megabytes_exactly() {
        assert_eq!(parse_mb_per_s("12"), Ok(12_000_000));
        assert_eq!(parse_mb_per_s("0.5"), Ok(500_000));
        assert_eq!(parse_mb_per_s(".25"), Ok(250_000));
        assert_eq!(parse_mb_per_s("3."), Ok(3_000_000));
        assert_eq!(parse_mb_per_s("0.0000019"), Ok(1));
        assert_eq!(parse_mb_per_s(" 1.000001 "), Ok(1_000_001));
        for bad in [
            "",
            "-1",
            "1e3",
            "nan",
            "1.2.3",
            "+1",
            ".",
            "99999999999999999999",
        ] {
            assert!(parse_mb_per_s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gaps_hold_and_end_behaviours() {
        let csv = "Minute , MB_per_s\n0,1\n3,2\n";
        let repeat = TraceChurn::from_csv_str(csv, None, TraceEnd::Repeat).unwrap();
        assert_eq!(
            repeat.rates_bps(),
            &[1_000_000, 1_000_000, 1_000_000, 2_000_000]
        );
        let m = ChurnModel::Trace(repeat);
        assert_eq!(m.segment_at(0).until_ms, Some(3 * MINUTE_MS));
        assert_eq!(m.segment_at(3 * MINUTE_MS).until_ms, Some(4 * MINUTE_MS));
        assert_eq!(m.rate_at(4 * MINUTE_MS), 1_000_000, "repeats");
        assert_eq!(m.bytes_written(0, 4 * MINUTE_MS), 300_000_000);
        assert_eq!(m.bytes_written(4 * MINUTE_MS, 8 * MINUTE_MS), 300_000_000);

        let hold =
            ChurnModel::Trace(TraceChurn::from_csv_str(csv, None, TraceEnd::HoldLast).unwrap());
        assert_eq!(hold.segment_at(3 * MINUTE_MS).until_ms, None);
        assert_eq!(hold.rate_at(1_000 * MINUTE_MS), 2_000_000);
        assert_eq!(
            hold.bytes_written(0, 10 * MINUTE_MS),
            180_000_000 + 7 * 120_000_000
        );
    }

    #[test]
    fn repeat_next_change_wraps() {
        // 5,5,7 repeating: from minute 2 (rate 7) the next change is minute 3 (= minute 0, rate 5);
        // from minute 0 it is minute 2.
        let t = TraceChurn::from_rates_bps(vec![5, 5, 7], TraceEnd::Repeat).unwrap();
        let m = ChurnModel::Trace(t);
        assert_eq!(m.next_change_after(0), Some(2 * MINUTE_MS));
        assert_eq!(m.next_change_after(2 * MINUTE_MS), Some(3 * MINUTE_MS));
        assert_eq!(m.next_change_after(3 * MINUTE_MS), Some(5 * MINUTE_MS));
        let flat =
            ChurnModel::Trace(TraceChurn::from_rates_bps(vec![4, 4], TraceEnd::Repeat).unwrap());
        assert_eq!(flat.next_change_after(0), None);
        // Changes in a HoldLast trace stop at its end.
        let hold = ChurnModel::Trace(
            TraceChurn::from_rates_bps(vec![1, 2, 2], TraceEnd::HoldLast).unwrap(),
        );
        assert_eq!(hold.next_change_after(0), Some(MINUTE_MS));
        assert_eq!(hold.next_change_after(MINUTE_MS), None);
    }

    #[test]
    fn filter_selects_one_disk() {
        let csv = "minute,vm,mb_per_s,disk\n0,a,1,d0\n0,a,9,d1\n1,a,2,d0\n1,a,8,d1\n";
        let f = TraceFilter {
            column: "disk".into(),
            value: "d1".into(),
        };
        let t = TraceChurn::from_csv_str(csv, Some(&f), TraceEnd::HoldLast).unwrap();
        assert_eq!(t.rates_bps(), &[9_000_000, 8_000_000]);
        let none = TraceFilter {
            column: "disk".into(),
            value: "d9".into(),
        };
        assert_eq!(
            TraceChurn::from_csv_str(csv, Some(&none), TraceEnd::HoldLast),
            Err(ChurnError::NoRows {
                filter: Some("disk = d9".into())
            })
        );
    }

    #[test]
    fn errors_name_row_and_column() {
        let err = TraceChurn::from_csv_str("minute,mb_per_s\n0,1\n1,abc\n", None, TraceEnd::Repeat)
            .unwrap_err();
        assert_eq!(
            err,
            ChurnError::InvalidValue {
                row: 3,
                column: "mb_per_s".into(),
                column_number: 2,
                value: "abc".into(),
                reason: "not a plain decimal number of MB/s (digits with an optional '.', no sign or exponent)".into(),
            }
        );
        assert!(err.to_string().contains("row 3, column `mb_per_s` (#2)"));

        let err =
            TraceChurn::from_csv_str("minute,rate\n0,1\n", None, TraceEnd::Repeat).unwrap_err();
        assert!(
            matches!(err, ChurnError::MissingColumn { ref column, .. } if column == "mb_per_s")
        );

        let err =
            TraceChurn::from_csv_str("minute,mb_per_s\n1,1\n", None, TraceEnd::Repeat).unwrap_err();
        assert!(matches!(
            err,
            ChurnError::MinuteOutOfOrder {
                row: 2,
                minute: 1,
                ..
            }
        ));

        let err =
            TraceChurn::from_csv_str("minute,mb_per_s\n0,1\n2,1\n2,3\n", None, TraceEnd::Repeat)
                .unwrap_err();
        assert!(matches!(
            err,
            ChurnError::MinuteOutOfOrder {
                row: 4,
                minute: 2,
                ..
            }
        ));

        let err = TraceChurn::from_csv_str("minute,mb_per_s\n0,1\n1,1,7\n", None, TraceEnd::Repeat)
            .unwrap_err();
        assert!(matches!(err, ChurnError::Csv { row: 3, .. }), "{err:?}");

        let err = TraceChurn::from_csv_str("minute,mb_per_s\n-1,1\n", None, TraceEnd::Repeat)
            .unwrap_err();
        assert!(matches!(
            err,
            ChurnError::InvalidValue {
                row: 2,
                column_number: 1,
                ..
            }
        ));

        let err =
            TraceChurn::from_csv_str("minute,mb_per_s\n", None, TraceEnd::Repeat).unwrap_err();
        assert_eq!(err, ChurnError::NoRows { filter: None });

        let err = TraceChurn::from_csv_str("minute,mb_per_s\n99999999,1\n", None, TraceEnd::Repeat)
            .unwrap_err();
        assert!(matches!(err, ChurnError::InvalidValue { row: 2, .. }));

        let err =
            TraceChurn::from_csv_path(Path::new("/nonexistent/trace.csv"), None, TraceEnd::Repeat)
                .unwrap_err();
        assert!(matches!(err, ChurnError::Io { .. }));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for input in [
            &b"\xff\xfe\n0,1"[..],
            b"minute,mb_per_s\n\"0,1\n",
            b"",
            b"minute,mb_per_s,minute\n0,1,1\n",
            b"minute,mb_per_s\n0,18446744073709\n",
        ] {
            let _ = TraceChurn::from_csv_reader(input, None, TraceEnd::Repeat);
        }
    }
}
