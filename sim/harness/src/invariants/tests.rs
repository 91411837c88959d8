//! Each checker passes a healthy run and fires on a broken engine or world.

use super::*;
use crate::runner::Runner;
use drsim_engine::EngineConfig;
use drsim_engine::ids::*;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::protocol::*;
use drsim_engine::recovery_point::PointChoice;
use drsim_engine::time::{HOUR_MS, MINUTE_MS};
use drsim_world::faults::{Fault, FaultSpec};
use drsim_world::sample::{SampleEstate, item};

fn reprotect(i: usize) -> Command {
    Command::Reprotect {
        target: Target::Item(item(i)),
        machines: vec![ReprotectMachine {
            item: item(i),
            master_target: "mt1".into(),
            process_server: "ps1".into(),
            datastore: "ds1".into(),
            retention_drive: "R:".into(),
            location: LocationChoice::Auto,
        }],
    }
}

fn runner(estate: SampleEstate) -> Runner {
    let (spec, items) = estate.build();
    Runner::new(spec, items, EngineConfig::default()).unwrap()
}

fn ids(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|v| v.invariant).collect()
}

#[test]
fn a_whole_cycle_holds_every_invariant() {
    let mut r = runner(SampleEstate::default());
    r.schedule_command(MINUTE_MS, reprotect(0));
    r.schedule_command(
        4 * HOUR_MS,
        Command::Failback {
            target: Target::Item(item(0)),
            point: PointChoice::Latest,
        },
    );
    r.schedule_command(
        6 * HOUR_MS,
        Command::CommitFailback {
            target: Target::Item(item(0)),
        },
    );
    r.run_until(8 * HOUR_MS);
    assert_eq!(r.engine.item(&item(0)).unwrap().state, ItemState::OnPrem);
    assert_eq!(r.finish(), vec![]);
    assert_eq!(r.checkers.ids(), vec!["INV-SPLIT", "INV-STATE", "INV-LOSS"]);
}

#[test]
fn inv_state_fires_on_a_transition_the_lifecycle_does_not_allow() {
    let r = runner(SampleEstate::default());
    let mut c = Checkers::with(vec![Box::new(StateChecker::default())]);
    let jump = [Output::ItemState {
        item: item(0),
        from: ItemState::InAzure,
        to: ItemState::FailedBack,
    }];
    c.after_step(&StepView {
        now: 5,
        world: &r.world,
        engine: &r.engine,
        outputs: &jump,
    });
    // and a job on an item whose state does not allow it
    let job = [Output::Job(JobEvent::Created {
        job: JobId(9),
        operation: drsim_engine::lifecycle::Operation::Reprotect,
        plan: None,
        items: vec![item(0)],
    })];
    c.after_step(&StepView {
        now: 6,
        world: &r.world,
        engine: &r.engine,
        outputs: &job,
    });
    let v = c.violations();
    assert_eq!(ids(&v), vec!["INV-STATE", "INV-STATE"], "{v:?}");
}

#[test]
fn inv_split_fires_when_the_engine_starts_a_copy_while_the_other_runs() {
    // A broken engine: powers the on-prem VM on while the Azure VM runs.
    let mut r = runner(SampleEstate::default());
    r.run_until(MINUTE_MS);
    let mut c = Checkers::with(vec![Box::new(SplitChecker::default())]);
    let bad = [Output::Action(ActionRequest {
        id: ActionId(1),
        job: None,
        item: Some(item(0)),
        attempt: 1,
        deadline_ms: 0,
        kind: ActionKind::PowerOnOnPremVm { vm: "vm-0".into() },
    })];
    c.after_step(&StepView {
        now: MINUTE_MS,
        world: &r.world,
        engine: &r.engine,
        outputs: &bad,
    });
    assert_eq!(ids(&c.violations()), vec!["INV-SPLIT"]);
}

#[test]
fn inv_split_requires_detection_of_a_copy_powered_on_by_hand() {
    let fault = FaultSpec {
        fault: Fault::OnPremPoweredOnByHand { vm: "vm-0".into() },
        at_ms: HOUR_MS,
        heal_at_ms: None,
    };
    // A healthy engine notices within one discovery interval: nothing is flagged.
    let mut r = runner(SampleEstate {
        faults: vec![fault.clone()],
        ..SampleEstate::default()
    });
    r.run_until(3 * HOUR_MS);
    assert_eq!(r.finish(), vec![]);
    // A world that never tells the engine (discovery and agent registration too late): flagged.
    let (mut spec, items) = SampleEstate {
        faults: vec![fault],
        ..SampleEstate::default()
    }
    .build();
    spec.discovery_interval_ms = 100 * HOUR_MS;
    spec.timing.agent_lag_max_ms = 100 * HOUR_MS; // nor does its agent tell the CS it booted
    let mut r = Runner::new(spec, items, EngineConfig::default()).unwrap();
    r.run_until(3 * HOUR_MS);
    let v = r.finish();
    assert_eq!(ids(&v), vec!["INV-SPLIT"], "{v:?}");
}

#[test]
fn inv_loss_fires_when_a_failback_to_latest_misses_writes() {
    let mut r = runner(SampleEstate::default());
    r.schedule_command(MINUTE_MS, reprotect(0));
    r.schedule_command(
        4 * HOUR_MS,
        Command::Failback {
            target: Target::Item(item(0)),
            point: PointChoice::Latest,
        },
    );
    r.run_until(5 * HOUR_MS);
    let mut m = r.world.machines()[&item(0)].clone();
    assert_eq!(loss::latest_violation(&m), None);
    assert_eq!(loss::bytes_lost(&m), Some(0));
    // A broken world: one acknowledged write did not reach the on-prem disk.
    m.recovered_point.as_mut().unwrap().generations[1] -= 1;
    assert!(
        loss::latest_violation(&m)
            .unwrap()
            .contains("disk `vm-0-d1`")
    );
    assert_eq!(loss::bytes_lost(&m), Some(1));
}

#[test]
fn a_failback_to_an_older_point_reports_its_loss() {
    let mut r = runner(SampleEstate::default());
    r.schedule_command(MINUTE_MS, reprotect(0));
    r.run_until(4 * HOUR_MS);
    let older = r
        .engine
        .item(&item(0))
        .unwrap()
        .points
        .iter()
        .next()
        .unwrap()
        .tag_ms;
    r.command(Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::At { tag_ms: older },
    })
    .unwrap();
    r.run_until(5 * HOUR_MS);
    assert_eq!(r.finish(), vec![]);
    let lost = loss::bytes_lost(&r.world.machines()[&item(0)]).unwrap();
    assert!(lost > 0);
}
