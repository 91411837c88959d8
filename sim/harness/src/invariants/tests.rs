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
use drsim_world::sample::{SampleEstate, item, reprotect};

/// An engine output asking for `kind` on an item, as a (possibly broken) engine would emit it.
fn action(id: u64, job: Option<JobId>, item: ItemId, kind: ActionKind) -> Output {
    Output::Action(Box::new(ActionRequest {
        id: ActionId(id),
        job,
        item: Some(item),
        attempt: 1,
        deadline_ms: 0,
        kind,
    }))
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
    // the checkers are the invariants a scenario can name, in the same order
    assert_eq!(r.checkers.ids(), crate::scenario::build::FLAGGABLE);
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
    c.after_step(&StepView::new(5, &r.world, &r.engine, &jump));
    // and a job on an item whose state does not allow it
    let job = [Output::Job(JobEvent::Created {
        job: JobId(9),
        operation: drsim_engine::lifecycle::Operation::Reprotect,
        plan: None,
        items: vec![item(0)],
    })];
    c.after_step(&StepView::new(6, &r.world, &r.engine, &job));
    let v = c.violations();
    assert_eq!(ids(&v), vec!["INV-STATE", "INV-STATE"], "{v:?}");
}

#[test]
fn inv_split_fires_when_the_engine_starts_a_copy_while_the_other_runs() {
    // A broken engine: powers the on-prem VM on while the Azure VM runs.
    let mut r = runner(SampleEstate::default());
    r.run_until(MINUTE_MS);
    let mut c = Checkers::with(vec![Box::new(SplitChecker::default())]);
    let bad = [action(
        1,
        None,
        item(0),
        ActionKind::PowerOnOnPremVm { vm: "vm-0".into() },
    )];
    c.after_step(&StepView::new(MINUTE_MS, &r.world, &r.engine, &bad));
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

#[test]
fn inv_off_fires_when_the_onprem_vm_runs_during_a_reprotect() {
    // A broken engine that never powers the on-prem VM off at reprotect start (RJ-02).
    let r = runner(SampleEstate {
        state: ItemState::OnPrem,
        ..SampleEstate::default()
    });
    let mut c = Checkers::with(vec![Box::new(OffChecker::default())]);
    let start = [Output::ItemState {
        item: item(0),
        from: ItemState::InAzure,
        to: ItemState::Reprotecting,
    }];
    c.after_step(&StepView::new(0, &r.world, &r.engine, &start));
    c.after_step(&StepView::new(10 * MINUTE_MS, &r.world, &r.engine, &[]));
    assert_eq!(c.violations(), vec![], "within the power-off grace period");
    c.after_step(&StepView::new(20 * MINUTE_MS, &r.world, &r.engine, &[]));
    assert_eq!(ids(&c.violations()), vec!["INV-OFF"]);
}

#[test]
fn inv_group_fires_when_members_recover_to_different_points() {
    let (spec, mut items) = SampleEstate {
        vms: 2,
        ..SampleEstate::default()
    }
    .build();
    for i in &mut items {
        i.replication_group = Some("g".into());
    }
    let r = Runner::new(spec, items, EngineConfig::default()).unwrap();
    let mut c = Checkers::with(vec![Box::new(GroupChecker::default())]);
    let recover = |i: usize, tag: u64| {
        action(
            i as u64,
            Some(JobId(1)),
            item(i),
            ActionKind::RecoverOnPrem {
                item: item(i),
                vm: "vm".into(),
                point_tag_ms: tag,
                cpus: 1,
                memory_mib: 1,
                nic_ips: vec![],
            },
        )
    };
    let split = [recover(0, 600_000), recover(1, 300_000)];
    c.after_step(&StepView::new(1, &r.world, &r.engine, &split));
    assert_eq!(ids(&c.violations()), vec!["INV-GROUP"]);
}

#[test]
fn inv_bytes_fires_when_alr_does_not_send_the_used_size() {
    let mut r = runner(SampleEstate {
        onprem_exists: false,
        ..SampleEstate::default()
    });
    r.run_until(0); // the first discovery
    r.command(reprotect(0)).unwrap();
    r.run_until(12 * HOUR_MS);
    assert_eq!(r.finish(), vec![]);
    let mut m = r.world.machines()[&item(0)].clone();
    assert_eq!(bytes::bytes_violation(&m, RecoveryMode::Alternate), None);
    m.last_resync_bytes -= 1;
    assert!(bytes::bytes_violation(&m, RecoveryMode::Alternate).is_some());
    m.last_resync_bytes = m.disks.iter().map(|d| d.size_bytes).sum::<u64>() + 1;
    assert!(
        bytes::bytes_violation(&m, RecoveryMode::Original).is_some(),
        "more than the disks hold"
    );
}

#[test]
fn inv_cap_fires_when_a_master_target_gets_more_than_60_disks() {
    // A broken engine that ignores RP-14, against a world that does not refuse (as issue 5's sabotage).
    let (mut spec, items) = SampleEstate {
        vms: 31,
        ..SampleEstate::default()
    }
    .build();
    spec.enforce_mt_disk_limit = false;
    let mut r = Runner::new(spec, items, EngineConfig::default()).unwrap();
    for i in 0..31 {
        r.world.submit(ActionRequest {
            id: ActionId(1000 + i as u64),
            job: None,
            item: Some(item(i)),
            attempt: 1,
            deadline_ms: u64::MAX,
            kind: ActionKind::PrepareTarget {
                item: item(i),
                master_target: "mt1".into(),
                datastore: "ds1".into(),
                mode: RecoveryMode::Original,
                folder: format!("vm-{i}"),
                disks: vec![format!("vm-{i}-d0"), format!("vm-{i}-d1")],
            },
        });
    }
    r.run_until(HOUR_MS);
    assert_eq!(
        cap::mt_disks(&r.world)[&MasterTargetName::from("mt1")],
        3 + 62
    );
    assert_eq!(ids(&r.finish()), vec!["INV-CAP"]);
}

#[test]
fn inv_live_fires_when_a_job_never_ends_after_faults_healed() {
    // A broken engine without limits on its waits, in a world whose target preparation hangs.
    let (mut spec, items) = SampleEstate::default().build();
    spec.timing.prepare_target_ms = 1000 * HOUR_MS;
    let config = EngineConfig {
        data_action_timeout_ms: 10_000 * HOUR_MS,
        ..EngineConfig::default()
    };
    let mut r = Runner::new(spec, items, config).unwrap();
    r.checkers = Checkers::with(vec![Box::new(LiveChecker {
        bound_ms: 24 * HOUR_MS,
        settled_by_ms: None,
    })]);
    r.run_until(0); // the first discovery
    r.command(reprotect(0)).unwrap();
    r.run_until(12 * HOUR_MS);
    assert_eq!(r.finish(), vec![], "within the bound");
    r.run_until(3 * 24 * HOUR_MS);
    assert_eq!(ids(&r.finish()), vec!["INV-LIVE"]);
}

#[test]
fn inv_det_the_same_scenario_and_seed_give_the_same_trace() {
    let run = |seed: u64| {
        let fault = FaultSpec {
            fault: Fault::LinkDown,
            at_ms: 2 * HOUR_MS,
            heal_at_ms: Some(3 * HOUR_MS),
        };
        let mut r = runner(SampleEstate {
            vms: 3,
            seed,
            faults: vec![fault],
            ..SampleEstate::default()
        });
        for i in 0..3 {
            r.schedule_command(MINUTE_MS, reprotect(i));
            r.schedule_command(
                6 * HOUR_MS,
                Command::Failback {
                    target: Target::Item(item(i)),
                    point: PointChoice::Latest,
                },
            );
        }
        r.run_until(8 * HOUR_MS);
        assert_eq!(r.finish(), vec![]);
        (r.trace_digest(), r.trace.len())
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same trace");
    assert_ne!(a.0, run(8).0, "the seed reaches the trace");
    assert!(a.1 > 100);
}

// ---- regressions from the second review ---------------------------------------------------------------

#[test]
fn inv_split_gives_no_excuse_once_the_engine_was_told_nor_for_a_hung_vm() {
    let r = runner(SampleEstate {
        state: ItemState::OnPrem,
        ..SampleEstate::default()
    });
    let start_azure = |id| {
        action(
            id,
            None,
            item(0),
            ActionKind::StartAzureVm {
                vm: "vm-0-azure".into(),
            },
        )
    };
    // on-prem runs (it is the active copy here): starting Azure is a violation, no fault excuses it
    let mut c = Checkers::with(vec![Box::new(SplitChecker::default())]);
    c.after_step(&StepView::new(1, &r.world, &r.engine, &[start_azure(1)]));
    assert_eq!(ids(&c.violations()), vec!["INV-SPLIT"]);
}

#[test]
fn inv_off_is_not_switched_off_by_a_power_on_during_a_reprotect() {
    let r = runner(SampleEstate {
        state: ItemState::OnPrem,
        ..SampleEstate::default()
    });
    let mut c = Checkers::with(vec![Box::new(OffChecker::default())]);
    let outs = [
        Output::ItemState {
            item: item(0),
            from: ItemState::InAzure,
            to: ItemState::Reprotecting,
        },
        action(
            1,
            None,
            item(0),
            ActionKind::PowerOnOnPremVm { vm: "vm-0".into() },
        ),
    ];
    c.after_step(&StepView::new(0, &r.world, &r.engine, &outs));
    c.after_step(&StepView::new(HOUR_MS, &r.world, &r.engine, &[]));
    assert_eq!(ids(&c.violations()), vec!["INV-OFF"]);
}

#[test]
fn inv_live_is_not_switched_off_by_a_fault_that_never_heals() {
    let (mut spec, items) = SampleEstate {
        vms: 2,
        ..SampleEstate::default()
    }
    .build();
    spec.timing.prepare_target_ms = 1000 * HOUR_MS;
    spec.faults.push(FaultSpec {
        fault: Fault::AzureVmDeleted {
            vm: "vm-1-azure".into(),
        },
        at_ms: HOUR_MS,
        heal_at_ms: None,
    });
    let config = EngineConfig {
        data_action_timeout_ms: 10_000 * HOUR_MS,
        ..EngineConfig::default()
    };
    let mut r = Runner::new(spec, items, config).unwrap();
    r.checkers = Checkers::with(vec![Box::new(LiveChecker {
        bound_ms: 24 * HOUR_MS,
        settled_by_ms: None,
    })]);
    r.run_until(0);
    r.command(reprotect(0)).unwrap();
    r.run_until(3 * 24 * HOUR_MS);
    assert_eq!(ids(&r.finish()), vec!["INV-LIVE"]);
}

#[test]
fn the_checkers_see_every_output_but_a_job_s_per_item_progress_and_timers() {
    let r = runner(SampleEstate::default());
    let job = JobId(4);
    let outputs = [
        Output::Job(JobEvent::Check {
            job,
            item: item(0),
            rule: drsim_engine::rules::RuleId::Rp01,
            verdict: Verdict::Pass,
        }),
        action(
            1,
            Some(job),
            item(0),
            ActionKind::PowerOnOnPremVm { vm: "vm-0".into() },
        ),
        Output::Job(JobEvent::StepStarted {
            job,
            item: item(0),
            step: "Power on".into(),
        }),
        Output::Timer { at: 9 },
        Output::ItemState {
            item: item(0),
            from: ItemState::FailingBack,
            to: ItemState::FailedBack,
        },
        Output::Job(JobEvent::StepEnded {
            job,
            item: item(0),
            step: "Power on".into(),
            ok: true,
        }),
        Output::Job(JobEvent::Ended {
            job,
            outcome: JobOutcome::Succeeded,
        }),
    ];
    let view = StepView::new(5, &r.world, &r.engine, &outputs);
    let seen: Vec<&Output> = view.checked().collect();
    assert_eq!(seen, [&outputs[1], &outputs[4], &outputs[6]]);
    // as the runner notes them while it drains the engine
    let mut noted = CheckedOutputs::default();
    let read: Vec<bool> = (outputs.iter().enumerate())
        .map(|(i, o)| noted.note(i, o))
        .collect();
    assert_eq!(read, [false, true, false, false, true, false, true]);
    let view = StepView::noted(5, &r.world, &r.engine, &outputs, &noted);
    assert_eq!(view.checked().collect::<Vec<_>>(), seen);
    noted.clear();
    assert_eq!(noted, CheckedOutputs::default());
}
