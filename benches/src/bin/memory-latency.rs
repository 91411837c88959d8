//! How long one dependent load takes on this machine as the data outgrows each cache level: a pointer
//! chase through a random cycle over 64-byte slots, for working sets of 1 MB to 512 MB.
//!
//! Why (issue 6): the 10k/1k ratio of the fleet benches is a question of where the hot data lives. A
//! machine's event touches its machine, disks and streams at random positions, so each such touch
//! costs what a dependent load costs at the run's working set (≈ 14 MB hot at 1k, ≈ 140 MB at 10k).
//! `cargo run --release -p drsim-benches --bin memory-latency`.
//!
//! It allocates as `drsim` does (mimalloc, whose arenas this VM backs with transparent huge pages), so
//! TLB misses weigh as they do in a run; with the system allocator's 4 KB pages the large sets read
//! ≈ 20–50 % slower.

/// The allocator of the `drsim` binary (its arenas get huge pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Measures dependent-load latency by working-set size.
#[derive(Parser)]
struct Args {
    /// Working sets, in MiB (1 to 65,536).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,64,128,256,512",
        value_parser = clap::value_parser!(u64).range(1..=65_536)
    )]
    mib: Vec<u64>,
    /// Loads per working set (at least 1).
    #[arg(long, default_value_t = 20_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    loads: u64,
}

/// One cache line: the index of the next line to load.
#[repr(align(64))]
#[derive(Clone, Copy)]
struct Line {
    next: usize,
}

fn main() {
    let args = Args::parse();
    println!("working set   ns per dependent load");
    for mib in args.mib {
        let bytes = usize::try_from(mib << 20).expect("at most 64 GiB: fits a 64-bit usize");
        let lines = random_cycle(bytes / std::mem::size_of::<Line>(), mib);
        let start = Instant::now();
        let mut at = 0;
        for _ in 0..args.loads {
            at = std::hint::black_box(lines[at].next);
        }
        let ns = start.elapsed().as_nanos() as f64 / args.loads as f64;
        println!("{mib:>6} MiB   {ns:>8.1}   (ended at {at})");
    }
}

/// `n` lines linked into one cycle that visits them in a random order (a Fisher–Yates shuffle of the
/// visiting order), so that no prefetcher can guess the next line.
fn random_cycle(n: usize, seed: u64) -> Vec<Line> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let mut lines = vec![Line { next: 0 }; n];
    for w in 0..n {
        lines[order[w]].next = order[(w + 1) % n];
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chase_visits_every_line_once_per_cycle() {
        for n in [1, 2, 3, 64, 1000] {
            let lines = random_cycle(n, 7);
            let mut seen = vec![false; n];
            let mut at = 0;
            for _ in 0..n {
                assert!(!seen[at], "line {at} of {n} visited twice in one cycle");
                seen[at] = true;
                at = lines[at].next;
            }
            assert_eq!(at, 0, "back at the start after {n} loads");
            assert!(seen.iter().all(|&s| s));
        }
    }
}
