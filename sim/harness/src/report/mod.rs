//! Reports of a run (issue 7): `drsim run FILE --report DIR` writes throughput, RPO and failback-sizing
//! figures a capacity planner reads — time series per report interval (`rpo.csv`, `backlog.csv`,
//! `throughput.csv`), a row per machine (`items.csv`), the job history (`jobs.csv`), the sums
//! (`summary.json`) and one self-contained page with charts (`report.html`).
//!
//! The parts: [`sample`] reads the world at every report interval while the run goes; [`series`] turns
//! samples and the exact RPO saw-tooth into per-scope series; [`jobs`] reads the job history;
//! [`summary`] sums up; [`write`] writes the files (each atomically); [`html`] draws the page.

pub mod html;
pub mod jobs;
mod rpo_changes;
pub mod sample;
pub mod series;
pub mod summary;
pub mod write;

pub use sample::Recorder;

use crate::rehearsal::Rehearsal;
use crate::scenario::Built;
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use series::{Members, RpoPoint, Scope, ScopeSeries, Throughput};
use std::collections::{BTreeMap, BTreeSet};

/// Machines with a series of their own in `rpo.csv` and `backlog.csv` when the estate is small.
pub const ALL_ITEMS_UP_TO: usize = 100;
/// Beyond [`ALL_ITEMS_UP_TO`] machines: how many of the worst (by largest RPO) get a series.
pub const WORST_ITEMS: usize = 20;

/// What the run was.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunMeta {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Simulated time, ms.
    pub duration_ms: Millis,
    /// The report interval, ms.
    pub interval_ms: Millis,
    /// The RPO threshold (failback policy, DOMAIN.md §4), ms.
    pub rpo_threshold_ms: Millis,
}

/// Everything `--report` writes, in memory.
#[derive(Clone, Debug)]
pub struct Report {
    /// What the run was.
    pub meta: RunMeta,
    /// The end of each report interval, ms (the first starts at 0).
    pub times: Vec<Millis>,
    /// RPO per interval: the fleet, each plan, then the chosen machines.
    pub rpo: Vec<ScopeSeries<Option<RpoPoint>>>,
    /// Unsent bytes at each interval's end, same scopes.
    pub backlog: Vec<ScopeSeries<u64>>,
    /// Per link, process server and master target.
    pub throughput: Vec<Throughput>,
    /// The job history.
    pub jobs: Vec<jobs::JobRow>,
    /// The sums.
    pub summary: summary::Summary,
}

/// A `--item` that names no machine of the scenario.
#[derive(Debug, thiserror::Error)]
#[error("--item `{0}`: the scenario has no machine of that name")]
pub struct UnknownItem(pub String);

/// Builds the report of a finished run (its seed is the world's); `named` are machines that get a
/// series whatever their rank.
pub fn build(
    name: &str,
    built: &Built,
    r: &Rehearsal,
    rec: &Recorder,
    named: &[String],
) -> Result<Report, UnknownItem> {
    build_parts(name, built, r, rec, named, true)
}

/// The summary and the throughput series of a finished run, without the RPO and backlog series and
/// the job rows (left empty): what `drsim plan` measures a point by (the RPO series alone were 15 % of
/// a 10k run with reports).
pub fn build_summary(name: &str, built: &Built, r: &Rehearsal, rec: &Recorder) -> Report {
    build_parts(name, built, r, rec, &[], false).expect("no named items")
}

fn build_parts(
    name: &str,
    built: &Built,
    r: &Rehearsal,
    rec: &Recorder,
    named: &[String],
    series: bool,
) -> Result<Report, UnknownItem> {
    let meta = RunMeta {
        scenario: name.to_owned(),
        seed: built.world.seed,
        duration_ms: built.duration_ms,
        interval_ms: rec.interval_ms(),
        rpo_threshold_ms: built.config.failback_policy.rpo_threshold_ms,
    };
    let items: Vec<ItemId> = built.items.iter().map(|i| i.id.clone()).collect();
    // each item's position, found once (a search of the list per plan member was quadratic: ≈ 0.2 s
    // of a 10k report, issue 6)
    let mut positions: BTreeMap<&ItemId, usize> = BTreeMap::new();
    for (p, i) in items.iter().enumerate() {
        positions.entry(i).or_insert(p);
    }
    let index = |i: &ItemId| positions.get(i).copied();
    let plans: Vec<(String, Vec<ItemId>)> = {
        let mut p: Vec<(String, Vec<ItemId>)> = built
            .plans
            .iter()
            .map(|p| {
                let members = p.groups.iter().flat_map(|g| g.items.iter().cloned());
                (p.id.to_string(), members.collect())
            })
            .collect();
        p.sort();
        p
    };
    // what needs only the run, side by side (the report of a 10k fleet is ≈ 1 s on one core, issue 6;
    // each part is computed the same whichever thread does it)
    let ((machine_jobs, job_rows), throughput) = rayon::join(
        || {
            rayon::join(
                || jobs::machine_jobs(&r.runner),
                || {
                    if series {
                        jobs::job_rows(&r.runner)
                    } else {
                        Vec::new()
                    }
                },
            )
        },
        || series::throughput_series(rec),
    );
    let summary = summary::summarise(&meta, &items, &plans, &r.runner.rpo, &machine_jobs);
    let mut chosen: BTreeSet<usize> = if items.len() <= ALL_ITEMS_UP_TO {
        (0..items.len()).collect()
    } else {
        worst(&summary.items, WORST_ITEMS)
    };
    for n in named {
        chosen.insert(index(&ItemId::from(n.as_str())).ok_or_else(|| UnknownItem(n.clone()))?);
    }
    let mut scopes = vec![Members {
        scope: Scope::Fleet,
        items: (0..items.len()).collect(),
    }];
    scopes.extend(plans.iter().map(|(p, members)| Members {
        scope: Scope::Plan(p.clone()),
        items: members.iter().filter_map(index).collect(),
    }));
    scopes.extend(chosen.iter().map(|&i| Members {
        scope: Scope::Item(items[i].0.to_string()),
        items: vec![i],
    }));
    if !series {
        return Ok(Report {
            times: rec.times.clone(),
            rpo: Vec::new(),
            backlog: Vec::new(),
            throughput,
            jobs: job_rows,
            summary,
            meta,
        });
    }
    let (rpo, backlog) = rayon::join(
        || series::rpo_series(&r.runner.rpo, &items, &scopes, &rec.times),
        || series::backlog_series(rec, &items, &scopes),
    );
    Ok(Report {
        times: rec.times.clone(),
        rpo,
        backlog,
        throughput,
        jobs: job_rows,
        summary,
        meta,
    })
}

/// The `n` machines with the largest RPO (then p95, then name), as indexes.
fn worst(items: &[summary::ItemSummary], n: usize) -> BTreeSet<usize> {
    let mut ranked: Vec<(usize, f64, f64)> = items
        .iter()
        .enumerate()
        .filter_map(|(k, i)| i.rpo.rpo.map(|r| (k, r.max_s, r.p95_s)))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(b.2.total_cmp(&a.2))
            .then(a.0.cmp(&b.0))
    });
    ranked.into_iter().take(n).map(|(k, _, _)| k).collect()
}

#[cfg(test)]
mod tests;
