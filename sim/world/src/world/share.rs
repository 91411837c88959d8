//! A bottleneck's fair share, advanced in virtual time (issue 6).
//!
//! Every flow a saturated resource holds gets the same rate, its *level* (the network leaves the integer
//! remainder unused for that). So the share keeps one cumulative service per held flow, `S(t)`, as the
//! history of its levels, and the streams it holds are not touched when the level moves: a stream is
//! brought to a time along that curve ([`FluidDisk::advance_along`]: resync, backlog, tags and their usable
//! times exactly as if it had been advanced at every level in turn), and the share wakes a stream only at
//! the service where something may happen to it:
//! - a resync completes when `S` has grown by what it has left (exact);
//! - a backlog cannot drain before `S` has grown by the backlog (the writes go on), so the stream is woken
//!   there, brought to that time, and — unless it drained exactly then — listed again with what is left,
//!   which shrinks by the churn-to-level ratio each time.
//!
//! A level change is then one update of the curve and one wake-up for the earliest such service, however
//! many streams the link carries: the reprotect of thousands of machines over one saturated link was
//! quadratic before (every completion re-rated every stream). A held stream that is neither resyncing nor
//! draining is *plain* and follows each level change itself.
//!
//! Units: a level in bytes per second is milli-bytes per millisecond, so `S` is in milli-bytes.
//!
//! [`FluidDisk::advance_along`]: crate::fluid::FluidDisk::advance_along

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use drsim_engine::Millis;

use super::listings::{Listings, Ticket};
use super::machine::Stream;
use crate::fluid::ServiceCurve;
use crate::kernel::EventKey;
use crate::network::{FlowId, Resource};

/// One stretch of a share's service curve: from `since_ms` on, `level` milli-bytes per ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stretch {
    since_ms: Millis,
    served_at_since: u128,
    level: u64,
}

impl Stretch {
    fn served_at(&self, t: Millis) -> u128 {
        self.served_at_since
            .saturating_add(u128::from(self.level) * u128::from(t.saturating_sub(self.since_ms)))
    }
}

/// One bottleneck's fair share and the streams it holds.
#[derive(Clone, Debug)]
pub(crate) struct Share {
    /// The service curve: its stretches in time order, the last one open-ended. Stretches before the
    /// oldest virtual stream's time are dropped.
    ///
    /// A deque: the front is dropped as the oldest stream moves on while level changes push at the
    /// back (a 10,000-machine reprotect's link changes level thousands of times while its oldest
    /// stream waits; dropping the front of a vector moved all the rest, 26 MB in all; issue 6).
    curve: VecDeque<Stretch>,
    /// Streams in virtual time: (the service at which it must be looked at, the flow).
    pub(crate) waiting: BTreeSet<(u128, FlowId)>,
    /// When the streams in virtual time were listed (their fluid times then): the curve is kept back
    /// to the oldest.
    listed: Listings,
    /// The other streams held here: each follows a level change itself.
    pub(crate) plain: BTreeSet<FlowId>,
    /// The wake-up for the earliest service in `waiting`.
    pub(crate) wake: Option<EventKey>,
}

impl ServiceCurve for Share {
    fn served_to(&self, t: Millis) -> u128 {
        self.served_at(t)
    }

    fn reaches(&self, target: u128) -> Option<Millis> {
        Share::reaches(self, target)
    }
}

impl Share {
    fn new(level: u64, now: Millis) -> Self {
        Self {
            curve: VecDeque::from([Stretch {
                since_ms: now,
                served_at_since: 0,
                level,
            }]),
            waiting: BTreeSet::new(),
            listed: Listings::default(),
            plain: BTreeSet::new(),
            wake: None,
        }
    }

    fn last(&self) -> Stretch {
        *self.curve.back().expect("a share has a stretch")
    }

    /// The level now, bytes per second.
    pub(crate) fn level(&self) -> u64 {
        self.last().level
    }

    /// Service per held flow up to `t`, milli-bytes (`t` at or after the oldest kept stretch).
    fn served_at(&self, t: Millis) -> u128 {
        let last = self.last();
        if last.since_ms <= t {
            return last.served_at(t); // now, as a rule: no search
        }
        let i = self.curve.partition_point(|s| s.since_ms <= t);
        self.curve[i.saturating_sub(1)].served_at(t)
    }

    /// The first whole ms at which the service reaches `target` (`None`: never at the current level).
    fn reaches(&self, target: u128) -> Option<Millis> {
        // the first stretch whose end reaches the target (the last one is open-ended); the last one, as
        // a rule (tags applied since the last level change), without a search
        let last = self.last();
        let s = if last.served_at_since < target {
            last
        } else {
            let k = self.curve.partition_point(|s| s.served_at_since < target);
            self.curve[k.saturating_sub(1)]
        };
        if s.served_at_since >= target {
            return Some(s.since_ms);
        }
        if s.level == 0 {
            return None;
        }
        let dt = (target - s.served_at_since).div_ceil(u128::from(s.level));
        Some(
            s.since_ms
                .saturating_add(u64::try_from(dt).unwrap_or(u64::MAX)),
        )
    }

    /// A new level from `now` on.
    fn set_level(&mut self, now: Millis, level: u64) {
        let last = self.last();
        let stretch = Stretch {
            since_ms: now,
            served_at_since: last.served_at(now),
            level,
        };
        if last.since_ms == now {
            *self.curve.back_mut().expect("a share has a stretch") = stretch;
        } else {
            self.curve.push_back(stretch);
        }
        // keep the curve back to the oldest stream in virtual time (up to a span of `world::listings`
        // further: never read, only kept)
        let oldest = self.listed.oldest().unwrap_or(now);
        let keep_from = self.curve.partition_point(|s| s.since_ms <= oldest);
        if keep_from > 1 {
            self.curve.drain(..keep_from - 1);
        }
    }

    /// When the earliest waiting stream must be looked at (at the current level).
    fn next_wake(&self) -> Option<Millis> {
        let &(service, _) = self.waiting.first()?;
        self.reaches(service)
    }

    /// The waiting streams whose service has come by `now`.
    pub(crate) fn due(&self, now: Millis) -> Vec<FlowId> {
        let served = self.served_at(now);
        (self.waiting.iter())
            .take_while(|(service, _)| *service <= served)
            .map(|&(_, flow)| flow)
            .collect()
    }
}

/// A stream's place in its share's virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualMark {
    /// The service at which it must be looked at (its key in [`Share::waiting`]).
    service: u128,
    /// When it was listed: its fluid's time then.
    listed_ms: Millis,
    /// Where that time counts in `Share::listed`.
    ticket: Ticket,
    /// The share's service then, so what it has been served since is one read of the curve's end.
    served_at_listing: u128,
}

/// Every bottleneck's share, by resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shares {
    pub(crate) by_resource: BTreeMap<Resource, Share>,
    /// Shares whose earliest wake-up may have moved: re-woken at the end of the instant. With repeats
    /// (a resource noted again right after itself is not); sorted and deduplicated when taken, in a
    /// vector that keeps its room (a set allocated a node at every instant).
    moved: Vec<Resource>,
    /// Every held stream plain, none in virtual time (the reference the tests compare against).
    #[cfg(test)]
    pub(crate) all_plain: bool,
}

impl Shares {
    /// The share of `r`, created at `level` if new; a different level starts now (callers: the network
    /// reported it, so every stream still held there follows). Returns the level before (`None`: new).
    pub(crate) fn set_level(&mut self, r: Resource, level: u64, now: Millis) -> Option<u64> {
        self.note_moved(r);
        let Some(share) = self.by_resource.get_mut(&r) else {
            self.by_resource.insert(r, Share::new(level, now));
            return None;
        };
        let before = share.level();
        if before != level {
            share.set_level(now, level);
        }
        Some(before)
    }

    /// Brings a stream held in virtual time to `now` along its share's curve; a stream not in virtual
    /// time is left as it is.
    pub(crate) fn materialize(&self, s: &mut Stream, now: Millis) {
        if s.virtual_mark.is_none() || now <= s.fluid.now_ms() {
            return;
        }
        let Some(share) = s.held_by.and_then(|r| self.by_resource.get(&r)) else {
            return;
        };
        s.fluid.advance_along(now, share);
        s.fluid.set_send_rate(now, share.level());
    }

    /// What a resync held in virtual time has been served since its fluid's time, up to `now`
    /// (`None`: the stream is not behind in virtual time). Its resync has not completed by then: the
    /// share wakes it when it does.
    pub(crate) fn served_since(&self, s: &Stream, now: Millis) -> Option<u128> {
        let mark = s.virtual_mark?;
        if now <= s.fluid.now_ms() {
            return None;
        }
        let share = s.held_by.and_then(|r| self.by_resource.get(&r))?;
        let from = if mark.listed_ms == s.fluid.now_ms() {
            debug_assert_eq!(mark.served_at_listing, share.served_at(mark.listed_ms));
            mark.served_at_listing
        } else {
            share.served_at(s.fluid.now_ms()) // brought to a time since it was listed
        };
        Some(share.served_at(now).saturating_sub(from))
    }

    /// Brings a stream to `now` ([`Shares::materialize`]) and out of its share's lists
    /// ([`Shares::unlist`]): what anyone changing its rate or its state does first.
    pub(crate) fn release(&mut self, s: &mut Stream, now: Millis) {
        self.materialize(s, now);
        self.unlist(s);
    }

    /// Takes a stream (brought to now) out of its share's lists; it stays held by the same resource.
    pub(crate) fn unlist(&mut self, s: &mut Stream) {
        let Some(r) = s.held_by else {
            return;
        };
        let Some(share) = self.by_resource.get_mut(&r) else {
            return;
        };
        if let Some(mark) = s.virtual_mark.take() {
            share.waiting.remove(&(mark.service, s.flow));
            share.listed.remove(mark.ticket);
            s.fluid.set_served_elsewhere(false);
            self.note_moved(r);
        } else {
            share.plain.remove(&s.flow);
        }
    }

    /// Lists a stream (brought to now, unlisted) with the share that holds it: in virtual time while it
    /// resyncs or drains a backlog at the share's level (woken when its resync completes or its backlog
    /// may have drained), else plain. Returns whether it went to virtual time (then it needs no wake-up
    /// of its own).
    pub(crate) fn list(&mut self, s: &mut Stream, now: Millis) -> bool {
        let Some(r) = s.held_by else {
            return false;
        };
        let Some(share) = self.by_resource.get_mut(&r) else {
            return false;
        };
        let f = &s.fluid;
        let ahead = match f.resync_remaining_millibytes() {
            0 => f.backlog_millibytes(),
            remaining => remaining,
        };
        let virtual_time =
            ahead > 0 && f.resync_required().is_none() && f.send_rate_bps() == share.level();
        #[cfg(test)]
        let virtual_time = virtual_time && !self.all_plain;
        if !virtual_time {
            share.plain.insert(s.flow);
            return false;
        }
        let served_at_listing = share.served_at(now);
        let service = served_at_listing.saturating_add(ahead);
        share.waiting.insert((service, s.flow));
        let ticket = share.listed.add(now);
        s.virtual_mark = Some(VirtualMark {
            service,
            listed_ms: now,
            ticket,
            served_at_listing,
        });
        s.fluid.set_served_elsewhere(true);
        self.note_moved(r);
        true
    }

    /// Puts into `out` (cleared first) the wake-ups of the shares whose earliest one may have moved,
    /// once each, in resource order: `(resource, old wake-up, new time)`.
    pub(crate) fn take_moved(
        &mut self,
        out: &mut Vec<(Resource, Option<EventKey>, Option<Millis>)>,
    ) {
        out.clear();
        self.moved.sort_unstable();
        self.moved.dedup();
        for r in self.moved.drain(..) {
            if let Some(share) = self.by_resource.get_mut(&r) {
                out.push((r, share.wake.take(), share.next_wake()));
            }
        }
    }

    /// Notes that a share's earliest wake-up may have moved ([`Shares::take_moved`] answers).
    pub(crate) fn note_moved(&mut self, r: Resource) {
        if self.moved.last() != Some(&r) {
            self.moved.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_serves_along_its_levels() {
        let mut s = Share::new(10, 1_000);
        s.listed.add(1_000); // a stream in virtual time since 1,000 keeps the curve
        s.set_level(1_100, 0); // 1,000 served by 1,100, then nothing
        s.set_level(1_500, 4);
        assert_eq!(s.served_at(1_050), 500);
        assert_eq!(s.served(1_050, 1_600), 500 + 400);
        // 1,000 reached exactly at 1,100; 1,001 needs the level of 4 from 1,500: one ms
        assert_eq!(s.reaches(1_000), Some(1_100));
        assert_eq!(s.reaches(1_001), Some(1_501));
        // 9 more from 1,200 (1,000 served by then): at 1,503; 300 from 1,000: at 1,030
        assert_eq!(s.served_to(1_200), 1_000);
        assert_eq!(ServiceCurve::reaches(&s, 1_000 + 9), Some(1_503));
        assert_eq!(ServiceCurve::reaches(&s, 300), Some(1_030));
        s.set_level(2_000, 0);
        assert_eq!(s.reaches(u128::MAX), None);
    }
}
