//! Recovery points of a machine whose streams all follow their churn (issue 6), computed when asked.
//!
//! While every replicated stream of a machine follows its churn (`world::follow`), each tag is usable
//! at tag + lag and a disk's generation at a tag is what it held when it started following plus its
//! churn's integral since. So the disks' point logs are paused from the first tag after that
//! ([`crate::fluid::FluidDisk::pause_point_log_from`]) and the machine's VM points are computed only
//! when something asks for them (an action, the cadence ending), and only those the MT's retention
//! keeps ([`super::plane`]'s thinning rule): a steady machine costs nothing per tag, and its points take
//! no memory until then (they were gathered from the disks' logs every 12 h, one allocation per point).
//!
//! The computation holds while the disks write at their churn: anything that changes that (a source
//! stopped, a stream no longer following) is checked at the end of its instant
//! ([`World::check_cadences`]), which computes the points usable by then and hands the tags after them
//! back to the disks' logs.
//!
//! Tags from before the followed stretch that were still waiting out the lag when it started are logged
//! by the disks as before and gathered first; they are usable before any followed tag (same lag, earlier
//! tag), so the machine's points stay in tag order (a later one would be dropped by the order guard).

use super::World;
use super::machine::Replication;
use crate::churn::ChurnModel;
use crate::fluid::{
    CRASH_CONSISTENT_INTERVAL_MS, RecoveryPointKind, TagPolicy, millibytes_to_bytes,
};
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::recovery_point::{KEEP_ALL_MS, PointKind};
use drsim_engine::time::HOUR_MS;

/// The points of a machine not yet computed, while all its replicated streams follow their churn.
#[derive(Clone, Debug)]
pub struct FollowedPoints {
    /// The first tag whose point is not among the machine's points yet.
    next_tag_ms: Millis,
    /// The delay from a tag to its point being usable (the largest of the disks').
    lag_ms: Millis,
    /// When the disks tag (the same on every disk).
    policy: TagPolicy,
    /// Per replicated disk (in the order of [`Replication::disks`]): how to compute its generation.
    disks: Vec<FollowedDisk>,
}

/// One disk of a followed machine: its generation at `t ≥ from_ms` is
/// `base + ⌊(written + churn over [from_ms, t)) / 1000⌋`.
#[derive(Clone, Debug)]
struct FollowedDisk {
    from_ms: Millis,
    written_millibytes: u128,
    base_generation: u64,
    churn: ChurnModel,
}

impl FollowedDisk {
    fn generation_at(&self, tag_ms: Millis) -> u64 {
        let written = (self.written_millibytes)
            .saturating_add(self.churn.millibytes_written(self.from_ms, tag_ms));
        self.base_generation + millibytes_to_bytes(written)
    }
}

impl World {
    /// Computes a machine's points from now on when every replicated stream follows its churn (and
    /// pauses its disks' point logs). Call with the disks accounted to now.
    pub(crate) fn start_followed_points(&mut self, item: &ItemId) {
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        let Some(r) = m.replication.as_mut() else {
            return;
        };
        if r.followed.is_some() || m.cadence_from_ms.is_none() || r.disks.is_empty() {
            return;
        }
        let mut policy = None;
        let mut lag_ms = 0;
        let mut next_tag_ms = 0;
        let mut disks = Vec::with_capacity(r.disks.len());
        for &d in &r.disks {
            let Some(s) = m.disks.get(d).and_then(|x| x.stream.as_ref()) else {
                return;
            };
            let f = &s.fluid;
            if !s.follows_churn || !f.source_running() || f.tag_policy().is_none() {
                return;
            }
            if policy.is_some_and(|p| Some(p) != f.tag_policy()) {
                return;
            }
            policy = f.tag_policy();
            lag_ms = lag_ms.max(f.transfer_lag_ms());
            next_tag_ms = next_tag_ms.max(f.next_tag_ms());
            disks.push(FollowedDisk {
                from_ms: f.now_ms(),
                written_millibytes: f.written_millibytes(),
                base_generation: s.base_generation,
                churn: f.churn().clone(),
            });
        }
        let Some(policy) = policy else {
            return;
        };
        for &d in &r.disks {
            if let Some(s) = m.disks[d].stream.as_mut() {
                s.fluid.pause_point_log_from(Some(next_tag_ms));
            }
        }
        r.followed = Some(FollowedPoints {
            next_tag_ms,
            lag_ms,
            policy,
            disks,
        });
    }

    /// Stops computing a machine's points: its disks log their tags again. Call right after
    /// [`World::collect_points`] (which computed those usable by now).
    pub(crate) fn end_followed_points(&mut self, item: &ItemId) {
        let Some(m) = self.machines.get_mut(item) else {
            return;
        };
        let Some(r) = m.replication.as_mut() else {
            return;
        };
        if r.followed.take().is_none() {
            return;
        }
        for &d in &r.disks {
            if let Some(s) = m.disks.get_mut(d).and_then(|x| x.stream.as_mut()) {
                s.fluid.pause_point_log_from(None);
            }
        }
    }

    /// Whether every replicated stream of a machine whose points are computed still follows its churn.
    pub(crate) fn still_followed(&self, item: &ItemId) -> bool {
        let Some(m) = self.machines.get(item) else {
            return false;
        };
        let Some(r) = m.replication.as_ref().filter(|r| r.followed.is_some()) else {
            return false;
        };
        (r.disks.iter()).all(|&d| {
            (m.disks.get(d))
                .and_then(|x| x.stream.as_ref())
                .is_some_and(|s| s.follows_churn && s.fluid.source_running())
        })
    }
}

/// Adds to a replication's points those of the followed tags usable by `now` that the MT's retention
/// keeps as of `now`: every point of the last [`KEEP_ALL_MS`] and the newest; beyond, the newest
/// app-consistent point of each hour, else its newest point; none older than `kept_ms`.
pub(crate) fn add_followed_points(r: &mut Replication, now: Millis, kept_ms: Millis) {
    let Some(f) = r.followed.as_mut() else {
        return;
    };
    let step = CRASH_CONSISTENT_INTERVAL_MS;
    let Some(usable_by) = now.checked_sub(f.lag_ms) else {
        return;
    };
    let last = usable_by - usable_by % step;
    if last < f.next_tag_ms {
        return;
    }
    // (past the grid's last tag, at the end of time, no tag is kept)
    let oldest = (f.next_tag_ms)
        .max((now.saturating_sub(kept_ms).checked_next_multiple_of(step)).unwrap_or(Millis::MAX));
    let mut tags: Vec<Millis> = Vec::new();
    let mut t = last;
    while t >= oldest {
        if t == last || now - t <= KEEP_ALL_MS {
            tags.push(t);
            if t < oldest + step {
                break;
            }
            t -= step;
            continue;
        }
        // one point for the hour of `t` (the tags from the hour's start, or `oldest`, up to `t`)
        let hour_start = (t / HOUR_MS * HOUR_MS).max(oldest);
        tags.push(f.policy.latest_app_in(hour_start, t).unwrap_or(t));
        match hour_start.checked_sub(step) {
            Some(before) if before >= oldest => t = before,
            _ => break,
        }
    }
    if tags.len() > 1 {
        r.points.reserve_exact(tags.len()); // a batch of points at once: no doubling's slack
    }
    for &tag_ms in tags.iter().rev() {
        let kind = match f.policy.kind_at(tag_ms) {
            RecoveryPointKind::AppConsistent => PointKind::App,
            _ => PointKind::Crash,
        };
        r.points.push(
            tag_ms,
            kind,
            f.disks.iter().map(|d| d.generation_at(tag_ms)),
        );
    }
    // the grid's last tag taken, none is left: saturated, off the grid, after every tag
    f.next_tag_ms = last.saturating_add(step);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::vm_points::VmPoints;
    use drsim_engine::protocol::{Direction, RecoveryMode};

    fn followed(next_tag_ms: Millis) -> Replication {
        Replication {
            direction: Direction::ToAzure,
            process_server: None,
            master_target: None,
            mode: RecoveryMode::Original,
            disks: vec![0],
            initial_sync_done: true,
            broken: false,
            points: VmPoints::new(&[0]),
            partial: Default::default(),
            unreported: Vec::new(),
            followed: Some(FollowedPoints {
                next_tag_ms,
                lag_ms: 0,
                policy: TagPolicy::default(),
                disks: vec![FollowedDisk {
                    from_ms: 0,
                    written_millibytes: 0,
                    base_generation: 0,
                    churn: ChurnModel::constant(0),
                }],
            }),
        }
    }

    /// To the end of time: the grid's last tag is computed once, and later asks add nothing (the next
    /// tag time saturates instead of overflowing, and a retention window past the grid's last keeps none).
    #[test]
    fn the_grid_s_last_tag_once_at_the_end_of_time() {
        let step = CRASH_CONSISTENT_INTERVAL_MS;
        let last = Millis::MAX - Millis::MAX % step;
        let mut r = followed(last - step);
        add_followed_points(&mut r, Millis::MAX, HOUR_MS);
        let tags: Vec<Millis> = r.points.iter().map(|p| p.tag_ms).collect();
        assert_eq!(tags, [last - step, last]);
        assert_eq!(
            r.followed.as_ref().map(|f| f.next_tag_ms),
            Some(Millis::MAX)
        );
        add_followed_points(&mut r, Millis::MAX, HOUR_MS);
        assert_eq!(r.points.len(), 2, "nothing after the grid's last tag");
        // a window that starts past the grid's last tag keeps none
        let mut late = followed(last);
        add_followed_points(&mut late, Millis::MAX, (Millis::MAX - last) - 1);
        assert_eq!(late.points.len(), 0);
    }
}
