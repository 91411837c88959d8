//! INV-SPLIT: never both copies of a machine powered on and writable (DOMAIN.md §6), made precise
//! (issue 4): the engine never asks to power one copy on while the other is on; when a fault powers the
//! second copy on by hand, the engine must raise a critical alert within one discovery interval (plus a
//! minute of slack) and must not power anything on for that machine until it is resolved.

use super::{Changed, Checker, StepView, Violation, VmWatch};
use drsim_engine::Millis;
use drsim_engine::ids::{ItemId, VmName};
use drsim_engine::inventory::PowerState;
use drsim_engine::protocol::{ActionKind, AlertKind, Output};
use drsim_engine::time::MINUTE_MS;
use drsim_world::faults::Fault;
use std::collections::BTreeMap;

/// How long the engine may take to notice a copy powered on by hand: one discovery interval and slack.
pub const DETECTION_MS: Millis = 15 * MINUTE_MS + MINUTE_MS;

#[derive(Clone, Copy, Debug, Default)]
struct Overlap {
    since: Option<Millis>,
    alerted: bool,
    reported: bool,
}

/// The INV-SPLIT checker.
#[derive(Default)]
pub struct SplitChecker {
    overlap: BTreeMap<ItemId, Overlap>,
    /// Items whose split-brain alert stands (raised, not yet resolved): a copy powered on by hand again
    /// while it stands is covered by it (found by `drsim fuzz`: the VM went off and on behind a
    /// disconnected vCenter, and the engine rightly kept its alert up instead of raising a second one).
    raised: std::collections::BTreeSet<ItemId>,
    watch: VmWatch,
}

fn running(p: Option<PowerState>) -> bool {
    matches!(p, Some(PowerState::On | PowerState::Hung))
}

impl Checker for SplitChecker {
    fn id(&self) -> &'static str {
        "INV-SPLIT"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        let estate = view.world.estate();
        let (faults, active) = view.world.faults();
        // When a fault started a copy behind the engine's back (None: no such fault is active). A hung
        // Azure VM was not started by anyone: it excuses nothing.
        let by_hand_since = |vm: &VmName| {
            active
                .iter()
                .filter(|i| matches!(&faults[**i].fault, Fault::OnPremPoweredOnByHand { vm: v } if v == vm))
                .map(|i| faults[*i].at_ms)
                .max()
        };
        for o in view.checked() {
            let Output::Alert(a) = o else { continue };
            match a.kind {
                AlertKind::SplitBrainRisk { .. } => {
                    self.overlap.entry(a.item.clone()).or_default().alerted = true;
                    self.raised.insert(a.item.clone());
                }
                AlertKind::SplitBrainResolved { .. } => {
                    self.raised.remove(&a.item);
                }
                _ => {}
            }
        }
        // The engine never asks for a copy to start while the other runs. A copy powered on by hand excuses
        // the engine only until it has been told (its split-brain alert); after that, nothing may start.
        for o in view.checked() {
            let Output::Action(a) = o else { continue };
            // (only an action that starts a copy can make a second one run: the others look nothing up)
            let starts = matches!(
                a.kind,
                ActionKind::PowerOnOnPremVm { .. }
                    | ActionKind::StartAzureVm { .. }
                    | ActionKind::FailoverToAzure { .. }
            );
            let (true, Some(item)) = (starts, &a.item) else {
                continue;
            };
            let Some(m) = view.world.machines().get(item) else {
                continue;
            };
            let onprem_on = running(estate.onprem_vms.get(&m.onprem_vm).map(|v| v.power));
            let azure_on = running(estate.azure_vms.get(&m.azure_vm).map(|v| v.power));
            let told =
                self.overlap.get(item).is_some_and(|o| o.alerted) || self.raised.contains(item);
            let bad = match &a.kind {
                ActionKind::PowerOnOnPremVm { .. } => azure_on,
                ActionKind::StartAzureVm { .. } | ActionKind::FailoverToAzure { .. } => {
                    onprem_on && (told || by_hand_since(&m.onprem_vm).is_none())
                }
                _ => false,
            };
            if bad {
                found.push(Violation {
                    invariant: "INV-SPLIT",
                    at_ms: view.now,
                    item: Some(item.clone()),
                    message: format!(
                        "the engine asked for {} while the other copy of `{item}` runs",
                        a.kind.name()
                    ),
                });
            }
        }
        // Machines whose VMs changed, and those that overlap or were just alerted (their state is kept only
        // while both copies run).
        let candidates: Vec<ItemId> = match self.watch.changed(view.world) {
            Changed::All => view.world.machines().keys().cloned().collect(),
            Changed::Items(mut set) => {
                set.extend(self.overlap.keys().cloned());
                set.into_iter().collect()
            }
        };
        for item in &candidates {
            let Some(m) = view.world.machines().get(item) else {
                self.overlap.remove(item);
                continue;
            };
            let onprem_on = running(estate.onprem_vms.get(&m.onprem_vm).map(|v| v.power));
            let azure_on = running(estate.azure_vms.get(&m.azure_vm).map(|v| v.power));
            if !(onprem_on && azure_on) {
                self.overlap.remove(item);
                continue;
            }
            let standing = self.raised.contains(item);
            let o = self.overlap.entry(item.clone()).or_default();
            o.alerted |= standing;
            // An overlap a fault caused dates from the fault, however sparse the steps are.
            let fault_at = by_hand_since(&m.onprem_vm);
            let since = *o.since.get_or_insert(fault_at.unwrap_or(view.now));
            let behind_the_back = fault_at.is_some();
            if !behind_the_back && !o.reported {
                o.reported = true;
                found.push(Violation {
                    invariant: "INV-SPLIT",
                    at_ms: view.now,
                    item: Some(item.clone()),
                    message: format!("both copies of `{item}` are powered on"),
                });
            } else if behind_the_back
                && !o.alerted
                && !o.reported
                && view.now > since + DETECTION_MS
            {
                o.reported = true;
                found.push(Violation {
                    invariant: "INV-SPLIT",
                    at_ms: view.now,
                    item: Some(item.clone()),
                    message: format!(
                        "both copies of `{item}` run since {since} ms and the engine raised no split-brain alert within {DETECTION_MS} ms"
                    ),
                });
            }
        }
    }
}
