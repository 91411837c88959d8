//! Per-component random streams derived from one root seed, and the stable hash they rest on
//! (ARCHITECTURE.md "The world": "One root seed; each component draws from its own ChaCha8 stream
//! derived from it, so adding a component does not shift another's randomness").
//!
//! # Why one stream per component
//!
//! If every component drew from one shared generator, adding a PS to a scenario (or a new fault
//! kind that draws one number at start-up) would shift every later draw of every other component,
//! and a seed that reproduced a bug yesterday would no longer do so today. Here each component
//! names itself (`"ps/ps-1"`, `"churn/vm-7/disk-0"`, `"faults"`) and gets a
//! [`ChaCha8Rng`] that depends only on `(root seed, name)`. Whatever else exists, is created
//! first, or draws more, that component's sequence is the same.
//!
//! # Derivation
//!
//! 1. [`derive_seed`]`(root, name)` = [`mix64`]`(FNV-1a 64 over root.to_le_bytes() ++ name bytes)`.
//!    The root has a fixed width, so `(root, name)` pairs cannot alias through concatenation;
//!    the SplitMix64 finaliser ([`mix64`]) spreads FNV-1a's weak avalanche on near-identical
//!    names (`ps-1` / `ps-2`) over all 64 bits.
//! 2. [`rng_from_seed`] expands that `u64` into the 32-byte ChaCha key with four SplitMix64
//!    outputs (little-endian) and uses ChaCha stream 0.
//!
//! Everything here is implemented in this file (FNV-1a, SplitMix64) and fixed by tests with
//! golden values, so the mapping from `(root, name)` to draws cannot change with a Rust or
//! `std` release. `std`'s `DefaultHasher` / `RandomState` are never used: their output is
//! unspecified and, for `RandomState`, different on every run. (`rand_core`'s own
//! `seed_from_u64` is avoided for the same reason: it is only promised not to change lightly.)
//!
//! Two different names collide (get the same stream) with probability about `n² / 2⁶⁵` for `n`
//! names; two components asking for the *same* name get the same stream by construction, which is
//! why [`RngStreams::claim`] exists for callers who want that mistake caught.

use std::collections::BTreeSet;
use std::fmt;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The FNV-1a 64-bit offset basis (the hash of the empty input).
pub const FNV1A64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a 64-bit prime.
pub const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`: a small, fully specified, platform-independent hash used wherever a hash
/// value can reach a seed or an output (names → seeds, event-log digests).
#[must_use]
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(FNV1A64_OFFSET, bytes)
}

/// Continues an FNV-1a 64 hash whose state is `state` over more `bytes`, so a hash can be built up
/// piecewise without allocating.
#[must_use]
pub const fn fnv1a64_extend(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(FNV1A64_PRIME);
        i += 1;
    }
    state
}

/// The SplitMix64 finaliser: a bijective mix of a `u64` with full avalanche. Used to turn a weak
/// hash (FNV-1a) or a counter into well-spread seed material.
#[must_use]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The SplitMix64 increment (the golden-ratio constant), used to step the seed expander.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A streaming, platform-independent FNV-1a 64 hasher.
///
/// Use it to digest anything whose hash must be the same on every run and machine (event logs in
/// determinism tests, trace digests). Integers are fed little-endian and `usize` as `u64`, so the
/// result does not depend on the target's endianness or pointer width. It also implements
/// [`std::hash::Hasher`] with those same rules, so `value.hash(&mut h)` works for integers and
/// tuples of them; prefer the explicit `write_*` methods for strings and byte slices, because the
/// framing `std`'s `Hash` impls add around them is not something this crate controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StableHasher {
    state: u64,
}

impl StableHasher {
    /// A hasher in the FNV-1a initial state.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: FNV1A64_OFFSET,
        }
    }

    /// Feeds raw bytes (no length prefix).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.state = fnv1a64_extend(self.state, bytes);
    }

    /// Feeds a `u64`, little-endian.
    pub fn write_u64_le(&mut self, v: u64) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// Feeds a string prefixed by its length in bytes (as a little-endian `u64`), so that
    /// `("ab", "c")` and `("a", "bc")` hash differently.
    pub fn write_str_framed(&mut self, s: &str) {
        self.write_u64_le(s.len() as u64);
        self.write_bytes(s.as_bytes());
    }

    /// The digest so far (the hasher can keep being fed afterwards).
    #[must_use]
    pub const fn digest(&self) -> u64 {
        self.state
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.state
    }
    fn write(&mut self, bytes: &[u8]) {
        self.write_bytes(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_bytes(&[i]);
    }
    fn write_u16(&mut self, i: u16) {
        self.write_bytes(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.write_bytes(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.write_bytes(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.write_bytes(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.write_bytes(&(i as u64).to_le_bytes());
    }
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_usize(i as usize);
    }
}

/// The seed of the stream called `name` under `root`: `mix64(fnv1a64(root.to_le_bytes() ++ name))`.
///
/// Also the way the harness derives child seeds (a campaign's per-scenario seed from the campaign
/// seed and the scenario index, say `derive_seed(campaign, "scenario/17")`), so that those too are
/// independent of one another and of evaluation order.
#[must_use]
pub const fn derive_seed(root: u64, name: &str) -> u64 {
    let h = fnv1a64_extend(fnv1a64(&root.to_le_bytes()), name.as_bytes());
    mix64(h)
}

/// A [`ChaCha8Rng`] keyed by `seed`: the 32-byte key is four SplitMix64 outputs from `seed`
/// (little-endian), stream 0, word position 0. Different seeds give unrelated keys, and low-entropy
/// seeds (0, 1, ...) still give well-mixed keys.
#[must_use]
pub fn rng_from_seed(seed: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let mut state = seed;
    for chunk in key.chunks_exact_mut(8) {
        state = state.wrapping_add(SPLITMIX_GAMMA);
        chunk.copy_from_slice(&mix64(state).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// The error of [`RngStreams::claim`]: the name was already claimed from this set, so a second
/// component would silently share (and perturb) the first one's draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateStream {
    /// The name that was claimed twice.
    pub name: String,
}

impl fmt::Display for DuplicateStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "random stream {:?} was already claimed", self.name)
    }
}

impl std::error::Error for DuplicateStream {}

/// The random streams of one run: a root seed, and one independent [`ChaCha8Rng`] per component
/// name derived from it (see the module doc for the derivation).
///
/// [`stream`](Self::stream) is a pure function of `(root, name)`; [`claim`](Self::claim) is the
/// same but refuses a name it has already handed out, for the world builder to catch two
/// components that were given the same name.
#[derive(Clone, Debug)]
pub struct RngStreams {
    root: u64,
    claimed: BTreeSet<String>,
}

impl RngStreams {
    /// The streams of a run with root seed `root_seed`.
    #[must_use]
    pub const fn new(root_seed: u64) -> Self {
        Self {
            root: root_seed,
            claimed: BTreeSet::new(),
        }
    }

    /// The root seed this set was made from (to print in a repro line).
    #[must_use]
    pub const fn root_seed(&self) -> u64 {
        self.root
    }

    /// The `u64` seed of the stream called `name` ([`derive_seed`] of the root and `name`).
    #[must_use]
    pub fn seed_for(&self, name: &str) -> u64 {
        derive_seed(self.root, name)
    }

    /// A fresh generator for the component called `name`, e.g. `"ps/ps-1"`. The same root and name
    /// always give the same sequence, whatever other streams exist or were drawn from.
    #[must_use]
    pub fn stream(&self, name: &str) -> ChaCha8Rng {
        rng_from_seed(self.seed_for(name))
    }

    /// Like [`stream`](Self::stream), but records `name` and refuses it the second time, so two
    /// components cannot end up sharing one sequence by accident.
    ///
    /// # Errors
    /// [`DuplicateStream`] if `name` was claimed before from this set.
    pub fn claim(&mut self, name: &str) -> Result<ChaCha8Rng, DuplicateStream> {
        if !self.claimed.insert(name.to_owned()) {
            return Err(DuplicateStream {
                name: name.to_owned(),
            });
        }
        Ok(self.stream(name))
    }

    /// A nested set of streams whose root is the seed of `name` here: for a sub-model that names its
    /// own parts (`streams.child("site/onprem").stream("esxi-3")`). Its names do not collide with
    /// this set's, and nothing claimed here is carried over.
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        Self::new(self.seed_for(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngExt};
    use std::hash::{Hash, Hasher};

    fn draws(rng: &mut ChaCha8Rng, n: usize) -> Vec<u64> {
        (0..n).map(|_| rng.next_u64()).collect()
    }

    #[test]
    fn fnv1a64_known_vectors() {
        // Reference values of FNV-1a 64 (Fowler/Noll/Vo test suite).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = StableHasher::new();
        h.write_bytes(b"foo");
        h.write_bytes(b"bar");
        assert_eq!(h.digest(), fnv1a64(b"foobar"));
    }

    #[test]
    fn mix64_known_vectors() {
        // SplitMix64 reference: seed 0 → first output 0xe220a8397b1dcdaf.
        assert_eq!(mix64(SPLITMIX_GAMMA), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn derivation_is_pinned() {
        // Golden values: if these change, every recorded seed in the field stops reproducing.
        assert_eq!(derive_seed(0, ""), mix64(fnv1a64(&[0; 8])));
        let golden = derive_seed(42, "ps/ps-1");
        assert_eq!(golden, derive_seed(42, "ps/ps-1"));
        let mut rng = RngStreams::new(42).stream("ps/ps-1");
        let first = rng.next_u64();
        let mut again = rng_from_seed(golden);
        assert_eq!(first, again.next_u64());
        assert_eq!(
            (golden, first),
            (GOLDEN_SEED_42_PS1, GOLDEN_DRAW_42_PS1),
            "stream derivation changed"
        );
    }

    const GOLDEN_SEED_42_PS1: u64 = 8_163_876_480_840_108_862;
    const GOLDEN_DRAW_42_PS1: u64 = 13_826_485_139_886_096_608;

    #[test]
    fn same_root_and_name_same_draws() {
        let a = RngStreams::new(7);
        let b = RngStreams::new(7);
        assert_eq!(
            draws(&mut a.stream("ps/ps-1"), 64),
            draws(&mut b.stream("ps/ps-1"), 64)
        );
    }

    #[test]
    fn different_names_or_roots_differ() {
        let s = RngStreams::new(7);
        let base = draws(&mut s.stream("ps/ps-1"), 16);
        assert_ne!(base, draws(&mut s.stream("ps/ps-2"), 16));
        assert_ne!(base, draws(&mut s.stream("ps/ps-1 "), 16));
        assert_ne!(base, draws(&mut RngStreams::new(8).stream("ps/ps-1"), 16));
        // Near-identical names still get far-apart seeds.
        let d = (s.seed_for("disk-1") ^ s.seed_for("disk-2")).count_ones();
        assert!((12..=52).contains(&d), "poor avalanche: {d} bits differ");
    }

    #[test]
    fn adding_an_unrelated_component_leaves_draws_identical() {
        // World A: one component. World B: extra components created before and after, drawn
        // from heavily, interleaved with the watched component's draws.
        let a = RngStreams::new(2024);
        let mut watched_a = a.stream("churn/vm-1/disk-0");
        let expect: Vec<u64> = (0..100)
            .map(|_| watched_a.random_range(0..1_000_000))
            .collect();

        let mut b = RngStreams::new(2024);
        let mut extra1 = b.claim("ps/ps-9").unwrap();
        let _ = draws(&mut extra1, 1000);
        let mut watched_b = b.claim("churn/vm-1/disk-0").unwrap();
        let mut extra2 = b.claim("faults").unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            let _ = extra2.next_u64();
            got.push(watched_b.random_range(0..1_000_000));
            let _ = extra1.next_u32();
        }
        assert_eq!(expect, got);
    }

    #[test]
    fn claim_refuses_duplicates() {
        let mut s = RngStreams::new(1);
        assert!(s.claim("mt/mt-1").is_ok());
        let err = s.claim("mt/mt-1").unwrap_err();
        assert_eq!(err.name, "mt/mt-1");
        assert!(s.claim("mt/mt-2").is_ok());
    }

    #[test]
    fn child_streams_are_nested_and_distinct() {
        let s = RngStreams::new(5);
        let c = s.child("site/onprem");
        assert_eq!(c.root_seed(), s.seed_for("site/onprem"));
        assert_ne!(
            draws(&mut c.stream("esxi-1"), 8),
            draws(&mut s.stream("esxi-1"), 8)
        );
    }

    #[test]
    fn stable_hasher_is_width_and_endian_independent() {
        let mut a = StableHasher::new();
        (3u64, 4u32, 5usize).hash(&mut a);
        let mut b = StableHasher::new();
        b.write_u64_le(3);
        b.write_bytes(&4u32.to_le_bytes());
        b.write_u64_le(5);
        assert_eq!(a.finish(), b.digest());
        let mut x = StableHasher::new();
        x.write_str_framed("ab");
        x.write_str_framed("c");
        let mut y = StableHasher::new();
        y.write_str_framed("a");
        y.write_str_framed("bc");
        assert_ne!(x.digest(), y.digest());
    }
}
