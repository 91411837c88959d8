//! Bursty on/off churn: alternating "on" and "off" phases with exponentially distributed lengths.

use drsim_engine::Millis;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{ChurnError, ChurnSegment, mul_u64};

/// Upper bound on a drawn phase length, as a multiple of its mean (a limit on everything,
/// TIGER_STYLE; an exponential exceeds 64 means with probability e⁻⁶⁴, so the bound changes nothing
/// in practice but keeps every schedule finite).
pub const MAX_DURATION_FACTOR: u64 = 64;

/// Parameters of a [`BurstyChurn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstyParams {
    /// Write rate during an "on" phase, bytes per second.
    pub on_bps: u64,
    /// Write rate during an "off" phase, bytes per second (often small but non-zero).
    pub off_bps: u64,
    /// Mean length of an "on" phase in ms (≥ 1).
    pub mean_on_ms: Millis,
    /// Mean length of an "off" phase in ms (≥ 1).
    pub mean_off_ms: Millis,
}

impl BurstyParams {
    /// Long-run mean rate `(on·mean_on + off·mean_off) / (mean_on + mean_off)`, bytes per second
    /// (ignoring the negligible [`MAX_DURATION_FACTOR`] truncation and the ≥ 1 ms rounding).
    pub fn mean_bps(&self) -> u64 {
        let total = u128::from(self.mean_on_ms) + u128::from(self.mean_off_ms);
        if total == 0 {
            return 0;
        }
        let bytes = mul_u64(self.on_bps, self.mean_on_ms) + mul_u64(self.off_bps, self.mean_off_ms);
        u64::try_from(bytes / total).unwrap_or(u64::MAX)
    }
}

/// One on/off cycle: `[start, start + on)` at the on rate, then `[.., + off)` at the off rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cycle {
    index: u64,
    start_ms: Millis,
    /// Exact cumulative churn over `[0, start_ms)`.
    start_millibytes: u128,
    on_ms: Millis,
    off_ms: Millis,
}

impl Cycle {
    fn switch_ms(&self) -> Millis {
        self.start_ms.saturating_add(self.on_ms)
    }
    fn end_ms(&self) -> Millis {
        self.switch_ms().saturating_add(self.off_ms)
    }
}

/// Bursty on/off churn, deterministic given the caller's ChaCha8 stream.
///
/// Cycle `k` is an "on" phase followed by an "off" phase; cycle 0 starts at time 0 in the "on"
/// phase. Phase lengths are exponential with the configured means, rounded up to whole ms and bounded
/// to `[1, MAX_DURATION_FACTOR · mean]`. Cycle `k`'s two lengths come from words `4k..4k+4` (after
/// the position the stream had when handed over) of the caller's stream, read by *position*: the
/// schedule is a pure function of (stream, time) and no query can shift another.
///
/// Cost: locating the cycle containing `t` walks cycle by cycle from a cursor. The fluid model moves
/// the cursor forward with [`BurstyChurn::seek`] as it advances, so its queries are O(1) amortised;
/// an arbitrary `&self` query costs O(cycles between the cursor and `t`) (a day at a 20-min mean
/// cycle is 72 steps). Results never depend on where the cursor is.
#[derive(Debug, Clone)]
pub struct BurstyChurn {
    params: BurstyParams,
    /// The caller's stream, by key, stream number and starting word (kept instead of the generator
    /// itself to keep the model small).
    seed: [u8; 32],
    stream: u64,
    base_word: u128,
    cursor: Cycle,
}

impl PartialEq for BurstyChurn {
    /// Equal when the schedules are equal (same parameters and stream); the cursor is a cache.
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
            && self.seed == other.seed
            && self.stream == other.stream
            && self.base_word == other.base_word
    }
}

impl BurstyChurn {
    /// Builds the model from `params` and the disk's own ChaCha8 stream (`crate::rng`), taken over
    /// by value: the schedule starts at the stream's current position.
    ///
    /// Rejects zero mean durations.
    pub fn new(params: BurstyParams, rng: ChaCha8Rng) -> Result<Self, ChurnError> {
        for (parameter, value) in [
            ("mean_on_ms", params.mean_on_ms),
            ("mean_off_ms", params.mean_off_ms),
        ] {
            if value == 0 {
                return Err(ChurnError::InvalidParameter {
                    model: "bursty",
                    parameter,
                    reason: "must be at least 1 ms".to_string(),
                });
            }
        }
        let mut model = BurstyChurn {
            params,
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            base_word: rng.get_word_pos(),
            cursor: Cycle {
                index: 0,
                start_ms: 0,
                start_millibytes: 0,
                on_ms: 1,
                off_ms: 1,
            },
        };
        let (on_ms, off_ms) = model.durations(0);
        model.cursor.on_ms = on_ms;
        model.cursor.off_ms = off_ms;
        Ok(model)
    }

    /// The validated parameters.
    pub fn params(&self) -> BurstyParams {
        self.params
    }

    /// Phase lengths of cycle `k` (on, off), drawn by stream position.
    fn durations(&self, k: u64) -> (Millis, Millis) {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.base_word + 4 * u128::from(k));
        let on = exponential_ms(rng.next_u64(), self.params.mean_on_ms);
        let off = exponential_ms(rng.next_u64(), self.params.mean_off_ms);
        (on, off)
    }

    fn cycle_millibytes(&self, c: &Cycle) -> u128 {
        mul_u64(self.params.on_bps, c.on_ms) + mul_u64(self.params.off_bps, c.off_ms)
    }

    /// The cycle containing `t`, walking from `from`.
    fn locate_from(&self, mut c: Cycle, t: Millis) -> Cycle {
        while t < c.start_ms && c.index > 0 {
            let k = c.index - 1;
            let (on_ms, off_ms) = self.durations(k);
            let mut prev = Cycle {
                index: k,
                start_ms: 0,
                start_millibytes: 0,
                on_ms,
                off_ms,
            };
            prev.start_ms = c.start_ms.saturating_sub(on_ms.saturating_add(off_ms));
            prev.start_millibytes = c
                .start_millibytes
                .saturating_sub(self.cycle_millibytes(&prev));
            c = prev;
        }
        // `end_ms() == u64::MAX` means the schedule has saturated the time axis: stay in this cycle.
        while t >= c.end_ms() && c.end_ms() < Millis::MAX && c.index < u64::MAX {
            let (on_ms, off_ms) = self.durations(c.index + 1);
            let next = Cycle {
                index: c.index + 1,
                start_ms: c.end_ms(),
                start_millibytes: c.start_millibytes.saturating_add(self.cycle_millibytes(&c)),
                on_ms,
                off_ms,
            };
            c = next;
        }
        c
    }

    /// Moves the cursor to the cycle containing `t` (a cache; never changes any result).
    pub fn seek(&mut self, t: Millis) {
        self.cursor = self.locate_from(self.cursor, t);
    }

    pub(super) fn segment_at(&self, t: Millis) -> ChurnSegment {
        let p = &self.params;
        if p.on_bps == p.off_bps {
            return ChurnSegment {
                rate_bps: p.on_bps,
                until_ms: None,
            };
        }
        let c = self.locate_from(self.cursor, t);
        let (rate_bps, until) = if t < c.switch_ms() {
            (p.on_bps, c.switch_ms())
        } else {
            (p.off_bps, c.end_ms())
        };
        ChurnSegment {
            rate_bps,
            until_ms: (until > t).then_some(until),
        }
    }

    pub(super) fn cumulative_millibytes(&self, t: Millis) -> u128 {
        let p = &self.params;
        if p.on_bps == p.off_bps {
            return mul_u64(p.on_bps, t);
        }
        let c = self.locate_from(self.cursor, t);
        let into = t.saturating_sub(c.start_ms);
        let in_cycle = if into <= c.on_ms {
            mul_u64(p.on_bps, into)
        } else {
            mul_u64(p.on_bps, c.on_ms) + mul_u64(p.off_bps, into - c.on_ms)
        };
        c.start_millibytes.saturating_add(in_cycle)
    }
}

/// An exponential draw with the given mean from 64 random bits, rounded up to whole ms and bounded
/// to `[1, MAX_DURATION_FACTOR · mean]`. Uses `f64` only inside the formula; the stored result is
/// an integer.
fn exponential_ms(bits: u64, mean_ms: Millis) -> Millis {
    // 53 random bits → u ∈ [0, 1); −ln(1 − u) ∈ [0, 36.7].
    let u = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let x = -(mean_ms as f64) * (-u).ln_1p();
    (x.ceil() as u64).clamp(1, mean_ms.saturating_mul(MAX_DURATION_FACTOR).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::ChurnModel;
    use drsim_engine::time::{DAY_MS, MINUTE_MS};

    fn params() -> BurstyParams {
        BurstyParams {
            on_bps: 10_000_000,
            off_bps: 100_000,
            mean_on_ms: 2 * MINUTE_MS,
            mean_off_ms: 8 * MINUTE_MS,
        }
    }

    fn model(seed: u64) -> ChurnModel {
        ChurnModel::bursty(BurstyChurn::new(params(), ChaCha8Rng::seed_from_u64(seed)).unwrap())
    }

    #[test]
    fn deterministic_given_the_stream() {
        let a = model(42);
        let b = model(42);
        let c = model(43);
        assert_eq!(a.bytes_written(0, DAY_MS), b.bytes_written(0, DAY_MS));
        assert_ne!(a.bytes_written(0, DAY_MS), c.bytes_written(0, DAY_MS));
        assert_eq!(a, b);
    }

    #[test]
    fn switches_alternate_and_mean_is_plausible() {
        let mut m = model(1);
        let mut t = 0;
        let mut rates = Vec::new();
        for _ in 0..2000 {
            let seg = m.segment_at(t);
            rates.push(seg.rate_bps);
            t = seg.until_ms.expect("bursty switches forever");
            m.seek(t);
        }
        assert!(rates.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(rates[0], 10_000_000, "cycle 0 starts on");
        // 1000 cycles: the empirical mean is within 10% of the configured mean.
        let mean = (m.millibytes_written(0, t) / u128::from(t)) as u64;
        let expected = params().mean_bps();
        assert!(
            mean.abs_diff(expected) * 10 < expected,
            "{mean} vs {expected}"
        );
    }

    #[test]
    fn stream_position_is_respected() {
        let fresh = ChaCha8Rng::seed_from_u64(9);
        let mut advanced = ChaCha8Rng::seed_from_u64(9);
        let _ = advanced.next_u64();
        let a = BurstyChurn::new(params(), fresh).unwrap();
        let b = BurstyChurn::new(params(), advanced).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_zero_means_and_handles_extremes() {
        assert!(
            BurstyChurn::new(
                BurstyParams {
                    mean_on_ms: 0,
                    ..params()
                },
                ChaCha8Rng::seed_from_u64(0)
            )
            .is_err()
        );
        let equal = ChurnModel::bursty(
            BurstyChurn::new(
                BurstyParams {
                    on_bps: 5,
                    off_bps: 5,
                    ..params()
                },
                ChaCha8Rng::seed_from_u64(0),
            )
            .unwrap(),
        );
        assert_eq!(equal.next_change_after(123), None);
        assert_eq!(equal.bytes_written(0, 1000), 5);
        // Huge means saturate the time axis quickly and must terminate.
        let huge = ChurnModel::bursty(
            BurstyChurn::new(
                BurstyParams {
                    mean_on_ms: u64::MAX / 2,
                    mean_off_ms: u64::MAX / 2,
                    ..params()
                },
                ChaCha8Rng::seed_from_u64(3),
            )
            .unwrap(),
        );
        let _ = huge.bytes_written(0, u64::MAX);
        let _ = huge.segment_at(u64::MAX);
    }

    #[test]
    fn exponential_draw_bounds() {
        assert_eq!(exponential_ms(0, 1000), 1);
        assert_eq!(exponential_ms(u64::MAX, 1), 37);
        assert!(exponential_ms(u64::MAX, 1000) <= 64_000);
        assert_eq!(exponential_ms(u64::MAX, 1), 37.min(MAX_DURATION_FACTOR));
    }
}
