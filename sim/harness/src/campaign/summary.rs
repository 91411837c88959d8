//! A campaign's summary: seeds run, failures by invariant, which fault kinds and rules were exercised and
//! how often; as text, as `summary.json` (which `drsim fuzz merge` combines across shards), and as JUnit.

use super::seed::SeedResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The summary of one campaign (or of merged shards).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// drsim's version.
    pub version: String,
    /// The git commit drsim was built from.
    pub commit: String,
    /// The sabotage switched on, if any.
    pub sabotage: Option<String>,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that failed.
    pub seeds_failed: u64,
    /// Seeds skipped when the time budget ran out.
    pub seeds_skipped: u64,
    /// Failed seeds per invariant (and `generator` for scenarios that did not build, `INV-DET` for
    /// runs whose trace differed).
    pub failures_by_invariant: BTreeMap<String, u64>,
    /// Seeds whose schedule had each fault kind.
    pub fault_kinds: BTreeMap<String, u64>,
    /// Failed readiness checks and job failures per rule, over all seeds.
    pub rules: BTreeMap<String, u64>,
    /// One line per seed, in seed order.
    pub seeds: Vec<SeedLine>,
}

/// A seed in the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLine {
    /// The seed.
    pub seed: u64,
    /// What failed (empty: passed).
    pub failed: Vec<String>,
    /// Why, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The repro file, and the minimised one, when written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// drsim's version and git commit (embedded at build time).
pub fn version() -> (String, String) {
    (
        env!("CARGO_PKG_VERSION").to_owned(),
        option_env!("DRSIM_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_owned(),
    )
}

impl Summary {
    /// Sums up seed results.
    pub fn of(results: &[SeedResult], skipped: u64, sabotage: Option<String>) -> Summary {
        let (version, commit) = version();
        let mut s = Summary {
            version,
            commit,
            sabotage,
            seeds_skipped: skipped,
            ..Summary::default()
        };
        for r in results {
            s.seeds_run += 1;
            let mut failed: Vec<String> = r.failed.iter().cloned().collect();
            if r.error.is_some() {
                failed.push("generator".into());
            }
            if r.nondeterministic {
                failed.push("INV-DET".into());
            }
            if !failed.is_empty() {
                s.seeds_failed += 1;
            }
            for f in &failed {
                *s.failures_by_invariant.entry(f.clone()).or_insert(0) += 1;
            }
            for k in &r.fault_kinds {
                *s.fault_kinds.entry(k.clone()).or_insert(0) += 1;
            }
            for (rule, n) in &r.rules {
                *s.rules.entry(rule.clone()).or_insert(0) += n;
            }
            s.seeds.push(SeedLine {
                seed: r.seed,
                failed,
                message: r.error.clone().or_else(|| r.first_violation.clone()),
                files: Vec::new(),
            });
        }
        s
    }

    /// Shard summaries combined into one (seeds in order).
    pub fn merge(parts: Vec<Summary>) -> Result<Summary, String> {
        let mut out = Summary::default();
        for p in parts {
            if out.version.is_empty() {
                out.version = p.version.clone();
                out.commit = p.commit.clone();
                out.sabotage = p.sabotage.clone();
            } else if (out.version.as_str(), out.commit.as_str(), &out.sabotage)
                != (p.version.as_str(), p.commit.as_str(), &p.sabotage)
            {
                return Err(format!(
                    "shards from different builds or sabotages: {} {} {:?} vs {} {} {:?}",
                    out.version, out.commit, out.sabotage, p.version, p.commit, p.sabotage
                ));
            }
            out.seeds_run += p.seeds_run;
            out.seeds_failed += p.seeds_failed;
            out.seeds_skipped += p.seeds_skipped;
            for (map, other) in [
                (&mut out.failures_by_invariant, p.failures_by_invariant),
                (&mut out.fault_kinds, p.fault_kinds),
                (&mut out.rules, p.rules),
            ] {
                for (k, v) in other {
                    *map.entry(k).or_insert(0) += v;
                }
            }
            out.seeds.extend(p.seeds);
        }
        out.seeds.sort_by_key(|l| l.seed);
        let before = out.seeds.len();
        out.seeds.dedup_by_key(|l| l.seed);
        if out.seeds.len() != before {
            return Err("shards overlap: a seed appears twice".into());
        }
        Ok(out)
    }

    /// The summary for people.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "drsim {} ({}){}: {} seeds run, {} failed{}",
            self.version,
            self.commit,
            self.sabotage
                .as_ref()
                .map_or(String::new(), |s| format!(", sabotage `{s}`")),
            self.seeds_run,
            self.seeds_failed,
            if self.seeds_skipped > 0 {
                format!(", {} skipped (time budget)", self.seeds_skipped)
            } else {
                String::new()
            }
        );
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.failures_by_invariant.is_empty() {
            let _ = writeln!(
                t,
                "failures by invariant: {}",
                list(&self.failures_by_invariant)
            );
        }
        let _ = writeln!(
            t,
            "fault kinds exercised (seeds): {}",
            list(&self.fault_kinds)
        );
        let _ = writeln!(
            t,
            "rules exercised (failed checks and jobs): {}",
            list(&self.rules)
        );
        for l in self.seeds.iter().filter(|l| !l.failed.is_empty()) {
            let _ = writeln!(
                t,
                "FAIL seed {}: {} — {}{}",
                l.seed,
                l.failed.join(", "),
                l.message.as_deref().unwrap_or(""),
                if l.files.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", l.files.join(", "))
                }
            );
        }
        t
    }

    /// The JUnit XML of the seeds: one test case per seed.
    pub fn junit(&self) -> Result<String, String> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("drsim-fuzz");
        let mut suite = TestSuite::new(match &self.sabotage {
            Some(s) => format!("drsim fuzz --sabotage {s}"),
            None => "drsim fuzz".to_owned(),
        });
        for l in &self.seeds {
            let status = if l.failed.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(l.failed.join(", "));
                st.set_description(format!(
                    "{}\nrepro: {}",
                    l.message.as_deref().unwrap_or(""),
                    if l.files.is_empty() {
                        format!("drsim fuzz --seed {}", l.seed)
                    } else {
                        format!("drsim run {}", l.files.join(" / "))
                    }
                ));
                st
            };
            suite.add_test_case(TestCase::new(format!("seed {}", l.seed), status));
        }
        report.add_test_suite(suite);
        report.to_string().map_err(|e| e.to_string())
    }
}

/// Writes `text` to `path` whole or not at all (see [`crate::output::write_atomically`]).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    crate::output::write_atomically(path, |w| w.write_all(text.as_bytes()))
}
