//! INV-LIVE: every job ends (succeeded, failed with a code, cancelled) within a bound once faults have
//! healed. Checked at the end of a run.

use super::{Checker, StepView, Violation};
use drsim_engine::Millis;

/// The INV-LIVE checker.
pub struct LiveChecker {
    /// How long a job may still run after the last fault healed (or after it started, if later).
    pub bound_ms: Millis,
    /// The end of a campaign's liveness phase: by then every job has ended, whatever the bound.
    pub settled_by_ms: Option<Millis>,
}

impl LiveChecker {
    /// The bound the engine's own limits imply: every step may use all its retries at the longest action
    /// timeout, plus a sync stall and an agent wait (the same bound the engine's property test uses).
    pub fn for_engine(config: &drsim_engine::EngineConfig) -> LiveChecker {
        LiveChecker {
            bound_ms: 16 * config.max_action_attempts as u64 * config.data_action_timeout_ms
                + config.sync_stall_timeout_ms
                + config.agent_registration_wait_ms,
            settled_by_ms: None,
        }
    }
}

impl Checker for LiveChecker {
    fn id(&self) -> &'static str {
        "INV-LIVE"
    }

    fn after_step(&mut self, _view: &StepView<'_>, _found: &mut Vec<Violation>) {}

    fn at_end(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        if let Some(by) = self.settled_by_ms
            && view.now >= by
        {
            for (id, j) in view.engine.jobs() {
                if !j.ended() {
                    found.push(Violation {
                        invariant: "INV-LIVE",
                        at_ms: view.now,
                        item: j.items().next().cloned(),
                        message: format!(
                            "{id} ({}) still runs at the end of the liveness phase ({} ms; started at {} ms)",
                            j.operation, by, j.started_ms
                        ),
                    });
                }
            }
            return;
        }
        let (faults, active) = view.world.faults();
        // Liveness is owed once every fault that can heal has healed; one that never heals (a deleted
        // Azure VM, a resized disk) counts from its start: the engine must cope with it.
        if active.iter().any(|i| faults[*i].fault.heals()) {
            return;
        }
        let healed = faults
            .iter()
            .map(|f| {
                if f.fault.heals() {
                    f.heal_at_ms.unwrap_or(f.at_ms)
                } else {
                    f.at_ms
                }
            })
            .filter(|t| *t <= view.now)
            .max()
            .unwrap_or(0);
        for (id, j) in view.engine.jobs() {
            let from = healed.max(j.started_ms);
            if !j.ended() && view.now > from + self.bound_ms {
                found.push(Violation {
                    invariant: "INV-LIVE",
                    at_ms: view.now,
                    item: j.items().next().cloned(),
                    message: format!(
                        "{id} ({}) still runs {} ms after it could last be blocked",
                        j.operation,
                        view.now - from
                    ),
                });
            }
        }
    }
}
