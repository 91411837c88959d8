//! Which machine's disk each stream (network flow) carries, by flow id.
//!
//! The world hands flow ids out in order from 0 ([`super::World`]'s `next_flow`), so a vector indexed
//! by id finds a stream's owner in one read. A `BTreeMap` did, at 30,000 streams, a search of four
//! levels at the start of every disk wake-up, a cache miss at each (a quarter of `disk_wake`'s cycles
//! at 10k machines; issue 6).

use crate::network::FlowId;
use drsim_engine::ids::ItemId;

/// Each live flow's machine and disk index, by flow id.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlowOwners {
    by_id: Vec<Option<(ItemId, usize)>>,
}

impl FlowOwners {
    /// Records that `flow` carries disk `disk` of `item`.
    pub(crate) fn insert(&mut self, flow: FlowId, item: ItemId, disk: usize) {
        let i = usize::try_from(flow.0).expect("flow ids are handed out in order from 0");
        if i >= self.by_id.len() {
            self.by_id.resize(i + 1, None);
        }
        self.by_id[i] = Some((item, disk));
    }

    /// Forgets a flow (its stream ended); its owner.
    pub(crate) fn remove(&mut self, flow: FlowId) -> Option<(ItemId, usize)> {
        self.by_id.get_mut(usize::try_from(flow.0).ok()?)?.take()
    }

    /// The machine and disk a live flow carries.
    pub(crate) fn get(&self, flow: FlowId) -> Option<&(ItemId, usize)> {
        self.by_id.get(usize::try_from(flow.0).ok()?)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_found_by_id_until_removed() {
        let mut o = FlowOwners::default();
        o.insert(FlowId(3), ItemId::from("a"), 1);
        o.insert(FlowId(0), ItemId::from("b"), 0);
        assert_eq!(o.get(FlowId(3)), Some(&(ItemId::from("a"), 1)));
        assert_eq!(o.get(FlowId(1)), None);
        assert_eq!(o.get(FlowId(99)), None);
        assert_eq!(o.remove(FlowId(3)), Some((ItemId::from("a"), 1)));
        assert_eq!(o.remove(FlowId(3)), None);
        assert_eq!(o.get(FlowId(3)), None);
        assert_eq!(o.get(FlowId(0)), Some(&(ItemId::from("b"), 0)));
    }
}
