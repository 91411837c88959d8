//! Running jobs: stages in order, each machine's steps, group barriers (RG-03), action results, retries and
//! timeouts, rollback (FB-07), and the end of tasks and jobs.

use super::{Engine, TimerKind};
use crate::error_code::ErrorCode;
use crate::ids::*;
use crate::inventory::PowerState;
use crate::item::Protection;
use crate::job::{Step, StepName, StepRecord, Task, TaskStatus, Wait};
use crate::lifecycle::{ItemState, Operation};
use crate::protocol::*;
use crate::readiness::{self, CheckCtx, GroupPeer};
use crate::recovery_point::{PointChoice, RecoveryPoint, group_select};
use crate::rules::{Phase, RuleId};
use crate::sabotage::Sabotage;
use std::collections::BTreeMap;

/// Disks in use on each master target by prepared protections, reserved by other running reprotect jobs,
/// plus machines counted earlier in a job (RP-14). An MT is counted when first asked about, from its
/// members ([`Engine::by_master_target`]); nothing the count reads changes while one job's checks run.
pub(crate) struct MtUse {
    job: JobId,
    by_mt: BTreeMap<MasterTargetName, u32>,
}

impl MtUse {
    /// Counts for the checks of `job`: the disks of every item whose target is prepared on an MT, and of
    /// every machine of another running reprotect job past its prerequisites (its disks are on their way:
    /// two concurrent jobs must not both fit into the same last free slots).
    pub(crate) fn new(job: JobId) -> Self {
        MtUse {
            job,
            by_mt: BTreeMap::new(),
        }
    }

    fn get(&mut self, e: &Engine, mt: &MasterTargetName) -> &mut u32 {
        let job = self.job;
        self.by_mt
            .entry(mt.clone())
            .or_insert_with(|| count_mt(e, job, mt))
    }
}

/// Disks on `mt` by prepared protections and by other running reprotect jobs' machines (see [`MtUse`]).
fn count_mt(e: &Engine, job: JobId, mt: &MasterTargetName) -> u32 {
    let Some(members) = e.by_master_target.get(mt) else {
        return 0;
    };
    let prepared_on_mt = |item: &ItemId| {
        (e.items.get(item))
            .and_then(|r| r.protection.as_ref())
            .filter(|p| p.target_prepared && &p.machine.master_target == mt)
            .map(|p| p.disks.len() as u32)
    };
    let mut n: u32 = members.items.iter().filter_map(prepared_on_mt).sum();
    for (id, item) in &members.tasks {
        let Some(j) = e.jobs.get(id) else {
            continue;
        };
        if *id == job || j.ended() || j.operation != Operation::Reprotect {
            continue;
        }
        let Some(t) = j.tasks.get(item) else {
            continue;
        };
        let prepared = (e.items.get(item))
            .and_then(|r| r.protection.as_ref())
            .is_some_and(|p| p.target_prepared);
        if t.machine.as_ref().is_some_and(|m| &m.master_target == mt)
            && t.pc > 0
            && !t.ended()
            && !prepared
        {
            n += t.disks.len() as u32;
        }
    }
    n
}

/// How starting a step went.
enum Started {
    /// Done at once.
    Done,
    /// Nothing to do.
    Skipped,
    /// Waiting for an action, a sync, the agent.
    Waiting,
    /// Failed.
    Failed(Failure),
}

impl Engine {
    // ---- checks -------------------------------------------------------------------------------------

    /// Runs the checks of `phase` for one machine of a job.
    pub(super) fn run_checks(
        &self,
        job: JobId,
        item: &ItemId,
        phase: Phase,
        mt_use: &mut MtUse,
    ) -> Vec<(RuleId, Verdict)> {
        let j = &self.jobs[&job];
        let task = &j.tasks[item];
        let rec = &self.items[item];
        let group: Vec<GroupPeer<'_>> = match &rec.spec.replication_group {
            None => Vec::new(),
            Some(g) => self
                .items
                .values()
                .filter(|r| r.spec.replication_group.as_ref() == Some(g))
                .map(|r| {
                    let t = j.tasks.get(r.id());
                    GroupPeer {
                        record: r,
                        machine: t.and_then(|t| t.machine.as_deref()),
                        in_job: t.is_some(),
                    }
                })
                .collect(),
        };
        let mt = task.machine.as_ref().map(|m| m.master_target.clone());
        let own_prepared = rec
            .protection
            .as_ref()
            .filter(|p| p.target_prepared && Some(&p.machine.master_target) == mt.as_ref())
            .map(|p| p.disks.len() as u32)
            .unwrap_or(0);
        let in_use = mt
            .as_ref()
            .map(|m| *mt_use.get(self, m))
            .unwrap_or(0)
            .saturating_sub(own_prepared);
        let ctx = CheckCtx {
            now: self.now,
            phase,
            item: rec,
            inv: &self.inv,
            config: &self.config,
            machine: task.machine.as_deref(),
            mode: task.mode,
            disks: &task.disks,
            group: &group,
            plan: j.plan.as_ref().and_then(|p| self.plans.get(p)),
            mt_disks_in_use: in_use,
            azure_confirmed_off: task.azure_confirmed_off,
            chosen_point_ms: task.chosen_point_ms,
        };
        let results = readiness::run_phase(&ctx);
        if phase == Phase::ReprotectStart
            && let Some(m) = mt
        {
            *mt_use.get(self, &m) += task.disks.len() as u32;
        }
        results
    }

    /// Emits the check results of a machine as job events (unless the driver turned them off,
    /// [`Engine::set_check_events`]).
    pub(super) fn emit_checks(
        &mut self,
        job: JobId,
        item: &ItemId,
        results: Vec<(RuleId, Verdict)>,
    ) {
        if !self.check_events {
            return;
        }
        for (rule, verdict) in results {
            self.outputs.push_back(Output::Job(JobEvent::Check {
                job,
                item: item.clone(),
                rule,
                verdict,
            }));
        }
    }

    // ---- step history -------------------------------------------------------------------------------

    pub(super) fn record_step_start(
        &mut self,
        job: JobId,
        item: &ItemId,
        name: impl Into<StepName>,
    ) {
        let name = name.into();
        let now = self.now;
        if let Some(j) = self.jobs.get_mut(&job) {
            if let Some(t) = j.tasks.get_mut(item) {
                t.open_records.push(j.history.len());
            }
            j.history.push(StepRecord {
                item: item.clone(),
                name: name.clone(),
                started_ms: now,
                ended_ms: None,
                ok: None,
            });
        }
        self.outputs.push_back(Output::Job(JobEvent::StepStarted {
            job,
            item: item.clone(),
            step: name,
        }));
    }

    pub(super) fn record_step_end(
        &mut self,
        job: JobId,
        item: &ItemId,
        name: impl Into<StepName>,
        ok: bool,
    ) {
        let name = name.into();
        let now = self.now;
        if let Some(j) = self.jobs.get_mut(&job) {
            // the newest open record of this item's step
            let open = |r: &StepRecord| &r.item == item && r.name == name && r.ended_ms.is_none();
            let found = match j.tasks.get_mut(item) {
                Some(t) => (0..t.open_records.len())
                    .rev()
                    .find(|&k| j.history.get(t.open_records[k]).is_some_and(open))
                    .map(|k| t.open_records.remove(k)),
                None => j.history.iter().rposition(open),
            };
            if let Some(r) = found.and_then(|i| j.history.get_mut(i)) {
                r.ended_ms = Some(now);
                r.ok = Some(ok);
            }
        }
        self.outputs.push_back(Output::Job(JobEvent::StepEnded {
            job,
            item: item.clone(),
            step: name,
            ok,
        }));
    }

    // ---- stages -------------------------------------------------------------------------------------

    /// Starts the job's current stage (its machines in parallel, FB-08), or ends the job after the last.
    pub(super) fn start_stage(&mut self, job: JobId) {
        let j = &self.jobs[&job];
        let Some(items) = j.stages.get(j.stage).cloned() else {
            self.finish_job_if_done(job);
            return;
        };
        let stage = j.stage;
        for item in &items {
            let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) else {
                continue;
            };
            if t.status == TaskStatus::Pending {
                t.status = TaskStatus::Running;
                t.step_started_ms = self.now;
            } else if t.wait == Wait::Turn {
                self.record_step_end(job, item, Step::AwaitTurn.name(), true);
                self.next_step(job, item);
            }
        }
        for item in &items {
            self.advance(job, item);
        }
        // A group whose every machine had already ended (its on-prem power-off failed while an earlier
        // group ran) gets no task end of its own to move the plan on.
        let j = &self.jobs[&job];
        if j.stage == stage && items.iter().all(|i| j.tasks[i].ended()) {
            self.on_task_ended(job);
        }
    }

    /// The machines of the groups after the job's current one.
    fn later_groups(&self, job: JobId) -> Vec<ItemId> {
        let j = &self.jobs[&job];
        (j.stages.iter().skip(j.stage + 1).flatten().cloned()).collect()
    }

    /// Starts the machines of a plan's later groups up to their turn (RJ-02: a reprotect powers every
    /// on-prem VM of the plan off at the start, not when the VM's group comes up).
    pub(super) fn start_later_groups(&mut self, job: JobId) {
        let later = self.later_groups(job);
        for item in &later {
            if let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item))
                && t.status == TaskStatus::Pending
            {
                t.status = TaskStatus::Running;
                t.step_started_ms = self.now;
            }
        }
        for item in &later {
            self.advance(job, item);
        }
    }

    /// After a task ended: when its stage is complete, go on to the next stage or end the job. A failed
    /// stage stops the plan: later groups do not start (FB-08).
    fn on_task_ended(&mut self, job: JobId) {
        let j = &self.jobs[&job];
        let Some(stage_items) = j.stages.get(j.stage) else {
            self.finish_job_if_done(job);
            return;
        };
        let from = match j.stage_ended_upto {
            (stage, n) if stage == j.stage => n,
            _ => 0,
        };
        let upto = from
            + (stage_items[from.min(stage_items.len())..].iter())
                .take_while(|i| j.tasks[*i].ended())
                .count();
        let all_ended = upto == stage_items.len();
        let stage = j.stage;
        if let Some(j) = self.jobs.get_mut(&job) {
            j.stage_ended_upto = (stage, upto);
        }
        if !all_ended {
            return;
        }
        let j = &self.jobs[&job];
        let stage_items = &j.stages[j.stage];
        let stage_failed = stage_items
            .iter()
            .any(|i| matches!(j.tasks[i].status, TaskStatus::Failed(_)));
        if stage_failed || j.cancelled {
            let reason = if j.cancelled {
                cancelled_failure()
            } else {
                Failure::other(
                    ErrorCode::INFRASTRUCTURE,
                    "stopped before its group's turn: an earlier group of the recovery plan failed",
                    "fix the failure and run the plan again",
                )
            };
            let later = self.later_groups(job);
            if let Some(j) = self.jobs.get_mut(&job) {
                j.stage = j.stages.len();
            }
            // Machines of later groups waiting for their turn (their VM already off) undo what they did.
            for item in later {
                self.request_abort(job, &item, reason.clone());
            }
            self.finish_job_if_done(job);
            return;
        }
        // Manual actions of the group: recorded, nothing else to do (FB-08: no scripts).
        let actions = j.stage_actions.get(j.stage).cloned().unwrap_or_default();
        if let Some(first) = stage_items.first().cloned() {
            for a in actions {
                if let PlanAction::Manual(text) = a {
                    let name = StepName::Owned(format!("Manual action: {text}"));
                    self.record_step_start(job, &first, name.clone());
                    self.record_step_end(job, &first, name, true);
                }
            }
        }
        if let Some(j) = self.jobs.get_mut(&job) {
            j.stage += 1;
        }
        self.start_stage(job);
    }

    /// Ends the job once every task has ended.
    pub(super) fn finish_job_if_done(&mut self, job: JobId) {
        let now = self.now;
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.ended() || !j.tasks.values().all(|t| t.ended()) {
            return;
        }
        let outcome = if j.cancelled {
            JobOutcome::Cancelled
        } else if let Some(f) = &j.failure {
            JobOutcome::Failed(f.clone())
        } else if let Some(f) = j.tasks.values().find_map(|t| match &t.status {
            TaskStatus::Failed(f) => Some(f.clone()),
            _ => None,
        }) {
            JobOutcome::Failed(f)
        } else {
            JobOutcome::Succeeded
        };
        j.outcome = Some(outcome.clone());
        j.ended_ms = Some(now);
        j.history.shrink_to_fit(); // an ended job's history only is read (issue 6: 5 MB at 10k)
        self.outputs
            .push_back(Output::Job(JobEvent::Ended { job, outcome }));
    }

    // ---- tasks --------------------------------------------------------------------------------------

    /// Runs a task's steps until it waits or ends.
    pub(super) fn advance(&mut self, job: JobId, item: &ItemId) {
        // Bounded: every iteration moves pc forward or returns; rollback restarts pc once.
        for _ in 0..64 {
            let Some(j) = self.jobs.get(&job) else { return };
            let op = j.operation;
            let Some(t) = j.tasks.get(item) else { return };
            if t.ended() || t.wait != Wait::Idle || t.status == TaskStatus::Pending {
                return;
            }
            if t.status == TaskStatus::Running && t.abort.is_some() {
                let f = self
                    .jobs
                    .get_mut(&job)
                    .and_then(|j| j.tasks.get_mut(item))
                    .and_then(|t| t.abort.take());
                if let Some(f) = f {
                    self.begin_rollback(job, item, *f);
                }
                continue;
            }
            let at_end = t.pc >= t.steps.len();
            let sync = if at_end {
                true
            } else {
                t.steps[t.pc].group_synchronised()
            };
            // SABOTAGE split-group: no barrier, so no common decision either: each member takes its own
            // final-sync tag or its own point (RG-03 broken).
            // A group's reprotect ends together too: no member becomes protected while another may
            // still fail (all members or none).
            let grouped_op = op == Operation::Failback || (op == Operation::Reprotect && at_end);
            if t.status == TaskStatus::Running
                && sync
                && !t.barrier_passed
                && grouped_op
                && self.in_group(job, item)
                && !self.config.sabotaged(Sabotage::SplitGroup)
            {
                self.task_mut(job, item).wait = Wait::Group;
                self.try_release_group(job, item);
                return;
            }
            if at_end {
                let status = match &t.status {
                    TaskStatus::RollingBack(f) => TaskStatus::Failed(f.clone()),
                    _ => TaskStatus::Succeeded,
                };
                self.end_task(job, item, status);
                return;
            }
            let step = t.steps[t.pc];
            match self.start_step(job, item, step) {
                Started::Skipped => self.next_step(job, item),
                Started::Done => {
                    self.record_step_end(job, item, step.name(), true);
                    self.next_step(job, item);
                }
                Started::Waiting => return,
                Started::Failed(f) => {
                    self.record_step_end(job, item, step.name(), false);
                    self.step_failed(job, item, step, f);
                }
            }
        }
        debug_assert!(false, "task {item} of {job} did not settle");
    }

    fn task_mut(&mut self, job: JobId, item: &ItemId) -> &mut crate::job::Task {
        self.jobs
            .get_mut(&job)
            .and_then(|j| j.tasks.get_mut(item))
            .expect("task exists")
    }

    fn next_step(&mut self, job: JobId, item: &ItemId) {
        let t = self.task_mut(job, item);
        t.pc += 1;
        t.wait = Wait::Idle;
        t.barrier_passed = false;
    }

    /// Whether the item has replication-group peers in this job.
    fn in_group(&self, job: JobId, item: &ItemId) -> bool {
        self.group_peers(job, item).len() > 1
    }

    /// The job's tasks in the same replication group as `item` (itself included), in id order.
    fn group_peers(&self, job: JobId, item: &ItemId) -> Vec<ItemId> {
        let Some(g) = self
            .items
            .get(item)
            .and_then(|r| r.spec.replication_group.clone())
        else {
            return vec![item.clone()];
        };
        self.jobs[&job]
            .tasks
            .keys()
            .filter(|i| self.items[*i].spec.replication_group.as_ref() == Some(&g))
            .cloned()
            .collect()
    }

    /// Releases a group barrier once every running member waits at the same step (RG-03). The group's
    /// common decision (the final sync's tag, the recovery point) is taken once, for all.
    fn try_release_group(&mut self, job: JobId, item: &ItemId) {
        let peers = self.group_peers(job, item);
        let j = &self.jobs[&job];
        let pc = j.tasks[item].pc;
        let running: Vec<&ItemId> = peers
            .iter()
            .filter(|p| j.tasks[*p].status == TaskStatus::Running)
            .collect();
        if !running
            .iter()
            .all(|p| j.tasks[*p].wait == Wait::Group && j.tasks[*p].pc == pc)
        {
            return;
        }
        let running: Vec<ItemId> = running.into_iter().cloned().collect();
        let step = j.tasks[item].steps.get(pc).copied();
        match step {
            Some(Step::FinalSync) => {
                // One tag for every member, taken once all are confirmed off (FB-02, RG-03).
                let tag = self.now;
                for p in &running {
                    self.task_mut(job, p).chosen_point_ms = Some(tag);
                }
            }
            Some(Step::ResolvePoint) => {
                let choice = self
                    .point_choice(job)
                    .unwrap_or(PointChoice::LatestProcessed);
                if choice != PointChoice::Latest {
                    let stores: Vec<_> = running.iter().map(|p| &self.items[p].points).collect();
                    let tag = group_select(&stores, choice);
                    for p in &running {
                        self.task_mut(job, p).chosen_point_ms = tag;
                    }
                }
            }
            _ => {}
        }
        for p in &running {
            let t = self.task_mut(job, p);
            t.wait = Wait::Idle;
            t.barrier_passed = true;
        }
        for p in &running {
            self.advance(job, p);
        }
    }

    /// The recovery point choice the job's steps act on (FB-03): the job's own. SABOTAGE skip-final-sync:
    /// a failback to "latest" acts as one to the latest processed point, so it skips the final sync and
    /// recovers the newest existing point, losing the writes acknowledged after it (the job still says
    /// "latest", as the user asked).
    fn point_choice(&self, job: JobId) -> Option<PointChoice> {
        let j = &self.jobs[&job];
        match j.point {
            Some(PointChoice::Latest)
                if j.operation == Operation::Failback
                    && self.config.sabotaged(Sabotage::SkipFinalSync) =>
            {
                Some(PointChoice::LatestProcessed)
            }
            choice => choice,
        }
    }

    /// Starts one step.
    fn start_step(&mut self, job: JobId, item: &ItemId, step: Step) -> Started {
        let choice = self.point_choice(job);
        // Borrowed, not cloned (the task, the item's record with its points and both VMs' views were
        // cloned on every step, a tenth of a fleet run's work in the engine; issue 6): the branches that
        // change the engine read what they need first.
        let j = &self.jobs[&job];
        let op = j.operation;
        let t = &j.tasks[item];
        let rec = &self.items[item];
        let onprem = self.inv.onprem_vms.get(&rec.spec.onprem_vm);
        let azure = self.inv.azure_vms.get(&rec.spec.azure_vm);
        let rolling_back = matches!(t.status, TaskStatus::RollingBack(_));
        let onprem_exists = onprem.is_some();
        let vm = || rec.spec.onprem_vm.clone();
        let azure_vm = || rec.spec.azure_vm.clone();
        let kind = match step {
            Step::Check(phase) => {
                self.record_step_start(job, item, step.name());
                let mut mt_use = MtUse::new(job);
                let results = self.run_checks(job, item, phase, &mut mt_use);
                let failure = readiness::first_failure(&results).cloned();
                self.emit_checks(job, item, results);
                return match failure {
                    Some(f) => Started::Failed(f),
                    None => Started::Done,
                };
            }
            Step::PowerOffOnPrem => {
                let needed = if rolling_back {
                    t.onprem_power_on_sent
                } else {
                    match (op, onprem) {
                        (_, None) => false,
                        // RJ-02: always at reprotect start, whatever discovery last said. SABOTAGE
                        // leave-onprem-on: never, so a VM that is on stays on.
                        (Operation::Reprotect, Some(_)) => {
                            !self.config.sabotaged(Sabotage::LeaveOnpremOn)
                        }
                        (_, Some(v)) => {
                            v.power != PowerState::Off
                                || t.onprem_power_on_sent
                                || op == Operation::ChangeRecoveryPoint
                        }
                    }
                };
                if !needed {
                    return Started::Skipped;
                }
                ActionKind::PowerOffOnPremVm { vm: vm() }
            }
            Step::ConsolidateSnapshots => match onprem {
                Some(v) if v.snapshots > 0 => ActionKind::ConsolidateSnapshots { vm: vm() },
                _ => return Started::Skipped,
            },
            Step::PrepareTarget => {
                let (Some(m), Some(mode)) = (t.machine.clone(), t.mode) else {
                    return Started::Failed(Failure::rule(
                        RuleId::Rj01,
                        format!("no reprotect values for item `{item}`"),
                    ));
                };
                let folder = self.target_folder(&m.datastore, &rec.spec.onprem_vm, mode);
                ActionKind::PrepareTarget {
                    item: item.clone(),
                    master_target: m.master_target,
                    datastore: m.datastore,
                    mode,
                    folder,
                    disks: t.disks.clone(),
                }
            }
            Step::StartReplication => match op {
                Operation::Reprotect => {
                    let Some(m) = t.machine.clone() else {
                        return Started::Failed(Failure::rule(
                            RuleId::Rj01,
                            format!("no reprotect values for item `{item}`"),
                        ));
                    };
                    ActionKind::StartReplication {
                        item: item.clone(),
                        direction: Direction::ToOnPrem,
                        process_server: Some(m.process_server),
                        master_target: Some(m.master_target),
                        retention_drive: Some(m.retention_drive),
                        mode: t.mode.unwrap_or(crate::protocol::RecoveryMode::Alternate),
                        disks: t.disks.clone(),
                    }
                }
                _ => ActionKind::StartReplication {
                    item: item.clone(),
                    direction: Direction::ToAzure,
                    process_server: None,
                    master_target: None,
                    retention_drive: None,
                    mode: crate::protocol::RecoveryMode::Alternate,
                    disks: onprem
                        .map(|v| v.disks.iter().map(|d| d.uuid.clone()).collect())
                        .unwrap_or_default(),
                },
            },
            Step::WaitSync => {
                let done = rec.initial_sync_done;
                self.record_step_start(job, item, step.name());
                if done {
                    return Started::Done;
                }
                let at = self.now + self.config.sync_stall_timeout_ms;
                let timer = self.set_timer(at, TimerKind::SyncStall(job, item.clone()));
                self.task_mut(job, item).wait = Wait::Sync {
                    last_bytes: 0,
                    timer,
                };
                return Started::Waiting;
            }
            Step::AwaitTurn => {
                if t.stage <= j.stage {
                    return Started::Skipped;
                }
                self.record_step_start(job, item, step.name());
                self.task_mut(job, item).wait = Wait::Turn;
                return Started::Waiting;
            }
            Step::WaitAgent => {
                let registered = onprem.is_some_and(|v| v.agent_registered);
                self.record_step_start(job, item, step.name());
                if registered {
                    return Started::Done;
                }
                let at = self.now + self.config.agent_registration_wait_ms;
                let timer = self.set_timer(at, TimerKind::AgentWait(job, item.clone()));
                self.task_mut(job, item).wait = Wait::Agent { timer };
                return Started::Waiting;
            }
            Step::ShutdownAzure => {
                if azure.is_none() && op == Operation::ChangeRecoveryPoint {
                    return Started::Skipped;
                }
                ActionKind::ShutdownAzureVm { vm: azure_vm() }
            }
            Step::FinalSync => {
                if choice != Some(PointChoice::Latest) {
                    return Started::Skipped;
                }
                let tag_ms = t.chosen_point_ms.unwrap_or(self.now);
                ActionKind::FinalSync {
                    item: item.clone(),
                    tag_ms,
                }
            }
            Step::ResolvePoint => {
                let choice = choice.unwrap_or(PointChoice::LatestProcessed);
                let tag =
                    if t.barrier_passed && op == Operation::Failback && self.in_group(job, item) {
                        t.chosen_point_ms // decided for the whole group at the barrier (RG-03)
                    } else {
                        match choice {
                            PointChoice::Latest if op == Operation::Failback => t.chosen_point_ms,
                            PointChoice::Latest => rec.points.latest().map(|p| p.tag_ms),
                            c => rec.points.select(c).map(|p| p.tag_ms),
                        }
                    };
                self.record_step_start(job, item, step.name());
                return match tag {
                    Some(tag) => {
                        self.task_mut(job, item).chosen_point_ms = Some(tag);
                        Started::Done
                    }
                    None if op == Operation::Failover
                        && matches!(choice, PointChoice::Latest | PointChoice::LatestProcessed) =>
                    {
                        // Failover to "latest" processes the data on the Azure side (no point needed yet).
                        Started::Done
                    }
                    None => Started::Failed(Failure::rule(
                        RuleId::Fb03,
                        format!("no recovery point of item `{item}` matches {choice}"),
                    )),
                };
            }
            Step::RecoverOnPrem => {
                let Some(point_tag_ms) = t.chosen_point_ms else {
                    return Started::Failed(Failure::rule(
                        RuleId::Fb03,
                        format!("no recovery point chosen for item `{item}`"),
                    ));
                };
                let (cpus, memory_mib, nic_ips) = azure
                    .map(|a| (a.cpus, a.memory_mib, a.nic_ips.clone()))
                    .unwrap_or((0, 0, Vec::new()));
                ActionKind::RecoverOnPrem {
                    item: item.clone(),
                    vm: vm(),
                    point_tag_ms,
                    cpus,
                    memory_mib,
                    nic_ips,
                }
            }
            Step::PowerOnOnPrem => ActionKind::PowerOnOnPremVm { vm: vm() },
            Step::FailoverToAzure => ActionKind::FailoverToAzure {
                item: item.clone(),
                point_tag_ms: t.chosen_point_ms,
            },
            Step::StartAzure => ActionKind::StartAzureVm { vm: azure_vm() },
            Step::DeleteAzure => {
                if azure.is_none() {
                    return Started::Skipped;
                }
                ActionKind::DeleteAzureVm { vm: azure_vm() }
            }
            Step::CommitRecovery => ActionKind::CommitRecovery {
                item: item.clone(),
                direction: if op == Operation::CommitFailover {
                    Direction::ToAzure
                } else {
                    Direction::ToOnPrem
                },
            },
            Step::StopReplication => {
                if rec.replicating.is_none() && !t.replication_started && !t.target_prepared {
                    return Started::Skipped;
                }
                ActionKind::StopReplication { item: item.clone() }
            }
            Step::DisableReplication => ActionKind::DisableReplication { item: item.clone() },
            Step::RevertFailback => ActionKind::RevertFailback { item: item.clone() },
        };
        if let Some(f) = self.copy_guard(item, t, &kind) {
            return Started::Failed(f);
        }
        self.record_step_start(job, item, step.name());
        let t = self.task_mut(job, item);
        match step {
            Step::ShutdownAzure => t.azure_shutdown_sent = true,
            Step::PowerOnOnPrem => t.onprem_power_on_sent = true,
            Step::PowerOffOnPrem if !rolling_back => t.onprem_power_off_sent = true,
            Step::RecoverOnPrem => t.recover_sent = true,
            Step::StartReplication => t.replication_started = true,
            _ => {}
        }
        let id = self.send_action(Some(job), Some(item.clone()), kind, 1);
        self.task_mut(job, item).wait = Wait::Action(id);
        if step == Step::ShutdownAzure
            && op == Operation::Failback
            && !rolling_back
            && onprem_exists
            && self.config.sabotaged(Sabotage::EarlyPowerOn)
        {
            // SABOTAGE early-power-on: the on-prem VM is powered on right after the shutdown request,
            // while the Azure VM still runs (FB-02 broken). Nothing waits for that result; the rollback
            // knows the VM may run.
            self.task_mut(job, item).onprem_power_on_sent = true;
            let vm = self.items[item].spec.onprem_vm.clone();
            self.send_action(
                Some(job),
                Some(item.clone()),
                ActionKind::PowerOnOnPremVm { vm },
                1,
            );
        }
        Started::Waiting
    }

    /// CL-03: a VM folder on the datastore that old VMDKs do not occupy (alternate location only).
    fn target_folder(
        &self,
        ds: &DatastoreName,
        vm: &VmName,
        mode: crate::protocol::RecoveryMode,
    ) -> String {
        let base = vm.as_str().to_owned();
        if mode == crate::protocol::RecoveryMode::Original {
            return base;
        }
        let Some(d) = self.inv.datastores.get(ds) else {
            return base;
        };
        if !d.folders.contains(&base) {
            return base;
        }
        (1..=1000)
            .map(|n| format!("{base}_{n}"))
            .find(|f| !d.folders.contains(f))
            .unwrap_or(base)
    }

    // ---- action results -----------------------------------------------------------------------------

    /// Routes an action's result to the task waiting for it; a late or unknown result is ignored.
    pub(super) fn action_result(&mut self, id: ActionId, outcome: ActionOutcome) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.cancel_timer(p.timer);
        let (Some(job), Some(item)) = (p.job, p.item.clone()) else {
            return;
        };
        let Some(t) = self.jobs.get(&job).and_then(|j| j.tasks.get(&item)) else {
            return;
        };
        if t.wait != Wait::Action(id) {
            return;
        }
        let step = t.steps[t.pc];
        match outcome {
            ActionOutcome::Ok { point } => {
                self.step_ok(job, &item, step, point);
                self.record_step_end(job, &item, step.name(), true);
                self.next_step(job, &item);
                self.advance(job, &item);
            }
            // Azure answering that the VM does not exist confirms it off as well as a shutdown does.
            ActionOutcome::Failed(err)
                if step == Step::ShutdownAzure
                    && err.rule == Some(RuleId::Ns06)
                    && matches!(t.status, TaskStatus::RollingBack(_)) =>
            {
                self.step_ok(job, &item, step, None);
                self.record_step_end(job, &item, step.name(), true);
                self.next_step(job, &item);
                self.advance(job, &item);
            }
            ActionOutcome::Failed(err) => {
                let refused = self.retry_refused(&p);
                if err.transient && p.attempt < self.config.max_action_attempts && refused.is_none()
                {
                    let nid =
                        self.send_action(Some(job), Some(item.clone()), p.kind, p.attempt + 1);
                    self.task_mut(job, &item).wait = Wait::Action(nid);
                    return;
                }
                let fix = err
                    .rule
                    .map(|r| r.def().fix.to_owned())
                    .unwrap_or_else(|| "fix the reported error and retry".into());
                let f = refused.unwrap_or(Failure {
                    rule: err.rule,
                    code: err.code,
                    message: err.message,
                    fix,
                });
                self.record_step_end(job, &item, step.name(), false);
                self.task_mut(job, &item).wait = Wait::Idle;
                self.step_failed(job, &item, step, f);
            }
        }
    }

    /// Why a power action must not be sent (enforced here whatever the checks said, and again before
    /// every retry: the other copy may have changed since the first attempt): a power-on of the on-prem
    /// VM only with the Azure VM confirmed off (FB-02), a start of the Azure VM only with the on-prem VM
    /// known off (INV-SPLIT). A refused retry fails the step; the rollback undoes what an attempt may
    /// have done.
    fn copy_guard(&self, item: &ItemId, t: &Task, kind: &ActionKind) -> Option<Failure> {
        let refuse = |message: String| Some(Failure::rule(RuleId::Fb02, message));
        match kind {
            ActionKind::PowerOnOnPremVm { vm } if !t.azure_confirmed_off => {
                let azure_vm = self.items.get(item).map(|r| &r.spec.azure_vm)?;
                refuse(format!(
                    "Azure VM `{azure_vm}` is not confirmed off; on-premises VM `{vm}` stays off"
                ))
            }
            ActionKind::StartAzureVm { vm: azure_vm } => {
                let vm = self.items.get(item).map(|r| &r.spec.onprem_vm)?;
                let may_run = t.onprem_power_on_sent
                    || (self.inv.onprem_vms.get(vm)).is_some_and(|v| v.power != PowerState::Off);
                if !may_run {
                    return None;
                }
                refuse(format!(
                    "on-premises VM `{vm}` may be running; Azure VM `{azure_vm}` stays off"
                ))
            }
            _ => None,
        }
    }

    /// [`Engine::copy_guard`] for a pending action about to be sent again.
    fn retry_refused(&self, p: &super::Pending) -> Option<Failure> {
        let item = p.item.as_ref()?;
        let t = self.jobs.get(&p.job?)?.tasks.get(item)?;
        self.copy_guard(item, t, &p.kind)
    }

    /// A result did not arrive in time: retry, or fail the step with a code (never hang).
    pub(super) fn action_timed_out(&mut self, id: ActionId) {
        if self.config.sabotaged(Sabotage::LostResultHang) {
            // SABOTAGE lost-result-hang: the timeout is ignored and the action stays pending, so a result
            // that never comes hangs its job forever.
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let refused = self.retry_refused(&p);
        if p.attempt < self.config.max_action_attempts && refused.is_none() {
            let nid = self.send_action(p.job, p.item.clone(), p.kind, p.attempt + 1);
            if let (Some(job), Some(item)) = (p.job, p.item)
                && let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(&item))
                && t.wait == Wait::Action(id)
            {
                t.wait = Wait::Action(nid);
            }
            return;
        }
        let (Some(job), Some(item)) = (p.job, p.item) else {
            return;
        };
        let Some(t) = self.jobs.get(&job).and_then(|j| j.tasks.get(&item)) else {
            return;
        };
        if t.wait != Wait::Action(id) {
            return;
        }
        let step = t.steps[t.pc];
        let f = refused.unwrap_or_else(|| {
            Failure::other(
                ErrorCode::ACTION_TIMEOUT,
                format!(
                    "no result for {} after {} attempt(s)",
                    p.kind.name(),
                    p.attempt
                ),
                "check the infrastructure component the action talks to, then retry",
            )
        });
        self.record_step_end(job, &item, step.name(), false);
        self.task_mut(job, &item).wait = Wait::Idle;
        self.step_failed(job, &item, step, f);
    }

    /// What a successful step changes in the item's record.
    fn step_ok(&mut self, job: JobId, item: &ItemId, step: Step, point: Option<RecoveryPoint>) {
        let op = self.jobs[&job].operation;
        // what the step reads of its task, not a clone of the whole task (one per step: issue 6)
        let t = &self.jobs[&job].tasks[item];
        let rolling_back = matches!(t.status, TaskStatus::RollingBack(_));
        let chosen_point_ms = t.chosen_point_ms;
        let prepared = match (&t.machine, t.mode) {
            (Some(machine), Some(mode)) if step == Step::PrepareTarget => {
                Some((machine.clone(), mode, t.disks.clone()))
            }
            _ => None,
        };
        let policy = if op == Operation::Reprotect {
            self.config.failback_policy
        } else {
            self.config.forward_policy
        };
        let rec = self.items.get_mut(item).expect("item exists");
        match step {
            Step::ShutdownAzure => self.task_mut(job, item).azure_confirmed_off = true,
            Step::StartAzure => self.task_mut(job, item).azure_confirmed_off = false,
            Step::PowerOffOnPrem if rolling_back => {
                self.task_mut(job, item).onprem_power_on_sent = false
            }
            Step::PrepareTarget => {
                if let Some((machine, mode, disks)) = prepared {
                    (self
                        .by_master_target
                        .entry(machine.master_target.clone())
                        .or_default())
                    .items
                    .insert(item.clone());
                    let rec = self.items.get_mut(item).expect("item exists");
                    rec.protection = Some(Protection {
                        machine: *machine,
                        mode,
                        disks,
                        target_prepared: true,
                    });
                }
                self.task_mut(job, item).target_prepared = true;
            }
            Step::StartReplication => {
                rec.replicating = Some(if op == Operation::Reprotect {
                    Direction::ToOnPrem
                } else {
                    Direction::ToAzure
                });
                rec.replication_started = true;
                rec.initial_sync_done = false;
                rec.points.clear();
                // points count from now on, as when each tag was reported: a cadence the stream
                // announced already goes on from its next tag
                if let Some(c) = rec.cadence.as_mut() {
                    let step = crate::recovery_point::CRASH_POINT_INTERVAL_MS;
                    c.from_tag_ms = c.from_tag_ms.max(self.now.div_ceil(step) * step);
                }
                rec.policy = policy;
                rec.health = crate::inventory::Health::Ok;
            }
            Step::StopReplication | Step::DisableReplication => {
                rec.replicating = None;
                rec.cadence = None;
            }
            Step::FinalSync => {
                if let Some(p) = point {
                    rec.points.insert(p);
                    self.task_mut(job, item).chosen_point_ms = Some(p.tag_ms);
                }
            }
            Step::RecoverOnPrem | Step::FailoverToAzure => rec.recovered_point_ms = chosen_point_ms,
            Step::CommitRecovery => match rec.recovered_point_ms {
                Some(tag) => rec.points.retain_only(tag),
                None => rec.points.clear(),
            },
            _ => {}
        }
    }

    /// A step failed: undo what the task did (FB-07), and in a replication group stop every member of a
    /// failback or a reprotect (RG-03: all or none). A failed rollback step is noted and the rollback goes on, except that the
    /// Azure VM is never started when the on-prem VM could not be powered off.
    fn step_failed(&mut self, job: JobId, item: &ItemId, step: Step, f: Failure) {
        let j = self.jobs.get_mut(&job).expect("job exists");
        if j.failure.is_none() && !j.cancelled {
            j.failure = Some(f.clone());
        }
        let op = j.operation;
        let t = j.tasks.get_mut(item).expect("task exists");
        if let TaskStatus::RollingBack(orig) = t.status.clone() {
            // Any undo step that fails leaves the machine needing an operator.
            if let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) {
                t.undo_failed = true;
            }
            self.outputs.push_back(Output::Alert(Alert {
                severity: Severity::Critical,
                item: item.clone(),
                rule: Some(RuleId::Fb07),
                kind: AlertKind::RollbackIncomplete,
            }));
            if step == Step::PowerOffOnPrem {
                // The on-prem VM may run: the Azure VM must not be started (INV-SPLIT).
                if let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) {
                    t.rollback_incomplete = true;
                }
                self.end_task(job, item, TaskStatus::Failed(orig));
            } else {
                self.next_step(job, item);
                self.advance(job, item);
            }
            return;
        }
        self.begin_rollback(job, item, f.clone());
        if matches!(op, Operation::Failback | Operation::Reprotect) {
            let together = if op == Operation::Failback {
                "fails back"
            } else {
                "is reprotected"
            };
            for peer in self.group_peers(job, item) {
                if &peer != item {
                    let msg = format!(
                        "replication group member `{item}` failed ({}); the group {together} together",
                        f.message
                    );
                    self.request_abort(job, &peer, Failure::rule(RuleId::Rg03, msg));
                }
            }
        }
    }

    /// Stops a task at its next step boundary and undoes it (cancel; RG-03). A task waiting for an action
    /// keeps waiting for that result first.
    pub(super) fn request_abort(&mut self, job: JobId, item: &ItemId, f: Failure) {
        let Some(t) = self.jobs.get_mut(&job).and_then(|j| j.tasks.get_mut(item)) else {
            return;
        };
        match t.status {
            TaskStatus::Pending => {
                self.end_task(job, item, TaskStatus::Failed(f));
            }
            TaskStatus::Running => {
                if t.abort.is_none() {
                    t.abort = Some(Box::new(f));
                }
                if t.wait == Wait::Turn {
                    t.wait = Wait::Idle;
                    self.record_step_end(job, item, Step::AwaitTurn.name(), false);
                    self.advance(job, item);
                } else if !matches!(t.wait, Wait::Action(_)) {
                    t.wait = Wait::Idle;
                    self.advance(job, item);
                }
            }
            _ => {}
        }
    }

    fn begin_rollback(&mut self, job: JobId, item: &ItemId, f: Failure) {
        let op = self.jobs[&job].operation;
        let steps = super::steps::rollback_steps(op, &self.jobs[&job].tasks[item]);
        let t = self.task_mut(job, item);
        t.status = TaskStatus::RollingBack(f);
        t.steps = steps;
        t.pc = 0;
        t.wait = Wait::Idle;
        t.barrier_passed = false;
        self.advance(job, item);
    }

    /// Cancels a job: tasks not started end at once; running ones stop at their next step boundary and
    /// undo what they did.
    pub(super) fn cancel_job(&mut self, job: JobId) {
        if let Some(j) = self.jobs.get_mut(&job) {
            j.cancelled = true;
        }
        let items: Vec<ItemId> = self.jobs[&job].tasks.keys().cloned().collect();
        for item in items {
            self.request_abort(job, &item, cancelled_failure());
        }
        self.finish_job_if_done(job);
    }

    pub(super) fn sync_stalled(&mut self, job: JobId, item: ItemId) {
        // a sync cadence's reports since the timer was set showed progress: it runs from the last one
        if let Some(c) = self.items.get(&item).and_then(|r| r.sync_cadence)
            && self.move_stall_timer(job, &item, c)
        {
            return;
        }
        let f = Failure::other(
            ErrorCode::REPLICATION_STALLED,
            format!(
                "replication of item `{item}` made no progress for {} s",
                self.config.sync_stall_timeout_ms / 1000
            ),
            "restore the path Azure → process server → master target and retry",
        );
        self.wait_expired(job, &item, Step::WaitSync, f);
    }

    pub(super) fn agent_wait_expired(&mut self, job: JobId, item: ItemId) {
        let vm = self.items[&item].spec.onprem_vm.clone();
        let f = Failure::rule(
            RuleId::Ra03,
            format!("the agent of on-premises VM `{vm}` did not register in time"),
        );
        self.wait_expired(job, &item, Step::WaitAgent, f);
    }

    /// A bounded wait (sync stall, agent registration) ran out: the step fails, if the task still waits.
    fn wait_expired(&mut self, job: JobId, item: &ItemId, step: Step, f: Failure) {
        let Some(t) = self.jobs.get(&job).and_then(|j| j.tasks.get(item)) else {
            return;
        };
        let waiting = match step {
            Step::WaitSync => matches!(t.wait, Wait::Sync { .. }),
            _ => matches!(t.wait, Wait::Agent { .. }),
        };
        if !waiting {
            return;
        }
        self.record_step_end(job, item, step.name(), false);
        self.task_mut(job, item).wait = Wait::Idle;
        self.step_failed(job, item, step, f);
    }

    /// A waiting step (sync, agent) is complete.
    pub(super) fn wait_done(&mut self, job: JobId, item: &ItemId) {
        let t = &self.jobs[&job].tasks[item];
        let timer = match t.wait {
            Wait::Sync { timer, .. } | Wait::Agent { timer } => timer,
            _ => return,
        };
        let step = t.steps[t.pc];
        self.cancel_timer(timer);
        self.record_step_end(job, item, step.name(), true);
        self.next_step(job, item);
        self.advance(job, item);
    }

    /// Ends a task and sets its item's state: success state, or back to where it started (RJ-07, FB-07).
    pub(super) fn end_task(&mut self, job: JobId, item: &ItemId, status: TaskStatus) {
        let j = self.jobs.get_mut(&job).expect("job exists");
        let op = j.operation;
        let t = j.tasks.get_mut(item).expect("task exists");
        if t.ended() {
            return;
        }
        t.status = status.clone();
        t.wait = Wait::Idle;
        let start = t.start_state;
        let rollback_incomplete = t.rollback_incomplete;
        let undo_failed = t.undo_failed;
        let rec = self.items.get_mut(item).expect("item exists");
        let from = rec.state;
        rec.job = None;
        let to = match &status {
            TaskStatus::Succeeded => {
                match op {
                    Operation::Failover | Operation::Failback => {
                        rec.replicating = None;
                        rec.cadence = None;
                    }
                    Operation::CommitFailback => {
                        rec.protection = None;
                        rec.cadence = None;
                        rec.points.clear();
                    }
                    Operation::DisableProtection => {
                        rec.protection = None;
                        rec.replicating = None;
                        rec.cadence = None;
                        rec.points.clear();
                    }
                    Operation::ReprotectToAzure => rec.protection = None,
                    _ => {}
                }
                rec.last_error = None;
                op.success_state(start)
            }
            TaskStatus::Failed(f) => {
                rec.last_error = Some(f.clone());
                if op == Operation::Reprotect && !undo_failed {
                    rec.protection = None; // the MT's disks were released by the rollback (RP-14)
                }
                if rollback_incomplete {
                    rec.replicating = None;
                    rec.cadence = None;
                    ItemState::FailedBack
                } else {
                    if op == Operation::Failback {
                        rec.replicating = Some(Direction::ToOnPrem); // FB-07: replication resumes
                    }
                    op.failure_state(start)
                }
            }
            _ => rec.state,
        };
        if to != from {
            rec.state = to;
            if matches!(
                to,
                ItemState::InAzure | ItemState::OnPrem | ItemState::Disabled
            ) {
                // unprotected: group membership may change again (RG-04's fix: disable, change, protect)
                rec.replication_started = false;
            }
            self.outputs.push_back(Output::ItemState {
                item: item.clone(),
                from,
                to,
            });
        }
        self.on_task_ended(job);
    }
}

fn cancelled_failure() -> Failure {
    Failure::other(
        ErrorCode::CANCELLED,
        "cancelled by the user",
        "run the operation again when ready",
    )
}
