//! The world: one deterministic discrete-event model that executes the engine's actions against the
//! estate, moves data through the network and the fluid disks, runs discovery, and breaks things on
//! schedule. The harness drives it:
//!
//! ```text
//! loop { (t, happening) = world.next_happening()
//!        Observations(obs) → engine.handle(t, obs…) → outputs: actions → world.submit(a),
//!                                                     timers → world.schedule_external(at, token)
//!        External(token)   → the harness's own event (a user step, an engine timer) }
//! ```
//! Same spec and seed ⇒ same sequence of happenings, on any machine (integer time, per-component ChaCha8
//! streams, ordered maps only).

mod actions;
mod fault_apply;
mod flow_owners;
mod follow;
mod followed_points;
mod listings;
mod machine;
mod machine_table;
mod meter;
mod partial_points;
mod plane;
mod readout;
mod share;
mod spec;
mod sync_cadence;
mod vm_points;

pub use machine::{Disk, Machine, Replication, Stream, VmPoint};
pub use machine_table::MachineTable;
pub use meter::{EndedStream, MeterGroup, RouteKey};
pub use readout::StreamTotals;
pub use spec::{
    DiskSpec, MachineSpec, MasterTargetSpec, ProcessServerSpec, SiteLinkSpec, Timing, WorldSpec,
};
pub use vm_points::{PointRef, VmPoints};

use crate::estate::{Discovery, Estate, Visibility};
use crate::faults::FaultSpec;
use crate::kernel::{EventKey, Kernel};
use crate::network::{
    FlowId, LinkId, LinkSpec, Network, NodeId, NodeKind, NodeSpec, Resource, Topology,
    UNLIMITED_BYTES_PER_S,
};
use crate::rng::RngStreams;
use drsim_engine::Millis;
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::lifecycle::{ActiveCopy, ItemState};
use drsim_engine::name_map::NameMap;
use drsim_engine::protocol::{ActionRequest, Direction, Observation, RecoveryMode};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// Why a world could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    /// A name is used twice.
    #[error("{what} `{name}` is declared twice")]
    Duplicate {
        /// What kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A reference to something that does not exist.
    #[error("{what} `{name}` refers to unknown {target} `{missing}`")]
    Unknown {
        /// The referring thing.
        what: &'static str,
        /// Its name.
        name: String,
        /// What kind it refers to.
        target: &'static str,
        /// The missing name.
        missing: String,
    },
    /// The network could not be built.
    #[error("network: {0}")]
    Network(#[from] crate::network::NetworkError),
}

/// An event of the world's own kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An action finishes.
    ActionDone(ActionId),
    /// Discovery runs.
    Discovery,
    /// Replication progress and points are reported.
    Report,
    /// A disk's stream reaches a qualitative change (resync done, backlog drained, demand changed).
    DiskWake(FlowId),
    /// A stream a bottleneck's share holds in virtual time must be looked at: its resync has completed
    /// or its backlog may have drained (issue 6).
    ShareWake(Resource),
    /// The churn of streams that follow it changes now (`world::follow`).
    ChurnStep,
    /// A VM's agent registers with the CS after a boot (RP-04, RA-03).
    AgentRegistered {
        /// The VM.
        vm: VmName,
        /// Azure VM (true) or on-prem VM.
        azure: bool,
    },
    /// A fault starts.
    FaultStart(usize),
    /// A fault heals.
    FaultHeal(usize),
    /// The harness's own event.
    External(u64),
}

/// What the harness is told.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening {
    /// Facts for the engine.
    Observations(Vec<Observation>),
    /// A harness event comes due.
    External(u64),
}

/// Network nodes and links of the replication paths (RJ-08).
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    pub azure_site: NodeId,
    pub onprem_site: NodeId,
    pub azure_gw: NodeId,
    pub onprem_gw: NodeId,
    pub to_onprem: LinkId,
    pub to_azure: LinkId,
    pub ps: BTreeMap<ProcessServerName, NodeId>,
    pub mt: BTreeMap<MasterTargetName, NodeId>,
}

/// The world.
pub struct World {
    pub(crate) kernel: Kernel<Event>,
    pub(crate) estate: Estate,
    pub(crate) discovery: Discovery,
    pub(crate) net: Network,
    pub(crate) paths: Paths,
    pub(crate) machines: MachineTable,
    pub(crate) by_azure_vm: NameMap<VmName, ItemId>,
    pub(crate) by_onprem_vm: NameMap<VmName, ItemId>,
    pub(crate) flows: flow_owners::FlowOwners,
    /// The bottlenecks' fair shares, advancing the resyncs they hold in virtual time (issue 6).
    pub(crate) shares: share::Shares,
    pub(crate) next_flow: u64,
    /// Actions being carried out, by id. Boxed: a 192-byte request in a B-tree node is moved on every
    /// removal before it (a 1,000-machine job keeps a thousand in flight; issue 6).
    pub(crate) in_flight: BTreeMap<ActionId, Box<ActionRequest>>,
    pub(crate) faults: Vec<FaultSpec>,
    pub(crate) active_faults: BTreeSet<usize>,
    /// Estate values a fault replaced, restored at heal.
    pub(crate) fault_saved: BTreeMap<usize, u64>,
    pub(crate) action_rng: ChaCha8Rng,
    pub(crate) agent_rng: ChaCha8Rng,
    pub(crate) timing: Timing,
    pub(crate) download_threads: u32,
    pub(crate) per_thread_bytes_per_s: u64,
    pub(crate) report_interval_ms: Millis,
    pub(crate) enforce_mt_disk_limit: bool,
    pub(crate) pending: Vec<Observation>,
    /// How many power changes the engine has made to each VM; a fault heals only what nobody changed since.
    pub(crate) power_epoch: NameMap<VmName, u64>,
    /// A power fault's prior state and the VM's power epoch at its start.
    pub(crate) fault_power: BTreeMap<usize, (PowerState, u64)>,
    /// Cache size of each PS (DOMAIN.md §5 health).
    pub(crate) ps_cache: BTreeMap<ProcessServerName, u64>,
    /// Process servers throttling their agents (cache below 20 % free, until 30 % again).
    pub(crate) ps_throttled: BTreeSet<ProcessServerName>,
    /// The PS and MT of each machine's last Azure → on-prem replication (FB-07 resumes it).
    pub(crate) last_paths: NameMap<ItemId, (Option<ProcessServerName>, Option<MasterTargetName>)>,
    /// Events handled, for statistics.
    pub events_handled: u64,
    /// Each master target whose attached disks changed, in order, with repeats (INV-CAP reads only these).
    pub(crate) attach_log: Vec<MasterTargetName>,
    /// Disks the machines have attached to each master target (RP-14, INV-CAP), kept by
    /// [`World::set_attached`] so that neither the RP-14 check nor INV-CAP counts every machine.
    pub(crate) mt_attached: BTreeMap<MasterTargetName, u32>,
    /// Whether caught-up machines get a point cadence and syncing ones a sync cadence
    /// ([`WorldSpec::cadences`]).
    pub(crate) cadences: bool,
    /// The calendar of churn steps of the streams that follow their churn (`world::follow`).
    pub(crate) churn_steps: BTreeMap<Millis, Vec<FlowId>>,
    /// The streams that follow their churn.
    pub(crate) followers: follow::Followers,
    /// The hour of the last report that gathered the points of machines under a cadence.
    pub(crate) collected_hour: Millis,
    /// When the last periodic report ran (a sync cadence that ends at that instant reports then).
    pub(crate) last_report_ms: Millis,
    /// Machines under a cadence whose streams changed this instant: is each still caught up?
    pub(crate) cadence_check: BTreeSet<ItemId>,
    /// Machines under a cadence checked since the last report: their report may have changed (a fault
    /// that left their rates alone), so the next report looks at them.
    pub(crate) cadence_report: BTreeSet<ItemId>,
    /// The buffer [`World::collect_points`] gathers a machine's new disk points in (kept: it runs for
    /// every machine at every report).
    pub(crate) points_gathered: Vec<crate::fluid::RecoveryPoint>,
    /// `collect_points`' other buffers (each disk's end in `points_gathered`, its base generation).
    pub(crate) points_scratch: (Vec<usize>, Vec<u64>),
    /// The shares `wake_shares` re-wakes, in a buffer kept between instants.
    pub(crate) moved_shares: Vec<(Resource, Option<EventKey>, Option<Millis>)>,
    /// What the streams carry by route, for the report sampler (`world::meter`).
    pub(crate) meters: meter::Meters,
    /// By machine position: since when it is quiet ([`World::quiet_since`]).
    pub(crate) quiet_since: Vec<Millis>,
}

impl World {
    /// Builds a world. Machines start as their lifecycle state says: a machine Protected (Azure → on-prem)
    /// replicates already, caught up.
    pub fn new(spec: WorldSpec) -> Result<World, WorldError> {
        let streams = RngStreams::new(spec.seed);
        let mut estate = Estate::default();
        let mut seen = BTreeSet::new();
        let mut unique = |what: &'static str, name: &str| {
            if seen.insert((what, name.to_owned())) {
                Ok(())
            } else {
                Err(WorldError::Duplicate {
                    what,
                    name: name.to_owned(),
                })
            }
        };
        for v in &spec.vcenters {
            unique("vCenter", v.name.as_str())?;
            estate.put(Entity::VCenter(v.clone()), Visibility::Discovered);
        }
        for h in &spec.hosts {
            unique("host", h.name.as_str())?;
            if !spec.vcenters.iter().any(|v| v.name == h.vcenter) {
                return Err(unknown(
                    "host",
                    h.name.as_str(),
                    "vCenter",
                    h.vcenter.as_str(),
                ));
            }
            estate.put(Entity::Host(h.clone()), Visibility::Discovered);
        }
        for d in &spec.datastores {
            unique("datastore", d.name.as_str())?;
            estate.put(Entity::Datastore(d.clone()), Visibility::Discovered);
        }
        let mut topo = Topology::new();
        let node = |t: &mut Topology, name: String, kind, cap| {
            t.add_node(NodeSpec {
                name,
                kind,
                cap_bytes_per_s: cap,
            })
        };
        let azure_site = node(&mut topo, "azure".into(), NodeKind::AzureVmSite, None)?;
        let onprem_site = node(&mut topo, "onprem".into(), NodeKind::Router, None)?;
        let azure_gw = node(
            &mut topo,
            "azure-gateway".into(),
            NodeKind::AzureGateway,
            None,
        )?;
        let onprem_gw = node(
            &mut topo,
            "onprem-gateway".into(),
            NodeKind::OnPremGateway,
            None,
        )?;
        let free = LinkSpec {
            capacity_bytes_per_s: UNLIMITED_BYTES_PER_S,
            latency_ms: 0,
        };
        let vpn = LinkSpec {
            capacity_bytes_per_s: spec.link.bandwidth_bytes_per_s,
            latency_ms: spec.link.latency_ms,
        };
        let to_onprem = topo.add_link(azure_gw, onprem_gw, vpn)?;
        let to_azure = topo.add_link(onprem_gw, azure_gw, vpn)?;
        topo.add_link(onprem_site, onprem_gw, free)?;
        topo.add_link(azure_gw, azure_site, free)?;
        let mut ps_nodes = BTreeMap::new();
        for p in &spec.process_servers {
            unique("process server", p.view.name.as_str())?;
            let n = node(
                &mut topo,
                format!("ps/{}", p.view.name),
                NodeKind::ProcessServer,
                p.throughput_bytes_per_s,
            )?;
            topo.add_link(azure_site, n, free)?;
            topo.add_link(n, azure_gw, free)?;
            ps_nodes.insert(p.view.name.clone(), n);
            estate.put(
                Entity::ProcessServer(p.view.clone()),
                Visibility::Discovered,
            );
        }
        let mut mt_nodes = BTreeMap::new();
        for m in &spec.master_targets {
            unique("master target", m.view.name.as_str())?;
            if !spec.hosts.iter().any(|h| h.name == m.view.host) {
                return Err(unknown(
                    "master target",
                    m.view.name.as_str(),
                    "host",
                    m.view.host.as_str(),
                ));
            }
            let n = node(
                &mut topo,
                format!("mt/{}", m.view.name),
                NodeKind::MasterTarget,
                m.throughput_bytes_per_s,
            )?;
            topo.add_link(onprem_gw, n, free)?;
            mt_nodes.insert(m.view.name.clone(), n);
            estate.put(Entity::MasterTarget(m.view.clone()), Visibility::Discovered);
        }
        estate.put(
            Entity::ConfigServer(spec.config_server.clone()),
            Visibility::Discovered,
        );
        estate.put(
            Entity::Network(NetworkView {
                link: spec.link.kind,
                up: true,
            }),
            Visibility::Discovered,
        );

        let mut world = World {
            kernel: Kernel::new(),
            estate,
            discovery: Discovery {
                interval_ms: spec.discovery_interval_ms,
            },
            net: Network::new(topo),
            paths: Paths {
                azure_site,
                onprem_site,
                azure_gw,
                onprem_gw,
                to_onprem,
                to_azure,
                ps: ps_nodes,
                mt: mt_nodes,
            },
            machines: MachineTable::default(),
            by_azure_vm: NameMap::default(),
            by_onprem_vm: NameMap::default(),
            flows: flow_owners::FlowOwners::default(),
            shares: share::Shares::default(),
            next_flow: 0,
            in_flight: BTreeMap::new(),
            faults: spec.faults.clone(),
            active_faults: BTreeSet::new(),
            fault_saved: BTreeMap::new(),
            action_rng: streams.stream("actions"),
            agent_rng: streams.stream("agents"),
            timing: spec.timing.clone(),
            download_threads: spec
                .download_threads
                .clamp(1, crate::network::MAX_DOWNLOAD_THREADS),
            per_thread_bytes_per_s: spec.per_thread_bytes_per_s,
            report_interval_ms: spec.report_interval_ms.max(1),
            enforce_mt_disk_limit: spec.enforce_mt_disk_limit,
            pending: Vec::new(),
            last_paths: NameMap::default(),
            power_epoch: NameMap::default(),
            fault_power: BTreeMap::new(),
            ps_throttled: BTreeSet::new(),
            ps_cache: spec
                .process_servers
                .iter()
                .filter_map(|p| p.cache_bytes.map(|c| (p.view.name.clone(), c)))
                .collect(),
            events_handled: 0,
            attach_log: Vec::new(),
            mt_attached: BTreeMap::new(),
            cadences: spec.cadences,
            last_report_ms: 0,
            churn_steps: BTreeMap::new(),
            followers: Default::default(),
            collected_hour: 0,
            cadence_check: BTreeSet::new(),
            cadence_report: BTreeSet::new(),
            points_gathered: Vec::new(),
            points_scratch: Default::default(),
            moved_shares: Vec::new(),
            meters: Default::default(),
            quiet_since: Vec::new(),
        };
        // in item order: the machine table is kept so, and is built fastest that way
        let mut machines: Vec<&MachineSpec> = spec.machines.iter().collect();
        machines.sort_by(|a, b| a.item.cmp(&b.item));
        world.machines.reserve_exact(machines.len());
        for m in machines {
            world.add_machine(m, &mut unique)?;
        }
        let items: Vec<ItemId> = world.machines.keys().cloned().collect();
        for item in &items {
            world.refresh_quiet(item);
        }
        world.estate.mark_all_discovered();
        // Time zero: a first discovery, the first report, the fault schedule.
        world.schedule(0, Event::Discovery);
        world.schedule(spec.report_interval_ms.max(1), Event::Report);
        for (i, f) in spec.faults.iter().enumerate() {
            world.schedule(f.at_ms, Event::FaultStart(i));
            if let Some(h) = f.heal_at_ms {
                world.schedule(h.max(f.at_ms), Event::FaultHeal(i));
            }
        }
        Ok(world)
    }

    fn add_machine(
        &mut self,
        m: &MachineSpec,
        unique: &mut impl FnMut(&'static str, &str) -> Result<(), WorldError>,
    ) -> Result<(), WorldError> {
        unique("item", m.item.as_str())?;
        unique("Azure VM", m.azure.name.as_str())?;
        let active = m.state.active_copy();
        let azure_exists = !matches!(
            m.state,
            ItemState::ProtectedToAzure
                | ItemState::OnPrem
                | ItemState::ReprotectingToAzure
                | ItemState::Disabled
        );
        if let Some(vm) = &m.onprem {
            unique("on-prem VM", vm.name.as_str())?;
            if !self.estate.hosts.contains_key(&vm.host) {
                return Err(unknown("VM", vm.name.as_str(), "host", vm.host.as_str()));
            }
            let mut vm = vm.clone();
            vm.power = if active == ActiveCopy::OnPrem {
                PowerState::On
            } else {
                PowerState::Off
            };
            vm.agent_registered = vm.power == PowerState::On;
            self.estate
                .put(Entity::OnPremVm(vm.clone()), Visibility::Discovered);
            self.estate
                .vm_memory_mib
                .insert(vm.name.clone(), m.memory_mib);
            self.by_onprem_vm.insert(vm.name.clone(), m.item.clone());
        }
        let onprem_vm = m
            .onprem
            .as_ref()
            .map(|v| v.name.clone())
            .unwrap_or_else(|| m.azure.name.clone());
        if azure_exists {
            let mut a = m.azure.clone();
            a.power = if active == ActiveCopy::Azure {
                PowerState::On
            } else {
                PowerState::Off
            };
            self.estate.put(Entity::AzureVm(a), Visibility::Discovered);
        }
        self.by_azure_vm
            .insert(m.azure.name.clone(), m.item.clone());
        let disks = m
            .disks
            .iter()
            .map(|d| Disk {
                name: d.name.clone(),
                size_bytes: d.size_bytes,
                used_bytes: d.used_bytes.min(d.size_bytes),
                hot_region_bytes: d.hot_region_bytes.min(d.size_bytes),
                churn: d.churn.clone(),
                azure_generation: 0,
                onprem_generation: 0,
                accounted_ms: 0,
                stream: None,
            })
            .collect();
        self.machines.insert(
            m.item.clone(),
            Machine {
                item: m.item.clone(),
                onprem_vm,
                azure_vm: m.azure.name.clone(),
                memory_mib: m.memory_mib,
                replication_group: m.replication_group.clone(),
                disks,
                replication: None,
                attached: None,
                alr_vm: None,
                final_sync: None,
                kept: None,
                azure_template: Box::new(m.azure.clone()),
                azure_generation_at_shutdown: None,
                recovered_point: None,
                last_resync_bytes: 0,
                cadence_from_ms: None,
                sync_cadence: None,
                last_report: None,
                sync_peak_bytes: 0,
            },
        );
        let direction = match m.state {
            ItemState::ProtectedToAzure => Some(Direction::ToAzure),
            ItemState::ProtectedToOnPrem | ItemState::FailingBack => Some(Direction::ToOnPrem),
            _ => None,
        };
        if let Some(direction) = direction {
            let (ps, mt) = match (&m.protection, direction) {
                (Some((ps, mt)), Direction::ToOnPrem) => (Some(ps.clone()), Some(mt.clone())),
                _ => (None, None),
            };
            if let Some(mt) = &mt {
                let n = m.disks.len() as u32;
                self.set_attached(&m.item, Some((mt.clone(), n)));
            }
            let all: Vec<usize> = (0..m.disks.len()).collect();
            self.start_replication(
                &m.item,
                direction,
                ps,
                mt,
                RecoveryMode::Original,
                &all,
                None,
            );
        }
        Ok(())
    }

    /// Takes an action from the engine; its result comes back as an observation when it is done.
    pub fn submit(&mut self, req: ActionRequest) {
        let duration = self.action_duration(&req.kind);
        let id = req.id;
        self.in_flight.insert(id, Box::new(req));
        self.schedule(self.now() + duration, Event::ActionDone(id));
    }

    /// Schedules a harness event (a user step, an engine timer); it comes back as
    /// [`Happening::External`] at `at` (or now, if `at` has passed).
    pub fn schedule_external(&mut self, at: Millis, token: u64) -> EventKey {
        self.schedule(at.max(self.now()), Event::External(token))
    }

    /// Cancels a harness event.
    pub fn cancel_external(&mut self, key: EventKey) -> bool {
        self.kernel.cancel(key)
    }

    /// The next happening, or None when nothing is left to happen.
    pub fn next_happening(&mut self) -> Option<(Millis, Happening)> {
        loop {
            if let Some(obs) = self.flush() {
                return Some((self.now(), Happening::Observations(obs)));
            }
            let (t, ev) = self.kernel.pop()?;
            self.events_handled += 1;
            match ev {
                Event::External(token) => return Some((t, Happening::External(token))),
                other => self.handle(other),
            }
        }
    }

    /// Like [`World::next_happening`], but never beyond `limit`: returns None once the next event is later, with the
    /// clock moved to `limit` (so a caller stepping through time always makes progress).
    pub fn next_until(&mut self, limit: Millis) -> Option<(Millis, Happening)> {
        loop {
            if let Some(obs) = self.flush() {
                return Some((self.now(), Happening::Observations(obs)));
            }
            let Some((t, ev)) = self.kernel.pop_until(limit) else {
                if limit > self.kernel.now() {
                    let _ = self.kernel.advance_to(limit);
                }
                return None;
            };
            self.events_handled += 1;
            match ev {
                Event::External(token) => return Some((t, Happening::External(token))),
                other => self.handle(other),
            }
        }
    }

    /// Now.
    pub fn now(&self) -> Millis {
        self.kernel.now()
    }

    /// The estate (the truth).
    pub fn estate(&self) -> &Estate {
        &self.estate
    }

    /// The machines.
    pub fn machines(&self) -> &MachineTable {
        &self.machines
    }

    /// The network (rates, loads).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Process servers that throttle their agents now (cache below 20 % free; DOMAIN.md §1).
    pub fn throttled_process_servers(&self) -> &BTreeSet<ProcessServerName> {
        &self.ps_throttled
    }

    /// The items whose on-prem or Azure VM is `vm` (for readers of [`Estate::vm_changes`]).
    pub fn items_of_vm(&self, vm: &VmName) -> impl Iterator<Item = &ItemId> {
        self.by_onprem_vm
            .get(vm)
            .into_iter()
            .chain(self.by_azure_vm.get(vm))
    }

    /// The master targets some machine's disks were attached to or detached from so far, oldest first,
    /// with repeats (RP-14, INV-CAP): a checker of attachments keeps a cursor and counts only these
    /// again (at 10k machines, 10,000 reprotects for 528 master targets; issue 6).
    pub fn attachment_changes(&self) -> &[MasterTargetName] {
        &self.attach_log
    }

    /// Disks the machines have attached to each master target (only those with some), RP-14 and
    /// INV-CAP; the MT's own disks are not included.
    pub fn attached_disks(&self) -> &BTreeMap<MasterTargetName, u32> {
        &self.mt_attached
    }

    /// Attaches a machine's disks to a master target (`None`: detaches them), keeping the per-MT count
    /// and the attachment log ([`World::attachment_changes`]).
    pub(crate) fn set_attached(&mut self, item: &ItemId, to: Option<(MasterTargetName, u32)>) {
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        if let Some((mt, n)) = m.attached.take()
            && let Some(k) = self.mt_attached.get_mut(&mt)
        {
            *k = k.saturating_sub(n);
            if *k == 0 {
                self.mt_attached.remove(&mt);
            }
            self.attach_log.push(mt);
        }
        if let Some((mt, n)) = &to
            && *n > 0
        {
            *self.mt_attached.entry(mt.clone()).or_insert(0) += n;
            self.attach_log.push(mt.clone());
        }
        m.attached = to;
        debug_assert_eq!(self.mt_attached, {
            let mut n: BTreeMap<MasterTargetName, u32> = BTreeMap::new();
            for (mt, k) in self.machines.values().filter_map(|m| m.attached.as_ref()) {
                if *k > 0 {
                    *n.entry(mt.clone()).or_insert(0) += k;
                }
            }
            n
        });
    }

    /// The faults and which are active.
    pub fn faults(&self) -> (&[FaultSpec], &BTreeSet<usize>) {
        (&self.faults, &self.active_faults)
    }

    /// Brings every disk's accounting and stream up to now.
    pub fn catch_up(&mut self) {
        // One pass over the machines, no lookup by name.
        let now = self.now();
        for m in self.machines.values_mut() {
            let n = m.disks.len();
            plane::account_machine_disks(m, &self.estate, &self.shares, 0..n, now, false);
        }
    }

    /// Brings every stream up to now except those [`Stream::left_behind`] (resyncs shares hold in
    /// virtual time, streams that follow their churn), whose readouts [`World::stream_totals`] gives as
    /// of now without moving them: what the checks and reports between events need, without advancing
    /// every stream of a fleet (and its tags) at every interval (issue 6). Disks that do not replicate
    /// are left too: only the world reads their generations, and it accounts a machine before it does
    /// (each such disk cost two lookups of its VMs by name, at every report sample).
    /// Quiet machines ([`World::quiet_since`]) are not even looked at: none of their disks would move.
    /// Machines that rest (every disk left where it is, as the machine table knows) are not looked at
    /// either.
    pub fn catch_up_for_reading(&mut self) {
        self.debug_check();
        let quiet_since = std::mem::take(&mut self.quiet_since);
        self.account_for_reading(|pos, _| quiet_since.get(pos).is_none_or(|&s| s == Millis::MAX));
        self.quiet_since = quiet_since;
    }

    /// Checks, in debug builds, what the world caches about its streams against the streams: the quiet
    /// machines and the meters' members, and the machine table's flags (nothing in release builds). A
    /// runner calls it at the end of every stretch it runs, caught up for reading or not.
    pub fn debug_check(&self) {
        self.debug_check_meters();
        self.machines.debug_check_flags();
    }

    /// [`World::catch_up_for_reading`] for the machines `which` picks (by position and machine).
    pub(crate) fn account_for_reading(&mut self, which: impl Fn(usize, &Machine) -> bool) {
        let now = self.now();
        let (estate, shares) = (&self.estate, &self.shares);
        self.machines.account_restless(which, |m| {
            let n = m.disks.len();
            plane::account_machine_disks(m, estate, shares, 0..n, now, true);
        });
    }

    pub(crate) fn schedule(&mut self, at: Millis, ev: Event) -> EventKey {
        let at = at.max(self.kernel.now());
        self.kernel
            .schedule_at(at, ev)
            .expect("never in the past: clamped to now")
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::ActionDone(id) => {
                if let Some(item) = self.in_flight.get(&id).and_then(|r| r.item.clone()) {
                    self.cadence_changed(&item);
                }
                self.action_done(id);
            }
            Event::Discovery => {
                let delta = self.discovery.run(&mut self.estate);
                if !delta.upserts.is_empty() || !delta.removals.is_empty() {
                    self.pending.push(Observation::Inventory(delta));
                }
                let next = self.now() + self.discovery.interval_ms;
                self.schedule(next, Event::Discovery);
            }
            Event::Report => {
                self.report();
                let next = self.now() + self.report_interval_ms;
                self.schedule(next, Event::Report);
            }
            Event::DiskWake(flow) => self.disk_wake(flow),
            Event::ShareWake(r) => self.share_wake(r),
            Event::ChurnStep => self.churn_step(),
            Event::AgentRegistered { vm, azure } => {
                let running = if azure {
                    self.estate
                        .azure_vms
                        .get(&vm)
                        .is_some_and(|v| v.power == PowerState::On)
                } else {
                    self.estate
                        .onprem_vms
                        .get(&vm)
                        .is_some_and(|v| v.power == PowerState::On)
                };
                let cs_up = self
                    .estate
                    .config_server
                    .as_ref()
                    .is_some_and(|c| c.running);
                if running && !cs_up {
                    // the agent registers with the CS: while it is down the agent keeps retrying
                    let at = self.now() + drsim_engine::time::MINUTE_MS;
                    self.schedule(at, Event::AgentRegistered { vm, azure });
                } else if running {
                    if azure {
                        if let Some(v) = self.estate.azure_mut(&vm, Visibility::Known) {
                            v.agent_registered = true;
                        }
                    } else if let Some(v) = self.estate.onprem_mut(&vm, Visibility::Known) {
                        v.agent_registered = true;
                    }
                }
            }
            Event::FaultStart(i) => {
                self.fault_start(i);
                self.check_all_cadences();
            }
            Event::FaultHeal(i) => {
                self.fault_heal(i);
                self.check_all_cadences();
            }
            Event::External(_) => unreachable!("returned by next_happening()"),
        }
    }

    /// Collects what the vault learns now: known estate changes first, then the rest.
    fn flush(&mut self) -> Option<Vec<Observation>> {
        // Rates matter only once time moves: the network is re-allocated once per instant, after its last
        // event, so a thousand streams changing demand at one instant (an hour's churn step) cost one
        // allocation, not a thousand (issue 6).
        if self.kernel.peek_time().is_none_or(|t| t > self.now()) {
            self.settle_network();
            self.wake_shares();
            self.check_cadences();
        }
        let delta = self.discovery.known_delta(&mut self.estate);
        let mut out = Vec::new();
        if !delta.upserts.is_empty() || !delta.removals.is_empty() {
            out.push(Observation::Inventory(delta));
        }
        out.append(&mut self.pending);
        (!out.is_empty()).then_some(out)
    }
}

fn unknown(what: &'static str, name: &str, target: &'static str, missing: &str) -> WorldError {
    WorldError::Unknown {
        what,
        name: name.to_owned(),
        target,
        missing: missing.to_owned(),
    }
}

#[cfg(test)]
mod tests;
