//! Fault-injection campaigns (issue 5), in the manner of FoundationDB's simulator and TigerBeetle's VOPR:
//! thousands of generated scenarios ([`generate`]) with swarm fault schedules, every invariant checked
//! ([`seed`]), parallel over seeds and shardable over machines, and each failure handed back as a scenario
//! file plus a minimised one ([`minimize`]) that `drsim run` reproduces. [`summary`] aggregates seeds,
//! writes JUnit and merges shards.

pub mod generate;
pub mod minimize;
pub mod seed;
pub mod summary;

use rayon::prelude::*;
use seed::{SeedOptions, SeedResult, run_seed};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as WallDuration, Instant};

/// Which seeds a campaign runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub first: u64,
    /// How many.
    pub count: u64,
}

/// One shard of a campaign: shard `k` (1-based) of `n` takes every `n`-th seed from the `k`-th.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=n.
    pub k: u64,
    /// How many shards.
    pub n: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a shard; expected K/N, e.g. 2/8"))?;
        let (k, n): (u64, u64) = (
            k.trim()
                .parse()
                .map_err(|_| format!("`{k}` is not a shard number"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("`{n}` is not a shard count"))?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: K must be 1 to N"));
        }
        Ok(Shard { k, n })
    }
}

impl SeedRange {
    /// The seeds of `shard`, in order.
    pub fn seeds(&self, shard: Option<Shard>) -> Vec<u64> {
        (0..self.count)
            .filter(|i| shard.is_none_or(|s| i % s.n == s.k - 1))
            .map(|i| self.first + i)
            .collect()
    }
}

/// What a campaign run gives: the results of the seeds it got to, in seed order.
pub struct CampaignRun {
    /// Per seed.
    pub results: Vec<SeedResult>,
    /// Seeds skipped when the time budget ran out.
    pub skipped: u64,
    /// Wall time.
    pub elapsed: WallDuration,
}

/// Runs `seeds` on `jobs` threads (all cores if None), stopping to start new ones once `budget` is spent;
/// `progress` is told how many seeds are done.
pub fn run_campaign(
    seeds: &[u64],
    opts: &SeedOptions,
    jobs: Option<usize>,
    budget: Option<WallDuration>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<CampaignRun, String> {
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let work = || {
        seeds
            .par_iter()
            .map(|&seed| {
                if stop.load(Ordering::Relaxed) || budget.is_some_and(|b| start.elapsed() >= b) {
                    stop.store(true, Ordering::Relaxed);
                    return None;
                }
                let r = run_seed(seed, opts);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                Some(r)
            })
            .collect::<Vec<Option<SeedResult>>>()
    };
    let out = match jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|e| e.to_string())?
            .install(work),
        None => work(),
    };
    let skipped = out.iter().filter(|r| r.is_none()).count() as u64;
    Ok(CampaignRun {
        results: out.into_iter().flatten().collect(),
        skipped,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seeds() {
        let range = SeedRange {
            first: 10,
            count: 10,
        };
        let mut all: Vec<u64> = (1..=3)
            .flat_map(|k| range.seeds(Some(Shard { k, n: 3 })))
            .collect();
        all.sort_unstable();
        assert_eq!(all, range.seeds(None));
        assert_eq!(range.seeds(Some("2/3".parse().unwrap())), vec![11, 14, 17]);
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
