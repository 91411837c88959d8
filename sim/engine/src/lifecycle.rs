//! The lifecycle of a protected machine (DOMAIN.md §2) as data: its states, the operations a user asks for,
//! which operation each state allows, and which state transitions exist at all. The engine consults it for
//! every command (INV-STATE: operations refused in other states) and every transition it makes; the
//! harness's INV-STATE checker consults the same table.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Lifecycle state of a protected item (DOMAIN.md §2).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemState {
    /// Replicating on-prem → Azure.
    ProtectedToAzure,
    /// A failover job runs.
    FailingOver,
    /// Failed over, not yet committed (the recovery point may still change).
    FailedOver,
    /// Running in Azure, unprotected.
    InAzure,
    /// A reprotect job runs (the on-prem VM is off throughout: RJ-02, INV-OFF).
    Reprotecting,
    /// Replicating Azure → on-prem.
    ProtectedToOnPrem,
    /// A failback job runs.
    FailingBack,
    /// Failed back, not yet committed.
    FailedBack,
    /// Running on-prem, unprotected.
    OnPrem,
    /// Re-protect to Azure runs (RA-*).
    ReprotectingToAzure,
    /// Protection disabled: failback impossible from then on (NS-07).
    Disabled,
}

impl ItemState {
    /// Every state.
    pub const ALL: &'static [ItemState] = &[
        ItemState::ProtectedToAzure,
        ItemState::FailingOver,
        ItemState::FailedOver,
        ItemState::InAzure,
        ItemState::Reprotecting,
        ItemState::ProtectedToOnPrem,
        ItemState::FailingBack,
        ItemState::FailedBack,
        ItemState::OnPrem,
        ItemState::ReprotectingToAzure,
        ItemState::Disabled,
    ];

    /// Whether a job of this item is in progress in this state (only the job may move it on).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ItemState::FailingOver
                | ItemState::Reprotecting
                | ItemState::FailingBack
                | ItemState::ReprotectingToAzure
        )
    }

    /// Which copy of the machine is the active (writable) one in this state, for INV-SPLIT and INV-OFF.
    pub fn active_copy(self) -> ActiveCopy {
        match self {
            ItemState::ProtectedToAzure | ItemState::OnPrem | ItemState::ReprotectingToAzure => {
                ActiveCopy::OnPrem
            }
            ItemState::FailingOver | ItemState::FailingBack => ActiveCopy::Switching,
            ItemState::FailedOver
            | ItemState::InAzure
            | ItemState::Reprotecting
            | ItemState::ProtectedToOnPrem => ActiveCopy::Azure,
            ItemState::FailedBack => ActiveCopy::OnPrem,
            ItemState::Disabled => ActiveCopy::Either,
        }
    }
}

impl ItemState {
    /// The state's name as it serialises, e.g. `"protected-to-on-prem"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::ProtectedToAzure => "protected-to-azure",
            ItemState::FailingOver => "failing-over",
            ItemState::FailedOver => "failed-over",
            ItemState::InAzure => "in-azure",
            ItemState::Reprotecting => "reprotecting",
            ItemState::ProtectedToOnPrem => "protected-to-on-prem",
            ItemState::FailingBack => "failing-back",
            ItemState::FailedBack => "failed-back",
            ItemState::OnPrem => "on-prem",
            ItemState::ReprotectingToAzure => "reprotecting-to-azure",
            ItemState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for ItemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which copy of a machine is meant to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveCopy {
    /// The on-prem VM; the Azure replica must be off or absent.
    OnPrem,
    /// The Azure VM; the on-prem VM must be off (RJ-02).
    Azure,
    /// A job is switching sides; at most one may be on (INV-SPLIT).
    Switching,
    /// Either (protection disabled); still never both.
    Either,
}

/// A user operation on an item (DOMAIN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Fail over to Azure.
    Failover,
    /// Commit a failover.
    CommitFailover,
    /// Reprotect Azure → on-prem.
    Reprotect,
    /// Fail back.
    Failback,
    /// Switch the recovery point before commit.
    ChangeRecoveryPoint,
    /// Commit a failback.
    CommitFailback,
    /// Re-protect to Azure.
    ReprotectToAzure,
    /// Disable protection.
    DisableProtection,
}

impl Operation {
    /// Every operation.
    pub const ALL: &'static [Operation] = &[
        Operation::Failover,
        Operation::CommitFailover,
        Operation::Reprotect,
        Operation::Failback,
        Operation::ChangeRecoveryPoint,
        Operation::CommitFailback,
        Operation::ReprotectToAzure,
        Operation::DisableProtection,
    ];

    /// Whether the operation may start from `state`.
    pub fn allowed_in(self, state: ItemState) -> bool {
        use ItemState as S;
        match self {
            Operation::Failover => state == S::ProtectedToAzure,
            Operation::CommitFailover => state == S::FailedOver,
            Operation::Reprotect => state == S::InAzure,
            Operation::Failback => state == S::ProtectedToOnPrem,
            Operation::ChangeRecoveryPoint => matches!(state, S::FailedOver | S::FailedBack),
            Operation::CommitFailback => state == S::FailedBack,
            Operation::ReprotectToAzure => state == S::OnPrem,
            Operation::DisableProtection => !state.is_transient() && state != S::Disabled,
        }
    }

    /// The state an item is in while the operation's job runs (None: it keeps its state).
    pub fn running_state(self) -> Option<ItemState> {
        match self {
            Operation::Failover => Some(ItemState::FailingOver),
            Operation::Reprotect => Some(ItemState::Reprotecting),
            Operation::Failback => Some(ItemState::FailingBack),
            Operation::ReprotectToAzure => Some(ItemState::ReprotectingToAzure),
            _ => None,
        }
    }

    /// The state on success, given the state the item was in when the job started.
    pub fn success_state(self, start: ItemState) -> ItemState {
        match self {
            Operation::Failover => ItemState::FailedOver,
            Operation::CommitFailover => ItemState::InAzure,
            Operation::Reprotect => ItemState::ProtectedToOnPrem,
            Operation::Failback => ItemState::FailedBack,
            Operation::ChangeRecoveryPoint => start,
            Operation::CommitFailback => ItemState::OnPrem,
            Operation::ReprotectToAzure => ItemState::ProtectedToAzure,
            Operation::DisableProtection => ItemState::Disabled,
        }
    }

    /// The state on failure or cancellation: where it started (RJ-07: a failed reprotect stays InAzure;
    /// FB-07: a failed failback is rolled back to Protected).
    pub fn failure_state(self, start: ItemState) -> ItemState {
        start
    }
}

impl Operation {
    /// The operation's name as it serialises, e.g. `"reprotect-to-azure"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Failover => "failover",
            Operation::CommitFailover => "commit-failover",
            Operation::Reprotect => "reprotect",
            Operation::Failback => "failback",
            Operation::ChangeRecoveryPoint => "change-recovery-point",
            Operation::CommitFailback => "commit-failback",
            Operation::ReprotectToAzure => "reprotect-to-azure",
            Operation::DisableProtection => "disable-protection",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `from → to` is a transition the lifecycle allows (INV-STATE).
pub fn transition_allowed(from: ItemState, to: ItemState) -> bool {
    Operation::ALL.iter().any(|op| {
        if !op.allowed_in(from) && op.running_state() != Some(from) {
            return false;
        }
        match op.running_state() {
            // from is the start state: start → running.
            Some(running) if op.allowed_in(from) => to == running,
            // from is the running state: running → success / failure, for any start state the op allows.
            Some(running) if running == from => ItemState::ALL
                .iter()
                .filter(|s| op.allowed_in(**s))
                .any(|s| to == op.success_state(*s) || to == op.failure_state(*s)),
            _ => op.allowed_in(from) && to == op.success_state(from) && to != from,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ItemState as S;

    #[test]
    fn names_match_serde() {
        for s in ItemState::ALL {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for o in Operation::ALL {
            assert_eq!(
                serde_json::to_string(o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
        }
    }

    #[test]
    fn the_cycle_of_domain_section_2_is_allowed() {
        let cycle = [
            (S::ProtectedToAzure, S::FailingOver),
            (S::FailingOver, S::FailedOver),
            (S::FailedOver, S::InAzure),
            (S::InAzure, S::Reprotecting),
            (S::Reprotecting, S::ProtectedToOnPrem),
            (S::ProtectedToOnPrem, S::FailingBack),
            (S::FailingBack, S::FailedBack),
            (S::FailedBack, S::OnPrem),
            (S::OnPrem, S::ReprotectingToAzure),
            (S::ReprotectingToAzure, S::ProtectedToAzure),
        ];
        for (a, b) in cycle {
            assert!(transition_allowed(a, b), "{a} -> {b} must be allowed");
        }
    }

    #[test]
    fn failures_return_to_the_start_state() {
        assert!(transition_allowed(S::Reprotecting, S::InAzure), "RJ-07");
        assert!(
            transition_allowed(S::FailingBack, S::ProtectedToOnPrem),
            "FB-07"
        );
        assert!(transition_allowed(S::FailingOver, S::ProtectedToAzure));
        assert!(transition_allowed(S::ReprotectingToAzure, S::OnPrem));
    }

    #[test]
    fn shortcuts_are_refused() {
        for (a, b) in [
            (S::InAzure, S::ProtectedToOnPrem),
            (S::InAzure, S::FailingBack),
            (S::ProtectedToOnPrem, S::OnPrem),
            (S::Reprotecting, S::FailedBack),
            (S::Disabled, S::ProtectedToAzure),
            (S::FailedBack, S::ProtectedToAzure),
            (S::FailingBack, S::OnPrem),
        ] {
            assert!(!transition_allowed(a, b), "{a} -> {b} must be refused");
        }
    }

    #[test]
    fn every_state_refuses_some_operation_and_disabled_refuses_all() {
        for s in ItemState::ALL {
            assert!(Operation::ALL.iter().any(|op| !op.allowed_in(*s)), "{s}");
        }
        assert!(Operation::ALL.iter().all(|op| !op.allowed_in(S::Disabled)));
        for s in ItemState::ALL.iter().filter(|s| s.is_transient()) {
            assert!(
                Operation::ALL.iter().all(|op| !op.allowed_in(*s)),
                "a running job owns {s}"
            );
        }
    }

    #[test]
    fn disable_is_a_transition_from_every_settled_state() {
        for s in ItemState::ALL
            .iter()
            .filter(|s| !s.is_transient() && **s != S::Disabled)
        {
            assert!(transition_allowed(*s, S::Disabled), "{s}");
        }
    }
}
