//! `drsim fuzz` and `drsim fuzz merge` (issue 5): run a campaign, hand back failing seeds as scenario
//! files (and minimised ones), write the summary and JUnit, combine shards.

use crate::campaign::seed::SeedOptions;
use crate::campaign::summary::{Summary, write_atomically};
use crate::campaign::{SeedRange, Shard, generate, minimize, run_campaign};
use crate::cli::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};
use clap::{Args, Subcommand};
use drsim_engine::Sabotage;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// `drsim fuzz`'s arguments.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FuzzArgs {
    /// `merge`, or nothing to run a campaign.
    #[command(subcommand)]
    pub merge: Option<FuzzCommand>,
    /// How many seeds (from --first-seed).
    #[arg(long, default_value_t = 100, conflicts_with = "seed")]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Run just this seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop starting seeds after this much wall time, e.g. "2m".
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<crate::units::Duration>,
    /// Threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run shard K of N (every N-th seed from the K-th), for CI matrices, Kubernetes indexed jobs, Slurm
    /// arrays.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Write a JUnit XML file of the seeds.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Where repro files and summary.json go.
    #[arg(long, value_name = "DIR", default_value = "reports/fuzz")]
    pub out: PathBuf,
    /// Run each seed twice and compare trace digests (INV-DET).
    #[arg(long)]
    pub check_determinism: bool,
    /// Make the engine commit one known fault (`list` lists them).
    #[arg(long, value_name = "NAME")]
    pub sabotage: Option<String>,
    /// Minimise at most this many failing seeds (minimising runs the scenario many times).
    #[arg(long, default_value_t = 5)]
    pub minimize: usize,
}

/// `drsim fuzz`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum FuzzCommand {
    /// Combine the summary.json of shards into one summary (and JUnit file).
    Merge {
        /// The shards' --out directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Write the merged JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the merged summary.json here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Parses a sabotage name (or `None`), with the list of names in the error.
pub fn parse_sabotage(name: Option<&str>) -> Result<Option<Sabotage>, String> {
    name.map(|n| n.parse::<Sabotage>()).transpose()
}

/// The list `--sabotage list` prints.
pub fn sabotage_list() -> String {
    let mut s = String::new();
    for x in Sabotage::ALL {
        s.push_str(&format!(
            "{:<18} caught by {:<9} {}\n",
            x.name(),
            x.expected_invariant(),
            x.description()
        ));
    }
    s
}

/// Runs `drsim fuzz …`; the exit code.
pub fn fuzz(a: FuzzArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Some(FuzzCommand::Merge {
        dirs,
        junit,
        out: to,
    }) = a.merge
    {
        return merge(&dirs, junit.as_deref(), to.as_deref(), out, err);
    }
    if a.sabotage.as_deref() == Some("list") {
        let _ = write!(out, "{}", sabotage_list());
        return EXIT_OK;
    }
    let sabotage = match parse_sabotage(a.sabotage.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: --sabotage: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let seeds = match a.seed {
        Some(s) => vec![s],
        None => SeedRange {
            first: a.first_seed,
            count: a.seeds,
        }
        .seeds(a.shard),
    };
    let opts = SeedOptions {
        check_determinism: a.check_determinism,
        sabotage,
    };
    let bar = (std::io::stderr().is_terminal() && seeds.len() > 1).then(|| {
        let b = indicatif::ProgressBar::new(seeds.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let run = match run_campaign(
        &seeds,
        &opts,
        a.jobs,
        a.time_budget.map(|d| std::time::Duration::from_millis(d.0)),
        &|n| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        },
    ) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut summary = Summary::of(
        &run.results,
        run.skipped,
        sabotage.map(|s| s.name().to_owned()),
    );
    // hand back failing seeds as scenario files, the first few minimised
    let mut minimised = 0;
    for line in summary.seeds.iter_mut().filter(|l| !l.failed.is_empty()) {
        if line.failed.iter().any(|f| f == "generator") {
            continue;
        }
        let scenario = generate::scenario(line.seed);
        let file = a.out.join(format!("seed-{}.json", line.seed));
        if let Err(e) = write_scenario(&file, &scenario) {
            let _ = writeln!(err, "error: cannot write {}: {e}", file.display());
            return EXIT_BAD_INPUT;
        }
        line.files.push(file.display().to_string());
        let invariant = line
            .failed
            .iter()
            .find(|f| f.starts_with("INV-") && *f != "INV-DET")
            .cloned();
        if let Some(inv) = invariant
            && minimised < a.minimize
        {
            minimised += 1;
            let (min, _) = minimize::minimize(&scenario, &inv, sabotage);
            let file = a.out.join(format!("seed-{}.min.json", line.seed));
            if let Err(e) = write_scenario(&file, &min) {
                let _ = writeln!(err, "error: cannot write {}: {e}", file.display());
                return EXIT_BAD_INPUT;
            }
            line.files.push(file.display().to_string());
        }
    }
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    if let Err(e) = write_atomically(&a.out.join("summary.json"), &json) {
        let _ = writeln!(err, "error: cannot write the summary: {e}");
        return EXIT_BAD_INPUT;
    }
    if let Some(j) = &a.junit {
        match summary.junit() {
            Ok(xml) => {
                if let Err(e) = write_atomically(j, &xml) {
                    let _ = writeln!(err, "error: cannot write {}: {e}", j.display());
                    return EXIT_BAD_INPUT;
                }
            }
            Err(e) => {
                let _ = writeln!(err, "error: JUnit: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let _ = write!(out, "{}", summary.text());
    let secs = run.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "{:.1} seeds/s ({} seeds in {:.2} s)",
        run.results.len() as f64 / secs,
        run.results.len(),
        secs
    );
    if summary.seeds_failed > 0 {
        let flag = sabotage.map_or(String::new(), |s| format!(" --sabotage {}", s.name()));
        let _ = writeln!(
            out,
            "reproduce: drsim{flag} run <file> (or: drsim fuzz{flag} --seed <seed>) with drsim {} at commit {}",
            summary.version, summary.commit
        );
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn write_scenario(path: &Path, s: &crate::scenario::Scenario) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(s).map_err(std::io::Error::other)? + "\n";
    write_atomically(path, &text)
}

fn merge(
    dirs: &[PathBuf],
    junit: Option<&Path>,
    to: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut parts = Vec::new();
    for d in dirs {
        let f = d.join("summary.json");
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "error: {}: cannot read it: {e}", f.display());
                return EXIT_BAD_INPUT;
            }
        };
        match serde_json::from_str::<Summary>(&text) {
            Ok(s) => parts.push(s),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {}:{}:{}: not a drsim fuzz summary: {e}",
                    f.display(),
                    e.line(),
                    e.column()
                );
                return EXIT_BAD_INPUT;
            }
        }
    }
    let summary = match Summary::merge(parts) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(p) = to {
        let json = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
        if let Err(e) = write_atomically(p, &json) {
            let _ = writeln!(err, "error: cannot write {}: {e}", p.display());
            return EXIT_BAD_INPUT;
        }
    }
    if let Some(j) = junit {
        let written = summary
            .junit()
            .map_err(std::io::Error::other)
            .and_then(|xml| write_atomically(j, &xml));
        if let Err(e) = written {
            let _ = writeln!(err, "error: cannot write {}: {e}", j.display());
            return EXIT_BAD_INPUT;
        }
    }
    let _ = write!(out, "{}", summary.text());
    if summary.seeds_failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}
