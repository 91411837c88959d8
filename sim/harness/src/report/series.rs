//! The report's time series (`rpo.csv`, `backlog.csv`, `throughput.csv` and their charts): one value per
//! report interval and scope — the fleet, each recovery plan, and chosen machines.
//!
//! RPO per interval is exact: each machine's saw-tooth ([`crate::rpo`]) clipped to the interval, pooled
//! over the scope's machines and weighted by time, so a fleet's p95 is "95 % of machine-time in this
//! interval had at most this RPO".

use super::sample::{Recorder, ResourceKind, Runs};
use crate::rpo::{RpoTracker, Segment, percentile_weighted};
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use rayon::prelude::*;
use serde::Serialize;

/// What a series is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "scope", content = "name", rename_all = "kebab-case")]
pub enum Scope {
    /// Every machine.
    Fleet,
    /// The machines of one recovery plan.
    Plan(String),
    /// One machine.
    Item(String),
}

impl Scope {
    /// `fleet`, `plan` or `item`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Fleet => "fleet",
            Scope::Plan(_) => "plan",
            Scope::Item(_) => "item",
        }
    }

    /// The plan's or machine's name ("" for the fleet).
    pub fn name(&self) -> &str {
        match self {
            Scope::Fleet => "",
            Scope::Plan(n) | Scope::Item(n) => n,
        }
    }
}

/// RPO figures of one scope in one interval, ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RpoPoint {
    /// Median.
    pub p50_ms: Millis,
    /// 95th percentile.
    pub p95_ms: Millis,
    /// Largest.
    pub max_ms: Millis,
}

/// A scope's values, one per report interval (aligned with [`super::Report::times`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeSeries<T> {
    /// The scope.
    pub scope: Scope,
    /// Per interval.
    pub values: Vec<T>,
}

/// A link's or server's throughput, one value per interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Throughput {
    /// Its report name.
    pub name: String,
    /// What it is.
    pub kind: ResourceKind,
    /// Mean bytes/s over each interval.
    pub bytes_per_s: Vec<u64>,
    /// Mean bytes/s over capacity (None: uncapped or down).
    pub utilisation: Vec<Option<f64>>,
}

/// A scope and its machines.
pub struct Members {
    /// The scope.
    pub scope: Scope,
    /// Indexes into the machine list given with it.
    pub items: Vec<usize>,
}

/// RPO per interval for each scope: `times` are the intervals' ends, the first starts at 0.
/// The intervals are cut into one run per thread of the current rayon pool (each interval's values
/// depend on nothing but its own ramps, so the result is the same on any number of threads). Only the
/// intervals where some member's ramp run starts or ends are computed (`report::rpo_changes`): clipping
/// every machine's ramps at every interval was 15 % of a 10k run with reports on one core.
pub fn rpo_series(
    tracker: &RpoTracker,
    items: &[ItemId],
    scopes: &[Members],
    times: &[Millis],
) -> Vec<ScopeSeries<Option<RpoPoint>>> {
    let empty = Default::default();
    let series: Vec<&[Segment]> = items
        .iter()
        .map(|i| tracker.series(i).map_or(&empty, |s| s).segments.as_slice())
        .collect();
    // at most 8 runs: each starts its cursors from the first ramp again
    let runs = rayon::current_num_threads().clamp(1, 8);
    let per_run = times.len().div_ceil(runs).max(1);
    let starts: Vec<usize> = (0..times.len()).step_by(per_run).collect();
    let changed = super::rpo_changes::changed_intervals(&series, scopes, times);
    let parts: Vec<Vec<Vec<Option<RpoPoint>>>> = starts
        .par_iter()
        .map(|&k0| {
            let k1 = (k0 + per_run).min(times.len());
            rpo_values(&series, scopes, times, &changed, k0..k1)
        })
        .collect();
    let mut out: Vec<ScopeSeries<Option<RpoPoint>>> = scopes
        .iter()
        .map(|s| ScopeSeries {
            scope: s.scope.clone(),
            values: Vec::with_capacity(times.len()),
        })
        .collect();
    for part in parts {
        for (o, values) in out.iter_mut().zip(part) {
            o.values.extend(values);
        }
    }
    out
}

/// The RPO of each scope over intervals `ks` (by scope, then interval): computed for the first and
/// where `changed` says it may differ from the interval before, repeated elsewhere.
pub(super) fn rpo_values(
    series: &[&[Segment]],
    scopes: &[Members],
    times: &[Millis],
    changed: &[Vec<bool>],
    ks: std::ops::Range<usize>,
) -> Vec<Vec<Option<RpoPoint>>> {
    let start = ks.start;
    let computed = |s: usize, k: usize| k == start || changed[s][k];
    // per machine, the first ramp that may reach into the current interval (ramps are in time order)
    let mut cursor = vec![0usize; series.len()];
    let mut clipped: Vec<Vec<Segment>> = vec![Vec::new(); series.len()];
    let mut out: Vec<Vec<Option<RpoPoint>>> = scopes
        .iter()
        .map(|_| Vec::with_capacity(ks.len()))
        .collect();
    // a scope's ramps of the interval, identical neighbours (machines on one cadence) counted once
    let mut pool: Vec<(Segment, u64)> = Vec::new();
    for k in ks {
        if !(0..scopes.len()).any(|s| computed(s, k)) {
            for o in &mut out {
                let last = *o.last().expect("the run's first interval is computed");
                o.push(last);
            }
            continue;
        }
        let until = times[k];
        let from = if k == 0 { 0 } else { times[k - 1] };
        for (i, ramps) in series.iter().enumerate() {
            let c = &mut cursor[i];
            while *c < ramps.len() && ramps[*c].end_ms() <= from {
                *c += 1;
            }
            clipped[i].clear();
            clipped[i].extend(
                ramps[*c..]
                    .iter()
                    .take_while(|s| s.start_ms < until)
                    .flat_map(|s| s.clip(from, until)),
            );
        }
        for (j, (s, o)) in scopes.iter().zip(&mut out).enumerate() {
            if !computed(j, k) {
                let last = *o.last().expect("the run's first interval is computed");
                o.push(last);
                continue;
            }
            pool.clear();
            for &i in &s.items {
                for &seg in &clipped[i] {
                    match pool.last_mut() {
                        Some((last, n)) if *last == seg => *n += 1,
                        _ => pool.push((seg, 1)),
                    }
                }
            }
            o.push(rpo_point(&pool));
        }
    }
    out
}

fn rpo_point(ramps: &[(Segment, u64)]) -> Option<RpoPoint> {
    let weighted = || ramps.iter().map(|(s, w)| (s, *w));
    Some(RpoPoint {
        p50_ms: percentile_weighted(weighted(), 50)?,
        p95_ms: percentile_weighted(weighted(), 95)?,
        max_ms: ramps.iter().map(|(s, _)| s.peak_ms()).max()?,
    })
}

/// Unsent bytes per interval end for each scope: the sum over its machines.
pub fn backlog_series(
    rec: &Recorder,
    items: &[ItemId],
    scopes: &[Members],
) -> Vec<ScopeSeries<u64>> {
    let per_item: Vec<Option<&Runs>> = items.iter().map(|i| rec.backlog(i)).collect();
    let n = rec.times.len();
    scopes
        .iter()
        .map(|s| {
            let mut values = vec![0u64; n];
            for r in s.items.iter().filter_map(|&i| per_item[i]) {
                let mut k = 0;
                for (v, count) in r.runs() {
                    if v != 0 {
                        for x in values.iter_mut().skip(k).take(count) {
                            *x += v;
                        }
                    }
                    k += count;
                }
            }
            ScopeSeries {
                scope: s.scope.clone(),
                values,
            }
        })
        .collect()
}

/// Process servers and master targets that get a `throughput.csv` series each; a run with more keeps
/// the [`BUSIEST_SERVERS`] of each kind (as `rpo.csv` keeps the worst machines): a fleet of 528 master
/// targets over 30 days was 217 MB of CSV (issue 6: report files under 100 MiB).
pub const MAX_SERVER_SERIES: usize = 100;

/// Beyond [`MAX_SERVER_SERIES`]: how many of each kind keep a series, the ones that carried the most
/// bytes over the run (ties by name); the others of the kind are summed into one `ps/others (N)` or
/// `mt/others (N)` series (no utilisation).
pub const BUSIEST_SERVERS: usize = 20;

/// Mean throughput and utilisation per interval of every metered link and server (servers limited as
/// [`MAX_SERVER_SERIES`] says).
pub fn throughput_series(rec: &Recorder) -> Vec<Throughput> {
    let servers = (rec.resources.values())
        .filter(|r| r.kind != ResourceKind::Link)
        .count();
    if servers <= MAX_SERVER_SERIES {
        return all_throughput(rec);
    }
    // the servers summed into `others` need no utilisation: 578 servers × 8,640 intervals of it were
    // 80 MB at the peak of a 10k report run (issue 6); the kept ones are those busiest_servers keeps
    let kept = busiest_names(rec.resources.iter().map(|(name, r)| {
        let total: u128 = (r.bytes().enumerate())
            .map(|(k, b)| u128::from(mean_bytes_per_s(rec, b, k)))
            .sum();
        (name.as_str(), r.kind, total)
    }));
    // the others summed as they are read: their series one by one were 65 MB at the peak of a 10k
    // report run (issue 6)
    let mut out = Vec::new();
    let mut others = Others::default();
    for (name, r) in &rec.resources {
        if r.kind == ResourceKind::Link || kept.contains(name) {
            out.push(throughput_of(rec, name, r));
        } else {
            let bytes_per_s = (r.bytes().enumerate()).map(|(k, b)| mean_bytes_per_s(rec, b, k));
            others.add(r.kind, bytes_per_s);
        }
    }
    others.push_into(&mut out);
    out
}

/// The servers beyond the busiest, one summed series per kind, in the order the kinds came.
#[derive(Default)]
struct Others(Vec<(ResourceKind, usize, Vec<u64>)>);

impl Others {
    fn add(&mut self, kind: ResourceKind, bytes_per_s: impl Iterator<Item = u64>) {
        match self.0.iter_mut().find(|o| o.0 == kind) {
            Some(o) => {
                o.1 += 1;
                for (sum, b) in o.2.iter_mut().zip(bytes_per_s) {
                    *sum = sum.saturating_add(b);
                }
            }
            None => self.0.push((kind, 1, bytes_per_s.collect())),
        }
    }

    fn push_into(self, out: &mut Vec<Throughput>) {
        for (kind, n, bytes_per_s) in self.0 {
            out.push(others_series(kind, n, bytes_per_s));
        }
    }
}

/// The series `ps/others (N)` or `mt/others (N)` of `n` servers of a kind summed: no utilisation.
fn others_series(kind: ResourceKind, n: usize, bytes_per_s: Vec<u64>) -> Throughput {
    let prefix = match kind {
        ResourceKind::ProcessServer => "ps",
        _ => "mt",
    };
    Throughput {
        name: format!("{prefix}/others ({n})"),
        kind,
        utilisation: vec![None; bytes_per_s.len()],
        bytes_per_s,
    }
}

/// The [`BUSIEST_SERVERS`] of each server kind by bytes carried over the run (ties by name).
fn busiest_names<'a>(
    totals: impl Iterator<Item = (&'a str, ResourceKind, u128)>,
) -> std::collections::BTreeSet<String> {
    let totals: Vec<_> = totals.collect();
    let mut kept = std::collections::BTreeSet::new();
    for kind in [ResourceKind::ProcessServer, ResourceKind::MasterTarget] {
        let mut of_kind: Vec<&(&str, ResourceKind, u128)> =
            totals.iter().filter(|t| t.1 == kind).collect();
        of_kind.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
        kept.extend(of_kind.iter().take(BUSIEST_SERVERS).map(|t| t.0.to_owned()));
    }
    kept
}

/// Keeps every link and, when there are more than [`MAX_SERVER_SERIES`] servers, the
/// [`BUSIEST_SERVERS`] of each kind plus one series summing the rest of that kind: what
/// [`throughput_series`] does, from series already made (the tests' way in; the run's own picks the
/// busiest from the recorder's totals before making any).
#[cfg(test)]
pub(crate) fn busiest_servers(all: Vec<Throughput>) -> Vec<Throughput> {
    let servers = all.iter().filter(|t| t.kind != ResourceKind::Link).count();
    if servers <= MAX_SERVER_SERIES {
        return all;
    }
    let total = |t: &Throughput| t.bytes_per_s.iter().map(|&b| u128::from(b)).sum::<u128>();
    let kept = busiest_names(all.iter().map(|t| (t.name.as_str(), t.kind, total(t))));
    keep_busiest(all, &kept)
}

/// Every link and the `kept` servers as they are; the other servers summed into one series per kind:
/// from series already made, written apart from [`Others`] so that the tests compare two ways.
#[cfg(test)]
fn keep_busiest(
    all: Vec<Throughput>,
    kept: &std::collections::BTreeSet<String>,
) -> Vec<Throughput> {
    let mut out = Vec::new();
    let mut others: Vec<(ResourceKind, usize, Vec<u64>)> = Vec::new();
    for t in all {
        if t.kind == ResourceKind::Link || kept.contains(&t.name) {
            out.push(t);
            continue;
        }
        match others.iter_mut().find(|o| o.0 == t.kind) {
            Some(o) => {
                o.1 += 1;
                for (sum, b) in o.2.iter_mut().zip(&t.bytes_per_s) {
                    *sum = sum.saturating_add(*b);
                }
            }
            None => others.push((t.kind, 1, t.bytes_per_s)),
        }
    }
    (others.into_iter()).for_each(|(kind, n, bps)| out.push(others_series(kind, n, bps)));
    out
}

/// Mean bytes/s over interval `k` of `bytes` carried in it.
fn mean_bytes_per_s(rec: &Recorder, bytes: u64, k: usize) -> u64 {
    let len = rec.times[k] - rec.window_start(k);
    if len == 0 {
        0
    } else {
        u64::try_from(u128::from(bytes) * 1000 / u128::from(len)).unwrap_or(u64::MAX)
    }
}

/// Every resource's series with its utilisation.
fn all_throughput(rec: &Recorder) -> Vec<Throughput> {
    (rec.resources.iter())
        .map(|(name, r)| throughput_of(rec, name, r))
        .collect()
}

/// One resource's series with its utilisation.
fn throughput_of(rec: &Recorder, name: &str, r: &super::sample::ResourceSeries) -> Throughput {
    let bps: Vec<u64> = (r.bytes().enumerate())
        .map(|(k, b)| mean_bytes_per_s(rec, b, k))
        .collect();
    let util = (bps.iter().zip(r.capacity_bytes_per_s()))
        .map(|(&b, c)| c.filter(|&c| c > 0).map(|c| b as f64 / c as f64))
        .collect();
    Throughput {
        name: name.to_owned(),
        kind: r.kind,
        bytes_per_s: bps,
        utilisation: util,
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::{Recorder, ResourceKind, ResourceSeries};
    use super::*;

    #[test]
    fn the_busiest_servers_summed_as_read_are_the_ones_summed_from_every_series() {
        let mut rec = Recorder::new(300_000, 900_000);
        rec.times = vec![300_000, 300_001, 900_000]; // a 1 ms interval: bytes/s past u64
        let mut add = |name: String, kind, k: u64| {
            let bytes = [(k + 1) * 300, u64::MAX / 2 + k, k + 1];
            let caps = [Some(1_000 + k), None, Some(0)];
            rec.resources
                .insert(name, ResourceSeries::of(kind, &bytes, &caps));
        };
        add("link azure→on-prem".into(), ResourceKind::Link, 7);
        (0..40).for_each(|k| add(format!("ps/ps{k:02}"), ResourceKind::ProcessServer, k % 13));
        (0..90).for_each(|k| add(format!("mt/mt{k:02}"), ResourceKind::MasterTarget, k % 29));
        let summed = throughput_series(&rec);
        assert_eq!(summed.len(), 1 + 2 * (BUSIEST_SERVERS + 1));
        assert_eq!(summed, busiest_servers(all_throughput(&rec)));
        let others = summed
            .iter()
            .find(|t| t.name == "mt/others (70)")
            .expect("summed");
        assert_eq!(others.bytes_per_s[1], u64::MAX, "saturated, as before");
    }
}
