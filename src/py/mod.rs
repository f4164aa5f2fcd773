//! The PyO3 layer: the `aioxmpp_avatar._core` extension module.
//!
//! Every class here converts Python values, delegates to the pure modules
//! and converts back; no avatar rule lives in this directory.

use pyo3::prelude::*;

mod avatar_set;
mod descriptors;
mod errors;
mod image_directory;
mod image_store;
mod jid;
mod session;
mod settings;
mod xso;

/// A `stats()` dict: counter names and values.
pub(crate) fn counters<'py>(
    py: Python<'py>,
    counters: &[(&str, u64)],
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let d = pyo3::types::PyDict::new(py);
    for (name, value) in counters {
        d.set_item(name, value)?;
    }
    Ok(d)
}

/// Lowercase form of a hex SHA-1 id, for comparison and caching (ASCII
/// letters only change).
#[pyfunction]
fn normalize_id(id_: &str) -> String {
    crate::ids::normalize_id(id_)
}

/// Whether an XMPP error condition (its local name, e.g.
/// "item-not-found") means "this JID has no avatar" rather than a failure.
#[pyfunction]
fn means_no_avatar(condition: &str) -> bool {
    crate::session::means_no_avatar(condition)
}

/// What `wipe_avatar` does after a failed purge of our data node.
#[pyclass(module = "aioxmpp_avatar._core", eq, eq_int, frozen)]
#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
enum PurgeFallback {
    /// There is no node: nothing to wipe.
    DONE,
    /// The server cannot purge: publish empty data instead.
    OVERWRITE,
    /// A real failure: raise it.
    RAISE,
}

/// After a failed purge of our data node with this error condition (local
/// name, e.g. "item-not-found"), what to do.
#[pyfunction]
fn purge_fallback(condition: &str) -> PurgeFallback {
    use crate::session::PurgeFallback as Core;
    match crate::session::purge_fallback(condition) {
        Core::Done => PurgeFallback::DONE,
        Core::Overwrite => PurgeFallback::OVERWRITE,
        Core::Raise => PurgeFallback::RAISE,
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(normalize_id, m)?)?;
    m.add_function(wrap_pyfunction!(means_no_avatar, m)?)?;
    m.add_function(wrap_pyfunction!(purge_fallback, m)?)?;
    m.add_function(wrap_pyfunction!(image_store::verify_image, m)?)?;
    m.add_function(wrap_pyfunction!(avatar_set::check_publishable, m)?)?;
    m.add_function(wrap_pyfunction!(avatar_set::check_access_model, m)?)?;
    m.add_function(wrap_pyfunction!(avatar_set::png_dimensions, m)?)?;
    m.add_class::<avatar_set::AvatarSet>()?;
    m.add_class::<avatar_set::ImageConversion>()?;
    m.add_class::<descriptors::AbstractAvatarDescriptor>()?;
    m.add_class::<descriptors::PubsubAvatarDescriptor>()?;
    m.add_class::<descriptors::HttpAvatarDescriptor>()?;
    m.add_class::<descriptors::VCardAvatarDescriptor>()?;
    m.add_class::<session::AvatarSession>()?;
    m.add_class::<session::IqKind>()?;
    m.add_class::<PurgeFallback>()?;
    m.add_class::<image_store::ImageStore>()?;
    m.add_class::<image_directory::ImageDirectory>()?;
    m.add("AvatarError", py.get_type::<errors::AvatarError>())?;
    m.add("AvatarSetError", py.get_type::<errors::AvatarSetError>())?;
    m.add(
        "AvatarImageError",
        py.get_type::<errors::AvatarImageError>(),
    )?;
    m.add("IntegrityError", py.get_type::<errors::IntegrityError>())?;
    m.add(
        "ImageTooLargeError",
        py.get_type::<errors::ImageTooLargeError>(),
    )?;
    m.add(
        "ImageUnavailableError",
        py.get_type::<errors::ImageUnavailableError>(),
    )?;
    m.add(
        "DEFAULT_MAX_IMAGE_BYTES",
        crate::images::DEFAULT_MAX_IMAGE_BYTES,
    )?;
    Ok(())
}
