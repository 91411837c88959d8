//! Discovery: turns the estate's changes into the engine's inventory deltas, with the CS's blind spots.
//!
//! - Changes the vault knows (engine actions, Azure state, CS heartbeat, network) are reported at once.
//! - Changes behind the CS's back wait for the next discovery run (every 15 minutes; a refresh forces one).
//! - Nothing on-premises is discovered while the CS is down or while the entity's vCenter is disconnected:
//!   those changes stay pending, so the engine's picture stays stale, as the real one does.

use super::{Estate, Key};
use drsim_engine::Millis;
use drsim_engine::inventory::InventoryDelta;
use drsim_engine::time::MINUTE_MS;

/// Discovery settings and state.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// Interval between runs (DOMAIN.md §1: every 15 min).
    pub interval_ms: Millis,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            interval_ms: 15 * MINUTE_MS,
        }
    }
}

impl Discovery {
    /// The changes the vault knows at once.
    pub fn known_delta(&self, estate: &mut Estate) -> InventoryDelta {
        let keys = estate.take_known();
        delta(estate, keys)
    }

    /// A discovery run: everything changed behind the CS's back that it can see now. Changes it cannot see
    /// (CS down, vCenter disconnected) stay pending for a later run.
    pub fn run(&self, estate: &mut Estate) -> InventoryDelta {
        let keys = estate.take_undiscovered();
        let cs_up = estate.config_server.as_ref().is_some_and(|c| c.running);
        let (visible, hidden): (Vec<Key>, Vec<Key>) = keys.into_iter().partition(|k| match k {
            Key::ConfigServer | Key::Network | Key::AzureVm(_) | Key::ProcessServer(_) => true,
            Key::VCenter(_) => cs_up,
            Key::Host(n) => {
                cs_up
                    && estate
                        .hosts
                        .get(n)
                        .is_none_or(|h| estate.vcenter_reachable(&h.vcenter))
            }
            Key::Datastore(n) => {
                cs_up
                    && estate
                        .datastores
                        .get(n)
                        .is_none_or(|d| estate.vcenter_reachable(&d.vcenter))
            }
            Key::OnPremVm(n) => {
                cs_up
                    && match estate.onprem_vms.get(n) {
                        Some(_) => estate
                            .vcenter_of_vm(n)
                            .is_some_and(|vc| estate.vcenter_reachable(&vc.name)),
                        None => true,
                    }
            }
            Key::MasterTarget(n) => {
                cs_up
                    && estate.master_targets.get(n).is_none_or(|m| {
                        estate
                            .hosts
                            .get(&m.host)
                            .is_some_and(|h| estate.vcenter_reachable(&h.vcenter))
                    })
            }
        });
        estate.defer_undiscovered(hidden);
        delta(estate, visible.into_iter().collect())
    }
}

fn delta(estate: &Estate, keys: std::collections::BTreeSet<Key>) -> InventoryDelta {
    let mut d = InventoryDelta::default();
    for k in keys {
        match estate.entity(&k) {
            Some(e) => d.upserts.push(e),
            None => d.removals.extend(k.removal()),
        }
    }
    d
}
