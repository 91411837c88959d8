//! When the streams a share holds in virtual time were listed, as far as the share needs it: the
//! oldest listing time, up to which its service curve is kept (issue 6).
//!
//! Streams are listed at the kernel's now, so listing times never decrease: the listings are a queue
//! of (time, how many streams listed then are still listed), and a stream keeps the *ticket* of its
//! time's entry (its place in that queue counted from the first listing ever). Unlisting is then one
//! decrement at a known place, and the oldest time is the queue's front once the emptied entries
//! there are dropped. A tree of `(time, flow)` did the same in `log n` node visits per listing and per
//! unlisting, at 30,000 streams of a 10,000-machine reprotect two of the costliest lookups of a
//! wake-up; a queue found by bisection instead added cache misses (a bisection over thousands of
//! times per unlisting).

use std::collections::VecDeque;

use drsim_engine::Millis;

/// Listing times, oldest first, with how many streams listed at each are still listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Listings {
    /// `(time, streams still listed from then)`, times strictly increasing. An entry whose count fell
    /// to 0 stays until every older one is gone too (its place is how tickets find entries).
    times: VecDeque<(Millis, u32)>,
    /// The ticket of the front entry.
    front_ticket: u64,
}

/// Which listing time a listed stream counts in ([`Listings::add`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Listings {
    /// Lists a stream at `now`, which is not before any listing still held (the kernel's now).
    pub(crate) fn add(&mut self, now: Millis) -> Ticket {
        match self.times.back_mut() {
            Some((t, n)) if *t == now => *n += 1,
            back => {
                assert!(
                    back.is_none_or(|(t, _)| *t < now),
                    "streams are listed at the kernel's now, which never goes back"
                );
                self.times.push_back((now, 1));
            }
        }
        Ticket(self.front_ticket + self.times.len() as u64 - 1)
    }

    /// Unlists a stream listed with `ticket` (once).
    pub(crate) fn remove(&mut self, ticket: Ticket) {
        let at = (ticket.0.checked_sub(self.front_ticket))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.times.get_mut(i));
        let Some((_, n)) = at.filter(|(_, n)| *n > 0) else {
            debug_assert!(false, "ticket {ticket:?} is not listed");
            return;
        };
        *n -= 1;
        while self.times.front().is_some_and(|&(_, n)| n == 0) {
            self.times.pop_front();
            self.front_ticket += 1;
        }
    }

    /// The oldest time at which a stream still listed was listed.
    pub(crate) fn oldest(&self) -> Option<Millis> {
        self.times.front().map(|&(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_oldest_listing_moves_on_once_every_stream_listed_then_is_unlisted() {
        let mut l = Listings::default();
        assert_eq!(l.oldest(), None);
        let a = l.add(10);
        let b = l.add(10);
        let c = l.add(20);
        let d = l.add(30);
        assert_eq!((a, b), (Ticket(0), Ticket(0)), "one entry per time");
        assert_eq!(l.oldest(), Some(10));
        l.remove(c); // a newer one: the oldest stays
        assert_eq!(l.oldest(), Some(10));
        l.remove(a);
        assert_eq!(l.oldest(), Some(10), "b is still listed from 10");
        l.remove(b); // 10 empties, and so does 20 behind it
        assert_eq!(l.oldest(), Some(30));
        assert_eq!(l.times.len(), 1);
        let e = l.add(40);
        l.remove(d);
        assert_eq!(l.oldest(), Some(40));
        l.remove(e);
        assert_eq!(l.oldest(), None);
        let f = l.add(50); // tickets go on counting after the queue emptied
        assert_eq!(f, Ticket(4));
        assert_eq!(l.oldest(), Some(50));
    }

    #[test]
    #[should_panic(expected = "never goes back")]
    fn a_listing_before_the_newest_is_refused() {
        let mut l = Listings::default();
        l.add(20);
        l.add(10);
    }

    proptest! {
        /// Against the tree of (time, stream) it replaced: the same oldest time after every step.
        #[test]
        fn listings_keep_the_oldest_time_a_tree_of_listings_keeps(
            steps in prop::collection::vec((0u64..3, any::<bool>(), any::<prop::sample::Index>()), 1..200)
        ) {
            let mut l = Listings::default();
            let mut tree = std::collections::BTreeSet::new();
            let mut listed: Vec<(Millis, u64, Ticket)> = Vec::new();
            let (mut now, mut next_stream) = (0, 0u64);
            for (dt, add, pick) in steps {
                now += dt;
                if add || listed.is_empty() {
                    let ticket = l.add(now);
                    tree.insert((now, next_stream));
                    listed.push((now, next_stream, ticket));
                    next_stream += 1;
                } else {
                    let (t, s, ticket) = listed.swap_remove(pick.index(listed.len()));
                    l.remove(ticket);
                    tree.remove(&(t, s));
                }
                prop_assert_eq!(l.oldest(), tree.first().map(|&(t, _)| t));
            }
        }
    }
}
