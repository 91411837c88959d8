//! The world's machines: kept in item order (every pass over them, and everything it reaches in a
//! trace or a report, sees them in that order) and found by item through a hash index.
//!
//! A `BTreeMap<ItemId, Machine>` did both, but each lookup compared item names down the tree: at
//! 1,000 machines reported every 5 minutes, with several lookups per machine and report, string
//! comparisons were a tenth of a run (issue 6). The index's hasher has fixed keys, and nothing is ever
//! iterated in hash order, so the table is as deterministic as the tree was.

use super::machine::Machine;
use drsim_engine::ids::ItemId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Machines in item order, with a hash index by item.
#[derive(Clone, Debug, Default)]
pub struct MachineTable {
    /// In item order.
    slots: Vec<Machine>,
    /// Each machine's position in `slots`.
    index: HashMap<ItemId, usize, BuildHasherDefault<DefaultHasher>>,
}

impl MachineTable {
    /// Adds a machine under its item (replacing one with the same item). Cheap when machines come in
    /// item order (the world sorts its spec's machines first); otherwise the positions after it move.
    pub fn insert(&mut self, m: Machine) {
        if let Some(&i) = self.index.get(&m.item) {
            self.slots[i] = m;
            return;
        }
        let at = self.slots.partition_point(|s| s.item < m.item);
        self.index.insert(m.item.clone(), at);
        self.slots.insert(at, m);
        if at + 1 < self.slots.len() {
            for (i, s) in self.slots.iter().enumerate().skip(at + 1) {
                *self.index.get_mut(&s.item).expect("indexed") = i;
            }
        }
    }

    /// The machine of an item.
    pub fn get(&self, item: &ItemId) -> Option<&Machine> {
        self.index.get(item).map(|&i| &self.slots[i])
    }

    /// The machine of an item, to change.
    pub fn get_mut(&mut self, item: &ItemId) -> Option<&mut Machine> {
        self.index.get(item).map(|&i| &mut self.slots[i])
    }

    /// Whether the item has a machine.
    pub fn contains_key(&self, item: &ItemId) -> bool {
        self.index.contains_key(item)
    }

    /// How many machines.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Items and machines, in item order.
    pub fn iter(&self) -> impl Iterator<Item = (&ItemId, &Machine)> {
        self.slots.iter().map(|m| (&m.item, m))
    }

    /// The items, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ItemId> {
        self.slots.iter().map(|m| &m.item)
    }

    /// The machines, in item order.
    pub fn values(&self) -> std::slice::Iter<'_, Machine> {
        self.slots.iter()
    }

    /// The machines, in item order, to change (not their items: the index is by item).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Machine> {
        self.slots.iter_mut()
    }
}

impl std::ops::Index<&ItemId> for MachineTable {
    type Output = Machine;

    fn index(&self, item: &ItemId) -> &Machine {
        self.get(item).expect("no machine for this item")
    }
}

impl<'a> IntoIterator for &'a MachineTable {
    type Item = (&'a ItemId, &'a Machine);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, Machine>, fn(&Machine) -> (&ItemId, &Machine)>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.iter().map(|m| (&m.item, m))
    }
}

#[cfg(test)]
mod tests {
    use crate::sample::{SampleEstate, item};
    use crate::world::World;

    #[test]
    fn machines_are_kept_in_item_order_and_found_by_item_whatever_the_spec_s_order() {
        let (mut spec, _) = SampleEstate {
            vms: 12,
            ..Default::default()
        }
        .build();
        spec.machines.reverse();
        let w = World::new(spec).expect("valid");
        let t = w.machines();
        assert_eq!(t.len(), 12);
        let keys: Vec<_> = t.keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "item order (item-10 before item-2)");
        for i in 0..12 {
            assert_eq!(t[&item(i)].item, item(i));
            assert!(t.contains_key(&item(i)));
        }
        assert!(t.get(&item(12)).is_none());
    }

    #[test]
    fn a_machine_inserted_before_others_moves_their_positions_with_it() {
        let (spec, _) = SampleEstate {
            vms: 3,
            ..Default::default()
        }
        .build();
        let w = World::new(spec).expect("valid");
        let mut t = super::MachineTable::default();
        for i in [2, 0, 1] {
            t.insert(w.machines()[&item(i)].clone());
        }
        let keys: Vec<_> = t.keys().cloned().collect();
        assert_eq!(keys, vec![item(0), item(1), item(2)]);
        for i in 0..3 {
            assert_eq!(t.get(&item(i)).map(|m| &m.item), Some(&item(i)));
            assert_eq!(t.get_mut(&item(i)).map(|m| m.item.clone()), Some(item(i)));
        }
    }
}
