//! Reprotect prerequisites RP-01 … RP-20 (except the group rules RP-08/RP-09 in `group`) and the RJ-06
//! warning (DOMAIN.md §3).

use super::{CheckCtx, CheckResult, require};
use crate::inventory::{
    Controller, DatastoreKind, DiscoveryAccount, FileSystem, MountAccess, OsType, PowerState,
    SiteLink,
};
use crate::protocol::{RecoveryMode, Verdict};

/// RP-01: the CS is running and connected to Azure.
pub fn rp01_config_server(ctx: &CheckCtx<'_>) -> CheckResult {
    match &ctx.inv.config_server {
        None => Err("the configuration server is not known to the vault".into()),
        Some(cs) if !cs.running => Err("the configuration server is not running".into()),
        Some(cs) if !cs.connected_to_azure => {
            Err("the configuration server is not connected to Azure".into())
        }
        Some(_) => Ok(()),
    }
}

/// RP-02: the machine is in the CS database.
pub fn rp02_registered(ctx: &CheckCtx<'_>) -> CheckResult {
    let vm = &ctx.item.spec.onprem_vm;
    let found = ctx
        .inv
        .config_server
        .as_ref()
        .is_some_and(|cs| !cs.registrations_of(vm).is_empty());
    require(found, || {
        format!("machine `{vm}` is not in the configuration server database")
    })
}

/// RP-03: a network path from Azure to the CS (site-to-site VPN or ExpressRoute private peering, up).
pub fn rp03_network_path(ctx: &CheckCtx<'_>) -> CheckResult {
    match ctx.inv.network {
        None => Err("no network between Azure and on-premises is known".into()),
        Some(n) if !matches!(n.link, SiteLink::Vpn | SiteLink::ExpressRoutePrivate) => {
            Err(format!(
                "Azure reaches on-premises only over {:?}, not a VPN or ExpressRoute private peering",
                n.link
            ))
        }
        Some(n) if !n.up => Err("the link between Azure and on-premises is down".into()),
        Some(_) => Ok(()),
    }
}

/// RP-04: the mobility agent on the Azure VM is registered with the CS.
pub fn rp04_agent(ctx: &CheckCtx<'_>) -> CheckResult {
    let vm = &ctx.item.spec.azure_vm;
    require(ctx.azure_vm().is_some_and(|a| a.agent_registered), || {
        format!(
            "the mobility agent on Azure VM `{vm}` is not installed or not registered with the configuration server"
        )
    })
}

/// RP-05: the Azure VM is running and reachable (78093).
pub fn rp05_azure_vm_running(ctx: &CheckCtx<'_>) -> CheckResult {
    let vm = &ctx.item.spec.azure_vm;
    match ctx.azure_vm() {
        None => Err(format!("Azure VM `{vm}` does not exist")),
        Some(a) if a.power == PowerState::Hung => Err(format!("Azure VM `{vm}` is not responding")),
        Some(a) if a.power != PowerState::On => Err(format!("Azure VM `{vm}` is not running")),
        Some(_) => Ok(()),
    }
}

/// RP-06: no snapshots on the master target.
pub fn rp06_mt_snapshots(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    require(mt.snapshots == 0, || {
        format!(
            "master target `{}` has {} snapshot(s)",
            mt.name, mt.snapshots
        )
    })
}

/// RP-07: the MT's OS type equals the VM's, and the MT is a VMware VM.
pub fn rp07_mt_os(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    require(mt.is_vmware_vm, || {
        format!("master target `{}` is not a VMware VM", mt.name)
    })?;
    require(mt.os == ctx.item.spec.os, || {
        format!(
            "master target `{}` runs {:?} but the VM runs {:?}",
            mt.name, mt.os, ctx.item.spec.os
        )
    })
}

/// RP-10: vCenter connected, and its discovery account may see datastores.
pub fn rp10_vcenter(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    let vc = ctx.inv.vcenter_of_host(&mt.host).ok_or_else(|| {
        format!(
            "the vCenter of master target host `{}` is not discovered",
            mt.host
        )
    })?;
    require(vc.connected, || {
        format!("vCenter `{}` is not connected", vc.name)
    })?;
    require(vc.account == DiscoveryAccount::Full, || {
        format!(
            "vCenter `{}` is discovered with a read-only account: datastores are not listed",
            vc.name
        )
    })
}

/// RP-11: the VM's disk UUIDs do not clash with the MT's (VMs cloned from one template).
pub fn rp11_disk_uuids(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    let Some(vm) = ctx.inv.onprem_vms.get(&ctx.item.spec.onprem_vm) else {
        return Ok(());
    };
    match vm.disks.iter().find(|d| mt.disk_uuids.contains(&d.uuid)) {
        Some(d) => Err(format!(
            "disk UUID {} of VM `{}` is also a disk of master target `{}`",
            d.uuid, vm.name, mt.name
        )),
        None => Ok(()),
    }
}

/// RP-12: the datastore is reachable read/write from the MT's ESXi host (8061).
pub fn rp12_datastore_access(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    let ds = &ctx.machine.ok_or("no datastore chosen")?.datastore;
    let host = ctx
        .inv
        .hosts
        .get(&mt.host)
        .ok_or_else(|| format!("ESXi host `{}` is not discovered", mt.host))?;
    require(ctx.inv.datastore_visible(ds).is_some(), || {
        format!("datastore `{ds}` is not discovered")
    })?;
    match host.mounts.get(ds) {
        Some(MountAccess::ReadWrite) if host.up => Ok(()),
        Some(MountAccess::ReadWrite) => Err(format!(
            "ESXi host `{}` of master target `{}` is down",
            host.name, mt.name
        )),
        Some(MountAccess::ReadOnly) => Err(format!(
            "datastore `{ds}` is mounted read-only on ESXi host `{}`",
            host.name
        )),
        None => Err(format!(
            "datastore `{ds}` is not mounted on ESXi host `{}` of master target `{}`",
            host.name, mt.name
        )),
    }
}

/// RP-13: the datastore is VMFS or vSAN; NFS is refused; RDM only for existing attached OLR disks.
pub fn rp13_datastore_type(ctx: &CheckCtx<'_>) -> CheckResult {
    let ds_name = &ctx.machine.ok_or("no datastore chosen")?.datastore;
    let Some(ds) = ctx.inv.datastores.get(ds_name) else {
        return Ok(());
    }; // RP-12 reports it missing
    match ds.kind {
        DatastoreKind::Vmfs | DatastoreKind::Vsan => Ok(()),
        DatastoreKind::Nfs => Err(format!(
            "datastore `{ds_name}` is NFS, which is not supported"
        )),
        DatastoreKind::Rdm => {
            let olr_rdm = ctx.mode == Some(RecoveryMode::Original)
                && ctx
                    .inv
                    .onprem_vms
                    .get(&ctx.item.spec.onprem_vm)
                    .is_some_and(|vm| vm.disks.iter().any(|d| d.rdm));
            require(olr_rdm, || {
                format!(
                    "datastore `{ds_name}` is RDM-backed, allowed only when the VM's RDM disks exist and are attached"
                )
            })
        }
    }
}

/// RP-14: at most 60 disks on one MT, its own plus protected.
pub fn rp14_disk_limit(ctx: &CheckCtx<'_>) -> CheckResult {
    if ctx.config.sabotaged(crate::Sabotage::IgnoreDiskLimit) {
        return Ok(()); // SABOTAGE ignore-disk-limit: a master target may get any number of disks
    }
    let mt = ctx.master_target()?;
    let total = mt.own_disks + ctx.mt_disks_in_use + ctx.disks.len() as u32;
    let max = ctx.config.max_disks_per_master_target;
    require(total <= max, || {
        format!(
            "master target `{}` would have {total} disks attached (its own {}, protected or being protected {}, this VM {}); at most {max}",
            mt.name,
            mt.own_disks,
            ctx.mt_disks_in_use,
            ctx.disks.len()
        )
    })
}

/// RP-15: the retention drive exists, is not FAT, not the cache volume, not a replication target, capacity > 0.
pub fn rp15_retention_drive(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    let name = &ctx
        .machine
        .ok_or("no retention drive chosen")?
        .retention_drive;
    let d = mt
        .retention_drives
        .iter()
        .find(|d| &d.name == name)
        .ok_or_else(|| {
            format!(
                "retention drive `{name}` does not exist on master target `{}`",
                mt.name
            )
        })?;
    require(d.fs != FileSystem::Fat, || {
        format!("retention drive `{name}` is FAT")
    })?;
    require(!d.is_cache_volume, || {
        format!("retention drive `{name}` is the cache volume")
    })?;
    require(!d.is_replication_target, || {
        format!("retention drive `{name}` is used as a replication target")
    })?;
    require(d.capacity_bytes > 0, || {
        format!("retention drive `{name}` has no capacity")
    })
}

/// RP-16: for alternate location recovery, no VM of the same name on the MT's ESXi host (78052).
pub fn rp16_name_collision(ctx: &CheckCtx<'_>) -> CheckResult {
    if ctx.mode != Some(RecoveryMode::Alternate) {
        return Ok(());
    }
    let mt = ctx.master_target()?;
    let name = &ctx.item.spec.onprem_vm;
    let clash = ctx
        .inv
        .onprem_vms
        .get(name)
        .is_some_and(|vm| vm.host == mt.host);
    require(!clash, || {
        format!(
            "a VM named `{name}` already exists on ESXi host `{}`",
            mt.host
        )
    })
}

/// RP-17: a Linux MT has no LVM for root or retention, `disk.EnableUUID=TRUE` and an LSI Logic controller.
pub fn rp17_linux_mt(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    if mt.os != OsType::Linux {
        return Ok(());
    }
    require(!mt.lvm_root_or_retention, || {
        format!(
            "Linux master target `{}` uses LVM for root or retention",
            mt.name
        )
    })?;
    require(mt.enable_uuid, || {
        format!(
            "Linux master target `{}` lacks disk.EnableUUID=TRUE",
            mt.name
        )
    })?;
    require(mt.controller == Controller::LsiLogic, || {
        format!(
            "Linux master target `{}` has a {:?} controller, not LSI Logic",
            mt.name, mt.controller
        )
    })
}

/// RP-18: failback only to the original vCenter and CS (an alternate vCenter if allowed and discovered).
pub fn rp18_original_vcenter(ctx: &CheckCtx<'_>) -> CheckResult {
    let mt = ctx.master_target()?;
    let original = &ctx.item.spec.original_vcenter;
    let Some(host) = ctx.inv.hosts.get(&mt.host) else {
        return Err(format!(
            "ESXi host `{}` of master target `{}` is not discovered",
            mt.host, mt.name
        ));
    };
    if &host.vcenter == original {
        return Ok(());
    }
    let discovered = ctx.inv.vcenters.contains_key(&host.vcenter)
        && ctx
            .inv
            .config_server
            .as_ref()
            .is_some_and(|cs| cs.vcenters.contains(&host.vcenter));
    require(ctx.config.allow_alternate_vcenter && discovered, || {
        format!(
            "master target `{}` is under vCenter `{}`, not the original vCenter `{original}`",
            mt.name, host.vcenter
        )
    })
}

/// RP-20: the MT's version is not newer than the PS's and the CS's. A warning: reprotect succeeds, the
/// replication then fails (world behaviour).
pub fn rp20_versions(ctx: &CheckCtx<'_>) -> Verdict {
    let (Ok(mt), Some(m)) = (ctx.master_target(), ctx.machine) else {
        return Verdict::Pass;
    };
    let ps = ctx
        .inv
        .process_servers
        .get(&m.process_server)
        .map(|p| p.version);
    let cs = ctx.inv.config_server.as_ref().map(|c| c.version);
    let newer: Vec<String> = [("process server", ps), ("configuration server", cs)]
        .into_iter()
        .filter_map(|(what, v)| {
            v.filter(|v| mt.version > *v)
                .map(|v| format!("{what} ({v})"))
        })
        .collect();
    if newer.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Warn {
            message: format!(
                "RP-20: master target `{}` version {} is newer than the {}; replication will fail after reprotect",
                mt.name,
                mt.version,
                newer.join(" and ")
            ),
        }
    }
}

/// RJ-06: original location recovery without `disk.EnableUUID=TRUE` cannot find the original disks: an
/// extra disk is created and fully copied. A warning.
pub fn rj06_enable_uuid(ctx: &CheckCtx<'_>) -> Verdict {
    if ctx.mode != Some(RecoveryMode::Original) {
        return Verdict::Pass;
    }
    match ctx.inv.onprem_vms.get(&ctx.item.spec.onprem_vm) {
        Some(vm) if !vm.enable_uuid => Verdict::Warn {
            message: format!(
                "RJ-06: VM `{}` lacks disk.EnableUUID=TRUE: its original disks cannot be found, extra disks are created and fully copied",
                vm.name
            ),
        },
        _ => Verdict::Pass,
    }
}
