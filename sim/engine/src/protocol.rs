//! The engine's protocol with its driver (ARCHITECTURE.md "The engine: sans-IO"): what goes in
//! ([`Input`] = user [`Command`] | infrastructure [`Observation`]) and what comes out ([`Output`] = an
//! [`ActionRequest`] for the infrastructure, a [`JobEvent`], an [`Alert`], a timer request, a refusal or an
//! item state change). Everything is serde-serialisable so a trace can record it and a replay can feed it.

use crate::Millis;
use crate::error_code::ErrorCode;
use crate::ids::*;
use crate::inventory::{Health, InventoryDelta};
use crate::lifecycle::{ItemState, Operation};
use crate::recovery_point::{PointChoice, RecoveryPoint};
use crate::rules::RuleId;
use serde::{Deserialize, Serialize};

/// Everything the engine can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "kebab-case")]
pub enum Input {
    /// A user operation.
    Command(Command),
    /// A fact from the infrastructure.
    Observation(Observation),
}

/// What an operation applies to: one item, or a recovery plan (ordered groups; FB-08, RP-09).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// One protected item.
    Item(ItemId),
    /// A recovery plan.
    Plan(PlanId),
}

/// Where reprotect recovers to (RJ-03 / RJ-04).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LocationChoice {
    /// Original location when the on-prem VM and its disks exist, otherwise alternate (RJ-03, RJ-04).
    #[default]
    Auto,
    /// Alternate location even if the original exists (RJ-04).
    Alternate,
}

/// Recovery mode a reprotect resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryMode {
    /// Original location recovery: the on-prem VM's disks are reused, only differences are sent (RJ-03).
    Original,
    /// Alternate location recovery: a new VM on the MT's host, full copy (RJ-04).
    Alternate,
}

/// Per-machine reprotect inputs (RJ-01).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReprotectMachine {
    /// The item.
    pub item: ItemId,
    /// Master target on-premises.
    pub master_target: MasterTargetName,
    /// Process server in Azure.
    pub process_server: ProcessServerName,
    /// Target datastore.
    pub datastore: DatastoreName,
    /// Retention drive on the master target.
    pub retention_drive: RetentionDriveName,
    /// Original or alternate location.
    #[serde(default)]
    pub location: LocationChoice,
}

/// A step of a recovery plan group besides its machines. VMware failback plans allow manual actions only
/// (FB-08); scripts are refused at failback.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    /// A manual action: the job records it and goes on (the operator's confirmation is implied).
    Manual(String),
    /// A script (not allowed in failback plans, FB-08).
    Script(String),
}

/// One ordered group of a recovery plan: its machines fail over / back in parallel (FB-08).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanGroup {
    /// The group's items.
    pub items: Vec<ItemId>,
    /// Actions after the group's machines.
    #[serde(default)]
    pub actions: Vec<PlanAction>,
}

/// A recovery plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Its name.
    pub id: PlanId,
    /// Groups, executed in order.
    pub groups: Vec<PlanGroup>,
}

/// A user operation (DOMAIN.md §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// Fail over to Azure (so whole cycles can be scripted).
    Failover {
        /// Item or plan.
        target: Target,
        /// Which recovery point.
        point: PointChoice,
    },
    /// Commit a failover: the other recovery points are deleted; the item is InAzure.
    CommitFailover {
        /// Item or plan.
        target: Target,
    },
    /// Reprotect Azure → on-premises (RP-*, RJ-*).
    Reprotect {
        /// Item or plan (a replication group only through a plan, RP-09).
        target: Target,
        /// Values for every machine (RJ-01).
        machines: Vec<ReprotectMachine>,
    },
    /// Fail back to on-premises (FB-*).
    Failback {
        /// Item or plan.
        target: Target,
        /// Recovery point choice (FB-03).
        point: PointChoice,
    },
    /// Switch the recovery point of a failed-over or failed-back item before commit (DOMAIN.md §2).
    ChangeRecoveryPoint {
        /// Item or plan.
        target: Target,
        /// The new point.
        point: PointChoice,
    },
    /// Commit a failback: the Azure VM is deleted (FB-06); the item is OnPrem.
    CommitFailback {
        /// Item or plan.
        target: Target,
    },
    /// Re-protect to Azure after failback commit (RA-*).
    ReprotectToAzure {
        /// Item or plan.
        target: Target,
    },
    /// Disable protection (failback impossible from then on, NS-07).
    DisableProtection {
        /// The item.
        item: ItemId,
    },
    /// Cancel a running job (a failback rolls back, FB-07).
    Cancel {
        /// The job.
        job: JobId,
    },
    /// Create or replace a recovery plan.
    SetPlan {
        /// The plan.
        plan: PlanSpec,
    },
    /// Delete a recovery plan.
    DeletePlan {
        /// The plan.
        plan: PlanId,
    },
    /// Put an item into a replication group or take it out (refused once replicating, RG-04).
    SetReplicationGroup {
        /// The item.
        item: ItemId,
        /// The group, or none.
        group: Option<GroupId>,
    },
    /// Ask the CS to run discovery now.
    RefreshDiscovery,
}

impl Command {
    /// The lifecycle operation this command is, if it is one.
    pub fn operation(&self) -> Option<Operation> {
        Some(match self {
            Command::Failover { .. } => Operation::Failover,
            Command::CommitFailover { .. } => Operation::CommitFailover,
            Command::Reprotect { .. } => Operation::Reprotect,
            Command::Failback { .. } => Operation::Failback,
            Command::ChangeRecoveryPoint { .. } => Operation::ChangeRecoveryPoint,
            Command::CommitFailback { .. } => Operation::CommitFailback,
            Command::ReprotectToAzure { .. } => Operation::ReprotectToAzure,
            Command::DisableProtection { .. } => Operation::DisableProtection,
            _ => return None,
        })
    }
}

/// Replication direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// On-premises → Azure (forward protection).
    ToAzure,
    /// Azure → on-premises (after reprotect; RJ-01).
    ToOnPrem,
}

/// A replication status report for an item, as the PS/CS report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationReport {
    /// Direction of the replication.
    pub direction: Direction,
    /// Initial replication / resync finished.
    pub initial_sync_done: bool,
    /// Bytes of the initial replication / resync sent so far.
    pub sync_bytes_sent: u64,
    /// Bytes the initial replication / resync has to send (known once it has been sized; RJ-05).
    pub sync_bytes_total: u64,
    /// Health (DOMAIN.md §5).
    pub health: Health,
}

/// A fact from the infrastructure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "obs", rename_all = "kebab-case")]
pub enum Observation {
    /// Discovery: what changed in the CS's and vCenter's view.
    Inventory(InventoryDelta),
    /// The result of an action the engine asked for.
    ActionResult {
        /// The action.
        id: ActionId,
        /// Success, or an error.
        outcome: ActionOutcome,
    },
    /// Replication progress and health of an item.
    Replication {
        /// The item.
        item: ItemId,
        /// The report.
        report: ReplicationReport,
    },
    /// New usable recovery points of an item (its data has reached the target).
    RecoveryPoints {
        /// The item.
        item: ItemId,
        /// Points, oldest first.
        points: Vec<RecoveryPoint>,
    },
    /// An item's data reaches the target as it is written: every tag of `cadence` is a usable point
    /// the moment it is tagged, until the next `PointCadence` of the item; `None` ends it (its tags up
    /// to now were usable; later points come as [`Observation::RecoveryPoints`]). Issue 6: a caught-up
    /// fleet is not reported point by point.
    PointCadence {
        /// The item.
        item: ItemId,
        /// The cadence, or None when it ends.
        cadence: Option<crate::recovery_point::PointCadence>,
    },
    /// An item's sync (initial replication or resync) shows progress at every report of `cadence`
    /// after its start, without being reported, until the next `SyncCadence` of the item; `None` ends
    /// it (its progress up to now was reported; later reports come as [`Observation::Replication`]).
    /// Issue 6: a syncing fleet is not reported machine by machine every interval.
    SyncCadence {
        /// The item.
        item: ItemId,
        /// The cadence, or None when it ends.
        cadence: Option<SyncCadence>,
    },
}

/// The reports a sync cadence stands for ([`Observation::SyncCadence`]): one every `every_ms` after
/// `from_ms` (itself a report instant), each showing more bytes sent than the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCadence {
    /// The report instant at which it was announced.
    pub from_ms: Millis,
    /// Time between reports.
    pub every_ms: Millis,
}

impl SyncCadence {
    /// The last report instant in `(from, t]`, if any: the last progress the cadence stands for by `t`.
    pub fn last_report_by(&self, t: Millis) -> Option<Millis> {
        let every = self.every_ms.max(1);
        let n = t.checked_sub(self.from_ms)? / every;
        (n > 0).then(|| self.from_ms + n * every)
    }
}

/// An action's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ActionOutcome {
    /// Done.
    Ok {
        /// A recovery point the action made (final sync before failback, FB-03 "latest").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        point: Option<RecoveryPoint>,
    },
    /// Failed.
    Failed(ActionError),
}

/// Why an action failed, as the infrastructure reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionError {
    /// The rule the failure belongs to, if any (e.g. 8061 → RP-12).
    pub rule: Option<RuleId>,
    /// The error code.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
    /// Whether retrying the same action may succeed (a transient error ASR retries).
    #[serde(default)]
    pub transient: bool,
}

/// What the engine asks the infrastructure to do. Every one is answered by an
/// [`Observation::ActionResult`] with the same id, or times out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ActionKind {
    /// Power the on-prem VM off (RJ-02 at reprotect; FB-07 rollback).
    #[serde(rename = "power-off-onprem-vm")]
    PowerOffOnPremVm {
        /// The VM.
        vm: VmName,
    },
    /// Power the on-prem VM on (failback, only once the Azure VM is confirmed off: FB-02).
    #[serde(rename = "power-on-onprem-vm")]
    PowerOnOnPremVm {
        /// The VM.
        vm: VmName,
    },
    /// Consolidate the on-prem VM's snapshots (RP-06).
    ConsolidateSnapshots {
        /// The VM.
        vm: VmName,
    },
    /// Shut the Azure VM down (FB-02).
    ShutdownAzureVm {
        /// The VM.
        vm: VmName,
    },
    /// Start the Azure VM (FB-07 rollback, failover recovery point change).
    StartAzureVm {
        /// The VM.
        vm: VmName,
    },
    /// Delete the Azure VM (FB-06 failback commit; RA-02).
    DeleteAzureVm {
        /// The VM.
        vm: VmName,
    },
    /// Create and start the Azure VM from a recovery point (failover).
    FailoverToAzure {
        /// The item.
        item: ItemId,
        /// Tag time of the point (None: latest processed).
        point_tag_ms: Option<Millis>,
    },
    /// Prepare the replication target on the master target: attach the original disks (OLR) or create
    /// the VM and its disks (ALR) on the datastore (RJ-03, RJ-04, CL-03).
    PrepareTarget {
        /// The item.
        item: ItemId,
        /// The master target.
        master_target: MasterTargetName,
        /// The datastore.
        datastore: DatastoreName,
        /// Original or alternate location.
        mode: RecoveryMode,
        /// The VM folder on the datastore (another one if old VMDKs are in the way, CL-03).
        folder: String,
        /// The Azure disks to replicate (temporary disk and disks added after failover left out: RP-19, RJ-09).
        disks: Vec<String>,
    },
    /// Start replication of an item (RJ-08 path Azure agent → PS → MT; or forward to Azure).
    StartReplication {
        /// The item.
        item: ItemId,
        /// Direction.
        direction: Direction,
        /// Process server (Azure → on-prem only).
        process_server: Option<ProcessServerName>,
        /// Master target (Azure → on-prem only).
        master_target: Option<MasterTargetName>,
        /// Retention drive (Azure → on-prem only).
        retention_drive: Option<RetentionDriveName>,
        /// Original (differential resync) or alternate (full copy).
        mode: RecoveryMode,
        /// Disks to replicate.
        disks: Vec<String>,
    },
    /// Stop replication of an item (cancelled reprotect; commit; disable).
    StopReplication {
        /// The item.
        item: ItemId,
    },
    /// Copy the pending changes after the Azure VM is off and make a new point with this tag
    /// (FB-03 "latest": no data loss).
    FinalSync {
        /// The item.
        item: ItemId,
        /// Tag time of the new point (common to a replication group, RG-03).
        tag_ms: Millis,
    },
    /// Apply a recovery point and move the disks from the MT to the on-prem VM (FB-04), sized from the Azure
    /// VM (CL-06).
    #[serde(rename = "recover-onprem")]
    RecoverOnPrem {
        /// The item.
        item: ItemId,
        /// The on-prem VM.
        vm: VmName,
        /// Tag time of the point.
        point_tag_ms: Millis,
        /// vCPUs (CL-06).
        cpus: u32,
        /// Memory in MiB (CL-06).
        memory_mib: u64,
        /// IPs per NIC (CL-06).
        nic_ips: Vec<String>,
    },
    /// Undo a failback: disks back to the MT at their pre-failback state, replication resumes (FB-07).
    RevertFailback {
        /// The item.
        item: ItemId,
    },
    /// Commit: delete the recovery points other than the one in use.
    CommitRecovery {
        /// The item.
        item: ItemId,
        /// Direction that was recovered to.
        direction: Direction,
    },
    /// Disable replication and delete the protection (NS-07 afterwards).
    DisableReplication {
        /// The item.
        item: ItemId,
    },
    /// Run discovery now.
    RefreshDiscovery,
}

impl ActionKind {
    /// A short name for timelines: the same as its serde tag.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::PowerOffOnPremVm { .. } => "power-off-onprem-vm",
            ActionKind::PowerOnOnPremVm { .. } => "power-on-onprem-vm",
            ActionKind::ConsolidateSnapshots { .. } => "consolidate-snapshots",
            ActionKind::ShutdownAzureVm { .. } => "shutdown-azure-vm",
            ActionKind::StartAzureVm { .. } => "start-azure-vm",
            ActionKind::DeleteAzureVm { .. } => "delete-azure-vm",
            ActionKind::FailoverToAzure { .. } => "failover-to-azure",
            ActionKind::PrepareTarget { .. } => "prepare-target",
            ActionKind::StartReplication { .. } => "start-replication",
            ActionKind::StopReplication { .. } => "stop-replication",
            ActionKind::FinalSync { .. } => "final-sync",
            ActionKind::RecoverOnPrem { .. } => "recover-onprem",
            ActionKind::RevertFailback { .. } => "revert-failback",
            ActionKind::CommitRecovery { .. } => "commit-recovery",
            ActionKind::DisableReplication { .. } => "disable-replication",
            ActionKind::RefreshDiscovery => "refresh-discovery",
        }
    }
}

/// An action the engine asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// Its id; the result carries it.
    pub id: ActionId,
    /// The job it belongs to.
    pub job: Option<JobId>,
    /// The item it is for.
    pub item: Option<ItemId>,
    /// Attempt number, from 1 (bounded retries).
    pub attempt: u32,
    /// When the engine gives up waiting for the result.
    pub deadline_ms: Millis,
    /// What to do (nested, not flattened: its fields, such as `item`, would collide with the request's).
    pub kind: ActionKind,
}

/// Why a job failed or a command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The rule, when the failure belongs to one.
    pub rule: Option<RuleId>,
    /// Error code (ASR's where it has one).
    pub code: ErrorCode,
    /// What happened, naming the thing that failed.
    pub message: String,
    /// What the operator should do.
    pub fix: String,
}

impl Failure {
    /// A failure of a rule, with the rule's code and fix.
    pub fn rule(rule: RuleId, message: impl Into<String>) -> Self {
        Failure {
            rule: Some(rule),
            code: rule.code(),
            message: message.into(),
            fix: rule.def().fix.to_owned(),
        }
    }

    /// A failure that belongs to no rule.
    pub fn other(code: ErrorCode, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Failure {
            rule: None,
            code,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum JobOutcome {
    /// Every machine succeeded.
    Succeeded,
    /// A machine failed (the first failure is reported).
    Failed(Failure),
    /// Cancelled by the user.
    Cancelled,
}

/// A readiness check result (data; see [`crate::readiness`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Passed.
    Pass,
    /// Passed with a warning (RP-20, RJ-06).
    Warn {
        /// What to watch.
        message: String,
    },
    /// Failed. Boxed, like the other payloads few outputs carry: a readiness check is most of what
    /// a job says (≈ 8,000 outputs when a 1,000-machine job starts), and each was as large as the
    /// largest output (issue 6).
    Fail(Box<Failure>),
}

/// Progress of a job, for timelines and traces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum JobEvent {
    /// A job was created.
    Created {
        /// The job.
        job: JobId,
        /// What it does.
        operation: Operation,
        /// Its plan, if any.
        plan: Option<PlanId>,
        /// Its items, in execution order.
        items: Vec<ItemId>,
    },
    /// A step started for an item.
    StepStarted {
        /// The job.
        job: JobId,
        /// The item.
        item: ItemId,
        /// The step's name.
        step: crate::job::StepName,
    },
    /// A step ended.
    StepEnded {
        /// The job.
        job: JobId,
        /// The item.
        item: ItemId,
        /// The step's name.
        step: crate::job::StepName,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A readiness check ran.
    Check {
        /// The job.
        job: JobId,
        /// The item.
        item: ItemId,
        /// The rule.
        rule: RuleId,
        /// Its result.
        verdict: Verdict,
    },
    /// A job ended.
    Ended {
        /// The job.
        job: JobId,
        /// How.
        outcome: JobOutcome,
    },
}

/// Alert severity.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational (an alert cleared).
    Info,
    /// Warning.
    Warning,
    /// Critical.
    Critical,
}

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alert", rename_all = "kebab-case")]
pub enum AlertKind {
    /// RPO crossed the policy threshold (alerts only; replication is unchanged, DOMAIN.md §4).
    RpoThresholdExceeded {
        /// The RPO when noticed.
        rpo_ms: Millis,
        /// The threshold.
        threshold_ms: Millis,
    },
    /// RPO back under the threshold.
    RpoRecovered {
        /// The RPO now.
        rpo_ms: Millis,
    },
    /// The copy that should be off is running (split-brain risk; INV-SPLIT, RJ-02): e.g. the on-prem VM
    /// powered on by hand while the Azure VM is the active copy. Failback is refused until it is off again.
    SplitBrainRisk {
        /// The copy that runs although it should not.
        running: Copy,
    },
    /// The second copy is off again.
    SplitBrainResolved {
        /// The copy that is off again.
        running: Copy,
    },
    /// Replication health changed.
    ReplicationHealth {
        /// New health.
        health: Health,
    },
    /// A failback rollback could not be completed (the on-prem VM could not be powered off).
    RollbackIncomplete,
}

/// One of the two copies of a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Copy {
    /// The on-premises VM.
    OnPrem,
    /// The Azure VM.
    Azure,
}

/// An alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Severity.
    pub severity: Severity,
    /// The item.
    pub item: ItemId,
    /// The rule it relates to.
    pub rule: Option<RuleId>,
    /// What.
    #[serde(flatten)]
    pub kind: AlertKind,
}

/// A command the engine refused (INV-STATE: operations refused in other states; unknown references).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The command's operation name.
    pub command: String,
    /// Why.
    pub failure: Failure,
}

/// Everything the engine emits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "kebab-case")]
pub enum Output {
    /// Please do this and report the result. Boxed: a request is twice the size of any other output,
    /// and a fleet run's trace keeps 1.7 million outputs (issue 6).
    Action(Box<ActionRequest>),
    /// Job progress.
    Job(JobEvent),
    /// An alert.
    Alert(Alert),
    /// Call [`crate::Engine::handle_timeout`] at (or after) this time.
    Timer {
        /// When.
        at: Millis,
    },
    /// A command was refused.
    /// Boxed: few outputs are refusals, and every output was as large (issue 6).
    Refused(Box<Refusal>),
    /// An item changed lifecycle state.
    ItemState {
        /// The item.
        item: ItemId,
        /// Before.
        from: ItemState,
        /// After.
        to: ItemState,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{item_id, machine};

    #[test]
    fn inputs_and_outputs_round_trip_through_json() {
        let inputs = vec![
            Input::Command(Command::Reprotect {
                target: Target::Item(item_id(0)),
                machines: vec![machine(0)],
            }),
            Input::Command(Command::Failback {
                target: Target::Plan("p".into()),
                point: PointChoice::At { tag_ms: 5 },
            }),
            Input::Observation(Observation::ActionResult {
                id: ActionId(3),
                outcome: ActionOutcome::Failed(ActionError {
                    rule: Some(RuleId::Rp12),
                    code: ErrorCode(8061),
                    message: "x".into(),
                    transient: false,
                }),
            }),
        ];
        for i in inputs {
            let json = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<Input>(&json).unwrap(), i, "{json}");
        }
        let outputs = vec![
            Output::Action(Box::new(ActionRequest {
                id: ActionId(1),
                job: Some(JobId(2)),
                item: Some(item_id(0)),
                attempt: 1,
                deadline_ms: 9,
                kind: ActionKind::FinalSync {
                    item: item_id(0),
                    tag_ms: 7,
                },
            })),
            Output::Alert(Alert {
                severity: Severity::Critical,
                item: item_id(0),
                rule: Some(RuleId::Rj02),
                kind: AlertKind::SplitBrainRisk {
                    running: Copy::OnPrem,
                },
            }),
            Output::Job(JobEvent::Ended {
                job: JobId(2),
                outcome: JobOutcome::Failed(Failure::rule(RuleId::Fb05, "m")),
            }),
            Output::Timer { at: 4 },
        ];
        for o in outputs {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Output>(&json).unwrap(), o, "{json}");
        }
    }
}
