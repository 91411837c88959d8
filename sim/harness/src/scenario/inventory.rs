//! The estate of a scenario: vCenters, ESXi hosts, datastores, the configuration server, process servers,
//! master targets (DOMAIN.md §1), the Azure ↔ on-prem link, and the protected machines with their disks and
//! churn. Every field a person rarely changes has a default, so a one-VM estate is a dozen lines.

use crate::units::{Bandwidth, Bytes, Duration};
use drsim_engine::inventory::{
    Controller, DatastoreKind, DiscoveryAccount, FileSystem, Firmware, Health, HostEdition,
    HostKind, OsType, SiteLink,
};
use drsim_engine::item::{Origin, SourceKind};
use drsim_engine::lifecycle::ItemState;
use drsim_engine::protocol::LocationChoice;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

fn version() -> u32 {
    9
}

/// The on-premises and Azure infrastructure.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// vCenter servers.
    pub vcenters: Vec<VCenter>,
    /// ESXi hosts (or, for NS-03, Hyper-V hosts, physical machines, VMware Workstation).
    pub hosts: Vec<Host>,
    /// Datastores.
    pub datastores: Vec<Datastore>,
    /// The configuration server (RP-01, RP-02, CL-01).
    #[serde(default)]
    pub config_server: ConfigServer,
    /// Process servers in Azure (RJ-08).
    pub process_servers: Vec<ProcessServer>,
    /// Master targets on-premises (RP-06, RP-07, RP-14, RP-15, RP-17).
    pub master_targets: Vec<MasterTarget>,
}

/// A vCenter server.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VCenter {
    /// Its name.
    pub name: String,
    /// Connected to the configuration server (RP-10, FB-04). Default true.
    #[serde(default = "yes")]
    pub connected: bool,
    /// The discovery account: `full` or `read-only` (RP-10: a read-only account lists no datastores).
    #[serde(default)]
    pub account: DiscoveryAccount,
}

/// An ESXi host.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// The vCenter that manages it.
    pub vcenter: String,
    /// `esxi` (default), `hyper-v`, `physical`, `workstation` (NS-03).
    #[serde(default)]
    pub kind: HostKind,
    /// ESXi version. Default "7.0".
    #[serde(default = "esxi_version")]
    pub version: String,
    /// `licensed` (default), `free-esxi55`, `free-vsphere6` (NS-01).
    #[serde(default)]
    pub edition: HostEdition,
    /// Up. Default true.
    #[serde(default = "yes")]
    pub up: bool,
    /// Memory free to power VMs on (FB-05, error 8038). Default "512GiB".
    #[serde(default = "host_memory")]
    pub memory_free: Bytes,
    /// Datastores it mounts read/write (RP-12).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datastores: Vec<String>,
    /// Datastores it mounts read-only (RP-12: not usable as a target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_datastores: Vec<String>,
}

fn esxi_version() -> String {
    "7.0".into()
}

fn host_memory() -> Bytes {
    Bytes(512 << 30)
}

/// A datastore.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Datastore {
    /// Its name.
    pub name: String,
    /// The vCenter it belongs to.
    pub vcenter: String,
    /// `vmfs` (default), `vsan`, `nfs`, `rdm` (RP-13).
    #[serde(default)]
    pub kind: DatastoreKind,
    /// Capacity (more than 0).
    pub capacity: Bytes,
    /// Free space (at most the capacity). Default: the capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<Bytes>,
    /// Folders already on it: an old VM's folder makes recovery use another folder (CL-03).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
}

/// The configuration server.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigServer {
    /// Running (RP-01). Default true.
    #[serde(default = "yes")]
    pub running: bool,
    /// Connected to Azure (RP-01). Default true.
    #[serde(default = "yes")]
    pub connected_to_azure: bool,
    /// The vCenters it knows (RP-18). Default: every vCenter of the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenters: Option<Vec<String>>,
    /// Its version (RP-20). Default 9.
    #[serde(default = "version")]
    pub version: u32,
    /// Registrations besides each machine's own (a duplicate entry with another host ID: CL-01).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_registrations: Vec<Registration>,
}

impl Default for ConfigServer {
    fn default() -> Self {
        ConfigServer {
            running: true,
            connected_to_azure: true,
            vcenters: None,
            version: version(),
            extra_registrations: Vec::new(),
        }
    }
}

/// A machine as registered in the configuration server's database.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The machine (its on-prem VM name).
    pub machine: String,
    /// The agent's host ID of this entry.
    pub host_id: String,
}

/// A process server in Azure.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessServer {
    /// Its name.
    pub name: String,
    /// Running. Default true.
    #[serde(default = "yes")]
    pub running: bool,
    /// Health at start: `ok` (default), `warning`, `critical` (FB-01).
    #[serde(default)]
    pub health: Health,
    /// Its virtual network (CL-04). Default "vnet1".
    #[serde(default = "vnet")]
    pub vnet: String,
    /// NAT configured for VMs in other virtual networks (CL-04). Default false.
    #[serde(default)]
    pub nat_configured: bool,
    /// Version (RP-20). Default 9.
    #[serde(default = "version")]
    pub version: u32,
    /// Throughput cap. Default: uncapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Bandwidth>,
    /// Cache disk (DOMAIN.md §5: 300 GB … 1 TB; throttled below 20 % free). Default: not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Bytes>,
}

fn vnet() -> String {
    "vnet1".into()
}

/// A master target on-premises.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterTarget {
    /// Its name.
    pub name: String,
    /// Its OS: must match the VMs it serves (RP-07).
    pub os: OsType,
    /// The ESXi host it runs on.
    pub host: String,
    /// A VMware VM (RP-07). Default true.
    #[serde(default = "yes")]
    pub is_vmware_vm: bool,
    /// Running. Default true.
    #[serde(default = "yes")]
    pub running: bool,
    /// Snapshots on it (RP-06: none allowed). Default 0.
    #[serde(default)]
    pub snapshots: u32,
    /// SCSI controller (RP-17). Default `lsi-logic`.
    #[serde(default)]
    pub controller: Controller,
    /// `disk.EnableUUID` (RP-17). Default true.
    #[serde(default = "yes")]
    pub enable_uuid: bool,
    /// Linux: LVM for root or retention (RP-17). Default false.
    #[serde(default)]
    pub lvm_root_or_retention: bool,
    /// Its own disks, counted against the 60-disk limit (RP-14). Default 3.
    #[serde(default = "own_disks")]
    pub own_disks: u32,
    /// UUIDs of its own disks (RP-11: a VM's disk with one of these clashes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disk_uuids: Vec<String>,
    /// Retention drives (RP-15).
    pub retention_drives: Vec<RetentionDrive>,
    /// Version (RP-20). Default 9.
    #[serde(default = "version")]
    pub version: u32,
    /// Throughput cap. Default: uncapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Bandwidth>,
}

fn own_disks() -> u32 {
    3
}

/// A retention drive of a master target.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionDrive {
    /// Its name, e.g. "R:" or "/mnt/retention".
    pub name: String,
    /// File system (RP-15: not FAT). Default `ntfs`.
    #[serde(default)]
    pub fs: FileSystem,
    /// Capacity (RP-15: more than 0).
    pub capacity: Bytes,
    /// It is the cache volume (RP-15). Default false.
    #[serde(default)]
    pub is_cache_volume: bool,
    /// It is used as a replication target (RP-15). Default false.
    #[serde(default)]
    pub is_replication_target: bool,
}

/// The Azure ↔ on-prem link and the PS download threads.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `vpn` (default), `express-route-private`, `express-route-microsoft`, `none` (RP-03).
    #[serde(default)]
    pub link: SiteLink,
    /// Bandwidth each way. Default "1Gbps".
    #[serde(default = "link_bandwidth")]
    pub bandwidth: Bandwidth,
    /// One-way latency. Default "20ms".
    #[serde(default = "latency")]
    pub latency: Duration,
    /// PS download threads per VM (DOMAIN.md §4: default 4, max 32).
    #[serde(default = "threads")]
    pub download_threads: u32,
    /// Throughput of one download thread. Default "25MB/s".
    #[serde(default = "per_thread")]
    pub per_thread: Bandwidth,
}

fn link_bandwidth() -> Bandwidth {
    Bandwidth(125_000_000)
}

fn latency() -> Duration {
    Duration(20)
}

fn threads() -> u32 {
    drsim_world::network::DEFAULT_DOWNLOAD_THREADS
}

fn per_thread() -> Bandwidth {
    Bandwidth(25_000_000)
}

impl Default for Network {
    fn default() -> Self {
        Network {
            link: SiteLink::Vpn,
            bandwidth: link_bandwidth(),
            latency: latency(),
            download_threads: threads(),
            per_thread: per_thread(),
        }
    }
}

/// How a disk is written to (DOMAIN.md §4 churn).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "model", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Churn {
    /// A constant rate.
    Constant {
        /// Bytes written per second, e.g. "2MB/s".
        rate: Bandwidth,
    },
    /// A daily cycle around a mean.
    Diurnal {
        /// Daily mean rate.
        mean: Bandwidth,
        /// Swing around the mean in percent (100: the trough is idle).
        amplitude_pct: u16,
        /// Hour of the day (0–23) the rate peaks.
        peak_hour: u16,
        /// How long the rate stays constant (it must divide a day). Default "1m"; coarser quanta make
        /// long runs cheaper.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantum: Option<Duration>,
    },
    /// On/off bursts with exponentially distributed lengths.
    Bursty {
        /// Rate while on.
        on: Bandwidth,
        /// Rate while off (can be small).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        off: Option<Bandwidth>,
        /// Mean length of an on phase.
        mean_on: Duration,
        /// Mean length of an off phase.
        mean_off: Duration,
    },
    /// Idle: no writes.
    Idle,
    /// Per-minute rates replayed from a CSV file: a `minute` column (whole minutes from 0, increasing; a
    /// gap holds the previous rate) and rates in MB/s (MB = 10⁶ bytes, DOMAIN.md §4), exact to 1 B/s. One
    /// file can hold many traces: a column per VM or disk (`column`), or rows of many disks told apart
    /// by another column (`filter`). The rate is this disk's: a disk that shares a VM's trace writes the
    /// VM's whole rate.
    Trace {
        /// The CSV file, relative to the scenario file's directory (or absolute), e.g. "churn.csv".
        file: String,
        /// The column of MB/s to replay, e.g. "vm01" (matched ignoring ASCII case). Default "mb_per_s".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
        /// Only the rows whose cell in another column equals a value, e.g.
        /// `{"column": "disk", "value": "app01-disk0"}` in a file of rows `minute,disk,mb_per_s`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<TraceRows>,
        /// After the last minute: `repeat` (default: from minute 0 again) or `hold-last`.
        #[serde(default, skip_serializing_if = "TraceEnd::is_repeat")]
        end: TraceEnd,
    },
}

/// The rows of one trace in a file holding many (`churn.filter`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceRows {
    /// The column that tells the traces apart, e.g. "disk" or "vm" (matched ignoring ASCII case).
    pub column: String,
    /// The value of this trace's rows in that column (case-sensitive, surrounding spaces ignored).
    pub value: String,
}

/// What a trace does after its last minute.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TraceEnd {
    /// Start again from minute 0 (a day's or a week's trace over a longer run).
    #[default]
    Repeat,
    /// Keep the last minute's rate.
    HoldLast,
}

impl TraceEnd {
    fn is_repeat(&self) -> bool {
        *self == TraceEnd::Repeat
    }
}

impl Default for Churn {
    fn default() -> Self {
        Churn::Constant {
            rate: Bandwidth(100_000),
        }
    }
}

/// A protected machine: the vault's item, its on-prem VM and its Azure VM.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// Its name: the on-prem VM's name and the item's id.
    pub name: String,
    /// OS family (RP-07, RG-02).
    pub os: OsType,
    /// Where its lifecycle starts (DOMAIN.md §2), e.g. `protected-to-azure`, `in-azure`.
    pub state: ItemState,
    /// The ESXi host the on-prem VM is (or was) on.
    pub host: String,
    /// The vCenter it was protected from (RP-18). Default: its host's vCenter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenter: Option<String>,
    /// `bios` (default) or `efi` (NS-09).
    #[serde(default)]
    pub firmware: Firmware,
    /// `vmware-vm` (default), `physical`, `physical-windows2008-r2-sp1` (NS-02).
    #[serde(default)]
    pub source: SourceKind,
    /// `failed-over` (default) or `created-in-azure` (NS-08).
    #[serde(default)]
    pub origin: Origin,
    /// Migrated (NS-04). Default false.
    #[serde(default)]
    pub migrated: bool,
    /// The on-prem VM still exists. Default true; false: reprotect recovers to an alternate location
    /// (RJ-04, full copy).
    #[serde(default = "yes")]
    pub onprem_exists: bool,
    /// `disk.EnableUUID` on the on-prem VM (RJ-06). Default true.
    #[serde(default = "yes")]
    pub enable_uuid: bool,
    /// Snapshots on the on-prem VM (consolidated by reprotect, RP-06). Default 0.
    #[serde(default)]
    pub snapshots: u32,
    /// Memory it needs to power on (FB-05). Default "8GiB".
    #[serde(default = "vm_memory")]
    pub memory: Bytes,
    /// vCPUs (CL-06). Default 2.
    #[serde(default = "cpus")]
    pub cpus: u32,
    /// Replication group (RG-*). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_group: Option<String>,
    /// Registered in the configuration server's database (RP-02). Default true.
    #[serde(default = "yes")]
    pub cs_registered: bool,
    /// Its disks (the replicable ones).
    pub disks: Vec<Disk>,
    /// The Azure side.
    #[serde(default)]
    pub azure: AzureSide,
    /// Reprotect settings in force, for a machine that starts `protected-to-on-prem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionSpec>,
}

fn vm_memory() -> Bytes {
    Bytes(8 << 30)
}

fn cpus() -> u32 {
    2
}

/// A disk of a machine.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Its UUID. Default "<machine>-disk<index>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Provisioned size (more than 0).
    pub size: Bytes,
    /// In use (a full copy sends this: RJ-04). Default: half the size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<Bytes>,
    /// The region writes land in (how much a differential resync sends, RJ-03). Default: a tenth of the
    /// size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_region: Option<Bytes>,
    /// How it is written to. Default: the scenario's `churn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// A raw device mapping (RP-13). Default false.
    #[serde(default)]
    pub rdm: bool,
}

/// The Azure VM of a machine.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureSide {
    /// Its name. Default "<machine>-azure".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its resource group now. Default "rg1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The resource group it failed over into (NS-05: moved since ⇒ no failback). Default: the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_resource_group: Option<String>,
    /// Its virtual network (CL-04). Default "vnet1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnet: Option<String>,
    /// The mobility agent is registered with the CS (RP-04). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_registered: Option<bool>,
    /// The agent's host ID (CL-01). Default "<machine>-hid".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_host_id: Option<String>,
    /// The Azure temporary disk (page file, RP-19: never protected back). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_disk: Option<Bytes>,
    /// Disks added in Azure after failover (RJ-09: not replicated back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_disks: Vec<Bytes>,
    /// IP per NIC (CL-06).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nic_ips: Vec<String>,
}

/// Reprotect settings (RJ-01) of a machine that starts protected to on-prem.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSpec {
    /// The master target.
    pub master_target: String,
    /// The process server.
    pub process_server: String,
    /// The target datastore.
    pub datastore: String,
    /// The retention drive.
    pub retention_drive: String,
    /// `auto` (default) or `alternate`.
    #[serde(default)]
    pub location: LocationChoice,
}
