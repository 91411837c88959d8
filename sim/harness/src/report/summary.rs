//! `summary.json` and `items.csv`: per machine, per recovery plan and for the fleet, the RPO over the whole
//! run (p50/p95/p99/max, time-weighted and exact), the share of replicating time within the RPO threshold
//! (DOMAIN.md §4: 15 min), the stretches above it, what reprotect sent and how long it took (RJ-03 OLR
//! differential vs RJ-04 ALR full), and the application downtime at failback.

use super::RunMeta;
use super::jobs::{Downtime, MachineJobs, Reprotect};
use crate::rpo::{RpoSeries, Segment, Violations, percentile_of};
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use serde::Serialize;

/// Seconds with millisecond precision, for people and spreadsheets.
pub fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

/// RPO percentiles, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RpoFigures {
    /// Median.
    pub p50_s: f64,
    /// 95th percentile.
    pub p95_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl RpoFigures {
    fn of(ramps: &[Segment]) -> Option<RpoFigures> {
        Some(RpoFigures {
            p50_s: seconds(percentile_of(ramps, 50)?),
            p95_s: seconds(percentile_of(ramps, 95)?),
            p99_s: seconds(percentile_of(ramps, 99)?),
            max_s: seconds(ramps.iter().map(Segment::peak_ms).max()?),
        })
    }
}

/// Stretches above the RPO threshold, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ViolationFigures {
    /// How many.
    pub count: u64,
    /// Their total length.
    pub total_s: f64,
    /// The longest.
    pub longest_s: f64,
}

impl From<Violations> for ViolationFigures {
    fn from(v: Violations) -> Self {
        ViolationFigures {
            count: v.count,
            total_s: seconds(v.total_ms),
            longest_s: seconds(v.longest_ms),
        }
    }
}

/// A machine's reprotect, seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReprotectFigures {
    /// Its job.
    pub job: u64,
    /// `original` (OLR, differential) or `alternate` (ALR, full copy).
    pub mode: Option<String>,
    /// Bytes its resync sent.
    pub bytes: Option<u64>,
    /// From the job's start to the machine in sync.
    pub duration_s: f64,
}

impl From<&Reprotect> for ReprotectFigures {
    fn from(r: &Reprotect) -> Self {
        ReprotectFigures {
            job: r.job,
            mode: r.mode.clone(),
            bytes: r.bytes,
            duration_s: seconds(r.duration_ms),
        }
    }
}

/// A failback's application downtime, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DowntimeFigures {
    /// The Azure VM's shutdown began.
    pub from_s: f64,
    /// The on-prem VM was running.
    pub to_s: f64,
    /// How long the application was down.
    pub downtime_s: f64,
}

impl From<Downtime> for DowntimeFigures {
    fn from(d: Downtime) -> Self {
        DowntimeFigures {
            from_s: seconds(d.from_ms),
            to_s: seconds(d.to_ms),
            downtime_s: seconds(d.len_ms()),
        }
    }
}

/// RPO figures of a set of machines over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RpoSummary {
    /// Percentiles over the time its machines replicated (None: none did).
    pub rpo: Option<RpoFigures>,
    /// Machine-time spent replicating with a recovery point, seconds.
    pub replicating_s: f64,
    /// Share of that time with the RPO within the threshold, percent.
    pub within_threshold_pct: Option<f64>,
    /// Stretches above the threshold (for a plan or the fleet: summed over machines; longest of any).
    pub violations: ViolationFigures,
}

impl RpoSummary {
    fn of<'a>(series: impl Iterator<Item = &'a RpoSeries> + Clone, threshold_ms: Millis) -> Self {
        let ramps: Vec<Segment> = series
            .clone()
            .flat_map(|s| s.segments.iter().copied())
            .collect();
        let observed: Millis = series.clone().map(RpoSeries::observed_ms).sum();
        let within: Millis = series.clone().map(|s| s.time_within(threshold_ms)).sum();
        let v = series.fold(Violations::default(), |mut acc, s| {
            let v = s.violations(threshold_ms);
            acc.count += v.count;
            acc.total_ms += v.total_ms;
            acc.longest_ms = acc.longest_ms.max(v.longest_ms);
            acc
        });
        RpoSummary {
            rpo: RpoFigures::of(&ramps),
            replicating_s: seconds(observed),
            within_threshold_pct: (observed > 0).then(|| within as f64 * 100.0 / observed as f64),
            violations: v.into(),
        }
    }
}

/// One machine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemSummary {
    /// Its name.
    pub item: String,
    /// The recovery plan it belongs to, if any.
    pub plan: Option<String>,
    /// Its RPO.
    #[serde(flatten)]
    pub rpo: RpoSummary,
    /// Its last succeeded reprotect.
    pub reprotect: Option<ReprotectFigures>,
    /// Its last succeeded failback.
    pub failback: Option<DowntimeFigures>,
}

/// One recovery plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanSummary {
    /// Its name.
    pub plan: String,
    /// Its machines.
    pub items: usize,
    /// Their RPO, pooled.
    #[serde(flatten)]
    pub rpo: RpoSummary,
    /// Bytes their reprotects sent.
    pub reprotect_bytes: u64,
    /// From the first Azure VM's shutdown to the last on-prem VM running, over its machines' last
    /// succeeded failbacks (None: none failed back).
    pub failback: Option<DowntimeFigures>,
    /// Machines that failed back.
    pub failed_back: usize,
}

/// The fleet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetSummary {
    /// Machines.
    pub items: usize,
    /// Their RPO, pooled.
    #[serde(flatten)]
    pub rpo: RpoSummary,
    /// Bytes all reprotects sent.
    pub reprotect_bytes: u64,
    /// The longest downtime of any machine at failback, seconds.
    pub failback_downtime_max_s: Option<f64>,
    /// Machines that failed back.
    pub failed_back: usize,
}

/// What `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The scenario.
    pub scenario: String,
    /// Its seed.
    pub seed: u64,
    /// Simulated time, seconds.
    pub duration_s: f64,
    /// The RPO threshold the shares and violations count against, seconds.
    pub rpo_threshold_s: f64,
    /// The whole estate.
    pub fleet: FleetSummary,
    /// Per recovery plan, by name.
    pub plans: Vec<PlanSummary>,
    /// Per machine, by name.
    pub items: Vec<ItemSummary>,
}

/// Sums up a run: `items` every machine, `plans` each plan's machines.
pub fn summarise(
    meta: &RunMeta,
    items: &[ItemId],
    plans: &[(String, Vec<ItemId>)],
    tracker: &crate::rpo::RpoTracker,
    jobs: &MachineJobs,
) -> Summary {
    let threshold_ms = meta.rpo_threshold_ms;
    let empty = RpoSeries::default();
    let series = |i: &ItemId| tracker.series(i).unwrap_or(&empty);
    // each machine's plan (the first that has it), found once: a search of every plan's members per
    // machine was quadratic (≈ 0.2 s of a 10k report, issue 6)
    let mut plan_by_item: std::collections::BTreeMap<&ItemId, &String> = Default::default();
    for (p, members) in plans {
        for i in members {
            plan_by_item.entry(i).or_insert(p);
        }
    }
    let plan_of = |i: &ItemId| plan_by_item.get(i).map(|p| (*p).clone());
    let bytes = |members: &mut dyn Iterator<Item = &ItemId>| -> u64 {
        members
            .filter_map(|i| jobs.reprotect.get(i).and_then(|r| r.bytes))
            .sum()
    };
    let item_rows = items
        .iter()
        .map(|i| ItemSummary {
            item: i.0.to_string(),
            plan: plan_of(i),
            rpo: RpoSummary::of(std::iter::once(series(i)), threshold_ms),
            reprotect: jobs.reprotect.get(i).map(Into::into),
            failback: jobs.downtime.get(i).copied().map(Into::into),
        })
        .collect();
    let plan_rows = plans
        .iter()
        .map(|(p, members)| {
            let downs: Vec<Downtime> = members
                .iter()
                .filter_map(|i| jobs.downtime.get(i).copied())
                .collect();
            let span = (!downs.is_empty()).then(|| Downtime {
                from_ms: downs.iter().map(|d| d.from_ms).min().unwrap_or(0),
                to_ms: downs.iter().map(|d| d.to_ms).max().unwrap_or(0),
            });
            PlanSummary {
                plan: p.clone(),
                items: members.len(),
                rpo: RpoSummary::of(members.iter().map(series), threshold_ms),
                reprotect_bytes: bytes(&mut members.iter()),
                failback: span.map(Into::into),
                failed_back: downs.len(),
            }
        })
        .collect();
    let fleet = FleetSummary {
        items: items.len(),
        rpo: RpoSummary::of(items.iter().map(series), threshold_ms),
        reprotect_bytes: bytes(&mut items.iter()),
        failback_downtime_max_s: jobs
            .downtime
            .values()
            .map(Downtime::len_ms)
            .max()
            .map(seconds),
        failed_back: jobs.downtime.len(),
    };
    Summary {
        scenario: meta.scenario.clone(),
        seed: meta.seed,
        duration_s: seconds(meta.duration_ms),
        rpo_threshold_s: seconds(threshold_ms),
        fleet,
        plans: plan_rows,
        items: item_rows,
    }
}
