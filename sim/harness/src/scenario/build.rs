//! From a parsed scenario to a run: checks what types cannot (unique names, references that resolve, sizes
//! above zero, steps that make sense) with the field path of each problem, then builds the world spec, the
//! vault's items, the engine configuration and the script of user steps.

use super::error::Unlocated;
use super::expect::Expect;
use super::inventory::{Churn, Machine};
use super::location::{Segment, key};
use super::steps::{AfterOutcome, Op, Step};
use super::trace::{TraceFiles, TraceRequest};
use super::{FaultEntry, Scenario};
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::item::ItemSpec;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::protocol::{Command, PlanGroup, PlanSpec, ReprotectMachine, Target};
use drsim_engine::recovery_point::{PointChoice, ReplicationPolicy};
use drsim_engine::{EngineConfig, Millis};
use drsim_world::WorldSpec;
use drsim_world::churn::{BurstyChurn, BurstyParams, ChurnModel, DiurnalChurn, DiurnalParams};
use drsim_world::faults::{Fault, FaultSpec};
use drsim_world::rng::RngStreams;
use drsim_world::world::{
    DiskSpec, MachineSpec, MasterTargetSpec, ProcessServerSpec, SiteLinkSpec, Timing,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The invariants a scenario can expect to be flagged (DOMAIN.md §6; INV-DET compares whole runs).
pub const FLAGGABLE: &[&str] = &[
    "INV-SPLIT",
    "INV-OFF",
    "INV-GROUP",
    "INV-LOSS",
    "INV-BYTES",
    "INV-CAP",
    "INV-LIVE",
    "INV-STATE",
];

/// When a script step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// At a simulated time.
    At(Millis),
    /// After the job of another step ends with `on`, plus `delay_ms`.
    After {
        /// The step waited for.
        step: String,
        /// The outcome waited for.
        on: AfterOutcome,
        /// How long after.
        delay_ms: Millis,
    },
}

/// What a script step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepAction {
    /// Give the engine this command.
    Command(Command),
    /// Cancel the job of this step (its job id is known only once it has run).
    CancelJobOf(String),
}

/// A user step, ready for the runner.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptStep {
    /// Its id.
    pub id: String,
    /// When.
    pub when: When,
    /// What.
    pub action: StepAction,
    /// The operation, for timelines.
    pub op: Op,
}

/// A scenario ready to run.
#[derive(Clone, Debug)]
pub struct Built {
    /// The world.
    pub world: WorldSpec,
    /// The vault's items.
    pub items: Vec<ItemSpec>,
    /// The engine's configuration.
    pub config: EngineConfig,
    /// Recovery plans, set before the first step.
    pub plans: Vec<PlanSpec>,
    /// The user steps.
    pub script: Vec<ScriptStep>,
    /// How long to run.
    pub duration_ms: Millis,
    /// What must hold.
    pub expect: Expect,
    /// The step of report time series (`report.interval`).
    pub report_interval_ms: Millis,
}

type Res<T> = Result<T, Unlocated>;

fn at(path: &[Segment], more: &[Segment]) -> Vec<Segment> {
    path.iter().chain(more).cloned().collect()
}

fn idx(i: usize) -> Segment {
    Segment::Index(i)
}

/// The names declared in one section, to check uniqueness and references.
struct Names {
    what: &'static str,
    names: BTreeSet<String>,
}

impl Names {
    fn collect<'a>(
        what: &'static str,
        section: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Res<Names> {
        let mut set = BTreeSet::new();
        for (i, n) in names.enumerate() {
            let path = vec![key(section), idx(i), key("name")];
            if n.trim().is_empty() {
                return Err(Unlocated::new(path, format!("a {what} needs a name")));
            }
            if !set.insert(n.to_owned()) {
                return Err(Unlocated::new(
                    path,
                    format!("duplicate {what} name `{n}`: names must be unique"),
                ));
            }
        }
        Ok(Names { what, names: set })
    }

    fn check(&self, name: &str, path: Vec<Segment>) -> Res<()> {
        if self.names.contains(name) {
            return Ok(());
        }
        let known: Vec<&str> = self.names.iter().map(String::as_str).take(8).collect();
        Err(Unlocated::new(
            path,
            format!(
                "unknown {} `{name}`; expected one of: {}",
                self.what,
                if known.is_empty() {
                    "(none declared)".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ))
    }
}

fn positive(b: u64, path: Vec<Segment>, what: &str) -> Res<()> {
    if b == 0 {
        Err(Unlocated::new(path, format!("{what} must be more than 0")))
    } else {
        Ok(())
    }
}

/// Checks a scenario and builds its run. `file` locates files a scenario refers to (trace churn CSVs,
/// relative to its directory).
pub fn build(s: &Scenario, file: &Path) -> Res<Built> {
    let inv = &s.inventory;
    let name_ok = !s.name.is_empty()
        && !s.name.starts_with('.')
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(Unlocated::new(
            vec![key("name")],
            format!(
                "`{}` is not a usable name: letters, digits, '-', '_' and '.' only, not starting with '.' \
                 (it names trace and report files)",
                s.name
            ),
        ));
    }
    positive(s.duration.0, vec![key("duration")], "the duration")?;
    let vcenters = Names::collect(
        "vCenter",
        "vcenters",
        inv.vcenters.iter().map(|v| v.name.as_str()),
    )
    .map_err(|e| prefix("inventory", e))?;
    let hosts = Names::collect("host", "hosts", inv.hosts.iter().map(|v| v.name.as_str()))
        .map_err(|e| prefix("inventory", e))?;
    let datastores = Names::collect(
        "datastore",
        "datastores",
        inv.datastores.iter().map(|v| v.name.as_str()),
    )
    .map_err(|e| prefix("inventory", e))?;
    let pss = Names::collect(
        "process server",
        "process_servers",
        inv.process_servers.iter().map(|v| v.name.as_str()),
    )
    .map_err(|e| prefix("inventory", e))?;
    let mts = Names::collect(
        "master target",
        "master_targets",
        inv.master_targets.iter().map(|v| v.name.as_str()),
    )
    .map_err(|e| prefix("inventory", e))?;
    let machines = Names::collect(
        "machine",
        "machines",
        s.machines.iter().map(|m| m.name.as_str()),
    )?;
    let plans = Names::collect("plan", "plans", s.plans.iter().map(|p| p.name.as_str()))?;
    let inv_path = |section: &str, i: usize, field: &str| {
        vec![key("inventory"), key(section), idx(i), key(field)]
    };

    let mut spec = WorldSpec::new(
        s.seed,
        ConfigServerView {
            running: inv.config_server.running,
            connected_to_azure: inv.config_server.connected_to_azure,
            vcenters: Vec::new(),
            version: inv.config_server.version,
            registrations: Vec::new(),
        },
        SiteLinkSpec {
            kind: s.network.link,
            bandwidth_bytes_per_s: s.network.bandwidth.0,
            latency_ms: s.network.latency.0,
        },
    );
    for v in &inv.vcenters {
        spec.vcenters.push(VCenterView {
            name: v.name.as_str().into(),
            connected: v.connected,
            account: v.account,
        });
    }
    for (i, d) in inv.datastores.iter().enumerate() {
        vcenters.check(&d.vcenter, inv_path("datastores", i, "vcenter"))?;
        positive(
            d.capacity.0,
            inv_path("datastores", i, "capacity"),
            "a datastore's capacity",
        )?;
        let free = d.free.map_or(d.capacity.0, |f| f.0);
        if free > d.capacity.0 {
            return Err(Unlocated::new(
                inv_path("datastores", i, "free"),
                format!(
                    "free space {} is more than the capacity {}",
                    crate::units::Bytes(free),
                    d.capacity
                ),
            ));
        }
        spec.datastores.push(DatastoreView {
            name: d.name.as_str().into(),
            vcenter: d.vcenter.as_str().into(),
            kind: d.kind,
            capacity_bytes: d.capacity.0,
            free_bytes: free,
            folders: d.folders.clone(),
        });
    }
    for (i, h) in inv.hosts.iter().enumerate() {
        vcenters.check(&h.vcenter, inv_path("hosts", i, "vcenter"))?;
        let mut mounts = BTreeMap::new();
        for (field, access) in [
            ("datastores", MountAccess::ReadWrite),
            ("read_only_datastores", MountAccess::ReadOnly),
        ] {
            let list = if access == MountAccess::ReadWrite {
                &h.datastores
            } else {
                &h.read_only_datastores
            };
            for (j, d) in list.iter().enumerate() {
                let path = vec![key("inventory"), key("hosts"), idx(i), key(field), idx(j)];
                datastores.check(d, path)?;
                mounts.insert(DatastoreName::from(d.as_str()), access);
            }
        }
        spec.hosts.push(HostView {
            name: h.name.as_str().into(),
            vcenter: h.vcenter.as_str().into(),
            kind: h.kind,
            version: h.version.clone(),
            edition: h.edition,
            up: h.up,
            memory_free_mib: h.memory_free.0 >> 20,
            mounts,
        });
    }
    for (i, p) in inv.process_servers.iter().enumerate() {
        if let Some(c) = p.cache {
            positive(c.0, inv_path("process_servers", i, "cache"), "a cache disk")?;
        }
        spec.process_servers.push(ProcessServerSpec {
            view: ProcessServerView {
                name: p.name.as_str().into(),
                running: p.running,
                health: p.health,
                vnet: p.vnet.as_str().into(),
                nat_configured: p.nat_configured,
                version: p.version,
            },
            throughput_bytes_per_s: p.throughput.map(|b| b.0),
            cache_bytes: p.cache.map(|b| b.0),
        });
    }
    let mut retention: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, m) in inv.master_targets.iter().enumerate() {
        hosts.check(&m.host, inv_path("master_targets", i, "host"))?;
        let mut drives = BTreeSet::new();
        for (j, r) in m.retention_drives.iter().enumerate() {
            if !drives.insert(r.name.as_str()) {
                return Err(Unlocated::new(
                    vec![
                        key("inventory"),
                        key("master_targets"),
                        idx(i),
                        key("retention_drives"),
                        idx(j),
                        key("name"),
                    ],
                    format!("duplicate retention drive `{}` on `{}`", r.name, m.name),
                ));
            }
        }
        retention.insert(m.name.as_str(), drives);
        spec.master_targets.push(MasterTargetSpec {
            view: MasterTargetView {
                name: m.name.as_str().into(),
                os: m.os,
                is_vmware_vm: m.is_vmware_vm,
                host: m.host.as_str().into(),
                running: m.running,
                snapshots: m.snapshots,
                controller: m.controller,
                enable_uuid: m.enable_uuid,
                lvm_root_or_retention: m.lvm_root_or_retention,
                own_disks: m.own_disks,
                disk_uuids: m.disk_uuids.clone(),
                retention_drives: m
                    .retention_drives
                    .iter()
                    .map(|r| RetentionDriveView {
                        name: r.name.as_str().into(),
                        fs: r.fs,
                        capacity_bytes: r.capacity.0,
                        is_cache_volume: r.is_cache_volume,
                        is_replication_target: r.is_replication_target,
                    })
                    .collect(),
                version: m.version,
            },
            throughput_bytes_per_s: m.throughput.map(|b| b.0),
        });
    }
    let refs = Refs {
        mts: &mts,
        pss: &pss,
        datastores: &datastores,
        retention: &retention,
    };

    // machines
    let mut azure_names = BTreeMap::new();
    // sized once: grown by doubling, 10,000 machines' specs were copied again and again (issue 6)
    let mut items = Vec::with_capacity(s.machines.len());
    spec.machines.reserve(s.machines.len());
    let streams = RngStreams::new(s.seed);
    let mut churns = ChurnCache {
        diurnal: BTreeMap::new(),
        traces: TraceFiles::new(file),
    };
    // each host's vCenter, found by name (a walk of the hosts per machine was quadratic in the fleet)
    let vcenter_of_host: BTreeMap<&str, &String> = (inv.hosts.iter())
        .map(|h| (h.name.as_str(), &h.vcenter))
        .collect();
    for (i, m) in s.machines.iter().enumerate() {
        let mp = |more: &[Segment]| at(&[key("machines"), idx(i)], more);
        hosts.check(&m.host, mp(&[key("host")]))?;
        let host_vc = vcenter_of_host[m.host.as_str()];
        let vcenter = m.vcenter.clone().unwrap_or_else(|| host_vc.clone());
        vcenters.check(&vcenter, mp(&[key("vcenter")]))?;
        let azure_name = m
            .azure
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-azure", m.name));
        if machines.names.contains(&azure_name) || azure_names.contains_key(&azure_name) {
            return Err(Unlocated::new(
                mp(&[key("azure"), key("name")]),
                format!("duplicate Azure VM name `{azure_name}`"),
            ));
        }
        azure_names.insert(azure_name.clone(), m.name.clone());
        if m.disks.is_empty() {
            return Err(Unlocated::new(
                mp(&[key("disks")]),
                "a machine needs at least one disk",
            ));
        }
        let (machine, item) = build_machine(
            s,
            m,
            &azure_name,
            &vcenter,
            &streams,
            &mut churns,
            &refs,
            &mp,
        )?;
        spec.machines.push(machine);
        items.push(item);
    }
    // the configuration server
    let cs = &inv.config_server;
    spec.config_server.vcenters = match &cs.vcenters {
        Some(list) => {
            for (j, v) in list.iter().enumerate() {
                vcenters.check(
                    v,
                    vec![
                        key("inventory"),
                        key("config_server"),
                        key("vcenters"),
                        idx(j),
                    ],
                )?;
            }
            list.iter().map(|v| v.as_str().into()).collect()
        }
        None => inv
            .vcenters
            .iter()
            .map(|v| v.name.as_str().into())
            .collect(),
    };
    for (m, item) in s.machines.iter().zip(&items) {
        if m.cs_registered {
            let hid = m
                .azure
                .agent_host_id
                .clone()
                .unwrap_or_else(|| format!("{}-hid", m.name));
            spec.cs_register(&item.onprem_vm, &hid);
        }
    }
    for (j, r) in cs.extra_registrations.iter().enumerate() {
        machines.check(
            &r.machine,
            vec![
                key("inventory"),
                key("config_server"),
                key("extra_registrations"),
                idx(j),
                key("machine"),
            ],
        )?;
        spec.cs_register(&VmName::from(r.machine.as_str()), &r.host_id);
    }

    // network and policies
    let p = &s.policies;
    spec.download_threads = s.network.download_threads;
    if !(1..=32).contains(&s.network.download_threads) {
        return Err(Unlocated::new(
            vec![key("network"), key("download_threads")],
            "download threads per VM must be 1 to 32 (DOMAIN.md §4)",
        ));
    }
    spec.per_thread_bytes_per_s = s.network.per_thread.0;
    for (field, v) in [
        ("discovery_interval", p.discovery_interval.0),
        (
            "replication_report_interval",
            p.replication_report_interval.0,
        ),
        ("action_timeout", p.action_timeout.0),
        ("data_action_timeout", p.data_action_timeout.0),
        ("sync_stall_timeout", p.sync_stall_timeout.0),
        ("rpo_threshold", p.rpo_threshold.0),
        ("retention", p.retention.0),
        ("app_consistent_interval", p.app_consistent_interval.0),
    ] {
        positive(v, vec![key("policies"), key(field)], field)?;
    }
    positive(
        u64::from(p.max_action_attempts),
        vec![key("policies"), key("max_action_attempts")],
        "max_action_attempts",
    )?;
    spec.discovery_interval_ms = p.discovery_interval.0;
    spec.report_interval_ms = p.replication_report_interval.0;
    spec.timing = Timing {
        agent_lag_max_ms: p.agent_lag_max.0,
        failover_ms: p.failover_time.0,
        prepare_target_ms: p.prepare_target_time.0,
        ..Timing::default()
    };
    let policy = ReplicationPolicy {
        rpo_threshold_ms: p.rpo_threshold.0,
        retention_ms: p.retention.0,
        app_consistent_interval_ms: p.app_consistent_interval.0,
    };
    let config = EngineConfig {
        action_timeout_ms: p.action_timeout.0,
        data_action_timeout_ms: p.data_action_timeout.0,
        max_action_attempts: p.max_action_attempts,
        sync_stall_timeout_ms: p.sync_stall_timeout.0,
        agent_registration_wait_ms: p.agent_registration_wait.0,
        allow_alternate_vcenter: p.allow_alternate_vcenter,
        failback_policy: policy,
        forward_policy: policy,
        max_disks_per_master_target: p.max_disks_per_master_target,
        max_vms_per_group: p.max_vms_per_group,
        // only `drsim run/fuzz --sabotage` turns one on, never a scenario file
        sabotage: None,
    };

    // plans
    let mut plan_specs = Vec::new();
    for (i, plan) in s.plans.iter().enumerate() {
        let mut groups = Vec::new();
        for (g, group) in plan.groups.iter().enumerate() {
            for (k, item) in group.items.iter().enumerate() {
                machines.check(
                    item,
                    vec![
                        key("plans"),
                        idx(i),
                        key("groups"),
                        idx(g),
                        key("items"),
                        idx(k),
                    ],
                )?;
            }
            groups.push(PlanGroup {
                items: group
                    .items
                    .iter()
                    .map(|x| ItemId::from(x.as_str()))
                    .collect(),
                actions: group.actions.clone(),
            });
        }
        plan_specs.push(PlanSpec {
            id: PlanId::from(plan.name.as_str()),
            groups,
        });
    }

    // faults
    for (i, f) in s.faults.iter().enumerate() {
        let fault = resolve_fault(s, f, i, &azure_names, &refs, &hosts, &vcenters, &machines)?;
        spec.faults.push(fault);
    }

    if s.report.interval.0 < 1000 {
        return Err(Unlocated::new(
            vec![key("report"), key("interval")],
            "the report interval must be at least 1s",
        ));
    }

    // steps
    let script = build_steps(s, &machines, &plans, &refs)?;
    check_expect(s, &machines, &script)?;

    Ok(Built {
        world: spec,
        items,
        config,
        plans: plan_specs,
        script,
        duration_ms: s.duration.0,
        expect: s.expect.clone(),
        report_interval_ms: s.report.interval.0,
    })
}

fn prefix(section: &str, mut e: Unlocated) -> Unlocated {
    e.path.insert(0, key(section));
    e
}

/// The reprotect inputs a scenario can refer to.
struct Refs<'a> {
    mts: &'a Names,
    pss: &'a Names,
    datastores: &'a Names,
    retention: &'a BTreeMap<&'a str, BTreeSet<&'a str>>,
}

impl Refs<'_> {
    /// Checks one machine's reprotect values; `path` is where they are written.
    fn check(
        &self,
        mt: &str,
        ps: &str,
        ds: &str,
        drive: &str,
        path: &dyn Fn(&str) -> Vec<Segment>,
    ) -> Res<()> {
        self.mts.check(mt, path("master_target"))?;
        self.pss.check(ps, path("process_server"))?;
        self.datastores.check(ds, path("datastore"))?;
        if !self.retention.get(mt).is_some_and(|d| d.contains(drive)) {
            return Err(Unlocated::new(
                path("retention_drive"),
                format!("`{mt}` has no retention drive `{drive}`"),
            ));
        }
        Ok(())
    }
}

/// Churn models already built: diurnal ones by (mean, amplitude %, peak hour, quantum), traces by file,
/// column and filter, so disks with the same parameters share one model's rate tables.
struct ChurnCache {
    diurnal: BTreeMap<(u64, u16, u16, Millis), DiurnalChurn>,
    traces: TraceFiles,
}

fn churn_model(
    c: &Churn,
    cache: &mut ChurnCache,
    streams: &RngStreams,
    stream: &str,
    path: Vec<Segment>,
) -> Res<ChurnModel> {
    Ok(match c {
        Churn::Constant { rate } => ChurnModel::constant(rate.0),
        Churn::Idle => ChurnModel::idle(),
        Churn::Diurnal {
            mean,
            amplitude_pct,
            peak_hour,
            quantum,
        } => {
            if *amplitude_pct > 100 || *peak_hour > 23 {
                return Err(Unlocated::new(
                    path,
                    "amplitude_pct must be 0–100 and peak_hour 0–23",
                ));
            }
            let quantum_ms = quantum.map_or(drsim_world::churn::DEFAULT_QUANTUM_MS, |q| q.0);
            let key = (mean.0, *amplitude_pct, *peak_hour, quantum_ms);
            if let Some(m) = cache.diurnal.get(&key) {
                return Ok(ChurnModel::Diurnal(m.clone()));
            }
            let m = DiurnalChurn::new(DiurnalParams {
                mean_bps: mean.0,
                amplitude_permille: amplitude_pct * 10,
                peak_minute_of_day: peak_hour * 60,
                quantum_ms,
            })
            .map_err(|e| Unlocated::new(path.clone(), e.to_string()))?;
            cache.diurnal.insert(key, m.clone());
            ChurnModel::Diurnal(m)
        }
        Churn::Trace {
            file,
            column,
            filter,
            end,
        } => cache.traces.model(
            &TraceRequest {
                file,
                column: column.as_deref(),
                filter: filter.as_ref(),
                end: *end,
            },
            &path,
        )?,
        Churn::Bursty {
            on,
            off,
            mean_on,
            mean_off,
        } => ChurnModel::bursty(
            BurstyChurn::new(
                BurstyParams {
                    on_bps: on.0,
                    off_bps: off.map_or(0, |b| b.0),
                    mean_on_ms: mean_on.0,
                    mean_off_ms: mean_off.0,
                },
                streams.stream(stream),
            )
            .map_err(|e| Unlocated::new(path.clone(), e.to_string()))?,
        ),
    })
}

#[allow(clippy::too_many_arguments)]
fn build_machine(
    s: &Scenario,
    m: &Machine,
    azure_name: &str,
    vcenter: &str,
    streams: &RngStreams,
    cache: &mut ChurnCache,
    refs: &Refs<'_>,
    mp: &dyn Fn(&[Segment]) -> Vec<Segment>,
) -> Res<(MachineSpec, ItemSpec)> {
    let mut disks = Vec::new();
    let mut names = BTreeSet::new();
    for (d, disk) in m.disks.iter().enumerate() {
        let dp = |f: &str| mp(&[key("disks"), idx(d), key(f)]);
        positive(disk.size.0, dp("size"), "a disk's size")?;
        let name = disk
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-disk{d}", m.name));
        if !names.insert(name.clone()) {
            return Err(Unlocated::new(
                dp("name"),
                format!("duplicate disk `{name}`"),
            ));
        }
        let used = disk.used.map_or(disk.size.0 / 2, |b| b.0);
        let hot = disk.hot_region.map_or(disk.size.0 / 10, |b| b.0);
        for (f, v) in [("used", used), ("hot_region", hot)] {
            if v > disk.size.0 {
                return Err(Unlocated::new(
                    dp(f),
                    format!("{f} is more than the disk's size {}", disk.size),
                ));
            }
        }
        let churn = disk.churn.as_ref().unwrap_or(&s.churn);
        let churn_path = if disk.churn.is_some() {
            dp("churn")
        } else {
            vec![key("churn")]
        };
        let churn = churn_model(
            churn,
            cache,
            streams,
            &format!("churn/{}/{name}", m.name),
            churn_path,
        )?;
        disks.push((
            DiskSpec {
                name,
                size_bytes: disk.size.0,
                used_bytes: used,
                hot_region_bytes: hot,
                churn,
            },
            disk.rdm,
        ));
    }
    if matches!(
        m.state,
        ItemState::FailingOver
            | ItemState::Reprotecting
            | ItemState::FailingBack
            | ItemState::ReprotectingToAzure
    ) {
        return Err(Unlocated::new(
            mp(&[key("state")]),
            format!(
                "`{}` is the state of a running job; a machine starts in a resting state \
                 (protected-to-azure, failed-over, in-azure, protected-to-on-prem, failed-back, on-prem, disabled)",
                crate::verdict::kebab(&m.state)
            ),
        ));
    }
    if !m.onprem_exists
        && matches!(
            m.state,
            ItemState::ProtectedToAzure | ItemState::FailedBack | ItemState::OnPrem
        )
    {
        return Err(Unlocated::new(
            mp(&[key("onprem_exists")]),
            format!(
                "in state `{}` the machine runs on-prem: its on-prem VM must exist",
                crate::verdict::kebab(&m.state)
            ),
        ));
    }
    let protected_to_onprem = m.state == ItemState::ProtectedToOnPrem;
    if protected_to_onprem && m.protection.is_none() {
        return Err(Unlocated::new(
            mp(&[key("state")]),
            "a machine that starts protected to on-prem needs `protection` (its MT, PS, datastore, retention drive)",
        ));
    }
    if !protected_to_onprem && m.protection.is_some() {
        return Err(Unlocated::new(
            mp(&[key("protection")]),
            "`protection` is for a machine that starts `protected-to-on-prem`",
        ));
    }
    if let Some(p) = &m.protection
        && p.location == drsim_engine::protocol::LocationChoice::Alternate
    {
        // the world starts such machines replicating into their original VM; an alternate location is
        // shown by starting `in-azure` and reprotecting (RJ-04)
        return Err(Unlocated::new(
            mp(&[key("protection")]),
            "a machine can start protected-to-on-prem only with location `auto`; start it `in-azure` and \
             reprotect to show an alternate location",
        ));
    }
    let protection = match &m.protection {
        Some(p) => {
            let path = |f: &str| mp(&[key("protection"), key(f)]);
            refs.check(
                &p.master_target,
                &p.process_server,
                &p.datastore,
                &p.retention_drive,
                &path,
            )?;
            Some(ReprotectMachine {
                item: ItemId::from(m.name.as_str()),
                master_target: p.master_target.as_str().into(),
                process_server: p.process_server.as_str().into(),
                datastore: p.datastore.as_str().into(),
                retention_drive: p.retention_drive.as_str().into(),
                location: p.location,
            })
        }
        None => None,
    };
    let a = &m.azure;
    let rg = a.resource_group.clone().unwrap_or_else(|| "rg1".into());
    let memory_mib = m.memory.0 >> 20;
    if memory_mib == 0 {
        return Err(Unlocated::new(
            mp(&[key("memory")]),
            "memory must be at least 1MiB",
        ));
    }
    let mut azure_disks: Vec<AzureDiskView> = disks
        .iter()
        .map(|(d, _)| AzureDiskView {
            name: d.name.clone(),
            size_bytes: d.size_bytes,
            temporary: false,
            added_after_failover: false,
        })
        .collect();
    if let Some(t) = a.temporary_disk {
        azure_disks.push(AzureDiskView {
            name: format!("{}-temp", m.name),
            size_bytes: t.0,
            temporary: true,
            added_after_failover: false,
        });
    }
    for (k, size) in a.added_disks.iter().enumerate() {
        azure_disks.push(AzureDiskView {
            name: format!("{}-added{k}", m.name),
            size_bytes: size.0,
            temporary: false,
            added_after_failover: true,
        });
    }
    let host_id = a
        .agent_host_id
        .clone()
        .unwrap_or_else(|| format!("{}-hid", m.name));
    let item = ItemId::from(m.name.as_str());
    let machine = MachineSpec {
        item: item.clone(),
        onprem: m.onprem_exists.then(|| OnPremVmView {
            name: VmName::from(m.name.as_str()),
            host: m.host.as_str().into(),
            power: PowerState::Off,
            disks: disks
                .iter()
                .map(|(d, rdm)| OnPremDiskView {
                    uuid: d.name.clone(),
                    size_bytes: d.size_bytes,
                    rdm: *rdm,
                })
                .collect(),
            enable_uuid: m.enable_uuid,
            snapshots: m.snapshots,
            agent_registered: false,
        }),
        memory_mib,
        azure: AzureVmView {
            name: VmName::from(azure_name),
            power: PowerState::On,
            resource_group: rg.as_str().into(),
            vnet: a.vnet.clone().unwrap_or_else(|| "vnet1".into()).into(),
            agent_host_id: Some(host_id),
            agent_registered: a.agent_registered.unwrap_or(true),
            memory_mib,
            cpus: m.cpus,
            nic_ips: a.nic_ips.clone(),
            disks: azure_disks,
        },
        state: m.state,
        replication_group: m.replication_group.as_deref().map(GroupId::from),
        disks: disks.into_iter().map(|(d, _)| d).collect(),
        protection: protection
            .as_ref()
            .map(|p| (p.process_server.clone(), p.master_target.clone())),
    };
    let spec = ItemSpec {
        id: item,
        onprem_vm: VmName::from(m.name.as_str()),
        azure_vm: VmName::from(azure_name),
        os: m.os,
        firmware: m.firmware,
        source: m.source,
        origin: m.origin,
        migrated: m.migrated,
        original_vcenter: vcenter.into(),
        original_resource_group: a.original_resource_group.clone().unwrap_or(rg).into(),
        replication_group: m.replication_group.as_deref().map(GroupId::from),
        state: m.state,
        protection,
    };
    Ok((machine, spec))
}

#[allow(clippy::too_many_arguments)]
fn resolve_fault(
    s: &Scenario,
    f: &FaultEntry,
    i: usize,
    azure_names: &BTreeMap<String, String>,
    refs: &Refs<'_>,
    hosts: &Names,
    vcenters: &Names,
    machines: &Names,
) -> Res<FaultSpec> {
    let fp = |field: &str| vec![key("faults"), idx(i), key("fault"), key(field)];
    if let Some(h) = f.heal
        && h.0 <= f.at.0
    {
        return Err(Unlocated::new(
            vec![key("faults"), idx(i), key("heal")],
            format!(
                "a fault heals after it starts: heal {h} is not after at {}",
                f.at
            ),
        ));
    }
    if f.heal.is_some() && !f.fault.heals() {
        return Err(Unlocated::new(
            vec![key("faults"), idx(i), key("heal")],
            format!(
                "a `{}` fault cannot heal; remove `heal`",
                f.fault.kind_name()
            ),
        ));
    }
    let azure_vm = |vm: &VmName| -> Res<VmName> {
        if let Some(name) = s.machines.iter().find(|m| m.name == vm.0) {
            let n = name
                .azure
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-azure", name.name));
            return Ok(VmName::from(n));
        }
        if azure_names.contains_key(vm.as_str()) {
            return Ok(vm.clone());
        }
        machines.check(&vm.0, fp("vm")).map(|_| vm.clone())
    };
    let fault = match &f.fault {
        Fault::ProcessServerCrash { process_server } => {
            refs.pss
                .check(process_server.as_str(), fp("process_server"))?;
            f.fault.clone()
        }
        Fault::VCenterDisconnect { vcenter } => {
            vcenters.check(vcenter.as_str(), fp("vcenter"))?;
            f.fault.clone()
        }
        Fault::MasterTargetReboot { master_target }
        | Fault::SnapshotOnMasterTarget { master_target } => {
            refs.mts
                .check(master_target.as_str(), fp("master_target"))?;
            f.fault.clone()
        }
        Fault::DatastoreFull { datastore } => {
            refs.datastores.check(datastore.as_str(), fp("datastore"))?;
            f.fault.clone()
        }
        Fault::DatastoreUnmounted { datastore, host } => {
            refs.datastores.check(datastore.as_str(), fp("datastore"))?;
            hosts.check(host.as_str(), fp("host"))?;
            f.fault.clone()
        }
        Fault::HostDown { host } => {
            hosts.check(host.as_str(), fp("host"))?;
            f.fault.clone()
        }
        Fault::AzureVmHung { vm } => Fault::AzureVmHung { vm: azure_vm(vm)? },
        Fault::AzureVmDeleted { vm } => Fault::AzureVmDeleted { vm: azure_vm(vm)? },
        Fault::AgentDeregistered { vm } => Fault::AgentDeregistered { vm: azure_vm(vm)? },
        Fault::OnPremPoweredOnByHand { vm } => {
            machines.check(vm.as_str(), fp("vm"))?;
            f.fault.clone()
        }
        Fault::DiskResized {
            item,
            disk,
            new_size_bytes,
        } => {
            machines.check(item.as_str(), fp("item"))?;
            let m = s
                .machines
                .iter()
                .find(|m| m.name == item.0)
                .expect("checked");
            if *disk >= m.disks.len() {
                return Err(Unlocated::new(
                    fp("disk"),
                    format!("`{item}` has {} disks (indexes from 0)", m.disks.len()),
                ));
            }
            positive(*new_size_bytes, fp("new_size_bytes"), "the new size")?;
            f.fault.clone()
        }
        Fault::LinkDown | Fault::LinkDegraded { .. } | Fault::ConfigServerDown => f.fault.clone(),
    };
    if let Fault::LinkDegraded { capacity_permille } = &fault
        && *capacity_permille > 1000
    {
        return Err(Unlocated::new(fp("capacity_permille"), "at most 1000 (‰)"));
    }
    Ok(FaultSpec {
        fault,
        at_ms: f.at.0,
        heal_at_ms: f.heal.map(|d| d.0),
    })
}

fn step_id(step: &Step, i: usize) -> String {
    step.id.clone().unwrap_or_else(|| format!("step{i}"))
}

fn build_steps(
    s: &Scenario,
    machines: &Names,
    plans: &Names,
    refs: &Refs<'_>,
) -> Res<Vec<ScriptStep>> {
    let mut ids = BTreeMap::new();
    for (i, st) in s.steps.iter().enumerate() {
        let id = step_id(st, i);
        if ids.insert(id.clone(), i).is_some() {
            return Err(Unlocated::new(
                vec![key("steps"), idx(i), key("id")],
                format!("duplicate step id `{id}`"),
            ));
        }
    }
    let step_names = Names {
        what: "step",
        names: ids.keys().cloned().collect(),
    };
    for (i, st) in s.steps.iter().enumerate() {
        if let Some(parent) = &st.after {
            let path = vec![key("steps"), idx(i), key("after")];
            if *parent == step_id(st, i) {
                return Err(Unlocated::new(path, "a step cannot wait for itself"));
            }
            step_names.check(parent, path)?;
        }
    }
    let mut out = Vec::new();
    for (i, st) in s.steps.iter().enumerate() {
        let sp = |f: &str| vec![key("steps"), idx(i), key(f)];
        let when = match (&st.at, &st.after) {
            (Some(t), None) => {
                if st.delay.is_some() || st.if_outcome != AfterOutcome::Succeeded {
                    return Err(Unlocated::new(
                        sp(if st.delay.is_some() { "delay" } else { "if" }),
                        "`delay` and `if` go with `after`, not `at`",
                    ));
                }
                When::At(t.0)
            }
            (None, Some(parent)) => {
                step_names.check(parent, sp("after"))?;
                // a chain of `after`s must reach a timed step
                let mut seen = BTreeSet::from([i]);
                let mut cur = ids[parent];
                while let Some(p) = &s.steps[cur].after {
                    if !seen.insert(cur) {
                        return Err(Unlocated::new(
                            sp("after"),
                            format!("`after` steps wait for each other in a cycle through `{p}`"),
                        ));
                    }
                    cur = ids[p];
                }
                When::After {
                    step: parent.clone(),
                    on: st.if_outcome,
                    delay_ms: st.delay.map_or(0, |d| d.0),
                }
            }
            (Some(_), Some(_)) => {
                return Err(Unlocated::new(
                    sp("after"),
                    "give `at` or `after`, not both",
                ));
            }
            (None, None) => {
                return Err(Unlocated::new(
                    vec![key("steps"), idx(i)],
                    "a step needs `at` (a time, e.g. \"2h\") or `after` (a step id)",
                ));
            }
        };
        let action = step_action(s, st, i, machines, plans, refs, &step_names)?;
        out.push(ScriptStep {
            id: step_id(st, i),
            when,
            action,
            op: st.op,
        });
    }
    Ok(out)
}

fn step_action(
    s: &Scenario,
    st: &Step,
    i: usize,
    machines: &Names,
    plans: &Names,
    refs: &Refs<'_>,
    steps: &Names,
) -> Res<StepAction> {
    let sp = |f: &str| vec![key("steps"), idx(i), key(f)];
    let not_for = |field: &str, present: bool| -> Res<()> {
        if present {
            Err(Unlocated::new(
                sp(field),
                format!(
                    "`{field}` does not go with op `{}`",
                    crate::verdict::kebab(&st.op)
                ),
            ))
        } else {
            Ok(())
        }
    };
    let is_reprotect = st.op == Op::Reprotect;
    for (f, present) in [
        ("master_target", st.master_target.is_some()),
        ("process_server", st.process_server.is_some()),
        ("datastore", st.datastore.is_some()),
        ("retention_drive", st.retention_drive.is_some()),
        ("location", st.location.is_some()),
        ("machines", !st.machines.is_empty()),
    ] {
        if !is_reprotect {
            not_for(f, present)?;
        }
    }
    let takes_point = matches!(st.op, Op::Failover | Op::Failback | Op::ChangeRecoveryPoint);
    if !takes_point {
        not_for("point", st.point.is_some())?;
    }
    if st.op != Op::Cancel {
        not_for("job", st.job.is_some())?;
    }
    if st.op != Op::SetReplicationGroup {
        not_for("group", st.group.is_some())?;
    }
    let point = st.point.map_or(PointChoice::Latest, |p| p.0);
    let target = || -> Res<Target> {
        match (&st.item, &st.plan) {
            (Some(item), None) => {
                machines.check(item, sp("item"))?;
                Ok(Target::Item(ItemId::from(item.as_str())))
            }
            (None, Some(plan)) => {
                plans.check(plan, sp("plan"))?;
                Ok(Target::Plan(PlanId::from(plan.as_str())))
            }
            (Some(_), Some(_)) => Err(Unlocated::new(
                sp("plan"),
                "give `item` or `plan`, not both",
            )),
            (None, None) => Err(Unlocated::new(
                vec![key("steps"), idx(i)],
                format!(
                    "op `{}` needs an `item` or a `plan`",
                    crate::verdict::kebab(&st.op)
                ),
            )),
        }
    };
    let item_only = || -> Res<ItemId> {
        not_for("plan", st.plan.is_some())?;
        match &st.item {
            Some(item) => {
                machines.check(item, sp("item"))?;
                Ok(ItemId::from(item.as_str()))
            }
            None => Err(Unlocated::new(
                vec![key("steps"), idx(i)],
                format!("op `{}` needs an `item`", crate::verdict::kebab(&st.op)),
            )),
        }
    };
    let command = match st.op {
        Op::Failover => Command::Failover {
            target: target()?,
            point,
        },
        Op::CommitFailover => Command::CommitFailover { target: target()? },
        Op::Failback => Command::Failback {
            target: target()?,
            point,
        },
        Op::ChangeRecoveryPoint => Command::ChangeRecoveryPoint {
            target: target()?,
            point,
        },
        Op::CommitFailback => Command::CommitFailback { target: target()? },
        Op::ReprotectToAzure => Command::ReprotectToAzure { target: target()? },
        Op::DisableProtection => Command::DisableProtection { item: item_only()? },
        Op::SetReplicationGroup => Command::SetReplicationGroup {
            item: item_only()?,
            group: st.group.as_deref().map(GroupId::from),
        },
        Op::RefreshDiscovery | Op::Cancel => {
            not_for("item", st.item.is_some())?;
            not_for("plan", st.plan.is_some())?;
            if st.op == Op::RefreshDiscovery {
                Command::RefreshDiscovery
            } else {
                let Some(job) = &st.job else {
                    return Err(Unlocated::new(
                        vec![key("steps"), idx(i)],
                        "op `cancel` needs `job`: the id of the step whose job to cancel",
                    ));
                };
                steps.check(job, sp("job"))?;
                return Ok(StepAction::CancelJobOf(job.clone()));
            }
        }
        Op::Reprotect => {
            let target = target()?;
            let members: Vec<String> = match &target {
                Target::Item(i) => vec![i.0.to_string()],
                Target::Plan(p) => s
                    .plans
                    .iter()
                    .find(|x| x.name == p.0)
                    .map(|x| x.groups.iter().flat_map(|g| g.items.clone()).collect())
                    .unwrap_or_default(),
            };
            // by name, not by scanning (a fleet's plan of 1,000 machines, each with its own values,
            // was a million comparisons per step; issue 6)
            let member_set: BTreeSet<&str> = members.iter().map(String::as_str).collect();
            let mut own: BTreeMap<&str, (usize, &super::steps::MachineValues)> = BTreeMap::new();
            for (k, mv) in st.machines.iter().enumerate() {
                let path = vec![key("steps"), idx(i), key("machines"), idx(k), key("item")];
                machines.check(&mv.item, path.clone())?;
                own.entry(mv.item.as_str()).or_insert((k, mv)); // the first, as a scan finds
                if !member_set.contains(mv.item.as_str()) {
                    return Err(Unlocated::new(
                        path,
                        format!("`{}` is not part of this step's target", mv.item),
                    ));
                }
            }
            let mut list = Vec::new();
            for member in &members {
                let (k, mv) = match own.get(member.as_str()) {
                    Some(&(k, m)) => (Some(k), Some(m)),
                    None => (None, None),
                };
                let pick = |own: Option<&Option<String>>, all: &Option<String>| {
                    own.and_then(|o| o.clone()).or_else(|| all.clone())
                };
                let mt = pick(mv.map(|m| &m.master_target), &st.master_target);
                let ps = pick(mv.map(|m| &m.process_server), &st.process_server);
                let ds = pick(mv.map(|m| &m.datastore), &st.datastore);
                let rd = pick(mv.map(|m| &m.retention_drive), &st.retention_drive);
                let (Some(mt), Some(ps), Some(ds), Some(rd)) = (mt, ps, ds, rd) else {
                    // left out: the engine refuses a plan without values for every machine (RP-09)
                    continue;
                };
                let path = |f: &str| match (k, mv.and_then(|m| field_of(m, f))) {
                    (Some(k), Some(true)) => {
                        vec![key("steps"), idx(i), key("machines"), idx(k), key(f)]
                    }
                    _ => vec![key("steps"), idx(i), key(f)],
                };
                refs.check(&mt, &ps, &ds, &rd, &path)?;
                list.push(ReprotectMachine {
                    item: ItemId::from(member.as_str()),
                    master_target: mt.as_str().into(),
                    process_server: ps.as_str().into(),
                    datastore: ds.as_str().into(),
                    retention_drive: rd.as_str().into(),
                    location: mv
                        .and_then(|m| m.location)
                        .or(st.location)
                        .unwrap_or_default(),
                });
            }
            Command::Reprotect {
                target,
                machines: list,
            }
        }
    };
    Ok(StepAction::Command(command))
}

/// Whether a machine's own values set field `f`.
fn field_of(m: &super::steps::MachineValues, f: &str) -> Option<bool> {
    Some(match f {
        "master_target" => m.master_target.is_some(),
        "process_server" => m.process_server.is_some(),
        "datastore" => m.datastore.is_some(),
        "retention_drive" => m.retention_drive.is_some(),
        _ => return None,
    })
}

fn check_expect(s: &Scenario, machines: &Names, script: &[ScriptStep]) -> Res<()> {
    let steps = Names {
        what: "step",
        names: script.iter().map(|x| x.id.clone()).collect(),
    };
    let e = &s.expect;
    let ep = |section: &str, i: usize, f: &str| vec![key("expect"), key(section), idx(i), key(f)];
    for (i, j) in e.jobs.iter().enumerate() {
        steps.check(&j.step, ep("jobs", i, "step"))?;
        use super::expect::StepOutcome as O;
        let failing = matches!(j.outcome, O::Failed | O::Refused);
        if !failing && (j.rule.is_some() || j.code.is_some()) {
            return Err(Unlocated::new(
                ep("jobs", i, if j.rule.is_some() { "rule" } else { "code" }),
                "`rule` and `code` go with outcome `failed` or `refused`",
            ));
        }
        if j.failed_step.is_some() && j.outcome != O::Failed {
            return Err(Unlocated::new(
                ep("jobs", i, "failed_step"),
                "`failed_step` goes with outcome `failed` (a refused command has no job steps)",
            ));
        }
    }
    for item in e.states.keys() {
        machines.check(item, vec![key("expect"), key("states"), key(item)])?;
    }
    for (i, r) in e.rpo.iter().enumerate() {
        if let Some(item) = &r.item {
            machines.check(item, ep("rpo", i, "item"))?;
        }
        positive(r.max.0, ep("rpo", i, "max"), "an RPO bound")?;
    }
    for (i, b) in e.reprotect_bytes.iter().enumerate() {
        steps.check(&b.step, ep("reprotect_bytes", i, "step"))?;
        let st = script.iter().find(|x| x.id == b.step).expect("checked");
        if st.op != Op::Reprotect {
            return Err(Unlocated::new(
                ep("reprotect_bytes", i, "step"),
                format!("step `{}` is not a reprotect", b.step),
            ));
        }
        match &b.item {
            Some(item) => machines.check(item, ep("reprotect_bytes", i, "item"))?,
            None => {
                if let StepAction::Command(Command::Reprotect { machines: ms, .. }) = &st.action
                    && ms.len() != 1
                {
                    return Err(Unlocated::new(
                        ep("reprotect_bytes", i, "step"),
                        format!(
                            "the step reprotects {} machines with complete values: name one with `item`",
                            ms.len()
                        ),
                    ));
                }
            }
        }
        if let (Some(min), Some(max)) = (b.min, b.max)
            && min > max
        {
            return Err(Unlocated::new(
                ep("reprotect_bytes", i, "max"),
                "max is below min",
            ));
        }
    }
    for (i, b) in e.data_loss.iter().enumerate() {
        steps.check(&b.step, ep("data_loss", i, "step"))?;
        let st = script.iter().find(|x| x.id == b.step).expect("checked");
        if !matches!(st.op, Op::Failback | Op::ChangeRecoveryPoint) {
            return Err(Unlocated::new(
                ep("data_loss", i, "step"),
                format!(
                    "step `{}` is not a failback or change of recovery point",
                    b.step
                ),
            ));
        }
        if let Some(item) = &b.item {
            machines.check(item, ep("data_loss", i, "item"))?;
        }
    }
    for (i, o) in e.order.iter().enumerate() {
        steps.check(&o.step, ep("order", i, "step"))?;
        for (field, list) in [("first", &o.first), ("then", &o.then)] {
            if list.is_empty() {
                return Err(Unlocated::new(
                    ep("order", i, field),
                    "name at least one machine",
                ));
            }
            for (k, item) in list.iter().enumerate() {
                machines.check(
                    item,
                    vec![key("expect"), key("order"), idx(i), key(field), idx(k)],
                )?;
            }
        }
    }
    for (i, a) in e.alerts.iter().enumerate() {
        machines.check(&a.item, ep("alerts", i, "item"))?;
    }
    for (i, c) in e.checks.iter().enumerate() {
        steps.check(&c.step, ep("checks", i, "step"))?;
        if let Some(item) = &c.item {
            machines.check(item, ep("checks", i, "item"))?;
        }
    }
    if let Some(by) = e.settled_by
        && by.0 > s.duration.0
    {
        return Err(Unlocated::new(
            vec![key("expect"), key("settled_by")],
            format!(
                "settled_by {by} is after the end of the run ({})",
                s.duration
            ),
        ));
    }
    for (i, v) in e.violations.iter().enumerate() {
        if !FLAGGABLE.contains(&v.as_str()) {
            return Err(Unlocated::new(
                vec![key("expect"), key("violations"), idx(i)],
                format!(
                    "unknown invariant `{v}`; expected one of: {}",
                    FLAGGABLE.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
