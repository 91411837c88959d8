//! The scenario library (issue 4): every file under `scenarios/` except `scenarios/bench/` runs through the
//! built binary and must exit 0; every file points at the committed JSON Schema, which must be fresh; every
//! rule ID of DOMAIN.md §3 has its file under `scenarios/rules/`; runs are deterministic and traces are
//! written whole.

mod library;

use drsim_engine::rules::RuleId;
use library::{all_scenarios, scenarios_dir};
use std::path::PathBuf;
use std::process::Command;

fn drsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drsim"))
}

#[test]
fn committed_schema_is_fresh() {
    let committed = std::fs::read_to_string(scenarios_dir().join("scenario.schema.json"))
        .expect("scenarios/scenario.schema.json is committed");
    assert!(
        committed == drsim::scenario::schema_json(),
        "scenarios/scenario.schema.json is stale: run `cargo run -- schema > scenarios/scenario.schema.json`"
    );
    let out = drsim().arg("schema").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[test]
fn every_scenario_passes() {
    let files = all_scenarios();
    assert!(files.len() >= 5, "the library has scenarios: {files:?}");
    let mut failed = Vec::new();
    for f in &files {
        let out = drsim().args(["run", "-q"]).arg(f).output().expect("runs");
        if out.status.code() != Some(0) {
            let full = drsim().arg("run").arg(f).output().expect("runs");
            failed.push(format!(
                "{} exited {:?}:\n{}{}",
                f.display(),
                out.status.code(),
                String::from_utf8_lossy(&full.stdout),
                String::from_utf8_lossy(&full.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_scenario_names_the_schema() {
    let schema = scenarios_dir().join("scenario.schema.json");
    for f in all_scenarios() {
        let text = std::fs::read_to_string(&f).expect("readable");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let Some(rel) = v.get("$schema").and_then(|s| s.as_str()) else {
            panic!("{} has no \"$schema\"", f.display());
        };
        let target = f.parent().expect("in a dir").join(rel);
        assert!(
            target.canonicalize().ok() == schema.canonicalize().ok(),
            "{}: \"$schema\" {rel} is not scenarios/scenario.schema.json",
            f.display()
        );
        let name = v.get("name").and_then(|s| s.as_str()).unwrap_or_default();
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert_eq!(stem, name, "{}: `name` is the file name", f.display());
    }
}

#[test]
fn every_rule_has_its_scenario() {
    let names: Vec<String> = std::fs::read_dir(scenarios_dir().join("rules"))
        .expect("scenarios/rules exists")
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let missing: Vec<&str> = RuleId::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|id| !names.iter().any(|n| n.starts_with(&format!("{id}-"))))
        .collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
}

fn tutorial() -> PathBuf {
    scenarios_dir().join("tutorial/01-one-vm-cycle.json")
}

fn digest(extra: &[&str]) -> String {
    let out = drsim()
        .args(["run", "--json"])
        .args(extra)
        .arg(tutorial())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "pass");
    v["trace_digest"].as_str().expect("digest").to_owned()
}

#[test]
fn same_scenario_and_seed_give_the_same_trace() {
    let a = digest(&[]);
    assert_eq!(a, digest(&[]), "INV-DET: two runs differ");
    assert_ne!(a, digest(&["--seed", "8"]), "the seed reaches the run");
}

#[test]
fn the_trace_is_jsonl_of_every_input_and_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("trace.jsonl");
    let out = drsim()
        .args(["run", "-q", "--trace"])
        .arg(&path)
        .arg(tutorial())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).expect("trace written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(lines.len() > 100, "{} lines", lines.len());
    assert!(
        lines
            .iter()
            .any(|l| l["dir"] == "in" && l["input"]["op"] == "failback")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["dir"] == "out" && l["output"]["output"] == "action")
    );
    // nothing half-written beside it
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn quiet_prints_only_the_verdict_and_json_is_one_object() {
    let out = drsim()
        .args(["run", "-q"])
        .arg(tutorial())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("PASS "));
    let out = drsim().arg("run").arg(tutorial()).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "USER    step failback",
        "failback [app01] started",
        "INV-SPLIT",
        "PASS ",
    ] {
        assert!(text.contains(needle), "`{needle}` in:\n{text}");
    }
}
