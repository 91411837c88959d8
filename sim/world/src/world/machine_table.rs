//! The world's machines: kept in item order (every pass over them, and everything it reaches in a
//! trace or a report, sees them in that order) and found by item through a hash index
//! ([`IndexedMap`]: at 1,000 machines reported every 5 minutes, comparing names down a `BTreeMap` was
//! a tenth of a run, issue 6).
//!
//! The table also keeps, per machine, what the passes over every machine ask of it ([`Flags`]), as of
//! its last look: whether it *rests* (every disk of it is left where it is by
//! [`World::catch_up_for_reading`](super::World::catch_up_for_reading): no stream, or a stream
//! [`Stream::left_behind`]), whether the periodic report accounts it, whether it is under a point
//! cadence. Only the machine says so, and it changes only through a mutable borrow, which every `&mut`
//! accessor here takes as a sign that its flags are stale; the passes look at it again the next time.
//! So the passes that bring the fleet's machines to a time before a report or a check skip the resting
//! ones without looking at their disks (the last two days of the 10k bench: 10,000 machines whose
//! resyncs shares hold, looked at three times per sample), and the report event finds the machines it
//! reports without looking at each (issue 6).

use super::machine::{Machine, Stream};
use drsim_engine::ids::ItemId;
use drsim_engine::indexed::IndexedMap;

/// Machines by item, in item order, read through [`std::ops::Deref`]; changed only through the
/// accessors below, which note that the machine may no longer rest.
#[derive(Clone, Debug, Default)]
pub struct MachineTable {
    map: IndexedMap<ItemId, Machine>,
    /// By position: what the passes over every machine ask of it, as of its last look (`None`: it
    /// was borrowed to change since; see the module docs).
    flags: Vec<Option<Flags>>,
}

/// What the passes over every machine ask of one, read from the machine itself (so valid until it
/// is borrowed to change): at 10,000 machines, a report event looking at each machine twice every
/// 5 minutes was ≈ 6 % of the steady days (issue 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flags {
    /// Every disk left where it is ([`rests`]).
    pub(crate) rests: bool,
    /// It replicates outside any cadence: the periodic report accounts it and sends its progress.
    pub(crate) reported: bool,
    /// Under a point cadence: caught up, nothing in its PS's cache.
    pub(crate) point_cadence: bool,
}

impl Flags {
    fn of(m: &Machine) -> Self {
        Flags {
            rests: rests(m),
            reported: m.replication.is_some()
                && m.cadence_from_ms.is_none()
                && m.sync_cadence.is_none(),
            point_cadence: m.cadence_from_ms.is_some(),
        }
    }
}

impl std::ops::Deref for MachineTable {
    type Target = IndexedMap<ItemId, Machine>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl MachineTable {
    /// Room for `n` more machines, exactly.
    pub(crate) fn reserve_exact(&mut self, n: usize) {
        self.map.reserve_exact(n);
    }

    /// Adds or replaces a machine (positions after it may move: no machine rests until looked at).
    pub(crate) fn insert(&mut self, item: ItemId, m: Machine) {
        let before = self.map.len();
        let at_end = self.map.last_key().is_none_or(|last| *last < item);
        self.map.insert(item, m);
        if at_end && self.map.len() > before {
            self.flags.push(None); // in item order (a world is built so): nobody moves
        } else {
            self.flags = vec![None; self.map.len()];
        }
    }

    /// A machine to change.
    pub(crate) fn get_mut(&mut self, item: &ItemId) -> Option<&mut Machine> {
        let pos = self.map.position(item)?;
        self.value_at_mut(pos)
    }

    /// The machine at a position to change.
    pub(crate) fn value_at_mut(&mut self, pos: usize) -> Option<&mut Machine> {
        if let Some(f) = self.flags.get_mut(pos) {
            *f = None;
        }
        self.map.value_at_mut(pos)
    }

    /// Every machine to change, in item order.
    pub(crate) fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Machine> {
        self.flags.fill(None);
        self.map.values_mut()
    }

    /// Whether the machine at `pos` rests, as of its last look: none of its disks needs accounting
    /// for a reader.
    pub(crate) fn rests(&self, pos: usize) -> bool {
        self.flags
            .get(pos)
            .copied()
            .flatten()
            .is_some_and(|f| f.rests)
    }

    /// The positions of the machines whose [`Flags`] `pick` picks, in item order.
    pub(crate) fn positions_where(&mut self, pick: impl Fn(Flags) -> bool) -> Vec<usize> {
        let mut out = Vec::new();
        for pos in 0..self.map.len() {
            let map = &self.map;
            let f = *self.flags[pos]
                .get_or_insert_with(|| Flags::of(map.entry_at(pos).expect("in range").1));
            if pick(f) {
                out.push(pos);
            }
        }
        out
    }

    /// Accounts, for reading, the machines `which` picks that do not rest ([`MachineTable::rests`]),
    /// with `account`; each is then looked at again to see whether it rests now.
    pub(crate) fn account_restless(
        &mut self,
        which: impl Fn(usize, &Machine) -> bool,
        mut account: impl FnMut(&mut Machine),
    ) {
        for pos in 0..self.map.len() {
            if self.rests(pos) {
                continue;
            }
            let Some(m) = self.map.value_at_mut(pos) else {
                continue;
            };
            if !which(pos, m) {
                continue;
            }
            account(m);
            self.flags[pos] = Some(Flags::of(m));
        }
    }

    /// Checks (in debug builds) that every machine's cached flags are what the machine says.
    pub(crate) fn debug_check_flags(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        for (pos, m) in self.map.values().enumerate() {
            if let Some(f) = self.flags[pos] {
                assert_eq!(f, Flags::of(m), "flags of {}", m.item);
            }
        }
    }
}

/// Whether none of a machine's disks needs accounting for a reader: each has no stream or one left
/// where it is ([`Stream::left_behind`]).
fn rests(m: &Machine) -> bool {
    (m.disks.iter()).all(|d| (d.stream.as_ref()).is_none_or(Stream::left_behind))
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

    /// A machine found resting is skipped until something borrows it to change it.
    #[test]
    fn resting_machines_are_skipped_until_borrowed_mutably() {
        let (spec, _) = SampleEstate {
            vms: 4,
            ..Default::default()
        }
        .build();
        let w = World::new(spec).expect("valid");
        let mut t = w.machines().clone();
        let pass = |t: &mut super::MachineTable| {
            let mut seen = Vec::new();
            t.account_restless(|_, _| true, |m| seen.push(m.item.clone()));
            seen
        };
        assert_eq!(pass(&mut t).len(), 4, "nobody rests before being looked at");
        assert!(pass(&mut t).is_empty(), "no streams: every machine rests");
        t.get_mut(&item(2));
        assert_eq!(pass(&mut t), vec![item(2)]);
        // a stream that is not left behind keeps its machine restless
        let m = t.get_mut(&item(1)).unwrap();
        let churn = m.disks[0].churn.clone();
        m.disks[0].stream = Some(crate::world::Stream {
            fluid: crate::fluid::FluidDisk::new(0, 1 << 30, 1 << 29, churn),
            flow: crate::network::FlowId(7),
            net_slot: None,
            base_generation: 0,
            wake: None,
            resync_bytes: 0,
            held_by: None,
            virtual_mark: None,
            follows_churn: false,
            metered_from_wire: None,
            metered_bytes: 0,
        });
        assert_eq!(pass(&mut t), vec![item(1)]);
        assert_eq!(pass(&mut t), vec![item(1)]);
        t.values_mut().for_each(drop);
        assert_eq!(pass(&mut t).len(), 4);
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
