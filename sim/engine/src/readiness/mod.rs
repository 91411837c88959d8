//! Readiness checks as data (issue 2: "checks are data"): one function per rule ID, each returning
//! [`Verdict::Pass`], a warning, or a [`Failure`] with the rule ID, its error code, a message naming what is
//! wrong and the fix. [`run_phase`] runs every rule of the catalogue whose phases include the given one, in
//! catalogue order, so the order of results is deterministic and tests can iterate [`crate::rules::RULES`].

mod classic;
mod failback;
mod group;
mod not_supported;
mod reprotect;
mod reprotect_to_azure;

use crate::Millis;
use crate::config::EngineConfig;
use crate::ids::*;
use crate::inventory::{HostView, Inventory, MasterTargetView};
use crate::item::ItemRecord;
use crate::protocol::{Failure, PlanSpec, RecoveryMode, ReprotectMachine, Verdict};
use crate::rules::{Phase, RULES, RuleId};

/// Another machine of the item's replication group, with its reprotect inputs in this job if it is in it.
#[derive(Clone, Copy, Debug)]
pub struct GroupPeer<'a> {
    /// Its record.
    pub record: &'a ItemRecord,
    /// Its reprotect inputs (in this job for reprotect; the protection in force otherwise).
    pub machine: Option<&'a ReprotectMachine>,
    /// Whether this job includes it.
    pub in_job: bool,
}

/// Everything a readiness check may look at.
#[derive(Clone, Copy, Debug)]
pub struct CheckCtx<'a> {
    /// Now.
    pub now: Millis,
    /// The phase being checked.
    pub phase: Phase,
    /// The item.
    pub item: &'a ItemRecord,
    /// The engine's view of the infrastructure.
    pub inv: &'a Inventory,
    /// Engine settings.
    pub config: &'a EngineConfig,
    /// Reprotect inputs of the item (reprotect phases: from the command; later: the protection in force).
    pub machine: Option<&'a ReprotectMachine>,
    /// Recovery mode (reprotect: resolved from the inputs and inventory; later: the one in force).
    pub mode: Option<RecoveryMode>,
    /// The Azure disks to replicate (RP-14, CL-02).
    pub disks: &'a [String],
    /// Every item of the item's replication group, itself included (empty when it has none).
    pub group: &'a [GroupPeer<'a>],
    /// Whether the job runs through a recovery plan (RP-09).
    pub plan: Option<&'a PlanSpec>,
    /// Disks on the chosen master target besides its own and this item's: protected items' disks plus
    /// those of machines earlier in this job (RP-14).
    pub mt_disks_in_use: u32,
    /// The Azure VM has been confirmed off by this job (FB-02).
    pub azure_confirmed_off: bool,
    /// The recovery point chosen for this item (FB-03), once resolved.
    pub chosen_point_ms: Option<Millis>,
}

impl<'a> CheckCtx<'a> {
    /// The chosen master target, if named and discovered.
    pub fn master_target(&self) -> Result<&'a MasterTargetView, String> {
        let m = self
            .machine
            .ok_or_else(|| "no master target chosen".to_owned())?;
        self.inv
            .master_targets
            .get(&m.master_target)
            .ok_or_else(|| format!("master target `{}` is not discovered", m.master_target))
    }

    /// The host the machine fails back onto: the on-prem VM's own host for original location recovery,
    /// the master target's host for alternate location recovery (RJ-03, RJ-04).
    pub fn target_host(&self) -> Option<&'a HostView> {
        let name: HostName = match self.mode {
            Some(RecoveryMode::Original) => self
                .inv
                .onprem_vms
                .get(&self.item.spec.onprem_vm)?
                .host
                .clone(),
            _ => self.master_target().ok()?.host.clone(),
        };
        self.inv.hosts.get(&name)
    }

    /// The item's Azure VM, if Azure reports it.
    pub fn azure_vm(&self) -> Option<&'a crate::inventory::AzureVmView> {
        self.inv.azure_vms.get(&self.item.spec.azure_vm)
    }
}

/// Runs one rule's check. `None` when the rule has no check function (a behaviour rule).
pub fn check(rule: RuleId, ctx: &CheckCtx<'_>) -> Option<Verdict> {
    use RuleId::*;
    let r = match rule {
        Rp01 => reprotect::rp01_config_server(ctx),
        Rp02 => reprotect::rp02_registered(ctx),
        Rp03 => reprotect::rp03_network_path(ctx),
        Rp04 => reprotect::rp04_agent(ctx),
        Rp05 => reprotect::rp05_azure_vm_running(ctx),
        Rp06 => reprotect::rp06_mt_snapshots(ctx),
        Rp07 => reprotect::rp07_mt_os(ctx),
        Rp08 => group::rp08_same_mt(ctx),
        Rp09 => group::rp09_group_through_plan(ctx),
        Rp10 => reprotect::rp10_vcenter(ctx),
        Rp11 => reprotect::rp11_disk_uuids(ctx),
        Rp12 => reprotect::rp12_datastore_access(ctx),
        Rp13 => reprotect::rp13_datastore_type(ctx),
        Rp14 => reprotect::rp14_disk_limit(ctx),
        Rp15 => reprotect::rp15_retention_drive(ctx),
        Rp16 => reprotect::rp16_name_collision(ctx),
        Rp17 => reprotect::rp17_linux_mt(ctx),
        Rp18 => reprotect::rp18_original_vcenter(ctx),
        Rp20 => return Some(reprotect::rp20_versions(ctx)),
        Ns01 => not_supported::ns01_free_esxi(ctx),
        Ns02 => not_supported::ns02_physical_2008r2(ctx),
        Ns03 => not_supported::ns03_host_kind(ctx),
        Ns04 => not_supported::ns04_migrated(ctx),
        Ns05 => not_supported::ns05_resource_group(ctx),
        Ns06 => not_supported::ns06_replica_deleted(ctx),
        Ns07 => not_supported::ns07_disabled(ctx),
        Ns08 => not_supported::ns08_created_in_azure(ctx),
        Ns09 => not_supported::ns09_efi(ctx),
        Rj02 => failback::rj02_onprem_off(ctx),
        Rj06 => return Some(reprotect::rj06_enable_uuid(ctx)),
        Fb01 => failback::fb01_protected_healthy(ctx),
        Fb02 => failback::fb02_azure_off(ctx),
        Fb03 => failback::fb03_point_chosen(ctx),
        Fb04 => failback::fb04_vcenter(ctx),
        Fb05 => failback::fb05_host_memory(ctx),
        Fb08 => failback::fb08_manual_actions_only(ctx),
        Rg01 => group::rg01_group_size(ctx),
        Rg02 => group::rg02_same_os_and_mt(ctx),
        Rg03 => group::rg03_whole_group(ctx),
        Ra01 => reprotect_to_azure::ra01_running_on_prem(ctx),
        Cl01 => classic::cl01_duplicate_entries(ctx),
        Cl02 => classic::cl02_datastore_space(ctx),
        Cl04 => classic::cl04_nat(ctx),
        Cl05 => classic::cl05_initial_sync(ctx),
        Rp19 | Rj01 | Rj03 | Rj04 | Rj05 | Rj07 | Rj08 | Rj09 | Fb06 | Fb07 | Rg04 | Ra02
        | Ra03 | Cl03 | Cl06 => return None,
    };
    Some(match r {
        Ok(()) => Verdict::Pass,
        Err(message) => Verdict::Fail(Box::new(Failure::rule(rule, message))),
    })
}

/// Runs every rule checked at `phase`, in catalogue order.
pub fn run_phase(ctx: &CheckCtx<'_>) -> Vec<(RuleId, Verdict)> {
    RULES
        .iter()
        .filter(|d| d.phases().contains(&ctx.phase))
        .filter_map(|d| check(d.id, ctx).map(|v| (d.id, v)))
        .collect()
}

/// The failure a job reports, if any: a "failback impossible" case (NS-*) before any other, since no
/// retry fixes it and the operator must not be told to wait and retry (an Azure replica deleted also
/// fails RP-04/RP-05, whose fix is "retry later"); otherwise the first in catalogue order.
pub fn first_failure(results: &[(RuleId, Verdict)]) -> Option<&Failure> {
    fn fail((r, v): &(RuleId, Verdict)) -> Option<(RuleId, &Failure)> {
        match v {
            Verdict::Fail(f) => Some((*r, &**f)),
            _ => None,
        }
    }
    results
        .iter()
        .filter_map(fail)
        .find(|(r, _)| r.as_str().starts_with("NS-"))
        .or_else(|| results.iter().find_map(fail))
        .map(|(_, f)| f)
}

/// A check's result: `Ok(())` passes, `Err(message)` fails with the rule's code.
pub(crate) type CheckResult = Result<(), String>;

/// Fails with `msg` when `cond` is false.
pub(crate) fn require(cond: bool, msg: impl FnOnce() -> String) -> CheckResult {
    if cond { Ok(()) } else { Err(msg()) }
}

#[cfg(test)]
mod tests;
