//! The engine: a sans-IO state machine in the style of quinn-proto. Time is passed in; nothing is done
//! directly. The driver feeds [`Input`]s with [`Engine::handle`], calls [`Engine::handle_timeout`] when the
//! time of the last [`Output::Timer`] (or [`Engine::poll_timeout`]) has come, and drains
//! [`Engine::poll_output`]: actions to carry out, job events, alerts, refusals, item state changes.

mod command;
mod observe;
mod run;
mod steps;

use crate::Millis;
use crate::config::EngineConfig;
use crate::ids::*;
use crate::indexed::IndexedMap;
use crate::inventory::Inventory;
use crate::item::{ItemRecord, ItemSpec};
use crate::job::Job;
use crate::lifecycle::ItemState;
use crate::name_map::NameMap;
use crate::protocol::{ActionKind, ActionRequest, Command, Input, Output, PlanSpec, Refusal};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Why an engine could not be built from its starting items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Two items share an id.
    #[error("item `{0}` is declared twice")]
    DuplicateItem(ItemId),
    /// Two items name one VM.
    #[error("VM `{vm}` belongs to both item `{first}` and item `{second}`")]
    DuplicateVm {
        /// The VM.
        vm: VmName,
        /// One item.
        first: ItemId,
        /// The other.
        second: ItemId,
    },
    /// A starting state that only a running job may be in.
    #[error("item `{item}` cannot start in state {state}: only a running job may be in it")]
    TransientStartState {
        /// The item.
        item: ItemId,
        /// Its state.
        state: ItemState,
    },
}

/// An action awaiting its result.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub job: Option<JobId>,
    pub item: Option<ItemId>,
    pub kind: ActionKind,
    pub attempt: u32,
    pub timer: (Millis, u64),
}

/// What a timer is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// An action's result is overdue.
    ActionTimeout(ActionId),
    /// A sync made no progress for the stall timeout.
    SyncStall(JobId, ItemId),
    /// The agent did not register in time (RA-03).
    AgentWait(JobId, ItemId),
    /// The RPO of an item may have crossed its threshold.
    Rpo(ItemId),
}

/// The items and tasks that may hold disks on one master target ([`Engine::by_master_target`]).
#[derive(Debug, Default)]
pub(crate) struct MtMembers {
    pub(crate) items: BTreeSet<ItemId>,
    pub(crate) tasks: BTreeSet<(JobId, ItemId)>,
}

/// The reprotect/failback orchestrator.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) now: Millis,
    pub(crate) inv: Inventory,
    pub(crate) items: IndexedMap<ItemId, ItemRecord>,
    pub(crate) by_onprem_vm: NameMap<VmName, ItemId>,
    pub(crate) by_azure_vm: NameMap<VmName, ItemId>,
    pub(crate) plans: BTreeMap<PlanId, PlanSpec>,
    pub(crate) jobs: BTreeMap<JobId, Job>,
    /// Per master target, the items whose protection was ever on it and the job tasks ever aimed at it
    /// (a superset: RP-14 counts filter by the current state) — so counting an MT's disks looks at its
    /// few machines, not at every item and task (issue 6: a 10,000-VM reprotect checked every machine
    /// against every other).
    pub(crate) by_master_target: BTreeMap<MasterTargetName, MtMembers>,
    /// Actions awaiting their result, by id. Boxed: a 200-byte value in a B-tree node is moved on every
    /// removal before it (a 1,000-machine job keeps a thousand in flight; issue 6).
    pub(crate) pending: BTreeMap<ActionId, Box<Pending>>,
    pub(crate) timers: BTreeMap<(Millis, u64), TimerKind>,
    pub(crate) outputs: VecDeque<Output>,
    next_job: u64,
    next_action: u64,
    next_timer: u64,
    announced: Option<Millis>,
    /// The 5-minute slot whose cadence tags were last taken ([`Engine::take_cadences`]).
    cadence_slot: Option<Millis>,
    /// Whether readiness results are said as [`JobEvent::Check`](crate::protocol::JobEvent::Check)s
    /// ([`Engine::set_check_events`]).
    check_events: bool,
}

impl Engine {
    /// An engine that knows the vault's items (their starting lifecycle state included).
    pub fn new(config: EngineConfig, items: Vec<ItemSpec>) -> Result<Self, EngineError> {
        let mut e = Engine {
            config,
            now: 0,
            inv: Inventory::default(),
            items: IndexedMap::default(),
            by_onprem_vm: NameMap::default(),
            by_azure_vm: NameMap::default(),
            plans: BTreeMap::new(),
            jobs: BTreeMap::new(),
            by_master_target: BTreeMap::new(),
            pending: BTreeMap::new(),
            timers: BTreeMap::new(),
            outputs: VecDeque::new(),
            next_job: 1,
            next_action: 1,
            next_timer: 0,
            announced: None,
            cadence_slot: None,
            check_events: true,
        };
        // sorted once at the end (the map is cheapest built so)
        let mut records: Vec<(ItemId, ItemRecord)> = Vec::with_capacity(items.len());
        let mut seen: BTreeSet<ItemId> = BTreeSet::new();
        for spec in items {
            if spec.state.is_transient() {
                return Err(EngineError::TransientStartState {
                    item: spec.id,
                    state: spec.state,
                });
            }
            if !seen.insert(spec.id.clone()) {
                return Err(EngineError::DuplicateItem(spec.id));
            }
            for (index, vm) in [
                (&mut e.by_onprem_vm, &spec.onprem_vm),
                (&mut e.by_azure_vm, &spec.azure_vm),
            ] {
                if let Some(first) = index.insert(vm.clone(), spec.id.clone()) {
                    return Err(EngineError::DuplicateVm {
                        vm: vm.clone(),
                        first,
                        second: spec.id.clone(),
                    });
                }
            }
            let policy = match spec.state {
                ItemState::ProtectedToOnPrem => e.config.failback_policy,
                _ => e.config.forward_policy,
            };
            if let Some(m) = &spec.protection {
                (e.by_master_target
                    .entry(m.master_target.clone())
                    .or_default())
                .items
                .insert(spec.id.clone());
            }
            records.push((spec.id.clone(), ItemRecord::new(spec, policy)));
        }
        e.items = IndexedMap::from_entries(records);
        Ok(e)
    }

    /// Feeds one input at time `now` (which never goes backwards; an earlier `now` is taken as the last).
    pub fn handle(&mut self, now: Millis, input: Input) {
        self.set_now(now);
        match input {
            Input::Command(c) => {
                let _ = self.apply_command(c);
            }
            Input::Observation(o) => self.observe(o),
        }
        self.announce_timer();
    }

    /// Feeds a command and returns the job it started (None for commands without a job), or the refusal,
    /// which is also emitted as [`Output::Refused`].
    pub fn command(&mut self, now: Millis, command: Command) -> Result<Option<JobId>, Refusal> {
        self.set_now(now);
        let r = self.apply_command(command);
        self.announce_timer();
        r
    }

    /// Time passed to `now` with nothing to tell: the tags of announced point cadences up to now become
    /// points (a driver calls it before reading the engine's state between inputs). Fires no timer.
    pub fn advance_to(&mut self, now: Millis) {
        self.set_now(now);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.set_now(now);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let kind = entry.remove();
            self.fire(kind);
        }
        self.announced = None; // the driver's wake-up is used up
        self.announce_timer();
    }

    /// Whether the engine says each readiness rule's result as a
    /// [`JobEvent::Check`](crate::protocol::JobEvent::Check) (the default) or keeps them to itself.
    /// Nothing else changes: a failed check still fails its step and its job, whose failure, step
    /// events and outcome are said as always. For a driver that reads no check: a job-starting command
    /// over 1,000 machines says thousands of them (most of its outputs), which a quiet harness
    /// run dropped unread after they had been written to the queue and read back (issue 6).
    pub fn set_check_events(&mut self, on: bool) {
        self.check_events = on;
    }

    /// Whether readiness results are said as checks ([`Engine::set_check_events`]).
    pub fn check_events(&self) -> bool {
        self.check_events
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.keys().next().map(|k| k.0)
    }

    /// The current (last seen) time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Every item's record.
    pub fn items(&self) -> &IndexedMap<ItemId, ItemRecord> {
        &self.items
    }

    /// One item's record.
    pub fn item(&self, id: &ItemId) -> Option<&ItemRecord> {
        self.items.get(id)
    }

    /// Every job, ended or not.
    pub fn jobs(&self) -> &BTreeMap<JobId, Job> {
        &self.jobs
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// The recovery plans.
    pub fn plans(&self) -> &BTreeMap<PlanId, PlanSpec> {
        &self.plans
    }

    /// The engine's picture of the infrastructure.
    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Actions awaiting a result.
    pub fn pending_actions(&self) -> usize {
        self.pending.len()
    }

    fn set_now(&mut self, now: Millis) {
        debug_assert!(now >= self.now, "time went backwards: {now} < {}", self.now);
        self.now = self.now.max(now);
        self.take_cadences(self.now);
    }

    fn announce_timer(&mut self) {
        let next = self.poll_timeout();
        if next != self.announced {
            if let Some(at) = next {
                self.outputs.push_back(Output::Timer { at });
            }
            self.announced = next;
        }
    }

    pub(crate) fn set_timer(&mut self, at: Millis, kind: TimerKind) -> (Millis, u64) {
        let key = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, kind);
        key
    }

    pub(crate) fn cancel_timer(&mut self, key: (Millis, u64)) {
        self.timers.remove(&key);
    }

    pub(crate) fn next_job_id(&mut self) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        id
    }

    /// Sends an action and arms its timeout.
    pub(crate) fn send_action(
        &mut self,
        job: Option<JobId>,
        item: Option<ItemId>,
        kind: ActionKind,
        attempt: u32,
    ) -> ActionId {
        let id = ActionId(self.next_action);
        self.next_action += 1;
        let timeout = match kind {
            ActionKind::FinalSync { .. }
            | ActionKind::RecoverOnPrem { .. }
            | ActionKind::PrepareTarget { .. } => self.config.data_action_timeout_ms,
            _ => self.config.action_timeout_ms,
        };
        let deadline_ms = self.now + timeout;
        let timer = self.set_timer(deadline_ms, TimerKind::ActionTimeout(id));
        self.outputs
            .push_back(Output::Action(Box::new(ActionRequest {
                id,
                job,
                item: item.clone(),
                attempt,
                deadline_ms,
                kind: kind.clone(),
            })));
        self.pending.insert(
            id,
            Box::new(Pending {
                job,
                item,
                kind,
                attempt,
                timer,
            }),
        );
        id
    }

    fn fire(&mut self, kind: TimerKind) {
        match kind {
            TimerKind::ActionTimeout(id) => self.action_timed_out(id),
            TimerKind::SyncStall(job, item) => self.sync_stalled(job, item),
            TimerKind::AgentWait(job, item) => self.agent_wait_expired(job, item),
            TimerKind::Rpo(item) => self.rpo_timer(item),
        }
    }
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod sabotage_tests;
#[cfg(test)]
mod sync_cadence_tests;
#[cfg(test)]
mod tests;
