//! The steps of each operation, and of undoing a failed one. The step names follow the ASR portal's job
//! view; the order encodes the safety rules: the on-prem VM is powered off before anything else at
//! reprotect, in every group of a plan at once (RJ-02), the Azure VM is shut down before the on-prem VM can start (FB-02), a replication
//! group reaches the recovery point and the power-on together (RG-03).

use crate::job::{Step, Task};
use crate::lifecycle::{ItemState, Operation};
use crate::rules::Phase;

/// The steps of `op` for an item in `state` (the job's prerequisites check runs before them).
pub fn steps_for(op: Operation, state: ItemState) -> Vec<Step> {
    use Step::*;
    match op {
        Operation::Failover => vec![PowerOffOnPrem, ResolvePoint, FailoverToAzure],
        Operation::CommitFailover => vec![CommitRecovery],
        Operation::Reprotect => vec![
            PowerOffOnPrem,
            AwaitTurn,
            ConsolidateSnapshots,
            Check(Phase::ReprotectTarget),
            PrepareTarget,
            StartReplication,
            WaitSync,
        ],
        Operation::Failback => vec![
            ShutdownAzure,
            FinalSync,
            ResolvePoint,
            Check(Phase::FailbackRecover),
            RecoverOnPrem,
            Check(Phase::FailbackPowerOn),
            PowerOnOnPrem,
        ],
        Operation::ChangeRecoveryPoint => match state {
            ItemState::FailedBack => vec![
                ShutdownAzure,
                PowerOffOnPrem,
                ResolvePoint,
                Check(Phase::FailbackRecover),
                RecoverOnPrem,
                Check(Phase::FailbackPowerOn),
                PowerOnOnPrem,
            ],
            _ => vec![PowerOffOnPrem, ShutdownAzure, ResolvePoint, FailoverToAzure],
        },
        Operation::CommitFailback => vec![DeleteAzure, CommitRecovery],
        Operation::ReprotectToAzure => vec![
            WaitAgent,
            DisableReplication,
            DeleteAzure,
            StartReplication,
            WaitSync,
        ],
        Operation::DisableProtection => vec![StopReplication, DisableReplication],
    }
}

/// What undoing a task needs, given what it did, so that the copy that ran before the job runs again and
/// the two copies never run together:
/// - failback (FB-07): on-prem VM off → disks back to the MT → Azure VM on;
/// - change of recovery point after failback: the on-prem VM on again (the Azure VM was confirmed off
///   first); after failover: the Azure VM on again;
/// - failover: the Azure VM confirmed off (or absent), then the on-prem VM on again;
/// - reprotect / re-protect to Azure: replication stopped and the MT's disks released (RP-14).
pub fn rollback_steps(op: Operation, task: &Task) -> Vec<Step> {
    let mut steps = Vec::new();
    match op {
        Operation::Failback => {
            if task.onprem_power_on_sent {
                steps.push(Step::PowerOffOnPrem);
            }
            if task.recover_sent {
                steps.push(Step::RevertFailback);
            }
            if task.azure_shutdown_sent {
                steps.push(Step::StartAzure);
            }
        }
        Operation::ChangeRecoveryPoint
            if task.start_state == ItemState::FailedBack
                && (task.onprem_power_off_sent || task.onprem_power_on_sent) =>
        {
            steps.push(Step::PowerOnOnPrem);
        }
        Operation::ChangeRecoveryPoint if task.start_state == ItemState::FailedBack => {}
        Operation::ChangeRecoveryPoint => {
            if task.onprem_power_on_sent {
                steps.push(Step::PowerOffOnPrem);
            }
            if task.azure_shutdown_sent {
                steps.push(Step::StartAzure);
            }
        }
        Operation::Failover if task.onprem_power_off_sent => {
            steps.push(Step::ShutdownAzure);
            steps.push(Step::PowerOnOnPrem);
        }
        Operation::Reprotect | Operation::ReprotectToAzure
            if task.replication_started || task.target_prepared =>
        {
            steps.push(Step::StopReplication);
        }
        _ => {}
    }
    steps
}
