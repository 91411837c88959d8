//! The job history as VMware Site Recovery Manager shows it (`jobs.csv`, the Gantt chart), and what the
//! jobs tell about each machine: how long its reprotect took and sent (RJ-03 OLR differential, RJ-04 ALR
//! full), and how long its application was down at failback (from the Azure VM's shutdown to the on-prem
//! VM running, FB-02 … FB-04).

use crate::runner::{Runner, TraceEvent};
use crate::verdict::kebab;
use drsim_engine::Millis;
use drsim_engine::ids::{ItemId, JobId};
use drsim_engine::job::{Job, Step, StepRecord};
use drsim_engine::lifecycle::Operation;
use drsim_engine::protocol::{
    ActionKind, ActionRequest, Direction, JobOutcome, Output, RecoveryMode,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// One step of a job, for one machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepRow {
    /// The machine.
    pub item: String,
    /// The step, as the portal names it.
    pub name: drsim_engine::job::StepName,
    /// Start, ms.
    pub start_ms: Millis,
    /// End, ms (None: still running at the end of the run).
    pub end_ms: Option<Millis>,
    /// Succeeded (None: not finished).
    pub ok: Option<bool>,
}

/// One job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobRow {
    /// Its id.
    pub job: u64,
    /// The operation, kebab-case.
    pub operation: String,
    /// The recovery plan it ran, if any.
    pub plan: Option<String>,
    /// Its machines.
    pub items: Vec<String>,
    /// Start, ms.
    pub start_ms: Millis,
    /// End, ms (None: still running at the end of the run).
    pub end_ms: Option<Millis>,
    /// succeeded, failed, cancelled, or running.
    pub result: String,
    /// The rule of its failure, if any.
    pub rule: Option<String>,
    /// The error code of its failure, if any.
    pub code: Option<u32>,
    /// The failure's message, if any.
    pub message: Option<String>,
    /// Its steps, in the order they started.
    pub steps: Vec<StepRow>,
}

impl JobRow {
    /// The step that failed first, if any ([`drsim_engine::job::step_failed`]).
    pub fn failed_step(&self) -> Option<&StepRow> {
        (self.steps.iter()).find(|s| drsim_engine::job::step_failed(&s.name, s.ok))
    }
}

/// Every job of the run, in id (creation) order.
pub fn job_rows(runner: &Runner) -> Vec<JobRow> {
    runner.engine.jobs().values().map(job_row).collect()
}

fn job_row(j: &Job) -> JobRow {
    let result = match &j.outcome {
        None => "running",
        Some(JobOutcome::Succeeded) => "succeeded",
        Some(JobOutcome::Failed(_)) => "failed",
        Some(JobOutcome::Cancelled) => "cancelled",
    }
    .to_owned();
    JobRow {
        job: j.id.0,
        operation: kebab(&j.operation),
        plan: j.plan.as_ref().map(|p| p.to_string()),
        items: j.tasks.keys().map(|i| i.0.to_string()).collect(),
        start_ms: j.started_ms,
        end_ms: j.ended_ms,
        result,
        rule: j
            .failure
            .as_ref()
            .and_then(|f| f.rule)
            .map(|r| r.to_string()),
        code: j.failure.as_ref().map(|f| f.code.0),
        message: j.failure.as_ref().map(|f| f.message.clone()),
        steps: j
            .history
            .iter()
            .map(|h| StepRow {
                item: h.item.0.to_string(),
                name: h.name.clone(),
                start_ms: h.started_ms,
                end_ms: h.ended_ms,
                ok: h.ok,
            })
            .collect(),
    }
}

/// A machine's last succeeded reprotect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reprotect {
    /// Its job.
    pub job: u64,
    /// `original` (RJ-03: differential resync) or `alternate` (RJ-04: full copy).
    pub mode: Option<String>,
    /// Bytes its resync sent (RJ-05), when the job came from a scenario step.
    pub bytes: Option<u64>,
    /// From the job's start to the machine's data being in sync, ms.
    pub duration_ms: Millis,
}

/// A machine's application downtime at its last succeeded failback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Downtime {
    /// The Azure VM's shutdown began, ms.
    pub from_ms: Millis,
    /// The on-prem VM was running, ms.
    pub to_ms: Millis,
}

impl Downtime {
    /// How long, ms.
    pub fn len_ms(&self) -> Millis {
        self.to_ms - self.from_ms
    }
}

/// Per machine: its last succeeded reprotect and failback.
#[derive(Clone, Debug, Default)]
pub struct MachineJobs {
    /// Last succeeded reprotect.
    pub reprotect: BTreeMap<ItemId, Reprotect>,
    /// Last succeeded failback's downtime.
    pub downtime: BTreeMap<ItemId, Downtime>,
}

/// What the run's succeeded reprotects and failbacks did to each machine.
pub fn machine_jobs(runner: &Runner) -> MachineJobs {
    let modes = reprotect_modes(&runner.trace);
    let step_of: BTreeMap<JobId, usize> = runner
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.result {
            Some(Ok(Some(job))) => Some((*job, i)),
            _ => None,
        })
        .collect();
    let mut out = MachineJobs::default();
    for j in runner.engine.jobs().values() {
        if j.outcome != Some(JobOutcome::Succeeded) {
            continue;
        }
        let end = j.ended_ms.unwrap_or(j.started_ms);
        let last = last_steps(j);
        for item in j.tasks.keys() {
            let found = last.get(item).copied().unwrap_or_default();
            match j.operation {
                Operation::Reprotect => {
                    let synced = (found.synced).and_then(|h| h.ended_ms).unwrap_or(end);
                    let bytes = step_of
                        .get(&j.id)
                        .and_then(|&i| runner.steps[i].reprotect_bytes.get(item).copied());
                    out.reprotect.insert(
                        item.clone(),
                        Reprotect {
                            job: j.id.0,
                            mode: modes.get(&(j.id, item.clone())).map(kebab),
                            bytes,
                            duration_ms: synced.saturating_sub(j.started_ms),
                        },
                    );
                }
                Operation::Failback => {
                    if let (Some(from), Some(to)) = (
                        found.shutdown_azure,
                        found.powered_on.and_then(|h| h.ended_ms),
                    ) {
                        out.downtime.insert(
                            item.clone(),
                            Downtime {
                                from_ms: from.started_ms,
                                to_ms: to.max(from.started_ms),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The last records of a machine's steps in a job that its summary reads.
#[derive(Clone, Copy, Default)]
struct LastSteps<'a> {
    /// Its last succeeded wait for the sync (a reprotect's).
    synced: Option<&'a StepRecord>,
    /// Its last Azure shutdown (a failback's).
    shutdown_azure: Option<&'a StepRecord>,
    /// Its last succeeded power-on on-premises (a failback's).
    powered_on: Option<&'a StepRecord>,
}

/// Each machine's [`LastSteps`] in a job, in one pass over its history (a search of the history per
/// machine was quadratic: 0.3 s of the 10k bench's report, issue 6).
fn last_steps(j: &Job) -> BTreeMap<&ItemId, LastSteps<'_>> {
    let mut last: BTreeMap<&ItemId, LastSteps<'_>> = BTreeMap::new();
    let ok = |h: &StepRecord| h.ok == Some(true);
    for h in &j.history {
        let synced = h.name == Step::WaitSync.name() && ok(h);
        let shutdown = h.name == Step::ShutdownAzure.name();
        let powered_on = h.name == Step::PowerOnOnPrem.name() && ok(h);
        if !(synced || shutdown || powered_on) {
            continue;
        }
        let l = last.entry(&h.item).or_default();
        if synced {
            l.synced = Some(h);
        } else if shutdown {
            l.shutdown_azure = Some(h);
        } else {
            l.powered_on = Some(h);
        }
    }
    last
}

/// The recovery mode each reprotect job started each machine's replication with (RJ-03 / RJ-04), from
/// the engine's `StartReplication` actions toward on-prem.
fn reprotect_modes(trace: &crate::trace_log::Trace) -> BTreeMap<(JobId, ItemId), RecoveryMode> {
    let mut modes = BTreeMap::new();
    for e in trace {
        if let TraceEvent::Out {
            output: Output::Action(a),
            ..
        } = e
            && let ActionRequest {
                job: Some(job),
                kind:
                    ActionKind::StartReplication {
                        item,
                        direction: Direction::ToOnPrem,
                        mode,
                        ..
                    },
                ..
            } = &**a
        {
            modes.insert((*job, item.clone()), *mode);
        }
    }
    modes
}
