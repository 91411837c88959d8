//! The kernel's pending-event priority queue: an implicit `D`-ary min-heap of compact
//! [`Entry`] keys (24 bytes each), payloads live elsewhere (see the parent module).
//!
//! Every entry has a distinct `(time, seq)` key, so the order in which entries come out is fully
//! determined by the keys, never by the heap's internal layout: any correct heap (or a rebuild of
//! this one) pops the same sequence.

use drsim_engine::Millis;

/// One pending event as the heap sees it: when, its global insertion number, and where its payload
/// is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// When the event fires.
    pub(super) time: Millis,
    /// Global insertion number: breaks ties between equal times in FIFO order.
    pub(super) seq: u64,
    /// Index of the payload slot.
    pub(super) slot: u32,
}

impl Entry {
    /// The ordering key, `(time, seq)` as one integer: one wide compare instead of two branches.
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

/// An implicit `D`-ary min-heap of [`Entry`] ordered by `(time, seq)`.
///
/// `pop` uses the "hole to the bottom, then sift up" scheme (as `std::collections::BinaryHeap`
/// does): the hole left by the root walks down along the smallest children to a leaf without
/// comparing against the moved element, which is then sifted up from there. The last element
/// usually belongs near the bottom, so this saves about one compare per level.
#[derive(Clone, Debug, Default)]
pub(super) struct DaryHeap<const D: usize> {
    v: Vec<Entry>,
}

impl<const D: usize> DaryHeap<D> {
    /// An empty heap with room for `n` entries.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            v: Vec::with_capacity(n),
        }
    }

    /// Number of entries (including stale ones the kernel has not purged yet).
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.v.len()
    }

    /// The smallest entry.
    #[inline]
    pub(super) fn peek(&self) -> Option<&Entry> {
        self.v.first()
    }

    /// Adds an entry.
    #[inline]
    pub(super) fn push(&mut self, e: Entry) {
        self.v.push(e);
        let last = self.v.len() - 1;
        self.sift_up(last, e);
    }

    /// Removes and returns the smallest entry.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.v[0], last);
        self.sift_down_to_bottom(last);
        Some(top)
    }

    /// Keeps only the entries for which `keep` is true and restores the heap property (O(n)).
    pub(super) fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        self.v.retain(keep);
        let n = self.v.len();
        if n > 1 {
            for i in (0..=(n - 2) / D).rev() {
                self.sift_down(i);
            }
        }
    }

    /// Moves `e` (already stored at `pos`) up to its place.
    #[inline(always)]
    fn sift_up(&mut self, mut pos: usize, e: Entry) {
        let v = &mut self.v[..];
        let k = e.key();
        while pos > 0 {
            let parent = (pos - 1) / D;
            if v[parent].key() <= k {
                break;
            }
            v[pos] = v[parent];
            pos = parent;
        }
        v[pos] = e;
    }

    /// The offset (in `0..D`) and key of the smallest of exactly `D` siblings. The array has a
    /// fixed size so everything unrolls and the selects become conditional moves rather than
    /// branches (which would mispredict about half the time on random keys). For `D` = 4 and 8 a
    /// pairwise tournament keeps the dependency chain `log2 D` compares long instead of `D - 1`.
    #[inline(always)]
    fn min_of_full(kids: &[Entry; D]) -> (usize, u128) {
        #[inline(always)]
        fn pick(a: (usize, u128), b: (usize, u128)) -> (usize, u128) {
            if b.1 < a.1 { b } else { a }
        }
        let k = |i: usize| (i, kids[i].key());
        match D {
            4 => pick(pick(k(0), k(1)), pick(k(2), k(3))),
            8 => pick(
                pick(pick(k(0), k(1)), pick(k(2), k(3))),
                pick(pick(k(4), k(5)), pick(k(6), k(7))),
            ),
            _ => (1..D).fold(k(0), |best, i| pick(best, k(i))),
        }
    }

    /// The offset and key of the smallest of `1..=D` siblings (the last, partial node).
    #[inline(always)]
    fn min_of_some(kids: &[Entry]) -> (usize, u128) {
        let mut best = 0;
        let mut best_key = kids[0].key();
        for (c, kid) in kids.iter().enumerate().skip(1) {
            let k = kid.key();
            if k < best_key {
                best = c;
                best_key = k;
            }
        }
        (best, best_key)
    }

    /// The smallest child of `pos` as `(index, key)`, or `None` for a leaf.
    #[inline(always)]
    fn min_child(v: &[Entry], pos: usize) -> Option<(usize, u128)> {
        let first = D * pos + 1;
        if let Some(kids) = v.get(first..first + D) {
            let kids: &[Entry; D] = kids.try_into().expect("a slice of length D");
            let (c, k) = Self::min_of_full(kids);
            Some((first + c, k))
        } else if first < v.len() {
            let (c, k) = Self::min_of_some(&v[first..]);
            Some((first + c, k))
        } else {
            None
        }
    }

    /// Root hole walks to a leaf along minimal children, then `e` (the former last element, now at
    /// the root) is placed there and sifted up.
    #[inline(always)]
    fn sift_down_to_bottom(&mut self, e: Entry) {
        let v = &mut self.v[..];
        let mut pos = 0;
        while let Some((best, _)) = Self::min_child(v, pos) {
            v[pos] = v[best];
            pos = best;
        }
        self.sift_up(pos, e);
    }

    /// Classic sift-down of the element at `pos` (used by `retain`'s heapify).
    fn sift_down(&mut self, mut pos: usize) {
        let v = &mut self.v[..];
        let e = v[pos];
        let k = e.key();
        while let Some((best, best_key)) = Self::min_child(v, pos) {
            if best_key >= k {
                break;
            }
            v[pos] = v[best];
            pos = best;
        }
        v[pos] = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<const D: usize>(h: &mut DaryHeap<D>) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| h.pop().map(|e| (e.time, e.seq))).collect()
    }

    fn check<const D: usize>() {
        // A fixed pseudo-random sequence (LCG) of times, many duplicates.
        let mut x: u64 = 12345;
        let mut h = DaryHeap::<D>::with_capacity(0);
        let mut all = Vec::new();
        for seq in 0..2000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let time = (x >> 33) % 50;
            h.push(Entry {
                time,
                seq,
                slot: seq as u32,
            });
            all.push((time, seq));
        }
        h.retain(|e| e.seq % 3 != 0);
        all.retain(|&(_, s)| s % 3 != 0);
        all.sort_unstable();
        assert_eq!(drain(&mut h), all);
    }

    #[test]
    fn dary_heaps_sort() {
        check::<2>();
        check::<3>();
        check::<4>();
        check::<8>();
    }
}
