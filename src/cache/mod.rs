//! The avatar metadata cache: what we currently believe each JID's avatar
//! is, change detection, and the memory of which JIDs use PEP avatars.
//!
//! Keys are whatever the binding uses to name a JID (a string here); values
//! are lists of records ([`Record`](crate::model::Record)), stored compactly.
//! A binding may attach a ready-made "view" (the list of descriptor objects
//! handed to users) to an entry so that repeated lookups return the same
//! object without rebuilding it.

use std::collections::HashMap;
use std::hash::Hash;

use crate::lru::{Lookup, Lru, LruKey};
use crate::model::AsRecord;

mod compact;
pub use compact::{CompactRecord, CompactRecords};

/// A cached value: the records (stored compactly) and whether the JID is
/// known to publish PEP avatars.
#[derive(Debug)]
struct Entry {
    records: CompactRecords,
    has_pep: bool,
}

/// A cache hit: the records, and the binding's view of them if one is kept.
pub struct Cached<'a, V> {
    pub records: &'a CompactRecords,
    pub view: Option<&'a V>,
}

/// The outcome of [`MetadataCache::store`].
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// The records differ from what was cached: listeners must be told.
    Changed,
    /// Same records as before: nothing to announce.
    Unchanged,
}

/// A token for one metadata request, see [`MetadataCache::begin_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestToken(pub u64);

/// Least number of JIDs remembered as having a PEP avatar after their cache
/// entry is gone.
pub const DEFAULT_PEP_MEMORY: usize = 10_000;

/// Most entries holding a view at once: views are the binding's objects
/// (a list of descriptors costs a few hundred bytes), kept for the JIDs
/// looked up most recently.
pub const KEPT_VIEWS: usize = 1024;

/// Whether a new view is worth keeping. A sweep over more JIDs than
/// [`KEPT_VIEWS`] replaces every view before it is used again: keeping
/// them then only costs (a key copy, an eviction) and never hits. So views
/// are admitted freely while at least one in [`MIN_HIT_SHARE`] of the
/// recent lists was a kept view (rather than built anew), and otherwise one
/// in [`TRIAL_EVERY`], so that a new small set of busy JIDs still gets its
/// views.
#[derive(Debug, Default)]
struct ViewAdmission {
    hits: u32,
    misses: u32,
    refused: u32,
}

/// See [`ViewAdmission`]: free admission needs a view hit rate of 1 in 4.
const MIN_HIT_SHARE: u32 = 4;
/// See [`ViewAdmission`]: hits credited up front, so that the first lists
/// keep their views.
const WARM_UP: u32 = 64;
/// See [`ViewAdmission`]: below that rate, one view in 16 is kept.
const TRIAL_EVERY: u32 = 16;

impl ViewAdmission {
    fn record(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        // Recent lookups count: halve the history every 2 * KEPT_VIEWS.
        if self.hits + self.misses >= 2 * KEPT_VIEWS as u32 {
            self.hits /= 2;
            self.misses /= 2;
        }
    }

    fn admit(&mut self) -> bool {
        // Until the first few lists were counted, keep every view.
        if (self.hits + WARM_UP) * (MIN_HIT_SHARE - 1) >= self.misses {
            return true;
        }
        self.refused = self.refused.wrapping_add(1);
        self.refused.is_multiple_of(TRIAL_EVERY)
    }
}

/// Metadata per JID, bounded, with change detection.
pub struct MetadataCache<K, V> {
    entries: Lru<K, Entry>,
    /// The views of the most recently viewed entries; an entry that changes
    /// or leaves the cache loses its view.
    views: Lru<K, V>,
    admission: ViewAdmission,
    /// JIDs known to use PEP avatars whose entry was evicted or forgotten;
    /// for cached JIDs the entry's own flag says it.
    pep_without_entry: Lru<K, ()>,
    /// Per-JID generation for JIDs with a request in flight: a notification
    /// bumps it, so an older request result cannot overwrite a newer event.
    in_flight: HashMap<K, (u64, usize)>,
    next_generation: u64,
    /// Entries dropped because the cache was full.
    pub evictions: u64,
}

impl<K: LruKey + Hash + Clone, V> MetadataCache<K, V> {
    /// A cache of at most `capacity` JIDs.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Lru::new(capacity),
            views: Lru::new(KEPT_VIEWS),
            admission: ViewAdmission::default(),
            pep_without_entry: Lru::new(DEFAULT_PEP_MEMORY.max(capacity)),
            in_flight: HashMap::new(),
            next_generation: 0,
            evictions: 0,
        }
    }

    /// The maximum number of cached JIDs.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Change the maximum number of cached JIDs (evicting as needed). The
    /// PEP memory grows with it, never below its default.
    pub fn set_capacity(&mut self, capacity: usize) {
        for (key, entry) in self.entries.set_capacity(capacity) {
            self.evictions += 1;
            self.evicted(key, entry);
        }
        self.pep_without_entry
            .set_capacity(DEFAULT_PEP_MEMORY.max(capacity));
    }

    /// Number of cached JIDs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached entry for `key`, marked as recently used (its view too).
    pub fn lookup<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<Cached<'_, V>> {
        let entry = self.entries.get(key)?;
        let view = self.views.get(key).map(|v| &*v);
        if view.is_some() {
            self.admission.record(true);
        }
        Some(Cached {
            records: &entry.records,
            view,
        })
    }

    /// The cached entry for `key`, not marked as used.
    pub fn peek<Q: Lookup<K> + ?Sized>(&self, key: &Q) -> Option<Cached<'_, V>> {
        let entry = self.entries.peek(key)?;
        Some(Cached {
            records: &entry.records,
            view: self.views.peek(key),
        })
    }

    /// Attach `view`, just built for a lookup that found none or for an
    /// event, to `key`'s entry (if cached and views are worth keeping, see
    /// `ViewAdmission`). Only the [`KEPT_VIEWS`] most recently viewed
    /// entries keep theirs. Returns whether it was kept.
    pub fn keep_view<Q: Lookup<K> + ?Sized>(&mut self, key: &Q, view: V) -> bool {
        self.admission.record(false);
        if !self.admission.admit() {
            return false;
        }
        let Some((key, _)) = self.entries.get_entry(key) else {
            return false;
        };
        self.views.insert(key.clone(), view);
        true
    }

    /// Every view attached to an entry (for the binding's garbage collector).
    pub fn views(&self) -> impl Iterator<Item = &V> {
        self.views.iter().map(|(_, v)| v)
    }

    /// Whether `key` is cached (not counted as use).
    pub fn contains<Q: Lookup<K> + ?Sized>(&self, key: &Q) -> bool {
        self.entries.contains(key)
    }

    /// Store `records` for `key` and say whether they differ from the cached
    /// ones. An unchanged entry keeps its view; a changed one loses it.
    pub fn store<R: AsRecord>(&mut self, key: &K, records: &[R]) -> Stored {
        self.put(key, records, false)
    }

    /// A PEP event for `key` (XEP-0084 §4.3): store it, remember that the JID
    /// uses PEP avatars, and make any request in flight for it stale.
    pub fn pep_event<R: AsRecord>(&mut self, key: &K, records: &[R]) -> Stored {
        self.supersede_requests(key);
        self.put(key, records, true)
    }

    /// A XEP-0153 photo hash seen in a presence from `key`: stored only when
    /// the JID is not known to use PEP avatars (PEP wins over vCard). `None`
    /// when it was ignored for that reason.
    pub fn vcard_event<R: AsRecord>(&mut self, key: &K, records: &[R]) -> Option<Stored> {
        if self.has_pep(key) {
            return None;
        }
        self.supersede_requests(key);
        Some(self.store(key, records))
    }

    /// Forget `key`'s metadata (a MUC occupant left, or `require_fresh`);
    /// whether it uses PEP avatars is still remembered.
    pub fn forget(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.evicted(key.clone(), entry);
        }
    }

    /// Remember that `key` publishes its avatar over PEP.
    pub fn mark_has_pep(&mut self, key: &K) {
        match self.entries.peek_mut(key) {
            Some(entry) => entry.has_pep = true,
            None => {
                self.pep_without_entry.insert(key.clone(), ());
            }
        }
    }

    /// Whether `key` is known to publish its avatar over PEP.
    pub fn has_pep(&self, key: &K) -> bool {
        self.entries.peek(key).is_some_and(|e| e.has_pep) || self.pep_without_entry.contains(key)
    }
    /// Start a metadata request for `key`; pass the token to
    /// [`finish_request`](Self::finish_request) with its result.
    pub fn begin_request(&mut self, key: &K) -> RequestToken {
        self.next_generation += 1;
        let generation = self.next_generation;
        let slot = self.in_flight.entry(key.clone()).or_insert((generation, 0));
        slot.1 += 1;
        RequestToken(slot.0)
    }

    /// Finish a request: store its records unless an event arrived for `key`
    /// since it began or the entry was filled meanwhile, in which case the
    /// newer cached value wins (and `None` is returned). Every token must be
    /// finished exactly once: here, or by [`abort_request`](Self::abort_request).
    pub fn finish_request<R: AsRecord>(
        &mut self,
        key: &K,
        token: RequestToken,
        records: &[R],
    ) -> Option<Stored> {
        let current = self.end_request(key)?;
        if current != token.0 || self.entries.contains(key) {
            return None;
        }
        Some(self.store(key, records))
    }

    /// Finish a request for `key` that failed or was cancelled: nothing is
    /// stored.
    pub fn abort_request(&mut self, key: &K) {
        self.end_request(key);
    }

    /// Count one request for `key` as done; the current generation of its
    /// requests, if any was in flight.
    fn end_request(&mut self, key: &K) -> Option<u64> {
        let slot = self.in_flight.get_mut(key)?;
        let current = slot.0;
        slot.1 -= 1;
        if slot.1 == 0 {
            self.in_flight.remove(key);
        }
        Some(current)
    }

    /// Number of JIDs with a metadata request in flight.
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Forget everything tied to the connection (stream destroyed).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.views.clear();
        self.pep_without_entry.clear();
        for slot in self.in_flight.values_mut() {
            self.next_generation += 1;
            slot.0 = self.next_generation;
        }
    }

    /// An entry left the cache: keep what it knew about PEP.
    fn evicted(&mut self, key: K, entry: Entry) {
        self.views.remove(&key);
        if entry.has_pep {
            self.pep_without_entry.insert(key, ());
        }
    }

    /// [`store`](Self::store), also marking the JID as a PEP user when
    /// `pep`. Unchanged records are recognised without encoding them.
    fn put<R: AsRecord>(&mut self, key: &K, records: &[R], pep: bool) -> Stored {
        if let Some(entry) = self.entries.get(key) {
            entry.has_pep |= pep;
            if entry.records.matches(records) {
                return Stored::Unchanged;
            }
            entry.records = CompactRecords::new(records);
            self.views.remove(key);
            return Stored::Changed;
        }
        let has_pep = self.pep_without_entry.remove(key).is_some() || pep;
        let entry = Entry {
            records: CompactRecords::new(records),
            has_pep,
        };
        if let Some((old_key, old)) = self.entries.insert(key.clone(), entry) {
            self.evictions += 1;
            self.evicted(old_key, old);
        }
        Stored::Changed
    }

    fn supersede_requests(&mut self, key: &K) {
        if let Some(slot) = self.in_flight.get_mut(key) {
            self.next_generation += 1;
            slot.0 = self.next_generation;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AvatarInfo, Record, SourceKind};

    fn rec(id: &str) -> Record {
        Record {
            kind: SourceKind::Pubsub,
            info: AvatarInfo {
                id: id.to_string(),
                mime_type: Some("image/png".into()),
                nbytes: Some(1),
                width: None,
                height: None,
                url: None,
            },
        }
    }

    fn cache(cap: usize) -> MetadataCache<String, u32> {
        MetadataCache::new(cap)
    }

    #[test]
    fn change_detection_keeps_views_of_unchanged_entries() {
        let mut c = cache(10);
        let k = "a@x".to_string();
        assert_eq!(c.pep_event(&k, &[rec("1")]), Stored::Changed);
        c.keep_view(&k, 7);
        assert_eq!(c.pep_event(&k, &[rec("1")]), Stored::Unchanged);
        assert_eq!(c.lookup(&k).unwrap().view, Some(&7));
        assert_eq!(c.pep_event(&k, &[rec("2")]), Stored::Changed);
        assert_eq!(c.lookup(&k).unwrap().view, None);
        assert_eq!(c.pep_event(&k, &[] as &[Record]), Stored::Changed);
    }

    #[test]
    fn only_the_most_recently_viewed_entries_keep_views() {
        let mut c = cache(KEPT_VIEWS + 10);
        for i in 0..KEPT_VIEWS + 1 {
            let k = i.to_string();
            c.pep_event(&k, &[rec("1")]);
            assert!(c.keep_view(&k, i as u32));
            // A view that is used: views stay worth keeping.
            assert_eq!(c.lookup(&k).unwrap().view, Some(&(i as u32)));
            if i == 1 {
                c.lookup(&"0".to_string()); // keeps "0" fresh, so "1" goes first
            }
        }
        assert_eq!(c.views().count(), KEPT_VIEWS);
        assert_eq!(c.lookup(&"1".to_string()).unwrap().view, None);
        assert_eq!(c.lookup(&"0".to_string()).unwrap().view, Some(&0));
        c.keep_view(&"absent".to_string(), 1);
        assert_eq!(c.views().count(), KEPT_VIEWS);
    }

    #[test]
    fn a_sweep_over_more_jids_than_kept_views_keeps_few_views() {
        let n = 10 * KEPT_VIEWS;
        let mut c = cache(n);
        let keys: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        for k in &keys {
            c.pep_event(k, &[rec("1")]);
        }
        let mut kept = 0;
        for _ in 0..3 {
            for k in &keys {
                if c.lookup(k).unwrap().view.is_none() {
                    kept += usize::from(c.keep_view(k, 1));
                }
            }
        }
        // Far fewer than one per miss: one in TRIAL_EVERY once the hit
        // rate has fallen.
        assert!(kept < 3 * n / 8, "{kept} of {} misses kept a view", 3 * n);
        // A small busy set that follows gets its views again.
        let busy = &keys[..100];
        let mut hits = 0;
        for _ in 0..200 {
            for k in busy {
                if c.lookup(k).unwrap().view.is_some() {
                    hits += 1;
                } else {
                    c.keep_view(k, 2);
                }
            }
        }
        assert!(hits > 200 * 100 * 9 / 10, "{hits} hits");
    }

    #[test]
    fn pep_wins_over_vcard() {
        let mut c = cache(10);
        let k = "a@x".to_string();
        assert_eq!(c.vcard_event(&k, &[rec("v")]), Some(Stored::Changed));
        c.pep_event(&k, &[rec("p")]);
        assert_eq!(c.vcard_event(&k, &[rec("v2")]), None);
        assert_eq!(c.lookup(&k).unwrap().records.to_records(), vec![rec("p")]);
    }

    #[test]
    fn an_event_during_a_request_wins() {
        let mut c = cache(10);
        let k = "a@x".to_string();
        let token = c.begin_request(&k);
        c.forget(&k);
        c.pep_event(&k, &[rec("new")]);
        c.forget(&k); // even if the entry is gone again, the old result loses
        assert_eq!(c.finish_request(&k, token, &[rec("old")]), None);
        assert!(!c.contains(&k));
        assert_eq!(c.requests_in_flight(), 0);

        let token = c.begin_request(&k);
        assert_eq!(
            c.finish_request(&k, token, &[rec("r")]),
            Some(Stored::Changed)
        );
        assert_eq!(c.lookup(&k).unwrap().records.to_records(), vec![rec("r")]);
    }

    #[test]
    fn concurrent_requests_share_a_generation_and_failures_store_nothing() {
        let mut c = cache(10);
        let k = "a@x".to_string();
        c.begin_request(&k);
        let t2 = c.begin_request(&k);
        c.abort_request(&k);
        assert_eq!(c.requests_in_flight(), 1);
        let none: &[Record] = &[];
        assert_eq!(c.finish_request(&k, t2, none), Some(Stored::Changed));
        assert_eq!(c.requests_in_flight(), 0);
    }

    #[test]
    fn clear_drops_entries_and_makes_requests_stale() {
        let mut c = cache(10);
        let k = "a@x".to_string();
        c.pep_event(&k, &[rec("1")]);
        let t = c.begin_request(&k);
        c.clear();
        assert!(c.is_empty() && !c.has_pep(&k));
        assert_eq!(c.finish_request(&k, t, &[rec("1")]), None);
    }

    #[test]
    fn bounded_and_counts_evictions() {
        let mut c = cache(3);
        for i in 0..10 {
            c.pep_event(&i.to_string(), &[rec("1")]);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.evictions, 7);
        c.set_capacity(1);
        assert_eq!((c.len(), c.evictions), (1, 9));
        assert!(
            c.has_pep(&"0".to_string()),
            "the PEP memory is larger than the cache"
        );
    }
}
