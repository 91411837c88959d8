//! Fleet scenarios for the scale benchmarks (issue 6): `scenarios/bench/fleet-1k-7d.json` and
//! `fleet-10k-30d.json` are written by [`text`] (`cargo run -p drsim-benches --bin fleet-scenario`), and a
//! test keeps the committed files equal to what it writes.
//!
//! The estate: `vms` VMs of three disks each (80 % Windows, 20 % Linux), protected to Azure, on hosts of 50
//! VMs, datastores shared by two hosts, master targets of 19 VMs each (57 disks and 3 of their own: the
//! 60-disk limit, RP-14), process servers round-robin, diurnal churn with hourly steps and a per-VM mean.
//! The cycle, per recovery plan (plans are equal slices of the fleet): failover at 1 h, commit, reprotect
//! to the original location with values per machine (RP-09), failback to the latest point two days before
//! the end, commit, re-protect to Azure.

use serde_json::{Value, json};

/// VMs one master target serves: 19 × 3 disks + its own 3 = 60 (RP-14).
const VMS_PER_MT: usize = 19;
/// VMs per ESXi host.
const VMS_PER_HOST: usize = 50;

/// The size of a fleet scenario.
#[derive(Clone, Debug)]
pub struct FleetSize {
    /// The scenario's name (the file stem).
    pub name: String,
    /// Number of VMs (3 disks each).
    pub vms: usize,
    /// Number of recovery plans the fleet is split into.
    pub plans: usize,
    /// Number of process servers in Azure.
    pub process_servers: usize,
    /// Simulated days.
    pub days: u64,
    /// The site link's bandwidth, e.g. "1Gbps".
    pub bandwidth: String,
    /// How long the run lasts, when shorter than the `days` of the cycle (e.g. "7h": the failovers and
    /// the reprotects only); `None`: `days`.
    pub duration: Option<String>,
}

impl FleetSize {
    /// `fleet-1k-7d`: 1,000 VMs × 3 disks, 4 PS, one 1 Gbps VPN, 7 days, 10 plans (issue 6).
    pub fn one_k() -> Self {
        FleetSize {
            name: "fleet-1k-7d".into(),
            vms: 1000,
            plans: 10,
            process_servers: 4,
            days: 7,
            bandwidth: "1Gbps".into(),
            duration: None,
        }
    }

    /// `fleet-10k-30d`: 10,000 VMs, 30,000 disks, 50 PS, 30 days, 10 plans, a 10 Gbps link (issue 6).
    pub fn ten_k() -> Self {
        FleetSize {
            name: "fleet-10k-30d".into(),
            vms: 10_000,
            plans: 10,
            process_servers: 50,
            days: 30,
            bandwidth: "10Gbps".into(),
            duration: None,
        }
    }

    /// `fleet-<vms>`: the same cycle at any size, scaled as from 1k to 10k (200 VMs per PS, 1 Mbps of
    /// link per VM, 10 plans), to see how the cost grows with the machines (the README's table).
    pub fn scaled(vms: usize, days: u64) -> Self {
        FleetSize {
            name: format!("fleet-{vms}"),
            vms,
            plans: 10,
            process_servers: (vms / 200).max(1),
            days,
            bandwidth: format!("{vms}Mbps"),
            duration: None,
        }
    }
}

fn vm_name(i: usize) -> String {
    format!("vm{i:05}")
}

/// Linux for every fifth VM, so that both kinds of master target (RP-07) are in the estate.
fn is_linux(i: usize) -> bool {
    i % 5 == 4
}

/// The fleet scenario as JSON.
pub fn scenario(size: &FleetSize) -> Value {
    let n = size.vms;
    let hosts = n.div_ceil(VMS_PER_HOST);
    let datastores = hosts.div_ceil(2);
    let host = |i: usize| format!("esx{:04}", i / VMS_PER_HOST);
    let datastore_of_host = |h: usize| format!("ds{:04}", h / 2);

    // master targets: one per 19 VMs of one OS, numbered in the order their first VM appears
    let mut mt_of = vec![String::new(); n];
    let mut mt_host = vec![0usize; n];
    let mut mts = Vec::new();
    for linux in [false, true] {
        let members: Vec<usize> = (0..n).filter(|&i| is_linux(i) == linux).collect();
        for chunk in members.chunks(VMS_PER_MT) {
            let name = format!("mt-{}{:04}", if linux { "lin" } else { "win" }, mts.len());
            let h = chunk[0] / VMS_PER_HOST;
            mts.push(json!({
                "name": name, "os": if linux { "linux" } else { "windows" },
                "host": format!("esx{h:04}"),
                "retention_drives": [if linux {
                    json!({ "name": "/retention", "fs": "ext4", "capacity": "4TB" })
                } else {
                    json!({ "name": "R:", "capacity": "4TB" })
                }]
            }));
            for &i in chunk {
                mt_of[i] = name.clone();
                mt_host[i] = h;
            }
        }
    }

    let machines: Vec<Value> = (0..n)
        .map(|i| {
            // a per-VM mean churn of 4–28 KB/s per disk, peaking at one of four hours
            let mean_kbps = 4 + (i * 7919 % 25);
            json!({
                "name": vm_name(i), "os": if is_linux(i) { "linux" } else { "windows" },
                "state": "protected-to-azure", "host": host(i),
                "disks": (0..3).map(|d| json!({
                    "size": "64GiB", "used": "32GiB", "hot_region": "2GiB",
                    "churn": { "model": "diurnal", "mean": format!("{}KB/s", mean_kbps + d),
                               "amplitude_pct": 60, "peak_hour": 10 + (i % 4) * 2, "quantum": "1h" }
                })).collect::<Vec<_>>()
            })
        })
        .collect();

    let per_plan = n.div_ceil(size.plans);
    let plans: Vec<Value> = (0..size.plans)
        .map(|p| {
            let items: Vec<String> = (p * per_plan..((p + 1) * per_plan).min(n))
                .map(vm_name)
                .collect();
            json!({ "name": format!("plan{p:02}"), "groups": [{ "items": items }] })
        })
        .collect();

    let failback_day = size.days - 2;
    let mut steps = Vec::new();
    let mut jobs = Vec::new();
    for p in 0..size.plans {
        let plan = format!("plan{p:02}");
        let id = |s: &str| format!("{s}-{p:02}");
        let values: Vec<Value> = (p * per_plan..((p + 1) * per_plan).min(n))
            .map(|i| {
                // the target datastore must be mounted on the master target's host (RP-12)
                let h = mt_host[i];
                json!({
                    "item": vm_name(i), "master_target": mt_of[i],
                    "process_server": format!("ps{:02}", i % size.process_servers),
                    "datastore": datastore_of_host(h),
                    "retention_drive": if is_linux(i) { "/retention" } else { "R:" }
                })
            })
            .collect();
        steps.push(
            json!({ "id": id("failover"), "at": format!("1h {p}m"), "op": "failover",
                           "plan": plan, "point": "latest" }),
        );
        steps.push(
            json!({ "id": id("commit-failover"), "after": id("failover"), "delay": "15m",
                           "op": "commit-failover", "plan": plan }),
        );
        steps.push(
            json!({ "id": id("reprotect"), "after": id("commit-failover"), "delay": "4h",
                           "op": "reprotect", "plan": plan, "machines": values }),
        );
        steps.push(
            json!({ "id": id("failback"), "at": format!("{failback_day}d {p}m"),
                           "op": "failback", "plan": plan, "point": "latest" }),
        );
        steps.push(
            json!({ "id": id("commit-failback"), "after": id("failback"), "delay": "30m",
                           "op": "commit-failback", "plan": plan }),
        );
        steps.push(
            json!({ "id": id("reprotect-to-azure"), "after": id("commit-failback"),
                           "delay": "10m", "op": "reprotect-to-azure", "plan": plan }),
        );
        // The re-protect to Azure starts a full initial replication (RA-02) that outlasts the run: it is
        // load for the last two days, not an expectation.
        for s in [
            "failover",
            "commit-failover",
            "reprotect",
            "failback",
            "commit-failback",
        ] {
            jobs.push(json!({ "step": id(s), "outcome": "succeeded" }));
        }
    }

    json!({
        "$schema": "../scenario.schema.json",
        "name": size.name,
        "description": format!(
            "Scale benchmark (issue 6), written by `cargo run -p drsim-benches --bin fleet-scenario`: \
             {n} VMs × 3 disks in {} recovery plans, {} process servers, {mts} master targets, one {} link, \
             diurnal churn, {} days: failover, reprotect, failback, commit, re-protect to Azure (whose initial \
             replication is still running at the end).",
            size.plans, size.process_servers, size.bandwidth, size.days, mts = mts.len()
        ) + &size.duration.as_ref().map(|d| format!(" This file runs its first {d} only.")).unwrap_or_default(),
        "seed": 1,
        "duration": size.duration.clone().unwrap_or_else(|| format!("{}d", size.days)),
        "inventory": {
            "vcenters": [{ "name": "vc01" }],
            "hosts": (0..hosts).map(|h| json!({
                "name": format!("esx{h:04}"), "vcenter": "vc01", "memory_free": "2TB",
                "datastores": [datastore_of_host(h)]
            })).collect::<Vec<_>>(),
            "datastores": (0..datastores).map(|d| json!({
                "name": format!("ds{d:04}"), "vcenter": "vc01", "capacity": "40TB", "free": "30TB"
            })).collect::<Vec<_>>(),
            "process_servers": (0..size.process_servers).map(|p| json!({
                "name": format!("ps{p:02}"), "cache": "1TB"
            })).collect::<Vec<_>>(),
            "master_targets": mts,
        },
        "network": { "link": if size.bandwidth == "1Gbps" { "vpn" } else { "express-route-private" },
                     "bandwidth": size.bandwidth },
        "machines": machines,
        "plans": plans,
        "steps": steps,
        // (a run cut short expects no job outcome: the later steps never start)
        "expect": { "jobs": if size.duration.is_some() { Vec::new() } else { jobs } },
        "report": { "interval": "5m" },
    })
}

/// The scenario as file text: one top-level field per line group and one array element per line, so a
/// diff of two versions stays readable.
pub fn text(size: &FleetSize) -> String {
    let Value::Object(top) = scenario(size) else {
        unreachable!("an object")
    };
    let mut out = String::from("{\n");
    let fields: Vec<(&String, &Value)> = top.iter().collect();
    for (k, (key, value)) in fields.iter().enumerate() {
        out.push_str(&format!("  {}: ", Value::String((*key).clone())));
        write_value(&mut out, value, 1);
        out.push_str(if k + 1 < fields.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

/// Objects of objects/arrays open one level; arrays put an element per line; leaves are compact.
fn write_value(out: &mut String, v: &Value, depth: usize) {
    let pad = "  ".repeat(depth + 1);
    match v {
        Value::Object(map) if map.values().any(|x| x.is_array() || x.is_object()) && depth < 2 => {
            out.push_str("{\n");
            let n = map.len();
            for (k, (key, value)) in map.iter().enumerate() {
                out.push_str(&format!("{pad}{}: ", Value::String(key.clone())));
                write_value(out, value, depth + 1);
                out.push_str(if k + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push('}');
        }
        Value::Array(items) if items.iter().any(|x| x.is_object()) => {
            out.push_str("[\n");
            for (k, item) in items.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&item.to_string());
                out.push_str(if k + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fleet_is_a_valid_scenario() {
        let size = FleetSize {
            name: "fleet-small".into(),
            vms: 60,
            plans: 3,
            process_servers: 2,
            days: 3,
            bandwidth: "1Gbps".into(),
            duration: None,
        };
        let text = text(&size);
        let (_, built) =
            crate::scenario::load_str(std::path::Path::new("fleet-small.json"), &text, None)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.items.len(), 60);
    }

    #[test]
    fn a_scaled_fleet_cut_short_runs_for_its_duration_and_expects_no_job() {
        let whole = FleetSize::scaled(400, 3);
        assert_eq!(
            (whole.process_servers, whole.bandwidth.as_str()),
            (2, "400Mbps")
        );
        let short = FleetSize {
            duration: Some("7h".into()),
            ..whole.clone()
        };
        let load = |size: &FleetSize| {
            let (_, built) = crate::scenario::load_str(
                std::path::Path::new("fleet-400.json"),
                &text(size),
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            built
        };
        let (whole, short) = (load(&whole), load(&short));
        assert_eq!(
            (whole.duration_ms, short.duration_ms),
            (3 * 86_400_000, 7 * 3_600_000)
        );
        assert!(!whole.expect.jobs.is_empty());
        assert!(short.expect.jobs.is_empty());
        assert_eq!(short.items.len(), 400);
    }

    #[test]
    fn the_committed_bench_scenarios_are_what_the_generator_writes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/bench");
        for size in [FleetSize::one_k(), FleetSize::ten_k()] {
            let path = dir.join(format!("{}.json", size.name));
            let committed = std::fs::read_to_string(&path).expect("committed");
            assert!(
                committed == text(&size),
                "{} is stale: run `cargo run -p drsim-benches --bin fleet-scenario`",
                path.display()
            );
            let (_, built) = crate::scenario::load_str(&path, &committed, None)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(built.items.len(), size.vms);
        }
    }
}
