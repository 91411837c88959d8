//! Diurnal churn: a daily cosine around a mean, held constant within each quantum.

use drsim_engine::Millis;
use drsim_engine::time::{DAY_MS, MINUTE_MS};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{ChurnError, ChurnSegment, mul_u64};

/// Default diurnal quantum: 60 s (ARCHITECTURE.md "in quanta (configurable, default 60 s)").
pub const DEFAULT_QUANTUM_MS: Millis = MINUTE_MS;

fn default_quantum_ms() -> Millis {
    DEFAULT_QUANTUM_MS
}

/// Parameters of a [`DiurnalChurn`].
///
/// The rate in quantum `k` (which starts at time-of-day `τ = k·quantum_ms`, simulated time 0 being
/// midnight of day 0) is
///
/// `rate_k = round(mean_bps · (1 + amplitude · cos(2π · (τ − peak) / 24 h)))`, `amplitude = amplitude_permille / 1000`
///
/// so the peak rate is `mean·(1 + amplitude)` at `peak_minute_of_day` (a peak-to-mean ratio of
/// `1 + amplitude`) and the trough `mean·(1 − amplitude)` twelve hours later. The cosine is sampled at
/// the *start* of each quantum; equally spaced samples of a full cosine period sum to zero, so the daily
/// mean stays `mean_bps` (up to the per-quantum rounding to whole B/s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiurnalParams {
    /// Daily mean write rate in bytes per second.
    pub mean_bps: u64,
    /// Swing around the mean in thousandths of the mean, `0..=1000` (1000 = the trough is 0 B/s).
    pub amplitude_permille: u16,
    /// Minute of the day (`0..1440`) at which the rate peaks.
    pub peak_minute_of_day: u16,
    /// Length of a constant-rate quantum in ms; must divide 24 h (default 60 s).
    #[serde(default = "default_quantum_ms")]
    pub quantum_ms: Millis,
}

/// Diurnal churn model: [`DiurnalParams`] plus the precomputed daily total.
///
/// Each quantum's rate is computed once, at construction (one `cos` per quantum of the day), with a prefix
/// sum, so a segment and [`ChurnModel::cumulative_millibytes`](super::ChurnModel::cumulative_millibytes) cost O(1); the tables (≈ 35 KB at
/// one-minute quanta) are shared by clones, so disks with the same parameters should clone one model.
///
/// The model itself is one pointer to what it shares: inline (96 bytes) it made every [`ChurnModel`](super::ChurnModel)
/// 112 bytes, and a replicating disk holds two models (its own and its stream's), a fifth of a fleet's
/// hottest data (issue 6); the shared table of a fleet's few distinct models stays in the cache.
#[derive(Clone, PartialEq)]
pub struct DiurnalChurn {
    table: Arc<DiurnalTable>,
}

/// What a [`DiurnalChurn`] and its clones share.
#[derive(PartialEq)]
struct DiurnalTable {
    params: DiurnalParams,
    quanta_per_day: u64,
    day_total_millibytes: u128,
    /// The highest quantum rate (asked of every stream that catches up: `fluid::disk`'s closed form).
    peak_bps: u64,
    /// The rate of each quantum of the day, computed once (one `cos` each); an `Arc` of its own because
    /// a `RegularChurn` keeps it without the rest of the table.
    rates: Arc<[u64]>,
    /// Churn from midnight to the start of each quantum (and of the next midnight), so cumulative churn
    /// is O(1).
    prefix_millibytes: Box<[u128]>,
}

/// As the model printed when it was inline: its fields, not the pointer.
impl std::fmt::Debug for DiurnalChurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.table;
        f.debug_struct("DiurnalChurn")
            .field("params", &t.params)
            .field("quanta_per_day", &t.quanta_per_day)
            .field("day_total_millibytes", &t.day_total_millibytes)
            .field("peak_bps", &t.peak_bps)
            .field("rates", &t.rates)
            .field("prefix_millibytes", &t.prefix_millibytes)
            .finish()
    }
}

impl DiurnalChurn {
    /// Validates `params` (amplitude ≤ 1000 ‰, peak minute < 1440, quantum > 0 dividing 24 h) and
    /// precomputes the exact churn of one whole day.
    pub fn new(params: DiurnalParams) -> Result<Self, ChurnError> {
        let invalid = |parameter: &'static str, reason: String| ChurnError::InvalidParameter {
            model: "diurnal",
            parameter,
            reason,
        };
        if params.amplitude_permille > 1000 {
            return Err(invalid(
                "amplitude_permille",
                format!("{} is above 1000", params.amplitude_permille),
            ));
        }
        if params.peak_minute_of_day >= 24 * 60 {
            return Err(invalid(
                "peak_minute_of_day",
                format!("{} is not in 0..1440", params.peak_minute_of_day),
            ));
        }
        if params.quantum_ms == 0 || !DAY_MS.is_multiple_of(params.quantum_ms) {
            return Err(invalid(
                "quantum_ms",
                format!(
                    "{} ms must be positive and divide a day ({DAY_MS} ms)",
                    params.quantum_ms
                ),
            ));
        }
        let quanta_per_day = DAY_MS / params.quantum_ms;
        let rates: Arc<[u64]> = (0..quanta_per_day)
            .map(|k| compute_rate_bps(&params, k))
            .collect();
        let mut prefix = Vec::with_capacity(rates.len() + 1);
        let mut sum = 0u128;
        prefix.push(0);
        for r in rates.iter() {
            sum = sum.saturating_add(mul_u64(*r, params.quantum_ms));
            prefix.push(sum);
        }
        Ok(DiurnalChurn {
            table: Arc::new(DiurnalTable {
                params,
                quanta_per_day,
                day_total_millibytes: sum,
                peak_bps: rates.iter().copied().max().unwrap_or(0),
                rates,
                prefix_millibytes: prefix.into(),
            }),
        })
    }

    /// The validated parameters.
    pub fn params(&self) -> DiurnalParams {
        self.table.params
    }

    /// The highest rate of any quantum, bytes per second.
    pub fn peak_bps(&self) -> u64 {
        self.table.peak_bps
    }

    /// Exact bytes written over one whole day (floored to whole bytes).
    pub fn bytes_per_day(&self) -> u64 {
        u64::try_from(self.table.day_total_millibytes / super::MILLIBYTES_PER_BYTE)
            .unwrap_or(u64::MAX)
    }

    /// Rate of quantum `k_in_day` (`0..quanta_per_day`, taken modulo otherwise), in bytes per second.
    pub fn quantum_rate_bps(&self, k_in_day: u64) -> u64 {
        self.table.rates[(k_in_day % self.table.quanta_per_day) as usize]
    }

    /// The rate of each quantum of the day and the quantum's length: what
    /// [`RegularChurn`](super::RegularChurn) reads (`None` when the rate never changes).
    pub(super) fn steps(&self) -> Option<(Arc<[u64]>, Millis)> {
        (self.table.params.amplitude_permille != 0 && self.table.params.mean_bps != 0)
            .then(|| (Arc::clone(&self.table.rates), self.table.params.quantum_ms))
    }

    fn quantum_index(&self, t: Millis) -> u64 {
        (t % DAY_MS) / self.table.params.quantum_ms
    }

    pub(super) fn segment_at(&self, t: Millis) -> ChurnSegment {
        let q = self.table.params.quantum_ms;
        let k = self.quantum_index(t);
        let rate_bps = self.quantum_rate_bps(k);
        if self.table.params.amplitude_permille == 0 || self.table.params.mean_bps == 0 {
            return ChurnSegment {
                rate_bps,
                until_ms: None,
            };
        }
        // The next quantum boundary. (Neighbours near the peak or trough can round to the same
        // B/s; reporting the boundary anyway costs one cosine less per segment than scanning, and a
        // segment that continues at the same rate is harmless to every caller.)
        let until_ms = (t / q).checked_add(1).and_then(|k| k.checked_mul(q));
        ChurnSegment { rate_bps, until_ms }
    }

    pub(super) fn cumulative_millibytes(&self, t: Millis) -> u128 {
        let q = self.table.params.quantum_ms;
        let days = u128::from(t / DAY_MS);
        let in_day = t % DAY_MS;
        let k = in_day / q;
        let whole_quanta = self.table.prefix_millibytes[k as usize];
        let partial = mul_u64(self.quantum_rate_bps(k), in_day - k * q);
        days.saturating_mul(self.table.day_total_millibytes)
            .saturating_add(whole_quanta)
            .saturating_add(partial)
    }
}

/// The rate of quantum `k` of the day: the cosine around the mean, rounded to whole B/s.
fn compute_rate_bps(p: &DiurnalParams, k: u64) -> u64 {
    if p.amplitude_permille == 0 {
        return p.mean_bps;
    }
    let tau_ms = (k * p.quantum_ms) as f64;
    let peak_ms = f64::from(p.peak_minute_of_day) * MINUTE_MS as f64;
    let phase = std::f64::consts::TAU * (tau_ms - peak_ms) / DAY_MS as f64;
    let factor = 1.0 + f64::from(p.amplitude_permille) / 1000.0 * phase.cos();
    // `as` saturates (and maps NaN to 0); factor is in [0, 2] so this is a plain rounding.
    (p.mean_bps as f64 * factor.max(0.0)).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::ChurnModel;
    use drsim_engine::time::HOUR_MS;

    fn params() -> DiurnalParams {
        DiurnalParams {
            mean_bps: 1_000_000,
            amplitude_permille: 500,
            peak_minute_of_day: 13 * 60,
            quantum_ms: DEFAULT_QUANTUM_MS,
        }
    }

    #[test]
    fn peak_trough_and_mean() {
        let m = DiurnalChurn::new(params()).unwrap();
        let peak_k = 13 * 60;
        assert_eq!(m.quantum_rate_bps(peak_k), 1_500_000);
        assert_eq!(m.quantum_rate_bps(peak_k + 12 * 60), 500_000);
        // Daily total is the mean over a day, up to the per-quantum rounding (< 1 B/s each).
        let mean_day = 1_000_000u64 * 86_400;
        let got = m.bytes_per_day();
        assert!(got.abs_diff(mean_day) <= 1440 * 60, "{got} vs {mean_day}");
    }

    #[test]
    fn piecewise_constant_per_quantum() {
        let m = ChurnModel::Diurnal(DiurnalChurn::new(params()).unwrap());
        let t = 3 * HOUR_MS + 17_000;
        let seg = m.segment_at(t);
        assert_eq!(seg.until_ms, Some(3 * HOUR_MS + MINUTE_MS));
        assert_eq!(m.rate_at(3 * HOUR_MS), seg.rate_bps);
        // Day 2 repeats day 0.
        assert_eq!(m.rate_at(2 * DAY_MS + t), seg.rate_bps);
        assert_eq!(
            m.millibytes_written(0, DAY_MS),
            m.millibytes_written(DAY_MS, 2 * DAY_MS)
        );
    }

    #[test]
    fn flat_diurnal_is_constant() {
        let m = DiurnalChurn::new(DiurnalParams {
            amplitude_permille: 0,
            ..params()
        })
        .unwrap();
        assert_eq!(m.segment_at(12_345).until_ms, None);
        assert_eq!(m.cumulative_millibytes(DAY_MS), mul_u64(1_000_000, DAY_MS));
    }

    #[test]
    fn rejects_bad_parameters() {
        for bad in [
            DiurnalParams {
                amplitude_permille: 1001,
                ..params()
            },
            DiurnalParams {
                peak_minute_of_day: 1440,
                ..params()
            },
            DiurnalParams {
                quantum_ms: 0,
                ..params()
            },
            DiurnalParams {
                quantum_ms: 7_000,
                ..params()
            },
        ] {
            assert!(matches!(
                DiurnalChurn::new(bad),
                Err(ChurnError::InvalidParameter { .. })
            ));
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let m = ChurnModel::Diurnal(DiurnalChurn::new(params()).unwrap());
        let _ = m.segment_at(u64::MAX);
        let _ = m.bytes_written(u64::MAX - DAY_MS, u64::MAX);
        let big = ChurnModel::Diurnal(
            DiurnalChurn::new(DiurnalParams {
                mean_bps: u64::MAX,
                amplitude_permille: 1000,
                ..params()
            })
            .unwrap(),
        );
        let _ = big.bytes_written(0, u64::MAX);
    }
}
