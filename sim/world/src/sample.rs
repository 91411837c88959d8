//! A small, healthy estate to build worlds from in tests and examples: one vCenter, one ESXi host, one
//! VMFS datastore, a process server, a Windows master target, a VPN, and `vms` Windows machines with
//! `disks` disks each, in lifecycle state `state`.

use crate::churn::ChurnModel;
use crate::faults::FaultSpec;
use crate::world::*;
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::item::ItemSpec;

/// 10⁹ bytes.
pub const GB: u64 = 1_000_000_000;

pub struct SampleEstate {
    pub vms: usize,
    pub disks: usize,
    pub disk_size: u64,
    pub used: u64,
    pub churn_bps: u64,
    pub link_bps: u64,
    pub state: drsim_engine::lifecycle::ItemState,
    pub onprem_exists: bool,
    pub faults: Vec<FaultSpec>,
    pub seed: u64,
}

impl Default for SampleEstate {
    fn default() -> Self {
        SampleEstate {
            vms: 1,
            disks: 2,
            disk_size: 100 * GB,
            used: 40 * GB,
            churn_bps: 100_000,
            link_bps: 100_000_000,
            state: drsim_engine::lifecycle::ItemState::InAzure,
            onprem_exists: true,
            faults: Vec::new(),
            seed: 7,
        }
    }
}

/// The id of the `i`-th sample item.
pub fn item(i: usize) -> ItemId {
    ItemId::from(format!("item-{i}"))
}

impl SampleEstate {
    /// The world spec and the vault's items.
    pub fn build(&self) -> (WorldSpec, Vec<ItemSpec>) {
        let cs = ConfigServerView {
            running: true,
            connected_to_azure: true,
            vcenters: vec!["vc1".into()],
            version: 9,
            registrations: vec![],
        };
        let link = SiteLinkSpec {
            kind: SiteLink::Vpn,
            bandwidth_bytes_per_s: self.link_bps,
            latency_ms: 20,
        };
        let mut spec = WorldSpec::new(self.seed, cs, link);
        spec.faults = self.faults.clone();
        spec.vcenters.push(VCenterView {
            name: "vc1".into(),
            connected: true,
            account: DiscoveryAccount::Full,
        });
        let mut mounts = std::collections::BTreeMap::new();
        mounts.insert(DatastoreName::from("ds1"), MountAccess::ReadWrite);
        spec.hosts.push(HostView {
            name: "esx1".into(),
            vcenter: "vc1".into(),
            kind: HostKind::Esxi,
            version: "7.0".into(),
            edition: HostEdition::Licensed,
            up: true,
            memory_free_mib: 512 * 1024,
            mounts,
        });
        spec.datastores.push(DatastoreView {
            name: "ds1".into(),
            vcenter: "vc1".into(),
            kind: DatastoreKind::Vmfs,
            capacity_bytes: 100_000 * GB,
            free_bytes: 50_000 * GB,
            folders: vec![],
        });
        spec.process_servers.push(ProcessServerSpec {
            view: ProcessServerView {
                name: "ps1".into(),
                running: true,
                health: Health::Ok,
                vnet: "vnet1".into(),
                nat_configured: false,
                version: 9,
            },
            throughput_bytes_per_s: None,
            cache_bytes: Some(300 * GB),
        });
        spec.master_targets.push(MasterTargetSpec {
            view: MasterTargetView {
                name: "mt1".into(),
                os: OsType::Windows,
                is_vmware_vm: true,
                host: "esx1".into(),
                running: true,
                snapshots: 0,
                controller: Controller::LsiLogic,
                enable_uuid: true,
                lvm_root_or_retention: false,
                own_disks: 3,
                disk_uuids: vec!["mt-disk".into()],
                retention_drives: vec![RetentionDriveView {
                    name: "R:".into(),
                    fs: FileSystem::Ntfs,
                    capacity_bytes: 1000 * GB,
                    is_cache_volume: false,
                    is_replication_target: false,
                }],
                version: 9,
            },
            throughput_bytes_per_s: None,
        });
        // per-thread cap far above the link, so the link is the lone bottleneck
        spec.per_thread_bytes_per_s = 10 * self.link_bps;
        let mut items = Vec::new();
        for i in 0..self.vms {
            let vm = VmName::from(format!("vm-{i}"));
            let disks: Vec<DiskSpec> = (0..self.disks)
                .map(|d| DiskSpec {
                    name: format!("vm-{i}-d{d}"),
                    size_bytes: self.disk_size,
                    used_bytes: self.used,
                    hot_region_bytes: self.disk_size / 10,
                    churn: ChurnModel::constant(self.churn_bps),
                })
                .collect();
            spec.cs_register(&vm, &format!("hid-{i}"));
            spec.machines.push(MachineSpec {
                item: item(i),
                onprem: self.onprem_exists.then(|| OnPremVmView {
                    name: vm.clone(),
                    host: "esx1".into(),
                    power: PowerState::Off,
                    disks: disks
                        .iter()
                        .map(|d| OnPremDiskView {
                            uuid: d.name.clone(),
                            size_bytes: d.size_bytes,
                            rdm: false,
                        })
                        .collect(),
                    enable_uuid: true,
                    snapshots: 0,
                    agent_registered: false,
                }),
                memory_mib: 8192,
                azure: AzureVmView {
                    name: VmName::from(format!("vm-{i}-azure")),
                    power: PowerState::On,
                    resource_group: "rg1".into(),
                    vnet: "vnet1".into(),
                    agent_host_id: Some(format!("hid-{i}")),
                    agent_registered: true,
                    memory_mib: 8192,
                    cpus: 2,
                    nic_ips: vec![],
                    disks: disks
                        .iter()
                        .map(|d| AzureDiskView {
                            name: d.name.clone(),
                            size_bytes: d.size_bytes,
                            temporary: false,
                            added_after_failover: false,
                        })
                        .collect(),
                },
                state: self.state,
                replication_group: None,
                disks,
                protection: None,
            });
            items.push(ItemSpec {
                id: item(i),
                onprem_vm: vm,
                azure_vm: VmName::from(format!("vm-{i}-azure")),
                os: OsType::Windows,
                firmware: Firmware::Bios,
                source: Default::default(),
                origin: Default::default(),
                migrated: false,
                original_vcenter: "vc1".into(),
                original_resource_group: "rg1".into(),
                replication_group: None,
                state: self.state,
                protection: None,
            });
        }
        (spec, items)
    }
}

/// A reprotect of the `i`-th sample item to the sample estate's MT, PS, datastore and retention drive.
pub fn reprotect(i: usize) -> drsim_engine::protocol::Command {
    use drsim_engine::protocol::{Command, LocationChoice, ReprotectMachine, Target};
    Command::Reprotect {
        target: Target::Item(item(i)),
        machines: vec![ReprotectMachine {
            item: item(i),
            master_target: "mt1".into(),
            process_server: "ps1".into(),
            datastore: "ds1".into(),
            retention_drive: "R:".into(),
            location: LocationChoice::Auto,
        }],
    }
}
