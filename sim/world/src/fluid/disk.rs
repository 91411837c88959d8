//! [`FluidDisk`]: one disk's replication state, advanced in closed form.

use drsim_engine::Millis;

use super::pending::PendingTags;
use super::recovery_point::{
    CRASH_CONSISTENT_INTERVAL_MS, MAX_PENDING_TAGS, PendingTag, PointLog, RecoveryPoint,
    RecoveryPointKind, TagPolicy, align_up, millibytes_to_bytes,
};
use super::resync::{ResyncProgress, ResyncReason, ResyncRecord, ResyncSize, resync_bytes};
use super::{FluidError, FluidEvent, FluidEventKind, SendDemand};
use crate::churn::{ChurnModel, ChurnSegment, MILLIBYTES_PER_BYTE, mul_u64};

/// How many churn segments [`FluidDisk::next_event`] looks ahead before answering
/// [`FluidEventKind::Recheck`] (a bound on work per query; a day of 60-s diurnal quanta is 1440).
pub const MAX_LOOKAHEAD_SEGMENTS: usize = 2048;

/// [`FluidDisk::next_event`] stops looking ahead (answering [`FluidEventKind::Recheck`]) once it has
/// looked through this many segments *and* [`LOOKAHEAD_MS`]: a backlogged stream on a saturated link
/// gets a new rate far more often than its backlog drains, so a look-ahead to the drain (days of
/// quanta) would mostly be thrown away; an hour ahead costs one wake an hour when nothing changes.
pub const MIN_LOOKAHEAD_SEGMENTS: usize = 8;

/// See [`MIN_LOOKAHEAD_SEGMENTS`].
pub const LOOKAHEAD_MS: Millis = drsim_engine::time::HOUR_MS;

/// The largest point-log buffer a disk keeps between two reports ([`FluidDisk::drain_usable_points_into`]).
const KEPT_LOG_CAPACITY: usize = 16;

/// A running resync, in milli-bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResyncJob {
    reason: ResyncReason,
    started_ms: Millis,
    total_millibytes: u128,
    remaining_millibytes: u128,
}

/// What a disk is sent over time when its rate is not one constant: a cumulative *service* curve kept
/// by the caller (a saturated link's fair share over its level changes, issue 6). Both answers must be
/// exactly what advancing the disk at each of the curve's constant rates in turn would give.
///
/// A curve is read as its cumulative service and that function's inverse, so that a stretch of a disk
/// reads the service at its start once and each of its tags costs one inverse lookup (the recovery
/// points of a disk held by a share are most of a saturated link's work, issue 6).
pub trait ServiceCurve {
    /// Cumulative milli-bytes sent up to `t` (from the curve's own origin; only differences matter).
    fn served_to(&self, t: Millis) -> u128;
    /// The first whole ms by which the cumulative service reaches `target` (`None`: never under the
    /// curve as it stands). May be earlier than the time `target` was asked from; callers take the max.
    fn reaches(&self, target: u128) -> Option<Millis>;

    /// Milli-bytes sent in `(t1, t2]` (`t1 ≤ t2`).
    fn served(&self, t1: Millis, t2: Millis) -> u128 {
        self.served_to(t2).saturating_sub(self.served_to(t1))
    }
}

/// How a stretch is sent: at one rate, or along a [`ServiceCurve`].
#[derive(Clone, Copy)]
enum SendLaw<'a> {
    /// Bytes per second (= milli-bytes per ms).
    Rate(u64),
    /// Along a curve, with its cumulative service at the stretch's start.
    Curve(&'a dyn ServiceCurve, u128),
}

impl std::fmt::Debug for SendLaw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendLaw::Rate(r) => write!(f, "Rate({r})"),
            SendLaw::Curve(..) => write!(f, "Curve"),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Off in tests that compare [`FluidDisk::advance_caught_up`] with advancing segment by segment.
    static CLOSED_FORM: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

#[cfg(test)]
fn closed_form_allowed() -> bool {
    CLOSED_FORM.with(std::cell::Cell::get)
}

#[cfg(not(test))]
fn closed_form_allowed() -> bool {
    true
}

/// The rates and starting state of one stretch `[t1, t2]` of constant churn, and the closed forms on it.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    t1: Millis,
    t2: Millis,
    written1: u128,
    sent1: u128,
    resync1: u128,
    send: SendLaw<'a>,
    churn_bps: u64,
    lag_ms: Millis,
    /// Milli-bytes the disk can send in the stretch.
    capacity: u128,
}

impl Segment<'_> {
    /// Milli-bytes the disk can send in the stretch.
    fn capacity_of(send: SendLaw, t1: Millis, t2: Millis) -> u128 {
        match send {
            SendLaw::Rate(r) => mul_u64(r, t2 - t1),
            SendLaw::Curve(c, base) => c.served_to(t2).saturating_sub(base),
        }
    }

    /// Whether offset `o` is applied by `t2`: what [`Segment::apply_time`] needs fits in the stretch's
    /// capacity. Exact (`apply_time(o) ≤ t2` iff this holds), and without inverting a curve: a disk held
    /// behind a saturated link is advanced stretch by stretch, and while its resync runs no tag of a
    /// stretch is applied (issue 6).
    fn applied_by_end(&self, o: u128) -> bool {
        o.saturating_sub(self.sent1).saturating_add(self.resync1) <= self.capacity
    }

    /// Source's cumulative churn at `t` (`t ≥ t1`).
    fn written_at(&self, t: Millis) -> u128 {
        self.written1
            .saturating_add(mul_u64(self.churn_bps, t.saturating_sub(self.t1)))
    }

    /// First whole ms `≥ t1` at which the churn stream has applied offset `o`, no resync is running,
    /// and — for `o ≤ written(t1)` — nothing else is needed; `None` if never under these rates (or
    /// not before the end of time).
    ///
    /// Capacity left for churn at `t` is `S(t) = max(0, r·(t − t1) − resync₁)`, and `sent(t) ≥ o`
    /// needs `sent₁ + S(t) ≥ o` (and `written(t) ≥ o`, which callers handle by taking the max with the
    /// tag time). Hence `t = t1 + ⌈((o − sent₁)⁺ + resync₁) / r⌉`.
    fn apply_time(&self, o: u128) -> Option<Millis> {
        let need = o.saturating_sub(self.sent1).saturating_add(self.resync1);
        if need == 0 {
            return Some(self.t1);
        }
        match self.send {
            SendLaw::Rate(0) => None,
            SendLaw::Rate(r) => {
                // in 64 bits when it fits (a multiply-free hardware division, not `__udivti3`)
                let dt = match u64::try_from(need) {
                    Ok(need) => u128::from(need.div_ceil(r)),
                    Err(_) => need.div_ceil(u128::from(r)),
                };
                // past the end of time is never (saturated at `u64::MAX` it would pass for `t2`
                // there, where `applied_by_end` says no)
                self.t1.checked_add(u64::try_from(dt).ok()?)
            }
            SendLaw::Curve(c, base) => c.reaches(base.saturating_add(need)).map(|t| t.max(self.t1)),
        }
    }

    /// When a tag at `tag_ms` with offset `o` becomes usable, if its data is applied by `t2`.
    fn usable_at(&self, tag_ms: Millis, o: u128) -> Option<Millis> {
        if !self.applied_by_end(o) {
            debug_assert!(
                self.apply_time(o).is_none_or(|t| t > self.t2),
                "{self:?}, offset {o}"
            );
            return None;
        }
        let applied = self.apply_time(o).filter(|&t| t <= self.t2)?;
        Some(applied.max(tag_ms).saturating_add(self.lag_ms))
    }
}

/// One protected disk's replication state (see the [module docs](super) for the model).
///
/// All amounts are exact integers (milli-bytes inside, whole bytes outside). Every method that takes
/// `now` first advances the state to `now`; a `now` earlier than [`FluidDisk::now_ms`] is treated as
/// "now" (time never goes back). No method panics.
#[derive(Debug, Clone)]
pub struct FluidDisk {
    now_ms: Millis,
    size_bytes: u64,
    used_bytes: u64,
    churn: ChurnModel,
    source_running: bool,
    send_rate_bps: u64,
    transfer_lag_ms: Millis,

    written_millibytes: u128,
    sent_millibytes: u128,
    folded_millibytes: u128,

    resync: Option<ResyncJob>,
    resync_required: Option<ResyncReason>,
    last_resync: Option<ResyncRecord>,
    resync_sent_total_millibytes: u128,

    tag_policy: Option<TagPolicy>,
    next_tag_ms: Millis,
    pending: PendingTags,
    tags_discarded: u64,
    newest_usable: Option<RecoveryPoint>,
    newest_usable_app: Option<RecoveryPoint>,
    log: PointLog,
    /// While set, the caller tracks what the running resync is sent (a saturated link's fair share in
    /// virtual time, issue 6) and brings the disk to a time only by [`FluidDisk::advance_along`].
    served_elsewhere: bool,
}

impl FluidDisk {
    /// A disk of `size_bytes` with `used_bytes` in use (clamped to the size), written by `churn`,
    /// starting at `now_ms` with nothing written, the source running, send rate 0, no tag policy
    /// (no recovery points until [`FluidDisk::set_tag_policy`]) and no resync.
    pub fn new(now_ms: Millis, size_bytes: u64, used_bytes: u64, churn: ChurnModel) -> Self {
        FluidDisk {
            now_ms,
            size_bytes,
            used_bytes: used_bytes.min(size_bytes),
            churn,
            source_running: true,
            send_rate_bps: 0,
            transfer_lag_ms: 0,
            written_millibytes: 0,
            sent_millibytes: 0,
            folded_millibytes: 0,
            resync: None,
            resync_required: None,
            last_resync: None,
            resync_sent_total_millibytes: 0,
            tag_policy: None,
            next_tag_ms: 0,
            pending: PendingTags::default(),
            tags_discarded: 0,
            newest_usable: None,
            newest_usable_app: None,
            log: PointLog::default(),
            served_elsewhere: false,
        }
    }

    // ----- readouts -------------------------------------------------------------------------

    /// The instant the state describes (the last `advance`).
    pub fn now_ms(&self) -> Millis {
        self.now_ms
    }

    /// Disk size in bytes (changes only by [`FluidDisk::resize`]).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Bytes in use (what a full copy sends: ALR RJ-04, initial replication).
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// The churn model.
    pub fn churn(&self) -> &ChurnModel {
        &self.churn
    }

    /// Whether the source (the Azure VM) is running and therefore writing.
    pub fn source_running(&self) -> bool {
        self.source_running
    }

    /// The source's write rate now (0 when it is stopped), bytes per second.
    pub fn churn_rate_bps(&self) -> u64 {
        self.current_churn().rate_bps
    }

    /// Milli-bytes the running resync still has to send (0 without one).
    pub fn resync_remaining_millibytes(&self) -> u128 {
        self.resync.map_or(0, |j| j.remaining_millibytes)
    }

    /// The send rate set by the caller, bytes per second.
    pub fn send_rate_bps(&self) -> u64 {
        self.send_rate_bps
    }

    /// The rate actually used: 0 while a resync is required but not started (the target is known
    /// to be inconsistent, nothing is applied), else the send rate.
    pub fn effective_send_rate_bps(&self) -> u64 {
        if self.resync_required.is_some() {
            0
        } else {
            self.send_rate_bps
        }
    }

    /// Delay from "data applied" to "point usable" (e.g. link latency plus apply time).
    pub fn transfer_lag_ms(&self) -> Millis {
        self.transfer_lag_ms
    }

    /// Cumulative bytes written by the source: the disk's current **generation** (INV-LOSS). Only
    /// grows. After the source stops, this is "written at shutdown".
    pub fn written_bytes(&self) -> u64 {
        millibytes_to_bytes(self.written_millibytes)
    }

    /// Churn bytes applied on the target (or folded into a resync that covers them).
    pub fn sent_bytes(&self) -> u64 {
        millibytes_to_bytes(self.sent_millibytes)
    }

    /// `written_bytes − sent_bytes` (so `written = sent + backlog` holds exactly in whole bytes).
    pub fn backlog_bytes(&self) -> u64 {
        self.written_bytes() - self.sent_bytes()
    }

    /// Exact cumulative churn written, milli-bytes.
    pub fn written_millibytes(&self) -> u128 {
        self.written_millibytes
    }

    /// The backlog at `t ≥ now` without moving the disk there, for a disk whose running resync takes
    /// its whole send rate until `t` (then nothing of the churn is sent: `sent` stays, `written` follows
    /// the churn). Issue 6: a syncing machine is not brought to every report for its PS's health.
    pub fn resync_backlog_bytes_at(&self, t: Millis) -> u64 {
        self.written_bytes_at(t) - self.sent_bytes()
    }

    /// Whole bytes written by `t ≥ now` without moving the disk there ([`FluidDisk::written_bytes`] then).
    pub fn written_bytes_at(&self, t: Millis) -> u64 {
        if !self.source_running {
            return self.written_bytes();
        }
        millibytes_to_bytes(
            (self.written_millibytes).saturating_add(self.churn.millibytes_written(self.now_ms, t)),
        )
    }

    /// The running resync's readouts once it has been sent `served` more milli-bytes (no more than it has
    /// left), without moving the disk: the bytes it still has to send ([`ResyncProgress::remaining_bytes`])
    /// and the resync bytes sent over the disk's lifetime ([`FluidDisk::resync_bytes_sent_total`]). With
    /// [`FluidDisk::resync_backlog_bytes_at`], a resync held in virtual time is read at any time.
    pub fn resync_readout_after(&self, served: u128) -> (u64, u64) {
        let Some(j) = self.resync else {
            return (0, self.resync_bytes_sent_total());
        };
        let served = served.min(j.remaining_millibytes);
        let total_bytes = millibytes_to_bytes(j.total_millibytes);
        let sent = j.total_millibytes - j.remaining_millibytes + served;
        (
            total_bytes - millibytes_to_bytes(sent),
            millibytes_to_bytes(self.resync_sent_total_millibytes.saturating_add(served)),
        )
    }

    /// Exact churn applied, milli-bytes.
    pub fn sent_millibytes(&self) -> u128 {
        self.sent_millibytes
    }

    /// Exact backlog, milli-bytes (`written − sent`).
    pub fn backlog_millibytes(&self) -> u128 {
        self.written_millibytes - self.sent_millibytes
    }

    /// Churn backlog handed over to resyncs when they started (counted in `sent`; the resync's
    /// differential covers those blocks).
    pub fn folded_into_resync_bytes(&self) -> u64 {
        millibytes_to_bytes(self.folded_millibytes)
    }

    /// The running resync, if any.
    pub fn resync_progress(&self) -> Option<ResyncProgress> {
        self.resync.map(|j| {
            let total_bytes = millibytes_to_bytes(j.total_millibytes);
            let sent_bytes = millibytes_to_bytes(j.total_millibytes - j.remaining_millibytes);
            ResyncProgress {
                reason: j.reason,
                started_ms: j.started_ms,
                total_bytes,
                sent_bytes,
                remaining_bytes: total_bytes - sent_bytes,
            }
        })
    }

    /// The last resync that completed.
    pub fn last_resync(&self) -> Option<ResyncRecord> {
        self.last_resync
    }

    /// Why a resync is needed (a DOMAIN.md §4 trigger fired and no resync has started since).
    pub fn resync_required(&self) -> Option<ResyncReason> {
        self.resync_required
    }

    /// Resync bytes sent over the disk's lifetime (all jobs, including superseded ones).
    pub fn resync_bytes_sent_total(&self) -> u64 {
        millibytes_to_bytes(self.resync_sent_total_millibytes)
    }

    /// The generation the target holds consistently, or `None` while a resync is rewriting it.
    pub fn target_generation_bytes(&self) -> Option<u64> {
        self.resync.is_none().then(|| self.sent_bytes())
    }

    /// The tag policy, if recovery points are being tagged.
    pub fn tag_policy(&self) -> Option<TagPolicy> {
        self.tag_policy
    }

    /// The newest usable recovery point (FB-03 "latest processed"), as of [`FluidDisk::now_ms`].
    pub fn newest_usable(&self) -> Option<RecoveryPoint> {
        self.newest_usable
    }

    /// The newest usable app-consistent point (FB-03 "latest app-consistent").
    pub fn newest_usable_app_consistent(&self) -> Option<RecoveryPoint> {
        self.newest_usable_app
    }

    /// RPO at `now` = `now − tag of the newest usable point` (DOMAIN.md §4), never negative; `None`
    /// before the first usable point. Reflects the state at [`FluidDisk::now_ms`]: advance first.
    pub fn rpo_ms(&self, now: Millis) -> Option<Millis> {
        self.newest_usable.map(|p| p.rpo_ms(now))
    }

    /// INV-LOSS: bytes lost if the on-prem disk is failed back to `point`, measured against what the
    /// source has written so far (stop the source first: then this is "written at shutdown"). 0 for
    /// a "latest" point tagged after the shutdown ([`FluidDisk::tag_now`]).
    pub fn bytes_lost_if_failed_back_to(&self, point: &RecoveryPoint) -> u64 {
        super::bytes_lost(self.written_bytes(), point.generation_bytes)
    }

    /// Tags waiting for their data (or for the transfer lag).
    pub fn pending_tags(&self) -> usize {
        self.pending.len()
    }

    /// Tags that will never become usable: waiting when a resync started (the target skips those
    /// generations) or beyond [`MAX_PENDING_TAGS`].
    pub fn tags_discarded(&self) -> u64 {
        self.tags_discarded
    }

    /// What the stream asks of the network (see [`SendDemand`]).
    pub fn demand(&self) -> SendDemand {
        if self.resync_required.is_some() {
            SendDemand::Idle
        } else if self.resync.is_some() || self.written_millibytes > self.sent_millibytes {
            SendDemand::Elastic
        } else {
            match self.churn_rate_bps() {
                0 => SendDemand::Idle,
                // slower than the writes: the backlog starts growing at once, so the stream must be
                // given more as soon as there is more (not only at its next wake)
                bps if self.send_rate_bps < bps => SendDemand::Elastic,
                bps => SendDemand::Bounded { bps },
            }
        }
    }

    // ----- configuration ----------------------------------------------------------------------

    /// Sets the send rate from the network allocation (bytes per second), from `now` on.
    pub fn set_send_rate(&mut self, now: Millis, bps: u64) {
        self.advance(now);
        self.send_rate_bps = bps;
    }

    /// Starts or stops the source's writes from `now` on (FB-02: the Azure VM is shut down before
    /// failback; RJ-02 concerns the on-prem VM, which this disk does not model).
    pub fn set_source_running(&mut self, now: Millis, running: bool) {
        self.advance(now);
        self.source_running = running;
    }

    /// Replaces the churn model from `now` on (the new model is read at absolute times).
    pub fn set_churn(&mut self, now: Millis, churn: ChurnModel) {
        self.advance(now);
        self.churn = churn;
    }

    /// Starts (or, with `None`, stops) tagging recovery points from `now` on.
    pub fn set_tag_policy(
        &mut self,
        now: Millis,
        policy: Option<TagPolicy>,
    ) -> Result<(), FluidError> {
        if let Some(p) = policy {
            p.validate().map_err(FluidError::InvalidTagPolicy)?;
        }
        self.advance(now);
        self.tag_policy = policy;
        Ok(())
    }

    /// Sets the delay between "data applied" and "point usable" for tags applied from `now` on.
    pub fn set_transfer_lag(&mut self, now: Millis, lag_ms: Millis) {
        self.advance(now);
        self.transfer_lag_ms = lag_ms;
    }

    /// Sets the bytes in use (clamped to the disk size); sizes later full copies.
    pub fn set_used_bytes(&mut self, used_bytes: u64) {
        self.used_bytes = used_bytes.min(self.size_bytes);
    }

    /// Keeps a bounded log of up to `capacity` points as they become usable (0 = off, the default),
    /// for callers that report every point; read it with [`FluidDisk::take_usable_points`].
    pub fn enable_point_log(&mut self, capacity: usize) {
        self.log.capacity = capacity;
        while self.log.points.len() > capacity {
            self.log.points.pop_front();
            self.log.dropped += 1;
        }
    }

    /// Stops logging the points of tags from `tag_ms` on (`None`: logs them again), for a caller that
    /// computes those points itself (a stream that follows its churn: every tag usable at tag + lag,
    /// its generation the churn's integral; see `world::followed_points`). Points already logged stay.
    pub fn pause_point_log_from(&mut self, tag_ms: Option<Millis>) {
        self.log.paused_from_ms = tag_ms;
    }

    /// The first tag time not yet taken: tags before it are usable or waiting, later ones are made
    /// as the disk advances.
    pub fn next_tag_ms(&self) -> Millis {
        self.next_tag_ms
    }

    /// Drains the point log (oldest first).
    pub fn take_usable_points(&mut self) -> Vec<RecoveryPoint> {
        let mut out = Vec::new();
        self.drain_usable_points_into(&mut out);
        out
    }

    /// Drains the point log (oldest first) onto the end of `out`. The log keeps a small buffer for the
    /// next points (a held disk logs about one per report, issue 6), but not one that held a burst (a
    /// resync's tags all usable at once): that capacity is not kept for the rest of the run.
    pub fn drain_usable_points_into(&mut self, out: &mut Vec<RecoveryPoint>) {
        out.extend(self.log.points.drain(..));
        if self.log.points.capacity() > KEPT_LOG_CAPACITY {
            self.log.points = Default::default();
        }
    }

    /// Points dropped from a full log.
    pub fn points_dropped_from_log(&self) -> u64 {
        self.log.dropped
    }

    // ----- triggers and jobs ----------------------------------------------------------------

    /// Marks the disk as needing a resync (DOMAIN.md §4 triggers: network failure during replication,
    /// forced shutdown, disk resize). From `now` nothing is applied and no tags are taken until
    /// [`FluidDisk::start_resync`]; a running resync stalls. The first reason is kept.
    pub fn mark_resync_required(&mut self, now: Millis, reason: ResyncReason) {
        self.advance(now);
        self.resync_required.get_or_insert(reason);
    }

    /// Resizes the disk (a DOMAIN.md §4 resync trigger): the size changes, used bytes are clamped to
    /// it, and the disk needs a resync ([`ResyncReason::DiskResized`]). A running resync stalls, with
    /// its old size, until [`FluidDisk::start_resync`] supersedes it.
    pub fn resize(&mut self, now: Millis, new_size_bytes: u64) {
        self.advance(now);
        self.size_bytes = new_size_bytes;
        self.used_bytes = self.used_bytes.min(new_size_bytes);
        self.resync_required
            .get_or_insert(ResyncReason::DiskResized);
    }

    /// Starts a resync of `size` at `now` and returns its bytes (within `[0, disk size]`, RJ-05).
    ///
    /// The current churn backlog is folded into it (the resync compares blocks, so it covers those
    /// writes): `sent` jumps to `written`. Tags still waiting for data are discarded — the target
    /// jumps over their generations — while points already usable stay usable (they are in the
    /// retention journal). A running resync is superseded (bytes it sent stay counted in
    /// [`FluidDisk::resync_bytes_sent_total`]). Clears [`FluidDisk::resync_required`]. Send capacity goes
    /// to the resync first; churn accrues on top and is sent after it.
    pub fn start_resync(&mut self, now: Millis, reason: ResyncReason, size: ResyncSize) -> u64 {
        self.advance(now);
        let bytes = resync_bytes(size, self.size_bytes, self.used_bytes);
        let backlog = self.written_millibytes - self.sent_millibytes;
        self.folded_millibytes = self.folded_millibytes.saturating_add(backlog);
        self.sent_millibytes = self.written_millibytes;
        // Keep the prefix already applied (usable time known); drop the rest.
        self.tags_discarded += self.pending.drop_unapplied();
        self.resync_required = None;
        let started_ms = self.now_ms;
        if bytes == 0 {
            self.resync = None;
            self.last_resync = Some(ResyncRecord {
                reason,
                started_ms,
                completed_ms: started_ms,
                bytes: 0,
            });
        } else {
            let total = u128::from(bytes) * MILLIBYTES_PER_BYTE;
            self.resync = Some(ResyncJob {
                reason,
                started_ms,
                total_millibytes: total,
                remaining_millibytes: total,
            });
        }
        bytes
    }

    /// Tags a recovery point at `now` on demand (FB-03 "latest": after the source is stopped, a final
    /// point holding every acknowledged write). Returns its generation. It becomes usable like any
    /// tag, once its data is applied (immediately if nothing is pending and the lag is 0).
    pub fn tag_now(&mut self, now: Millis, kind: RecoveryPointKind) -> u64 {
        self.advance(now);
        self.push_pending(PendingTag {
            tag_ms: self.now_ms,
            offset_millibytes: self.written_millibytes,
            kind,
            usable_at_ms: None,
        });
        let seg = self.segment(self.now_ms, 0);
        self.settle_pending(&seg);
        self.written_bytes()
    }

    // ----- time -----------------------------------------------------------------------------

    /// Marks (or unmarks) the disk as served in virtual time: while marked, it must not be moved forward
    /// except by [`FluidDisk::advance_along`] (checked in debug builds).
    pub fn set_served_elsewhere(&mut self, marked: bool) {
        self.served_elsewhere = marked;
    }

    /// Moves the state forward to `to` in closed form (no-op if `to <= now`).
    ///
    /// Work is one constant-time step per churn-rate change in `(now, to]` (none for a constant
    /// model) plus O(log n) for the n tags passed, plus one push per tag that is not yet usable.
    pub fn advance(&mut self, to: Millis) {
        debug_assert!(
            !self.served_elsewhere || to <= self.now_ms,
            "a disk served in virtual time moved forward directly"
        );
        self.advance_sent(to, None);
    }

    /// [`FluidDisk::advance`] along a service curve instead of the send rate: what the disk is sent in
    /// `(now, to]` is the curve's (issue 6: a stream a saturated link holds at its fair share, whose
    /// level changed many times since the stream was last looked at). Resyncs, backlog, tags and their
    /// usable times come out exactly as advancing at each of the curve's rates in turn.
    pub fn advance_along(&mut self, to: Millis, curve: &dyn ServiceCurve) {
        self.advance_sent(to, Some(curve));
    }

    /// Churn segment by churn segment to `to`, sent at the send rate or along `curve`.
    fn advance_sent(&mut self, to: Millis, curve: Option<&dyn ServiceCurve>) {
        while self.now_ms < to {
            let seg = self.current_churn();
            let end = match seg.until_ms {
                Some(u) if u > self.now_ms => u.min(to),
                _ => to,
            };
            // (not to the end of time: a tag whose lag runs past it is usable there, saturated)
            if end < to
                && to < Millis::MAX
                && curve.is_none()
                && closed_form_allowed()
                && self.stays_caught_up()
            {
                self.advance_caught_up(to);
                return;
            }
            self.advance_segment(end, seg.rate_bps, curve);
        }
    }

    /// Whether the disk is caught up and stays so at its send rate whatever its churn does, with
    /// nothing of its own to log: then [`FluidDisk::advance_caught_up`] brings it over any number of
    /// churn segments at once. (A stream that follows its churn for weeks is sent at its churn's peak
    /// and brought to a time only when its replication changes: hour by hour that was ≈ 1.5 s of the
    /// 10k bench, issue 6.)
    fn stays_caught_up(&self) -> bool {
        let step = CRASH_CONSISTENT_INTERVAL_MS;
        let first_tag = self.next_tag_ms.max(align_up(self.now_ms, step));
        // the tags it waits for and the ones a lag's worth of new tags add stay far below the bound
        let lag_tags = self.transfer_lag_ms / step + 2;
        self.resync.is_none()
            && self.resync_required.is_none()
            && self.source_running
            && self.sent_millibytes == self.written_millibytes
            && self.pending.first_unapplied().is_none()
            && (self.pending.len() as u64).saturating_add(lag_tags) <= MAX_PENDING_TAGS as u64
            && (self.churn.regular_peak_bps()).is_some_and(|peak| peak <= self.send_rate_bps)
            && !self.log.logs(first_tag)
            // the waiting tags are usable before any new one (not so after the lag shrank: a new tag
            // would then be usable while older ones still wait, and wait behind them if it waits)
            && (self.pending.latest_applied_usable_at())
                .is_none_or(|at| at <= first_tag.saturating_add(self.transfer_lag_ms))
    }

    /// [`FluidDisk::advance`] of a disk that [`FluidDisk::stays_caught_up`] to `to`, in closed form:
    /// exactly what advancing it churn segment by churn segment gives. Everything written is sent as it
    /// is written (the send rate is at least the churn's at every instant), so each tag's data is applied
    /// at its tag time and the tag is usable `lag` later; the waiting tags become usable in order; of
    /// the new tags usable by `to` only the newest and the newest app-consistent one matter (the log
    /// does not keep them), and the rest wait out the lag.
    fn advance_caught_up(&mut self, to: Millis) {
        let from = self.now_ms;
        let written_at = |t: Millis| {
            (self.written_millibytes).saturating_add(self.churn.millibytes_written(from, t))
        };
        let written_to = written_at(to);
        let mut usable = Vec::new();
        while let Some(tag) = self.pending.front() {
            match tag.usable_at_ms {
                Some(at) if at <= to => {
                    self.pending.pop_front();
                    usable.push(tag.into_point(at));
                }
                _ => break,
            }
        }
        let mut waiting = Vec::new();
        if let Some(policy) = self.tag_policy {
            let step = CRASH_CONSISTENT_INTERVAL_MS;
            let lag = self.transfer_lag_ms;
            let first = self.next_tag_ms.max(align_up(from, step));
            if first >= from && first <= to {
                let n = (to - first) / step + 1;
                self.next_tag_ms = first.saturating_add(n.saturating_mul(step));
                let tag_ms = |i: u64| first + i * step;
                let point = |t: Millis| RecoveryPoint {
                    tag_ms: t,
                    generation_bytes: millibytes_to_bytes(written_at(t)),
                    kind: policy.kind_at(t),
                    usable_since_ms: t.saturating_add(lag),
                };
                // the tags usable by `to`: those at or before `to − lag`
                let usable_count = match to.checked_sub(lag) {
                    Some(last) if last >= first => ((last - first) / step + 1).min(n),
                    _ => 0,
                };
                if usable_count > 0 {
                    let last = tag_ms(usable_count - 1);
                    if let Some(app_ms) = policy.latest_app_in(first, last) {
                        usable.push(point(app_ms));
                    }
                    usable.push(point(last));
                }
                waiting.extend((usable_count..n).map(|i| {
                    let t = tag_ms(i);
                    PendingTag {
                        tag_ms: t,
                        offset_millibytes: written_at(t),
                        kind: policy.kind_at(t),
                        usable_at_ms: Some(t.saturating_add(lag)),
                    }
                }));
            }
        }
        for p in usable {
            self.make_usable(p);
        }
        for tag in waiting {
            self.pending.push(tag);
        }
        self.churn.seek(to);
        self.written_millibytes = written_to;
        self.sent_millibytes = written_to;
        self.now_ms = to;
    }

    /// What happens next under the current rates: resync completion, backlog drained, or (for a
    /// caught-up disk) a churn change that changes its demand. `None` when nothing will happen until
    /// the caller changes something (e.g. a steady disk with constant churn: no events at all).
    ///
    /// Looks ahead through at least [`MIN_LOOKAHEAD_SEGMENTS`] churn segments and [`LOOKAHEAD_MS`], and
    /// at most [`MAX_LOOKAHEAD_SEGMENTS`]; beyond, it answers [`FluidEventKind::Recheck`] (nothing
    /// happens then; the caller asks again). So a backlogged disk with diurnal churn needs an event per
    /// crossover or per look-ahead, not one per quantum.
    pub fn next_event(&self) -> Option<FluidEvent> {
        if self.resync_required.is_some() {
            return None;
        }
        let r = u128::from(self.send_rate_bps);
        let mut t = self.now_ms;
        let mut written = self.written_millibytes;
        let mut sent = self.sent_millibytes;
        let resync = self.resync.map_or(0, |j| j.remaining_millibytes);
        let event = |at: u128, base: Millis, kind| FluidEvent {
            at_ms: base.saturating_add(u64::try_from(at).unwrap_or(u64::MAX)),
            kind,
        };
        if resync > 0 {
            // The whole send rate goes to the resync whatever the churn does, so it completes at
            // t + remaining / rate: no churn segment to look at (this runs on every rate change of
            // every resyncing disk, issue 6).
            if r == 0 {
                return None;
            }
            return Some(event(
                resync.div_ceil(r),
                t,
                FluidEventKind::ResyncCompleted,
            ));
        }
        // A private copy of a bursty model, whose cursor follows the lookahead (its queries stay O(1));
        // the other models answer from shared tables and need no copy.
        let mut cursor = (self.source_running && matches!(self.churn, ChurnModel::BurstyOnOff(_)))
            .then(|| self.churn.clone());
        let mut segment_at = |t: Millis| match (self.source_running, cursor.as_mut()) {
            (true, Some(m)) => {
                m.seek(t);
                m.segment_at(t)
            }
            (true, None) => self.churn.segment_at(t),
            (false, _) => ChurnSegment {
                rate_bps: 0,
                until_ms: None,
            },
        };
        for looked in 0..MAX_LOOKAHEAD_SEGMENTS {
            if looked >= MIN_LOOKAHEAD_SEGMENTS && t >= self.now_ms.saturating_add(LOOKAHEAD_MS) {
                break;
            }
            let seg = segment_at(t);
            let c = u128::from(seg.rate_bps);
            let within = |e: &FluidEvent| seg.until_ms.is_none_or(|u| e.at_ms <= u);
            if written > sent {
                if c < r {
                    let e = event(
                        (written - sent).div_ceil(r - c),
                        t,
                        FluidEventKind::BacklogDrained,
                    );
                    if within(&e) {
                        return Some(e);
                    }
                }
            } else if c <= r {
                // Caught up and staying so: the demand (the churn rate) changes where the churn
                // rate does (a boundary that keeps the same rate is skipped).
                let until = seg.until_ms?;
                if segment_at(until).rate_bps != seg.rate_bps {
                    return Some(FluidEvent {
                        at_ms: until,
                        kind: FluidEventKind::DemandChanged,
                    });
                }
            }
            // Nothing in this segment: carry the state to its end.
            let until = seg.until_ms?;
            let dt = u128::from(until - t);
            let capacity = r.saturating_mul(dt);
            written = written.saturating_add(c.saturating_mul(dt));
            sent = written.min(sent.saturating_add(capacity));
            t = until;
        }
        Some(FluidEvent {
            at_ms: t,
            kind: FluidEventKind::Recheck,
        })
    }

    /// [`FluidDisk::next_event`]'s time.
    pub fn next_event_time(&self) -> Option<Millis> {
        self.next_event().map(|e| e.at_ms)
    }

    /// When the oldest waiting tag becomes usable under the current send rate (independent of churn:
    /// its data is already written), for callers that want an event per point on a backlogged disk.
    /// Steady disks need none: their tags are usable at tag time + lag, computed lazily.
    pub fn next_point_usable_at(&self) -> Option<Millis> {
        let front = self.pending.front()?;
        if let Some(at) = front.usable_at_ms {
            return Some(at);
        }
        let seg = self.segment(Millis::MAX, 0);
        seg.usable_at(front.tag_ms, front.offset_millibytes)
    }

    // ----- internals ------------------------------------------------------------------------

    fn churn_segment_at(&self, t: Millis) -> ChurnSegment {
        if self.source_running {
            self.churn.segment_at(t)
        } else {
            ChurnSegment {
                rate_bps: 0,
                until_ms: None,
            }
        }
    }

    fn current_churn(&self) -> ChurnSegment {
        self.churn_segment_at(self.now_ms)
    }

    fn tagging_active(&self) -> bool {
        self.tag_policy.is_some() && self.source_running && self.resync_required.is_none()
    }

    fn segment(&self, t2: Millis, churn_bps: u64) -> Segment<'static> {
        self.segment_sent(t2, churn_bps, SendLaw::Rate(self.effective_send_rate_bps()))
    }

    fn segment_sent<'a>(&self, t2: Millis, churn_bps: u64, send: SendLaw<'a>) -> Segment<'a> {
        Segment {
            t1: self.now_ms,
            t2,
            written1: self.written_millibytes,
            sent1: self.sent_millibytes,
            resync1: self.resync.map_or(0, |j| j.remaining_millibytes),
            send,
            churn_bps,
            lag_ms: self.transfer_lag_ms,
            capacity: Segment::capacity_of(send, self.now_ms, t2),
        }
    }

    /// One stretch of constant churn and send rates, `[now, t2]`, `t2 > now`.
    fn advance_segment(&mut self, t2: Millis, churn_bps: u64, curve: Option<&dyn ServiceCurve>) {
        self.churn.seek(t2);
        let seg = match curve {
            // nothing is sent while a resync is required (as at the effective rate 0)
            Some(c) if self.resync_required.is_none() => {
                let base = c.served_to(self.now_ms);
                self.segment_sent(t2, churn_bps, SendLaw::Curve(c, base))
            }
            _ => self.segment(t2, churn_bps),
        };
        let capacity = seg.capacity;
        let to_resync = seg.resync1.min(capacity);
        let written2 = seg.written_at(t2);
        let sent2 = written2.min(seg.sent1.saturating_add(capacity - to_resync));

        self.settle_pending(&seg);
        if self.tagging_active() {
            self.take_tags(&seg);
        }

        debug_assert!(written2 >= seg.written1 && sent2 >= seg.sent1 && sent2 <= written2);
        self.written_millibytes = written2;
        self.sent_millibytes = sent2;
        if let Some(job) = &mut self.resync {
            job.remaining_millibytes -= to_resync;
            self.resync_sent_total_millibytes =
                self.resync_sent_total_millibytes.saturating_add(to_resync);
            if job.remaining_millibytes == 0 {
                let completed_ms = seg.apply_time(seg.sent1).unwrap_or(t2);
                self.last_resync = Some(ResyncRecord {
                    reason: job.reason,
                    started_ms: job.started_ms,
                    completed_ms,
                    bytes: millibytes_to_bytes(job.total_millibytes),
                });
                self.resync = None;
            }
        }
        self.now_ms = t2;
    }

    /// Resolves waiting tags whose data is applied by `seg.t2`, and makes usable those due by then.
    fn settle_pending(&mut self, seg: &Segment) {
        // What to look at first: a disk behind a saturated link is advanced on every rate change, and
        // mostly nothing settles (issue 6).
        let applies = (self.pending.first_unapplied())
            .is_some_and(|t| seg.applied_by_end(t.offset_millibytes));
        let due =
            (self.pending.front()).is_some_and(|t| t.usable_at_ms.is_some_and(|a| a <= seg.t2));
        if !applies && !due {
            return;
        }
        if applies {
            // Offsets only grow: the applied tags are a prefix.
            self.pending
                .apply(|t| seg.usable_at(t.tag_ms, t.offset_millibytes));
        }
        while let Some(tag) = self.pending.front() {
            match tag.usable_at_ms {
                Some(at) if at <= seg.t2 => {
                    self.pending.pop_front();
                    self.make_usable(tag.into_point(at));
                }
                _ => break,
            }
        }
    }

    /// Takes the scheduled tags in `[seg.t1, seg.t2]`, lazily: binary search for the newest one
    /// usable by `t2`, store only the rest.
    fn take_tags(&mut self, seg: &Segment) {
        let Some(policy) = self.tag_policy else {
            return;
        };
        let step = CRASH_CONSISTENT_INTERVAL_MS;
        let first = self.next_tag_ms.max(align_up(seg.t1, step));
        // (off the grid: the next tag time saturated past the grid's last, at the end of time)
        if first < seg.t1 || first > seg.t2 || !first.is_multiple_of(step) {
            return;
        }
        let n = (seg.t2 - first) / step + 1;
        self.next_tag_ms = first.saturating_add(n.saturating_mul(step));
        let tag_ms = |i: u64| first + i * step;
        let usable_at = |i: u64| seg.usable_at(tag_ms(i), seg.written_at(tag_ms(i)));
        let point = |i: u64, usable_since_ms: Millis| RecoveryPoint {
            tag_ms: tag_ms(i),
            generation_bytes: millibytes_to_bytes(seg.written_at(tag_ms(i))),
            kind: policy.kind_at(tag_ms(i)),
            usable_since_ms,
        };

        // Usable-by-t2 is monotone in i (later tags have later tag times and larger offsets).
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if usable_at(mid).is_some_and(|at| at <= seg.t2) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let usable_count = lo;

        // The usable tags the log keeps one by one (a prefix: the log may be paused from a tag on);
        // of the rest only the newest and the newest app-consistent one matter.
        let mut logged = 0;
        while logged < usable_count && self.log.logs(tag_ms(logged)) {
            let at = usable_at(logged).unwrap_or(seg.t2);
            self.make_usable(point(logged, at));
            logged += 1;
        }
        if logged < usable_count {
            let last = usable_count - 1;
            if let Some(app_ms) = policy.latest_app_in(tag_ms(logged), tag_ms(last)) {
                let i = (app_ms - first) / step;
                self.make_usable(point(i, usable_at(i).unwrap_or(seg.t2)));
            }
            self.make_usable(point(last, usable_at(last).unwrap_or(seg.t2)));
        }

        // The rest wait, the applied ones (waiting out the lag) one by one, the others as one run;
        // beyond the bound only the newest are kept.
        let keep_from = usable_count.max(n.saturating_sub(MAX_PENDING_TAGS as u64));
        self.tags_discarded += keep_from - usable_count;
        let mut i = keep_from;
        while let Some(at) = (i < n).then(|| usable_at(i)).flatten() {
            self.pending.push(PendingTag {
                tag_ms: tag_ms(i),
                offset_millibytes: seg.written_at(tag_ms(i)),
                kind: policy.kind_at(tag_ms(i)),
                usable_at_ms: Some(at),
            });
            i += 1;
        }
        if i < n {
            self.pending.push_run(
                tag_ms(i),
                step,
                n - i,
                seg.written_at(tag_ms(i)),
                mul_u64(seg.churn_bps, step),
                Some(policy),
                RecoveryPointKind::CrashConsistent,
            );
        }
        self.tags_discarded += self.pending.keep_newest(MAX_PENDING_TAGS);
    }

    fn push_pending(&mut self, tag: PendingTag) {
        self.pending.push(tag);
        self.tags_discarded += self.pending.keep_newest(MAX_PENDING_TAGS);
    }

    fn make_usable(&mut self, p: RecoveryPoint) {
        self.log.push(p);
        if self.newest_usable.is_none_or(|n| p.tag_ms >= n.tag_ms) {
            self.newest_usable = Some(p);
        }
        if p.kind == RecoveryPointKind::AppConsistent
            && self.newest_usable_app.is_none_or(|n| p.tag_ms >= n.tag_ms)
        {
            self.newest_usable_app = Some(p);
        }
    }
}

#[cfg(test)]
mod tests;
