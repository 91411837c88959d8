//! The fluid data plane: per-disk replication state as exact integers (ARCHITECTURE.md "The world":
//! "Data plane: a fluid model").
//!
//! Each protected disk is a [`FluidDisk`]: the source (the failed-over Azure VM) writes at the rate of
//! its [`ChurnModel`](crate::churn::ChurnModel); the replication stream (agent → PS → MT → VMDK, RJ-08)
//! drains at the send rate the caller sets from the network allocation. Between events everything is
//! linear, so [`FluidDisk::advance`] moves the state forward in closed form and
//! [`FluidDisk::next_event`] says when something qualitative will happen, so the caller schedules one
//! event instead of stepping.
//!
//! # The queue
//!
//! Send capacity goes first to a running **resync** (initial replication, a reprotect's copy, or a
//! resync after a DOMAIN.md §4 trigger), then to the **churn backlog**:
//!
//! - `written` — cumulative bytes the source has written: the disk's **generation** (INV-LOSS). Only
//!   grows.
//! - `sent` — churn bytes applied on the target (or handed to a resync that covers them).
//! - `backlog = written − sent`, so `written = sent + backlog` always (conservation).
//! - resync: `total = sent + remaining`, `total ∈ [0, disk size]` (RJ-05, INV-BYTES).
//!
//! While backlogged the churn stream gets the capacity left after the resync; once the backlog reaches
//! zero the disk keeps up, sending at `min(send rate, churn rate)`. Formally, with `S(t)` the capacity
//! left for churn since the segment start, `sent(t) = min(written(t), sent₀ + S(t))`: the exact
//! reflection of a queue with constant rates, evaluated at integer milliseconds.
//!
//! # Exactness
//!
//! Amounts are kept in milli-bytes (`r` B/s is exactly `r` milli-bytes per ms, see
//! [`crate::churn`]), so the state at every integer millisecond is the exact solution of the
//! continuous model, whatever the event times: advancing to `b` then `c` gives the same state as
//! advancing to `c` directly. Crossover instants (resync done, backlog drained, a tag's data applied)
//! are the first whole millisecond at which they hold, computed by one ceiling division. Public
//! readouts are whole bytes, floored, with `backlog_bytes = written_bytes − sent_bytes`.
//!
//! # Recovery points
//!
//! Tags fall every 5 min (crash-consistent, DOMAIN.md §4) and per policy interval (app-consistent) at
//! multiples of the interval since time 0. A tag at `T` captures generation `written(T)`; it becomes
//! usable once `sent ≥ written(T)` and no resync is running, plus a configurable transfer lag. RPO(t)
//! = `t − tag of the newest usable point` (never negative). Tags are computed lazily inside
//! `advance`: for the tags of a segment, "usable by the segment end" is monotone in the tag index, so
//! a binary search finds the newest usable one and only the not-yet-usable tail is stored. A steady
//! disk advanced over a day does O(log 288) arithmetic, not 288 steps.
//!
//! # What the caller does
//!
//! - Sets the send rate from the network allocation ([`FluidDisk::set_send_rate`]), using
//!   [`FluidDisk::demand`] as the flow's demand.
//! - Schedules [`FluidDisk::next_event`] and, when it fires, advances and re-queries.
//! - Calls the resync triggers ([`FluidDisk::mark_resync_required`], [`FluidDisk::resize`]) and starts
//!   resyncs ([`FluidDisk::start_resync`]) sized by [`resync_bytes`] / [`unique_changed_bytes`].
//! - For INV-LOSS: stops the source at shutdown, reads [`FluidDisk::written_bytes`] (generation at
//!   shutdown) and compares with the chosen point's [`RecoveryPoint::generation_bytes`] through
//!   [`bytes_lost`].

mod disk;
mod pending;
mod recovery_point;
mod resync;

pub use disk::{
    FluidDisk, LOOKAHEAD_MS, MAX_LOOKAHEAD_SEGMENTS, MIN_LOOKAHEAD_SEGMENTS, ServiceCurve,
};
pub(crate) use recovery_point::millibytes_to_bytes;
pub use recovery_point::{
    CRASH_CONSISTENT_INTERVAL_MS, DEFAULT_APP_CONSISTENT_INTERVAL_MS, MAX_PENDING_TAGS,
    RecoveryPoint, RecoveryPointKind, TagPolicy, bytes_lost,
};
pub use resync::{
    ResyncProgress, ResyncReason, ResyncRecord, ResyncSize, resync_bytes, unique_changed_bytes,
};

use drsim_engine::Millis;
use serde::{Deserialize, Serialize};

/// Errors from configuring a [`FluidDisk`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FluidError {
    /// The tag policy is unusable (app-consistent interval not a positive multiple of 5 min).
    #[error("invalid recovery point tag policy: {0}")]
    InvalidTagPolicy(String),
}

/// What a disk's replication stream asks of the network, for the max-min allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendDemand {
    /// Nothing to send: waiting for a resync to be started (a trigger fired), or nothing written.
    Idle,
    /// Caught up: needs exactly the churn rate (bytes per second) to stay caught up.
    Bounded {
        /// The current churn rate.
        bps: u64,
    },
    /// A resync or a backlog is queued, or the stream is sent slower than it is written (a backlog grows
    /// from now on): takes whatever it is given.
    Elastic,
}

/// Something qualitative that happens to a disk under the current rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FluidEventKind {
    /// The running resync sends its last byte (RJ-07: the reprotect can complete).
    ResyncCompleted,
    /// The backlog reaches zero: demand falls from elastic to the churn rate.
    BacklogDrained,
    /// A caught-up disk's churn rate changes, hence its demand.
    DemandChanged,
    /// Nothing within the look-ahead ([`LOOKAHEAD_MS`], at most [`MAX_LOOKAHEAD_SEGMENTS`] churn
    /// segments); advance and ask again.
    Recheck,
}

/// When and what happens next to a disk if no rate changes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FluidEvent {
    /// The instant (first whole ms at which it holds).
    pub at_ms: Millis,
    /// What happens.
    pub kind: FluidEventKind,
}
