//! A point cadence (issue 6) changes what the world reports, not what the engine knows: every scenario
//! of the library runs once with caught-up machines announced as a cadence and once reported point by
//! point, and ends the same — steps, verdict, each item's recovery points, and the exact RPO saw-tooth
//! of every item.

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
    for (item, series) in &r.runner.rpo.series {
        text += &format!("\n{item}: {:?}", series.segments);
    }
    text
}

fn both_ways(file: &Path) -> (String, String, usize) {
    let (scenario, built) = scenario::load(file, None).expect("the scenario loads");
    let mut plain = built.clone();
    plain.world.point_cadence = false;
    let with = rehearse(&built, |_| {}).expect("runs");
    let without = rehearse(&plain, |_| {}).expect("runs");
    let cadences = with
        .runner
        .trace
        .iter()
        .filter(|e| {
            matches!(
                e,
                TraceEvent::In {
                    input: Input::Observation(Observation::PointCadence { .. }),
                    ..
                }
            )
        })
        .count();
    (
        outcome(file, &scenario, &built, &with),
        outcome(file, &scenario, &plain, &without),
        cadences,
    )
}

#[test]
fn the_library_ends_the_same_with_and_without_cadences() {
    let mut announced = 0;
    for file in &library::all_scenarios() {
        let (with, without, cadences) = both_ways(file);
        announced += cadences;
        if with != without {
            let diff = with
                .lines()
                .zip(without.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("with: {a}\nwithout: {b}"));
            panic!(
                "{}: the cadence changed the outcome\n{diff:?}",
                file.display()
            );
        }
    }
    assert!(announced > 0, "some scenario announces a cadence");
}
