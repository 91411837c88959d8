//! The operator's steps for an imported machine: the rest of the cycle of DOMAIN.md §2 from the state it
//! starts in — failover and its commit, reprotect with the machine's master target, process server,
//! datastore and retention drive (RJ-01), failback to the latest point (FB-03), its commit (FB-06) and
//! re-protection to Azure (RA-01) — each step after the one before has succeeded.

use crate::scenario::steps::{AfterOutcome, Op, Point, Step};
use crate::units::Duration;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::recovery_point::PointChoice;

/// A machine's reprotect values (RJ-01).
#[derive(Clone, Debug)]
pub struct Values {
    /// Its master target.
    pub master_target: String,
    /// Its process server.
    pub process_server: String,
    /// Its target datastore.
    pub datastore: String,
    /// Its master target's retention drive.
    pub retention_drive: String,
}

/// When the steps run.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The first step's time.
    pub start: Duration,
    /// From a succeeded reprotect to the failback: long enough for the resync to finish (FB-01).
    pub failback_after: Duration,
}

/// The operations from `state` to the end of the cycle, each with its delay after the one before.
pub fn operations(state: ItemState, t: &Timing) -> Vec<(Op, Duration)> {
    let m = drsim_engine::time::MINUTE_MS;
    let all = [
        (Op::Failover, Duration(0)),
        (Op::CommitFailover, Duration(30 * m)),
        (Op::Reprotect, Duration(60 * m)),
        (Op::Failback, t.failback_after),
        (Op::CommitFailback, Duration(30 * m)),
        (Op::ReprotectToAzure, Duration(10 * m)),
    ];
    let from = match state {
        ItemState::ProtectedToAzure => 0,
        ItemState::FailedOver => 1,
        ItemState::InAzure => 2,
        ItemState::ProtectedToOnPrem => 3,
        ItemState::FailedBack => 4,
        ItemState::OnPrem => 5,
        _ => all.len(),
    };
    all[from..].to_vec()
}

/// A step id: the operation and the machine, `reprotect app01`.
pub fn step_id(op: Op, machine: &str) -> String {
    format!("{} {machine}", crate::verdict::kebab(&op))
}

/// The steps of one machine starting in `state`.
pub fn steps(machine: &str, state: ItemState, values: &Values, t: &Timing) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for (op, delay) in operations(state, t) {
        let after = out.last().and_then(|s| s.id.clone());
        let reprotect = op == Op::Reprotect;
        let value = |v: &String| reprotect.then(|| v.clone());
        out.push(Step {
            id: Some(step_id(op, machine)),
            at: after.is_none().then_some(t.start),
            delay: after.as_ref().map(|_| delay),
            after,
            if_outcome: AfterOutcome::Succeeded,
            op,
            item: Some(machine.to_owned()),
            plan: None,
            point: matches!(op, Op::Failover | Op::Failback).then_some(Point(PointChoice::Latest)),
            master_target: value(&values.master_target),
            process_server: value(&values.process_server),
            datastore: value(&values.datastore),
            retention_drive: value(&values.retention_drive),
            location: None,
            machines: Vec::new(),
            job: None,
            group: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_from_each_state() {
        let t = Timing {
            start: Duration(3_600_000),
            failback_after: Duration(7_200_000),
        };
        let v = Values {
            master_target: "mt".into(),
            process_server: "ps".into(),
            datastore: "ds".into(),
            retention_drive: "R:".into(),
        };
        let s = steps("app01", ItemState::ProtectedToAzure, &v, &t);
        let ops: Vec<Op> = s.iter().map(|x| x.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Failover,
                Op::CommitFailover,
                Op::Reprotect,
                Op::Failback,
                Op::CommitFailback,
                Op::ReprotectToAzure
            ]
        );
        assert_eq!(s[0].at, Some(t.start));
        assert_eq!(s[3].after.as_deref(), Some("reprotect app01"));
        assert_eq!(s[3].delay, Some(t.failback_after));
        assert_eq!(s[2].master_target.as_deref(), Some("mt"));
        assert!(s[3].master_target.is_none());
        let s = steps("app01", ItemState::ProtectedToOnPrem, &v, &t);
        assert_eq!(s[0].op, Op::Failback);
        assert_eq!(s[0].at, Some(t.start));
        assert!(steps("app01", ItemState::Disabled, &v, &t).is_empty());
    }
}
