//! User steps: what the operator does and when — at a simulated time, or after the job of an earlier step
//! ends. One flat object per step (`op` says which), so a whole failback cycle reads top to bottom.

use crate::units::Duration;
use drsim_engine::Millis;
use drsim_engine::protocol::{LocationChoice, PlanAction};
use drsim_engine::recovery_point::PointChoice;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a step does (the portal's operations, DOMAIN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Fail over to Azure (`point`).
    Failover,
    /// Commit a failover.
    CommitFailover,
    /// Reprotect Azure → on-prem (RJ-01: `master_target`, `process_server`, `datastore`,
    /// `retention_drive`, per machine in `machines` or for all).
    Reprotect,
    /// Fail back to on-prem (`point`, FB-03).
    Failback,
    /// Switch the recovery point before commit (`point`).
    ChangeRecoveryPoint,
    /// Commit a failback (FB-06: deletes the Azure VM).
    CommitFailback,
    /// Re-protect to Azure after failback commit (RA-*).
    ReprotectToAzure,
    /// Disable protection (NS-07).
    DisableProtection,
    /// Cancel the job of the step named in `job`.
    Cancel,
    /// Put `item` in replication `group` (or none; RG-04).
    SetReplicationGroup,
    /// Force a discovery now.
    RefreshDiscovery,
}

/// When a step after another runs: once that step's job has ended with this outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterOutcome {
    /// Only if it succeeded (default).
    #[default]
    Succeeded,
    /// Only if it failed.
    Failed,
    /// Whatever the outcome.
    Ended,
}

/// A user step.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name to refer to it (`after`, `job`, expectations). Default "step<index>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When: a simulated time from the start ("0s", "2h"). Give `at` or `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Duration>,
    /// When: after the job of the step with this id ends (see `if`), plus `delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// With `after`: the outcome it waits for. Default `succeeded`.
    #[serde(default, rename = "if")]
    pub if_outcome: AfterOutcome,
    /// With `after`: how long after. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// What to do.
    pub op: Op,
    /// The machine it acts on. Give `item` or `plan` (not for `cancel`, `refresh-discovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The recovery plan it acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Failover, failback, change-recovery-point: "latest" (default), "latest-processed",
    /// "latest-app-consistent", or "at <time>" for the point tagged then (e.g. "at 2h 05m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<Point>,
    /// Reprotect: the master target for every machine of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_target: Option<String>,
    /// Reprotect: the process server for every machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_server: Option<String>,
    /// Reprotect: the datastore for every machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    /// Reprotect: the retention drive for every machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_drive: Option<String>,
    /// Reprotect: `auto` (default: original location when the VM exists) or `alternate` (RJ-03/RJ-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationChoice>,
    /// Reprotect: values per machine, overriding the ones above. A machine of the target with no complete
    /// set of values is left out of the command (the engine then refuses it: RJ-01, values per machine).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<MachineValues>,
    /// Cancel: the step whose job to cancel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Set-replication-group: the group (none: leave the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Reprotect values for one machine (RJ-01).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineValues {
    /// The machine.
    pub item: String,
    /// Its master target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_target: Option<String>,
    /// Its process server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_server: Option<String>,
    /// Its datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    /// Its retention drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_drive: Option<String>,
    /// `auto` or `alternate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationChoice>,
}

/// A recovery plan: ordered groups, the machines of a group in parallel (FB-08).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Its name.
    pub name: String,
    /// Its groups, in order.
    pub groups: Vec<PlanGroup>,
}

/// A group of a recovery plan.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanGroup {
    /// Its machines.
    pub items: Vec<String>,
    /// Actions after its machines: `{"manual": "…"}` or `{"script": "…"}` (FB-08: failback allows
    /// manual actions only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<PlanAction>,
}

/// A recovery point choice as written: "latest", "latest-processed", "latest-app-consistent", "at 2h".
#[derive(Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(
    with = "String",
    description = "\"latest\", \"latest-processed\", \"latest-app-consistent\", or \"at <time>\" (the point tagged at that simulated time, e.g. \"at 2h 05m\")"
)]
pub struct Point(pub PointChoice);

impl std::str::FromStr for Point {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Point(match s.trim() {
            "latest" => PointChoice::Latest,
            "latest-processed" => PointChoice::LatestProcessed,
            "latest-app-consistent" => PointChoice::LatestAppConsistent,
            other => match other.strip_prefix("at ") {
                Some(t) => {
                    let d: Duration = t.parse()?;
                    PointChoice::At { tag_ms: d.0 }
                }
                None => {
                    return Err(format!(
                        "`{s}` is not a recovery point; expected \"latest\", \"latest-processed\", \
                         \"latest-app-consistent\" or \"at <time>\""
                    ));
                }
            },
        }))
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            PointChoice::At { tag_ms } => s.collect_str(&format_args!("at {}", Duration(tag_ms))),
            other => s.collect_str(&other),
        }
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Step {
    /// The time of a timed step, in ms.
    pub fn at_ms(&self) -> Option<Millis> {
        self.at.map(|d| d.0)
    }
}
