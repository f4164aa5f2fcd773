//! A bounded map that forgets its least recently used entries.
//!
//! Every piece of per-JID state in the core sits in one of these, so that a
//! peer flooding us with new JIDs (MUC occupants, presences, notifications)
//! can never grow memory beyond the configured capacity.
//!
//! Each key is stored once, in its slot; the index is a table of slot
//! numbers. A hash only picks the bucket, equality of the keys decides, and
//! an entry can be found through a borrowed stand-in ([`Lookup`]) without
//! building the key.

use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::HashTable;

/// Slot index; `u32` keeps the per-entry overhead small.
type Slot = u32;
const NIL: Slot = Slot::MAX;

/// The random keys of one map's bucket hashes, so that a peer cannot aim
/// keys at one bucket.
pub struct BucketSeed {
    sip: RandomState,
    mix: (u64, u64),
}

impl BucketSeed {
    fn new() -> Self {
        let sip = RandomState::new();
        let mix = (sip.hash_one(1u8), sip.hash_one(2u8) | 1);
        Self { sip, mix }
    }

    /// A keyed hash of `value` (SipHash).
    pub fn hash<T: Hash + ?Sized>(&self, value: &T) -> u64 {
        self.sip.hash_one(value)
    }

    /// A keyed mix of a hash that is already well spread (a folded
    /// multiply: every input bit reaches the low bits that pick a bucket).
    pub fn mix(&self, hash: u64) -> u64 {
        let product = u128::from(hash ^ self.mix.0) * u128::from(self.mix.1);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// A key of an [`Lru`]: equal keys must have equal bucket hashes.
pub trait LruKey: Eq {
    /// The bucket hash of this key under the map's `seed`.
    fn bucket_hash(&self, seed: &BucketSeed) -> u64;
}

impl LruKey for String {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        seed.hash(self.as_str())
    }
}

impl<K: LruKey> LruKey for (K, String) {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        seed.mix(self.0.bucket_hash(seed) ^ seed.hash(self.1.as_str()))
    }
}

/// Something that names an entry of an `Lru<K, _>`: the key itself, or a
/// borrowed form of it with the same bucket hash.
pub trait Lookup<K> {
    /// Must equal `key.bucket_hash(seed)` for every key it matches.
    fn bucket_hash(&self, seed: &BucketSeed) -> u64;
    /// Whether this names `key`.
    fn matches(&self, key: &K) -> bool;
}

impl<K: LruKey> Lookup<K> for K {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        LruKey::bucket_hash(self, seed)
    }

    fn matches(&self, key: &K) -> bool {
        self == key
    }
}

#[derive(Clone, Copy)]
struct Link {
    prev: Slot,
    next: Slot,
}

/// A map with a capacity in entries; inserting beyond it evicts the least
/// recently used entry. `get` and `insert` count as use, `peek` does not.
pub struct Lru<K, V> {
    index: HashTable<Slot>,
    seed: BucketSeed,
    slots: Vec<Option<(K, V)>>,
    links: Vec<Link>,
    free: Vec<Slot>,
    head: Slot,
    tail: Slot,
    capacity: usize,
}

impl<K: LruKey, V> Lru<K, V> {
    /// An empty map holding at most `capacity` entries (0 holds nothing;
    /// at most `u32::MAX - 1`).
    pub fn new(capacity: usize) -> Self {
        Self {
            index: HashTable::new(),
            seed: BucketSeed::new(),
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.min(NIL as usize - 1),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Change the capacity; returns the entries evicted to fit it, oldest
    /// first.
    pub fn set_capacity(&mut self, capacity: usize) -> Vec<(K, V)> {
        self.capacity = capacity.min(NIL as usize - 1);
        let mut evicted = Vec::new();
        while self.len() > self.capacity {
            evicted.extend(self.pop_oldest());
        }
        evicted
    }

    /// Whether `key` is present (does not count as use).
    pub fn contains<Q: Lookup<K> + ?Sized>(&self, key: &Q) -> bool {
        self.find(key).is_some()
    }

    /// The value for `key`, marking it as most recently used.
    pub fn get<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<&mut V> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The stored key and the value for `key`, marking it as most recently
    /// used.
    pub fn get_entry<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<(&K, &mut V)> {
        let at = self.find(key)?;
        self.move_to_front(at);
        self.slots[at as usize].as_mut().map(|(k, v)| (&*k, v))
    }

    /// The value for `key` without marking it as used.
    pub fn peek<Q: Lookup<K> + ?Sized>(&self, key: &Q) -> Option<&V> {
        let at = self.find(key)?;
        self.slots[at as usize].as_ref().map(|(_, v)| v)
    }

    /// The value for `key`, mutably, without marking it as used.
    pub fn peek_mut<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<&mut V> {
        let at = self.find(key)?;
        Some(self.value_mut(at))
    }

    /// Insert or replace; returns the entry evicted to make room, if any.
    /// With capacity 0 nothing is kept and the new entry comes back.
    pub fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if let Some(at) = self.find(&key) {
            *self.value_mut(at) = value;
            self.move_to_front(at);
            return None;
        }
        if self.capacity == 0 {
            return Some((key, value));
        }
        let evicted = if self.len() >= self.capacity {
            self.pop_oldest()
        } else {
            None
        };
        let hash = key.bucket_hash(&self.seed);
        let slot = Some((key, value));
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = slot;
                at
            }
            None => {
                // Grow by doubling, but never past the capacity.
                if self.slots.len() == self.slots.capacity() {
                    let room = self.capacity - self.slots.len();
                    let more = self.slots.len().max(4).min(room).max(1);
                    self.slots.reserve_exact(more);
                    self.links.reserve_exact(more);
                }
                self.slots.push(slot);
                self.links.push(Link {
                    prev: NIL,
                    next: NIL,
                });
                (self.slots.len() - 1) as Slot
            }
        };
        self.link_front(at);
        let (slots, seed) = (&self.slots, &self.seed);
        self.index
            .insert_unique(hash, at, |&s| Self::slot_hash(slots, seed, s));
        evicted
    }

    /// Remove `key`, returning its value.
    pub fn remove<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<V> {
        let hash = key.bucket_hash(&self.seed);
        let slots = &self.slots;
        let found = self
            .index
            .find_entry(hash, |&s| key.matches(Self::key_at(slots, s)))
            .ok()?;
        let (at, _) = found.remove();
        Some(self.release(at).1)
    }

    /// Remove and return the least recently used entry.
    pub fn pop_oldest(&mut self) -> Option<(K, V)> {
        if self.tail == NIL {
            return None;
        }
        let at = self.tail;
        let hash = Self::slot_hash(&self.slots, &self.seed, at);
        if let Ok(found) = self.index.find_entry(hash, |&s| s == at) {
            found.remove();
        }
        Some(self.release(at))
    }

    /// Forget everything (the capacity stays).
    pub fn clear(&mut self) {
        self.index = HashTable::new();
        self.slots = Vec::new();
        self.links = Vec::new();
        self.free = Vec::new();
        self.head = NIL;
        self.tail = NIL;
    }

    /// Entries from most to least recently used.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let (key, value) = self.slots[at as usize].as_ref().expect("live slot");
            at = self.links[at as usize].next;
            Some((key, value))
        })
    }

    fn find<Q: Lookup<K> + ?Sized>(&self, key: &Q) -> Option<Slot> {
        let hash = key.bucket_hash(&self.seed);
        self.index
            .find(hash, |&s| key.matches(Self::key_at(&self.slots, s)))
            .copied()
    }

    fn key_at(slots: &[Option<(K, V)>], at: Slot) -> &K {
        &slots[at as usize].as_ref().expect("live slot").0
    }

    fn slot_hash(slots: &[Option<(K, V)>], seed: &BucketSeed, at: Slot) -> u64 {
        Self::key_at(slots, at).bucket_hash(seed)
    }

    fn value_mut(&mut self, at: Slot) -> &mut V {
        &mut self.slots[at as usize].as_mut().expect("live slot").1
    }

    fn release(&mut self, at: Slot) -> (K, V) {
        self.unlink(at);
        self.free.push(at);
        self.slots[at as usize].take().expect("live slot")
    }

    fn unlink(&mut self, at: Slot) {
        let Link { prev, next } = self.links[at as usize];
        match prev {
            NIL => self.head = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.links[n as usize].prev = prev,
        }
    }

    fn link_front(&mut self, at: Slot) {
        self.links[at as usize] = Link {
            prev: NIL,
            next: self.head,
        };
        if self.head != NIL {
            self.links[self.head as usize].prev = at;
        }
        self.head = at;
        if self.tail == NIL {
            self.tail = at;
        }
    }

    fn move_to_front(&mut self, at: Slot) {
        if self.head != at {
            self.unlink(at);
            self.link_front(at);
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lru: &Lru<String, u32>) -> Vec<&str> {
        lru.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        assert!(lru.insert("a".to_string(), 1).is_none());
        lru.insert("b".to_string(), 2);
        lru.get(&"a".to_string());
        assert_eq!(lru.insert("c".to_string(), 3), Some(("b".to_string(), 2)));
        assert_eq!(keys(&lru), ["c", "a"]);
        assert!(!lru.contains(&"b".to_string()));
    }

    #[test]
    fn peek_does_not_touch_and_replace_does_not_grow() {
        let mut lru = Lru::new(2);
        lru.insert("a".to_string(), 1);
        lru.insert("b".to_string(), 2);
        assert_eq!(lru.peek(&"a".to_string()), Some(&1));
        lru.insert("b".to_string(), 20);
        assert_eq!(lru.len(), 2);
        lru.insert("c".to_string(), 3);
        assert_eq!(keys(&lru), ["c", "b"]);
        assert_eq!(lru.peek(&"b".to_string()), Some(&20));
    }

    #[test]
    fn remove_clear_capacity_and_slot_reuse() {
        let mut lru = Lru::new(3);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            lru.insert(k.to_string(), i as u32);
        }
        assert_eq!(lru.remove(&"b".to_string()), Some(1));
        assert_eq!(lru.remove(&"b".to_string()), None);
        lru.insert("d".to_string(), 4);
        assert_eq!(lru.slots.len(), 3, "the freed slot is reused");
        assert_eq!(keys(&lru), ["d", "c", "a"]);
        assert_eq!(lru.set_capacity(1).len(), 2);
        assert_eq!(keys(&lru), ["d"]);
        lru.clear();
        assert!(lru.is_empty());
        assert_eq!(lru.pop_oldest(), None);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut lru = Lru::new(0);
        assert_eq!(lru.insert("a".to_string(), 1), Some(("a".to_string(), 1)));
        assert!(lru.is_empty());
    }

    #[test]
    fn stays_bounded_under_a_flood() {
        let mut lru = Lru::new(100);
        for i in 0..100_000u32 {
            lru.insert(i.to_string(), i);
        }
        assert_eq!(lru.len(), 100);
        assert!(lru.slots.len() <= 100 && lru.slots.capacity() <= 100);
        assert_eq!(lru.iter().next().map(|(_, v)| *v), Some(99_999));
    }
}
