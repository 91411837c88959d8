//! INV-CAP: no datastore over capacity, no master target over 60 disks (RP-14). Retention drives and PS
//! caches are not over-filled by construction in the world's model (a PS cache holds at most its size;
//! retention usage is not modelled yet), so they have nothing to check here.

use super::{Checker, StepView, Violation};
use drsim_engine::ids::MasterTargetName;
use drsim_world::World;
use std::collections::{BTreeMap, BTreeSet};

/// Disks attached to each master target now: its own and the protected machines'.
pub fn mt_disks(world: &World) -> BTreeMap<MasterTargetName, u32> {
    let mut n: BTreeMap<MasterTargetName, u32> = world
        .estate()
        .master_targets
        .values()
        .map(|m| (m.name.clone(), m.own_disks))
        .collect();
    for (mt, k) in world.attached_disks() {
        *n.entry(mt.clone()).or_insert(0) += k;
    }
    n
}

/// The INV-CAP checker.
#[derive(Default)]
pub struct CapChecker {
    reported: BTreeSet<String>,
    /// The world's attachment epoch when the master targets were last counted (None: never).
    counted_at: Option<u64>,
}

impl Checker for CapChecker {
    fn id(&self) -> &'static str {
        "INV-CAP"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        // attachments change only with attach/detach actions: count again only then
        let epoch = view.world.attachments_epoch();
        let recount = self.counted_at != Some(epoch);
        self.counted_at = Some(epoch);
        for (mt, n) in recount.then(|| mt_disks(view.world)).into_iter().flatten() {
            if n > 60 && self.reported.insert(format!("mt/{mt}")) {
                found.push(Violation {
                    invariant: "INV-CAP",
                    at_ms: view.now,
                    item: None,
                    message: format!("master target `{mt}` has {n} disks attached; at most 60"),
                });
            }
        }
        for d in view.world.estate().datastores.values() {
            if d.free_bytes > d.capacity_bytes && self.reported.insert(format!("ds/{}", d.name)) {
                found.push(Violation {
                    invariant: "INV-CAP",
                    at_ms: view.now,
                    item: None,
                    message: format!(
                        "datastore `{}` claims {} bytes free of {}",
                        d.name, d.free_bytes, d.capacity_bytes
                    ),
                });
            }
        }
    }
}
