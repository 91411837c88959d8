//! INV-GROUP: replication group members share one MT and one OS; a group fails back together to one
//! common point (RG-02, RG-03).

use super::{Checker, StepView, Violation};
use drsim_engine::Millis;
use drsim_engine::ids::{GroupId, ItemId, JobId, MasterTargetName};
use drsim_engine::lifecycle::Operation;
use drsim_engine::protocol::{ActionKind, JobEvent, Output};
use std::collections::BTreeMap;

/// The INV-GROUP checker.
#[derive(Default)]
pub struct GroupChecker {
    /// The point each group recovered to, per job.
    points: BTreeMap<(JobId, GroupId), (ItemId, Millis)>,
    /// The MT each group's members were prepared on, per job.
    targets: BTreeMap<(JobId, GroupId), (ItemId, MasterTargetName)>,
}

impl Checker for GroupChecker {
    fn id(&self) -> &'static str {
        "INV-GROUP"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        let group_of = |item: &ItemId| {
            view.engine
                .item(item)
                .and_then(|r| r.spec.replication_group.clone())
        };
        for o in view.checked() {
            match o {
                Output::Action(a) => {
                    // (the kind first: a group is looked up only for the two actions that must agree)
                    let pick = matches!(
                        a.kind,
                        ActionKind::RecoverOnPrem { .. } | ActionKind::PrepareTarget { .. }
                    );
                    let (true, Some(job), Some(item)) = (pick, a.job, &a.item) else {
                        continue;
                    };
                    let Some(g) = group_of(item) else { continue };
                    match &a.kind {
                        ActionKind::RecoverOnPrem { point_tag_ms, .. } => {
                            let first = self
                                .points
                                .entry((job, g.clone()))
                                .or_insert((item.clone(), *point_tag_ms));
                            if first.1 != *point_tag_ms {
                                found.push(Violation {
                                    invariant: "INV-GROUP",
                                    at_ms: view.now,
                                    item: Some(item.clone()),
                                    message: format!(
                                        "group `{g}`: `{item}` recovers to point {point_tag_ms}, `{}` to {}",
                                        first.0, first.1
                                    ),
                                });
                            }
                        }
                        ActionKind::PrepareTarget { master_target, .. } => {
                            let first = self
                                .targets
                                .entry((job, g.clone()))
                                .or_insert((item.clone(), master_target.clone()));
                            if first.1 != *master_target {
                                found.push(Violation {
                                    invariant: "INV-GROUP",
                                    at_ms: view.now,
                                    item: Some(item.clone()),
                                    message: format!("group `{g}`: `{item}` uses master target `{master_target}`, `{}` uses `{}`", first.0, first.1),
                                });
                            }
                        }
                        _ => {}
                    }
                }
                Output::Job(JobEvent::Ended { job, .. }) => {
                    let Some(j) = view.engine.job(*job) else {
                        continue;
                    };
                    if !matches!(j.operation, Operation::Failback | Operation::Reprotect) {
                        continue;
                    }
                    // All members or none: every member of a group in the job ends in one state; a job that
                    // succeeded also had them share one OS (a refused or failed one touched nothing).
                    let succeeded =
                        j.outcome == Some(drsim_engine::protocol::JobOutcome::Succeeded);
                    let mut by_group: BTreeMap<GroupId, Vec<&ItemId>> = BTreeMap::new();
                    for i in j.items() {
                        if let Some(g) = group_of(i) {
                            by_group.entry(g).or_default().push(i);
                        }
                    }
                    for (g, members) in by_group {
                        let states: Vec<_> = members
                            .iter()
                            .filter_map(|i| view.engine.item(i))
                            .map(|r| (r.state, succeeded.then_some(r.spec.os)))
                            .collect();
                        if states.windows(2).any(|w| w[0] != w[1]) {
                            found.push(Violation {
                                invariant: "INV-GROUP",
                                at_ms: view.now,
                                item: members.first().map(|i| (*i).clone()),
                                message: format!("group `{g}` ended {job} split: {states:?}"),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
