//! Failback checks FB-01 … FB-08 and the RJ-02 split guard (DOMAIN.md §3).

use super::{CheckCtx, CheckResult, require};
use crate::inventory::{Health, PowerState};
use crate::lifecycle::ItemState;
use crate::protocol::PlanAction;

/// RJ-02: the on-prem VM must still be off when failback starts or powers it on; one powered on by hand
/// while the Azure VM runs is a split-brain risk (INV-SPLIT), and failback is refused until it is off.
pub fn rj02_onprem_off(ctx: &CheckCtx<'_>) -> CheckResult {
    let name = &ctx.item.spec.onprem_vm;
    let on = ctx
        .inv
        .onprem_vms
        .get(name)
        .is_some_and(|vm| vm.power != PowerState::Off);
    require(!on && !ctx.item.onprem_on_alert, || {
        format!(
            "on-premises VM `{name}` is powered on while its Azure VM is the active copy; power it off first"
        )
    })
}

/// FB-01: the item is Protected (Azure → on-prem), healthy, with at least one recovery point.
pub fn fb01_protected_healthy(ctx: &CheckCtx<'_>) -> CheckResult {
    let id = ctx.item.id();
    require(
        matches!(
            ctx.item.state,
            ItemState::ProtectedToOnPrem | ItemState::FailingBack
        ),
        || {
            format!(
                "item `{id}` is {}, not protected to on-premises",
                ctx.item.state
            )
        },
    )?;
    require(ctx.item.health != Health::Critical, || {
        format!("replication health of item `{id}` is critical")
    })?;
    require(!ctx.item.points.is_empty(), || {
        format!("item `{id}` has no recovery point yet")
    })
}

/// FB-02: the on-prem VM is powered on only once the Azure VM is confirmed off.
pub fn fb02_azure_off(ctx: &CheckCtx<'_>) -> CheckResult {
    let running = ctx.azure_vm().is_some_and(|v| v.power != PowerState::Off);
    require(ctx.azure_confirmed_off && !running, || {
        format!(
            "Azure VM `{}` is not confirmed off; the on-premises VM must not start",
            ctx.item.spec.azure_vm
        )
    })
}

/// FB-03: the chosen recovery point exists (for a group: the common point exists for every member).
pub fn fb03_point_chosen(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.chosen_point_ms.is_some(), || {
        format!(
            "no recovery point of item `{}` matches the choice",
            ctx.item.id()
        )
    })
}

/// FB-04: the vCenter of the target host is connected (disks move from the MT to the VM).
pub fn fb04_vcenter(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(host) = ctx.target_host() else {
        return Err(format!(
            "the target host of item `{}` is not discovered",
            ctx.item.id()
        ));
    };
    let vc = ctx.inv.vcenters.get(&host.vcenter);
    require(vc.is_some_and(|v| v.connected), || {
        format!("vCenter `{}` is not connected", host.vcenter)
    })
}

/// FB-05: the target host has memory to power the VM on (8038). The VM takes the Azure size's memory (CL-06).
pub fn fb05_host_memory(ctx: &CheckCtx<'_>) -> CheckResult {
    let (Some(host), Some(vm)) = (ctx.target_host(), ctx.azure_vm()) else {
        return Ok(());
    };
    require(host.memory_free_mib >= vm.memory_mib, || {
        format!(
            "ESXi host `{}` has {} MiB free; VM `{}` needs {} MiB",
            host.name, host.memory_free_mib, ctx.item.spec.onprem_vm, vm.memory_mib
        )
    })
}

/// FB-08: VMware failback plans allow manual actions only.
pub fn fb08_manual_actions_only(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(plan) = ctx.plan else { return Ok(()) };
    let script = plan
        .groups
        .iter()
        .flat_map(|g| &g.actions)
        .find_map(|a| match a {
            PlanAction::Script(s) => Some(s),
            PlanAction::Manual(_) => None,
        });
    match script {
        Some(s) => Err(format!(
            "recovery plan `{}` has script `{s}`; VMware failback plans allow manual actions only",
            plan.id
        )),
        None => Ok(()),
    }
}
