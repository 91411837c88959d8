//! A small lab for the engine's own tests: a healthy estate (one vCenter, one ESXi host, datastores, a
//! Windows and a Linux master target, a process server, the CS, a VPN) and a driver that answers actions,
//! which a test can make fail or go unanswered. Not the world: just enough to drive the engine.

use crate::ids::*;
use crate::inventory::*;
use crate::item::ItemSpec;
use crate::lifecycle::ItemState;
use crate::protocol::*;
use crate::recovery_point::{PointKind, RecoveryPoint};
use crate::time::{MINUTE_MS, SECOND_MS};
use crate::{Engine, EngineConfig, Millis};
use std::collections::{BTreeMap, BTreeSet};

pub const GIB: u64 = 1 << 30;

/// The lab.
pub struct Lab {
    pub engine: Engine,
    pub now: Millis,
    pub log: Vec<Output>,
    pub vcenters: BTreeMap<VCenterName, VCenterView>,
    pub hosts: BTreeMap<HostName, HostView>,
    pub datastores: BTreeMap<DatastoreName, DatastoreView>,
    pub onprem: BTreeMap<VmName, OnPremVmView>,
    pub mts: BTreeMap<MasterTargetName, MasterTargetView>,
    pub pss: BTreeMap<ProcessServerName, ProcessServerView>,
    pub azure: BTreeMap<VmName, AzureVmView>,
    pub cs: ConfigServerView,
    pub network: NetworkView,
    /// Action kinds (by name) that fail with this error.
    pub fail: BTreeMap<&'static str, ActionError>,
    /// Action kinds (by name) whose result never arrives.
    pub drop: BTreeSet<&'static str>,
    /// Whether StartReplication finishes the sync at once.
    pub auto_sync: bool,
    /// Actions sent, in order.
    pub actions: Vec<ActionRequest>,
    /// When set, actions are not answered but kept in `outstanding` for the test to resolve.
    pub manual: bool,
    /// Unanswered actions (manual mode).
    pub outstanding: Vec<ActionRequest>,
}

pub fn item_id(i: usize) -> ItemId {
    ItemId::from(format!("item-{i}"))
}

pub fn spec(i: usize, state: ItemState) -> ItemSpec {
    ItemSpec {
        id: item_id(i),
        onprem_vm: VmName::from(format!("vm-{i}")),
        azure_vm: VmName::from(format!("vm-{i}-azure")),
        os: OsType::Windows,
        firmware: Firmware::Bios,
        source: Default::default(),
        origin: Default::default(),
        migrated: false,
        original_vcenter: "vc1".into(),
        original_resource_group: "rg1".into(),
        replication_group: None,
        state,
        protection: matches!(state, ItemState::ProtectedToOnPrem | ItemState::FailedBack)
            .then(|| machine(i)),
    }
}

pub fn machine(i: usize) -> ReprotectMachine {
    ReprotectMachine {
        item: item_id(i),
        master_target: "mt-win".into(),
        process_server: "ps1".into(),
        datastore: "ds1".into(),
        retention_drive: "R:".into(),
        location: LocationChoice::Auto,
    }
}

impl Lab {
    /// A lab with these items and a healthy estate for them.
    pub fn new(specs: Vec<ItemSpec>) -> Lab {
        Lab::with_config(EngineConfig::default(), specs)
    }

    pub fn with_config(config: EngineConfig, specs: Vec<ItemSpec>) -> Lab {
        let mut mounts = BTreeMap::new();
        mounts.insert(DatastoreName::from("ds1"), MountAccess::ReadWrite);
        mounts.insert(DatastoreName::from("ds-nfs"), MountAccess::ReadWrite);
        mounts.insert(DatastoreName::from("ds-ro"), MountAccess::ReadOnly);
        let mut lab = Lab {
            engine: Engine::new(config, specs.clone()).expect("valid specs"),
            now: 0,
            log: Vec::new(),
            vcenters: [("vc1", true)]
                .into_iter()
                .map(|(n, c)| {
                    (
                        n.into(),
                        VCenterView {
                            name: n.into(),
                            connected: c,
                            account: DiscoveryAccount::Full,
                        },
                    )
                })
                .collect(),
            hosts: [(
                HostName::from("esx1"),
                HostView {
                    name: "esx1".into(),
                    vcenter: "vc1".into(),
                    kind: HostKind::Esxi,
                    version: "7.0".into(),
                    edition: HostEdition::Licensed,
                    up: true,
                    memory_free_mib: 256 * 1024,
                    mounts,
                },
            )]
            .into_iter()
            .collect(),
            datastores: [
                ("ds1", DatastoreKind::Vmfs),
                ("ds-nfs", DatastoreKind::Nfs),
                ("ds-ro", DatastoreKind::Vmfs),
            ]
            .into_iter()
            .map(|(n, k)| {
                (
                    n.into(),
                    DatastoreView {
                        name: n.into(),
                        vcenter: "vc1".into(),
                        kind: k,
                        capacity_bytes: 10_000 * GIB,
                        free_bytes: 5_000 * GIB,
                        folders: Vec::new(),
                    },
                )
            })
            .collect(),
            onprem: BTreeMap::new(),
            mts: [
                ("mt-win", OsType::Windows, "R:"),
                ("mt-lin", OsType::Linux, "/retention"),
            ]
            .into_iter()
            .map(|(n, os, r)| {
                (
                    n.into(),
                    MasterTargetView {
                        name: n.into(),
                        os,
                        is_vmware_vm: true,
                        host: "esx1".into(),
                        running: true,
                        snapshots: 0,
                        controller: Controller::LsiLogic,
                        enable_uuid: true,
                        lvm_root_or_retention: false,
                        own_disks: 3,
                        disk_uuids: vec![format!("{n}-disk-0")],
                        retention_drives: vec![RetentionDriveView {
                            name: r.into(),
                            fs: if os == OsType::Windows {
                                FileSystem::Ntfs
                            } else {
                                FileSystem::Ext4
                            },
                            capacity_bytes: 1_000 * GIB,
                            is_cache_volume: false,
                            is_replication_target: false,
                        }],
                        version: 9,
                    },
                )
            })
            .collect(),
            pss: [(
                ProcessServerName::from("ps1"),
                ProcessServerView {
                    name: "ps1".into(),
                    running: true,
                    health: Health::Ok,
                    vnet: "vnet1".into(),
                    nat_configured: false,
                    version: 9,
                },
            )]
            .into_iter()
            .collect(),
            azure: BTreeMap::new(),
            cs: ConfigServerView {
                running: true,
                connected_to_azure: true,
                vcenters: vec!["vc1".into()],
                version: 9,
                registrations: Vec::new(),
            },
            network: NetworkView {
                link: SiteLink::Vpn,
                up: true,
            },
            fail: BTreeMap::new(),
            drop: BTreeSet::new(),
            auto_sync: true,
            actions: Vec::new(),
            manual: false,
            outstanding: Vec::new(),
        };
        for s in &specs {
            let azure_active = s.state.active_copy() == crate::lifecycle::ActiveCopy::Azure;
            lab.onprem.insert(
                s.onprem_vm.clone(),
                OnPremVmView {
                    name: s.onprem_vm.clone(),
                    host: "esx1".into(),
                    power: if azure_active {
                        PowerState::Off
                    } else {
                        PowerState::On
                    },
                    disks: (0..2)
                        .map(|d| OnPremDiskView {
                            uuid: format!("{}-d{d}", s.onprem_vm),
                            size_bytes: 100 * GIB,
                            rdm: false,
                        })
                        .collect(),
                    enable_uuid: true,
                    snapshots: 0,
                    agent_registered: !azure_active,
                },
            );
            lab.azure.insert(
                s.azure_vm.clone(),
                AzureVmView {
                    name: s.azure_vm.clone(),
                    power: if azure_active {
                        PowerState::On
                    } else {
                        PowerState::Off
                    },
                    resource_group: "rg1".into(),
                    vnet: "vnet1".into(),
                    agent_host_id: Some(format!("hid-{}", s.onprem_vm)),
                    agent_registered: true,
                    memory_mib: 8192,
                    cpus: 2,
                    nic_ips: vec!["10.0.0.4".into()],
                    disks: (0..2)
                        .map(|d| AzureDiskView {
                            name: format!("{}-d{d}", s.onprem_vm),
                            size_bytes: 100 * GIB,
                            temporary: false,
                            added_after_failover: false,
                        })
                        .chain(std::iter::once(AzureDiskView {
                            name: format!("{}-temp", s.azure_vm),
                            size_bytes: 16 * GIB,
                            temporary: true,
                            added_after_failover: false,
                        }))
                        .collect(),
                },
            );
            lab.cs.registrations.push(CsRegistration {
                machine: s.onprem_vm.clone(),
                host_id: format!("hid-{}", s.onprem_vm),
            });
        }
        lab.discover();
        lab
    }

    /// Reports the whole estate to the engine (a full discovery).
    pub fn discover(&mut self) {
        let mut upserts = Vec::new();
        upserts.extend(self.vcenters.values().cloned().map(Entity::VCenter));
        upserts.extend(self.hosts.values().cloned().map(Entity::Host));
        upserts.extend(self.datastores.values().cloned().map(Entity::Datastore));
        upserts.extend(self.onprem.values().cloned().map(Entity::OnPremVm));
        upserts.extend(self.mts.values().cloned().map(Entity::MasterTarget));
        upserts.extend(self.pss.values().cloned().map(Entity::ProcessServer));
        upserts.extend(self.azure.values().cloned().map(Entity::AzureVm));
        upserts.push(Entity::ConfigServer(self.cs.clone()));
        upserts.push(Entity::Network(self.network));
        let removals = self
            .engine
            .inventory()
            .azure_vms
            .keys()
            .filter(|k| !self.azure.contains_key(*k))
            .cloned()
            .map(EntityKey::AzureVm)
            .chain(
                self.engine
                    .inventory()
                    .onprem_vms
                    .keys()
                    .filter(|k| !self.onprem.contains_key(*k))
                    .cloned()
                    .map(EntityKey::OnPremVm),
            )
            .collect();
        self.input(Input::Observation(Observation::Inventory(InventoryDelta {
            upserts,
            removals,
        })));
    }

    /// Feeds an input at the current time and answers every action that results, until quiet.
    pub fn input(&mut self, i: Input) {
        self.engine.handle(self.now, i);
        self.pump();
    }

    /// Sends a command; returns its job or refusal.
    pub fn cmd(&mut self, c: Command) -> Result<Option<JobId>, Refusal> {
        let r = self.engine.command(self.now, c);
        self.pump();
        r
    }

    /// Advances time to `to`, firing every engine timer on the way.
    pub fn advance(&mut self, to: Millis) {
        while let Some(at) = self.engine.poll_timeout() {
            if at > to {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = self.now.max(to);
    }

    /// Reports recovery points for an item at every 5 min from `from` to `to` (multi-VM consistent).
    pub fn points(&mut self, item: &ItemId, from: Millis, to: Millis) {
        let mut points = Vec::new();
        let mut t = from;
        while t <= to {
            let kind = if t.is_multiple_of(60 * MINUTE_MS) {
                PointKind::App
            } else {
                PointKind::Crash
            };
            points.push(RecoveryPoint {
                tag_ms: t,
                kind,
                multi_vm: true,
            });
            t += 5 * MINUTE_MS;
        }
        self.input(Input::Observation(Observation::RecoveryPoints {
            item: item.clone(),
            points,
        }));
    }

    /// Drains outputs, answering actions (immediately) until nothing is left.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            let Some(o) = self.engine.poll_output() else {
                return;
            };
            self.log.push(o.clone());
            if let Output::Action(a) = o {
                let a = *a;
                self.actions.push(a.clone());
                if self.manual {
                    self.outstanding.push(a);
                } else {
                    self.answer(a);
                }
            }
        }
        panic!("the engine did not go quiet");
    }

    /// Manual mode: answers the `k`-th outstanding action (modulo their number) with success, or `err`.
    pub fn resolve(&mut self, k: usize, err: Option<ActionError>) {
        if self.outstanding.is_empty() {
            return;
        }
        let a = self.outstanding.remove(k % self.outstanding.len());
        match err {
            Some(e) => self.input(Input::Observation(Observation::ActionResult {
                id: a.id,
                outcome: ActionOutcome::Failed(e),
            })),
            None => {
                self.answer(a);
                self.pump();
            }
        }
    }

    fn answer(&mut self, a: ActionRequest) {
        let name = a.kind.name();
        if self.drop.contains(name) {
            return;
        }
        if let Some(err) = self.fail.get(name).cloned() {
            self.engine.handle(
                self.now,
                Input::Observation(Observation::ActionResult {
                    id: a.id,
                    outcome: ActionOutcome::Failed(err),
                }),
            );
            return;
        }
        let mut point = None;
        let mut followups = Vec::new();
        match &a.kind {
            ActionKind::PowerOffOnPremVm { vm } => self.set_onprem_power(vm, PowerState::Off),
            ActionKind::PowerOnOnPremVm { vm } => {
                self.set_onprem_power(vm, PowerState::On);
                if let Some(v) = self.onprem.get_mut(vm) {
                    v.agent_registered = true;
                }
            }
            ActionKind::ShutdownAzureVm { vm } => self.set_azure_power(vm, PowerState::Off),
            ActionKind::StartAzureVm { vm } => self.set_azure_power(vm, PowerState::On),
            ActionKind::FailoverToAzure { item, .. } => {
                let vm = self.engine.item(item).map(|r| r.spec.azure_vm.clone());
                if let Some(vm) = vm {
                    self.set_azure_power(&vm, PowerState::On);
                }
            }
            ActionKind::DeleteAzureVm { vm } => {
                self.azure.remove(vm);
            }
            ActionKind::ConsolidateSnapshots { vm } => {
                if let Some(v) = self.onprem.get_mut(vm) {
                    v.snapshots = 0;
                }
            }
            ActionKind::FinalSync { tag_ms, .. } => {
                point = Some(RecoveryPoint {
                    tag_ms: *tag_ms,
                    kind: PointKind::Crash,
                    multi_vm: true,
                });
            }
            ActionKind::StartReplication {
                item, direction, ..
            } if self.auto_sync => {
                followups.push(Observation::Replication {
                    item: item.clone(),
                    report: ReplicationReport {
                        direction: *direction,
                        initial_sync_done: true,
                        sync_bytes_sent: 1,
                        sync_bytes_total: 1,
                        health: Health::Ok,
                    },
                });
                followups.push(Observation::RecoveryPoints {
                    item: item.clone(),
                    points: vec![RecoveryPoint {
                        tag_ms: self.now,
                        kind: PointKind::App,
                        multi_vm: true,
                    }],
                });
            }
            _ => {}
        }
        self.now += SECOND_MS;
        self.discover();
        self.engine.handle(
            self.now,
            Input::Observation(Observation::ActionResult {
                id: a.id,
                outcome: ActionOutcome::Ok { point },
            }),
        );
        for f in followups {
            self.engine.handle(self.now, Input::Observation(f));
        }
    }

    pub fn set_onprem_power(&mut self, vm: &VmName, p: PowerState) {
        if let Some(v) = self.onprem.get_mut(vm) {
            v.power = p;
        }
    }

    pub fn set_azure_power(&mut self, vm: &VmName, p: PowerState) {
        if let Some(v) = self.azure.get_mut(vm) {
            v.power = p;
        }
    }

    /// The state of an item.
    pub fn state(&self, i: usize) -> ItemState {
        self.engine.item(&item_id(i)).expect("item").state
    }

    /// The outcome of a job.
    pub fn outcome(&self, job: JobId) -> Option<JobOutcome> {
        self.engine.job(job).and_then(|j| j.outcome.clone())
    }

    /// Names of the actions sent so far.
    pub fn action_names(&self) -> Vec<&'static str> {
        self.actions.iter().map(|a| a.kind.name()).collect()
    }
}

/// An error as the infrastructure reports it.
pub fn error(rule: Option<crate::rules::RuleId>, code: u32, message: &str) -> ActionError {
    ActionError {
        rule,
        code: crate::ErrorCode(code),
        message: message.into(),
        transient: false,
    }
}
