//! INV-OFF: the on-prem VM stays off from reprotect start until failback powers it on (RJ-02). The
//! reprotect's own power-off gets a grace period; once the VM has been seen off, any power-on that is not
//! the failback's (nor a fault's, which INV-SPLIT's detection rule covers) breaks it. A VM powered on by
//! hand before the reprotect must still be off after the grace period: RJ-02 powers it off at the start.

use super::{Changed, Checker, StepView, Violation, VmWatch};
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::inventory::PowerState;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::name_map::NameMap;
use drsim_engine::protocol::{ActionKind, Output};
use drsim_engine::time::MINUTE_MS;
use drsim_world::faults::Fault;

/// How long the reprotect may take to power the on-prem VM off.
pub const GRACE_MS: Millis = 15 * MINUTE_MS;

#[derive(Clone, Copy, Debug)]
struct Watch {
    since: Millis,
    seen_off: bool,
    reported: bool,
}

/// The INV-OFF checker.
#[derive(Default)]
pub struct OffChecker {
    /// Hashed (looked up for every candidate at every step: at 10,000 items, comparing names down a
    /// tree was 30 % of the checker; issue 6); walked in item order when every machine is looked at.
    watching: NameMap<ItemId, Watch>,
    state: NameMap<ItemId, ItemState>,
    seeded: bool,
    /// Watched items not yet seen off nor reported: looked at every step (their grace runs out).
    unsettled: std::collections::BTreeSet<ItemId>,
    watch: VmWatch,
}

impl OffChecker {
    /// Watches `item` from `now` (afresh): its on-prem VM must be off once the grace period is over.
    fn watch(&mut self, item: &ItemId, now: Millis) {
        self.unsettled.insert(item.clone());
        self.watching.insert(
            item.clone(),
            Watch {
                since: now,
                seen_off: false,
                reported: false,
            },
        );
    }
}

impl Checker for OffChecker {
    fn id(&self) -> &'static str {
        "INV-OFF"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        if !self.seeded {
            // Items that start Protected (Azure → on-prem) are watched from the start.
            self.seeded = true;
            for (id, rec) in view.engine.items() {
                self.state.insert(id.clone(), rec.spec.state);
                if rec.spec.state == ItemState::ProtectedToOnPrem {
                    self.watch(id, view.now);
                }
            }
        }
        for o in view.checked() {
            match o {
                Output::ItemState { item, to, .. } => {
                    self.state.insert(item.clone(), *to);
                    match to {
                        ItemState::Reprotecting => self.watch(item, view.now),
                        // Back to Protected (a reprotect done, a failback undone): watched again.
                        ItemState::ProtectedToOnPrem => {
                            if !self.watching.contains_key(item) {
                                self.watch(item, view.now);
                            }
                        }
                        ItemState::FailingBack => {}
                        _ => {
                            self.watching.remove(item);
                        }
                    }
                }
                // Only the failback's own power-on ends the watch.
                Output::Action(a) if matches!(a.kind, ActionKind::PowerOnOnPremVm { .. }) => {
                    if let Some(item) = &a.item
                        && self.state.get(item) == Some(&ItemState::FailingBack)
                    {
                        self.watching.remove(item);
                    }
                }
                _ => {}
            }
        }
        let (faults, active) = view.world.faults();
        // Watched machines whose VMs changed, and those whose grace may run out now.
        let candidates: Vec<ItemId> = match self.watch.changed(view.world) {
            Changed::All => self.watching.keys().cloned().collect(),
            Changed::Items(mut set) => {
                set.extend(self.unsettled.iter().cloned());
                set.into_iter().collect()
            }
        };
        self.unsettled.retain(|i| self.watching.contains_key(i));
        for item in &candidates {
            let Some(w) = self.watching.get_mut(item) else {
                continue;
            };
            let Some(m) = view.world.machines().get(item) else {
                continue;
            };
            let on = view
                .world
                .estate()
                .onprem_vms
                .get(&m.onprem_vm)
                .is_some_and(|v| v.power != PowerState::Off);
            let by_hand = active.iter().any(|i| matches!(&faults[*i].fault, Fault::OnPremPoweredOnByHand { vm } if *vm == m.onprem_vm));
            if !on {
                w.seen_off = true;
                self.unsettled.remove(item);
                continue;
            }
            // A VM powered on by hand is the user's doing (INV-SPLIT's detection rule covers it) — but
            // only once the reprotect has had it off: RJ-02 powers the VM off at the start whatever
            // state it is in, so one still on after the grace period is the engine's failure.
            if (by_hand && w.seen_off)
                || w.reported
                || (!w.seen_off && view.now <= w.since + GRACE_MS)
            {
                continue;
            }
            w.reported = true;
            self.unsettled.remove(item);
            found.push(Violation {
                invariant: "INV-OFF",
                at_ms: view.now,
                item: Some(item.clone()),
                message: format!("on-prem VM `{}` runs during the reprotect/protection of `{item}` (since {} ms)", m.onprem_vm, w.since),
            });
        }
    }
}
