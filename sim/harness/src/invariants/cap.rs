//! INV-CAP: no datastore over capacity, no master target over 60 disks (RP-14). Retention drives and PS
//! caches are not over-filled by construction in the world's model (a PS cache holds at most its size;
//! retention usage is not modelled yet), so they have nothing to check here.

use super::{Checker, StepView, Violation};
use drsim_engine::ids::{DatastoreName, MasterTargetName};
use drsim_engine::inventory::DatastoreView;
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
/// building a map: both maps are walked together in name order (the checker's first step, and
/// [`mt_disks`]; after that the checker counts only the master targets logged as changed). A name
/// attached to but not in the estate comes with its attached disks alone.
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

/// The INV-CAP checker. It counts every master target and reads every datastore once, at its first
/// step; after that only those the world logged as changed since (attachments, datastore changes): a
/// walk of all 528 master targets after each attach and all 100 datastores after each step grew with
/// the square of the fleet (issue 6).
#[derive(Default)]
pub struct CapChecker {
    reported: BTreeSet<String>,
    /// How far the world's attachment log and the estate's master target and datastore logs have been
    /// read (None: not yet; the first step reads everything).
    read_to: Option<(usize, usize, usize)>,
}

impl CapChecker {
    fn check_mt(&mut self, mt: &MasterTargetName, n: u32, now: u64, found: &mut Vec<Violation>) {
        if n > 60 && self.reported.insert(format!("mt/{mt}")) {
            found.push(Violation {
                invariant: "INV-CAP",
                at_ms: now,
                item: None,
                message: format!("master target `{mt}` has {n} disks attached; at most 60"),
            });
        }
    }

    fn check_datastore(&mut self, d: &DatastoreView, now: u64, found: &mut Vec<Violation>) {
        if d.free_bytes > d.capacity_bytes && self.reported.insert(format!("ds/{}", d.name)) {
            found.push(Violation {
                invariant: "INV-CAP",
                at_ms: now,
                item: None,
                message: format!(
                    "datastore `{}` claims {} bytes free of {}",
                    d.name, d.free_bytes, d.capacity_bytes
                ),
            });
        }
    }
}

impl Checker for CapChecker {
    fn id(&self) -> &'static str {
        "INV-CAP"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        let (world, estate) = (view.world, view.world.estate());
        let (attach_log, mt_log, ds_log) = (
            world.attachment_changes(),
            estate.master_target_changes(),
            estate.datastore_changes(),
        );
        match self.read_to {
            None => {
                each_mt_disks(world, |mt, n| self.check_mt(mt, n, view.now, found));
                for d in estate.datastores.values() {
                    self.check_datastore(d, view.now, found);
                }
            }
            Some((attach_read, mt_read, ds_read)) => {
                let mut mts: Vec<&MasterTargetName> = (attach_log[attach_read..].iter())
                    .chain(&mt_log[mt_read..])
                    .collect();
                mts.sort_unstable();
                mts.dedup();
                for mt in mts {
                    let own = estate.master_targets.get(mt).map_or(0, |m| m.own_disks);
                    let attached = world.attached_disks().get(mt).copied().unwrap_or(0);
                    self.check_mt(mt, own + attached, view.now, found);
                }
                let mut dss: Vec<&DatastoreName> = ds_log[ds_read..].iter().collect();
                dss.sort_unstable();
                dss.dedup();
                for d in dss.into_iter().filter_map(|d| estate.datastores.get(d)) {
                    self.check_datastore(d, view.now, found);
                }
            }
        }
        self.read_to = Some((attach_log.len(), mt_log.len(), ds_log.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Runner;
    use drsim_engine::EngineConfig;
    use drsim_engine::time::{HOUR_MS, MINUTE_MS};
    use drsim_world::sample::{SampleEstate, reprotect};

    fn check(c: &mut CapChecker, r: &Runner) -> Vec<Violation> {
        let mut found = Vec::new();
        let view = StepView::new(r.world.now(), &r.world, &r.engine, &[]);
        c.after_step(&view, &mut found);
        found
    }

    #[test]
    fn reads_everything_at_its_first_step_then_only_what_the_logs_say_changed() {
        // A world that miscounts: ds1 claims far more free space than it has (still after a claim).
        let (mut spec, items) = SampleEstate {
            onprem_exists: false, // a reprotect to an alternate location: new disks on ds1
            ..SampleEstate::default()
        }
        .build();
        let ds = &mut spec.datastores[0];
        ds.free_bytes = 2 * ds.capacity_bytes + 1;
        let mut r = Runner::new(spec, items, EngineConfig::default()).unwrap();
        r.run_until(MINUTE_MS);

        // its first step reads every datastore
        let found = check(&mut CapChecker::default(), &r);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("claims"), "{}", found[0].message);

        // one that has read the logs to their end looks only at what changes after
        let mut c = CapChecker::default();
        let _ = check(&mut c, &r);
        c.reported.clear();
        assert!(check(&mut c, &r).is_empty(), "ds1 has not changed");
        let ds_changes = r.world.estate().datastore_changes().len();
        // a reprotect prepares its target on ds1 (taking space: a change of ds1)
        r.schedule_command(r.world.now(), reprotect(0));
        r.run_until(2 * HOUR_MS);
        assert!(r.world.estate().datastore_changes().len() > ds_changes);
        let found = check(&mut c, &r);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("ds1"), "{}", found[0].message);
    }
}
