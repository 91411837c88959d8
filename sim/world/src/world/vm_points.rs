//! A machine's VM-level recovery points on its master target, stored by column (issue 6).
//!
//! The MT keeps every point of the last 2 h and one an hour for 15 days (`plane::thin_points`), so at
//! a failback each machine of a fleet holds ≈ 384 points. As one [`VmPoint`] each (its own generations
//! `Vec`, a shared disk list, the deque's slot) a point took ≈ 100 B: 231 MB at the 10k bench's peak,
//! and the failback cloned them all once more to keep them until commit. Here a point is its tag, its
//! kind and one generation per replicated disk in flat columns (33 B for three disks), the disk list is
//! the store's, and a failback moves the store instead of cloning it.
//!
//! Points are kept in tag order, newest last; a point no newer than the newest is dropped (a later one
//! would break the order every reader relies on, e.g. [`VmPoints::find`]'s bisection).

use super::machine::VmPoint;
use drsim_engine::Millis;
use drsim_engine::recovery_point::PointKind;
use std::sync::Arc;

/// The usable VM-level points of one replication (or kept from it until commit), oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmPoints {
    /// The replicated disks every point has a generation for (RP-19, RJ-09 exclusions left out).
    disks: Arc<[usize]>,
    /// Tag times, strictly increasing.
    tags: Vec<Millis>,
    /// Consistency, per point.
    kinds: Vec<PointKind>,
    /// `disks.len()` source generations per point, point after point.
    generations: Vec<u64>,
}

/// One point of a [`VmPoints`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointRef<'a> {
    /// Tag time.
    pub tag_ms: Millis,
    /// Consistency.
    pub kind: PointKind,
    /// The source generation of each replicated disk at the tag (in the order of [`VmPoints::disks`]).
    pub generations: &'a [u64],
    /// Which of the machine's disks `generations` are for.
    pub disks: &'a Arc<[usize]>,
}

impl PointRef<'_> {
    /// The point as an owned [`VmPoint`] (what a recovery keeps).
    pub fn to_point(&self) -> VmPoint {
        VmPoint {
            tag_ms: self.tag_ms,
            kind: self.kind,
            generations: self.generations.to_vec(),
            disks: self.disks.clone(),
        }
    }
}

impl VmPoints {
    /// No points yet, for a replication of `disks`.
    pub fn new(disks: &[usize]) -> Self {
        Self {
            disks: disks.into(),
            tags: Vec::new(),
            kinds: Vec::new(),
            generations: Vec::new(),
        }
    }

    /// The replicated disks the points are for.
    pub fn disks(&self) -> &[usize] {
        &self.disks
    }

    /// How many points.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Point `i` (oldest first).
    pub fn get(&self, i: usize) -> Option<PointRef<'_>> {
        let tag_ms = *self.tags.get(i)?;
        let w = self.disks.len();
        Some(PointRef {
            tag_ms,
            kind: self.kinds[i],
            generations: &self.generations[i * w..(i + 1) * w],
            disks: &self.disks,
        })
    }

    /// The newest point.
    pub fn back(&self) -> Option<PointRef<'_>> {
        self.get(self.len().checked_sub(1)?)
    }

    /// The newest point's tag.
    pub fn last_tag(&self) -> Option<Millis> {
        self.tags.last().copied()
    }

    /// The point tagged at `tag_ms`, if kept (bisection: tags are in order).
    pub fn find(&self, tag_ms: Millis) -> Option<PointRef<'_>> {
        self.get(self.tags.binary_search(&tag_ms).ok()?)
    }

    /// Every point, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = PointRef<'_>> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.get(i).expect("in range"))
    }

    /// Appends a point newer than every kept one, with one generation per replicated disk; a point no
    /// newer than the newest is dropped. Whether it was added.
    ///
    /// # Panics
    /// If `generations` does not yield one value per disk (a bug in the caller).
    pub fn push(
        &mut self,
        tag_ms: Millis,
        kind: PointKind,
        generations: impl IntoIterator<Item = u64>,
    ) -> bool {
        if self.last_tag().is_some_and(|last| last >= tag_ms) {
            return false;
        }
        self.append(tag_ms, kind, generations);
        true
    }

    /// Adds a final sync's point (FB-03 "latest") in tag order: a point of the same tag (the regular
    /// point of the tag the final sync was asked at) takes the final sync's generations, the one a
    /// failback to it recovers, and stays app-consistent if it was (as the engine merges the two).
    pub fn push_final(
        &mut self,
        tag_ms: Millis,
        kind: PointKind,
        generations: impl IntoIterator<Item = u64>,
    ) {
        let w = self.disks.len();
        let at = self.tags.partition_point(|&t| t < tag_ms);
        if at == self.len() {
            self.append(tag_ms, kind, generations);
            return;
        }
        let gens: Vec<u64> = generations.into_iter().collect();
        assert_eq!(gens.len(), w, "one generation per replicated disk");
        if self.tags[at] == tag_ms {
            self.kinds[at] = self.kinds[at].max(kind);
            self.generations[at * w..(at + 1) * w].copy_from_slice(&gens);
        } else {
            // older than the newest point (not seen in any run: the source is off from the tag on)
            self.tags.insert(at, tag_ms);
            self.kinds.insert(at, kind);
            self.generations.splice(at * w..at * w, gens);
        }
    }

    fn append(
        &mut self,
        tag_ms: Millis,
        kind: PointKind,
        generations: impl IntoIterator<Item = u64>,
    ) {
        if self.tags.len() == self.tags.capacity() {
            // grow by an eighth (at least 4 points), not double: 10,000 machines keep weeks of points,
            // and a doubling's slack was ≈ 90 MB at the 10k failback (issue 6)
            self.reserve_exact((self.tags.len() / 8).max(4));
        }
        self.tags.push(tag_ms);
        self.kinds.push(kind);
        self.generations.extend(generations);
        assert_eq!(
            self.generations.len(),
            self.tags.len() * self.disks.len(),
            "one generation per replicated disk"
        );
    }

    /// Room for `n` more points, exactly.
    pub fn reserve_exact(&mut self, n: usize) {
        self.tags.reserve_exact(n);
        self.kinds.reserve_exact(n);
        self.generations.reserve_exact(n * self.disks.len());
    }

    /// Drops every point (a commit deletes them on the MT).
    pub fn clear(&mut self) {
        self.tags.clear();
        self.kinds.clear();
        self.generations.clear();
    }

    /// Keeps the points whose `keep[i]` is true, in order.
    ///
    /// # Panics
    /// If `keep` is not one flag per point.
    pub fn retain_marked(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.len(), "one flag per point");
        let w = self.disks.len();
        let mut to = 0;
        for (from, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            self.tags[to] = self.tags[from];
            self.kinds[to] = self.kinds[from];
            self.generations
                .copy_within(from * w..(from + 1) * w, to * w);
            to += 1;
        }
        self.tags.truncate(to);
        self.kinds.truncate(to);
        self.generations.truncate(to * w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> VmPoints {
        let mut p = VmPoints::new(&[0, 2]);
        assert!(p.push(10, PointKind::Crash, [1, 2]));
        assert!(p.push(20, PointKind::App, [3, 4]));
        assert!(p.push(30, PointKind::Crash, [5, 6]));
        p
    }

    #[test]
    fn points_read_back_as_pushed_and_out_of_order_ones_are_dropped() {
        let mut p = store();
        assert!(!p.push(30, PointKind::App, [7, 8]), "same tag");
        assert!(!p.push(5, PointKind::App, [7, 8]), "older tag");
        assert_eq!(p.len(), 3);
        let mid = p.find(20).expect("kept");
        assert_eq!(
            (mid.tag_ms, mid.kind, mid.generations),
            (20, PointKind::App, &[3, 4][..])
        );
        assert_eq!(&**mid.disks, &[0, 2]);
        assert!(p.find(25).is_none());
        assert_eq!(p.back().map(|b| b.generations), Some(&[5, 6][..]));
        let owned = p.get(0).expect("first").to_point();
        assert_eq!(owned.generations, vec![1, 2]);
        assert_eq!(&*owned.disks, &[0, 2]);
        let tags: Vec<Millis> = p.iter().rev().map(|x| x.tag_ms).collect();
        assert_eq!(tags, vec![30, 20, 10]);
    }

    #[test]
    fn retained_points_keep_their_own_generations() {
        let mut p = store();
        p.retain_marked(&[true, false, true]);
        let all: Vec<(Millis, Vec<u64>)> = (p.iter())
            .map(|x| (x.tag_ms, x.generations.to_vec()))
            .collect();
        assert_eq!(all, vec![(10, vec![1, 2]), (30, vec![5, 6])]);
        assert!(p.push(40, PointKind::Crash, [9, 9]));
        assert_eq!(p.find(40).map(|x| x.generations), Some(&[9, 9][..]));
        p.clear();
        assert!(p.is_empty() && p.back().is_none());
    }

    #[test]
    fn a_final_sync_point_replaces_the_regular_one_of_its_tag() {
        let mut p = store();
        p.push_final(30, PointKind::App, [7, 8]);
        assert_eq!(p.len(), 3);
        let at = |p: &VmPoints, t| p.find(t).map(|x| (x.kind, x.generations.to_vec()));
        assert_eq!(at(&p, 30), Some((PointKind::App, vec![7, 8])));
        // an app-consistent point stays so
        p.push_final(20, PointKind::Crash, [5, 5]);
        assert_eq!(at(&p, 20), Some((PointKind::App, vec![5, 5])));
        // an older tag goes in its place, a newer one at the end
        p.push_final(25, PointKind::Crash, [0, 1]);
        p.push_final(35, PointKind::Crash, [9, 9]);
        let tags: Vec<Millis> = p.iter().map(|x| x.tag_ms).collect();
        assert_eq!(tags, vec![10, 20, 25, 30, 35]);
        assert_eq!(at(&p, 25), Some((PointKind::Crash, vec![0, 1])));
        assert_eq!(at(&p, 35), Some((PointKind::Crash, vec![9, 9])));
        assert_eq!(at(&p, 10), Some((PointKind::Crash, vec![1, 2])));
    }

    #[test]
    #[should_panic(expected = "one generation per replicated disk")]
    fn a_point_needs_a_generation_per_disk() {
        store().push(40, PointKind::Crash, [1]);
    }
}
