//! The data plane: per-disk replication streams (a fluid disk and a network flow each) along the path
//! Azure VM agent → PS → link → MT (RJ-08), or on-prem → link → Azure for forward protection. Costs follow
//! the streams whose rates change: a disk is touched only at its own wake-up (resync done, backlog drained,
//! demand changed), when the network re-allocates its flow, and at report ticks.

use super::share::Shares;
use super::{Disk, Event, Machine, Replication, Stream, VmPoints, World};
use crate::fluid::{FluidDisk, ResyncReason, ResyncSize, SendDemand, TagPolicy};
use crate::network::{FlowId, FlowSlot, FlowSpec, Resource, UNLIMITED_BYTES_PER_S};
use drsim_engine::Millis;
use drsim_engine::ids::*;
use drsim_engine::inventory::{Health, PowerState};
use drsim_engine::protocol::{Direction, Observation, RecoveryMode, ReplicationReport};
use drsim_engine::recovery_point::{PointCadence, PointKind, RecoveryPoint};
use std::collections::BTreeSet;

/// At most this many disks of one VM resync at a time (DOMAIN.md §4: up to 3 during initial replication).
pub const DISKS_AT_A_TIME: usize = 3;

/// How long the MT keeps a machine's points: the longest retention window (DOMAIN.md §4: 15 days).
pub(crate) const POINTS_KEPT_MS: Millis = 15 * drsim_engine::time::DAY_MS;

/// The points are thinned once this many have accumulated (amortises the thinning pass).
const THIN_AT: usize = 2 * (24 + 15 * 24);

/// How often the points of a machine under a point or sync cadence are gathered from its disks (well
/// within the disks' point logs: [`crate::fluid::MAX_PENDING_TAGS`] five-minute tags are 14 days).
pub(crate) const COLLECT_EVERY_MS: Millis = 12 * drsim_engine::time::HOUR_MS;

/// How big each disk's resync is when replication starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ResyncPlan {
    /// Already in sync (a machine that starts Protected).
    None,
    /// The used bytes of every disk (ALR, RJ-04; initial replication to Azure, RA-02).
    Full(ResyncReason),
    /// Only what changed since the copies last agreed (OLR, RJ-03), except full for disks RJ-06 cannot find.
    Differential { full_copy: bool },
}

impl World {
    /// Whether the source copy of a direction runs (writes) now.
    pub(crate) fn source_running(&self, m: &Machine, direction: Direction) -> bool {
        match direction {
            Direction::ToOnPrem => self
                .estate
                .azure_vms
                .get(&m.azure_vm)
                .is_some_and(|v| v.power == PowerState::On),
            Direction::ToAzure => self
                .estate
                .onprem_vms
                .get(&m.onprem_vm)
                .is_some_and(|v| v.power == PowerState::On),
        }
    }

    /// Brings one disk's generations (and its stream) up to `now`.
    pub(crate) fn account(&mut self, item: &ItemId, d: usize, now: Millis) {
        self.account_disks(item, d..d + 1, now);
    }

    /// Brings disks `ds` of a machine up to `now` ([`account_machine_disks`]).
    fn account_disks(&mut self, item: &ItemId, ds: std::ops::Range<usize>, now: Millis) {
        if let Some(m) = self.machines.get_mut(item) {
            account_machine_disks(m, &self.estate, &self.shares, ds, now, false);
        }
    }

    /// Accounts every disk of a machine up to now (before any power change).
    pub(crate) fn account_machine(&mut self, item: &ItemId) {
        let now = self.now();
        let n = self.machines.get(item).map_or(0, |m| m.disks.len());
        self.account_disks(item, 0..n, now);
    }

    /// Tells a machine's streams whether their source runs (after a power change).
    pub(crate) fn sources_changed(&mut self, item: &ItemId) {
        let now = self.now();
        let Some(m) = self.machines.get(item) else {
            return;
        };
        let Some(dir) = m.replication.as_ref().map(|r| r.direction) else {
            return;
        };
        let running = self.source_running(m, dir);
        let n = m.disks.len();
        self.cadence_changed(item);
        for d in 0..n {
            if let Some(s) = self
                .machines
                .get_mut(item)
                .and_then(|m| m.disks[d].stream.as_mut())
            {
                self.shares.materialize(s, now);
                if !running
                    && let Some(m) =
                        (self.followers.get_mut(&s.flow)).and_then(|f| f.metered.take())
                {
                    self.meters.leave(m, s, now); // metered only while its source writes
                }
                s.fluid.set_source_running(now, running);
            }
            self.update_demand(item, d);
            self.reschedule_wake(item, d);
        }
        self.refresh_quiet(item);
    }

    /// Starts replication of `disks` in `direction`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_replication(
        &mut self,
        item: &ItemId,
        direction: Direction,
        process_server: Option<ProcessServerName>,
        master_target: Option<MasterTargetName>,
        mode: RecoveryMode,
        disks: &[usize],
        resync: Option<ResyncPlan>,
    ) {
        self.stop_replication(item);
        let now = self.now();
        self.account_machine(item);
        let Some(m) = self.machines.get(item) else {
            return;
        };
        let running = self.source_running(m, direction);
        let route = match direction {
            Direction::ToOnPrem => {
                let ps = process_server
                    .as_ref()
                    .and_then(|p| self.paths.ps.get(p))
                    .copied();
                let mt = master_target
                    .as_ref()
                    .and_then(|p| self.paths.mt.get(p))
                    .copied();
                match (ps, mt) {
                    (Some(ps), Some(mt)) => self.net.topology().route_from_nodes(&[
                        self.paths.azure_site,
                        ps,
                        self.paths.azure_gw,
                        self.paths.onprem_gw,
                        mt,
                    ]),
                    _ => return,
                }
            }
            Direction::ToAzure => self.net.topology().route_from_nodes(&[
                self.paths.onprem_site,
                self.paths.onprem_gw,
                self.paths.azure_gw,
                self.paths.azure_site,
            ]),
        };
        let Ok(route) = route else { return };
        // RP-20: an MT newer than the PS or CS: the reprotect succeeds, then replication fails.
        let broken = direction == Direction::ToOnPrem
            && master_target
                .as_ref()
                .and_then(|mt| self.estate.master_targets.get(mt))
                .is_some_and(|mt| {
                    let ps_v = process_server
                        .as_ref()
                        .and_then(|p| self.estate.process_servers.get(p))
                        .map(|p| p.version);
                    let cs_v = self.estate.config_server.as_ref().map(|c| c.version);
                    ps_v.is_some_and(|v| mt.version > v) || cs_v.is_some_and(|v| mt.version > v)
                });
        let cap = (self
            .per_thread_bytes_per_s
            .saturating_mul(self.download_threads as u64)
            / disks.len().max(1) as u64)
            .max(1);
        let full_copy_disks: Vec<bool> = disks
            .iter()
            .map(|_| match (direction, mode) {
                (Direction::ToOnPrem, RecoveryMode::Original) => self
                    .estate
                    .onprem_vms
                    .get(&m.onprem_vm)
                    .is_none_or(|v| !v.enable_uuid),
                _ => true,
            })
            .collect();
        let mut started = Vec::new();
        for (k, &d) in disks.iter().enumerate() {
            let flow = FlowId(self.next_flow);
            self.next_flow += 1;
            let m = self.machines.get_mut(item).expect("exists");
            let Some(disk) = m.disks.get_mut(d) else {
                continue;
            };
            let (source, target) = match direction {
                Direction::ToOnPrem => (disk.azure_generation, disk.onprem_generation),
                Direction::ToAzure => (disk.onprem_generation, disk.azure_generation),
            };
            let mut fluid =
                FluidDisk::new(now, disk.size_bytes, disk.used_bytes, disk.churn.clone());
            fluid.set_source_running(now, running);
            let _ = fluid.set_tag_policy(now, Some(TagPolicy::default()));
            fluid.enable_point_log(4096);
            let resync_bytes = match resync.unwrap_or(ResyncPlan::None) {
                ResyncPlan::None => 0,
                ResyncPlan::Full(reason) => fluid.start_resync(now, reason, ResyncSize::UsedBytes),
                ResyncPlan::Differential { full_copy } => {
                    if full_copy || full_copy_disks[k] {
                        fluid.start_resync(now, ResyncReason::Reprotect, ResyncSize::UsedBytes)
                    } else {
                        let written_bytes = source.saturating_sub(target);
                        fluid.start_resync(
                            now,
                            ResyncReason::Reprotect,
                            ResyncSize::Differential {
                                written_bytes,
                                hot_region_bytes: disk.hot_region_bytes,
                            },
                        )
                    }
                }
            };
            if matches!(resync, None | Some(ResyncPlan::None)) {
                // Starts in sync: the target holds the source's data.
                match direction {
                    Direction::ToOnPrem => disk.onprem_generation = disk.azure_generation,
                    Direction::ToAzure => disk.azure_generation = disk.onprem_generation,
                }
            }
            disk.stream = Some(Stream {
                fluid,
                flow,
                net_slot: None,
                base_generation: source,
                wake: None,
                resync_bytes,
                held_by: None,
                virtual_mark: None,
                follows_churn: false,
                metered_from_wire: None,
                metered_bytes: 0,
            });
            self.flows.insert(flow, (item.clone(), d));
            started.push((d, flow));
        }
        let in_sync = matches!(resync, None | Some(ResyncPlan::None));
        if direction == Direction::ToOnPrem {
            self.last_paths.insert(
                item.clone(),
                (process_server.clone(), master_target.clone()),
            );
        }
        let m = self.machines.get_mut(item).expect("exists");
        m.last_resync_bytes = m
            .disks
            .iter()
            .filter_map(|d| d.stream.as_ref())
            .map(|s| s.resync_bytes)
            .sum();
        m.replication = Some(Replication {
            direction,
            process_server,
            master_target,
            mode,
            disks: disks.to_vec(),
            initial_sync_done: in_sync,
            broken: broken && in_sync,
            points: VmPoints::new(disks),
            partial: Default::default(),
            unreported: Vec::new(),
            followed: None,
        });
        for (d, flow) in started {
            let spec = FlowSpec {
                route: route.clone(),
                demand_bytes_per_s: 0,
                cap_bytes_per_s: Some(cap),
            };
            let _ = self.net.add_flow(flow, spec);
            let slot = self.net.flow_slot(flow).ok();
            if let Some(s) = stream_mut(&mut self.machines, item, d) {
                s.net_slot = slot;
            }
            self.update_demand(item, d);
            self.reschedule_wake(item, d);
        }
        self.refresh_quiet(item);
        if broken && in_sync {
            self.break_replication(item);
        }
    }

    /// Stops a machine's replication: its flows leave the network, its streams end.
    pub(crate) fn stop_replication(&mut self, item: &ItemId) {
        self.account_machine(item);
        self.end_sync_cadence(item);
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        let route =
            (m.replication.take()).map(|r| (r.direction, r.process_server, r.master_target));
        m.final_sync = None;
        m.sync_peak_bytes = 0; // the next replication's reports count afresh
        if m.cadence_from_ms.take().is_some() {
            self.pending.push(Observation::PointCadence {
                item: item.clone(),
                cadence: None,
            });
        }
        let ended: Vec<(usize, Stream)> = (m.disks.iter_mut().enumerate())
            .filter_map(|(d, disk)| disk.stream.take().map(|s| (d, s)))
            .collect();
        let pos = self.machines.position(item).expect("exists");
        let mut flows = Vec::new();
        for (d, mut s) in ended {
            if let Some(route) = &route {
                self.stream_ended(pos, d, route, &mut s);
            }
            self.followers.remove(&s.flow);
            self.shares.unlist(&mut s);
            flows.push((s.flow, s.wake));
        }
        self.refresh_quiet(item);
        for (flow, wake) in flows {
            let _ = self.net.remove_flow(flow);
            self.flows.remove(&flow);
            if let Some(k) = wake {
                self.kernel.cancel(k);
            }
        }
    }

    /// RP-20: replication stops sending once the resync is done; health critical.
    fn break_replication(&mut self, item: &ItemId) {
        self.cadence_changed(item);
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        let flows: Vec<FlowId> = m
            .disks
            .iter()
            .filter_map(|d| d.stream.as_ref().map(|s| s.flow))
            .collect();
        if let Some(r) = m.replication.as_mut() {
            r.broken = true;
        }
        for f in flows {
            let _ = self.net.set_flow_cap(f, Some(0));
        }
    }

    /// The network demand of a disk's stream: its backlog or churn, except that only the first three
    /// resyncing disks of a VM are sent at a time (DOMAIN.md §4).
    pub(crate) fn update_demand(&mut self, item: &ItemId, d: usize) {
        let Some(m) = self.machines.get(item) else {
            return;
        };
        if let Some(demand) = stream_demand(m, d) {
            demand.send(&mut self.net);
        }
    }

    /// Schedules the disk's next wake-up (cancelling the previous one).
    pub(crate) fn reschedule_wake(&mut self, item: &ItemId, d: usize) {
        if let Some(s) = stream_mut(&mut self.machines, item, d) {
            reschedule(&mut self.kernel, &mut self.shares, s);
        }
    }

    /// Applies the network's new rates to the streams whose rate changed: each stream is brought to now
    /// at its old rate and woken anew at its new one. The machine's generations are not touched; they
    /// are accounted lazily (they do not depend on rates). Hot in fleets (issue 6): one flow lookup by
    /// number, one machine lookup, no allocation.
    pub(crate) fn settle_network(&mut self) {
        // A new rate changes what a caught-up stream asks for (below its churn it takes what it can get,
        // at or above it only the churn): re-solved until the demands hold, in a few rounds at most.
        for _ in 0..SETTLE_ROUNDS {
            if !self.net.has_pending_changes() {
                return;
            }
            self.settle_round();
        }
    }

    /// One allocation: new levels to the shares, new rates to the streams whose rate or bottleneck
    /// changed otherwise, and their demands updated.
    fn settle_round(&mut self) {
        let now = self.now();
        let shared = self.net.reallocate_shared();
        for (r, level) in shared.levels {
            self.set_share_level(r, level, now);
            let plain: Vec<FlowId> = (self.shares.by_resource.get(&r))
                .map(|s| s.plain.iter().copied().collect())
                .unwrap_or_default();
            self.rerate(plain.into_iter().map(|flow| (flow, level, Some(r))), now);
        }
        for c in &shared.flows {
            if let Some(r) = c.bottleneck {
                // Joining a share at a new level: every stream it held before has been reported too
                // (the network reports a level only for streams held there before and after).
                self.set_share_level(r, c.rate_bytes_per_s, now);
            }
        }
        let changes =
            (shared.flows.into_iter()).map(|c| (c.flow, c.rate_bytes_per_s, c.bottleneck));
        self.rerate(changes, now);
    }

    /// Gives each listed stream its new rate and bottleneck: brought to now at its old rate, listed
    /// with its share, woken anew, its demand updated.
    fn rerate(
        &mut self,
        changes: impl Iterator<Item = (FlowId, u64, Option<Resource>)>,
        now: Millis,
    ) {
        let World {
            flows,
            machines,
            kernel,
            net,
            cadence_check,
            shares,
            followers,
            meters,
            ..
        } = self;
        let mut unmetered = Vec::new(); // machines a stream of which left its meter
        // The changes come in flow order and a machine's streams have neighbouring flow ids: one
        // lookup by name per machine, not per stream.
        let mut machine: Option<&mut Machine> = None;
        for (flow, rate, held_by) in changes {
            // a follower still at its own limit and given its churn goes on following it (looked up by
            // flow, before any machine is)
            if let Some(f) = followers.get(&flow)
                && held_by.is_none()
                && rate >= f.churn_rate_at(now)
            {
                continue;
            }
            let Some((item, d)) = flows.get(&flow) else {
                continue;
            };
            // the stream is the machine's at hand when that machine's disk `d` sends this flow
            let at_hand = machine.as_ref().is_some_and(|m| {
                (m.disks.get(*d))
                    .and_then(|x| x.stream.as_ref())
                    .is_some_and(|s| s.flow == flow)
            });
            if !at_hand {
                machine = machines.get_mut(item);
            }
            let Some(m) = machine.as_deref_mut() else {
                continue;
            };
            let Some(s) = m.disks.get_mut(*d).and_then(|x| x.stream.as_mut()) else {
                continue;
            };
            debug_assert_eq!(
                s.follows_churn,
                followers.contains_key(&flow),
                "one map of followers"
            );
            if World::unfollow(net, followers, meters, s, now) {
                unmetered.push(item.clone());
            }
            note_cadence_change(cadence_check, item, m);
            let Some(s) = m.disks.get_mut(*d).and_then(|x| x.stream.as_mut()) else {
                continue;
            };
            shares.release(s, now);
            s.fluid.set_send_rate(now, rate);
            s.held_by = held_by;
            reschedule(kernel, shares, s);
            if let Some(demand) = stream_demand(m, *d) {
                demand.send(net);
            }
        }
        for item in unmetered {
            self.refresh_quiet(&item);
        }
    }

    /// A share's earliest wake-up came: each stream whose resync has completed or whose backlog may
    /// have drained wakes (one still draining is listed again with what is left).
    pub(crate) fn share_wake(&mut self, r: Resource) {
        let now = self.now();
        let Some(share) = self.shares.by_resource.get_mut(&r) else {
            return;
        };
        share.wake = None;
        let due = share.due(now);
        self.shares.note_moved(r);
        for flow in due {
            self.disk_wake(flow);
        }
    }

    /// Wakes each share whose earliest wake-up may have moved, at its new time.
    pub(crate) fn wake_shares(&mut self) {
        let mut moved = std::mem::take(&mut self.moved_shares);
        self.shares.take_moved(&mut moved);
        for &(r, old, at) in &moved {
            if let Some(k) = old {
                self.kernel.cancel(k);
            }
            if let Some(t) = at {
                let key = self.schedule(t, Event::ShareWake(r));
                if let Some(share) = self.shares.by_resource.get_mut(&r) {
                    share.wake = Some(key);
                }
            }
        }
        self.moved_shares = moved;
    }

    /// Something about `item`'s streams changed now: if it is under a point cadence, is it still
    /// caught up? ([`World::check_cadences`] answers at the end of the instant.)
    pub(crate) fn cadence_changed(&mut self, item: &ItemId) {
        if let Some(m) = self.machines.get(item) {
            note_cadence_change(&mut self.cadence_check, item, m);
        }
    }

    /// Every cadence is checked at the end of the instant (a fault may touch any stream).
    pub(crate) fn check_all_cadences(&mut self) {
        for (item, m) in self.machines.iter() {
            note_cadence_change(&mut self.cadence_check, item, m);
        }
    }

    /// Whether a machine's data reaches the target as it is written, so that every tag is usable the
    /// moment it is made: replicating and in sync, not broken, and on every replicated disk no resync, no
    /// backlog, the source writing and a send rate at least its churn (a rate change, a resync or a
    /// stopped source all come through [`World::cadence_changed`]). Call with the disks accounted to now.
    fn caught_up(&self, m: &Machine) -> bool {
        let Some(r) = &m.replication else {
            return false;
        };
        if r.broken || !r.initial_sync_done || !r.partial.is_empty() || m.final_sync.is_some() {
            return false;
        }
        !r.disks.is_empty()
            && r.disks.iter().all(|&d| {
                m.disks
                    .get(d)
                    .and_then(|x| x.stream.as_ref())
                    .is_some_and(|s| {
                        let f = &s.fluid;
                        f.source_running()
                            && f.resync_progress().is_none()
                            && f.resync_required().is_none()
                            && f.backlog_bytes() == 0
                            && f.effective_send_rate_bps() >= f.churn_rate_bps()
                    })
            })
    }

    /// Ends the cadence of every machine checked this instant that is no longer caught up: its tags up to
    /// now were usable (it was caught up until now), later points are reported. One still caught up has
    /// its points gathered now and then (every [`COLLECT_EVERY_MS`], so the disks' point logs stay short;
    /// whoever reads the machine's points collects them first).
    pub(crate) fn check_cadences(&mut self) {
        let now = self.now();
        for item in std::mem::take(&mut self.cadence_check) {
            self.account_machine(&item);
            let Some(m) = self.machines.get(&item) else {
                continue;
            };
            if m.sync_cadence.is_some() {
                self.check_sync_cadence(&item);
                continue;
            }
            if m.cadence_from_ms.is_none() {
                continue;
            }
            if self.caught_up(m) {
                let followed = m.replication.as_ref().is_some_and(|r| r.followed.is_some());
                self.follow_churn(&item);
                if !followed {
                    self.collect_points_if_due(&item);
                    self.start_followed_points(&item);
                } else if !self.still_followed(&item) {
                    self.collect_points(&item);
                    self.end_followed_points(&item);
                }
                self.cadence_report.insert(item);
                continue;
            }
            self.collect_points(&item);
            self.end_followed_points(&item);
            let m = self.machines.get_mut(&item).expect("exists");
            m.cadence_from_ms = None;
            let mut followed = false;
            for s in m.disks.iter_mut().filter_map(|d| d.stream.as_mut()) {
                followed |= s.follows_churn;
                World::unfollow(&self.net, &mut self.followers, &mut self.meters, s, now);
            }
            self.refresh_quiet(&item);
            let m = self.machines.get_mut(&item).expect("exists");
            if followed {
                for d in 0..m.disks.len() {
                    self.reschedule_wake(&item, d);
                }
            }
            self.pending.push(Observation::PointCadence {
                item,
                cadence: None,
            });
        }
    }

    /// Gathers the points of a machine under a point cadence if they are due ([`points_due`]).
    fn collect_points_if_due(&mut self, item: &ItemId) {
        let now = self.now();
        if self.machines.get(item).is_some_and(|m| points_due(m, now)) {
            self.collect_points(item);
        }
    }

    /// At a report: the machines under a point cadence whose points are due to be gathered (their
    /// streams follow their churn, so nothing else may look at them for days).
    fn collect_cadence_points(&mut self) {
        let now = self.now();
        let due: Vec<ItemId> = (self.machines.iter())
            .filter(|(_, m)| {
                let followed = m.replication.as_ref().is_some_and(|r| r.followed.is_some());
                m.cadence_from_ms.is_some() && !followed && points_due(m, now)
            })
            .map(|(i, _)| i.clone())
            .collect();
        for item in due {
            self.collect_points(&item);
        }
    }

    /// Announces a cadence for a machine reported just now that is caught up: its tags from the next
    /// one on are usable as they are made (issue 6: it is not reported again while that holds).
    fn start_cadence(&mut self, item: &ItemId) {
        let now = self.now();
        let Some(m) = self.machines.get(item) else {
            return;
        };
        if !self.cadences || m.cadence_from_ms.is_some() || !self.caught_up(m) {
            return;
        }
        let step = drsim_engine::recovery_point::CRASH_POINT_INTERVAL_MS;
        let from = (now / step + 1) * step;
        let multi_vm = m.replication_group.is_some();
        self.machines.get_mut(item).expect("exists").cadence_from_ms = Some(from);
        self.pending.push(Observation::PointCadence {
            item: item.clone(),
            cadence: Some(PointCadence {
                from_tag_ms: from,
                app_interval_ms: TagPolicy::default().app_consistent_interval_ms,
                multi_vm,
            }),
        });
        self.follow_churn(item);
        self.start_followed_points(item);
    }

    /// A disk's stream reached a qualitative change.
    pub(crate) fn disk_wake(&mut self, flow: FlowId) {
        let Some((item, d)) = self.flows.get(&flow).cloned() else {
            return; // the stream ended
        };
        let item = &item;
        let resyncing = |s: &Stream| s.fluid.resync_progress().is_some();
        let was_resyncing = stream_mut(&mut self.machines, item, d).is_some_and(|s| {
            s.wake = None;
            resyncing(s)
        });
        let now = self.now();
        self.account(item, d, now);
        self.cadence_changed(item);
        // Only a resync ending changes another disk's demand (the next held-back one may start).
        let is_resyncing = (self.machines.get(item))
            .and_then(|m| m.disks.get(d)?.stream.as_ref())
            .is_some_and(resyncing);
        if was_resyncing != is_resyncing {
            let n = self.machines.get(item).map_or(0, |m| m.disks.len());
            for k in 0..n {
                self.update_demand(item, k);
            }
        } else {
            self.update_demand(item, d);
        }
        self.reschedule_wake(item, d);
        self.check_sync_done(item);
        self.try_finish_final_sync(item);
    }

    /// Marks the initial sync done once every stream's resync has finished, and reports it (RJ-07).
    pub(crate) fn check_sync_done(&mut self, item: &ItemId) {
        let Some(m) = self.machines.get(item) else {
            return;
        };
        let Some(r) = &m.replication else { return };
        if r.initial_sync_done {
            return;
        }
        let done =
            m.disks.iter().filter_map(|d| d.stream.as_ref()).all(|s| {
                s.fluid.resync_progress().is_none() && s.fluid.resync_required().is_none()
            });
        if !done {
            return;
        }
        self.end_sync_cadence(item);
        let broken = self.replication_broken_by_versions(item);
        let m = self.machines.get_mut(item).expect("exists");
        if let Some(r) = m.replication.as_mut() {
            r.initial_sync_done = true;
        }
        if broken {
            self.break_replication(item);
        }
        if let Some(report) = self.replication_report(item) {
            self.send_report(item, report);
        }
    }

    fn replication_broken_by_versions(&self, item: &ItemId) -> bool {
        let Some(r) = self.machines.get(item).and_then(|m| m.replication.as_ref()) else {
            return false;
        };
        let Some(mt) = r
            .master_target
            .as_ref()
            .and_then(|m| self.estate.master_targets.get(m))
        else {
            return false;
        };
        let ps = r
            .process_server
            .as_ref()
            .and_then(|p| self.estate.process_servers.get(p))
            .map(|p| p.version);
        let cs = self.estate.config_server.as_ref().map(|c| c.version);
        ps.is_some_and(|v| mt.version > v) || cs.is_some_and(|v| mt.version > v)
    }

    /// The replication report of a machine now.
    pub(crate) fn replication_report(&self, item: &ItemId) -> Option<ReplicationReport> {
        let m = self.machines.get(item)?;
        let r = m.replication.as_ref()?;
        let (mut sent, mut total) = (0u64, 0u64);
        for s in m.disks.iter().filter_map(|d| d.stream.as_ref()) {
            total += s.resync_bytes;
            sent += match s.fluid.resync_progress() {
                Some(p) => p.sent_bytes,
                None => s.resync_bytes,
            };
        }
        // each server looked up once (by name down the estate's trees, for every machine at every
        // report: issue 6)
        let ps = (r.process_server.as_ref()).map(|p| self.estate.process_servers.get(p));
        let ps_down = ps.is_some_and(|p| p.is_none_or(|p| !p.running));
        let mt_down = (r.master_target.as_ref())
            .is_some_and(|p| self.estate.master_targets.get(p).is_none_or(|m| !m.running));
        let link_down = self.estate.network.is_some_and(|n| !n.up);
        let ps_health = ps.flatten().map_or(Health::Ok, |p| p.health);
        let health = if r.broken || ps_down || mt_down {
            Health::Critical
        } else if link_down {
            Health::Warning
        } else {
            ps_health
        };
        Some(ReplicationReport {
            direction: r.direction,
            initial_sync_done: r.initial_sync_done,
            sync_bytes_sent: sent,
            sync_bytes_total: total,
            health,
        })
    }

    /// Gathers the points every disk of a machine has made usable into VM-level points (a VM point is
    /// usable once usable on all its replicated disks). The disks of a VM tag on one grid, so their points
    /// usually arrive together: then they are zipped without the partial-point map (issue 6).
    pub(crate) fn collect_points(&mut self, item: &ItemId) {
        let now = self.now();
        self.account_machine(item);
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        let Some(r) = m.replication.as_mut() else {
            return;
        };
        let n = r.disks.len();
        // every disk's new points in one buffer kept between calls, disk k's at `ends[k-1]..ends[k]`
        let mut flat = std::mem::take(&mut self.points_gathered);
        flat.clear();
        let (mut ends, mut bases) = std::mem::take(&mut self.points_scratch);
        ends.clear();
        bases.clear();
        for &d in &r.disks {
            if let Some(s) = m.disks[d].stream.as_mut() {
                s.fluid.drain_usable_points_into(&mut flat);
                bases.push(s.base_generation);
            } else {
                bases.push(0);
            }
            ends.push(flat.len());
        }
        let per_disk: Vec<&[crate::fluid::RecoveryPoint]> = if flat.is_empty() {
            Vec::new() // no new point: nothing to allocate
        } else {
            (0..n)
                .map(|k| &flat[if k == 0 { 0 } else { ends[k - 1] }..ends[k]])
                .collect()
        };
        let kind_of = |k: crate::fluid::RecoveryPointKind| match k {
            crate::fluid::RecoveryPointKind::AppConsistent => PointKind::App,
            _ => PointKind::Crash,
        };
        // each new point is reported to the engine, and kept if newer than the newest kept
        let add = |r: &mut Replication,
                   tag_ms: Millis,
                   kind: PointKind,
                   gens: &mut dyn Iterator<Item = u64>| {
            r.unreported.push((tag_ms, kind));
            r.points.push(tag_ms, kind, gens);
        };
        if per_disk.iter().any(|l| !l.is_empty()) {
            let aligned = r.partial.is_empty()
                && per_disk.iter().all(|l| {
                    l.len() == per_disk[0].len()
                        && l.iter().zip(per_disk[0]).all(|(a, b)| a.tag_ms == b.tag_ms)
                });
            if aligned {
                for i in 0..per_disk[0].len() {
                    let kind = (per_disk.iter())
                        .map(|l| kind_of(l[i].kind))
                        .min()
                        .expect("n > 0");
                    let mut gens = (per_disk.iter())
                        .zip(&bases)
                        .map(|(l, b)| b + l[i].generation_bytes);
                    add(r, per_disk[0][i].tag_ms, kind, &mut gens);
                }
            } else {
                // Only a tag logged now can have become complete (the others waited for a disk).
                let mut logged: Vec<Millis> = Vec::new();
                for (k, list) in per_disk.iter().enumerate() {
                    for p in *list {
                        logged.push(p.tag_ms);
                        let generation = bases[k] + p.generation_bytes;
                        r.partial.note(n, k, p.tag_ms, kind_of(p.kind), generation);
                    }
                }
                logged.sort_unstable();
                logged.dedup();
                let mut gens = Vec::new();
                for t in logged {
                    if let Some(kind) = r.partial.take_complete(t, &mut gens) {
                        add(r, t, kind, &mut gens.iter().copied());
                    }
                }
            }
        }
        drop(per_disk);
        self.points_gathered = flat;
        self.points_scratch = (ends, bases);
        if let Some(from) = m.cadence_from_ms {
            r.unreported.retain(|(t, _)| *t < from); // the cadence told the engine of these
        }
        super::followed_points::add_followed_points(r, now, POINTS_KEPT_MS);
        if r.points.len() > THIN_AT {
            thin_points(&mut r.points, now);
        }
        // Partial points older than the newest complete one can no longer complete in order; drop them.
        // (the newest point is usable, so no later than now: those are a prefix)
        let last = r.points.back().map(|p| p.tag_ms);
        r.partial.drop_through(last, now);
    }

    /// PS health from DOMAIN.md §5: critical when down, cache free < 25 % or upload backlog > 45 min;
    /// warning when cache free < 30 % or backlog > 30 min. The backlog of the streams through a PS is what
    /// its cache holds; the upload backlog is the oldest stream's backlog over its current rate.
    /// Returns whether some process server's health changed.
    pub(crate) fn update_ps_health(&mut self) -> bool {
        let mut changed = false;
        let mut load: std::collections::BTreeMap<ProcessServerName, (u64, u64)> =
            Default::default();
        // (machines under a point cadence are caught up: nothing waits in the cache, no backlog to
        // upload)
        for pos in self.machines.positions_where(|f| !f.point_cadence) {
            let Some((_, m)) = self.machines.entry_at(pos) else {
                continue;
            };
            let Some(ps) = m
                .replication
                .as_ref()
                .and_then(|r| r.process_server.clone())
            else {
                continue;
            };
            let e = load.entry(ps).or_default();
            for s in m.disks.iter().filter_map(|d| d.stream.as_ref()) {
                let (backlog, rate) = self.stream_load(s);
                e.0 += backlog;
                e.1 = e.1.max(backlog / rate.max(1));
            }
        }
        let names: Vec<ProcessServerName> = self.estate.process_servers.keys().cloned().collect();
        for ps in names {
            let (backlog, backlog_s) = load.get(&ps).copied().unwrap_or((0, 0));
            let running = self.estate.process_servers[&ps].running;
            // The cache holds what the agents uploaded and the MT has not yet received, up to its size;
            // the rest waits at the sources. Below 20 % free the PS throttles the agents: in a fluid
            // model the bottleneck's rate is unchanged, only where the queue waits moves (DOMAIN.md §1).
            let free_pct = self.ps_cache.get(&ps).map(|c| {
                let cached = backlog.min(*c);
                100u64.saturating_sub(cached.saturating_mul(100) / (*c).max(1))
            });
            if free_pct.is_some_and(|f| f < 20) {
                self.ps_throttled.insert(ps.clone());
            } else if free_pct.is_some_and(|f| f >= 30) || free_pct.is_none() {
                self.ps_throttled.remove(&ps);
            }
            let health = if !running || free_pct.is_some_and(|f| f < 25) || backlog_s > 45 * 60 {
                Health::Critical
            } else if free_pct.is_some_and(|f| f < 30) || backlog_s > 30 * 60 {
                Health::Warning
            } else {
                Health::Ok
            };
            if self.estate.process_servers[&ps].health != health {
                changed = true;
                if let Some(p) = self
                    .estate
                    .process_server_mut(&ps, crate::estate::Visibility::Known)
                {
                    p.health = health;
                }
            }
        }
        changed
    }

    /// The periodic report: progress and new points of every replicating machine.
    pub(crate) fn report(&mut self) {
        self.last_report_ms = self.now();
        let items: Vec<ItemId> = (self.machines.positions_where(|f| f.reported).into_iter())
            .filter_map(|pos| self.machines.entry_at(pos).map(|(i, _)| i.clone()))
            .collect();
        for item in &items {
            self.account_machine(item);
        }
        self.account_sync_cadence_disks();
        let health_changed = self.update_ps_health();
        // Machines under a cadence report what changed of the estate around them: their PS's health, or
        // whatever touched them since the last report (a fault, say, in this very instant).
        let mut under = std::mem::take(&mut self.cadence_report);
        under.extend(self.cadence_check.iter().cloned());
        if health_changed {
            under.extend(
                (self.machines.iter())
                    .filter(|(_, m)| m.cadence_from_ms.is_some() || m.sync_cadence.is_some())
                    .map(|(i, _)| i.clone()),
            );
        }
        for item in under {
            let Some(m) = self.machines.get(&item) else {
                continue;
            };
            if m.sync_cadence.is_some() {
                // reported as every report under its cadence would have been: with its progress
                self.account_machine(&item);
                self.report_if_changed(&item);
            } else if m.cadence_from_ms.is_some() {
                self.report_if_changed(&item);
            }
        }
        for item in items {
            self.collect_points(&item);
            let m = self.machines.get_mut(&item).expect("exists");
            let multi_vm = m.replication_group.is_some();
            let points: Vec<RecoveryPoint> = m
                .replication
                .as_mut()
                .map(|r| std::mem::take(&mut r.unreported))
                .unwrap_or_default()
                .into_iter()
                .map(|(tag_ms, kind)| RecoveryPoint {
                    tag_ms,
                    kind,
                    multi_vm,
                })
                .collect();
            if !points.is_empty() {
                self.pending.push(Observation::RecoveryPoints {
                    item: item.clone(),
                    points,
                });
            }
            self.report_if_changed(&item);
            self.start_cadence(&item);
            self.start_sync_cadence(&item);
        }
        // the points of machines under a cadence are due every 12 h: looked for once an hour
        let hour = self.now() / drsim_engine::time::HOUR_MS;
        if hour != self.collected_hour {
            self.collected_hour = hour;
            self.collect_sync_cadence_points();
            self.collect_cadence_points();
        }
    }

    /// Reports a machine's replication if the report changed: a caught-up machine's report stays the
    /// same, and a sync that makes no progress sends nothing (which the engine's stall timer is for).
    pub(crate) fn report_if_changed(&mut self, item: &ItemId) {
        if let Some(report) = self.replication_report(item)
            && (self.machines.get(item)).and_then(|m| m.last_report.as_ref()) != Some(&report)
        {
            self.send_report(item, report);
        }
    }

    /// Sends a machine's replication report and keeps it as the last one (and its bytes as the most
    /// any report of this replication showed, for [`World::start_sync_cadence`]).
    fn send_report(&mut self, item: &ItemId, report: ReplicationReport) {
        if let Some(m) = self.machines.get_mut(item) {
            m.sync_peak_bytes = m.sync_peak_bytes.max(report.sync_bytes_sent);
            m.last_report = Some(report.clone());
        }
        self.pending.push(Observation::Replication {
            item: item.clone(),
            report,
        });
    }

    /// Completes a waiting final sync once the machine's streams have drained (FB-03 "latest").
    pub(crate) fn try_finish_final_sync(&mut self, item: &ItemId) {
        let Some((id, tag, deadline)) = self.machines.get(item).and_then(|m| m.final_sync) else {
            return;
        };
        if self.now() > deadline {
            // The engine gave up on this final sync; it is cancelled.
            self.machines.get_mut(item).expect("exists").final_sync = None;
            return;
        }
        let now = self.now();
        self.account_machine(item);
        let m = self.machines.get(item).expect("exists");
        let drained = m
            .disks
            .iter()
            .filter_map(|d| d.stream.as_ref())
            .all(|s| s.fluid.backlog_bytes() == 0 && s.fluid.resync_progress().is_none());
        if !drained {
            return;
        }
        let m = self.machines.get_mut(item).expect("exists");
        m.final_sync = None;
        let mut gens = Vec::new();
        if let Some(r) = m.replication.as_ref() {
            for &d in &r.disks {
                let g = match m.disks[d].stream.as_mut() {
                    Some(s) => {
                        s.base_generation
                            + s.fluid
                                .tag_now(now, crate::fluid::RecoveryPointKind::CrashConsistent)
                    }
                    None => m.disks[d].azure_generation,
                };
                gens.push(g);
            }
        }
        if let Some(r) = m.replication.as_mut() {
            r.points.push_final(tag, PointKind::Crash, gens);
        }
        let multi_vm = m.replication_group.is_some();
        self.pending.push(Observation::ActionResult {
            id,
            outcome: drsim_engine::protocol::ActionOutcome::Ok {
                point: Some(RecoveryPoint {
                    tag_ms: tag,
                    kind: PointKind::Crash,
                    multi_vm,
                }),
            },
        });
    }
}

/// Whether a machine's points are due to be gathered: none yet, or the newest [`COLLECT_EVERY_MS`] old.
fn points_due(m: &Machine, now: Millis) -> bool {
    (m.replication.as_ref())
        .and_then(|r| r.points.back())
        .is_none_or(|p| now.saturating_sub(p.tag_ms) >= COLLECT_EVERY_MS)
}

/// Puts a machine under a point cadence on the list checked at the end of the instant (once).
pub(crate) fn note_cadence_change(check: &mut BTreeSet<ItemId>, item: &ItemId, m: &Machine) {
    if (m.cadence_from_ms.is_some() || m.sync_cadence.is_some()) && !check.contains(item) {
        check.insert(item.clone());
    }
}

/// Disk `d`'s stream of `item`, borrowing only the machines (so the kernel can be borrowed beside it).
fn stream_mut<'a>(
    machines: &'a mut super::MachineTable,
    item: &ItemId,
    d: usize,
) -> Option<&'a mut Stream> {
    machines.get_mut(item)?.disks.get_mut(d)?.stream.as_mut()
}

/// Cancels a stream's pending wake-up and schedules the next one under its current rates: none of its
/// own while its share advances it in virtual time.
fn reschedule(kernel: &mut crate::kernel::Kernel<Event>, shares: &mut Shares, s: &mut Stream) {
    if let Some(k) = s.wake.take() {
        kernel.cancel(k);
    }
    if s.follows_churn {
        return; // its churn steps are on the world's calendar (`world::follow`)
    }
    let now = kernel.now();
    shares.release(s, now);
    if shares.list(s, now) {
        return;
    }
    if let Some(t) = s.fluid.next_event_time() {
        let at = t.max(kernel.now());
        s.wake = Some(
            kernel
                .schedule_at(at, Event::DiskWake(s.flow))
                .expect("never in the past: clamped to now"),
        );
    }
}

/// Thins a machine's points the way the MT's retention keeps them (DOMAIN.md §4): every point of the last
/// 2 h; beyond, the newest app-consistent point of each hour, else its newest point; nothing older than
/// the longest window (15 days). Whatever retention the engine prunes with keeps one point per 1, 2 or 4
/// hours, aligned to absolute time, preferring app-consistent ones: always one of these, so a failback
/// finds every point the engine offers (issue 6: a week of 5-minute points per machine was 2,016 kept).
pub(super) fn thin_points(points: &mut VmPoints, now: Millis) {
    use drsim_engine::recovery_point::KEEP_ALL_MS;
    use drsim_engine::time::HOUR_MS;
    let Some(newest) = points.last_tag() else {
        return;
    };
    let mut keep = vec![false; points.len()];
    // the hour being walked (newest first), its chosen point and that point's kind
    let mut bucket: Option<(Millis, usize, PointKind)> = None;
    for (i, p) in points.iter().enumerate().rev() {
        let age = now.saturating_sub(p.tag_ms);
        if p.tag_ms == newest || age <= KEEP_ALL_MS {
            keep[i] = true;
            continue;
        }
        if age > POINTS_KEPT_MS {
            continue;
        }
        let hour = p.tag_ms / HOUR_MS;
        match &mut bucket {
            Some((h, chosen, kind)) if *h == hour => {
                if *kind == PointKind::Crash && p.kind == PointKind::App {
                    (*chosen, *kind) = (i, p.kind);
                }
            }
            _ => {
                if let Some((_, chosen, _)) = bucket.take() {
                    keep[chosen] = true;
                }
                bucket = Some((hour, i, p.kind));
            }
        }
    }
    if let Some((_, chosen, _)) = bucket {
        keep[chosen] = true;
    }
    points.retain_marked(&keep);
}

/// Brings disks `ds` of a machine up to `now`: the VMs' power is looked up once, and not at all when
/// they are accounted already (reports account every replicating machine every interval). With
/// `leave_behind` (reading between events), only the streams not [`Stream::left_behind`] are brought to
/// now: those stay where they are (read them with [`World::stream_totals`]), and so do disks without a
/// stream (see [`World::catch_up_for_reading`]).
pub(crate) fn account_machine_disks(
    m: &mut Machine,
    estate: &crate::estate::Estate,
    shares: &Shares,
    ds: std::ops::Range<usize>,
    now: Millis,
    leave_behind: bool,
) {
    let left = |d: &Disk| leave_behind && (d.stream.as_ref()).is_none_or(Stream::left_behind);
    let behind = |d: &Disk| now > d.accounted_ms && !left(d);
    if !m
        .disks
        .get(ds.clone())
        .is_some_and(|x| x.iter().any(behind))
    {
        return;
    }
    let mut power = Power {
        estate,
        azure_vm: &m.azure_vm,
        onprem_vm: &m.onprem_vm,
        azure_on: None,
        onprem_on: None,
    };
    let direction = m.replication.as_ref().map(|r| r.direction);
    for disk in m.disks.get_mut(ds).into_iter().flatten() {
        if !left(disk) {
            account_disk(disk, direction, &mut power, shares, now);
        }
    }
}

/// Whether a machine's VMs run, each looked up by name only if a disk needs it (a replicating disk
/// needs only its target's: a held machine's report looked up both, 2 % of a saturated-link run).
struct Power<'a> {
    estate: &'a crate::estate::Estate,
    azure_vm: &'a VmName,
    onprem_vm: &'a VmName,
    azure_on: Option<bool>,
    onprem_on: Option<bool>,
}

impl Power<'_> {
    fn azure_on(&mut self) -> bool {
        let (estate, vm) = (self.estate, self.azure_vm);
        *(self.azure_on).get_or_insert_with(|| {
            (estate.azure_vms.get(vm)).is_some_and(|v| v.power == PowerState::On)
        })
    }

    fn onprem_on(&mut self) -> bool {
        let (estate, vm) = (self.estate, self.onprem_vm);
        *(self.onprem_on).get_or_insert_with(|| {
            (estate.onprem_vms.get(vm)).is_some_and(|v| v.power == PowerState::On)
        })
    }
}

/// Brings one disk's generations (and its stream) up to `now`: writes go to the copy that runs; while
/// replicating, the source's generation is the stream's, and a target copy that runs too diverges (split).
fn account_disk(
    disk: &mut Disk,
    direction: Option<Direction>,
    power: &mut Power,
    shares: &Shares,
    now: Millis,
) {
    if now <= disk.accounted_ms {
        return;
    }
    let written = disk.churn.bytes_written(disk.accounted_ms, now);
    match (&mut disk.stream, direction) {
        (Some(s), Some(dir)) => {
            shares.materialize(s, now);
            s.fluid.advance(now);
            let source = s.base_generation + s.fluid.written_bytes();
            match dir {
                Direction::ToOnPrem => {
                    disk.azure_generation = source;
                    if written > 0 && power.onprem_on() {
                        disk.onprem_generation += written; // a split copy diverges
                    }
                }
                Direction::ToAzure => {
                    disk.onprem_generation = source;
                    if written > 0 && power.azure_on() {
                        disk.azure_generation += written;
                    }
                }
            }
        }
        _ => {
            if written > 0 && power.azure_on() {
                disk.azure_generation += written;
            }
            if written > 0 && power.onprem_on() {
                disk.onprem_generation += written;
            }
        }
    }
    disk.accounted_ms = now;
}

/// How many allocations one settling may take before its demands hold ([`World::settle_network`]); a
/// change still pending after them is solved at the next settling.
const SETTLE_ROUNDS: usize = 4;

/// A stream's network demand, in bytes per second, for its flow.
struct FlowDemand {
    flow: FlowId,
    /// Where the network keeps the flow ([`Stream::net_slot`]).
    slot: Option<FlowSlot>,
    bytes_per_s: u64,
}

impl FlowDemand {
    /// Tells the network: straight to the flow's slot when the stream knows it, else by flow id.
    fn send(self, net: &mut crate::network::Network) {
        let Self {
            flow,
            slot,
            bytes_per_s,
        } = self;
        let placed = slot.is_some_and(|at| net.set_demand_in(at, bytes_per_s).is_ok());
        if !placed {
            let _ = net.set_demand(flow, bytes_per_s);
        }
    }
}

/// The network demand of disk `d`'s stream ([`SendDemand`] in bytes per second): none for a resync
/// beyond the first [`DISKS_AT_A_TIME`] resyncing disks of the machine.
fn stream_demand(m: &Machine, d: usize) -> Option<FlowDemand> {
    let s = m.disks.get(d).and_then(|x| x.stream.as_ref())?;
    let resyncing = |s: &Stream| s.fluid.resync_progress().is_some();
    let held_back = resyncing(s)
        && (m.disks[..d].iter())
            .filter(|x| x.stream.as_ref().is_some_and(resyncing))
            .count()
            >= DISKS_AT_A_TIME;
    let demand = match s.fluid.demand() {
        _ if held_back => 0,
        SendDemand::Idle => 0,
        SendDemand::Bounded { bps } => bps,
        SendDemand::Elastic => UNLIMITED_BYTES_PER_S,
    };
    Some(FlowDemand {
        flow: s.flow,
        slot: s.net_slot,
        bytes_per_s: demand,
    })
}

#[cfg(test)]
mod thinning_tests {
    use super::*;
    use drsim_engine::recovery_point::{PointStore, RecoveryPoint};
    use drsim_engine::time::{DAY_MS, MINUTE_MS};

    /// The world keeps every point the engine's retention pruning can keep, whatever the window: a
    /// failback never asks for a point the MT threw away.
    #[test]
    fn thinned_points_hold_every_point_engine_pruning_keeps() {
        let app_every = 90 * MINUTE_MS; // not hour-aligned: buckets mix app and crash points
        for days in [1u64, 3, 10] {
            let now = days * DAY_MS + 17 * MINUTE_MS;
            let mut world = VmPoints::new(&[0]);
            let mut engine = PointStore::new();
            let mut t = 0;
            while t <= now {
                let kind = if t % app_every == 0 {
                    PointKind::App
                } else {
                    PointKind::Crash
                };
                world.push(t, kind, [t]);
                engine.insert(RecoveryPoint {
                    tag_ms: t,
                    kind,
                    multi_vm: false,
                });
                // both prune as time goes on, as in a run
                if t % (6 * 60 * MINUTE_MS) == 0 {
                    thin_points(&mut world, t);
                    engine.prune(t, days * DAY_MS);
                }
                t += 5 * MINUTE_MS;
            }
            thin_points(&mut world, now);
            engine.prune(now, days * DAY_MS);
            let kept: std::collections::BTreeSet<Millis> = world.iter().map(|p| p.tag_ms).collect();
            for p in engine.iter() {
                assert!(
                    kept.contains(&p.tag_ms),
                    "{days} d: engine keeps {} ms, the world does not",
                    p.tag_ms
                );
            }
            assert!(
                world.len() < 24 + 15 * 24 + 2,
                "{days} d: {} points kept",
                world.len()
            );
        }
    }
}
