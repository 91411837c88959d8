//! INV-CAP: no datastore over capacity, no master target over 60 disks (RP-14). Retention drives and PS
//! caches are not over-filled by construction in the world's model (a PS cache holds at most its size;
//! retention usage is not modelled yet), so they have nothing to check here.

use super::{Checker, StepView, Violation};
use drsim_engine::ids::MasterTargetName;
use drsim_world::World;
use std::collections::{BTreeMap, BTreeSet};

/// Disks attached to each master target now: its own and the protected machines'.
pub fn mt_disks(world: &World) -> BTreeMap<MasterTargetName, u32> {
    let mut n = BTreeMap::new();
    each_mt_disks(world, |mt, k| {
        *n.entry(mt.clone()).or_insert(0) += k;
    });
    n
}

/// Calls `f` with each master target and the disks attached to it now ([`mt_disks`]), without
/// building a map: both maps are walked together in name order (the checker counts after every attach
/// or detach, 10,000 of them for 528 master targets at 10k machines, issue 6). A name attached to but
/// not in the estate comes with its attached disks alone.
fn each_mt_disks(world: &World, mut f: impl FnMut(&MasterTargetName, u32)) {
    let mut own = world.estate().master_targets.values().peekable();
    let mut attached = world.attached_disks().iter().peekable();
    loop {
        match (own.peek(), attached.peek()) {
            (Some(m), Some((a, k))) if m.name == **a => {
                f(&m.name, m.own_disks + **k);
                own.next();
                attached.next();
            }
            (Some(m), Some((a, _))) if m.name < **a => {
                f(&m.name, m.own_disks);
                own.next();
            }
            (Some(m), None) => {
                f(&m.name, m.own_disks);
                own.next();
            }
            (_, Some((a, k))) => {
                f(a, **k);
                attached.next();
            }
            (None, None) => break,
        }
    }
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
        if self.counted_at != Some(epoch) {
            self.counted_at = Some(epoch);
            let reported = &mut self.reported;
            each_mt_disks(view.world, |mt, n| {
                if n > 60 && reported.insert(format!("mt/{mt}")) {
                    found.push(Violation {
                        invariant: "INV-CAP",
                        at_ms: view.now,
                        item: None,
                        message: format!("master target `{mt}` has {n} disks attached; at most 60"),
                    });
                }
            });
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
