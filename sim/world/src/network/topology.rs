//! Topology: the graph of sites and servers that replication streams cross (ARCHITECTURE.md "Network").
//!
//! Nodes are sites and servers (the Azure VM side where the mobility agent runs, process servers, the
//! VPN/ExpressRoute gateways, master targets, datastores); links are directed network hops with a capacity,
//! a latency and an up/down/degraded state. A node may carry a throughput cap (a PS and an MT cap throughput,
//! DOMAIN.md §1): the cap is one constraint shared by every flow through that node.
//!
//! Links are **directed** because capacity is per direction on real VPN and ExpressRoute circuits (a
//! full-duplex circuit is two links, see [`Topology::add_duplex_link`]). Failback traffic flows Azure →
//! on-prem (RJ-08); re-protect to Azure (RA-02) would use the opposite direction.
//!
//! Units: every `*_bytes_per_s` value is in **bytes** (not bits) per second; latencies are
//! [`Millis`].

use drsim_engine::Millis;
use petgraph::Direction;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{NetworkError, UNLIMITED_BYTES_PER_S};

/// Identifies a node (site or server) of a [`Topology`]. Ids are dense and assigned in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// Identifies a directed link of a [`Topology`]. Ids are dense and assigned in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId(pub u32);

/// What a node stands for. Only informative for the allocator (any node may carry a cap); reports and
/// route sanity checks use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    /// The Azure side where the failed-over VMs and their mobility agents run (source of RJ-08).
    AzureVmSite,
    /// A process server in Azure: receives from the agents, sends to the MT (RJ-08); has a throughput cap.
    ProcessServer,
    /// The Azure end of the site-to-site VPN or ExpressRoute private peering (DOMAIN.md §1 "network").
    AzureGateway,
    /// The on-prem end of the site-to-site VPN or ExpressRoute private peering.
    OnPremGateway,
    /// The configuration server on-prem (control traffic, RP-01/RP-03).
    ConfigurationServer,
    /// A master target on-prem: writes the VMDKs (RJ-08); has a throughput cap.
    MasterTarget,
    /// A datastore the MT writes to (end of RJ-08).
    Datastore,
    /// Any other switch or router.
    Router,
}

/// Whether a node forwards traffic. A down node (PS crash, MT reboot) gives every flow through it rate 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeState {
    /// Forwards traffic up to its cap.
    #[default]
    Up,
    /// Forwards nothing.
    Down,
}

/// The state of a link (faults "link down/degraded", ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkState {
    /// Full capacity.
    #[default]
    Up,
    /// Carries nothing: every flow crossing it gets rate 0.
    Down,
    /// Up with its capacity scaled by `capacity_permille / 1000` (0..=1000). Integer so that scaling is
    /// exact and platform independent (INV-DET).
    Degraded {
        /// Fraction of the nominal capacity still available, in thousandths (0..=1000).
        capacity_permille: u32,
    },
}

/// How to build a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Human-readable name for reports and errors.
    pub name: String,
    /// What the node stands for.
    pub kind: NodeKind,
    /// Throughput cap in bytes per second shared by all flows through this node (PS and MT limits,
    /// DOMAIN.md §1); `None` = uncapped.
    pub cap_bytes_per_s: Option<u64>,
}

/// How to build a directed link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Nominal capacity in bytes per second (not bits). [`UNLIMITED_BYTES_PER_S`] = never a bottleneck.
    pub capacity_bytes_per_s: u64,
    /// One-way latency in milliseconds; used for route choice and by callers for delays.
    pub latency_ms: Millis,
}

/// A node as stored in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its construction parameters (the cap may have been changed since).
    pub spec: NodeSpec,
    /// Up or down.
    pub state: NodeState,
}

impl Node {
    /// Capacity this node offers right now in bytes per second: 0 when down, its cap when up, or
    /// [`UNLIMITED_BYTES_PER_S`] when uncapped.
    pub fn effective_capacity_bytes_per_s(&self) -> u64 {
        match self.state {
            NodeState::Down => 0,
            NodeState::Up => self.spec.cap_bytes_per_s.unwrap_or(UNLIMITED_BYTES_PER_S),
        }
    }
}

/// A link as stored in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its construction parameters (capacity may have been changed since).
    pub spec: LinkSpec,
    /// Up, down or degraded.
    pub state: LinkState,
}

impl Link {
    /// Capacity this link offers right now in bytes per second: 0 when down, the nominal capacity scaled
    /// by the permille factor (rounded down) when degraded. An unlimited link stays unlimited when degraded.
    pub fn effective_capacity_bytes_per_s(&self) -> u64 {
        let nominal = self.spec.capacity_bytes_per_s;
        match self.state {
            LinkState::Up => nominal,
            LinkState::Down => 0,
            LinkState::Degraded { capacity_permille } => {
                if nominal == UNLIMITED_BYTES_PER_S {
                    return nominal;
                }
                let permille = u128::from(capacity_permille.min(1000));
                // nominal * permille / 1000 <= nominal, so the cast cannot truncate.
                (u128::from(nominal) * permille / 1000) as u64
            }
        }
    }

    /// Whether traffic passes at all (up or degraded).
    pub fn is_usable(&self) -> bool {
        !matches!(self.state, LinkState::Down)
    }
}

/// A constrained resource of the max-min allocation: a link or a node (its cap).
///
/// Ordered links first, then nodes, each by id; this order breaks ties between resources that saturate at
/// the same level, so it is part of the deterministic output (INV-DET).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resource {
    /// A link's capacity.
    Link(LinkId),
    /// A node's throughput cap (or its down state).
    Node(NodeId),
}

/// What "shortest" means for [`Topology::route`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RouteMetric {
    /// Fewest links; ties broken by lower total latency.
    #[default]
    Hops,
    /// Lowest total latency; ties broken by fewer links.
    Latency,
}

/// A validated path through a [`Topology`]: `nodes[i] --links[i]--> nodes[i + 1]`, no node repeated.
///
/// Built by [`Topology::route`], [`Topology::route_from_links`] or [`Topology::route_from_nodes`]; a
/// replication stream keeps its route for its whole life (ASR pins a machine to one PS and one MT, RJ-01),
/// which is why routes are fixed rather than re-computed when links fail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    nodes: Vec<NodeId>,
    links: Vec<LinkId>,
}

impl Route {
    /// The nodes visited, source first. Never empty.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The links crossed, in order. `links().len() + 1 == nodes().len()`.
    pub fn links(&self) -> &[LinkId] {
        &self.links
    }

    /// The first node.
    pub fn source(&self) -> NodeId {
        // Invariant: never empty (constructors reject empty routes).
        self.nodes[0]
    }

    /// The last node.
    pub fn destination(&self) -> NodeId {
        self.nodes[self.nodes.len() - 1]
    }

    /// Every resource on the route (all links and all nodes), sorted by [`Resource`] order, no duplicates.
    pub fn resources(&self) -> Vec<Resource> {
        let mut out: Vec<Resource> = self
            .links
            .iter()
            .map(|&l| Resource::Link(l))
            .chain(self.nodes.iter().map(|&n| Resource::Node(n)))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Sum of link latencies (saturating) in milliseconds.
    pub fn latency_ms(&self, topology: &Topology) -> Millis {
        self.links
            .iter()
            .filter_map(|&l| topology.link(l).ok())
            .fold(0, |acc: Millis, l| acc.saturating_add(l.spec.latency_ms))
    }
}

/// Lexicographic route cost used with petgraph's Dijkstra: (primary, secondary), saturating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct RouteCost(u64, u64);

impl std::ops::Add for RouteCost {
    type Output = RouteCost;
    fn add(self, rhs: RouteCost) -> RouteCost {
        RouteCost(self.0.saturating_add(rhs.0), self.1.saturating_add(rhs.1))
    }
}

/// The graph of sites and servers (a petgraph [`DiGraph`]), with node caps and link states.
///
/// Nodes and links are never removed (a failed component goes down instead), so ids stay dense and valid.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    graph: DiGraph<Node, Link, u32>,
    /// The lowest-id link of each ordered node pair (the first added): a route through a hub (the
    /// site gateway has a link to and from every process server and master target, 1,156 at 10k) is
    /// built without walking the hub's links (issue 6).
    first_link: BTreeMap<(NodeId, NodeId), LinkId>,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node (up) and returns its id.
    ///
    /// # Errors
    /// [`NetworkError::TooManyElements`] past `u32::MAX - 1` nodes.
    pub fn add_node(&mut self, spec: NodeSpec) -> Result<NodeId, NetworkError> {
        if self.graph.node_count() >= (u32::MAX - 1) as usize {
            return Err(NetworkError::TooManyElements);
        }
        let ix = self.graph.add_node(Node {
            spec,
            state: NodeState::Up,
        });
        Ok(NodeId(ix.index() as u32))
    }

    /// Adds a directed link `from → to` (up) and returns its id. Parallel links are allowed.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`] for an endpoint that does not exist, [`NetworkError::SelfLoop`] when
    /// `from == to`, [`NetworkError::TooManyElements`] past `u32::MAX - 1` links.
    pub fn add_link(
        &mut self,
        from: NodeId,
        to: NodeId,
        spec: LinkSpec,
    ) -> Result<LinkId, NetworkError> {
        self.node(from)?;
        self.node(to)?;
        if from == to {
            return Err(NetworkError::SelfLoop(from));
        }
        if self.graph.edge_count() >= (u32::MAX - 1) as usize {
            return Err(NetworkError::TooManyElements);
        }
        let ix = self.graph.add_edge(
            NodeIndex::new(from.0 as usize),
            NodeIndex::new(to.0 as usize),
            Link {
                spec,
                state: LinkState::Up,
            },
        );
        let id = LinkId(ix.index() as u32);
        self.first_link.entry((from, to)).or_insert(id);
        Ok(id)
    }

    /// Adds a full-duplex connection as two directed links with the same spec; returns
    /// `(a → b, b → a)`. VPN and ExpressRoute bandwidth is per direction.
    ///
    /// # Errors
    /// As [`Topology::add_link`].
    pub fn add_duplex_link(
        &mut self,
        a: NodeId,
        b: NodeId,
        spec: LinkSpec,
    ) -> Result<(LinkId, LinkId), NetworkError> {
        let ab = self.add_link(a, b, spec)?;
        let ba = self.add_link(b, a, spec)?;
        Ok((ab, ba))
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The node with this id.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`].
    pub fn node(&self, id: NodeId) -> Result<&Node, NetworkError> {
        self.graph
            .node_weight(NodeIndex::new(id.0 as usize))
            .ok_or(NetworkError::UnknownNode(id))
    }

    /// The link with this id.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`].
    pub fn link(&self, id: LinkId) -> Result<&Link, NetworkError> {
        self.graph
            .edge_weight(EdgeIndex::new(id.0 as usize))
            .ok_or(NetworkError::UnknownLink(id))
    }

    /// `(from, to)` of a link.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`].
    pub fn link_endpoints(&self, id: LinkId) -> Result<(NodeId, NodeId), NetworkError> {
        self.graph
            .edge_endpoints(EdgeIndex::new(id.0 as usize))
            .map(|(a, b)| (NodeId(a.index() as u32), NodeId(b.index() as u32)))
            .ok_or(NetworkError::UnknownLink(id))
    }

    /// Nodes in id order, for reports.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> + '_ {
        self.graph
            .node_indices()
            .map(|ix| (NodeId(ix.index() as u32), &self.graph[ix]))
    }

    /// Links in id order, for reports.
    pub fn links(&self) -> impl Iterator<Item = (LinkId, &Link)> + '_ {
        self.graph
            .edge_indices()
            .map(|ix| (LinkId(ix.index() as u32), &self.graph[ix]))
    }

    /// First node with this name (lowest id), for scenario wiring.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes()
            .find(|(_, n)| n.spec.name == name)
            .map(|(id, _)| id)
    }

    /// Current capacity of a resource in bytes per second (0 when down; [`UNLIMITED_BYTES_PER_S`] when it
    /// never constrains).
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`] / [`NetworkError::UnknownNode`].
    pub fn capacity_bytes_per_s(&self, resource: Resource) -> Result<u64, NetworkError> {
        match resource {
            Resource::Link(l) => Ok(self.link(l)?.effective_capacity_bytes_per_s()),
            Resource::Node(n) => Ok(self.node(n)?.effective_capacity_bytes_per_s()),
        }
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, NetworkError> {
        self.graph
            .node_weight_mut(NodeIndex::new(id.0 as usize))
            .ok_or(NetworkError::UnknownNode(id))
    }

    pub(crate) fn link_mut(&mut self, id: LinkId) -> Result<&mut Link, NetworkError> {
        self.graph
            .edge_weight_mut(EdgeIndex::new(id.0 as usize))
            .ok_or(NetworkError::UnknownLink(id))
    }

    /// Sets a link's state.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`]; [`NetworkError::InvalidDegradation`] when a permille factor exceeds
    /// 1000.
    pub fn set_link_state(&mut self, id: LinkId, state: LinkState) -> Result<(), NetworkError> {
        if let LinkState::Degraded { capacity_permille } = state
            && capacity_permille > 1000
        {
            return Err(NetworkError::InvalidDegradation(capacity_permille));
        }
        self.link_mut(id)?.state = state;
        Ok(())
    }

    /// Sets a link's nominal capacity in bytes per second.
    ///
    /// # Errors
    /// [`NetworkError::UnknownLink`].
    pub fn set_link_capacity(&mut self, id: LinkId, bytes_per_s: u64) -> Result<(), NetworkError> {
        self.link_mut(id)?.spec.capacity_bytes_per_s = bytes_per_s;
        Ok(())
    }

    /// Sets (or clears, with `None`) a node's throughput cap in bytes per second.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`].
    pub fn set_node_cap(&mut self, id: NodeId, cap: Option<u64>) -> Result<(), NetworkError> {
        self.node_mut(id)?.spec.cap_bytes_per_s = cap;
        Ok(())
    }

    /// Sets a node up or down.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`].
    pub fn set_node_state(&mut self, id: NodeId, state: NodeState) -> Result<(), NetworkError> {
        self.node_mut(id)?.state = state;
        Ok(())
    }

    /// Shortest route `from → to` over links and nodes that are currently usable (down links and down
    /// nodes are avoided; degraded links count as usable).
    ///
    /// Deterministic tie-breaking: among equally short routes the one whose links, read backwards from the
    /// destination, have the lowest ids at the first difference wins (each node's predecessor is its
    /// lowest-id incoming link on a shortest route). The result does not depend on hash or insertion order
    /// beyond the ids.
    ///
    /// # Errors
    /// [`NetworkError::UnknownNode`], or [`NetworkError::NoRoute`] when the destination is unreachable or
    /// an endpoint is down. `from == to` gives a one-node route with no links.
    pub fn route(
        &self,
        from: NodeId,
        to: NodeId,
        metric: RouteMetric,
    ) -> Result<Route, NetworkError> {
        let src = self.node(from)?;
        let dst = self.node(to)?;
        if src.state == NodeState::Down || dst.state == NodeState::Down {
            return Err(NetworkError::NoRoute { from, to });
        }
        if from == to {
            return Ok(Route {
                nodes: vec![from],
                links: Vec::new(),
            });
        }
        let graph = &self.graph;
        let usable = |e: petgraph::graph::EdgeReference<'_, Link>| {
            e.weight().is_usable() && graph[e.target()].state == NodeState::Up
        };
        let filtered = EdgeFiltered::from_fn(graph, usable);
        let cost = |l: &Link| match metric {
            RouteMetric::Hops => RouteCost(1, l.spec.latency_ms),
            RouteMetric::Latency => RouteCost(l.spec.latency_ms, 1),
        };
        // Only lookups into petgraph's (hash) map; nothing iterates it, so its order cannot leak.
        let dist =
            petgraph::algo::dijkstra(&filtered, NodeIndex::new(from.0 as usize), None, |e| {
                cost(e.weight())
            });
        let target = NodeIndex::new(to.0 as usize);
        let Some(&dist_to) = dist.get(&target) else {
            return Err(NetworkError::NoRoute { from, to });
        };
        let start = NodeIndex::new(from.0 as usize);
        let mut links_rev = Vec::new();
        let mut nodes_rev = vec![to];
        let mut at = target;
        let mut at_dist = dist_to;
        // Bounded: a shortest route visits each node at most once.
        for _ in 0..self.graph.node_count() {
            if at == start {
                break;
            }
            let pred = graph
                .edges_directed(at, Direction::Incoming)
                .filter(|e| usable(*e))
                .filter(|e| {
                    dist.get(&e.source())
                        .is_some_and(|&d| d + cost(e.weight()) == at_dist)
                })
                .min_by_key(|e| e.id().index());
            let Some(e) = pred else {
                return Err(NetworkError::NoRoute { from, to });
            };
            links_rev.push(LinkId(e.id().index() as u32));
            at = e.source();
            at_dist = dist.get(&at).copied().unwrap_or_default();
            nodes_rev.push(NodeId(at.index() as u32));
        }
        if at != start {
            return Err(NetworkError::NoRoute { from, to });
        }
        links_rev.reverse();
        nodes_rev.reverse();
        Ok(Route {
            nodes: nodes_rev,
            links: links_rev,
        })
    }

    /// An explicit route from a sequence of consecutive links (link `i` must end where link `i + 1`
    /// starts). State is not checked: a route may cross a down link (its flow then gets rate 0).
    ///
    /// # Errors
    /// [`NetworkError::EmptyRoute`], [`NetworkError::UnknownLink`], [`NetworkError::BrokenRoute`] when two
    /// links do not connect, [`NetworkError::RouteRevisitsNode`] when a node appears twice.
    pub fn route_from_links(&self, links: &[LinkId]) -> Result<Route, NetworkError> {
        let Some(&first) = links.first() else {
            return Err(NetworkError::EmptyRoute);
        };
        let (src, _) = self.link_endpoints(first)?;
        let mut nodes = vec![src];
        for &l in links {
            let (a, b) = self.link_endpoints(l)?;
            if nodes.last() != Some(&a) {
                return Err(NetworkError::BrokenRoute(l));
            }
            nodes.push(b);
        }
        let route = Route {
            nodes,
            links: links.to_vec(),
        };
        self.check_simple(&route)?;
        Ok(route)
    }

    /// An explicit route through these nodes, using between each consecutive pair the lowest-id link in
    /// that direction (whatever its state). A single node gives a route with no links.
    ///
    /// # Errors
    /// [`NetworkError::EmptyRoute`], [`NetworkError::UnknownNode`], [`NetworkError::NoLinkBetween`],
    /// [`NetworkError::RouteRevisitsNode`].
    pub fn route_from_nodes(&self, nodes: &[NodeId]) -> Result<Route, NetworkError> {
        if nodes.is_empty() {
            return Err(NetworkError::EmptyRoute);
        }
        for &n in nodes {
            self.node(n)?;
        }
        let mut links = Vec::with_capacity(nodes.len() - 1);
        for pair in nodes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let link = (self.first_link.get(&(a, b)).copied())
                .ok_or(NetworkError::NoLinkBetween { from: a, to: b })?;
            debug_assert_eq!(
                Some(link.0 as usize),
                (self.graph)
                    .edges_connecting(NodeIndex::new(a.0 as usize), NodeIndex::new(b.0 as usize))
                    .map(|e| e.id().index())
                    .min()
            );
            links.push(link);
        }
        let route = Route {
            nodes: nodes.to_vec(),
            links,
        };
        self.check_simple(&route)?;
        Ok(route)
    }

    /// Re-validates a route against this topology (ids exist, links connect, no node twice): routes
    /// built on another topology are rejected rather than misread.
    ///
    /// # Errors
    /// As [`Topology::route_from_links`].
    pub fn validate_route(&self, route: &Route) -> Result<(), NetworkError> {
        if route.nodes.is_empty() || route.nodes.len() != route.links.len() + 1 {
            return Err(NetworkError::EmptyRoute);
        }
        for &n in &route.nodes {
            self.node(n)?;
        }
        for (i, &l) in route.links.iter().enumerate() {
            let (a, b) = self.link_endpoints(l)?;
            if a != route.nodes[i] || b != route.nodes[i + 1] {
                return Err(NetworkError::BrokenRoute(l));
            }
        }
        self.check_simple(route)
    }

    fn check_simple(&self, route: &Route) -> Result<(), NetworkError> {
        let mut seen = route.nodes.clone();
        seen.sort_unstable();
        for pair in seen.windows(2) {
            if pair[0] == pair[1] {
                return Err(NetworkError::RouteRevisitsNode(pair[0]));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(t: &mut Topology, name: &str, kind: NodeKind, cap: Option<u64>) -> NodeId {
        t.add_node(NodeSpec {
            name: name.to_string(),
            kind,
            cap_bytes_per_s: cap,
        })
        .unwrap()
    }

    fn link(t: &mut Topology, a: NodeId, b: NodeId, cap: u64, lat: Millis) -> LinkId {
        t.add_link(
            a,
            b,
            LinkSpec {
                capacity_bytes_per_s: cap,
                latency_ms: lat,
            },
        )
        .unwrap()
    }

    #[test]
    fn network_route_prefers_fewest_hops_then_latency() {
        let mut t = Topology::new();
        let a = node(&mut t, "a", NodeKind::AzureVmSite, None);
        let b = node(&mut t, "b", NodeKind::Router, None);
        let c = node(&mut t, "c", NodeKind::Router, None);
        let d = node(&mut t, "d", NodeKind::MasterTarget, None);
        let ad = link(&mut t, a, d, 10, 100);
        let ab = link(&mut t, a, b, 10, 1);
        let bd = link(&mut t, b, d, 10, 1);
        let _ = c;
        let hops = t.route(a, d, RouteMetric::Hops).unwrap();
        assert_eq!(hops.links(), &[ad]);
        assert_eq!(hops.nodes(), &[a, d]);
        let lat = t.route(a, d, RouteMetric::Latency).unwrap();
        assert_eq!(lat.links(), &[ab, bd]);
        assert_eq!(lat.latency_ms(&t), 2);
        // Down link is avoided.
        t.set_link_state(ad, LinkState::Down).unwrap();
        assert_eq!(t.route(a, d, RouteMetric::Hops).unwrap().links(), &[ab, bd]);
        // Down node is avoided → no route.
        t.set_node_state(b, NodeState::Down).unwrap();
        assert_eq!(
            t.route(a, d, RouteMetric::Hops),
            Err(NetworkError::NoRoute { from: a, to: d })
        );
    }

    #[test]
    fn network_route_ties_pick_lowest_link_ids() {
        let mut t = Topology::new();
        let a = node(&mut t, "a", NodeKind::AzureVmSite, None);
        let b = node(&mut t, "b", NodeKind::Router, None);
        let c = node(&mut t, "c", NodeKind::Router, None);
        let d = node(&mut t, "d", NodeKind::MasterTarget, None);
        // Two equal routes a-c-d (links 0,1) and a-b-d (links 2,3); plus a parallel a-c link 4.
        let ac = link(&mut t, a, c, 10, 5);
        let cd = link(&mut t, c, d, 10, 5);
        let _ab = link(&mut t, a, b, 10, 5);
        let _bd = link(&mut t, b, d, 10, 5);
        let _ac2 = link(&mut t, a, c, 10, 5);
        for _ in 0..3 {
            let r = t.route(a, d, RouteMetric::Hops).unwrap();
            assert_eq!(r.links(), &[ac, cd]);
        }
        let r = t.route_from_nodes(&[a, c, d]).unwrap();
        assert_eq!(r.links(), &[ac, cd]);
    }

    #[test]
    fn network_explicit_routes_are_validated() {
        let mut t = Topology::new();
        let a = node(&mut t, "a", NodeKind::AzureVmSite, None);
        let b = node(&mut t, "b", NodeKind::ProcessServer, Some(5));
        let c = node(&mut t, "c", NodeKind::MasterTarget, None);
        let ab = link(&mut t, a, b, 10, 1);
        let bc = link(&mut t, b, c, 10, 1);
        let ba = link(&mut t, b, a, 10, 1);
        assert!(t.route_from_links(&[ab, bc]).is_ok());
        assert_eq!(
            t.route_from_links(&[bc, ab]),
            Err(NetworkError::BrokenRoute(ab))
        );
        assert_eq!(
            t.route_from_links(&[ab, ba]),
            Err(NetworkError::RouteRevisitsNode(a))
        );
        assert_eq!(t.route_from_links(&[]), Err(NetworkError::EmptyRoute));
        assert_eq!(
            t.route_from_links(&[LinkId(99)]),
            Err(NetworkError::UnknownLink(LinkId(99)))
        );
        assert_eq!(
            t.route_from_nodes(&[a, c]),
            Err(NetworkError::NoLinkBetween { from: a, to: c })
        );
        assert_eq!(
            t.route(a, NodeId(7), RouteMetric::Hops),
            Err(NetworkError::UnknownNode(NodeId(7)))
        );
        assert_eq!(
            t.add_link(
                a,
                a,
                LinkSpec {
                    capacity_bytes_per_s: 1,
                    latency_ms: 0
                }
            ),
            Err(NetworkError::SelfLoop(a))
        );
        let r = t.route(a, c, RouteMetric::Hops).unwrap();
        assert_eq!(
            r.resources(),
            vec![
                Resource::Link(ab),
                Resource::Link(bc),
                Resource::Node(a),
                Resource::Node(b),
                Resource::Node(c)
            ]
        );
        assert_eq!(t.route(b, b, RouteMetric::Hops).unwrap().links(), &[]);
    }

    #[test]
    fn network_effective_capacities() {
        let mut t = Topology::new();
        let a = node(&mut t, "a", NodeKind::ProcessServer, Some(7));
        let b = node(&mut t, "b", NodeKind::MasterTarget, None);
        let l = link(&mut t, a, b, 1000, 1);
        assert_eq!(t.capacity_bytes_per_s(Resource::Link(l)), Ok(1000));
        t.set_link_state(
            l,
            LinkState::Degraded {
                capacity_permille: 333,
            },
        )
        .unwrap();
        assert_eq!(t.capacity_bytes_per_s(Resource::Link(l)), Ok(333));
        assert_eq!(
            t.set_link_state(
                l,
                LinkState::Degraded {
                    capacity_permille: 1001
                }
            ),
            Err(NetworkError::InvalidDegradation(1001))
        );
        t.set_link_state(l, LinkState::Down).unwrap();
        assert_eq!(t.capacity_bytes_per_s(Resource::Link(l)), Ok(0));
        assert_eq!(t.capacity_bytes_per_s(Resource::Node(a)), Ok(7));
        assert_eq!(
            t.capacity_bytes_per_s(Resource::Node(b)),
            Ok(UNLIMITED_BYTES_PER_S)
        );
        t.set_node_state(a, NodeState::Down).unwrap();
        assert_eq!(t.capacity_bytes_per_s(Resource::Node(a)), Ok(0));
        assert_eq!(t.node_by_name("b"), Some(b));
    }

    fn cost_of(t: &Topology, r: &Route, metric: RouteMetric) -> (u64, u64) {
        let lat = r.latency_ms(t);
        let hops = r.links().len() as u64;
        match metric {
            RouteMetric::Hops => (hops, lat),
            RouteMetric::Latency => (lat, hops),
        }
    }

    /// Bellman-Ford reference over usable links.
    fn reference_cost(
        t: &Topology,
        from: NodeId,
        to: NodeId,
        metric: RouteMetric,
    ) -> Option<(u64, u64)> {
        let n = t.node_count();
        let mut dist: Vec<Option<(u64, u64)>> = vec![None; n];
        if t.node(from).ok()?.state == NodeState::Down || t.node(to).ok()?.state == NodeState::Down
        {
            return None;
        }
        dist[from.0 as usize] = Some((0, 0));
        for _ in 0..n {
            for (id, l) in t.links() {
                let (a, b) = t.link_endpoints(id).unwrap();
                if !l.is_usable() || t.node(b).unwrap().state == NodeState::Down {
                    continue;
                }
                if let Some(d) = dist[a.0 as usize] {
                    let step = match metric {
                        RouteMetric::Hops => (1, l.spec.latency_ms),
                        RouteMetric::Latency => (l.spec.latency_ms, 1),
                    };
                    let nd = (d.0 + step.0, d.1 + step.1);
                    if dist[b.0 as usize].is_none_or(|old| nd < old) {
                        dist[b.0 as usize] = Some(nd);
                    }
                }
            }
        }
        dist[to.0 as usize]
    }

    proptest::proptest! {
        #[test]
        fn network_route_prop_shortest_valid_deterministic(
            n in 2usize..7,
            links in proptest::collection::vec((0usize..7, 0usize..7, 0u64..4, 0u8..4), 0..16),
            down_node in proptest::option::of(0usize..7),
            from in 0usize..7,
            to in 0usize..7,
            by_latency in proptest::bool::ANY,
        ) {
            let mut t = Topology::new();
            let ids: Vec<NodeId> = (0..n).map(|i| node(&mut t, &format!("n{i}"), NodeKind::Router, None)).collect();
            for &(a, b, lat, st) in &links {
                let (a, b) = (ids[a % n], ids[b % n]);
                if a == b {
                    continue;
                }
                let l = link(&mut t, a, b, 10, lat);
                if st == 0 {
                    t.set_link_state(l, LinkState::Down).unwrap();
                }
            }
            if let Some(d) = down_node {
                t.set_node_state(ids[d % n], NodeState::Down).unwrap();
            }
            let metric = if by_latency { RouteMetric::Latency } else { RouteMetric::Hops };
            let (from, to) = (ids[from % n], ids[to % n]);
            let got = t.route(from, to, metric);
            let expected = reference_cost(&t, from, to, metric);
            match (&got, expected) {
                (Ok(r), Some(c)) => {
                    proptest::prop_assert!(t.validate_route(r).is_ok());
                    proptest::prop_assert_eq!(r.source(), from);
                    proptest::prop_assert_eq!(r.destination(), to);
                    proptest::prop_assert_eq!(cost_of(&t, r, metric), c);
                    for &l in r.links() {
                        proptest::prop_assert!(t.link(l).unwrap().is_usable());
                    }
                }
                (Err(NetworkError::NoRoute { .. }), None) => {}
                _ => proptest::prop_assert!(false, "route {:?} vs reference {:?}", got, expected),
            }
            proptest::prop_assert_eq!(got, t.route(from, to, metric));
        }
    }
}
