//! Replication group checks RG-01, RG-02 and the reprotect group rules RP-08, RP-09 (DOMAIN.md §3).

use super::{CheckCtx, CheckResult, require};

/// RP-08: every VM of a replication group uses the same master target.
pub fn rp08_same_mt(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(mine) = ctx.machine else {
        return Ok(());
    };
    match ctx
        .group
        .iter()
        .filter_map(|p| p.machine)
        .find(|m| m.master_target != mine.master_target)
    {
        Some(other) => Err(format!(
            "item `{}` uses master target `{}` but group member `{}` uses `{}`: no common point in time",
            ctx.item.id(),
            mine.master_target,
            other.item,
            other.master_target
        )),
        None => Ok(()),
    }
}

/// RP-09: a replication group is reprotected only through a recovery plan, with values for every machine.
pub fn rp09_group_through_plan(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(group) = &ctx.item.spec.replication_group else {
        return Ok(());
    };
    require(ctx.plan.is_some(), || {
        format!(
            "item `{}` is in replication group `{group}`: reprotect it through a recovery plan",
            ctx.item.id()
        )
    })?;
    match ctx.group.iter().find(|p| p.machine.is_none() || !p.in_job) {
        Some(p) => Err(format!(
            "replication group `{group}` member `{}` has no reprotect values in this job",
            p.record.id()
        )),
        None => Ok(()),
    }
}

/// RG-01: at most 16 VMs per replication group.
pub fn rg01_group_size(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(group) = &ctx.item.spec.replication_group else {
        return Ok(());
    };
    let max = ctx.config.max_vms_per_group as usize;
    require(ctx.group.len() <= max, || {
        format!(
            "replication group `{group}` has {} VMs; at most {max}",
            ctx.group.len()
        )
    })
}

/// RG-02: members share one OS type and one master target.
pub fn rg02_same_os_and_mt(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(group) = &ctx.item.spec.replication_group else {
        return Ok(());
    };
    if let Some(p) = ctx
        .group
        .iter()
        .find(|p| p.record.spec.os != ctx.item.spec.os)
    {
        return Err(format!(
            "replication group `{group}` mixes {:?} (`{}`) and {:?} (`{}`)",
            ctx.item.spec.os,
            ctx.item.id(),
            p.record.spec.os,
            p.record.id()
        ));
    }
    rp08_same_mt(ctx)
}

/// RG-03: a replication group fails back together, all members or none: the job must include every member.
pub fn rg03_whole_group(ctx: &CheckCtx<'_>) -> CheckResult {
    let Some(group) = &ctx.item.spec.replication_group else {
        return Ok(());
    };
    match ctx.group.iter().find(|p| !p.in_job) {
        Some(p) => Err(format!(
            "replication group `{group}` member `{}` is not in this failback; a group fails back together",
            p.record.id()
        )),
        None => Ok(()),
    }
}
