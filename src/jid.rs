//! Exact per-JID keys.
//!
//! Every per-JID structure of the core is keyed by a [`JidKey`]: the JID's
//! parts themselves, plus a hash that only chooses the bucket. Equality
//! compares the parts, so two JIDs whose hashes collide (CPython's `str`
//! hash collides for chosen strings under every seed) stay two keys.

use std::hash::{Hash, Hasher};

use crate::lru::{BucketSeed, Lookup, LruKey};

/// A JID as a map key: localpart, domain and resource compared exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JidKey {
    /// Chooses the bucket; computed by the binding from the parts.
    hash: u64,
    /// Localpart, domain and resource, one after the other.
    text: Box<str>,
    /// Length of the localpart in `text`, `ABSENT` when there is none.
    local_len: u32,
    /// End of the domain in `text`; a resource follows when `has_resource`.
    domain_end: u32,
    has_resource: bool,
}

const ABSENT: u32 = u32::MAX;

impl Hash for JidKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl LruKey for JidKey {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        seed.mix(self.hash)
    }
}

/// A JID's parts borrowed from elsewhere (a Python `JID`): finds a
/// [`JidKey`] in a map without building one.
#[derive(Clone, Copy, Debug)]
pub struct JidRef<'a> {
    /// As [`JidKey::new`]'s: the same function of the parts.
    pub hash: u64,
    pub local: Option<&'a str>,
    pub domain: &'a str,
    pub resource: Option<&'a str>,
}

impl JidRef<'_> {
    /// The owned key; `None` when a part is longer than 4 GiB.
    pub fn to_key(&self) -> Option<JidKey> {
        JidKey::new(self.local, self.domain, self.resource, self.hash)
    }
}

impl Lookup<JidKey> for JidRef<'_> {
    fn bucket_hash(&self, seed: &BucketSeed) -> u64 {
        seed.mix(self.hash)
    }

    fn matches(&self, key: &JidKey) -> bool {
        key.hash == self.hash
            && key.domain() == self.domain
            && key.local() == self.local
            && key.resource() == self.resource
    }
}

/// Mix the hashes of a JID's parts (any well-spread 64-bit values) into one.
pub fn mix_part_hashes(local: Option<u64>, domain: u64, resource: Option<u64>) -> u64 {
    const NONE: u64 = 0x9e37_79b9_7f4a_7c15;
    local.unwrap_or(NONE) ^ domain.rotate_left(21) ^ resource.unwrap_or(NONE).rotate_left(42)
}

impl JidKey {
    /// The key of `local@domain/resource`; `hash` only picks buckets, so
    /// any function of the parts will do (see [`mix_part_hashes`]).
    /// `None` when a part is longer than 4 GiB.
    pub fn new(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
        hash: u64,
    ) -> Option<Self> {
        let l = local.unwrap_or("");
        let r = resource.unwrap_or("");
        let local_len = match local {
            Some(l) => u32::try_from(l.len()).ok().filter(|&n| n != ABSENT)?,
            None => ABSENT,
        };
        let domain_end = u32::try_from(l.len() + domain.len()).ok()?;
        u32::try_from(domain_end as usize + r.len()).ok()?;
        let mut text = String::with_capacity(l.len() + domain.len() + r.len());
        text.push_str(l);
        text.push_str(domain);
        text.push_str(r);
        Some(Self {
            hash,
            text: text.into_boxed_str(),
            local_len,
            domain_end,
            has_resource: resource.is_some(),
        })
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        (self.local_len != ABSENT).then(|| &self.text[..self.local_len as usize])
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.text[self.local_start_of_domain()..self.domain_end as usize]
    }

    /// The resource, if any.
    pub fn resource(&self) -> Option<&str> {
        self.has_resource
            .then(|| &self.text[self.domain_end as usize..])
    }

    /// Whether both name the same account (same localpart and domain; a
    /// JID without localpart is a server, never an account).
    pub fn same_bare(&self, other: &JidKey) -> bool {
        self.local_len != ABSENT && self.local() == other.local() && self.domain() == other.domain()
    }

    /// Whether this full JID is another resource of `account` (our own
    /// full JID): the same account, not the same resource.
    pub fn is_other_resource_of(&self, account: &JidKey) -> bool {
        self.same_bare(account) && self != account
    }

    fn local_start_of_domain(&self) -> usize {
        if self.local_len == ABSENT {
            0
        } else {
            self.local_len as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(l: Option<&str>, d: &str, r: Option<&str>, hash: u64) -> JidKey {
        JidKey::new(l, d, r, hash).unwrap()
    }

    #[test]
    fn colliding_hashes_never_make_keys_equal() {
        // "root" and "潲瑯" share CPython's str hash under every seed.
        let root = key(Some("root"), "x", None, 7);
        let twin = key(Some("潲瑯"), "x", None, 7);
        assert_ne!(root, twin);
        let mut map = HashMap::new();
        map.insert(root.clone(), 1);
        map.insert(twin.clone(), 2);
        assert_eq!((map[&root], map[&twin]), (1, 2));
        assert!(!root.same_bare(&twin));
    }

    #[test]
    fn parts_are_kept_apart() {
        // Same concatenated text, different parts.
        let a = key(Some("ab"), "c", None, 1);
        let b = key(Some("a"), "bc", None, 1);
        let c = key(None, "abc", None, 1);
        let d = key(None, "ab", Some("c"), 1);
        let e = key(None, "abc", Some(""), 1);
        for (i, x) in [&a, &b, &c, &d, &e].iter().enumerate() {
            for (j, y) in [&a, &b, &c, &d, &e].iter().enumerate() {
                assert_eq!(i == j, x == y, "{x:?} {y:?}");
            }
        }
        assert_eq!(
            (a.local(), a.domain(), a.resource()),
            (Some("ab"), "c", None)
        );
        assert_eq!(
            (d.local(), d.domain(), d.resource()),
            (None, "ab", Some("c"))
        );
    }

    #[test]
    fn borrowed_parts_find_exactly_their_key() {
        let mut lru = crate::lru::Lru::new(10);
        lru.insert(key(Some("root"), "x", None, 7), 1);
        lru.insert(key(Some("潲瑯"), "x", None, 7), 2);
        lru.insert(key(None, "rootx", None, 7), 3);
        let find = |local, domain, resource| JidRef {
            hash: 7,
            local,
            domain,
            resource,
        };
        assert_eq!(lru.peek(&find(Some("root"), "x", None)), Some(&1));
        assert_eq!(lru.peek(&find(Some("潲瑯"), "x", None)), Some(&2));
        assert_eq!(lru.peek(&find(None, "rootx", None)), Some(&3));
        assert_eq!(lru.peek(&find(Some("root"), "x", Some(""))), None);
        assert_eq!(lru.peek(&find(Some("roo"), "tx", None)), None);
        let r = find(Some("root"), "x", Some("r"));
        assert_eq!(r.to_key(), Some(key(Some("root"), "x", Some("r"), 7)));
    }

    #[test]
    fn same_bare_compares_localpart_and_domain() {
        let me = key(Some("me"), "x", Some("a"), 1);
        assert!(me.same_bare(&key(Some("me"), "x", Some("b"), 2)));
        assert!(!me.same_bare(&key(Some("me"), "y", Some("a"), 1)));
        assert!(!key(None, "x", Some("a"), 1).same_bare(&key(None, "x", Some("b"), 1)));
    }

    #[test]
    fn other_resources_of_our_account() {
        let me = key(Some("me"), "x", Some("a"), 1);
        assert!(key(Some("me"), "x", Some("b"), 2).is_other_resource_of(&me));
        assert!(!me.clone().is_other_resource_of(&me));
        assert!(
            !key(Some("潲瑯"), "x", Some("b"), 1).is_other_resource_of(&key(
                Some("root"),
                "x",
                Some("a"),
                1
            ))
        );
    }
}
