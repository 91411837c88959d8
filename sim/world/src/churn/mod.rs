//! Churn models: how many bytes a protected disk's writer (the failed-over Azure VM) writes over time
//! (ARCHITECTURE.md "The world": "Churn models: constant, diurnal, bursty on/off, and trace-driven from
//! a CSV of per-minute MB/s"; DOMAIN.md §1 "disks: change rate over time (churn)").
//!
//! # Units and exactness
//!
//! Rates are integer **bytes per second** (`*_bps`). Time is integer milliseconds
//! ([`drsim_engine::Millis`]). A rate of `r` B/s held for `d` ms writes `r·d / 1000` bytes, which is
//! rarely a whole number, so every model is defined by an exact integer **cumulative** function in
//! *milli-bytes* (1/1000 byte): [`ChurnModel::cumulative_millibytes`]`(t)` = `Σ rate·ms` over
//! `[0, t)`. Because `r` B/s is exactly `r` milli-bytes per millisecond, this function is piecewise
//! linear with integer slopes and has no rounding at all. Whole bytes are derived from it by flooring
//! the *cumulative* value:
//!
//! `bytes_written(a, b) = ⌊C(b)/1000⌋ − ⌊C(a)/1000⌋`
//!
//! which telescopes, so `bytes_written(a, b) + bytes_written(b, c) == bytes_written(a, c)` holds
//! exactly for every `a ≤ b ≤ c` (the property the fluid data plane and INV-BYTES rely on).
//!
//! # Piecewise-constant rates
//!
//! Every model is piecewise constant: [`ChurnModel::segment_at`] returns the rate at `t` and the
//! first instant after `t` at which it changes ([`ChurnModel::next_change_after`]): never for
//! [`ChurnModel::Constant`], quantum boundaries for [`DiurnalChurn`], on/off switch times for
//! [`BurstyChurn`], minute boundaries for [`TraceChurn`]. The fluid model (`crate::fluid`) advances in
//! closed form between those instants, so a caller schedules events only where a rate changes.
//!
//! # Determinism
//!
//! No model reads a clock or an entropy source. [`BurstyChurn`] draws its on/off durations from a
//! ChaCha8 stream handed over by the caller (one stream per disk, `crate::rng`), by *position*
//! (cycle `k` reads words `4k..4k+4` of the stream), so its schedule is a pure function of the
//! stream and the query time. Floating point is used only inside formulas whose integer results are
//! stored (the diurnal cosine, the exponential draw), with `f64` and no fast-math, which is
//! deterministic on one platform.

mod bursty;
mod diurnal;
mod trace;

pub use bursty::{BurstyChurn, BurstyParams, MAX_DURATION_FACTOR};
pub use diurnal::{DEFAULT_QUANTUM_MS, DiurnalChurn, DiurnalParams};
pub use trace::{MAX_TRACE_MINUTES, TraceChurn, TraceEnd, TraceFilter, parse_mb_per_s};

use drsim_engine::Millis;

/// Milli-bytes per byte: the internal unit of exact cumulative churn (a rate of `r` B/s is exactly
/// `r` milli-bytes per millisecond).
pub const MILLIBYTES_PER_BYTE: u128 = 1_000;

/// Bytes in one MB as used by trace files and DOMAIN.md §4 churn limits (decimal: MB = 10⁶ bytes).
pub const BYTES_PER_MB: u64 = 1_000_000;

/// A stretch of constant churn: the rate at the query time and when it next changes.
///
/// `until_ms` is strictly greater than the query time, or `None` when the rate never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnSegment {
    /// Write rate in bytes per second on `[query time, until_ms)`.
    pub rate_bps: u64,
    /// First instant after the query time at which the rate may differ; `None` = constant forever.
    pub until_ms: Option<Millis>,
}

/// A constant or diurnal model's rate over time in 24 bytes, its day's rates one pointer away (a
/// diurnal [`ChurnModel`] is two: its shared table, then the rates): what the calendar of churn steps
/// keeps for each of the 30,000 streams that follow their churn at 10k (issue 6), so that a step reads
/// one small record and a shared table. [`RegularChurn::segment_at`] answers exactly what
/// [`ChurnModel::segment_at`] does for the model it came from. Crate-private, and a daily one is made
/// only by [`ChurnModel::regular`] from a validated diurnal model (crate tests aside): its table is
/// never empty nor its quantum 0 (both divide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegularChurn {
    /// The same rate for ever, bytes per second.
    Constant(u64),
    /// A rate per quantum of the day (`rates.len()` quanta of `quantum_ms`, from midnight).
    Daily {
        /// Bytes per second in each quantum of the day.
        rates: std::sync::Arc<[u64]>,
        /// The quantum's length.
        quantum_ms: Millis,
    },
}

impl RegularChurn {
    /// The rate at `t` and the next quantum boundary after it (as [`ChurnModel::segment_at`]).
    pub fn segment_at(&self, t: Millis) -> ChurnSegment {
        match self {
            RegularChurn::Constant(rate_bps) => ChurnSegment {
                rate_bps: *rate_bps,
                until_ms: None,
            },
            RegularChurn::Daily { rates, quantum_ms } => {
                let q = *quantum_ms;
                let k = (t % drsim_engine::time::DAY_MS) / q;
                ChurnSegment {
                    rate_bps: rates[(k % rates.len() as u64) as usize],
                    until_ms: (t / q).checked_add(1).and_then(|k| k.checked_mul(q)),
                }
            }
        }
    }
}

impl RegularChurn {
    /// The rate at `t` and the first quantum boundary after `t` where the rate differs from it (a
    /// boundary that keeps the rate is no step; after 2,048 boundaries of the same rate, the next one
    /// anyway): when a stream that follows its churn must ask the network for a new demand. `None`:
    /// never (a constant, or beyond the end of time). Walks the day's table from the quantum of `t`
    /// with one division in all (a follower's hourly step, 30,000 an hour at 10k, issue 6).
    pub fn rate_and_next_step(&self, t: Millis) -> (u64, Option<Millis>) {
        let RegularChurn::Daily { rates, quantum_ms } = self else {
            return (self.segment_at(t).rate_bps, None);
        };
        let (q, n) = (*quantum_ms, rates.len());
        let mut k = ((t % drsim_engine::time::DAY_MS) / q) as usize % n;
        let rate = rates[k];
        let Some(mut at) = (t / q).checked_add(1).and_then(|k| k.checked_mul(q)) else {
            return (rate, None);
        };
        for _ in 0..2048 {
            k = if k + 1 == n { 0 } else { k + 1 };
            if rates[k] != rate {
                return (rate, Some(at));
            }
            let Some(next) = at.checked_add(q) else {
                return (rate, None);
            };
            at = next;
        }
        (rate, Some(at))
    }
}

/// Errors from building a churn model: bad parameters or a bad trace CSV.
///
/// CSV errors name the row (the 1-based line in the file, the header being row 1) and, where one is
/// at fault, the column, so a user can fix the file without guessing. Building a model never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChurnError {
    /// A model parameter is out of range (e.g. a diurnal quantum that does not divide a day).
    #[error("invalid {model} churn parameter `{parameter}`: {reason}")]
    InvalidParameter {
        /// Which model (`"diurnal"`, `"bursty"`, `"trace"`).
        model: &'static str,
        /// The offending parameter.
        parameter: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The trace file could not be read at all.
    #[error("trace CSV {source_name}: cannot read: {message}")]
    Io {
        /// File path or other description of the input.
        source_name: String,
        /// The underlying I/O error, as text (keeps the error `Clone + Eq`).
        message: String,
    },
    /// The CSV reader rejected a row (wrong number of fields, invalid UTF-8, ...).
    #[error("trace CSV row {row}: {message}")]
    Csv {
        /// 1-based line number in the file (header = row 1); 0 when unknown.
        row: u64,
        /// The reader's description of the problem.
        message: String,
    },
    /// A required column is missing from the header.
    #[error("trace CSV: header has no column `{column}` (found: {found})")]
    MissingColumn {
        /// The column looked for (`minute`, `mb_per_s`, or the filter column).
        column: String,
        /// The header fields that were present, comma-separated.
        found: String,
    },
    /// A cell does not hold a valid value for its column.
    #[error(
        "trace CSV row {row}, column `{column}` (#{column_number}): {reason} (value `{value}`)"
    )]
    InvalidValue {
        /// 1-based line number in the file (header = row 1).
        row: u64,
        /// Column name as written in the header.
        column: String,
        /// 1-based column position.
        column_number: usize,
        /// The cell's text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Minutes must start at 0 and strictly increase (gaps hold the previous value).
    #[error(
        "trace CSV row {row}, column `minute`: minute {minute} must be {expectation} (rows are in increasing minute order, starting at minute 0)"
    )]
    MinuteOutOfOrder {
        /// 1-based line number in the file (header = row 1).
        row: u64,
        /// The minute found.
        minute: u64,
        /// What was expected, e.g. "0" or "after minute 12".
        expectation: String,
    },
    /// No data rows (after applying the filter).
    #[error("trace CSV: no data rows{}", match filter { Some(f) => format!(" with {f}"), None => String::new() })]
    NoRows {
        /// The filter as `column = value`, when one was applied.
        filter: Option<String>,
    },
}

/// A disk's churn model (ARCHITECTURE.md "Churn models").
///
/// All variants expose the same exact, integer-additive interface; see the module docs for units.
/// [`ChurnModel::Trace`] shares its table through an `Arc`, so cloning a model per disk is cheap.
#[derive(Debug, Clone, PartialEq)]
pub enum ChurnModel {
    /// A constant write rate (bytes per second), e.g. a DOMAIN.md §4 churn limit such as 2 MB/s.
    Constant {
        /// Write rate in bytes per second.
        rate_bps: u64,
    },
    /// A daily cycle around a mean, piecewise constant per quantum ([`DiurnalChurn`]).
    Diurnal(DiurnalChurn),
    /// Alternating on/off bursts with exponentially distributed durations ([`BurstyChurn`]). Boxed:
    /// inline it made every model 160 bytes, and a replicating disk holds two (its own and its
    /// stream's), so the other models' disks carried bytes they never use (issue 6: a fleet's disks
    /// are its hottest data; every model is 16 bytes now). Build it with [`ChurnModel::bursty`].
    BurstyOnOff(Box<BurstyChurn>),
    /// Per-minute rates replayed from a CSV trace ([`TraceChurn`]).
    Trace(TraceChurn),
}

impl ChurnModel {
    /// A constant rate in bytes per second.
    pub fn constant(rate_bps: u64) -> Self {
        ChurnModel::Constant { rate_bps }
    }

    /// Alternating on/off bursts ([`ChurnModel::BurstyOnOff`]).
    pub fn bursty(model: BurstyChurn) -> Self {
        ChurnModel::BurstyOnOff(Box::new(model))
    }

    /// A model that never writes (a powered-off or idle source).
    pub fn idle() -> Self {
        ChurnModel::Constant { rate_bps: 0 }
    }

    /// The rate at `t` and when it next changes. The fluid model's one query per segment.
    pub fn segment_at(&self, t: Millis) -> ChurnSegment {
        match self {
            ChurnModel::Constant { rate_bps } => ChurnSegment {
                rate_bps: *rate_bps,
                until_ms: None,
            },
            ChurnModel::Diurnal(m) => m.segment_at(t),
            ChurnModel::BurstyOnOff(m) => m.segment_at(t),
            ChurnModel::Trace(m) => m.segment_at(t),
        }
    }

    /// The model as the steps of a stream that follows its churn read it ([`RegularChurn`]), for the
    /// models whose rate changes on a regular grid (constant, diurnal); `None` for the others.
    pub(crate) fn regular(&self) -> Option<RegularChurn> {
        match self {
            ChurnModel::Constant { rate_bps } => Some(RegularChurn::Constant(*rate_bps)),
            ChurnModel::Diurnal(m) => Some(match m.steps() {
                Some((rates, quantum_ms)) => RegularChurn::Daily { rates, quantum_ms },
                None => RegularChurn::Constant(m.quantum_rate_bps(0)),
            }),
            ChurnModel::BurstyOnOff(_) | ChurnModel::Trace(_) => None,
        }
    }

    /// Write rate in bytes per second at instant `t` (the rate on `[t, next_change_after(t))`).
    pub fn rate_at(&self, t: Millis) -> u64 {
        self.segment_at(t).rate_bps
    }

    /// The first instant strictly after `t` at which the rate may change, or `None` if it never does:
    /// never for a constant model, the next quantum boundary for a diurnal one (where the rate may
    /// occasionally round to the same B/s), the next switch for a bursty one, the next minute boundary
    /// with a different rate for a trace.
    ///
    /// Callers schedule an event there (and only there) when the disk's demand depends on the rate.
    pub fn next_change_after(&self, t: Millis) -> Option<Millis> {
        self.segment_at(t).until_ms
    }

    /// The highest rate the model ever writes at, for the models whose rate changes on a regular grid
    /// shared by every disk (constant, diurnal); `None` for the others.
    pub fn regular_peak_bps(&self) -> Option<u64> {
        match self {
            ChurnModel::Constant { rate_bps } => Some(*rate_bps),
            ChurnModel::Diurnal(m) => Some(m.peak_bps()),
            ChurnModel::BurstyOnOff(_) | ChurnModel::Trace(_) => None,
        }
    }

    /// Whether the rate changes only on whole seconds, so that over any span between whole seconds a
    /// stream writes a whole number of bytes (what `world::meter` needs to add up the streams that follow
    /// their churn by their rates alone). Constant and diurnal models with whole-second quanta do; the
    /// others never follow.
    pub fn steps_on_whole_seconds(&self) -> bool {
        match self {
            ChurnModel::Constant { .. } => true,
            ChurnModel::Diurnal(m) => m.params().quantum_ms.is_multiple_of(1000),
            ChurnModel::BurstyOnOff(_) | ChurnModel::Trace(_) => false,
        }
    }

    /// Exact cumulative churn over `[0, t)` in milli-bytes (saturating at `u128::MAX`, far beyond any
    /// simulated horizon).
    pub fn cumulative_millibytes(&self, t: Millis) -> u128 {
        match self {
            ChurnModel::Constant { rate_bps } => u128::from(*rate_bps) * u128::from(t),
            ChurnModel::Diurnal(m) => m.cumulative_millibytes(t),
            ChurnModel::BurstyOnOff(m) => m.cumulative_millibytes(t),
            ChurnModel::Trace(m) => m.cumulative_millibytes(t),
        }
    }

    /// Exact churn over `[from, to)` in milli-bytes; 0 when `to <= from`. Additive.
    pub fn millibytes_written(&self, from: Millis, to: Millis) -> u128 {
        if to <= from {
            return 0;
        }
        self.cumulative_millibytes(to)
            .saturating_sub(self.cumulative_millibytes(from))
    }

    /// Whole bytes written over `[from, to)`: `⌊C(to)/1000⌋ − ⌊C(from)/1000⌋`; 0 when `to <= from`.
    ///
    /// Exactly additive: `bytes_written(a, b) + bytes_written(b, c) == bytes_written(a, c)`.
    /// Saturates at `u64::MAX` (18 EB, unreachable in practice).
    pub fn bytes_written(&self, from: Millis, to: Millis) -> u64 {
        if to <= from {
            return 0;
        }
        let hi = self.cumulative_millibytes(to) / MILLIBYTES_PER_BYTE;
        let lo = self.cumulative_millibytes(from) / MILLIBYTES_PER_BYTE;
        u64::try_from(hi.saturating_sub(lo)).unwrap_or(u64::MAX)
    }

    /// Hint that upcoming queries are near `t`: moves the bursty model's cycle cursor there so that
    /// later `&self` queries are O(1). A no-op for the other models; never changes any result.
    pub fn seek(&mut self, t: Millis) {
        if let ChurnModel::BurstyOnOff(m) = self {
            m.seek(t);
        }
    }
}

/// `a · b` in u128, exact for any two u64 values.
pub(crate) fn mul_u64(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drsim_engine::time::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A regular model's compact form answers every segment query as the model does (a flat diurnal
    /// model, with no amplitude or no mean, becomes a constant).
    #[test]
    fn regular_churn_answers_as_its_model() {
        let diurnal = |mean_bps, amplitude_permille, quantum_ms| {
            ChurnModel::Diurnal(
                DiurnalChurn::new(DiurnalParams {
                    mean_bps,
                    amplitude_permille,
                    peak_minute_of_day: 10 * 60,
                    quantum_ms,
                })
                .unwrap(),
            )
        };
        let models = [
            ChurnModel::constant(5_000),
            ChurnModel::idle(),
            diurnal(20_000, 600, HOUR_MS),
            diurnal(20_000, 600, 5 * MINUTE_MS),
            diurnal(20_000, 0, HOUR_MS),
            diurnal(0, 600, HOUR_MS),
        ];
        for m in &models {
            let r = m.regular().expect("regular");
            for t in (0..3 * DAY_MS).step_by(7 * MINUTE_MS as usize + 13).chain([
                HOUR_MS - 1,
                HOUR_MS,
                u64::MAX - 1,
                u64::MAX,
            ]) {
                assert_eq!(r.segment_at(t), m.segment_at(t), "{m:?} at {t}");
            }
        }
        // the next step: the first boundary with another rate, as segment by segment
        let reference = |r: &RegularChurn, t: Millis| {
            let seg = r.segment_at(t);
            let mut at = seg.until_ms;
            for _ in 0..2048 {
                let Some(u) = at else { break };
                let s = r.segment_at(u);
                if s.rate_bps != seg.rate_bps {
                    return (seg.rate_bps, Some(u));
                }
                at = s.until_ms;
            }
            (seg.rate_bps, at)
        };
        let flat_hours = RegularChurn::Daily {
            rates: vec![7, 7, 9, 9, 9, 7].into(),
            quantum_ms: 4 * HOUR_MS,
        };
        let same = RegularChurn::Daily {
            rates: vec![5; 24].into(),
            quantum_ms: HOUR_MS,
        };
        let steps = [&models[2], &models[3], &models[4]].map(|m| m.regular().unwrap());
        for r in steps.iter().chain([&flat_hours, &same]) {
            for t in (0..2 * DAY_MS).step_by(17 * MINUTE_MS as usize + 1).chain([
                u64::MAX - HOUR_MS,
                u64::MAX - 1,
                u64::MAX,
            ]) {
                assert_eq!(r.rate_and_next_step(t), reference(r, t), "{r:?} at {t}");
            }
        }
        assert_eq!(
            flat_hours.rate_and_next_step(HOUR_MS),
            (7, Some(8 * HOUR_MS))
        );
        assert_eq!(same.rate_and_next_step(0), (5, Some(2049 * HOUR_MS)));
        assert_eq!(
            diurnal(20_000, 0, HOUR_MS).regular(),
            Some(RegularChurn::Constant(20_000))
        );
        assert!(sample_models().iter().any(|m| m.regular().is_none()));
    }

    fn sample_models() -> Vec<ChurnModel> {
        let diurnal = DiurnalChurn::new(DiurnalParams {
            mean_bps: 2_000_000,
            amplitude_permille: 600,
            peak_minute_of_day: 14 * 60,
            quantum_ms: MINUTE_MS,
        })
        .expect("valid diurnal");
        let bursty = BurstyChurn::new(
            BurstyParams {
                on_bps: 20_000_000,
                off_bps: 250_000,
                mean_on_ms: 3 * MINUTE_MS,
                mean_off_ms: 17 * MINUTE_MS,
            },
            ChaCha8Rng::seed_from_u64(7),
        )
        .expect("valid bursty");
        let trace = TraceChurn::from_csv_str(
            "minute,mb_per_s\n0,1.5\n1,0.000333\n4,7\n5,0\n",
            None,
            TraceEnd::Repeat,
        )
        .expect("valid trace");
        let hold = TraceChurn::from_rates_bps(vec![5, 1_000_001, 3], TraceEnd::HoldLast)
            .expect("valid trace");
        vec![
            ChurnModel::constant(1_234_567),
            ChurnModel::Diurnal(diurnal),
            ChurnModel::bursty(bursty),
            ChurnModel::Trace(trace),
            ChurnModel::Trace(hold),
        ]
    }

    /// The sample models, built once (building the diurnal model evaluates 1440 cosines).
    fn models() -> &'static [ChurnModel] {
        static MODELS: std::sync::OnceLock<Vec<ChurnModel>> = std::sync::OnceLock::new();
        MODELS.get_or_init(sample_models)
    }

    #[test]
    fn constant_bytes_are_exact() {
        let m = ChurnModel::constant(2_000_000);
        assert_eq!(m.bytes_written(0, SECOND_MS), 2_000_000);
        assert_eq!(m.bytes_written(0, DAY_MS), 172_800_000_000);
        // 1 ms of 1_500 B/s is 1.5 bytes: floors of the cumulative keep the sum exact.
        let m = ChurnModel::constant(1_500);
        assert_eq!(m.bytes_written(0, 1), 1);
        assert_eq!(m.bytes_written(1, 2), 2);
        assert_eq!(m.bytes_written(0, 2), 3);
        assert_eq!(m.next_change_after(0), None);
        assert_eq!(m.bytes_written(5, 3), 0);
    }

    #[test]
    fn segments_match_cumulative_for_every_model() {
        for m in models() {
            // Moving the cursor along keeps bursty queries O(1) (results never depend on it).
            let mut m = m.clone();
            let horizon = 2 * DAY_MS;
            let (mut t, mut steps, mut running) = (0, 0u64, 0u128);
            while t < horizon && steps < 20_000 {
                let seg = m.segment_at(t);
                let end = seg.until_ms.unwrap_or(horizon).min(horizon);
                assert!(end > t, "segment must move forward ({m:?} at {t})");
                running += mul_u64(seg.rate_bps, end - t);
                // Probe inside the segment: the rate is the same.
                let mid = t + (end - t) / 2;
                assert_eq!(m.rate_at(mid), seg.rate_bps);
                t = end;
                m.seek(t);
                steps += 1;
                // The cumulative is the integral of the segments (checked sparsely: the diurnal
                // cumulative costs O(quanta per day)).
                if steps % 37 == 0 || t == horizon {
                    assert_eq!(m.cumulative_millibytes(t), running, "{m:?} at {t}");
                }
            }
        }
    }

    #[test]
    fn seek_changes_no_result() {
        for m in models() {
            let mut moved = m.clone();
            moved.seek(3 * DAY_MS + 17);
            for t in [0, 1, MINUTE_MS, HOUR_MS + 5, DAY_MS, 5 * DAY_MS] {
                assert_eq!(m.cumulative_millibytes(t), moved.cumulative_millibytes(t));
                assert_eq!(m.segment_at(t), moved.segment_at(t));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Churn bytes are integer-additive for every model: bytes(a,b) + bytes(b,c) == bytes(a,c).
        #[test]
        fn bytes_are_additive(a in 0u64..3 * DAY_MS, d1 in 0u64..DAY_MS, d2 in 0u64..DAY_MS, which in 0usize..5) {
            let mut m = models()[which].clone();
            m.seek(a);
            let b = a + d1;
            let c = b + d2;
            prop_assert_eq!(m.bytes_written(a, b) + m.bytes_written(b, c), m.bytes_written(a, c));
            prop_assert_eq!(
                m.millibytes_written(a, b) + m.millibytes_written(b, c),
                m.millibytes_written(a, c)
            );
            // Whole bytes never stray more than one byte from the exact amount.
            let exact = m.millibytes_written(a, c);
            let whole = u128::from(m.bytes_written(a, c)) * MILLIBYTES_PER_BYTE;
            prop_assert!(whole + MILLIBYTES_PER_BYTE > exact && exact + MILLIBYTES_PER_BYTE > whole);
        }

        /// Constant models with arbitrary rates and times never panic and stay additive.
        #[test]
        fn constant_extremes(rate in any::<u64>(), a in any::<u64>(), b in any::<u64>()) {
            let m = ChurnModel::constant(rate);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let _ = m.bytes_written(lo, hi);
            prop_assert_eq!(m.bytes_written(hi, lo), 0);
        }
    }
}
