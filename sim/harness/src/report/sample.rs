//! What `--report` samples while a run goes (issue 7): at the end of every report interval, each machine's
//! unsent bytes (churn backlog plus what its resync still has to send) and the bytes each link, process
//! server and master target carried during the interval.
//!
//! Sampling only reads the world: the rehearsal stops at each sample time as it stops at its progress
//! slices, and stopping there changes nothing the run does (INV-DET; a test in `report::tests` compares
//! trace digests with and without a report).

use drsim_engine::Millis;
use drsim_engine::ids::{ItemId, MasterTargetName, ProcessServerName};
use drsim_engine::protocol::Direction;
use drsim_world::World;
use drsim_world::network::{FlowId, LinkId, NodeId, NodeKind, UNLIMITED_BYTES_PER_S};
use drsim_world::world::{MeterGroup, RouteKey};
use std::collections::BTreeMap;

/// What a metered resource is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// The site link (VPN or ExpressRoute), one direction.
    Link,
    /// A process server in Azure (DOMAIN.md §1, §5).
    ProcessServer,
    /// A master target on-premises.
    MasterTarget,
}

/// The name the site link's Azure → on-prem direction has in reports.
pub const LINK_TO_ONPREM: &str = "link azure→on-prem";
/// The name the site link's on-prem → Azure direction has in reports.
pub const LINK_TO_AZURE: &str = "link on-prem→azure";

/// One resource's bytes per interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSeries {
    /// What it is.
    pub kind: ResourceKind,
    /// Bytes carried in each interval ([`ResourceSeries::bytes`]), as runs: a resource's bytes change
    /// with its streams' churn, hourly at most once caught up (8 B per sample and resource, with a
    /// growing vector's slack, were 76 MB of the 10k report run's peak; issue 6).
    bytes: Runs,
    /// Capacity at each sample ([`ResourceSeries::capacity_bytes_per_s`]), as runs: 0 for none, else the
    /// capacity + 1 (capacities change rarely: 16 B per sample and resource were 80 MB at 10k; issue 6).
    capacity: Runs,
}

impl ResourceSeries {
    /// A series of these bytes and capacities (tests build recorders without a world).
    #[cfg(test)]
    pub(crate) fn of(kind: ResourceKind, bytes: &[u64], capacities: &[Option<u64>]) -> Self {
        let mut s = ResourceSeries {
            kind,
            bytes: Runs::default(),
            capacity: Runs::default(),
        };
        bytes.iter().for_each(|&b| s.bytes.push(b));
        capacities.iter().for_each(|&c| s.push_capacity(c));
        s
    }

    /// Bytes carried in each interval (aligned with [`Recorder::times`]).
    pub fn bytes(&self) -> impl Iterator<Item = u64> + '_ {
        self.bytes.values()
    }

    /// Capacity at each sample, bytes/s (None: uncapped).
    pub fn capacity_bytes_per_s(&self) -> impl Iterator<Item = Option<u64>> + '_ {
        self.capacity.values().map(|c| c.checked_sub(1))
    }

    fn push_capacity(&mut self, c: Option<u64>) {
        // an uncapped capacity is None already (UNLIMITED_BYTES_PER_S), so c + 1 does not overflow
        self.capacity.push(c.map_or(0, |c| c.saturating_add(1)));
    }
}

/// A series of values kept as runs of equal values: a caught-up machine's backlog is 0 for days, and a
/// fleet run keeps one series per machine (10,000 × 8,640 values were 690 MB). The closed runs are
/// LEB128 varints (value, count): a machine that stays backlogged changes value at every sample, and
/// 16-byte runs were 390 MB of a 10k report run; a run is 6–8 bytes so (issue 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    /// The closed runs, encoded.
    closed: Vec<u8>,
    /// The open run: (value, count).
    open: Option<(u64, usize)>,
    /// How many values.
    len: usize,
}

impl Runs {
    /// Appends `value`.
    pub fn push(&mut self, value: u64) {
        self.push_n(value, 1);
    }

    /// Appends `value` `n` times.
    pub fn push_n(&mut self, value: u64, n: usize) {
        if n == 0 {
            return;
        }
        self.len += n;
        match &mut self.open {
            Some((v, count)) if *v == value => *count += n,
            open => {
                if let Some((v, count)) = open.replace((value, n)) {
                    put_varint(&mut self.closed, v);
                    put_varint(&mut self.closed, count as u64);
                }
            }
        }
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The runs, oldest first: (value, how many samples in a row).
    pub fn runs(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        let mut bytes = self.closed.as_slice();
        std::iter::from_fn(move || {
            let value = take_varint(&mut bytes)?;
            let count = take_varint(&mut bytes)?;
            Some((value, usize::try_from(count).unwrap_or(usize::MAX)))
        })
        .chain(self.open)
    }

    /// Every value, oldest first.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs().flat_map(|(v, n)| std::iter::repeat_n(v, n))
    }
}

/// Appends `v` as an LEB128 varint (7 bits a byte, low first; the high bit says more follow).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Takes an LEB128 varint off the front of `bytes` (`None` at the end).
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The report name of a direction of the site link.
fn link_name(direction: Direction) -> &'static str {
    match direction {
        Direction::ToOnPrem => LINK_TO_ONPREM,
        Direction::ToAzure => LINK_TO_AZURE,
    }
}

/// The report name of the resource a meter group is read for.
fn group_resource(g: &MeterGroup) -> String {
    match g {
        MeterGroup::Link(d) => link_name(*d).to_owned(),
        MeterGroup::ProcessServer(ps) => ps_resource(ps.as_str()),
        MeterGroup::MasterTarget(mt) => mt_resource(mt.as_str()),
    }
}

/// The report name of a process server (as its topology node is named).
fn ps_resource(name: &str) -> String {
    format!("ps/{name}")
}

/// The report name of a master target (as its topology node is named).
fn mt_resource(name: &str) -> String {
    format!("mt/{name}")
}

/// The samples of one run.
#[derive(Clone, Debug)]
pub struct Recorder {
    interval_ms: Millis,
    end_ms: Millis,
    /// The end of each sampled interval, ascending; the first interval starts at 0.
    pub times: Vec<Millis>,
    /// The world's machines in its order (fixed once it is built): the rows of `backlog`.
    machines: Vec<ItemId>,
    /// Unsent bytes per machine at each sample, by the machine's position ([`Recorder::backlog`]).
    backlog: Vec<Runs>,
    /// Per resource, by report name (`link …`, `ps/NAME`, `mt/NAME`).
    pub resources: BTreeMap<String, ResourceSeries>,
    /// Bytes each stream had sent at the last sample, by machine (in the world's order) and disk, with
    /// the stream's flow (a new flow is a new stream whose count starts at 0).
    sent: Vec<Vec<(FlowId, u64)>>,
    /// By machine position: the flow of its first stream and its route's index in `routes` (a
    /// replication's route is fixed, and a new replication has new flows), so a sample finds a
    /// machine's route without comparing names (a fleet's machines are spread over hundreds of routes).
    route_of: Vec<Option<(FlowId, usize)>>,
    /// The routes seen: (direction, process server, master target).
    routes: Vec<OwnedRoute>,
    route_index: BTreeMap<OwnedRoute, usize>,
    /// By route: the positions (in `resources`' order) of the link, process server and master target
    /// it crosses, so a sample adds a route's bytes without formatting and comparing names; rebuilt
    /// when a resource is registered.
    route_targets: Vec<Vec<usize>>,
    /// Whether the world's route meters are used: samples fall on whole seconds, where they are exact
    /// (`drsim_world::world::meter`). Then quiet machines are not read, and a stream's bytes are its
    /// unmetered ones plus its route meter's; else every stream is read at every sample.
    metered: bool,
    /// By the world's route meter (in its order): our route for it (what an ended stream on it carried
    /// unmetered goes there).
    world_routes: Vec<usize>,
    /// By the world's meter group (in its order): its bytes at the last sample and the position of its
    /// resource in `resources` (`None`: not registered, when last looked).
    group_last: Vec<(u64, Option<usize>)>,
    /// Per route: the bytes of the sample being taken; zero outside [`Recorder::sample`], and only the
    /// routes in `routes_touched` are nonzero in it (thousands of routes, a few of them non-quiet).
    route_bytes: Vec<u64>,
    routes_touched: Vec<usize>,
    /// How many meter groups and resources there were when `group_last`'s positions were found.
    groups_resolved_for: Option<(usize, usize)>,
    /// How many of the world's ended streams have been counted.
    ended_seen: usize,
    /// Whether unsent bytes are kept per machine (the planner needs only the resources' series).
    keep_backlog: bool,
    /// Where each resource's capacity is read, with its position in `resources`.
    capacity_sources: Vec<(CapacitySource, usize)>,
    /// The topology's node and link counts when the resources were registered.
    topology_size: Option<(usize, usize)>,
}

/// Where a metered resource's capacity is read.
#[derive(Clone, Copy, Debug)]
enum CapacitySource {
    Link(LinkId),
    Node(NodeId),
}

/// A stream's path as the sampler meters it: direction, process server, master target.
type OwnedRoute = (Direction, Option<String>, Option<String>);

impl Recorder {
    /// A recorder sampling every `interval_ms` (at least 1 ms) up to `end_ms`, the run's duration.
    pub fn new(interval_ms: Millis, end_ms: Millis) -> Self {
        Recorder {
            interval_ms: interval_ms.max(1),
            end_ms,
            times: Vec::new(),
            machines: Vec::new(),
            backlog: Vec::new(),
            resources: BTreeMap::new(),
            sent: Vec::new(),
            route_of: Vec::new(),
            routes: Vec::new(),
            route_index: BTreeMap::new(),
            route_targets: Vec::new(),
            metered: interval_ms.is_multiple_of(1000) && end_ms.is_multiple_of(1000),
            world_routes: Vec::new(),
            group_last: Vec::new(),
            route_bytes: Vec::new(),
            routes_touched: Vec::new(),
            groups_resolved_for: None,
            ended_seen: 0,
            keep_backlog: true,
            capacity_sources: Vec::new(),
            topology_size: None,
        }
    }

    /// The same recorder keeping no unsent bytes per machine ([`Recorder::backlog`] is then `None`):
    /// what `drsim plan` needs of a point is the resources' series.
    pub fn without_backlog(mut self) -> Self {
        self.keep_backlog = false;
        self
    }

    /// Whether it reads the world's route meters and skips quiet machines (samples on whole seconds).
    pub fn reads_meters(&self) -> bool {
        self.metered
    }

    /// The same recorder reading every stream at every sample, as it does when samples are not on whole
    /// seconds (to check that both give the same series).
    pub fn reading_every_stream(mut self) -> Self {
        self.metered = false;
        self
    }

    /// The report interval.
    pub fn interval_ms(&self) -> Millis {
        self.interval_ms
    }

    /// When the next sample is due (None: all taken). The last interval ends at the run's end, so it may
    /// be shorter.
    pub fn next_ms(&self) -> Option<Millis> {
        let last = self.times.last().copied().unwrap_or(0);
        (last < self.end_ms).then(|| last.saturating_add(self.interval_ms).min(self.end_ms))
    }

    /// A machine's unsent bytes at each sample, as runs of equal values.
    pub fn backlog(&self, item: &ItemId) -> Option<&Runs> {
        let k = self.machines.binary_search(item).ok()?;
        self.backlog.get(k)
    }

    /// The start of the interval that ends at sample `k`.
    pub fn window_start(&self, k: usize) -> Millis {
        if k == 0 { 0 } else { self.times[k - 1] }
    }

    /// Takes the sample due now: call with the world stopped at [`Recorder::next_ms`] and caught up for
    /// reading ([`World::catch_up_for_reading`]).
    /// Every interval of a fleet run comes through here, so it allocates nothing per machine: streams
    /// are found by the machine's position (the world's machines are fixed when it is built) and bytes
    /// are summed per route before they are added to a resource's series by name. With the world's
    /// meters (samples on whole seconds) it reads only the machines that are not quiet, or became quiet
    /// since the last sample ([`World::quiet_since`]): at 10k machines nearly all are quiet for weeks.
    pub fn sample(&mut self, world: &World) {
        let now = world.now();
        let previous = self.times.last().copied();
        let k = self.times.len();
        self.times.push(now);
        self.sample_capacities(world, k);
        let machines = world.machines();
        if self.keep_backlog && self.machines.len() != machines.len() {
            self.machines = machines.keys().cloned().collect();
            self.backlog.resize_with(machines.len(), Runs::default);
        }
        self.sent.resize_with(machines.len(), Vec::new);
        self.route_of.resize(machines.len(), None);
        let new_routes: Vec<RouteKey> = (world.metered_route_keys(self.world_routes.len()))
            .cloned()
            .collect();
        for key in new_routes {
            let id = self.route_id(key.0, key.1.as_ref(), key.2.as_ref());
            self.world_routes.push(id);
        }
        let mut route_bytes = std::mem::take(&mut self.route_bytes);
        let mut touched = std::mem::take(&mut self.routes_touched);
        let mut add = |id: usize, bytes: u64| {
            if route_bytes.len() <= id {
                route_bytes.resize(id + 1, 0);
            }
            if bytes > 0 {
                if route_bytes[id] == 0 {
                    touched.push(id);
                }
                route_bytes[id] += bytes;
            }
        };
        // streams that ended since: what they carried after the last sample
        for e in &world.ended_streams()[self.ended_seen..] {
            let value = if self.metered {
                e.unmetered_wire_bytes
            } else {
                e.wire_bytes
            };
            let sent = &mut self.sent[e.machine];
            if sent.len() <= e.disk {
                sent.resize(e.disk + 1, (FlowId(u64::MAX), 0));
            }
            let last = &mut sent[e.disk];
            let before = if last.0 == e.flow { last.1 } else { 0 };
            *last = (e.flow, value);
            add(self.world_routes[e.route], value.saturating_sub(before));
        }
        self.ended_seen = world.ended_streams().len();
        let quiet_since = world.quiet_since();
        for (pos, m) in machines.values().enumerate() {
            let quiet = quiet_since.get(pos).copied().unwrap_or(Millis::MAX);
            if self.metered && previous.is_some_and(|p| quiet < p) {
                continue; // read at a sample after it became quiet: unsent 0, bytes in its meter
            }
            let sent = &mut self.sent[pos];
            let mut unsent = 0u64;
            let mut carried = 0u64;
            sent.resize(m.disks.len(), (FlowId(u64::MAX), 0));
            for (disk, last) in m.disks.iter().zip(sent.iter_mut()) {
                let Some(s) = &disk.stream else { continue };
                let totals = world.stream_totals(s);
                unsent += totals.unsent_bytes;
                let total = if self.metered {
                    totals.unmetered_wire_bytes
                } else {
                    totals.wire_bytes
                };
                let before = if last.0 == s.flow { last.1 } else { 0 };
                *last = (s.flow, total);
                carried += total.saturating_sub(before);
            }
            if let Some(r) = &m.replication {
                let first = m
                    .disks
                    .iter()
                    .find_map(|d| d.stream.as_ref().map(|s| s.flow));
                let id = match self.route_of[pos] {
                    Some((flow, id)) if Some(flow) == first => id,
                    _ => {
                        let id = self.route_id(
                            r.direction,
                            r.process_server.as_ref(),
                            r.master_target.as_ref(),
                        );
                        self.route_of[pos] = first.map(|f| (f, id));
                        id
                    }
                };
                add(id, carried);
            }
            if let Some(backlog) = self.backlog.get_mut(pos) {
                backlog.push_n(0, k - backlog.len()); // the samples it was quiet at
                backlog.push(unsent);
            }
        }
        if self.next_ms().is_none() {
            for backlog in &mut self.backlog {
                backlog.push_n(0, k + 1 - backlog.len()); // the last sample: every series complete
            }
        }
        self.resolve_route_targets();
        let mut carried = vec![0u64; self.resources.len()];
        touched.sort_unstable(); // the order the sums are made in does not matter; this is for locality
        for &id in &touched {
            for &t in &self.route_targets[id] {
                carried[t] += route_bytes[id];
            }
            route_bytes[id] = 0;
        }
        touched.clear();
        (self.route_bytes, self.routes_touched) = (route_bytes, touched);
        if self.metered {
            // what the metered streams carried, by link direction, process server and master target
            self.resolve_group_targets(world);
            for ((_, bytes), (last, at)) in world.meter_groups().zip(&mut self.group_last) {
                if let Some(t) = *at {
                    carried[t] += bytes.saturating_sub(*last);
                }
                *last = bytes;
            }
        }
        for (r, bytes) in self.resources.values_mut().zip(carried) {
            r.bytes.push(bytes);
        }
    }

    /// Finds the resource of each of the world's meter groups: when groups appeared or resources were
    /// registered (which moves positions) since the last time.
    fn resolve_group_targets(&mut self, world: &World) {
        let now = (world.meter_groups().len(), self.resources.len());
        if self.groups_resolved_for == Some(now) {
            return;
        }
        let position: BTreeMap<&str, usize> = (self.resources.keys().enumerate())
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        self.group_last.resize(now.0, (0, None));
        for ((g, _), (_, at)) in world.meter_groups().zip(&mut self.group_last) {
            *at = position.get(group_resource(g).as_str()).copied();
        }
        self.groups_resolved_for = Some(now);
    }

    /// Our position of a route (made the first time).
    fn route_id(
        &mut self,
        direction: Direction,
        ps: Option<&ProcessServerName>,
        mt: Option<&MasterTargetName>,
    ) -> usize {
        let route = (
            direction,
            ps.map(|p| p.as_str().to_owned()),
            mt.map(|t| t.as_str().to_owned()),
        );
        match self.route_index.get(&route) {
            Some(&id) => id,
            None => {
                let id = self.routes.len();
                self.routes.push(route.clone());
                self.route_index.insert(route, id);
                id
            }
        }
    }

    /// Finds the resources of the routes not resolved yet (of every route once a resource has been
    /// registered since).
    fn resolve_route_targets(&mut self) {
        if self.route_targets.len() == self.routes.len() {
            return;
        }
        let position: BTreeMap<&str, usize> = (self.resources.keys().enumerate())
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        for (direction, ps, mt) in &self.routes[self.route_targets.len()..] {
            let names = [
                Some(link_name(*direction).to_owned()),
                ps.as_deref().map(ps_resource),
                mt.as_deref().map(mt_resource),
            ];
            let targets = (names.iter().flatten())
                .filter_map(|n| position.get(n.as_str()).copied())
                .collect();
            self.route_targets.push(targets);
        }
    }

    /// Registers every metered resource (the first time, and again if the topology grew) and notes its
    /// capacity now; every series gets a zero entry for interval `k`. Clones no name once registered (the
    /// names were cloned at every sample: 6 % of a 10k run with reports).
    fn sample_capacities(&mut self, world: &World, k: usize) {
        let topo = world.network().topology();
        let size = (topo.node_count(), topo.link_count());
        if self.topology_size != Some(size) {
            self.register_resources(world, k);
            self.topology_size = Some(size);
        }
        let cap = |c: u64| (c != UNLIMITED_BYTES_PER_S).then_some(c);
        let mut caps = vec![None; self.resources.len()];
        for &(source, pos) in &self.capacity_sources {
            caps[pos] = match source {
                CapacitySource::Link(id) => topo
                    .link(id)
                    .ok()
                    .map(|l| l.effective_capacity_bytes_per_s()),
                CapacitySource::Node(id) => topo
                    .node(id)
                    .ok()
                    .map(|n| n.effective_capacity_bytes_per_s()),
            }
            .and_then(cap);
        }
        for (r, c) in self.resources.values_mut().zip(caps) {
            r.push_capacity(c); // its bytes once the sample has added them up
        }
    }

    /// Registers the site link's directions, process servers and master targets of the topology, and
    /// where each one's capacity is read.
    fn register_resources(&mut self, world: &World, k: usize) {
        let topo = world.network().topology();
        let mut found: Vec<(String, ResourceKind, CapacitySource)> = Vec::new();
        for (id, _) in topo.links() {
            let Ok((a, b)) = topo.link_endpoints(id) else {
                continue;
            };
            let kind = |n| topo.node(n).map(|n| n.spec.kind).ok();
            let name = match (kind(a), kind(b)) {
                (Some(NodeKind::AzureGateway), Some(NodeKind::OnPremGateway)) => LINK_TO_ONPREM,
                (Some(NodeKind::OnPremGateway), Some(NodeKind::AzureGateway)) => LINK_TO_AZURE,
                _ => continue,
            };
            found.push((
                name.to_owned(),
                ResourceKind::Link,
                CapacitySource::Link(id),
            ));
        }
        for (id, node) in topo.nodes() {
            let kind = match node.spec.kind {
                NodeKind::ProcessServer => ResourceKind::ProcessServer,
                NodeKind::MasterTarget => ResourceKind::MasterTarget,
                _ => continue,
            };
            found.push((node.spec.name.clone(), kind, CapacitySource::Node(id)));
        }
        for (name, kind, _) in &found {
            if !self.resources.contains_key(name) {
                self.route_targets.clear(); // positions move
                self.resources.insert(
                    name.clone(),
                    ResourceSeries {
                        kind: *kind,
                        bytes: {
                            let mut none = Runs::default();
                            none.push_n(0, k);
                            none
                        },
                        capacity: {
                            let mut none = Runs::default();
                            none.push_n(0, k);
                            none
                        },
                    },
                );
            }
        }
        let position: BTreeMap<&str, usize> = (self.resources.keys().enumerate())
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        self.capacity_sources = (found.iter())
            .map(|(name, _, source)| (*source, position[name.as_str()]))
            .collect();
    }
}
