//! Scenario-level benchmarks (issue 6): one small scenario end to end (the one-VM tutorial cycle, parse
//! to verdict), and campaign seeds — the cost of one generated seed, which bounds `drsim fuzz`'s seeds/s.
//!
//! `cargo bench -p drsim-benches --bench scenario`

use criterion::{Criterion, criterion_group, criterion_main};
use drsim::campaign::seed::{SeedOptions, run_seed};
use drsim::rehearsal::rehearse;
use std::hint::black_box;
use std::path::Path;

fn tutorial(c: &mut Criterion) {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tutorial/01-one-vm-cycle.json");
    let text = std::fs::read_to_string(&file).expect("the tutorial scenario");
    c.bench_function("one-VM cycle, parse to verdict", |b| {
        b.iter(|| {
            let (_, built) =
                drsim::scenario::load_str(&file, black_box(&text), None).expect("valid");
            let r = rehearse(&built, |_| {}).expect("runs");
            assert!(r.verdict.pass());
            r.runner.trace.len()
        })
    });
}

fn campaign_seeds(c: &mut Criterion) {
    let opts = SeedOptions::default();
    let mut group = c.benchmark_group("campaign");
    group.sample_size(10);
    // ten seeds in a row, one thread: seeds/s per core = 10 / time
    group.bench_function("seeds 0..10, one core", |b| {
        b.iter(|| {
            (0..10u64)
                .map(|s| run_seed(black_box(s), &opts).passed() as u32)
                .sum::<u32>()
        })
    });
    group.finish();
}

criterion_group!(benches, tutorial, campaign_seeds);
criterion_main!(benches);
