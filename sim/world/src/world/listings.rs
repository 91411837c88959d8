//! When the streams a share holds in virtual time were listed, as far as the share needs it: the
//! oldest listing time, up to which its service curve is kept (issue 6).
//!
//! Streams are listed at the kernel's now, so listing times never decrease: the listings are a queue
//! of spans of [`SPAN_MS`] (the first listing time in it, how many streams listed in it are still
//! listed), and a stream keeps the *ticket* of its span (its place in that queue counted from the
//! first span ever). Unlisting is then one decrement at a known place, and the oldest time is the
//! queue's front once the emptied spans there are dropped: the start of the oldest span still
//! holding a stream, at most [`SPAN_MS`] before the oldest stream's own listing. The curve is then
//! kept that much further back than needed, which changes no reading of it (every stream reads it
//! from its own time on), and the queue holds one entry per span, however many distinct instants
//! streams were listed at (one per instant was a quarter of a million entries at 10,000 machines,
//! and unbounded while one stream waits for days).
//!
//! A tree of `(time, flow)` did the same in `log n` node visits per listing and per unlisting, at
//! 30,000 streams of a 10,000-machine reprotect two of the costliest lookups of a wake-up; a queue
//! found by bisection instead added cache misses (a bisection over thousands of times per
//! unlisting).

use std::collections::VecDeque;

use drsim_engine::Millis;

/// How long a span of listing times is: a minute (at most 43,200 spans in 30 days).
pub(crate) const SPAN_MS: Millis = 60_000;

/// Spans of listing times, oldest first, with how many streams listed in each are still listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Listings {
    /// `(first listing time in the span, streams listed in it still listed)`, each span starting at
    /// least [`SPAN_MS`] after the one before. An entry whose count fell to 0 stays until every older
    /// one is gone too (its place is how tickets find entries).
    times: VecDeque<(Millis, u32)>,
    /// The ticket of the front entry.
    front_ticket: u64,
}

/// Which span a listed stream counts in ([`Listings::add`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Listings {
    /// Lists a stream at `now`, which is not before any listing still held (the kernel's now).
    pub(crate) fn add(&mut self, now: Millis) -> Ticket {
        match self.times.back_mut() {
            Some((t, n)) if *t <= now && now - *t < SPAN_MS => *n += 1,
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

    /// A time at or before every listing of a stream still listed, less than [`SPAN_MS`] before the
    /// oldest.
    pub(crate) fn oldest(&self) -> Option<Millis> {
        self.times.front().map(|&(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_oldest_span_moves_on_once_every_stream_listed_in_it_is_unlisted() {
        const M: Millis = SPAN_MS;
        let mut l = Listings::default();
        assert_eq!(l.oldest(), None);
        let a = l.add(10);
        let b = l.add(10 + M - 1); // the same span
        let c = l.add(10 + M); // the next one starts here
        let d = l.add(10 + 3 * M);
        assert_eq!((a, b, c, d), (Ticket(0), Ticket(0), Ticket(1), Ticket(2)));
        assert_eq!(l.oldest(), Some(10));
        l.remove(c); // a newer one: the oldest stays
        assert_eq!(l.oldest(), Some(10));
        l.remove(a);
        assert_eq!(
            l.oldest(),
            Some(10),
            "b is still listed in the span from 10"
        );
        l.remove(b); // the first span empties, and so does the second behind it
        assert_eq!(l.oldest(), Some(10 + 3 * M));
        assert_eq!(l.times.len(), 1);
        let e = l.add(10 + 5 * M);
        l.remove(d);
        assert_eq!(l.oldest(), Some(10 + 5 * M));
        l.remove(e);
        assert_eq!(l.oldest(), None);
        let f = l.add(10 + 5 * M + 1); // tickets go on counting after the queue emptied
        assert_eq!(f, Ticket(4));
        assert_eq!(l.oldest(), Some(10 + 5 * M + 1));
    }

    #[test]
    #[should_panic(expected = "never goes back")]
    fn a_listing_before_the_newest_is_refused() {
        let mut l = Listings::default();
        l.add(20);
        l.add(10);
    }

    proptest! {
        /// Against the tree of (time, stream) it replaced: after every step, the oldest time is at or
        /// before the tree's oldest, by less than a span.
        #[test]
        fn listings_keep_a_time_within_a_span_before_the_oldest_listing(
            steps in prop::collection::vec((prop_oneof![0u64..3, 0..2 * SPAN_MS], any::<bool>(), any::<prop::sample::Index>()), 1..200)
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
                match (l.oldest(), tree.first()) {
                    (Some(o), Some(&(t, _))) => prop_assert!(o <= t && t - o < SPAN_MS, "{o} for {t}"),
                    (o, t) => prop_assert_eq!(o.is_some(), t.is_some()),
                }
            }
        }
    }
}
