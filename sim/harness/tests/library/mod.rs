//! The scenario library's files, for the integration tests that walk it.

use std::path::{Path, PathBuf};

/// `scenarios/` of the repository.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Every scenario file under `dir`, recursively, sorted; `scenarios/bench/` and the schema left out.
fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "bench") {
                scenario_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "json")
            && p.file_name().is_some_and(|n| n != "scenario.schema.json")
        {
            out.push(p);
        }
    }
}

/// Every scenario of the library (not the bench scenarios).
pub fn all_scenarios() -> Vec<PathBuf> {
    let mut files = Vec::new();
    scenario_files(&scenarios_dir(), &mut files);
    files
}
