//! `drsim run --report` and `drsim plan` from the command line: files written whole, defaults, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scenario(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn drsim(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drsim"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("drsim runs")
}

const GROUPS: &str = "scenarios/tutorial/03-recovery-plan-groups.json";
/// The files a report consists of.
const REPORT_FILES: &[&str] = drsim::report::write::FILES;

#[test]
fn run_writes_every_report_file_into_reports_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(GROUPS);
    let out = drsim(
        dir.path(),
        &["run", "-q", file.to_str().unwrap(), "--report"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let at = dir.path().join("reports/03-recovery-plan-groups");
    for f in REPORT_FILES {
        let meta = std::fs::metadata(at.join(f)).unwrap_or_else(|_| panic!("{f} written"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    // nothing but the report files (no temporary file left behind)
    let mut names: Vec<String> = std::fs::read_dir(&at)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = REPORT_FILES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    let items = std::fs::read_to_string(at.join("items.csv")).unwrap();
    assert!(items.starts_with("item,plan,rpo_p50_s,"));
    assert_eq!(items.lines().count(), 5, "a header and four machines");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(at.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["plans"][0]["plan"], "rp-shop");
    assert!(summary["fleet"]["rpo"]["p95_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn an_unknown_item_is_bad_input_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(GROUPS);
    let out = drsim(
        dir.path(),
        &[
            "run",
            "-q",
            file.to_str().unwrap(),
            "--report",
            "r",
            "--item",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--item `nope`"), "{err}");
    assert!(!dir.path().join("r").exists());
    // --item only makes sense with --report
    let out = drsim(
        dir.path(),
        &["run", file.to_str().unwrap(), "--item", "pg01"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plan_writes_its_files_and_refuses_bad_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(GROUPS);
    let out = drsim(
        dir.path(),
        &[
            "plan",
            file.to_str().unwrap(),
            "--bandwidth",
            "20Mbps..1Gbps",
            "--bandwidth-steps",
            "3",
            "--process-servers",
            "1..2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("6 points (3 bandwidths × 2 process-server counts)"),
        "{text}"
    );
    assert!(text.contains("RPO held 100 % of the time"), "{text}");
    let at = dir.path().join("reports/03-recovery-plan-groups-plan");
    let csv = std::fs::read_to_string(at.join("plan.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(at.join("plan.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 6);
    assert!(
        !json["recommendations"]["process_servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        std::fs::read_to_string(at.join("plan.html"))
            .unwrap()
            .contains("<table>")
    );
    for (flag, value, needle) in [
        ("--bandwidth", "1Gbps..10Mbps", "backwards"),
        ("--bandwidth", "fast", "not a bandwidth"),
        ("--process-servers", "0", "at least 1"),
        ("--growth", "lots", "not a percentage"),
        ("--rpo", "soon", "--rpo"),
    ] {
        let out = drsim(
            dir.path(),
            &["plan", file.to_str().unwrap(), flag, value, "-o", "x"],
        );
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flag} {value}: {err}");
        assert!(!dir.path().join("x").exists());
    }
}
