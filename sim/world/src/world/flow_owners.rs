//! Which machine's disk each stream's flow carries: looked up by every wake-up of a stream (at 10,000
//! machines ≈ 240,000 in the first 7 hours of the bench), so a flat table by flow id rather than a
//! `BTreeMap` (whose search down 30,000 flows missed the cache at every wake-up, issue 6). The world
//! numbers flows from 0 and never reuses a number, so the table is dense; it grows by one entry per
//! stream ever started (≈ 32 bytes each).

use crate::network::FlowId;
use drsim_engine::ids::ItemId;

/// Flow id → `(machine, disk index)` of the streams that run.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlowOwners {
    by_flow: Vec<Option<(ItemId, usize)>>,
}

impl FlowOwners {
    /// The machine and disk whose stream `flow` is, while it runs.
    pub(crate) fn get(&self, flow: &FlowId) -> Option<&(ItemId, usize)> {
        let i = usize::try_from(flow.0).ok()?;
        self.by_flow.get(i)?.as_ref()
    }

    /// Notes that `flow` now carries disk `d` of `item`.
    pub(crate) fn insert(&mut self, flow: FlowId, owner: (ItemId, usize)) {
        let i = usize::try_from(flow.0).expect("flow ids are numbered from 0 in memory");
        if self.by_flow.len() <= i {
            self.by_flow.resize(i + 1, None);
        }
        self.by_flow[i] = Some(owner);
    }

    /// Forgets `flow` (its stream ended).
    pub(crate) fn remove(&mut self, flow: &FlowId) {
        if let Some(slot) = usize::try_from(flow.0)
            .ok()
            .and_then(|i| self.by_flow.get_mut(i))
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_found_by_flow_until_removed() {
        let mut o = FlowOwners::default();
        assert_eq!(o.get(&FlowId(0)), None);
        o.insert(FlowId(3), (ItemId::from("vm-a"), 2));
        o.insert(FlowId(0), (ItemId::from("vm-b"), 0));
        assert_eq!(o.get(&FlowId(3)), Some(&(ItemId::from("vm-a"), 2)));
        assert_eq!(o.get(&FlowId(0)), Some(&(ItemId::from("vm-b"), 0)));
        assert_eq!(o.get(&FlowId(1)), None, "a gap");
        assert_eq!(o.get(&FlowId(9)), None, "beyond the table");
        o.remove(&FlowId(3));
        o.remove(&FlowId(77)); // beyond the table: nothing to forget
        assert_eq!(o.get(&FlowId(3)), None);
        assert_eq!(o.get(&FlowId(0)), Some(&(ItemId::from("vm-b"), 0)));
        o.insert(FlowId(0), (ItemId::from("vm-c"), 1)); // replaces
        assert_eq!(o.get(&FlowId(0)), Some(&(ItemId::from("vm-c"), 1)));
    }
}
