//! Protected items: what the vault knows of a machine ([`ItemSpec`], given at start) and its running
//! record ([`ItemRecord`]: lifecycle state, replication settings, recovery points, health, alerts).

use crate::Millis;
use crate::ids::*;
use crate::inventory::{Firmware, Health, OsType};
use crate::lifecycle::ItemState;
use crate::protocol::{Direction, Failure, RecoveryMode, ReprotectMachine};
use crate::recovery_point::{PointCadence, PointStore, ReplicationPolicy};
use serde::{Deserialize, Serialize};

/// What the source machine was (NS-02).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A VMware VM.
    #[default]
    VmwareVm,
    /// A physical server.
    Physical,
    /// A physical Windows Server 2008 R2 SP1 (NS-02: cannot fail back).
    PhysicalWindows2008R2Sp1,
}

/// How the Azure VM came to be (NS-08).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Failed over from on-premises.
    #[default]
    FailedOver,
    /// Created in Azure (NS-08: cannot fail back).
    CreatedInAzure,
}

/// What the vault knows of a machine, independent of discovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// The item's id.
    pub id: ItemId,
    /// The original on-premises VM's name.
    pub onprem_vm: VmName,
    /// The Azure VM's name.
    pub azure_vm: VmName,
    /// OS family (RP-07, RG-02).
    pub os: OsType,
    /// Firmware (NS-09).
    #[serde(default)]
    pub firmware: Firmware,
    /// Source kind (NS-02).
    #[serde(default)]
    pub source: SourceKind,
    /// Origin (NS-08).
    #[serde(default)]
    pub origin: Origin,
    /// Migrated (NS-04).
    #[serde(default)]
    pub migrated: bool,
    /// The vCenter it was protected from (RP-18).
    pub original_vcenter: VCenterName,
    /// The resource group it failed over into (NS-05).
    pub original_resource_group: ResourceGroupName,
    /// Replication group (RG-*), if any.
    #[serde(default)]
    pub replication_group: Option<GroupId>,
    /// Lifecycle state at start.
    pub state: ItemState,
    /// Reprotect settings already in force, for an item that starts Protected (Azure → on-prem).
    #[serde(default)]
    pub protection: Option<ReprotectMachine>,
}

/// Reprotect settings in force for an item (RJ-01).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// The per-machine inputs.
    pub machine: ReprotectMachine,
    /// The recovery mode chosen (RJ-03 / RJ-04).
    pub mode: RecoveryMode,
    /// The replicated disks (RP-19, RJ-09 exclusions applied).
    pub disks: Vec<String>,
    /// Whether the target is prepared (its disks count on the MT, RP-14).
    pub target_prepared: bool,
}

/// The engine's running record of an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The vault's facts. (Boxed: read when a job plans and checks, not by the observations that
    /// make most of the engine's inputs; inline it spread each record's hot fields over more cache
    /// lines, at 10,000 items a miss each, issue 6.)
    pub spec: Box<ItemSpec>,
    /// Lifecycle state.
    pub state: ItemState,
    /// The job that owns the item now.
    pub job: Option<JobId>,
    /// Reprotect settings (Azure → on-prem), while in force.
    pub protection: Option<Protection>,
    /// Replication currently running, by direction.
    pub replicating: Option<Direction>,
    /// Whether replication has started since protection (RG-04: group membership then fixed).
    pub replication_started: bool,
    /// Initial replication / resync finished (CL-05).
    pub initial_sync_done: bool,
    /// Replication health last reported (FB-01).
    pub health: Health,
    /// Usable recovery points.
    pub points: PointStore,
    /// The policy in force.
    pub policy: ReplicationPolicy,
    /// The point the item was recovered to by the last failover/failback, until commit.
    pub recovered_point_ms: Option<Millis>,
    /// The last failure of a job of this item (RJ-07: kept so it can be retried).
    pub last_error: Option<Failure>,
    /// An RPO-threshold alert is raised.
    pub rpo_alert: bool,
    /// The on-prem VM was seen on while the Azure copy is active (INV-SPLIT, RJ-02).
    pub onprem_on_alert: bool,
    /// Deadline of the RPO-threshold timer, if armed.
    pub rpo_timer: Option<(Millis, u64)>,
    /// The point cadence the infrastructure announced, while it holds: its tags become points as
    /// time passes ([`crate::recovery_point::PointCadence`]).
    #[serde(default)]
    pub cadence: Option<PointCadence>,
    /// The sync cadence the infrastructure announced, while it holds: the sync shows progress at
    /// each of its reports ([`crate::protocol::SyncCadence`]).
    #[serde(default)]
    pub sync_cadence: Option<crate::protocol::SyncCadence>,
}

impl ItemRecord {
    /// A record from the vault's spec.
    pub fn new(spec: ItemSpec, policy: ReplicationPolicy) -> Self {
        let state = spec.state;
        let protection = spec.protection.clone().map(|machine| Protection {
            machine,
            mode: RecoveryMode::Original,
            disks: Vec::new(),
            target_prepared: true,
        });
        let replicating = match state {
            ItemState::ProtectedToAzure => Some(Direction::ToAzure),
            ItemState::ProtectedToOnPrem => Some(Direction::ToOnPrem),
            _ => None,
        };
        ItemRecord {
            spec: Box::new(spec),
            state,
            job: None,
            protection,
            replicating,
            replication_started: replicating.is_some(),
            initial_sync_done: replicating.is_some(),
            health: Health::Ok,
            points: PointStore::new(),
            policy,
            recovered_point_ms: None,
            last_error: None,
            rpo_alert: false,
            onprem_on_alert: false,
            rpo_timer: None,
            cadence: None,
            sync_cadence: None,
        }
    }

    /// The item's id.
    pub fn id(&self) -> &ItemId {
        &self.spec.id
    }
}
