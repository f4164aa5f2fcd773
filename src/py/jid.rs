//! Reading [`JidKey`]s from aioxmpp `JID`s.
//!
//! aioxmpp's `JID` is a named tuple `(localpart, domain, resource)` of
//! normalised strings. The key keeps the strings themselves (so equality is
//! exact) and mixes the parts' cached Python hashes only to pick buckets.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::jid::mix_part_hashes;
pub use crate::jid::JidKey;

/// The key of an aioxmpp `JID` (`with_resource` false: of its bare JID).
pub fn jid_key_of(jid: &Bound<'_, PyAny>, with_resource: bool) -> PyResult<JidKey> {
    let parts = jid
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 3)
        .ok_or_else(|| {
            PyTypeError::new_err(format!(
                "expected an aioxmpp.JID, got {}",
                jid.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
    let part = |i: usize| -> PyResult<Option<(Bound<'_, PyString>, u64)>> {
        let item = parts.get_item(i)?;
        if item.is_none() {
            return Ok(None);
        }
        let s = item.cast_into::<PyString>().map_err(|_| {
            PyTypeError::new_err("expected an aioxmpp.JID whose parts are str or None")
        })?;
        let h = s.hash()? as u64;
        Ok(Some((s, h)))
    };
    let local = part(0)?;
    let domain =
        part(1)?.ok_or_else(|| PyValueError::new_err("expected an aioxmpp.JID with a domain"))?;
    let resource = if with_resource { part(2)? } else { None };
    let hash = mix_part_hashes(
        local.as_ref().map(|p| p.1),
        domain.1,
        resource.as_ref().map(|p| p.1),
    );
    let local_s = local.as_ref().map(|p| p.0.to_cow()).transpose()?;
    let resource_s = resource.as_ref().map(|p| p.0.to_cow()).transpose()?;
    JidKey::new(
        local_s.as_deref(),
        &domain.0.to_cow()?,
        resource_s.as_deref(),
        hash,
    )
    .ok_or_else(|| PyValueError::new_err("JID part longer than 4 GiB"))
}

/// The key of an aioxmpp `JID`, resource included.
pub fn jid_key(jid: &Bound<'_, PyAny>) -> PyResult<JidKey> {
    jid_key_of(jid, true)
}
