//! The incremental network: flows (replication streams) on a [`Topology`], and their max-min fair rates
//! kept up to date by re-solving only what a change can affect.
//!
//! # Why incremental
//! The data plane must scale to 30,000 disks (ARCHITECTURE.md: "cost should follow the streams whose rates
//! changed"). Max-min fair allocation decomposes over connected components of the flow–resource graph
//! (flows are joined when they share a *constrained* resource: one whose current capacity is not
//! [`UNLIMITED_BYTES_PER_S`]), so [`Network::reallocate`] re-solves only the components touched by changes
//! since the last call, and returns only the flows whose rate differs.
//!
//! Two common demand changes are settled without solving anything (both provably give the same rates as a
//! from-scratch solve, integer rounding included; the property tests check it):
//! * a flow held below its limit by a bottleneck, whose new limit is still above its rate, keeps its rate
//!   (a backlog-draining disk whose demand moves but stays above its fair share);
//! * a flow at its limit whose constrained resources carry only flows at their limits (nobody is
//!   bottlenecked there) and have room for the increase simply moves to its new limit (a disk keeping up
//!   with its churn on an uncongested path).
//!
//! Anything else marks the flow's whole component for re-solving — except in a component of one
//! *simple* resource (no flow of it crosses another constrained resource: a VPN link when the process
//! servers and master targets are not capped), whose split into flows at their limit and flows at its
//! level is kept incrementally (`super::level`): a change there moves the flows that cross the boundary,
//! in `O(moves · log n)`, and never re-sorts the link's every flow.
//!
//! [`Network::reallocate_shared`] reports the flows a bottleneck holds before and after as one level
//! change, so the data plane can follow a saturated link's thousands of streams in virtual time.
//!
//! # Layout
//! Flows live in a slab (dense slots, reused after removal) so the hot loops index vectors instead of
//! searching trees; an ordered `BTreeMap<FlowId, slot>` is the only way ids are enumerated, and every output
//! is sorted by [`FlowId`], so slot assignment never reaches results (INV-DET).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::allocation::Problem;
use super::level::Level;
use super::topology::{LinkSpec, LinkState, NodeSpec, NodeState, Resource, Route, Topology};
use super::{LinkId, NetworkError, NodeId, UNLIMITED_BYTES_PER_S};

/// Identifies a flow (a replication stream, typically one per protected disk). Chosen by the caller so
/// that results are keyed by the caller's own order (change lists come in id order), and the order in
/// which flows were added does not matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FlowId(pub u64);

/// How to create a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    /// The fixed path (RJ-08: agent → PS → gateway(s) → MT → datastore). Every link and every node on it is
    /// a resource; nodes without a cap and links of unlimited capacity never constrain.
    pub route: Route,
    /// The rate the stream can use right now, in bytes per second: [`UNLIMITED_BYTES_PER_S`] while it has a
    /// backlog, its churn rate when it is keeping up (see
    /// [`replication_demand_bytes_per_s`](super::replication_demand_bytes_per_s)).
    pub demand_bytes_per_s: u64,
    /// The stream's own cap in bytes per second, e.g. from the PS download threads of its VM (DOMAIN.md §4,
    /// [`download_threads_cap_bytes_per_s`](super::download_threads_cap_bytes_per_s)); `None` = uncapped.
    pub cap_bytes_per_s: Option<u64>,
}

impl FlowSpec {
    /// The flow's limit: `min(demand, cap)` in bytes per second.
    pub fn limit_bytes_per_s(&self) -> u64 {
        limit_of(self.demand_bytes_per_s, self.cap_bytes_per_s)
    }
}

fn limit_of(demand_bytes_per_s: u64, cap_bytes_per_s: Option<u64>) -> u64 {
    demand_bytes_per_s.min(cap_bytes_per_s.unwrap_or(UNLIMITED_BYTES_PER_S))
}

/// Load of one resource for reports (throughput per link / PS / MT, ARCHITECTURE.md "Reports").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLoad {
    /// Current capacity in bytes per second (0 when down, [`UNLIMITED_BYTES_PER_S`] when unconstrained).
    pub capacity_bytes_per_s: u64,
    /// Sum of the committed rates of the flows crossing it, in bytes per second (saturating).
    pub allocated_bytes_per_s: u64,
    /// Number of flows crossing it.
    pub flows: usize,
}

/// What the last [`Network::reallocate`] did, to check that cost follows change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReallocationStats {
    /// Flows re-solved by progressive filling.
    pub flows_resolved: usize,
    /// Constrained resources in the re-solved components.
    pub resources_resolved: usize,
    /// Limit changes that took the fast path (see the module documentation); one whose component a later
    /// candidate sent to the solver in the same call is counted here and in `flows_resolved`.
    pub fast_path_flows: usize,
    /// Flows whose rate changed (length of the returned list).
    pub flows_changed: usize,
}

/// A flow whose rate or bottleneck changed in a [`Network::reallocate_shared`] other than by its
/// bottleneck's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowChange {
    /// The flow.
    pub flow: FlowId,
    /// Its new rate in bytes per second.
    pub rate_bytes_per_s: u64,
    /// The resource holding it at that rate (`None`: it is at its own limit). Every flow held by one
    /// resource has the same rate, that resource's *level*.
    pub bottleneck: Option<Resource>,
}

/// What a [`Network::reallocate_shared`] changed: the flows held by one bottleneck before and after move
/// together with its level and are not listed one by one (a saturated link's thousand streams are one
/// entry when one of them finishes, issue 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedReallocation {
    /// Flows whose bottleneck changed, or whose rate changed while at their own limit, in id order.
    pub flows: Vec<FlowChange>,
    /// Bottlenecks whose level changed, with the new level in bytes per second, in [`Resource`] order:
    /// every flow held there before and after now has this rate.
    pub levels: Vec<(Resource, u64)>,
}

/// What one reallocation tells its caller, gathered flow by flow: every changed rate
/// ([`Network::reallocate`]), or the shared form ([`Network::reallocate_shared`]).
struct Report {
    list_all: bool,
    changed: Vec<(FlowId, u64)>,
    shared: SharedReallocation,
}

impl Report {
    /// A flow's committed `(rate, bottleneck)` went from `old` to `new`: listed when its rate changed;
    /// in the shared form as its bottleneck's level when held there before and after, else on its own.
    fn flow(&mut self, id: FlowId, old: (u64, Option<Resource>), new: (u64, Option<Resource>)) {
        if self.list_all {
            if new.0 != old.0 {
                self.changed.push((id, new.0));
            }
            return;
        }
        match new.1 {
            Some(r) if old.1 == new.1 && new.0 != old.0 => self.shared.levels.push((r, new.0)),
            Some(_) if old.1 == new.1 => {}
            _ if new != old => self.shared.flows.push(FlowChange {
                flow: id,
                rate_bytes_per_s: new.0,
                bottleneck: new.1,
            }),
            _ => {}
        }
    }
}

/// Where a flow is kept ([`Network::flow_slot`]): valid while the flow exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSlot {
    id: FlowId,
    slot: u32,
}

#[cfg(test)]
impl FlowSlot {
    /// A slot for tests of the callers' bookkeeping (no network behind it).
    pub(crate) fn for_tests(id: FlowId, slot: u32) -> Self {
        Self { id, slot }
    }
}

/// A flow as stored.
#[derive(Clone, Debug)]
struct Flow {
    id: FlowId,
    route: Route,
    /// `route.resources()`, cached.
    resources: Vec<Resource>,
    /// [`ResourceTable::constrained`] of `resources`, as the capacities are now: kept when the flow is
    /// attached and whenever one of its resources becomes constrained or stops being so. Every demand
    /// change asks it (is the flow a simple resource's?), and reading `resources` behind its pointer
    /// missed the cache for each of a 10,000-machine fleet's 30,000 flows (issue 6).
    constrained: (usize, Option<Resource>),
    /// Position of this flow's slot in each resource's `slots` (parallel to `resources`).
    positions: Vec<u32>,
    demand_bytes_per_s: u64,
    cap_bytes_per_s: Option<u64>,
    /// Rate as of the last reallocation (0 before the first one); for a flow at a simple resource's
    /// level, that level ([`Network::committed_rate`]), not this field.
    rate_bytes_per_s: u64,
    /// Its place in its simple resource's split, when its only constrained resource is simple.
    level_entry: Option<LevelEntry>,

    /// The resource that holds it at that rate (`None` at its limit), as of the last reallocation.
    bottleneck: Option<Resource>,
    /// Limit the committed rate was computed with; `rate <= solved_limit` always.
    solved_limit_bytes_per_s: u64,
    /// Queued in `dirty_slots` (must be re-solved with its component).
    dirty: bool,
    /// Queued in `limit_slots` (limit changed since its rate was committed).
    limit_pending: bool,
    /// Rate before this reallocation's fast path moved it (for the change report).
    fast_original: Option<u64>,
}

impl Flow {
    fn limit_bytes_per_s(&self) -> u64 {
        limit_of(self.demand_bytes_per_s, self.cap_bytes_per_s)
    }

    fn below_limit(&self) -> bool {
        self.rate_bytes_per_s < self.solved_limit_bytes_per_s
    }
}

/// A flow's key in its simple resource's [`Level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LevelEntry {
    resource: Resource,
    /// The limit it is keyed by in the split (older than `limit` while the split is slack and stale).
    key: u64,
    /// The limit the split counts for it.
    limit: u64,
    at_level: bool,
}

/// Per-resource index and aggregates, maintained on every committed change.
#[derive(Clone, Debug)]
struct ResourceFlows {
    /// Current capacity (cache of the topology's, refreshed by every capacity-changing call).
    capacity_bytes_per_s: u64,
    /// Slots of the flows crossing it, unordered (only used as a set; results are sorted by id).
    slots: Vec<u32>,
    /// Sum of committed rates (kept for constrained resources without a [`Level`] only; see
    /// [`Network::load`]).
    rate_sum_bytes_per_s: u128,
    /// Flows whose committed rate is below their solved limit (held by some bottleneck); kept like
    /// `rate_sum_bytes_per_s`.
    below_limit: u64,
    /// Flows crossing it that cross another constrained resource too (0: it is *simple*).
    multi: u32,
    /// The incremental solution of a simple resource (built at the first reallocation that finds it
    /// simple; see [`super::level`]).
    level: Option<Level>,
    /// Reallocation in which this resource joined the component being re-solved.
    component_epoch: u64,
    /// Its index in that reallocation's [`Problem`].
    local_index: u32,
}

impl ResourceFlows {
    fn new(capacity_bytes_per_s: u64) -> Self {
        Self {
            capacity_bytes_per_s,
            slots: Vec::new(),
            rate_sum_bytes_per_s: 0,
            below_limit: 0,
            multi: 0,
            level: None,
            component_epoch: 0,
            local_index: 0,
        }
    }

    fn is_constrained(&self) -> bool {
        self.capacity_bytes_per_s != UNLIMITED_BYTES_PER_S
    }

    /// Whether its aggregates are kept (constrained, solved by the general solver).
    fn keeps_aggregates(&self) -> bool {
        self.is_constrained() && self.level.is_none()
    }

    /// Takes one flow's committed rate and below-limit mark out of the aggregates.
    fn remove_contribution(&mut self, rate_bytes_per_s: u64, below_limit: bool) {
        // The aggregates always include every indexed flow; saturate rather than panic in release.
        debug_assert!(self.rate_sum_bytes_per_s >= u128::from(rate_bytes_per_s));
        debug_assert!(self.below_limit >= u64::from(below_limit));
        self.rate_sum_bytes_per_s = self
            .rate_sum_bytes_per_s
            .saturating_sub(u128::from(rate_bytes_per_s));
        self.below_limit = self.below_limit.saturating_sub(u64::from(below_limit));
    }
}

/// Link and node aggregates, indexed by id.
#[derive(Clone, Debug, Default)]
struct ResourceTable {
    links: Vec<ResourceFlows>,
    nodes: Vec<ResourceFlows>,
}

impl ResourceTable {
    fn get(&self, r: Resource) -> Option<&ResourceFlows> {
        match r {
            Resource::Link(LinkId(i)) => self.links.get(i as usize),
            Resource::Node(NodeId(i)) => self.nodes.get(i as usize),
        }
    }

    fn get_mut(&mut self, r: Resource) -> Option<&mut ResourceFlows> {
        match r {
            Resource::Link(LinkId(i)) => self.links.get_mut(i as usize),
            Resource::Node(NodeId(i)) => self.nodes.get_mut(i as usize),
        }
    }

    /// Moves a flow's contribution to its resources' aggregates from `(old_rate, old_below)` to the flow's
    /// current values.
    fn recount(&mut self, flow: &Flow, old_rate: u64, old_below: bool) {
        let new_rate = flow.rate_bytes_per_s;
        let new_below = flow.below_limit();
        if old_rate == new_rate && old_below == new_below {
            return;
        }
        for &r in &flow.resources {
            if let Some(e) = self.get_mut(r)
                && e.keeps_aggregates()
            {
                e.remove_contribution(old_rate, old_below);
                e.rate_sum_bytes_per_s += u128::from(new_rate);
                e.below_limit += u64::from(new_below);
            }
        }
    }

    /// How many of these resources are constrained, and the first of them.
    fn constrained(&self, resources: &[Resource]) -> (usize, Option<Resource>) {
        let mut n = 0;
        let mut first = None;
        for &r in resources {
            if self.get(r).is_some_and(ResourceFlows::is_constrained) {
                n += 1;
                first = first.or(Some(r));
            }
        }
        (n, first)
    }
}

/// Flows on a topology with incrementally maintained max-min fair rates.
///
/// Usage: mutate (add/remove flows, change demands, caps, link and node states), then call
/// [`Network::reallocate`] once to commit; [`Network::rate`] reports the committed rates.
#[derive(Clone, Debug)]
pub struct Network {
    topology: Topology,
    /// Id → slot; the only enumeration of flows.
    ids: BTreeMap<FlowId, u32>,
    slots: Vec<Option<Flow>>,
    /// Per slot: reallocation in which the flow joined the component being re-solved (kept apart from
    /// `slots` so the component search scans a dense array).
    slot_epochs: Vec<u64>,
    /// Slots freed by removed flows, lowest first: a batch of flows added after a batch was removed
    /// (a fleet's failover, then its reprotect) takes them in id order, so walking flows by id walks
    /// their slots front to back (taken last-freed-first, a reprotect's 30,000 flows lay in reverse
    /// and a steady hour's churn steps touched a cold slot each; issue 6).
    free_slots: std::collections::BinaryHeap<std::cmp::Reverse<u32>>,
    resources: ResourceTable,
    /// Slots to re-solve with their component (added, route changed). May hold stale slots.
    dirty_slots: Vec<u32>,
    /// Slots whose limit changed (fast-path candidates). May hold stale slots.
    limit_slots: Vec<u32>,
    /// Resources whose flows must be re-solved (capacity changed, a flow left).
    dirty_resources: BTreeSet<Resource>,
    /// Resources that may have become simple or stopped being simple (see [`super::level`]).
    reclassify: BTreeSet<Resource>,
    /// Simple resources whose split must be settled.
    level_dirty: BTreeSet<Resource>,
    epoch: u64,
    last: ReallocationStats,
}

impl Network {
    /// A network over this topology, with no flows.
    pub fn new(topology: Topology) -> Self {
        let resources = ResourceTable {
            links: topology
                .links()
                .map(|(_, l)| ResourceFlows::new(l.effective_capacity_bytes_per_s()))
                .collect(),
            nodes: topology
                .nodes()
                .map(|(_, n)| ResourceFlows::new(n.effective_capacity_bytes_per_s()))
                .collect(),
        };
        Self {
            topology,
            ids: BTreeMap::new(),
            slots: Vec::new(),
            slot_epochs: Vec::new(),
            free_slots: std::collections::BinaryHeap::new(),
            resources,
            dirty_slots: Vec::new(),
            limit_slots: Vec::new(),
            dirty_resources: BTreeSet::new(),
            reclassify: BTreeSet::new(),
            level_dirty: BTreeSet::new(),
            epoch: 0,
            last: ReallocationStats::default(),
        }
    }

    /// The topology (read-only: change it through the `Network` so that affected flows are re-solved).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Adds a node. See [`Topology::add_node`].
    ///
    /// # Errors
    /// As [`Topology::add_node`].
    pub fn add_node(&mut self, spec: NodeSpec) -> Result<NodeId, NetworkError> {
        let id = self.topology.add_node(spec)?;
        let capacity = self.topology.capacity_bytes_per_s(Resource::Node(id))?;
        self.resources.nodes.push(ResourceFlows::new(capacity));
        Ok(id)
    }

    /// Adds a directed link. See [`Topology::add_link`].
    ///
    /// # Errors
    /// As [`Topology::add_link`].
    pub fn add_link(
        &mut self,
        from: NodeId,
        to: NodeId,
        spec: LinkSpec,
    ) -> Result<LinkId, NetworkError> {
        let id = self.topology.add_link(from, to, spec)?;
        let capacity = self.topology.capacity_bytes_per_s(Resource::Link(id))?;
        self.resources.links.push(ResourceFlows::new(capacity));
        Ok(id)
    }

    fn capacity(&self, r: Resource) -> u64 {
        // Resources of stored flows were validated; an unknown one would constrain nothing.
        self.resources
            .get(r)
            .map_or(UNLIMITED_BYTES_PER_S, |e| e.capacity_bytes_per_s)
    }

    fn after_capacity_change(&mut self, r: Resource, before: u64) {
        let now = self
            .topology
            .capacity_bytes_per_s(r)
            .unwrap_or(UNLIMITED_BYTES_PER_S);
        if let Some(e) = self.resources.get_mut(r) {
            e.capacity_bytes_per_s = now;
        }
        if now != before {
            self.dirty_resources.insert(r);
        }
        if (now == UNLIMITED_BYTES_PER_S) != (before == UNLIMITED_BYTES_PER_S) {
            // Constrained or no longer: every resource of its flows may change class; a newly
            // constrained one keeps aggregates from now on (until it gets a split).
            self.reclassify.insert(r);
            let slots = self
                .resources
                .get(r)
                .map(|e| e.slots.clone())
                .unwrap_or_default();
            for &slot in &slots {
                if let Some(Some(f)) = self.slots.get_mut(slot as usize) {
                    f.constrained = self.resources.constrained(&f.resources);
                    self.reclassify.extend(f.resources.iter().copied());
                }
            }
            self.recount_aggregates(r);
        }
    }

    /// Counts a resource's aggregates afresh from its flows' committed rates (when it starts keeping
    /// them: newly constrained, or its split dropped).
    fn recount_aggregates(&mut self, r: Resource) {
        let Some(e) = self.resources.get(r) else {
            return;
        };
        let (mut sum, mut below) = (0u128, 0u64);
        for &slot in &e.slots {
            if let Some(Some(f)) = self.slots.get(slot as usize) {
                sum += u128::from(self.committed_rate(f));
                below += u64::from(f.below_limit());
            }
        }
        if let Some(e) = self.resources.get_mut(r) {
            e.rate_sum_bytes_per_s = sum;
            e.below_limit = below;
        }
    }

    /// Sets a link up, down or degraded (faults "link down/degraded"). Flows crossing a down link get 0.
    ///
    /// # Errors
    /// As [`Topology::set_link_state`].
    pub fn set_link_state(&mut self, link: LinkId, state: LinkState) -> Result<(), NetworkError> {
        let r = Resource::Link(link);
        let before = self.topology.capacity_bytes_per_s(r)?;
        self.topology.set_link_state(link, state)?;
        self.after_capacity_change(r, before);
        Ok(())
    }

    /// Sets a link's nominal capacity in bytes per second.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`].
    pub fn set_link_capacity(
        &mut self,
        link: LinkId,
        bytes_per_s: u64,
    ) -> Result<(), NetworkError> {
        let r = Resource::Link(link);
        let before = self.topology.capacity_bytes_per_s(r)?;
        self.topology.set_link_capacity(link, bytes_per_s)?;
        self.after_capacity_change(r, before);
        Ok(())
    }

    /// Sets or clears a node's throughput cap in bytes per second (PS / MT limits, DOMAIN.md §1).
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`].
    pub fn set_node_cap(&mut self, node: NodeId, cap: Option<u64>) -> Result<(), NetworkError> {
        let r = Resource::Node(node);
        let before = self.topology.capacity_bytes_per_s(r)?;
        self.topology.set_node_cap(node, cap)?;
        self.after_capacity_change(r, before);
        Ok(())
    }

    /// Sets a node up or down (PS crash, MT reboot). Flows through a down node get 0.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`].
    pub fn set_node_state(&mut self, node: NodeId, state: NodeState) -> Result<(), NetworkError> {
        let r = Resource::Node(node);
        let before = self.topology.capacity_bytes_per_s(r)?;
        self.topology.set_node_state(node, state)?;
        self.after_capacity_change(r, before);
        Ok(())
    }

    /// Indexes `flow` (in `slot`) on its resources, recording its positions.
    fn attach(
        resources: &mut ResourceTable,
        reclassify: &mut BTreeSet<Resource>,
        slot: u32,
        flow: &mut Flow,
    ) {
        flow.positions.clear();
        flow.constrained = resources.constrained(&flow.resources);
        let (constrained, _) = flow.constrained;
        for &r in &flow.resources {
            let pos = match resources.get_mut(r) {
                Some(e) => {
                    e.slots.push(slot);
                    if e.keeps_aggregates() {
                        e.rate_sum_bytes_per_s += u128::from(flow.rate_bytes_per_s);
                        e.below_limit += u64::from(flow.below_limit());
                    }
                    if e.is_constrained() {
                        if constrained >= 2 {
                            e.multi += 1;
                        }
                        // A resource that is simple (and without a split) or stops being so.
                        if (e.multi == 0) != e.level.is_some() {
                            reclassify.insert(r);
                        }
                    }
                    // Fits: a resource holds at most one entry per slot and slots are u32.
                    (e.slots.len() - 1) as u32
                }
                None => u32::MAX,
            };
            flow.positions.push(pos);
        }
    }

    /// How many of the flow's resources are constrained, and the first of them (kept in the flow).
    fn constrained(&self, flow: &Flow) -> (usize, Option<Resource>) {
        debug_assert_eq!(
            flow.constrained,
            self.resources.constrained(&flow.resources),
            "kept as the capacities are"
        );
        flow.constrained
    }

    /// The flow's committed rate: its simple resource's committed level when it is held there.
    fn committed_rate(&self, flow: &Flow) -> u64 {
        match flow.level_entry {
            Some(e) if e.at_level => (self.resources.get(e.resource))
                .and_then(|x| x.level.as_ref())
                .and_then(|l| l.committed)
                .unwrap_or(0),
            _ => flow.rate_bytes_per_s,
        }
    }

    /// The simple resource whose split holds (or will hold) this flow: its only constrained resource,
    /// when that one has a split.
    fn level_resource(&self, flow: &Flow) -> Option<Resource> {
        match self.constrained(flow) {
            (1, Some(r)) if self.resources.get(r).is_some_and(|e| e.level.is_some()) => Some(r),
            _ => None,
        }
    }

    /// Takes a flow out of its simple resource's split (its committed rate kept in the flow).
    fn leave_level(&mut self, slot: u32) {
        let Some(Some(flow)) = self.slots.get(slot as usize) else {
            return;
        };
        let Some(entry) = flow.level_entry else {
            return;
        };
        let rate = self.committed_rate(flow);
        if let Some(l) = (self.resources.get_mut(entry.resource)).and_then(|e| e.level.as_mut()) {
            l.remove(entry.key, entry.limit, slot, entry.at_level);
        }
        self.level_dirty.insert(entry.resource);
        if let Some(Some(flow)) = self.slots.get_mut(slot as usize) {
            flow.rate_bytes_per_s = rate;
            flow.level_entry = None;
        }
    }

    /// Removes `flow` (in `slot`) from its resources' indexes and aggregates; marks the constrained ones
    /// dirty (their other flows may now get more).
    fn detach(&mut self, slot: u32) {
        self.leave_level(slot);
        let Some(Some(flow)) = self.slots.get(slot as usize) else {
            return;
        };
        let resources = flow.resources.clone();
        let positions = flow.positions.clone();
        let (rate, below) = (flow.rate_bytes_per_s, flow.below_limit());
        let (constrained, _) = self.constrained(flow);
        for (&r, &pos) in resources.iter().zip(&positions) {
            let moved = match self.resources.get_mut(r) {
                Some(e) if (pos as usize) < e.slots.len() => {
                    if e.keeps_aggregates() {
                        e.remove_contribution(rate, below);
                    }
                    if e.is_constrained() && constrained >= 2 {
                        e.multi = e.multi.saturating_sub(1);
                        if e.multi == 0 {
                            self.reclassify.insert(r);
                        }
                    }
                    debug_assert_eq!(e.slots[pos as usize], slot);
                    e.slots.swap_remove(pos as usize);
                    e.slots.get(pos as usize).copied()
                }
                _ => None,
            };
            // The flow swapped into `pos` must learn its new position on `r`.
            if let Some(other) = moved
                && let Some(Some(o)) = self.slots.get_mut(other as usize)
                && let Some(i) = o.resources.iter().position(|&x| x == r)
            {
                o.positions[i] = pos;
            }
            // Leaving an unconstrained resource affects nobody (a later capacity change marks it); a
            // simple resource's split was settled by `leave_level`.
            if self.capacity(r) != UNLIMITED_BYTES_PER_S
                && self.resources.get(r).is_some_and(|e| e.level.is_none())
            {
                self.dirty_resources.insert(r);
            }
        }
    }

    /// Adds a flow. Its rate is 0 until the next [`Network::reallocate`].
    ///
    /// # Errors
    /// [`NetworkError::DuplicateFlow`]; route errors from [`Topology::validate_route`] when the route does
    /// not fit this topology; [`NetworkError::TooManyElements`] past `u32::MAX - 1` flows.
    pub fn add_flow(&mut self, id: FlowId, spec: FlowSpec) -> Result<(), NetworkError> {
        if self.ids.contains_key(&id) {
            return Err(NetworkError::DuplicateFlow(id));
        }
        self.topology.validate_route(&spec.route)?;
        let slot = match self.free_slots.pop() {
            Some(std::cmp::Reverse(s)) => s,
            None => {
                let s = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&s| s < u32::MAX - 1)
                    .ok_or(NetworkError::TooManyElements)?;
                self.slots.push(None);
                self.slot_epochs.push(0);
                s
            }
        };
        let mut flow = Flow {
            id,
            resources: spec.route.resources(),
            constrained: (0, None),
            positions: Vec::new(),
            route: spec.route,
            demand_bytes_per_s: spec.demand_bytes_per_s,
            cap_bytes_per_s: spec.cap_bytes_per_s,
            rate_bytes_per_s: 0,
            level_entry: None,
            bottleneck: None,
            solved_limit_bytes_per_s: 0,
            dirty: true,
            limit_pending: false,
            fast_original: None,
        };
        Self::attach(&mut self.resources, &mut self.reclassify, slot, &mut flow);
        self.slots[slot as usize] = Some(flow);
        self.ids.insert(id, slot);
        self.dirty_slots.push(slot);
        Ok(())
    }

    /// Removes a flow and returns its spec. Flows that shared a constrained resource with it are re-solved
    /// at the next [`Network::reallocate`]; the removed flow is not reported there.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn remove_flow(&mut self, id: FlowId) -> Result<FlowSpec, NetworkError> {
        let slot = *self.ids.get(&id).ok_or(NetworkError::UnknownFlow(id))?;
        self.detach(slot);
        self.ids.remove(&id);
        let flow = self
            .slots
            .get_mut(slot as usize)
            .and_then(Option::take)
            .ok_or(NetworkError::UnknownFlow(id))?;
        // Stale entries of this slot in the queues are harmless: a reused slot holds a new, dirty flow.
        self.free_slots.push(std::cmp::Reverse(slot));
        Ok(FlowSpec {
            route: flow.route,
            demand_bytes_per_s: flow.demand_bytes_per_s,
            cap_bytes_per_s: flow.cap_bytes_per_s,
        })
    }

    fn slot(&self, id: FlowId) -> Result<u32, NetworkError> {
        self.ids
            .get(&id)
            .copied()
            .ok_or(NetworkError::UnknownFlow(id))
    }

    fn flow(&self, id: FlowId) -> Result<&Flow, NetworkError> {
        let slot = self.slot(id)?;
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .ok_or(NetworkError::UnknownFlow(id))
    }

    /// Applies `change` to a flow's demand/cap and queues it as a fast-path candidate if its limit moved.
    fn change_limit(
        &mut self,
        id: FlowId,
        change: impl FnOnce(&mut Flow),
    ) -> Result<(), NetworkError> {
        let slot = self.slot(id)?;
        self.change_limit_in(FlowSlot { id, slot }, change)
    }

    /// [`Network::change_limit`] of the flow in a known slot.
    fn change_limit_in(
        &mut self,
        at: FlowSlot,
        change: impl FnOnce(&mut Flow),
    ) -> Result<(), NetworkError> {
        let FlowSlot { id, slot } = at;
        let Some(Some(flow)) =
            (self.slots.get_mut(slot as usize)).filter(|f| f.as_ref().is_some_and(|f| f.id == id))
        else {
            return Err(NetworkError::UnknownFlow(id));
        };
        change(flow);
        if flow.limit_bytes_per_s() != flow.solved_limit_bytes_per_s && !flow.limit_pending {
            flow.limit_pending = true;
            self.limit_slots.push(slot);
        }
        Ok(())
    }

    /// Sets a flow's demand in bytes per second ([`UNLIMITED_BYTES_PER_S`] = infinite): its backlog drain
    /// rate, or its churn rate once it has no backlog.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn set_demand(&mut self, id: FlowId, bytes_per_s: u64) -> Result<(), NetworkError> {
        self.change_limit(id, |f| f.demand_bytes_per_s = bytes_per_s)
    }

    /// Where a flow is kept, for a caller that changes one flow's demand often (a stream that follows
    /// its churn, at every churn step): [`Network::set_demand_in`] then needs no lookup by id.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn flow_slot(&self, id: FlowId) -> Result<FlowSlot, NetworkError> {
        Ok(FlowSlot {
            id,
            slot: self.slot(id)?,
        })
    }

    /// [`Network::set_demand`] of the flow kept at `at`.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`] when that flow is no longer there (removed, its slot reused).
    pub fn set_demand_in(&mut self, at: FlowSlot, bytes_per_s: u64) -> Result<(), NetworkError> {
        self.change_limit_in(at, |f| f.demand_bytes_per_s = bytes_per_s)
    }

    /// Sets or clears a flow's own cap in bytes per second (download threads, DOMAIN.md §4).
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn set_flow_cap(&mut self, id: FlowId, cap: Option<u64>) -> Result<(), NetworkError> {
        self.change_limit(id, |f| f.cap_bytes_per_s = cap)
    }

    /// Gives a flow a new fixed route (e.g. the machine was moved to another PS or MT). Both the old and the
    /// new neighbourhood are re-solved.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`]; route errors from [`Topology::validate_route`].
    pub fn set_route(&mut self, id: FlowId, route: Route) -> Result<(), NetworkError> {
        let slot = self.slot(id)?;
        self.topology.validate_route(&route)?;
        if self.flow(id)?.route == route {
            return Ok(());
        }
        self.detach(slot);
        let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
            return Err(NetworkError::UnknownFlow(id));
        };
        flow.resources = route.resources();
        flow.route = route;
        Self::attach(&mut self.resources, &mut self.reclassify, slot, flow);
        if !flow.dirty {
            flow.dirty = true;
            self.dirty_slots.push(slot);
        }
        Ok(())
    }

    /// The committed rate of a flow in bytes per second (as of the last [`Network::reallocate`]; 0 for a
    /// flow added since).
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn rate(&self, id: FlowId) -> Result<u64, NetworkError> {
        Ok(self.committed_rate(self.flow(id)?))
    }

    /// A flow's current demand in bytes per second.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn demand(&self, id: FlowId) -> Result<u64, NetworkError> {
        Ok(self.flow(id)?.demand_bytes_per_s)
    }

    /// A flow's own cap in bytes per second.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn flow_cap(&self, id: FlowId) -> Result<Option<u64>, NetworkError> {
        Ok(self.flow(id)?.cap_bytes_per_s)
    }

    /// A flow's route.
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn route(&self, id: FlowId) -> Result<&Route, NetworkError> {
        Ok(&self.flow(id)?.route)
    }

    /// A flow's spec as it is now (route, demand, cap).
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn flow_spec(&self, id: FlowId) -> Result<FlowSpec, NetworkError> {
        let f = self.flow(id)?;
        Ok(FlowSpec {
            route: f.route.clone(),
            demand_bytes_per_s: f.demand_bytes_per_s,
            cap_bytes_per_s: f.cap_bytes_per_s,
        })
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.ids.len()
    }

    /// `(flow, committed rate in bytes per second)` in id order.
    pub fn rates(&self) -> impl Iterator<Item = (FlowId, u64)> + '_ {
        self.ids.iter().map(|(&id, &slot)| {
            let rate = self
                .slots
                .get(slot as usize)
                .and_then(Option::as_ref)
                .map_or(0, |f| self.committed_rate(f));
            (id, rate)
        })
    }

    /// Load of a link or node from the committed rates.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`] / [`NetworkError::UnknownNode`].
    pub fn load(&self, resource: Resource) -> Result<ResourceLoad, NetworkError> {
        let capacity_bytes_per_s = self.topology.capacity_bytes_per_s(resource)?;
        // Kept for constrained resources; a simple one's from its split; summed for the others.
        let (sum, flows) = self.resources.get(resource).map_or((0, 0), |e| {
            let sum = match &e.level {
                Some(l) => l.allocated(e.capacity_bytes_per_s),
                None if e.is_constrained() => e.rate_sum_bytes_per_s,
                None => (e.slots.iter())
                    .filter_map(|&s| self.slots.get(s as usize).and_then(Option::as_ref))
                    .map(|f| u128::from(self.committed_rate(f)))
                    .sum(),
            };
            (sum, e.slots.len())
        });
        Ok(ResourceLoad {
            capacity_bytes_per_s,
            allocated_bytes_per_s: u64::try_from(sum).unwrap_or(u64::MAX),
            flows,
        })
    }

    /// Whether changes are waiting for [`Network::reallocate`].
    pub fn has_pending_changes(&self) -> bool {
        let live = |slots: &[u32], pending: fn(&Flow) -> bool| {
            slots.iter().any(|&s| {
                self.slots
                    .get(s as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(pending)
            })
        };
        !self.dirty_resources.is_empty()
            || !self.reclassify.is_empty()
            || !self.level_dirty.is_empty()
            || live(&self.dirty_slots, |f| f.dirty)
            || live(&self.limit_slots, |f| {
                f.limit_pending && f.limit_bytes_per_s() != f.solved_limit_bytes_per_s
            })
    }

    /// What the last [`Network::reallocate`] did.
    pub fn last_reallocation(&self) -> ReallocationStats {
        self.last
    }

    /// Adds to the component (this epoch) everything reachable from `seeds` through constrained resources.
    fn expand(
        &mut self,
        mut stack: Vec<u32>,
        comp: &mut Vec<u32>,
        comp_resources: &mut Vec<Resource>,
    ) {
        let epoch = self.epoch;
        // Bounded: each flow joins once and each resource pushes its flows once.
        while let Some(slot) = stack.pop() {
            match self.slot_epochs.get_mut(slot as usize) {
                Some(e) if *e != epoch => *e = epoch,
                _ => continue,
            }
            let Some(Some(flow)) = self.slots.get(slot as usize) else {
                continue;
            };
            comp.push(slot);
            for &r in &flow.resources {
                if let Some(e) = self.resources.get_mut(r)
                    && e.keeps_aggregates()
                    && e.component_epoch != epoch
                {
                    e.component_epoch = epoch;
                    comp_resources.push(r);
                    stack.extend_from_slice(&e.slots);
                }
            }
        }
    }

    /// Settles a limit change without solving when that provably gives the from-scratch result (module
    /// documentation). Returns false when the flow's component must be re-solved.
    fn try_fast_path(&mut self, slot: u32) -> bool {
        let Some(Some(flow)) = self.slots.get(slot as usize) else {
            return true;
        };
        let old_limit = flow.solved_limit_bytes_per_s;
        let new_limit = flow.limit_bytes_per_s();
        let rate = flow.rate_bytes_per_s;
        debug_assert!(rate <= old_limit);
        if new_limit == old_limit {
            return true;
        }
        if rate < old_limit {
            // Held by a bottleneck: unaffected while the new limit stays strictly above the rate.
            if new_limit <= rate {
                return false;
            }
            if let Some(Some(f)) = self.slots.get_mut(slot as usize) {
                f.solved_limit_bytes_per_s = new_limit;
            }
            return true;
        }
        // At its limit: every constrained resource must have nobody held below their limit and room for
        // the increase.
        let increase = new_limit.saturating_sub(old_limit);
        for &r in &flow.resources {
            let cap = self.capacity(r);
            if cap == UNLIMITED_BYTES_PER_S {
                continue;
            }
            let Some(e) = self.resources.get(r) else {
                return false;
            };
            let spare = u128::from(cap).saturating_sub(e.rate_sum_bytes_per_s);
            if e.below_limit > 0 || spare < u128::from(increase) {
                return false;
            }
        }
        let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
            return true;
        };
        flow.fast_original.get_or_insert(rate);
        flow.rate_bytes_per_s = new_limit;
        flow.solved_limit_bytes_per_s = new_limit;
        self.resources.recount(flow, rate, false);
        true
    }

    /// Brings every committed rate up to date with the changes since the last call and returns the flows
    /// whose rate changed, as `(flow, new rate in bytes per second)` in id order. Removed flows are not
    /// listed; a new flow is listed when its first rate is not 0.
    ///
    /// Only components (flows linked through shared constrained resources) containing a change are
    /// re-solved; the result equals a from-scratch allocation of the whole network.
    pub fn reallocate(&mut self) -> Vec<(FlowId, u64)> {
        self.commit(true).0
    }

    /// [`Network::reallocate`] for callers that follow bottleneck levels: flows that stay held by the
    /// same resource are reported once, as that resource's new level (see [`SharedReallocation`]).
    pub fn reallocate_shared(&mut self) -> SharedReallocation {
        let (all, shared) = self.commit(false);
        debug_assert!(all.is_empty());
        shared
    }

    /// The flow's bottleneck as of the last reallocation (`None` at its own limit).
    ///
    /// # Errors
    /// [`NetworkError::UnknownFlow`].
    pub fn bottleneck(&self, id: FlowId) -> Result<Option<Resource>, NetworkError> {
        Ok(self.flow(id)?.bottleneck)
    }

    /// Re-solves what changed; with `list_all`, returns every flow whose rate changed, else what
    /// changed in the shared form.
    fn commit(&mut self, list_all: bool) -> (Vec<(FlowId, u64)>, SharedReallocation) {
        self.epoch += 1;
        let mut comp: Vec<u32> = Vec::new();
        let mut comp_resources: Vec<Resource> = Vec::new();
        // Flows of simple resources re-keyed in their split: (rate, bottleneck) as last committed.
        let mut before: BTreeMap<u32, (u64, Option<Resource>)> = BTreeMap::new();

        // 0. Resources that became simple, or stopped being so.
        let mut seeds: Vec<u32> = Vec::new();
        self.reclassify_resources(&mut seeds, &mut before);

        // 1. Components that must be re-solved; changed flows of simple resources to their split.
        for s in std::mem::take(&mut self.dirty_slots) {
            if let Some(Some(f)) = self.slots.get_mut(s as usize) {
                f.dirty = false;
            }
            seeds.push(s);
        }
        for r in std::mem::take(&mut self.dirty_resources) {
            if let Some(e) = self.resources.get(r) {
                if e.level.is_some() {
                    self.level_dirty.insert(r);
                } else {
                    seeds.extend_from_slice(&e.slots);
                }
            }
        }
        // A flow of a simple resource is settled by its split, whichever way it came here.
        seeds.retain(|&s| !self.rekey(s, &mut before));
        self.expand(seeds, &mut comp, &mut comp_resources);

        // 2. Limit changes outside those components: a simple resource's split, the fast path, or
        //    re-solve their component.
        let candidates = std::mem::take(&mut self.limit_slots);
        let mut fast: Vec<u32> = Vec::new();
        for slot in candidates {
            let Some(Some(f)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if !f.limit_pending {
                continue;
            }
            f.limit_pending = false;
            if self.slot_epochs.get(slot as usize) == Some(&self.epoch) {
                continue;
            }
            if !before.contains_key(&slot) && self.try_slack_level(slot) {
                fast.push(slot);
                continue;
            }
            if self.rekey(slot, &mut before) {
                continue;
            }
            if self.try_fast_path(slot) {
                fast.push(slot);
            } else {
                self.expand(vec![slot], &mut comp, &mut comp_resources);
            }
        }

        // 3. Solve the components together (they do not interact; resources in `Resource` order and
        //    flows in id order make the result independent of how they were found).
        let id_of = |slots: &[Option<Flow>], s: u32| {
            slots
                .get(s as usize)
                .and_then(Option::as_ref)
                .map_or(FlowId(u64::MAX), |f| f.id)
        };
        comp.sort_unstable_by_key(|&s| id_of(&self.slots, s));
        comp_resources.sort_unstable();
        for (i, &r) in comp_resources.iter().enumerate() {
            if let Some(e) = self.resources.get_mut(r) {
                // Fits: fewer resources than u32::MAX (ids are u32).
                e.local_index = i as u32;
            }
        }
        let (rates, bottlenecks) = self.solve_component(&comp, &comp_resources);

        // 4. Commit and report.
        let mut report = Report {
            list_all,
            changed: Vec::new(),
            shared: SharedReallocation::default(),
        };
        for ((&slot, &new_rate), &held) in comp.iter().zip(&rates).zip(&bottlenecks) {
            let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let old_rate = flow.rate_bytes_per_s;
            let old_below = flow.below_limit();
            let reported = flow.fast_original.take().unwrap_or(old_rate);
            let new_bottleneck = held.and_then(|i| comp_resources.get(i as usize).copied());
            let old = (reported, flow.bottleneck);
            flow.rate_bytes_per_s = new_rate;
            flow.bottleneck = new_bottleneck;
            flow.solved_limit_bytes_per_s = flow.limit_bytes_per_s();
            self.resources.recount(flow, old_rate, old_below);
            report.flow(flow.id, old, (new_rate, new_bottleneck));
        }
        // 5. Simple resources: settle their splits.
        let mut level_resolved = 0;
        for r in std::mem::take(&mut self.level_dirty) {
            level_resolved += self.settle_level(r, &mut before, &mut report);
        }
        // 6. The fast paths (after the splits: a slack split's flow that a settle moved has been
        //    reported there).
        let mut fast_count = 0usize;
        for slot in fast {
            let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            fast_count += 1;
            // Flows re-solved later in this call already reported (and cleared) their original.
            if let Some(original) = flow.fast_original.take() {
                // At its limit before and after (no bottleneck).
                report.flow(flow.id, (original, None), (flow.rate_bytes_per_s, None));
            }
        }
        let Report {
            mut changed,
            mut shared,
            ..
        } = report;
        changed.sort_unstable();
        shared.flows.sort_unstable_by_key(|c| c.flow);
        shared.levels.sort_unstable();
        shared.levels.dedup();
        debug_assert!(
            (shared.levels.windows(2)).all(|w| w[0].0 != w[1].0),
            "one level per resource"
        );
        self.last = ReallocationStats {
            flows_resolved: comp.len() + level_resolved,
            resources_resolved: comp_resources.len(),
            fast_path_flows: fast_count,
            flows_changed: changed.len() + shared.flows.len(),
        };
        (changed, shared)
    }

    /// Re-keys a flow whose only constrained resource is simple in that resource's split (its limit,
    /// or the flow, is new), noting its last committed state in `before`. False when the flow belongs
    /// to the general solver.
    fn rekey(&mut self, slot: u32, before: &mut BTreeMap<u32, (u64, Option<Resource>)>) -> bool {
        let Some(Some(flow)) = self.slots.get(slot as usize) else {
            return true; // stale: nothing to solve
        };
        let Some(r) = self.level_resource(flow) else {
            return false;
        };
        before
            .entry(slot)
            .or_insert((self.committed_rate(flow), flow.bottleneck));
        self.leave_level(slot);
        let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
            return true;
        };
        let limit = flow.limit_bytes_per_s();
        let Some(level) = (self.resources.get_mut(r)).and_then(|e| e.level.as_mut()) else {
            return false;
        };
        let at_level = level.insert(limit, slot);
        flow.level_entry = Some(LevelEntry {
            resource: r,
            key: limit,
            limit,
            at_level,
        });
        flow.solved_limit_bytes_per_s = limit;
        self.level_dirty.insert(r);
        true
    }

    /// Gives the resources whose class may have changed the solver they now need: a split built for a
    /// resource that became simple (its flows re-keyed), a split dropped for one that stopped being
    /// simple (its flows to `seeds`, its aggregates recounted).
    fn reclassify_resources(
        &mut self,
        seeds: &mut Vec<u32>,
        before: &mut BTreeMap<u32, (u64, Option<Resource>)>,
    ) {
        for r in std::mem::take(&mut self.reclassify) {
            let Some(e) = self.resources.get(r) else {
                continue;
            };
            let slots = e.slots.clone();
            let constrained = e.is_constrained();
            let live = |s: &u32| self.slots.get(*s as usize).and_then(Option::as_ref);
            let multi = if constrained {
                (slots.iter().filter_map(live))
                    .filter(|f| self.constrained(f).0 >= 2)
                    .count()
            } else {
                0
            };
            let simple = constrained && multi == 0;
            let had = e.level.is_some();
            if let Some(e) = self.resources.get_mut(r) {
                e.multi = u32::try_from(multi).unwrap_or(u32::MAX);
            }
            if simple && !had {
                if let Some(e) = self.resources.get_mut(r) {
                    e.level = Some(Level::default());
                }
                for &s in &slots {
                    self.rekey(s, before);
                }
                self.level_dirty.insert(r);
            } else if !simple {
                for &s in &slots {
                    self.leave_level(s);
                }
                self.level_dirty.remove(&r);
                if let Some(e) = self.resources.get_mut(r) {
                    e.level = None;
                }
                self.recount_aggregates(r);
                seeds.extend_from_slice(&slots);
            }
        }
    }

    /// Settles a simple resource's split and reports what changed (like the general commit: a flow
    /// held there before and after moves with the level). Returns how many flows it looked at.
    fn settle_level(
        &mut self,
        r: Resource,
        before: &mut BTreeMap<u32, (u64, Option<Resource>)>,
        report: &mut Report,
    ) -> usize {
        let capacity = self.capacity(r);
        self.rebuild_level_if_needed(r, capacity);
        let Some(level) = (self.resources.get_mut(r)).and_then(|e| e.level.as_mut()) else {
            return 0;
        };
        let old_level = level.committed;
        let mut moved: Vec<(u32, bool)> = Vec::new();
        level.settle(capacity, |s, at| moved.push((s, at)));
        let new_level = level.current(capacity);
        level.committed = new_level;
        let held = level.at_level_count();
        for (slot, at_level) in moved {
            if let Some(Some(f)) = self.slots.get_mut(slot as usize)
                && let Some(entry) = f.level_entry.as_mut()
            {
                let old_rate = match entry.at_level {
                    true => old_level.unwrap_or(0),
                    // a flow of a slack split given a new limit in this call: the rate before it
                    false => f.fast_original.take().unwrap_or(f.rate_bytes_per_s),
                };
                before.entry(slot).or_insert((old_rate, f.bottleneck));
                entry.at_level = at_level;
            }
        }
        let mut looked = 0;
        let mut entered = 0;
        for (&slot, &old) in before.iter() {
            let Some(Some(f)) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let Some(entry) = f.level_entry.filter(|e| e.resource == r) else {
                continue;
            };
            looked += 1;
            let new = match entry.at_level {
                true => (new_level.unwrap_or(0), Some(r)),
                false => (entry.limit, None),
            };
            (f.rate_bytes_per_s, f.bottleneck) = new;
            if entry.at_level && old.1 != Some(r) {
                entered += 1;
            }
            report.flow(f.id, old, new);
        }
        // The flows held before and after that nobody re-keyed follow the level.
        if let (true, Some(q)) = (held > entered && new_level != old_level, new_level) {
            if report.list_all {
                let slots: Vec<u32> = (self.resources.get(r))
                    .and_then(|e| e.level.as_ref())
                    .map(|l| l.at_level_slots().collect())
                    .unwrap_or_default();
                for slot in slots {
                    if let Some(Some(f)) = self.slots.get_mut(slot as usize)
                        && !before.contains_key(&slot)
                    {
                        f.rate_bytes_per_s = q;
                        report.changed.push((f.id, q));
                        looked += 1;
                    }
                }
            } else {
                report.shared.levels.push((r, q));
            }
        }
        looked
    }

    /// Settles a limit change of a flow at its limit in a slack split without re-keying it
    /// ([`Level::retarget`]); false when the split would not stay slack (or the flow is not there).
    fn try_slack_level(&mut self, slot: u32) -> bool {
        let Some(Some(flow)) = self.slots.get(slot as usize) else {
            return false;
        };
        let Some(entry) = flow.level_entry.filter(|e| !e.at_level) else {
            return false;
        };
        let new_limit = flow.limit_bytes_per_s();
        let capacity = self.capacity(entry.resource);
        let Some(level) = (self.resources.get_mut(entry.resource)).and_then(|e| e.level.as_mut())
        else {
            return false;
        };
        if !level.retarget(entry.limit, new_limit, capacity) {
            return false;
        }
        let Some(Some(flow)) = self.slots.get_mut(slot as usize) else {
            return false;
        };
        flow.fast_original.get_or_insert(flow.rate_bytes_per_s);
        flow.rate_bytes_per_s = new_limit;
        flow.solved_limit_bytes_per_s = new_limit;
        if let Some(e) = flow.level_entry.as_mut() {
            e.limit = new_limit;
        }
        true
    }

    /// Keys a stale split's prefix by its flows' limits before it has to move a flow.
    fn rebuild_level_if_needed(&mut self, r: Resource, capacity: u64) {
        let Some(level) = (self.resources.get(r)).and_then(|e| e.level.as_ref()) else {
            return;
        };
        if !level.needs_rebuild(capacity) {
            return;
        }
        let slots = level.at_limit_slots();
        let mut keys = Vec::with_capacity(slots.len());
        for slot in slots {
            if let Some(Some(f)) = self.slots.get_mut(slot as usize)
                && let Some(e) = f.level_entry.as_mut()
            {
                e.key = e.limit;
                keys.push((e.limit, slot));
            }
        }
        if let Some(level) = (self.resources.get_mut(r)).and_then(|e| e.level.as_mut()) {
            level.rebuild(keys);
        }
    }

    /// Max-min fair rates of `comp` (slots sorted by id) over `comp_resources` (sorted).
    fn solve_component(
        &self,
        comp: &[u32],
        comp_resources: &[Resource],
    ) -> (Vec<u64>, Vec<Option<u32>>) {
        let mut problem = Problem::with_capacity(
            comp_resources.len(),
            comp.len(),
            comp.len().saturating_mul(4),
        );
        for &r in comp_resources {
            if problem.add_resource(self.capacity(r)).is_err() {
                break;
            }
        }
        let mut local: Vec<u32> = Vec::new();
        for &slot in comp {
            let Some(Some(flow)) = self.slots.get(slot as usize) else {
                continue;
            };
            local.clear();
            for &r in &flow.resources {
                if let Some(e) = self.resources.get(r)
                    && e.is_constrained()
                    && e.component_epoch == self.epoch
                {
                    local.push(e.local_index);
                }
            }
            if problem
                .add_flow(flow.limit_bytes_per_s(), local.iter().copied())
                .is_err()
            {
                break;
            }
        }
        let (mut rates, mut bottlenecks) = problem.solve_with_bottlenecks();
        // Defensive: a truncated problem (impossible below u32::MAX elements) leaves rates unchanged.
        for &slot in comp.iter().skip(rates.len()) {
            let rate = self
                .slots
                .get(slot as usize)
                .and_then(Option::as_ref)
                .map_or(0, |f| f.rate_bytes_per_s);
            rates.push(rate);
            bottlenecks.push(None);
        }
        (rates, bottlenecks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::topology::NodeKind;
    use crate::network::{DEFAULT_DOWNLOAD_THREADS, download_threads_cap_bytes_per_s};
    use proptest::prelude::*;

    const INF: u64 = UNLIMITED_BYTES_PER_S;

    /// RJ-08 shaped fixture: site → PS_i → Azure gateway → VPN link(s) → on-prem gateway(s) → MT_j.
    struct Fx {
        net: Network,
        site: NodeId,
        ps: Vec<NodeId>,
        gw_a: Vec<NodeId>,
        gw_b: Vec<NodeId>,
        vpn: Vec<LinkId>,
        mt: Vec<NodeId>,
    }

    fn add(t: &mut Topology, name: String, kind: NodeKind, cap: Option<u64>) -> NodeId {
        t.add_node(NodeSpec {
            name,
            kind,
            cap_bytes_per_s: cap,
        })
        .unwrap()
    }

    fn free() -> LinkSpec {
        LinkSpec {
            capacity_bytes_per_s: INF,
            latency_ms: 1,
        }
    }

    fn fixture(ps_caps: &[Option<u64>], vpn_caps: &[u64], mt_caps: &[Option<u64>]) -> Fx {
        let mut t = Topology::new();
        let site = add(&mut t, "azure".into(), NodeKind::AzureVmSite, None);
        let ps: Vec<NodeId> = ps_caps
            .iter()
            .enumerate()
            .map(|(i, &c)| add(&mut t, format!("ps{i}"), NodeKind::ProcessServer, c))
            .collect();
        let mut gw_a = Vec::new();
        let mut gw_b = Vec::new();
        let mut vpn = Vec::new();
        for (i, &c) in vpn_caps.iter().enumerate() {
            let a = add(&mut t, format!("gwa{i}"), NodeKind::AzureGateway, None);
            let b = add(&mut t, format!("gwb{i}"), NodeKind::OnPremGateway, None);
            let l = t
                .add_link(
                    a,
                    b,
                    LinkSpec {
                        capacity_bytes_per_s: c,
                        latency_ms: 20,
                    },
                )
                .unwrap();
            gw_a.push(a);
            gw_b.push(b);
            vpn.push(l);
        }
        let mt: Vec<NodeId> = mt_caps
            .iter()
            .enumerate()
            .map(|(i, &c)| add(&mut t, format!("mt{i}"), NodeKind::MasterTarget, c))
            .collect();
        for &p in &ps {
            t.add_link(site, p, free()).unwrap();
            for &a in &gw_a {
                t.add_link(p, a, free()).unwrap();
            }
        }
        for &b in &gw_b {
            for &m in &mt {
                t.add_link(b, m, free()).unwrap();
            }
        }
        Fx {
            net: Network::new(t),
            site,
            ps,
            gw_a,
            gw_b,
            vpn,
            mt,
        }
    }

    impl Fx {
        fn route(&self, ps: usize, vpn: usize, mt: usize) -> Route {
            self.net
                .topology()
                .route_from_nodes(&[
                    self.site,
                    self.ps[ps],
                    self.gw_a[vpn],
                    self.gw_b[vpn],
                    self.mt[mt],
                ])
                .unwrap()
        }

        fn add(
            &mut self,
            id: u64,
            ps: usize,
            vpn: usize,
            mt: usize,
            demand: u64,
            cap: Option<u64>,
        ) {
            let route = self.route(ps, vpn, mt);
            self.net
                .add_flow(
                    FlowId(id),
                    FlowSpec {
                        route,
                        demand_bytes_per_s: demand,
                        cap_bytes_per_s: cap,
                    },
                )
                .unwrap();
        }

        fn rates(&self) -> Vec<u64> {
            self.net.rates().map(|(_, r)| r).collect()
        }
    }

    #[test]
    fn network_single_bottleneck_shared_equally() {
        let mut fx = fixture(&[None], &[300], &[None]);
        for id in 0..3 {
            fx.add(id, 0, 0, 0, INF, None);
        }
        let changed = fx.net.reallocate();
        assert_eq!(
            changed,
            vec![(FlowId(0), 100), (FlowId(1), 100), (FlowId(2), 100)]
        );
        assert_eq!(fx.net.rate(FlowId(1)), Ok(100));
        let load = fx.net.load(Resource::Link(fx.vpn[0])).unwrap();
        assert_eq!(load.allocated_bytes_per_s, 300);
        assert_eq!(load.flows, 3);
        // Nothing changed → nothing reported, nothing re-solved.
        assert!(fx.net.reallocate().is_empty());
        assert_eq!(fx.net.last_reallocation().flows_resolved, 0);
    }

    #[test]
    fn network_capped_flow_releases_capacity() {
        // DOMAIN §4: 4 download threads at 12 B/s each cap the VM's stream at 48 B/s.
        let cap = download_threads_cap_bytes_per_s(DEFAULT_DOWNLOAD_THREADS, 12).unwrap();
        let mut fx = fixture(&[None], &[300], &[None]);
        fx.add(0, 0, 0, 0, INF, Some(cap));
        fx.add(1, 0, 0, 0, INF, None);
        fx.add(2, 0, 0, 0, 30, None);
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![48, 222, 30]);
    }

    #[test]
    fn network_two_links_in_series() {
        let mut t = Topology::new();
        let a = add(&mut t, "a".into(), NodeKind::AzureVmSite, None);
        let b = add(&mut t, "b".into(), NodeKind::ProcessServer, None);
        let c = add(&mut t, "c".into(), NodeKind::MasterTarget, None);
        let spec = |cap| LinkSpec {
            capacity_bytes_per_s: cap,
            latency_ms: 1,
        };
        t.add_link(a, b, spec(1000)).unwrap();
        t.add_link(b, c, spec(100)).unwrap();
        let through = t.route(a, c, RouteMetric::Hops).unwrap();
        let first = t.route(a, b, RouteMetric::Hops).unwrap();
        let second = t.route(b, c, RouteMetric::Hops).unwrap();
        let mut net = Network::new(t);
        for (id, route) in [through, first, second].into_iter().enumerate() {
            net.add_flow(
                FlowId(id as u64),
                FlowSpec {
                    route,
                    demand_bytes_per_s: INF,
                    cap_bytes_per_s: None,
                },
            )
            .unwrap();
        }
        net.reallocate();
        let rates: Vec<u64> = net.rates().map(|(_, r)| r).collect();
        assert_eq!(rates, vec![50, 950, 50]);
    }

    use crate::network::topology::RouteMetric;

    #[test]
    fn network_down_link_gives_zero_then_recovers() {
        let mut fx = fixture(&[None], &[300, 100], &[None]);
        fx.add(0, 0, 0, 0, INF, None);
        fx.add(1, 0, 0, 0, INF, None);
        fx.add(2, 0, 1, 0, INF, None);
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![150, 150, 100]);
        fx.net.set_link_state(fx.vpn[0], LinkState::Down).unwrap();
        let changed = fx.net.reallocate();
        assert_eq!(changed, vec![(FlowId(0), 0), (FlowId(1), 0)]);
        // The other VPN's flow shares no constrained resource: not re-solved.
        assert_eq!(fx.net.last_reallocation().flows_resolved, 2);
        assert_eq!(fx.net.rate(FlowId(2)), Ok(100));
        fx.net.set_link_state(fx.vpn[0], LinkState::Up).unwrap();
        assert_eq!(
            fx.net.reallocate(),
            vec![(FlowId(0), 150), (FlowId(1), 150)]
        );
    }

    #[test]
    fn network_degraded_link_scales_capacity() {
        let mut fx = fixture(&[None], &[1000], &[None]);
        fx.add(0, 0, 0, 0, INF, None);
        fx.add(1, 0, 0, 0, 100, None);
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![900, 100]);
        fx.net
            .set_link_state(
                fx.vpn[0],
                LinkState::Degraded {
                    capacity_permille: 150,
                },
            )
            .unwrap();
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![75, 75]);
        assert_eq!(
            fx.net.set_link_state(
                fx.vpn[0],
                LinkState::Degraded {
                    capacity_permille: 2000
                }
            ),
            Err(NetworkError::InvalidDegradation(2000))
        );
    }

    #[test]
    fn network_node_caps_are_shared_constraints() {
        // Two PS capped at 200 each, VPN 150, MT capped at 1000.
        let mut fx = fixture(&[Some(200), Some(200)], &[150], &[Some(1000)]);
        fx.add(0, 0, 0, 0, INF, None);
        fx.add(1, 0, 0, 0, INF, None);
        fx.add(2, 1, 0, 0, INF, None);
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![50, 50, 50]);
        // PS 1 throttled to 20: its flow drops, the others split the rest of the VPN (65 each).
        fx.net.set_node_cap(fx.ps[1], Some(20)).unwrap();
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![65, 65, 20]);
        // MT cap binds below everything.
        fx.net.set_node_cap(fx.mt[0], Some(31)).unwrap();
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![10, 10, 10]);
        // PS 0 crashes.
        fx.net.set_node_state(fx.ps[0], NodeState::Down).unwrap();
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![0, 0, 20]);
        let load = fx.net.load(Resource::Node(fx.ps[0])).unwrap();
        assert_eq!(load.capacity_bytes_per_s, 0);
        assert_eq!(load.allocated_bytes_per_s, 0);
    }

    #[test]
    fn network_change_resolves_only_its_component() {
        // Two PS, each with its own capped MT and an unconstrained VPN: two independent components.
        let mut fx = fixture(&[Some(100), Some(100)], &[INF], &[Some(1_000), Some(1_000)]);
        for id in 0..4 {
            fx.add(id, 0, 0, 0, INF, None);
        }
        for id in 10..13 {
            fx.add(id, 1, 0, 1, INF, None);
        }
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![25, 25, 25, 25, 33, 33, 33]);
        fx.net.set_demand(FlowId(0), 10).unwrap();
        let changed = fx.net.reallocate();
        assert_eq!(
            changed,
            vec![
                (FlowId(0), 10),
                (FlowId(1), 30),
                (FlowId(2), 30),
                (FlowId(3), 30)
            ]
        );
        let stats = fx.net.last_reallocation();
        assert_eq!(stats.flows_resolved, 4);
        assert_eq!(stats.flows_changed, 4);
        // Removing a flow re-solves its old neighbours only.
        fx.net.remove_flow(FlowId(12)).unwrap();
        assert_eq!(
            fx.net.reallocate(),
            vec![(FlowId(10), 50), (FlowId(11), 50)]
        );
        assert_eq!(fx.net.last_reallocation().flows_resolved, 2);
        // Moving a flow to the other PS re-solves both sides.
        let route = fx.route(1, 0, 1);
        fx.net.set_route(FlowId(3), route).unwrap();
        fx.net.reallocate();
        assert_eq!(fx.rates(), vec![10, 45, 45, 33, 33, 33]);
    }

    #[test]
    fn network_a_simple_link_settles_only_what_moves() {
        // Issue 6: the VPN is the only constrained resource of its 100 flows. One flow's demand falling
        // below the fair share is one move in the link's split and one level change, not a re-solve of
        // the hundred flows.
        let mut fx = fixture(&[None], &[10_000], &[None]);
        for id in 0..100 {
            fx.add(id, 0, 0, 0, INF, None);
        }
        let first = fx.net.reallocate_shared();
        assert_eq!(first.flows.len(), 100);
        let vpn = Resource::Link(fx.vpn[0]);
        assert!(
            (first.flows.iter()).all(|c| (c.rate_bytes_per_s, c.bottleneck) == (100, Some(vpn)))
        );
        fx.net.set_demand(FlowId(7), 1).unwrap();
        let shared = fx.net.reallocate_shared();
        let seven = FlowChange {
            flow: FlowId(7),
            rate_bytes_per_s: 1,
            bottleneck: None,
        };
        assert_eq!(shared.flows, vec![seven]);
        assert_eq!(shared.levels, vec![(vpn, 101)], "9,999 / 99");
        assert_eq!(fx.net.last_reallocation().flows_resolved, 1);
        // A flow leaving raises the level for the other 98: one entry.
        fx.net.remove_flow(FlowId(3)).unwrap();
        let shared = fx.net.reallocate_shared();
        assert!(shared.flows.is_empty());
        assert_eq!(shared.levels, vec![(vpn, 102)], "9,999 / 98");
        assert_eq!(fx.net.rate(FlowId(50)), Ok(102));
        assert_eq!(
            fx.net.load(vpn).unwrap().allocated_bytes_per_s,
            1 + 98 * 102
        );
        check_fair(&fx.net).unwrap();
    }

    #[test]
    fn network_fast_paths_skip_the_solver() {
        // A capped PS makes the VPN non-simple: the general solver and its fast paths.
        let mut fx = fixture(&[Some(10_000)], &[300], &[None]);
        fx.add(0, 0, 0, 0, INF, None);
        fx.add(1, 0, 0, 0, INF, None);
        fx.net.reallocate();
        // Bottlenecked at 150; a new demand still above 150 changes nothing.
        fx.net.set_demand(FlowId(0), 1_000).unwrap();
        assert!(fx.net.reallocate().is_empty());
        let stats = fx.net.last_reallocation();
        assert_eq!((stats.flows_resolved, stats.fast_path_flows), (0, 1));
        // Below the fair share: a real change, solved.
        fx.net.set_demand(FlowId(0), 100).unwrap();
        assert_eq!(
            fx.net.reallocate(),
            vec![(FlowId(0), 100), (FlowId(1), 200)]
        );
        // Uncongested path: both at their limits, room left → moved without a solve.
        fx.net.set_demand(FlowId(1), 150).unwrap();
        fx.net.reallocate();
        fx.net.set_demand(FlowId(0), 120).unwrap();
        assert_eq!(fx.net.reallocate(), vec![(FlowId(0), 120)]);
        let stats = fx.net.last_reallocation();
        assert_eq!((stats.flows_resolved, stats.fast_path_flows), (0, 1));
        // A demand change back and forth before reallocating is no change at all.
        fx.net.set_demand(FlowId(0), 7).unwrap();
        fx.net.set_demand(FlowId(0), 120).unwrap();
        assert!(!fx.net.has_pending_changes());
    }

    #[test]
    fn network_a_flow_slot_sets_its_flow_s_demand_until_the_flow_is_gone() {
        let mut fx = fixture(&[None], &[300], &[None]);
        fx.add(0, 0, 0, 0, 100, None);
        fx.net.reallocate();
        let slot = fx.net.flow_slot(FlowId(0)).expect("added");
        fx.net.set_demand_in(slot, 200).expect("there");
        assert_eq!(fx.net.reallocate(), vec![(FlowId(0), 200)]);
        // removed, and its slot reused by another flow: the old handle no longer reaches anything
        fx.net.remove_flow(FlowId(0)).expect("there");
        fx.add(1, 0, 0, 0, 50, None);
        assert_eq!(fx.net.flow_slot(FlowId(1)).map(|s| s.slot), Ok(slot.slot));
        assert_eq!(
            fx.net.set_demand_in(slot, 7),
            Err(NetworkError::UnknownFlow(FlowId(0)))
        );
        assert_eq!(fx.net.demand(FlowId(1)), Ok(50));
    }

    /// A batch of flows added after a batch was removed (a fleet's failover, then its reprotect) takes
    /// the freed slots lowest first: walked by id, the new flows lie front to back, whatever order the
    /// old ones left in.
    #[test]
    fn freed_slots_are_taken_lowest_first() {
        let mut fx = fixture(&[None], &[300], &[None]);
        for id in 0..6 {
            fx.add(id, 0, 0, 0, 10, None);
        }
        for id in [4, 0, 5, 2, 1, 3] {
            fx.net.remove_flow(FlowId(id)).unwrap();
        }
        for id in 10..16 {
            fx.add(id, 0, 0, 0, 10, None);
        }
        fx.add(16, 0, 0, 0, 10, None); // none free: a new slot at the end
        let slots: Vec<u32> = (10..17)
            .map(|id| fx.net.flow_slot(FlowId(id)).unwrap().slot)
            .collect();
        assert_eq!(slots, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn network_errors_not_panics() {
        let mut fx = fixture(&[None], &[300], &[None]);
        fx.add(0, 0, 0, 0, INF, None);
        let route = fx.route(0, 0, 0);
        let spec = FlowSpec {
            route: route.clone(),
            demand_bytes_per_s: 1,
            cap_bytes_per_s: None,
        };
        assert_eq!(
            fx.net.add_flow(FlowId(0), spec.clone()),
            Err(NetworkError::DuplicateFlow(FlowId(0)))
        );
        let missing = FlowId(9);
        assert_eq!(
            fx.net.rate(missing),
            Err(NetworkError::UnknownFlow(missing))
        );
        assert_eq!(
            fx.net.set_demand(missing, 1),
            Err(NetworkError::UnknownFlow(missing))
        );
        assert_eq!(
            fx.net.remove_flow(missing),
            Err(NetworkError::UnknownFlow(missing))
        );
        assert_eq!(
            fx.net.set_link_state(LinkId(999), LinkState::Down),
            Err(NetworkError::UnknownLink(LinkId(999)))
        );
        assert_eq!(
            fx.net.set_node_cap(NodeId(999), None),
            Err(NetworkError::UnknownNode(NodeId(999)))
        );
        // A route from a bigger topology does not fit a smaller one.
        let mut small = Network::new(Topology::new());
        assert_eq!(
            small.add_flow(FlowId(1), spec),
            Err(NetworkError::UnknownNode(route.nodes()[0]))
        );
        assert_eq!(fx.net.remove_flow(FlowId(0)).map(|s| s.route), Ok(route));
        assert_eq!(fx.net.flow_count(), 0);
    }

    // ---- properties -------------------------------------------------------------------------------

    #[derive(Clone, Debug)]
    struct Shape {
        ps_caps: Vec<Option<u64>>,
        vpn_caps: Vec<u64>,
        mt_caps: Vec<Option<u64>>,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add {
            id: u64,
            ps: usize,
            vpn: usize,
            mt: usize,
            demand: u64,
            cap: Option<u64>,
        },
        Remove(u64),
        Demand(u64, u64),
        Cap(u64, Option<u64>),
        Reroute(u64, usize, usize, usize),
        Link(usize, LinkState),
        NodeCap(usize, Option<u64>),
        NodeState(usize, NodeState),
        Reallocate,
    }

    fn demand_strategy() -> BoxedStrategy<u64> {
        prop_oneof![0u64..5, 0u64..200, 0u64..2_000, Just(INF)].boxed()
    }

    fn opt_cap_strategy() -> BoxedStrategy<Option<u64>> {
        prop_oneof![
            Just(None),
            (0u64..300).prop_map(Some),
            (0u64..3_000).prop_map(Some)
        ]
        .boxed()
    }

    fn shape_strategy() -> impl Strategy<Value = Shape> {
        (
            proptest::collection::vec(opt_cap_strategy(), 1..4),
            proptest::collection::vec(prop_oneof![0u64..500, 0u64..5_000, Just(INF)], 1..3),
            proptest::collection::vec(opt_cap_strategy(), 1..4),
        )
            .prop_map(|(ps_caps, vpn_caps, mt_caps)| Shape {
                ps_caps,
                vpn_caps,
                mt_caps,
            })
    }

    fn link_state_strategy() -> impl Strategy<Value = LinkState> {
        prop_oneof![
            Just(LinkState::Up),
            Just(LinkState::Down),
            (0u32..=1000).prop_map(|capacity_permille| LinkState::Degraded { capacity_permille }),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let id = 0u64..16;
        prop_oneof![
            4 => (id.clone(), 0usize..4, 0usize..3, 0usize..4, demand_strategy(), opt_cap_strategy())
                .prop_map(|(id, ps, vpn, mt, demand, cap)| Op::Add { id, ps, vpn, mt, demand, cap }),
            1 => id.clone().prop_map(Op::Remove),
            5 => (id.clone(), demand_strategy()).prop_map(|(i, d)| Op::Demand(i, d)),
            1 => (id.clone(), opt_cap_strategy()).prop_map(|(i, c)| Op::Cap(i, c)),
            1 => (id, 0usize..4, 0usize..3, 0usize..4).prop_map(|(i, p, v, m)| Op::Reroute(i, p, v, m)),
            1 => (0usize..40, link_state_strategy()).prop_map(|(l, s)| Op::Link(l, s)),
            1 => (0usize..20, opt_cap_strategy()).prop_map(|(n, c)| Op::NodeCap(n, c)),
            1 => (0usize..20, prop_oneof![Just(NodeState::Up), Just(NodeState::Down)])
                .prop_map(|(n, s)| Op::NodeState(n, s)),
            3 => Just(Op::Reallocate),
        ]
    }

    impl Fx {
        /// Applies an op; ids out of range are wrapped into range, unknown flows give errors (ignored:
        /// they must simply not panic).
        fn apply(&mut self, op: &Op) {
            let n_ps = self.ps.len();
            let n_vpn = self.vpn.len();
            let n_mt = self.mt.len();
            match *op {
                Op::Add {
                    id,
                    ps,
                    vpn,
                    mt,
                    demand,
                    cap,
                } => {
                    let route = self.route(ps % n_ps, vpn % n_vpn, mt % n_mt);
                    let _ = self.net.add_flow(
                        FlowId(id),
                        FlowSpec {
                            route,
                            demand_bytes_per_s: demand,
                            cap_bytes_per_s: cap,
                        },
                    );
                }
                Op::Remove(id) => {
                    let _ = self.net.remove_flow(FlowId(id));
                }
                Op::Demand(id, d) => {
                    let _ = self.net.set_demand(FlowId(id), d);
                }
                Op::Cap(id, c) => {
                    let _ = self.net.set_flow_cap(FlowId(id), c);
                }
                Op::Reroute(id, p, v, m) => {
                    let route = self.route(p % n_ps, v % n_vpn, m % n_mt);
                    let _ = self.net.set_route(FlowId(id), route);
                }
                Op::Link(l, s) => {
                    let l = LinkId((l % self.net.topology().link_count()) as u32);
                    let _ = self.net.set_link_state(l, s);
                }
                Op::NodeCap(n, c) => {
                    let n = NodeId((n % self.net.topology().node_count()) as u32);
                    let _ = self.net.set_node_cap(n, c);
                }
                Op::NodeState(n, s) => {
                    let n = NodeId((n % self.net.topology().node_count()) as u32);
                    let _ = self.net.set_node_state(n, s);
                }
                Op::Reallocate => {}
            }
        }
    }

    /// `(id, (ps, vpn, mt, demand, cap))` of a generated flow.
    type FlowRow = (u64, (usize, usize, usize, u64, Option<u64>));

    /// A fresh network with the same topology state and flows, allocated in one go.
    fn from_scratch(net: &Network) -> Network {
        let mut fresh = Network::new(net.topology().clone());
        for (id, _) in net.rates() {
            fresh.add_flow(id, net.flow_spec(id).unwrap()).unwrap();
        }
        fresh.reallocate();
        fresh
    }

    /// Feasibility and the max-min certificate (allocation module docs) on committed rates.
    /// The rates equal a from-scratch allocation of the same network.
    fn same_as_scratch(net: &Network) -> Result<(), TestCaseError> {
        let a: Vec<(FlowId, u64)> = net.rates().collect();
        let b: Vec<(FlowId, u64)> = from_scratch(net).rates().collect();
        prop_assert_eq!(a, b, "incremental differs from scratch");
        Ok(())
    }

    /// Applies `ops`, checking after every reallocation and at the end; the caller forgets a removed
    /// flow (a re-added one starts again at 0).
    fn replay<K>(
        fx: &mut Fx,
        ops: &[Op],
        known: &mut BTreeMap<FlowId, K>,
        mut check: impl FnMut(&mut Fx, &mut BTreeMap<FlowId, K>) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        for op in ops {
            if let Op::Remove(id) = *op {
                known.remove(&FlowId(id));
            }
            fx.apply(op);
            if matches!(op, Op::Reallocate) {
                check(fx, known)?;
            }
        }
        check(fx, known)
    }

    fn check_fair(net: &Network) -> Result<(), String> {
        let mut per: BTreeMap<Resource, (u128, u64, u64)> = BTreeMap::new();
        for (id, rate) in net.rates() {
            for r in net.route(id).unwrap().resources() {
                let e = per.entry(r).or_default();
                e.0 += u128::from(rate);
                e.1 += 1;
                e.2 = e.2.max(rate);
            }
        }
        for (&r, &(used, count, _)) in &per {
            let cap = net.topology().capacity_bytes_per_s(r).unwrap();
            if cap != INF && used > u128::from(cap) {
                return Err(format!("{r:?} over capacity: {used} > {cap}"));
            }
            let load = net.load(r).unwrap();
            if u128::from(load.allocated_bytes_per_s) != used.min(u128::from(u64::MAX))
                || load.flows as u64 != count
            {
                return Err(format!(
                    "{r:?} aggregates out of date: {load:?} vs {used}/{count}"
                ));
            }
        }
        for (id, rate) in net.rates() {
            let spec = net.flow_spec(id).unwrap();
            let limit = spec.limit_bytes_per_s();
            if rate > limit {
                return Err(format!("{id:?} above its limit"));
            }
            if rate == limit {
                continue;
            }
            let ok = spec.route.resources().into_iter().any(|r| {
                let cap = net.topology().capacity_bytes_per_s(r).unwrap();
                let (used, count, max) = per[&r];
                if cap == INF {
                    return false;
                }
                let left = u128::from(cap) - used;
                left < u128::from(count) && rate == max
            });
            if !ok {
                return Err(format!("{id:?} at {rate} has no bottleneck certificate"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn network_prop_incremental_equals_scratch(
            shape in shape_strategy(),
            ops in proptest::collection::vec(op_strategy(), 0..60),
        ) {
            let mut fx = fixture(&shape.ps_caps, &shape.vpn_caps, &shape.mt_caps);
            // What the caller knows: rates from the change lists only.
            let mut known: BTreeMap<FlowId, u64> = BTreeMap::new();
            let check = |fx: &mut Fx, known: &mut BTreeMap<FlowId, u64>| -> Result<(), TestCaseError> {
                let changed = fx.net.reallocate();
                prop_assert!(changed.windows(2).all(|w| w[0].0 < w[1].0), "changes not sorted");
                for &(id, rate) in &changed {
                    let before = known.get(&id).copied().unwrap_or(0);
                    prop_assert_ne!(before, rate, "{:?} reported without a change", id);
                    known.insert(id, rate);
                }
                for (id, rate) in fx.net.rates() {
                    prop_assert_eq!(known.get(&id).copied().unwrap_or(0), rate, "{:?} change not reported", id);
                }
                prop_assert!(!fx.net.has_pending_changes());
                same_as_scratch(&fx.net)?;
                if let Err(e) = check_fair(&fx.net) {
                    return Err(TestCaseError::fail(e));
                }
                Ok(())
            };
            replay(&mut fx, &ops, &mut known, check)?;
        }

        #[test]
        fn network_prop_shared_changes_give_every_rate(
            shape in shape_strategy(),
            ops in proptest::collection::vec(op_strategy(), 0..60),
        ) {
            // What a caller following levels knows: each flow's (rate, bottleneck) from the individual
            // changes, and a level change moves every flow it holds (issue 6: the data plane's shares).
            let mut fx = fixture(&shape.ps_caps, &shape.vpn_caps, &shape.mt_caps);
            let mut known: BTreeMap<FlowId, (u64, Option<Resource>)> = BTreeMap::new();
            let check = |fx: &mut Fx, known: &mut BTreeMap<FlowId, (u64, Option<Resource>)>| -> Result<(), TestCaseError> {
                let shared = fx.net.reallocate_shared();
                prop_assert!(shared.flows.windows(2).all(|w| w[0].flow < w[1].flow), "changes not sorted");
                prop_assert!(shared.levels.windows(2).all(|w| w[0].0 < w[1].0), "one level per resource");
                for &(r, level) in &shared.levels {
                    let mut moved = 0;
                    for (_, k) in known.iter_mut().filter(|(_, k)| k.1 == Some(r)) {
                        k.0 = level;
                        moved += 1;
                    }
                    prop_assert!(moved > 0, "level of {:?} reported with no flow held there", r);
                }
                for c in &shared.flows {
                    let before = known.get(&c.flow).copied().unwrap_or((0, None));
                    prop_assert_ne!(before, (c.rate_bytes_per_s, c.bottleneck), "{:?} reported without a change", c.flow);
                    known.insert(c.flow, (c.rate_bytes_per_s, c.bottleneck));
                }
                for (id, rate) in fx.net.rates() {
                    let bottleneck = fx.net.bottleneck(id).unwrap();
                    prop_assert_eq!(known.get(&id).copied().unwrap_or((0, None)), (rate, bottleneck), "{:?} change not reported", id);
                    if let Some(r) = bottleneck {
                        let held: Vec<u64> = fx.net.rates()
                            .filter(|&(o, _)| fx.net.bottleneck(o).unwrap() == Some(r))
                            .map(|(_, x)| x)
                            .collect();
                        prop_assert!(held.iter().all(|&x| x == rate), "unequal rates held by {:?}", r);
                    }
                }
                same_as_scratch(&fx.net)
            };
            replay(&mut fx, &ops, &mut known, check)?;
        }

        #[test]
        fn network_prop_demand_changes_equal_scratch(
            shape in shape_strategy(),
            flows in proptest::collection::vec(
                (0usize..4, 0usize..3, 0usize..4, demand_strategy(), opt_cap_strategy()),
                1..20,
            ),
            batches in proptest::collection::vec(
                proptest::collection::vec((0usize..20, demand_strategy()), 1..4),
                1..12,
            ),
        ) {
            // The data plane's common case: demands move (backlog drained, churn changed), nothing else.
            let mut fx = fixture(&shape.ps_caps, &shape.vpn_caps, &shape.mt_caps);
            for (i, &(p, v, m, d, c)) in flows.iter().enumerate() {
                let (p, v, m) = (p % fx.ps.len(), v % fx.vpn.len(), m % fx.mt.len());
                fx.add(i as u64, p, v, m, d, c);
            }
            fx.net.reallocate();
            for batch in &batches {
                let before: Vec<(FlowId, u64)> = fx.net.rates().collect();
                for &(i, d) in batch {
                    fx.net.set_demand(FlowId((i % flows.len()) as u64), d).unwrap();
                }
                let changed = fx.net.reallocate();
                let after: Vec<(FlowId, u64)> = fx.net.rates().collect();
                let expected: Vec<(FlowId, u64)> = before
                    .iter()
                    .zip(&after)
                    .filter(|(b, a)| b.1 != a.1)
                    .map(|(_, &a)| a)
                    .collect();
                prop_assert_eq!(changed, expected);
                let scratch = from_scratch(&fx.net);
                prop_assert_eq!(after, scratch.rates().collect::<Vec<_>>());
            }
        }

        #[test]
        fn network_prop_order_independent_and_deterministic(
            shape in shape_strategy(),
            flows in proptest::collection::btree_map(
                0u64..1_000,
                (0usize..4, 0usize..3, 0usize..4, demand_strategy(), opt_cap_strategy()),
                0..25,
            ),
            seed in any::<u64>(),
        ) {
            let list: Vec<_> = flows.into_iter().collect();
            // A deterministic permutation from the seed (Fisher–Yates with an LCG).
            let mut perm = list.clone();
            let mut s = seed;
            for i in (1..perm.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (s >> 33) as usize % (i + 1));
            }
            let run = |order: &[FlowRow]| {
                let mut fx = fixture(&shape.ps_caps, &shape.vpn_caps, &shape.mt_caps);
                for &(id, (p, v, m, d, c)) in order {
                    let (p, v, m) = (p % fx.ps.len(), v % fx.vpn.len(), m % fx.mt.len());
                    fx.add(id, p, v, m, d, c);
                }
                let changed = fx.net.reallocate();
                (changed, fx.net.rates().collect::<Vec<_>>())
            };
            let first = run(&list);
            prop_assert_eq!(&first, &run(&list));
            prop_assert_eq!(&first, &run(&perm));
        }
    }

    /// Scale check for the data plane: 30,000 disks over 50 PS, one VPN/ExpressRoute link and 50 MT.
    /// Run with `cargo test --release -p drsim-world network_perf -- --ignored --nocapture`.
    /// Each figure is the best of several runs (the machine may be shared).
    #[test]
    #[ignore]
    fn network_perf_30000_flows() {
        use std::time::{Duration, Instant};
        const FLOWS: u64 = 30_000;
        const RUNS: usize = 7;
        /// Best time of `RUNS` runs of `run` on a fresh clone of `base`; returns the last result too.
        fn best<T>(
            base: &Network,
            mut run: impl FnMut(&mut Network) -> T,
        ) -> (Duration, T, Network) {
            let mut best = Duration::MAX;
            let mut last = None;
            for _ in 0..RUNS {
                let mut net = base.clone();
                let t = Instant::now();
                let out = run(&mut net);
                best = best.min(t.elapsed());
                last = Some((out, net));
            }
            let (out, net) = last.expect("RUNS > 0");
            (best, out, net)
        }
        // 50 PS at ~2 TB/day (DOMAIN §5) ≈ 23 MB/s, a 1 GB/s link, 50 MT at 40 MB/s.
        let ps_caps = vec![Some(23_000_000); 50];
        let mt_caps = vec![Some(40_000_000); 50];
        let mut fx = fixture(&ps_caps, &[1_000_000_000], &mt_caps);
        let vpn = fx.vpn[0];
        let cap = download_threads_cap_bytes_per_s(DEFAULT_DOWNLOAD_THREADS, 1_000_000).unwrap();
        let routes: Vec<Route> = (0..FLOWS)
            .map(|id| fx.route((id % 50) as usize, 0, ((id / 7) % 50) as usize))
            .collect();
        let empty = fx.net.clone();
        let (t_add, (), added) = best(&empty, |net| {
            for (id, route) in (0..FLOWS).zip(&routes) {
                // Every third disk has a backlog (unlimited demand); the others keep up with churn.
                let demand = if id % 3 == 0 {
                    INF
                } else {
                    1_000 + (id * 7919) % 50_000
                };
                let spec = FlowSpec {
                    route: route.clone(),
                    demand_bytes_per_s: demand,
                    cap_bytes_per_s: Some(cap),
                };
                net.add_flow(FlowId(id), spec).unwrap();
            }
        });
        let (t_full, changed, solved) = best(&added, Network::reallocate);
        assert_eq!(changed.len() as u64, FLOWS);
        check_fair(&solved).unwrap();
        fx.net = solved;

        // A backlog flow held by its PS: its demand moves but stays above its rate → fast path.
        assert!(fx.net.rate(FlowId(0)).unwrap() < 3_000_000);
        let (t_fast, c_fast, _) = best(&fx.net, |net| {
            net.set_demand(FlowId(0), 3_000_000).unwrap();
            net.reallocate()
        });
        // A churn-limited flow's demand changes below the fair share: its (whole) component re-solves.
        let (t_one, c_one, _) = best(&fx.net, |net| {
            net.set_demand(FlowId(1), 12_345).unwrap();
            net.reallocate()
        });
        // Link degraded to 30 %.
        let (t_link, c_link, degraded) = best(&fx.net, |net| {
            net.set_link_state(
                vpn,
                LinkState::Degraded {
                    capacity_permille: 300,
                },
            )
            .unwrap();
            net.reallocate()
        });
        // ~1,000 demand changes (a third of them backlog flows), one reallocation.
        let (t_batch, c_batch, _) = best(&degraded, |net| {
            for id in (0..FLOWS).step_by(31) {
                let d = net.demand(FlowId(id)).unwrap();
                net.set_demand(FlowId(id), d / 2 + 1).unwrap();
            }
            net.reallocate()
        });
        // Uncongested network (link and PS/MT caps lifted): churn changes take the fast path.
        let mut lifted = fx.net.clone();
        for &n in fx.ps.iter().chain(&fx.mt) {
            lifted.set_node_cap(n, None).unwrap();
        }
        lifted.set_link_capacity(vpn, 100_000_000_000).unwrap();
        lifted.reallocate();
        let (t_unc, c_unc, after) = best(&lifted, |net| {
            for id in (1..FLOWS).step_by(31) {
                net.set_demand(FlowId(id), 2_000 + id % 1_000).unwrap();
            }
            net.reallocate()
        });
        let s_unc = after.last_reallocation();
        assert_eq!(
            from_scratch(&after).rates().collect::<Vec<_>>(),
            after.rates().collect::<Vec<_>>()
        );
        // The solver alone on the same problem (50 PS caps, 1 link, 50 MT caps), without bookkeeping.
        let mut problem = Problem::new();
        for _ in 0..50 {
            problem.add_resource(23_000_000).unwrap();
        }
        problem.add_resource(1_000_000_000).unwrap();
        for _ in 0..50 {
            problem.add_resource(40_000_000).unwrap();
        }
        for id in 0..FLOWS {
            let demand = if id % 3 == 0 {
                INF
            } else {
                1_000 + (id * 7919) % 50_000
            };
            let (p, m) = ((id % 50) as u32, ((id / 7) % 50) as u32);
            problem.add_flow(demand.min(cap), [p, 50, 51 + m]).unwrap();
        }
        let mut t_solver = Duration::MAX;
        for _ in 0..RUNS {
            let t = Instant::now();
            let rates = problem.solve();
            t_solver = t_solver.min(t.elapsed());
            assert_eq!(rates.len() as u64, FLOWS);
        }
        println!("solver only (Problem::solve, 30k flows, 101 resources): {t_solver:?}");
        println!("add 30k flows: {t_add:?}");
        println!("full reallocation, 30k flows over 50 PS + 1 link + 50 MT: {t_full:?}");
        println!(
            "fast path, bottlenecked flow's demand: {t_fast:?}, changed {}",
            c_fast.len()
        );
        println!(
            "one at-limit demand change (full component): {t_one:?}, changed {}",
            c_one.len()
        );
        println!("link degraded: {t_link:?}, changed {}", c_link.len());
        println!(
            "~1000 demand changes, congested: {t_batch:?}, changed {}",
            c_batch.len()
        );
        println!(
            "~1000 churn changes, uncongested: {t_unc:?}, changed {}, {s_unc:?}",
            c_unc.len()
        );
    }
}
