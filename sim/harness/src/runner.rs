//! The runner (ARCHITECTURE.md "Runner"): pop the world's next happening → observations → engine →
//! outputs → actions back to the world, timers as world events; user commands are world events too.
//! After every step the invariant checkers look at the world and at what the engine just said.

use crate::invariants::{Checkers, StepView, Violation};
use drsim_engine::ids::JobId;
use drsim_engine::item::ItemSpec;
use drsim_engine::protocol::{Command, Input, Output, Refusal};
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

/// Engine and world wired together, with the checkers watching.
pub struct Runner {
    /// The world.
    pub world: World,
    /// The engine.
    pub engine: Engine,
    /// Every input and output, in order.
    pub trace: Vec<TraceEvent>,
    /// The invariant checkers.
    pub checkers: Checkers,
    /// Commands waiting for their time, by world token.
    commands: BTreeMap<u64, Command>,
    next_token: u64,
    timer: Option<(Millis, EventKey)>,
    /// Results of the commands given so far, in order.
    pub command_results: Vec<(Millis, Result<Option<JobId>, Refusal>)>,
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
            trace: Vec::new(),
            checkers,
            commands: BTreeMap::new(),
            next_token: 0,
            timer: None,
            command_results: Vec::new(),
        })
    }

    /// Gives `command` to the engine at `at` (a user step).
    pub fn schedule_command(&mut self, at: Millis, command: Command) {
        let token = self.next_token;
        self.next_token += 1;
        self.commands.insert(token, command);
        self.world.schedule_external(at, token);
    }

    /// Gives a command now.
    pub fn command(&mut self, command: Command) -> Result<Option<JobId>, Refusal> {
        let now = self.world.now();
        self.trace.push(TraceEvent::In {
            t: now,
            input: Input::Command(command.clone()),
        });
        let r = self.engine.command(now, command);
        self.command_results.push((now, r.clone()));
        self.drain();
        r
    }

    /// Runs until `limit` (simulated), checking the invariants after every step.
    pub fn run_until(&mut self, limit: Millis) {
        while let Some((t, h)) = self.world.next_until(limit) {
            match h {
                Happening::Observations(obs) => {
                    for o in obs {
                        let input = Input::Observation(o);
                        self.trace.push(TraceEvent::In {
                            t,
                            input: input.clone(),
                        });
                        self.engine.handle(t, input);
                        self.drain();
                    }
                }
                Happening::External(ENGINE_TIMER) => {
                    self.timer = None;
                    self.engine.handle_timeout(t);
                    self.arm_timer();
                    self.drain();
                }
                Happening::External(token) => {
                    if let Some(c) = self.commands.remove(&token) {
                        let _ = self.command(c);
                    }
                }
            }
        }
        self.world.catch_up();
        let view = StepView {
            now: self.world.now(),
            world: &self.world,
            engine: &self.engine,
            outputs: &[],
        };
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
        let view = StepView {
            now: self.world.now(),
            world: &self.world,
            engine: &self.engine,
            outputs: &[],
        };
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
        let mut outs = Vec::new();
        while let Some(o) = self.engine.poll_output() {
            match &o {
                Output::Action(a) => self.world.submit(a.clone()),
                Output::Timer { at } if self.timer.is_none_or(|(t, _)| *at != t) => {
                    self.arm_timer()
                }
                _ => {}
            }
            self.trace.push(TraceEvent::Out {
                t: now,
                output: o.clone(),
            });
            outs.push(o);
        }
        let view = StepView {
            now,
            world: &self.world,
            engine: &self.engine,
            outputs: &outs,
        };
        self.checkers.after_step(&view);
    }
}
