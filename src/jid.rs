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
    text: Text,
    /// Length of the localpart in `text`, `ABSENT` when there is none.
    local_len: u32,
    /// End of the domain in `text`, with `HAS_RESOURCE` set when a
    /// resource follows.
    domain_end: u32,
}

const ABSENT: u32 = u32::MAX;
const HAS_RESOURCE: u32 = 1 << 31;

/// Bytes of text kept inside the key itself: most bare JIDs
/// (`alice` + `example.org`) fit, so their key needs no allocation of its
/// own and a lookup reads no second cache line.
const INLINE: usize = 22;

/// A key's text: inline when short, else on the heap (24 bytes either way).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Default for Text {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl Text {
    fn new(parts: [&str; 3]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE {
            let mut bytes = [0; INLINE];
            let mut at = 0;
            for part in parts {
                bytes[at..at + part.len()].copy_from_slice(part.as_bytes());
                at += part.len();
            }
            // Equal texts must be equal values: the unused bytes stay 0.
            return Self::Inline {
                len: len as u8,
                bytes,
            };
        }
        Self::Heap(parts.concat().into_boxed_str())
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(text) => text.as_bytes(),
        }
    }

    /// `self[range]` as text. The text was built from whole `&str` parts
    /// and is only cut where they meet, so this is always valid UTF-8.
    fn slice(&self, range: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&self.as_bytes()[range]).unwrap_or_default()
    }
}

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
        // Compared as bytes: equal parts of valid UTF-8 are equal bytes.
        key.hash == self.hash
            && key.domain_bytes() == self.domain.as_bytes()
            && key.local_bytes() == self.local.map(str::as_bytes)
            && key.resource_bytes() == self.resource.map(str::as_bytes)
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
    /// `None` when the parts are 2 GiB or longer.
    pub fn new(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
        hash: u64,
    ) -> Option<Self> {
        let l = local.unwrap_or("");
        let r = resource.unwrap_or("");
        let fits = |n: usize| u32::try_from(n).ok().filter(|&n| n < HAS_RESOURCE);
        fits(l.len() + domain.len() + r.len())?;
        let local_len = match local {
            Some(l) => fits(l.len())?,
            None => ABSENT,
        };
        let domain_end = fits(l.len() + domain.len())?;
        Some(Self {
            hash,
            text: Text::new([l, domain, r]),
            local_len,
            domain_end: domain_end | if resource.is_some() { HAS_RESOURCE } else { 0 },
        })
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        (self.local_len != ABSENT).then(|| self.text.slice(0..self.local_len as usize))
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        self.text.slice(self.domain_range())
    }

    /// The resource, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource_range().map(|range| self.text.slice(range))
    }

    fn local_bytes(&self) -> Option<&[u8]> {
        (self.local_len != ABSENT).then(|| &self.text.as_bytes()[..self.local_len as usize])
    }

    fn domain_bytes(&self) -> &[u8] {
        &self.text.as_bytes()[self.domain_range()]
    }

    fn resource_bytes(&self) -> Option<&[u8]> {
        self.resource_range()
            .map(|range| &self.text.as_bytes()[range])
    }

    fn domain_range(&self) -> std::ops::Range<usize> {
        let start = if self.local_len == ABSENT {
            0
        } else {
            self.local_len as usize
        };
        start..(self.domain_end & !HAS_RESOURCE) as usize
    }

    fn resource_range(&self) -> Option<std::ops::Range<usize>> {
        (self.domain_end & HAS_RESOURCE != 0)
            .then(|| (self.domain_end & !HAS_RESOURCE) as usize..self.text.as_bytes().len())
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
    fn short_and_long_texts_are_keys_alike() {
        assert_eq!(std::mem::size_of::<JidKey>(), 40);
        let long = "x".repeat(INLINE);
        for (l, d, r) in [
            (Some("alice"), "example.org", None),
            (Some("alice"), "example.org", Some("phone")),
            (Some(long.as_str()), "example.org", Some("ü")),
            (None, long.as_str(), None),
            (Some(""), "", Some("")),
        ] {
            let k = key(l, d, r, 3);
            assert_eq!((k.local(), k.domain(), k.resource()), (l, d, r));
            assert_eq!(k, key(l, d, r, 3));
            let found = JidRef {
                hash: 3,
                local: l,
                domain: d,
                resource: r,
            };
            assert!(found.matches(&k), "{k:?}");
        }
        assert!(matches!(
            key(Some("alice"), "example.org", None, 1).text,
            Text::Inline { .. }
        ));
        assert!(matches!(key(Some(&long), "x", None, 1).text, Text::Heap(_)));
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
