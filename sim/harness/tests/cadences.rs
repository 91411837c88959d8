//! Cadences (issue 6) change what the world reports, not what the engine knows: every scenario of the
//! library runs once with caught-up machines' points and syncing machines' progress announced as
//! cadences and once reported every interval, and ends the same — steps and their times, verdict, each
//! item's recovery points, and the exact RPO saw-tooth of every item.

use drsim::TraceEvent;
use drsim::rehearsal::{Rehearsal, rehearse, summarise};
use drsim::scenario::{self, Built, Scenario};
use drsim_engine::protocol::{Input, Observation};
use std::path::Path;

mod library;

/// What a run ends with, as text to compare: the summary without the trace digest and event count
/// (the observations differ by design), each item's points in the engine, each item's RPO ramps.
fn outcome(file: &Path, scenario: &Scenario, built: &Built, r: &Rehearsal) -> String {
    let mut summary =
        serde_json::to_value(summarise(&file.display().to_string(), scenario, built, r))
            .expect("serialises");
    let obj = summary.as_object_mut().expect("an object");
    obj.remove("trace_digest");
    obj.remove("events");
    let mut text = serde_json::to_string_pretty(&summary).expect("serialises");
    for item in &built.items {
        if let Some(rec) = r.runner.engine.item(&item.id) {
            let points: Vec<_> = rec.points.iter().collect();
            text += &format!("\n{}: {:?} {:?}", item.id, rec.state, points);
        }
    }
    for (item, series) in r.runner.rpo.all_series() {
        text += &format!("\n{item}: {:?}", series.segments);
    }
    text
}

/// The cadence observations of a run: (time, is a sync cadence, starts).
fn cadences(r: &Rehearsal) -> Vec<(u64, bool, bool)> {
    (r.runner.trace.iter())
        .filter_map(|e| match e {
            TraceEvent::In {
                t,
                input: Input::Observation(Observation::PointCadence { cadence, .. }),
            } => Some((*t, false, cadence.is_some())),
            TraceEvent::In {
                t,
                input: Input::Observation(Observation::SyncCadence { cadence, .. }),
            } => Some((*t, true, cadence.is_some())),
            _ => None,
        })
        .collect()
}

/// Runs `built` with and without cadences: both outcomes and the cadences announced.
fn both_ways(
    file: &Path,
    scenario: &Scenario,
    built: &Built,
) -> (String, String, Vec<(u64, bool, bool)>) {
    let mut plain = built.clone();
    plain.world.cadences = false;
    let with = rehearse(built, |_| {}).expect("runs");
    let without = rehearse(&plain, |_| {}).expect("runs");
    (
        outcome(file, scenario, built, &with),
        outcome(file, scenario, &plain, &without),
        cadences(&with),
    )
}

fn assert_same(what: &str, with: &str, without: &str) {
    if with != without {
        let diff = with
            .lines()
            .zip(without.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("with: {a}\nwithout: {b}"));
        panic!("{what}: the cadences changed the outcome\n{diff:?}");
    }
}

#[test]
fn the_library_ends_the_same_with_and_without_cadences() {
    let (mut points, mut syncs) = (0, 0);
    for file in &library::all_scenarios() {
        let (scenario, built) = scenario::load(file, None).expect("the scenario loads");
        let (with, without, announced) = both_ways(file, &scenario, &built);
        points += announced.iter().filter(|c| !c.1).count();
        syncs += announced.iter().filter(|c| c.1).count();
        assert_same(&file.display().to_string(), &with, &without);
    }
    assert!(points > 0, "some scenario announces a point cadence");
    assert!(syncs > 0, "some scenario announces a sync cadence");
}

/// A link lost between two reports ends a sync cadence there: the engine's stall timer must still run
/// from the last report that would have shown progress. RA-02's first re-protect stalls; its 30-minute
/// timeout is shorter than the initial replication, so the timer moves while the cadence holds, and a
/// link lost just before the timer set when the wait began (at 1h50m57.36s, due 30 minutes later)
/// needs it moved when the cadence ends too.
#[test]
fn a_sync_cadence_ending_between_reports_stalls_as_reports_would() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/rules/RA-02-reprotect-to-azure-steps.json");
    let (scenario, built) = scenario::load(&file, None).expect("the scenario loads");
    let mut between = 0;
    for at in [7_500_001, 7_537_000, 7_649_999, 8_420_000, 8_457_359] {
        let mut b = built.clone();
        b.world.faults[0].at_ms = at;
        let (with, without, announced) = both_ways(&file, &scenario, &b);
        assert!(with.contains("990005"), "the first re-protect stalls");
        assert_same(&format!("link lost at {at} ms"), &with, &without);
        between += (announced.iter())
            .filter(|&&(t, sync, starts)| sync && !starts && t == at)
            .count();
    }
    assert_eq!(between, 5, "each sync cadence ended between two reports");
}
