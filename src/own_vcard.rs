//! XEP-0153 bookkeeping for our own account: which photo hash we advertise
//! in outgoing presence, when another of our resources interferes, and when
//! our vCard must be fetched again to recompute the hash.

use crate::ids::{is_sha1_hex, normalize_id};
use crate::lru::{Lru, LruKey};

/// Most of our own other resources tracked for interference.
pub const MAX_OWN_RESOURCES: usize = 256;

/// What to put into an outgoing presence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advertisement {
    /// Advertising is off: leave the presence as it is.
    Untouched,
    /// `<x xmlns='vcard-temp:x:update'/>` without `<photo/>`: "not ready to
    /// advertise" (XEP-0153 §4.2), used while the hash is unknown and while
    /// another resource of ours does not support the protocol (§4.3 rule 4).
    NotReady,
    /// `<photo/>` with this hash; empty means "no avatar" (§3.1).
    Photo(String),
}

/// A recomputation of our vCard hash that the binding must run: fetch the
/// own vCard, hash its photo and report back with this token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RehashToken(pub u64);

/// Our own side of XEP-0153.
pub struct OwnVCard<K> {
    advertise: bool,
    own_hash: Option<String>,
    interference: Lru<K, ()>,
    rehash: Option<(RehashToken, Option<String>)>,
    next_token: u64,
}

impl<K: LruKey + Clone + Default> Default for OwnVCard<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: LruKey + Clone + Default> OwnVCard<K> {
    /// Advertising on, hash unknown.
    pub fn new() -> Self {
        Self {
            advertise: true,
            own_hash: None,
            interference: Lru::new(MAX_OWN_RESOURCES),
            rehash: None,
            next_token: 0,
        }
    }

    /// Whether we advertise our vCard hash in presence.
    pub fn advertise(&self) -> bool {
        self.advertise
    }

    /// Turn advertising on or off; turning it on asks for a rehash, since
    /// the vCard may have changed while we were not tracking it.
    pub fn set_advertise(&mut self, on: bool) -> Option<RehashToken> {
        self.advertise = on;
        on.then(|| self.start_rehash(None))
    }

    /// The hash we know for our own vCard photo (`""`: none), if known.
    pub fn own_hash(&self) -> Option<&str> {
        self.own_hash.as_deref()
    }

    /// We just published (or cleared, with `""`) our vCard photo ourselves.
    pub fn set_own_hash(&mut self, hash: &str) {
        self.own_hash = Some(normalize_id(hash));
    }

    /// What the next outgoing presence carries.
    pub fn advertisement(&self) -> Advertisement {
        match (&self.own_hash, self.advertise) {
            (_, false) => Advertisement::Untouched,
            _ if !self.interference.is_empty() => Advertisement::NotReady,
            (None, true) => Advertisement::NotReady,
            (Some(hash), true) => Advertisement::Photo(hash.clone()),
        }
    }

    /// A presence from another resource of our own account. `update` is
    /// `None` when it carried no `vcard-temp:x:update` element, else the
    /// photo text (`None` for a missing `<photo/>`). Returns a rehash to
    /// run when that resource reports a hash different from ours (§4.3).
    pub fn own_resource_presence(
        &mut self,
        resource: &K,
        update: Option<Option<&str>>,
    ) -> Option<RehashToken> {
        let Some(photo) = update else {
            // §4.3 rule 4: a resource without XEP-0153 support.
            self.interference.insert(resource.clone(), ());
            return None;
        };
        // The last interfering resource now supports XEP-0153: our hash
        // must be learnt again.
        if self.interference.remove(resource).is_some() && self.interference.is_empty() {
            self.own_hash = None;
        }
        let photo = normalize_id(photo?);
        if !self.advertise || !self.interference.is_empty() || !is_hash_or_empty(&photo) {
            return None;
        }
        if self.own_hash.as_deref() == Some(photo.as_str()) {
            return None;
        }
        if let Some((_, Some(pending))) = &self.rehash {
            if *pending == photo {
                return None;
            }
        }
        Some(self.start_rehash(Some(photo)))
    }

    /// Another resource of ours went offline; when it was the last one that
    /// interfered, our hash must be recomputed.
    pub fn own_resource_unavailable(&mut self, resource: &K) -> Option<RehashToken> {
        if self.interference.remove(resource).is_some() && self.interference.is_empty() {
            return Some(self.start_rehash(None));
        }
        None
    }

    /// Start a rehash: the hash is unknown until it finishes. A newer rehash
    /// supersedes an older one still running.
    pub fn start_rehash(&mut self, triggered_by: Option<String>) -> RehashToken {
        self.next_token += 1;
        let token = RehashToken(self.next_token);
        self.own_hash = None;
        self.rehash = Some((token, triggered_by));
        token
    }

    /// Whether `token` is the rehash currently running.
    pub fn is_current_rehash(&self, token: RehashToken) -> bool {
        matches!(self.rehash, Some((t, _)) if t == token)
    }

    /// A rehash ended with the hash of our vCard photo (`Some("")`: no
    /// photo), or failed (`None`). Results of superseded rehashes are ignored.
    pub fn finish_rehash(&mut self, token: RehashToken, hash: Option<&str>) {
        if self.is_current_rehash(token) {
            self.rehash = None;
            self.own_hash = hash.map(normalize_id);
        }
    }

    /// Forget per-connection state (stream destroyed).
    pub fn clear(&mut self) {
        self.interference.clear();
    }
}

/// XEP-0153 §3.1: a photo hash is a hex SHA-1, or empty for "no avatar".
/// Anything else (e.g. a random item id stamped by a server) is ignored.
pub fn is_hash_or_empty(photo: &str) -> bool {
    photo.is_empty() || is_sha1_hex(photo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
    const H2: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

    fn state() -> OwnVCard<String> {
        OwnVCard::new()
    }

    #[test]
    fn advertisement_follows_hash_interference_and_switch() {
        let mut s = state();
        assert_eq!(s.advertisement(), Advertisement::NotReady);
        s.set_own_hash(&H1.to_uppercase());
        assert_eq!(s.advertisement(), Advertisement::Photo(H1.into()));
        s.own_resource_presence(&"me@x/old".into(), None);
        assert_eq!(s.advertisement(), Advertisement::NotReady);
        let token = s
            .own_resource_unavailable(&"me@x/old".into())
            .expect("rehash");
        assert_eq!(s.advertisement(), Advertisement::NotReady);
        s.finish_rehash(token, Some(""));
        assert_eq!(s.advertisement(), Advertisement::Photo(String::new()));
        assert!(s.set_advertise(false).is_none());
        assert_eq!(s.advertisement(), Advertisement::Untouched);
        assert!(s.set_advertise(true).is_some());
    }

    #[test]
    fn a_different_hash_from_another_resource_triggers_one_rehash() {
        let mut s = state();
        s.set_own_hash(H1);
        assert_eq!(
            s.own_resource_presence(&"me@x/b".into(), Some(Some(H1))),
            None
        );
        let t = s
            .own_resource_presence(&"me@x/b".into(), Some(Some(H2)))
            .expect("rehash");
        // the same hash again while the rehash runs: no second rehash
        assert_eq!(
            s.own_resource_presence(&"me@x/c".into(), Some(Some(H2))),
            None
        );
        s.finish_rehash(t, Some(H2));
        assert_eq!(s.own_hash(), Some(H2));
        assert_eq!(
            s.own_resource_presence(&"me@x/c".into(), Some(Some(H2))),
            None
        );
    }

    #[test]
    fn malformed_hashes_and_interference_suppress_rehash() {
        let mut s = state();
        s.set_own_hash(H1);
        assert_eq!(
            s.own_resource_presence(&"me@x/b".into(), Some(Some("random-item-id"))),
            None
        );
        assert_eq!(s.own_resource_presence(&"me@x/b".into(), Some(None)), None);
        s.own_resource_presence(&"me@x/old".into(), None);
        assert_eq!(
            s.own_resource_presence(&"me@x/b".into(), Some(Some(H2))),
            None
        );
    }

    #[test]
    fn superseded_or_failed_rehashes() {
        let mut s = state();
        let old = s.start_rehash(None);
        let new = s.start_rehash(None);
        s.finish_rehash(old, Some(H1));
        assert_eq!(s.own_hash(), None, "a superseded result is ignored");
        s.finish_rehash(new, None);
        assert_eq!(s.own_hash(), None, "a failure leaves the hash unknown");
        assert!(!s.is_current_rehash(new));
    }

    #[test]
    fn interference_is_bounded() {
        let mut s = state();
        for i in 0..10_000 {
            s.own_resource_presence(&format!("me@x/{i}"), None);
        }
        assert_eq!(s.interference.len(), MAX_OWN_RESOURCES);
    }
}
