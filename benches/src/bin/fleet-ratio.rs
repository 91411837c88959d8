//! Issue 6's linearity goal, measured one way every time: the first hours of the two fleet benches
//! (`fleet-1k-7d` and `fleet-10k-30d`, cut to the same simulated time), each run as a whole `drsim run -q`
//! process, interleaved so that both sizes see the same machine, and the 10k/1k ratio of their wall
//! times by median and by minimum (this VM's wall time jumps by 5–15 % from one minute to the next, so
//! one statistic alone misleads).
//!
//! `cargo build --release && cargo run --release -p drsim-benches --bin fleet-ratio` (from the repository
//! root; ≈ 1 minute with the defaults).

use clap::Parser;
use drsim::fleet::{FleetSize, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Measures the 10k/1k wall-time ratio for the same simulated time.
#[derive(Parser)]
struct Args {
    /// The `drsim` binary to measure.
    #[arg(long, default_value = "target/release/drsim")]
    drsim: PathBuf,
    /// Simulated time both fleets run for (their first hours: failover and the ten reprotects).
    #[arg(long, default_value = "7h")]
    duration: String,
    /// Runs of the 10k fleet (each followed by `--small-per-large` runs of the 1k).
    #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Runs of the 1k fleet after each run of the 10k.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    small_per_large: u32,
    /// Measure against 1,000 VMs on the 10k bench's own 30-day schedule (`FleetSize::scaled`)
    /// instead of the 1k bench (whose cycle takes 7 days): with `--duration 30d`, the whole cycle.
    #[arg(long)]
    same_schedule: bool,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let cut = |size: FleetSize| FleetSize {
        duration: Some(args.duration.clone()),
        ..size
    };
    let small = write(dir.path(), &cut(small_fleet(args.same_schedule)))?;
    let large = write(dir.path(), &cut(FleetSize::ten_k()))?;
    let (mut smalls, mut larges) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        larges.push(run(&args.drsim, &large)?);
        for _ in 0..args.small_per_large {
            smalls.push(run(&args.drsim, &small)?);
        }
    }
    let s = Summary::of(&mut smalls);
    let l = Summary::of(&mut larges);
    println!(
        "first {} simulated, `{} run -q`:",
        args.duration,
        args.drsim.display()
    );
    if args.same_schedule {
        println!("  (the 1k on the 10k bench's schedule)");
    }
    println!("  1k:  {s}");
    println!("  10k: {l}");
    println!(
        "  10k/1k: {:.1}x by medians, {:.1}x by minimums (goal <= 11x)",
        l.median.as_secs_f64() / s.median.as_secs_f64(),
        l.min.as_secs_f64() / s.min.as_secs_f64()
    );
    Ok(())
}

/// The 1k fleet measured against the 10k bench: the 1k bench, or 1,000 VMs on the 10k's schedule.
fn small_fleet(same_schedule: bool) -> FleetSize {
    if same_schedule {
        FleetSize::scaled(1000, FleetSize::ten_k().days)
    } else {
        FleetSize::one_k()
    }
}

/// Writes a fleet's scenario file into `dir`.
fn write(dir: &Path, size: &FleetSize) -> Result<PathBuf, String> {
    let path = dir.join(format!("{}.json", size.name));
    std::fs::write(&path, text(size))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The wall time of one whole `drsim run -q FILE` process.
fn run(drsim: &Path, file: &Path) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new(drsim)
        .args(["run", "-q"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", drsim.display()))?;
    let took = start.elapsed();
    // 0 passed, 1 an expectation failed: both ran to the end; 2 is bad input
    match status.code() {
        Some(0 | 1) => Ok(took),
        other => Err(format!(
            "{} run -q {}: exit {other:?}",
            drsim.display(),
            file.display()
        )),
    }
}

/// Median, minimum and quartiles of a set of wall times.
struct Summary {
    median: Duration,
    min: Duration,
    q1: Duration,
    q3: Duration,
    n: usize,
}

impl Summary {
    fn of(times: &mut [Duration]) -> Self {
        times.sort_unstable();
        let at = |f: usize| times[(times.len() - 1) * f / 4];
        Summary {
            median: at(2),
            min: times[0],
            q1: at(1),
            q3: at(3),
            n: times.len(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "median {:.1} ms, min {:.1}, quartiles {:.1}–{:.1} ({} runs)",
            ms(self.median),
            ms(self.min),
            ms(self.q1),
            ms(self.q3),
            self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_schedule_is_the_10k_s_cycle_at_1k() {
        let (ten, same, bench) = (FleetSize::ten_k(), small_fleet(true), small_fleet(false));
        assert_eq!(
            (same.vms, same.days, same.plans),
            (1000, ten.days, ten.plans)
        );
        assert_eq!(bench.name, FleetSize::one_k().name);
        // the same steps at the same times: only the machines and their servers differ
        let steps = |f: &FleetSize| {
            let mut v = drsim::fleet::scenario(f)["steps"].clone();
            for step in v.as_array_mut().into_iter().flatten() {
                step.as_object_mut().map(|o| o.remove("machines"));
            }
            v
        };
        assert!(steps(&ten).as_array().is_some_and(|a| a.len() == 60));
        assert_eq!(steps(&same), steps(&ten));
        assert_ne!(
            steps(&bench),
            steps(&ten),
            "the 1k bench runs its cycle in 7 days"
        );
    }

    #[test]
    fn a_summary_reads_the_sorted_times() {
        let ms = Duration::from_millis;
        let mut times = [ms(5), ms(1), ms(3), ms(2), ms(4)];
        let s = Summary::of(&mut times);
        assert_eq!(
            (s.min, s.q1, s.median, s.q3, s.n),
            (ms(1), ms(2), ms(3), ms(4), 5)
        );
        let one = Summary::of(&mut [ms(7)]);
        assert_eq!((one.min, one.median, one.q3), (ms(7), ms(7), ms(7)));
    }
}
