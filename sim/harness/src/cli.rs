//! The `drsim` command line: `run`, `check`, `schema`. Exit codes: 0 every invariant and expectation
//! held, 1 one did not, 2 bad input (the message names file, line:column, field path and what was
//! expected).

use crate::rehearsal::{self, Rehearsal};
use crate::report;
use crate::scenario;
use crate::timeline::{self, Detail};
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit code: every invariant and expectation held.
pub const EXIT_OK: i32 = 0;
/// Exit code: an invariant or expectation failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

/// drsim rehearses reprotect and failback from Azure to on-premises VMware, deterministically.
#[derive(Debug, Parser)]
#[command(
    name = "drsim",
    version,
    about = "drsim rehearses reprotect and failback from Azure to on-premises VMware, deterministically.",
    after_help = "Exit codes: 0 every invariant and expectation held, 1 one failed, 2 bad input."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run scenario files: a timeline, then a verdict per invariant and expectation.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write a JSONL trace of every engine input and output (with several files: a directory that
        /// gets one `<scenario name>.jsonl` each).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print the summary as JSON (one object per line per file) instead of the timeline.
        #[arg(long)]
        json: bool,
        /// Print only the verdict.
        #[arg(short, long)]
        quiet: bool,
        /// Also print every action and passing readiness check.
        #[arg(short, long)]
        verbose: bool,
        /// Make the engine commit one known fault (see `drsim fuzz --sabotage list`).
        #[arg(long, value_name = "NAME")]
        sabotage: Option<String>,
        /// Write reports (rpo.csv, backlog.csv, throughput.csv, items.csv, jobs.csv, summary.json,
        /// report.html) into DIR; without DIR into `reports/<scenario name>/` (with several files:
        /// `DIR/<scenario name>/`).
        #[arg(long, value_name = "DIR", num_args = 0..=1)]
        report: Option<Option<PathBuf>>,
        /// A machine that gets its own RPO and backlog series in the report whatever its rank
        /// (repeatable; with more than 100 machines only the 20 worst get one otherwise).
        #[arg(long = "item", value_name = "NAME", requires = "report")]
        items: Vec<String>,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Run a fault-injection campaign over generated scenarios (or merge shards' summaries).
    Fuzz(crate::fuzz_cli::FuzzArgs),
    /// Import an estate as a scenario: `drsim import rvtools EXPORT -o scenario.json`.
    Import(crate::import::cli::ImportArgs),
    /// What-if sweeps over bandwidth and process servers, with sizing recommendations.
    Plan(crate::plan::PlanArgs),
}

/// Runs the CLI on parsed arguments; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match cli.command {
        CliCommand::Schema => {
            let _ = out.write_all(scenario::schema_json().as_bytes());
            EXIT_OK
        }
        CliCommand::Check { files } => {
            let mut code = EXIT_OK;
            for f in &files {
                let loaded = scenario::load(f, None).and_then(|(s, b)| {
                    // what the world and engine would still refuse (nothing should reach here)
                    match crate::Runner::new(b.world.clone(), b.items.clone(), b.config.clone()) {
                        Ok(_) => Ok((s, b)),
                        Err(e) => Err(scenario::InputError {
                            file: f.clone(),
                            line: 0,
                            column: 0,
                            path: String::new(),
                            message: e.to_string(),
                        }),
                    }
                });
                match loaded {
                    Ok((s, b)) => {
                        let _ = writeln!(
                            out,
                            "{}: ok ({}: {} machines, {} steps, {} faults)",
                            f.display(),
                            s.name,
                            b.items.len(),
                            b.script.len(),
                            b.world.faults.len()
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(err, "error: {e}");
                        code = EXIT_BAD_INPUT;
                    }
                }
            }
            code
        }
        CliCommand::Fuzz(a) => crate::fuzz_cli::fuzz(a, out, err),
        CliCommand::Import(a) => crate::import::cli::import(a, out, err),
        CliCommand::Plan(a) => crate::plan::plan(a, out, err),
        CliCommand::Run {
            files,
            trace,
            seed,
            json,
            quiet,
            verbose,
            sabotage,
            report,
            items,
        } => {
            let sabotage = match crate::fuzz_cli::parse_sabotage(sabotage.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "error: --sabotage: {e}");
                    return EXIT_BAD_INPUT;
                }
            };
            let opts = RunOpts {
                sabotage,
                trace,
                report,
                items,
                several: files.len() > 1,
                seed,
                json,
                quiet,
                detail: if verbose {
                    Detail::Verbose
                } else {
                    Detail::Normal
                },
            };
            let mut traced = std::collections::BTreeSet::new();
            files
                .iter()
                .map(|f| run_one(f, &opts, &mut traced, out, err))
                .max()
                .unwrap_or(EXIT_OK)
        }
    }
}

struct RunOpts {
    sabotage: Option<drsim_engine::Sabotage>,
    trace: Option<PathBuf>,
    /// `--report`: None absent, Some(None) without a directory.
    report: Option<Option<PathBuf>>,
    items: Vec<String>,
    several: bool,
    seed: Option<u64>,
    json: bool,
    quiet: bool,
    detail: Detail,
}

fn run_one(
    file: &Path,
    o: &RunOpts,
    traced: &mut std::collections::BTreeSet<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let (mut scenario, mut built) = match scenario::load(file, o.seed) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // The build holds all the run reads of the file's machines: their list goes before the run, whose
    // allocations then reuse its memory (10 MB of the 10k bench's peak; a page the process touches
    // first costs up to ≈ 2 ms per MB in the kernel on this machine class; issue 6).
    scenario.machines = Vec::new();
    if (o.trace.is_some() || o.report.is_some())
        && o.several
        && !traced.insert(scenario.name.clone())
    {
        let _ = writeln!(
            err,
            "error: {}: another scenario is named `{}` too: their traces or reports would overwrite each other",
            file.display(),
            scenario.name
        );
        return EXIT_BAD_INPUT;
    }
    crate::campaign::seed::apply_sabotage(&mut built, o.sabotage);
    if o.report.is_some()
        && let Some(n) = o
            .items
            .iter()
            .find(|n| !built.items.iter().any(|i| i.id.0 == **n))
    {
        let _ = writeln!(
            err,
            "error: {}: {}",
            file.display(),
            report::UnknownItem(n.clone())
        );
        return EXIT_BAD_INPUT;
    }
    let mut recorder = o
        .report
        .as_ref()
        .map(|_| report::Recorder::new(built.report_interval_ms, built.duration_ms));
    let bar = progress_bar(built.duration_ms, !o.quiet && !o.json);
    // `-q` alone prints only the verdict: the trace's bulk (progress observations) need not be kept
    let keep_progress = !o.quiet || o.json || o.trace.is_some();
    let result = rehearsal::rehearse_recording(&built, recorder.as_mut(), keep_progress, |t| {
        if let Some(b) = &bar {
            b.set_position(t / 1000);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let r: Rehearsal = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {}: {e}", file.display());
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(path) = &o.trace {
        let path = if o.several {
            path.join(format!("{}.jsonl", scenario.name))
        } else {
            path.clone()
        };
        if let Err(e) = write_trace(&path, &r) {
            let _ = writeln!(err, "error: cannot write the trace {}: {e}", path.display());
            return EXIT_BAD_INPUT;
        }
    }
    if let (Some(dir), Some(rec)) = (&o.report, &recorder) {
        let dir = report_dir(dir.as_deref(), &scenario.name, o.several);
        let written = report::build(&scenario.name, &built, &r, rec, &o.items)
            .map_err(|e| e.to_string())
            .and_then(|rep| report::write::write_dir(&rep, &dir).map_err(|e| e.to_string()));
        if let Err(e) = written {
            let _ = writeln!(
                err,
                "error: {}: cannot write the report into {}: {e}",
                file.display(),
                dir.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    let pass = r.verdict.pass();
    let verdict = if pass { "PASS" } else { "FAIL" };
    if o.json {
        let summary = rehearsal::summarise(&file.display().to_string(), &scenario, &built, &r);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(&summary).unwrap_or_default()
        );
    } else if o.quiet {
        let _ = writeln!(out, "{verdict} {}", file.display());
    } else {
        let _ = writeln!(
            out,
            "drsim run {} — scenario `{}`, seed {}, {} simulated",
            file.display(),
            scenario.name,
            scenario.seed,
            crate::units::human_duration(built.duration_ms)
        );
        let _ = write!(out, "{}", timeline::render(&built, &r, o.detail));
        let _ = write!(out, "{}", timeline::verdict_block(&r));
        let _ = writeln!(
            out,
            "{verdict} {} (trace digest {:016x})",
            file.display(),
            r.runner.trace_digest()
        );
    }
    free_aside((r, built, scenario, recorder));
    if pass { EXIT_OK } else { EXIT_FAILED }
}

/// Frees a finished run (with its report samples) on a thread of its own, so that the answer is not
/// kept waiting for it (issue 6): at 10,000 machines the run's object graph is ≈ 300 MB, and walking it
/// to free it took ≈ 0.07 s after everything was printed (3 % of the first 7 h of the 10k bench, most
/// of it cache misses). The binary exits without waiting for the thread; a caller that runs on (tests,
/// several files) gets the memory back once the thread is done, while its next run starts. Nothing of
/// a run's output depends on when its memory is freed.
fn free_aside<T: Send + 'static>(finished: T) {
    let freed = std::thread::Builder::new()
        .name("drsim-free".into())
        .spawn(move || drop(finished));
    // without a thread (the OS refused one), the caller frees it: `spawn` dropped the closure
    drop(freed);
}

/// Where a run's report goes: `--report` without a directory means `reports/<scenario name>/`; with
/// several files each scenario gets `DIR/<scenario name>/`.
fn report_dir(given: Option<&Path>, scenario: &str, several: bool) -> PathBuf {
    match given {
        None => Path::new("reports").join(scenario),
        Some(d) if several => d.join(scenario),
        Some(d) => d.to_path_buf(),
    }
}

/// A progress bar over simulated seconds, on stderr, only when stderr is a terminal.
fn progress_bar(duration_ms: u64, wanted: bool) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(duration_ms / 1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulated {pos}/{len} s [{bar:40}] {elapsed_precise}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Writes the trace as JSONL, atomically (no half-written trace is ever left).
fn write_trace(path: &Path, r: &Rehearsal) -> std::io::Result<()> {
    crate::output::write_atomically(path, |w| {
        for ev in &r.runner.trace {
            serde_json::to_writer(&mut *w, ev)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Parses the process's arguments and runs; the process's exit code. Clap's own usage errors exit 2.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
        }
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(cli, &mut stdout.lock(), &mut stderr.lock())
}
