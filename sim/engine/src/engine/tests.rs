//! Engine behaviour: the whole lifecycle, refusals, step order (RJ-02, FB-02), rollback (FB-07), groups
//! (RG-03, FB-08), timeouts, split detection, RPO alerts.

use crate::error_code::ErrorCode;
use crate::ids::*;
use crate::inventory::PowerState;
use crate::job::{Step, TaskStatus};
use crate::lifecycle::{ItemState, Operation, transition_allowed};
use crate::protocol::*;
use crate::recovery_point::PointChoice;
use crate::rules::RuleId;
use crate::testkit::*;
use crate::time::{HOUR_MS, MINUTE_MS};

fn item(i: usize) -> Target {
    Target::Item(item_id(i))
}

fn reprotect(lab: &mut Lab, i: usize) -> JobId {
    lab.cmd(Command::Reprotect {
        target: item(i),
        machines: vec![machine(i)],
    })
    .unwrap()
    .unwrap()
}

fn failed_with(outcome: Option<JobOutcome>) -> Failure {
    match outcome {
        Some(JobOutcome::Failed(f)) => f,
        other => panic!("expected a failed job, got {other:?}"),
    }
}

fn state_changes(lab: &Lab) -> Vec<(ItemId, ItemState, ItemState)> {
    lab.log
        .iter()
        .filter_map(|o| match o {
            Output::ItemState { item, from, to } => Some((item.clone(), *from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn whole_cycle_failover_to_reprotect_to_azure() {
    let mut lab = Lab::new(vec![spec(0, ItemState::ProtectedToAzure)]);
    lab.points(&item_id(0), 0, 0);
    lab.now = HOUR_MS;
    let steps: Vec<(Command, ItemState)> = vec![
        (
            Command::Failover {
                target: item(0),
                point: PointChoice::LatestProcessed,
            },
            ItemState::FailedOver,
        ),
        (
            Command::CommitFailover { target: item(0) },
            ItemState::InAzure,
        ),
        (
            Command::Reprotect {
                target: item(0),
                machines: vec![machine(0)],
            },
            ItemState::ProtectedToOnPrem,
        ),
        (
            Command::Failback {
                target: item(0),
                point: PointChoice::Latest,
            },
            ItemState::FailedBack,
        ),
        (
            Command::CommitFailback { target: item(0) },
            ItemState::OnPrem,
        ),
        (
            Command::ReprotectToAzure { target: item(0) },
            ItemState::ProtectedToAzure,
        ),
    ];
    for (c, expected) in steps {
        let job = lab.cmd(c.clone()).unwrap().unwrap();
        assert_eq!(
            lab.outcome(job),
            Some(JobOutcome::Succeeded),
            "{c:?}: {:?}",
            lab.engine.job(job)
        );
        assert_eq!(lab.state(0), expected, "after {c:?}");
        lab.now += HOUR_MS;
    }
    for (i, from, to) in state_changes(&lab) {
        assert!(transition_allowed(from, to), "{i}: {from} -> {to}");
    }
    // FB-06: commit deleted the Azure VM; RA-02: protection to Azure again.
    assert!(!lab.azure.contains_key(&VmName::from("vm-0-azure")));
    assert_eq!(
        lab.engine.item(&item_id(0)).unwrap().replicating,
        Some(Direction::ToAzure)
    );
}

#[test]
fn reprotect_powers_the_onprem_vm_off_first_and_excludes_the_temporary_disk() {
    // RJ-02, RP-19, RJ-03
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.set_onprem_power(&"vm-0".into(), PowerState::On);
    lab.discover();
    let job = reprotect(&mut lab, 0);
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let names = lab.action_names();
    assert_eq!(
        names[0], "power-off-onprem-vm",
        "RJ-02: first action of the reprotect: {names:?}"
    );
    let prepare = lab.actions.iter().find_map(|a| match &a.kind {
        ActionKind::PrepareTarget { mode, disks, .. } => Some((*mode, disks.clone())),
        _ => None,
    });
    let (mode, disks) = prepare.expect("target prepared");
    assert_eq!(mode, RecoveryMode::Original, "RJ-03: the on-prem VM exists");
    assert_eq!(
        disks,
        vec!["vm-0-d0".to_owned(), "vm-0-d1".to_owned()],
        "RP-19: temporary disk excluded"
    );
}

#[test]
fn deleted_onprem_vm_goes_to_alternate_location_and_disk_added_after_failover_is_left_out() {
    // RJ-04, RJ-09, CL-03
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.onprem.clear();
    lab.azure
        .get_mut(&VmName::from("vm-0-azure"))
        .unwrap()
        .disks
        .push(crate::inventory::AzureDiskView {
            name: "added".into(),
            size_bytes: GIB,
            temporary: false,
            added_after_failover: true,
        });
    lab.datastores
        .get_mut(&DatastoreName::from("ds1"))
        .unwrap()
        .folders = vec!["vm-0".into()];
    lab.discover();
    let job = reprotect(&mut lab, 0);
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let (mode, folder, disks) = lab
        .actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::PrepareTarget {
                mode,
                folder,
                disks,
                ..
            } => Some((*mode, folder.clone(), disks.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(mode, RecoveryMode::Alternate);
    assert_eq!(folder, "vm-0_1", "CL-03: old VMDKs occupy vm-0/");
    assert!(!disks.contains(&"added".to_owned()), "RJ-09");
    assert!(
        !lab.action_names().contains(&"power-off-onprem-vm"),
        "no on-prem VM to power off"
    );
}

#[test]
fn failback_shuts_the_azure_vm_down_before_powering_on_premises_on() {
    // FB-02, FB-03 latest
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.now += HOUR_MS;
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let names = lab.action_names();
    let shutdown = names
        .iter()
        .position(|n| *n == "shutdown-azure-vm")
        .unwrap();
    let sync = names.iter().position(|n| *n == "final-sync").unwrap();
    let recover = names.iter().position(|n| *n == "recover-onprem").unwrap();
    let power_on = names
        .iter()
        .position(|n| *n == "power-on-onprem-vm")
        .unwrap();
    assert!(
        shutdown < sync && sync < recover && recover < power_on,
        "{names:?}"
    );
    let rec = lab.engine.item(&item_id(0)).unwrap();
    assert_eq!(
        rec.recovered_point_ms,
        Some(lab.actions[sync].deadline_ms - lab.engine.config().data_action_timeout_ms)
    );
    // CL-06: VM sized from the Azure VM
    assert!(lab.actions.iter().any(|a| matches!(
        &a.kind,
        ActionKind::RecoverOnPrem {
            memory_mib: 8192,
            cpus: 2,
            ..
        }
    )));
}

#[test]
fn failed_failback_is_rolled_back() {
    // FB-07: disks revert, the Azure VM on again, replication resumes.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.now += HOUR_MS;
    lab.fail.insert(
        "power-on-onprem-vm",
        error(Some(RuleId::Fb05), 8038, "not enough memory on esx1"),
    );
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    let f = failed_with(lab.outcome(job));
    assert_eq!(
        (f.rule, f.code),
        (Some(RuleId::Fb05), ErrorCode::HOST_MEMORY)
    );
    let names = lab.action_names();
    let tail: Vec<_> = names.iter().rev().take(3).rev().copied().collect();
    assert_eq!(
        tail,
        vec!["power-off-onprem-vm", "revert-failback", "start-azure-vm"],
        "{names:?}"
    );
    assert_eq!(lab.state(0), ItemState::ProtectedToOnPrem);
    let rec = lab.engine.item(&item_id(0)).unwrap();
    assert_eq!(rec.replicating, Some(Direction::ToOnPrem));
    assert_eq!(
        rec.last_error.as_ref().map(|e| e.code),
        Some(ErrorCode::HOST_MEMORY)
    );
    // and it can be retried
    lab.fail.clear();
    lab.now += HOUR_MS;
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn without_check_events_the_engine_says_everything_else_it_said() {
    // A reprotect of two machines failing RP-06 at the prerequisites (no machine touched), then one
    // that passes them and fails RP-06 again before the target is prepared, then one that succeeds.
    let run = |checks: bool| {
        let mut lab = Lab::new(vec![
            spec(0, ItemState::InAzure),
            spec(1, ItemState::InAzure),
        ]);
        lab.engine.set_check_events(checks);
        let mt = MasterTargetName::from("mt-win");
        lab.mts.get_mut(&mt).unwrap().snapshots = 1;
        lab.discover();
        let plan = PlanSpec {
            id: "plan".into(),
            groups: vec![PlanGroup {
                items: vec![item_id(0), item_id(1)],
                actions: vec![],
            }],
        };
        lab.cmd(Command::SetPlan { plan }).unwrap();
        let both = Command::Reprotect {
            target: Target::Plan("plan".into()),
            machines: vec![machine(0), machine(1)],
        };
        let first = lab.cmd(both).unwrap().unwrap();
        lab.mts.get_mut(&mt).unwrap().snapshots = 0;
        lab.discover();
        lab.drop.insert("power-off-onprem-vm");
        let second = reprotect(&mut lab, 0);
        let power_off = lab.actions.last().unwrap().id;
        lab.mts.get_mut(&mt).unwrap().snapshots = 2;
        lab.discover();
        lab.input(Input::Observation(Observation::ActionResult {
            id: power_off,
            outcome: ActionOutcome::Ok { point: None },
        }));
        lab.drop.clear();
        lab.mts.get_mut(&mt).unwrap().snapshots = 0;
        lab.discover();
        let third = reprotect(&mut lab, 0);
        let outcomes = [first, second, third].map(|j| lab.outcome(j));
        (outcomes, lab.log)
    };
    let (outcomes_on, log_on) = run(true);
    let (outcomes_off, log_off) = run(false);
    assert_eq!(failed_with(outcomes_on[0].clone()).rule, Some(RuleId::Rp06));
    assert_eq!(failed_with(outcomes_on[1].clone()).rule, Some(RuleId::Rp06));
    assert_eq!(outcomes_on[2], Some(JobOutcome::Succeeded));
    assert_eq!(outcomes_off, outcomes_on);
    let is_check = |o: &Output| matches!(o, Output::Job(JobEvent::Check { .. }));
    let failed_checks = |log: &[Output]| {
        log.iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Job(JobEvent::Check {
                        verdict: Verdict::Fail(_),
                        ..
                    })
                )
            })
            .count()
    };
    assert!(failed_checks(&log_on) >= 2, "both failures said as checks");
    assert_eq!(log_off.iter().filter(|o| is_check(o)).count(), 0);
    let without: Vec<&Output> = log_on.iter().filter(|o| !is_check(o)).collect();
    assert_eq!(log_off.iter().collect::<Vec<_>>(), without);
}

#[test]
fn failed_reprotect_stays_in_azure_and_can_be_retried() {
    // RJ-07, RP-12 from the world (8061)
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.fail.insert(
        "prepare-target",
        error(Some(RuleId::Rp12), 8061, "datastore ds1 not reachable"),
    );
    let job = reprotect(&mut lab, 0);
    let f = failed_with(lab.outcome(job));
    assert_eq!(f.code, ErrorCode::DATASTORE_UNREACHABLE);
    assert_eq!(lab.state(0), ItemState::InAzure);
    lab.fail.clear();
    let job = reprotect(&mut lab, 0);
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn a_lost_action_result_ends_the_job_with_a_code() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.drop.insert("prepare-target");
    let job = reprotect(&mut lab, 0);
    assert_eq!(lab.outcome(job), None);
    let cfg = lab.engine.config().clone();
    lab.advance(lab.now + cfg.data_action_timeout_ms * cfg.max_action_attempts as u64 + 1);
    let f = failed_with(lab.outcome(job));
    assert_eq!(f.code, ErrorCode::ACTION_TIMEOUT);
    assert_eq!(
        lab.action_names()
            .iter()
            .filter(|n| **n == "prepare-target")
            .count(),
        cfg.max_action_attempts as usize
    );
    assert_eq!(lab.state(0), ItemState::InAzure);
    assert_eq!(lab.engine.pending_actions(), 0);
}

#[test]
fn transient_errors_are_retried_a_bounded_number_of_times() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    let mut e = error(None, ErrorCode::INFRASTRUCTURE.0, "busy");
    e.transient = true;
    lab.fail.insert("start-replication", e);
    let job = reprotect(&mut lab, 0);
    failed_with(lab.outcome(job));
    let attempts = lab
        .action_names()
        .iter()
        .filter(|n| **n == "start-replication")
        .count();
    assert_eq!(attempts, lab.engine.config().max_action_attempts as usize);
}

#[test]
fn a_stalled_sync_fails_the_reprotect_and_stops_replication() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    let job = reprotect(&mut lab, 0);
    assert_eq!(lab.outcome(job), None);
    lab.advance(lab.now + lab.engine.config().sync_stall_timeout_ms + 1);
    let f = failed_with(lab.outcome(job));
    assert_eq!(f.code, ErrorCode::REPLICATION_STALLED);
    assert_eq!(lab.action_names().last(), Some(&"stop-replication"));
    assert_eq!(lab.state(0), ItemState::InAzure);
}

#[test]
fn progress_keeps_a_long_sync_alive() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    let job = reprotect(&mut lab, 0);
    let stall = lab.engine.config().sync_stall_timeout_ms;
    for k in 1..=5u64 {
        lab.advance(lab.now + stall / 2);
        let report = ReplicationReport {
            direction: Direction::ToOnPrem,
            initial_sync_done: k == 5,
            sync_bytes_sent: k * 1000,
            sync_bytes_total: 5000,
            health: crate::inventory::Health::Ok,
        };
        lab.input(Input::Observation(Observation::Replication {
            item: item_id(0),
            report,
        }));
    }
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn every_state_refuses_what_it_does_not_allow_naming_state_and_operation() {
    for &state in ItemState::ALL.iter().filter(|s| !s.is_transient()) {
        let mut lab = Lab::new(vec![spec(0, state)]);
        for op in Operation::ALL.iter().filter(|op| !op.allowed_in(state)) {
            let c = match op {
                Operation::Failover => Command::Failover {
                    target: item(0),
                    point: PointChoice::LatestProcessed,
                },
                Operation::CommitFailover => Command::CommitFailover { target: item(0) },
                Operation::Reprotect => Command::Reprotect {
                    target: item(0),
                    machines: vec![machine(0)],
                },
                Operation::Failback => Command::Failback {
                    target: item(0),
                    point: PointChoice::Latest,
                },
                Operation::ChangeRecoveryPoint => Command::ChangeRecoveryPoint {
                    target: item(0),
                    point: PointChoice::Latest,
                },
                Operation::CommitFailback => Command::CommitFailback { target: item(0) },
                Operation::ReprotectToAzure => Command::ReprotectToAzure { target: item(0) },
                Operation::DisableProtection => Command::DisableProtection { item: item_id(0) },
            };
            let r = lab.cmd(c).expect_err("refused");
            if state == ItemState::Disabled
                && matches!(op, Operation::Reprotect | Operation::Failback)
            {
                assert_eq!(r.failure.rule, Some(RuleId::Ns07));
            } else {
                assert_eq!(r.failure.code, ErrorCode::STATE_REFUSED);
                // the rules that say where these operations may start are named (FB-01, RA-01)
                let rule = match op {
                    Operation::Failback => Some(RuleId::Fb01),
                    Operation::ReprotectToAzure => Some(RuleId::Ra01),
                    _ => None,
                };
                assert_eq!(r.failure.rule, rule, "{op:?} in {state:?}");
                assert!(
                    r.failure.message.contains(op.as_str())
                        && r.failure.message.contains(state.as_str()),
                    "{}",
                    r.failure.message
                );
            }
            assert_eq!(lab.state(0), state);
        }
    }
}

#[test]
fn a_busy_item_refuses_a_second_job() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    reprotect(&mut lab, 0);
    let r = lab
        .cmd(Command::DisableProtection { item: item_id(0) })
        .unwrap_err();
    assert_eq!(r.failure.code, ErrorCode::ITEM_BUSY);
}

#[test]
fn unknown_references_are_refused_by_name() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    let r = lab
        .cmd(Command::Failback {
            target: Target::Item("nope".into()),
            point: PointChoice::Latest,
        })
        .unwrap_err();
    assert!(r.failure.message.contains("`nope`") && r.failure.code == ErrorCode::UNKNOWN_REFERENCE);
    let r = lab
        .cmd(Command::Failback {
            target: Target::Plan("plan-x".into()),
            point: PointChoice::Latest,
        })
        .unwrap_err();
    assert!(r.failure.message.contains("`plan-x`"));
    for (field, m) in [
        (
            "mt-x",
            ReprotectMachine {
                master_target: "mt-x".into(),
                ..machine(0)
            },
        ),
        (
            "ps-x",
            ReprotectMachine {
                process_server: "ps-x".into(),
                ..machine(0)
            },
        ),
        (
            "ds-x",
            ReprotectMachine {
                datastore: "ds-x".into(),
                ..machine(0)
            },
        ),
    ] {
        let r = lab
            .cmd(Command::Reprotect {
                target: item(0),
                machines: vec![m],
            })
            .unwrap_err();
        assert!(r.failure.message.contains(field), "{}", r.failure.message);
        assert_eq!(r.failure.code, ErrorCode::UNKNOWN_REFERENCE);
    }
    let r = lab.cmd(Command::Cancel { job: JobId(99) }).unwrap_err();
    assert!(r.failure.message.contains("job-99"));
    let r = lab
        .cmd(Command::Reprotect {
            target: item(0),
            machines: vec![],
        })
        .unwrap_err();
    assert_eq!(r.failure.rule, Some(RuleId::Rj01));
    assert!(lab.log.iter().any(|o| matches!(o, Output::Refused(_))));
}

#[test]
fn a_readiness_failure_fails_the_job_at_the_prerequisites_step() {
    // RP-06 at the prerequisites check; nothing is touched.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.mts
        .get_mut(&MasterTargetName::from("mt-win"))
        .unwrap()
        .snapshots = 1;
    lab.discover();
    let job = reprotect(&mut lab, 0);
    let f = failed_with(lab.outcome(job));
    assert_eq!((f.rule, f.code), (Some(RuleId::Rp06), ErrorCode(910_006)));
    assert!(lab.actions.is_empty());
    assert_eq!(lab.state(0), ItemState::InAzure);
    assert!(lab.log.iter().any(|o| matches!(
        o,
        Output::Job(JobEvent::Check {
            rule: RuleId::Rp06,
            verdict: Verdict::Fail(_),
            ..
        })
    )));
}

#[test]
fn checks_run_again_at_the_step_where_the_world_can_have_changed() {
    // RP-06 again before the target is prepared: a snapshot taken on the MT mid-job.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.drop.insert("power-off-onprem-vm");
    let job = reprotect(&mut lab, 0);
    let power_off = lab.actions[0].id;
    lab.mts
        .get_mut(&MasterTargetName::from("mt-win"))
        .unwrap()
        .snapshots = 2;
    lab.discover();
    lab.input(Input::Observation(Observation::ActionResult {
        id: power_off,
        outcome: ActionOutcome::Ok { point: None },
    }));
    let f = failed_with(lab.outcome(job));
    assert_eq!(f.rule, Some(RuleId::Rp06));
    assert!(!lab.action_names().contains(&"prepare-target"));
}

fn group_lab(n: usize) -> Lab {
    let specs = (0..n)
        .map(|i| {
            let mut s = spec(i, ItemState::InAzure);
            s.replication_group = Some("rg-app".into());
            s
        })
        .collect();
    let mut lab = Lab::new(specs);
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "plan".into(),
            groups: vec![PlanGroup {
                items: (0..n).map(item_id).collect(),
                actions: vec![],
            }],
        },
    })
    .unwrap();
    lab
}

#[test]
fn a_replication_group_is_reprotected_only_through_a_plan() {
    // RP-09
    let mut lab = group_lab(2);
    let job = reprotect(&mut lab, 0);
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Rp09));
    // RP-08: a member on another MT
    let mut m1 = machine(1);
    m1.master_target = "mt-lin".into();
    let job = lab
        .cmd(Command::Reprotect {
            target: Target::Plan("plan".into()),
            machines: vec![machine(0), m1],
        })
        .unwrap()
        .unwrap();
    let f = failed_with(lab.outcome(job));
    assert!(
        matches!(f.rule, Some(RuleId::Rp07 | RuleId::Rp08 | RuleId::Rg02)),
        "{f:?}"
    );
    let job = lab
        .cmd(Command::Reprotect {
            target: Target::Plan("plan".into()),
            machines: vec![machine(0), machine(1)],
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    // RG-04: membership fixed once replicating
    let r = lab
        .cmd(Command::SetReplicationGroup {
            item: item_id(0),
            group: None,
        })
        .unwrap_err();
    assert_eq!(r.failure.rule, Some(RuleId::Rg04));
    // … and free again once unprotected: disable protection, then the group may change (RG-04's fix)
    lab.cmd(Command::DisableProtection { item: item_id(0) })
        .unwrap();
    lab.pump();
    assert_eq!(lab.state(0), ItemState::Disabled);
    lab.cmd(Command::SetReplicationGroup {
        item: item_id(0),
        group: None,
    })
    .expect("membership can change once unprotected");
}

#[test]
fn a_group_fails_back_to_one_common_point() {
    // RG-03, FB-03: member 2 lags 10 minutes; the common point is its newest.
    let mut lab = group_lab(3);
    let plan = Target::Plan("plan".into());
    lab.cmd(Command::Reprotect {
        target: plan.clone(),
        machines: (0..3).map(machine).collect(),
    })
    .unwrap();
    lab.now = 2 * HOUR_MS;
    for i in 0..3 {
        let until = if i == 2 {
            2 * HOUR_MS - 10 * MINUTE_MS
        } else {
            2 * HOUR_MS
        };
        lab.points(&item_id(i), HOUR_MS, until);
    }
    let job = lab
        .cmd(Command::Failback {
            target: plan,
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let tags: Vec<_> = lab
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::RecoverOnPrem { point_tag_ms, .. } => Some(*point_tag_ms),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec![2 * HOUR_MS - 10 * MINUTE_MS; 3]);
    // every member was off in Azure before the first on-prem power-on
    let first_on = lab
        .action_names()
        .iter()
        .position(|n| *n == "power-on-onprem-vm")
        .unwrap();
    assert_eq!(
        lab.action_names()[..first_on]
            .iter()
            .filter(|n| **n == "shutdown-azure-vm")
            .count(),
        3
    );
}

/// Reprotects machines `0..n` of `target` (a plan) and lets an hour pass: the start of each failback
/// test of a plan.
fn reprotect_then_wait(lab: &mut Lab, target: &Target, n: usize) {
    lab.cmd(Command::Reprotect {
        target: target.clone(),
        machines: (0..n).map(machine).collect(),
    })
    .unwrap();
    lab.now += HOUR_MS;
}

#[test]
fn a_job_that_nothing_retries_writes_no_more_history_than_it_made_room_for() {
    // Room for one record per item's prerequisites check, per step of its task and per manual action
    // of the plan is made when the job is created, so that a big job's history is never copied as
    // it grows (issue 6): what it writes fits the capacity it had when it was created (an ended
    // job's history is then shrunk).
    let mut lab = group_lab(3);
    let plan = Target::Plan("plan".into());
    let commands = [
        Command::Reprotect {
            target: plan.clone(),
            machines: (0..3).map(machine).collect(),
        },
        Command::Failback {
            target: plan,
            point: PointChoice::Latest,
        },
    ];
    for command in commands {
        let name = format!("{:?}", command.operation());
        lab.manual = true; // the job waits for its first actions' results: few records yet
        let job = lab.cmd(command).unwrap().unwrap();
        let room = lab.engine.job(job).unwrap().history.capacity();
        lab.manual = false;
        while !lab.outstanding.is_empty() {
            lab.resolve(0, None);
        }
        lab.now += HOUR_MS;
        lab.advance(lab.now);
        assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded), "{name}");
        let history = &lab.engine.job(job).unwrap().history;
        assert!(history.len() > 3, "{name}: {} records", history.len());
        let records = history.len();
        assert!(
            records <= room,
            "{name}: {records} records in room for {room}"
        );
    }
}

#[test]
fn a_group_fails_back_all_members_or_none() {
    // RG-03: one member's power-on fails (8038); every member rolls back.
    let mut lab = group_lab(3);
    let plan = Target::Plan("plan".into());
    reprotect_then_wait(&mut lab, &plan, 3);
    lab.drop.insert("power-on-onprem-vm");
    let job = lab
        .cmd(Command::Failback {
            target: plan,
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    let ons: Vec<ActionId> = lab
        .actions
        .iter()
        .filter(|a| a.kind.name() == "power-on-onprem-vm")
        .map(|a| a.id)
        .collect();
    assert_eq!(ons.len(), 3, "the group powers on together");
    lab.drop.clear();
    // member 0 and 2 succeed, member 1 fails
    for (k, id) in ons.iter().enumerate() {
        let outcome = if k == 1 {
            ActionOutcome::Failed(error(Some(RuleId::Fb05), 8038, "no memory"))
        } else {
            ActionOutcome::Ok { point: None }
        };
        lab.input(Input::Observation(Observation::ActionResult {
            id: *id,
            outcome,
        }));
    }
    assert_eq!(failed_with(lab.outcome(job)).code, ErrorCode::HOST_MEMORY);
    for i in 0..3 {
        assert_eq!(lab.state(i), ItemState::ProtectedToOnPrem, "member {i}");
    }
    assert_eq!(
        lab.action_names()
            .iter()
            .filter(|n| **n == "start-azure-vm")
            .count(),
        3
    );
    assert!(
        state_changes(&lab)
            .iter()
            .all(|(_, _, to)| *to != ItemState::FailedBack),
        "no member reached FailedBack"
    );
}

#[test]
fn failback_of_one_group_member_alone_is_refused_by_rg03() {
    let mut lab = group_lab(2);
    lab.cmd(Command::Reprotect {
        target: Target::Plan("plan".into()),
        machines: vec![machine(0), machine(1)],
    })
    .unwrap();
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Rg03));
}

#[test]
fn a_plan_whose_machines_end_last_first_still_runs_its_groups_in_order() {
    // FB-08 with three groups whose machines end last-first: a group starts only once every machine of
    // the group before has ended (the job's `stage_ended_upto`: the ended prefix of a stage, reset when
    // the stage changes), not when some have; each task knows its group (`Task::stage`).
    let groups = [vec![0, 1, 2], vec![3, 4, 5], vec![6]];
    let mut lab = Lab::new((0..7).map(|i| spec(i, ItemState::InAzure)).collect());
    let plan = PlanSpec {
        id: "plan".into(),
        groups: (groups.iter())
            .map(|g| PlanGroup {
                items: g.iter().map(|&i| item_id(i)).collect(),
                actions: vec![],
            })
            .collect(),
    };
    lab.cmd(Command::SetPlan { plan }).unwrap();
    let target = Target::Plan("plan".into());
    reprotect_then_wait(&mut lab, &target, 7);
    lab.manual = true;
    let job = lab
        .cmd(Command::Failback {
            target,
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    lab.pump();
    let mut ended: Vec<ItemId> = Vec::new();
    for _ in 0..5_000 {
        if lab.outstanding.is_empty() {
            break;
        }
        // the highest-numbered machine's action first: within a group, machines end last-first
        let k = (0..lab.outstanding.len())
            .max_by_key(|&k| lab.outstanding[k].item.clone())
            .unwrap();
        lab.resolve(k, None);
        lab.pump();
        let j = lab.engine.job(job).unwrap();
        for (id, t) in &j.tasks {
            if t.ended() && !ended.contains(id) {
                ended.push(id.clone());
            }
        }
    }
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let order: Vec<ItemId> = [2, 1, 0, 5, 4, 3, 6].map(item_id).to_vec();
    assert_eq!(ended, order, "machines ended last-first, group by group");
    let j = lab.engine.job(job).unwrap();
    for (g, items) in groups.iter().enumerate() {
        for &i in items {
            assert_eq!(j.tasks[&item_id(i)].stage, g, "machine {i}");
        }
    }
    let group_of = |a: &ActionRequest| {
        let it = a.item.as_ref()?;
        groups
            .iter()
            .position(|g| g.iter().any(|&i| item_id(i) == *it))
    };
    let in_order: Vec<usize> = (lab.actions.iter())
        .filter(|a| a.job == Some(job))
        .filter_map(group_of)
        .collect();
    assert!(
        in_order.windows(2).all(|w| w[0] <= w[1]),
        "a group acted before the one before it ended: {in_order:?}"
    );
}

#[test]
fn a_plan_fails_back_its_groups_in_order() {
    // FB-08: group 2 starts only once group 1 is done; scripts are refused.
    let mut lab = Lab::new((0..3).map(|i| spec(i, ItemState::InAzure)).collect());
    let plan = PlanSpec {
        id: "plan".into(),
        groups: vec![
            PlanGroup {
                items: vec![item_id(0), item_id(1)],
                actions: vec![PlanAction::Manual("check the database".into())],
            },
            PlanGroup {
                items: vec![item_id(2)],
                actions: vec![],
            },
        ],
    };
    lab.cmd(Command::SetPlan { plan: plan.clone() }).unwrap();
    let target = Target::Plan("plan".into());
    reprotect_then_wait(&mut lab, &target, 3);
    let job = lab
        .cmd(Command::Failback {
            target: target.clone(),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let items_in_order: Vec<ItemId> = lab
        .actions
        .iter()
        .filter(|a| a.kind.name() == "power-on-onprem-vm")
        .filter_map(|a| a.item.clone())
        .collect();
    assert_eq!(items_in_order.last(), Some(&item_id(2)));
    let first_of_2 = lab
        .actions
        .iter()
        .position(|a| a.item == Some(item_id(2)) && a.job == Some(job))
        .unwrap();
    let last_of_1 = lab
        .actions
        .iter()
        .rposition(|a| a.item != Some(item_id(2)) && a.job == Some(job))
        .unwrap();
    assert!(last_of_1 < first_of_2, "group 2 starts after group 1 ends");
    assert!(
        lab.engine
            .job(job)
            .unwrap()
            .history
            .iter()
            .any(|s| s.name.contains("check the database"))
    );

    // a script in a failback plan: FB-08
    let mut lab = Lab::new((0..1).map(|i| spec(i, ItemState::InAzure)).collect());
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "p".into(),
            groups: vec![PlanGroup {
                items: vec![item_id(0)],
                actions: vec![PlanAction::Script("x.ps1".into())],
            }],
        },
    })
    .unwrap();
    reprotect(&mut lab, 0);
    let job = lab
        .cmd(Command::Failback {
            target: Target::Plan("p".into()),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Fb08));
}

/// Two single-machine groups in a plan.
fn two_group_lab() -> Lab {
    let mut lab = Lab::new((0..2).map(|i| spec(i, ItemState::InAzure)).collect());
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "plan".into(),
            groups: (0..2)
                .map(|i| PlanGroup {
                    items: vec![item_id(i)],
                    actions: vec![],
                })
                .collect(),
        },
    })
    .unwrap();
    lab
}

fn reprotect_plan(lab: &mut Lab) -> JobId {
    lab.cmd(Command::Reprotect {
        target: Target::Plan("plan".into()),
        machines: (0..2).map(machine).collect(),
    })
    .unwrap()
    .unwrap()
}

fn actions_of(lab: &Lab, i: usize) -> Vec<&'static str> {
    lab.actions
        .iter()
        .filter(|a| a.item == Some(item_id(i)))
        .map(|a| a.kind.name())
        .collect()
}

#[test]
fn a_plan_reprotect_powers_every_group_off_at_the_start() {
    // RJ-02 / INV-OFF: group 2's on-prem VM goes off with group 1's, not when group 2 comes up (FB-08
    // order holds for the rest of its steps).
    let mut lab = two_group_lab();
    lab.drop.insert("prepare-target");
    let job = reprotect_plan(&mut lab);
    assert_eq!(actions_of(&lab, 1), vec!["power-off-onprem-vm"]);
    assert!(actions_of(&lab, 0).contains(&"prepare-target"));
    let turn = |lab: &Lab| {
        lab.engine
            .job(job)
            .unwrap()
            .history
            .iter()
            .filter(|s| s.name == Step::AwaitTurn.name())
            .map(|s| (s.item.clone(), s.ok))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        turn(&lab),
        vec![(item_id(1), None)],
        "group 2 waits for its turn"
    );
    lab.drop.clear();
    let prepare = lab
        .actions
        .iter()
        .find(|a| a.kind.name() == "prepare-target")
        .unwrap()
        .id;
    lab.input(Input::Observation(Observation::ActionResult {
        id: prepare,
        outcome: ActionOutcome::Ok { point: None },
    }));
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    assert_eq!(turn(&lab), vec![(item_id(1), Some(true))]);
    assert_eq!(
        actions_of(&lab, 1)
            .iter()
            .filter(|n| **n == "power-off-onprem-vm")
            .count(),
        1,
        "powered off once"
    );
    assert_eq!(lab.state(1), ItemState::ProtectedToOnPrem);
}

#[test]
fn a_failed_first_group_ends_a_waiting_group_of_the_reprotect() {
    let mut lab = two_group_lab();
    lab.fail.insert(
        "prepare-target",
        error(Some(RuleId::Rj03), 990_001, "datastore full"),
    );
    let job = reprotect_plan(&mut lab);
    assert!(matches!(lab.outcome(job), Some(JobOutcome::Failed(_))));
    // group 2: powered off at the start (and left off), nothing else
    assert_eq!(actions_of(&lab, 1), vec!["power-off-onprem-vm"]);
    assert_eq!(lab.state(1), ItemState::InAzure);
    let t = &lab.engine.job(job).unwrap().tasks[&item_id(1)];
    assert!(
        matches!(&t.status, TaskStatus::Failed(f) if f.message.contains("earlier group")),
        "{:?}",
        t.status
    );
    let h = &lab.engine.job(job).unwrap().history;
    assert!(
        h.iter().any(|s| s.item == item_id(1)
            && s.name == Step::AwaitTurn.name()
            && s.ok == Some(false))
    );
    assert!(h.iter().all(|s| s.ended_ms.is_some()), "no step left open");
    // the cause is group 1's failed step, not group 2's wait that it ended (opened first here)
    let at = |name: &str| h.iter().position(|s| s.name == name);
    assert!(at(Step::AwaitTurn.name()) < at(Step::PrepareTarget.name()));
    assert_eq!(
        h.iter().find(|s| s.failed()).map(|s| &*s.name),
        Some(Step::PrepareTarget.name())
    );
}

#[test]
fn a_failed_plan_group_stops_the_plan() {
    let mut lab = Lab::new((0..2).map(|i| spec(i, ItemState::InAzure)).collect());
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "plan".into(),
            groups: vec![
                PlanGroup {
                    items: vec![item_id(0)],
                    actions: vec![],
                },
                PlanGroup {
                    items: vec![item_id(1)],
                    actions: vec![],
                },
            ],
        },
    })
    .unwrap();
    let target = Target::Plan("plan".into());
    lab.cmd(Command::Reprotect {
        target: target.clone(),
        machines: (0..2).map(machine).collect(),
    })
    .unwrap();
    lab.fail.insert(
        "recover-onprem",
        error(Some(RuleId::Fb04), 940_004, "vCenter vc1 not connected"),
    );
    let job = lab
        .cmd(Command::Failback {
            target,
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Fb04));
    assert!(
        !lab.actions
            .iter()
            .any(|a| a.item == Some(item_id(1)) && a.job == Some(job)),
        "group 2 never started"
    );
    assert_eq!(lab.state(1), ItemState::ProtectedToOnPrem);
}

/// Fails item 0 of `lab` back with `lost` getting no answer; once it is sent, `by_hand` powers the other
/// copy on by hand (seen by discovery) and an hour passes, so the action times out. Returns the job and
/// how many times `lost` was sent.
fn lost_answer_while_the_other_copy_starts(
    lab: &mut Lab,
    lost: &'static str,
    by_hand: impl FnOnce(&mut Lab),
) -> (JobId, usize) {
    lab.drop.insert(lost);
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.action_names().last(), Some(&lost));
    by_hand(lab);
    lab.discover();
    lab.drop.clear();
    lab.advance(lab.now + HOUR_MS);
    let sent = lab.action_names().iter().filter(|n| **n == lost).count();
    (job, sent)
}

#[test]
fn a_power_on_is_not_retried_once_the_azure_vm_runs_again() {
    // FB-02 (found by the engine property test with other seeds): the on-prem power-on gets no answer,
    // meanwhile the Azure VM is started by hand; the timeout must not send the power-on again.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    let (job, power_ons) =
        lost_answer_while_the_other_copy_starts(&mut lab, "power-on-onprem-vm", |lab| {
            lab.set_azure_power(&VmName::from("vm-0-azure"), PowerState::On)
        });
    assert_eq!(power_ons, 1, "{:?}", lab.action_names());
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Fb02));
    // the rollback powers the on-prem VM off, in case the lost attempt got through
    assert!(lab.action_names().contains(&"power-off-onprem-vm"));
}

#[test]
fn a_rollback_does_not_start_the_azure_vm_again_once_the_onprem_vm_runs() {
    // INV-SPLIT, the other way round: a failed failback's rollback starts the Azure VM, gets no answer,
    // meanwhile the on-prem VM is powered on by hand; the timeout must not start the Azure VM again.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.fail.insert(
        "recover-onprem",
        error(Some(RuleId::Fb04), 940_004, "vCenter vc1 not connected"),
    );
    let (job, starts) =
        lost_answer_while_the_other_copy_starts(&mut lab, "start-azure-vm", |lab| {
            lab.set_onprem_power(&VmName::from("vm-0"), PowerState::On)
        });
    assert_eq!(starts, 1, "{:?}", lab.action_names());
    assert!(lab.outcome(job).is_some(), "the job ends");
}

#[test]
fn cancel_rolls_a_failback_back_after_the_action_in_flight() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.drop.insert("recover-onprem");
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    let recover = lab.actions.last().unwrap().id;
    lab.cmd(Command::Cancel { job }).unwrap();
    assert_eq!(lab.outcome(job), None, "waits for the action in flight");
    lab.drop.clear();
    lab.input(Input::Observation(Observation::ActionResult {
        id: recover,
        outcome: ActionOutcome::Ok { point: None },
    }));
    assert_eq!(lab.outcome(job), Some(JobOutcome::Cancelled));
    assert_eq!(lab.state(0), ItemState::ProtectedToOnPrem);
    assert_eq!(lab.action_names().last(), Some(&"start-azure-vm"));
    assert!(!lab.action_names().contains(&"power-on-onprem-vm"));
}

#[test]
fn an_onprem_vm_powered_on_by_hand_is_detected_and_blocks_failback() {
    // INV-SPLIT, RJ-02
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.set_onprem_power(&"vm-0".into(), PowerState::On);
    lab.discover();
    let alert = lab.log.iter().find_map(|o| match o {
        Output::Alert(a)
            if matches!(
                a.kind,
                AlertKind::SplitBrainRisk {
                    running: Copy::OnPrem
                }
            ) =>
        {
            Some(a.clone())
        }
        _ => None,
    });
    assert_eq!(alert.map(|a| a.severity), Some(Severity::Critical));
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Rj02));
    assert!(!lab.action_names().contains(&"power-on-onprem-vm"));
    lab.set_onprem_power(&"vm-0".into(), PowerState::Off);
    lab.discover();
    assert!(lab.log.iter().any(|o| matches!(
        o,
        Output::Alert(Alert {
            kind: AlertKind::SplitBrainResolved { .. },
            ..
        })
    )));
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn rpo_threshold_alerts_and_recovers() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    let t0 = lab.now;
    lab.points(&item_id(0), t0, t0);
    lab.advance(t0 + 15 * MINUTE_MS);
    assert!(!lab.log.iter().any(|o| matches!(
        o,
        Output::Alert(Alert {
            kind: AlertKind::RpoThresholdExceeded { .. },
            ..
        })
    )));
    lab.advance(t0 + 15 * MINUTE_MS + 1);
    assert!(lab.log.iter().any(|o| matches!(o, Output::Alert(Alert { kind: AlertKind::RpoThresholdExceeded { threshold_ms, .. }, .. }) if *threshold_ms == 15 * MINUTE_MS)));
    lab.now = t0 + 20 * MINUTE_MS;
    lab.points(&item_id(0), t0 + 20 * MINUTE_MS, t0 + 20 * MINUTE_MS);
    assert!(lab.log.iter().any(|o| matches!(
        o,
        Output::Alert(Alert {
            kind: AlertKind::RpoRecovered { .. },
            ..
        })
    )));
}

#[test]
fn failback_needs_a_recovery_point_and_finished_sync() {
    // FB-01 and CL-05
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    let reprotect_job = reprotect(&mut lab, 0);
    lab.input(Input::Observation(Observation::Replication {
        item: item_id(0),
        report: ReplicationReport {
            direction: Direction::ToOnPrem,
            initial_sync_done: true,
            sync_bytes_sent: 1,
            sync_bytes_total: 1,
            health: crate::inventory::Health::Ok,
        },
    }));
    assert_eq!(lab.outcome(reprotect_job), Some(JobOutcome::Succeeded));
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Fb01));
}

#[test]
fn change_recovery_point_before_commit() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    let t0 = lab.now;
    lab.now = t0 + HOUR_MS;
    lab.points(&item_id(0), t0 + 5 * MINUTE_MS, t0 + HOUR_MS);
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let older = t0 + 30 * MINUTE_MS;
    let job = lab
        .cmd(Command::ChangeRecoveryPoint {
            target: item(0),
            point: PointChoice::At { tag_ms: older },
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        lab.outcome(job),
        Some(JobOutcome::Succeeded),
        "{:?}",
        lab.engine.job(job)
    );
    assert_eq!(
        lab.engine.item(&item_id(0)).unwrap().recovered_point_ms,
        Some(older)
    );
    assert_eq!(lab.state(0), ItemState::FailedBack);
    let job = lab
        .cmd(Command::CommitFailback { target: item(0) })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn reprotect_to_azure_waits_for_the_agent() {
    // RA-03
    let mut lab = Lab::new(vec![spec(0, ItemState::OnPrem)]);
    lab.onprem
        .get_mut(&VmName::from("vm-0"))
        .unwrap()
        .agent_registered = false;
    lab.discover();
    let job = lab
        .cmd(Command::ReprotectToAzure { target: item(0) })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), None);
    lab.now += 10 * MINUTE_MS;
    lab.onprem
        .get_mut(&VmName::from("vm-0"))
        .unwrap()
        .agent_registered = true;
    lab.discover();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    // and a wait that runs out fails with RA-03
    let mut lab = Lab::new(vec![spec(0, ItemState::OnPrem)]);
    lab.onprem
        .get_mut(&VmName::from("vm-0"))
        .unwrap()
        .agent_registered = false;
    lab.discover();
    let job = lab
        .cmd(Command::ReprotectToAzure { target: item(0) })
        .unwrap()
        .unwrap();
    lab.advance(lab.now + lab.engine.config().agent_registration_wait_ms + 1);
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Ra03));
    assert_eq!(lab.state(0), ItemState::OnPrem);
}

#[test]
fn disable_protection_makes_failback_impossible() {
    // NS-07
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    let job = lab
        .cmd(Command::DisableProtection { item: item_id(0) })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    assert_eq!(lab.state(0), ItemState::Disabled);
    let r = lab
        .cmd(Command::Reprotect {
            target: item(0),
            machines: vec![machine(0)],
        })
        .unwrap_err();
    assert_eq!(r.failure.rule, Some(RuleId::Ns07));
}

#[test]
fn timers_are_announced_and_the_engine_is_quiet_when_nothing_waits() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.drop.insert("prepare-target");
    reprotect(&mut lab, 0);
    let deadline = lab.engine.poll_timeout().expect("a timeout is armed");
    assert!(
        lab.log
            .iter()
            .any(|o| matches!(o, Output::Timer { at } if *at == deadline))
    );
}

#[test]
fn engine_construction_rejects_duplicates() {
    let r = crate::Engine::new(
        Default::default(),
        vec![spec(0, ItemState::InAzure), spec(0, ItemState::InAzure)],
    );
    assert!(matches!(r, Err(crate::EngineError::DuplicateItem(_))));
    let mut s = spec(1, ItemState::InAzure);
    s.onprem_vm = "vm-0".into();
    let r = crate::Engine::new(Default::default(), vec![spec(0, ItemState::InAzure), s]);
    assert!(matches!(r, Err(crate::EngineError::DuplicateVm { .. })));
    let r = crate::Engine::new(Default::default(), vec![spec(0, ItemState::FailingBack)]);
    assert!(matches!(
        r,
        Err(crate::EngineError::TransientStartState { .. })
    ));
}

#[test]
fn disable_protection_works_from_every_settled_state() {
    for &state in ItemState::ALL
        .iter()
        .filter(|s| !s.is_transient() && **s != ItemState::Disabled)
    {
        let mut lab = Lab::new(vec![spec(0, state)]);
        let job = lab
            .cmd(Command::DisableProtection { item: item_id(0) })
            .unwrap()
            .unwrap();
        assert_eq!(
            lab.outcome(job),
            Some(JobOutcome::Succeeded),
            "from {state}"
        );
        assert_eq!(lab.state(0), ItemState::Disabled);
        assert_eq!(lab.engine.item(&item_id(0)).unwrap().replicating, None);
    }
}

#[test]
fn a_failed_failover_returns_to_protected() {
    let mut lab = Lab::new(vec![spec(0, ItemState::ProtectedToAzure)]);
    lab.points(&item_id(0), 0, 0);
    lab.fail.insert(
        "failover-to-azure",
        error(None, ErrorCode::INFRASTRUCTURE.0, "quota exceeded"),
    );
    let job = lab
        .cmd(Command::Failover {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    failed_with(lab.outcome(job));
    assert_eq!(lab.state(0), ItemState::ProtectedToAzure);
    let changes = state_changes(&lab);
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|(_, a, b)| transition_allowed(*a, *b)));
}

#[test]
fn job_progress_counts_steps() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    let job = reprotect(&mut lab, 0);
    let p = lab.engine.job(job).unwrap().progress_pct();
    assert!(p > 0 && p < 100, "waiting for the sync: {p}");
    lab.input(Input::Observation(Observation::Replication {
        item: item_id(0),
        report: ReplicationReport {
            direction: Direction::ToOnPrem,
            initial_sync_done: true,
            sync_bytes_sent: 1,
            sync_bytes_total: 1,
            health: crate::inventory::Health::Ok,
        },
    }));
    assert_eq!(lab.engine.job(job).unwrap().progress_pct(), 100);
    let history = &lab.engine.job(job).unwrap().history;
    assert!(
        history
            .iter()
            .all(|s| s.ended_ms.is_some() && s.ended_ms >= Some(s.started_ms))
    );
    assert!(history.iter().any(|s| s.name == "Synchronise data"));
}

// ---- regressions from review ------------------------------------------------------------------------

#[test]
fn a_failed_failover_powers_the_onprem_vm_on_again() {
    let mut lab = Lab::new(vec![spec(0, ItemState::ProtectedToAzure)]);
    lab.points(&item_id(0), 0, 0);
    lab.fail.insert(
        "failover-to-azure",
        error(None, ErrorCode::INFRASTRUCTURE.0, "quota exceeded"),
    );
    let job = lab
        .cmd(Command::Failover {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    failed_with(lab.outcome(job));
    assert_eq!(lab.state(0), ItemState::ProtectedToAzure);
    assert_eq!(
        lab.onprem[&VmName::from("vm-0")].power,
        PowerState::On,
        "the source runs again"
    );
    let names = lab.action_names();
    let off = names
        .iter()
        .position(|n| *n == "shutdown-azure-vm")
        .unwrap();
    let on = names
        .iter()
        .rposition(|n| *n == "power-on-onprem-vm")
        .unwrap();
    assert!(
        off < on,
        "Azure confirmed off before the on-prem VM starts: {names:?}"
    );
}

#[test]
fn a_failed_change_of_recovery_point_leaves_the_onprem_vm_running() {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    let t0 = lab.now;
    lab.now = t0 + HOUR_MS;
    lab.points(&item_id(0), t0 + 5 * MINUTE_MS, t0 + HOUR_MS);
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::LatestProcessed,
        })
        .unwrap()
        .unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    lab.fail.insert(
        "recover-onprem",
        error(None, ErrorCode::INFRASTRUCTURE.0, "disk busy"),
    );
    let older = PointChoice::At {
        tag_ms: t0 + 30 * MINUTE_MS,
    };
    let job = lab
        .cmd(Command::ChangeRecoveryPoint {
            target: item(0),
            point: older,
        })
        .unwrap()
        .unwrap();
    failed_with(lab.outcome(job));
    assert_eq!(lab.state(0), ItemState::FailedBack);
    assert_eq!(
        lab.onprem[&VmName::from("vm-0")].power,
        PowerState::On,
        "no outage"
    );
    assert_eq!(
        lab.azure[&VmName::from("vm-0-azure")].power,
        PowerState::Off
    );
}

#[test]
fn a_replication_group_split_over_plan_groups_by_a_later_change_is_refused() {
    // RG-03: groups set after the plan must still sit in one plan group.
    let mut lab = Lab::new((0..2).map(|i| spec(i, ItemState::InAzure)).collect());
    let groups = vec![
        PlanGroup {
            items: vec![item_id(0)],
            actions: vec![],
        },
        PlanGroup {
            items: vec![item_id(1)],
            actions: vec![],
        },
    ];
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "plan".into(),
            groups,
        },
    })
    .unwrap();
    for i in 0..2 {
        lab.cmd(Command::SetReplicationGroup {
            item: item_id(i),
            group: Some("g".into()),
        })
        .unwrap();
    }
    let r = lab
        .cmd(Command::Reprotect {
            target: Target::Plan("plan".into()),
            machines: (0..2).map(machine).collect(),
        })
        .unwrap_err();
    assert_eq!(r.failure.rule, Some(RuleId::Rg03));
}

#[test]
fn a_failed_reprotect_releases_the_master_target() {
    // RP-14: the disks of a reprotect that failed after preparing the target no longer count.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.fail.insert(
        "start-replication",
        error(None, ErrorCode::INFRASTRUCTURE.0, "PS unreachable"),
    );
    let job = reprotect(&mut lab, 0);
    failed_with(lab.outcome(job));
    assert_eq!(lab.action_names().last(), Some(&"stop-replication"));
    assert_eq!(lab.engine.item(&item_id(0)).unwrap().protection, None);
}

#[test]
fn the_undo_never_starts_the_azure_vm_while_the_onprem_vm_is_seen_running() {
    // INV-SPLIT: someone powers the on-prem VM on by hand in the middle of a failback.
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    reprotect(&mut lab, 0);
    lab.drop.insert("recover-onprem");
    let job = lab
        .cmd(Command::Failback {
            target: item(0),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    let recover = lab.actions.last().unwrap().id;
    lab.set_onprem_power(&"vm-0".into(), PowerState::On);
    lab.discover();
    lab.drop.clear();
    lab.input(Input::Observation(Observation::ActionResult {
        id: recover,
        outcome: ActionOutcome::Ok { point: None },
    }));
    assert_eq!(failed_with(lab.outcome(job)).rule, Some(RuleId::Rj02));
    assert!(
        !lab.action_names().contains(&"start-azure-vm"),
        "{:?}",
        lab.action_names()
    );
    assert_eq!(
        lab.azure[&VmName::from("vm-0-azure")].power,
        PowerState::Off
    );
    assert!(lab.log.iter().any(|o| matches!(
        o,
        Output::Alert(Alert {
            kind: AlertKind::RollbackIncomplete,
            ..
        })
    )));
}

#[test]
fn two_concurrent_reprotects_cannot_both_take_the_last_slots_of_a_master_target() {
    // RP-14: job A (2 disks) is preparing its target on mt-win, which has room for 2 more disks; job B
    // (2 disks) started meanwhile must fail at its prerequisites, not later at the MT.
    let mut lab = Lab::new(vec![
        spec(0, ItemState::InAzure),
        spec(1, ItemState::InAzure),
    ]);
    lab.mts
        .get_mut(&MasterTargetName::from("mt-win"))
        .unwrap()
        .own_disks = 58;
    lab.discover();
    lab.drop.insert("prepare-target");
    let a = reprotect(&mut lab, 0);
    assert!(lab.action_names().contains(&"prepare-target"), "A prepares");
    assert_eq!(lab.outcome(a), None);
    let b = reprotect(&mut lab, 1);
    let f = failed_with(lab.outcome(b));
    assert_eq!(f.rule, Some(RuleId::Rp14), "{f:?}");
}

#[test]
fn an_item_that_starts_protected_learns_its_disks_and_mode_from_discovery() {
    // RP-14 counts its disks; RJ-04: the alternate location chosen stays in force
    let mut s = spec(0, ItemState::ProtectedToOnPrem);
    let mut m = machine(0);
    m.location = LocationChoice::Alternate;
    s.protection = Some(m);
    let mut lab = Lab::new(vec![s]);
    lab.discover();
    let p = lab
        .engine
        .item(&item_id(0))
        .unwrap()
        .protection
        .clone()
        .unwrap();
    assert_eq!(p.mode, RecoveryMode::Alternate);
    assert_eq!(p.disks.len(), 2);
    assert!(p.target_prepared);
}

#[test]
fn a_replication_group_is_reprotected_all_or_none() {
    // RG-03 (all members or none), found by `drsim fuzz`: one member's replication fails to start after
    // the other's is already syncing; the other must not end protected on its own.
    let mut lab = group_lab(2);
    lab.manual = true;
    let job = lab
        .cmd(Command::Reprotect {
            target: Target::Plan("plan".into()),
            machines: vec![machine(0), machine(1)],
        })
        .unwrap()
        .unwrap();
    lab.pump();
    for _ in 0..500 {
        if lab.outstanding.is_empty() {
            break;
        }
        let member1 = lab.outstanding.iter().position(
            |a| matches!(&a.kind, ActionKind::StartReplication { item, .. } if *item == item_id(1)),
        );
        match member1 {
            Some(k) => lab.resolve(k, Some(error(None, 990_008, "process server down"))),
            None => lab.resolve(0, None),
        }
        lab.pump();
    }
    assert!(matches!(lab.outcome(job), Some(JobOutcome::Failed(_))));
    assert_eq!(
        lab.state(0),
        ItemState::InAzure,
        "{:?}",
        state_changes(&lab)
    );
    assert_eq!(lab.state(1), ItemState::InAzure);
}
