//! The network: topology of sites and servers, and max-min fair sharing of bandwidth between replication
//! streams (ARCHITECTURE.md "The world" → "Network").
//!
//! A failback replication stream follows RJ-08: Azure VM agent → process server (Azure) → VPN/ExpressRoute
//! → master target (on-prem) → VMDK on the datastore. Each stream is a *flow* with a fixed [`Route`]; every
//! link on the route and every node with a throughput cap (PS, MT; DOMAIN.md §1) is a shared *resource*.
//! Rates are the max-min fair allocation (SimGrid's flow model) subject to each flow's *limit* — the smaller
//! of its demand (what it can use right now) and its own cap (the PS failback download threads of its VM,
//! DOMAIN.md §4: default 4, max 32, see [`download_threads_cap_bytes_per_s`]).
//!
//! The data plane re-plans a disk only when its rate changes, so [`Network::reallocate`] re-solves only the
//! flows connected (through constrained resources) to what changed and returns just the flows whose rate
//! changed. Flows sharing no constrained resource with a change keep their rates without being looked at.
//!
//! Units: every `*_bytes_per_s` value is **bytes** per second (not bits), an integer; times are
//! [`Millis`](drsim_engine::Millis). [`UNLIMITED_BYTES_PER_S`] (`u64::MAX`) means "no limit".
//!
//! Determinism (INV-DET): only ordered collections (`BTreeMap`, `BTreeSet`, sorted `Vec`s) are iterated;
//! a saturated resource's rounding remainder (less than one byte per second per flow) is left unused, so
//! every flow it holds has the same rate; ties between resources are broken by [`Resource`] order.
//!
//! Submodules: [`topology`] (graph, routes), [`allocation`] (the integer progressive-filling solver),
//! [`flows`] (the incremental [`Network`]), `level` (the incremental split of a resource that is its
//! flows' only constraint).

pub mod allocation;
pub mod flows;
mod level;
pub mod topology;

pub use allocation::Problem;
pub use flows::{
    FlowChange, FlowId, FlowSlot, FlowSpec, Network, ReallocationStats, ResourceLoad,
    SharedReallocation,
};
pub use topology::{
    Link, LinkId, LinkSpec, LinkState, Node, NodeId, NodeKind, NodeSpec, NodeState, Resource,
    Route, RouteMetric, Topology,
};

/// "No limit" for demands, caps and capacities, in bytes per second (`u64::MAX`).
pub const UNLIMITED_BYTES_PER_S: u64 = u64::MAX;

/// Default number of PS failback download threads per VM (DOMAIN.md §4).
pub const DEFAULT_DOWNLOAD_THREADS: u32 = 4;

/// Maximum number of PS failback download threads per VM (DOMAIN.md §4).
pub const MAX_DOWNLOAD_THREADS: u32 = 32;

/// Errors of the network module. Every public operation validates its ids and arguments and returns one
/// of these instead of panicking.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// No node with this id.
    #[error("unknown node {0:?}")]
    UnknownNode(NodeId),
    /// No link with this id.
    #[error("unknown link {0:?}")]
    UnknownLink(LinkId),
    /// No flow with this id.
    #[error("unknown flow {0:?}")]
    UnknownFlow(FlowId),
    /// A flow with this id already exists.
    #[error("flow {0:?} already exists")]
    DuplicateFlow(FlowId),
    /// A link from a node to itself.
    #[error("link from node {0:?} to itself")]
    SelfLoop(NodeId),
    /// A route with no node.
    #[error("empty route")]
    EmptyRoute,
    /// This link does not start where the previous link of the route ends (or the route does not match
    /// the topology).
    #[error("route breaks at link {0:?}")]
    BrokenRoute(LinkId),
    /// A route visits this node twice (it would count the node's and the links' capacity twice).
    #[error("route visits node {0:?} twice")]
    RouteRevisitsNode(NodeId),
    /// No link in this direction between two consecutive nodes of an explicit route.
    #[error("no link from {from:?} to {to:?}")]
    NoLinkBetween {
        /// Start of the missing hop.
        from: NodeId,
        /// End of the missing hop.
        to: NodeId,
    },
    /// No usable route (links and nodes up) between the two nodes.
    #[error("no route from {from:?} to {to:?}")]
    NoRoute {
        /// Source.
        from: NodeId,
        /// Destination.
        to: NodeId,
    },
    /// A degradation factor above 1000 permille.
    #[error("degradation {0} permille is above 1000")]
    InvalidDegradation(u32),
    /// A download thread count outside 1..=[`MAX_DOWNLOAD_THREADS`] (DOMAIN.md §4).
    #[error("download thread count {0} outside 1..={MAX_DOWNLOAD_THREADS}")]
    InvalidThreadCount(u32),
    /// A [`Problem`] flow refers to a resource index that was not added.
    #[error("unknown resource index {0}")]
    UnknownResourceIndex(u32),
    /// More than `u32::MAX - 1` nodes, links, resources or flows in one structure.
    #[error("too many elements")]
    TooManyElements,
}

/// Per-flow cap of a VM's failback stream from its PS download threads: `threads × per_thread` bytes per
/// second (saturating). DOMAIN.md §4: a PS downloads a VM's failback data with 4 threads by default and at
/// most 32; each thread moves at most a fixed rate, so the thread count caps the VM's stream.
///
/// # Errors
/// [`NetworkError::InvalidThreadCount`] unless `1 <= threads <= 32`.
pub fn download_threads_cap_bytes_per_s(
    threads: u32,
    per_thread_bytes_per_s: u64,
) -> Result<u64, NetworkError> {
    if !(1..=MAX_DOWNLOAD_THREADS).contains(&threads) {
        return Err(NetworkError::InvalidThreadCount(threads));
    }
    Ok(per_thread_bytes_per_s.saturating_mul(u64::from(threads)))
}

/// Demand of a replication stream right now, in bytes per second: with a backlog it can use any rate
/// ([`UNLIMITED_BYTES_PER_S`]; the route and its cap bound it), without one it needs exactly the disk's
/// churn rate to keep up (DOMAIN.md §4 churn). The fluid model calls this when a backlog empties or fills.
pub fn replication_demand_bytes_per_s(backlog_bytes: u64, churn_bytes_per_s: u64) -> u64 {
    if backlog_bytes > 0 {
        UNLIMITED_BYTES_PER_S
    } else {
        churn_bytes_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_download_threads_cap() {
        // DOMAIN §4: default 4 threads, max 32.
        assert_eq!(
            download_threads_cap_bytes_per_s(DEFAULT_DOWNLOAD_THREADS, 10),
            Ok(40)
        );
        assert_eq!(download_threads_cap_bytes_per_s(32, 10), Ok(320));
        assert_eq!(
            download_threads_cap_bytes_per_s(33, 10),
            Err(NetworkError::InvalidThreadCount(33))
        );
        assert_eq!(
            download_threads_cap_bytes_per_s(0, 10),
            Err(NetworkError::InvalidThreadCount(0))
        );
        assert_eq!(download_threads_cap_bytes_per_s(2, u64::MAX), Ok(u64::MAX));
    }

    #[test]
    fn network_demand_from_backlog() {
        assert_eq!(replication_demand_bytes_per_s(0, 5), 5);
        assert_eq!(replication_demand_bytes_per_s(1, 5), UNLIMITED_BYTES_PER_S);
    }
}
