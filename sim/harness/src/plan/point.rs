//! Runs one sweep point and measures what a capacity planner asks of it: RPO compliance, the RPO at the
//! chosen percentile and its peak, initial replication time (re-protect to Azure, RA-02), reprotect
//! resync time and bytes by mode (RJ-03 OLR differential, RJ-04 ALR full), failback downtime per machine
//! and per recovery plan, and how busy the process servers and the link were.

use super::variant::Variant;
use crate::rehearsal::{Rehearsal, rehearse_recording};
use crate::report::sample::ResourceKind;
use crate::report::{self, Recorder, Report};
use crate::rpo::{Segment, percentile_of};
use crate::scenario::Built;
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::job::Step;
use drsim_engine::lifecycle::Operation;
use serde::Serialize;
use std::collections::BTreeMap;

/// Reprotects of one mode at a point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ModeFigures {
    /// Machines reprotected this way.
    pub machines: usize,
    /// Bytes their resyncs sent.
    pub bytes: u64,
    /// The longest, from the job's start to the machine in sync, seconds.
    pub longest_s: Option<f64>,
}

/// What one point measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointResult {
    /// The point.
    #[serde(flatten)]
    pub variant: Variant,
    /// Every invariant and expectation held.
    pub pass: bool,
    /// Share of machine-time replicating with the RPO within the desired RPO, percent.
    pub rpo_compliance_pct: Option<f64>,
    /// The fleet's RPO at the planner's percentile, seconds.
    pub rpo_percentile_s: Option<f64>,
    /// The largest RPO of any machine, seconds.
    pub rpo_peak_s: Option<f64>,
    /// Initial replication to Azure after failback (RA-02): the longest machine's, seconds.
    pub initial_replication_s: Option<f64>,
    /// Machines whose initial replication to Azure had not finished when the run ended.
    pub initial_replication_unfinished: usize,
    /// Reprotects to their original location (RJ-03, differential).
    pub reprotect_olr: ModeFigures,
    /// Reprotects to an alternate location (RJ-04, full copy).
    pub reprotect_alr: ModeFigures,
    /// Machines whose last reprotect had not succeeded when the run ended (still resyncing, failed or
    /// cancelled): their reprotect time is beyond what the run shows.
    pub reprotect_unfinished: usize,
    /// The longest application downtime of a machine at failback, seconds.
    pub failback_downtime_max_s: Option<f64>,
    /// The longest downtime of a recovery plan at failback (first shutdown to last power-on), seconds.
    pub plan_downtime_max_s: Option<f64>,
    /// The busiest process server's busiest interval, as a share of its throughput cap (None: uncapped).
    pub ps_peak_utilisation: Option<f64>,
    /// The busiest process server's busiest interval, bytes/s.
    pub ps_peak_bytes_per_s: u64,
    /// The busiest process server's busiest day (or the run, if shorter), bytes — DOMAIN.md §4: a PS
    /// handles ≤ 2 TB/day.
    pub ps_peak_daily_bytes: u64,
    /// The site link's busiest interval toward on-prem, as a share of its capacity.
    pub link_peak_utilisation: Option<f64>,
}

/// Runs `built` (the scenario at `v`) with a report recorder and measures it; `percentile` is the
/// planner's RPO percentile.
pub fn run(name: &str, built: &Built, v: Variant, percentile: u32) -> Result<PointResult, String> {
    let mut rec = Recorder::new(built.report_interval_ms, built.duration_ms).without_backlog();
    let r = rehearse_recording(built, Some(&mut rec), false, |_| {}).map_err(|e| e.to_string())?;
    let report = report::build_summary(name, built, &r, &rec);
    Ok(measure(v, percentile, &r, &report))
}

fn measure(v: Variant, percentile: u32, r: &Rehearsal, report: &Report) -> PointResult {
    let fleet = &report.summary.fleet.rpo;
    let ramps: Vec<Segment> = r
        .runner
        .rpo
        .all_series()
        .into_iter()
        .flat_map(|(_, s)| s.segments.iter().copied())
        .collect();
    let mut olr = ModeFigures::default();
    let mut alr = ModeFigures::default();
    for i in &report.summary.items {
        let Some(rp) = &i.reprotect else { continue };
        let m = if rp.mode.as_deref() == Some("alternate") {
            &mut alr
        } else {
            &mut olr
        };
        m.machines += 1;
        m.bytes += rp.bytes.unwrap_or(0);
        m.longest_s = Some(m.longest_s.map_or(rp.duration_s, |l| l.max(rp.duration_s)));
    }
    let (ir, unfinished) = initial_replication(&r.runner.engine);
    let ps: Vec<&report::series::Throughput> = report
        .throughput
        .iter()
        .filter(|t| t.kind == ResourceKind::ProcessServer)
        .collect();
    let peak_util = |ts: &[&report::series::Throughput]| {
        ts.iter()
            .flat_map(|t| t.utilisation.iter().flatten().copied())
            .fold(None, |acc: Option<f64>, u| {
                Some(acc.map_or(u, |a| a.max(u)))
            })
    };
    let link: Vec<&report::series::Throughput> = report
        .throughput
        .iter()
        .filter(|t| t.name == report::sample::LINK_TO_ONPREM)
        .collect();
    PointResult {
        variant: v,
        pass: r.verdict.pass(),
        rpo_compliance_pct: fleet.within_threshold_pct,
        rpo_percentile_s: percentile_of(&ramps, percentile).map(report::summary::seconds),
        rpo_peak_s: fleet.rpo.map(|f| f.max_s),
        initial_replication_s: ir,
        initial_replication_unfinished: unfinished,
        reprotect_olr: olr,
        reprotect_alr: alr,
        reprotect_unfinished: reprotect_unfinished(&r.runner.engine),
        failback_downtime_max_s: report.summary.fleet.failback_downtime_max_s,
        plan_downtime_max_s: report
            .summary
            .plans
            .iter()
            .filter_map(|p| p.failback.map(|f| f.downtime_s))
            .reduce(f64::max),
        ps_peak_utilisation: peak_util(&ps),
        ps_peak_bytes_per_s: ps
            .iter()
            .flat_map(|t| t.bytes_per_s.iter().copied())
            .max()
            .unwrap_or(0),
        ps_peak_daily_bytes: ps
            .iter()
            .map(|t| busiest_day(&report.times, &t.bytes_per_s))
            .max()
            .unwrap_or(0),
        link_peak_utilisation: peak_util(&link),
    }
}

/// The most bytes carried in any day-long window of whole intervals (the run, if shorter).
fn busiest_day(times: &[Millis], bytes_per_s: &[u64]) -> u64 {
    let bytes: Vec<u128> = times
        .iter()
        .enumerate()
        .map(|(k, &end)| {
            let start = if k == 0 { 0 } else { times[k - 1] };
            u128::from(bytes_per_s[k]) * u128::from(end - start) / 1000
        })
        .collect();
    let (mut best, mut sum, mut from) = (0u128, 0u128, 0usize);
    for (k, b) in bytes.iter().enumerate() {
        sum += b;
        let start = |j: usize| if j == 0 { 0 } else { times[j - 1] };
        while times[k] - start(from) > drsim_engine::time::DAY_MS {
            sum -= bytes[from];
            from += 1;
        }
        best = best.max(sum);
    }
    u64::try_from(best).unwrap_or(u64::MAX)
}

/// Machines whose last reprotect job did not succeed (or had not ended) by the end of the run.
fn reprotect_unfinished(engine: &drsim_engine::Engine) -> usize {
    let mut last: BTreeMap<&ItemId, bool> = BTreeMap::new();
    for j in engine
        .jobs()
        .values()
        .filter(|j| j.operation == Operation::Reprotect)
    {
        for item in j.tasks.keys() {
            last.insert(
                item,
                j.outcome == Some(drsim_engine::protocol::JobOutcome::Succeeded),
            );
        }
    }
    last.values().filter(|ok| !**ok).count()
}

/// Initial replication to Azure (RA-02): from each re-protect-to-Azure job's start to the end of the
/// machine's "Synchronise data" step. The longest, and how many machines never got there.
fn initial_replication(engine: &drsim_engine::Engine) -> (Option<f64>, usize) {
    let mut took: BTreeMap<&ItemId, Option<Millis>> = BTreeMap::new();
    for j in engine
        .jobs()
        .values()
        .filter(|j| j.operation == Operation::ReprotectToAzure)
    {
        for item in j.tasks.keys() {
            let synced = j
                .history
                .iter()
                .find(|h| &h.item == item && h.name == Step::WaitSync.name() && h.ok == Some(true))
                .and_then(|h| h.ended_ms);
            // a later job for the machine replaces an earlier one
            took.insert(item, synced.map(|e| e.saturating_sub(j.started_ms)));
        }
    }
    let longest = took
        .values()
        .flatten()
        .max()
        .copied()
        .map(report::summary::seconds);
    (longest, took.values().filter(|d| d.is_none()).count())
}
