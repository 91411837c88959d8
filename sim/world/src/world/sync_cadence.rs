//! Sync cadences (issue 6): a machine whose initial replication or resync shows progress at every
//! report is announced once ([`Observation::SyncCadence`]) instead of reported every interval, and its
//! streams are left in virtual time until something about it changes.
//!
//! The engine reads a report of a waiting sync only for its progress (the stall timer starts again,
//! RJ-07) and its health, so while every report would show more bytes sent than the one before and
//! nothing else, the cadence tells it the same. That holds while some disk's resync is sent at
//! [`MIN_PROGRESS_BPS`] or more and the sync's size stays: every change to the machine's streams
//! (a wake-up, a new rate, a fault) puts it on the end-of-instant check, which ends the cadence when it
//! no longer holds. At a report instant the end comes with the report that instant would have sent, so
//! the engine stands where the reports would have left it (the harness checks both ways end alike).

use super::plane::COLLECT_EVERY_MS;
use super::{Machine, World};
use crate::network::Resource;
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::protocol::{Observation, SyncCadence};

/// A resync sent this slowly or slower could show no new whole byte between a report and an instant
/// one millisecond later, so it gets no cadence: at one byte per millisecond any stretch of time
/// between a report and the end of the cadence shows progress, as the next report would have.
pub(crate) const MIN_PROGRESS_BPS: u64 = 1_000;

/// A machine's sync cadence, on the world's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncMark {
    /// The report instant it was announced at.
    pub from_ms: Millis,
    /// The sync's size then: a different size (a resync started again) ends it.
    pub total_bytes: u64,
    /// Bytes sent when last checked: fewer end it.
    pub sent_bytes: u64,
    /// When its disks' point logs were last gathered.
    pub collected_ms: Millis,
}

impl World {
    /// Whether a machine's sync shows progress at every report while nothing about it changes:
    /// replicating, not broken, its initial sync not done, some disk's resync sent at
    /// [`MIN_PROGRESS_BPS`] or more.
    fn syncing(&self, m: &Machine) -> bool {
        let Some(r) = &m.replication else {
            return false;
        };
        !r.broken
            && !r.initial_sync_done
            && (m.disks.iter().filter_map(|d| d.stream.as_ref())).any(|s| {
                s.fluid.resync_progress().is_some()
                    && s.fluid.resync_required().is_none()
                    && self.stream_rate(s) >= MIN_PROGRESS_BPS
            })
    }

    /// The sync's bytes (sent, total) as a report would give them now. Call with the disks accounted.
    fn sync_bytes(&self, item: &ItemId) -> Option<(u64, u64)> {
        self.replication_report(item)
            .map(|r| (r.sync_bytes_sent, r.sync_bytes_total))
    }

    /// Announces a sync cadence for a machine reported just now whose sync progresses.
    pub(crate) fn start_sync_cadence(&mut self, item: &ItemId) {
        let now = self.now();
        let Some(m) = self.machines.get(item) else {
            return;
        };
        if !self.cadences || m.sync_cadence.is_some() || !self.syncing(m) {
            return;
        }
        let Some((sent_bytes, total_bytes)) = self.sync_bytes(item) else {
            return;
        };
        if sent_bytes < m.sync_peak_bytes {
            return; // a later report may show less than some earlier one (a resync started again)
        }
        self.machines.get_mut(item).expect("exists").sync_cadence = Some(SyncMark {
            from_ms: now,
            total_bytes,
            sent_bytes,
            collected_ms: now,
        });
        self.pending.push(Observation::SyncCadence {
            item: item.clone(),
            cadence: Some(SyncCadence {
                from_ms: now,
                every_ms: self.report_interval_ms,
            }),
        });
    }

    /// Keeps the sync cadence of a machine whose streams changed this instant while it still holds:
    /// still progressing, the same size, no fewer bytes sent. Call with the disks accounted.
    pub(crate) fn check_sync_cadence(&mut self, item: &ItemId) {
        let Some(mark) = self.machines.get(item).and_then(|m| m.sync_cadence) else {
            return;
        };
        let holds = self.machines.get(item).is_some_and(|m| self.syncing(m));
        let bytes = self.sync_bytes(item);
        match bytes {
            Some((sent, total))
                if holds && total == mark.total_bytes && sent >= mark.sent_bytes =>
            {
                if let Some(c) = self
                    .machines
                    .get_mut(item)
                    .and_then(|m| m.sync_cadence.as_mut())
                {
                    c.sent_bytes = sent;
                }
            }
            _ => self.end_sync_cadence(item),
        }
    }

    /// Ends a machine's sync cadence, if it has one. At a report instant after the one that announced
    /// it, the machine is reported now, as that instant's report would have reported it (the engine's
    /// stall timer and bytes then stand where they would); later reports come every interval again.
    pub(crate) fn end_sync_cadence(&mut self, item: &ItemId) {
        let now = self.now();
        let Some(mark) = self
            .machines
            .get_mut(item)
            .and_then(|m| m.sync_cadence.take())
        else {
            return;
        };
        self.pending.push(Observation::SyncCadence {
            item: item.clone(),
            cadence: None,
        });
        if self.last_report_ms == now && now > mark.from_ms {
            self.account_machine(item);
            self.report_if_changed(item);
        }
    }

    /// Sets a share's level; one that falls below [`MIN_PROGRESS_BPS`] puts the machines of the streams
    /// it holds in virtual time on the end-of-instant check (their sync cadence may no longer hold; a
    /// level change reaches no stream otherwise).
    pub(crate) fn set_share_level(&mut self, r: Resource, level: u64, now: Millis) {
        let before = self.shares.set_level(r, level, now);
        if level >= MIN_PROGRESS_BPS || before.is_none_or(|b| b < MIN_PROGRESS_BPS) {
            return;
        }
        let Some(share) = self.shares.by_resource.get(&r) else {
            return;
        };
        for (_, flow) in &share.waiting {
            if let Some((item, _)) = self.flows.get(flow)
                && let Some(m) = self.machines.get(item)
            {
                super::plane::note_cadence_change(&mut self.cadence_check, item, m);
            }
        }
    }

    /// At a report, before the process servers' health: brings to now the machines under a sync cadence,
    /// except their resyncs held in virtual time ([`World::stream_load`] reads those as of now).
    pub(crate) fn account_sync_cadence_disks(&mut self) {
        self.account_for_reading(|_, m| m.sync_cadence.is_some());
    }

    /// At a report: the machines under a sync cadence whose point logs are due to be gathered (their
    /// disks that finished their resync log a point every five minutes; no VM point is complete
    /// before the sync is, so the gathering is timed by `collected_ms`, not by the newest point).
    pub(crate) fn collect_sync_cadence_points(&mut self) {
        let now = self.now();
        let due: Vec<ItemId> = (self.machines.iter())
            .filter(|(_, m)| {
                m.sync_cadence
                    .is_some_and(|c| now.saturating_sub(c.collected_ms) >= COLLECT_EVERY_MS)
            })
            .map(|(i, _)| i.clone())
            .collect();
        for item in due {
            self.collect_points(&item);
            if let Some(c) = (self.machines.get_mut(&item)).and_then(|m| m.sync_cadence.as_mut()) {
                c.collected_ms = now;
            }
        }
    }
}
