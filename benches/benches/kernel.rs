//! Benchmark of the discrete-event kernel (`drsim_world::kernel::Kernel`) against a bare
//! `std::collections::BinaryHeap<Reverse<(u64, u64, u32)>>` running the identical workload.
//!
//! Workload ("hold model"): `P` = 1000 processes, each with exactly one pending event. Handling an
//! event increments that process's counter and schedules its next event at `now + U[1, 100]` ms,
//! the delay drawn from one seeded ChaCha8 generator. 10,000,000 events. Both variants make the
//! same draws in the same order and pop the same `(time, seq)` sequence; the run checks that their
//! counters and final clocks agree.
//!
//! `cargo bench -p drsim-benches --bench kernel` first times each variant on the full workload
//! outside criterion (best of 3, interleaved) and prints events/s and the kernel/bare ratio, then
//! runs a small criterion group (10 flat samples each). Under `cargo test` (no `--bench` flag) it
//! runs a 10,000-event smoke version only.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use drsim_world::kernel::Kernel;
use drsim_world::rng::{StableHasher, rng_from_seed};
use rand::RngExt;

/// Number of processes (= pending events at any time).
const PROCESSES: u32 = 1000;
/// Events handled per run of the full workload.
const EVENTS: u64 = 10_000_000;
/// Events per run when invoked by `cargo test` rather than `cargo bench`.
const SMOKE_EVENTS: u64 = 10_000;
/// Seed of the delay generator.
const SEED: u64 = 0x5EED_CAFE;

/// What a run produced, to check both variants did the same work.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The clock after the last event.
    now: u64,
    /// Stable digest of the per-process counters.
    counters: u64,
}

fn digest(counters: &[u64], now: u64) -> Outcome {
    let mut h = StableHasher::new();
    for &c in counters {
        h.write_u64_le(c);
    }
    Outcome {
        now,
        counters: h.digest(),
    }
}

/// The workload on the kernel.
fn run_kernel(events: u64) -> Outcome {
    let mut rng = rng_from_seed(SEED);
    let mut counters = vec![0u64; PROCESSES as usize];
    let mut k: Kernel<u32> = Kernel::with_capacity(PROCESSES as usize);
    for p in 0..PROCESSES {
        k.schedule_in(rng.random_range(1..=100u64), p);
    }
    for _ in 0..events {
        let (_, p) = k.pop().expect("every process always has one pending event");
        counters[p as usize] += 1;
        k.schedule_in(rng.random_range(1..=100u64), p);
    }
    digest(&counters, k.now())
}

/// The same workload on a bare binary heap of `(time, seq, process)`.
fn run_bare(events: u64) -> Outcome {
    let mut rng = rng_from_seed(SEED);
    let mut counters = vec![0u64; PROCESSES as usize];
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> =
        BinaryHeap::with_capacity(PROCESSES as usize);
    let mut seq = 0u64;
    for p in 0..PROCESSES {
        heap.push(Reverse((rng.random_range(1..=100u64), seq, p)));
        seq += 1;
    }
    let mut now = 0;
    for _ in 0..events {
        let Reverse((t, _, p)) = heap
            .pop()
            .expect("every process always has one pending event");
        now = t;
        counters[p as usize] += 1;
        heap.push(Reverse((t + rng.random_range(1..=100u64), seq, p)));
        seq += 1;
    }
    digest(&counters, now)
}

/// Best-of-`reps` wall time of `f`, and its (checked identical) outcome.
fn best_of(reps: usize, f: impl Fn() -> Outcome) -> (Duration, Outcome) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        let o = black_box(f());
        best = best.min(t0.elapsed());
        if let Some(prev) = &out {
            assert_eq!(prev, &o, "a run is not deterministic");
        }
        out = Some(o);
    }
    (best, out.expect("reps > 0"))
}

fn kernel_vs_bare(c: &mut Criterion) {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let events = if bench_mode { EVENTS } else { SMOKE_EVENTS };

    // Manual timing of the full workload, interleaved so both see the same machine load.
    let reps = if bench_mode { 3 } else { 1 };
    let mut kernel_best = Duration::MAX;
    let mut bare_best = Duration::MAX;
    let mut outcomes = None;
    for _ in 0..reps {
        let (tb, ob) = best_of(1, || run_bare(events));
        let (tk, ok) = best_of(1, || run_kernel(events));
        assert_eq!(ok, ob, "kernel and bare heap must do identical work");
        if let Some(prev) = &outcomes {
            assert_eq!(prev, &ok, "a run is not deterministic");
        }
        outcomes = Some(ok);
        kernel_best = kernel_best.min(tk);
        bare_best = bare_best.min(tb);
    }
    let eps = |d: Duration| events as f64 / d.as_secs_f64();
    let (k_eps, b_eps) = (eps(kernel_best), eps(bare_best));
    println!(
        "kernel workload: {PROCESSES} processes, {events} events, best of {reps}\n  \
         kernel (Kernel<u32>):                       {:>8.3} s  {:>12.0} events/s\n  \
         bare BinaryHeap<Reverse<(u64,u64,u32)>>:    {:>8.3} s  {:>12.0} events/s\n  \
         ratio kernel/bare events/s: {:.3}",
        kernel_best.as_secs_f64(),
        k_eps,
        bare_best.as_secs_f64(),
        b_eps,
        k_eps / b_eps
    );

    let mut g = c.benchmark_group("kernel");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(events));
    g.bench_function("kernel_u32", |b| b.iter(|| run_kernel(black_box(events))));
    g.bench_function("bare_binary_heap", |b| {
        b.iter(|| run_bare(black_box(events)))
    });
    g.finish();
}

criterion_group!(benches, kernel_vs_bare);
criterion_main!(benches);
