//! INV-STATE: every transition is one the lifecycle allows (DOMAIN.md §2), each item's transitions chain
//! (a change starts from the state the last one ended in), and no job starts on an item whose state does
//! not allow its operation.

use super::{Checker, StepView, Violation};
use drsim_engine::ids::ItemId;
use drsim_engine::lifecycle::{ItemState, transition_allowed};
use drsim_engine::name_map::NameMap;
use drsim_engine::protocol::{JobEvent, Output};

/// The INV-STATE checker.
#[derive(Default)]
pub struct StateChecker {
    /// Found by hash: looked up for every state change and job item (issue 6).
    last: NameMap<ItemId, ItemState>,
}

impl Checker for StateChecker {
    fn id(&self) -> &'static str {
        "INV-STATE"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        if self.last.is_empty() {
            // Before the first change, the items are where the vault said they start.
            for (id, rec) in view.engine.items() {
                self.last.insert(id.clone(), rec.spec.state);
            }
        }
        for o in view.checked() {
            match o {
                Output::Job(JobEvent::Created {
                    job,
                    operation,
                    items,
                    ..
                }) => {
                    for i in items {
                        let state = self.last.get(i).copied();
                        if state.is_some_and(|s| !operation.allowed_in(s)) {
                            found.push(Violation {
                                invariant: "INV-STATE",
                                at_ms: view.now,
                                item: Some(i.clone()),
                                message: format!(
                                    "{job} runs {operation} on `{i}` in state {}",
                                    state.unwrap_or(ItemState::Disabled)
                                ),
                            });
                        }
                    }
                }
                Output::ItemState { item, from, to } => {
                    let last = self.last.insert(item.clone(), *to);
                    if last.is_some_and(|l| l != *from) {
                        found.push(Violation {
                            invariant: "INV-STATE",
                            at_ms: view.now,
                            item: Some(item.clone()),
                            message: format!(
                                "`{item}` moved {from} → {to}, but was {}",
                                last.unwrap_or(*from)
                            ),
                        });
                    }
                    if !transition_allowed(*from, *to) {
                        found.push(Violation {
                            invariant: "INV-STATE",
                            at_ms: view.now,
                            item: Some(item.clone()),
                            message: format!(
                                "`{item}` moved {from} → {to}, which the lifecycle does not allow"
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
    }
}
