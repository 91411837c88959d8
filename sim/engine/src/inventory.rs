//! The engine's view of the infrastructure: what the configuration server and vCenter discovery currently
//! report. It is built only from [`crate::protocol::Observation::Inventory`] deltas, so it can be stale or
//! partial exactly as the real CS's view is (discovery every 15 minutes; a read-only vCenter account lists no
//! datastores, RP-10). The world decides what to report; the engine never looks at the world directly.

use crate::Millis;
use crate::ids::*;
use crate::name_map::NameMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Operating system family. Master targets serve only VMs of their own family (RP-07, RG-02).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsType {
    /// Windows.
    Windows,
    /// Linux.
    Linux,
}

/// Power state of a VM as last reported.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    /// Running and writable.
    On,
    /// Powered off / deallocated.
    Off,
    /// Running but not responding (an Azure VM that hangs; RP-05).
    Hung,
}

/// Firmware of a VM. EFI VMs cannot fail back (NS-09).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// Legacy BIOS.
    #[default]
    Bios,
    /// EFI / UEFI.
    Efi,
}

/// Kind of host a failback target is (NS-03: only ESXi works).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HostKind {
    /// VMware ESXi.
    #[default]
    Esxi,
    /// Microsoft Hyper-V (NS-03).
    HyperV,
    /// A physical machine (NS-03).
    Physical,
    /// VMware Workstation (NS-03).
    Workstation,
}

/// ESXi licence edition (NS-01: the free editions cannot be failback targets).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HostEdition {
    /// A licensed edition.
    #[default]
    Licensed,
    /// Free ESXi 5.5 (NS-01).
    FreeEsxi55,
    /// Free vSphere 6 Hypervisor (NS-01).
    FreeVsphere6,
}

/// Datastore type (RP-13).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DatastoreKind {
    /// VMFS.
    #[default]
    Vmfs,
    /// vSAN.
    Vsan,
    /// NFS (not supported as a failback target, RP-13).
    Nfs,
    /// RDM-backed (only for existing, attached OLR disks, RP-13).
    Rdm,
}

/// Disk controller (RP-17: a Linux MT needs LSI Logic).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Controller {
    /// LSI Logic (parallel or SAS).
    #[default]
    LsiLogic,
    /// VMware paravirtual.
    Paravirtual,
    /// Anything else.
    Other,
}

/// Which discovery account vCenter is known with (RP-10: read-only lists no datastores).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DiscoveryAccount {
    /// Full rights.
    #[default]
    Full,
    /// Read-only (protect and failover work; reprotect does not see datastores).
    ReadOnly,
}

/// Access a host has to a datastore.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MountAccess {
    /// Read and write.
    #[default]
    ReadWrite,
    /// Read only (RP-12 fails).
    ReadOnly,
}

/// File system of a retention drive (RP-15: FAT is refused).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileSystem {
    /// NTFS.
    #[default]
    Ntfs,
    /// ReFS.
    Refs,
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// FAT / FAT32 (refused, RP-15).
    Fat,
}

/// A vCenter Server as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VCenterView {
    /// Name.
    pub name: VCenterName,
    /// Whether the CS is currently connected to it (RP-10, FB-04).
    pub connected: bool,
    /// The discovery account's rights (RP-10).
    pub account: DiscoveryAccount,
}

/// An ESXi (or other) host as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    /// Name.
    pub name: HostName,
    /// The vCenter managing it.
    pub vcenter: VCenterName,
    /// Kind of host (NS-03).
    pub kind: HostKind,
    /// ESXi version text, e.g. "7.0".
    pub version: String,
    /// Licence edition (NS-01).
    pub edition: HostEdition,
    /// Whether the host is up.
    pub up: bool,
    /// Memory free for powering on VMs, in MiB (FB-05).
    pub memory_free_mib: u64,
    /// Datastores it mounts and how (RP-12).
    pub mounts: BTreeMap<DatastoreName, MountAccess>,
}

/// A datastore as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreView {
    /// Name.
    pub name: DatastoreName,
    /// The vCenter it belongs to.
    pub vcenter: VCenterName,
    /// Type (RP-13).
    pub kind: DatastoreKind,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Free bytes (CL-02).
    pub free_bytes: u64,
    /// VM folders present on it (CL-03: old VMDKs force another folder).
    pub folders: Vec<String>,
}

/// A disk of an on-premises VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnPremDiskView {
    /// Disk UUID (RP-11).
    pub uuid: String,
    /// Provisioned size in bytes.
    pub size_bytes: u64,
    /// Whether the disk is an RDM (RP-13).
    pub rdm: bool,
}

/// An on-premises VM as discovered (the original source of a protected item, or any other VM on a host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnPremVmView {
    /// Name.
    pub name: VmName,
    /// The host it is registered on.
    pub host: HostName,
    /// Power state (INV-SPLIT, RJ-02).
    pub power: PowerState,
    /// Disks.
    pub disks: Vec<OnPremDiskView>,
    /// `disk.EnableUUID` (RJ-06).
    pub enable_uuid: bool,
    /// Number of snapshots (consolidated by reprotect, RP-06).
    pub snapshots: u32,
    /// Its mobility agent is registered with the CS (RA-03: up to 15 min after boot).
    #[serde(default)]
    pub agent_registered: bool,
}

/// A retention drive on a master target (RP-15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDriveView {
    /// Name (volume).
    pub name: RetentionDriveName,
    /// File system.
    pub fs: FileSystem,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Whether this volume is the MT's cache volume.
    pub is_cache_volume: bool,
    /// Whether this volume is used as a replication target.
    pub is_replication_target: bool,
}

/// A master target server as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterTargetView {
    /// Name.
    pub name: MasterTargetName,
    /// OS family (RP-07).
    pub os: OsType,
    /// Whether it is a VMware VM (RP-07).
    pub is_vmware_vm: bool,
    /// The ESXi host it runs on (RP-12, RP-16).
    pub host: HostName,
    /// Running and registered.
    pub running: bool,
    /// Snapshots of the MT VM (RP-06: none allowed).
    pub snapshots: u32,
    /// Disk controller (RP-17).
    pub controller: Controller,
    /// `disk.EnableUUID` (RP-17).
    pub enable_uuid: bool,
    /// Root or retention on LVM (RP-17, Linux only).
    pub lvm_root_or_retention: bool,
    /// Its own disks (OS, cache, retention). Protected disks attached to it are counted by the engine
    /// from the items it protects through this MT (RP-14: at most 60 in all).
    pub own_disks: u32,
    /// UUIDs of its own disks (RP-11).
    pub disk_uuids: Vec<String>,
    /// Retention drives (RP-15).
    pub retention_drives: Vec<RetentionDriveView>,
    /// Software version (RP-20).
    pub version: u32,
}

/// PS health as ASR reports it (DOMAIN.md §5 thresholds, computed by the world).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Healthy.
    #[default]
    Ok,
    /// A warning threshold is crossed.
    Warning,
    /// A critical threshold is crossed.
    Critical,
}

/// A process server in Azure as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessServerView {
    /// Name.
    pub name: ProcessServerName,
    /// Running with a heartbeat.
    pub running: bool,
    /// Health (DOMAIN.md §5).
    pub health: Health,
    /// Azure virtual network it sits in (CL-04).
    pub vnet: VnetName,
    /// NAT configured (CL-04).
    pub nat_configured: bool,
    /// Software version (RP-20).
    pub version: u32,
}

/// A disk of an Azure VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureDiskView {
    /// Disk name (the on-prem disk UUID it replicates, for failed-over disks).
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// The temporary disk holding the page file (RP-19: never protected back).
    pub temporary: bool,
    /// Added after failover (RJ-09: not replicated back).
    pub added_after_failover: bool,
}

/// An Azure VM as Azure reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureVmView {
    /// Name.
    pub name: VmName,
    /// Power state (RP-05, FB-02).
    pub power: PowerState,
    /// Current resource group (NS-05).
    pub resource_group: ResourceGroupName,
    /// Virtual network (CL-04).
    pub vnet: VnetName,
    /// Host ID of its mobility agent, if installed (CL-01).
    pub agent_host_id: Option<String>,
    /// Agent registered with the CS (RP-04).
    pub agent_registered: bool,
    /// Memory of its size in MiB (CL-06, FB-05).
    pub memory_mib: u64,
    /// vCPUs of its size (CL-06).
    pub cpus: u32,
    /// IP per NIC (CL-06).
    pub nic_ips: Vec<String>,
    /// Disks.
    pub disks: Vec<AzureDiskView>,
}

/// One machine entry in the configuration server database (RP-02, CL-01).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CsRegistration {
    /// Machine name as registered.
    pub machine: VmName,
    /// Host ID of the agent that registered it.
    pub host_id: String,
}

/// The configuration server as seen from the vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigServerView {
    /// Running (RP-01).
    pub running: bool,
    /// Connected to Azure (RP-01).
    pub connected_to_azure: bool,
    /// The vCenter it discovers (RP-18).
    pub vcenters: Vec<VCenterName>,
    /// Software version (RP-20).
    pub version: u32,
    /// Registered machines, possibly duplicated after failover (CL-01).
    pub registrations: Vec<CsRegistration>,
}

impl ConfigServerView {
    /// The entries of machine `vm` (RP-02, CL-01), found by bisection: requires the entries sorted by
    /// machine, as [`Inventory::apply`] keeps them (a fleet's checks scanned all 10,000 entries for each
    /// machine: ≈ 5 % of the reprotect of 10,000 machines, issue 6).
    pub fn registrations_of(&self, vm: &VmName) -> &[CsRegistration] {
        let r = &self.registrations;
        debug_assert!(
            r.is_sorted_by(|a, b| a.machine <= b.machine),
            "registrations sorted by machine"
        );
        let from = r.partition_point(|e| e.machine < *vm);
        let to = from + r[from..].partition_point(|e| e.machine == *vm);
        &r[from..to]
    }
}

/// The Azure ↔ on-premises connection (RP-03).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SiteLink {
    /// Site-to-site VPN.
    #[default]
    Vpn,
    /// ExpressRoute private peering.
    ExpressRoutePrivate,
    /// ExpressRoute Microsoft peering only (not enough for failback).
    ExpressRouteMicrosoft,
    /// Internet only.
    None,
}

/// The network facts the engine needs (RP-03).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    /// The link kind between Azure and on-premises.
    pub link: SiteLink,
    /// Whether it is up.
    pub up: bool,
}

/// One entity in an inventory delta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entity {
    /// A vCenter.
    VCenter(VCenterView),
    /// A host.
    Host(HostView),
    /// A datastore.
    Datastore(DatastoreView),
    /// An on-prem VM.
    OnPremVm(OnPremVmView),
    /// A master target.
    MasterTarget(MasterTargetView),
    /// A process server.
    ProcessServer(ProcessServerView),
    /// An Azure VM.
    AzureVm(AzureVmView),
    /// The configuration server.
    ConfigServer(ConfigServerView),
    /// The Azure ↔ on-prem network.
    Network(NetworkView),
}

/// The key of an entity, for removals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum EntityKey {
    /// A vCenter.
    VCenter(VCenterName),
    /// A host.
    Host(HostName),
    /// A datastore.
    Datastore(DatastoreName),
    /// An on-prem VM (deleted).
    OnPremVm(VmName),
    /// A master target.
    MasterTarget(MasterTargetName),
    /// A process server.
    ProcessServer(ProcessServerName),
    /// An Azure VM (deleted, NS-06).
    AzureVm(VmName),
}

/// A discovery result: entities that changed since the last report, and entities that disappeared.
/// Reporting deltas keeps a 10,000-VM estate cheap; the world decides when (every 15 min, on refresh).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDelta {
    /// Entities added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upserts: Vec<Entity>,
    /// Entities removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removals: Vec<EntityKey>,
}

/// The engine's current picture of the infrastructure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// vCenters.
    pub vcenters: BTreeMap<VCenterName, VCenterView>,
    /// Hosts (the servers and stores, as the VMs: looked up by name by every report and readiness
    /// check; with 528 master targets, comparing names down a tree was 4 % of the 10k fleet's
    /// instructions, issue 6).
    pub hosts: NameMap<HostName, HostView>,
    /// Datastores.
    pub datastores: NameMap<DatastoreName, DatastoreView>,
    /// On-prem VMs (looked up by name on every data-plane step: a hash table walked in key order).
    pub onprem_vms: NameMap<VmName, OnPremVmView>,
    /// Master targets.
    pub master_targets: NameMap<MasterTargetName, MasterTargetView>,
    /// Process servers.
    pub process_servers: NameMap<ProcessServerName, ProcessServerView>,
    /// Azure VMs (as the on-prem VMs).
    pub azure_vms: NameMap<VmName, AzureVmView>,
    /// The configuration server, once reported.
    pub config_server: Option<ConfigServerView>,
    /// The Azure ↔ on-prem network, once reported.
    pub network: Option<NetworkView>,
    /// When the last delta arrived.
    pub updated_at: Millis,
}

impl Inventory {
    /// Applies a discovery delta.
    pub fn apply(&mut self, now: Millis, delta: &InventoryDelta) {
        for e in &delta.upserts {
            match e {
                Entity::VCenter(v) => {
                    self.vcenters.insert(v.name.clone(), v.clone());
                }
                Entity::Host(v) => {
                    self.hosts.insert(v.name.clone(), v.clone());
                }
                Entity::Datastore(v) => {
                    self.datastores.insert(v.name.clone(), v.clone());
                }
                Entity::OnPremVm(v) => {
                    self.onprem_vms.insert(v.name.clone(), v.clone());
                }
                Entity::MasterTarget(v) => {
                    self.master_targets.insert(v.name.clone(), v.clone());
                }
                Entity::ProcessServer(v) => {
                    self.process_servers.insert(v.name.clone(), v.clone());
                }
                Entity::AzureVm(v) => {
                    self.azure_vms.insert(v.name.clone(), v.clone());
                }
                Entity::ConfigServer(v) => {
                    let mut v = v.clone();
                    v.registrations.sort(); // by machine: `registrations_of` searches them
                    self.config_server = Some(v);
                }
                Entity::Network(v) => self.network = Some(*v),
            }
        }
        for k in &delta.removals {
            match k {
                EntityKey::VCenter(n) => {
                    self.vcenters.remove(n);
                }
                EntityKey::Host(n) => {
                    self.hosts.remove(n);
                }
                EntityKey::Datastore(n) => {
                    self.datastores.remove(n);
                }
                EntityKey::OnPremVm(n) => {
                    self.onprem_vms.remove(n);
                }
                EntityKey::MasterTarget(n) => {
                    self.master_targets.remove(n);
                }
                EntityKey::ProcessServer(n) => {
                    self.process_servers.remove(n);
                }
                EntityKey::AzureVm(n) => {
                    self.azure_vms.remove(n);
                }
            }
        }
        self.updated_at = now;
    }

    /// The vCenter that manages a host, if both are known.
    pub fn vcenter_of_host(&self, host: &HostName) -> Option<&VCenterView> {
        self.hosts
            .get(host)
            .and_then(|h| self.vcenters.get(&h.vcenter))
    }

    /// Datastores visible through discovery: none through a read-only vCenter account (RP-10).
    pub fn datastore_visible(&self, ds: &DatastoreName) -> Option<&DatastoreView> {
        let d = self.datastores.get(ds)?;
        match self.vcenters.get(&d.vcenter) {
            Some(vc) if vc.account == DiscoveryAccount::Full => Some(d),
            _ => None,
        }
    }
}
