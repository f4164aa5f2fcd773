//! The per-connection session model (`session::AvatarSession`, with its
//! metadata cache and XEP-0153 state) driven by a sequence of events decoded
//! from the input, as the network and Python callers produce them: PEP
//! notifications and answers with arbitrary `<info/>` fields, presences
//! with arbitrary photo hashes, requests begun and finished (also with
//! made-up tokens), vCard answers, failures, clears, floods of MUC
//! occupants and setting changes. After every event: the cache never holds
//! more JIDs than its capacity nor more views than `KEPT_VIEWS`; requests
//! in flight match the tokens handed out; counters never go back; cached
//! records are always validated ones; change detection, "PEP wins over
//! vCard", stale request results, the failure memory (checked against a
//! model) and the rehash tokens behave as documented.
#![no_main]

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use aioxmpp_avatar_core::cache::{RequestToken, Stored, KEPT_VIEWS};
use aioxmpp_avatar_core::ids::{is_sha1_hex, normalize_id, sha1_hex};
use aioxmpp_avatar_core::jid::{mix_part_hashes, JidKey};
use aioxmpp_avatar_core::model::{Record, RecordRef};
use aioxmpp_avatar_core::model::SourceKind;
use aioxmpp_avatar_core::own_vcard::{is_hash_or_empty, Advertisement, RehashToken};
use aioxmpp_avatar_core::session::{AvatarSession, IqKind, Presence, Stats, VCardAnswer};
use aioxmpp_avatar_core::validate::{raws, RawInt, ReceivedInfo};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

type Session = AvatarSession<JidKey, u32>;

/// A JID out of a small pool, so that events meet on the same JIDs.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Jid {
    local: u8,
    resource: Option<u8>,
}

/// A photo hash or `<info/>` id: one of a few real hashes (in either case),
/// empty, or anything.
#[derive(Arbitrary, Debug, Clone)]
enum Hash40 {
    Known(u8, bool),
    Empty,
    Free(String),
}

#[derive(Arbitrary, Debug, Clone)]
struct Info {
    id: Option<Hash40>,
    mime: Option<Result<u8, String>>,
    nbytes: Option<Option<i64>>,
    width: Option<i32>,
    height: Option<i32>,
    url: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A small capacity, or (`true`) one above `KEPT_VIEWS`.
    SetCapacity(u8, bool),
    SetMaxInfos(u8),
    SetNegativeTtl(u16),
    Advance(u32),
    Notify(Jid, Vec<Info>),
    /// A PEP answer for an outstanding request (picked by index).
    Answer(u8, Vec<Info>),
    Presence {
        from: Jid,
        own: bool,
        muc: bool,
        update: Option<Option<Hash40>>,
    },
    Unavailable {
        from: Jid,
        own: bool,
        muc: bool,
    },
    Cached(Jid),
    KeepView(Jid, u32),
    Begin {
        jid: Jid,
        require_fresh: bool,
        disable_pep: bool,
    },
    /// A failed request (picked by index).
    Fail(u8),
    FinishVCard {
        pick: u8,
        photo: Option<Vec<u8>>,
        mime: Option<String>,
    },
    /// A token a caller made up (or finished twice).
    RogueFinish(Jid, u64, bool),
    RecordFailure {
        jid: Jid,
        id: Hash40,
        old_stream: bool,
    },
    RecentlyFailed(Jid, Hash40),
    Forget(Jid),
    Clear,
    CountIq(u8),
    SetAdvertise(bool),
    SetOwnHash(Hash40),
    FinishRehash(u8, Option<Hash40>),
    /// This many presences of new MUC occupants (1100 at most per input),
    /// each looked up by the binding (which keeps a view) when `view` is set.
    Flood(u8, bool),
}

fn part_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn key(local: &str, domain: &str, resource: Option<&str>) -> JidKey {
    let hash = mix_part_hashes(
        Some(part_hash(local)),
        part_hash(domain),
        resource.map(part_hash),
    );
    JidKey::new(Some(local), domain, resource, hash).expect("short parts")
}

impl Jid {
    fn full(self) -> JidKey {
        let resource = self.resource.map(|r| format!("r{}", r % 2));
        key(&self.local(), "example.org", resource.as_deref())
    }

    fn bare(self) -> JidKey {
        key(&self.local(), "example.org", None)
    }

    fn local(self) -> String {
        format!("c{}", self.local % 8)
    }
}

impl Hash40 {
    fn text(&self) -> String {
        match self {
            Hash40::Known(i, upper) => {
                let h = sha1_hex(&[i % 6]);
                if *upper {
                    h.to_ascii_uppercase()
                } else {
                    h
                }
            }
            Hash40::Empty => String::new(),
            Hash40::Free(s) => s.clone(),
        }
    }
}

fn owned(infos: &[Info]) -> Vec<ReceivedInfo> {
    let mimes = ["image/png", "image/jpeg", "image/gif", "image/webp"];
    let int = |v: Option<i32>| v.map_or(RawInt::Absent, |v| RawInt::Value(v.into()));
    infos
        .iter()
        .take(24)
        .map(|i| ReceivedInfo {
            id: i.id.as_ref().map(Hash40::text),
            mime_type: i.mime.as_ref().map(|m| match m {
                Ok(k) => mimes[usize::from(*k) % mimes.len()].to_owned(),
                Err(s) => s.clone(),
            }),
            nbytes: match i.nbytes {
                None => RawInt::Absent,
                Some(None) => RawInt::Invalid,
                Some(Some(n)) => RawInt::Value(n.into()),
            },
            width: int(i.width),
            height: int(i.height),
            url: i.url.clone(),
        })
        .collect()
}

/// Every record the session caches came through validation.
fn owned_records(records: &[RecordRef<'_>]) -> Vec<Record> {
    records.iter().map(RecordRef::to_record).collect()
}

fn check_record(r: &Record) {
    assert!(is_sha1_hex(&r.info.id), "{r:?}");
    match r.kind {
        SourceKind::Pubsub | SourceKind::Http => {
            assert_eq!(r.kind == SourceKind::Http, r.info.url.is_some());
            assert!(r.info.mime_type.is_some());
            assert!(r
                .info
                .nbytes
                .is_some_and(|n| (0..=i64::from(u32::MAX)).contains(&n)));
            for d in [r.info.width, r.info.height].into_iter().flatten() {
                assert!((0..=65535).contains(&d));
            }
        }
        SourceKind::VCard => assert!(r.info.url.is_none()),
        SourceKind::Abstract => panic!("abstract record cached: {r:?}"),
    }
}

fn cached(s: &mut Session, k: &JidKey) -> Option<Vec<Record>> {
    s.cache.peek(k).map(|e| e.records.to_records())
}

fn stats_vec(s: &Stats) -> [u64; 9] {
    [
        s.cache_hits,
        s.cache_misses,
        s.iq_metadata,
        s.iq_data,
        s.iq_vcard,
        s.requests_coalesced,
        s.negative_cache_hits,
        s.infos_dropped,
        s.presence_hashes_ignored,
    ]
}

/// A request handed out and not finished yet; `stale` once an event or a
/// clear made its result outdated.
struct Outstanding {
    key: JidKey,
    token: RequestToken,
    stale: bool,
}

struct Harness {
    s: Session,
    start: Instant,
    now: Instant,
    outstanding: Vec<Outstanding>,
    /// Whether a made-up token was ever finished: the per-JID counts of
    /// requests in flight may then be lower than the tokens handed out.
    rogue: bool,
    /// Model of the failure memory: (JID, lowercase id) -> until.
    negative: HashMap<(JidKey, String), Instant>,
    rehash: Option<RehashToken>,
    last_rehash: u64,
    flooded: u32,
}

impl Harness {
    fn rehash_started(&mut self, token: Option<RehashToken>) {
        if let Some(t) = token {
            assert!(t.0 > self.last_rehash, "rehash tokens increase");
            self.last_rehash = t.0;
            self.rehash = Some(t);
        }
    }

    /// An event stored for `key` supersedes the requests in flight for it.
    fn supersede(&mut self, key: &JidKey) {
        for o in self.outstanding.iter_mut().filter(|o| o.key == *key) {
            o.stale = true;
        }
    }

    fn take(&mut self, pick: u8) -> Option<Outstanding> {
        if self.outstanding.is_empty() {
            return None;
        }
        let at = usize::from(pick) % self.outstanding.len();
        Some(self.outstanding.swap_remove(at))
    }

    /// Finish a request with pubsub records (or a failure) and check the
    /// outcome: only a current request for an uncached JID stores.
    fn finish(&mut self, o: Outstanding, records: Option<&[Record]>) {
        let was_cached = self.s.cache.contains(&o.key);
        let got = match records {
            Some(records) => self.s.cache.finish_request(&o.key, o.token, records),
            None => {
                self.s.cache.abort_request(&o.key);
                None
            }
        };
        if !self.rogue {
            let stores = records.is_some() && !o.stale && !was_cached;
            assert_eq!(got, stores.then_some(Stored::Changed));
        } else if got.is_some() {
            assert!(records.is_some() && !was_cached);
        }
        if got.is_some() && self.s.cache.capacity() > 0 {
            assert_eq!(cached(&mut self.s, &o.key).as_deref(), records);
        }
    }

    fn forgive(&mut self, key: &JidKey, records: &[Record]) {
        for r in records {
            self.negative
                .remove(&(key.clone(), r.info.id.to_ascii_lowercase()));
        }
    }

    fn check(&mut self, before: [u64; 9]) {
        let s = &mut self.s;
        assert!(s.cache.len() <= s.cache.capacity());
        assert!(s.cache.views().count() <= KEPT_VIEWS.min(s.cache.len()));
        let keys: HashSet<&JidKey> = self.outstanding.iter().map(|o| &o.key).collect();
        if self.rogue {
            assert!(s.cache.requests_in_flight() <= keys.len());
        } else {
            assert_eq!(s.cache.requests_in_flight(), keys.len());
        }
        let after = stats_vec(&s.stats);
        assert!(before.iter().zip(&after).all(|(b, a)| b <= a), "counters");
        match s.vcard.advertisement() {
            Advertisement::Untouched => assert!(!s.vcard.advertise()),
            Advertisement::NotReady => assert!(s.vcard.advertise()),
            Advertisement::Photo(h) => {
                assert!(s.vcard.advertise());
                assert_eq!(normalize_id(&h), h);
                assert_eq!(s.vcard.own_hash(), Some(h.as_str()));
            }
        }
        for t in [self.last_rehash, self.last_rehash.saturating_sub(1)] {
            let current = self.rehash == Some(RehashToken(t));
            assert_eq!(s.vcard.is_current_rehash(RehashToken(t)), current);
        }
    }

    fn run(&mut self, op: Op) {
        let before = stats_vec(&self.s.stats);
        match op {
            Op::SetCapacity(c, big) => {
                let c = if big {
                    KEPT_VIEWS + usize::from(c)
                } else {
                    usize::from(c % 40)
                };
                self.s.cache.set_capacity(c);
                assert_eq!(self.s.cache.capacity(), c);
            }
            Op::SetMaxInfos(n) => {
                self.s.set_max_infos(usize::from(n % 20));
                assert_eq!(self.s.max_infos(), usize::from(n % 20).max(1));
            }
            Op::SetNegativeTtl(secs) => {
                self.s.set_negative_ttl(Duration::from_secs(secs.into()));
            }
            Op::Advance(ms) => self.now += Duration::from_millis(ms.into()),
            Op::Notify(jid, infos) => {
                let k = jid.bare();
                let infos = owned(&infos);
                let prev = cached(&mut self.s, &k);
                let raws = raws(&infos);
                let (stored, records) = self.s.pep_notification(&k, &raws);
                let records = owned_records(&records);
                assert!(records.len() <= self.s.max_infos());
                records.iter().for_each(check_record);
                let changed = prev.as_deref() != Some(&records[..]);
                assert_eq!(stored == Stored::Changed, changed);
                assert!(self.s.cache.has_pep(&k));
                if self.s.cache.capacity() > 0 {
                    assert_eq!(cached(&mut self.s, &k), Some(records.clone()));
                }
                self.supersede(&k);
                self.forgive(&k, &records);
            }
            Op::Answer(pick, infos) => {
                let Some(o) = self.take(pick) else { return };
                let infos = owned(&infos);
                let raws = raws(&infos);
                let records = owned_records(&self.s.pep_answer(&o.key, &raws));
                records.iter().for_each(check_record);
                assert!(self.s.cache.has_pep(&o.key));
                self.forgive(&o.key, &records);
                self.finish(o, Some(&records));
            }
            Op::Fail(pick) => {
                if let Some(o) = self.take(pick) {
                    self.finish(o, None);
                }
            }
            Op::Presence {
                from,
                own,
                muc,
                update,
            } => {
                let (full, bare) = (from.full(), from.bare());
                let photo = update.as_ref().map(|u| u.as_ref().map(Hash40::text));
                let k = if muc { &full } else { &bare };
                let had_pep = self.s.cache.has_pep(k);
                let prev = cached(&mut self.s, k);
                let ignored = self.s.stats.presence_hashes_ignored;
                let outcome = self.s.presence(&Presence {
                    from_full: &full,
                    from_bare: &bare,
                    own_other_resource: own,
                    muc,
                    update: photo.as_ref().map(|p| p.as_deref()),
                });
                assert!(own || outcome.rehash.is_none());
                self.rehash_started(outcome.rehash);
                let valid = match photo.as_ref() {
                    Some(Some(p)) if is_hash_or_empty(p) => Some(p.as_str()),
                    Some(Some(_)) => {
                        assert_eq!(self.s.stats.presence_hashes_ignored, ignored + 1);
                        None
                    }
                    _ => None,
                };
                let now_cached = cached(&mut self.s, k);
                match valid {
                    Some(p) if !had_pep => {
                        self.supersede(k);
                        let records = now_cached.unwrap_or_default();
                        if self.s.cache.capacity() > 0 {
                            assert_eq!(records.len(), usize::from(!p.is_empty()));
                        }
                        for r in &records {
                            check_record(r);
                            assert_eq!((r.kind, r.info.id.as_str()), (SourceKind::VCard, p));
                        }
                        let changed = prev != Some(records) || self.s.cache.capacity() == 0;
                        assert_eq!(outcome.changed, changed.then_some(muc));
                    }
                    _ => {
                        assert_eq!(outcome.changed, None);
                        assert_eq!(prev, now_cached, "PEP wins over vCard");
                    }
                }
            }
            Op::Unavailable { from, own, muc } => {
                let full = from.full();
                let token = self.s.unavailable(&full, own, muc);
                assert!(own || token.is_none());
                self.rehash_started(token);
                if muc {
                    assert!(!self.s.cache.contains(&full));
                }
            }
            Op::Cached(jid) => {
                let k = jid.bare();
                let (hits, misses) = (self.s.stats.cache_hits, self.s.stats.cache_misses);
                let found = self.s.cached(&k).is_some();
                assert_eq!(found, self.s.cache.contains(&k));
                assert_eq!(
                    (self.s.stats.cache_hits, self.s.stats.cache_misses),
                    (hits + u64::from(found), misses + u64::from(!found))
                );
                if let Some(records) = cached(&mut self.s, &k) {
                    records.iter().for_each(check_record);
                }
            }
            Op::KeepView(jid, v) => {
                let k = jid.bare();
                let kept = self.s.cache.keep_view(&k, v);
                match self.s.cache.peek(&k) {
                    Some(e) if kept => assert_eq!(e.view, Some(&v)),
                    _ => assert!(!kept, "kept a view without an entry"),
                }
            }
            Op::Begin {
                jid,
                require_fresh,
                disable_pep,
            } => {
                let k = if jid.resource.is_some() {
                    jid.full()
                } else {
                    jid.bare()
                };
                let had_pep = self.s.cache.has_pep(&k);
                assert_eq!(self.s.needs_vcard_fallback(&k), !had_pep);
                let token = self.s.begin_request(&k, require_fresh, disable_pep);
                if require_fresh && !(disable_pep && had_pep) {
                    assert!(!self.s.cache.contains(&k));
                }
                // A new request shares the generation of those in flight.
                let stale = self
                    .outstanding
                    .iter()
                    .find(|o| o.key == k && !o.stale)
                    .is_some_and(|o| o.token != token);
                assert!(self.rogue || !stale, "a new request is current");
                self.outstanding.push(Outstanding {
                    key: k,
                    token,
                    stale: false,
                });
            }
            Op::FinishVCard { pick, photo, mime } => {
                let Some(o) = self.take(pick) else { return };
                let records = Session::vcard_fallback_records(photo.as_deref(), mime.as_deref());
                assert_eq!(records.len(), usize::from(photo.is_some()));
                if let (Some(r), Some(data)) = (records.first(), &photo) {
                    check_record(r);
                    assert_eq!(r.info.id, sha1_hex(data));
                    assert_eq!(r.info.nbytes, Some(data.len() as i64));
                    let valid = mime.as_deref().is_some_and(|m| {
                        !m.is_empty()
                            && m.len() <= 255
                            && !m.chars().any(|c| c.is_whitespace() || c.is_control())
                    });
                    assert_eq!(r.info.mime_type.is_some(), valid);
                }
                let had_pep = self.s.cache.has_pep(&o.key);
                let was_cached = self.s.cache.contains(&o.key);
                let prev = cached(&mut self.s, &o.key);
                let answer = self.s.finish_vcard(&o.key, o.token, &records);
                if had_pep {
                    assert_eq!(answer, VCardAnswer::CallerOnly);
                    assert_eq!(prev, cached(&mut self.s, &o.key), "PEP metadata kept");
                } else if !self.rogue {
                    let stores = !o.stale && !was_cached;
                    assert_eq!(
                        answer,
                        VCardAnswer::Cached(stores.then_some(Stored::Changed))
                    );
                }
            }
            Op::RogueFinish(jid, token, failed) => {
                self.rogue = true;
                let k = jid.bare();
                let was_cached = self.s.cache.contains(&k);
                let got = if failed {
                    self.s.cache.abort_request(&k);
                    None
                } else {
                    let none: &[Record] = &[];
                    self.s.cache.finish_request(&k, RequestToken(token), none)
                };
                assert!(got.is_none() || (!failed && !was_cached));
            }
            Op::RecordFailure {
                jid,
                id,
                old_stream,
            } => {
                let k = jid.bare();
                let id = id.text();
                let epoch = self.s.epoch().wrapping_sub(u64::from(old_stream));
                self.s.record_failure(&k, &id, self.now, epoch);
                let ttl = self.s.negative_ttl();
                if !old_stream && !ttl.is_zero() && (id.is_empty() || is_sha1_hex(&id)) {
                    self.negative
                        .insert((k.clone(), id.to_ascii_lowercase()), self.now + ttl);
                    assert!(self.s.recently_failed(&k, &id, self.now));
                }
            }
            Op::RecentlyFailed(jid, id) => {
                let k = jid.bare();
                let id = id.text();
                let slot = (k.clone(), id.to_ascii_lowercase());
                let want = match self.negative.get(&slot) {
                    Some(until) if *until > self.now => true,
                    Some(_) => {
                        self.negative.remove(&slot);
                        false
                    }
                    None => false,
                };
                assert_eq!(self.s.recently_failed(&k, &id, self.now), want);
            }
            Op::Forget(jid) => {
                let k = jid.full();
                let had_pep = self.s.cache.has_pep(&k);
                self.s.cache.forget(&k);
                assert!(!self.s.cache.contains(&k));
                assert_eq!(self.s.cache.has_pep(&k), had_pep, "PEP use is remembered");
            }
            Op::Clear => {
                let epoch = self.s.epoch();
                self.s.clear();
                assert_eq!(self.s.epoch(), epoch + 1);
                assert!(self.s.cache.is_empty());
                self.negative.clear();
                for o in &mut self.outstanding {
                    o.stale = true;
                }
            }
            Op::CountIq(i) => {
                let kinds = [IqKind::Metadata, IqKind::Data, IqKind::VCard];
                self.s.count_iq(kinds[usize::from(i) % 3]);
            }
            Op::SetAdvertise(on) => {
                let token = self.s.vcard.set_advertise(on);
                assert_eq!(token.is_some(), on);
                assert_eq!(self.s.vcard.advertise(), on);
                self.rehash_started(token);
            }
            Op::SetOwnHash(h) => {
                let h = h.text();
                self.s.vcard.set_own_hash(&h);
                assert_eq!(self.s.vcard.own_hash(), Some(normalize_id(&h).as_str()));
            }
            Op::FinishRehash(pick, hash) => {
                if self.last_rehash == 0 {
                    return;
                }
                let token = RehashToken(self.last_rehash - u64::from(pick % 2));
                let hash = hash.map(|h| h.text());
                let current = self.rehash == Some(token);
                let old = self.s.vcard.own_hash().map(str::to_owned);
                self.s.vcard.finish_rehash(token, hash.as_deref());
                if current {
                    self.rehash = None;
                    assert_eq!(
                        self.s.vcard.own_hash(),
                        hash.as_deref().map(normalize_id).as_deref()
                    );
                } else {
                    assert_eq!(self.s.vcard.own_hash(), old.as_deref());
                }
            }
            Op::Flood(n, view) => {
                let room = key("room", "muc.example.org", None);
                let photo = sha1_hex(b"flood");
                // At most 1100 per input (just over `KEPT_VIEWS`), to keep runs fast.
                for _ in 0..u32::from(n).min(1100 - self.flooded) {
                    self.flooded += 1;
                    let occupant = key(
                        "room",
                        "muc.example.org",
                        Some(&format!("n{}", self.flooded)),
                    );
                    self.s.presence(&Presence {
                        from_full: &occupant,
                        from_bare: &room,
                        own_other_resource: false,
                        muc: true,
                        update: Some(Some(&photo)),
                    });
                    if view {
                        self.s.cache.keep_view(&occupant, self.flooded);
                    }
                    assert!(self.s.cache.len() <= self.s.cache.capacity());
                }
            }
        }
        assert!(self.now >= self.start);
        self.check(before);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let start = Instant::now();
    let mut h = Harness {
        s: Session::new(),
        start,
        now: start,
        outstanding: Vec::new(),
        rogue: false,
        negative: HashMap::new(),
        rehash: None,
        last_rehash: 0,
        flooded: 0,
    };
    // Small, so that evictions happen; `SetCapacity` changes it.
    h.s.cache.set_capacity(8);
    for op in ops.into_iter().take(256) {
        h.run(op);
    }
});
