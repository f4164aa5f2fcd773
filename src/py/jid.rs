//! Compact cache keys for JIDs.
//!
//! aioxmpp's `JID` is a named tuple `(localpart, domain, resource)` whose
//! parts are already normalised strings. The core keys its per-JID state by
//! two keyed 64-bit SipHashes (128 bits) over the parts' Python hashes
//! (which every `str` caches, and which are themselves keyed SipHash): 16
//! bytes per entry
//! instead of a string, no UTF-8 conversion on the hot path, and no way for
//! a peer to aim for a collision without the per-process keys.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A JID's cache key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JidKey([u64; 2]);

/// The hashes of a JID's parts; `None` for an absent part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JidParts {
    localpart: Option<isize>,
    domain: isize,
    resource: Option<isize>,
    /// Not a JID: the object's own hash, kept apart from real JIDs.
    opaque: bool,
}

impl JidParts {
    /// Read the parts of an aioxmpp `JID` (any other hashable object is
    /// keyed by its own hash).
    pub fn of(jid: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(tuple) = jid.cast::<PyTuple>() {
            if tuple.len() == 3 {
                let part = |i: usize| -> PyResult<Option<isize>> {
                    let item = tuple.get_borrowed_item(i)?;
                    if item.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(item.hash()?))
                    }
                };
                if let Some(domain) = part(1)? {
                    return Ok(Self {
                        localpart: part(0)?,
                        domain,
                        resource: part(2)?,
                        opaque: false,
                    });
                }
            }
        }
        Ok(Self {
            localpart: None,
            domain: jid.hash()?,
            resource: None,
            opaque: true,
        })
    }

    /// Key of this JID.
    pub fn key(&self) -> JidKey {
        self.key_with(self.resource)
    }

    /// Key of this JID without its resource.
    pub fn bare_key(&self) -> JidKey {
        self.key_with(None)
    }

    /// Whether both name the same account.
    pub fn same_bare(&self, other: &JidParts) -> bool {
        !self.opaque && self.localpart == other.localpart && self.domain == other.domain
    }

    /// Whether both name the same resource of the same account.
    pub fn same_full(&self, other: &JidParts) -> bool {
        self.same_bare(other) && self.resource == other.resource
    }

    fn key_with(&self, resource: Option<isize>) -> JidKey {
        static HASHERS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
        let (a, b) = HASHERS.get_or_init(|| (RandomState::new(), RandomState::new()));
        let parts = (self.opaque, self.localpart, self.domain, resource);
        JidKey([a.hash_one(parts), b.hash_one(parts)])
    }
}

/// The key of a JID object.
pub fn key(jid: &Bound<'_, PyAny>) -> PyResult<JidKey> {
    Ok(JidParts::of(jid)?.key())
}
