//! `drsim plan FILE`: what-if sweeps for capacity planners (issue 7). The scenario is run at every
//! combination of site-link bandwidth and process-server count (with churn grown and the desired RPO as
//! threshold, [`variant`]), in parallel on all cores and deterministically (each point is an independent
//! run; results are kept in grid order). Each point is measured ([`point`]); the sweep and the estate's
//! churn give recommendations ([`recommend`]); [`output`] writes `plan.csv`, `plan.json` and `plan.html`.
//!
//! The defaults are the Deployment Planner's (DOMAIN.md §5): desired RPO 15 min, growth 30 %, 95th
//! percentile, initial replication goal 72 h.

pub mod html;
pub mod output;
pub mod point;
pub mod recommend;
pub mod variant;

use crate::cli::{EXIT_BAD_INPUT, EXIT_OK};
use crate::scenario::{self, Built};
use crate::units::{Bandwidth, Duration};
use drsim_engine::Millis;
use drsim_engine::time::{DAY_MS, MINUTE_MS};
use point::PointResult;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use variant::Variant;

/// `drsim plan` options.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The scenario: the estate, its churn, and the cycle to rehearse (failover, reprotect, failback …).
    pub file: PathBuf,
    /// Site-link bandwidths: a range `100Mbps..1Gbps` (split by `--bandwidth-steps`, evenly on a log
    /// scale), a list `100Mbps,1Gbps`, or one value. Default: the scenario's.
    #[arg(long, value_name = "RANGE")]
    pub bandwidth: Option<String>,
    /// How many bandwidths a range is split into (ends included).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub bandwidth_steps: usize,
    /// Process-server counts: a range `1..4`, a list `1,2,4` or one value; machines are spread over them
    /// in turn. Default: the scenario's.
    #[arg(long, value_name = "RANGE")]
    pub process_servers: Option<String>,
    /// The desired RPO (the Deployment Planner's 15 min).
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub rpo: String,
    /// Churn growth to plan for, percent (the Deployment Planner's 30 %).
    #[arg(long, default_value = "30%", value_name = "PCT")]
    pub growth: String,
    /// The percentile of churn and RPO to plan with (the Deployment Planner's 95).
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub percentile: u32,
    /// How long initial replication may take (the Deployment Planner's 72 h).
    #[arg(long, default_value = "72h", value_name = "DURATION")]
    pub ir_goal: String,
    /// Where to write plan.csv, plan.json and plan.html. Default `reports/<scenario name>-plan/`.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores). The results do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// The sweep's settings, parsed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// Bandwidths, bytes/s, ascending.
    pub bandwidths: Vec<u64>,
    /// Process-server counts, ascending.
    pub process_servers: Vec<usize>,
    /// Desired RPO, ms.
    pub rpo_ms: Millis,
    /// Growth, percent.
    pub growth_pct: u32,
    /// Percentile.
    pub percentile: u32,
    /// Initial replication goal, ms.
    pub ir_goal_ms: Millis,
}

/// What the estate writes, from its churn models over the run (growth included).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Churn {
    /// Machines.
    pub machines: usize,
    /// Bytes written a day, all machines (the run's mean day).
    pub daily_bytes: u64,
    /// The fleet's write rate at the percentile, over 5-minute intervals, bytes/s.
    pub percentile_bytes_per_s: u64,
    /// Used bytes per machine: what its initial replication sends.
    pub used_bytes: Vec<u64>,
}

/// Recommendations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendations {
    /// The bandwidth the churn at the percentile needs (the Deployment Planner's rule), bytes/s.
    pub bandwidth_for_churn_bytes_per_s: u64,
    /// The smallest swept point that held the RPO 100 % of the time.
    pub bandwidth_rpo_100: Option<Variant>,
    /// The smallest swept point that held the RPO 90 % of the time.
    pub bandwidth_rpo_90: Option<Variant>,
    /// RPO at the percentile and peak per swept bandwidth: (bytes/s, seconds, seconds).
    pub achievable_rpo: Vec<(u64, Option<f64>, Option<f64>)>,
    /// Process-server deployments by DOMAIN.md §5, fewest servers first.
    pub process_servers: Vec<recommend::PsOption>,
    /// Per swept bandwidth, machines whose initial replication finishes within the goal together.
    pub ir_batch: Vec<(u64, usize)>,
    /// Failback sizing at the point holding the RPO 100 % (or the widest swept point).
    pub failback: Option<PointResult>,
}

/// The whole result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanResult {
    /// The scenario.
    pub scenario: String,
    /// The settings.
    pub settings: Settings,
    /// The estate's churn.
    pub churn: Churn,
    /// Per point, bandwidth-major.
    pub points: Vec<PointResult>,
    /// What to deploy.
    pub recommendations: Recommendations,
    /// Caveats.
    pub notes: Vec<String>,
}

/// Runs `drsim plan`; the exit code.
pub fn plan(a: PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (scenario, built) = match scenario::load(&a.file, None) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let settings = match settings(&a, &scenario, &built) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: --threads: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let result = match pool.install(|| sweep(&a.file, &scenario, &built, &settings)) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {}: {e}", a.file.display());
            return EXIT_BAD_INPUT;
        }
    };
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(format!("{}-plan", scenario.name)));
    if let Err(e) = output::write_dir(&result, &dir) {
        let _ = writeln!(err, "error: cannot write {}: {e}", dir.display());
        return EXIT_BAD_INPUT;
    }
    let _ = write!(out, "{}", output::text(&result));
    let _ = writeln!(out, "written: {}", dir.display());
    EXIT_OK
}

/// Runs `run` on every point of the grid on the current rayon pool's threads, the costliest first, and
/// gives the results in grid order (so they do not depend on the thread count).
///
/// A point's cost is mostly its bandwidth: on a saturated link every machine waits in a backlog and
/// is reported every interval, so the lowest bandwidth of the 1,000-VM bench costs about 7x the highest.
/// Each worker takes the next point from one queue in that order (longest first): halving the grid
/// between two threads, as `par_iter` does, gave one thread all the slow points (the 20-point bench
/// sweep took 55 s that way, 44 s from the queue, issue 7).
fn run_points<T: Send>(grid: &[Variant], run: impl Fn(&Variant) -> T + Sync) -> Vec<T> {
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_by_key(|&i| grid[i].bandwidth_bytes_per_s);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> = grid.iter().map(|_| Default::default()).collect();
    rayon::scope(|scope| {
        for _ in 0..rayon::current_num_threads().min(grid.len()) {
            scope.spawn(|_| {
                while let Some(&i) =
                    order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    let r = run(&grid[i]);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| (s.into_inner().unwrap_or_else(|e| e.into_inner())).expect("every point ran"))
        .collect()
}

/// Runs every point and derives the recommendations.
pub fn sweep(
    file: &Path,
    base: &scenario::Scenario,
    built: &Built,
    s: &Settings,
) -> Result<PlanResult, String> {
    let grid: Vec<Variant> = s
        .bandwidths
        .iter()
        .flat_map(|&bw| {
            s.process_servers.iter().map(move |&n| Variant {
                bandwidth_bytes_per_s: bw,
                process_servers: n,
                growth_pct: s.growth_pct,
                rpo_ms: s.rpo_ms,
            })
        })
        .collect();
    let mut notes = Vec::new();
    let runs: Vec<Result<(PointResult, bool), String>> = run_points(&grid, |v| {
        let (sc, ungrown) = variant::apply(base, v);
        let b = scenario::build::build(&sc, file)
            .map_err(|e| format!("the scenario at {v:?} does not build: {e:?}"))?;
        Ok((point::run(&base.name, &b, *v, s.percentile)?, ungrown))
    });
    let mut points = Vec::with_capacity(runs.len());
    let mut ungrown = false;
    for r in runs {
        let (p, u) = r?;
        ungrown |= u;
        points.push(p);
    }
    if ungrown {
        notes.push(
            "churn replayed from a trace file is not grown: the growth factor applies to the other \
             churn models only"
                .to_owned(),
        );
    }
    if points.iter().any(|p| !p.pass) {
        notes.push(
            "some points failed an invariant or expectation of the scenario: see `pass` per point \
             (`drsim run` on the scenario at that bandwidth shows why)"
                .to_owned(),
        );
    }
    let churn = churn(built, s);
    let widest = points
        .iter()
        .max_by_key(|p| (p.variant.bandwidth_bytes_per_s, p.variant.process_servers));
    let rpo_100 = recommend::bandwidth_meeting(&points, 100.0);
    let recommendations = Recommendations {
        bandwidth_for_churn_bytes_per_s: churn.percentile_bytes_per_s,
        bandwidth_rpo_100: rpo_100.map(|p| p.variant),
        bandwidth_rpo_90: recommend::bandwidth_meeting(&points, 90.0).map(|p| p.variant),
        achievable_rpo: recommend::achievable_rpo(&points),
        process_servers: recommend::process_servers(churn.machines, churn.daily_bytes),
        ir_batch: s
            .bandwidths
            .iter()
            .map(|&bw| {
                (
                    bw,
                    recommend::ir_batch(
                        &churn.used_bytes,
                        bw,
                        churn.percentile_bytes_per_s,
                        s.ir_goal_ms,
                    ),
                )
            })
            .collect(),
        failback: rpo_100.or(widest).cloned(),
    };
    Ok(PlanResult {
        scenario: base.name.clone(),
        settings: s.clone(),
        churn,
        points,
        recommendations,
        notes,
    })
}

/// The estate's churn over the run (growth included): the mean day, and the fleet's write rate per
/// 5-minute interval at the percentile.
fn churn(built: &Built, s: &Settings) -> Churn {
    let grow = |b: u128| b * u128::from(100 + s.growth_pct) / 100;
    let end = built.duration_ms.max(1);
    let step = 5 * MINUTE_MS;
    let disks: Vec<&drsim_world::churn::ChurnModel> = built
        .world
        .machines
        .iter()
        .flat_map(|m| m.disks.iter().map(|d| &d.churn))
        .collect();
    let total: u128 = disks
        .iter()
        .map(|c| u128::from(c.bytes_written(0, end)))
        .sum();
    let mut rates: Vec<u64> = (0..end.div_ceil(step))
        .map(|k| {
            let (a, b) = (k * step, ((k + 1) * step).min(end));
            let bytes: u128 = disks
                .iter()
                .map(|c| u128::from(c.bytes_written(a, b)))
                .sum();
            u64::try_from(grow(bytes) * 1000 / u128::from(b - a)).unwrap_or(u64::MAX)
        })
        .collect();
    rates.sort_unstable();
    let at = (rates.len() * s.percentile as usize).div_ceil(100).max(1) - 1;
    Churn {
        machines: built.world.machines.len(),
        daily_bytes: u64::try_from(grow(total) * u128::from(DAY_MS) / u128::from(end))
            .unwrap_or(u64::MAX),
        percentile_bytes_per_s: rates.get(at).copied().unwrap_or(0),
        used_bytes: built
            .world
            .machines
            .iter()
            .map(|m| m.disks.iter().map(|d| d.used_bytes).sum())
            .collect(),
    }
}

fn settings(a: &PlanArgs, sc: &scenario::Scenario, built: &Built) -> Result<Settings, String> {
    let bandwidths = match &a.bandwidth {
        None => vec![built.world.link.bandwidth_bytes_per_s],
        Some(r) => bandwidths(r, a.bandwidth_steps).map_err(|e| format!("--bandwidth: {e}"))?,
    };
    let process_servers = match &a.process_servers {
        None => vec![sc.inventory.process_servers.len().max(1)],
        Some(r) => counts(r).map_err(|e| format!("--process-servers: {e}"))?,
    };
    if sc.inventory.process_servers.is_empty() && a.process_servers.is_some() {
        return Err("--process-servers: the scenario has no process server to copy".into());
    }
    let rpo_ms = a
        .rpo
        .parse::<Duration>()
        .map_err(|e| format!("--rpo: {e}"))?
        .0;
    let ir_goal_ms = a
        .ir_goal
        .parse::<Duration>()
        .map_err(|e| format!("--ir-goal: {e}"))?
        .0;
    let g = a.growth.trim().trim_end_matches('%').trim();
    let growth_pct = g.parse::<u32>().map_err(|_| {
        format!(
            "--growth: `{}` is not a percentage; expected e.g. \"30%\"",
            a.growth
        )
    })?;
    if rpo_ms == 0 || ir_goal_ms == 0 {
        return Err("--rpo and --ir-goal must be more than 0".into());
    }
    Ok(Settings {
        bandwidths,
        process_servers,
        rpo_ms,
        growth_pct,
        percentile: a.percentile,
        ir_goal_ms,
    })
}

/// `A..B` split into `steps` values evenly on a log scale (rounded to whole bytes/s), `A,B,C`, or `A`.
fn bandwidths(r: &str, steps: usize) -> Result<Vec<u64>, String> {
    let one = |s: &str| s.parse::<Bandwidth>().map(|b| b.0);
    let mut v = if let Some((lo, hi)) = r.split_once("..") {
        let (lo, hi) = (one(lo)?, one(hi)?);
        if lo > hi {
            return Err(format!("`{r}`: the range runs backwards"));
        }
        if steps < 2 || lo == hi {
            vec![lo, hi]
        } else {
            let ratio = (hi as f64 / lo as f64).ln() / (steps - 1) as f64;
            (0..steps)
                .map(|k| match k {
                    0 => lo,
                    k if k == steps - 1 => hi,
                    k => (lo as f64 * (ratio * k as f64).exp()).round() as u64,
                })
                .collect()
        }
    } else {
        r.split(',')
            .map(one)
            .collect::<Result<Vec<u64>, String>>()?
    };
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// `A..B` (every count), `A,B,C`, or `A`; each at least 1.
fn counts(r: &str) -> Result<Vec<usize>, String> {
    let one = |s: &str| match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a count of at least 1")),
    };
    let mut v: Vec<usize> = if let Some((lo, hi)) = r.split_once("..") {
        let (lo, hi) = (one(lo)?, one(hi)?);
        if lo > hi {
            return Err(format!("`{r}`: the range runs backwards"));
        }
        (lo..=hi).collect()
    } else {
        r.split(',').map(one).collect::<Result<_, _>>()?
    };
    v.sort_unstable();
    v.dedup();
    if v.len() > 64 {
        return Err(format!("`{r}`: more than 64 counts"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
