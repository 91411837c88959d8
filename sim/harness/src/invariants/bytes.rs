//! INV-BYTES: bytes sent by a reprotect lie in [0, sum of disk sizes]; alternate location recovery sends
//! the used size of every disk (RJ-04, RJ-05).

use super::{Checker, StepView, Violation};
use drsim_engine::lifecycle::Operation;
use drsim_engine::protocol::RecoveryMode;
use drsim_world::world::Machine;

/// What is wrong with a machine's reprotect bytes, if anything.
pub fn bytes_violation(m: &Machine, mode: RecoveryMode) -> Option<String> {
    // Only the replicated disks count (the temporary disk and disks added after failover never replicate).
    let replicated: Vec<usize> = m
        .replication
        .as_ref()
        .map(|r| r.disks.clone())
        .unwrap_or_else(|| (0..m.disks.len()).collect());
    let size: u64 = replicated
        .iter()
        .filter_map(|d| m.disks.get(*d))
        .map(|d| d.size_bytes)
        .sum();
    let used: u64 = replicated
        .iter()
        .filter_map(|d| m.disks.get(*d))
        .map(|d| d.used_bytes)
        .sum();
    let sent = m.last_resync_bytes;
    if sent > size {
        return Some(format!(
            "`{}`'s reprotect sent {sent} bytes, more than its {size} bytes of disks",
            m.item
        ));
    }
    if mode == RecoveryMode::Alternate && sent != used {
        return Some(format!(
            "`{}`'s alternate-location reprotect sent {sent} bytes, not the {used} bytes in use",
            m.item
        ));
    }
    None
}

/// The INV-BYTES checker.
#[derive(Default)]
pub struct BytesChecker;

impl Checker for BytesChecker {
    fn id(&self) -> &'static str {
        "INV-BYTES"
    }

    fn after_step(&mut self, view: &StepView<'_>, found: &mut Vec<Violation>) {
        for j in view.succeeded_jobs(&[Operation::Reprotect]) {
            for item in j.items() {
                let (Some(m), Some(p)) = (
                    view.world.machines().get(item),
                    view.engine.item(item).and_then(|r| r.protection.as_ref()),
                ) else {
                    continue;
                };
                if let Some(message) = bytes_violation(m, p.mode) {
                    found.push(Violation {
                        invariant: "INV-BYTES",
                        at_ms: view.now,
                        item: Some(item.clone()),
                        message,
                    });
                }
            }
        }
    }
}
