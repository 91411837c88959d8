//! Jobs: what the engine runs for a command. A job has stages (a recovery plan's groups, in order; FB-08),
//! one task per machine (the machines of a stage run in parallel), named steps with timestamps, and an end:
//! Succeeded, Failed { rule, code, message } or Cancelled.

use crate::Millis;
use crate::ids::*;
use crate::indexed::IndexedMap;
use crate::lifecycle::{ItemState, Operation};
use crate::protocol::{Failure, JobOutcome, PlanAction, RecoveryMode, ReprotectMachine};
use crate::recovery_point::PointChoice;
use crate::rules::Phase;
use serde::{Deserialize, Serialize};

/// One step of a machine's task. The step lists of every operation live in `engine::steps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Re-run the readiness checks of a phase, because the world may have changed since the job started.
    Check(Phase),
    /// Power the on-prem VM off (RJ-02), when it exists.
    PowerOffOnPrem,
    /// Wait for the machine's recovery-plan group to come up (FB-08). A plan's reprotect powers every
    /// member's on-prem VM off at the start (RJ-02) and only then holds the later groups back; a machine
    /// of the running group passes at once, and then the step is not recorded.
    AwaitTurn,
    /// Consolidate the on-prem VM's snapshots, when it has any (RP-06).
    ConsolidateSnapshots,
    /// Prepare the target on the MT (RJ-03 / RJ-04, CL-03).
    PrepareTarget,
    /// Start replication.
    StartReplication,
    /// Wait for the initial replication / resync to finish (bounded by the stall timeout).
    WaitSync,
    /// Shut the Azure VM down (FB-02).
    ShutdownAzure,
    /// Copy pending changes and make a new point (FB-03 "latest"); group-synchronised (RG-03).
    FinalSync,
    /// Resolve the recovery point (FB-03), for the whole replication group at once (RG-03).
    ResolvePoint,
    /// Apply the point and move the disks to the on-prem VM (FB-04, CL-06).
    RecoverOnPrem,
    /// Power the on-prem VM on, only with the Azure VM confirmed off (FB-02); group-synchronised.
    PowerOnOnPrem,
    /// Create the Azure VM from a point (failover).
    FailoverToAzure,
    /// Start the Azure VM.
    StartAzure,
    /// Delete the Azure VM (FB-06, RA-02).
    DeleteAzure,
    /// Delete the other recovery points (commit).
    CommitRecovery,
    /// Stop replication.
    StopReplication,
    /// Disable replication and delete the old protection (RA-02, disable).
    DisableReplication,
    /// Wait for the on-prem VM's agent to register (RA-03).
    WaitAgent,
    /// Revert the disks to the MT (FB-07 rollback).
    RevertFailback,
}

impl Step {
    /// The step's name, as the portal would show it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Check(
                Phase::ReprotectStart | Phase::FailbackStart | Phase::ReprotectToAzureStart,
            ) => "Prerequisites check",
            Step::Check(Phase::ReprotectTarget) => "Check the target before preparing it",
            Step::Check(Phase::FailbackRecover) => "Check before recovering the disks",
            Step::Check(Phase::FailbackPowerOn) => "Check before powering on",
            Step::PowerOffOnPrem => "Power off the on-premises VM",
            Step::AwaitTurn => "Wait for its group of the recovery plan",
            Step::ConsolidateSnapshots => "Consolidate snapshots of the on-premises VM",
            Step::PrepareTarget => "Prepare the target on the master target",
            Step::StartReplication => "Enable replication",
            Step::WaitSync => "Synchronise data",
            Step::ShutdownAzure => "Shut down the Azure VM",
            Step::FinalSync => "Synchronise pending changes",
            Step::ResolvePoint => "Choose the recovery point",
            Step::RecoverOnPrem => "Recover the disks to the on-premises VM",
            Step::PowerOnOnPrem => "Start the on-premises VM",
            Step::FailoverToAzure => "Fail over to Azure",
            Step::StartAzure => "Start the Azure VM",
            Step::DeleteAzure => "Delete the Azure VM",
            Step::CommitRecovery => "Commit",
            Step::StopReplication => "Stop replication",
            Step::DisableReplication => "Disable the old protection",
            Step::WaitAgent => "Wait for the agent to register",
            Step::RevertFailback => "Revert the disks to the master target",
        }
    }

    /// Steps every member of a replication group reaches together before any goes on (RG-03: one common
    /// point, all members or none).
    pub fn group_synchronised(self) -> bool {
        matches!(
            self,
            Step::FinalSync | Step::ResolvePoint | Step::PowerOnOnPrem
        )
    }
}

/// What a task waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// Nothing: the step is about to run.
    Idle,
    /// An action's result.
    Action(ActionId),
    /// The initial sync.
    Sync {
        /// Bytes seen at the last progress.
        last_bytes: u64,
        /// The stall timer's key.
        timer: (Millis, u64),
    },
    /// The agent (RA-03).
    Agent {
        /// The wait limit's timer key.
        timer: (Millis, u64),
    },
    /// The rest of its replication group.
    Group,
    /// Its recovery-plan group's turn (`Step::AwaitTurn`).
    Turn,
}

/// How a machine's task stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Its stage has not started.
    Pending,
    /// Running its steps.
    Running,
    /// Undoing what it did (FB-07 and cancellation).
    RollingBack(Failure),
    /// Done.
    Succeeded,
    /// Failed (after any rollback).
    Failed(Failure),
}

/// One machine's part of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The item.
    pub item: ItemId,
    /// The item's state when the job started.
    pub start_state: ItemState,
    /// Steps to run (or, rolling back, the rollback steps).
    pub steps: Vec<Step>,
    /// The current step.
    pub pc: usize,
    /// The stage of the job its item is in (FB-08): found here, not by searching the stages (a search
    /// per machine grew with the square of a plan's size; issue 6). Required when read back: a default
    /// of 0 would let every later group skip its turn.
    pub stage: usize,
    /// What it waits for.
    pub wait: Wait,
    /// Status.
    pub status: TaskStatus,
    /// When the current step started.
    pub step_started_ms: Millis,
    /// Reprotect inputs. (Boxed, like `abort`: read when a step starts, not by the observations and
    /// step ends that find a task most often; inline they spread a task over seven cache lines, at
    /// 10,000 tasks a miss each, issue 6.)
    pub machine: Option<Box<ReprotectMachine>>,
    /// Recovery mode (reprotect).
    pub mode: Option<RecoveryMode>,
    /// Disks to replicate.
    pub disks: Vec<String>,
    /// The Azure VM has been confirmed off by a successful shutdown (FB-02).
    pub azure_confirmed_off: bool,
    /// A shutdown of the Azure VM was asked for (rollback must start it again).
    pub azure_shutdown_sent: bool,
    /// A power-on of the on-prem VM was asked for (rollback must power it off first).
    pub onprem_power_on_sent: bool,
    /// This job powered the on-prem VM off (a failed failover or change of point powers it on again).
    pub onprem_power_off_sent: bool,
    /// This job prepared the target on the MT (a failed reprotect releases it, RP-14).
    pub target_prepared: bool,
    /// Disks were moved to the on-prem VM (rollback reverts them).
    pub recover_sent: bool,
    /// Replication was started by this job (rollback stops it).
    pub replication_started: bool,
    /// The recovery point chosen (FB-03).
    pub chosen_point_ms: Option<Millis>,
    /// The group barrier of the current step has been passed (RG-03).
    pub barrier_passed: bool,
    /// Stop and undo at the next step boundary (cancel, or a group member failed: RG-03). An action in
    /// flight is awaited first, so its effect is known before anything is undone.
    pub abort: Option<Box<Failure>>,
    /// The rollback could not power the on-prem VM off, so the Azure VM was not started again.
    pub rollback_incomplete: bool,
    /// A step of the undo failed (what it should have undone may still be in place).
    pub undo_failed: bool,
    /// Where this item's steps that have started and not ended are in the job's history, oldest first:
    /// a step's end finds its record here instead of searching the history (at 10,000 machines, 5 % of a
    /// fleet run, issue 6). Not serialised: the engine never resumes a job read back from JSON.
    #[serde(skip)]
    pub open_records: Vec<usize>,
}

impl Task {
    /// The current step, if any remain.
    pub fn step(&self) -> Option<Step> {
        self.steps.get(self.pc).copied()
    }

    /// Whether the task has ended.
    pub fn ended(&self) -> bool {
        matches!(self.status, TaskStatus::Succeeded | TaskStatus::Failed(_))
    }
}

/// A step's name as the portal shows it: the fixed names of [`Step::name`] borrowed, only a plan's
/// manual actions owned (a fleet's jobs record tens of thousands of steps, each named twice: in the job's
/// history and in its output event; issue 6).
pub type StepName = std::borrow::Cow<'static, str>;

/// A step as it happened, for job histories (jobs.csv, timelines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The item.
    pub item: ItemId,
    /// The step's name.
    pub name: StepName,
    /// Start.
    pub started_ms: Millis,
    /// End.
    pub ended_ms: Option<Millis>,
    /// Success.
    pub ok: Option<bool>,
}

impl StepRecord {
    /// Whether the step failed, as a cause of the job's end ([`step_failed`]).
    pub fn failed(&self) -> bool {
        step_failed(&self.name, self.ok)
    }
}

/// Whether a step named `name` that ended `ok` failed, as a cause of its job's end: a later group's wait
/// for its turn ([`Step::AwaitTurn`]) ends unsuccessfully only because something else failed or the job
/// was cancelled, so it never counts.
pub fn step_failed(name: &str, ok: Option<bool>) -> bool {
    ok == Some(false) && name != Step::AwaitTurn.name()
}

/// A job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The operation.
    pub operation: Operation,
    /// The plan it runs, if any.
    pub plan: Option<PlanId>,
    /// Stages in order; the items of one stage run in parallel (FB-08).
    pub stages: Vec<Vec<ItemId>>,
    /// Manual actions after each stage (FB-08).
    pub stage_actions: Vec<Vec<PlanAction>>,
    /// The running stage.
    pub stage: usize,
    /// How far the running stage's items are known to have ended: `(stage, n)` says the first `n`
    /// items of stage `stage` have (a task that ended stays ended). Each task's end looks on from there
    /// instead of over the whole stage again (quadratic in a plan's size; issue 6). Not serialised (read
    /// back it restarts at the stage's first item, which is only slower); the engine's alone to move.
    #[serde(skip)]
    pub(crate) stage_ended_upto: (usize, usize),
    /// One task per item.
    pub tasks: IndexedMap<ItemId, Task>,
    /// The recovery point choice (failover, failback, change point).
    pub point: Option<PointChoice>,
    /// Start.
    pub started_ms: Millis,
    /// End.
    pub ended_ms: Option<Millis>,
    /// Outcome, once ended.
    pub outcome: Option<JobOutcome>,
    /// Cancelled by the user.
    pub cancelled: bool,
    /// The first failure, in time order.
    pub failure: Option<Failure>,
    /// Step history.
    pub history: Vec<StepRecord>,
}

impl Job {
    /// Whether the job has ended.
    pub fn ended(&self) -> bool {
        self.outcome.is_some()
    }

    /// Progress in percent: the share of its machines' steps done (100 once the job has ended), as the
    /// portal's job view shows it.
    pub fn progress_pct(&self) -> u8 {
        if self.ended() {
            return 100;
        }
        let (done, total) = self.tasks.values().fold((0usize, 0usize), |(d, t), task| {
            let n = task.steps.len().max(1);
            let k = if task.ended() { n } else { task.pc.min(n) };
            (d + k, t + n)
        });
        (done * 100 / total.max(1)).min(99) as u8
    }

    /// Every item of the job, in stage order.
    pub fn items(&self) -> impl Iterator<Item = &ItemId> {
        self.stages.iter().flatten()
    }
}
