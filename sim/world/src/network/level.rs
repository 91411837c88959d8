//! The max-min fair solution of one *simple* resource, kept up to date change by change (issue 6).
//!
//! A constrained resource is simple when none of its flows crosses another constrained resource: its
//! flows form a component of their own (a VPN link when the process servers and master targets are not
//! capped). Progressive filling on one resource of capacity `C` sorts the limits `l₀ ≤ l₁ ≤ …` and fixes
//! flow `i` at its limit while `lᵢ ≤ ⌊(C − Σⱼ<ᵢ lⱼ) / (n − i)⌋`; the first flow that fails and all after
//! it get that level. So the solution is a split of the flows, by limit, into a prefix *at their limit*
//! and the rest *at the level*, and it is the split whose last prefix flow passes its test and whose
//! first other flow fails it (the tests' levels never fall along a passing prefix, and a failure is
//! followed by failures). A change (a flow added, removed or with a new limit; a new capacity) keeps the
//! split ordered; moving flows across the boundary until both tests hold restores the solution in
//! `O((moves + 1) · log n)` instead of re-sorting every flow of the link (the general solver's cost, which
//! made a saturated link's thousand resync completions quadratic).
//!
//! Equal limits land on the same side (the level never falls while flows are fixed at their limits), so
//! the result does not depend on how ties are ordered; flows are keyed by `(limit, slot)`.
//!
//! While the split is *slack* (no flow at the level and the limits sum to no more than the capacity)
//! every flow is at its limit whatever the order, so a flow's new limit that keeps it slack only moves
//! the sum ([`Level::retarget`]); the keys of the prefix may then be older than the limits, and are
//! rebuilt from them ([`Level::rebuild`]) before the split next has to move a flow. The steady hours of
//! a fleet change every stream's limit every hour on a link with room to spare (issue 6).

use std::collections::BTreeSet;

/// The split of a simple resource's flows (by slot), with the sum of the limits of the prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Level {
    at_limit: BTreeSet<(u64, u32)>,
    at_limit_sum: u128,
    at_level: BTreeSet<(u64, u32)>,
    /// The level of the last [`Level::settle`] (`None`: every flow at its limit), which the flows at
    /// the level have until the next one.
    pub(super) committed: Option<u64>,
    /// Whether some keys of the prefix are older than their flows' limits (only while slack).
    stale: bool,
}

impl Level {
    /// The level of the split as it stands (`None` when no flow is at the level).
    pub(super) fn current(&self, capacity: u64) -> Option<u64> {
        let n = self.at_level.len() as u128;
        (n > 0).then(|| {
            let avail = u128::from(capacity).saturating_sub(self.at_limit_sum);
            u64::try_from(avail / n).unwrap_or(u64::MAX)
        })
    }

    /// Adds a flow on the side that keeps the split ordered by limit; returns whether it is at the
    /// level. [`Level::settle`] then moves what must move.
    pub(super) fn insert(&mut self, limit: u64, slot: u32) -> bool {
        let below_level = self.at_level.first().is_none_or(|&(l, _)| limit < l);
        if below_level {
            self.at_limit.insert((limit, slot));
            self.at_limit_sum += u128::from(limit);
        } else {
            self.at_level.insert((limit, slot));
        }
        !below_level
    }

    /// Removes a flow: `key` is the limit it was inserted or moved with, `limit` the one counted in
    /// the sum (newer while the keys are stale), `at_level` its side.
    pub(super) fn remove(&mut self, key: u64, limit: u64, slot: u32, at_level: bool) {
        if at_level {
            self.at_level.remove(&(key, slot));
        } else if self.at_limit.remove(&(key, slot)) {
            self.at_limit_sum -= u128::from(limit);
        }
    }

    /// Whether every flow is at its limit whatever their order: none at the level, and the limits
    /// fit the capacity.
    pub(super) fn slack(&self, capacity: u64) -> bool {
        self.at_level.is_empty() && self.at_limit_sum <= u128::from(capacity)
    }

    /// Gives a flow of the prefix a new limit without moving its key, when the split stays slack;
    /// returns false (and changes nothing) otherwise.
    pub(super) fn retarget(&mut self, old_limit: u64, new_limit: u64, capacity: u64) -> bool {
        let sum = self.at_limit_sum - u128::from(old_limit) + u128::from(new_limit);
        if !self.at_level.is_empty() || sum > u128::from(capacity) {
            return false;
        }
        self.at_limit_sum = sum;
        self.stale |= old_limit != new_limit;
        true
    }

    /// Whether the prefix's keys must be rebuilt before [`Level::settle`] (stale, and no longer slack).
    pub(super) fn needs_rebuild(&self, capacity: u64) -> bool {
        self.stale && !self.slack(capacity)
    }

    /// The flows of the prefix (slots), for [`Level::rebuild`].
    pub(super) fn at_limit_slots(&self) -> Vec<u32> {
        self.at_limit.iter().map(|&(_, s)| s).collect()
    }

    /// Keys the prefix anew by its flows' current limits (`(limit, slot)` for every flow in it; their
    /// sum is the one kept).
    pub(super) fn rebuild(&mut self, keys: impl IntoIterator<Item = (u64, u32)>) {
        self.at_limit = keys.into_iter().collect();
        debug_assert_eq!(
            self.at_limit
                .iter()
                .map(|&(l, _)| u128::from(l))
                .sum::<u128>(),
            self.at_limit_sum
        );
        self.stale = false;
    }

    /// Moves flows across the boundary until the split is the max-min solution for `capacity`;
    /// `moved(slot, at_level)` hears of each flow that changed side.
    pub(super) fn settle(&mut self, capacity: u64, mut moved: impl FnMut(u32, bool)) {
        debug_assert!(
            !self.needs_rebuild(capacity),
            "keys rebuilt before the split moves"
        );
        let capacity = u128::from(capacity);
        // The last flow at its limit must pass its test: l ≤ ⌊(C − Σ + l) / (k + 1)⌋, k at the level.
        while let Some(&(l, slot)) = self.at_limit.last() {
            let k = self.at_level.len() as u128 + 1;
            let avail = (capacity + u128::from(l)).checked_sub(self.at_limit_sum);
            if avail.is_some_and(|a| u128::from(l) * k <= a) {
                break;
            }
            self.at_limit.pop_last();
            self.at_limit_sum -= u128::from(l);
            self.at_level.insert((l, slot));
            moved(slot, true);
        }
        // The first flow at the level must fail it: l > ⌊(C − Σ) / k⌋.
        while let Some(&(l, slot)) = self.at_level.first() {
            let k = self.at_level.len() as u128;
            let avail = capacity.saturating_sub(self.at_limit_sum);
            if u128::from(l) * k > avail {
                break;
            }
            self.at_level.pop_first();
            self.at_limit.insert((l, slot));
            self.at_limit_sum += u128::from(l);
            moved(slot, false);
        }
    }

    /// Bytes per second given out at the current split.
    pub(super) fn allocated(&self, capacity: u64) -> u128 {
        let level = self.current(capacity).map_or(0, u128::from);
        self.at_limit_sum + level * self.at_level.len() as u128
    }

    /// The flows at the level (slots).
    pub(super) fn at_level_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.at_level.iter().map(|&(_, s)| s)
    }

    /// How many flows are at the level.
    pub(super) fn at_level_count(&self) -> usize {
        self.at_level.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::allocation::Problem;
    use proptest::prelude::*;

    /// The general solver's answer for one resource: (rate, at the level?) per flow.
    fn reference(capacity: u64, limits: &[u64]) -> Vec<(u64, bool)> {
        let mut p = Problem::new();
        p.add_resource(capacity).unwrap();
        for &l in limits {
            p.add_flow(l, [0]).unwrap();
        }
        let (rates, held) = p.solve_with_bottlenecks();
        rates
            .into_iter()
            .zip(held.into_iter().map(|h| h.is_some()))
            .collect()
    }

    fn answer(level: &Level, capacity: u64, limits: &[Option<u64>]) -> Vec<(u64, bool)> {
        let q = level.current(capacity);
        let at: BTreeSet<u32> = level.at_level_slots().collect();
        (limits.iter().enumerate())
            .filter_map(|(i, l)| l.map(|l| (i as u32, l)))
            .map(|(i, l)| match at.contains(&i) {
                true => (q.unwrap_or(0), true),
                false => (l, false),
            })
            .collect()
    }

    #[test]
    fn network_level_splits_like_progressive_filling() {
        let mut level = Level::default();
        let limits = [Some(10), Some(u64::MAX), Some(50), Some(0), Some(u64::MAX)];
        for (i, l) in limits.iter().enumerate() {
            level.insert(l.unwrap(), i as u32);
        }
        level.settle(200, |_, _| {});
        // 0 and 10 at their limits; 190 left for three flows: 63 each, above 50 → 50 at its limit too;
        // 140 for two: 70 each.
        assert_eq!(level.current(200), Some(70));
        assert_eq!(
            answer(&level, 200, &limits),
            vec![(10, false), (70, true), (50, false), (0, false), (70, true)]
        );
        assert_eq!(level.allocated(200), 200);
    }

    #[test]
    fn network_level_slack_retargets_then_rebuilds_before_moving_flows() {
        let mut level = Level::default();
        for (slot, l) in [(0, 10), (1, 20), (2, 30)] {
            level.insert(l, slot);
        }
        level.settle(100, |_, _| {});
        assert!(level.slack(100));
        // flow 0 grows past the others by its sum alone; the keys are stale but nothing moves
        assert!(level.retarget(10, 45, 100));
        assert!(!level.needs_rebuild(100));
        assert!(!level.retarget(20, 40, 100), "95 + 20 would not fit");
        // the capacity falls: the split must move its largest flow (0, keyed 10), so it is rebuilt
        assert!(level.needs_rebuild(80));
        level.rebuild([(45, 0), (20, 1), (30, 2)]);
        let mut moved = Vec::new();
        level.settle(80, |s, at| moved.push((s, at)));
        // 20 and 30 at their limits, 30 left for flow 0
        assert_eq!(moved, vec![(0, true)]);
        assert_eq!(level.current(80), Some(30));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn network_level_prop_incremental_equals_the_solver(
            capacity in prop_oneof![0u64..50, 0u64..100_000, Just(u64::MAX - 1)],
            ops in proptest::collection::vec(
                (0u32..12, prop_oneof![Just(None), (0u64..60).prop_map(Some), Just(Some(u64::MAX))]),
                1..40,
            ),
            recapacity in proptest::option::of(0u64..200),
        ) {
            // Each op sets flow i's limit (None: the flow leaves); the split is settled after each. A
            // flow at its limit in a slack split is retargeted (its key left stale) when that keeps it
            // slack, as the network does; the keys are rebuilt before a settle that must move flows.
            let mut level = Level::default();
            let mut limits: Vec<Option<u64>> = vec![None; 12];
            let mut keys: Vec<u64> = vec![0; 12];
            let mut side: Vec<bool> = vec![false; 12];
            let mut capacity = capacity;
            for (k, &(i, l)) in ops.iter().enumerate() {
                let i = i as usize;
                let slack_move = match (limits[i], l) {
                    (Some(old), Some(new)) if !side[i] => level.retarget(old, new, capacity),
                    _ => false,
                };
                if slack_move {
                    limits[i] = l;
                } else {
                    if let Some(old) = limits[i] {
                        level.remove(keys[i], old, i as u32, side[i]);
                    }
                    limits[i] = l;
                    if let Some(l) = l {
                        keys[i] = l;
                        side[i] = level.insert(l, i as u32);
                    }
                }
                if k == ops.len() / 2 && let Some(c) = recapacity {
                    capacity = c;
                }
                if level.needs_rebuild(capacity) {
                    let rebuilt: Vec<(u64, u32)> = (level.at_limit_slots().into_iter())
                        .map(|s| (limits[s as usize].expect("present"), s))
                        .collect();
                    for &(l, s) in &rebuilt {
                        keys[s as usize] = l;
                    }
                    level.rebuild(rebuilt);
                }
                level.settle(capacity, |s, at| {
                    side[s as usize] = at;
                    if let Some(l) = limits[s as usize] {
                        keys[s as usize] = l; // a flow that moves is moved with its (fresh) key
                    }
                });
                let present: Vec<u64> = limits.iter().flatten().copied().collect();
                prop_assert_eq!(answer(&level, capacity, &limits), reference(capacity, &present));
            }
        }
    }
}
