//! Benchmark of one data-plane quantum on the fluid model (`drsim_world::fluid::FluidDisk`, issue 6).
//!
//! **Workload**: a `Vec<FluidDisk>` at 10:00 of day 0, every disk written by diurnal churn (one of 16
//! [`DiurnalChurn`] models with 60 s quanta, means 0.2–4.7 MB/s, amplitudes 30–75 %, peaks 12:00–19:30;
//! disks share their model's tables by cloning, as the world is told to), tagging recovery points with the
//! failback policy, a 2 s transfer lag and the world's point log (`plane.rs` sets these up the same way),
//! drained at 10:00 as at a report tick.
//! One quantum is, for every disk, `advance(now + 60 s)` then `next_event_time()` — what the world does
//! to a disk when it is woken. The snapshot is cloned outside the timing for each iteration, so every
//! iteration measures the same quantum. Throughput is in disks per second.
//!
//! The disks are in one of four states, set up during the hour before 10:00:
//! * `caught_up` — send rate above the churn peak: no backlog; the next event is the next churn change
//!   (one segment of look-ahead).
//! * `backlogged` — 50 min without sending, then (from 09:50) twice the churn rate of 10:00: the backlog
//!   drains over tens of quanta, so `next_event` looks ahead segment by segment to the drain instant.
//! * `resync` — an 80 GB reprotect resync started at 09:50 at 30 MB/s: completes ~45 min later.
//! * `starved` — send rate half the churn trough (a disk behind a saturated link): the backlog never
//!   drains, so `next_event` walks its look-ahead (`LOOKAHEAD_MS`, an hour of quanta) and answers
//!   `Recheck`.
//!
//! Measured: `fluid/mix` at 1k / 10k / 100k disks (75 % caught up, 15 % backlogged, 10 % resync: a
//! replicating estate without congestion), and `fluid/state` at 10k disks, one state at a time, to show
//! what each costs (the setup prints how far ahead each state's next event is).
//!
//! Why: the world advances every woken disk through this code; at fleet scale (issue 6: 30k+ disks) its
//! per-disk cost times the number of disks woken per quantum bounds the simulated-time speed.
//!
//! `cargo bench -p drsim-benches --bench fluid -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use drsim_engine::Millis;
use drsim_engine::time::{HOUR_MS, MINUTE_MS};
use drsim_world::churn::{ChurnModel, DEFAULT_QUANTUM_MS, DiurnalChurn, DiurnalParams};
use drsim_world::fluid::{FluidDisk, FluidEventKind, ResyncReason, ResyncSize, TagPolicy};

/// The quantum advanced per iteration.
const QUANTUM_MS: Millis = DEFAULT_QUANTUM_MS;
/// The instant the measured quantum starts: 10:00 of day 0.
const T0: Millis = 10 * HOUR_MS;
/// When the disks are created (one hour of history before `T0`).
const START: Millis = T0 - HOUR_MS;
/// When the backlogged disks start sending and the resyncs start.
const SWITCH: Millis = T0 - 10 * MINUTE_MS;
const GB: u64 = 1_000_000_000;

/// What a disk is doing at `T0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    CaughtUp,
    Backlogged,
    Resync,
    Starved,
}

impl State {
    const ALL: [State; 4] = [
        State::CaughtUp,
        State::Backlogged,
        State::Resync,
        State::Starved,
    ];

    fn name(self) -> &'static str {
        match self {
            State::CaughtUp => "caught_up",
            State::Backlogged => "backlogged",
            State::Resync => "resync",
            State::Starved => "starved",
        }
    }

    /// The event kind `next_event` should find for a disk in this state at `T0 + QUANTUM_MS`.
    fn expected_event(self) -> FluidEventKind {
        match self {
            State::CaughtUp => FluidEventKind::DemandChanged,
            State::Backlogged => FluidEventKind::BacklogDrained,
            State::Resync => FluidEventKind::ResyncCompleted,
            State::Starved => FluidEventKind::Recheck,
        }
    }

    /// The mix: 75 % caught up, 15 % backlogged, 10 % resync.
    fn of_mix(k: usize) -> State {
        match k % 20 {
            0..15 => State::CaughtUp,
            15..18 => State::Backlogged,
            _ => State::Resync,
        }
    }
}

/// A churn model with its lowest and highest quantum rates (bytes/s).
struct Model {
    churn: ChurnModel,
    trough_bps: u64,
    peak_bps: u64,
}

/// The 16 shared diurnal models.
fn models() -> Vec<Model> {
    (0..16u64)
        .map(|m| {
            let d = DiurnalChurn::new(DiurnalParams {
                mean_bps: 200_000 + 300_000 * m,
                amplitude_permille: 300 + 30 * m as u16,
                peak_minute_of_day: (12 * 60 + 30 * m) as u16,
                quantum_ms: QUANTUM_MS,
            })
            .expect("valid diurnal parameters");
            let rates: Vec<u64> = (0..24 * 60).map(|k| d.quantum_rate_bps(k)).collect();
            Model {
                churn: ChurnModel::Diurnal(d),
                trough_bps: *rates.iter().min().expect("rates"),
                peak_bps: *rates.iter().max().expect("rates"),
            }
        })
        .collect()
}

/// Disk `k` in `state`, brought to `T0`.
fn disk(k: usize, state: State, models: &[Model]) -> FluidDisk {
    let m = &models[k % models.len()];
    let mut d = FluidDisk::new(START, 200 * GB, 80 * GB, m.churn.clone());
    d.set_transfer_lag(START, 2_000);
    d.set_tag_policy(START, Some(TagPolicy::default()))
        .expect("valid policy");
    d.enable_point_log(4096);
    match state {
        State::CaughtUp => d.set_send_rate(START, m.peak_bps + 1),
        State::Starved => d.set_send_rate(START, m.trough_bps / 2),
        State::Backlogged => d.set_send_rate(SWITCH, 2 * m.churn.rate_at(T0) + 1),
        State::Resync => {
            d.set_send_rate(START, m.peak_bps + 1);
            d.start_resync(SWITCH, ResyncReason::Reprotect, ResyncSize::UsedBytes);
            d.set_send_rate(SWITCH, 30_000_000);
        }
    }
    d.advance(T0);
    // A report tick at T0, as the world's: drain the point log. (Undrained, the clone of each
    // iteration would have a full log and reallocate it on its first push, inside the timing.)
    d.take_usable_points();
    d
}

/// `n` disks at `T0`, disk `k` in `state_of(k)`.
fn disks(n: usize, models: &[Model], state_of: impl Fn(usize) -> State) -> Vec<FluidDisk> {
    (0..n).map(|k| disk(k, state_of(k), models)).collect()
}

/// One quantum: every disk advanced to `T0 + QUANTUM_MS` and asked for its next event.
fn quantum(disks: &mut [FluidDisk]) -> u64 {
    let to = T0 + QUANTUM_MS;
    let mut acc = 0u64;
    for d in disks.iter_mut() {
        d.advance(to);
        acc = acc.wrapping_add(d.next_event_time().unwrap_or(0));
    }
    acc
}

/// Checks each state does what the docs say and prints how far ahead its next event is (in quanta).
fn check_states(models: &[Model]) {
    for state in State::ALL {
        let mut ds = disks(64, models, |_| state);
        quantum(&mut ds);
        let mut ahead = Vec::new();
        for d in &ds {
            let e = d.next_event().expect("an event");
            assert_eq!(e.kind, state.expected_event(), "{state:?}: {d:?}");
            ahead.push((e.at_ms - (T0 + QUANTUM_MS)).div_ceil(QUANTUM_MS));
        }
        ahead.sort_unstable();
        println!(
            "fluid/state/{}: next event {:?}, {}..={} quanta ahead (median {})",
            state.name(),
            state.expected_event(),
            ahead[0],
            ahead[ahead.len() - 1],
            ahead[ahead.len() / 2]
        );
    }
}

fn fluid(c: &mut Criterion) {
    let models = models();
    check_states(&models);

    let mut g = c.benchmark_group("fluid/mix");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for n in [1_000usize, 10_000, 100_000] {
        let snapshot = disks(n, &models, State::of_mix);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(n.to_string(), |b| {
            b.iter_batched(
                || snapshot.clone(),
                |mut ds| {
                    black_box(quantum(&mut ds));
                    ds
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("fluid/state");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    let n = 10_000usize;
    g.throughput(Throughput::Elements(n as u64));
    for state in State::ALL {
        let snapshot = disks(n, &models, |_| state);
        g.bench_function(format!("{}/{n}", state.name()), |b| {
            b.iter_batched(
                || snapshot.clone(),
                |mut ds| {
                    black_box(quantum(&mut ds));
                    ds
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, fluid);
criterion_main!(benches);
