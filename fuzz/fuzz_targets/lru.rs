//! The bounded LRU map under every per-JID structure (`lru::Lru`), driven
//! by a sequence of operations and checked against a plain list model after
//! each one: the same results, the same recency order, and never more
//! entries than the capacity (also across capacity changes and clears).
#![no_main]

use aioxmpp_avatar_core::lru::{BucketSeed, Lru, LruKey};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u16),
    Get(u8),
    Peek(u8),
    PeekMut(u8, u16),
    Contains(u8),
    Remove(u8),
    PopOldest,
    SetCapacity(u8),
    Clear,
}

/// A key whose bucket hash collides for every fourth key, so that equality,
/// not the hash, has to tell entries apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key(u8);

impl LruKey for Key {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        seed.hash(&(self.0 % 4))
    }
}

/// Entries from most to least recently used.
struct Model {
    entries: Vec<(u8, u16)>,
    capacity: usize,
}

impl Model {
    fn find(&self, k: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.0 == k)
    }

    fn touch(&mut self, at: usize) {
        let e = self.entries.remove(at);
        self.entries.insert(0, e);
    }
}

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (capacity, ops) = input;
    let capacity = usize::from(capacity % 24);
    let mut lru: Lru<Key, u16> = Lru::new(capacity);
    let pair = |(k, v): (Key, u16)| (k.0, v);
    let mut model = Model {
        entries: Vec::new(),
        capacity,
    };
    for op in ops.into_iter().take(512) {
        match op {
            Op::Insert(k, v) => {
                let k = k % 32;
                let want = match model.find(k) {
                    Some(at) => {
                        model.entries[at].1 = v;
                        model.touch(at);
                        None
                    }
                    None if model.capacity == 0 => Some((k, v)),
                    None => {
                        let evicted = (model.entries.len() >= model.capacity)
                            .then(|| model.entries.pop().expect("full"));
                        model.entries.insert(0, (k, v));
                        evicted
                    }
                };
                assert_eq!(lru.insert(Key(k), v).map(pair), want);
            }
            Op::Get(k) => {
                let k = k % 32;
                let want = model.find(k).map(|at| {
                    model.touch(at);
                    model.entries[0].1
                });
                assert_eq!(lru.get(&Key(k)).copied(), want);
            }
            Op::Peek(k) => {
                let k = k % 32;
                let want = model.find(k).map(|at| model.entries[at].1);
                assert_eq!(lru.peek(&Key(k)).copied(), want);
            }
            Op::PeekMut(k, v) => {
                let k = k % 32;
                if let Some(at) = model.find(k) {
                    model.entries[at].1 = v;
                }
                if let Some(slot) = lru.peek_mut(&Key(k)) {
                    *slot = v;
                }
            }
            Op::Contains(k) => {
                let k = k % 32;
                assert_eq!(lru.contains(&Key(k)), model.find(k).is_some());
            }
            Op::Remove(k) => {
                let k = k % 32;
                let want = model.find(k).map(|at| model.entries.remove(at).1);
                assert_eq!(lru.remove(&Key(k)), want);
            }
            Op::PopOldest => assert_eq!(lru.pop_oldest().map(pair), model.entries.pop()),
            Op::SetCapacity(c) => {
                let c = usize::from(c % 24);
                model.capacity = c;
                let mut want = Vec::new();
                while model.entries.len() > c {
                    want.push(model.entries.pop().expect("over capacity"));
                }
                let evicted: Vec<_> = lru.set_capacity(c).into_iter().map(pair).collect();
                assert_eq!(evicted, want, "evicted oldest first");
            }
            Op::Clear => {
                model.entries.clear();
                lru.clear();
            }
        }
        assert!(lru.len() <= lru.capacity());
        assert_eq!(lru.capacity(), model.capacity);
        assert_eq!(lru.len(), model.entries.len());
        assert_eq!(lru.is_empty(), model.entries.is_empty());
        let order: Vec<(u8, u16)> = lru.iter().map(|(k, v)| (k.0, *v)).collect();
        assert_eq!(order, model.entries);
    }
});
