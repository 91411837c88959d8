//! INV-LOSS: after a failback to "latest", the on-prem disks hold every write the Azure VM acknowledged
//! before shutdown; to an older point, the loss equals the writes after that point and is reported, not
//! flagged (DOMAIN.md §6, FB-03).

use super::{Checker, StepView, Violation};
use drsim_engine::ids::ItemId;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::lifecycle::Operation;
use drsim_engine::recovery_point::PointChoice;
use drsim_world::world::Machine;

/// The INV-LOSS checker; it also keeps the data lost by failbacks to older points.
#[derive(Default)]
pub struct LossChecker {
    /// Bytes lost per failed-back item (writes acknowledged after the chosen point).
    pub losses: Vec<(ItemId, u64)>,
}

/// Bytes a failed-back machine lost: what its Azure copy had acknowledged at shutdown minus what the
/// recovered point holds, over the replicated disks. None before a shutdown and a recovery.
pub fn bytes_lost(m: &Machine) -> Option<u64> {
    let at_shutdown = m.azure_generation_at_shutdown.as_ref()?;
    let point = m.recovered_point.as_ref()?;
    Some(
        point
            .disks
            .iter()
            .zip(&point.generations)
            .map(|(d, p)| at_shutdown.get(*d).map_or(0, |s| s.saturating_sub(*p)))
            .sum(),
    )
}

/// Why a failback to "latest" lost data, if it did: a replicated disk whose recovered generation differs
/// from what the Azure copy had acknowledged at shutdown.
pub fn latest_violation(m: &Machine) -> Option<String> {
    let (Some(at_shutdown), Some(point)) = (&m.azure_generation_at_shutdown, &m.recovered_point)
    else {
        return Some(format!(
            "`{}` failed back without a shutdown and a recovered point",
            m.item
        ));
    };
    point.disks.iter().zip(&point.generations).find(|(d, p)| at_shutdown.get(**d) != Some(*p)).map(|(d, p)| {
        format!(
            "disk `{}` of `{}` was recovered to generation {p}; the Azure VM had acknowledged {:?} before shutdown",
            m.disks.get(*d).map_or("?", |x| x.name.as_str()),
            m.item,
            at_shutdown.get(*d)
        )
    })
}

impl Checker for LossChecker {
    fn id(&self) -> &'static str {
        "INV-LOSS"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        for j in view.succeeded_jobs(&[Operation::Failback, Operation::ChangeRecoveryPoint]) {
            // A change of point after failover recovers in Azure: nothing to check on-prem.
            if j.tasks
                .values()
                .any(|t| t.start_state == ItemState::FailedOver)
            {
                continue;
            }
            for item in j.items() {
                let Some(m) = view.world.machines().get(item) else {
                    continue;
                };
                if j.point == Some(PointChoice::Latest) {
                    if let Some(message) = latest_violation(m) {
                        found.push(Violation {
                            invariant: "INV-LOSS",
                            at_ms: view.now,
                            item: Some(item.clone()),
                            message,
                        });
                    }
                } else if let Some(lost) = bytes_lost(m) {
                    self.losses.push((item.clone(), lost));
                }
            }
        }
    }
}
