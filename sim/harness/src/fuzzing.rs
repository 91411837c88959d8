//! Fuzz targets' logic (issue 5), shared by `fuzz/` (cargo-fuzz, nightly) and the corpus tests
//! (`tests/fuzz_corpus.rs`, stable), so the targets stay built and their seed corpora never regress.
//!
//! * [`scenario_bytes`]: any bytes as a scenario file. Parsing and building must never panic, whatever
//!   the text; an [`crate::scenario::InputError`] is the only allowed answer to bad input.
//! * [`engine_inputs`]: any bytes decoded into a small estate and a long sequence of engine inputs
//!   (commands of every kind, valid and not; discovery deltas; results of the actions the engine asked
//!   for, good, failed or never sent; replication reports; recovery points; time passing). After every
//!   step the engine must not have panicked, every [`Output::ItemState`] it emitted must be a transition
//!   [`transition_allowed`] accepts and must start from the state the item was last reported in, and the
//!   engine's own record must agree with what it reported.
//!
//! # How `engine_inputs` decodes its bytes
//!
//! A [`Cursor`] hands out one byte at a time; when the bytes run out the run stops, so every byte string
//! is a valid input and decoding is total and deterministic (no randomness, no clock).
//!
//! 1. **Header.** Byte 0 is the engine configuration ([`config_from_byte`]): attempts per action, short
//!    or default timeouts, the alternate-vCenter switch and the retention window. Byte 1 is the number of
//!    items, 1–4. Each item takes two bytes: its starting state (an index into [`START_STATES`]) and flags
//!    ([`flag`]: Linux, replication group, EFI, physical 2008 R2 source, created in Azure, migrated,
//!    alternate location, no reprotect settings).
//! 2. **Steps.** Then, until the bytes run out, one opcode byte (`byte % OPS`, see [`op`]) and its
//!    argument bytes:
//!    * [`op::COMMAND`] `kind target arg`: a command ([`cmd`]) on an item, a plan or a name nobody knows;
//!      `kind >= 128` sends it through [`Engine::handle`] instead of [`Engine::command`];
//!    * [`op::ANSWER`] `index outcome`: answers one outstanding action: success (with its effect on the
//!      estate and a discovery, or bare), a permanent or transient failure, or never (it will time out);
//!    * [`op::ANSWER_ALL`]: answers every outstanding action with success, and the ones that follow, up
//!      to [`ANSWER_ALL_LIMIT`] — how a sequence gets far quickly;
//!    * [`op::REPLICATION`] `item flags progress`: a replication report;
//!    * [`op::POINTS`] `item shape`: recovery points, regular or odd (future tags, unsorted, duplicated);
//!    * [`op::WORLD`] `what which`: one change to the estate (power, deletion, vCenter, MT snapshot, PS,
//!      network, CS, host memory, datastore space, agents), reported as a one-entity delta;
//!    * [`op::ADVANCE`] `amount`: time passes; every due timer fires through [`Engine::handle_timeout`];
//!    * [`op::STALE_RESULT`] `which`: a result for an action already answered or never asked for;
//!    * [`op::DISCOVER`]: a full discovery of the estate.
//!
//! [`script::Script`] writes these bytes, for the seed corpus and for tests.

use crate::scenario;
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::item::{ItemSpec, Origin, SourceKind};
use drsim_engine::lifecycle::{ItemState, transition_allowed};
use drsim_engine::protocol::{
    ActionError, ActionKind, ActionOutcome, ActionRequest, Command, Direction, Input, JobEvent,
    JobOutcome, LocationChoice, Observation, Output, PlanAction, PlanGroup, PlanSpec,
    ReplicationReport, ReprotectMachine, Target,
};
use drsim_engine::recovery_point::{PointChoice, PointKind, RecoveryPoint, ReplicationPolicy};
use drsim_engine::rules::RuleId;
use drsim_engine::time::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use drsim_engine::{Engine, EngineConfig, ErrorCode, Millis};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

// ---------------------------------------------------------------------------------------------------
// Scenario parser
// ---------------------------------------------------------------------------------------------------

/// Feeds any bytes to the scenario parser and builder: [`scenario::parse`], then [`scenario::load_str`]
/// with the file's seed and with an overriding one, and prints every error (error positions are computed
/// from the text, so printing is part of what must not panic). Bytes that are not UTF-8 are read lossily,
/// so mutations that break an encoding still reach the parser. Any error is fine; a panic is the bug.
pub fn scenario_bytes(data: &[u8]) {
    let file = Path::new("fuzz/scenario.json");
    let text = String::from_utf8_lossy(data);
    if let Err(e) = scenario::parse(file, &text) {
        let _ = e.to_string();
    }
    for seed in [None, Some(u64::MAX)] {
        if let Err(e) = scenario::load_str(file, &text, seed) {
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Engine inputs: the byte format
// ---------------------------------------------------------------------------------------------------

/// The opcodes of a step (`opcode byte % OPS`).
pub mod op {
    /// `kind target arg`: a command.
    pub const COMMAND: u8 = 0;
    /// `index outcome`: answer one outstanding action.
    pub const ANSWER: u8 = 1;
    /// Answer every outstanding action (and those that follow) with success.
    pub const ANSWER_ALL: u8 = 2;
    /// `item flags progress`: a replication report.
    pub const REPLICATION: u8 = 3;
    /// `item shape`: recovery points.
    pub const POINTS: u8 = 4;
    /// `what which`: a change to the estate, reported as a delta.
    pub const WORLD: u8 = 5;
    /// `amount`: time passes; due timers fire.
    pub const ADVANCE: u8 = 6;
    /// `which`: a result for an action already answered or never asked for.
    pub const STALE_RESULT: u8 = 7;
    /// A full discovery.
    pub const DISCOVER: u8 = 8;
}

/// Number of opcodes.
pub const OPS: u8 = 9;

/// Command kinds (`kind byte % COMMANDS`, the high bit choosing [`drsim_engine::Engine::handle`]).
pub mod cmd {
    /// Failover (`arg`: the point).
    pub const FAILOVER: u8 = 0;
    /// Commit a failover.
    pub const COMMIT_FAILOVER: u8 = 1;
    /// Reprotect (`arg`: the machines' shape, see `decode_machines`).
    pub const REPROTECT: u8 = 2;
    /// Failback (`arg`: the point).
    pub const FAILBACK: u8 = 3;
    /// Change the recovery point (`arg`: the point).
    pub const CHANGE_POINT: u8 = 4;
    /// Commit a failback.
    pub const COMMIT_FAILBACK: u8 = 5;
    /// Re-protect to Azure.
    pub const REPROTECT_TO_AZURE: u8 = 6;
    /// Disable protection of the target's item.
    pub const DISABLE: u8 = 7;
    /// Cancel a job (`arg`: which of the jobs seen, or one that does not exist).
    pub const CANCEL: u8 = 8;
    /// Create or replace the plan `plan` (`arg`: its shape).
    pub const SET_PLAN: u8 = 9;
    /// Delete `plan` (`arg` odd: a plan nobody knows).
    pub const DELETE_PLAN: u8 = 10;
    /// Put the target's item in a replication group, another one, or none (`arg % 3`).
    pub const SET_GROUP: u8 = 11;
    /// Ask for a discovery.
    pub const REFRESH: u8 = 12;
    /// `kind >= VIA_HANDLE`: the command goes through `Engine::handle`.
    pub const VIA_HANDLE: u8 = 128;
}

/// Number of command kinds.
pub const COMMANDS: u8 = 13;

/// Item flags (the second byte of an item).
pub mod flag {
    /// A Linux machine (Linux master target).
    pub const LINUX: u8 = 1;
    /// Member of replication group `g1`.
    pub const GROUP: u8 = 2;
    /// EFI firmware (NS-09).
    pub const EFI: u8 = 4;
    /// Physical Windows 2008 R2 SP1 source (NS-02).
    pub const PHYSICAL_2008: u8 = 8;
    /// Created in Azure (NS-08).
    pub const CREATED_IN_AZURE: u8 = 16;
    /// Migrated (NS-04).
    pub const MIGRATED: u8 = 32;
    /// Reprotect settings with the alternate location.
    pub const ALTERNATE: u8 = 64;
    /// No reprotect settings, even in a state that has them.
    pub const NO_PROTECTION: u8 = 128;
}

/// The states an item may start in (`state byte % len`): every settled state; the engine refuses the
/// transient ones at construction, so they would only end the run.
pub const START_STATES: [ItemState; 7] = [
    ItemState::ProtectedToAzure,
    ItemState::FailedOver,
    ItemState::InAzure,
    ItemState::ProtectedToOnPrem,
    ItemState::FailedBack,
    ItemState::OnPrem,
    ItemState::Disabled,
];

/// Time steps of [`op::ADVANCE`] (`amount % 12`, times `1 + amount / 12 % 3`).
pub const ADVANCE_STEPS: [Millis; 12] = [
    SECOND_MS,
    10 * SECOND_MS,
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
];

/// How many actions [`op::ANSWER_ALL`] answers at most (answers start further actions).
pub const ANSWER_ALL_LIMIT: usize = 64;

/// Outstanding actions the driver remembers; older ones are forgotten (the engine times them out).
const OUTSTANDING_LIMIT: usize = 256;

/// Job failures an [`EngineRun`] keeps.
pub const FAILURES_KEPT: usize = 16;

/// Timer firings one [`op::ADVANCE`] may take before the engine counts as never settling.
const TIMER_FIRINGS_LIMIT: usize = 100_000;

/// The engine configuration byte 0 selects: bits 0–1 attempts per action (1–3), bit 2 the alternate
/// vCenter switch (RP-18), bit 3 short timeouts (so action timeouts, stalls and agent waits are reached
/// in few steps), bits 4–5 the retention window of both policies (0 days, 1, 3, 15).
pub fn config_from_byte(b: u8) -> EngineConfig {
    let mut c = EngineConfig {
        max_action_attempts: u32::from(b & 3) % 3 + 1,
        allow_alternate_vcenter: b & 4 != 0,
        ..EngineConfig::default()
    };
    if b & 8 != 0 {
        c.action_timeout_ms = 5 * MINUTE_MS;
        c.data_action_timeout_ms = 30 * MINUTE_MS;
        c.sync_stall_timeout_ms = HOUR_MS;
        c.agent_registration_wait_ms = 5 * MINUTE_MS;
    }
    let retention_ms = [0, DAY_MS, 3 * DAY_MS, 15 * DAY_MS][usize::from((b >> 4) & 3)];
    let policy = ReplicationPolicy {
        retention_ms,
        ..ReplicationPolicy::FAILBACK
    };
    c.failback_policy = policy;
    c.forward_policy = policy;
    c
}

/// A byte cursor: hands out the input one byte at a time; `None` once it is exhausted, which ends the
/// run (so decoding is total: every byte string is an input).
#[derive(Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// The next byte.
    pub fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied()?;
        self.pos += 1;
        Some(b)
    }
}

// ---------------------------------------------------------------------------------------------------
// Engine inputs: the run
// ---------------------------------------------------------------------------------------------------

/// Feeds any bytes to the engine as an estate and a sequence of inputs (see the module doc) and checks,
/// after every step, that every state change it reported is one the lifecycle allows and that its
/// outputs are drained. Panics (the fuzzer's crash) on a violation; returns quietly otherwise.
pub fn engine_inputs(data: &[u8]) {
    let _ = run_engine_inputs(data);
}

/// What one [`engine_inputs`] run did, so tests can show the corpus reaches far (not just that it does
/// not crash).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineRun {
    /// Whether the header decoded and the engine was built.
    pub started: bool,
    /// Steps decoded (opcodes).
    pub steps: usize,
    /// Commands sent.
    pub commands: usize,
    /// Commands refused.
    pub refusals: usize,
    /// Jobs created.
    pub jobs: usize,
    /// Jobs that ended in success.
    pub jobs_succeeded: usize,
    /// Jobs that ended in failure.
    pub jobs_failed: usize,
    /// Jobs that were cancelled.
    pub jobs_cancelled: usize,
    /// Why jobs failed (`code: message`), the first [`FAILURES_KEPT`].
    pub failures: Vec<String>,
    /// Actions the engine asked for.
    pub actions: usize,
    /// Action results sent (success or failure).
    pub results: usize,
    /// Item state changes reported (each checked).
    pub transitions: usize,
    /// Every state an item was in at some point.
    pub states: BTreeSet<ItemState>,
    /// Simulated time at the end.
    pub end_ms: Millis,
}

/// [`engine_inputs`], returning what the run did.
pub fn run_engine_inputs(data: &[u8]) -> EngineRun {
    let mut cur = Cursor::new(data);
    let Some(mut d) = Driver::from_header(&mut cur) else {
        return EngineRun::default();
    };
    while let Some(opcode) = cur.byte() {
        d.run.steps += 1;
        if d.step(opcode % OPS, &mut cur).is_none() {
            break;
        }
    }
    d.run.end_ms = d.now;
    d.run
}

/// The driver's copy of the infrastructure, which discovery reports to the engine.
#[derive(Clone, Debug)]
struct Estate {
    vcenter: VCenterView,
    host: HostView,
    datastores: BTreeMap<DatastoreName, DatastoreView>,
    mts: BTreeMap<MasterTargetName, MasterTargetView>,
    ps: ProcessServerView,
    cs: ConfigServerView,
    network: NetworkView,
    onprem: BTreeMap<VmName, OnPremVmView>,
    azure: BTreeMap<VmName, AzureVmView>,
    /// VMs deleted (kept so a later step can bring them back).
    gone_onprem: BTreeMap<VmName, OnPremVmView>,
    gone_azure: BTreeMap<VmName, AzureVmView>,
}

const GIB: u64 = 1 << 30;

impl Estate {
    /// A healthy estate for `specs`, like the engine's own test lab: one vCenter and ESXi host, a VMFS,
    /// an NFS and a read-only datastore, a Windows and a Linux master target, a process server, the CS,
    /// a VPN; each machine's VMs powered as its state says.
    fn new(specs: &[ItemSpec]) -> Self {
        let mut mounts = BTreeMap::new();
        mounts.insert(DatastoreName::from("ds1"), MountAccess::ReadWrite);
        mounts.insert(DatastoreName::from("ds-nfs"), MountAccess::ReadWrite);
        mounts.insert(DatastoreName::from("ds-ro"), MountAccess::ReadOnly);
        let datastores = [
            ("ds1", DatastoreKind::Vmfs),
            ("ds-nfs", DatastoreKind::Nfs),
            ("ds-ro", DatastoreKind::Vmfs),
        ]
        .into_iter()
        .map(|(n, kind)| {
            (
                DatastoreName::from(n),
                DatastoreView {
                    name: n.into(),
                    vcenter: "vc1".into(),
                    kind,
                    capacity_bytes: 10_000 * GIB,
                    free_bytes: 5_000 * GIB,
                    folders: Vec::new(),
                },
            )
        })
        .collect();
        let mts = [
            ("mt-win", OsType::Windows, "R:", FileSystem::Ntfs),
            ("mt-lin", OsType::Linux, "/retention", FileSystem::Ext4),
        ]
        .into_iter()
        .map(|(n, os, r, fs)| {
            (
                MasterTargetName::from(n),
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
                        fs,
                        capacity_bytes: 1_000 * GIB,
                        is_cache_volume: false,
                        is_replication_target: false,
                    }],
                    version: 9,
                },
            )
        })
        .collect();
        let mut e = Estate {
            vcenter: VCenterView {
                name: "vc1".into(),
                connected: true,
                account: DiscoveryAccount::Full,
            },
            host: HostView {
                name: "esx1".into(),
                vcenter: "vc1".into(),
                kind: HostKind::Esxi,
                version: "7.0".into(),
                edition: HostEdition::Licensed,
                up: true,
                memory_free_mib: 256 * 1024,
                mounts,
            },
            datastores,
            mts,
            ps: ProcessServerView {
                name: "ps1".into(),
                running: true,
                health: Health::Ok,
                vnet: "vnet1".into(),
                nat_configured: false,
                version: 9,
            },
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
            onprem: BTreeMap::new(),
            azure: BTreeMap::new(),
            gone_onprem: BTreeMap::new(),
            gone_azure: BTreeMap::new(),
        };
        for s in specs {
            let azure_active = s.state.active_copy() == drsim_engine::lifecycle::ActiveCopy::Azure;
            let (on, off) = (PowerState::On, PowerState::Off);
            e.onprem.insert(
                s.onprem_vm.clone(),
                OnPremVmView {
                    name: s.onprem_vm.clone(),
                    host: "esx1".into(),
                    power: if azure_active { off } else { on },
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
            e.azure.insert(
                s.azure_vm.clone(),
                AzureVmView {
                    name: s.azure_vm.clone(),
                    power: if azure_active { on } else { off },
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
            e.cs.registrations.push(CsRegistration {
                machine: s.onprem_vm.clone(),
                host_id: format!("hid-{}", s.onprem_vm),
            });
        }
        e
    }

    /// Everything, as a full discovery: every entity, and the removal of every deleted VM.
    fn full_delta(&self) -> InventoryDelta {
        let mut upserts = vec![
            Entity::VCenter(self.vcenter.clone()),
            Entity::Host(self.host.clone()),
        ];
        upserts.extend(self.datastores.values().cloned().map(Entity::Datastore));
        upserts.extend(self.onprem.values().cloned().map(Entity::OnPremVm));
        upserts.extend(self.mts.values().cloned().map(Entity::MasterTarget));
        upserts.push(Entity::ProcessServer(self.ps.clone()));
        upserts.extend(self.azure.values().cloned().map(Entity::AzureVm));
        upserts.push(Entity::ConfigServer(self.cs.clone()));
        upserts.push(Entity::Network(self.network));
        let removals = self
            .gone_onprem
            .keys()
            .cloned()
            .map(EntityKey::OnPremVm)
            .chain(self.gone_azure.keys().cloned().map(EntityKey::AzureVm))
            .collect();
        InventoryDelta { upserts, removals }
    }

    fn set_onprem_power(&mut self, vm: &VmName, power: PowerState) {
        if let Some(v) = self.onprem.get_mut(vm) {
            v.power = power;
            if power == PowerState::On {
                v.agent_registered = true;
            }
        }
    }

    fn set_azure_power(&mut self, vm: &VmName, power: PowerState) {
        if let Some(v) = self.azure.get_mut(vm) {
            v.power = power;
        }
    }
}

/// The item id of item `i`.
fn item_id(i: usize) -> ItemId {
    ItemId::from(format!("item-{i}"))
}

/// Decodes item `i` from its state and flag bytes.
fn item_spec(i: usize, state_byte: u8, flags: u8) -> ItemSpec {
    let state = START_STATES[usize::from(state_byte) % START_STATES.len()];
    let os = if flags & flag::LINUX != 0 {
        OsType::Linux
    } else {
        OsType::Windows
    };
    let has_protection = matches!(state, ItemState::ProtectedToOnPrem | ItemState::FailedBack)
        && flags & flag::NO_PROTECTION == 0;
    let mut protection = has_protection.then(|| machine_for(i, os));
    if let Some(p) = protection.as_mut()
        && flags & flag::ALTERNATE != 0
    {
        p.location = LocationChoice::Alternate;
    }
    ItemSpec {
        id: item_id(i),
        onprem_vm: VmName::from(format!("vm-{i}")),
        azure_vm: VmName::from(format!("vm-{i}-azure")),
        os,
        firmware: if flags & flag::EFI != 0 {
            Firmware::Efi
        } else {
            Firmware::Bios
        },
        source: if flags & flag::PHYSICAL_2008 != 0 {
            SourceKind::PhysicalWindows2008R2Sp1
        } else {
            SourceKind::VmwareVm
        },
        origin: if flags & flag::CREATED_IN_AZURE != 0 {
            Origin::CreatedInAzure
        } else {
            Origin::FailedOver
        },
        migrated: flags & flag::MIGRATED != 0,
        original_vcenter: "vc1".into(),
        original_resource_group: "rg1".into(),
        replication_group: (flags & flag::GROUP != 0).then(|| GroupId::from("g1")),
        state,
        protection,
    }
}

/// Valid reprotect inputs for item `i` (the master target of its OS family).
fn machine_for(i: usize, os: OsType) -> ReprotectMachine {
    let (mt, drive) = match os {
        OsType::Windows => ("mt-win", "R:"),
        OsType::Linux => ("mt-lin", "/retention"),
    };
    ReprotectMachine {
        item: item_id(i),
        master_target: mt.into(),
        process_server: "ps1".into(),
        datastore: "ds1".into(),
        retention_drive: drive.into(),
        location: LocationChoice::Auto,
    }
}

/// Drives one engine through the decoded steps and watches its outputs.
struct Driver {
    engine: Engine,
    now: Millis,
    specs: Vec<ItemSpec>,
    estate: Estate,
    /// Each item's state as last reported by the engine.
    state: BTreeMap<ItemId, ItemState>,
    /// Actions asked for and not answered yet, oldest first.
    outstanding: Vec<ActionRequest>,
    /// Actions answered (for stale results).
    answered: Vec<ActionId>,
    /// Jobs created (for cancel).
    jobs: Vec<JobId>,
    /// Recovery point tags reported per item (for `PointChoice::At`).
    tags: BTreeMap<ItemId, Vec<Millis>>,
    run: EngineRun,
}

impl Driver {
    /// Decodes the header and builds the engine; `None` when the bytes run out first (or, never with
    /// [`START_STATES`], when the engine refuses the items).
    fn from_header(cur: &mut Cursor<'_>) -> Option<Driver> {
        let config = config_from_byte(cur.byte()?);
        let n = 1 + usize::from(cur.byte()? % 4);
        let mut specs = Vec::with_capacity(n);
        for i in 0..n {
            let state = cur.byte()?;
            let flags = cur.byte()?;
            specs.push(item_spec(i, state, flags));
        }
        let engine = Engine::new(config, specs.clone()).ok()?;
        let estate = Estate::new(&specs);
        let state = specs.iter().map(|s| (s.id.clone(), s.state)).collect();
        let mut run = EngineRun {
            started: true,
            ..EngineRun::default()
        };
        run.states.extend(specs.iter().map(|s| s.state));
        let mut d = Driver {
            engine,
            now: 0,
            specs,
            estate,
            state,
            outstanding: Vec::new(),
            answered: Vec::new(),
            jobs: Vec::new(),
            tags: BTreeMap::new(),
            run,
        };
        d.discover();
        Some(d)
    }

    fn n(&self) -> usize {
        self.specs.len()
    }

    /// One step; `None` when its argument bytes run out.
    fn step(&mut self, opcode: u8, cur: &mut Cursor<'_>) -> Option<()> {
        match opcode {
            op::COMMAND => {
                let (kind, target, arg) = (cur.byte()?, cur.byte()?, cur.byte()?);
                self.command(kind, target, arg);
            }
            op::ANSWER => {
                let (index, outcome) = (cur.byte()?, cur.byte()?);
                self.answer_one(usize::from(index), outcome);
            }
            op::ANSWER_ALL => self.answer_all(),
            op::REPLICATION => {
                let (item, flags, progress) = (cur.byte()?, cur.byte()?, cur.byte()?);
                self.replication(item, flags, progress);
            }
            op::POINTS => {
                let (item, shape) = (cur.byte()?, cur.byte()?);
                self.points(item, shape);
            }
            op::WORLD => {
                let (what, which) = (cur.byte()?, cur.byte()?);
                self.world(what, which);
            }
            op::ADVANCE => {
                let amount = cur.byte()?;
                let step = ADVANCE_STEPS[usize::from(amount) % ADVANCE_STEPS.len()];
                self.advance(step * (1 + u64::from(amount / 12 % 3)));
            }
            op::STALE_RESULT => {
                let which = cur.byte()?;
                self.stale_result(which);
            }
            _ => self.discover(),
        }
        Some(())
    }

    // -- outputs --------------------------------------------------------------------------------------

    /// Drains the engine's outputs and checks them: every state change allowed by the lifecycle and
    /// starting where the item was; afterwards the engine's records agree with what it reported and
    /// nothing is left to poll.
    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::ItemState { item, from, to } => {
                    self.run.transitions += 1;
                    assert!(
                        transition_allowed(from, to),
                        "disallowed transition of {item}: {from} -> {to} (at {} ms)",
                        self.now
                    );
                    let prev = self.state.insert(item.clone(), to);
                    assert_eq!(
                        prev,
                        Some(from),
                        "state change of {item} reported from {from}, but it was last reported in {prev:?}"
                    );
                    self.run.states.insert(to);
                }
                Output::Action(a) => {
                    self.run.actions += 1;
                    self.outstanding.push(*a);
                    if self.outstanding.len() > OUTSTANDING_LIMIT {
                        self.outstanding.remove(0);
                    }
                }
                Output::Job(JobEvent::Created { job, .. }) => {
                    self.run.jobs += 1;
                    self.jobs.push(job);
                }
                Output::Job(JobEvent::Ended { outcome, .. }) => match outcome {
                    JobOutcome::Succeeded => self.run.jobs_succeeded += 1,
                    JobOutcome::Failed(f) => {
                        self.run.jobs_failed += 1;
                        if self.run.failures.len() < FAILURES_KEPT {
                            self.run
                                .failures
                                .push(format!("{}: {}", f.code.0, f.message));
                        }
                    }
                    JobOutcome::Cancelled => self.run.jobs_cancelled += 1,
                },
                Output::Refused(_) => self.run.refusals += 1,
                Output::Job(_) | Output::Alert(_) | Output::Timer { .. } => {}
            }
        }
        assert!(self.engine.poll_output().is_none(), "outputs not drained");
        for (id, s) in &self.state {
            let rec = self.engine.item(id).map(|r| r.state);
            assert_eq!(
                rec,
                Some(*s),
                "{id}: the engine's record says {rec:?}, its last reported state is {s}"
            );
        }
    }

    fn input(&mut self, i: Input) {
        self.engine.handle(self.now, i);
        self.drain();
    }

    fn discover(&mut self) {
        let delta = self.estate.full_delta();
        self.input(Input::Observation(Observation::Inventory(delta)));
    }

    // -- commands -------------------------------------------------------------------------------------

    /// Decodes a target: items 0–3 (wrapping), the plan `plan`, a plan nobody knows, an item nobody
    /// knows, or an item chosen by the high bits.
    fn target(&self, t: u8) -> Target {
        let n = self.n();
        match t % 8 {
            i @ 0..=3 => Target::Item(item_id(usize::from(i) % n)),
            4 => Target::Plan("plan".into()),
            5 => Target::Plan("no-such-plan".into()),
            6 => Target::Item("ghost".into()),
            _ => Target::Item(item_id(usize::from(t / 8) % n)),
        }
    }

    /// The items a target names that exist.
    fn target_items(&self, t: &Target) -> Vec<usize> {
        match t {
            Target::Item(id) => (0..self.n()).filter(|i| item_id(*i) == *id).collect(),
            Target::Plan(_) => (0..self.n()).collect(),
        }
    }

    /// Decodes a recovery point choice: latest, latest processed, latest app-consistent, a tag reported
    /// for the target (which may have been pruned or deleted since), a tag on the 5-minute grid, one in the future, or the largest tag there is.
    fn point(&self, t: &Target, arg: u8) -> PointChoice {
        match arg % 7 {
            0 => PointChoice::Latest,
            1 => PointChoice::LatestProcessed,
            2 => PointChoice::LatestAppConsistent,
            3 => {
                let tags: Vec<Millis> = self
                    .target_items(t)
                    .into_iter()
                    .flat_map(|i| self.tags.get(&item_id(i)).cloned().unwrap_or_default())
                    .collect();
                // newest first: `arg / 7` reported tags back
                let tag_ms = match tags.len() {
                    0 => 0,
                    len => tags[len - 1 - usize::from(arg / 7) % len],
                };
                PointChoice::At { tag_ms }
            }
            4 => PointChoice::At {
                tag_ms: (self.now / (5 * MINUTE_MS)).saturating_sub(u64::from(arg / 7))
                    * 5
                    * MINUTE_MS,
            },
            5 => PointChoice::At {
                tag_ms: self.now + HOUR_MS,
            },
            _ => PointChoice::At { tag_ms: u64::MAX },
        }
    }

    /// Decodes reprotect inputs for the target's items (`arg % 8`): valid (three ways), the other OS
    /// family's master target, names nobody knows, an NFS or read-only datastore, none at all, or the
    /// wrong item twice. Bit 3 asks for the alternate location.
    fn machines(&self, t: &Target, arg: u8) -> Vec<ReprotectMachine> {
        let items = self.target_items(t);
        let location = if arg & 8 != 0 {
            LocationChoice::Alternate
        } else {
            LocationChoice::Auto
        };
        let valid = |i: usize| ReprotectMachine {
            location,
            ..machine_for(i, self.specs[i].os)
        };
        match arg % 8 {
            0..=2 => items.into_iter().map(valid).collect(),
            3 => items
                .into_iter()
                .map(|i| {
                    let other = match self.specs[i].os {
                        OsType::Windows => OsType::Linux,
                        OsType::Linux => OsType::Windows,
                    };
                    ReprotectMachine {
                        location,
                        ..machine_for(i, other)
                    }
                })
                .collect(),
            4 => items
                .into_iter()
                .map(|i| ReprotectMachine {
                    item: item_id(i),
                    master_target: "no-mt".into(),
                    process_server: "no-ps".into(),
                    datastore: "no-ds".into(),
                    retention_drive: "Q:".into(),
                    location,
                })
                .collect(),
            5 => items
                .into_iter()
                .map(|i| ReprotectMachine {
                    datastore: if arg & 16 != 0 { "ds-ro" } else { "ds-nfs" }.into(),
                    ..valid(i)
                })
                .collect(),
            6 => Vec::new(),
            _ => {
                let other = (items.first().copied().unwrap_or(0) + 1) % self.n();
                vec![valid(other), valid(other)]
            }
        }
    }

    /// Decodes a plan (`arg % 6`): every item in one group; one group each; with a manual action; with
    /// a script (refused at failback, FB-08); with an unknown and a duplicated item; empty groups.
    fn plan(&self, arg: u8) -> PlanSpec {
        let n = self.n();
        let all: Vec<ItemId> = (0..n).map(item_id).collect();
        let group = |items: Vec<ItemId>, actions: Vec<PlanAction>| PlanGroup { items, actions };
        let groups = match arg % 6 {
            0 => vec![group(all, Vec::new())],
            1 => all
                .into_iter()
                .map(|i| group(vec![i], Vec::new()))
                .collect(),
            2 => vec![
                group(
                    all[..n / 2].to_vec(),
                    vec![PlanAction::Manual("check".into())],
                ),
                group(all[n / 2..].to_vec(), Vec::new()),
            ],
            3 => vec![group(all, vec![PlanAction::Script("run.ps1".into())])],
            4 => vec![
                group(vec![item_id(0), "ghost".into()], Vec::new()),
                group(vec![item_id(0)], Vec::new()),
            ],
            _ => vec![group(Vec::new(), Vec::new())],
        };
        PlanSpec {
            id: "plan".into(),
            groups,
        }
    }

    fn command(&mut self, kind: u8, t: u8, arg: u8) {
        let target = self.target(t);
        let item = match &target {
            Target::Item(id) => id.clone(),
            Target::Plan(_) => item_id(usize::from(arg) % self.n()),
        };
        let c = match kind % COMMANDS {
            cmd::FAILOVER => Command::Failover {
                point: self.point(&target, arg),
                target,
            },
            cmd::COMMIT_FAILOVER => Command::CommitFailover { target },
            cmd::REPROTECT => Command::Reprotect {
                machines: self.machines(&target, arg),
                target,
            },
            cmd::FAILBACK => Command::Failback {
                point: self.point(&target, arg),
                target,
            },
            cmd::CHANGE_POINT => Command::ChangeRecoveryPoint {
                point: self.point(&target, arg),
                target,
            },
            cmd::COMMIT_FAILBACK => Command::CommitFailback { target },
            cmd::REPROTECT_TO_AZURE => Command::ReprotectToAzure { target },
            cmd::DISABLE => Command::DisableProtection { item },
            cmd::CANCEL => {
                let k = usize::from(arg) % (self.jobs.len() + 2);
                let job = match k.checked_sub(2) {
                    Some(j) => self.jobs[self.jobs.len() - 1 - j],
                    None if k == 0 => self.jobs.last().copied().unwrap_or(JobId(1)),
                    None => JobId(u64::MAX),
                };
                Command::Cancel { job }
            }
            cmd::SET_PLAN => Command::SetPlan {
                plan: self.plan(arg),
            },
            cmd::DELETE_PLAN => Command::DeletePlan {
                plan: if arg & 1 == 0 { "plan" } else { "no-such-plan" }.into(),
            },
            cmd::SET_GROUP => Command::SetReplicationGroup {
                item,
                group: match arg % 3 {
                    0 => Some("g1".into()),
                    1 => Some("g2".into()),
                    _ => None,
                },
            },
            _ => Command::RefreshDiscovery,
        };
        self.run.commands += 1;
        if kind >= cmd::VIA_HANDLE {
            self.engine.handle(self.now, Input::Command(c));
        } else {
            let _ = self.engine.command(self.now, c);
        }
        self.drain();
    }

    // -- action results -------------------------------------------------------------------------------

    /// Answers the `index`-th outstanding action (modulo their number). `outcome % 10`: 0–5 success
    /// with its effect on the estate and a discovery first; 6 bare success (discovery lags; no point
    /// even for a final sync); 7 a permanent failure of some rule; 8 a transient failure; 9 never (the
    /// engine's timeout must handle it).
    fn answer_one(&mut self, index: usize, outcome: u8) {
        if self.outstanding.is_empty() {
            return;
        }
        let a = self.outstanding.remove(index % self.outstanding.len());
        match outcome % 10 {
            0..=5 => self.succeed(a),
            6 => self.result(
                a.id,
                ActionOutcome::Ok {
                    point: (outcome & 0x80 != 0).then_some(RecoveryPoint {
                        tag_ms: self.now,
                        kind: PointKind::App,
                        multi_vm: false,
                    }),
                },
            ),
            o @ (7 | 8) => {
                let rule = RuleId::ALL[usize::from(outcome / 10) % RuleId::ALL.len()];
                let rule = (outcome & 1 == 0).then_some(rule);
                let error = ActionError {
                    rule,
                    code: rule.map_or(ErrorCode(4242), RuleId::code),
                    message: format!("{} failed (fuzz)", a.kind.name()),
                    transient: o == 8,
                };
                self.result(a.id, ActionOutcome::Failed(error));
            }
            _ => {} // never answered
        }
    }

    /// Answers every outstanding action with success, and the actions those answers start, up to
    /// [`ANSWER_ALL_LIMIT`].
    fn answer_all(&mut self) {
        for _ in 0..ANSWER_ALL_LIMIT {
            if self.outstanding.is_empty() {
                return;
            }
            let a = self.outstanding.remove(0);
            self.succeed(a);
        }
    }

    fn result(&mut self, id: ActionId, outcome: ActionOutcome) {
        self.run.results += 1;
        self.answered.push(id);
        self.input(Input::Observation(Observation::ActionResult {
            id,
            outcome,
        }));
    }

    /// The action done, as the test lab does it: its effect on the estate, a discovery, the success
    /// (with the point a final sync makes) and, for a started replication, its finished sync and a
    /// first recovery point.
    fn succeed(&mut self, a: ActionRequest) {
        let mut point = None;
        let mut followups = Vec::new();
        match &a.kind {
            ActionKind::PowerOffOnPremVm { vm } => {
                self.estate.set_onprem_power(vm, PowerState::Off)
            }
            ActionKind::PowerOnOnPremVm { vm } => self.estate.set_onprem_power(vm, PowerState::On),
            ActionKind::ShutdownAzureVm { vm } => self.estate.set_azure_power(vm, PowerState::Off),
            ActionKind::StartAzureVm { vm } => self.estate.set_azure_power(vm, PowerState::On),
            ActionKind::FailoverToAzure { item, .. } => {
                if let Some(s) = self.specs.iter().find(|s| s.id == *item) {
                    let vm = s.azure_vm.clone();
                    self.estate.set_azure_power(&vm, PowerState::On);
                }
            }
            ActionKind::DeleteAzureVm { vm } => {
                if let Some(v) = self.estate.azure.remove(vm) {
                    self.estate.gone_azure.insert(vm.clone(), v);
                }
            }
            ActionKind::ConsolidateSnapshots { vm } => {
                if let Some(v) = self.estate.onprem.get_mut(vm) {
                    v.snapshots = 0;
                }
            }
            ActionKind::FinalSync { item, tag_ms } => {
                point = Some(RecoveryPoint {
                    tag_ms: *tag_ms,
                    kind: PointKind::Crash,
                    multi_vm: true,
                });
                self.tags.entry(item.clone()).or_default().push(*tag_ms);
            }
            ActionKind::StartReplication {
                item, direction, ..
            } => {
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
                self.tags.entry(item.clone()).or_default().push(self.now);
            }
            _ => {}
        }
        self.discover();
        self.result(a.id, ActionOutcome::Ok { point });
        for f in followups {
            self.input(Input::Observation(f));
        }
    }

    /// A result the engine is not waiting for: a second answer to an answered action (`which` even) or
    /// an answer to an action it never asked for.
    fn stale_result(&mut self, which: u8) {
        let id = if which & 1 == 0 && !self.answered.is_empty() {
            self.answered[usize::from(which / 2) % self.answered.len()]
        } else {
            ActionId(1_000_000 + u64::from(which))
        };
        let outcome = if which & 2 == 0 {
            ActionOutcome::Ok { point: None }
        } else {
            ActionOutcome::Failed(ActionError {
                rule: None,
                code: ErrorCode(4243),
                message: "late (fuzz)".into(),
                transient: which & 4 != 0,
            })
        };
        self.input(Input::Observation(Observation::ActionResult {
            id,
            outcome,
        }));
    }

    // -- observations ---------------------------------------------------------------------------------

    /// The item an argument byte names: one of the items, or (`b % 8 == 7`) one nobody knows.
    fn item(&self, b: u8) -> ItemId {
        if b % 8 == 7 {
            "ghost".into()
        } else {
            item_id(usize::from(b) % self.n())
        }
    }

    /// A replication report. `flags`: bit 0 direction to on-prem, bit 1 initial sync done, bits 2–3
    /// health; `progress` GiB sent of 200.
    fn replication(&mut self, item: u8, flags: u8, progress: u8) {
        let report = ReplicationReport {
            direction: if flags & 1 != 0 {
                Direction::ToOnPrem
            } else {
                Direction::ToAzure
            },
            initial_sync_done: flags & 2 != 0,
            sync_bytes_sent: u64::from(progress) * GIB,
            sync_bytes_total: 200 * GIB,
            health: [Health::Ok, Health::Warning, Health::Critical, Health::Ok]
                [usize::from((flags >> 2) & 3)],
        };
        let item = self.item(item);
        self.input(Input::Observation(Observation::Replication {
            item,
            report,
        }));
    }

    /// Recovery points for an item. `shape`: bits 0–2 one to eight points; bit 3 app-consistent every
    /// other point; bit 4 multi-VM consistent; bits 5–6 the layout: on the 5-minute grid up to now,
    /// some in the future, newest first, or one tag repeated.
    fn points(&mut self, item: u8, shape: u8) {
        let count = 1 + u64::from(shape & 7);
        let app = shape & 8 != 0;
        let multi_vm = shape & 16 != 0;
        let grid = self.now / (5 * MINUTE_MS) * 5 * MINUTE_MS;
        let base = grid.saturating_sub((count - 1) * 5 * MINUTE_MS);
        let mut tags: Vec<Millis> = (0..count).map(|k| base + k * 5 * MINUTE_MS).collect();
        match (shape >> 5) & 3 {
            0 => {}
            1 => tags.iter_mut().for_each(|t| *t += 10 * MINUTE_MS),
            2 => tags.reverse(),
            _ => tags.iter_mut().for_each(|t| *t = base),
        }
        let points = tags
            .iter()
            .enumerate()
            .map(|(k, t)| RecoveryPoint {
                tag_ms: *t,
                kind: if app && k % 2 == 0 {
                    PointKind::App
                } else {
                    PointKind::Crash
                },
                multi_vm,
            })
            .collect();
        let item = self.item(item);
        self.tags.entry(item.clone()).or_default().extend(tags);
        self.input(Input::Observation(Observation::RecoveryPoints {
            item,
            points,
        }));
    }

    /// One change to the estate (`what % 12`) for the item `which` names, reported as a delta of just
    /// that entity: on-prem power on/off; Azure power on/off/hung; Azure VM deleted or back; on-prem VM
    /// deleted or back; vCenter disconnected or back; a snapshot on the master target or none; the PS
    /// down, unhealthy or fine; the network down or up; the CS down or up; host memory scarce or
    /// plentiful; a datastore full or not; the agents (un)registered.
    fn world(&mut self, what: u8, which: u8) {
        let i = usize::from(which) % self.n();
        let onprem_vm = self.specs[i].onprem_vm.clone();
        let azure_vm = self.specs[i].azure_vm.clone();
        let e = &mut self.estate;
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        match what % 12 {
            0 => {
                let on = which & 0x80 != 0;
                e.set_onprem_power(
                    &onprem_vm,
                    if on { PowerState::On } else { PowerState::Off },
                );
                upserts.extend(e.onprem.get(&onprem_vm).cloned().map(Entity::OnPremVm));
            }
            1 => {
                let p = [PowerState::On, PowerState::Off, PowerState::Hung]
                    [usize::from(which >> 6) % 3];
                e.set_azure_power(&azure_vm, p);
                upserts.extend(e.azure.get(&azure_vm).cloned().map(Entity::AzureVm));
            }
            2 => {
                if let Some(v) = e.azure.remove(&azure_vm) {
                    e.gone_azure.insert(azure_vm.clone(), v);
                    removals.push(EntityKey::AzureVm(azure_vm));
                } else if let Some(v) = e.gone_azure.remove(&azure_vm) {
                    e.azure.insert(azure_vm, v.clone());
                    upserts.push(Entity::AzureVm(v));
                }
            }
            3 => {
                if let Some(v) = e.onprem.remove(&onprem_vm) {
                    e.gone_onprem.insert(onprem_vm.clone(), v);
                    removals.push(EntityKey::OnPremVm(onprem_vm));
                } else if let Some(v) = e.gone_onprem.remove(&onprem_vm) {
                    e.onprem.insert(onprem_vm, v.clone());
                    upserts.push(Entity::OnPremVm(v));
                }
            }
            4 => {
                e.vcenter.connected = which & 0x80 == 0;
                upserts.push(Entity::VCenter(e.vcenter.clone()));
            }
            5 => {
                let mt = if which & 1 == 0 { "mt-win" } else { "mt-lin" };
                if let Some(m) = e.mts.get_mut(&MasterTargetName::from(mt)) {
                    m.snapshots = u32::from(which & 0x80 != 0);
                    m.running = which & 0x40 == 0;
                    upserts.push(Entity::MasterTarget(m.clone()));
                }
            }
            6 => {
                e.ps.running = which & 0x80 == 0;
                e.ps.health = [Health::Ok, Health::Warning, Health::Critical, Health::Ok]
                    [usize::from(which >> 5) & 3];
                upserts.push(Entity::ProcessServer(e.ps.clone()));
            }
            7 => {
                e.network.up = which & 0x80 == 0;
                upserts.push(Entity::Network(e.network));
            }
            8 => {
                e.cs.running = which & 0x80 == 0;
                upserts.push(Entity::ConfigServer(e.cs.clone()));
            }
            9 => {
                e.host.memory_free_mib = if which & 0x80 != 0 { 1024 } else { 256 * 1024 };
                e.host.up = which & 0x40 == 0;
                upserts.push(Entity::Host(e.host.clone()));
            }
            10 => {
                if let Some(ds) = e.datastores.get_mut(&DatastoreName::from("ds1")) {
                    ds.free_bytes = if which & 0x80 != 0 { GIB } else { 5_000 * GIB };
                    upserts.push(Entity::Datastore(ds.clone()));
                }
            }
            _ => {
                let registered = which & 0x80 == 0;
                if let Some(v) = e.onprem.get_mut(&onprem_vm) {
                    v.agent_registered = registered;
                    upserts.push(Entity::OnPremVm(v.clone()));
                }
                if let Some(v) = e.azure.get_mut(&azure_vm) {
                    v.agent_registered = registered;
                    upserts.push(Entity::AzureVm(v.clone()));
                }
            }
        }
        let delta = InventoryDelta { upserts, removals };
        self.input(Input::Observation(Observation::Inventory(delta)));
    }

    // -- time -----------------------------------------------------------------------------------------

    /// Time passes by `by`: every timer due on the way fires at its time, through
    /// [`Engine::handle_timeout`], and afterwards no timer may still be due; a last call at the end
    /// (with nothing due) is harmless too.
    fn advance(&mut self, by: Millis) {
        let to = self.now + by;
        let mut firings = 0;
        while let Some(at) = self.engine.poll_timeout() {
            if at > to {
                break;
            }
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
            self.drain();
            if let Some(next) = self.engine.poll_timeout() {
                assert!(
                    next > self.now,
                    "a timer at {next} ms is still due after handle_timeout({})",
                    self.now
                );
            }
            firings += 1;
            assert!(
                firings < TIMER_FIRINGS_LIMIT,
                "the engine's timers never settle"
            );
        }
        self.now = to;
        self.engine.handle_timeout(self.now);
        self.drain();
    }
}

// ---------------------------------------------------------------------------------------------------
// Writing inputs
// ---------------------------------------------------------------------------------------------------

/// Writes [`engine_inputs`] byte strings step by step (the seed corpus's generator and tests use it).
pub mod script {
    use super::{START_STATES, cmd, op};
    use drsim_engine::lifecycle::ItemState;

    /// An engine input being written.
    #[derive(Clone, Debug, Default)]
    pub struct Script {
        bytes: Vec<u8>,
    }

    impl Script {
        /// A header: the configuration byte ([`super::config_from_byte`]) and the items, as
        /// `(start state, flags)` (at most 4; the state must be one of [`START_STATES`]).
        pub fn new(config: u8, items: &[(ItemState, u8)]) -> Self {
            assert!(
                (1..=4).contains(&items.len()),
                "1 to 4 items, not {}",
                items.len()
            );
            let mut bytes = vec![config, items.len() as u8 - 1];
            for (state, flags) in items {
                let index = START_STATES
                    .iter()
                    .position(|s| s == state)
                    .unwrap_or_else(|| panic!("{state} is not a start state"));
                bytes.push(index as u8);
                bytes.push(*flags);
            }
            Script { bytes }
        }

        /// A raw step: opcode and arguments.
        pub fn raw(mut self, bytes: &[u8]) -> Self {
            self.bytes.extend_from_slice(bytes);
            self
        }

        /// A command ([`cmd`]) on target byte `target` with argument `arg`.
        pub fn command(self, kind: u8, target: u8, arg: u8) -> Self {
            self.raw(&[op::COMMAND, kind, target, arg])
        }

        /// A command on item `i` (`arg` as the command reads it).
        pub fn on_item(self, kind: u8, i: u8, arg: u8) -> Self {
            self.command(kind, i, arg)
        }

        /// A command on the plan `plan`.
        pub fn on_plan(self, kind: u8, arg: u8) -> Self {
            self.command(kind, 4, arg)
        }

        /// The same command sent through `Engine::handle`.
        pub fn handled(self, kind: u8, target: u8, arg: u8) -> Self {
            self.command(kind | cmd::VIA_HANDLE, target, arg)
        }

        /// Answers the `index`-th outstanding action with `outcome` (see the module doc).
        pub fn answer(self, index: u8, outcome: u8) -> Self {
            self.raw(&[op::ANSWER, index, outcome])
        }

        /// Answers every outstanding action with success.
        pub fn answer_all(self) -> Self {
            self.raw(&[op::ANSWER_ALL])
        }

        /// A replication report.
        pub fn replication(self, item: u8, flags: u8, progress: u8) -> Self {
            self.raw(&[op::REPLICATION, item, flags, progress])
        }

        /// Recovery points.
        pub fn points(self, item: u8, shape: u8) -> Self {
            self.raw(&[op::POINTS, item, shape])
        }

        /// A change to the estate.
        pub fn world(self, what: u8, which: u8) -> Self {
            self.raw(&[op::WORLD, what, which])
        }

        /// Time passes (`amount` as [`op::ADVANCE`] reads it).
        pub fn advance(self, amount: u8) -> Self {
            self.raw(&[op::ADVANCE, amount])
        }

        /// A stale or unknown action result.
        pub fn stale(self, which: u8) -> Self {
            self.raw(&[op::STALE_RESULT, which])
        }

        /// A full discovery.
        pub fn discover(self) -> Self {
            self.raw(&[op::DISCOVER])
        }

        /// The bytes.
        pub fn into_bytes(self) -> Vec<u8> {
            self.bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script::Script;
    use super::*;

    #[test]
    fn every_prefix_of_a_script_is_an_input() {
        let bytes = Script::new(0, &[(ItemState::InAzure, 0)])
            .on_item(cmd::REPROTECT, 0, 0)
            .answer_all()
            .advance(6)
            .into_bytes();
        for end in 0..=bytes.len() {
            engine_inputs(&bytes[..end]);
        }
    }

    #[test]
    fn a_whole_cycle_gets_round() {
        let mut s = Script::new(0, &[(ItemState::ProtectedToAzure, 0)]);
        for k in [
            cmd::FAILOVER,
            cmd::COMMIT_FAILOVER,
            cmd::REPROTECT,
            cmd::FAILBACK,
            cmd::COMMIT_FAILBACK,
            cmd::REPROTECT_TO_AZURE,
        ] {
            s = s
                .advance(6)
                .on_item(k, 0, 0)
                .answer_all()
                .answer_all()
                .discover()
                .advance(3);
        }
        let run = run_engine_inputs(&s.into_bytes());
        assert_eq!(run.jobs_succeeded, 6, "{run:?}");
        assert_eq!(run.states.len(), 10, "{run:?}");
    }

    #[test]
    fn the_empty_input_and_a_lone_header_do_nothing() {
        assert!(!run_engine_inputs(&[]).started);
        assert!(!run_engine_inputs(&[0, 0, 0]).started);
        assert!(run_engine_inputs(&[0, 0, 0, 0]).started);
    }

    #[test]
    fn scenario_bytes_takes_anything() {
        scenario_bytes(b"");
        scenario_bytes(b"{");
        scenario_bytes(&[0xff, 0xfe, b'{']);
        scenario_bytes("{\"name\": \"\u{e9}\u{1F600}\", \"duration\": 1}".as_bytes());
    }
}
