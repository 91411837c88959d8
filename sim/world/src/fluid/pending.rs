//! The tags a disk keeps waiting, oldest first (issue 6: kept as runs).
//!
//! Tags whose data is applied know when they become usable (they wait out the transfer lag) and are kept
//! one by one; they are few and short-lived. Tags whose data is not applied yet — every tag of a disk
//! while its resync runs, 576 of them in a 2-day initial replication — fall on the 5-minute grid with
//! offsets that grow linearly while the churn is constant, so they are kept as runs: one per stretch of
//! constant churn instead of one 48-byte entry per tag (30,000 disks of a fleet's final initial
//! replication held gigabytes of them).

use std::collections::VecDeque;

use drsim_engine::Millis;

use super::recovery_point::{PendingTag, RecoveryPointKind, TagPolicy};

/// How a run's tags get their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// The tag policy in force when they were taken.
    Policy(TagPolicy),
    /// One kind (a tag taken on demand).
    Fixed(RecoveryPointKind),
}

/// Unapplied tags `first_tag_ms + i·step_ms` at offsets `offset + i·offset_step`, for `i < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagRun {
    first_tag_ms: Millis,
    step_ms: Millis,
    count: u64,
    offset: u128,
    offset_step: u128,
    kind: RunKind,
}

impl TagRun {
    fn tag(&self, i: u64) -> PendingTag {
        let tag_ms = self.first_tag_ms + i * self.step_ms;
        PendingTag {
            tag_ms,
            offset_millibytes: (self.offset)
                .saturating_add(u128::from(i).saturating_mul(self.offset_step)),
            kind: match self.kind {
                RunKind::Policy(p) => p.kind_at(tag_ms),
                RunKind::Fixed(k) => k,
            },
            usable_at_ms: None,
        }
    }

    /// Drops the first `n` tags (`n < count`).
    fn skip(&mut self, n: u64) {
        self.first_tag_ms += n * self.step_ms;
        self.offset = (self.offset).saturating_add(u128::from(n).saturating_mul(self.offset_step));
        self.count -= n;
    }
}

/// A disk's waiting tags: the applied ones (usable time known) one by one, then the unapplied ones as
/// runs. Tag times and offsets grow from front to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PendingTags {
    applied: VecDeque<PendingTag>,
    runs: VecDeque<TagRun>,
    unapplied: u64,
}

impl PendingTags {
    /// How many tags wait.
    pub fn len(&self) -> usize {
        self.applied.len() + usize::try_from(self.unapplied).unwrap_or(usize::MAX)
    }

    /// The oldest waiting tag.
    pub fn front(&self) -> Option<PendingTag> {
        (self.applied.front().copied()).or_else(|| self.runs.front().map(|r| r.tag(0)))
    }

    /// The oldest tag whose data is not applied yet.
    pub fn first_unapplied(&self) -> Option<PendingTag> {
        self.runs.front().map(|r| r.tag(0))
    }

    /// Appends one tag (after every waiting one).
    pub fn push(&mut self, tag: PendingTag) {
        if tag.usable_at_ms.is_some() && self.runs.is_empty() {
            self.applied.push_back(tag);
            return;
        }
        debug_assert!(tag.usable_at_ms.is_none(), "applied tags come first");
        self.push_run(tag.tag_ms, 0, 1, tag.offset_millibytes, 0, None, tag.kind);
    }

    /// Appends `count` unapplied tags taken every `step_ms` from `first_tag_ms`, at offsets growing by
    /// `offset_step` from `offset`, of the kinds `policy` gives (or `kind` without one).
    #[allow(clippy::too_many_arguments)]
    pub fn push_run(
        &mut self,
        first_tag_ms: Millis,
        step_ms: Millis,
        count: u64,
        offset: u128,
        offset_step: u128,
        policy: Option<TagPolicy>,
        kind: RecoveryPointKind,
    ) {
        if count == 0 {
            return;
        }
        self.unapplied += count;
        self.runs.push_back(TagRun {
            first_tag_ms,
            step_ms,
            count,
            offset,
            offset_step,
            kind: policy.map_or(RunKind::Fixed(kind), RunKind::Policy),
        });
    }

    /// Removes the oldest tag.
    pub fn pop_front(&mut self) -> Option<PendingTag> {
        if let Some(t) = self.applied.pop_front() {
            return Some(t);
        }
        let run = self.runs.front_mut()?;
        let t = run.tag(0);
        if run.count == 1 {
            self.runs.pop_front();
        } else {
            run.skip(1);
        }
        self.unapplied -= 1;
        Some(t)
    }

    /// Drops every tag whose data is not applied; returns how many.
    pub fn drop_unapplied(&mut self) -> u64 {
        self.runs.clear();
        std::mem::take(&mut self.unapplied)
    }

    /// Drops the oldest tags beyond `max`; returns how many.
    pub fn keep_newest(&mut self, max: usize) -> u64 {
        let mut dropped = 0;
        while self.len() > max {
            let excess = (self.len() - max) as u64;
            if !self.applied.is_empty() {
                self.applied.pop_front();
                dropped += 1;
                continue;
            }
            let run = self.runs.front_mut().expect("tags beyond the bound");
            if run.count <= excess {
                self.unapplied -= run.count;
                dropped += run.count;
                self.runs.pop_front();
            } else {
                run.skip(excess);
                self.unapplied -= excess;
                dropped += excess;
            }
        }
        dropped
    }

    /// Gives the unapplied tags, oldest first, the usable time `usable_at` finds for them, as long as
    /// it finds one (it must find one for a prefix: an offset applied means every smaller one is).
    pub fn apply(&mut self, mut usable_at: impl FnMut(&PendingTag) -> Option<Millis>) {
        while let Some(run) = self.runs.front_mut() {
            // the applied prefix of the run, by bisection (usable_at is monotone along it)
            let (mut lo, mut hi) = (0u64, run.count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if usable_at(&run.tag(mid)).is_some() {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            for i in 0..lo {
                let mut t = run.tag(i);
                t.usable_at_ms = usable_at(&t);
                self.applied.push_back(t);
            }
            self.unapplied -= lo;
            if lo < run.count {
                run.skip(lo);
                return;
            }
            self.runs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash(tag_ms: Millis, offset: u128) -> PendingTag {
        PendingTag {
            tag_ms,
            offset_millibytes: offset,
            kind: RecoveryPointKind::CrashConsistent,
            usable_at_ms: None,
        }
    }

    /// Pops every tag.
    fn all(mut p: PendingTags) -> Vec<PendingTag> {
        std::iter::from_fn(|| p.pop_front()).collect()
    }

    #[test]
    fn runs_hold_the_tags_they_stand_for() {
        let mut p = PendingTags::default();
        let policy = TagPolicy::default(); // app-consistent on the hour
        p.push_run(
            50 * 60_000,
            300_000,
            4,
            1_000,
            7,
            Some(policy),
            RecoveryPointKind::CrashConsistent,
        );
        p.push(crash(80 * 60_000, 9_999));
        assert_eq!(p.len(), 5);
        assert_eq!(p.first_unapplied(), Some(crash(50 * 60_000, 1_000)));
        let tags = all(p.clone());
        let times: Vec<_> = tags.iter().map(|t| t.tag_ms / 60_000).collect();
        assert_eq!(times, [50, 55, 60, 65, 80]);
        let offsets: Vec<_> = tags.iter().map(|t| t.offset_millibytes).collect();
        assert_eq!(offsets, [1_000, 1_007, 1_014, 1_021, 9_999]);
        assert_eq!(tags[2].kind, RecoveryPointKind::AppConsistent);
        assert_eq!(tags[1].kind, RecoveryPointKind::CrashConsistent);
        // the oldest beyond the bound go first
        assert_eq!(p.keep_newest(2), 3);
        assert_eq!(
            all(p).iter().map(|t| t.tag_ms / 60_000).collect::<Vec<_>>(),
            [65, 80]
        );
    }

    #[test]
    fn applying_moves_the_applied_prefix_with_its_usable_times() {
        let mut p = PendingTags::default();
        p.push_run(0, 10, 5, 100, 10, None, RecoveryPointKind::CrashConsistent);
        p.push_run(50, 10, 5, 150, 20, None, RecoveryPointKind::CrashConsistent);
        // offsets 100..=140 then 150..=230: everything up to offset 170 is applied
        p.apply(|t| (t.offset_millibytes <= 170).then_some(t.tag_ms + 1));
        assert_eq!(p.len(), 10);
        assert_eq!(p.first_unapplied(), Some(crash(70, 190)));
        let f = p.front().expect("a tag");
        assert_eq!((f.tag_ms, f.usable_at_ms), (0, Some(1)));
        let tags = all(p.clone());
        assert_eq!(tags.iter().filter(|t| t.usable_at_ms.is_some()).count(), 7);
        assert_eq!(tags[6].usable_at_ms, Some(61));
        assert_eq!(p.drop_unapplied(), 3);
        assert_eq!(p.len(), 7);
    }
}
