//! Commands: validation (unknown references and states that do not allow the operation are refused, never
//! panicked on), job creation, and the prerequisites check that opens every job.

use super::Engine;
use crate::error_code::ErrorCode;
use crate::ids::*;
use crate::indexed::IndexedMap;
use crate::job::{Job, Task, TaskStatus, Wait};
use crate::lifecycle::{ItemState, Operation};
use crate::protocol::*;
use crate::recovery_point::PointChoice;
use crate::rules::{Phase, RuleId};
use std::collections::{BTreeMap, BTreeSet};

/// A target resolved: items per stage, manual actions per stage, the plan.
type Stages = (Vec<Vec<ItemId>>, Vec<Vec<PlanAction>>, Option<PlanId>);

fn refuse(command: &str, failure: Failure) -> Refusal {
    Refusal {
        command: command.to_owned(),
        failure,
    }
}

fn unknown(command: &str, what: &str, name: &dyn std::fmt::Display) -> Refusal {
    refuse(
        command,
        Failure::other(
            ErrorCode::UNKNOWN_REFERENCE,
            format!("{what} `{name}` is not known"),
            format!("check the {what}'s name"),
        ),
    )
}

fn invalid(command: &str, message: String) -> Refusal {
    refuse(
        command,
        Failure::other(ErrorCode::INVALID_COMMAND, message, "correct the command"),
    )
}

impl Engine {
    /// Applies a command; a refusal is also emitted as [`Output::Refused`].
    pub(super) fn apply_command(&mut self, c: Command) -> Result<Option<JobId>, Refusal> {
        let r = self.try_command(c);
        if let Err(refusal) = &r {
            self.outputs
                .push_back(Output::Refused(Box::new(refusal.clone())));
        }
        r
    }

    fn try_command(&mut self, c: Command) -> Result<Option<JobId>, Refusal> {
        let name = command_name(&c);
        match c {
            Command::Failover { target, point } => {
                self.start_job(Operation::Failover, &target, Some(point), Vec::new())
            }
            Command::CommitFailover { target } => {
                self.start_job(Operation::CommitFailover, &target, None, Vec::new())
            }
            Command::Reprotect { target, machines } => {
                self.start_job(Operation::Reprotect, &target, None, machines)
            }
            Command::Failback { target, point } => {
                self.start_job(Operation::Failback, &target, Some(point), Vec::new())
            }
            Command::ChangeRecoveryPoint { target, point } => self.start_job(
                Operation::ChangeRecoveryPoint,
                &target,
                Some(point),
                Vec::new(),
            ),
            Command::CommitFailback { target } => {
                self.start_job(Operation::CommitFailback, &target, None, Vec::new())
            }
            Command::ReprotectToAzure { target } => {
                self.start_job(Operation::ReprotectToAzure, &target, None, Vec::new())
            }
            Command::DisableProtection { item } => self.start_job(
                Operation::DisableProtection,
                &Target::Item(item),
                None,
                Vec::new(),
            ),
            Command::Cancel { job } => {
                let Some(j) = self.jobs.get(&job) else {
                    return Err(unknown(name, "job", &job));
                };
                if j.ended() {
                    return Err(invalid(name, format!("{job} has already ended")));
                }
                self.cancel_job(job);
                Ok(None)
            }
            Command::SetPlan { plan } => {
                self.validate_plan(name, &plan)?;
                if self
                    .jobs
                    .values()
                    .any(|j| !j.ended() && j.plan.as_ref() == Some(&plan.id))
                {
                    return Err(invalid(
                        name,
                        format!("recovery plan `{}` is running a job", plan.id),
                    ));
                }
                self.plans.insert(plan.id.clone(), plan);
                Ok(None)
            }
            Command::DeletePlan { plan } => {
                if !self.plans.contains_key(&plan) {
                    return Err(unknown(name, "recovery plan", &plan));
                }
                if self
                    .jobs
                    .values()
                    .any(|j| !j.ended() && j.plan.as_ref() == Some(&plan))
                {
                    return Err(invalid(
                        name,
                        format!("recovery plan `{plan}` is running a job"),
                    ));
                }
                self.plans.remove(&plan);
                Ok(None)
            }
            Command::SetReplicationGroup { item, group } => {
                let Some(rec) = self.items.get_mut(&item) else {
                    return Err(unknown(name, "item", &item));
                };
                if rec.replication_started || rec.job.is_some() {
                    return Err(refuse(
                        name,
                        Failure::rule(
                            RuleId::Rg04,
                            format!(
                                "item `{item}` replicates already: its replication group membership is fixed"
                            ),
                        ),
                    ));
                }
                rec.spec.replication_group = group;
                Ok(None)
            }
            Command::RefreshDiscovery => {
                self.send_action(None, None, ActionKind::RefreshDiscovery, 1);
                Ok(None)
            }
        }
    }

    fn validate_plan(&self, name: &str, plan: &PlanSpec) -> Result<(), Refusal> {
        if plan.groups.is_empty() || plan.groups.iter().all(|g| g.items.is_empty()) {
            return Err(invalid(
                name,
                format!("recovery plan `{}` has no machines", plan.id),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut stage_of_group: BTreeMap<&GroupId, usize> = BTreeMap::new();
        for (i, g) in plan.groups.iter().enumerate() {
            for item in &g.items {
                let Some(rec) = self.items.get(item) else {
                    return Err(unknown(name, "item", item));
                };
                if !seen.insert(item) {
                    return Err(invalid(
                        name,
                        format!("item `{item}` appears twice in recovery plan `{}`", plan.id),
                    ));
                }
                if let Some(rg) = &rec.spec.replication_group
                    && *stage_of_group.entry(rg).or_insert(i) != i
                {
                    return Err(refuse(
                        name,
                        Failure::rule(
                            RuleId::Rg03,
                            format!(
                                "replication group `{rg}` is split over groups of recovery plan `{}`; its members fail back together",
                                plan.id
                            ),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Resolves a target into stages of items (a plan's groups, or one item).
    fn stages(&self, name: &str, target: &Target) -> Result<Stages, Refusal> {
        match target {
            Target::Item(id) => {
                if !self.items.contains_key(id) {
                    return Err(unknown(name, "item", id));
                }
                Ok((vec![vec![id.clone()]], vec![Vec::new()], None))
            }
            Target::Plan(p) => {
                let plan = self
                    .plans
                    .get(p)
                    .ok_or_else(|| unknown(name, "recovery plan", p))?;
                // Groups may have changed since the plan was set: a replication group must still sit in
                // one plan group (RG-03).
                self.validate_plan(name, plan)?;
                let stages: Vec<Vec<ItemId>> = plan
                    .groups
                    .iter()
                    .map(|g| g.items.clone())
                    .filter(|g| !g.is_empty())
                    .collect();
                let actions = plan
                    .groups
                    .iter()
                    .filter(|g| !g.items.is_empty())
                    .map(|g| g.actions.clone())
                    .collect();
                Ok((stages, actions, Some(p.clone())))
            }
        }
    }

    fn start_job(
        &mut self,
        op: Operation,
        target: &Target,
        point: Option<PointChoice>,
        machines: Vec<ReprotectMachine>,
    ) -> Result<Option<JobId>, Refusal> {
        let name = op.as_str();
        let (stages, stage_actions, plan) = self.stages(name, target)?;
        let all: Vec<ItemId> = stages.iter().flatten().cloned().collect();
        for id in &all {
            let rec = &self.items[id];
            if let Some(j) = rec.job {
                return Err(refuse(
                    name,
                    Failure::other(
                        ErrorCode::ITEM_BUSY,
                        format!("item `{id}` is busy with {j}"),
                        "wait for that job to end, or cancel it",
                    ),
                ));
            }
            if !op.allowed_in(rec.state) {
                let failure = if rec.state == ItemState::Disabled
                    && matches!(op, Operation::Reprotect | Operation::Failback)
                {
                    Failure::rule(
                        RuleId::Ns07,
                        format!("protection of item `{id}` was disabled: {op} is impossible"),
                    )
                } else {
                    let mut f = Failure::other(
                        ErrorCode::STATE_REFUSED,
                        format!("{op} is not allowed for item `{id}` in state {}", rec.state),
                        "bring the item to a state that allows the operation (DOMAIN.md §2)",
                    );
                    // the rules that say from which state an operation may start
                    f.rule = match op {
                        Operation::Failback => Some(RuleId::Fb01),
                        Operation::ReprotectToAzure => Some(RuleId::Ra01),
                        _ => None,
                    };
                    f
                };
                return Err(refuse(name, failure));
            }
        }
        let by_item = self.validate_machines(name, op, &all, machines)?;

        let id = self.next_job_id();
        let now = self.now;
        let mut tasks = Vec::with_capacity(all.len());
        let stage_of = stages
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.iter().map(move |_| k));
        for (item, stage) in all.iter().zip(stage_of) {
            let rec = &self.items[item];
            let machine = by_item
                .get(item)
                .cloned()
                .or_else(|| rec.protection.as_ref().map(|p| p.machine.clone()));
            let (mode, disks) = match op {
                Operation::Reprotect => {
                    let m = &by_item[item];
                    (
                        Some(self.resolve_mode(item, m.location)),
                        self.replicated_disks(item),
                    )
                }
                _ => match &rec.protection {
                    Some(p) => (Some(p.mode), p.disks.clone()),
                    None => (None, Vec::new()),
                },
            };
            let steps = super::steps::steps_for(op, rec.state);
            tasks.push((
                item.clone(),
                Task {
                    item: item.clone(),
                    start_state: rec.state,
                    steps,
                    pc: 0,
                    stage,
                    wait: Wait::Idle,
                    status: TaskStatus::Pending,
                    step_started_ms: now,
                    machine: machine.map(Box::new),
                    mode,
                    disks,
                    azure_confirmed_off: false,
                    azure_shutdown_sent: false,
                    onprem_power_on_sent: false,
                    onprem_power_off_sent: false,
                    target_prepared: false,
                    recover_sent: false,
                    replication_started: false,
                    chosen_point_ms: None,
                    barrier_passed: false,
                    abort: None,
                    rollback_incomplete: false,
                    undo_failed: false,
                    open_records: Vec::new(),
                },
            ));
        }
        // built in one go and found by hash: a tree's lookups compared names down four levels, the
        // engine's largest share of a 10k run's name comparisons (issue 6)
        let tasks = IndexedMap::from_entries(tasks);
        // room for the records of a job that nothing retries or undoes (those add more): each
        // item's prerequisites check, its task's steps, the plan's manual actions. A 1,000-machine
        // job's history grown by doubling copied its records again and again after they had left
        // the caches (issue 6)
        let prerequisites = if start_phase(op).is_some() {
            tasks.len()
        } else {
            0
        };
        let steps: usize = tasks.values().map(|t| t.steps.len()).sum();
        let manual: usize = stage_actions.iter().map(Vec::len).sum();
        let history = Vec::with_capacity(prerequisites + steps + manual);
        self.jobs.insert(
            id,
            Job {
                id,
                operation: op,
                plan: plan.clone(),
                stages,
                stage_actions,
                stage: 0,
                stage_ended_upto: (0, 0),
                tasks,
                point,
                started_ms: now,
                ended_ms: None,
                outcome: None,
                cancelled: false,
                failure: None,
                history,
            },
        );
        for (item, t) in &self.jobs[&id].tasks {
            if let Some(m) = &t.machine {
                (self
                    .by_master_target
                    .entry(m.master_target.clone())
                    .or_default())
                .tasks
                .insert((id, item.clone()));
            }
        }
        self.outputs.push_back(Output::Job(JobEvent::Created {
            job: id,
            operation: op,
            plan,
            items: all.clone(),
        }));
        for item in &all {
            let rec = self.items.get_mut(item).expect("validated above");
            rec.job = Some(id);
            if let Some(running) = op.running_state() {
                let from = rec.state;
                rec.state = running;
                self.outputs.push_back(Output::ItemState {
                    item: item.clone(),
                    from,
                    to: running,
                });
            }
        }
        if let Some(phase) = start_phase(op)
            && let Some(failure) = self.prerequisites(id, phase)
        {
            self.fail_before_start(id, failure);
            return Ok(Some(id));
        }
        self.start_stage(id);
        if op == Operation::Reprotect {
            self.start_later_groups(id);
        }
        Ok(Some(id))
    }

    /// Checks the reprotect inputs: every machine of the target has values and nothing else does; MT, PS,
    /// datastore and retention drive exist (RJ-01).
    fn validate_machines(
        &self,
        name: &str,
        op: Operation,
        all: &[ItemId],
        machines: Vec<ReprotectMachine>,
    ) -> Result<BTreeMap<ItemId, ReprotectMachine>, Refusal> {
        if op != Operation::Reprotect {
            if machines.is_empty() {
                return Ok(BTreeMap::new());
            }
            return Err(invalid(
                name,
                format!("{op} takes no per-machine reprotect values"),
            ));
        }
        let mut by_item = BTreeMap::new();
        // sorted once, searched per machine (a scan per machine grew with the square of a plan's size)
        let mut sorted: Vec<&ItemId> = all.iter().collect();
        sorted.sort_unstable();
        for m in machines {
            if sorted.binary_search(&&m.item).is_err() {
                return Err(invalid(
                    name,
                    format!(
                        "reprotect values for item `{}`, which is not in the target",
                        m.item
                    ),
                ));
            }
            if !self.inv.master_targets.contains_key(&m.master_target) {
                return Err(unknown(name, "master target", &m.master_target));
            }
            if !self.inv.process_servers.contains_key(&m.process_server) {
                return Err(unknown(name, "process server", &m.process_server));
            }
            if !self.inv.datastores.contains_key(&m.datastore) {
                return Err(unknown(name, "datastore", &m.datastore));
            }
            let item = m.item.clone();
            if by_item.insert(item.clone(), m).is_some() {
                return Err(invalid(
                    name,
                    format!("reprotect values for item `{item}` are given twice"),
                ));
            }
        }
        if let Some(missing) = all.iter().find(|i| !by_item.contains_key(*i)) {
            return Err(refuse(
                name,
                Failure::rule(
                    RuleId::Rj01,
                    format!(
                        "no master target, process server, datastore and retention drive given for item `{missing}`"
                    ),
                ),
            ));
        }
        Ok(by_item)
    }

    /// RJ-03 / RJ-04: original location when the on-prem VM and its disks exist, unless alternate is chosen.
    pub(super) fn resolve_mode(&self, item: &ItemId, location: LocationChoice) -> RecoveryMode {
        let vm = &self.items[item].spec.onprem_vm;
        let exists = self
            .inv
            .onprem_vms
            .get(vm)
            .is_some_and(|v| !v.disks.is_empty());
        match location {
            LocationChoice::Auto if exists => RecoveryMode::Original,
            _ => RecoveryMode::Alternate,
        }
    }

    /// The Azure VM's disks that replicate back: never the temporary disk (RP-19) nor a disk added after
    /// failover (RJ-09).
    pub(super) fn replicated_disks(&self, item: &ItemId) -> Vec<String> {
        let vm = &self.items[item].spec.azure_vm;
        self.inv
            .azure_vms
            .get(vm)
            .map(|a| {
                a.disks
                    .iter()
                    .filter(|d| !d.temporary && !d.added_after_failover)
                    .map(|d| d.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs the start-phase checks of every machine of the job, in job order. A plan's job fails as a whole
    /// before anything is touched when any machine fails them.
    fn prerequisites(&mut self, job: JobId, phase: Phase) -> Option<Failure> {
        let items: Vec<ItemId> = self.jobs[&job].items().cloned().collect();
        let mut first = None;
        let mut mt_use = super::run::MtUse::new(job);
        for item in items {
            self.record_step_start(job, &item, crate::job::Step::Check(phase).name());
            let results = self.run_checks(job, &item, phase, &mut mt_use);
            let failure = crate::readiness::first_failure(&results).cloned();
            self.emit_checks(job, &item, results);
            self.record_step_end(
                job,
                &item,
                crate::job::Step::Check(phase).name(),
                failure.is_none(),
            );
            if first.is_none() {
                first = failure;
            }
        }
        first
    }

    /// Ends a job whose prerequisites failed: no machine was touched; each returns to its start state.
    fn fail_before_start(&mut self, job: JobId, failure: Failure) {
        if let Some(j) = self.jobs.get_mut(&job) {
            j.failure = Some(failure.clone());
        }
        // Later stages first, so each machine keeps the prerequisite failure as its error.
        let items: Vec<ItemId> = self.jobs[&job].items().cloned().collect();
        for item in items.into_iter().rev() {
            self.end_task(job, &item, TaskStatus::Failed(failure.clone()));
        }
        self.finish_job_if_done(job);
    }
}

fn start_phase(op: Operation) -> Option<Phase> {
    match op {
        Operation::Reprotect => Some(Phase::ReprotectStart),
        Operation::Failback => Some(Phase::FailbackStart),
        Operation::ReprotectToAzure => Some(Phase::ReprotectToAzureStart),
        _ => None,
    }
}

fn command_name(c: &Command) -> &'static str {
    match c.operation() {
        Some(op) => op.as_str(),
        None => match c {
            Command::Cancel { .. } => "cancel",
            Command::SetPlan { .. } => "set-plan",
            Command::DeletePlan { .. } => "delete-plan",
            Command::SetReplicationGroup { .. } => "set-replication-group",
            _ => "refresh-discovery",
        },
    }
}
