//! What the streams carry, per route, for the report sampler (issue 7) without reading every stream at
//! every interval (issue 6).
//!
//! The sampler meters each link, process server and master target every report interval: reading each
//! of a fleet's 30,000 streams at each of 8,640 samples was over half of a 10k run with reports. Three
//! things let it read only what changed:
//! - **Meters.** A stream that follows its churn (`world::follow`) sends exactly what its source
//!   writes, so what a route's followers carried up to a whole second `t` is the sum of their churn
//!   integrals: one rate per route, changed at churn steps, joins and leaves. Exact in whole bytes: a
//!   stream's wire bytes are `⌊W/1000⌋` of the milli-bytes `W` its source wrote; when every change of
//!   rate falls on a whole second ([`ChurnModel::steps_on_whole_seconds`]), `W` grows by a multiple of
//!   1,000 between whole seconds, so from the first whole second `s` at or after a stream joins,
//!   `⌊W(t)/1000⌋ − ⌊W(s)/1000⌋ = (W(t) − W(s))/1000` at every whole second `t`. Each member keeps its
//!   lead from its join to `s` (in bytes and milli-bytes) and the route sums the rest by its rate.
//!   A stream is *metered* while it follows its churn and its source writes.
//! - **Quiet machines.** A machine all of whose streams are metered (or that has none) is quiet: its
//!   unsent bytes are 0 and what it carries is in its route's meter ([`World::quiet_since`]).
//! - **Ended streams.** A stream that ends leaves its final readout in a log ([`World::ended_streams`])
//!   so what it carried after the last sample is counted too.
//! - **Groups.** The sampler wants bytes per link direction, process server and master target, not per
//!   route: a fleet has thousands of routes (9,055 PS–MT pairs at 10k), and reading each at each of
//!   8,640 samples was 1 s of a 10k run with reports. Every route's meter is linear in time between
//!   changes, so each group keeps the sums of its routes' terms ([`World::meter_groups`]), changed only
//!   where a route's meter changes.
//!
//! [`ChurnModel::steps_on_whole_seconds`]: crate::churn::ChurnModel::steps_on_whole_seconds

use super::{Stream, World};
use crate::network::FlowId;
use drsim_engine::Millis;
use drsim_engine::ids::{MasterTargetName, ProcessServerName};
use drsim_engine::indexed::IndexHasher;
use drsim_engine::protocol::Direction;
use std::collections::{BTreeMap, HashMap};

/// A route as the reports meter it: direction, process server, master target.
pub type RouteKey = (
    Direction,
    Option<ProcessServerName>,
    Option<MasterTargetName>,
);

/// What the sampler reads meters by: a direction of the site link, a process server, a master target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MeterGroup {
    /// The site link in this direction (every route of the direction).
    Link(Direction),
    /// A process server (the routes through it).
    ProcessServer(ProcessServerName),
    /// A master target (the routes to it).
    MasterTarget(MasterTargetName),
}

/// The sums of a group's routes' terms: its meter reads `bytes + (since + rate·now − lead) / 1000`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GroupSums {
    /// Σ `rate_bps`.
    rate: i128,
    /// Σ `since_join_millibytes − rate_bps · mark_ms` (unchanged by [`RouteMeter::advance`]).
    since: i128,
    /// Σ `lead_millibytes`.
    lead: i128,
    /// Σ `closed_bytes + lead_bytes`.
    bytes: i128,
}

impl GroupSums {
    fn add(&mut self, d: &GroupSums, sign: i128) {
        self.rate += sign * d.rate;
        self.since += sign * d.since;
        self.lead += sign * d.lead;
        self.bytes += sign * d.bytes;
    }

    /// What the group's routes carried while metered, as of `now` (a whole second).
    fn carried(&self, now: Millis) -> u64 {
        let rest = self.since + self.rate * i128::from(now) - self.lead;
        debug_assert!(
            !now.is_multiple_of(1000) || (rest >= 0 && rest % 1000 == 0),
            "whole bytes at whole seconds"
        );
        u64::try_from(self.bytes + rest.max(0) / 1000).unwrap_or(u64::MAX)
    }
}

/// The meters of every route seen, in the order first seen.
#[derive(Clone, Default)]
pub(crate) struct Meters {
    /// Each route's meter, one cache line: a steady hour's 30,000 churn steps each change one, in
    /// an order unrelated to the routes' (at 10k with the route's key inline, two lines a route and
    /// 1.2 MB in all, a step's cache miss there was a sixth of a steady day; issue 6).
    routes: Vec<RouteMeter>,
    /// Each route's key, by the same position.
    keys: Vec<RouteKey>,
    /// Per route, the change of its rate summed over the churn step under way, and whether it is in
    /// `stepped` ([`Meters::step`], [`Meters::apply_steps`]).
    step_deltas: Vec<(i128, bool)>,
    /// The routes whose rate the churn step under way changes.
    stepped: Vec<usize>,
    /// Each route's position in `routes` (only looked up: a hash table; a tree of 9,000 routes keyed by
    /// server names was searched at every stream's join and leave at 10k machines, issue 6). Never
    /// walked, not even by `Debug` (`keys` holds each route's key).
    index: HashMap<RouteKey, usize, IndexHasher>,
    /// Per route, its groups (positions in `groups`): the first `n` of the array (16 bytes a route).
    groups_of: Vec<([u32; 3], u32)>,
    /// The groups, in the order first seen, with their sums.
    groups: Vec<(MeterGroup, GroupSums)>,
    group_index: BTreeMap<MeterGroup, usize>,
    /// Streams that ended, oldest first ([`World::ended_streams`]).
    pub(crate) ended: Vec<EndedStream>,
}

/// Everything but the hash index, whose keys `keys` holds again: nothing is shown in hash order.
impl std::fmt::Debug for Meters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meters")
            .field("routes", &self.routes)
            .field("keys", &self.keys)
            .field("groups_of", &self.groups_of)
            .field("groups", &self.groups)
            .field("group_index", &self.group_index)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// One route's meter (its key is kept apart: [`Meters::keys`]).
#[derive(Clone, Debug)]
#[repr(align(64))]
struct RouteMeter {
    /// The members' churn rates now (a byte per second is a milli-byte per millisecond).
    rate_bps: u64,
    /// Up to when `since_join_millibytes` is summed.
    mark_ms: Millis,
    /// Σ over members of `W(mark) − W(join)`.
    since_join_millibytes: u128,
    /// Σ over members of `W(s) − W(join)`.
    lead_millibytes: u128,
    /// Σ over members of `⌊W(s)/1000⌋ − ⌊W(join)/1000⌋`.
    lead_bytes: u64,
    /// What streams carried while metered, in spans that ended.
    closed_bytes: u64,
}

impl RouteMeter {
    /// Its terms in its groups' sums.
    fn terms(&self) -> GroupSums {
        let rate = i128::from(self.rate_bps);
        GroupSums {
            rate,
            since: to_i128(self.since_join_millibytes) - rate * i128::from(self.mark_ms),
            lead: to_i128(self.lead_millibytes),
            bytes: i128::from(self.closed_bytes) + i128::from(self.lead_bytes),
        }
    }

    fn advance(&mut self, now: Millis) {
        if now > self.mark_ms {
            let more = u128::from(self.rate_bps) * u128::from(now - self.mark_ms);
            self.since_join_millibytes += more;
            self.mark_ms = now;
        }
    }

    /// What its streams carried while metered, as of `now` (a whole second, not before the mark).
    fn carried(&self, now: Millis) -> u64 {
        let since = self.since_join_millibytes
            + u128::from(self.rate_bps) * u128::from(now.saturating_sub(self.mark_ms));
        let rest = since.saturating_sub(self.lead_millibytes);
        debug_assert!(
            !now.is_multiple_of(1000)
                || (since >= self.lead_millibytes && rest.is_multiple_of(1000)),
            "whole bytes at whole seconds"
        );
        let rest = u64::try_from(rest / 1000).unwrap_or(u64::MAX);
        self.closed_bytes
            .saturating_add(self.lead_bytes)
            .saturating_add(rest)
    }
}

/// A stream's place in its route's meter, kept with the follower (`world::follow`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Membership {
    route: usize,
    /// The rate it adds to the route now.
    rate_bps: u64,
    join_ms: Millis,
    lead_millibytes: u128,
    lead_bytes: u64,
}

/// A stream that ended, with what it had carried ([`World::ended_streams`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndedStream {
    /// Its machine's position in [`World::machines`].
    pub machine: usize,
    /// The disk it replicated.
    pub disk: usize,
    /// Its flow.
    pub flow: FlowId,
    /// Its route's position in [`World::metered_routes`].
    pub route: usize,
    /// Its wire bytes at the end ([`super::StreamTotals::wire_bytes`]).
    pub wire_bytes: u64,
    /// Of which carried while not metered ([`super::StreamTotals::unmetered_wire_bytes`]).
    pub unmetered_wire_bytes: u64,
}

impl Meters {
    /// The position of a route's meter (made the first time).
    pub(crate) fn route(&mut self, key: &RouteKey, now: Millis) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.routes.len();
        self.keys.push(key.clone());
        self.step_deltas.push((0, false));
        self.routes.push(RouteMeter {
            rate_bps: 0,
            mark_ms: now,
            since_join_millibytes: 0,
            lead_millibytes: 0,
            lead_bytes: 0,
            closed_bytes: 0,
        });
        self.index.insert(key.clone(), i);
        let (direction, ps, mt) = key;
        let groups = [
            Some(MeterGroup::Link(*direction)),
            ps.clone().map(MeterGroup::ProcessServer),
            mt.clone().map(MeterGroup::MasterTarget),
        ];
        let mut of = ([0; 3], 0);
        for (k, g) in groups.into_iter().flatten().enumerate() {
            let j = match self.group_index.get(&g) {
                Some(&j) => j,
                None => {
                    let j = self.groups.len();
                    self.group_index.insert(g.clone(), j);
                    self.groups.push((g, GroupSums::default()));
                    j
                }
            };
            of.0[k] = u32::try_from(j).expect("fewer than 2^32 meter groups");
            of.1 = k as u32 + 1;
        }
        self.groups_of.push(of);
        i
    }

    /// Changes route `i`'s meter with `change`, keeping its groups' sums.
    fn change<T>(&mut self, i: usize, change: impl FnOnce(&mut RouteMeter) -> T) -> T {
        let before = self.routes[i].terms();
        let out = change(&mut self.routes[i]);
        let after = self.routes[i].terms();
        if after != before {
            let (of, n) = self.groups_of[i];
            for &g in &of[..n as usize] {
                let sums = &mut self.groups[g as usize].1;
                sums.add(&before, -1);
                sums.add(&after, 1);
            }
        }
        out
    }

    /// Meters a stream that has just come to follow its churn, if its source writes and its churn
    /// changes only on whole seconds (else it stays read one by one).
    pub(crate) fn join(
        &mut self,
        key: &RouteKey,
        s: &mut Stream,
        now: Millis,
    ) -> Option<Membership> {
        let f = &s.fluid;
        debug_assert!(s.follows_churn && s.metered_from_wire.is_none());
        if !f.source_running() || !f.churn().steps_on_whole_seconds() {
            return None;
        }
        let second = now.div_ceil(1000) * 1000;
        let membership = Membership {
            route: self.route(key, now),
            rate_bps: f.churn().segment_at(now).rate_bps,
            join_ms: now,
            lead_millibytes: f.churn().millibytes_written(now, second),
            lead_bytes: f.written_bytes_at(second) - f.written_bytes_at(now),
        };
        self.change(membership.route, |r| {
            r.advance(now);
            r.rate_bps += membership.rate_bps;
            r.lead_millibytes += membership.lead_millibytes;
            r.lead_bytes += membership.lead_bytes;
        });
        s.metered_from_wire = Some(follower_wire_bytes(s, now));
        Some(membership)
    }

    /// A member's churn rate changes now, in a churn step: noted for its route, whose meter takes
    /// the step's changes all at once ([`Meters::apply_steps`]). A steady hour at 10k steps 30,000
    /// members in flow order, whose routes lie in no order: a cache miss each in the routes' meters
    /// when each step changed its meter there and then (issue 6); the sums per route are 32 bytes
    /// each, and the meters are then changed in route order, once.
    pub(crate) fn step(&mut self, m: &mut Membership, rate_bps: u64) {
        let d = i128::from(rate_bps) - i128::from(m.rate_bps);
        m.rate_bps = rate_bps;
        if d == 0 {
            return;
        }
        let (delta, listed) = &mut self.step_deltas[m.route];
        *delta += d;
        if !*listed {
            *listed = true;
            self.stepped.push(m.route);
        }
    }

    /// Changes the meters of the routes the churn step's members changed ([`Meters::step`]), at
    /// `now`, the step's time: each route's rate from now on and its groups' terms.
    pub(crate) fn apply_steps(&mut self, now: Millis) {
        self.stepped.sort_unstable();
        for &i in &self.stepped {
            let (d, _) = std::mem::take(&mut self.step_deltas[i]);
            if d == 0 {
                continue;
            }
            let r = &mut self.routes[i];
            r.advance(now);
            r.rate_bps = u64::try_from(i128::from(r.rate_bps) + d)
                .expect("a route's rate is the sum of its members' rates");
            // its groups' terms: the rate changes at the mark (now), the rest stays
            let (of, n) = self.groups_of[i];
            for &g in &of[..n as usize] {
                let sums = &mut self.groups[g as usize].1;
                sums.rate += d;
                sums.since -= d * i128::from(now);
            }
        }
        self.stepped.clear();
    }

    /// A member stops being metered now (it stops following, its source stops, or it ends).
    pub(crate) fn leave(&mut self, m: Membership, s: &mut Stream, now: Millis) {
        let Some(from) = s.metered_from_wire.take() else {
            debug_assert!(false, "a member has its wire bytes at join");
            return;
        };
        let carried = follower_wire_bytes(s, now) - from;
        let since_join = s.fluid.churn().millibytes_written(m.join_ms, now);
        self.change(m.route, |r| {
            r.advance(now);
            debug_assert!(r.since_join_millibytes >= since_join, "the route summed it");
            r.since_join_millibytes = r.since_join_millibytes.saturating_sub(since_join);
            r.rate_bps -= m.rate_bps;
            r.lead_millibytes -= m.lead_millibytes;
            r.lead_bytes -= m.lead_bytes;
            r.closed_bytes += carried;
        });
        s.metered_bytes += carried;
    }
}

/// A `u128` sum of milli-bytes as `i128` (they stay far below 2^127).
fn to_i128(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

/// A follower's wire bytes as of `now` (as [`World::stream_totals`] gives them).
fn follower_wire_bytes(s: &Stream, now: Millis) -> u64 {
    let f = &s.fluid;
    let sent = f.written_bytes_at(now);
    sent - f.folded_into_resync_bytes().min(sent) + f.resync_bytes_sent_total()
}

impl World {
    /// What streams carried on each route while metered (following their churn), as of now, by route
    /// in the order first seen ([`RouteKey`]). Exact when now is a whole second, as the report
    /// sampler's times are; see `world::meter`.
    pub fn metered_routes(&self) -> impl Iterator<Item = (&RouteKey, u64)> {
        let now = self.now();
        (self.meters.keys.iter())
            .zip(&self.meters.routes)
            .map(move |(k, r)| (k, r.carried(now)))
    }

    /// The routes metered so far from the `from`-th on (positions as in [`World::metered_routes`] and
    /// [`EndedStream::route`]), without reading their meters.
    pub fn metered_route_keys(&self, from: usize) -> impl Iterator<Item = &RouteKey> {
        self.meters.keys.get(from..).unwrap_or(&[]).iter()
    }

    /// What the streams metered so far carried on each direction of the site link, through each
    /// process server and to each master target, as of now (a whole second), in the order first seen:
    /// the sums of [`World::metered_routes`] by group, read without visiting the routes.
    pub fn meter_groups(&self) -> impl ExactSizeIterator<Item = (&MeterGroup, u64)> {
        let now = self.now();
        (self.meters.groups.iter()).map(move |(g, sums)| (g, sums.carried(now)))
    }

    /// By machine position (in [`World::machines`]): since when the machine is *quiet* — every stream
    /// it has is metered (it may have none) — or `Millis::MAX` if it is not. A quiet machine's unsent
    /// bytes are 0 and its streams' bytes are in [`World::metered_routes`], so a sampler that read it
    /// at a time after it became quiet need not read it again while it stays so.
    pub fn quiet_since(&self) -> &[Millis] {
        &self.quiet_since
    }

    /// Every stream that ended, oldest first, with its final readout: what it carried after the last
    /// sample would otherwise be lost with it.
    pub fn ended_streams(&self) -> &[EndedStream] {
        &self.meters.ended
    }

    /// Notes whether a machine is quiet now (call after its streams changed: a stream started, ended,
    /// or joined or left its meter).
    pub(crate) fn refresh_quiet(&mut self, item: &drsim_engine::ids::ItemId) {
        let Some(pos) = self.machines.position(item) else {
            return;
        };
        let quiet = self.machines.get(item).is_some_and(machine_is_quiet);
        if self.quiet_since.len() < self.machines.len() {
            self.quiet_since.resize(self.machines.len(), Millis::MAX); // while the world is built
        }
        let since = &mut self.quiet_since[pos];
        if !quiet {
            *since = Millis::MAX;
        } else if *since == Millis::MAX {
            *since = self.kernel.now();
        }
    }

    /// Logs the end of a stream of the machine at `pos` on `route`, leaving its meter first.
    pub(crate) fn stream_ended(
        &mut self,
        pos: usize,
        disk: usize,
        route: &RouteKey,
        s: &mut Stream,
    ) {
        let now = self.now();
        if let Some(m) = (self.followers.get_mut(&s.flow)).and_then(|f| f.metered.take()) {
            self.meters.leave(m, s, now);
        }
        let totals = self.stream_totals(s);
        let route = self.meters.route(route, now);
        self.meters.ended.push(EndedStream {
            machine: pos,
            disk,
            flow: s.flow,
            route,
            wire_bytes: totals.wire_bytes,
            unmetered_wire_bytes: totals.unmetered_wire_bytes,
        });
    }

    /// Checks (in debug builds) that the quiet machines and the meters' members are what the streams
    /// say.
    pub(crate) fn debug_check_meters(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        for (pos, m) in self.machines.values().enumerate() {
            assert_eq!(
                machine_is_quiet(m),
                self.quiet_since[pos] != Millis::MAX,
                "quiet flag of {}",
                m.item
            );
            for s in m.disks.iter().filter_map(|d| d.stream.as_ref()) {
                let member = (self.followers.get(&s.flow)).is_some_and(|f| f.metered.is_some());
                assert_eq!(member, s.metered_from_wire.is_some(), "{}", m.item);
                assert!(!member || (s.follows_churn && s.fluid.source_running()));
            }
        }
    }
}

/// Whether every stream of the machine is metered.
fn machine_is_quiet(m: &super::Machine) -> bool {
    (m.disks.iter()).all(|d| (d.stream.as_ref()).is_none_or(|s| s.metered_from_wire.is_some()))
}
