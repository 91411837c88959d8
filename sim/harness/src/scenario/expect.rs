//! What must hold at the end of a run, besides the invariants: job outcomes with rule and code, final
//! states, RPO bounds, reprotect byte ranges, alerts, readiness results, and the invariants a scenario
//! breaks on purpose (a user's mistake injected as a fault).

use crate::units::{Bytes, Duration};
use drsim_engine::lifecycle::ItemState;
use drsim_engine::protocol::Severity;
use drsim_engine::rules::RuleId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The expectations of a scenario. Every invariant not listed in `violations` must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Outcomes of the steps' jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobExpect>,
    /// Final lifecycle state per machine.
    #[serde(default)]
    pub states: BTreeMap<String, ItemState>,
    /// RPO bounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rpo: Vec<RpoExpect>,
    /// Bytes a reprotect sent (RJ-03 differential, RJ-04 full copy, RJ-05 range).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reprotect_bytes: Vec<BytesExpect>,
    /// Data a failback (or change of recovery point) lost: writes acknowledged after the chosen point
    /// (INV-LOSS: none for "latest").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_loss: Vec<BytesExpect>,
    /// Order inside a plan's job: these machines end their steps before those start (FB-08).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<OrderExpect>,
    /// Alerts the engine must raise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertExpect>,
    /// Readiness results the engine must report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckExpect>,
    /// Every job has ended by then (a campaign's liveness phase, after every fault healed): checked by
    /// INV-LIVE at the end of the run, whatever its usual bound. At most the scenario's `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<Duration>,
    /// Invariants that must be flagged (DOMAIN.md §6 IDs, e.g. "INV-SPLIT"): for scenarios that inject a
    /// user's mistake on purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
}

/// How a step must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    /// Its job succeeded.
    Succeeded,
    /// Its job failed.
    Failed,
    /// Its job was cancelled.
    Cancelled,
    /// The engine refused the command (no job).
    Refused,
    /// It never ran (its `after` condition never held).
    NotRun,
}

/// The outcome of one step.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobExpect {
    /// The step's id.
    pub step: String,
    /// How it ends.
    pub outcome: StepOutcome,
    /// For `failed` / `refused`: the rule of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    /// For `failed` / `refused`: the error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// For `failed`: the name of the job step that failed, e.g. "Prerequisites check".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
}

/// An RPO bound over a machine's replication (DOMAIN.md §4: RPO = now − newest point on the target).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpoExpect {
    /// The machine. Default: every machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The largest RPO allowed while it replicates.
    pub max: Duration,
    /// Only from this simulated time (e.g. after initial replication). Default: the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Duration>,
    /// Only until this simulated time. Default: the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Duration>,
}

/// Machines of one job that run strictly one set after the other.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderExpect {
    /// The step whose job it is.
    pub step: String,
    /// These machines end every step of the job (but the plan-wide prerequisites check) …
    pub first: Vec<String>,
    /// … before any of these starts one.
    pub then: Vec<String>,
}

/// Bytes of one step for a machine: sent by a reprotect, or lost by a failback.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BytesExpect {
    /// The step.
    pub step: String,
    /// The machine. Default: the step's only machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// At least. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Bytes>,
    /// At most. Default: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Bytes>,
}

/// The kinds of engine alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlertName {
    /// RPO above the threshold.
    RpoThresholdExceeded,
    /// RPO back under the threshold.
    RpoRecovered,
    /// A second copy runs (INV-SPLIT).
    SplitBrainRisk,
    /// The second copy is off again.
    SplitBrainResolved,
    /// Replication health changed.
    ReplicationHealth,
    /// An undo step failed.
    RollbackIncomplete,
}

/// An alert the engine must raise (at least once).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertExpect {
    /// The machine.
    pub item: String,
    /// The alert.
    pub alert: AlertName,
    /// Its severity. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Raised no later than this simulated time. Default: any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Duration>,
}

/// A readiness verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    /// Passed.
    Pass,
    /// Passed with a warning.
    Warn,
    /// Failed.
    Fail,
}

/// A readiness check the job of a step must report.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckExpect {
    /// The step.
    pub step: String,
    /// The rule.
    pub rule: RuleId,
    /// The verdict (at least once for this rule in the step's job).
    pub verdict: CheckVerdict,
    /// The machine. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}
