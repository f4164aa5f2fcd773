//! Compact cache keys for JIDs.
//!
//! aioxmpp's `JID` is a named tuple `(localpart, domain, resource)` whose
//! parts are already normalised strings. The core keys its per-JID state by
//! the parts' Python hashes: every `str` caches its hash, and that hash is a
//! SipHash keyed per process, so a peer cannot aim for a collision. That is
//! 24 bytes per key instead of a string, and no UTF-8 conversion on the hot
//! path.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Stands for an absent localpart or resource.
const ABSENT: u64 = 0x9e37_79b9_7f4a_7c15;
/// Marks an object that is not a JID (keyed by its own hash).
const OPAQUE: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// A JID's cache key: the hashes of localpart, domain and resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JidKey([u64; 3]);

impl std::hash::Hash for JidKey {
    /// The parts are keyed hashes already: hash maps get one word mixed
    /// from them, not all 24 bytes.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [local, domain, resource] = self.0;
        state.write_u64(local ^ domain.rotate_left(21) ^ resource.rotate_left(42));
    }
}

impl JidKey {
    /// Read the key of an aioxmpp `JID` (any other hashable object is keyed
    /// by its own hash, apart from every JID).
    pub fn of(jid: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(tuple) = jid.cast::<PyTuple>() {
            if tuple.len() == 3 {
                let part = |i: usize| -> PyResult<Option<u64>> {
                    let item = tuple.get_borrowed_item(i)?;
                    if item.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(item.hash()? as u64))
                    }
                };
                if let Some(domain) = part(1)? {
                    let local = part(0)?.unwrap_or(ABSENT);
                    return Ok(Self([local, domain, part(2)?.unwrap_or(ABSENT)]));
                }
            }
        }
        Ok(Self([OPAQUE, jid.hash()? as u64, OPAQUE]))
    }

    /// The key of this JID without its resource.
    pub fn bare(&self) -> Self {
        match self.0 {
            [OPAQUE, _, OPAQUE] => *self,
            [local, domain, _] => Self([local, domain, ABSENT]),
        }
    }

    /// Whether both name the same account.
    pub fn same_bare(&self, other: &JidKey) -> bool {
        self.0[0] != OPAQUE && self.0[..2] == other.0[..2]
    }
}
