//! A map kept in key order and found by key through a hash index: for the tables every report and
//! every input looks things up in by name (the engine's items, a job's tasks, the world's machines).
//!
//! A `BTreeMap<ItemId, …>` did both, but each lookup compared names down the tree: at 1,000 machines
//! reported every 5 minutes, with several lookups per machine and report, string comparisons were a
//! tenth of a run (issue 6). The index's hasher has a fixed seed and nothing is ever iterated in hash
//! order, so the map is as deterministic as the tree was: iteration is in key order.
//!
//! The index holds positions only, 4 bytes each, and a probe compares the key of the entry a position
//! names (the entry the caller reads next anyway): with the keys copied into it, the index of 10,000
//! machines was half a megabyte of 32-byte buckets, and the comparison in its bucket the costliest
//! load of a 10,000-machine run's lookups (issue 6).

use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The hasher of the simulation's hash indexes: foldhash with a fixed seed (SipHash, std's default,
/// was 3–4 % of a saturated-link plan point, hashing machine names). Deterministic whatever the
/// process; and no index is ever iterated in hash order anyway.
pub type IndexHasher = foldhash::fast::FixedState;

/// Entries in key order, with a hash index from key to position.
pub struct IndexedMap<K, V> {
    /// In key order.
    entries: Vec<(K, V)>,
    /// Each entry's position in `entries`, hashed by its key ([`IndexHasher`]).
    index: HashTable<u32>,
    /// The position the last lookup found: tried first, and taken when the entry there has the key.
    /// One event asks for the same machine again and again (a disk's wake-up: eight times, by name),
    /// and at 10,000 machines each hash probe missed the cache (issue 6). Only a hint: a stale one
    /// fails the key comparison and the index answers, so nothing depends on it but speed.
    last_found: AtomicUsize,
}

impl<K: Clone, V: Clone> Clone for IndexedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            index: self.index.clone(),
            last_found: AtomicUsize::new(self.last_found.load(Ordering::Relaxed)),
        }
    }
}

/// The entries in key order (the index, in hash order, is left out: not even a debug dump shows it).
impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for IndexedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> Default for IndexedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashTable::new(),
            last_found: AtomicUsize::new(0),
        }
    }
}

/// A key's hash in the index.
fn hash_of<K: Hash>(key: &K) -> u64 {
    IndexHasher::default().hash_one(key)
}

/// A position as the index keeps it.
fn slot(position: usize) -> u32 {
    u32::try_from(position).expect("an indexed map holds fewer than 2^32 entries")
}

impl<K: Ord + Hash, V> IndexedMap<K, V> {
    /// Room for `n` more entries, exactly (a table of known size built without a growing vector's
    /// slack).
    pub fn reserve_exact(&mut self, n: usize) {
        self.entries.reserve_exact(n);
        let entries = &self.entries;
        (self.index).reserve(n, |&i| hash_of(&entries[i as usize].0));
    }

    /// A map of these entries (the last of equal keys wins), sorted once.
    pub fn from_entries(mut entries: Vec<(K, V)>) -> Self {
        entries.reverse(); // the stable sort and dedup then keep the last of equal keys
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| later.0 == kept.0);
        let mut index = HashTable::with_capacity(entries.len());
        for (i, (k, _)) in entries.iter().enumerate() {
            index.insert_unique(hash_of(k), slot(i), |&j| hash_of(&entries[j as usize].0));
        }
        Self {
            entries,
            index,
            last_found: AtomicUsize::new(0),
        }
    }

    /// Adds or replaces an entry. Cheap when keys come in order; otherwise the positions after it
    /// move (build with [`IndexedMap::from_entries`] instead).
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        // keys coming in order (tables built in key order) go to the end without a search
        let at = match self.entries.last() {
            Some((last, _)) if *last < key => self.entries.len(),
            _ => self.entries.partition_point(|(k, _)| *k < key),
        };
        let hash = hash_of(&key);
        self.entries.insert(at, (key, value));
        if at + 1 < self.entries.len() {
            for i in self.index.iter_mut().filter(|i| **i as usize >= at) {
                *i += 1;
            }
        }
        let entries = &self.entries;
        (self.index).insert_unique(hash, slot(at), |&i| hash_of(&entries[i as usize].0));
    }

    /// The value of a key.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value of a key, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Whether the key has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    /// A key's position in key order (stable until an insert before it): the last one found if the
    /// key is there, else the index's.
    pub fn position(&self, key: &K) -> Option<usize> {
        let last = self.last_found.load(Ordering::Relaxed);
        if self.entries.get(last).is_some_and(|(k, _)| k == key) {
            return Some(last);
        }
        let entries = &self.entries;
        let &i = (self.index).find(hash_of(key), |&i| entries[i as usize].0 == *key)?;
        let i = i as usize;
        self.last_found.store(i, Ordering::Relaxed);
        Some(i)
    }
}

impl<K, V> IndexedMap<K, V> {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys and values, in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The greatest key.
    pub fn last_key(&self) -> Option<&K> {
        self.entries.last().map(|(k, _)| k)
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values to change, in key order.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The key and value at a position in key order ([`IndexedMap::position`]).
    pub fn entry_at(&self, position: usize) -> Option<(&K, &V)> {
        self.entries.get(position).map(|(k, v)| (k, v))
    }

    /// The value at a position in key order ([`IndexedMap::position`]), to change.
    pub fn value_at_mut(&mut self, position: usize) -> Option<&mut V> {
        self.entries.get_mut(position).map(|(_, v)| v)
    }
}

impl<K: Ord + Hash, V> std::ops::Index<&K> for IndexedMap<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        self.get(key).expect("no entry for this key")
    }
}

/// Equal when the entries are (the index follows from them).
impl<K: PartialEq, V: PartialEq> PartialEq for IndexedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<K: Eq, V: Eq> Eq for IndexedMap<K, V> {}

/// As a map in key order (byte for byte what a `BTreeMap` writes).
impl<K: Serialize, V: Serialize> Serialize for IndexedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K: Ord + Hash + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de>
    for IndexedMap<K, V>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<K, V>::deserialize(deserializer)?;
        Ok(Self::from_entries(map.into_iter().collect()))
    }
}

impl<'a, K, V> IntoIterator for &'a IndexedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::IndexedMap;

    #[test]
    fn entries_stay_in_key_order_and_are_found_by_key_whatever_the_insertion_order() {
        let mut m = IndexedMap::default();
        for k in ["m", "c", "x", "a", "q", "c"] {
            m.insert(k.to_owned(), k.len());
        }
        let keys: Vec<&String> = m.keys().collect();
        assert_eq!(keys, ["a", "c", "m", "q", "x"]);
        for k in ["a", "c", "m", "q", "x"] {
            assert_eq!(m.get(&k.to_owned()), Some(&1), "{k}");
            assert_eq!(m[&k.to_owned()], 1);
        }
        *m.get_mut(&"q".to_owned()).unwrap() = 7;
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [1, 1, 1, 7, 1]);
        assert!(!m.contains_key(&"b".to_owned()));
        assert_eq!(m.len(), 5);
        assert_eq!(m.position(&"m".to_owned()), Some(2));
        assert_eq!(m.position(&"b".to_owned()), None);
        *m.value_at_mut(2).unwrap() = 9;
        assert_eq!(m[&"m".to_owned()], 9);
        assert!(m.value_at_mut(5).is_none());
    }

    /// The last position found is only a hint: an insert before it moves the entries, and a lookup
    /// of another key, or of one that is absent, must not take it.
    #[test]
    fn the_last_position_found_never_answers_for_another_key() {
        let mut m = IndexedMap::from_entries(vec![(10, "j"), (20, "t"), (30, "x")]);
        assert_eq!(m.get(&20), Some(&"t"));
        assert_eq!(m.get(&20), Some(&"t"), "found again where it was");
        m.insert(5, "e"); // 20 moves from position 1 to 2; the hint still says 1 (now 10)
        assert_eq!(m.get(&10), Some(&"j"));
        assert_eq!(m.position(&20), Some(2));
        assert_eq!(m.get(&20), Some(&"t"));
        assert_eq!(m.get(&25), None, "absent, whatever the hint");
        assert!(!m.contains_key(&25));
        let copy = m.clone();
        assert_eq!(copy.position(&30), Some(3));
        assert_eq!(copy.position(&5), Some(0));
        *m.get_mut(&30).unwrap() = "y";
        assert_eq!(m[&30], "y");
        assert_eq!(m.get(&20), Some(&"t"));
    }

    proptest::proptest! {
        /// Against a `BTreeMap`: the same entries in the same order, each found at its rank, whatever
        /// the order of inserts (in the middle, at the ends, replacing) and lookups in between.
        #[test]
        fn an_indexed_map_finds_what_a_tree_finds(
            steps in proptest::collection::vec((0u16..300, proptest::bool::ANY), 0..200)
        ) {
            let mut m = IndexedMap::default();
            let mut tree = std::collections::BTreeMap::new();
            for (k, look) in steps {
                if look {
                    proptest::prop_assert_eq!(m.get(&k), tree.get(&k));
                } else {
                    m.insert(k, u32::from(k) * 3);
                    tree.insert(k, u32::from(k) * 3);
                }
            }
            proptest::prop_assert!(m.iter().eq(tree.iter()));
            for (rank, k) in tree.keys().enumerate() {
                proptest::prop_assert_eq!(m.position(k), Some(rank));
            }
            for k in 300..310u16 {
                proptest::prop_assert_eq!(m.position(&k), None);
            }
        }
    }

    #[test]
    fn built_from_entries_the_last_of_equal_keys_wins() {
        let m = IndexedMap::from_entries(vec![(3, "a"), (1, "b"), (3, "c"), (2, "d")]);
        let all: Vec<(&i32, &&str)> = m.iter().collect();
        assert_eq!(all, [(&1, &"b"), (&2, &"d"), (&3, &"c")]);
        assert_eq!(m.get(&3), Some(&"c"));
        assert_eq!(m.get(&2), Some(&"d"));
    }

    #[test]
    fn serialises_like_a_tree_and_reads_it_back_indexed() {
        let pairs = [(5, "e"), (1, "a"), (3, "c"), (9, "i"), (2, "b")];
        let m = IndexedMap::from_entries(pairs.to_vec());
        let tree: std::collections::BTreeMap<u32, &str> = pairs.into_iter().collect();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, serde_json::to_string(&tree).unwrap());
        let back: IndexedMap<u32, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 5, 9]);
        assert_eq!(back[&9], "i");
        assert_eq!(back.position(&5), Some(3));
        let again: IndexedMap<u32, &str> = IndexedMap::from_entries(pairs.to_vec());
        assert_eq!(m, again);
        assert_ne!(m, IndexedMap::from_entries(vec![(1, "a")]));
    }
}
