//! Checks from the classic vContinuum/master-target failback guide (seed 001): CL-01, CL-02, CL-04, CL-05.

use super::{CheckCtx, CheckResult, require};
use crate::protocol::RecoveryMode;

/// CL-01: duplicate CS entries for one machine: the one whose host ID matches the Azure VM's agent is kept;
/// no match, or several, is ambiguous and rejected.
pub fn cl01_duplicate_entries(ctx: &CheckCtx<'_>) -> CheckResult {
    let vm = &ctx.item.spec.onprem_vm;
    let Some(cs) = &ctx.inv.config_server else {
        return Ok(());
    };
    let entries = cs.registrations_of(vm);
    if entries.len() <= 1 {
        return Ok(());
    }
    let agent = ctx.azure_vm().and_then(|a| a.agent_host_id.as_ref());
    let matching = entries.iter().filter(|r| Some(&r.host_id) == agent).count();
    require(matching == 1, || {
        format!(
            "machine `{vm}` has {} configuration server entries and {matching} match the Azure VM's agent host ID; remove the stale entry",
            entries.len()
        )
    })
}

/// CL-02: the target datastore has enough free space: the whole disks for alternate location recovery,
/// nothing extra for original location (its disks exist), unless RJ-06 forces extra disks.
pub fn cl02_datastore_space(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(m) = ctx.machine else { return Ok(()) };
    let Some(ds) = ctx.inv.datastores.get(&m.datastore) else {
        return Ok(());
    }; // RP-12 reports it
    let Some(azure) = ctx.azure_vm() else {
        return Ok(());
    };
    let sizes = azure
        .disks
        .iter()
        .filter(|d| ctx.disks.contains(&d.name))
        .map(|d| d.size_bytes);
    let needed: u64 = match ctx.mode {
        Some(RecoveryMode::Alternate) => sizes.sum(),
        _ => match ctx.inv.onprem_vms.get(&ctx.item.spec.onprem_vm) {
            Some(vm) if !vm.enable_uuid => sizes.sum(),
            _ => 0,
        },
    };
    require(ds.free_bytes >= needed, || {
        format!(
            "datastore `{}` has {} bytes free; item `{}` needs {needed}",
            ds.name,
            ds.free_bytes,
            ctx.item.id()
        )
    })
}

/// CL-04: NAT must be configured when the process server and the VM are not in one virtual network.
pub fn cl04_nat(ctx: &CheckCtx<'_>) -> CheckResult {
    let (Some(m), Some(vm)) = (ctx.machine, ctx.azure_vm()) else {
        return Ok(());
    };
    let Some(ps) = ctx.inv.process_servers.get(&m.process_server) else {
        return Err(format!(
            "process server `{}` is not discovered",
            m.process_server
        ));
    };
    require(ps.vnet == vm.vnet || ps.nat_configured, || {
        format!(
            "process server `{}` (vnet `{}`) and Azure VM `{}` (vnet `{}`) are in different virtual networks and NAT is not configured",
            ps.name, ps.vnet, vm.name, vm.vnet
        )
    })
}

/// CL-05: recover waits until the initial synchronisation is done.
pub fn cl05_initial_sync(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.item.initial_sync_done, || {
        format!(
            "initial synchronisation of item `{}` has not finished",
            ctx.item.id()
        )
    })
}
