//! Recovery points of one disk: tag cadence, the point value type and the INV-LOSS helpers.

use std::collections::VecDeque;

use drsim_engine::Millis;
use drsim_engine::time::MINUTE_MS;
use serde::{Deserialize, Serialize};

/// Crash-consistent recovery points are tagged every 5 minutes, fixed (DOMAIN.md §4).
pub const CRASH_CONSISTENT_INTERVAL_MS: Millis = 5 * MINUTE_MS;

/// Default app-consistent interval: 60 min (DOMAIN.md §4 failback policy "app-consistent 60 min";
/// classic default, CL-02 "consistency interval (default 1 h)").
pub const DEFAULT_APP_CONSISTENT_INTERVAL_MS: Millis = 60 * MINUTE_MS;

/// Most tags a disk keeps waiting for their data (a limit, TIGER_STYLE): 4096 five-minute tags are
/// about 14 days, beyond the longest retention (DOMAIN.md §4: 15 days). When a disk falls further
/// behind, the *oldest* waiting tags are discarded and counted ([`crate::fluid::FluidDisk::tags_discarded`]);
/// a retention window would have pruned them anyway.
pub const MAX_PENDING_TAGS: usize = 4096;

/// Consistency of a recovery point (FB-03 choices "latest processed" vs "latest app-consistent").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryPointKind {
    /// Crash-consistent: tagged every 5 min (DOMAIN.md §4), or on demand.
    CrashConsistent,
    /// Application-consistent: tagged per policy interval (1–12 h, default 60 min).
    AppConsistent,
}

/// A usable recovery point of one disk.
///
/// Its data is identified by its **generation**: the source's cumulative bytes written up to the tag
/// (INV-LOSS). Generations only grow, so a later point never holds less data than an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecoveryPoint {
    /// Tag time: the instant whose data the point captures (RPO is measured from here).
    pub tag_ms: Millis,
    /// Cumulative bytes written by the source up to `tag_ms` (whole bytes, floored).
    pub generation_bytes: u64,
    /// Crash- or app-consistent.
    pub kind: RecoveryPointKind,
    /// When every byte up to the tag had been applied on the target (plus the transfer lag): from
    /// then on the point is usable for failback.
    pub usable_since_ms: Millis,
}

impl RecoveryPoint {
    /// The generation (cumulative bytes written) the point restores: after failback to this point the
    /// on-prem disk holds exactly this generation (INV-LOSS).
    pub fn generation_bytes(&self) -> u64 {
        self.generation_bytes
    }

    /// RPO at `now` if this is the newest usable point: `now − tag`, never negative (DOMAIN.md §4).
    pub fn rpo_ms(&self, now: Millis) -> Millis {
        now.saturating_sub(self.tag_ms)
    }
}

/// Bytes lost by failing back to a point whose generation is `point_generation_bytes` when the source
/// had written `written_at_shutdown_bytes` before it was shut down (INV-LOSS): the writes after the
/// point. 0 for "latest" (FB-03: pending changes are copied first), never negative.
pub fn bytes_lost(written_at_shutdown_bytes: u64, point_generation_bytes: u64) -> u64 {
    written_at_shutdown_bytes.saturating_sub(point_generation_bytes)
}

/// Which recovery points a disk tags while it replicates.
///
/// Crash-consistent tags are fixed at every [`CRASH_CONSISTENT_INTERVAL_MS`] (DOMAIN.md §4); tags fall
/// on multiples of the interval since time 0, so the disks of one VM or replication group share tag
/// times (RG-03 common points). A tag time that is also a multiple of the app-consistent interval is
/// app-consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPolicy {
    /// App-consistent interval in ms (a positive multiple of 5 min; DOMAIN.md §4: 1–12 h), or `None`
    /// for crash-consistent points only.
    pub app_consistent_interval_ms: Option<Millis>,
}

impl Default for TagPolicy {
    /// The failback policy (DOMAIN.md §4): app-consistent every 60 min.
    fn default() -> Self {
        TagPolicy {
            app_consistent_interval_ms: Some(DEFAULT_APP_CONSISTENT_INTERVAL_MS),
        }
    }
}

impl TagPolicy {
    /// Crash-consistent tags only.
    pub fn crash_only() -> Self {
        TagPolicy {
            app_consistent_interval_ms: None,
        }
    }

    /// Checks that the app-consistent interval is a positive multiple of the 5-min crash cadence.
    pub fn validate(&self) -> Result<(), String> {
        match self.app_consistent_interval_ms {
            Some(ms) if ms == 0 || !ms.is_multiple_of(CRASH_CONSISTENT_INTERVAL_MS) => {
                Err(format!(
                    "app-consistent interval {ms} ms is not a positive multiple of {CRASH_CONSISTENT_INTERVAL_MS} ms"
                ))
            }
            _ => Ok(()),
        }
    }

    /// Kind of the scheduled tag at `tag_ms`.
    pub fn kind_at(&self, tag_ms: Millis) -> RecoveryPointKind {
        match self.app_consistent_interval_ms {
            Some(app) if app > 0 && tag_ms.is_multiple_of(app) => RecoveryPointKind::AppConsistent,
            _ => RecoveryPointKind::CrashConsistent,
        }
    }

    /// The latest app-consistent tag time in `[lo, hi]`, if any.
    pub(crate) fn latest_app_in(&self, lo: Millis, hi: Millis) -> Option<Millis> {
        let app = self.app_consistent_interval_ms.filter(|&a| a > 0)?;
        let t = hi - hi % app;
        (t >= lo && t <= hi).then_some(t)
    }
}

/// The first multiple of `step` at or after `t` (saturating at the last multiple below `u64::MAX`).
pub(crate) fn align_up(t: Millis, step: Millis) -> Millis {
    match t % step {
        0 => t,
        r => t.checked_add(step - r).unwrap_or(t - r),
    }
}

/// A tag whose data has not been applied yet (or has, but the transfer lag has not elapsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingTag {
    pub tag_ms: Millis,
    /// Source's cumulative churn at the tag, milli-bytes.
    pub offset_millibytes: u128,
    pub kind: RecoveryPointKind,
    /// Known once the data has been applied: the instant the point becomes usable.
    pub usable_at_ms: Option<Millis>,
}

impl PendingTag {
    pub fn into_point(self, usable_since_ms: Millis) -> RecoveryPoint {
        RecoveryPoint {
            tag_ms: self.tag_ms,
            generation_bytes: millibytes_to_bytes(self.offset_millibytes),
            kind: self.kind,
            usable_since_ms,
        }
    }
}

/// Whole bytes (floored) of a milli-byte amount, saturating.
pub(crate) fn millibytes_to_bytes(mb: u128) -> u64 {
    match u64::try_from(mb) {
        // a 64-bit division by a constant is a multiplication; a 128-bit one a call of `__udivti3`
        // (3 % of a 10k run): milli-byte counts stay below 2^64 (18 PB) in any real run
        Ok(small) => small / MILLIBYTES_PER_BYTE_U64,
        Err(_) => u64::try_from(mb / crate::churn::MILLIBYTES_PER_BYTE).unwrap_or(u64::MAX),
    }
}

/// [`crate::churn::MILLIBYTES_PER_BYTE`] as a `u64`.
const MILLIBYTES_PER_BYTE_U64: u64 = crate::churn::MILLIBYTES_PER_BYTE as u64;

/// Optional bounded log of points that became usable, for callers that report every point to the
/// engine (retention, FB-03 choices). Off (capacity 0) by default: a steady disk then costs O(1) per
/// advance however many tags pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PointLog {
    pub capacity: usize,
    pub points: VecDeque<RecoveryPoint>,
    pub dropped: u64,
    /// Tags from this one on are not logged (their caller computes them itself; see
    /// [`super::FluidDisk::pause_point_log_from`]).
    pub paused_from_ms: Option<Millis>,
}

impl PointLog {
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Whether a tag made usable is logged.
    pub fn logs(&self, tag_ms: Millis) -> bool {
        self.enabled() && self.paused_from_ms.is_none_or(|from| tag_ms < from)
    }

    pub fn push(&mut self, p: RecoveryPoint) {
        if !self.logs(p.tag_ms) {
            return;
        }
        if self.points.len() >= self.capacity {
            self.points.pop_front();
            self.dropped += 1;
        }
        self.points.push_back(p);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn whole_bytes_of_millibytes_on_both_sides_of_64_bits() {
        use super::millibytes_to_bytes;
        assert_eq!(millibytes_to_bytes(0), 0);
        assert_eq!(millibytes_to_bytes(1_999), 1);
        assert_eq!(millibytes_to_bytes(u128::from(u64::MAX)), u64::MAX / 1000);
        let big = u128::from(u64::MAX) + 1;
        assert_eq!(millibytes_to_bytes(big), u64::try_from(big / 1000).unwrap());
        assert_eq!(millibytes_to_bytes(u128::MAX), u64::MAX);
    }

    use super::*;
    use drsim_engine::time::HOUR_MS;

    #[test]
    fn policy_validation_and_kinds() {
        assert!(TagPolicy::default().validate().is_ok());
        assert!(TagPolicy::crash_only().validate().is_ok());
        for bad in [0, 7 * MINUTE_MS] {
            let p = TagPolicy {
                app_consistent_interval_ms: Some(bad),
            };
            assert!(p.validate().is_err());
        }
        let p = TagPolicy::default();
        assert_eq!(p.kind_at(HOUR_MS), RecoveryPointKind::AppConsistent);
        assert_eq!(
            p.kind_at(HOUR_MS + CRASH_CONSISTENT_INTERVAL_MS),
            RecoveryPointKind::CrashConsistent
        );
        assert_eq!(p.latest_app_in(0, 2 * HOUR_MS - 1), Some(HOUR_MS));
        assert_eq!(p.latest_app_in(HOUR_MS + 1, 2 * HOUR_MS - 1), None);
        assert_eq!(TagPolicy::crash_only().latest_app_in(0, 10 * HOUR_MS), None);
    }

    #[test]
    fn loss_and_alignment() {
        assert_eq!(bytes_lost(1_000, 600), 400);
        assert_eq!(bytes_lost(600, 1_000), 0);
        assert_eq!(align_up(0, 300), 0);
        assert_eq!(align_up(1, 300), 300);
        assert_eq!(align_up(300, 300), 300);
        assert_eq!(align_up(u64::MAX, 300), u64::MAX - u64::MAX % 300);
        let p = RecoveryPoint {
            tag_ms: 10,
            generation_bytes: 5,
            kind: RecoveryPointKind::CrashConsistent,
            usable_since_ms: 12,
        };
        assert_eq!(p.rpo_ms(5), 0, "never negative");
        assert_eq!(p.rpo_ms(70), 60);
    }

    #[test]
    fn log_is_bounded() {
        let mut log = PointLog {
            capacity: 2,
            ..PointLog::default()
        };
        for t in 0..5 {
            log.push(RecoveryPoint {
                tag_ms: t,
                generation_bytes: t,
                kind: RecoveryPointKind::CrashConsistent,
                usable_since_ms: t,
            });
        }
        assert_eq!(log.points.len(), 2);
        assert_eq!(log.dropped, 3);
        assert_eq!(log.points[0].tag_ms, 3);
    }
}
