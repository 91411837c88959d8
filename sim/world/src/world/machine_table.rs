//! The world's machines: kept in item order (every pass over them, and everything it reaches in a
//! trace or a report, sees them in that order) and found by item through a hash index
//! ([`IndexedMap`]: at 1,000 machines reported every 5 minutes, comparing names down a `BTreeMap` was
//! a tenth of a run, issue 6).

use super::machine::Machine;
use drsim_engine::ids::ItemId;
use drsim_engine::indexed::IndexedMap;

/// Machines by item, in item order.
pub type MachineTable = IndexedMap<ItemId, Machine>;

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
            t.insert(item(i), w.machines()[&item(i)].clone());
        }
        let keys: Vec<_> = t.keys().cloned().collect();
        assert_eq!(keys, vec![item(0), item(1), item(2)]);
        for i in 0..3 {
            assert_eq!(t.get(&item(i)).map(|m| &m.item), Some(&item(i)));
            assert_eq!(t.get_mut(&item(i)).map(|m| m.item.clone()), Some(item(i)));
        }
    }
}
