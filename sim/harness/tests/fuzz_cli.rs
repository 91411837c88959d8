//! `drsim fuzz` from the outside (issue 5): a failing campaign hands back a scenario file and a minimised
//! one that `drsim run` reproduces, with the seed, version and commit printed and a JUnit file written;
//! shards merge into one summary; determinism can be checked; sabotages are listed.

use std::path::Path;
use std::process::{Command, Output};

fn drsim(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("drsim runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_failing_seed_comes_back_as_a_minimal_scenario_that_reproduces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let o = drsim(
        &[
            "fuzz",
            "--seed",
            "1",
            "--sabotage",
            "skip-final-sync",
            "--out",
            "out",
            "--junit",
            "junit.xml",
            "--minimize",
            "1",
        ],
        d,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAIL seed 1: INV-LOSS"), "{t}");
    assert!(t.contains("at commit "), "version and commit printed: {t}");
    let junit = std::fs::read_to_string(d.join("junit.xml")).expect("JUnit written");
    assert!(
        junit.contains("<testsuites") && junit.contains("seed 1"),
        "{junit}"
    );
    let full = d.join("out/seed-1.json");
    let min = d.join("out/seed-1.min.json");
    let size = |p: &Path| std::fs::read_to_string(p).expect("written").len();
    assert!(size(&min) < size(&full), "the minimised file is smaller");
    for f in [&full, &min] {
        let f = f.to_str().expect("utf-8 path");
        let o = drsim(&["run", "-q", "--sabotage", "skip-final-sync", f], d);
        assert_eq!(o.status.code(), Some(1), "{f} reproduces: {}", text(&o));
        let o = drsim(&["run", "-q", f], d);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{f} passes without the sabotage: {}",
            text(&o)
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("out/summary.json")).expect("summary"),
    )
    .expect("JSON");
    assert_eq!(summary["failures_by_invariant"]["INV-LOSS"], 1);
}

#[test]
fn shards_merge_into_one_summary_and_determinism_can_be_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for (shard, out) in [("1/2", "a"), ("2/2", "b")] {
        let o = drsim(
            &[
                "fuzz",
                "--seeds",
                "4",
                "--shard",
                shard,
                "--out",
                out,
                "--check-determinism",
            ],
            d,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("2 seeds run, 0 failed"), "{}", text(&o));
    }
    let o = drsim(
        &[
            "fuzz", "merge", "a", "b", "--junit", "all.xml", "--out", "all.json",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("4 seeds run, 0 failed"), "{}", text(&o));
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("all.json")).expect("merged"))
            .expect("JSON");
    let seeds: Vec<u64> = all["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(|s| s["seed"].as_u64().expect("seed"))
        .collect();
    assert_eq!(seeds, vec![0, 1, 2, 3]);
    // the same shard twice overlaps
    let o = drsim(&["fuzz", "merge", "a", "a"], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn sabotages_are_listed_and_unknown_ones_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = drsim(&["fuzz", "--sabotage", "list"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0));
    for name in [
        "early-power-on",
        "split-group",
        "skip-final-sync",
        "ignore-disk-limit",
        "leave-onprem-on",
        "lost-result-hang",
    ] {
        assert!(t.contains(name), "{t}");
    }
    let o = drsim(&["fuzz", "--seed", "1", "--sabotage", "nope"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("early-power-on"),
        "the error lists the names"
    );
}
