//! The cases in which failback is impossible, NS-01 … NS-09 (DOMAIN.md §3), checked at reprotect and at
//! failback.

use super::{CheckCtx, CheckResult, require};
use crate::inventory::{Firmware, HostEdition, HostKind};
use crate::item::{Origin, SourceKind};
use crate::lifecycle::ItemState;

/// NS-01: the target host is free ESXi 5.5 or free vSphere 6 Hypervisor.
pub fn ns01_free_esxi(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(host) = ctx.target_host() else {
        return Ok(());
    };
    require(host.edition == HostEdition::Licensed, || {
        format!(
            "target host `{}` runs a free ESXi edition ({:?}), which cannot be a failback target",
            host.name, host.edition
        )
    })
}

/// NS-02: the source was a physical Windows Server 2008 R2 SP1.
pub fn ns02_physical_2008r2(ctx: &CheckCtx<'_>) -> CheckResult {
    require(
        ctx.item.spec.source != SourceKind::PhysicalWindows2008R2Sp1,
        || {
            format!(
                "item `{}` was a physical Windows Server 2008 R2 SP1 server",
                ctx.item.id()
            )
        },
    )
}

/// NS-03: the target is Hyper-V, a physical machine or VMware Workstation.
pub fn ns03_host_kind(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(host) = ctx.target_host() else {
        return Ok(());
    };
    require(host.kind == HostKind::Esxi, || {
        format!(
            "target host `{}` is {:?}, not VMware ESXi",
            host.name, host.kind
        )
    })
}

/// NS-04: the machine was migrated.
pub fn ns04_migrated(ctx: &CheckCtx<'_>) -> CheckResult {
    require(!ctx.item.spec.migrated, || {
        format!("item `{}` was migrated, not failed over", ctx.item.id())
    })
}

/// NS-05: the Azure VM was moved to another resource group.
pub fn ns05_resource_group(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(vm) = ctx.azure_vm() else {
        return Ok(());
    }; // NS-06
    let original = &ctx.item.spec.original_resource_group;
    require(&vm.resource_group == original, || {
        format!(
            "Azure VM `{}` was moved from resource group `{original}` to `{}`",
            vm.name, vm.resource_group
        )
    })
}

/// NS-06: the Azure replica was deleted.
pub fn ns06_replica_deleted(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.azure_vm().is_some(), || {
        format!("Azure VM `{}` was deleted", ctx.item.spec.azure_vm)
    })
}

/// NS-07: protection was disabled.
pub fn ns07_disabled(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.item.state != ItemState::Disabled, || {
        format!("protection of item `{}` was disabled", ctx.item.id())
    })
}

/// NS-08: the VM was created in Azure, not failed over.
pub fn ns08_created_in_azure(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.item.spec.origin == Origin::FailedOver, || {
        format!(
            "Azure VM `{}` was created in Azure, not failed over",
            ctx.item.spec.azure_vm
        )
    })
}

/// NS-09: EFI/UEFI VM.
pub fn ns09_efi(ctx: &CheckCtx<'_>) -> CheckResult {
    require(ctx.item.spec.firmware != Firmware::Efi, || {
        format!("VM `{}` uses EFI firmware", ctx.item.spec.onprem_vm)
    })
}
