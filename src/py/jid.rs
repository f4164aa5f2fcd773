//! Reading [`JidKey`]s from aioxmpp `JID`s.
//!
//! aioxmpp's `JID` is a named tuple `(localpart, domain, resource)` of
//! normalised strings. The key keeps the strings themselves (so equality is
//! exact) and mixes the parts' cached Python hashes only to pick buckets.
//! Lookups borrow the parts ([`jid_ref`]) instead of copying them.

use std::os::raw::c_char;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

pub use crate::jid::JidKey;
use crate::jid::{mix_part_hashes, JidRef};

extern "C" {
    // In the stable ABI only from 3.10, but exported by every CPython 3.x
    // (and documented since 3.3); pyo3 declares it for 3.10+ only. It
    // returns the string's cached UTF-8 form (for ASCII, its own data).
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// The UTF-8 text of `s`, borrowed from the string object (no copy, no
/// temporary `bytes` as pyo3's conversions make under the 3.9 stable ABI).
pub(crate) fn utf8<'a>(s: Borrowed<'a, '_, PyString>) -> PyResult<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the buffer lives as long as the string,
    // which `'a` borrows, and CPython guarantees it is valid UTF-8.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size);
        if data.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        Ok(std::str::from_utf8_unchecked(bytes))
    }
}

fn not_a_jid(jid: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "expected an aioxmpp.JID, got {}",
        jid.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    ))
}

/// The parts of an aioxmpp `JID` (`with_resource` false: of its bare JID),
/// borrowed from `parts`, the JID's tuple (no reference counting: the
/// tuple holds them for as long as the borrow lives).
fn parts_of<'a>(parts: &'a Bound<'_, PyTuple>, with_resource: bool) -> PyResult<JidRef<'a>> {
    let part = |i: usize| -> PyResult<Option<(&'a str, u64)>> {
        let item = parts.get_borrowed_item(i)?;
        if item.is_none() {
            return Ok(None);
        }
        let s = item.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err("expected an aioxmpp.JID whose parts are str or None")
        })?;
        Ok(Some((utf8(s)?, s.hash()? as u64)))
    };
    let local = part(0)?;
    let (domain, domain_hash) =
        part(1)?.ok_or_else(|| PyValueError::new_err("expected an aioxmpp.JID with a domain"))?;
    let resource = if with_resource { part(2)? } else { None };
    Ok(JidRef {
        hash: mix_part_hashes(local.map(|p| p.1), domain_hash, resource.map(|p| p.1)),
        local: local.map(|p| p.0),
        domain,
        resource: resource.map(|p| p.0),
    })
}

/// Call `f` with the borrowed parts of an aioxmpp `JID` (`with_resource`
/// false: of its bare JID).
pub fn with_jid_ref<R>(
    jid: &Bound<'_, PyAny>,
    with_resource: bool,
    f: impl FnOnce(&JidRef<'_>) -> R,
) -> PyResult<R> {
    let parts = jid
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 3)
        .ok_or_else(|| not_a_jid(jid))?;
    Ok(f(&parts_of(parts, with_resource)?))
}

/// The key of an aioxmpp `JID` (`with_resource` false: of its bare JID).
pub fn jid_key_of(jid: &Bound<'_, PyAny>, with_resource: bool) -> PyResult<JidKey> {
    with_jid_ref(jid, with_resource, |r| r.to_key())?
        .ok_or_else(|| PyValueError::new_err("JID part longer than 4 GiB"))
}

/// The key of an aioxmpp `JID`, resource included.
pub fn jid_key(jid: &Bound<'_, PyAny>) -> PyResult<JidKey> {
    jid_key_of(jid, true)
}
