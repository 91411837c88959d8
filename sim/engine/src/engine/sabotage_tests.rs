//! Each sabotage (issue 5): with the switch on the engine commits its fault, with it off it behaves.

use crate::error_code::ErrorCode;
use crate::ids::*;
use crate::inventory::PowerState;
use crate::lifecycle::ItemState;
use crate::protocol::*;
use crate::recovery_point::PointChoice;
use crate::rules::RuleId;
use crate::testkit::*;
use crate::time::{HOUR_MS, MINUTE_MS};
use crate::{EngineConfig, Millis, Sabotage};

fn config(sabotage: Option<Sabotage>) -> EngineConfig {
    EngineConfig {
        sabotage,
        ..EngineConfig::default()
    }
}

/// A lab with these items and the sabotage on (`true`) or off.
fn lab(sabotage: Sabotage, on: bool, specs: Vec<crate::item::ItemSpec>) -> Lab {
    Lab::with_config(config(on.then_some(sabotage)), specs)
}

fn reprotect(lab: &mut Lab, i: usize) -> JobId {
    lab.cmd(Command::Reprotect {
        target: Target::Item(item_id(i)),
        machines: vec![machine(i)],
    })
    .unwrap()
    .unwrap()
}

fn failback(lab: &mut Lab, target: Target, point: PointChoice) -> JobId {
    lab.cmd(Command::Failback { target, point })
        .unwrap()
        .unwrap()
}

/// The point each item was recovered to, in item order.
fn recovered_tags(lab: &Lab) -> Vec<Millis> {
    let by_item: std::collections::BTreeMap<ItemId, Millis> = lab
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::RecoverOnPrem {
                item, point_tag_ms, ..
            } => Some((item.clone(), *point_tag_ms)),
            _ => None,
        })
        .collect();
    by_item.into_values().collect()
}

fn outstanding_names(lab: &Lab) -> Vec<&'static str> {
    lab.outstanding.iter().map(|a| a.kind.name()).collect()
}

#[test]
fn sabotage_is_off_by_default_and_left_out_of_serialised_configs() {
    let c = EngineConfig::default();
    assert_eq!(c.sabotage, None);
    assert!(Sabotage::ALL.iter().all(|s| !c.sabotaged(*s)));
    let json = serde_json::to_value(&c).unwrap();
    assert!(json.get("sabotage").is_none(), "{json}");
    let back: EngineConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
    let on: EngineConfig = serde_json::from_str(r#"{ "sabotage": "split-group" }"#).unwrap();
    assert!(on.sabotaged(Sabotage::SplitGroup));
    assert!(serde_json::from_str::<EngineConfig>(r#"{ "sabotage": "nope" }"#).is_err());
}

/// Failback to latest in manual mode: the actions outstanding right after the command.
fn failback_start(on: bool) -> Lab {
    let mut lab = lab(
        Sabotage::EarlyPowerOn,
        on,
        vec![spec(0, ItemState::InAzure)],
    );
    reprotect(&mut lab, 0);
    lab.now += HOUR_MS;
    lab.manual = true;
    failback(&mut lab, Target::Item(item_id(0)), PointChoice::Latest);
    lab
}

#[test]
fn early_power_on_starts_the_onprem_vm_while_the_azure_vm_runs() {
    // FB-02 / INV-SPLIT
    let mut lab = failback_start(true);
    assert_eq!(
        outstanding_names(&lab),
        vec!["shutdown-azure-vm", "power-on-onprem-vm"],
        "the power-on goes out with the shutdown, before its result"
    );
    // The power-on is done first: both copies run.
    lab.resolve(1, None);
    assert_eq!(lab.onprem[&VmName::from("vm-0")].power, PowerState::On);
    assert_eq!(lab.azure[&VmName::from("vm-0-azure")].power, PowerState::On);
    // The job goes on until RJ-02's check before its own power-on step finds the VM running (defence in
    // depth, after the harm): it fails and rolls back, on-prem VM off before the Azure VM starts again.
    while !lab.outstanding.is_empty() {
        lab.resolve(0, None);
    }
    let job = lab.engine.jobs().keys().last().copied().unwrap();
    let Some(JobOutcome::Failed(f)) = lab.outcome(job) else {
        panic!("RJ-02 fails the job: {:?}", lab.outcome(job));
    };
    assert_eq!(f.rule, Some(RuleId::Rj02));
    let names = lab.action_names();
    assert_eq!(
        names[names.len() - 3..],
        ["power-off-onprem-vm", "revert-failback", "start-azure-vm"]
    );
}

#[test]
fn without_early_power_on_the_onprem_vm_waits_for_the_azure_vm_to_be_off() {
    let mut lab = failback_start(false);
    assert_eq!(outstanding_names(&lab), vec!["shutdown-azure-vm"]);
    while !lab.outstanding.is_empty() {
        lab.resolve(0, None);
    }
    let job = lab.engine.jobs().keys().last().copied().unwrap();
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
    let names = lab.action_names();
    let shutdown = names.iter().position(|n| *n == "shutdown-azure-vm");
    let on = names.iter().position(|n| *n == "power-on-onprem-vm");
    assert!(shutdown < on, "{names:?}");
}

/// A replication group of 3 reprotected through its plan; member 2 lags 10 minutes.
fn group(on: bool) -> Lab {
    let specs = (0..3)
        .map(|i| {
            let mut s = spec(i, ItemState::InAzure);
            s.replication_group = Some("rg-app".into());
            s
        })
        .collect();
    let mut lab = lab(Sabotage::SplitGroup, on, specs);
    lab.cmd(Command::SetPlan {
        plan: PlanSpec {
            id: "plan".into(),
            groups: vec![PlanGroup {
                items: (0..3).map(item_id).collect(),
                actions: vec![],
            }],
        },
    })
    .unwrap();
    lab.cmd(Command::Reprotect {
        target: Target::Plan("plan".into()),
        machines: (0..3).map(machine).collect(),
    })
    .unwrap();
    lab.now = 2 * HOUR_MS;
    for i in 0..3 {
        let until = 2 * HOUR_MS - if i == 2 { 10 * MINUTE_MS } else { 0 };
        lab.points(&item_id(i), HOUR_MS, until);
    }
    lab
}

#[test]
fn split_group_fails_members_back_to_their_own_points() {
    // RG-03 / INV-GROUP
    for (on, expected) in [
        (
            true,
            vec![2 * HOUR_MS, 2 * HOUR_MS, 2 * HOUR_MS - 10 * MINUTE_MS],
        ),
        (false, vec![2 * HOUR_MS - 10 * MINUTE_MS; 3]),
    ] {
        let mut lab = group(on);
        let job = failback(
            &mut lab,
            Target::Plan("plan".into()),
            PointChoice::LatestProcessed,
        );
        assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
        assert_eq!(recovered_tags(&lab), expected, "sabotage {on}");
    }
}

#[test]
fn split_group_gives_each_member_its_own_final_sync_point() {
    // RG-03 / INV-GROUP, failback to latest: each member's final sync is tagged when its own Azure VM is
    // confirmed off, instead of once for the group.
    for on in [true, false] {
        let mut lab = group(on);
        let job = failback(&mut lab, Target::Plan("plan".into()), PointChoice::Latest);
        assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
        let mut tags = recovered_tags(&lab);
        assert_eq!(tags.len(), 3);
        tags.dedup();
        assert_eq!(tags.len() > 1, on, "sabotage {on}: {tags:?}");
    }
}

#[test]
fn skip_final_sync_recovers_the_newest_existing_point() {
    // FB-03 / INV-LOSS
    for on in [true, false] {
        let mut lab = lab(
            Sabotage::SkipFinalSync,
            on,
            vec![spec(0, ItemState::InAzure)],
        );
        reprotect(&mut lab, 0);
        lab.now = 2 * HOUR_MS + 7 * MINUTE_MS;
        lab.points(&item_id(0), 0, 2 * HOUR_MS);
        let job = failback(&mut lab, Target::Item(item_id(0)), PointChoice::Latest);
        assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
        assert_eq!(
            lab.engine.job(job).unwrap().point,
            Some(PointChoice::Latest),
            "the job is still the user's failback to latest"
        );
        let synced = lab.action_names().contains(&"final-sync");
        let tag = recovered_tags(&lab)[0];
        if on {
            assert!(!synced);
            assert_eq!(tag, 2 * HOUR_MS, "the newest point before the failback");
        } else {
            assert!(synced);
            assert!(
                tag > 2 * HOUR_MS + 7 * MINUTE_MS,
                "a point made after shutdown"
            );
        }
    }
}

#[test]
fn ignore_disk_limit_lets_a_master_target_take_a_61st_disk() {
    // RP-14 / INV-CAP: mt-win has 59 disks of its own; the VM brings 2.
    for on in [true, false] {
        let mut lab = lab(
            Sabotage::IgnoreDiskLimit,
            on,
            vec![spec(0, ItemState::InAzure)],
        );
        lab.mts
            .get_mut(&MasterTargetName::from("mt-win"))
            .unwrap()
            .own_disks = 59;
        lab.discover();
        let job = reprotect(&mut lab, 0);
        let prepared = lab.action_names().contains(&"prepare-target");
        if on {
            assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
            assert!(prepared);
        } else {
            let Some(JobOutcome::Failed(f)) = lab.outcome(job) else {
                panic!("RP-14 fails the job");
            };
            assert_eq!(f.rule, Some(RuleId::Rp14));
            assert!(!prepared);
        }
    }
}

#[test]
fn leave_onprem_on_reprotects_around_a_running_onprem_vm() {
    // RJ-02 / INV-OFF
    for on in [true, false] {
        let mut lab = lab(
            Sabotage::LeaveOnpremOn,
            on,
            vec![spec(0, ItemState::InAzure)],
        );
        lab.set_onprem_power(&"vm-0".into(), PowerState::On);
        lab.discover();
        let job = reprotect(&mut lab, 0);
        assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
        assert_eq!(lab.state(0), ItemState::ProtectedToOnPrem);
        let powered_off = lab.action_names().contains(&"power-off-onprem-vm");
        let power = lab.onprem[&VmName::from("vm-0")].power;
        if on {
            assert!(!powered_off);
            assert_eq!(power, PowerState::On, "still running while protected");
        } else {
            assert!(powered_off);
            assert_eq!(power, PowerState::Off);
        }
    }
}

#[test]
fn lost_result_hang_waits_forever_for_a_lost_result() {
    // INV-LIVE
    let mut lab = lab(
        Sabotage::LostResultHang,
        true,
        vec![spec(0, ItemState::InAzure)],
    );
    lab.drop.insert("prepare-target");
    let job = reprotect(&mut lab, 0);
    let cfg = lab.engine.config().clone();
    lab.advance(lab.now + 100 * cfg.data_action_timeout_ms * cfg.max_action_attempts as u64);
    assert_eq!(lab.outcome(job), None, "the job hangs");
    assert_eq!(lab.engine.pending_actions(), 1);
    assert_eq!(lab.engine.poll_timeout(), None, "and nothing will wake it");
    assert_eq!(
        lab.action_names()
            .iter()
            .filter(|n| **n == "prepare-target")
            .count(),
        1,
        "no retry"
    );
    assert_eq!(lab.state(0), ItemState::Reprotecting);
}

#[test]
fn lost_result_hang_still_takes_a_result_that_comes_late() {
    let mut lab = lab(
        Sabotage::LostResultHang,
        true,
        vec![spec(0, ItemState::InAzure)],
    );
    lab.manual = true;
    let job = reprotect(&mut lab, 0);
    lab.resolve(0, None); // the power-off
    assert_eq!(outstanding_names(&lab), vec!["prepare-target"]);
    lab.advance(lab.now + 1000 * HOUR_MS);
    lab.manual = false;
    lab.resolve(0, None);
    assert_eq!(lab.outcome(job), Some(JobOutcome::Succeeded));
}

#[test]
fn without_lost_result_hang_a_lost_result_ends_the_job_with_a_code() {
    let mut lab = lab(
        Sabotage::LostResultHang,
        false,
        vec![spec(0, ItemState::InAzure)],
    );
    lab.drop.insert("prepare-target");
    let job = reprotect(&mut lab, 0);
    let cfg = lab.engine.config().clone();
    lab.advance(lab.now + cfg.data_action_timeout_ms * cfg.max_action_attempts as u64 + 1);
    let Some(JobOutcome::Failed(f)) = lab.outcome(job) else {
        panic!("the job fails");
    };
    assert_eq!(f.code, ErrorCode::ACTION_TIMEOUT);
    assert_eq!(lab.state(0), ItemState::InAzure);
}
