//! The runner (ARCHITECTURE.md "Runner"): pop the world's next happening → observations → engine →
//! outputs → actions back to the world, timers as world events; user commands are world events too.
//! After every step the invariant checkers look at the world and at what the engine just said.

use crate::invariants::{CheckedOutputs, Checkers, StepView, Violation};
use crate::rpo::RpoTracker;
use crate::scenario::steps::{AfterOutcome, Op};
use crate::scenario::{ScriptStep, When, build::StepAction};
use drsim_engine::ids::{ItemId, JobId};
use drsim_engine::item::ItemSpec;
use drsim_engine::protocol::{Command, Input, Output, Refusal};
use drsim_engine::protocol::{JobEvent, JobOutcome, Observation};
use drsim_engine::{Engine, EngineConfig, EngineError, Millis};
use drsim_world::kernel::EventKey;
use drsim_world::{Happening, World, WorldError, WorldSpec};
use serde::Serialize;
use std::collections::BTreeMap;

/// The world event token of the engine's timer.
const ENGINE_TIMER: u64 = u64::MAX;

/// One line of the trace: every input the engine got and every output it gave, with simulated time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dir", rename_all = "kebab-case")]
pub enum TraceEvent {
    /// An input.
    In {
        /// When.
        t: Millis,
        /// What.
        input: Input,
    },
    /// An output.
    Out {
        /// When.
        t: Millis,
        /// What.
        output: Output,
    },
}

/// Why a run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The world spec is invalid.
    #[error("world: {0}")]
    World(#[from] WorldError),
    /// The items are invalid.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
}

/// What became of a user step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRun {
    /// The step's id.
    pub id: String,
    /// When it ran (None: never).
    pub ran_ms: Option<Millis>,
    /// The engine's answer: a job, nothing (no job needed), or a refusal.
    pub result: Option<Result<Option<JobId>, Refusal>>,
    /// Its job's outcome, once ended.
    pub outcome: Option<JobOutcome>,
    /// When its job ended.
    pub ended_ms: Option<Millis>,
    /// For a reprotect that succeeded: the bytes each machine's resync sent (RJ-03/RJ-04/RJ-05).
    pub reprotect_bytes: BTreeMap<ItemId, u64>,
    /// For a failback or change of point that succeeded: the bytes each machine lost (FB-03, INV-LOSS).
    pub data_loss: BTreeMap<ItemId, u64>,
}

/// Something waiting in the world's queue for its time.
#[derive(Clone, Debug)]
enum Scheduled {
    Command(Command),
    Step(usize),
}

/// Engine and world wired together, with the checkers watching.
pub struct Runner {
    /// The world.
    pub world: World,
    /// The engine.
    pub engine: Engine,
    /// Every input and output, in order.
    pub trace: crate::trace_log::Trace,
    /// The invariant checkers.
    pub checkers: Checkers,
    /// Commands and steps waiting for their time, by world token.
    scheduled: BTreeMap<u64, Scheduled>,
    /// The user steps of a scenario.
    script: Vec<ScriptStep>,
    /// What became of them, in script order.
    pub steps: Vec<StepRun>,
    /// Steps waiting for another step's job to end, by that step's index.
    waiting: BTreeMap<usize, Vec<usize>>,
    /// The step whose job each job is.
    job_step: BTreeMap<JobId, usize>,
    /// The step whose command is being given (its job is the next one created).
    giving: Option<usize>,
    /// Every item's RPO.
    pub rpo: RpoTracker,
    /// The step each user command came from, by its index in the trace (only with the full trace:
    /// a quiet trace, [`Runner::quiet_trace`], keeps no command; the timeline reads it).
    pub step_inputs: BTreeMap<usize, usize>,
    next_token: u64,
    timer: Option<(Millis, EventKey)>,
    /// Results of the commands given so far, in order.
    pub command_results: Vec<(Millis, Result<Option<JobId>, Refusal>)>,
    /// Keep replication progress and recovery point observations in the trace (the bulk of a long
    /// run's trace: a few per machine every report interval). Without them the trace holds every
    /// command, action result, inventory change and engine output — all that verdicts, the timeline
    /// and reports read — and its digest covers only those.
    pub keep_progress: bool,
    /// End each [`Runner::run_until`] by bringing the engine's point cadences up to now
    /// ([`Engine::advance_to`]), for a caller that reads the engine's points between inputs. A rehearsal
    /// reads them only at its end and stops every report interval: at 10,000 machines, taking every
    /// cadence at every stop was most of a run with reports on (issue 6).
    pub look_between_inputs: bool,
    /// `Some`: the trace keeps only what a run's verdict and report read of it ([`QuietTrace`]), for
    /// a run whose trace nobody else reads (`drsim run -q` without `--json` or `--trace`, a plan's
    /// points). Its digest then covers only those events. Set with [`Runner::set_quiet_trace`].
    quiet_trace: Option<QuietTrace>,
    /// [`Runner::drain`]'s buffers, kept between drains: grown anew at each of a run's ≈ 80,000
    /// drains (at 10k machines), they were a tenth of its cache-missing writes (issue 6).
    drained: Vec<Output>,
    /// Where in `drained` the outputs the checkers read are, noted as they are drained.
    checked: CheckedOutputs,
    touched: Vec<ItemId>,
}

/// The trace of a quiet run: only the engine's outputs that [`crate::verdict::judge`] and
/// [`crate::report`] read — alerts (expected alerts), the actions that start a replication (a
/// reprotect's recovery mode, RJ-03/RJ-04) and, when the scenario expects checks, the readiness
/// checks — and no input. At 10k the whole trace was 1.7 million events and ≈ 250 MB of a 0.8 GB peak
/// (issue 6). A new reader of the trace in quiet runs must be added here;
/// `quiet_trace_gives_every_verdict_and_report_the_full_trace_gives` compares the two on every
/// scenario of the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietTrace {
    /// Keep the readiness checks (the scenario expects some).
    pub checks: bool,
}

impl QuietTrace {
    /// Whether the quiet trace keeps this output.
    pub fn keeps(&self, output: &Output) -> bool {
        match output {
            Output::Alert(_) => true,
            Output::Action(a) => matches!(
                a.kind,
                drsim_engine::protocol::ActionKind::StartReplication { .. }
            ),
            Output::Job(JobEvent::Check { .. }) => self.checks,
            _ => false,
        }
    }
}

impl Runner {
    /// A runner over a new world and engine, with every checker.
    pub fn new(
        spec: WorldSpec,
        items: Vec<ItemSpec>,
        config: EngineConfig,
    ) -> Result<Runner, SetupError> {
        let world = World::new(spec)?;
        let checkers = Checkers::all(&config);
        let engine = Engine::new(config, items)?;
        Ok(Runner {
            world,
            engine,
            trace: Default::default(),
            checkers,
            scheduled: BTreeMap::new(),
            script: Vec::new(),
            steps: Vec::new(),
            waiting: BTreeMap::new(),
            job_step: BTreeMap::new(),
            giving: None,
            rpo: RpoTracker::new(),
            step_inputs: BTreeMap::new(),
            next_token: 0,
            timer: None,
            command_results: Vec::new(),
            keep_progress: true,
            look_between_inputs: true,
            quiet_trace: None,
            drained: Vec::new(),
            checked: CheckedOutputs::default(),
            touched: Vec::new(),
        })
    }

    /// Keeps only what a run's verdict and report read in the trace (`Some`), or everything (`None`,
    /// the default). Without checks kept the engine does not say them at all
    /// ([`Engine::set_check_events`]): no checker reads them either.
    pub fn set_quiet_trace(&mut self, quiet: Option<QuietTrace>) {
        self.quiet_trace = quiet;
        self.engine.set_check_events(quiet.is_none_or(|q| q.checks));
    }

    /// The trace's detail ([`Runner::set_quiet_trace`]).
    pub fn quiet_trace(&self) -> Option<QuietTrace> {
        self.quiet_trace
    }

    /// Requires every job to have ended by `settled_by_ms` (INV-LIVE; a campaign's liveness phase).
    /// Call before running.
    pub fn settle_by(&mut self, settled_by_ms: Millis) {
        self.checkers = Checkers::all_settled_by(self.engine.config(), Some(settled_by_ms));
    }

    /// Gives `command` to the engine at `at` (a user step).
    pub fn schedule_command(&mut self, at: Millis, command: Command) {
        self.schedule(at, Scheduled::Command(command));
    }

    fn schedule(&mut self, at: Millis, what: Scheduled) {
        let token = self.next_token;
        self.next_token += 1;
        self.scheduled.insert(token, what);
        self.world.schedule_external(at, token);
    }

    /// Loads a scenario's user steps: timed ones are scheduled, the others wait for their step's job.
    pub fn load_script(&mut self, script: Vec<ScriptStep>) {
        let base = self.script.len();
        for (k, step) in script.iter().enumerate() {
            let i = base + k;
            self.steps.push(StepRun {
                id: step.id.clone(),
                ran_ms: None,
                result: None,
                outcome: None,
                ended_ms: None,
                reprotect_bytes: BTreeMap::new(),
                data_loss: BTreeMap::new(),
            });
            match &step.when {
                When::At(t) => self.schedule(*t, Scheduled::Step(i)),
                When::After { step: parent, .. } => {
                    let p = script
                        .iter()
                        .position(|s| &s.id == parent)
                        .map(|p| base + p)
                        .expect("scenario checks resolve `after`");
                    self.waiting.entry(p).or_default().push(i);
                }
            }
        }
        self.script.extend(script);
    }

    fn run_step(&mut self, i: usize) {
        let command = match &self.script[i].action {
            StepAction::Command(c) => c.clone(),
            StepAction::CancelJobOf(step) => {
                let job = self
                    .steps
                    .iter()
                    .find(|s| &s.id == step)
                    .and_then(|s| s.result.clone())
                    .and_then(|r| r.ok().flatten())
                    // a step that started no job: the engine refuses an unknown job
                    .unwrap_or(JobId(u64::MAX));
                Command::Cancel { job }
            }
        };
        self.steps[i].ran_ms = Some(self.world.now());
        self.giving = Some(i);
        if self.quiet_trace.is_none() {
            self.step_inputs.insert(self.trace.len(), i);
        }
        let r = self.command(command);
        self.giving = None;
        self.steps[i].result = Some(r.clone());
        match r {
            // no job to wait for: a refusal counts as failed, a command that needs no job as succeeded
            Err(_) => self.release_waiting(i, false, true),
            Ok(None) => self.release_waiting(i, true, false),
            Ok(Some(_)) => {}
        }
    }

    /// Schedules the steps waiting for step `i`, now that it has ended as said.
    fn release_waiting(&mut self, i: usize, succeeded: bool, failed: bool) {
        let now = self.world.now();
        for child in self.waiting.get(&i).cloned().unwrap_or_default() {
            let When::After { on, delay_ms, .. } = self.script[child].when.clone() else {
                continue;
            };
            let go = match on {
                AfterOutcome::Ended => true,
                AfterOutcome::Succeeded => succeeded,
                AfterOutcome::Failed => failed,
            };
            if go {
                self.schedule(now.saturating_add(delay_ms), Scheduled::Step(child));
            }
        }
    }

    /// A job ended: record it for its step and start the steps waiting for it.
    fn job_ended(&mut self, job: JobId, outcome: &JobOutcome) {
        let Some(&i) = self.job_step.get(&job) else {
            return;
        };
        let now = self.world.now();
        self.steps[i].outcome = Some(outcome.clone());
        self.steps[i].ended_ms = Some(now);
        // what a succeeded reprotect sent (RJ-03/04/05) and a succeeded failback lost (FB-03)
        let op = self.script[i].op;
        if *outcome == JobOutcome::Succeeded
            && matches!(op, Op::Reprotect | Op::Failback | Op::ChangeRecoveryPoint)
            && let Some(j) = self.engine.job(job)
        {
            let items: Vec<ItemId> = j.items().cloned().collect();
            for item in items {
                let Some(m) = self.world.machines().get(&item) else {
                    continue;
                };
                if op == Op::Reprotect {
                    self.steps[i]
                        .reprotect_bytes
                        .insert(item, m.last_resync_bytes);
                } else if let Some(lost) = crate::invariants::loss::bytes_lost(m) {
                    self.steps[i].data_loss.insert(item, lost);
                }
            }
        }
        self.release_waiting(
            i,
            *outcome == JobOutcome::Succeeded,
            matches!(outcome, JobOutcome::Failed(_)),
        );
    }

    /// Lets the RPO tracker see an item's state now.
    fn track_rpo(&mut self, item: &ItemId) {
        if let Some(rec) = self.engine.item(item) {
            let tag = rec.points.latest().map(|p| p.tag_ms);
            let cadence = rec.cadence.map(|c| c.from_tag_ms);
            self.rpo.update(
                item,
                self.world.now(),
                rec.replicating.is_some(),
                tag,
                cadence,
            );
        }
    }

    /// Gives a command now.
    pub fn command(&mut self, command: Command) -> Result<Option<JobId>, Refusal> {
        let now = self.world.now();
        if self.quiet_trace.is_none() {
            self.trace.push(TraceEvent::In {
                t: now,
                input: Input::Command(command.clone()),
            });
        }
        let r = self.engine.command(now, command);
        self.command_results.push((now, r.clone()));
        self.drain();
        r
    }

    /// Runs until `limit` (simulated), checking the invariants after every step, and brings the data
    /// plane up to `limit` for whoever reads it next ([`World::catch_up_for_reading`]).
    pub fn run_until(&mut self, limit: Millis) {
        self.run_to(limit, true);
    }

    /// [`Runner::run_until`] for a caller that reads nothing of the data plane before it runs on: the
    /// streams stay where their last event left them. A stream comes out the same whenever it is
    /// brought to a time (`fluid::disk`'s tests check it; the library's scenarios end the same either
    /// way, `rehearsal`'s tests), so nothing read later changes; and the checkers' look at `limit` sees
    /// no step's outputs, so none of them reads a disk or stream there (accounting changes neither the
    /// estate nor the attachments they do read). A rehearsal's progress slices that take no report
    /// sample run this way (issue 6: each of the 200 slices brought every restless machine's disks to
    /// its end, a cold pass over them at 10k; −13 % of the 10k's last-level misses, ≈ 3 % of its time).
    pub fn run_until_unread(&mut self, limit: Millis) {
        self.run_to(limit, false);
    }

    fn run_to(&mut self, limit: Millis, for_reading: bool) {
        while let Some((t, h)) = self.world.next_until(limit) {
            match h {
                Happening::Observations(obs) => {
                    for o in obs {
                        let touched = match &o {
                            Observation::RecoveryPoints { item, .. }
                            | Observation::PointCadence { item, .. }
                            | Observation::Replication { item, .. } => Some(item.clone()),
                            _ => None,
                        };
                        let progress =
                            touched.is_some() || matches!(o, Observation::SyncCadence { .. });
                        let input = Input::Observation(o);
                        if self.quiet_trace.is_none() && (self.keep_progress || !progress) {
                            self.trace.push(TraceEvent::In {
                                t,
                                input: input.clone(),
                            });
                        }
                        self.engine.handle(t, input);
                        if let Some(item) = touched {
                            self.track_rpo(&item);
                        }
                    }
                    // one drain (and one pass of the checkers) per batch: the world stands still
                    // while the engine reads what it reported at this instant
                    self.drain();
                }
                Happening::External(ENGINE_TIMER) => {
                    self.timer = None;
                    self.engine.handle_timeout(t);
                    self.arm_timer();
                    self.drain();
                }
                Happening::External(token) => match self.scheduled.remove(&token) {
                    Some(Scheduled::Command(c)) => {
                        let _ = self.command(c);
                    }
                    Some(Scheduled::Step(i)) => self.run_step(i),
                    None => {}
                },
            }
        }
        if for_reading {
            self.world.catch_up_for_reading();
        } else {
            self.world.debug_check();
        }
        if self.look_between_inputs {
            self.engine.advance_to(self.world.now());
        }
        let view = StepView::new(self.world.now(), &self.world, &self.engine, &[]);
        self.checkers.after_step(&view);
    }

    /// A stable digest of the trace (INV-DET: the same scenario and seed give the same digest, on any run
    /// and machine): FNV-1a over each event's JSON, framed.
    pub fn trace_digest(&self) -> u64 {
        let mut h = drsim_world::rng::StableHasher::new();
        for e in &self.trace {
            h.write_str_framed(&serde_json::to_string(e).unwrap_or_default());
        }
        h.digest()
    }

    /// Ends the run: the end-of-run checks (liveness) and every violation found.
    pub fn finish(&mut self) -> Vec<Violation> {
        self.rpo.finish(self.world.now());
        let view = StepView::new(self.world.now(), &self.world, &self.engine, &[]);
        self.checkers.at_end(&view);
        self.checkers.violations()
    }

    fn arm_timer(&mut self) {
        if let Some(at) = self.engine.poll_timeout() {
            if let Some((_, k)) = self.timer.take() {
                self.world.cancel_external(k);
            }
            let k = self.world.schedule_external(at, ENGINE_TIMER);
            self.timer = Some((at, k));
        }
    }

    /// Carries out the engine's outputs and lets the checkers see them.
    fn drain(&mut self) {
        let now = self.world.now();
        let mut outs = std::mem::take(&mut self.drained);
        let mut touched = std::mem::take(&mut self.touched);
        while let Some(o) = self.engine.poll_output() {
            match &o {
                Output::ItemState { item, .. } => touched.push(item.clone()),
                Output::Job(JobEvent::Created { job, items, .. }) => {
                    if let Some(i) = self.giving.take() {
                        self.job_step.insert(*job, i);
                    }
                    touched.extend(items.iter().cloned());
                }
                Output::Job(JobEvent::StepEnded { item, .. }) => touched.push(item.clone()),
                Output::Job(JobEvent::Ended { job, outcome }) => {
                    if let Some(j) = self.engine.job(*job) {
                        touched.extend(j.items().cloned());
                    }
                    self.job_ended(*job, outcome);
                }
                _ => {}
            }
            match &o {
                Output::Action(a) => self.world.submit((**a).clone()),
                Output::Timer { at } if self.timer.is_none_or(|(t, _)| *at != t) => {
                    self.arm_timer()
                }
                _ => {}
            }
            // What neither a checker nor a quiet trace reads (a job's readiness checks and step
            // events, most of a big step's outputs) is dropped now, while it is in cache, not walked
            // again at the end of the step (issue 6).
            let read = self.checked.note(outs.len(), &o);
            if read || self.quiet_trace.is_none_or(|q| q.keeps(&o)) {
                outs.push(o);
            }
        }
        touched.sort();
        touched.dedup();
        for item in touched.drain(..) {
            self.track_rpo(&item);
        }
        self.touched = touched;
        let view = StepView::noted(now, &self.world, &self.engine, &outs, &self.checked);
        self.checkers.after_step(&view);
        self.checked.clear();
        // into the trace after the checkers have read them: moved, not cloned
        for output in outs.drain(..) {
            if self.quiet_trace.is_none_or(|q| q.keeps(&output)) {
                self.trace.push(TraceEvent::Out { t: now, output });
            }
        }
        self.drained = outs;
    }
}
