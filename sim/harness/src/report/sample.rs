//! What `--report` samples while a run goes (issue 7): at the end of every report interval, each machine's
//! unsent bytes (churn backlog plus what its resync still has to send) and the bytes each link, process
//! server and master target carried during the interval.
//!
//! Sampling only reads the world: the rehearsal stops at each sample time as it stops at its progress
//! slices, and stopping there changes nothing the run does (INV-DET; a test in `report::tests` compares
//! trace digests with and without a report).

use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::protocol::Direction;
use drsim_world::World;
use drsim_world::network::{FlowId, NodeKind, UNLIMITED_BYTES_PER_S};
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
    /// Bytes carried in each interval (aligned with [`Recorder::times`]).
    pub bytes: Vec<u64>,
    /// Capacity at each sample, bytes/s (None: uncapped).
    pub capacity_bytes_per_s: Vec<Option<u64>>,
}

/// A series of values kept as runs of equal values: a caught-up machine's backlog is 0 for days, and a
/// fleet run keeps one series per machine (10,000 × 8,640 values were 690 MB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    runs: Vec<(u64, usize)>,
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
        match self.runs.last_mut() {
            Some((v, count)) if *v == value => *count += n,
            _ => self.runs.push((value, n)),
        }
    }

    /// The runs, oldest first: (value, how many samples in a row).
    pub fn runs(&self) -> &[(u64, usize)] {
        &self.runs
    }

    /// Every value, oldest first.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        (self.runs.iter()).flat_map(|&(v, n)| std::iter::repeat_n(v, n))
    }
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
        }
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
    /// are summed per route before they are added to a resource's series by name.
    pub fn sample(&mut self, world: &World) {
        let now = world.now();
        let k = self.times.len();
        self.times.push(now);
        self.sample_capacities(world, k);
        let machines = world.machines();
        if self.machines.len() != machines.len() {
            self.machines = machines.keys().cloned().collect();
            self.backlog.resize_with(machines.len(), || {
                let mut r = Runs::default();
                r.push_n(0, k);
                r
            });
        }
        self.sent.resize_with(machines.len(), Vec::new);
        self.route_of.resize(machines.len(), None);
        let mut route_bytes = vec![0u64; self.routes.len()];
        for (((m, sent), backlog), route_of) in (machines.values())
            .zip(&mut self.sent)
            .zip(&mut self.backlog)
            .zip(&mut self.route_of)
        {
            let mut unsent = 0u64;
            let mut carried = 0u64;
            sent.resize(m.disks.len(), (FlowId(u64::MAX), 0));
            for (disk, last) in m.disks.iter().zip(sent.iter_mut()) {
                let Some(s) = &disk.stream else { continue };
                let totals = world.stream_totals(s);
                unsent += totals.unsent_bytes;
                let total = totals.wire_bytes;
                let before = if last.0 == s.flow { last.1 } else { 0 };
                *last = (s.flow, total);
                carried += total.saturating_sub(before);
            }
            if let Some(r) = &m.replication {
                let first = m
                    .disks
                    .iter()
                    .find_map(|d| d.stream.as_ref().map(|s| s.flow));
                let id = match *route_of {
                    Some((flow, id)) if Some(flow) == first => id,
                    _ => {
                        let route = (
                            r.direction,
                            r.process_server.as_ref().map(|p| p.as_str().to_owned()),
                            r.master_target.as_ref().map(|t| t.as_str().to_owned()),
                        );
                        let id = match self.route_index.get(&route) {
                            Some(&id) => id,
                            None => {
                                let id = self.routes.len();
                                self.routes.push(route.clone());
                                self.route_index.insert(route, id);
                                route_bytes.push(0);
                                id
                            }
                        };
                        *route_of = first.map(|f| (f, id));
                        id
                    }
                };
                route_bytes[id] += carried;
            }
            backlog.push(unsent);
        }
        self.resolve_route_targets();
        let mut carried = vec![0u64; self.resources.len()];
        for (targets, &bytes) in self.route_targets.iter().zip(&route_bytes) {
            for &t in targets {
                carried[t] += bytes;
            }
        }
        for (r, bytes) in self.resources.values_mut().zip(carried) {
            r.bytes[k] += bytes;
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
            let link = match direction {
                Direction::ToOnPrem => LINK_TO_ONPREM,
                Direction::ToAzure => LINK_TO_AZURE,
            };
            let names = [
                Some(link.to_owned()),
                ps.as_ref().map(|ps| format!("ps/{ps}")),
                mt.as_ref().map(|mt| format!("mt/{mt}")),
            ];
            let targets = (names.iter().flatten())
                .filter_map(|n| position.get(n.as_str()).copied())
                .collect();
            self.route_targets.push(targets);
        }
    }

    /// Registers every metered resource (the first time) and notes its capacity now; every series gets
    /// a zero entry for interval `k`.
    fn sample_capacities(&mut self, world: &World, k: usize) {
        let topo = world.network().topology();
        let cap = |c: u64| (c != UNLIMITED_BYTES_PER_S).then_some(c);
        let mut now: Vec<(String, ResourceKind, Option<u64>)> = Vec::new();
        for (id, link) in topo.links() {
            let Ok((a, b)) = topo.link_endpoints(id) else {
                continue;
            };
            let kind = |n| topo.node(n).map(|n| n.spec.kind).ok();
            let name = match (kind(a), kind(b)) {
                (Some(NodeKind::AzureGateway), Some(NodeKind::OnPremGateway)) => LINK_TO_ONPREM,
                (Some(NodeKind::OnPremGateway), Some(NodeKind::AzureGateway)) => LINK_TO_AZURE,
                _ => continue,
            };
            now.push((
                name.to_owned(),
                ResourceKind::Link,
                cap(link.effective_capacity_bytes_per_s()),
            ));
        }
        for (_, node) in topo.nodes() {
            let kind = match node.spec.kind {
                NodeKind::ProcessServer => ResourceKind::ProcessServer,
                NodeKind::MasterTarget => ResourceKind::MasterTarget,
                _ => continue,
            };
            now.push((
                node.spec.name.clone(),
                kind,
                cap(node.effective_capacity_bytes_per_s()),
            ));
        }
        for (name, kind, capacity) in now {
            if !self.resources.contains_key(&name) {
                self.route_targets.clear(); // positions move
            }
            let r = self
                .resources
                .entry(name)
                .or_insert_with(|| ResourceSeries {
                    kind,
                    bytes: vec![0; k],
                    capacity_bytes_per_s: vec![None; k],
                });
            r.bytes.push(0);
            r.capacity_bytes_per_s.push(capacity);
        }
    }
}
