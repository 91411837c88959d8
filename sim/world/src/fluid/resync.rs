//! Resync sizing: how many bytes a full copy, an initial replication or a differential resync sends.

use drsim_engine::Millis;
use serde::{Deserialize, Serialize};

/// Why a disk needs (or runs) a resync: the bulk copy that must complete before recovery points on
/// the target become usable again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// First copy of a newly protected disk (DOMAIN.md §4: unused space skipped; up to 3 disks of
    /// one VM at a time, which the caller enforces through send rates).
    InitialReplication,
    /// The reprotect job's copy (RJ-03 OLR: differences only; RJ-04 ALR: full copy).
    Reprotect,
    /// DOMAIN.md §4 trigger: the network failed during replication.
    NetworkFailure,
    /// DOMAIN.md §4 trigger: the source VM was shut down forcibly (unflushed tracking lost).
    ForcedShutdown,
    /// DOMAIN.md §4 trigger: the disk was resized.
    DiskResized,
    /// Requested by the caller for another reason (e.g. a test or an operator action).
    Manual,
}

/// How big a resync is; turned into bytes by [`resync_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncSize {
    /// Full copy of the used blocks: ALR (RJ-04; INV-BYTES "ALR sends the used size of every disk")
    /// and initial replication (DOMAIN.md §4 "unused space is skipped").
    UsedBytes,
    /// Differential copy (RJ-03 OLR, and resync after a trigger: "it sends only blocks whose checksums
    /// differ"): the unique bytes changed by `written_bytes` of writes into a hot region of
    /// `hot_region_bytes` ([`unique_changed_bytes`]).
    Differential {
        /// Bytes written on the source since source and target last agreed.
        written_bytes: u64,
        /// Size of the region those writes fall into (the disk's working set).
        hot_region_bytes: u64,
    },
    /// An explicit byte count (clamped to the disk size).
    Bytes(u64),
}

/// Unique changed bytes after writing `written_bytes` into a hot region of `hot_region_bytes`,
/// clamped to `[0, disk_size_bytes]` (ARCHITECTURE.md "The world": `H·(1 − e^(−W/H))`).
///
/// Why this formula: if each written byte lands uniformly at random in a region of `H` bytes, the
/// expected number of distinct bytes touched after `W` writes is `H·(1 − (1 − 1/H)^W) ≈
/// H·(1 − e^(−W/H))`. Small `W` gives `≈ W` (every write new); large `W` saturates at `H` (the whole
/// working set rewritten). It is what an OLR differential resync (RJ-03) sends, and it keeps every
/// reprotect between 0 and the disk size (RJ-05, INV-BYTES).
///
/// Properties (tested): `W = 0 ⇒ 0`; non-decreasing in `W`; `≤ min(W, H, disk size)`; `→ H` as
/// `W → ∞`. Computed as `−H·expm1(−W/H)` in `f64` (accurate for small `W/H`) and floored to whole
/// bytes; deterministic on one platform.
pub fn unique_changed_bytes(
    written_bytes: u64,
    hot_region_bytes: u64,
    disk_size_bytes: u64,
) -> u64 {
    let hot = hot_region_bytes.min(disk_size_bytes);
    if written_bytes == 0 || hot == 0 {
        return 0;
    }
    let h = hot as f64;
    let x = written_bytes as f64 / h;
    let unique = -h * (-x).exp_m1();
    // `as` saturates and maps NaN to 0; the clamps keep rounding from leaving [0, min(W, H)].
    (unique.floor() as u64).min(hot).min(written_bytes)
}

/// Bytes a resync of the given size sends on a disk of `disk_size_bytes` with `used_bytes` in use;
/// always within `[0, disk_size_bytes]` (RJ-05, INV-BYTES).
pub fn resync_bytes(size: ResyncSize, disk_size_bytes: u64, used_bytes: u64) -> u64 {
    match size {
        ResyncSize::UsedBytes => used_bytes.min(disk_size_bytes),
        ResyncSize::Differential {
            written_bytes,
            hot_region_bytes,
        } => unique_changed_bytes(written_bytes, hot_region_bytes, disk_size_bytes),
        ResyncSize::Bytes(bytes) => bytes.min(disk_size_bytes),
    }
}

/// Progress of the running resync of one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncProgress {
    /// Why it runs.
    pub reason: ResyncReason,
    /// When it started.
    pub started_ms: Millis,
    /// Bytes the job sends in total (fixed at start, within `[0, disk size]`).
    pub total_bytes: u64,
    /// Bytes sent so far (whole bytes, floored).
    pub sent_bytes: u64,
    /// `total_bytes − sent_bytes`.
    pub remaining_bytes: u64,
}

/// A finished resync: what the reprotect job reports (RJ-05 bytes sent) and INV-BYTES checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncRecord {
    /// Why it ran.
    pub reason: ResyncReason,
    /// When it started.
    pub started_ms: Millis,
    /// The exact instant the last byte was applied (the first whole ms at which it had been).
    pub completed_ms: Millis,
    /// Bytes it sent.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn unique_bytes_shape() {
        assert_eq!(unique_changed_bytes(0, 10 * GB, 100 * GB), 0);
        // Small W: nearly every byte is new.
        let small = unique_changed_bytes(1_000_000, 10 * GB, 100 * GB);
        assert!((999_900..=1_000_000).contains(&small), "{small}");
        // W = H: 1 − 1/e of the region.
        let one = unique_changed_bytes(10 * GB, 10 * GB, 100 * GB);
        assert_eq!(one / 1_000_000, 6_321);
        // W → ∞: the whole hot region.
        assert_eq!(unique_changed_bytes(u64::MAX, 10 * GB, 100 * GB), 10 * GB);
        // The hot region cannot exceed the disk.
        assert_eq!(unique_changed_bytes(u64::MAX, 500 * GB, 100 * GB), 100 * GB);
        assert_eq!(unique_changed_bytes(5, 0, 100), 0);
        assert_eq!(unique_changed_bytes(5, 100, 0), 0);
    }

    #[test]
    fn resync_sizes() {
        assert_eq!(resync_bytes(ResyncSize::UsedBytes, 100, 40), 40);
        assert_eq!(resync_bytes(ResyncSize::UsedBytes, 100, 400), 100);
        assert_eq!(resync_bytes(ResyncSize::Bytes(700), 100, 40), 100);
        assert_eq!(
            resync_bytes(
                ResyncSize::Differential {
                    written_bytes: 0,
                    hot_region_bytes: 50
                },
                100,
                40
            ),
            0
        );
    }

    proptest! {
        /// RJ-05 / INV-BYTES: every resync lies within [0, disk size], unique bytes ≤ min(W, H).
        #[test]
        fn resync_bytes_within_disk(w in any::<u64>(), h in any::<u64>(), size in any::<u64>(), used in any::<u64>()) {
            let u = unique_changed_bytes(w, h, size);
            prop_assert!(u <= size && u <= h && u <= w);
            for s in [ResyncSize::UsedBytes, ResyncSize::Bytes(w), ResyncSize::Differential { written_bytes: w, hot_region_bytes: h }] {
                prop_assert!(resync_bytes(s, size, used) <= size);
            }
        }

        /// Unique changed bytes never decrease as more is written.
        #[test]
        fn unique_bytes_monotone(w in 0u64..1 << 50, dw in 0u64..1 << 40, h in 1u64..1 << 45) {
            let size = u64::MAX;
            prop_assert!(unique_changed_bytes(w, h, size) <= unique_changed_bytes(w + dw, h, size));
        }
    }
}
