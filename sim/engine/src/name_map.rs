//! A map found by key through a hash table and read in key order: for the inventory's tables (VMs,
//! hosts, datastores, servers), which every data-plane step, report, readiness check and checker looks
//! things up in by name, and which are walked whole only now and then (a host going down, the first
//! discovery, a PS health pass, a test); and for the indexes by VM name or item that are only looked
//! up (the engine's and the world's VM-to-item indexes, the world's power epochs and last paths, the
//! state checkers' last states).
//!
//! A `BTreeMap<VmName, …>` did both, but at 10,000 VMs each lookup compared names down a tree of four
//! levels, a cache miss at each: the on-prem VM's power, asked by every disk accounting, was ≈ 3 % of
//! the first 7 hours of `fleet-10k-30d` (issue 6, the 10k/1k ratio). [`crate::indexed::IndexedMap`]
//! keeps its entries in key order, which makes an insert or removal in the middle cost the whole
//! table; here both cost O(1) and a walk sorts (O(n log n)), so a walk is as deterministic as the
//! tree's: nothing is ever read in hash order, and the hasher has a fixed seed anyway.

use crate::indexed::IndexHasher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::Hash;

/// Entries in a hash table; every walk is in key order.
#[derive(Clone)]
pub struct NameMap<K, V> {
    map: HashMap<K, V, IndexHasher>,
}

impl<K, V> Default for NameMap<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
        }
    }
}

impl<K: Ord + Hash, V> NameMap<K, V> {
    /// The value of a key.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// The value of a key, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Whether the key has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Adds or replaces an entry; the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.map.insert(key, value)
    }

    /// Removes an entry; its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys and values in key order (sorted for the walk: O(n log n)).
    pub fn iter(&self) -> std::vec::IntoIter<(&K, &V)> {
        let mut all: Vec<(&K, &V)> = self.map.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

impl<K: Ord + Hash, V: PartialEq> PartialEq for NameMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K: Ord + Hash, V: Eq> Eq for NameMap<K, V> {}

impl<K: Ord + Hash, V> std::ops::Index<&K> for NameMap<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        self.get(key).expect("no entry for this key")
    }
}

impl<K: Ord + Hash, V> FromIterator<(K, V)> for NameMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            map: iter.into_iter().collect(),
        }
    }
}

/// In key order, like the tree it replaced.
impl<K: Ord + Hash + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for NameMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// As a map in key order (byte for byte what the `BTreeMap` wrote).
impl<K: Ord + Hash + Serialize, V: Serialize> Serialize for NameMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, K: Ord + Hash + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de>
    for NameMap<K, V>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<K, V>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::NameMap;

    #[test]
    fn every_walk_is_in_key_order_whatever_the_insertion_order() {
        let mut m = NameMap::default();
        for k in ["m", "c", "x", "a", "q", "c"] {
            m.insert(k.to_owned(), k.len());
        }
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "c", "m", "q", "x"]);
        assert_eq!(m.remove(&"m".to_owned()), Some(1));
        assert_eq!(m.remove(&"m".to_owned()), None);
        *m.get_mut(&"q".to_owned()).unwrap() = 7;
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [1, 1, 7, 1]);
        assert_eq!(m[&"q".to_owned()], 7);
        assert!(m.contains_key(&"a".to_owned()) && !m.contains_key(&"b".to_owned()));
        assert_eq!(m.len(), 4);
        assert_eq!(format!("{m:?}"), r#"{"a": 1, "c": 1, "q": 7, "x": 1}"#);
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn serialises_like_the_tree_it_replaced_and_reads_it_back() {
        let pairs = [(5, "e"), (1, "a"), (3, "c"), (9, "i"), (2, "b")];
        let m: NameMap<u32, &str> = pairs.into_iter().collect();
        let tree: std::collections::BTreeMap<u32, &str> = pairs.into_iter().collect();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, serde_json::to_string(&tree).unwrap());
        let back: NameMap<u32, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [1, 2, 3, 5, 9]
        );
        assert_eq!(back[&9], "i");
    }
}
