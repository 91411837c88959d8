//! Streams that follow their churn (issue 6): the steady hours of a fleet.
//!
//! A caught-up stream at its own limit asks the network for exactly its churn, so every change of the
//! churn rate (hourly for the bench's diurnal model) used to wake the disk, bring it to now, re-rate it
//! and re-check its machine's cadence — twice, once for the new demand and once for the rate the network
//! gave back. A stream of a machine under a point cadence instead *follows* its churn: its fluid sends at
//! the churn's peak (at least the churn at every instant, so nothing piles up and every tag is usable
//! when it is made — exactly what sending at the churn gives), and the world keeps one calendar of churn
//! steps for all followers: at each step it only tells the network the new demand. A follower whose
//! network rate falls below its churn, or that a bottleneck comes to hold, stops following (its fluid is
//! then sent at the network's rate again), as does every stream of a machine whose cadence ends.

use super::meter::{Membership, Meters};
use super::{Event, Stream, World};
use crate::network::FlowId;
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;

impl World {
    /// Lets the streams of a caught-up machine under a point cadence that are at their own limit follow
    /// their churn. Call with the machine's disks accounted to now.
    pub(crate) fn follow_churn(&mut self, item: &ItemId) {
        let now = self.now();
        let World {
            machines,
            kernel,
            churn_steps,
            followers,
            net,
            meters,
            ..
        } = self;
        let Some(m) = machines.get_mut(item) else {
            return;
        };
        if m.cadence_from_ms.is_none() {
            return;
        }
        let route = (m.replication.as_ref()).map(|r| {
            (
                r.direction,
                r.process_server.clone(),
                r.master_target.clone(),
            )
        });
        for s in m.disks.iter_mut().filter_map(|d| d.stream.as_mut()) {
            if s.follows_churn || s.held_by.is_some() || s.virtual_mark.is_some() {
                continue;
            }
            let (Some(peak), Some(churn)) = (
                s.fluid.churn().regular_peak_bps(),
                s.fluid.churn().regular(),
            ) else {
                continue;
            };
            debug_assert_eq!(s.fluid.now_ms(), now, "accounted to now");
            let Ok(slot) = net.flow_slot(s.flow) else {
                continue; // not on the network (cannot happen while it streams)
            };
            if let Some(k) = s.wake.take() {
                kernel.cancel(k);
            }
            s.fluid
                .set_send_rate(now, peak.max(s.fluid.send_rate_bps()));
            s.follows_churn = true;
            let (rate_bps, next_step_ms) = churn.rate_and_next_step(now);
            if let Some(at) = next_step_ms {
                add_step(kernel, churn_steps, at, s.flow);
            }
            let metered = (route.as_ref()).and_then(|route| meters.join(route, s, now));
            followers.insert(
                s.flow,
                Follower {
                    churn,
                    rate_bps,
                    next_step_ms,
                    slot,
                    metered,
                },
            );
        }
        self.refresh_quiet(item);
    }

    /// Stops a follower (the network's rate for its flow becomes its send rate again from now on). Call
    /// with the stream accounted to now. Whether it left its meter (its machine is then no longer quiet:
    /// [`World::refresh_quiet`]).
    pub(crate) fn unfollow(
        net: &crate::network::Network,
        followers: &mut Followers,
        meters: &mut Meters,
        s: &mut Stream,
        now: Millis,
    ) -> bool {
        if !s.follows_churn {
            return false;
        }
        s.follows_churn = false;
        let metered = followers.remove(&s.flow).and_then(|f| f.metered);
        if let Some(m) = metered {
            meters.leave(m, s, now);
        }
        let rate = net.rate(s.flow).unwrap_or(0);
        s.fluid.set_send_rate(now, rate);
        metered.is_some()
    }

    /// A churn step: each follower due now asks the network for its new churn, and is put on the
    /// calendar for its next step (no machine is looked at). In flow order: the network reports the
    /// changes in that order, so its sort of them is a pass over a sorted list (the order they are
    /// asked in changes no rate).
    pub(crate) fn churn_step(&mut self) {
        let now = self.now();
        let Some(mut due) = self.churn_steps.remove(&now) else {
            return;
        };
        due.sort_unstable();
        let mut in_order = true; // whether the followers lie in flow order (see `Followers`)
        let mut last_place = 0;
        for flow in due {
            let Some(place) = self.followers.place(&flow) else {
                continue; // it stopped following, or its stream ended
            };
            in_order &= place >= last_place;
            last_place = place;
            let f = &mut self.followers.slab[place].1;
            let (rate_bps, next_step_ms) = f.churn.rate_and_next_step(now);
            f.rate_bps = rate_bps;
            f.next_step_ms = next_step_ms;
            let _ = self.net.set_demand_in(f.slot, rate_bps);
            if let Some(m) = &mut f.metered {
                self.meters.step(m, rate_bps);
            }
            if let Some(at) = f.next_step_ms {
                add_step(&mut self.kernel, &mut self.churn_steps, at, flow);
            }
        }
        self.meters.apply_steps(now);
        if !in_order {
            self.followers.sort_by_flow();
        }
    }
}

/// The streams that follow their churn, by flow: every follower is looked up at each of its churn
/// steps (30,000 an hour at 10k) and again when the network answers. Kept side by side in one vector
/// and found through an index by flow id (the world numbers flows from 0), so that a step's followers,
/// taken in flow order, are read mostly in the order they lie in memory: in a hash map of whole churn
/// models they were a cache miss each, half of a steady hour's work (issue 6). Nothing iterates the
/// followers, so where each lies never reaches an output.
#[derive(Clone, Debug, Default)]
pub(crate) struct Followers {
    /// By flow id: the follower's place in `slab` ([`NONE`] for none).
    at: Vec<u32>,
    /// The followers, each with its flow.
    slab: Vec<(FlowId, Follower)>,
}

/// No follower at this flow id.
const NONE: u32 = u32::MAX;

impl Followers {
    /// Puts the followers in flow order, the order a churn step takes them in (followers join and
    /// leave in any order; a step that found them out of order calls this, so that the next ones read
    /// them front to back).
    fn sort_by_flow(&mut self) {
        self.slab.sort_unstable_by_key(|(flow, _)| *flow);
        for (p, (flow, _)) in self.slab.iter().enumerate() {
            self.at[flow.0 as usize] = p as u32;
        }
    }

    fn place(&self, flow: &FlowId) -> Option<usize> {
        let i = usize::try_from(flow.0).ok()?;
        match self.at.get(i) {
            Some(&p) if p != NONE => Some(p as usize),
            _ => None,
        }
    }

    /// The follower of a flow.
    pub(crate) fn get(&self, flow: &FlowId) -> Option<&Follower> {
        self.place(flow).map(|p| &self.slab[p].1)
    }

    /// The follower of a flow, to change.
    pub(crate) fn get_mut(&mut self, flow: &FlowId) -> Option<&mut Follower> {
        self.place(flow).map(|p| &mut self.slab[p].1)
    }

    /// Whether the flow has a follower.
    pub(crate) fn contains_key(&self, flow: &FlowId) -> bool {
        self.place(flow).is_some()
    }

    /// Adds (or replaces) the follower of a flow.
    pub(crate) fn insert(&mut self, flow: FlowId, f: Follower) {
        if let Some(p) = self.place(&flow) {
            self.slab[p].1 = f;
            return;
        }
        let i = usize::try_from(flow.0).expect("flow ids are numbered from 0");
        if self.at.len() <= i {
            self.at.resize(i + 1, NONE);
        }
        self.at[i] = u32::try_from(self.slab.len()).expect("fewer than 2^32 followers");
        self.slab.push((flow, f));
    }

    /// Takes a flow's follower out (the last one takes its place).
    pub(crate) fn remove(&mut self, flow: &FlowId) -> Option<Follower> {
        let p = self.place(flow)?;
        self.at[flow.0 as usize] = NONE;
        let (_, f) = self.slab.swap_remove(p);
        if let Some((moved, _)) = self.slab.get(p) {
            self.at[moved.0 as usize] = p as u32;
        }
        Some(f)
    }
}

/// A follower as a churn step sees it (it reads nothing else).
#[derive(Clone, Debug)]
pub(crate) struct Follower {
    /// Its churn, as its steps read it.
    pub(crate) churn: crate::churn::RegularChurn,
    /// Its churn rate since its last step (or since it started following).
    rate_bps: u64,
    /// When its churn rate changes next (its next step; `None`: never).
    next_step_ms: Option<Millis>,
    /// Where the network keeps its flow.
    pub(crate) slot: crate::network::FlowSlot,
    /// Its place in its route's meter, while metered (`world::meter`).
    pub(crate) metered: Option<Membership>,
}

impl Follower {
    /// Its churn rate at `now` (not before its last step): the rate of its last step until its next
    /// one, without looking at the model (a churn step's reports ask it of every follower).
    pub(crate) fn churn_rate_at(&self, now: Millis) -> u64 {
        match self.next_step_ms {
            Some(next) if now >= next => self.churn.segment_at(now).rate_bps,
            _ => self.rate_bps,
        }
    }
}

/// Puts a follower's flow on the calendar at `at` (one event per step time).
fn add_step(
    kernel: &mut crate::kernel::Kernel<Event>,
    steps: &mut std::collections::BTreeMap<Millis, Vec<FlowId>>,
    at: Millis,
    flow: FlowId,
) {
    let entry = steps.entry(at).or_default();
    if entry.is_empty() {
        let _ = kernel.schedule_at(at.max(kernel.now()), Event::ChurnStep);
    }
    entry.push(flow);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::RegularChurn;

    fn follower(rate_bps: u64) -> Follower {
        Follower {
            churn: RegularChurn::Constant(rate_bps),
            rate_bps,
            next_step_ms: None,
            slot: crate::network::FlowSlot::for_tests(FlowId(0), 0),
            metered: None,
        }
    }

    /// Taking a follower out moves the last one into its place: every flow still finds its own.
    #[test]
    fn followers_find_their_flow_after_removals() {
        let mut f = Followers::default();
        for id in [5, 0, 9, 3] {
            f.insert(FlowId(id), follower(id * 10));
        }
        assert_eq!(f.remove(&FlowId(0)).map(|x| x.rate_bps), Some(0));
        assert!(f.remove(&FlowId(0)).is_none(), "once");
        assert!(f.remove(&FlowId(77)).is_none(), "beyond the index");
        f.insert(FlowId(9), follower(91)); // replaces
        for (id, rate) in [(5, 50), (9, 91), (3, 30)] {
            assert_eq!(
                f.get(&FlowId(id)).map(|x| x.rate_bps),
                Some(rate),
                "flow {id}"
            );
        }
        assert!(!f.contains_key(&FlowId(0)));
        f.sort_by_flow();
        assert_eq!(
            f.slab.iter().map(|(id, _)| id.0).collect::<Vec<_>>(),
            [3, 5, 9]
        );
        f.get_mut(&FlowId(3)).unwrap().rate_bps = 33;
        assert_eq!(f.remove(&FlowId(3)).map(|x| x.rate_bps), Some(33));
        assert_eq!(f.remove(&FlowId(5)).map(|x| x.rate_bps), Some(50));
        assert_eq!(f.get(&FlowId(9)).map(|x| x.rate_bps), Some(91));
        assert_eq!(f.slab.len(), 1);
    }
}
