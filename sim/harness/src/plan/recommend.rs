//! What a sweep recommends, in the Deployment Planner's terms (DOMAIN.md §5) and for failback, which no
//! vendor tool sizes: the bandwidth that holds the desired RPO 100 % and 90 % of the time, the RPO each
//! bandwidth achieves, process servers by the scale-out sizing table, the initial-replication batch that
//! finishes within the goal, and how long reprotect and failback take.

use super::point::PointResult;
use crate::import::sizing::{PS_TIERS, PsTier};
use serde::Serialize;

/// A way to deploy process servers: so many of one tier of DOMAIN.md §5's scale-out table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PsOption {
    /// How many.
    pub count: usize,
    /// vCPUs each.
    pub cpus: u32,
    /// Memory each, GB.
    pub memory_gb: u32,
    /// Cache disk each, bytes.
    pub cache_bytes: u64,
    /// Most churn a day each handles, bytes.
    pub max_daily_bytes: u64,
    /// Most machines each serves.
    pub max_machines: usize,
}

/// Process servers for `machines` machines writing `daily_bytes` a day (growth included), by the tiers of
/// DOMAIN.md §5: of each tier as many as the larger of churn / tier limit and machines / tier limit,
/// rounded up. Fewest servers first; of tiers needing as many servers, only the smallest.
pub fn process_servers(machines: usize, daily_bytes: u64) -> Vec<PsOption> {
    let mut options: Vec<PsOption> = PS_TIERS
        .iter()
        .map(|t: &PsTier| PsOption {
            count: daily_bytes
                .div_ceil(t.max_daily)
                .max(machines.div_ceil(t.max_machines) as u64)
                .max(1) as usize,
            cpus: t.cpus,
            memory_gb: t.memory_gb,
            cache_bytes: t.cache,
            max_daily_bytes: t.max_daily,
            max_machines: t.max_machines,
        })
        .collect();
    // a larger tier in the same number of servers is never the better deal
    options.sort_by_key(|o| (o.count, o.cpus));
    options.dedup_by_key(|o| o.count);
    options
}

/// How many machines, smallest first, can replicate initially within `goal_ms` at `bytes_per_s` left
/// after the churn of the machines already protected (`churn_bytes_per_s`): the Deployment Planner's
/// initial-replication batch.
pub fn ir_batch(sizes: &[u64], bytes_per_s: u64, churn_bytes_per_s: u64, goal_ms: u64) -> usize {
    let spare = u128::from(bytes_per_s.saturating_sub(churn_bytes_per_s));
    let budget = spare * u128::from(goal_ms) / 1000;
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let mut sum = 0u128;
    sorted
        .iter()
        .take_while(|&&s| {
            sum += u128::from(s);
            sum <= budget
        })
        .count()
}

/// The smallest swept bandwidth whose best point (any number of process servers) kept the RPO within
/// the desired RPO at least `pct` % of the time, with that point.
pub fn bandwidth_meeting(points: &[PointResult], pct: f64) -> Option<&PointResult> {
    points
        .iter()
        .filter(|p| p.rpo_compliance_pct.is_some_and(|c| c >= pct - 1e-9))
        .min_by_key(|p| (p.variant.bandwidth_bytes_per_s, p.variant.process_servers))
}

/// The RPO each swept bandwidth achieves (its best point), as (bytes/s, RPO at the percentile s, peak s).
pub fn achievable_rpo(points: &[PointResult]) -> Vec<(u64, Option<f64>, Option<f64>)> {
    let mut bws: Vec<u64> = points
        .iter()
        .map(|p| p.variant.bandwidth_bytes_per_s)
        .collect();
    bws.sort_unstable();
    bws.dedup();
    bws.into_iter()
        .map(|bw| {
            let best = points
                .iter()
                .filter(|p| p.variant.bandwidth_bytes_per_s == bw)
                .min_by(|a, b| {
                    let key = |p: &PointResult| p.rpo_percentile_s.unwrap_or(f64::INFINITY);
                    key(a).total_cmp(&key(b))
                });
            (
                bw,
                best.and_then(|p| p.rpo_percentile_s),
                best.and_then(|p| p.rpo_peak_s),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::sizing::{GB, TB};

    #[test]
    fn process_servers_follow_the_sizing_table_of_domain_5() {
        // 200 machines writing 1.5 TB a day: one PS of the 1–2 TB class, or two of the 251 GB–1 TB class
        let o = process_servers(200, 1_500 * GB);
        assert_eq!((o[0].count, o[0].cpus, o[0].cache_bytes), (1, 12, TB));
        assert!(
            o.iter()
                .any(|x| x.count == 2 && x.cpus == 8 && x.cache_bytes == 600 * GB),
            "{o:?}"
        );
        // the smallest class needs six (250 GB/day each)
        assert!(o.iter().any(|x| x.count == 6 && x.cpus == 4));
        // 80 machines at 200 GB/day: one of the smallest (≤ 250 GB/day, ≤ 85 machines) is enough
        let small = process_servers(80, 200 * GB);
        assert_eq!((small[0].count, small[0].cpus), (1, 4));
        // more than 225 machines need two even of the largest
        assert_eq!(process_servers(300, GB)[0].count, 2);
    }

    #[test]
    fn the_ir_batch_fills_the_spare_bandwidth_over_the_goal() {
        // 100 MB/s spare for 10 s = 1 GB: machines of 300, 300, 400 and 500 MB ⇒ three fit
        let sizes = [500_000_000, 300_000_000, 400_000_000, 300_000_000];
        assert_eq!(ir_batch(&sizes, 110_000_000, 10_000_000, 10_000), 3);
        assert_eq!(ir_batch(&sizes, 10_000_000, 10_000_000, 10_000), 0);
        assert_eq!(ir_batch(&sizes, u64::MAX / 2, 0, 10_000), 4);
    }
}
