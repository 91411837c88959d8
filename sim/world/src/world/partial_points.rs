//! A machine's points seen usable on some of its replicated disks but not yet on every one, by tag
//! (a VM-level point needs the tag on every disk: RJ-09).
//!
//! Why not a map from tag to a vector of generations (what it was): when a long initial replication
//! ends, its disks finish days apart and each makes its thousands of waiting tags usable as its
//! backlog drains; every one became a tree entry with a vector of its own, allocated, searched, freed
//! (issue 6: a third of `fleet-1k-7d` run to 30 days). Here the tags sit in one ring in tag order and
//! their generations in another, `width` per tag: a disk's tags arrive in tag order, so a note lands
//! at the back or on a tag already there, and points complete oldest first, so they leave from the
//! front.

use std::collections::VecDeque;

use drsim_engine::Millis;
use drsim_engine::recovery_point::PointKind;

/// One tag seen on some disks: its kind so far (the least consistent of its disks') and whether it was
/// taken (complete) since the last [`PartialPoints::drop_through`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    tag_ms: Millis,
    kind: PointKind,
    taken: bool,
}

/// The partial points of one replication, oldest tag first.
#[derive(Clone, Debug, Default)]
pub struct PartialPoints {
    /// Disks per point: the replication's replicated disks, set by the first note.
    width: usize,
    /// Tags in ascending order.
    seen: VecDeque<Seen>,
    /// `width` generations per tag, in the tags' order; `None` where that disk has not seen it yet.
    generations: VecDeque<Option<u64>>,
    /// How many of `seen` are taken.
    taken: usize,
    /// Where the last tag looked for was (a search starts there).
    hint: usize,
}

impl PartialPoints {
    /// Whether no point waits for a disk.
    pub fn is_empty(&self) -> bool {
        self.seen.len() == self.taken
    }

    /// How many points wait for a disk.
    pub fn len(&self) -> usize {
        self.seen.len() - self.taken
    }

    /// Disk `k` of `width` has the point `tag_ms` of `kind`, at `generation`.
    pub fn note(
        &mut self,
        width: usize,
        k: usize,
        tag_ms: Millis,
        kind: PointKind,
        generation: u64,
    ) {
        if self.seen.is_empty() {
            self.width = width;
        }
        debug_assert_eq!(self.width, width, "one replication's disks");
        debug_assert!(k < self.width);
        let w = self.width;
        let i = match self.position(tag_ms) {
            Ok(i) => {
                let s = &mut self.seen[i];
                s.kind = s.kind.min(kind);
                i
            }
            Err(i) => {
                self.seen.insert(
                    i,
                    Seen {
                        tag_ms,
                        kind,
                        taken: false,
                    },
                );
                if i == self.seen.len() - 1 {
                    self.generations.extend(std::iter::repeat_n(None, w));
                } else {
                    for _ in 0..w {
                        self.generations.insert(i * w, None);
                    }
                }
                i
            }
        };
        if let Some(g) = self.generations.get_mut(i * w + k) {
            *g = Some(generation);
        }
    }

    /// Takes the point `tag_ms` if every disk has seen it: its kind, its generations into `out`
    /// (cleared first; disk order).
    pub fn take_complete(&mut self, tag_ms: Millis, out: &mut Vec<u64>) -> Option<PointKind> {
        let i = self.position(tag_ms).ok()?;
        let w = self.width;
        let s = self.seen[i];
        let gens = self.generations.range(i * w..(i + 1) * w);
        if s.taken || !gens.clone().all(Option::is_some) {
            return None;
        }
        out.clear();
        out.extend(gens.map(|g| g.unwrap_or(0)));
        self.seen[i].taken = true;
        self.taken += 1;
        Some(s.kind)
    }

    /// Drops the points tagged at most `last` and `now` (older than the newest complete point, they can
    /// no longer complete in order) and those taken.
    pub fn drop_through(&mut self, last: Option<Millis>, now: Millis) {
        let w = self.width;
        while let Some(s) = self.seen.front() {
            let stale = last.is_some_and(|l| s.tag_ms <= l && s.tag_ms <= now);
            if !(s.taken || stale) {
                break;
            }
            if s.taken {
                self.taken -= 1;
            }
            self.seen.pop_front();
            self.generations.drain(..w);
        }
        if self.taken > 0 {
            // taken behind a point that still waits (rare: a disk that skipped a tag)
            let mut kept = 0;
            for i in 0..self.seen.len() {
                if self.seen[i].taken {
                    continue;
                }
                if kept != i {
                    self.seen[kept] = self.seen[i];
                    for k in 0..w {
                        self.generations[kept * w + k] = self.generations[i * w + k];
                    }
                }
                kept += 1;
            }
            self.seen.truncate(kept);
            self.generations.truncate(kept * w);
            self.taken = 0;
        }
        if self.seen.is_empty() {
            // emptied rings keep their buffers: ≈ 10,000 machines' worth after a fleet's replication
            *self = Self::default();
        }
    }

    /// Where `tag_ms` is (`Ok`) or would go (`Err`). Looked for first at the back, where a disk's new
    /// tags land, then next to the last one found: notes and takes walk their tags in ascending order.
    fn position(&mut self, tag_ms: Millis) -> Result<usize, usize> {
        let len = self.seen.len();
        match self.seen.back() {
            None => return Err(0),
            Some(b) if b.tag_ms < tag_ms => return Err(len),
            Some(_) => {}
        }
        let h = self.hint.min(len - 1);
        let (mut lo, mut hi) = match self.seen[h].tag_ms.cmp(&tag_ms) {
            std::cmp::Ordering::Equal => return Ok(h),
            std::cmp::Ordering::Less => (h + 1, len),
            std::cmp::Ordering::Greater => (0, h),
        };
        // (the tag after the hint, as a rule; else a bisection of the side it is on)
        if lo < hi && self.seen[lo].tag_ms >= tag_ms {
            hi = lo;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seen[mid].tag_ms < tag_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.hint = lo;
        if self.seen.get(lo).is_some_and(|s| s.tag_ms == tag_ms) {
            Ok(lo)
        } else {
            Err(lo)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PointKind::{App, Crash};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;

    /// The map this replaces, as `collect_points` used it: the reference for the property test.
    #[derive(Default)]
    struct Reference(BTreeMap<Millis, (PointKind, Vec<Option<u64>>)>);

    impl Reference {
        fn note(&mut self, n: usize, k: usize, tag: Millis, kind: PointKind, g: u64) {
            let e = self.0.entry(tag).or_insert((kind, vec![None; n]));
            e.0 = e.0.min(kind);
            e.1[k] = Some(g);
        }
        fn take_complete(&mut self, tag: Millis) -> Option<(PointKind, Vec<u64>)> {
            if !(self.0.get(&tag)).is_some_and(|(_, g)| g.iter().all(Option::is_some)) {
                return None;
            }
            let (kind, gens) = self.0.remove(&tag)?;
            Some((kind, gens.into_iter().map(|g| g.unwrap_or(0)).collect()))
        }
        fn drop_through(&mut self, last: Option<Millis>, now: Millis) {
            if let Some(last) = last {
                while (self.0.first_key_value()).is_some_and(|(t, _)| *t <= last && *t <= now) {
                    self.0.pop_first();
                }
            }
        }
    }

    #[test]
    fn a_point_completes_once_every_disk_has_it_and_keeps_the_least_consistent_kind() {
        let mut p = PartialPoints::default();
        let mut out = Vec::new();
        p.note(2, 0, 300, App, 10);
        p.note(2, 0, 600, Crash, 20);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p.take_complete(300, &mut out),
            None,
            "disk 1 has not seen it"
        );
        p.note(2, 1, 300, Crash, 7);
        assert_eq!(p.take_complete(300, &mut out), Some(Crash));
        assert_eq!(out, [10, 7]);
        assert_eq!(p.take_complete(300, &mut out), None, "taken once");
        assert_eq!(p.len(), 1);
        p.drop_through(Some(300), 1_000);
        assert_eq!(p.len(), 1, "600 is newer than the newest complete point");
        p.drop_through(Some(600), 1_000);
        assert!(p.is_empty());
    }

    #[test]
    fn a_tag_one_disk_skipped_waits_until_a_newer_point_completes() {
        let mut p = PartialPoints::default();
        let mut out = Vec::new();
        for t in [100, 200, 300] {
            p.note(2, 0, t, Crash, t);
        }
        p.note(2, 1, 300, Crash, 3); // disk 1 dropped 100 and 200
        assert_eq!(p.take_complete(300, &mut out), Some(Crash));
        assert_eq!(p.len(), 2, "taken behind two that wait");
        p.drop_through(None, 1_000);
        assert_eq!(p.len(), 2, "no complete point yet: they stay");
        p.drop_through(Some(300), 150);
        assert_eq!(p.len(), 1, "100 is past; 200 is later than now");
        p.drop_through(Some(300), 1_000);
        assert!(p.is_empty());
    }

    #[test]
    fn it_takes_and_drops_what_the_map_did() {
        for seed in 1..300u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n = rng.random_range(1..=4usize);
            let (mut p, mut r) = (PartialPoints::default(), Reference::default());
            // each disk's tags ascend; some disks skip some tags
            let mut next_tag = vec![0u64; n];
            let mut last_complete = None;
            let mut out = Vec::new();
            // `now` sometimes behind the newest tags, so the drop rule's `≤ now` and the compaction of
            // points taken behind ones that wait are both exercised
            for now in (1..60u64).map(|i| i * 1_000 / (1 + seed % 8)) {
                let mut logged = Vec::new();
                for (k, tag) in next_tag.iter_mut().enumerate() {
                    for _ in 0..rng.random_range(0..4) {
                        *tag += 100 * rng.random_range(1..=3u64);
                        let t = *tag;
                        let kind = if rng.random_ratio(1, 3) { App } else { Crash };
                        let g = rng.random_range(0..1_000u64);
                        p.note(n, k, t, kind, g);
                        r.note(n, k, t, kind, g);
                        logged.push(t);
                    }
                }
                logged.sort_unstable();
                logged.dedup();
                for t in logged {
                    let got = p.take_complete(t, &mut out).map(|k| (k, out.clone()));
                    assert_eq!(got, r.take_complete(t), "seed {seed}, tag {t}");
                    if got.is_some() {
                        last_complete = Some(t);
                    }
                }
                p.drop_through(last_complete, now);
                r.drop_through(last_complete, now);
                assert_eq!(p.len(), r.0.len(), "seed {seed} at {now}");
                let tags: Vec<_> = (p.seen.iter()).map(|s| s.tag_ms).collect();
                assert_eq!(tags, r.0.keys().copied().collect::<Vec<_>>());
            }
        }
    }
}
