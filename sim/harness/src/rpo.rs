//! RPO as DOMAIN.md §4 defines it: at time t, t − the tag of the newest recovery point whose data has
//! reached the target, while the machine replicates. Between two of the engine's steps an item's RPO only
//! grows (slope 1), so the tracker needs no events of its own: when an item's state may have changed it
//! closes the ramp that ran under the old state — a segment (start, RPO at start, length) — then takes the
//! new state. Maxima and time-weighted percentiles are exact (no sampling grid to alias with the 5-minute
//! point cadence), and cost is O(1) per change. Identical ramps back to back (a point cadence's saw-tooth:
//! one ramp per 5-minute tag) are kept as one segment with a count, so a month of 10,000 machines is not
//! 86 million segments (issue 6).

use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use serde::Serialize;

/// What the tracker knows of one item since its last change.
#[derive(Clone, Copy, Debug, Default)]
struct Shadow {
    replicating: bool,
    latest_tag: Option<Millis>,
    since_ms: Millis,
    /// The first tag of a point cadence in force: each of its tags restarts the ramp at 0 as it is made.
    cadence_from: Option<Millis>,
}

/// Ramps of the saw-tooth: from `start_ms` for `len_ms`, the RPO rising from `rpo_ms` with slope 1, and
/// `count` such ramps back to back (each starting at `rpo_ms` again where the previous ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// When it starts.
    pub start_ms: Millis,
    /// The RPO then.
    pub rpo_ms: Millis,
    /// How long one ramp lasts.
    pub len_ms: Millis,
    /// How many ramps (at least 1).
    pub count: u64,
}

/// An item's RPO history: the ramps while it replicated with a point.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RpoSeries {
    /// The ramps, in time order.
    pub segments: Vec<Segment>,
}

impl Segment {
    /// One ramp.
    pub fn ramp(start_ms: Millis, rpo_ms: Millis, len_ms: Millis) -> Segment {
        Segment {
            start_ms,
            rpo_ms,
            len_ms,
            count: 1,
        }
    }

    /// When it ends (its last ramp).
    pub fn end_ms(&self) -> Millis {
        self.start_ms
            .saturating_add(self.len_ms.saturating_mul(self.count))
    }

    /// Time it covers.
    pub fn duration_ms(&self) -> Millis {
        self.len_ms.saturating_mul(self.count)
    }

    /// Its `k`-th ramp alone.
    fn nth(&self, k: u64) -> Segment {
        Segment::ramp(self.start_ms + k * self.len_ms, self.rpo_ms, self.len_ms)
    }

    /// The part within `[from, until]`: at most a partial first ramp, whole ramps, a partial last one.
    pub fn clip(&self, from: Millis, until: Millis) -> impl Iterator<Item = Segment> {
        let (a, b) = (self.start_ms.max(from), self.end_ms().min(until));
        let piece = |start: Millis, end: Millis, k: u64| {
            Segment::ramp(
                start,
                self.rpo_ms + (start - self.nth(k).start_ms),
                end - start,
            )
        };
        let mut out = [None, None, None];
        if a < b && self.len_ms > 0 {
            let ka = (a - self.start_ms) / self.len_ms;
            let kb = (b - self.start_ms).div_ceil(self.len_ms) - 1;
            if ka == kb {
                out[0] = Some(piece(a, b, ka));
            } else {
                out[0] = Some(piece(a, self.nth(ka).end_ms(), ka));
                if kb > ka + 1 {
                    out[1] = Some(Segment {
                        count: kb - ka - 1,
                        ..self.nth(ka + 1)
                    });
                }
                out[2] = Some(piece(self.nth(kb).start_ms, b, kb));
            }
        }
        out.into_iter().flatten()
    }

    /// The RPO at a ramp's end (its largest).
    pub fn peak_ms(&self) -> Millis {
        self.rpo_ms + self.len_ms
    }

    /// Time with RPO ≤ `v`.
    fn time_at_most(&self, v: Millis) -> Millis {
        v.saturating_sub(self.rpo_ms)
            .min(self.len_ms)
            .saturating_mul(self.count)
    }

    /// The largest RPO within `[from, until]` (a ramp ending at `from` counts with its peak).
    fn max_in(&self, from: Millis, until: Millis) -> Option<Millis> {
        if self.start_ms > until || self.end_ms() < from || self.len_ms == 0 {
            return None;
        }
        // the first ramp ending at or after `from`
        let k = from
            .saturating_sub(self.start_ms)
            .div_ceil(self.len_ms)
            .saturating_sub(1);
        let r = self.nth(k.min(self.count - 1));
        Some(match r.end_ms() <= until {
            true => r.peak_ms(),
            false => r.rpo_ms + (until - r.start_ms),
        })
    }
}

/// The `pct`-th percentile of the RPO over `ramps` (time-weighted, exact to the millisecond), pooled:
/// ramps of several items weigh by their time, as a fleet's or a plan's RPO distribution does.
pub fn percentile_of(ramps: &[Segment], pct: u32) -> Option<Millis> {
    percentile_weighted(ramps.iter().map(|s| (s, 1)), pct)
}

/// [`percentile_of`] over ramps each standing for `weight` identical ones (a fleet's caught-up machines
/// share one saw-tooth: the report pools them once per interval, not once per machine).
pub fn percentile_weighted<'a>(
    ramps: impl Iterator<Item = (&'a Segment, u64)> + Clone,
    pct: u32,
) -> Option<Millis> {
    let total: u128 = (ramps.clone())
        .map(|(s, w)| u128::from(s.duration_ms()) * u128::from(w))
        .sum();
    if total == 0 {
        return ramps.clone().next().map(|(s, _)| s.rpo_ms);
    }
    let want = total * u128::from(pct.min(100)) / 100;
    // time with RPO ≤ v, summed over the ramps: monotone in v, so bisect
    let below = |v: Millis| -> u128 {
        (ramps.clone())
            .map(|(s, w)| u128::from(s.time_at_most(v)) * u128::from(w))
            .sum()
    };
    let (mut lo, mut hi) = (0, ramps.clone().map(|(s, _)| s.peak_ms()).max()?);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) >= want {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// Stretches of time with the RPO above a threshold (DOMAIN.md §4: the failback policy's 15 min).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    /// How many separate stretches.
    pub count: u64,
    /// Their total length, ms.
    pub total_ms: Millis,
    /// The longest, ms.
    pub longest_ms: Millis,
}

impl RpoSeries {
    /// Time spent replicating with the RPO at most `threshold_ms`.
    pub fn time_within(&self, threshold_ms: Millis) -> Millis {
        self.segments
            .iter()
            .map(|s| s.time_at_most(threshold_ms))
            .sum()
    }

    /// The stretches with the RPO above `threshold_ms`: a ramp crosses it `threshold − rpo` after its
    /// start; a stretch goes on into the next ramp when that one starts where it ended, still above.
    pub fn violations(&self, threshold_ms: Millis) -> Violations {
        let mut v = Violations::default();
        let mut open: Option<(Millis, Millis)> = None; // (start, end) of the stretch being measured
        let close = |open: &mut Option<(Millis, Millis)>, v: &mut Violations| {
            if let Some((a, b)) = open.take() {
                v.count += 1;
                v.total_ms += b - a;
                v.longest_ms = v.longest_ms.max(b - a);
            }
        };
        for s in &self.segments {
            let first = s.nth(0);
            if first.peak_ms() <= threshold_ms {
                close(&mut open, &mut v);
                continue;
            }
            let above_from = first.start_ms + threshold_ms.saturating_sub(first.rpo_ms);
            match &mut open {
                Some((_, end)) if *end == first.start_ms && first.rpo_ms > threshold_ms => {
                    *end = first.end_ms()
                }
                _ => {
                    close(&mut open, &mut v);
                    open = Some((above_from, first.end_ms()));
                }
            }
            if s.count > 1 {
                if s.rpo_ms > threshold_ms {
                    // every later ramp starts above the threshold where the previous ended: one stretch
                    if let Some((_, end)) = &mut open {
                        *end = s.end_ms();
                    }
                } else {
                    // each later ramp is a stretch of its own, the same length; the last stays open
                    let l = first.end_ms() - above_from;
                    close(&mut open, &mut v);
                    v.count += s.count - 2;
                    v.total_ms += l * (s.count - 2);
                    if s.count > 2 {
                        v.longest_ms = v.longest_ms.max(l);
                    }
                    open = Some((s.end_ms() - l, s.end_ms()));
                }
            }
        }
        close(&mut open, &mut v);
        v
    }

    /// The largest RPO within `[from, until]`, exact.
    pub fn max_in(&self, from: Millis, until: Millis) -> Option<Millis> {
        self.segments
            .iter()
            .filter_map(|s| s.max_in(from, until))
            .max()
    }

    /// Time spent replicating with a point, ms.
    pub fn observed_ms(&self) -> Millis {
        self.segments.iter().map(Segment::duration_ms).sum()
    }

    /// The `pct`-th percentile of the RPO over the time it replicated (time-weighted), if any time.
    pub fn percentile(&self, pct: u32) -> Option<Millis> {
        percentile_of(&self.segments, pct)
    }
}

/// Tracks every item's RPO through a run.
///
/// Items are found by hash: one is updated on every progress observation (a fleet's first hours make
/// millions), and two name-ordered trees cost ≈ 3 % of them (issue 6). Nothing reads the items in the
/// map's order ([`RpoTracker::finish`] closes each on its own), so its order never reaches an output;
/// `Debug` prints them in item order.
#[derive(Clone, Default)]
pub struct RpoTracker {
    items:
        std::collections::HashMap<ItemId, (Shadow, RpoSeries), drsim_engine::indexed::IndexHasher>,
}

impl std::fmt::Debug for RpoTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items: Vec<_> = self.items.iter().collect();
        items.sort_unstable_by(|a, b| a.0.cmp(b.0));
        f.debug_map().entries(items).finish()
    }
}

impl RpoTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        RpoTracker::default()
    }

    /// Closes `item`'s ramp up to `now` under its old state, then takes its new state: replicating or
    /// not, its newest point's tag, and the first tag of a point cadence in force (whose tags are
    /// points as they are made, [`drsim_engine::recovery_point::PointCadence`]).
    pub fn update(
        &mut self,
        item: &ItemId,
        now: Millis,
        replicating: bool,
        latest_tag: Option<Millis>,
        cadence_from: Option<Millis>,
    ) {
        // looked up before inserting: most updates are of items already seen, whose id need not be
        // cloned (a fleet run updates on every progress observation)
        let (shadow, series) = match self.items.get_mut(item) {
            Some(entry) => entry,
            None => self.items.entry(item.clone()).or_default(),
        };
        close(shadow, series, now);
        shadow.replicating = replicating;
        shadow.latest_tag = latest_tag;
        shadow.cadence_from = cadence_from;
    }

    /// Closes every item's ramp at `now` (the end of a run).
    pub fn finish(&mut self, now: Millis) {
        for (shadow, series) in self.items.values_mut() {
            close(shadow, series, now);
        }
    }

    /// An item's RPO series (`None`: never updated).
    pub fn series(&self, item: &ItemId) -> Option<&RpoSeries> {
        self.items.get(item).map(|(_, series)| series)
    }

    /// Every item's RPO series, in item order.
    pub fn all_series(&self) -> Vec<(&ItemId, &RpoSeries)> {
        let mut all: Vec<(&ItemId, &RpoSeries)> = (self.items.iter())
            .map(|(item, (_, series))| (item, series))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }
}

fn close(shadow: &mut Shadow, series: &mut RpoSeries, now: Millis) {
    if let Some(from) = shadow.cadence_from {
        // each tag of the cadence after the ramp's start is a new point: the ramp restarts at 0
        let step = drsim_engine::recovery_point::CRASH_POINT_INTERVAL_MS;
        let tag = from.max(shadow.since_ms + 1).div_ceil(step) * step;
        if tag <= now {
            // the first tag ends the ramp under the old point
            ramp(shadow, series, tag);
            shadow.latest_tag = Some(tag);
            // each later one ends a ramp from 0 over one interval: all of them as one run (a quiet
            // machine is looked at hours apart, one step per tag was 6 % of a fleet run; issue 6)
            let later = (now - tag) / step;
            if later > 0 {
                let last = tag + later * step;
                if shadow.replicating {
                    push_ramp(
                        &mut series.segments,
                        Segment {
                            count: later,
                            ..Segment::ramp(tag, 0, step)
                        },
                    );
                }
                shadow.since_ms = last;
                shadow.latest_tag = Some(last);
            }
        }
    }
    ramp(shadow, series, now);
}

/// Closes the ramp that ran from the shadow's last change to `now` under its newest point.
fn ramp(shadow: &mut Shadow, series: &mut RpoSeries, now: Millis) {
    if shadow.replicating
        && let Some(tag) = shadow.latest_tag
        && now > shadow.since_ms
    {
        let next = Segment::ramp(
            shadow.since_ms,
            shadow.since_ms.saturating_sub(tag),
            now - shadow.since_ms,
        );
        push_ramp(&mut series.segments, next);
    }
    shadow.since_ms = now;
}

/// Appends a ramp: the last ramp going on (a look that found nothing new) grows; a ramp like the ones
/// before it, back to back, joins their count. So the segments of a saw-tooth do not depend on how often
/// it was looked at.
fn push_ramp(segments: &mut Vec<Segment>, next: Segment) {
    let mut next = next;
    if let Some(last) = segments.last_mut()
        && last.end_ms() == next.start_ms
        && last.peak_ms() == next.rpo_ms
    {
        // the last ramp goes on: out of its run, longer
        let grown = Segment::ramp(
            last.nth(last.count - 1).start_ms,
            last.rpo_ms,
            last.len_ms + next.len_ms,
        );
        last.count -= 1;
        if last.count == 0 {
            segments.pop();
        }
        next = grown;
    }
    match segments.last_mut() {
        Some(last)
            if last.end_ms() == next.start_ms
                && last.rpo_ms == next.rpo_ms
                && last.len_ms == next.len_ms =>
        {
            last.count += next.count
        }
        _ => segments.push(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debug_print_lists_the_items_in_item_order_whatever_the_hash_order() {
        let mut t = RpoTracker::new();
        let names = ["m", "c", "x", "a", "q", "k", "b"];
        for (k, n) in names.iter().enumerate() {
            t.update(&ItemId::from(*n), k as Millis, true, None, None);
        }
        let text = format!("{t:?}");
        let at: Vec<usize> = (["a", "b", "c", "k", "m", "q", "x"].iter())
            .map(|n| {
                text.find(&format!("{:?}", ItemId::from(*n)))
                    .expect("listed")
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    impl RpoTracker {
        fn update_plain(
            &mut self,
            item: &ItemId,
            now: Millis,
            replicating: bool,
            tag: Option<Millis>,
        ) {
            self.update(item, now, replicating, tag, None);
        }
    }

    #[test]
    fn a_saw_tooth_has_exact_maxima_and_time_weighted_percentiles() {
        let item = ItemId::from("a");
        let mut r = RpoTracker::new();
        r.update_plain(&item, 0, true, Some(0));
        // a new point at 25 (tagged 20): the RPO ramped 0 → 25, then restarts at 5
        r.update_plain(&item, 25, true, Some(20));
        // replication stops at 40 (RPO 20 then)
        r.update_plain(&item, 40, false, Some(20));
        r.finish(60);
        let s = r.series(&item).unwrap();
        assert_eq!(
            s.segments,
            vec![Segment::ramp(0, 0, 25), Segment::ramp(25, 5, 15)]
        );
        assert_eq!(s.max_in(0, 60), Some(25));
        assert_eq!(s.max_in(30, 60), Some(20));
        assert_eq!(s.max_in(0, 10), Some(10));
        assert_eq!(s.max_in(41, 60), None);
        assert_eq!(s.observed_ms(), 40);
        // 40 ms observed: RPO ≤ 10 for 10 ms of the first ramp and 5 ms of the second = 15 ms (37.5 %)
        assert_eq!(s.percentile(37), Some(10));
        assert_eq!(s.percentile(100), Some(25));
        assert_eq!(s.percentile(0), Some(0));
    }

    #[test]
    fn violations_are_stretches_above_the_threshold_joined_across_ramps() {
        let item = ItemId::from("a");
        let mut r = RpoTracker::new();
        r.update_plain(&item, 0, true, Some(0));
        // ramp 0 → 30 (above 20 from 20 to 30); the next point is old: RPO restarts at 25, still above
        r.update_plain(&item, 30, true, Some(5));
        // ramp 25 → 35 until 40, then a fresh point: 0 → 10 (below), then 0 → 25 (above from 70 to 75)
        r.update_plain(&item, 40, true, Some(40));
        r.update_plain(&item, 50, true, Some(50));
        r.finish(75);
        let s = r.series(&item).unwrap();
        let v = s.violations(20);
        assert_eq!(
            v,
            Violations {
                count: 2,
                total_ms: 20 + 5,
                longest_ms: 20
            }
        );
        // RPO ≤ 20: 20 of the first ramp, none of the second, 10 of the third, 20 of the last
        assert_eq!(s.time_within(20), 50);
        assert_eq!(s.violations(1000), Violations::default());
        // a window clips ramps and restarts their RPO where the window starts
        let clipped: Vec<Segment> = s.segments.iter().flat_map(|g| g.clip(35, 45)).collect();
        assert_eq!(
            clipped,
            vec![Segment::ramp(35, 30, 5), Segment::ramp(40, 0, 5)]
        );
        assert_eq!(percentile_of(&clipped, 100), Some(35));
        assert_eq!(percentile_of(&clipped, 50), Some(5));
        // a ramp standing for three identical ones weighs as the three do
        let a = Segment::ramp(0, 0, 10);
        let b = Segment::ramp(0, 30, 10);
        let spelled = [a, a, a, b];
        for pct in [0, 10, 50, 74, 75, 76, 95, 100] {
            assert_eq!(
                percentile_weighted([(&a, 3), (&b, 1)].into_iter(), pct),
                percentile_of(&spelled, pct),
                "p{pct}"
            );
        }
        assert_eq!(
            percentile_weighted([(&a, 3), (&b, 1)].into_iter(), 50),
            Some(7)
        );
    }

    /// The same saw-tooth with every run spelled out ramp by ramp.
    fn expanded(s: &RpoSeries) -> RpoSeries {
        RpoSeries {
            segments: (s.segments.iter())
                .flat_map(|g| (0..g.count).map(|k| g.nth(k)))
                .collect(),
        }
    }

    #[test]
    fn a_cadence_saw_tooth_is_one_segment() {
        // issue 6: a day of 5-minute tags is one segment of 288 ramps, however often it is looked at
        let item = ItemId::from("a");
        let mut r = RpoTracker::new();
        r.update(&item, 0, true, Some(0), Some(300_000));
        r.update(&item, 7_777_777, true, Some(7_500_000), Some(300_000));
        r.finish(86_400_000);
        let s = r.series(&item).unwrap();
        assert_eq!(
            s.segments,
            vec![Segment {
                count: 288,
                ..Segment::ramp(0, 0, 300_000)
            }]
        );
        assert_eq!(s.percentile(50), Some(150_000));
        assert_eq!(s.max_in(1_000, 2_000), Some(2_000));
        assert_eq!(s.violations(200_000).count, 288);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        #[test]
        fn runs_answer_like_their_ramps(
            steps in proptest::collection::vec(
                (1u64..2_000_000, proptest::bool::weighted(0.9), 0u64..3, proptest::bool::weighted(0.5)),
                1..40,
            ),
            threshold in 0u64..1_500_000,
            pct in 0u32..=100,
            window in (0u64..40_000_000, 0u64..40_000_000),
        ) {
            // updates at random times, sometimes under a point cadence (5-minute tags), sometimes with a
            // new point (a 5-minute tag, or one or two before it)
            let item = ItemId::from("a");
            let mut r = RpoTracker::new();
            let step = drsim_engine::recovery_point::CRASH_POINT_INTERVAL_MS;
            let mut t = 0;
            for &(dt, replicating, point, cadence) in &steps {
                t += dt;
                let tag = (point > 0).then(|| (t - t % step).saturating_sub(step * (point - 1)));
                r.update(&item, t, replicating, tag, cadence.then_some(tag.unwrap_or(0)));
            }
            r.finish(t + 1_000);
            let s = r.series(&item).unwrap();
            let e = expanded(s);
            let (from, until) = (window.0.min(window.1), window.0.max(window.1));
            proptest::prop_assert_eq!(s.percentile(pct), e.percentile(pct));
            proptest::prop_assert_eq!(s.violations(threshold), e.violations(threshold));
            proptest::prop_assert_eq!(s.time_within(threshold), e.time_within(threshold));
            proptest::prop_assert_eq!(s.max_in(from, until), e.max_in(from, until));
            proptest::prop_assert_eq!(s.observed_ms(), e.observed_ms());
            let clip = |x: &RpoSeries| -> Vec<Segment> {
                expanded(&RpoSeries { segments: x.segments.iter().flat_map(|g| g.clip(from, until)).collect() }).segments
            };
            proptest::prop_assert_eq!(clip(s), clip(&e));
        }
    }

    /// What `close` did before it took a cadence's later tags as one run: one ramp per tag.
    fn close_tag_by_tag(shadow: &mut Shadow, series: &mut RpoSeries, now: Millis) {
        if let Some(from) = shadow.cadence_from {
            let step = drsim_engine::recovery_point::CRASH_POINT_INTERVAL_MS;
            let mut tag = from.max(shadow.since_ms + 1).div_ceil(step) * step;
            while tag <= now {
                ramp(shadow, series, tag);
                shadow.latest_tag = Some(tag);
                tag += step;
            }
        }
        ramp(shadow, series, now);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn a_cadence_s_tags_as_one_run_are_its_tags_one_by_one(
            steps in proptest::collection::vec(
                (1u64..20_000_000, proptest::bool::weighted(0.8), 0u64..3, proptest::bool::weighted(0.6)),
                1..30,
            ),
        ) {
            let step = drsim_engine::recovery_point::CRASH_POINT_INTERVAL_MS;
            let (mut a, mut b) = ((Shadow::default(), RpoSeries::default()), (Shadow::default(), RpoSeries::default()));
            let mut t = 0;
            for &(dt, replicating, point, cadence) in &steps {
                t += dt;
                let tag = (point > 0).then(|| (t - t % step).saturating_sub(step * (point - 1)));
                close(&mut a.0, &mut a.1, t);
                close_tag_by_tag(&mut b.0, &mut b.1, t);
                for sh in [&mut a.0, &mut b.0] {
                    sh.replicating = replicating;
                    sh.latest_tag = tag;
                    sh.cadence_from = cadence.then_some(tag.unwrap_or(0));
                }
                proptest::prop_assert_eq!(a.0.since_ms, b.0.since_ms);
                proptest::prop_assert_eq!(&a.1.segments, &b.1.segments);
            }
        }
    }

    #[test]
    fn the_5_minute_cadence_gives_a_median_of_half_the_cadence() {
        // points tagged every 300 s arrive at once: RPO ramps 0 → 300 s again and again
        let item = ItemId::from("a");
        let mut r = RpoTracker::new();
        for k in 0..=12u64 {
            r.update_plain(&item, k * 300_000, true, Some(k * 300_000));
        }
        let s = r.series(&item).unwrap();
        assert_eq!(s.percentile(50), Some(150_000));
        assert_eq!(s.percentile(95), Some(285_000));
        assert_eq!(s.max_in(0, Millis::MAX), Some(300_000));
    }
}
