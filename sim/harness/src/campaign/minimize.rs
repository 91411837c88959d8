//! Shrinking a failing scenario to a minimal one (issue 5): drop faults, steps and machines, and shorten
//! the run, keeping each change only while the same invariant still fails — greedy, one element at a
//! time, until a whole pass changes nothing (like delta debugging's 1-minimality).

use super::seed::judge_scenario;
use crate::scenario::Scenario;
use crate::units::Duration;
use drsim_engine::Millis;
use drsim_engine::time::HOUR_MS;
use drsim_world::faults::Fault;

/// At most this many candidate runs per minimisation (each is one scenario run).
pub const MAX_TRIES: usize = 2_000;

/// The smallest scenario found that still fails `invariant`, and how many candidates were run.
pub fn minimize(
    scenario: &Scenario,
    invariant: &str,
    sabotage: Option<drsim_engine::Sabotage>,
) -> (Scenario, usize) {
    let mut best = scenario.clone();
    let mut tries = 0;
    let still_fails = |s: &Scenario, tries: &mut usize| -> bool {
        *tries += 1;
        judge_scenario(s, sabotage).is_ok_and(|(_, failed)| failed.contains(invariant))
    };
    loop {
        let mut changed = false;
        // faults, steps, machines: try dropping each, last first (later ones depend on earlier ones)
        for kind in [Part::Fault, Part::Step, Part::Machine] {
            let mut i = kind.count(&best);
            while i > 0 && tries < MAX_TRIES {
                i -= 1;
                let cand = kind.without(&best, i);
                if still_fails(&cand, &mut tries) {
                    best = cand;
                    changed = true;
                }
            }
        }
        // a shorter run: cut the end while it still fails
        while tries < MAX_TRIES {
            let cand = shortened(&best);
            if cand.duration == best.duration || !still_fails(&cand, &mut tries) {
                break;
            }
            best = cand;
            changed = true;
        }
        if !changed || tries >= MAX_TRIES {
            break;
        }
    }
    best.name = format!("{}-min", scenario.name);
    best.description = format!(
        "Minimised from `{}` ({} candidate runs): it still breaks {invariant}. {}",
        scenario.name, tries, scenario.description
    );
    (best, tries)
}

#[derive(Clone, Copy)]
enum Part {
    Fault,
    Step,
    Machine,
}

impl Part {
    fn count(self, s: &Scenario) -> usize {
        match self {
            Part::Fault => s.faults.len(),
            Part::Step => s.steps.len(),
            Part::Machine => s.machines.len(),
        }
    }

    fn without(self, s: &Scenario, i: usize) -> Scenario {
        let mut c = s.clone();
        match self {
            Part::Fault => {
                c.faults.remove(i);
            }
            Part::Step => {
                let id = c.steps[i].id.clone();
                c.steps.remove(i);
                drop_dependents(&mut c, id.as_deref());
            }
            Part::Machine => {
                let name = c.machines.remove(i).name;
                without_machine(&mut c, &name);
            }
        }
        c
    }
}

/// Removes the steps (and expectations) that refer to a removed step, transitively.
fn drop_dependents(c: &mut Scenario, id: Option<&str>) {
    let Some(id) = id else { return };
    let mut gone = vec![id.to_owned()];
    while let Some(g) = gone.pop() {
        let (keep, drop): (Vec<_>, Vec<_>) = c.steps.drain(..).partition(|st| {
            st.after.as_deref() != Some(g.as_str()) && st.job.as_deref() != Some(g.as_str())
        });
        c.steps = keep;
        gone.extend(drop.into_iter().filter_map(|st| st.id));
        let e = &mut c.expect;
        e.jobs.retain(|j| j.step != g);
        e.reprotect_bytes.retain(|b| b.step != g);
        e.data_loss.retain(|b| b.step != g);
        e.checks.retain(|x| x.step != g);
        e.order.retain(|o| o.step != g);
    }
}

/// Removes every mention of a machine: its steps, plan memberships, faults, registrations, expectations.
fn without_machine(c: &mut Scenario, name: &str) {
    // steps on the item itself
    let ids: Vec<Option<String>> = c
        .steps
        .iter()
        .filter(|st| st.item.as_deref() == Some(name))
        .map(|st| st.id.clone())
        .collect();
    c.steps.retain(|st| st.item.as_deref() != Some(name));
    for id in ids {
        drop_dependents(c, id.as_deref());
    }
    for st in &mut c.steps {
        st.machines.retain(|m| m.item != name);
    }
    // plans: drop the member; an empty group, then an empty plan (and its steps) go too
    for p in &mut c.plans {
        for g in &mut p.groups {
            g.items.retain(|i| i != name);
        }
        p.groups.retain(|g| !g.items.is_empty());
    }
    let empty: Vec<String> = c
        .plans
        .iter()
        .filter(|p| p.groups.is_empty())
        .map(|p| p.name.clone())
        .collect();
    c.plans.retain(|p| !p.groups.is_empty());
    for plan in empty {
        let ids: Vec<Option<String>> = c
            .steps
            .iter()
            .filter(|st| st.plan.as_deref() == Some(plan.as_str()))
            .map(|st| st.id.clone())
            .collect();
        c.steps
            .retain(|st| st.plan.as_deref() != Some(plan.as_str()));
        for id in ids {
            drop_dependents(c, id.as_deref());
        }
    }
    let azure = format!("{name}-azure");
    c.faults.retain(|f| match &f.fault {
        Fault::AzureVmHung { vm }
        | Fault::AzureVmDeleted { vm }
        | Fault::AgentDeregistered { vm }
        | Fault::OnPremPoweredOnByHand { vm } => vm.as_str() != name && vm.as_str() != azure,
        Fault::DiskResized { item, .. } => item.as_str() != name,
        _ => true,
    });
    c.inventory
        .config_server
        .extra_registrations
        .retain(|r| r.machine != name);
    let e = &mut c.expect;
    e.states.remove(name);
    e.rpo.retain(|r| r.item.as_deref() != Some(name));
    e.alerts.retain(|a| a.item != name);
    e.reprotect_bytes
        .retain(|b| b.item.as_deref() != Some(name));
    e.data_loss.retain(|b| b.item.as_deref() != Some(name));
    e.checks.retain(|x| x.item.as_deref() != Some(name));
    e.order
        .retain(|o| !o.first.iter().chain(&o.then).any(|i| i == name));
}

/// The run cut to three quarters (at least an hour): steps and faults after the new end go, faults
/// healing after it never heal, and the liveness deadline moves with it.
fn shortened(s: &Scenario) -> Scenario {
    let mut c = s.clone();
    let end: Millis = (s.duration.0 / 4 * 3).max(HOUR_MS);
    if end >= s.duration.0 {
        return c;
    }
    c.duration = Duration(end);
    let ids: Vec<Option<String>> = c
        .steps
        .iter()
        .filter(|st| st.at.is_some_and(|t| t.0 > end))
        .map(|st| st.id.clone())
        .collect();
    c.steps.retain(|st| st.at.is_none_or(|t| t.0 <= end));
    for id in ids {
        drop_dependents(&mut c, id.as_deref());
    }
    c.faults.retain(|f| f.at.0 <= end);
    for f in &mut c.faults {
        if f.heal.is_some_and(|h| h.0 > end) {
            f.heal = None;
        }
    }
    if let Some(by) = &mut c.expect.settled_by {
        by.0 = by.0.min(end);
    }
    for r in &mut c.expect.rpo {
        if r.from.is_some_and(|f| f.0 > end) {
            r.from = Some(Duration(end));
        }
    }
    c
}
