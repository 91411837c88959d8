//! The invariants of DOMAIN.md §6, one checker per module, each run after every step of a run. A checker
//! reads the world (the truth) and the engine's outputs of the step; it never changes either. Violations
//! are kept (at most [`MAX_PER_INVARIANT`] per invariant, so a broken run stays readable) for the verdict.

pub mod bytes;
pub mod cap;
mod group;
mod live;
pub mod loss;
mod off;
mod split;
mod state;

pub use bytes::BytesChecker;
pub use cap::CapChecker;
pub use group::GroupChecker;
pub use live::LiveChecker;
pub use loss::LossChecker;
pub use off::OffChecker;
pub use split::SplitChecker;
pub use state::StateChecker;

use drsim_engine::ids::ItemId;
use drsim_engine::protocol::Output;
use drsim_engine::{Engine, Millis};
use drsim_world::World;
use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many violations are kept per invariant.
pub const MAX_PER_INVARIANT: usize = 100;

/// What a checker sees after a step.
pub struct StepView<'a> {
    /// Now.
    pub now: Millis,
    /// The world.
    pub world: &'a World,
    /// The engine.
    pub engine: &'a Engine,
    /// What the engine said in this step and the runner kept: a quiet run keeps only the outputs a
    /// checker or its trace reads. Read through [`StepView::checked`].
    outputs: &'a [Output],
    /// Where in `outputs` those a checker reads are ([`CheckedOutputs`]).
    checked: std::borrow::Cow<'a, CheckedOutputs>,
}

impl<'a> StepView<'a> {
    /// A view of a step that finds the outputs the checkers read itself.
    pub fn new(now: Millis, world: &'a World, engine: &'a Engine, outputs: &'a [Output]) -> Self {
        Self {
            now,
            world,
            engine,
            outputs,
            checked: std::borrow::Cow::Owned(CheckedOutputs::of(outputs)),
        }
    }

    /// A view of a step whose outputs the caller noted as it collected them.
    pub fn noted(
        now: Millis,
        world: &'a World,
        engine: &'a Engine,
        outputs: &'a [Output],
        checked: &'a CheckedOutputs,
    ) -> Self {
        debug_assert_eq!(checked, &CheckedOutputs::of(outputs));
        Self {
            now,
            world,
            engine,
            outputs,
            checked: std::borrow::Cow::Borrowed(checked),
        }
    }

    /// The step's outputs a checker reads, in order: all but a job's per-item progress (its
    /// readiness checks and step starts and ends) and timers ([`CheckedOutputs::reads`]).
    pub fn checked(&self) -> impl Iterator<Item = &'a Output> + '_ {
        let outputs = self.outputs;
        (self.checked.positions.iter()).map(move |&i| &outputs[i as usize])
    }

    /// The jobs of `ops` that ended successfully in this step.
    pub fn succeeded_jobs(
        &self,
        ops: &'a [drsim_engine::lifecycle::Operation],
    ) -> impl Iterator<Item = &'a drsim_engine::job::Job> + '_ {
        let engine = self.engine;
        self.checked().filter_map(move |o| match o {
            Output::Job(drsim_engine::protocol::JobEvent::Ended {
                job,
                outcome: drsim_engine::protocol::JobOutcome::Succeeded,
            }) => engine.job(*job).filter(|j| ops.contains(&j.operation)),
            _ => None,
        })
    }
}

/// Where a step's outputs that a checker reads are: all but a job's per-item progress (its
/// readiness checks, step starts and step ends) and timers, which no invariant reads. Noted once,
/// as the runner collects the outputs (they are in cache then), so that each checker walks only these:
/// a step that starts a 1,000-machine job says ≈ 8,000 things, four in five of them checks and step
/// events, and each of six checkers walking them all took them from memory again (issue 6: ≈ 6 % of
/// the 10k fleet's cache misses, none at 1k, whose steps stay cached).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckedOutputs {
    positions: Vec<u32>,
}

impl CheckedOutputs {
    /// Whether a checker reads an output of this kind.
    pub fn reads(o: &Output) -> bool {
        use drsim_engine::protocol::JobEvent;
        !matches!(
            o,
            Output::Timer { .. }
                | Output::Job(
                    JobEvent::Check { .. }
                        | JobEvent::StepStarted { .. }
                        | JobEvent::StepEnded { .. }
                )
        )
    }

    /// Notes the output at `position` if a checker reads it (positions come in order), and says
    /// whether one does.
    pub fn note(&mut self, position: usize, o: &Output) -> bool {
        let reads = Self::reads(o);
        if reads {
            let position = u32::try_from(position).expect("fewer than 2^32 outputs in a step");
            self.positions.push(position);
        }
        reads
    }

    /// Forgets every output (a new step).
    pub fn clear(&mut self) {
        self.positions.clear();
    }

    fn of(outputs: &[Output]) -> Self {
        let mut c = Self::default();
        for (i, o) in outputs.iter().enumerate() {
            c.note(i, o);
        }
        c
    }
}

/// Which machines a checker must look at after a step: those whose on-prem or Azure VM changed since its
/// last look (the estate's VM change log), or all of them on the first step and whenever the set of active
/// faults changed (a fault's start or heal changes what excuses what). A step then costs what changed, not
/// the fleet (issue 6).
#[derive(Default)]
pub struct VmWatch {
    cursor: usize,
    seen: bool,
    active: Vec<usize>,
}

/// What [`VmWatch::changed`] found.
pub enum Changed {
    /// Look at every machine.
    All,
    /// Look at these.
    Items(std::collections::BTreeSet<ItemId>),
}

impl VmWatch {
    /// The machines to look at now.
    pub fn changed(&mut self, world: &World) -> Changed {
        let log = world.estate().vm_changes();
        let from = std::mem::replace(&mut self.cursor, log.len());
        let (_, active) = world.faults();
        let faults_moved = !self.active.iter().eq(active.iter());
        if faults_moved {
            self.active = active.iter().copied().collect();
        }
        if !std::mem::replace(&mut self.seen, true) || faults_moved {
            return Changed::All;
        }
        Changed::Items(
            log[from..]
                .iter()
                .flat_map(|vm| world.items_of_vm(vm))
                .cloned()
                .collect(),
        )
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant's ID, e.g. `INV-SPLIT`.
    pub invariant: &'static str,
    /// When.
    pub at_ms: Millis,
    /// The item, if one.
    pub item: Option<ItemId>,
    /// What went wrong.
    pub message: String,
}

/// One invariant. `Send + Sync` so that the report of a finished run is built from it on several
/// threads.
pub trait Checker: Send + Sync {
    /// Its ID (DOMAIN.md §6).
    fn id(&self) -> &'static str;
    /// Looks at a step; pushes what it finds broken.
    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>);
    /// Looks at the end of the run.
    fn at_end(&mut self, _view: &StepView<'_>, _found: &mut Vec<Violation>) {}
}

/// The checkers of a run and what they found.
pub struct Checkers {
    checkers: Vec<Box<dyn Checker>>,
    found: BTreeMap<&'static str, Vec<Violation>>,
}

impl Checkers {
    /// Every checker of DOMAIN.md §6 but INV-DET (which compares whole runs), in its order.
    pub fn all(config: &drsim_engine::EngineConfig) -> Checkers {
        Checkers::all_settled_by(config, None)
    }

    /// Every checker, with INV-LIVE requiring every job to have ended by `settled_by_ms` (a campaign's
    /// liveness phase).
    pub fn all_settled_by(
        config: &drsim_engine::EngineConfig,
        settled_by_ms: Option<Millis>,
    ) -> Checkers {
        let mut live = LiveChecker::for_engine(config);
        live.settled_by_ms = settled_by_ms;
        Checkers::with(vec![
            Box::new(SplitChecker::default()),
            Box::new(OffChecker::default()),
            Box::new(GroupChecker::default()),
            Box::new(LossChecker::default()),
            Box::new(BytesChecker),
            Box::new(CapChecker::default()),
            Box::new(live),
            Box::new(StateChecker::default()),
        ])
    }

    /// Just these checkers.
    pub fn with(checkers: Vec<Box<dyn Checker>>) -> Checkers {
        Checkers {
            checkers,
            found: BTreeMap::new(),
        }
    }

    /// The IDs of the checkers, in order.
    pub fn ids(&self) -> Vec<&'static str> {
        self.checkers.iter().map(|c| c.id()).collect()
    }

    /// Runs every checker on a step.
    pub fn after_step(&mut self, view: &StepView<'_>) {
        let mut found = Vec::new();
        for c in &mut self.checkers {
            c.after_step(view, &mut found);
        }
        self.keep(found);
    }

    /// Runs every end-of-run check.
    pub fn at_end(&mut self, view: &StepView<'_>) {
        let mut found = Vec::new();
        for c in &mut self.checkers {
            c.at_end(view, &mut found);
        }
        self.keep(found);
    }

    fn keep(&mut self, found: Vec<Violation>) {
        for v in found {
            let list = self.found.entry(v.invariant).or_default();
            if list.len() < MAX_PER_INVARIANT {
                list.push(v);
            }
        }
    }

    /// Everything found, by invariant, then in time order.
    pub fn violations(&self) -> Vec<Violation> {
        self.found.values().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
