//! Observations: discovery deltas, action results, replication progress and recovery points; the alerts
//! they raise (RPO threshold, replication health, split-brain risk).

use super::{Engine, TimerKind};
use crate::Millis;
use crate::ids::*;
use crate::inventory::{Entity, PowerState};
use crate::job::Wait;
use crate::lifecycle::{ActiveCopy, ItemState};
use crate::protocol::*;
use crate::recovery_point::{CRASH_POINT_INTERVAL_MS, PointCadence, RecoveryPoint};
use crate::rules::RuleId;

impl Engine {
    pub(super) fn observe(&mut self, o: Observation) {
        match o {
            Observation::Inventory(delta) => {
                self.inv.apply(self.now, &delta);
                let mut touched: Vec<ItemId> = Vec::new();
                for e in &delta.upserts {
                    let id = match e {
                        Entity::OnPremVm(v) => self.by_onprem_vm.get(&v.name),
                        Entity::AzureVm(v) => self.by_azure_vm.get(&v.name),
                        _ => None,
                    };
                    if let Some(id) = id {
                        touched.push(id.clone());
                    }
                }
                touched.sort();
                touched.dedup();
                for id in touched {
                    self.complete_initial_protection(&id);
                    self.withdraw_azure_off(&id);
                    self.check_split(&id);
                    self.wake_agent_wait(&id);
                }
            }
            Observation::ActionResult { id, outcome } => self.action_result(id, outcome),
            Observation::Replication { item, report } => self.replication_report(item, report),
            Observation::RecoveryPoints { item, points } => self.recovery_points(item, points),
            Observation::PointCadence { item, cadence } => self.point_cadence(item, cadence),
            Observation::SyncCadence { item, cadence } => self.sync_cadence(item, cadence),
        }
    }

    /// A sync cadence starts or ends. Each report it stands for showed progress, so the stall timer of
    /// a task waiting for the sync runs from the last of them: moved there when it comes due
    /// ([`Engine::sync_stalled`]) and, once, when the cadence ends — exactly where those reports would
    /// have left it. The bytes the task saw last stay older than any later report's (each showed more).
    fn sync_cadence(&mut self, item: ItemId, cadence: Option<SyncCadence>) {
        let Some(rec) = self.items.get_mut(&item) else {
            return;
        };
        let ended = std::mem::replace(&mut rec.sync_cadence, cadence);
        if let (Some(c), Some(job)) = (ended, rec.job) {
            self.move_stall_timer(job, &item, c);
        }
    }

    /// Moves the stall timer of `item`'s sync wait in `job` to the timeout after the last report `c`
    /// stands for by now, if that is later. Returns whether it moved.
    pub(super) fn move_stall_timer(&mut self, job: JobId, item: &ItemId, c: SyncCadence) -> bool {
        let Some(report) = c.last_report_by(self.now) else {
            return false;
        };
        let deadline = report + self.config.sync_stall_timeout_ms;
        let Some(Wait::Sync { last_bytes, timer }) = (self.jobs.get(&job))
            .and_then(|j| j.tasks.get(item))
            .map(|t| t.wait.clone())
        else {
            return false;
        };
        if deadline <= timer.0 {
            return false;
        }
        self.cancel_timer(timer);
        let timer = self.set_timer(deadline, TimerKind::SyncStall(job, item.clone()));
        if let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) {
            t.wait = Wait::Sync { last_bytes, timer };
        }
        true
    }

    /// A point cadence starts or ends: the tags of the old one up to now are points already
    /// ([`Engine::take_cadences`] ran at this input), the new one's follow as time passes.
    fn point_cadence(&mut self, item: ItemId, cadence: Option<PointCadence>) {
        let now = self.now;
        let Some(rec) = self.items.get_mut(&item) else {
            return;
        };
        // Kept even before the engine has seen replication start (the result of the action that
        // started it may come later): its tags become points only while replication is in force.
        rec.cadence = cadence;
        if let Some(c) = rec.cadence
            && rec.replicating.is_some()
        {
            rec.points.take_cadence(&c, now, rec.policy.retention_ms);
        }
        self.update_rpo(&item);
    }

    /// Turns every announced cadence's tags up to now into points (at every input: what the engine
    /// knows at an input is what a report per tag would have told it). Tags fall every 5 minutes, so
    /// within one 5-minute slot there is nothing new to take.
    pub(super) fn take_cadences(&mut self, now: Millis) {
        let slot = |t: Millis| t / CRASH_POINT_INTERVAL_MS;
        if self.cadence_slot == Some(slot(now)) {
            return;
        }
        self.cadence_slot = Some(slot(now));
        for rec in self.items.values_mut() {
            if let Some(c) = rec.cadence
                && rec.replicating.is_some()
            {
                rec.points.take_cadence(&c, now, rec.policy.retention_ms);
            }
        }
    }

    /// An item that starts protected to on-prem learns its replicated disks (RP-14 counts them) and its
    /// recovery mode (RJ-03/RJ-04: alternate when chosen or when the on-prem VM is gone) from the first
    /// discovery that shows its VMs.
    fn complete_initial_protection(&mut self, id: &ItemId) {
        let Some(p) = self.items.get(id).and_then(|r| r.protection.as_ref()) else {
            return;
        };
        if !p.disks.is_empty() {
            return;
        }
        let location = p.machine.location;
        let disks = self.replicated_disks(id);
        let mode = self.resolve_mode(id, location);
        if let Some(p) = self.items.get_mut(id).and_then(|r| r.protection.as_mut()) {
            p.disks = disks;
            p.mode = mode;
        }
    }

    fn replication_report(&mut self, item: ItemId, report: ReplicationReport) {
        let Some(rec) = self.items.get_mut(&item) else {
            return;
        };
        if rec.replicating != Some(report.direction) {
            return; // a report of a replication that is no longer in force
        }
        if rec.health != report.health {
            rec.health = report.health;
            let severity = match report.health {
                crate::inventory::Health::Ok => Severity::Info,
                crate::inventory::Health::Warning => Severity::Warning,
                crate::inventory::Health::Critical => Severity::Critical,
            };
            self.outputs.push_back(Output::Alert(Alert {
                severity,
                item: item.clone(),
                rule: None,
                kind: AlertKind::ReplicationHealth {
                    health: report.health,
                },
            }));
        }
        let rec = self.items.get_mut(&item).expect("exists");
        if report.initial_sync_done {
            rec.initial_sync_done = true;
        }
        let Some(job) = rec.job else { return };
        let Some(t) = self.jobs.get(&job).and_then(|j| j.tasks.get(&item)) else {
            return;
        };
        if let Wait::Sync { last_bytes, timer } = t.wait {
            if report.initial_sync_done {
                self.wait_done(job, &item);
            } else if report.sync_bytes_sent > last_bytes {
                // Progress: the stall timer starts again.
                self.cancel_timer(timer);
                let at = self.now + self.config.sync_stall_timeout_ms;
                let timer = self.set_timer(at, TimerKind::SyncStall(job, item.clone()));
                if let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(&item)) {
                    t.wait = Wait::Sync {
                        last_bytes: report.sync_bytes_sent,
                        timer,
                    };
                }
            }
        }
    }

    fn recovery_points(&mut self, item: ItemId, points: Vec<RecoveryPoint>) {
        let now = self.now;
        let Some(rec) = self.items.get_mut(&item) else {
            return;
        };
        if rec.replicating.is_none() {
            return; // no replication in force: nothing to keep
        }
        for p in points {
            if p.tag_ms <= now {
                rec.points.insert(p);
            }
        }
        rec.points.prune(now, rec.policy.retention_ms);
        self.update_rpo(&item);
    }

    /// Raises or clears the RPO-threshold alert, and arms the timer for the moment the RPO would cross it
    /// if no newer point arrives (alerts only: replication is unchanged, DOMAIN.md §4).
    fn update_rpo(&mut self, item: &ItemId) {
        let now = self.now;
        let Some(rec) = self.items.get_mut(item) else {
            return;
        };
        let threshold = rec.policy.rpo_threshold_ms;
        let Some(latest) = rec.points.latest() else {
            return;
        };
        let rpo = now.saturating_sub(latest.tag_ms);
        let replicating = rec.replicating.is_some();
        if let Some(key) = rec.rpo_timer.take() {
            self.timers.remove(&key);
        }
        let rec = self.items.get_mut(item).expect("exists");
        if replicating && rpo > threshold && !rec.rpo_alert {
            rec.rpo_alert = true;
            self.outputs.push_back(Output::Alert(Alert {
                severity: Severity::Warning,
                item: item.clone(),
                rule: None,
                kind: AlertKind::RpoThresholdExceeded {
                    rpo_ms: rpo,
                    threshold_ms: threshold,
                },
            }));
        } else if rpo <= threshold && rec.rpo_alert {
            rec.rpo_alert = false;
            self.outputs.push_back(Output::Alert(Alert {
                severity: Severity::Info,
                item: item.clone(),
                rule: None,
                kind: AlertKind::RpoRecovered { rpo_ms: rpo },
            }));
        }
        let rec = &self.items[item];
        // Under a cadence a new point comes every 5 minutes: the RPO stays below a threshold that long.
        let promised = replicating && rec.cadence.is_some() && threshold >= CRASH_POINT_INTERVAL_MS;
        if replicating && !rec.rpo_alert && !promised {
            let at = latest.tag_ms + threshold + 1;
            let key = self.set_timer(at, TimerKind::Rpo(item.clone()));
            self.items.get_mut(item).expect("exists").rpo_timer = Some(key);
        }
    }

    pub(super) fn rpo_timer(&mut self, item: ItemId) {
        if let Some(rec) = self.items.get_mut(&item) {
            rec.rpo_timer = None;
        }
        self.update_rpo(&item);
    }

    /// INV-SPLIT / RJ-02: the copy that should be off must not run. A second copy powered on by hand is
    /// detected when discovery reports it: a critical alert, and failback is refused until it is off.
    fn check_split(&mut self, item: &ItemId) {
        let rec = &self.items[item];
        let onprem_on = self
            .inv
            .onprem_vms
            .get(&rec.spec.onprem_vm)
            .is_some_and(|v| v.power != PowerState::Off);
        let azure_on = self
            .inv
            .azure_vms
            .get(&rec.spec.azure_vm)
            .is_some_and(|v| v.power != PowerState::Off);
        // During a failback, the job itself switches the copies: only the on-prem VM running before the
        // job asked for it counts.
        let job_switching = rec
            .job
            .and_then(|j| self.jobs.get(&j))
            .and_then(|j| j.tasks.get(item))
            .is_some_and(|t| t.onprem_power_on_sent || t.azure_shutdown_sent);
        let wrong = match rec.state.active_copy() {
            ActiveCopy::Azure => onprem_on.then_some(Copy::OnPrem),
            ActiveCopy::OnPrem if rec.state != ItemState::ProtectedToAzure || rec.job.is_none() => {
                (azure_on && rec.state != ItemState::ReprotectingToAzure).then_some(Copy::Azure)
            }
            ActiveCopy::Switching if !job_switching => onprem_on.then_some(Copy::OnPrem),
            _ => None,
        };
        let rec = self.items.get_mut(item).expect("exists");
        match (wrong, rec.onprem_on_alert) {
            (Some(running), false) => {
                rec.onprem_on_alert = true;
                self.outputs.push_back(Output::Alert(Alert {
                    severity: Severity::Critical,
                    item: item.clone(),
                    rule: Some(RuleId::Rj02),
                    kind: AlertKind::SplitBrainRisk { running },
                }));
            }
            (None, true) => {
                rec.onprem_on_alert = false;
                let running = if onprem_on { Copy::Azure } else { Copy::OnPrem };
                self.outputs.push_back(Output::Alert(Alert {
                    severity: Severity::Info,
                    item: item.clone(),
                    rule: Some(RuleId::Rj02),
                    kind: AlertKind::SplitBrainResolved { running },
                }));
            }
            _ => {}
        }
    }

    /// FB-02: a confirmation that the Azure VM is off holds only while discovery does not see it running
    /// again (someone may start it by hand between the shutdown and the on-prem power-on).
    fn withdraw_azure_off(&mut self, item: &ItemId) {
        let rec = &self.items[item];
        let Some(job) = rec.job else { return };
        let running = self
            .inv
            .azure_vms
            .get(&rec.spec.azure_vm)
            .is_some_and(|v| v.power != PowerState::Off);
        if running && let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) {
            t.azure_confirmed_off = false;
        }
    }

    fn wake_agent_wait(&mut self, item: &ItemId) {
        let rec = &self.items[item];
        let Some(job) = rec.job else { return };
        let registered = self
            .inv
            .onprem_vms
            .get(&rec.spec.onprem_vm)
            .is_some_and(|v| v.agent_registered);
        let waiting = self
            .jobs
            .get(&job)
            .and_then(|j| j.tasks.get(item))
            .is_some_and(|t| matches!(t.wait, Wait::Agent { .. }));
        if registered && waiting {
            self.wait_done(job, item);
        }
    }
}
