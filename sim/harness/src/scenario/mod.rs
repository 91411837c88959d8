//! Scenario files (issue 4, ARCHITECTURE.md "The harness"): one small JSON file says what the estate is,
//! what the operator does, what breaks and what must hold — like a FoundationDB test spec. Durations and
//! sizes are written as people write them ("15m", "3d", "500GiB", "1Gbps"; [`crate::units`]); unknown fields
//! are refused. [`load`] reads and checks a file; [`build`] turns it into a world, the vault's items, the
//! engine's configuration and a script of user steps; a bad file gives an [`InputError`] with file,
//! line:column, the field path and what was expected.

pub mod build;
pub mod error;
pub mod expect;
pub mod inventory;
pub mod location;
pub mod steps;
pub mod trace;

pub use build::{Built, ScriptStep, When};
pub use error::InputError;
pub use expect::Expect;

use crate::units::Duration;
use drsim_world::faults::Fault;
use inventory::{Churn, Inventory, Machine, Network};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use steps::{Plan, Step};

/// A scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The JSON Schema the file follows (for editors), e.g. "../scenario.schema.json".
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Its name: the file's name without `.json` (letters, digits, '-', '_', '.'); it names trace files.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// The root seed of every random stream. Default 1; `drsim run --seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long to simulate.
    pub duration: Duration,
    /// The infrastructure.
    pub inventory: Inventory,
    /// The Azure ↔ on-prem link.
    #[serde(default)]
    pub network: Network,
    /// The default churn of every disk. Default: constant "100KB/s".
    #[serde(default)]
    pub churn: Churn,
    /// Engine and world policies.
    #[serde(default)]
    pub policies: Policies,
    /// The protected machines.
    pub machines: Vec<Machine>,
    /// Recovery plans (FB-08, RP-09).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Plan>,
    /// What the operator does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// What breaks, and when it heals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultEntry>,
    /// What must hold.
    #[serde(default)]
    pub expect: Expect,
    /// Report settings.
    #[serde(default)]
    pub report: ReportSettings,
}

fn default_seed() -> u64 {
    1
}

/// A fault: when it starts, when it heals, what it is.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    /// When it starts (simulated time).
    pub at: Duration,
    /// When it heals (simulated time, after `at`). Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Duration>,
    /// What breaks, e.g. `{"kind": "link-down"}`, `{"kind": "process-server-crash",
    /// "process_server": "ps1"}`. A VM is named by its machine's name.
    pub fault: Fault,
}

/// Engine and world policies; every field has DOMAIN.md's default.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Policies {
    /// How long the engine waits for an action's result before retrying.
    pub action_timeout: Duration,
    /// How long it waits for data-moving actions (final sync, recover).
    pub data_action_timeout: Duration,
    /// Attempts per action, the first included.
    pub max_action_attempts: u32,
    /// A resync without progress for this long fails its job.
    pub sync_stall_timeout: Duration,
    /// How long re-protect to Azure waits for the agent to register (RA-03).
    pub agent_registration_wait: Duration,
    /// RP-18 *varies*: allow an alternate vCenter.
    pub allow_alternate_vcenter: bool,
    /// Disks per master target (RP-14).
    pub max_disks_per_master_target: u32,
    /// VMs per replication group (RG-01).
    pub max_vms_per_group: u32,
    /// RPO threshold of the failback policy (DOMAIN.md §4: 15 min; alerts only).
    pub rpo_threshold: Duration,
    /// Recovery point retention (24 h).
    pub retention: Duration,
    /// App-consistent point interval (60 min).
    pub app_consistent_interval: Duration,
    /// How often discovery runs (15 min).
    pub discovery_interval: Duration,
    /// How often replication progress and new recovery points are reported (5 min).
    pub replication_report_interval: Duration,
    /// Longest agent registration lag after a boot (RP-04, RA-03: 15 min).
    pub agent_lag_max: Duration,
    /// How long a failover takes.
    pub failover_time: Duration,
    /// How long preparing the target on the MT takes.
    pub prepare_target_time: Duration,
}

impl Default for Policies {
    fn default() -> Self {
        let e = drsim_engine::EngineConfig::default();
        let t = drsim_world::world::Timing::default();
        let w = drsim_world::WorldSpec::new(
            0,
            drsim_engine::inventory::ConfigServerView {
                running: true,
                connected_to_azure: true,
                vcenters: vec![],
                version: 0,
                registrations: vec![],
            },
            drsim_world::world::SiteLinkSpec {
                kind: drsim_engine::inventory::SiteLink::Vpn,
                bandwidth_bytes_per_s: 1,
                latency_ms: 0,
            },
        );
        Policies {
            action_timeout: Duration(e.action_timeout_ms),
            data_action_timeout: Duration(e.data_action_timeout_ms),
            max_action_attempts: e.max_action_attempts,
            sync_stall_timeout: Duration(e.sync_stall_timeout_ms),
            agent_registration_wait: Duration(e.agent_registration_wait_ms),
            allow_alternate_vcenter: e.allow_alternate_vcenter,
            max_disks_per_master_target: e.max_disks_per_master_target,
            max_vms_per_group: e.max_vms_per_group,
            rpo_threshold: Duration(e.failback_policy.rpo_threshold_ms),
            retention: Duration(e.failback_policy.retention_ms),
            app_consistent_interval: Duration(e.failback_policy.app_consistent_interval_ms),
            discovery_interval: Duration(w.discovery_interval_ms),
            replication_report_interval: Duration(w.report_interval_ms),
            agent_lag_max: Duration(t.agent_lag_max_ms),
            failover_time: Duration(t.failover_ms),
            prepare_target_time: Duration(t.prepare_target_ms),
        }
    }
}

/// Report settings.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// The step of the report time series (RPO, throughput, backlog) that `--report` writes (issue 7);
    /// at least 1s. The run's own RPO figures are exact and need no interval.
    pub interval: Duration,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            interval: Duration(5 * drsim_engine::time::MINUTE_MS),
        }
    }
}

/// Parses scenario text: JSON syntax, types and unknown fields, with the failing field's path and
/// position. `file` only names the source in errors.
pub fn parse(file: &Path, text: &str) -> Result<Scenario, InputError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let scenario: Scenario = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| InputError::from_serde(file, text, &e))?;
    de.end().map_err(|e| InputError::from_json(file, "", &e))?;
    unit_variants_have_no_fields(text).map_err(|e| e.locate(file, text))?;
    Ok(scenario)
}

/// The field-less variants [`unit_variants_have_no_fields`] looks at: faults' `kind`, churn's `model`.
const UNIT_VARIANTS: [&str; 3] = ["link-down", "config-server-down", "idle"];

/// serde lets a tagged enum's field-less variant (`{"kind": "link-down"}`, `{"model": "idle"}`) carry
/// unknown fields unnoticed; a stray `"heal"` inside a fault would silently never heal. Refused here.
fn unit_variants_have_no_fields(text: &str) -> Result<(), error::Unlocated> {
    use location::{Segment, key};
    // The untyped second parse is only needed where a field-less variant is named: a fleet's file has
    // none, and parsing its 6.6 MB again into a `Value` was a fifth of loading it (issue 6). Without an
    // escape (`\u…`) a variant's name appears verbatim, quoted, wherever it is used.
    let named = |unit: &str| text.contains(&format!("\"{unit}\""));
    if !text.contains('\\') && !UNIT_VARIANTS.iter().any(|u| named(u)) {
        return Ok(());
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(());
    };
    let check = |obj: &serde_json::Value, tag: &str, units: &[&str], path: Vec<Segment>| {
        let Some(map) = obj.as_object() else {
            return Ok(());
        };
        let Some(kind) = map.get(tag).and_then(|k| k.as_str()) else {
            return Ok(());
        };
        if !units.contains(&kind) {
            return Ok(());
        }
        match map.keys().find(|k| *k != tag) {
            Some(extra) => {
                let mut p = path;
                p.push(key(extra));
                Err(error::Unlocated::new(
                    p,
                    format!("unknown field `{extra}`: `{kind}` takes no field besides `{tag}`"),
                ))
            }
            None => Ok(()),
        }
    };
    if let Some(faults) = v.get("faults").and_then(|f| f.as_array()) {
        for (i, f) in faults.iter().enumerate() {
            if let Some(fault) = f.get("fault") {
                check(
                    fault,
                    "kind",
                    &UNIT_VARIANTS[..2],
                    vec![key("faults"), Segment::Index(i), key("fault")],
                )?;
            }
        }
    }
    if let Some(c) = v.get("churn") {
        check(c, "model", &UNIT_VARIANTS[2..], vec![key("churn")])?;
    }
    let machines = v.get("machines").and_then(|m| m.as_array());
    for (i, m) in machines.into_iter().flatten().enumerate() {
        let disks = m.get("disks").and_then(|d| d.as_array());
        for (d, disk) in disks.into_iter().flatten().enumerate() {
            if let Some(c) = disk.get("churn") {
                let path = vec![
                    key("machines"),
                    Segment::Index(i),
                    key("disks"),
                    Segment::Index(d),
                    key("churn"),
                ];
                check(c, "model", &UNIT_VARIANTS[2..], path)?;
            }
        }
    }
    Ok(())
}

/// Reads, parses and builds a scenario file; `seed` overrides the file's seed.
pub fn load(file: &Path, seed: Option<u64>) -> Result<(Scenario, Built), InputError> {
    let text = std::fs::read_to_string(file).map_err(|e| InputError::io(file, &e))?;
    load_str(file, &text, seed)
}

/// Parses and builds scenario text; `seed` overrides the file's seed.
pub fn load_str(
    file: &Path,
    text: &str,
    seed: Option<u64>,
) -> Result<(Scenario, Built), InputError> {
    let mut scenario = parse(file, text)?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let built = build::build(&scenario, file).map_err(|e| e.locate(file, text))?;
    Ok((scenario, built))
}

/// The JSON Schema of scenario files, pretty-printed with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Scenario);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    s.push('\n');
    s
}
