//! A machine as the world runs it: its disks' data on each copy (generations, for INV-LOSS), its
//! replication streams (fluid disks and network flows), and the VM-level recovery points that exist.

use crate::churn::ChurnModel;
use crate::fluid::FluidDisk;
use crate::kernel::EventKey;
use crate::network::{FlowId, FlowSlot, Resource};
use crate::world::share::VirtualMark;
use drsim_engine::Millis;
use drsim_engine::ids::*;
use drsim_engine::protocol::{Direction, RecoveryMode};
use drsim_engine::recovery_point::PointKind;

/// One disk of a machine.
#[derive(Clone, Debug)]
pub struct Disk {
    /// Name (the on-prem disk's UUID).
    pub name: String,
    /// Provisioned size.
    pub size_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Hot region (RJ-03 differential sizing).
    pub hot_region_bytes: u64,
    /// The churn of whichever copy runs.
    pub churn: ChurnModel,
    /// Generation (bytes ever written to the disk) the Azure copy holds.
    pub azure_generation: u64,
    /// Generation the on-prem copy (its VMDK) holds.
    pub onprem_generation: u64,
    /// Up to when writes are accounted into the generations.
    pub accounted_ms: Millis,
    /// The replication stream, while replicating.
    pub stream: Option<Stream>,
}

/// A replication stream of one disk.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The fluid state: written / sent / backlog / resync / tags.
    pub fluid: FluidDisk,
    /// Its network flow.
    pub flow: FlowId,
    /// Where the network keeps that flow, once added: a demand change goes straight to it (looking the
    /// flow up by id went down a tree of 30,000 flows, missing the cache at every wake-up of a 10,000
    /// machine fleet; issue 6).
    pub net_slot: Option<FlowSlot>,
    /// The source copy's generation when the stream started (fluid counts from 0).
    pub base_generation: u64,
    /// The pending wake-up event for the fluid's next qualitative change.
    pub wake: Option<EventKey>,
    /// Bytes the resync of this stream had to send (RJ-05, INV-BYTES).
    pub resync_bytes: u64,
    /// The resource whose fair share holds its flow (`None`: at its own limit), as the network last said.
    pub held_by: Option<Resource>,
    /// Its place in that share's virtual time while it resyncs there (see `world::share`).
    pub virtual_mark: Option<VirtualMark>,
    /// Whether it follows its churn (sent at the churn's peak, its demand set at each churn step; see
    /// `world::follow`).
    pub follows_churn: bool,
    /// While its route's meter adds it up (`world::meter`): its wire bytes when it joined.
    pub metered_from_wire: Option<u64>,
    /// Wire bytes it carried while metered, in spans that ended.
    pub metered_bytes: u64,
}

impl Stream {
    /// Whether it is brought to a time only when something changes it, and read as of now in closed
    /// form otherwise ([`super::World::stream_totals`]): a resync a share holds in virtual time, or a
    /// stream that follows its churn.
    pub fn left_behind(&self) -> bool {
        self.follows_churn
            || (self.virtual_mark.is_some() && self.fluid.resync_progress().is_some())
    }
}

/// A VM-level recovery point: usable once usable on every disk (RG-03 consistency across disks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmPoint {
    /// Tag time.
    pub tag_ms: Millis,
    /// Consistency.
    pub kind: PointKind,
    /// The source generation of each replicated disk at the tag (absolute, not stream-relative).
    pub generations: Vec<u64>,
    /// Which of the machine's disks `generations` are for (the replicated ones: RP-19, RJ-09); shared by
    /// the points of one replication (a fleet keeps millions of points).
    pub disks: std::sync::Arc<[usize]>,
}

/// Replication in force.
#[derive(Clone, Debug)]
pub struct Replication {
    /// Direction.
    pub direction: Direction,
    /// The PS (Azure → on-prem).
    pub process_server: Option<ProcessServerName>,
    /// The MT (Azure → on-prem).
    pub master_target: Option<MasterTargetName>,
    /// OLR or ALR.
    pub mode: RecoveryMode,
    /// Indexes of the replicated disks.
    pub disks: Vec<usize>,
    /// Initial replication / resync done.
    pub initial_sync_done: bool,
    /// Whether replication is broken after reprotect (RP-20: MT newer than PS/CS).
    pub broken: bool,
    /// Usable VM-level points, oldest first (bounded by the MT's retention).
    pub points: super::vm_points::VmPoints,
    /// Points per disk seen usable but not yet on every disk, by tag.
    pub partial: super::partial_points::PartialPoints,
    /// Points not yet reported to the engine: tag and consistency.
    pub unreported: Vec<(Millis, PointKind)>,
    /// The points still to compute while every replicated stream follows its churn (see
    /// `world::followed_points`).
    pub followed: Option<super::followed_points::FollowedPoints>,
}

/// A machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Its item.
    pub item: ItemId,
    /// The on-prem VM's name.
    pub onprem_vm: VmName,
    /// The Azure VM's name.
    pub azure_vm: VmName,
    /// Memory the on-prem VM needs (FB-05).
    pub memory_mib: u64,
    /// Its replication group (multi-VM consistent points).
    pub replication_group: Option<GroupId>,
    /// Disks.
    pub disks: Vec<Disk>,
    /// Replication in force.
    pub replication: Option<Replication>,
    /// The MT its disks are attached to, and how many (RP-14, INV-CAP).
    pub attached: Option<(MasterTargetName, u32)>,
    /// An ALR target VM created on the MT's host (RJ-04), named like the original. (Boxed, like the
    /// other fields few events read: a machine is found at random on nearly every event, and at
    /// 10,000 machines every cache line of the table counts, issue 6.)
    pub alr_vm: Option<Box<(HostName, DatastoreName, String)>>,
    /// A final sync waiting for the backlog to drain: (action, tag, the engine's deadline).
    pub final_sync: Option<(ActionId, Millis, Millis)>,
    /// The MT's recovery points (and so the replicated disks), kept after the disks moved to the on-prem
    /// VM, until commit: a change of recovery point or a rollback (FB-07) still needs them.
    pub kept: Option<Box<super::vm_points::VmPoints>>,
    /// The Azure VM as failover creates it.
    pub azure_template: Box<drsim_engine::inventory::AzureVmView>,
    /// The Azure copy's generations when its VM was last shut down (INV-LOSS "acknowledged before shutdown").
    pub azure_generation_at_shutdown: Option<Vec<u64>>,
    /// The point the on-prem copy was last recovered to.
    pub recovered_point: Option<Box<VmPoint>>,
    /// Bytes sent by reprotect resyncs of this machine, by direction of the last one (RJ-05, INV-BYTES).
    pub last_resync_bytes: u64,
    /// The first tag of the point cadence announced for this machine while it is caught up (issue 6).
    pub cadence_from_ms: Option<Millis>,
    /// The sync cadence announced for this machine while its sync progresses (issue 6).
    pub sync_cadence: Option<super::sync_cadence::SyncMark>,
    /// The last replication report sent (a report is sent only when it changes).
    pub last_report: Option<drsim_engine::protocol::ReplicationReport>,
    /// The most bytes sent any replication report of the current replication showed (the engine's
    /// stall timer counts progress beyond them).
    pub sync_peak_bytes: u64,
}

impl Machine {
    /// Bytes the machine's reprotect resync sent so far (INV-BYTES).
    pub fn resync_sent_bytes(&self) -> u64 {
        self.disks
            .iter()
            .filter_map(|d| d.stream.as_ref())
            .map(|s| s.fluid.resync_bytes_sent_total())
            .sum()
    }
}
