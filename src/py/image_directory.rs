//! `ImageDirectory`: the on-disk image store as the service sees it. Every
//! method that touches the disk releases the GIL; the service calls them
//! from a worker thread, never on the event loop.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::settings::count_setting;
use crate::image_directory::{self as core, Lookup};

/// Verified avatar images kept in a directory across restarts.
#[pyclass(module = "aioxmpp_avatar._core", frozen)]
pub struct ImageDirectory(core::ImageDirectory);

#[pymethods]
impl ImageDirectory {
    /// No directory yet; set `path` to use one.
    #[new]
    fn py_new() -> Self {
        Self(core::ImageDirectory::new())
    }

    /// The directory in use, or None.
    #[getter]
    fn get_path(&self) -> Option<PathBuf> {
        self.0.path()
    }

    /// Use a directory (created if missing), or None for none. Raises
    /// `ValueError` for a link, a non-directory, or a directory other users
    /// can write to or own.
    #[setter]
    fn set_path(&self, py: Python<'_>, path: Option<PathBuf>) -> PyResult<()> {
        let dir = &self.0;
        py.detach(|| dir.set_path(path))
            .map_err(|e| PyValueError::new_err(format!("cannot use it as image_directory: {e}")))
    }

    /// Bytes of image files kept at most, or None for unbounded.
    #[getter]
    fn get_budget(&self) -> Option<u64> {
        self.0.budget()
    }

    #[setter]
    fn set_budget(&self, budget: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let budget = budget
            .map(|b| count_setting("image_directory_budget", b, 0, u64::MAX - 1))
            .transpose()?;
        self.0.set_budget(budget);
        Ok(())
    }

    /// The verified image with this id, reading at most `limit` + 1 bytes,
    /// and a message for the log when a file was there but refused.
    fn read<'py>(
        &self,
        py: Python<'py>,
        id_: &str,
        limit: u64,
    ) -> (Option<Bound<'py, PyBytes>>, Option<String>) {
        let dir = &self.0;
        match py.detach(|| dir.read(id_, limit)) {
            Lookup::Hit(data) => (Some(PyBytes::new(py, &data)), None),
            Lookup::Missing => (None, None),
            Lookup::Refused(why) => (None, Some(why.to_string())),
        }
    }

    /// Keep verified `data` under `id_` and enforce the budget; returns a
    /// message for the log when the disk failed (the image is then not kept).
    fn write(&self, py: Python<'_>, id_: &str, data: &Bound<'_, PyBytes>) -> Option<String> {
        let (dir, bytes) = (&self.0, data.as_bytes());
        py.detach(|| dir.write(id_, bytes))
            .err()
            .map(|e| format!("avatar {id_} not kept in the image directory: {e}"))
    }

    /// Counters of the directory's work.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.0.stats();
        let d = super::counters(
            py,
            &[
                ("image_disk_hits", s.disk_hits),
                ("image_files_written", s.files_written),
                ("image_files_refused", s.files_refused),
                ("corrupt_files_removed", s.corrupt_files_removed),
                ("image_disk_evictions", s.disk_evictions),
                ("stale_temp_files_removed", s.stale_temp_files_removed),
                ("disk_errors", s.disk_errors),
            ],
        )?;
        Ok(d)
    }
}
