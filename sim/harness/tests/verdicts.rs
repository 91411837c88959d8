//! Steps and verdicts: `after` chains with `if`, cancel, not-run; every kind of expectation can fail, and a
//! failed one makes `drsim run` exit 1.

use drsim::rehearsal::{Rehearsal, rehearse};
use drsim::scenario::load_str;
use std::path::Path;

/// A one-VM estate in Azure; `steps` and `expect` are JSON fragments.
fn scenario(steps: &str, expect: &str, faults: &str) -> String {
    format!(
        r#"{{
  "name": "verdicts",
  "duration": "1d",
  "inventory": {{
    "vcenters": [{{ "name": "vc1" }}],
    "hosts": [{{ "name": "esx1", "vcenter": "vc1", "datastores": ["ds1"] }}],
    "datastores": [{{ "name": "ds1", "vcenter": "vc1", "capacity": "10TB" }}],
    "process_servers": [{{ "name": "ps1" }}],
    "master_targets": [{{ "name": "mt1", "os": "windows", "host": "esx1",
        "retention_drives": [{{ "name": "R:", "capacity": "1TB" }}] }}]
  }},
  "network": {{ "bandwidth": "1Gbps" }},
  "machines": [{{ "name": "app01", "os": "windows", "state": "in-azure", "host": "esx1",
      "disks": [{{ "size": "100GiB", "used": "40GiB" }}] }}],
  "steps": [{steps}],
  "faults": [{faults}],
  "expect": {expect}
}}"#
    )
}

const REPROTECT: &str = r#"{ "id": "rp", "at": "10m", "op": "reprotect", "item": "app01",
    "master_target": "mt1", "process_server": "ps1", "datastore": "ds1", "retention_drive": "R:" }"#;

fn run(text: &str) -> Rehearsal {
    let (_, built) = load_str(Path::new("t.json"), text, None).expect("valid");
    rehearse(&built, |_| {}).expect("runs")
}

fn failed_expectations(r: &Rehearsal) -> Vec<String> {
    r.verdict
        .expectations
        .iter()
        .filter(|e| !e.ok)
        .map(|e| format!("{} — {}", e.what, e.seen))
        .collect()
}

#[test]
fn after_chains_follow_the_outcome() {
    let steps = format!(
        r#"{REPROTECT},
        {{ "id": "fb", "after": "rp", "delay": "2h", "op": "failback", "item": "app01" }},
        {{ "id": "again", "after": "rp", "if": "failed", "op": "reprotect", "item": "app01",
           "master_target": "mt1", "process_server": "ps1", "datastore": "ds1", "retention_drive": "R:" }},
        {{ "id": "commit", "after": "fb", "if": "ended", "op": "commit-failback", "item": "app01" }}"#
    );
    let expect = r#"{
        "jobs": [
          { "step": "rp", "outcome": "succeeded" },
          { "step": "fb", "outcome": "succeeded" },
          { "step": "again", "outcome": "not-run" },
          { "step": "commit", "outcome": "succeeded" }
        ],
        "states": { "app01": "on-prem" }
    }"#;
    let r = run(&scenario(&steps, expect, ""));
    assert!(r.verdict.pass(), "{:?}", failed_expectations(&r));
    let fb = &r.runner.steps[1];
    let rp = &r.runner.steps[0];
    assert_eq!(fb.ran_ms, Some(rp.ended_ms.expect("ended") + 2 * 3_600_000));
}

#[test]
fn a_failed_job_starts_the_retry_and_cancel_cancels() {
    // the CS is down at the first reprotect (RP-01); the retry after the heal succeeds; then a failback is
    // cancelled while it runs
    let steps = format!(
        r#"{REPROTECT},
        {{ "id": "retry", "after": "rp", "if": "failed", "delay": "2h", "op": "reprotect", "item": "app01",
           "master_target": "mt1", "process_server": "ps1", "datastore": "ds1", "retention_drive": "R:" }},
        {{ "id": "fb", "after": "retry", "delay": "2h", "op": "failback", "item": "app01" }},
        {{ "id": "stop", "after": "retry", "delay": "121m", "op": "cancel", "job": "fb" }}"#
    );
    let expect = r#"{
        "jobs": [
          { "step": "rp", "outcome": "failed", "rule": "RP-01", "code": 910001,
            "failed_step": "Prerequisites check" },
          { "step": "retry", "outcome": "succeeded" },
          { "step": "fb", "outcome": "cancelled" }
        ],
        "checks": [{ "step": "rp", "rule": "RP-01", "verdict": "fail" }],
        "states": { "app01": "protected-to-on-prem" }
    }"#;
    let faults = r#"{ "at": "5m", "heal": "1h", "fault": { "kind": "config-server-down" } }"#;
    let r = run(&scenario(&steps, expect, faults));
    assert!(r.verdict.pass(), "{:?}", failed_expectations(&r));
}

#[test]
fn every_kind_of_expectation_can_fail() {
    let steps = format!(
        r#"{REPROTECT},
        {{ "id": "fb", "after": "rp", "delay": "2h", "op": "failback", "item": "app01" }}"#
    );
    let expect = r#"{
        "jobs": [
          { "step": "rp", "outcome": "failed", "rule": "RP-06" },
          { "step": "fb", "outcome": "failed", "failed_step": "Prerequisites check" }
        ],
        "states": { "app01": "in-azure" },
        "rpo": [{ "item": "app01", "max": "1s" }],
        "reprotect_bytes": [{ "step": "rp", "max": "1MB" }],
        "alerts": [{ "item": "app01", "alert": "split-brain-risk" }],
        "checks": [{ "step": "rp", "rule": "RP-06", "verdict": "fail" }],
        "data_loss": [{ "step": "fb", "min": "1GB" }],
        "order": [{ "step": "fb", "first": ["app01"], "then": ["app01"] }],
        "violations": ["INV-SPLIT"]
    }"#;
    let r = run(&scenario(&steps, expect, ""));
    let failed = failed_expectations(&r);
    assert_eq!(failed.len(), 9, "{failed:#?}");
    let split = r
        .verdict
        .invariants
        .iter()
        .find(|i| i.id == "INV-SPLIT")
        .expect("listed");
    assert!(!split.ok && split.expected_flagged && split.violations.is_empty());
    assert!(!r.verdict.pass());
    // the same expectations, right, pass
    let expect = r#"{
        "jobs": [
          { "step": "rp", "outcome": "succeeded" },
          { "step": "fb", "outcome": "succeeded" }
        ],
        "states": { "app01": "failed-back" },
        "rpo": [{ "item": "app01", "max": "20m", "from": "1h" }],
        "reprotect_bytes": [{ "step": "rp", "max": "100GiB" }],
        "checks": [{ "step": "rp", "rule": "RP-06", "verdict": "pass" }],
        "data_loss": [{ "step": "fb", "max": "0B" }]
    }"#;
    let r = run(&scenario(&steps, expect, ""));
    assert!(r.verdict.pass(), "{:?}", failed_expectations(&r));
}

#[test]
fn steps_after_a_refusal_or_a_jobless_command_run_by_their_outcome() {
    // a failback refused (FB-01: in-azure) releases `if: failed` and `if: ended`, not `if: succeeded`;
    // refresh-discovery needs no job and counts as succeeded
    let steps = r#"{ "id": "fb", "at": "1h", "op": "failback", "item": "app01" },
        { "id": "on-fail", "after": "fb", "if": "failed", "op": "refresh-discovery" },
        { "id": "on-end", "after": "fb", "if": "ended", "delay": "5m", "op": "refresh-discovery" },
        { "id": "on-ok", "after": "fb", "op": "refresh-discovery" },
        { "id": "chained", "after": "on-fail", "op": "refresh-discovery" }"#;
    let expect = r#"{
        "jobs": [
          { "step": "fb", "outcome": "refused", "rule": "FB-01", "code": 990002 },
          { "step": "on-fail", "outcome": "succeeded" },
          { "step": "on-end", "outcome": "succeeded" },
          { "step": "on-ok", "outcome": "not-run" },
          { "step": "chained", "outcome": "succeeded" }
        ]
    }"#;
    let r = run(&scenario(steps, expect, ""));
    assert!(r.verdict.pass(), "{:?}", failed_expectations(&r));
    assert_eq!(r.runner.steps[2].ran_ms, Some(3_600_000 + 300_000));
}

#[test]
fn reprotect_bytes_of_a_failed_reprotect_do_not_pass() {
    let expect = r#"{ "reprotect_bytes": [{ "step": "rp", "max": "384GiB" }] }"#;
    let faults = r#"{ "at": "5m", "heal": "1h", "fault": { "kind": "config-server-down" } }"#;
    let r = run(&scenario(REPROTECT, expect, faults));
    assert_eq!(
        failed_expectations(&r),
        vec!["reprotect `rp` sends 0B..384GiB — its job did not succeed".to_owned()]
    );
}

#[test]
fn a_failed_expectation_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("s.json");
    let expect = r#"{ "jobs": [{ "step": "rp", "outcome": "refused" }] }"#;
    std::fs::write(&file, scenario(REPROTECT, expect, "")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drsim"))
        .arg("run")
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  step `rp` refused — succeeded"),
        "{text}"
    );
}
