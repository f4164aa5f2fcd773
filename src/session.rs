//! Everything the avatar service knows for one connection, and the decisions
//! it takes on each event: PEP notifications, presences, metadata requests,
//! failed fetches. The binding feeds events in and acts on the answers.

use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::cache::{Cached, MetadataCache, RequestToken, Stored};
use crate::ids::{is_sha1_hex, sha1_hex};
use crate::lru::{Lookup, Lru, LruKey};
use crate::model::{AvatarInfo, Record, RecordRef, SourceKind};
use crate::own_vcard::{is_hash_or_empty, OwnVCard, RehashToken};
use crate::validate::{valid_mime_type, validate_infos, RawInfo};

/// Default number of cached JIDs (as aioxmpp).
pub const DEFAULT_METADATA_CACHE_SIZE: usize = 200;
/// Default cap on `<info/>` entries taken from one metadata item.
pub const DEFAULT_MAX_INFOS: usize = 16;
/// Default time a failed fetch for one (JID, id) is not retried.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// Most (JID, id) failures remembered.
pub const MAX_NEGATIVE_ENTRIES: usize = 4096;

/// Kinds of IQ the service sends, for [`Stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IqKind {
    Metadata,
    Data,
    VCard,
}

/// Counters of the service's work (images are counted by the store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub iq_metadata: u64,
    pub iq_data: u64,
    pub iq_vcard: u64,
    pub requests_coalesced: u64,
    pub negative_cache_hits: u64,
    pub infos_dropped: u64,
    pub presence_hashes_ignored: u64,
}

/// A presence from `from_full` that carries (or lacks) XEP-0153 data.
#[derive(Clone, Copy, Debug)]
pub struct Presence<'a, K> {
    pub from_full: &'a K,
    pub from_bare: &'a K,
    /// Sent by another resource of our own account.
    pub own_other_resource: bool,
    /// Sent by a MUC occupant (XEP-0045 `<x xmlns='…muc#user'/>` present).
    pub muc: bool,
    /// `None`: no `vcard-temp:x:update`; `Some(photo)`: its `<photo/>` text.
    pub update: Option<Option<&'a str>>,
}

/// What the binding must do after a presence.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PresenceOutcome {
    /// The metadata cache entry that changed: `true` for the full JID (MUC
    /// occupant), `false` for the bare JID.
    pub changed: Option<bool>,
    /// A vCard rehash to run for our own account.
    pub rehash: Option<RehashToken>,
}

/// What became of a vCard answer, see [`AvatarSession::finish_vcard`].
#[derive(Debug, PartialEq, Eq)]
pub enum VCardAnswer {
    /// Returned to the caller only (the JID uses PEP avatars).
    CallerOnly,
    /// As [`MetadataCache::finish_request`]: stored, or `None` when a newer
    /// cached value won.
    Cached(Option<Stored>),
}

/// Per-connection avatar state.
pub struct AvatarSession<K, V> {
    pub cache: MetadataCache<K, V>,
    pub vcard: OwnVCard<K>,
    negative: Lru<(K, String), Instant>,
    negative_ttl: Duration,
    max_infos: usize,
    /// Bumped when the stream is destroyed: failures of requests sent on an
    /// older stream are not remembered.
    epoch: u64,
    pub stats: Stats,
}

impl<K: LruKey + Hash + Clone + Default, V> Default for AvatarSession<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: LruKey + Hash + Clone + Default, V> AvatarSession<K, V> {
    /// A session with aioxmpp's defaults.
    pub fn new() -> Self {
        Self {
            cache: MetadataCache::new(DEFAULT_METADATA_CACHE_SIZE),
            vcard: OwnVCard::new(),
            negative: Lru::new(MAX_NEGATIVE_ENTRIES),
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_infos: DEFAULT_MAX_INFOS,
            epoch: 0,
            stats: Stats::default(),
        }
    }

    /// Most `<info/>` entries taken from one metadata item.
    pub fn max_infos(&self) -> usize {
        self.max_infos
    }

    /// Change the cap on `<info/>` entries per metadata item (at least 1).
    pub fn set_max_infos(&mut self, max: usize) {
        self.max_infos = max.max(1);
    }

    /// How long a failed fetch is not retried.
    pub fn negative_ttl(&self) -> Duration {
        self.negative_ttl
    }

    /// Change how long a failed fetch is not retried (zero disables it).
    pub fn set_negative_ttl(&mut self, ttl: Duration) {
        self.negative_ttl = ttl;
    }

    /// Turn received `<info/>` fields into records (XEP-0084 §4.2.1): an
    /// entry with a `url` is fetched over HTTP, the others from the data node.
    /// The records borrow their text from `raws`.
    pub fn records_from_infos<'a>(&mut self, raws: &[RawInfo<'a>]) -> Vec<RecordRef<'a>> {
        let (records, dropped) = validate_infos(raws, self.max_infos, |info| RecordRef {
            kind: if info.url.is_some() {
                SourceKind::Http
            } else {
                SourceKind::Pubsub
            },
            info,
        });
        self.stats.infos_dropped += dropped as u64;
        records
    }

    /// A PEP metadata notification from `key`. Returns whether it changed
    /// the cached metadata (compared exactly), and the records.
    /// Ids it names again are retried at once, even after a failure.
    pub fn pep_notification<'a>(
        &mut self,
        key: &K,
        raws: &[RawInfo<'a>],
    ) -> (Stored, Vec<RecordRef<'a>>) {
        let records = self.records_from_infos(raws);
        self.forgive(key, &records);
        let stored = self.cache.pep_event(key, &records);
        (stored, records)
    }

    /// A fresh PEP answer to a request for `key`: as a notification, the
    /// ids it names are retried at once (a contact may publish the
    /// metadata before the data, XEP-0084 §4.3 orders it the other way).
    pub fn pep_answer<'a>(&mut self, key: &K, raws: &[RawInfo<'a>]) -> Vec<RecordRef<'a>> {
        self.cache.mark_has_pep(key);
        let records = self.records_from_infos(raws);
        self.forgive(key, &records);
        records
    }

    /// Whether a request for `key` that found no PEP avatar node goes on to
    /// the vCard (XEP-0153). Not for a JID known to publish PEP avatars:
    /// XEP-0084 §4.3 puts PEP first, so its missing node means no avatar.
    pub fn needs_vcard_fallback(&self, key: &K) -> bool {
        !self.cache.has_pep(key)
    }

    /// A vCard answer to a request for `key` (XEP-0153 §3.2). For a JID
    /// known to use PEP avatars (asked with `disable_pep`), the answer is
    /// the caller's only: it never replaces the cached PEP metadata and
    /// announces nothing.
    pub fn finish_vcard(
        &mut self,
        key: &K,
        token: RequestToken,
        records: &[Record],
    ) -> VCardAnswer {
        if self.cache.has_pep(key) {
            self.cache.abort_request(key);
            return VCardAnswer::CallerOnly;
        }
        VCardAnswer::Cached(self.cache.finish_request(key, token, records))
    }

    /// Drop remembered failures of `key` for the ids in `records`.
    fn forgive(&mut self, key: &K, records: &[RecordRef<'_>]) {
        if self.negative.is_empty() {
            return;
        }
        for record in records {
            self.negative
                .remove(&(key.clone(), record.info.id.to_ascii_lowercase()));
        }
    }

    /// The current stream's number, see [`record_failure`](Self::record_failure).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A presence (available or changed) carrying XEP-0153 data or not.
    pub fn presence(&mut self, p: &Presence<'_, K>) -> PresenceOutcome {
        let mut outcome = PresenceOutcome::default();
        if p.own_other_resource {
            outcome.rehash = self.vcard.own_resource_presence(p.from_full, p.update);
        }
        let Some(Some(photo)) = p.update else {
            return outcome;
        };
        if !is_hash_or_empty(photo) {
            self.stats.presence_hashes_ignored += 1;
            return outcome;
        }
        let key = if p.muc { p.from_full } else { p.from_bare };
        // XEP-0153 §3.1: an empty <photo/> means "no avatar".
        let records = if photo.is_empty() {
            Vec::new()
        } else {
            vec![vcard_record(photo, None, None)]
        };
        if let Some(Stored::Changed) = self.cache.vcard_event(key, &records) {
            outcome.changed = Some(p.muc);
        }
        outcome
    }

    /// A presence of type unavailable.
    pub fn unavailable(
        &mut self,
        from_full: &K,
        own_other_resource: bool,
        muc: bool,
    ) -> Option<RehashToken> {
        if muc {
            self.cache.forget(from_full);
        }
        if own_other_resource {
            return self.vcard.own_resource_unavailable(from_full);
        }
        None
    }

    /// The cached entry for `key` (counted as a cache hit or miss).
    pub fn cached<Q: Lookup<K> + ?Sized>(&mut self, key: &Q) -> Option<Cached<'_, V>> {
        let entry = self.cache.lookup(key);
        match entry {
            Some(_) => self.stats.cache_hits += 1,
            None => self.stats.cache_misses += 1,
        }
        entry
    }

    /// Start a metadata request for `key`; with `require_fresh` the cached
    /// entry is dropped first (and the call counts as a cache miss), unless
    /// the request skips PEP (`disable_pep`) for a JID known to use PEP
    /// avatars: its vCard answer will not replace the PEP metadata.
    pub fn begin_request(
        &mut self,
        key: &K,
        require_fresh: bool,
        disable_pep: bool,
    ) -> RequestToken {
        if require_fresh {
            if !(disable_pep && self.cache.has_pep(key)) {
                self.cache.forget(key);
            }
            self.stats.cache_misses += 1;
        }
        self.cache.begin_request(key)
    }

    /// The records of a vCard fetched as fallback (XEP-0153 §3.2): the id is
    /// the SHA-1 of the photo. No photo means no avatar.
    /// The MIME type is kept only when valid (the same rule as for
    /// `<info/>` types).
    pub fn vcard_fallback_records(photo: Option<&[u8]>, mime_type: Option<&str>) -> Vec<Record> {
        match photo {
            None => Vec::new(),
            Some(data) => vec![vcard_record(
                &sha1_hex(data),
                mime_type.and_then(valid_mime_type),
                Some(data.len() as i64),
            )],
        }
    }

    /// Whether fetching `id` for `key` failed recently (and is not retried).
    pub fn recently_failed(&mut self, key: &K, id: &str, now: Instant) -> bool {
        let slot = (key.clone(), id.to_ascii_lowercase());
        match self.negative.peek(&slot) {
            Some(until) if *until > now => {
                self.stats.negative_cache_hits += 1;
                true
            }
            Some(_) => {
                self.negative.remove(&slot);
                false
            }
            None => false,
        }
    }

    /// Remember that fetching `id` for `key`, started during stream
    /// `epoch`, failed; a failure from an older stream is not kept.
    pub fn record_failure(&mut self, key: &K, id: &str, now: Instant, epoch: u64) {
        if epoch != self.epoch || self.negative_ttl.is_zero() || !is_sha1_hex(id) && !id.is_empty()
        {
            return;
        }
        let Some(until) = now.checked_add(self.negative_ttl) else {
            return;
        };
        self.negative
            .insert((key.clone(), id.to_ascii_lowercase()), until);
    }

    /// Count an IQ sent.
    pub fn count_iq(&mut self, kind: IqKind) {
        match kind {
            IqKind::Metadata => self.stats.iq_metadata += 1,
            IqKind::Data => self.stats.iq_data += 1,
            IqKind::VCard => self.stats.iq_vcard += 1,
        }
    }

    /// Forget everything tied to the connection (stream destroyed).
    pub fn clear(&mut self) {
        self.cache.clear();
        self.vcard.clear();
        self.negative.clear();
        self.epoch += 1;
    }
}

/// Whether a pubsub error condition means "no avatar" instead of a failure:
/// the PEP service or the node does not exist (XEP-0060 §6.5.9.11, §6.5.9.8
/// and §6.5.9.2 with `feature-not-implemented`). Anything else, such as
/// `forbidden`, is a real error for the caller.
pub fn means_no_avatar(condition: &str) -> bool {
    matches!(condition, "item-not-found" | "feature-not-implemented")
}

/// What to do when purging our avatar data node failed with `condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeFallback {
    /// There is no data node: nothing to remove.
    Done,
    /// The service cannot purge (XEP-0060 §8.5 is optional): overwrite the
    /// node's single item with empty data instead.
    Overwrite,
    /// A real error for the caller.
    Raise,
}

/// Decide how `wipe_avatar` goes on after a failed purge.
pub fn purge_fallback(condition: &str) -> PurgeFallback {
    match condition {
        "item-not-found" => PurgeFallback::Done,
        "feature-not-implemented" => PurgeFallback::Overwrite,
        _ => PurgeFallback::Raise,
    }
}

fn vcard_record(id: &str, mime_type: Option<&str>, nbytes: Option<i64>) -> Record {
    Record {
        kind: SourceKind::VCard,
        info: AvatarInfo {
            id: id.to_owned(),
            mime_type: mime_type.map(str::to_owned),
            nbytes,
            width: None,
            height: None,
            url: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::RawInt;

    const H1: &str = "A9993E364706816ABA3E25717850C26C9CD0D89D";
    type Session = AvatarSession<String, ()>;

    fn info(id: &'static str, url: Option<&'static str>) -> RawInfo<'static> {
        RawInfo {
            id: Some(id),
            mime_type: Some("image/png"),
            nbytes: RawInt::Value(3),
            width: RawInt::Absent,
            height: RawInt::Absent,
            url,
        }
    }

    fn presence<'a>(
        full: &'a String,
        bare: &'a String,
        muc: bool,
        photo: Option<&'a str>,
    ) -> Presence<'a, String> {
        Presence {
            from_full: full,
            from_bare: bare,
            own_other_resource: false,
            muc,
            update: Some(photo),
        }
    }

    #[test]
    fn notifications_classify_sources_and_count_drops() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        let infos = [
            info(H1, None),
            info("bad", None),
            info(H1, Some("https://x/a.png")),
        ];
        assert_eq!(s.pep_notification(&k, &infos).0, Stored::Changed);
        let kinds: Vec<_> = s
            .cache
            .lookup(&k)
            .unwrap()
            .records
            .to_records()
            .iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, [SourceKind::Pubsub, SourceKind::Http]);
        assert_eq!(s.stats.infos_dropped, 1);
        assert_eq!(s.pep_notification(&k, &infos).0, Stored::Unchanged);
    }

    #[test]
    fn presence_hashes_key_by_bare_or_muc_full_jid() {
        let mut s = Session::new();
        let (full, bare) = ("a@x/r".to_string(), "a@x".to_string());
        assert_eq!(
            s.presence(&presence(&full, &bare, false, Some(H1))).changed,
            Some(false)
        );
        assert!(s.cache.contains(&bare) && !s.cache.contains(&full));
        assert_eq!(
            s.presence(&presence(&full, &bare, false, Some(H1))).changed,
            None
        );
        assert_eq!(
            s.presence(&presence(&full, &bare, false, Some(""))).changed,
            Some(false)
        );
        assert!(s.cache.lookup(&bare).unwrap().records.is_empty());

        let (occ, room) = ("room@muc/nick".to_string(), "room@muc".to_string());
        assert_eq!(
            s.presence(&presence(&occ, &room, true, Some(H1))).changed,
            Some(true)
        );
        s.unavailable(&occ, false, true);
        assert!(!s.cache.contains(&occ));
    }

    #[test]
    fn malformed_presence_hashes_are_ignored() {
        let mut s = Session::new();
        let (full, bare) = ("a@x/r".to_string(), "a@x".to_string());
        assert_eq!(
            s.presence(&presence(&full, &bare, false, Some("random-id")))
                .changed,
            None
        );
        assert_eq!(
            s.presence(&presence(&full, &bare, false, None)).changed,
            None
        );
        assert!(!s.cache.contains(&bare));
        assert_eq!(s.stats.presence_hashes_ignored, 1);
    }

    #[test]
    fn muc_flood_stays_bounded() {
        let mut s = Session::new();
        let room = "room@muc".to_string();
        for i in 0..100_000 {
            let occ = format!("room@muc/{i}");
            s.presence(&presence(&occ, &room, true, Some(H1)));
        }
        assert_eq!(s.cache.len(), DEFAULT_METADATA_CACHE_SIZE);
    }

    #[test]
    fn lookup_counts_hits_and_misses() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        assert!(s.cached(&k).is_none());
        let t = s.begin_request(&k, false, false);
        s.cache.finish_request(&k, t, &[] as &[Record]);
        assert!(s.cached(&k).is_some());
        s.begin_request(&k, true, false);
        assert!(!s.cache.contains(&k));
        s.cache.abort_request(&k);
        assert_eq!((s.stats.cache_hits, s.stats.cache_misses), (1, 2));
    }

    #[test]
    fn no_vcard_fallback_once_a_pep_avatar_was_seen() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        assert!(s.needs_vcard_fallback(&k));
        s.pep_answer(&k, &[]);
        assert!(!s.needs_vcard_fallback(&k));
    }

    #[test]
    fn only_missing_nodes_mean_no_avatar() {
        assert!(means_no_avatar("item-not-found"));
        assert!(means_no_avatar("feature-not-implemented"));
        assert!(!means_no_avatar("forbidden"));
        assert!(!means_no_avatar("service-unavailable"));
    }

    #[test]
    fn purge_failures() {
        assert_eq!(purge_fallback("item-not-found"), PurgeFallback::Done);
        assert_eq!(
            purge_fallback("feature-not-implemented"),
            PurgeFallback::Overwrite
        );
        assert_eq!(purge_fallback("forbidden"), PurgeFallback::Raise);
    }

    #[test]
    fn vcard_fallback_hashes_the_photo() {
        let recs = Session::vcard_fallback_records(Some(b"abc"), Some("image/png"));
        assert_eq!(recs[0].info.id, H1.to_lowercase());
        assert_eq!(recs[0].info.nbytes, Some(3));
        assert!(Session::vcard_fallback_records(None, None).is_empty());
    }

    #[test]
    fn negative_cache_expires_and_new_ids_retry() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        let t0 = Instant::now();
        s.record_failure(&k, H1, t0, 0);
        assert!(s.recently_failed(&k, &H1.to_lowercase(), t0 + Duration::from_secs(1)));
        assert!(!s.recently_failed(&k, "da39a3ee5e6b4b0d3255bfef95601890afd80709", t0));
        assert!(!s.recently_failed(&k, H1, t0 + DEFAULT_NEGATIVE_TTL + Duration::from_secs(1)));
        assert_eq!(s.stats.negative_cache_hits, 1);
        s.set_negative_ttl(Duration::ZERO);
        s.record_failure(&k, H1, t0, 0);
        assert!(!s.recently_failed(&k, H1, t0));
    }

    #[test]
    fn failures_heal_when_the_id_is_named_again() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        let t0 = Instant::now();
        s.record_failure(&k, H1, t0, 0);
        s.pep_notification(&k, &[info(H1, None)]);
        assert!(!s.recently_failed(&k, H1, t0), "a notification retries");
        s.record_failure(&k, H1, t0, 0);
        s.pep_answer(&k, &[info(H1, None)]);
        assert!(!s.recently_failed(&k, H1, t0), "a fresh answer retries");
        s.record_failure(&k, H1, t0, 0);
        let other = "b@x".to_string();
        s.pep_notification(&other, &[info(H1, None)]);
        assert!(s.recently_failed(&k, H1, t0), "only the same JID forgives");
    }

    #[test]
    fn failures_of_an_older_stream_are_not_kept() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        let t0 = Instant::now();
        let epoch = s.epoch();
        s.clear();
        s.record_failure(&k, H1, t0, epoch);
        assert!(!s.recently_failed(&k, H1, t0));
        s.record_failure(&k, H1, t0, s.epoch());
        assert!(s.recently_failed(&k, H1, t0));
    }

    #[test]
    fn vcard_answers_never_replace_pep_metadata() {
        let mut s = Session::new();
        let k = "a@x".to_string();
        s.pep_notification(&k, &[info(H1, None)]);
        let t = s.begin_request(&k, false, false);
        let vcard = Session::vcard_fallback_records(Some(b"abc"), Some("image/png"));
        assert_eq!(s.finish_vcard(&k, t, &vcard), VCardAnswer::CallerOnly);
        assert_eq!(s.cache.lookup(&k).unwrap().records.len(), 1);
        let t = s.begin_request(&k, true, true);
        assert_eq!(s.finish_vcard(&k, t, &vcard), VCardAnswer::CallerOnly);
        assert_eq!(s.cache.lookup(&k).unwrap().records.len(), 1, "kept");
        assert_eq!(s.cache.requests_in_flight(), 0);
        let fresh = "b@x".to_string();
        let t = s.begin_request(&fresh, false, false);
        assert_eq!(
            s.finish_vcard(&fresh, t, &vcard),
            VCardAnswer::Cached(Some(Stored::Changed))
        );
    }

    #[test]
    fn vcard_types_follow_the_info_rules() {
        let bad = "image/png ".repeat(10_000);
        let recs = Session::vcard_fallback_records(Some(b"abc"), Some(&bad));
        assert_eq!(recs[0].info.mime_type, None);
        let recs = Session::vcard_fallback_records(Some(b"abc"), Some("image/jpeg"));
        assert_eq!(recs[0].info.mime_type.as_deref(), Some("image/jpeg"));
    }
}
