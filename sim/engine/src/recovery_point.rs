//! Recovery points as the engine knows them: the points the infrastructure reported usable, retention
//! pruning (DOMAIN.md §4), the failback policy's defaults, and the choice of a point at failback (FB-03),
//! including the one common point of a replication group (RG-03).

use crate::Millis;
use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Consistency of a recovery point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointKind {
    /// Crash-consistent (every 5 min, fixed; DOMAIN.md §4).
    Crash,
    /// Application-consistent (per policy, 1–12 h; failback policy 60 min).
    App,
}

/// A recovery point of one machine: usable once the data written up to `tag_ms` has reached the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    /// The time the point was tagged (the data it holds is what was written up to then).
    pub tag_ms: Millis,
    /// Crash- or app-consistent.
    pub kind: PointKind,
    /// Multi-VM consistent: tagged together with every member of the machine's replication group
    /// (RG-03), so the same `tag_ms` across members is one consistent point.
    #[serde(default)]
    pub multi_vm: bool,
}

/// Which recovery point to recover to (FB-03).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointChoice {
    /// Copy the pending changes after shutdown and make a new point: no data loss (FB-03). In a replication
    /// group the new point has one tag for every member (RG-03).
    Latest,
    /// The newest processed point per VM; in a replication group, the newest common multi-VM point (RG-03).
    LatestProcessed,
    /// The newest app-consistent point; in a replication group, the newest common one (FB-03, RG-03).
    LatestAppConsistent,
    /// The point with exactly this tag (an older point; data written after it is lost and reported,
    /// INV-LOSS).
    At {
        /// Tag time.
        tag_ms: Millis,
    },
}

impl std::fmt::Display for PointChoice {
    /// As an operator reads it: "latest", "latest-processed", "latest-app-consistent", "the point at 2520000 ms".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PointChoice::Latest => f.write_str("latest"),
            PointChoice::LatestProcessed => f.write_str("latest-processed"),
            PointChoice::LatestAppConsistent => f.write_str("latest-app-consistent"),
            PointChoice::At { tag_ms } => write!(f, "the point tagged at {tag_ms} ms"),
        }
    }
}

/// A replication policy's recovery-point settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationPolicy {
    /// RPO threshold: alerts only, replication is unchanged (DOMAIN.md §4).
    pub rpo_threshold_ms: Millis,
    /// How long points are kept.
    pub retention_ms: Millis,
    /// App-consistent point frequency.
    pub app_consistent_interval_ms: Millis,
}

impl ReplicationPolicy {
    /// The failback policy, which ASR chooses automatically at reprotect (RJ-01): RPO threshold 15 min,
    /// retention 24 h, app-consistent every 60 min (DOMAIN.md §4).
    pub const FAILBACK: ReplicationPolicy = ReplicationPolicy {
        rpo_threshold_ms: 15 * MINUTE_MS,
        retention_ms: DAY_MS,
        app_consistent_interval_ms: HOUR_MS,
    };
}

impl Default for ReplicationPolicy {
    fn default() -> Self {
        ReplicationPolicy::FAILBACK
    }
}

/// Crash-consistent points are tagged every 5 minutes (fixed; DOMAIN.md §4).
pub const CRASH_POINT_INTERVAL_MS: Millis = 5 * MINUTE_MS;

/// A machine whose data reaches the target as it is written: every crash-consistent tag of the fixed
/// grid (multiples of [`CRASH_POINT_INTERVAL_MS`]) from `from_tag_ms` on is usable the moment it is
/// tagged, app-consistent where the tag is a multiple of `app_interval_ms`, until the cadence ends.
/// The infrastructure announces it instead of reporting a point every 5 minutes for every caught-up
/// machine (issue 6: a fleet's steady state then costs nothing per interval); the engine turns it into
/// points when it next looks ([`PointCadence::tags_until`]), so what it knows at any input is what a
/// report per tag would have told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointCadence {
    /// The first tag promised (on the grid).
    pub from_tag_ms: Millis,
    /// App-consistent tags fall on multiples of this, if any (DOMAIN.md §4: failback policy 60 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_interval_ms: Option<Millis>,
    /// Multi-VM consistent points (RG-03).
    #[serde(default)]
    pub multi_vm: bool,
}

impl PointCadence {
    /// The point tagged at `tag_ms` (a grid tag).
    pub fn point_at(&self, tag_ms: Millis) -> RecoveryPoint {
        let app = self
            .app_interval_ms
            .is_some_and(|a| a > 0 && tag_ms.is_multiple_of(a));
        RecoveryPoint {
            tag_ms,
            kind: if app {
                PointKind::App
            } else {
                PointKind::Crash
            },
            multi_vm: self.multi_vm,
        }
    }

    /// The promised tags in `(after, until]`, oldest first, but none older than `not_before` (older
    /// ones retention would drop at once).
    pub fn tags_until(
        &self,
        after: Option<Millis>,
        until: Millis,
        not_before: Millis,
    ) -> impl Iterator<Item = Millis> + use<> {
        let step = CRASH_POINT_INTERVAL_MS;
        let lo = after
            .map_or(0, |a| a.saturating_add(1))
            .max(self.from_tag_ms)
            .max(not_before);
        let first = lo.div_ceil(step).saturating_mul(step);
        (0..)
            .map(move |i: u64| first.saturating_add(i.saturating_mul(step)))
            .take_while(move |&t| t <= until)
    }
}

/// Every point younger than this is kept whatever the retention (DOMAIN.md §4 "beyond the last 2 h").
pub const KEEP_ALL_MS: Millis = 2 * HOUR_MS;

/// The spacing pruning keeps for a point of age `age_ms` under a retention window of `retention_ms`, or
/// `None` when the point is not kept at all (DOMAIN.md §4):
/// 0 days ⇒ no point beyond the latest; 1 day ⇒ one per hour; 2–7 days ⇒ one per 2 h;
/// 8–15 days ⇒ one per 2 h for 7 days, then one per 4 h. Points within the last 2 h are all kept.
pub fn kept_spacing_ms(age_ms: Millis, retention_ms: Millis) -> Option<Millis> {
    if age_ms <= KEEP_ALL_MS && retention_ms > 0 {
        return Some(0);
    }
    if age_ms > retention_ms {
        return None;
    }
    let days = retention_ms.div_ceil(DAY_MS);
    match days {
        0 => None,
        1 => Some(HOUR_MS),
        2..=7 => Some(2 * HOUR_MS),
        _ if age_ms <= 7 * DAY_MS => Some(2 * HOUR_MS),
        _ => Some(4 * HOUR_MS),
    }
}

/// The recovery points of one machine, oldest first, one per tag.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointStore {
    points: VecDeque<RecoveryPoint>,
}

impl PointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of points kept.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no point is kept.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The points, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &RecoveryPoint> {
        self.points.iter()
    }

    /// Adds a point. A second report of one tag merges into the first (app-consistent and multi-VM win).
    pub fn insert(&mut self, p: RecoveryPoint) {
        match self.points.back() {
            Some(last) if last.tag_ms < p.tag_ms => self.points.push_back(p),
            None => self.points.push_back(p),
            _ => match self.points.binary_search_by_key(&p.tag_ms, |q| q.tag_ms) {
                Ok(i) => {
                    let q = &mut self.points[i];
                    q.kind = q.kind.max(p.kind);
                    q.multi_vm |= p.multi_vm;
                }
                Err(i) => self.points.insert(i, p),
            },
        }
    }

    /// Adds the tags `cadence` promised up to `now` that the store does not hold yet, then prunes under
    /// `retention_ms` as of the newest of them: the same points, after the same pruning, as one report
    /// per tag at its tag time would leave (the kept point of a retention bucket is its newest
    /// app-consistent point, else its newest, whether the bucket's points came one at a time or
    /// together).
    pub fn take_cadence(&mut self, cadence: &PointCadence, now: Millis, retention_ms: Millis) {
        let after = self.points.back().map(|p| p.tag_ms);
        let newest = now - now % CRASH_POINT_INTERVAL_MS;
        let not_before = newest.saturating_sub(retention_ms.max(KEEP_ALL_MS));
        let mut added = None;
        for t in cadence.tags_until(after, now, not_before) {
            self.points.push_back(cadence.point_at(t));
            added = Some(t);
        }
        if let Some(t) = added {
            self.prune(t, retention_ms);
        }
    }

    /// Removes every point (commit deletes the other points; disable deletes all).
    pub fn clear(&mut self) {
        self.points.clear();
    }

    /// Keeps only the point with this tag (commit of a recovery: "commit deletes the other points").
    pub fn retain_only(&mut self, tag_ms: Millis) {
        self.points.retain(|p| p.tag_ms == tag_ms);
    }

    /// Prunes by the retention table (DOMAIN.md §4): all points of the last 2 h; beyond, one per spacing
    /// bucket (buckets aligned to absolute time, so members of a group keep the same tags), preferring
    /// the newest app-consistent point of a bucket, else its newest point; nothing older than the window.
    /// The newest point is always kept (with a 0-day window it is the only one).
    pub fn prune(&mut self, now: Millis, retention_ms: Millis) {
        let Some(newest) = self.points.back().copied() else {
            return;
        };
        let mut kept: VecDeque<RecoveryPoint> = VecDeque::with_capacity(self.points.len());
        // Walk newest → oldest, grouping consecutive points of one (spacing, bucket).
        let mut current: Option<((Millis, Millis), RecoveryPoint)> = None;
        for p in self.points.iter().rev() {
            let age = now.saturating_sub(p.tag_ms);
            let Some(spacing) = kept_spacing_ms(age, retention_ms) else {
                continue;
            };
            if spacing == 0 {
                kept.push_front(*p);
                continue;
            }
            let key = (spacing, p.tag_ms / spacing);
            match &mut current {
                Some((k, chosen)) if *k == key => {
                    if chosen.kind == PointKind::Crash && p.kind == PointKind::App {
                        *chosen = *p;
                    }
                }
                _ => {
                    if let Some((_, chosen)) = current.take() {
                        kept.push_front(chosen);
                    }
                    current = Some((key, *p));
                }
            }
        }
        if let Some((_, chosen)) = current {
            kept.push_front(chosen);
        }
        if kept.back().map(|p| p.tag_ms) != Some(newest.tag_ms) {
            kept.push_back(newest);
        }
        self.points = kept;
    }

    /// The newest point.
    pub fn latest(&self) -> Option<RecoveryPoint> {
        self.points.back().copied()
    }

    /// The newest app-consistent point.
    pub fn latest_app(&self) -> Option<RecoveryPoint> {
        self.points
            .iter()
            .rev()
            .find(|p| p.kind == PointKind::App)
            .copied()
    }

    /// The point with exactly this tag.
    pub fn at(&self, tag_ms: Millis) -> Option<RecoveryPoint> {
        self.points
            .binary_search_by_key(&tag_ms, |p| p.tag_ms)
            .ok()
            .map(|i| self.points[i])
    }

    /// RPO at `now`: time since the newest point's tag (DOMAIN.md §4). None without any point.
    pub fn rpo_ms(&self, now: Millis) -> Option<Millis> {
        self.latest().map(|p| now.saturating_sub(p.tag_ms))
    }

    /// The point a per-VM choice selects (FB-03), ignoring group consistency. `Latest` is made by the
    /// final sync, so this returns None for it.
    pub fn select(&self, choice: PointChoice) -> Option<RecoveryPoint> {
        match choice {
            PointChoice::Latest => None,
            PointChoice::LatestProcessed => self.latest(),
            PointChoice::LatestAppConsistent => self.latest_app(),
            PointChoice::At { tag_ms } => self.at(tag_ms),
        }
    }
}

/// The newest tag every store holds as a multi-VM consistent point (app-consistent too when `app_only`):
/// the one common point a replication group fails back to (RG-03, FB-03).
pub fn common_point<'a>(
    stores: impl IntoIterator<Item = &'a PointStore>,
    app_only: bool,
) -> Option<Millis> {
    let mut stores = stores.into_iter();
    let first = stores.next()?;
    let accept = |p: &RecoveryPoint| p.multi_vm && (!app_only || p.kind == PointKind::App);
    let mut candidates: Vec<Millis> = first
        .iter()
        .filter(|p| accept(p))
        .map(|p| p.tag_ms)
        .collect();
    for s in stores {
        candidates.retain(|t| s.at(*t).is_some_and(|p| accept(&p)));
        if candidates.is_empty() {
            return None;
        }
    }
    candidates.last().copied()
}

/// The common point of a group for a choice (RG-03): LatestProcessed → newest common multi-VM point;
/// LatestAppConsistent → newest common app-consistent one; At → that tag if every member has it.
pub fn group_select(stores: &[&PointStore], choice: PointChoice) -> Option<Millis> {
    match choice {
        PointChoice::Latest => None,
        PointChoice::LatestProcessed => common_point(stores.iter().copied(), false),
        PointChoice::LatestAppConsistent => common_point(stores.iter().copied(), true),
        PointChoice::At { tag_ms } => stores
            .iter()
            .all(|s| s.at(tag_ms).is_some())
            .then_some(tag_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn crash(t: Millis) -> RecoveryPoint {
        RecoveryPoint {
            tag_ms: t,
            kind: PointKind::Crash,
            multi_vm: true,
        }
    }

    /// A store with a point every 5 min from 0 to `until`, app-consistent every hour.
    fn steady(until: Millis) -> PointStore {
        let mut s = PointStore::new();
        let mut t = 0;
        while t <= until {
            let kind = if t.is_multiple_of(HOUR_MS) {
                PointKind::App
            } else {
                PointKind::Crash
            };
            s.insert(RecoveryPoint {
                tag_ms: t,
                kind,
                multi_vm: true,
            });
            t += CRASH_POINT_INTERVAL_MS;
        }
        s
    }

    #[test]
    fn spacing_table_rows() {
        // 0 days: nothing beyond the latest.
        assert_eq!(kept_spacing_ms(3 * HOUR_MS, 0), None);
        // the last 2 h are always kept (retention > 0)
        assert_eq!(kept_spacing_ms(HOUR_MS, DAY_MS), Some(0));
        // 1 day: one per hour
        assert_eq!(kept_spacing_ms(3 * HOUR_MS, DAY_MS), Some(HOUR_MS));
        assert_eq!(kept_spacing_ms(DAY_MS + 1, DAY_MS), None);
        // 2–7 days: one per 2 h
        assert_eq!(kept_spacing_ms(3 * DAY_MS, 2 * DAY_MS), None);
        assert_eq!(
            kept_spacing_ms(DAY_MS + HOUR_MS, 2 * DAY_MS),
            Some(2 * HOUR_MS)
        );
        assert_eq!(kept_spacing_ms(6 * DAY_MS, 7 * DAY_MS), Some(2 * HOUR_MS));
        // 8–15 days: 2 h for 7 days, then 4 h
        assert_eq!(kept_spacing_ms(6 * DAY_MS, 15 * DAY_MS), Some(2 * HOUR_MS));
        assert_eq!(kept_spacing_ms(9 * DAY_MS, 15 * DAY_MS), Some(4 * HOUR_MS));
        assert_eq!(kept_spacing_ms(16 * DAY_MS, 15 * DAY_MS), None);
    }

    #[test]
    fn zero_day_retention_keeps_only_the_latest() {
        let mut s = steady(5 * HOUR_MS);
        s.prune(5 * HOUR_MS, 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s.latest().unwrap().tag_ms, 5 * HOUR_MS);
    }

    #[test]
    fn one_day_retention_keeps_two_hours_then_hourly() {
        let now = 3 * DAY_MS;
        let mut s = steady(now);
        s.prune(now, DAY_MS);
        // last 2 h: 25 points (now-2h ..= now), then one per hour for the remaining 22 h.
        let recent = s.iter().filter(|p| now - p.tag_ms <= KEEP_ALL_MS).count();
        assert_eq!(recent, 25);
        let older: Vec<_> = s.iter().filter(|p| now - p.tag_ms > KEEP_ALL_MS).collect();
        assert_eq!(older.len(), 22, "one per hour between 2 h and 24 h");
        assert!(
            older.iter().all(|p| p.kind == PointKind::App),
            "app-consistent points preferred"
        );
        assert!(s.iter().all(|p| now - p.tag_ms <= DAY_MS));
    }

    #[test]
    fn fifteen_day_retention_thins_to_four_hours_after_a_week() {
        let now = 15 * DAY_MS;
        let mut s = steady(now);
        s.prune(now, 15 * DAY_MS);
        let week_old: Vec<_> = s.iter().filter(|p| now - p.tag_ms > 7 * DAY_MS).collect();
        for w in week_old.windows(2) {
            assert_eq!(w[1].tag_ms - w[0].tag_ms, 4 * HOUR_MS);
        }
        let mid: Vec<_> = s
            .iter()
            .filter(|p| now - p.tag_ms > KEEP_ALL_MS && now - p.tag_ms <= 7 * DAY_MS)
            .collect();
        for w in mid.windows(2) {
            assert_eq!(w[1].tag_ms - w[0].tag_ms, 2 * HOUR_MS);
        }
    }

    #[test]
    fn selection_per_vm() {
        let s = steady(2 * HOUR_MS + 10 * MINUTE_MS);
        assert_eq!(
            s.select(PointChoice::LatestProcessed).unwrap().tag_ms,
            2 * HOUR_MS + 10 * MINUTE_MS
        );
        assert_eq!(
            s.select(PointChoice::LatestAppConsistent).unwrap().tag_ms,
            2 * HOUR_MS
        );
        assert_eq!(
            s.select(PointChoice::At { tag_ms: HOUR_MS })
                .unwrap()
                .tag_ms,
            HOUR_MS
        );
        assert_eq!(
            s.select(PointChoice::At {
                tag_ms: HOUR_MS + 1
            }),
            None
        );
        assert_eq!(
            s.select(PointChoice::Latest),
            None,
            "latest is made by the final sync"
        );
    }

    #[test]
    fn group_common_point_is_the_newest_tag_all_members_hold() {
        let a = steady(HOUR_MS);
        let mut b = steady(50 * MINUTE_MS); // b lags 10 minutes
        assert_eq!(
            group_select(&[&a, &b], PointChoice::LatestProcessed),
            Some(50 * MINUTE_MS)
        );
        assert_eq!(
            group_select(&[&a, &b], PointChoice::LatestAppConsistent),
            Some(0)
        );
        b.insert(crash(HOUR_MS));
        assert_eq!(
            group_select(&[&a, &b], PointChoice::LatestProcessed),
            Some(HOUR_MS)
        );
        // app-consistent needs every member's point at that tag to be app-consistent
        assert_eq!(
            group_select(&[&a, &b], PointChoice::LatestAppConsistent),
            Some(0)
        );
        // a point that is not multi-VM consistent is not a common point
        let mut c = PointStore::new();
        c.insert(RecoveryPoint {
            tag_ms: HOUR_MS,
            kind: PointKind::Crash,
            multi_vm: false,
        });
        assert_eq!(group_select(&[&a, &c], PointChoice::LatestProcessed), None);
    }

    #[test]
    fn rpo_is_time_since_newest_tag() {
        let s = steady(HOUR_MS);
        assert_eq!(s.rpo_ms(HOUR_MS + 7 * MINUTE_MS), Some(7 * MINUTE_MS));
        assert_eq!(PointStore::new().rpo_ms(5), None);
    }

    proptest! {
        #[test]
        fn pruning_keeps_newest_and_never_keeps_beyond_window(
            tags in proptest::collection::btree_set(0u64..(20 * DAY_MS / MINUTE_MS), 1..300),
            window_days in 0u64..16,
            now_extra in 0u64..(DAY_MS / MINUTE_MS),
        ) {
            let mut s = PointStore::new();
            for t in &tags { s.insert(crash(t * MINUTE_MS)); }
            let newest = *tags.iter().next_back().unwrap() * MINUTE_MS;
            let now = newest + now_extra * MINUTE_MS;
            let window = window_days * DAY_MS;
            let before = s.len();
            s.prune(now, window);
            prop_assert!(s.len() <= before);
            prop_assert_eq!(s.latest().unwrap().tag_ms, newest);
            for p in s.iter() {
                prop_assert!(p.tag_ms == newest || now - p.tag_ms <= window);
            }
            // sorted and unique
            let v: Vec<_> = s.iter().map(|p| p.tag_ms).collect();
            prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
            // idempotent
            let again = { let mut t = s.clone(); t.prune(now, window); t };
            prop_assert_eq!(again, s);
        }
    }

    /// A cadence taken at irregular moments leaves exactly the points (after pruning) that one report
    /// per tag would have: retention windows of 0, 1, 3 and 10 days, multi-VM flag carried.
    #[test]
    fn a_cadence_leaves_the_points_one_report_per_tag_would() {
        let cadence = PointCadence {
            from_tag_ms: 35 * MINUTE_MS,
            app_interval_ms: Some(HOUR_MS),
            multi_vm: true,
        };
        for retention in [0, DAY_MS, 3 * DAY_MS, 10 * DAY_MS] {
            let (mut per_tag, mut taken) = (PointStore::new(), PointStore::new());
            // both hold one earlier, explicitly reported point
            for s in [&mut per_tag, &mut taken] {
                s.insert(RecoveryPoint {
                    tag_ms: 10 * MINUTE_MS,
                    kind: PointKind::Crash,
                    multi_vm: true,
                });
            }
            let mut next_tag = cadence.from_tag_ms;
            let mut now = 0;
            let mut step = 7 * MINUTE_MS;
            while now < 12 * DAY_MS {
                now += step;
                step = (step * 7 + 13 * MINUTE_MS) % (9 * HOUR_MS) + 1; // irregular gaps
                while next_tag <= now {
                    per_tag.insert(cadence.point_at(next_tag));
                    per_tag.prune(next_tag, retention);
                    next_tag += CRASH_POINT_INTERVAL_MS;
                }
                taken.take_cadence(&cadence, now, retention);
                assert_eq!(
                    per_tag.iter().collect::<Vec<_>>(),
                    taken.iter().collect::<Vec<_>>(),
                    "retention {retention} ms at {now} ms"
                );
            }
            assert!(taken.latest().is_some_and(|p| p.multi_vm));
        }
        // nothing before the cadence's first tag, nothing after now
        let tags: Vec<Millis> = cadence.tags_until(None, HOUR_MS, 0).collect();
        assert_eq!(
            tags,
            [35, 40, 45, 50, 55, 60].map(|m| m * MINUTE_MS).to_vec()
        );
        assert_eq!(cadence.point_at(HOUR_MS).kind, PointKind::App);
        assert_eq!(cadence.point_at(55 * MINUTE_MS).kind, PointKind::Crash);
    }
}
