//! RPO as DOMAIN.md §4 defines it: at time t, t − the tag of the newest recovery point whose data has
//! reached the target, while the machine replicates. Between two of the engine's steps an item's RPO only
//! grows (slope 1), so the tracker needs no events of its own: when an item's state may have changed it
//! first settles the past under the old state — samples at the report interval, and the exact peak just
//! before the change — then takes the new state. Cost is O(1) per change plus one entry per sample.

use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the tracker knows of one item since its last change.
#[derive(Clone, Copy, Debug, Default)]
struct Shadow {
    replicating: bool,
    latest_tag: Option<Millis>,
    next_sample: Millis,
}

/// An item's RPO history.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RpoSeries {
    /// (time, RPO) at every report interval while the item replicates with a point.
    pub samples: Vec<(Millis, Millis)>,
    /// (time, RPO) just before each change: the local maxima of the saw-tooth.
    pub peaks: Vec<(Millis, Millis)>,
}

impl RpoSeries {
    /// The largest RPO within `[from, until]`, sampled or exact.
    pub fn max_in(&self, from: Millis, until: Millis) -> Option<Millis> {
        self.samples
            .iter()
            .chain(&self.peaks)
            .filter(|(t, _)| (from..=until).contains(t))
            .map(|(_, r)| *r)
            .max()
    }

    /// The `pct`-th percentile of the samples (nearest rank), if any.
    pub fn percentile(&self, pct: u32) -> Option<Millis> {
        let mut v: Vec<Millis> = self.samples.iter().map(|(_, r)| *r).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = (u64::from(pct.min(100)) * v.len() as u64)
            .div_ceil(100)
            .max(1) as usize;
        Some(v[rank - 1])
    }
}

/// Tracks every item's RPO through a run.
#[derive(Clone, Debug)]
pub struct RpoTracker {
    interval_ms: Millis,
    shadows: BTreeMap<ItemId, Shadow>,
    /// Per item.
    pub series: BTreeMap<ItemId, RpoSeries>,
}

impl RpoTracker {
    /// A tracker sampling every `interval_ms` (at least 1).
    pub fn new(interval_ms: Millis) -> Self {
        RpoTracker {
            interval_ms: interval_ms.max(1),
            shadows: BTreeMap::new(),
            series: BTreeMap::new(),
        }
    }

    /// Settles `item`'s history up to `now` under its old state, then takes its new state.
    pub fn update(
        &mut self,
        item: &ItemId,
        now: Millis,
        replicating: bool,
        latest_tag: Option<Millis>,
    ) {
        let interval = self.interval_ms;
        let shadow = self.shadows.entry(item.clone()).or_default();
        let series = self.series.entry(item.clone()).or_default();
        settle(shadow, series, now, interval);
        shadow.replicating = replicating;
        shadow.latest_tag = latest_tag;
    }

    /// Settles every item up to `now` (the end of a run); `now` itself is sampled and is a peak.
    pub fn finish(&mut self, now: Millis) {
        let interval = self.interval_ms;
        for (item, shadow) in &mut self.shadows {
            let series = self.series.entry(item.clone()).or_default();
            settle(shadow, series, now, interval);
            if shadow.replicating
                && let Some(tag) = shadow.latest_tag
                && shadow.next_sample == now
            {
                series.samples.push((now, now.saturating_sub(tag)));
                shadow.next_sample = now + interval;
            }
        }
    }
}

/// Samples `[next_sample, now)` and the peak at `now` under the shadow's state.
fn settle(shadow: &mut Shadow, series: &mut RpoSeries, now: Millis, interval: Millis) {
    let live = shadow.replicating.then_some(shadow.latest_tag).flatten();
    while shadow.next_sample < now {
        if let Some(tag) = live {
            let t = shadow.next_sample;
            series.samples.push((t, t.saturating_sub(tag)));
        }
        shadow.next_sample += interval;
    }
    if let Some(tag) = live {
        let rpo = now.saturating_sub(tag);
        if series.peaks.last().is_none_or(|&(t, _)| t != now) {
            series.peaks.push((now, rpo));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saw_tooth_samples_and_exact_peaks() {
        let item = ItemId::from("a");
        let mut r = RpoTracker::new(10);
        r.update(&item, 0, true, Some(0));
        // a new point at 25 (tagged 20): the RPO just before was 25
        r.update(&item, 25, true, Some(20));
        // replication stops at 40
        r.update(&item, 40, false, Some(20));
        r.finish(60);
        let s = &r.series[&item];
        assert_eq!(s.samples, vec![(0, 0), (10, 10), (20, 20), (30, 10)]);
        assert_eq!(s.peaks, vec![(25, 25), (40, 20)]);
        assert_eq!(s.max_in(0, 60), Some(25));
        assert_eq!(s.max_in(30, 60), Some(20));
        assert_eq!(s.percentile(50), Some(10));
        assert_eq!(s.percentile(100), Some(20));
    }
}
