//! One point of a what-if sweep: the scenario as the planner wrote it, with another site-link bandwidth,
//! another number of process servers (machines spread over them in turn), churn grown by the planner's
//! growth factor (the Deployment Planner's 30 % by default, DOMAIN.md §5) and the desired RPO as the
//! failback policy's threshold (DOMAIN.md §4: it only raises alerts, so the run itself is unchanged).

use crate::scenario::Scenario;
use crate::scenario::inventory::Churn;
use crate::units::{Bandwidth, Duration};

/// What a sweep point changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Variant {
    /// Site link bandwidth, bytes/s.
    pub bandwidth_bytes_per_s: u64,
    /// Process servers in Azure.
    pub process_servers: usize,
    /// Churn growth, percent.
    pub growth_pct: u32,
    /// Desired RPO, ms.
    pub rpo_ms: u64,
}

/// The scenario at `v`; also says whether some churn could not be grown (a replayed trace is replayed
/// as recorded).
pub fn apply(base: &Scenario, v: &Variant) -> (Scenario, bool) {
    let mut s = base.clone();
    s.network.bandwidth = Bandwidth(v.bandwidth_bytes_per_s);
    s.policies.rpo_threshold = Duration(v.rpo_ms);
    let mut ungrown = !grow(&mut s.churn, v.growth_pct);
    for m in &mut s.machines {
        for d in &mut m.disks {
            if let Some(c) = &mut d.churn {
                ungrown |= !grow(c, v.growth_pct);
            }
        }
    }
    set_process_servers(&mut s, v.process_servers);
    (s, ungrown)
}

/// Scales a churn model by `1 + pct/100`; false for a trace (replayed as recorded).
fn grow(c: &mut Churn, pct: u32) -> bool {
    let up = |b: &mut Bandwidth| {
        b.0 = u64::try_from(u128::from(b.0) * u128::from(100 + pct) / 100).unwrap_or(u64::MAX);
    };
    match c {
        Churn::Constant { rate } => up(rate),
        Churn::Diurnal { mean, .. } => up(mean),
        Churn::Bursty { on, off, .. } => {
            up(on);
            if let Some(off) = off {
                up(off);
            }
        }
        Churn::Idle => {}
        Churn::Trace { .. } => return pct == 0,
    }
    true
}

/// Keeps `n` process servers — the scenario's first ones, then copies of its last named `<name>-N` —
/// and spreads the machines over them in turn (machine order), in every place a scenario names one: a
/// machine's protection in force, a reprotect step's value for all and its values per machine.
fn set_process_servers(s: &mut Scenario, n: usize) {
    let n = n.max(1);
    let Some(template) = s.inventory.process_servers.last().cloned() else {
        return;
    };
    let mut servers = s.inventory.process_servers.clone();
    servers.truncate(n);
    let mut k = servers.len();
    while servers.len() < n {
        k += 1;
        let mut ps = template.clone();
        ps.name = format!("{}-{k}", template.name);
        servers.push(ps);
    }
    let names: Vec<String> = servers.iter().map(|p| p.name.clone()).collect();
    s.inventory.process_servers = servers;
    let of = |machine: &str, machines: &[crate::scenario::inventory::Machine]| {
        let i = machines.iter().position(|m| m.name == machine).unwrap_or(0);
        names[i % names.len()].clone()
    };
    let machines = s.machines.clone();
    for m in &mut s.machines {
        let ps = of(&m.name, &machines);
        if let Some(p) = &mut m.protection {
            p.process_server = ps;
        }
    }
    for step in &mut s.steps {
        if step.process_server.is_some() {
            // one value for all: spell it out per machine so each gets its own server
            let target: Vec<String> = match (&step.item, &step.plan) {
                (Some(i), _) => vec![i.clone()],
                (None, Some(p)) => s
                    .plans
                    .iter()
                    .filter(|pl| &pl.name == p)
                    .flat_map(|pl| pl.groups.iter().flat_map(|g| g.items.iter().cloned()))
                    .collect(),
                _ => Vec::new(),
            };
            for item in target {
                if !step.machines.iter().any(|mv| mv.item == item) {
                    step.machines.push(crate::scenario::steps::MachineValues {
                        item,
                        master_target: None,
                        process_server: None,
                        datastore: None,
                        retention_drive: None,
                        location: None,
                    });
                }
            }
        }
        for mv in &mut step.machines {
            if mv.process_server.is_some() || step.process_server.is_some() {
                mv.process_server = Some(of(&mv.item, &machines));
            }
        }
    }
}
