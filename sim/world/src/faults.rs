//! Faults (ARCHITECTURE.md "Faults are events like any other"): what can break, when, and when it heals.
//! The world applies a fault at its start and undoes it at its heal; some cannot be undone (a deleted
//! Azure VM, a resized disk). Each fault names the rule it tends to trip, so fault campaigns can report
//! which rules they exercised.

use drsim_engine::Millis;
use drsim_engine::ids::*;
use drsim_engine::rules::RuleId;
use serde::{Deserialize, Serialize};

/// A fault kind and its target.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The Azure ↔ on-prem link (VPN / ExpressRoute) goes down: replication stops, then resyncs (DOMAIN §4).
    LinkDown,
    /// The link runs at a fraction of its capacity.
    LinkDegraded {
        /// Remaining capacity in per-mille (1..=1000; 0 is taken as 1).
        capacity_permille: u32,
    },
    /// A process server crashes; it restarts at heal.
    ProcessServerCrash {
        /// The PS.
        process_server: ProcessServerName,
    },
    /// The configuration server goes down (RP-01).
    ConfigServerDown,
    /// vCenter disconnects from the CS (RP-10, FB-04).
    #[serde(rename = "vcenter-disconnect")]
    VCenterDisconnect {
        /// The vCenter.
        vcenter: VCenterName,
    },
    /// A master target reboots: down until heal.
    MasterTargetReboot {
        /// The MT.
        master_target: MasterTargetName,
    },
    /// Someone takes a snapshot of the master target (RP-06); deleted at heal.
    SnapshotOnMasterTarget {
        /// The MT.
        master_target: MasterTargetName,
    },
    /// A datastore fills up (CL-02, INV-CAP); space is freed at heal.
    DatastoreFull {
        /// The datastore.
        datastore: DatastoreName,
    },
    /// A datastore is unmounted from a host (RP-12, 8061); remounted at heal.
    DatastoreUnmounted {
        /// The datastore.
        datastore: DatastoreName,
        /// The host.
        host: HostName,
    },
    /// An ESXi host goes down (FB-05, RP-12).
    HostDown {
        /// The host.
        host: HostName,
    },
    /// An Azure VM hangs (RP-05, 78093).
    AzureVmHung {
        /// The VM.
        vm: VmName,
    },
    /// An Azure VM is deleted (NS-06). Never heals.
    AzureVmDeleted {
        /// The VM.
        vm: VmName,
    },
    /// The mobility agent deregisters from the CS (RP-04); registers again at heal.
    AgentDeregistered {
        /// The Azure VM.
        vm: VmName,
    },
    /// Someone powers the on-prem VM on by hand (INV-SPLIT, RJ-02); off again at heal.
    #[serde(rename = "onprem-powered-on-by-hand")]
    OnPremPoweredOnByHand {
        /// The on-prem VM.
        vm: VmName,
    },
    /// A disk of a machine is resized: its replication resyncs (DOMAIN §4). Never heals.
    DiskResized {
        /// The item.
        item: ItemId,
        /// The disk's index in the machine.
        disk: usize,
        /// The new size.
        new_size_bytes: u64,
    },
}

impl Fault {
    /// A short name of the kind, for campaign statistics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::LinkDown => "link-down",
            Fault::LinkDegraded { .. } => "link-degraded",
            Fault::ProcessServerCrash { .. } => "process-server-crash",
            Fault::ConfigServerDown => "config-server-down",
            Fault::VCenterDisconnect { .. } => "vcenter-disconnect",
            Fault::MasterTargetReboot { .. } => "master-target-reboot",
            Fault::SnapshotOnMasterTarget { .. } => "snapshot-on-master-target",
            Fault::DatastoreFull { .. } => "datastore-full",
            Fault::DatastoreUnmounted { .. } => "datastore-unmounted",
            Fault::HostDown { .. } => "host-down",
            Fault::AzureVmHung { .. } => "azure-vm-hung",
            Fault::AzureVmDeleted { .. } => "azure-vm-deleted",
            Fault::AgentDeregistered { .. } => "agent-deregistered",
            Fault::OnPremPoweredOnByHand { .. } => "onprem-powered-on-by-hand",
            Fault::DiskResized { .. } => "disk-resized",
        }
    }

    /// Whether the fault can be undone.
    pub fn heals(&self) -> bool {
        !matches!(
            self,
            Fault::AzureVmDeleted { .. } | Fault::DiskResized { .. }
        )
    }

    /// The rule the fault tends to trip.
    pub fn rule(&self) -> Option<RuleId> {
        Some(match self {
            Fault::LinkDown | Fault::LinkDegraded { .. } => RuleId::Rp03,
            Fault::ProcessServerCrash { .. } => RuleId::Rj08,
            Fault::ConfigServerDown => RuleId::Rp01,
            Fault::VCenterDisconnect { .. } => RuleId::Fb04,
            Fault::MasterTargetReboot { .. } => RuleId::Rj08,
            Fault::SnapshotOnMasterTarget { .. } => RuleId::Rp06,
            Fault::DatastoreFull { .. } => RuleId::Cl02,
            Fault::DatastoreUnmounted { .. } => RuleId::Rp12,
            Fault::HostDown { .. } => RuleId::Fb05,
            Fault::AzureVmHung { .. } => RuleId::Rp05,
            Fault::AzureVmDeleted { .. } => RuleId::Ns06,
            Fault::AgentDeregistered { .. } => RuleId::Rp04,
            Fault::OnPremPoweredOnByHand { .. } => RuleId::Rj02,
            Fault::DiskResized { .. } => return None,
        })
    }
}

/// A fault with its schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What breaks.
    pub fault: Fault,
    /// When.
    pub at_ms: Millis,
    /// When it heals, if it does (after `at_ms`).
    #[serde(default)]
    pub heal_at_ms: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_files_name_faults_as_timelines_do() {
        let faults = [
            Fault::LinkDown,
            Fault::VCenterDisconnect {
                vcenter: "vc1".into(),
            },
            Fault::OnPremPoweredOnByHand { vm: "vm".into() },
            Fault::SnapshotOnMasterTarget {
                master_target: "mt".into(),
            },
            Fault::AzureVmHung { vm: "vm".into() },
        ];
        for f in faults {
            let v = serde_json::to_value(&f).unwrap();
            assert_eq!(v["kind"], f.kind_name(), "{v}");
        }
    }
}
