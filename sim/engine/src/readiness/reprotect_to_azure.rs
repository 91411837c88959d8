//! Re-protect to Azure after failback (RA-01; RA-02/RA-03 are job behaviour).

use super::{CheckCtx, CheckResult, require};
use crate::inventory::PowerState;
use crate::lifecycle::ItemState;

/// RA-01: only after failback commit, with the machine running on-prem.
pub fn ra01_running_on_prem(ctx: &CheckCtx<'_>) -> CheckResult {
    let id = ctx.item.id();
    require(
        matches!(
            ctx.item.state,
            ItemState::OnPrem | ItemState::ReprotectingToAzure
        ),
        || {
            format!(
                "item `{id}` is {}: re-protect to Azure needs a committed failback",
                ctx.item.state
            )
        },
    )?;
    let name = &ctx.item.spec.onprem_vm;
    require(
        ctx.inv
            .onprem_vms
            .get(name)
            .is_some_and(|vm| vm.power == PowerState::On),
        || format!("on-premises VM `{name}` is not running"),
    )
}
