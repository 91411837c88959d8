//! From an export's records to a scenario: which VMs become machines (templates, SRM placeholders and
//! VMs ASR cannot protect are left out), their disks and used sizes, the hosts and datastores (those
//! without a row of their own derived from the VMs), the failback infrastructure ([`super::sizing`]),
//! the operator's cycle ([`super::cycle`]) and the warnings: EFI firmware (NS-09), `disk.EnableUUID`
//! false (RJ-06), snapshots (RP-06), raw disks and NFS datastores (RP-13), too many disks (RP-14). The
//! machines carry those facts, so the rehearsal itself fires the rules.

use super::cycle::{self, Timing, Values};
use super::describe::{Describe, describe, plural};
use super::rvtools::{Export, VmRow, datastore_of};
use super::sizing::{self, MtNeed};
use super::{ChurnAssumption, ImportError, Imported, Options, Skipped, StepsChoice, Warning};
use crate::scenario::expect::Expect;
use crate::scenario::inventory::*;
use crate::scenario::{Policies, ReportSettings, Scenario};
use crate::units::{Bandwidth, Bytes, Duration, human_bytes};
use drsim_engine::inventory::{DatastoreKind, Firmware, OsType};
use drsim_engine::lifecycle::ItemState;
use drsim_engine::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use std::collections::{BTreeMap, BTreeSet};

/// A vCenter and a name in it: hosts, datastores and VMs are named per vCenter.
type Key = (String, String);

/// A master target's own disks, counted against RP-14's 60 (the format's default).
const MT_OWN_DISKS: u32 = 3;
/// DOMAIN.md §4: a VM's peak churn (*varies*: 25 MB/s).
const VM_PEAK_BPS: u64 = 54_000_000;
/// DOMAIN.md §5: machines one configuration server serves.
const CS_MACHINES: usize = 200;

struct Vm<'a> {
    row: &'a VmRow,
    key: Key,
    os: OsType,
    host: Key,
    disks: Vec<VmDisk>,
    datastore: Option<Key>,
    snapshots: u32,
    consumed: Option<u64>,
}

struct VmDisk {
    size: u64,
    used: Option<u64>,
    rdm: bool,
}

#[derive(Default)]
struct HostInfo {
    memory: Option<u64>,
    usage_pct: Option<f64>,
    version: Option<String>,
    mounts: BTreeSet<Key>,
    /// Memory of the imported VMs the export saw running on it (off while they run in Azure).
    vm_memory_on: u64,
}

#[derive(Default)]
struct DsInfo {
    kind: Option<String>,
    capacity: Option<u64>,
    free: Option<u64>,
}

/// Things kept in order of first appearance, by key.
struct Ordered<T> {
    order: Vec<Key>,
    items: BTreeMap<Key, T>,
}

impl<T: Default> Ordered<T> {
    fn new() -> Self {
        Ordered {
            order: Vec::new(),
            items: BTreeMap::new(),
        }
    }

    fn entry(&mut self, k: &Key) -> &mut T {
        if !self.items.contains_key(k) {
            self.order.push(k.clone());
        }
        self.items.entry(k.clone()).or_default()
    }
}

/// Names unique across vCenters: `name`, or `name@vcenter` where two vCenters have one.
fn unique_names(keys: &[Key]) -> BTreeMap<Key, String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, n) in keys {
        *count.entry(n.as_str()).or_default() += 1;
    }
    keys.iter()
        .map(|k| {
            let name = if count.get(k.1.as_str()).copied().unwrap_or(0) > 1 {
                format!("{}@{}", k.1, k.0)
            } else {
                k.1.clone()
            };
            (k.clone(), name)
        })
        .collect()
}

/// The OS family of an RVTools OS description, if ASR protects it.
pub fn os_type(os: &str) -> Option<OsType> {
    let o = os.to_ascii_lowercase();
    if o.contains("windows") {
        return Some(OsType::Windows);
    }
    const LINUX: &[&str] = &[
        "linux", "red hat", "rhel", "centos", "ubuntu", "debian", "suse", "sles", "rocky", "alma",
        "photon", "fedora", "coreos",
    ];
    LINUX.iter().any(|l| o.contains(l)).then_some(OsType::Linux)
}

/// The version in an `ESX Version` cell: "VMware ESXi 7.0.3 build-20036589" → "7.0.3".
fn esxi_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| {
            w.contains('.')
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
                && w.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_owned)
}

fn find_vm(
    vms: &[Vm<'_>],
    by_name: &BTreeMap<String, Vec<usize>>,
    name: &str,
    vc: &Option<String>,
) -> Option<usize> {
    by_name
        .get(name)?
        .iter()
        .copied()
        .find(|&i| match (vc, &vms[i].row.vcenter) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        })
}

fn leave_out(warnings: &mut Vec<Warning>, skipped: &mut Skipped, row: &VmRow, why: &str) {
    skipped.other += 1;
    warnings.push(Warning {
        at: Some(row.at.clone()),
        rule: None,
        message: format!("VM `{}` left out: {why}", row.name),
    });
}

fn rule(warnings: &mut Vec<Warning>, at: Option<&str>, rule: &'static str, message: String) {
    warnings.push(Warning {
        at: at.map(str::to_owned),
        rule: Some(rule),
        message,
    });
}

/// A list of names for a message: the first few and how many more.
fn few(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// Builds the scenario of an export.
pub fn build(export: &Export, opts: &Options, source: &str) -> Result<Imported, ImportError> {
    if matches!(
        opts.state,
        ItemState::FailingOver
            | ItemState::Reprotecting
            | ItemState::FailingBack
            | ItemState::ReprotectingToAzure
    ) {
        return Err(ImportError::new(format!(
            "--state {}: the state of a running job; a machine starts in a resting state \
             (protected-to-azure, failed-over, in-azure, protected-to-on-prem, failed-back, on-prem, disabled)",
            crate::verdict::kebab(&opts.state)
        )));
    }
    let vc_of = |v: &Option<String>| v.clone().unwrap_or_else(|| opts.vcenter.clone());
    let mut warnings: Vec<Warning> = Vec::new();
    let mut skipped = Skipped::default();

    // the VMs
    let mut vms: Vec<Vm<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &export.vms {
        if row.template {
            skipped.templates += 1;
            continue;
        }
        if row.srm_placeholder {
            skipped.placeholders += 1;
            continue;
        }
        if opts.skip_powered_off && row.powered_on == Some(false) {
            skipped.powered_off += 1;
            continue;
        }
        let key = (vc_of(&row.vcenter), row.name.clone());
        if !seen.insert(key.clone()) {
            leave_out(
                &mut warnings,
                &mut skipped,
                row,
                "another VM of that name in the same vCenter was imported",
            );
            continue;
        }
        let Some(host) = row.host.clone() else {
            leave_out(
                &mut warnings,
                &mut skipped,
                row,
                "no host (column \"Host\" is empty)",
            );
            continue;
        };
        let os = match row.os.as_deref() {
            None => {
                leave_out(
                    &mut warnings,
                    &mut skipped,
                    row,
                    "no guest OS recorded (neither the configuration file's nor VMware Tools')",
                );
                continue;
            }
            Some(text) => match os_type(text) {
                Some(os) => os,
                None => {
                    leave_out(
                        &mut warnings,
                        &mut skipped,
                        row,
                        &format!(
                            "its guest OS `{text}` is neither Windows nor Linux, which ASR protects"
                        ),
                    );
                    continue;
                }
            },
        };
        vms.push(Vm {
            row,
            host: (key.0.clone(), host),
            key,
            os,
            disks: Vec::new(),
            datastore: None,
            snapshots: 0,
            consumed: None,
        });
    }
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, vm) in vms.iter().enumerate() {
        by_name.entry(vm.key.1.clone()).or_default().push(i);
    }
    for d in &export.disks {
        let Some(i) = find_vm(&vms, &by_name, &d.vm, &d.vcenter) else {
            continue; // a template's, a left-out VM's
        };
        if d.capacity == 0 {
            warnings.push(Warning {
                at: Some(d.at.clone()),
                rule: None,
                message: format!(
                    "disk `{}` of VM `{}` has no capacity: left out",
                    d.label.as_deref().unwrap_or("?"),
                    d.vm
                ),
            });
            continue;
        }
        let vm = &mut vms[i];
        vm.disks.push(VmDisk {
            size: d.capacity,
            used: None,
            rdm: d.raw,
        });
        if vm.datastore.is_none()
            && let Some(ds) = d.path.as_deref().and_then(datastore_of)
        {
            vm.datastore = Some((vm.key.0.clone(), ds.to_owned()));
        }
    }
    for p in &export.partitions {
        if let Some(i) = find_vm(&vms, &by_name, &p.vm, &p.vcenter) {
            let c = vms[i].consumed.get_or_insert(0);
            *c = c.saturating_add(p.consumed);
        }
    }
    for s in &export.snapshots {
        if let Some(i) = find_vm(&vms, &by_name, &s.vm, &s.vcenter) {
            vms[i].snapshots += 1;
        }
    }
    let mut kept: Vec<Vm<'_>> = Vec::new();
    for mut vm in vms {
        if vm.disks.is_empty() {
            match vm.row.provisioned.filter(|p| *p > 0) {
                Some(p) => {
                    warnings.push(Warning {
                        at: Some(vm.row.at.clone()),
                        rule: None,
                        message: format!(
                            "VM `{}` has no vDisk rows: one disk of its provisioned size {} assumed",
                            vm.row.name,
                            Bytes(p)
                        ),
                    });
                    vm.disks.push(VmDisk {
                        size: p,
                        used: None,
                        rdm: false,
                    });
                }
                None => {
                    leave_out(
                        &mut warnings,
                        &mut skipped,
                        vm.row,
                        "no disks (no vDisk rows, no provisioned size)",
                    );
                    continue;
                }
            }
        }
        if vm.datastore.is_none() {
            vm.datastore = vm
                .row
                .path
                .as_deref()
                .and_then(datastore_of)
                .map(|d| (vm.key.0.clone(), d.to_owned()));
        }
        // used: what the guest's partitions hold, else what the datastores hold, spread by capacity
        let total: u128 = vm.disks.iter().map(|d| u128::from(d.size)).sum();
        if let Some(used) = vm.consumed.or(vm.row.in_use) {
            let used = u128::from(used).min(total);
            for d in &mut vm.disks {
                let share = used * u128::from(d.size) / total.max(1);
                d.used = Some(u64::try_from(share).unwrap_or(d.size).min(d.size));
            }
        }
        kept.push(vm);
    }

    // hosts and datastores: the export's, then those only the VMs name
    let mut hosts: Ordered<HostInfo> = Ordered::new();
    let mut dss: Ordered<DsInfo> = Ordered::new();
    for h in &export.hosts {
        let info = hosts.entry(&(vc_of(&h.vcenter), h.name.clone()));
        info.memory = info.memory.or(h.memory);
        info.usage_pct = info.usage_pct.or(h.memory_usage_pct);
        info.version = info
            .version
            .clone()
            .or_else(|| h.version.as_deref().and_then(esxi_version));
    }
    for d in &export.datastores {
        let key = (vc_of(&d.vcenter), d.name.clone());
        let info = dss.entry(&key);
        info.kind = info.kind.clone().or_else(|| d.kind.clone());
        info.capacity = info.capacity.or(d.capacity);
        info.free = info.free.or(d.free);
        for h in &d.hosts {
            hosts
                .entry(&(key.0.clone(), h.clone()))
                .mounts
                .insert(key.clone());
        }
    }
    for vm in &kept {
        hosts.entry(&vm.host);
    }
    let ds_order = dss.order.clone();
    kept.retain(|vm| {
        if vm.datastore.is_some() {
            return true;
        }
        let mounted = hosts
            .items
            .get(&vm.host)
            .is_some_and(|h| ds_order.iter().any(|d| h.mounts.contains(d)));
        if !mounted {
            leave_out(
                &mut warnings,
                &mut skipped,
                vm.row,
                "no datastore known (no path in vDisk or vInfo, and its host mounts none)",
            );
        }
        mounted
    });
    for vm in &mut kept {
        if vm.datastore.is_none() {
            let mounts = &hosts
                .items
                .get(&vm.host)
                .map(|h| h.mounts.clone())
                .unwrap_or_default();
            vm.datastore = ds_order.iter().find(|d| mounts.contains(*d)).cloned();
        }
    }
    let mut derived_ds: BTreeSet<Key> = BTreeSet::new();
    for vm in &kept {
        let Some(ds) = &vm.datastore else { continue };
        if !dss.items.contains_key(ds) {
            derived_ds.insert(ds.clone());
        }
        dss.entry(ds);
        let h = hosts.entry(&vm.host);
        h.mounts.insert(ds.clone());
        if vm.row.powered_on != Some(false) {
            h.vm_memory_on = h.vm_memory_on.saturating_add(vm.row.memory.unwrap_or(0));
        }
    }
    if kept.is_empty() {
        return Err(ImportError::new(format!(
            "{source}: no VM to import ({} rows in vInfo: {} templates, {} SRM placeholders, {} powered off left out, {} others left out{})",
            export.vms.len(),
            skipped.templates,
            skipped.placeholders,
            skipped.powered_off,
            skipped.other,
            if warnings.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    warnings
                        .iter()
                        .map(|w| w.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        )));
    }

    // names
    let vcenter_names: Vec<String> = {
        let mut seen = BTreeSet::new();
        hosts
            .order
            .iter()
            .chain(&dss.order)
            .map(|k| k.0.clone())
            .filter(|v| seen.insert(v.clone()))
            .collect()
    };
    let host_names = unique_names(&hosts.order);
    let ds_names = unique_names(&dss.order);
    let vm_keys: Vec<Key> = kept.iter().map(|v| v.key.clone()).collect();
    let vm_names = unique_names(&vm_keys);
    let name_of = |names: &BTreeMap<Key, String>, k: &Key| {
        names.get(k).cloned().unwrap_or_else(|| k.1.clone())
    };

    // churn per disk and per machine
    let disk_rate = |d: &VmDisk| -> u64 {
        match opts.churn {
            ChurnAssumption::Rate(b) => b.0,
            ChurnAssumption::DailyShare { ppm } => {
                let base = d.used.unwrap_or(d.size / 2);
                let r = u128::from(base) * u128::from(ppm) / (1_000_000 * 86_400);
                let r = u64::try_from(r).unwrap_or(u64::MAX);
                // whole KiB/s once there is one: the file reads better
                if r >= 1024 {
                    r.saturating_add(512) / 1024 * 1024
                } else {
                    r
                }
            }
        }
    };
    let daily: Vec<u64> = kept
        .iter()
        .map(|vm| {
            vm.disks
                .iter()
                .map(|d| disk_rate(d).saturating_mul(86_400))
                .fold(0u64, u64::saturating_add)
        })
        .collect();

    // warnings the rules will meet, per VM
    let policies = Policies::default();
    let room = policies
        .max_disks_per_master_target
        .saturating_sub(MT_OWN_DISKS);
    for (vm, day) in kept.iter().zip(&daily) {
        let name = name_of(&vm_names, &vm.key);
        if vm
            .row
            .firmware
            .as_deref()
            .is_some_and(|f| f.to_ascii_lowercase().contains("efi"))
        {
            rule(
                &mut warnings,
                Some(&vm.row.at),
                "NS-09",
                format!(
                    "VM `{name}` boots with EFI firmware: it cannot fail back; its reprotect fails the prerequisites check"
                ),
            );
        }
        if vm.row.enable_uuid == Some(false) {
            rule(
                &mut warnings,
                Some(&vm.row.at),
                "RJ-06",
                format!(
                    "VM `{name}` has disk.EnableUUID=FALSE: reprotect cannot find its original disks and writes a full copy of each (and needs that much free space on its datastore, CL-02)"
                ),
            );
        }
        if vm.snapshots > 0 {
            rule(
                &mut warnings,
                Some(&vm.row.at),
                "RP-06",
                format!(
                    "VM `{name}` has {}: the reprotect job consolidates them first (only a master target must have none)",
                    plural(vm.snapshots as usize, "snapshot", "snapshots")
                ),
            );
        }
        let raw = vm.disks.iter().filter(|d| d.rdm).count();
        if raw > 0 {
            rule(
                &mut warnings,
                Some(&vm.row.at),
                "RP-13",
                format!(
                    "VM `{name}` has {}: they fail back only to their original location, with those disks still attached",
                    plural(raw, "raw (RDM) disk", "raw (RDM) disks")
                ),
            );
        }
        if vm.disks.len() as u64 > u64::from(room) {
            rule(
                &mut warnings,
                Some(&vm.row.at),
                "RP-14",
                format!(
                    "VM `{name}` has {} disks: more than a master target holds ({} with its own {MT_OWN_DISKS}); it gets one of its own and its reprotect fails",
                    vm.disks.len(),
                    policies.max_disks_per_master_target
                ),
            );
        }
        if day / 86_400 > VM_PEAK_BPS {
            warnings.push(Warning { at: None, rule: None, message: format!("VM `{name}` is assumed to write {}/s: more than the 54 MB/s a VM replicates at most (DOMAIN.md §4)", human_bytes(day / 86_400)) });
        }
    }

    // datastores
    let mut provisioned: BTreeMap<Key, (u64, u64, Vec<String>)> = BTreeMap::new();
    for vm in &kept {
        if let Some(ds) = &vm.datastore {
            let e = provisioned.entry(ds.clone()).or_default();
            for d in &vm.disks {
                e.0 = e.0.saturating_add(d.size);
                e.1 = e.1.saturating_add(d.used.unwrap_or(d.size / 2));
            }
            e.2.push(name_of(&vm_names, &vm.key));
        }
    }
    let mut datastores = Vec::new();
    for k in &dss.order {
        let info = &dss.items[k];
        let name = name_of(&ds_names, k);
        let (prov, used, on_it) = provisioned.get(k).cloned().unwrap_or_default();
        let text = info.kind.as_deref().unwrap_or("").to_ascii_lowercase();
        let kind = if text.contains("nfs") {
            DatastoreKind::Nfs
        } else if text.contains("vsan") {
            DatastoreKind::Vsan
        } else {
            if !text.is_empty() && !text.contains("vmfs") {
                warnings.push(Warning {
                    at: None,
                    rule: None,
                    message: format!(
                        "datastore `{name}` is of type `{}`: taken as VMFS",
                        info.kind.as_deref().unwrap_or("")
                    ),
                });
            }
            DatastoreKind::Vmfs
        };
        if kind == DatastoreKind::Nfs && !on_it.is_empty() {
            rule(
                &mut warnings,
                None,
                "RP-13",
                format!(
                    "datastore `{name}` is NFS, which cannot be a failback target: the reprotect of its {} ({}) fails",
                    if on_it.len() == 1 { "VM" } else { "VMs" },
                    few(&on_it)
                ),
            );
        }
        let (capacity, free) = match info.capacity.filter(|c| *c > 0) {
            Some(c) => (c, info.free.map(|f| f.min(c))),
            None => {
                let c = prov
                    .saturating_mul(2)
                    .max(1 << 40)
                    .div_ceil(1 << 30)
                    .saturating_mul(1 << 30);
                warnings.push(Warning {
                    at: None,
                    rule: None,
                    message: format!(
                        "datastore `{name}` has {}: capacity assumed {} (twice its VMs' disks, at least 1 TiB)",
                        if derived_ds.contains(k) { "no vDatastore row" } else { "no capacity in vDatastore" },
                        Bytes(c)
                    ),
                });
                (c, Some(c.saturating_sub(used)))
            }
        };
        datastores.push(Datastore {
            name,
            vcenter: k.0.clone(),
            kind,
            capacity: Bytes(capacity),
            free: free.map(Bytes),
            folders: Vec::new(),
        });
    }

    // hosts
    let default_memory = 512u64 << 30;
    let mut host_list = Vec::new();
    for k in &hosts.order {
        let info = &hosts.items[k];
        let memory_free = match info.memory {
            Some(total) => {
                // in whole MiB, as the export counts
                let pct = info.usage_pct.unwrap_or(0.0).clamp(0.0, 100.0);
                let total_mib = total >> 20;
                let in_use_mib = (total_mib as f64 * pct / 100.0).round() as u64;
                let free_mib = total_mib
                    .saturating_sub(in_use_mib)
                    .saturating_add(info.vm_memory_on >> 20);
                free_mib.min(total_mib) << 20
            }
            None => default_memory.max(info.vm_memory_on),
        };
        host_list.push(Host {
            name: name_of(&host_names, k),
            vcenter: k.0.clone(),
            kind: Default::default(),
            version: info.version.clone().unwrap_or_else(|| "7.0".into()),
            edition: Default::default(),
            up: true,
            memory_free: Bytes(memory_free),
            datastores: ds_order_names(&dss.order, &info.mounts, &ds_names),
            read_only_datastores: Vec::new(),
        });
    }

    // process servers (DOMAIN.md §5)
    let ps_plans = sizing::process_servers(&daily);
    let width = |n: usize| n.to_string().len().max(2);
    let ps_width = width(ps_plans.len());
    let mut ps_of = vec![String::new(); kept.len()];
    let mut process_servers = Vec::new();
    for (p, plan) in ps_plans.iter().enumerate() {
        let name = format!("ps{:0ps_width$}", p + 1);
        for &m in &plan.machines {
            ps_of[m] = name.clone();
        }
        if plan.daily > sizing::PS_TIERS[2].max_daily {
            warnings.push(Warning { at: None, rule: None, message: format!("process server `{name}` is assumed to receive {}/day: more than the 2 TB/day a process server handles (DOMAIN.md §4)", human_bytes(plan.daily)) });
        }
        process_servers.push(ProcessServer {
            name,
            running: true,
            health: Default::default(),
            vnet: "vnet1".into(),
            nat_configured: false,
            version: ConfigServer::default().version,
            throughput: None,
            cache: Some(Bytes(plan.tier.cache)),
        });
    }
    if kept.len() > CS_MACHINES {
        warnings.push(Warning { at: None, rule: None, message: format!("{} machines: more than the {CS_MACHINES} one configuration server serves (DOMAIN.md §5); the scenario has one", kept.len()) });
    }

    // master targets (RP-07, RP-12, RP-14) and their retention drives (RP-15)
    let needs: Vec<MtNeed> = kept
        .iter()
        .map(|vm| {
            let ds = vm.datastore.clone().unwrap_or_default();
            let mut candidates: Vec<usize> = hosts
                .order
                .iter()
                .enumerate()
                .filter(|(_, k)| hosts.items[*k].mounts.contains(&ds))
                .map(|(i, _)| i)
                .collect();
            // hosts that mount the most datastores first: one master target serves more machines
            candidates.sort_by_key(|&i| {
                (
                    std::cmp::Reverse(hosts.items[&hosts.order[i]].mounts.len()),
                    i,
                )
            });
            MtNeed {
                os: vm.os,
                hosts: candidates,
                disks: u32::try_from(vm.disks.len()).unwrap_or(u32::MAX),
            }
        })
        .collect();
    let mt_plans =
        sizing::master_targets(&needs, policies.max_disks_per_master_target, MT_OWN_DISKS);
    let count_of = |os| mt_plans.iter().filter(|p| p.os == os).count();
    let (win_width, lin_width) = (
        width(count_of(OsType::Windows)),
        width(count_of(OsType::Linux)),
    );
    let mut values_of: Vec<Option<(String, String)>> = vec![None; kept.len()];
    let mut master_targets = Vec::new();
    let (mut wins, mut lins) = (0, 0);
    for plan in &mt_plans {
        let (name, drive, fs) = match plan.os {
            OsType::Windows => {
                wins += 1;
                (
                    format!("mt-win{wins:0win_width$}"),
                    "R:",
                    drsim_engine::inventory::FileSystem::Ntfs,
                )
            }
            OsType::Linux => {
                lins += 1;
                (
                    format!("mt-lin{lins:0lin_width$}"),
                    "/mnt/retention",
                    drsim_engine::inventory::FileSystem::Ext4,
                )
            }
        };
        let day: u64 = plan
            .machines
            .iter()
            .map(|&m| daily[m])
            .fold(0, u64::saturating_add);
        for &m in &plan.machines {
            values_of[m] = Some((name.clone(), drive.to_owned()));
        }
        master_targets.push(MasterTarget {
            name,
            os: plan.os,
            host: host_names
                .get(&hosts.order[plan.host])
                .cloned()
                .unwrap_or_default(),
            is_vmware_vm: true,
            running: true,
            snapshots: 0,
            controller: Default::default(),
            enable_uuid: true,
            lvm_root_or_retention: false,
            own_disks: MT_OWN_DISKS,
            disk_uuids: Vec::new(),
            retention_drives: vec![RetentionDrive {
                name: drive.to_owned(),
                fs,
                capacity: Bytes(sizing::retention_bytes(day, policies.retention.0)),
                is_cache_volume: false,
                is_replication_target: false,
            }],
            version: ConfigServer::default().version,
            throughput: None,
        });
    }

    // timing
    let network = Network {
        bandwidth: opts.bandwidth.unwrap_or(Network::default().bandwidth),
        ..Network::default()
    };
    let reprotects = matches!(
        opts.state,
        ItemState::ProtectedToAzure | ItemState::FailedOver | ItemState::InAzure
    );
    let failback_after = opts.failback_after.unwrap_or_else(|| {
        let bytes: u128 = if reprotects {
            kept.iter()
                .flat_map(|vm| {
                    let full = vm.row.enable_uuid == Some(false);
                    vm.disks.iter().map(move |d| {
                        u128::from(if full {
                            d.used.unwrap_or(d.size / 2)
                        } else {
                            d.size / 10
                        })
                    })
                })
                .sum()
        } else {
            0
        };
        resync_wait(bytes, network.bandwidth)
    });
    let timing = Timing {
        start: Duration(HOUR_MS),
        failback_after,
    };
    let ops = cycle::operations(opts.state, &timing);
    let duration = opts.duration.unwrap_or_else(|| match opts.steps {
        StepsChoice::None => Duration(DAY_MS),
        StepsChoice::Cycle => {
            let steps: u64 = ops
                .iter()
                .map(|(_, d)| d.0.saturating_add(HOUR_MS))
                .fold(0, u64::saturating_add);
            let end = timing
                .start
                .0
                .saturating_add(steps)
                .saturating_add(12 * HOUR_MS);
            let max = crate::units::MAX_DURATION_MS / HOUR_MS * HOUR_MS;
            Duration((end.div_ceil(HOUR_MS) * HOUR_MS).min(max))
        }
    });

    // machines and steps
    let mut machines = Vec::new();
    let mut steps = Vec::new();
    let all_names: BTreeSet<String> = vm_names.values().cloned().collect();
    let mut azure_names: BTreeSet<String> = BTreeSet::new();
    for (i, vm) in kept.iter().enumerate() {
        let name = name_of(&vm_names, &vm.key);
        let (mt, drive) = values_of[i].clone().unwrap_or_default();
        let ds = vm
            .datastore
            .as_ref()
            .map(|k| name_of(&ds_names, k))
            .unwrap_or_default();
        let values = Values {
            master_target: mt,
            process_server: ps_of[i].clone(),
            datastore: ds,
            retention_drive: drive,
        };
        // an Azure VM name that is no machine's name
        let mut azure = format!("{name}-azure");
        let mut n = 1;
        while all_names.contains(&azure) || azure_names.contains(&azure) {
            n += 1;
            azure = format!("{name}-azure-{n}");
        }
        azure_names.insert(azure.clone());
        let firmware = if vm
            .row
            .firmware
            .as_deref()
            .is_some_and(|f| f.to_ascii_lowercase().contains("efi"))
        {
            Firmware::Efi
        } else {
            Firmware::Bios
        };
        let disks = vm
            .disks
            .iter()
            .map(|d| Disk {
                name: None,
                size: Bytes(d.size),
                used: d.used.map(Bytes),
                hot_region: None,
                churn: match opts.churn {
                    ChurnAssumption::Rate(_) => None,
                    ChurnAssumption::DailyShare { .. } => Some(match disk_rate(d) {
                        0 => Churn::Idle,
                        r => Churn::Constant { rate: Bandwidth(r) },
                    }),
                },
                rdm: d.rdm,
            })
            .collect();
        if opts.steps == StepsChoice::Cycle {
            steps.extend(cycle::steps(&name, opts.state, &values, &timing));
        }
        machines.push(Machine {
            name: name.clone(),
            os: vm.os,
            state: opts.state,
            host: name_of(&host_names, &vm.host),
            vcenter: None,
            firmware,
            source: Default::default(),
            origin: Default::default(),
            migrated: false,
            onprem_exists: true,
            enable_uuid: vm.row.enable_uuid.unwrap_or(true),
            snapshots: vm.snapshots,
            memory: Bytes(vm.row.memory.filter(|m| *m >= 1 << 20).unwrap_or(8 << 30)),
            cpus: vm.row.cpus.filter(|c| *c > 0).unwrap_or(2),
            replication_group: None,
            cs_registered: true,
            disks,
            azure: AzureSide {
                name: (azure != format!("{name}-azure")).then_some(azure),
                ..AzureSide::default()
            },
            protection: (opts.state == ItemState::ProtectedToOnPrem).then(|| ProtectionSpec {
                master_target: values.master_target.clone(),
                process_server: values.process_server.clone(),
                datastore: values.datastore.clone(),
                retention_drive: values.retention_drive.clone(),
                location: Default::default(),
            }),
        });
    }

    let description = describe(&Describe {
        source,
        opts,
        machines: machines.len(),
        vcenters: &vcenter_names,
        hosts: host_list.len(),
        datastores: datastores.len(),
        skipped: &skipped,
        daily: daily.iter().fold(0, |a, b| a.saturating_add(*b)),
        ps: &process_servers,
        ps_plans: &ps_plans,
        mts: &master_targets,
        failback_after: (opts.steps == StepsChoice::Cycle && reprotects).then_some(failback_after),
        warnings: &warnings,
    });
    let scenario = Scenario {
        schema: None,
        name: opts.name.clone(),
        description,
        seed: opts.seed,
        duration,
        inventory: Inventory {
            vcenters: vcenter_names
                .iter()
                .map(|v| VCenter {
                    name: v.clone(),
                    connected: true,
                    account: Default::default(),
                })
                .collect(),
            hosts: host_list,
            datastores,
            config_server: ConfigServer::default(),
            process_servers,
            master_targets,
        },
        network,
        churn: match opts.churn {
            ChurnAssumption::Rate(b) => Churn::Constant { rate: b },
            ChurnAssumption::DailyShare { .. } => Churn::default(),
        },
        policies,
        machines,
        plans: Vec::new(),
        steps,
        faults: Vec::new(),
        expect: Expect::default(),
        report: ReportSettings::default(),
    };
    Ok(Imported {
        scenario,
        warnings,
        skipped,
    })
}

/// The names of the datastores in `mounts`, in the order of `order`.
fn ds_order_names(
    order: &[Key],
    mounts: &BTreeSet<Key>,
    names: &BTreeMap<Key, String>,
) -> Vec<String> {
    order
        .iter()
        .filter(|k| mounts.contains(*k))
        .map(|k| names.get(k).cloned().unwrap_or_else(|| k.1.clone()))
        .collect()
}

/// How long after a reprotect to fail back: the resync of `bytes` over `bandwidth` with half again as
/// much to spare, plus an hour, in whole half hours, at least two hours (at most a year).
pub fn resync_wait(bytes: u128, bandwidth: Bandwidth) -> Duration {
    let ms = bytes.saturating_mul(1500) / u128::from(bandwidth.0.max(1));
    let ms = u64::try_from(ms)
        .unwrap_or(u64::MAX)
        .saturating_add(HOUR_MS)
        .min(365 * DAY_MS);
    let half_hour = 30 * MINUTE_MS;
    Duration(
        ms.div_ceil(half_hour)
            .saturating_mul(half_hour)
            .max(2 * HOUR_MS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_families() {
        for (os, t) in [
            (
                "Microsoft Windows Server 2019 (64-bit)",
                Some(OsType::Windows),
            ),
            ("Red Hat Enterprise Linux 8 (64-bit)", Some(OsType::Linux)),
            ("Ubuntu Linux (64-bit)", Some(OsType::Linux)),
            ("CentOS 7 (64-bit)", Some(OsType::Linux)),
            ("Other 3.x or later Linux (64-bit)", Some(OsType::Linux)),
            ("VMware Photon OS (64-bit)", Some(OsType::Linux)),
            ("FreeBSD 12 (64-bit)", None),
            ("Oracle Solaris 11 (64-bit)", None),
            ("Oracle Linux 8 (64-bit)", Some(OsType::Linux)),
        ] {
            assert_eq!(os_type(os), t, "{os}");
        }
    }

    #[test]
    fn small_helpers() {
        assert_eq!(
            esxi_version("VMware ESXi 7.0.3 build-20036589").as_deref(),
            Some("7.0.3")
        );
        assert_eq!(esxi_version("n/a"), None);
        let names = unique_names(&[
            ("vc1".into(), "ds1".into()),
            ("vc2".into(), "ds1".into()),
            ("vc2".into(), "ds2".into()),
        ]);
        assert_eq!(names[&("vc1".to_string(), "ds1".to_string())], "ds1@vc1");
        assert_eq!(names[&("vc2".to_string(), "ds2".to_string())], "ds2");
        // 1 TB at 125 MB/s: 8000 s × 1.5 = 3h 20m, + 1h → 4h 30m
        assert_eq!(
            resync_wait(1_000_000_000_000, Bandwidth(125_000_000)),
            Duration(270 * MINUTE_MS)
        );
        assert_eq!(resync_wait(0, Bandwidth(1)), Duration(2 * HOUR_MS));
    }
}
