//! Issue 6's linearity goal, measured one way every time: the first hours of the two fleet benches
//! (`fleet-1k-7d` and `fleet-10k-30d`, cut to the same simulated time), each run as a whole `drsim run -q`
//! process, interleaved so that both sizes see the same machine, and the 10k/1k ratio of their wall
//! times by median and by minimum (this VM's wall time jumps by 5–15 % from one minute to the next, so
//! one statistic alone misleads). Beside the wall time, each process's CPU time in user space and in
//! the kernel: on this VM a page the process touches first costs ≈ 2 ms per MB in the kernel once the
//! guest has handed its free memory back to the host, which the 10k's 270 MB pay and the 1k's 60 MB
//! barely do, so the two ratios tell the simulator's cost from the memory's.
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
    let [s, s_user, s_sys] = Sample::summaries(&smalls);
    let [l, l_user, l_sys] = Sample::summaries(&larges);
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
        ratio(l.median, s.median),
        ratio(l.min, s.min)
    );
    println!(
        "  CPU by medians: user {:.0} / {:.0} ms = {:.1}x, system {:.0} / {:.0} ms = {:.1}x",
        ms(l_user.median),
        ms(s_user.median),
        ratio(l_user.median, s_user.median),
        ms(l_sys.median),
        ms(s_sys.median),
        ratio(l_sys.median, s_sys.median)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// One process: its wall time and its CPU time in user space and in the kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

impl Sample {
    /// Summaries of the wall, user and system times.
    fn summaries(samples: &[Sample]) -> [Summary; 3] {
        [|x: &Sample| x.wall, |x: &Sample| x.user, |x: &Sample| x.sys]
            .map(|f| Summary::of(&mut samples.iter().map(f).collect::<Vec<_>>()))
    }
}

/// The CPU time (user, system) of every child process waited for so far.
fn children_cpu() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given, which points at one.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) } == 0;
    if !ok {
        return (Duration::ZERO, Duration::ZERO);
    }
    // SAFETY: zeroed (a valid `rusage`: plain integers) and, on success, filled in.
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    (time(usage.ru_utime), time(usage.ru_stime))
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

/// The wall and CPU times of one whole `drsim run -q FILE` process.
fn run(drsim: &Path, file: &Path) -> Result<Sample, String> {
    let (user, sys) = children_cpu();
    let start = Instant::now();
    let status = Command::new(drsim)
        .args(["run", "-q"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", drsim.display()))?;
    let wall = start.elapsed();
    let (user_after, sys_after) = children_cpu();
    // 0 passed, 1 an expectation failed: both ran to the end; 2 is bad input
    match status.code() {
        Some(0 | 1) => Ok(Sample {
            wall,
            user: user_after.saturating_sub(user),
            sys: sys_after.saturating_sub(sys),
        }),
        other => Err(format!(
            "{} run -q {}: exit {other:?}",
            drsim.display(),
            file.display()
        )),
    }
}

/// Median, minimum and quartiles of a set of times.
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
    fn a_process_s_cpu_time_is_counted_once_it_is_waited_for() {
        // a child that burns CPU in user space: its time shows in the children's rusage after the wait
        let (user, _) = children_cpu();
        let status = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        let (after, _) = children_cpu();
        assert!(after > user, "{user:?} then {after:?}");
    }

    #[test]
    fn samples_are_summarised_per_time() {
        let ms = Duration::from_millis;
        let at = |w, u, s| Sample {
            wall: ms(w),
            user: ms(u),
            sys: ms(s),
        };
        let [wall, user, sys] = Sample::summaries(&[at(30, 2, 9), at(10, 3, 7), at(20, 1, 8)]);
        assert_eq!((wall.min, wall.median), (ms(10), ms(20)));
        assert_eq!((user.min, user.median), (ms(1), ms(2)));
        assert_eq!((sys.min, sys.median), (ms(7), ms(8)));
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
