//! `ImageStore`: the verified image store in memory, as the service and
//! the session see it.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::errors::integrity_error;
use super::settings::count_setting;
use crate::images;

/// Verified avatar images in memory, shared by every descriptor and JID.
#[pyclass(module = "aioxmpp_avatar._core")]
#[derive(Default)]
pub struct ImageStore(pub(crate) images::ImageStore);

#[pymethods]
impl ImageStore {
    /// An empty store with the default budget and size limit.
    #[new]
    fn py_new() -> Self {
        Self::default()
    }

    /// Bytes of verified image data kept in memory.
    #[getter]
    fn get_budget(&self) -> usize {
        self.0.budget()
    }

    #[setter]
    fn set_budget(&mut self, budget: &Bound<'_, PyAny>) -> PyResult<()> {
        let budget = count_setting("image_memory_budget", budget, 0, usize::MAX as u64)?;
        self.0.set_budget(budget as usize);
        Ok(())
    }

    /// Largest image accepted, in bytes.
    #[getter]
    fn get_max_image_bytes(&self) -> u64 {
        self.0.max_image_bytes()
    }

    #[setter]
    fn set_max_image_bytes(&mut self, limit: &Bound<'_, PyAny>) -> PyResult<()> {
        let limit = count_setting("max_image_bytes", limit, 1, u64::from(u32::MAX))?;
        self.0.set_max_image_bytes(limit);
        Ok(())
    }

    /// Verified image bytes with this id, or None (counted as a miss).
    fn get<'py>(&mut self, py: Python<'py>, id_: &str) -> Option<Bound<'py, PyBytes>> {
        self.0.get(id_).map(|data| PyBytes::new(py, &data))
    }

    /// Keep bytes that `ImageDirectory.read` served for `id_` (it verifies
    /// every file it reads).
    fn remember(&mut self, id_: &str, data: &[u8]) {
        self.0.remember_verified(id_, Arc::from(data));
    }

    /// Verify fetched data against the id and advertised size and keep it;
    /// raises `IntegrityError` (or `ImageTooLargeError`) otherwise.
    #[pyo3(signature = (id_, nbytes, data))]
    fn put<'py>(
        &mut self,
        py: Python<'py>,
        id_: &str,
        nbytes: Option<i64>,
        data: &Bound<'py, PyBytes>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let expected = nbytes.and_then(|n| u64::try_from(n).ok());
        let (store, bytes) = (&mut self.0, data.as_bytes());
        py.detach(|| store.put_verified(id_, expected, bytes))
            .map_err(integrity_error)?;
        Ok(data.clone())
    }

    /// Counters of the store's work.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = self.0.stats();
        let d = super::counters(
            py,
            &[
                ("image_memory_hits", i.memory_hits),
                ("image_misses", i.misses),
                ("bytes_verified", i.bytes_verified),
                ("integrity_failures", i.integrity_failures),
                ("image_evictions", i.evictions),
            ],
        )?;
        d.set_item("image_memory_used", self.0.memory_used())?;
        Ok(d)
    }
}

/// Verify image data against an avatar id and advertised size, for
/// descriptors that are not managed by a service; returns the data.
#[pyfunction]
#[pyo3(signature = (id_, nbytes, data, max_bytes=images::DEFAULT_MAX_IMAGE_BYTES))]
pub fn verify_image<'py>(
    py: Python<'py>,
    id_: &str,
    nbytes: Option<i64>,
    data: &Bound<'py, PyBytes>,
    max_bytes: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let expected = nbytes.and_then(|n| u64::try_from(n).ok());
    let bytes = data.as_bytes();
    py.detach(|| images::verify(id_, expected, bytes, max_bytes))
        .map_err(integrity_error)?;
    Ok(data.clone())
}
