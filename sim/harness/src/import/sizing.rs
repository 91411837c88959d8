//! Sizing the failback infrastructure of an imported estate: process servers by DOMAIN.md §5's
//! scale-out table (daily churn and machine count per PS), master targets by RP-07/RP-12/RP-14 (one OS,
//! on a host that writes the machines' datastores, at most 60 disks with their own), and retention
//! drives for the failback policy's 24-hour window with the deployment planner's 30 % growth.

use drsim_engine::inventory::OsType;

/// Bytes in a decimal gigabyte (DOMAIN.md §5 counts GB and TB per day).
pub const GB: u64 = 1_000_000_000;
/// Bytes in a decimal terabyte.
pub const TB: u64 = 1_000 * GB;

/// One scale-out process server tier of DOMAIN.md §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsTier {
    /// vCPUs.
    pub cpus: u32,
    /// Memory, GB.
    pub memory_gb: u32,
    /// Cache disk, bytes.
    pub cache: u64,
    /// Most churn a day it handles, bytes.
    pub max_daily: u64,
    /// Most machines it serves.
    pub max_machines: usize,
}

/// DOMAIN.md §5: 4 vCPU/8 GB/300 GB ⇒ ≤ 250 GB/day, ≤ 85 machines; 8/12/600 GB ⇒ ≤ 1 TB/day, ≤ 150;
/// 12/24/1 TB ⇒ ≤ 2 TB/day, ≤ 225.
pub const PS_TIERS: [PsTier; 3] = [
    PsTier {
        cpus: 4,
        memory_gb: 8,
        cache: 300 * GB,
        max_daily: 250 * GB,
        max_machines: 85,
    },
    PsTier {
        cpus: 8,
        memory_gb: 12,
        cache: 600 * GB,
        max_daily: TB,
        max_machines: 150,
    },
    PsTier {
        cpus: 12,
        memory_gb: 24,
        cache: TB,
        max_daily: 2 * TB,
        max_machines: 225,
    },
];

/// A process server to deploy: its tier and the machines it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsPlan {
    /// The smallest tier that carries its load (the largest when none does).
    pub tier: PsTier,
    /// Indexes of its machines, ascending.
    pub machines: Vec<usize>,
    /// Their churn a day, bytes.
    pub daily: u64,
}

/// Process servers for machines with these daily churns (bytes): as few as the largest tier allows
/// (2 TB/day, 225 machines each), machines spread by the largest-first greedy rule so their loads are
/// even, each then given the smallest tier that carries its load.
pub fn process_servers(daily: &[u64]) -> Vec<PsPlan> {
    let top = PS_TIERS[PS_TIERS.len() - 1];
    let total: u128 = daily.iter().map(|&d| u128::from(d)).sum();
    let by_churn = total.div_ceil(u128::from(top.max_daily)) as usize;
    let by_count = daily.len().div_ceil(top.max_machines);
    let n = by_churn.max(by_count).max(1);
    let mut plans: Vec<PsPlan> = (0..n)
        .map(|_| PsPlan {
            tier: top,
            machines: Vec::new(),
            daily: 0,
        })
        .collect();
    let mut order: Vec<usize> = (0..daily.len()).collect();
    order.sort_by(|a, b| daily[*b].cmp(&daily[*a]).then(a.cmp(b)));
    let per_ps = daily.len().div_ceil(n).max(1);
    for m in order {
        let pick = (0..n)
            .filter(|&p| plans[p].machines.len() < per_ps)
            .min_by_key(|&p| (plans[p].daily, p))
            .unwrap_or(0);
        plans[pick].machines.push(m);
        plans[pick].daily = plans[pick].daily.saturating_add(daily[m]);
    }
    for p in &mut plans {
        p.machines.sort_unstable();
        p.tier = PS_TIERS
            .iter()
            .copied()
            .find(|t| p.daily <= t.max_daily && p.machines.len() <= t.max_machines)
            .unwrap_or(top);
    }
    plans
}

/// What a master target must serve for one machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtNeed {
    /// The machine's OS (RP-07).
    pub os: OsType,
    /// Hosts (indexes) that write the machine's target datastore (RP-12), best first.
    pub hosts: Vec<usize>,
    /// Its disks (RP-14).
    pub disks: u32,
}

/// A master target to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtPlan {
    /// Its OS.
    pub os: OsType,
    /// The host (index) it runs on.
    pub host: usize,
    /// Indexes of its machines, in order.
    pub machines: Vec<usize>,
    /// Their disks.
    pub disks: u32,
}

/// Master targets for `needs`, Windows ones first: each machine joins the first master target of its
/// OS on a host that writes its datastore with room for its disks (`max_disks` minus the MT's
/// `own_disks`), or gets a new one on its best host. A machine with more disks than a master target
/// holds gets one of its own (its reprotect then fails RP-14, as it would for real).
pub fn master_targets(needs: &[MtNeed], max_disks: u32, own_disks: u32) -> Vec<MtPlan> {
    let room = max_disks.saturating_sub(own_disks);
    let mut plans: Vec<MtPlan> = Vec::new();
    for os in [OsType::Windows, OsType::Linux] {
        for (i, need) in needs.iter().enumerate().filter(|(_, n)| n.os == os) {
            let existing = plans.iter_mut().find(|p| {
                p.os == os && need.hosts.contains(&p.host) && p.disks + need.disks <= room
            });
            match existing {
                Some(p) => {
                    p.machines.push(i);
                    p.disks += need.disks;
                }
                None => plans.push(MtPlan {
                    os,
                    host: need.hosts.first().copied().unwrap_or(0),
                    machines: vec![i],
                    disks: need.disks,
                }),
            }
        }
    }
    plans
}

/// A retention drive for machines writing `daily` bytes a day, kept for `retention_ms` (the failback
/// policy's 24 h): that much churn plus 30 % growth (the deployment planner's factor), rounded up to
/// whole GB, at least 100 GB.
pub fn retention_bytes(daily: u64, retention_ms: u64) -> u64 {
    let day_ms = u128::from(drsim_engine::time::DAY_MS);
    let kept = u128::from(daily) * u128::from(retention_ms) / day_ms;
    let grown = kept * 13 / 10;
    let gb = grown.div_ceil(u128::from(GB)).max(100);
    u64::try_from(gb * u128::from(GB)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_tiers_follow_domain_5() {
        let one = process_servers(&[100 * GB]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].tier.cache, 300 * GB);
        let mid = process_servers(&vec![3 * GB; 100]);
        assert_eq!(
            (mid.len(), mid[0].tier.cache),
            (1, 600 * GB),
            "86–150 machines"
        );
        let big = process_servers(&vec![15 * GB; 100]);
        assert_eq!((big.len(), big[0].tier.cache), (1, TB), "1.5 TB/day");
        let two = process_servers(&vec![30 * GB; 100]);
        assert_eq!(two.len(), 2, "3 TB/day needs two");
        assert_eq!(two[0].machines.len() + two[1].machines.len(), 100);
        assert!(two.iter().all(|p| p.daily <= 2 * TB));
        let many = process_servers(&vec![GB; 300]);
        assert_eq!(many.len(), 2, "more than 225 machines");
        assert!(many.iter().all(|p| p.machines.len() == 150));
        assert_eq!(process_servers(&[]).len(), 1);
    }

    #[test]
    fn master_targets_respect_os_hosts_and_60_disks() {
        let need = |os, hosts: &[usize], disks| MtNeed {
            os,
            hosts: hosts.to_vec(),
            disks,
        };
        let needs = [
            need(OsType::Linux, &[0], 4),
            need(OsType::Windows, &[0, 1], 30),
            need(OsType::Windows, &[1], 27),
            need(OsType::Windows, &[1], 1),
            need(OsType::Windows, &[2], 70),
        ];
        let plans = master_targets(&needs, 60, 3);
        let summary: Vec<(OsType, usize, Vec<usize>, u32)> = plans
            .iter()
            .map(|p| (p.os, p.host, p.machines.clone(), p.disks))
            .collect();
        assert_eq!(
            summary,
            vec![
                (OsType::Windows, 0, vec![1], 30),
                (OsType::Windows, 1, vec![2, 3], 28),
                (OsType::Windows, 2, vec![4], 70),
                (OsType::Linux, 0, vec![0], 4),
            ]
        );
    }

    #[test]
    fn retention_holds_a_day_and_growth() {
        let day = drsim_engine::time::DAY_MS;
        assert_eq!(retention_bytes(0, day), 100 * GB);
        assert_eq!(retention_bytes(1000 * GB, day), 1300 * GB);
        assert_eq!(retention_bytes(1000 * GB, day / 2), 650 * GB);
    }
}
