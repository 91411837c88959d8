//! Max-min fair allocation by progressive filling (water-filling), in integer bytes per second.
//!
//! This is SimGrid's flow model reduced to its core (ARCHITECTURE.md "Network"): every flow crosses a set of
//! resources (links, node caps) and has a limit (the smaller of its demand and its own cap). All unfixed
//! flows grow together at one level; a flow stops when the level reaches its limit, or when a resource it
//! crosses fills up. The result is the unique max-min fair allocation, up to integer rounding:
//!
//! * every resource's capacity is respected exactly (sum of rates ≤ capacity, never over by one byte);
//! * when a resource saturates at level `q` with remainder `m` (capacity left = `n·q + m`, `m < n`), all
//!   its unfixed flows get exactly `q` and the remainder — less than one byte per second per flow — is left
//!   unused. So every flow held by one bottleneck has the same rate, which lets the data plane advance a
//!   saturated link's streams together in virtual time (issue 6) instead of one by one;
//! * each flow is reported with its *bottleneck*: the resource that stopped it, or none when it stopped
//!   at its own limit;
//! * certificate (checked by the property tests): each flow is at its limit, or crosses a resource with
//!   less than one spare byte per second per flow on which no flow has a larger rate (its bottleneck).
//!
//! Cost: `O(F log F + E log R)` for `F` flows, `R` resources and `E` flow-resource incidences: flows are
//! sorted once by limit, and resources sit in a min-heap of their saturation level with lazy updates
//! (a resource's level never decreases while filling, so a stale heap entry is simply re-pushed).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::NetworkError;

/// An allocation problem: resources with capacities and flows with limits and the resources they cross,
/// stored compactly (CSR) so that a problem with tens of thousands of flows costs a few vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    capacities_bytes_per_s: Vec<u64>,
    limits_bytes_per_s: Vec<u64>,
    /// `flow_resources[flow_start[f]..flow_start[f + 1]]` = resources of flow `f`, sorted, no duplicates.
    flow_start: Vec<u32>,
    flow_resources: Vec<u32>,
}

impl Problem {
    /// An empty problem.
    pub fn new() -> Self {
        Self {
            flow_start: vec![0],
            ..Self::default()
        }
    }

    /// An empty problem with room reserved for `flows` flows and `incidences` flow-resource pairs.
    pub fn with_capacity(resources: usize, flows: usize, incidences: usize) -> Self {
        let mut flow_start = Vec::with_capacity(flows + 1);
        flow_start.push(0);
        Self {
            capacities_bytes_per_s: Vec::with_capacity(resources),
            limits_bytes_per_s: Vec::with_capacity(flows),
            flow_start,
            flow_resources: Vec::with_capacity(incidences),
        }
    }

    /// Adds a resource with this capacity (bytes per second) and returns its index (0, 1, …).
    /// Resource index order breaks ties between resources saturating at the same level.
    ///
    /// # Errors
    /// [`NetworkError::TooManyElements`] past `u32::MAX - 1` resources.
    pub fn add_resource(&mut self, capacity_bytes_per_s: u64) -> Result<u32, NetworkError> {
        let ix = u32::try_from(self.capacities_bytes_per_s.len())
            .ok()
            .filter(|&i| i < u32::MAX - 1)
            .ok_or(NetworkError::TooManyElements)?;
        self.capacities_bytes_per_s.push(capacity_bytes_per_s);
        Ok(ix)
    }

    /// Adds a flow with this limit (bytes per second; `u64::MAX` = unlimited) crossing these resources
    /// (duplicates ignored) and returns its index. Lower indices receive rounding remainders first.
    ///
    /// # Errors
    /// [`NetworkError::UnknownResourceIndex`] for a resource not added yet;
    /// [`NetworkError::TooManyElements`] past `u32::MAX - 1` flows or incidences.
    pub fn add_flow(
        &mut self,
        limit_bytes_per_s: u64,
        resources: impl IntoIterator<Item = u32>,
    ) -> Result<u32, NetworkError> {
        let ix = u32::try_from(self.limits_bytes_per_s.len())
            .ok()
            .filter(|&i| i < u32::MAX - 1)
            .ok_or(NetworkError::TooManyElements)?;
        let start = self.flow_resources.len();
        for r in resources {
            if r as usize >= self.capacities_bytes_per_s.len() {
                self.flow_resources.truncate(start);
                return Err(NetworkError::UnknownResourceIndex(r));
            }
            self.flow_resources.push(r);
        }
        self.flow_resources[start..].sort_unstable();
        let mut w = start;
        for i in start..self.flow_resources.len() {
            if w == start || self.flow_resources[w - 1] != self.flow_resources[i] {
                self.flow_resources[w] = self.flow_resources[i];
                w += 1;
            }
        }
        self.flow_resources.truncate(w);
        let Ok(end) = u32::try_from(w) else {
            self.flow_resources.truncate(start);
            return Err(NetworkError::TooManyElements);
        };
        self.flow_start.push(end);
        self.limits_bytes_per_s.push(limit_bytes_per_s);
        Ok(ix)
    }

    /// Number of resources.
    pub fn resource_count(&self) -> usize {
        self.capacities_bytes_per_s.len()
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.limits_bytes_per_s.len()
    }

    /// Capacity of resource `r` in bytes per second.
    pub fn capacity_bytes_per_s(&self, r: u32) -> Option<u64> {
        self.capacities_bytes_per_s.get(r as usize).copied()
    }

    /// Limit of flow `f` in bytes per second.
    pub fn limit_bytes_per_s(&self, f: u32) -> Option<u64> {
        self.limits_bytes_per_s.get(f as usize).copied()
    }

    /// Resources crossed by flow `f` (sorted, no duplicates); empty for an unknown flow.
    pub fn flow_resources(&self, f: u32) -> &[u32] {
        let f = f as usize;
        match (self.flow_start.get(f), self.flow_start.get(f + 1)) {
            (Some(&a), Some(&b)) => &self.flow_resources[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Solves the problem: the max-min fair rate of every flow, indexed like the flows, in bytes per
    /// second. See the module documentation for the rounding rule and the guarantees.
    ///
    /// A flow crossing no resource gets its limit (possibly `u64::MAX`). A resource of capacity 0 (a down
    /// link or node) gives all its flows 0.
    pub fn solve(&self) -> Vec<u64> {
        self.solve_with_bottlenecks().0
    }

    /// [`Problem::solve`], and for each flow the resource that stopped it (`None`: it stopped at its own
    /// limit). Flows with the same bottleneck have the same rate (that resource's level).
    pub fn solve_with_bottlenecks(&self) -> (Vec<u64>, Vec<Option<u32>>) {
        let nf = self.flow_count();
        let nr = self.resource_count();
        let mut rate = vec![0u64; nf];
        let mut bottleneck: Vec<Option<u32>> = vec![None; nf];
        let mut fixed = vec![false; nf];
        // Capacity not yet given to fixed flows, and number of unfixed flows, per resource.
        let mut avail = self.capacities_bytes_per_s.clone();
        let mut unfixed = vec![0u32; nr];
        for &r in &self.flow_resources {
            unfixed[r as usize] += 1;
        }
        // Flows of each resource in flow-index order (CSR).
        let mut res_start = vec![0u32; nr + 1];
        for r in 0..nr {
            res_start[r + 1] = res_start[r] + unfixed[r];
        }
        let mut res_flows = vec![0u32; self.flow_resources.len()];
        let mut cursor: Vec<u32> = res_start[..nr].to_vec();
        for f in 0..nf {
            for &r in self.flow_resources(f as u32) {
                res_flows[cursor[r as usize] as usize] = f as u32;
                cursor[r as usize] += 1;
            }
        }
        // Flows by (limit, index): limit events in increasing level, ties by index.
        let mut order: Vec<u32> = (0..nf as u32).collect();
        order.sort_unstable_by_key(|&f| (self.limits_bytes_per_s[f as usize], f));
        // Resources by (saturation level, index).
        let level_of =
            |avail: &[u64], unfixed: &[u32], r: usize| avail[r] / u64::from(unfixed[r].max(1));
        let mut heap: BinaryHeap<Reverse<(u64, u32)>> = (0..nr)
            .filter(|&r| unfixed[r] > 0)
            .map(|r| Reverse((level_of(&avail, &unfixed, r), r as u32)))
            .collect();

        let fix = |f: usize,
                   x: u64,
                   rate: &mut [u64],
                   fixed: &mut [bool],
                   avail: &mut [u64],
                   unfixed: &mut [u32]| {
            rate[f] = x;
            fixed[f] = true;
            for &r in self.flow_resources(f as u32) {
                let r = r as usize;
                debug_assert!(avail[r] >= x, "resource {r} over capacity");
                avail[r] = avail[r].saturating_sub(x);
                unfixed[r] = unfixed[r].saturating_sub(1);
            }
        };

        let mut next = 0usize;
        let mut level = 0u64;
        // Bounded: each iteration fixes at least one flow or pops one heap entry; every resource is
        // re-pushed at most once per change of its flows, so at most F + E + R iterations.
        loop {
            while next < nf && fixed[order[next] as usize] {
                next += 1;
            }
            // The valid heap top: resource with unfixed flows and an up-to-date level.
            let top = loop {
                let Some(&Reverse((key, r))) = heap.peek() else {
                    break None;
                };
                let r = r as usize;
                if unfixed[r] == 0 {
                    heap.pop();
                    continue;
                }
                let current = level_of(&avail, &unfixed, r);
                if current != key {
                    // A level never decreases while filling (fixing a flow at or below the level frees
                    // at least the level's share), so the stale entry is only an underestimate.
                    debug_assert!(current > key);
                    heap.pop();
                    heap.push(Reverse((current, r as u32)));
                    continue;
                }
                break Some((key, r));
            };
            let flow = (next < nf).then(|| order[next] as usize);
            let take_flow = match (flow, top) {
                (Some(f), Some((s, _))) => self.limits_bytes_per_s[f] <= s,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if let (true, Some(f)) = (take_flow, flow) {
                // Limit event: the flow stops at its own limit (ties with resources: flows first).
                let x = self.limits_bytes_per_s[f];
                debug_assert!(x >= level);
                level = x;
                fix(f, x, &mut rate, &mut fixed, &mut avail, &mut unfixed);
            } else if let Some((s, r)) = top {
                // Resource event: `r` fills up at level `s`; all its unfixed flows stop here.
                debug_assert!(s >= level);
                level = s;
                heap.pop();
                let (a, b) = (res_start[r] as usize, res_start[r + 1] as usize);
                for &f in &res_flows[a..b] {
                    let f = f as usize;
                    if fixed[f] {
                        continue;
                    }
                    bottleneck[f] = Some(r as u32);
                    fix(f, s, &mut rate, &mut fixed, &mut avail, &mut unfixed);
                }
            } else {
                break;
            }
        }
        (rate, bottleneck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn solve(caps: &[u64], flows: &[(u64, &[u32])]) -> Vec<u64> {
        let mut p = Problem::new();
        for &c in caps {
            p.add_resource(c).unwrap();
        }
        for &(l, rs) in flows {
            p.add_flow(l, rs.iter().copied()).unwrap();
        }
        p.solve()
    }

    const INF: u64 = u64::MAX;

    #[test]
    fn network_alloc_single_bottleneck_shared_equally() {
        assert_eq!(
            solve(&[300], &[(INF, &[0]), (INF, &[0]), (INF, &[0])]),
            vec![100, 100, 100]
        );
        // The remainder (less than a byte per second per flow) is left unused: equal shares.
        assert_eq!(
            solve(&[302], &[(INF, &[0]), (INF, &[0]), (INF, &[0])]),
            vec![100, 100, 100]
        );
    }

    #[test]
    fn network_alloc_capped_flow_releases_capacity() {
        assert_eq!(
            solve(&[300], &[(50, &[0]), (INF, &[0]), (INF, &[0])]),
            vec![50, 125, 125]
        );
    }

    #[test]
    fn network_alloc_two_links_in_series() {
        // Flow 0 crosses both links; flow 1 only link 0; flow 2 only link 1.
        // Link 1 (100) is the bottleneck for flows 0 and 2 (50 each); flow 1 takes the rest of link 0.
        assert_eq!(
            solve(&[1000, 100], &[(INF, &[0, 1]), (INF, &[0]), (INF, &[1])]),
            vec![50, 950, 50]
        );
    }

    #[test]
    fn network_alloc_zero_capacity_gives_zero() {
        assert_eq!(
            solve(&[0, 100], &[(INF, &[0, 1]), (INF, &[1])]),
            vec![0, 100]
        );
    }

    #[test]
    fn network_alloc_no_resources_gets_limit() {
        assert_eq!(solve(&[], &[(INF, &[]), (7, &[])]), vec![INF, 7]);
    }

    #[test]
    fn network_alloc_reports_each_flows_bottleneck() {
        // Flow 3 stops at its own limit (1); resource 1 (cap 4) fills at level 2 (flows 0, 2); resource
        // 0 (cap 7) then holds flow 1 at what is left, 4.
        let mut p = Problem::new();
        p.add_resource(7).unwrap();
        p.add_resource(4).unwrap();
        for (l, rs) in [
            (INF, vec![0, 1]),
            (INF, vec![0]),
            (INF, vec![1]),
            (1, vec![0]),
        ] {
            p.add_flow(l, rs).unwrap();
        }
        let (rates, bottlenecks) = p.solve_with_bottlenecks();
        assert_eq!(rates, vec![2, 4, 2, 1]);
        assert_eq!(bottlenecks, vec![Some(1), Some(0), Some(1), None]);
    }

    #[test]
    fn network_alloc_unknown_resource_is_an_error() {
        let mut p = Problem::new();
        p.add_resource(1).unwrap();
        assert_eq!(
            p.add_flow(1, [0, 3]),
            Err(NetworkError::UnknownResourceIndex(3))
        );
        assert_eq!(p.flow_count(), 0);
        assert_eq!(p.add_flow(1, [0, 0]), Ok(0));
        assert_eq!(p.flow_resources(0), &[0]);
    }

    /// Checks the guarantees of the module documentation; returns a description of the first violation.
    #[allow(clippy::needless_range_loop)] // parallel per-resource arrays read best by index
    pub(crate) fn check_certificate(p: &Problem, rates: &[u64]) -> Result<(), String> {
        let nr = p.resource_count();
        let mut used = vec![0u128; nr];
        let mut count = vec![0u64; nr];
        let mut max_rate = vec![0u64; nr];
        for f in 0..p.flow_count() as u32 {
            let x = rates[f as usize];
            if x > p.limit_bytes_per_s(f).unwrap() {
                return Err(format!("flow {f} above its limit"));
            }
            for &r in p.flow_resources(f) {
                used[r as usize] += u128::from(x);
                count[r as usize] += 1;
                max_rate[r as usize] = max_rate[r as usize].max(x);
            }
        }
        for r in 0..nr {
            let cap = u128::from(p.capacity_bytes_per_s(r as u32).unwrap());
            if used[r] > cap {
                return Err(format!("resource {r} over capacity: {} > {cap}", used[r]));
            }
        }
        for f in 0..p.flow_count() as u32 {
            let x = rates[f as usize];
            if x == p.limit_bytes_per_s(f).unwrap() {
                continue;
            }
            let ok = p.flow_resources(f).iter().any(|&r| {
                let r = r as usize;
                let left = u128::from(p.capacity_bytes_per_s(r as u32).unwrap()) - used[r];
                left < u128::from(count[r]) && x == max_rate[r]
            });
            if !ok {
                return Err(format!("flow {f} at {x} has no bottleneck certificate"));
            }
        }
        Ok(())
    }

    /// Real-valued progressive filling, as a reference for small inputs.
    #[allow(clippy::needless_range_loop)] // parallel per-resource arrays read best by index
    fn reference(p: &Problem) -> Vec<f64> {
        let nf = p.flow_count();
        let nr = p.resource_count();
        let mut rate = vec![0f64; nf];
        let mut fixed = vec![false; nf];
        let mut avail: Vec<f64> = (0..nr)
            .map(|r| p.capacity_bytes_per_s(r as u32).unwrap() as f64)
            .collect();
        let mut level = 0f64;
        for _ in 0..=nf {
            let unfixed: Vec<usize> = (0..nf).filter(|&f| !fixed[f]).collect();
            if unfixed.is_empty() {
                break;
            }
            let mut n = vec![0f64; nr];
            for &f in &unfixed {
                for &r in p.flow_resources(f as u32) {
                    n[r as usize] += 1.0;
                }
            }
            let mut step = f64::INFINITY;
            for r in 0..nr {
                if n[r] > 0.0 {
                    step = step.min(avail[r] / n[r]);
                }
            }
            for &f in &unfixed {
                step = step.min(p.limit_bytes_per_s(f as u32).unwrap() as f64 - level);
            }
            level += step;
            for r in 0..nr {
                avail[r] -= step * n[r];
            }
            for &f in &unfixed {
                let at_limit = level >= p.limit_bytes_per_s(f as u32).unwrap() as f64 - 1e-9;
                let saturated = p
                    .flow_resources(f as u32)
                    .iter()
                    .any(|&r| avail[r as usize] <= 1e-9);
                if at_limit || saturated {
                    fixed[f] = true;
                    rate[f] = level;
                }
            }
        }
        rate
    }

    fn cap_strategy() -> BoxedStrategy<u64> {
        prop_oneof![
            Just(0u64),
            0u64..20,
            0u64..10_000,
            Just(u64::MAX),
            (u64::MAX - 100)..u64::MAX,
        ]
        .boxed()
    }

    fn limit_strategy() -> BoxedStrategy<u64> {
        prop_oneof![
            Just(0u64),
            0u64..30,
            0u64..20_000,
            Just(u64::MAX),
            (u64::MAX / 2)..u64::MAX,
        ]
        .boxed()
    }

    fn problem_strategy(
        cap: BoxedStrategy<u64>,
        limit: BoxedStrategy<u64>,
    ) -> impl Strategy<Value = Problem> {
        (1usize..7).prop_flat_map(move |nr| {
            (
                proptest::collection::vec(cap.clone(), nr),
                proptest::collection::vec(
                    (limit.clone(), proptest::collection::vec(0..nr as u32, 0..4)),
                    0..14,
                ),
            )
                .prop_map(|(caps, flows)| {
                    let mut p = Problem::new();
                    for c in caps {
                        p.add_resource(c).unwrap();
                    }
                    for (l, rs) in flows {
                        p.add_flow(l, rs).unwrap();
                    }
                    p
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn network_alloc_prop_feasible_and_fair(p in problem_strategy(cap_strategy(), limit_strategy())) {
            let rates = p.solve();
            prop_assert_eq!(rates.len(), p.flow_count());
            if let Err(e) = check_certificate(&p, &rates) {
                return Err(TestCaseError::fail(e));
            }
            // Deterministic.
            prop_assert_eq!(rates, p.solve());
        }

        #[test]
        fn network_alloc_prop_close_to_real_max_min(
            p in problem_strategy((0u64..5_000).boxed(), prop_oneof![0u64..6_000, Just(u64::MAX)].boxed())
        ) {
            let rates = p.solve();
            let exact = reference(&p);
            let tolerance = p.flow_count() as f64 + 1.0;
            for (f, (&x, &e)) in rates.iter().zip(&exact).enumerate() {
                prop_assert!((x as f64 - e).abs() <= tolerance,
                    "flow {} integer {} vs exact {}", f, x, e);
            }
        }
    }
}
