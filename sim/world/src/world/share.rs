//! A bottleneck's fair share, advanced in virtual time (issue 6).
//!
//! Every flow a saturated resource holds gets the same rate, its *level* (the network leaves the integer
//! remainder unused for that). A resyncing stream held there depends on the rates only through how much
//! it was sent (nothing is applied before its resync completes, [`FluidDisk::advance_served`]), so such
//! streams are not touched when the level moves: the share keeps the cumulative service per held flow,
//! `S(t)`, and each waiting stream the service at which its resync completes. A level change is then one
//! update of `S`'s slope and one wake-up for the earliest completion, however many streams the link
//! carries — the reprotect of a thousand machines over one saturated link was quadratic before (every
//! completion re-rated every stream).
//!
//! Other streams held there (a backlog draining after the resync) are *plain*: they follow each level
//! change one by one, as every stream did before. A stream's fluid state is brought to now
//! ([`materialize`]) before anything reads or changes it.
//!
//! Units: a level in bytes per second is milli-bytes per millisecond, so `S` is in milli-bytes.
//!
//! [`FluidDisk::advance_served`]: crate::fluid::FluidDisk::advance_served

use std::collections::{BTreeMap, BTreeSet};

use drsim_engine::Millis;

use super::machine::Stream;
use crate::kernel::EventKey;
use crate::network::{FlowId, Resource};

/// One bottleneck's fair share and the streams it holds.
#[derive(Clone, Debug)]
pub(crate) struct Share {
    /// The rate of every flow held here, bytes per second (= milli-bytes per millisecond).
    level: u64,
    /// Since when `level` holds.
    since_ms: Millis,
    /// Service per held flow up to `since_ms`, milli-bytes.
    served_at_since: u128,
    /// Resyncing streams in virtual time: (the service at which the resync completes, the flow).
    pub(crate) waiting: BTreeSet<(u128, FlowId)>,
    /// The other streams held here: each follows a level change itself.
    pub(crate) plain: BTreeSet<FlowId>,
    /// The wake-up for the earliest completion.
    pub(crate) wake: Option<EventKey>,
}

impl Share {
    fn new(level: u64, now: Millis) -> Self {
        Self {
            level,
            since_ms: now,
            served_at_since: 0,
            waiting: BTreeSet::new(),
            plain: BTreeSet::new(),
            wake: None,
        }
    }

    /// Service per held flow up to `t` (`t ≥ since`), milli-bytes.
    fn served_at(&self, t: Millis) -> u128 {
        self.served_at_since
            .saturating_add(u128::from(self.level) * u128::from(t.saturating_sub(self.since_ms)))
    }

    /// A new level from `now` on.
    fn set_level(&mut self, now: Millis, level: u64) {
        self.served_at_since = self.served_at(now);
        self.since_ms = now;
        self.level = level;
    }

    /// When the earliest waiting resync completes at the current level (the first whole ms its
    /// service is reached); `None` when nothing waits or the level is 0.
    fn next_completion(&self) -> Option<Millis> {
        let &(finish, _) = self.waiting.first()?;
        if self.level == 0 {
            return None;
        }
        let need = finish.saturating_sub(self.served_at_since);
        let dt = need.div_ceil(u128::from(self.level));
        Some(
            self.since_ms
                .saturating_add(u64::try_from(dt).unwrap_or(u64::MAX)),
        )
    }

    /// The waiting streams whose resync has completed by `now`.
    pub(crate) fn due(&self, now: Millis) -> Vec<FlowId> {
        let served = self.served_at(now);
        (self.waiting.iter())
            .take_while(|(finish, _)| *finish <= served)
            .map(|&(_, flow)| flow)
            .collect()
    }
}

/// A stream's place in its share's virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualMark {
    /// The share's service at the stream's fluid time (milli-bytes).
    served: u128,
    /// The service at which its resync completes (its key in [`Share::waiting`]).
    finish: u128,
}

/// Every bottleneck's share, by resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shares {
    pub(crate) by_resource: BTreeMap<Resource, Share>,
    /// Shares whose earliest completion may have moved: re-woken at the end of the instant.
    pub(crate) moved: BTreeSet<Resource>,
    /// Every held stream plain, none in virtual time (the reference the tests compare against).
    #[cfg(test)]
    pub(crate) all_plain: bool,
}

impl Shares {
    /// The share of `r`, created at `level` if new; a different level starts now (callers: the network
    /// reported it, so every stream still held there follows).
    pub(crate) fn set_level(&mut self, r: Resource, level: u64, now: Millis) -> &mut Share {
        self.moved.insert(r);
        let share = (self.by_resource)
            .entry(r)
            .or_insert_with(|| Share::new(level, now));
        if share.level != level {
            share.set_level(now, level);
        }
        share
    }

    /// Brings a stream held in virtual time to `now`: to the share's last level change by the service
    /// it got meanwhile, then at the current level (where its resync may complete, exactly as one
    /// advanced stream would). A stream not in virtual time is left as it is.
    pub(crate) fn materialize(&self, s: &mut Stream, now: Millis) {
        let (Some(mark), Some(share)) = (
            s.virtual_mark.as_mut(),
            s.held_by.and_then(|r| self.by_resource.get(&r)),
        ) else {
            return;
        };
        if s.fluid.now_ms() < share.since_ms {
            s.fluid
                .advance_served(share.since_ms, share.served_at_since - mark.served);
            mark.served = share.served_at_since;
        }
        if now > s.fluid.now_ms() {
            s.fluid.set_served_elsewhere(false);
            s.fluid.set_send_rate(s.fluid.now_ms(), share.level);
            s.fluid.advance(now);
            s.fluid.set_served_elsewhere(true);
            mark.served = share.served_at(now);
        }
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
            share.waiting.remove(&(mark.finish, s.flow));
            s.fluid.set_served_elsewhere(false);
            self.moved.insert(r);
        } else {
            share.plain.remove(&s.flow);
        }
    }

    /// Lists a stream (brought to now, unlisted) with the share that holds it: in virtual time while it
    /// resyncs at the share's level, else plain. Returns whether it went to virtual time (then it needs
    /// no wake-up of its own).
    pub(crate) fn list(&mut self, s: &mut Stream, now: Millis) -> bool {
        let Some(r) = s.held_by else {
            return false;
        };
        let Some(share) = self.by_resource.get_mut(&r) else {
            return false;
        };
        let remaining = s.fluid.resync_remaining_millibytes();
        let resyncing = remaining > 0 && s.fluid.resync_required().is_none();
        #[cfg(test)]
        let resyncing = resyncing && !self.all_plain;
        if resyncing && s.fluid.send_rate_bps() == share.level {
            let served = share.served_at(now);
            let finish = served.saturating_add(remaining);
            share.waiting.insert((finish, s.flow));
            s.virtual_mark = Some(VirtualMark { served, finish });
            s.fluid.set_served_elsewhere(true);
            self.moved.insert(r);
            true
        } else {
            share.plain.insert(s.flow);
            false
        }
    }

    /// The wake-ups of the shares whose earliest completion may have moved: `(resource, old wake-up,
    /// new time)`.
    pub(crate) fn take_moved(&mut self) -> Vec<(Resource, Option<EventKey>, Option<Millis>)> {
        let moved = std::mem::take(&mut self.moved);
        let mut out = Vec::with_capacity(moved.len());
        for r in moved {
            if let Some(share) = self.by_resource.get_mut(&r) {
                out.push((r, share.wake.take(), share.next_completion()));
            }
        }
        out
    }
}
