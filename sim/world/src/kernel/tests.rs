//! Tests of the kernel's ordering, cancellation and clock contract.

use super::*;
use crate::rng::{RngStreams, StableHasher};
use proptest::prelude::*;
use rand::RngExt;

fn drain<E>(k: &mut Kernel<E>) -> Vec<(Millis, E)> {
    std::iter::from_fn(|| k.pop()).collect()
}

#[test]
fn equal_times_pop_in_insertion_order() {
    let mut k = Kernel::new();
    for i in 0..100u32 {
        k.schedule_at(5, i).unwrap();
    }
    let got: Vec<u32> = drain(&mut k).into_iter().map(|(_, e)| e).collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn orders_by_time_then_insertion() {
    let mut k = Kernel::new();
    k.schedule_at(30, "c").unwrap();
    k.schedule_at(10, "a1").unwrap();
    k.schedule_at(20, "b").unwrap();
    k.schedule_at(10, "a2").unwrap();
    k.schedule_at(0, "z").unwrap();
    assert_eq!(k.len(), 5);
    assert_eq!(k.peek_time(), Some(0));
    assert_eq!(k.peek(), Some((0, &"z")));
    assert_eq!(
        drain(&mut k),
        vec![(0, "z"), (10, "a1"), (10, "a2"), (20, "b"), (30, "c")]
    );
    assert!(k.is_empty());
    assert_eq!(k.pop(), None);
    assert_eq!(k.now(), 30, "an empty pop leaves the clock alone");
}

#[test]
fn schedule_in_is_relative_to_now_and_saturates() {
    let mut k = Kernel::new();
    k.schedule_at(100, 0u8).unwrap();
    assert_eq!(k.pop(), Some((100, 0)));
    k.schedule_in(5, 1);
    k.schedule_in(0, 2);
    k.schedule_in(u64::MAX, 3);
    assert_eq!(drain(&mut k), vec![(100, 2), (105, 1), (u64::MAX, 3)]);
}

#[test]
fn scheduling_in_the_past_is_refused() {
    let mut k = Kernel::new();
    k.schedule_at(50, 'a').unwrap();
    k.pop();
    assert_eq!(
        k.schedule_at(49, 'b'),
        Err(ScheduleError::InPast { at: 49, now: 50 })
    );
    assert!(k.is_empty());
    assert_eq!(
        k.scheduled_total(),
        1,
        "a refused event takes no sequence number"
    );
    assert!(k.schedule_at(50, 'c').is_ok(), "now itself is fine");
    assert!(
        !ScheduleError::InPast { at: 49, now: 50 }
            .to_string()
            .is_empty()
    );
}

#[test]
fn now_never_decreases() {
    let mut k = Kernel::new();
    let mut x: u64 = 99;
    for i in 0..200u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1442695040888963407);
        k.schedule_in((x >> 40) % 17, i);
    }
    let mut last = k.now();
    while let Some((t, _)) = k.pop() {
        assert!(t >= last);
        assert_eq!(k.now(), t);
        last = t;
        if t < 1000 {
            k.schedule_in(1 + t % 7, 0);
        }
    }
}

#[test]
fn cancel_removes_exactly_one_pending_event() {
    let mut k = Kernel::new();
    let a = k.schedule_at(10, 'a').unwrap();
    let b = k.schedule_at(10, 'b').unwrap();
    let c = k.schedule_at(20, 'c').unwrap();
    assert_eq!(k.len(), 3);
    assert!(k.is_pending(b));
    assert_eq!(k.get(b), Some(&'b'));
    assert!(k.cancel(b));
    assert!(!k.cancel(b), "second cancel is a no-op");
    assert!(!k.is_pending(b));
    assert_eq!(k.get(b), None);
    assert_eq!(k.len(), 2);
    assert_eq!(k.pop(), Some((10, 'a')));
    assert!(!k.cancel(a), "cannot cancel a popped event");
    // The freed slots get reused; the old keys must not reach the new events.
    let d = k.schedule_at(15, 'd').unwrap();
    let e = k.schedule_at(15, 'e').unwrap();
    assert!(!k.cancel(a) && !k.cancel(b));
    assert!(k.is_pending(d) && k.is_pending(e));
    assert!(a.seq() < b.seq() && b.seq() < c.seq() && c.seq() < d.seq());
    assert_eq!(k.take(c), Some('c'));
    assert_eq!(drain(&mut k), vec![(15, 'd'), (15, 'e')]);
    assert!(k.is_empty());
}

#[test]
fn cancelling_the_head_updates_peek() {
    let mut k = Kernel::new();
    let a = k.schedule_at(1, 1).unwrap();
    let b = k.schedule_at(2, 2).unwrap();
    k.schedule_at(3, 3).unwrap();
    k.cancel(a);
    assert_eq!(k.peek_time(), Some(2));
    k.cancel(b);
    assert_eq!(k.peek_time(), Some(3));
    assert_eq!(k.pop_until(2), None);
    assert_eq!(k.now(), 0);
    assert_eq!(k.pop_until(3), Some((3, 3)));
}

#[test]
fn pop_until_respects_the_limit() {
    let mut k = Kernel::new();
    for t in [5, 10, 10, 15] {
        k.schedule_at(t, t).unwrap();
    }
    let mut got = Vec::new();
    while let Some(x) = k.pop_until(10) {
        got.push(x);
    }
    assert_eq!(got, vec![(5, 5), (10, 10), (10, 10)]);
    assert_eq!(k.now(), 10);
    assert_eq!(k.len(), 1);
}

#[test]
fn advance_to_moves_the_clock_but_not_past_events() {
    let mut k = Kernel::new();
    k.schedule_at(100, ()).unwrap();
    assert_eq!(k.advance_to(100), Ok(()));
    assert_eq!(k.now(), 100);
    assert_eq!(
        k.advance_to(101),
        Err(ScheduleError::WouldSkipEvent { at: 101, next: 100 })
    );
    assert_eq!(
        k.advance_to(99),
        Err(ScheduleError::InPast { at: 99, now: 100 })
    );
    k.pop();
    assert_eq!(k.advance_to(1_000), Ok(()));
    assert_eq!(k.schedule_in(1, ()).seq(), 1);
    assert_eq!(k.peek_time(), Some(1_001));
}

#[test]
fn rearming_timers_keeps_the_heap_bounded() {
    // A model that re-arms 10 timers a million times must not keep a million stale entries.
    let mut k = Kernel::new();
    let mut keys: Vec<EventKey> = (0..10u64).map(|i| k.schedule_in(1_000 + i, i)).collect();
    for round in 0..100_000u64 {
        let i = (round % 10) as usize;
        assert!(k.cancel(keys[i]));
        keys[i] = k.schedule_in(1_000 + round, i as u64);
        assert!(k.heap.len() <= 2 * COMPACT_MIN_STALE + 10);
    }
    assert_eq!(k.len(), 10);
    assert!(k.slots.len() <= 11, "slots are reused");
    let got = drain(&mut k);
    assert_eq!(got.len(), 10);
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[derive(Clone, Debug)]
enum Op {
    Schedule { delay: u64 },
    Cancel { pick: usize },
    Pop,
    PopUntil { ahead: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..20).prop_map(|delay| Op::Schedule { delay }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        3 => Just(Op::Pop),
        1 => (0u64..10).prop_map(|ahead| Op::PopUntil { ahead }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The kernel behaves like the obvious reference: a list of pending (time, insertion index)
    /// pairs, popped by minimum, with cancelled ones removed.
    #[test]
    fn matches_reference_model(ops in proptest::collection::vec(op(), 0..400)) {
        let mut k: Kernel<u64> = Kernel::new();
        // (time, insertion index, key) of pending events.
        let mut model: Vec<(Millis, u64, EventKey)> = Vec::new();
        let mut all_keys: Vec<EventKey> = Vec::new();
        let mut now = 0;
        let mut next = 0u64;
        for op in ops {
            match op {
                Op::Schedule { delay } => {
                    let key = k.schedule_at(now + delay, next).unwrap();
                    prop_assert_eq!(key.seq(), next);
                    model.push((now + delay, next, key));
                    all_keys.push(key);
                    next += 1;
                }
                Op::Cancel { pick } => {
                    if all_keys.is_empty() { continue; }
                    let key = all_keys[pick % all_keys.len()];
                    let pos = model.iter().position(|m| m.2 == key);
                    prop_assert_eq!(k.cancel(key), pos.is_some());
                    if let Some(p) = pos { model.remove(p); }
                }
                Op::Pop | Op::PopUntil { .. } => {
                    let limit = match op { Op::PopUntil { ahead } => now + ahead, _ => u64::MAX };
                    let best = model.iter().enumerate().min_by_key(|(_, m)| (m.0, m.1)).map(|(i, m)| (i, m.0));
                    let got = k.pop_until(limit);
                    match best {
                        Some((i, t)) if t <= limit => {
                            let (t, idx, _) = model.remove(i);
                            prop_assert_eq!(got, Some((t, idx)));
                            now = t;
                        }
                        _ => prop_assert_eq!(got, None),
                    }
                }
            }
            prop_assert_eq!(k.len(), model.len());
            prop_assert_eq!(k.now(), now);
            prop_assert_eq!(k.peek_time(), model.iter().map(|m| m.0).min());
        }
        // Drain: the rest comes out sorted by (time, insertion order).
        model.sort_unstable_by_key(|m| (m.0, m.1));
        let rest: Vec<(Millis, u64)> = drain(&mut k);
        prop_assert_eq!(rest, model.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>());
    }
}

/// A small seeded model: processes that wake at random intervals, sometimes cancel a peer's
/// wake-up and re-arm it. Returns the stable hash of the popped `(time, payload)` sequence.
fn event_log_digest(root: u64) -> u64 {
    let streams = RngStreams::new(root);
    let mut procs: Vec<_> = (0..20)
        .map(|i| streams.stream(&format!("proc/{i}")))
        .collect();
    let mut k: Kernel<u32> = Kernel::with_capacity(32);
    let mut keys: Vec<EventKey> = (0..20u32)
        .map(|p| {
            let d = procs[p as usize].random_range(0..50);
            k.schedule_in(d, p)
        })
        .collect();
    let mut h = StableHasher::new();
    let mut n = 0;
    while let Some((t, p)) = k.pop() {
        h.write_u64_le(t);
        h.write_u64_le(u64::from(p));
        n += 1;
        if n == 5_000 {
            break;
        }
        let rng = &mut procs[p as usize];
        keys[p as usize] = k.schedule_in(rng.random_range(1..=100), p);
        if rng.random_range(0..4) == 0 {
            let peer = rng.random_range(0..20usize);
            if k.cancel(keys[peer]) {
                keys[peer] = k.schedule_in(rng.random_range(0..10), peer as u32);
            }
        }
    }
    h.digest()
}

#[test]
fn event_log_hash_is_deterministic() {
    let a = event_log_digest(0xD15C);
    let b = event_log_digest(0xD15C);
    assert_eq!(a, b);
    assert_ne!(a, event_log_digest(0xD15D));
    // Pinned across builds and machines: a change here means recorded seeds no longer replay
    // (the kernel's order, the stream derivation, or `rand`'s sampling changed).
    assert_eq!(a, GOLDEN_EVENT_LOG_DIGEST, "event log changed: {a:#018x}");
}

const GOLDEN_EVENT_LOG_DIGEST: u64 = 0xbc14_76df_55fe_3150;
