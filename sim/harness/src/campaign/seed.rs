//! One seed of a campaign: generate its scenario, run it with every invariant checked, and say what it
//! exercised and what failed. Pure: the same seed and options give the same result on any thread.

use crate::rehearsal::{Rehearsal, rehearse};
use crate::runner::TraceEvent;
use crate::scenario::build::build;
use crate::scenario::{Built, Scenario};
use drsim_engine::protocol::{JobEvent, JobOutcome, Output, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a run of one seed gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// The invariants it broke (empty: it passed).
    pub failed: BTreeSet<String>,
    /// The first violation's message, if any.
    pub first_violation: Option<String>,
    /// A problem running it at all (a generated scenario that does not build: a generator bug).
    pub error: Option<String>,
    /// The fault kinds of its schedule.
    pub fault_kinds: BTreeSet<String>,
    /// Rules that failed a readiness check or a job, with how often.
    pub rules: BTreeMap<String, u64>,
    /// Its trace digest (INV-DET).
    pub digest: u64,
    /// With `--check-determinism`: the second run's digest differed.
    pub nondeterministic: bool,
}

impl SeedResult {
    /// It passed.
    pub fn passed(&self) -> bool {
        self.failed.is_empty() && self.error.is_none() && !self.nondeterministic
    }
}

/// How seeds are run.
#[derive(Clone, Debug, Default)]
pub struct SeedOptions {
    /// Run each seed twice and compare trace digests.
    pub check_determinism: bool,
    /// Make the engine commit one known fault (proof of teeth).
    pub sabotage: Option<drsim_engine::Sabotage>,
}

/// Builds a scenario for running, with a sabotage if asked (and the world's own 60-disk limit off for
/// `ignore-disk-limit`, so INV-CAP sees what the engine did).
pub fn build_for_run(
    scenario: &Scenario,
    sabotage: Option<drsim_engine::Sabotage>,
) -> Result<Built, String> {
    let mut built = build(scenario, Path::new("generated.json")).map_err(|e| {
        format!(
            "{}: {}",
            crate::scenario::location::display(&e.path),
            e.message
        )
    })?;
    apply_sabotage(&mut built, sabotage);
    Ok(built)
}

/// Turns a sabotage on in a built scenario.
pub fn apply_sabotage(built: &mut Built, sabotage: Option<drsim_engine::Sabotage>) {
    built.config.sabotage = sabotage;
    if sabotage == Some(drsim_engine::Sabotage::IgnoreDiskLimit) {
        built.world.enforce_mt_disk_limit = false;
    }
}

/// Runs a scenario and says which invariants failed.
pub fn judge_scenario(
    scenario: &Scenario,
    sabotage: Option<drsim_engine::Sabotage>,
) -> Result<(Rehearsal, BTreeSet<String>), String> {
    let built = build_for_run(scenario, sabotage)?;
    let r = rehearse(&built, |_| {}).map_err(|e| e.to_string())?;
    let failed = r
        .violations
        .iter()
        .map(|v| v.invariant.to_owned())
        .collect();
    Ok((r, failed))
}

/// Runs one seed.
pub fn run_seed(seed: u64, opts: &SeedOptions) -> SeedResult {
    let scenario = super::generate::scenario(seed);
    let fault_kinds = scenario
        .faults
        .iter()
        .map(|f| f.fault.kind_name().to_owned())
        .collect();
    let mut result = SeedResult {
        seed,
        failed: BTreeSet::new(),
        first_violation: None,
        error: None,
        fault_kinds,
        rules: BTreeMap::new(),
        digest: 0,
        nondeterministic: false,
    };
    match judge_scenario(&scenario, opts.sabotage) {
        Err(e) => result.error = Some(e),
        Ok((r, failed)) => {
            result.failed = failed;
            result.first_violation = r
                .violations
                .first()
                .map(|v| format!("{}: {}", v.invariant, v.message));
            result.digest = r.runner.trace_digest();
            result.rules = rules_exercised(&r);
            if opts.check_determinism {
                result.nondeterministic = judge_scenario(&scenario, opts.sabotage)
                    .map(|(again, _)| again.runner.trace_digest() != result.digest)
                    .unwrap_or(true);
            }
        }
    }
    result
}

/// Rules that failed a readiness check or ended a job, with how often.
fn rules_exercised(r: &Rehearsal) -> BTreeMap<String, u64> {
    let mut rules = BTreeMap::new();
    for ev in &r.runner.trace {
        let TraceEvent::Out { output, .. } = ev else {
            continue;
        };
        let rule = match output {
            Output::Job(JobEvent::Check {
                rule,
                verdict: Verdict::Fail(_),
                ..
            }) => Some(*rule),
            Output::Job(JobEvent::Ended {
                outcome: JobOutcome::Failed(f),
                ..
            }) => f.rule,
            Output::Refused(rf) => rf.failure.rule,
            _ => None,
        };
        if let Some(rule) = rule {
            *rules.entry(rule.to_string()).or_insert(0) += 1;
        }
    }
    rules
}
