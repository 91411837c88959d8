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

/// How a run's tags get their kind, in one word: 0 and 1 a fixed kind (crash, app-consistent; a tag
/// taken on demand), 2 the policy without app-consistent tags, `3 + interval` the policy with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunKind(u64);

impl RunKind {
    fn fixed(kind: RecoveryPointKind) -> Self {
        match kind {
            RecoveryPointKind::CrashConsistent => RunKind(0),
            RecoveryPointKind::AppConsistent => RunKind(1),
        }
    }

    /// The policy's code, if its interval leaves room for one.
    fn policy(policy: TagPolicy) -> Option<Self> {
        match policy.app_consistent_interval_ms {
            None => Some(RunKind(2)),
            Some(app) => app.checked_add(3).map(RunKind),
        }
    }

    fn kind_at(self, tag_ms: Millis) -> RecoveryPointKind {
        match self.0 {
            0 => RecoveryPointKind::CrashConsistent,
            1 => RecoveryPointKind::AppConsistent,
            2 => TagPolicy {
                app_consistent_interval_ms: None,
            }
            .kind_at(tag_ms),
            code => TagPolicy {
                app_consistent_interval_ms: Some(code - 3),
            }
            .kind_at(tag_ms),
        }
    }
}

/// Unapplied tags `first_tag_ms + i·step_ms` at offsets `offset + i·offset_step`, for `i < count`.
/// 48 bytes (96 with `u64` counts and steps, a `u128` offset step and the policy inline: a fleet's
/// final initial replication keeps about 1.6 million runs, one per disk per stretch of constant churn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagRun {
    first_tag_ms: Millis,
    step_ms: u32,
    count: u32,
    offset: u128,
    offset_step: u64,
    kind: RunKind,
}

impl TagRun {
    fn tag(&self, i: u64) -> PendingTag {
        let tag_ms = self.first_tag_ms + i * u64::from(self.step_ms);
        PendingTag {
            tag_ms,
            offset_millibytes: (self.offset)
                .saturating_add(u128::from(i).saturating_mul(u128::from(self.offset_step))),
            kind: self.kind.kind_at(tag_ms),
            usable_at_ms: None,
        }
    }

    /// Drops the first `n` tags (`n < count`).
    fn skip(&mut self, n: u64) {
        let t = self.tag(n);
        self.first_tag_ms = t.tag_ms;
        self.offset = t.offset_millibytes;
        self.count -= u32::try_from(n).expect("n < count");
    }

    /// Takes `next` on when it continues this run (the same grid, kinds and offset rate).
    fn extend(&mut self, next: &TagRun) -> bool {
        // the tag after its last, if its time exists (no overflow near the end of time)
        let after = (u64::from(self.count).checked_mul(u64::from(self.step_ms)))
            .and_then(|d| self.first_tag_ms.checked_add(d))
            .map(|_| self.tag(u64::from(self.count)));
        let continues = self.kind == next.kind
            && self.step_ms == next.step_ms
            && self.offset_step == next.offset_step
            && self.count.checked_add(next.count).is_some()
            && after.is_some_and(|t| {
                (t.tag_ms, t.offset_millibytes) == (next.first_tag_ms, next.offset)
            });
        if continues {
            self.count += next.count;
        }
        continues
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

    /// The latest time at which an applied waiting tag becomes usable (not always the newest tag's:
    /// a lag that shrank makes newer tags usable sooner; they still wait behind the older ones).
    pub fn latest_applied_usable_at(&self) -> Option<Millis> {
        self.applied.iter().filter_map(|t| t.usable_at_ms).max()
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
    /// `offset_step` from `offset`, of the kinds `policy` gives (or `kind` without one). A run that
    /// continues the last one extends it.
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
        let run_kind = match policy {
            None => Some(RunKind::fixed(kind)),
            Some(p) => RunKind::policy(p),
        };
        let compact = (u32::try_from(step_ms).ok())
            .zip(u64::try_from(offset_step).ok())
            .zip(run_kind);
        let Some(((step, rate), run_kind)) = compact else {
            // beyond the compact form (steps of 50 days, petabytes per tag): one run per tag
            for i in 0..count {
                let tag_ms = first_tag_ms + i * step_ms;
                self.push_compact(TagRun {
                    first_tag_ms: tag_ms,
                    step_ms: 0,
                    count: 1,
                    offset: offset.saturating_add(u128::from(i).saturating_mul(offset_step)),
                    offset_step: 0,
                    kind: RunKind::fixed(policy.map_or(kind, |p| p.kind_at(tag_ms))),
                });
            }
            return;
        };
        let (mut first, mut offset, mut left) = (first_tag_ms, offset, count);
        while left > 0 {
            let n = u32::try_from(left).unwrap_or(u32::MAX);
            let run = TagRun {
                first_tag_ms: first,
                step_ms: step,
                count: n,
                offset,
                offset_step: rate,
                kind: run_kind,
            };
            self.push_compact(run);
            left -= u64::from(n);
            if left > 0 {
                // more than u32::MAX tags (never in a run: the caller keeps at most 4,096)
                let after = run.tag(u64::from(n));
                (first, offset) = (after.tag_ms, after.offset_millibytes);
            }
        }
    }

    fn push_compact(&mut self, run: TagRun) {
        if !self.runs.back_mut().is_some_and(|last| last.extend(&run)) {
            // grow by an eighth (at least 8 runs), not double: 30,000 disks of a long initial
            // replication keep a run per quantum of churn (a doubling's slack was 23 MB at 10k)
            if self.runs.len() == self.runs.capacity() {
                self.runs.reserve_exact((self.runs.len() / 8).max(8));
            }
            self.runs.push_back(run);
        }
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
            if u64::from(run.count) <= excess {
                self.unapplied -= u64::from(run.count);
                dropped += u64::from(run.count);
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
            let (mut lo, mut hi) = (0u64, u64::from(run.count));
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
            if lo < u64::from(run.count) {
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

    #[test]
    fn a_run_that_continues_the_last_one_extends_it() {
        assert_eq!(size_of::<TagRun>(), 48, "as the docs say");
        let policy = Some(TagPolicy::default());
        let crash = RecoveryPointKind::CrashConsistent;
        let mut p = PendingTags::default();
        p.push_run(0, 300_000, 3, 100, 7, policy, crash);
        p.push_run(900_000, 300_000, 2, 121, 7, policy, crash); // continues
        assert_eq!(p.runs.len(), 1);
        p.push_run(1_500_000, 300_000, 2, 135, 9, policy, crash); // another rate
        p.push_run(2_100_000, 300_000, 1, 999, 9, policy, crash); // another offset
        assert_eq!(p.runs.len(), 3);
        let mut one_by_one = PendingTags::default();
        for (i, (t, o)) in [
            (0, 100),
            (5, 107),
            (10, 114),
            (15, 121),
            (20, 128),
            (25, 135),
            (30, 144),
            (35, 999),
        ]
        .into_iter()
        .enumerate()
        {
            let tag_ms = t * 60_000;
            one_by_one.push_run(tag_ms, 0, 1, o, 0, policy, crash);
            assert_eq!(one_by_one.len(), i + 1);
        }
        assert_eq!(all(p), all(one_by_one));
    }

    #[test]
    fn runs_beyond_the_compact_form_keep_every_tag() {
        let policy = TagPolicy {
            app_consistent_interval_ms: Some(600_000),
        };
        let huge = u128::from(u64::MAX) + 1;
        let mut p = PendingTags::default();
        p.push_run(
            0,
            300_000,
            3,
            5,
            huge,
            Some(policy),
            RecoveryPointKind::CrashConsistent,
        );
        let tags = all(p);
        let offsets: Vec<u128> = tags.iter().map(|t| t.offset_millibytes).collect();
        assert_eq!(offsets, [5, 5 + huge, 5 + 2 * huge]);
        let kinds: Vec<_> = tags.iter().map(|t| t.kind).collect();
        use RecoveryPointKind::*;
        assert_eq!(kinds, [AppConsistent, CrashConsistent, AppConsistent]);
        // an interval too large for the run's kind code still gives the policy's kinds
        let odd = TagPolicy {
            app_consistent_interval_ms: Some(u64::MAX - 1),
        };
        let mut p = PendingTags::default();
        p.push_run(0, 300_000, 2, 0, 1, Some(odd), CrashConsistent);
        let kinds: Vec<_> = all(p).iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [AppConsistent, CrashConsistent]);
    }

    #[test]
    fn runs_at_the_end_of_time_do_not_overflow() {
        let crash = RecoveryPointKind::CrashConsistent;
        let mut p = PendingTags::default();
        p.push_run(u64::MAX - 10, 300_000, 1, 0, 7, None, crash);
        p.push_run(u64::MAX - 5, 300_000, 1, 7, 7, None, crash);
        assert_eq!(p.len(), 2);
        assert_eq!(p.runs.len(), 2, "the first run has no tag after its last");
    }
}
