//! One rehearsal: a built scenario run from start to its duration — plans set at t=0, user steps as world
//! events, faults as scheduled — then judged ([`crate::verdict`]) and summed up for `--json`.

use crate::invariants::Violation;
use crate::report::Recorder;
use crate::runner::{QuietTrace, Runner, SetupError};
use crate::scenario::{Built, Scenario};
use crate::verdict::{self, Verdict, kebab, step_outcome};
use drsim_engine::Millis;
use drsim_engine::protocol::Command;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many slices a run is cut into for progress reports.
const PROGRESS_SLICES: u64 = 200;

/// A finished rehearsal.
pub struct Rehearsal {
    /// The runner, with the trace, the engine and the world as they ended.
    pub runner: Runner,
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Runs a built scenario; `progress` is told the simulated time reached, now and then.
pub fn rehearse(built: &Built, progress: impl FnMut(Millis)) -> Result<Rehearsal, SetupError> {
    rehearse_recording(built, None, true, progress)
}

/// Like [`rehearse`], with `recorder` (if any) sampling the world at every report interval
/// ([`crate::report`]); `keep_progress` false is for runs nobody reads the trace of but the verdict and
/// the report: the trace keeps only what they read ([`Runner::quiet_trace`]).
pub fn rehearse_recording(
    built: &Built,
    recorder: Option<&mut Recorder>,
    keep_progress: bool,
    progress: impl FnMut(Millis),
) -> Result<Rehearsal, SetupError> {
    let quiet = (!keep_progress).then_some(QuietTrace {
        checks: !built.expect.checks.is_empty(),
    });
    rehearse_traced(built, recorder, keep_progress, quiet, progress)
}

/// [`rehearse_recording`] with the trace's detail given.
pub(crate) fn rehearse_traced(
    built: &Built,
    recorder: Option<&mut Recorder>,
    keep_progress: bool,
    quiet_trace: Option<QuietTrace>,
    progress: impl FnMut(Millis),
) -> Result<Rehearsal, SetupError> {
    rehearse_sliced(built, recorder, keep_progress, quiet_trace, progress, false)
}

/// A runner for `built` at t=0: discovered, its plans set, its steps scheduled.
fn set_up(
    built: &Built,
    keep_progress: bool,
    quiet_trace: Option<QuietTrace>,
) -> Result<Runner, SetupError> {
    let mut runner = Runner::new(
        built.world.clone(),
        built.items.clone(),
        built.config.clone(),
    )?;
    runner.keep_progress = keep_progress;
    runner.set_quiet_trace(quiet_trace);
    runner.look_between_inputs = false; // the engine's points are read at the end
    if let Some(by) = built.expect.settled_by {
        runner.settle_by(by.0);
    }
    // the first discovery happens at t=0; commands before it would not know the estate
    runner.run_until(0);
    for plan in &built.plans {
        let _ = runner.command(Command::SetPlan { plan: plan.clone() });
    }
    runner.load_script(built.script.clone());
    Ok(runner)
}

/// [`rehearse_traced`]; with `read_every_slice` every progress slice's end brings the data plane to it
/// ([`Runner::run_until`]) even where no report sample reads it, as every rehearsal did before
/// [`Runner::run_until_unread`] (the tests compare the two).
fn rehearse_sliced(
    built: &Built,
    mut recorder: Option<&mut Recorder>,
    keep_progress: bool,
    quiet_trace: Option<QuietTrace>,
    mut progress: impl FnMut(Millis),
    read_every_slice: bool,
) -> Result<Rehearsal, SetupError> {
    let mut runner = set_up(built, keep_progress, quiet_trace)?;
    let slice = (built.duration_ms / PROGRESS_SLICES).max(1);
    let mut t = 0;
    let mut next_progress = slice.min(built.duration_ms);
    while t < built.duration_ms {
        let sample = recorder.as_ref().and_then(|r| r.next_ms());
        t = sample.map_or(next_progress, |s| s.min(next_progress));
        if sample == Some(t) || read_every_slice {
            runner.run_until(t);
        } else {
            runner.run_until_unread(t);
        }
        if let Some(r) = recorder.as_deref_mut()
            && sample == Some(t)
        {
            // (`run_until` ended with `catch_up_for_reading`: machines under a cadence are not
            // accounted by reports)
            r.sample(&runner.world);
        }
        if t == next_progress {
            progress(t);
            next_progress = (t + slice).min(built.duration_ms);
        }
    }
    runner.world.catch_up(); // what the summary reads of the streams, as of the end
    runner.engine.advance_to(runner.world.now()); // and of the engine's points
    let violations = runner.finish();
    let verdict = verdict::judge(built, &runner, &violations);
    Ok(Rehearsal {
        runner,
        violations,
        verdict,
    })
}

/// A step in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct StepSummary {
    /// Its id.
    pub id: String,
    /// Its operation.
    pub op: String,
    /// When it ran (ms), if it did.
    pub ran_ms: Option<Millis>,
    /// How it ended: succeeded, failed, cancelled, refused, not-run, or running.
    pub outcome: String,
    /// The failure's rule, if any.
    pub rule: Option<String>,
    /// The failure's code, if any.
    pub code: Option<u32>,
    /// When its job ended (ms).
    pub ended_ms: Option<Millis>,
    /// Reprotect bytes per machine.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reprotect_bytes: BTreeMap<String, u64>,
    /// Bytes lost per machine by a failback or change of point.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data_loss: BTreeMap<String, u64>,
}

/// RPO figures of one machine over the time it replicated, in seconds (time-weighted, exact).
#[derive(Clone, Debug, Serialize)]
pub struct RpoSummary {
    /// Median.
    pub p50_s: u64,
    /// 95th percentile.
    pub p95_s: u64,
    /// The largest RPO seen (exact).
    pub max_s: u64,
}

/// The summary `drsim run --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// Its file.
    pub file: String,
    /// The seed used.
    pub seed: u64,
    /// Simulated time run (ms).
    pub duration_ms: Millis,
    /// "pass" or "fail".
    pub verdict: &'static str,
    /// The verdict in detail.
    pub detail: Verdict,
    /// The steps.
    pub steps: Vec<StepSummary>,
    /// RPO per machine that replicated.
    pub rpo: BTreeMap<String, RpoSummary>,
    /// Digest of the trace (INV-DET: equal for equal scenario and seed).
    pub trace_digest: String,
    /// World events handled.
    pub events: u64,
}

/// Sums a rehearsal up.
pub fn summarise(file: &str, scenario: &Scenario, built: &Built, r: &Rehearsal) -> Summary {
    let steps = r
        .runner
        .steps
        .iter()
        .zip(&built.script)
        .map(|(run, st)| {
            let (outcome, failure) = step_outcome(run);
            StepSummary {
                id: run.id.clone(),
                op: kebab(&st.op),
                ran_ms: run.ran_ms,
                outcome: outcome.map_or("running".into(), |o| kebab(&o)),
                rule: failure.and_then(|f| f.rule).map(|r| r.to_string()),
                code: failure.map(|f| f.code.0),
                ended_ms: run.ended_ms,
                reprotect_bytes: run
                    .reprotect_bytes
                    .iter()
                    .map(|(k, v)| (k.0.to_string(), *v))
                    .collect(),
                data_loss: run
                    .data_loss
                    .iter()
                    .map(|(k, v)| (k.0.to_string(), *v))
                    .collect(),
            }
        })
        .collect();
    let rpo = r
        .runner
        .rpo
        .all_series()
        .into_iter()
        .filter_map(|(item, s)| {
            Some((
                item.0.to_string(),
                RpoSummary {
                    p50_s: s.percentile(50)? / 1000,
                    p95_s: s.percentile(95)? / 1000,
                    max_s: s.max_in(0, Millis::MAX)? / 1000,
                },
            ))
        })
        .collect();
    Summary {
        scenario: scenario.name.clone(),
        file: file.to_owned(),
        seed: scenario.seed,
        duration_ms: built.duration_ms,
        verdict: if r.verdict.pass() { "pass" } else { "fail" },
        detail: r.verdict.clone(),
        steps,
        rpo,
        trace_digest: format!("{:016x}", r.runner.trace_digest()),
        events: r.runner.world.events_handled,
    }
}

/// The library's scenario files, walked as the integration tests walk them.
#[cfg(test)]
#[path = "../tests/library/mod.rs"]
mod library;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// What a run ends with, as text: its summary (trace digest and event count included) and every
    /// violation.
    fn outcome(file: &Path, scenario: &Scenario, built: &Built, r: &Rehearsal) -> String {
        let name = file.display().to_string();
        let summary = serde_json::to_string_pretty(&summarise(&name, scenario, built, r));
        format!("{}\n{:?}", summary.expect("serialises"), r.violations)
    }

    #[test]
    fn the_library_ends_the_same_whether_or_not_every_slice_is_read() {
        let files = super::library::all_scenarios();
        assert!(files.len() > 50, "the library is there: {}", files.len());
        for file in &files {
            let (scenario, built) = crate::scenario::load(file, None).expect("loads");
            let run = |read| {
                let r = rehearse_sliced(&built, None, true, None, |_| {}, read).expect("runs");
                outcome(file, &scenario, &built, &r)
            };
            let (unread, read) = (run(false), run(true));
            if unread != read {
                let first = (unread.lines().zip(read.lines())).find(|(a, b)| a != b);
                panic!(
                    "{}: the slices' catch-up changed the outcome: {first:?}",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn an_unread_slice_leaves_the_streams_where_their_last_event_left_them() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/tutorial/01-one-vm-cycle.json");
        let (_, built) = crate::scenario::load(&file, None).expect("loads");
        let mut runner = set_up(&built, true, None).expect("sets up");
        // the disks a reader would see moved between the slice's end and their last event
        let behind = |runner: &Runner, t: Millis| {
            (runner.world.machines().values())
                .flat_map(|m| &m.disks)
                .filter(|d| d.stream.as_ref().is_some_and(|s| !s.left_behind()))
                .filter(|d| d.accounted_ms < t)
                .count()
        };
        let mut t = 0;
        let mut seen = 0;
        while t < built.duration_ms && seen == 0 {
            t += built.duration_ms / 200;
            runner.run_until_unread(t);
            seen = behind(&runner, t);
        }
        assert!(seen > 0, "some slice's end finds a stream behind it");
        runner.run_until(t); // no event before `t`: only the catch-up
        assert_eq!(
            behind(&runner, t),
            0,
            "run_until brings every stream to its end"
        );
    }
}
