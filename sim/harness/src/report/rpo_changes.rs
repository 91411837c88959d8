//! Which report intervals can repeat a scope's previous RPO point (issue 6).
//!
//! A scope's RPO point for an interval depends only on the shapes of its machines' ramps clipped to the
//! interval (their start times do not matter: the percentiles weigh RPO values by time, the maximum is a
//! ramp's peak). A machine that stays inside one saw-tooth run ([`Segment`]) over two intervals of the
//! same length, that length a multiple of its ramps' length, gives the same shapes in both, shifted; so
//! does a machine with no ramp in either. A fleet's machines under a point cadence sit inside one run
//! for days, so most intervals of a 30-day report repeat the one before, and clipping every machine's
//! ramps to every interval (8,640 × 10,000 at 10k) is needed only where some machine's run starts or
//! ends.
//!
//! [`changed_intervals`] marks, per scope, every interval in which some member is not in that case
//! (conservatively: a mark costs only the recomputation); `series::rpo_values` recomputes those and
//! repeats the previous point elsewhere.

use super::series::Members;
use crate::rpo::Segment;
use drsim_engine::Millis;

/// Per scope, per interval (`times` are the intervals' ends, the first starts at 0): whether its RPO
/// point must be computed, i.e. may differ from the previous interval's. Interval 0 always is.
pub fn changed_intervals(
    series: &[&[Segment]],
    scopes: &[Members],
    times: &[Millis],
) -> Vec<Vec<bool>> {
    let n = times.len();
    let from = |k: usize| if k == 0 { 0 } else { times[k - 1] };
    let delta = |k: usize| times[k] - from(k);
    // The intervals' usual length; an interval whose predecessor has another length changes for all.
    let common = most_common((0..n).map(delta));
    let everywhere: Vec<usize> = (0..n)
        .filter(|&k| k == 0 || delta(k) != delta(k - 1) || delta(k - 1) != common)
        .collect();
    let mut scopes_of: Vec<Vec<usize>> = vec![Vec::new(); series.len()];
    for (s, m) in scopes.iter().enumerate() {
        for &i in &m.items {
            scopes_of[i].push(s);
        }
    }
    let mut changed = vec![vec![false; n]; scopes.len()];
    for s in &mut changed {
        for &k in &everywhere {
            s[k] = true;
        }
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (i, ramps) in series.iter().enumerate() {
        if scopes_of[i].is_empty() {
            continue;
        }
        ranges.clear();
        for seg in ramps.iter() {
            ranges.extend(changes_of(seg, times, common).into_iter().flatten());
        }
        for &s in &scopes_of[i] {
            for &(a, b) in &ranges {
                changed[s][a..=b].fill(true);
            }
        }
    }
    changed
}

/// The intervals (inclusive ranges) a run of ramps may make differ from their predecessors: those it
/// only partly covers, the first it covers whole, the one after its last, and — when its ramps' length
/// does not divide the usual interval `common` — every one it covers.
fn changes_of(seg: &Segment, times: &[Millis], common: Millis) -> [Option<(usize, usize)>; 2] {
    let n = times.len();
    let (s, e) = (seg.start_ms, seg.end_ms());
    if seg.len_ms == 0 || s >= e || n == 0 {
        return [None, None]; // no ramp: clipping gives nothing
    }
    let from = |k: usize| if k == 0 { 0 } else { times[k - 1] };
    // the intervals it overlaps: ending after s, starting before e
    let first = times.partition_point(|&t| t <= s);
    let last = times.partition_point(|&t| t < e).min(n - 1);
    if first > last {
        return [None, None];
    }
    let after = (last + 1).min(n - 1);
    // the ones it covers whole (only the first and the last it overlaps can be partial)
    let a = if from(first) < s { first + 1 } else { first };
    let b = if times[last] > e {
        last.checked_sub(1)
    } else {
        Some(last)
    };
    match b.filter(|&b| a <= b) {
        Some(b) => {
            let steady = common > 0 && common.is_multiple_of(seg.len_ms);
            [
                Some((first, if steady { a } else { b })),
                (b < after).then_some((b + 1, after)),
            ]
        }
        None => [Some((first, after)), None],
    }
}

/// The value that occurs most often (the smallest of the most frequent; 0 for none).
fn most_common(values: impl Iterator<Item = Millis>) -> Millis {
    let mut counts = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0u64) += 1;
    }
    (counts.iter())
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(0, |(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::super::series::{Members, Scope, rpo_values};
    use super::*;
    use proptest::prelude::*;

    /// Machines' ramp runs: (gap before, rpo, ramp length, count) each, in time order.
    fn runs() -> impl Strategy<Value = Vec<Vec<Segment>>> {
        let run = (
            0u64..40,
            0u64..20,
            prop_oneof![Just(5u64), Just(10), 1u64..12],
            1u64..30,
        );
        proptest::collection::vec(proptest::collection::vec(run, 0..6), 1..7).prop_map(|machines| {
            (machines.into_iter())
                .map(|runs| {
                    let mut t = 0;
                    (runs.into_iter())
                        .map(|(gap, rpo_ms, len_ms, count)| {
                            let s = Segment {
                                start_ms: t + gap,
                                rpo_ms,
                                len_ms,
                                count,
                            };
                            t = s.end_ms();
                            s
                        })
                        .collect()
                })
                .collect()
        })
    }

    /// Interval ends: mostly every 10 ms, some of other lengths.
    fn times() -> impl Strategy<Value = Vec<Millis>> {
        proptest::collection::vec(prop_oneof![8 => Just(10u64), 1 => 1u64..25], 1..80).prop_map(
            |deltas| {
                (deltas.iter())
                    .scan(0, |t, d| {
                        *t += d;
                        Some(*t)
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Repeating the previous point where no interval is marked gives what computing every interval
        /// gives, for the fleet, each machine and a pair, from any interval on.
        #[test]
        fn skipping_unmarked_intervals_changes_nothing(
            series in runs(),
            times in times(),
            start_at in 0usize..80,
        ) {
            let refs: Vec<&[Segment]> = series.iter().map(Vec::as_slice).collect();
            let n = series.len();
            let mut scopes: Vec<Members> = (0..n)
                .map(|i| Members { scope: Scope::Item(i.to_string()), items: vec![i] })
                .collect();
            scopes.push(Members { scope: Scope::Fleet, items: (0..n).collect() });
            scopes.push(Members { scope: Scope::Plan("p".into()), items: vec![0, n - 1] });
            let changed = changed_intervals(&refs, &scopes, &times);
            let every = vec![vec![true; times.len()]; scopes.len()];
            let ks = start_at.min(times.len() - 1)..times.len();
            prop_assert_eq!(
                rpo_values(&refs, &scopes, &times, &changed, ks.clone()),
                rpo_values(&refs, &scopes, &times, &every, ks)
            );
        }
    }

    #[test]
    fn a_steady_run_changes_only_where_it_starts_and_ends() {
        // ramps of 5 ms from 12 to 112, intervals of 10 ms: [0,10) [10,20) … [140,150)
        let run = [Segment {
            start_ms: 12,
            rpo_ms: 3,
            len_ms: 5,
            count: 20,
        }];
        let times: Vec<Millis> = (1..=15).map(|k| 10 * k).collect();
        let scopes = [Members {
            scope: Scope::Fleet,
            items: vec![0],
        }];
        let marked: Vec<usize> = (changed_intervals(&[&run], &scopes, &times)[0].iter())
            .enumerate()
            .filter_map(|(k, c)| c.then_some(k))
            .collect();
        // 0 always; 1 partly covered, 2 the first whole; 11 partly covered, 12 the first after
        assert_eq!(marked, [0, 1, 2, 11, 12]);
        // ramps of 3 ms do not repeat in 10 ms intervals: every interval they cover is marked
        let odd = [Segment {
            len_ms: 3,
            ..run[0]
        }];
        let marked = changed_intervals(&[&odd], &scopes, &times)[0].clone();
        assert!(marked[1..=5].iter().all(|c| *c));
    }
}
