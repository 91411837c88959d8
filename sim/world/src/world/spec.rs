//! How a world is built: the estate, the network, the machines and their disks, timings. Integer units
//! only (bytes, bytes per second, milliseconds); the harness turns "500GiB" and "1Gbps" into these.

use crate::churn::ChurnModel;
use crate::faults::FaultSpec;
use drsim_engine::Millis;
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::time::{MINUTE_MS, SECOND_MS};

/// A disk of a machine.
#[derive(Clone, Debug)]
pub struct DiskSpec {
    /// Its name: the on-prem disk's UUID, which the Azure disk carries too.
    pub name: String,
    /// Provisioned size.
    pub size_bytes: u64,
    /// Bytes in use (a full copy sends these: RJ-04, INV-BYTES).
    pub used_bytes: u64,
    /// The hot region writes land in (the unique-changed-bytes model of a differential resync, RJ-03).
    pub hot_region_bytes: u64,
    /// How the running copy writes to it.
    pub churn: ChurnModel,
}

/// A protected machine: its two copies and its disks.
#[derive(Clone, Debug)]
pub struct MachineSpec {
    /// The vault's item.
    pub item: ItemId,
    /// The on-prem VM (None: deleted, so reprotect goes to an alternate location, RJ-04).
    pub onprem: Option<OnPremVmView>,
    /// Memory the on-prem VM needs to power on (FB-05).
    pub memory_mib: u64,
    /// The Azure VM (as it is or will be after failover).
    pub azure: AzureVmView,
    /// Where in its lifecycle the machine starts.
    pub state: ItemState,
    /// Its replication group (multi-VM consistent points, RG-03).
    pub replication_group: Option<GroupId>,
    /// Its disks.
    pub disks: Vec<DiskSpec>,
    /// PS and MT in use, for a machine that starts Protected (Azure → on-prem).
    pub protection: Option<(ProcessServerName, MasterTargetName)>,
}

/// A process server with its throughput.
#[derive(Clone, Debug)]
pub struct ProcessServerSpec {
    /// As the vault sees it.
    pub view: ProcessServerView,
    /// Throughput cap in bytes per second (None: uncapped).
    pub throughput_bytes_per_s: Option<u64>,
    /// Cache disk size in bytes (DOMAIN.md §5: 300 GB … 1 TB); None: not modelled.
    pub cache_bytes: Option<u64>,
}

/// A master target with its throughput.
#[derive(Clone, Debug)]
pub struct MasterTargetSpec {
    /// As the vault sees it.
    pub view: MasterTargetView,
    /// Throughput cap in bytes per second (None: uncapped).
    pub throughput_bytes_per_s: Option<u64>,
}

/// The Azure ↔ on-prem link.
#[derive(Clone, Copy, Debug)]
pub struct SiteLinkSpec {
    /// Kind (RP-03).
    pub kind: SiteLink,
    /// Bandwidth in bytes per second, each direction.
    pub bandwidth_bytes_per_s: u64,
    /// One-way latency.
    pub latency_ms: Millis,
}

/// How long actions take (a uniform ±20 % jitter is drawn per action from the `actions` RNG stream).
#[derive(Clone, Debug)]
pub struct Timing {
    /// Power a VM on or off.
    pub power_ms: Millis,
    /// Start or shut down an Azure VM.
    pub azure_power_ms: Millis,
    /// Fail over (create the Azure VM).
    pub failover_ms: Millis,
    /// Consolidate snapshots.
    pub consolidate_ms: Millis,
    /// Prepare the target on the MT.
    pub prepare_target_ms: Millis,
    /// Start or stop replication; commit; disable.
    pub control_ms: Millis,
    /// Detach/attach disks and apply a point.
    pub recover_ms: Millis,
    /// Longest agent registration lag after a boot (RP-04, RA-03: up to 15 min).
    pub agent_lag_max_ms: Millis,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            power_ms: 30 * SECOND_MS,
            azure_power_ms: 2 * MINUTE_MS,
            failover_ms: 10 * MINUTE_MS,
            consolidate_ms: 5 * MINUTE_MS,
            prepare_target_ms: 5 * MINUTE_MS,
            control_ms: MINUTE_MS,
            recover_ms: 5 * MINUTE_MS,
            agent_lag_max_ms: 15 * MINUTE_MS,
        }
    }
}

/// Everything a world is built from.
#[derive(Clone, Debug)]
pub struct WorldSpec {
    /// The root seed (every component's RNG stream derives from it).
    pub seed: u64,
    /// vCenters.
    pub vcenters: Vec<VCenterView>,
    /// Hosts.
    pub hosts: Vec<HostView>,
    /// Datastores.
    pub datastores: Vec<DatastoreView>,
    /// Master targets.
    pub master_targets: Vec<MasterTargetSpec>,
    /// Process servers.
    pub process_servers: Vec<ProcessServerSpec>,
    /// The configuration server.
    pub config_server: ConfigServerView,
    /// The Azure ↔ on-prem link.
    pub link: SiteLinkSpec,
    /// Machines.
    pub machines: Vec<MachineSpec>,
    /// Faults.
    pub faults: Vec<FaultSpec>,
    /// Action durations.
    pub timing: Timing,
    /// PS download threads per VM (DOMAIN.md §4: default 4, max 32).
    pub download_threads: u32,
    /// Throughput of one download thread, bytes per second.
    pub per_thread_bytes_per_s: u64,
    /// How often replication progress and new recovery points are reported.
    pub report_interval_ms: Millis,
    /// How often discovery runs (DOMAIN.md §1: 15 min).
    pub discovery_interval_ms: Millis,
    /// Whether a master target refuses a 61st disk (RP-14). Off only to let INV-CAP catch an engine that
    /// ignores the limit.
    pub enforce_mt_disk_limit: bool,
    /// Whether a caught-up machine's points are announced as a cadence
    /// ([`drsim_engine::protocol::Observation::PointCadence`]), and a syncing machine's progress as a
    /// sync cadence ([`drsim_engine::protocol::Observation::SyncCadence`]), instead of reported every
    /// interval. On by default; off only to check that both tell the engine the same (issue 6).
    pub cadences: bool,
}

impl WorldSpec {
    /// Registers a machine with the configuration server (RP-02), with its agent's host ID (CL-01).
    pub fn cs_register(&mut self, vm: &VmName, host_id: &str) {
        self.config_server.registrations.push(CsRegistration {
            machine: vm.clone(),
            host_id: host_id.to_owned(),
        });
    }

    /// An empty estate with defaults, to fill in.
    pub fn new(seed: u64, config_server: ConfigServerView, link: SiteLinkSpec) -> Self {
        WorldSpec {
            seed,
            vcenters: Vec::new(),
            hosts: Vec::new(),
            datastores: Vec::new(),
            master_targets: Vec::new(),
            process_servers: Vec::new(),
            config_server,
            link,
            machines: Vec::new(),
            faults: Vec::new(),
            timing: Timing::default(),
            download_threads: crate::network::DEFAULT_DOWNLOAD_THREADS,
            per_thread_bytes_per_s: 25_000_000,
            report_interval_ms: 5 * MINUTE_MS,
            discovery_interval_ms: 15 * MINUTE_MS,
            enforce_mt_disk_limit: true,
            cadences: true,
        }
    }
}
