//! `AvatarSet`: the sources of one avatar, built for publishing.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};

use super::errors::set_error;
use crate::avatar_set::{check_publishable as check, AvatarSet as Rules, NewSource};

/// The sources of one avatar image: at most one `image/png` with the image
/// data itself, the others as URLs. Build it with `add_avatar_image` and
/// publish it with `AvatarService.publish_avatar_set`.
#[pyclass(module = "aioxmpp_avatar", subclass)]
pub struct AvatarSet {
    rules: Rules,
    image_bytes: Option<Py<PyBytes>>,
    metadata: Option<Py<PyAny>>,
}

#[pymethods]
impl AvatarSet {
    #[new]
    fn py_new() -> Self {
        Self {
            rules: Rules::new(),
            image_bytes: None,
            metadata: None,
        }
    }

    /// The `image/png` image data, once added.
    #[getter]
    fn image_bytes(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.image_bytes.as_ref().map(|b| b.clone_ref(py))
    }

    /// The normalised SHA-1 of the `image/png` image data, once added.
    #[getter]
    fn png_id(&self) -> Option<&str> {
        self.rules.png_id()
    }

    /// The `aioxmpp.avatar.xso.Metadata` to publish: one `Info` per source,
    /// grouped by MIME type in the order the types were first added.
    #[getter]
    fn metadata(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(m) = &self.metadata {
            return Ok(m.clone_ref(py));
        }
        static METADATA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static INFO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let metadata = METADATA
            .import(py, "aioxmpp.avatar.xso", "Metadata")?
            .call0()?;
        let info_cls = INFO.import(py, "aioxmpp.avatar.xso", "Info")?;
        let by_type = metadata.getattr("info")?;
        for (mime_type, infos) in self.rules.groups() {
            let list = by_type.get_item(mime_type)?;
            for i in infos {
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs.set_item("id_", &i.id)?;
                kwargs.set_item("mime_type", mime_type)?;
                kwargs.set_item("nbytes", i.nbytes)?;
                kwargs.set_item("width", i.width)?;
                kwargs.set_item("height", i.height)?;
                kwargs.set_item("url", i.url.as_deref())?;
                list.call_method1("append", (info_cls.call((), Some(&kwargs))?,))?;
            }
        }
        self.metadata = Some(metadata.clone().unbind());
        Ok(metadata.unbind())
    }

    /// Add a source of the avatar image.
    ///
    /// `image_bytes` may be given once per set, for `image/png` only; then
    /// `id_` and `nbytes` are computed (and checked when also given) and
    /// `width`/`height` are read from the PNG header when not given. Other
    /// sources need a `url`, an `id_` and `nbytes`. A broken rule raises
    /// `AvatarSetError` (a `RuntimeError`) and leaves the set unchanged.
    #[pyo3(signature = (mime_type, *, id_=None, image_bytes=None, width=None, height=None, url=None, nbytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_avatar_image(
        &mut self,
        py: Python<'_>,
        mime_type: &str,
        id_: Option<&str>,
        image_bytes: Option<&Bound<'_, PyAny>>,
        width: Option<i64>,
        height: Option<i64>,
        url: Option<&str>,
        nbytes: Option<i64>,
    ) -> PyResult<()> {
        let image = image_bytes.map(as_bytes).transpose()?;
        let data = image.as_ref().map(|b| b.as_bytes());
        let source = NewSource {
            mime_type,
            id: id_,
            image_bytes: data,
            width,
            height,
            url,
            nbytes,
        };
        let rules = &mut self.rules;
        // Hashing a large image must not hold the GIL.
        py.detach(|| rules.add(&source)).map_err(set_error)?;
        if let Some(image) = image {
            self.image_bytes = Some(image.unbind());
        }
        self.metadata = None;
        Ok(())
    }

    fn __repr__(&self) -> String {
        let sources: usize = self.rules.groups().iter().map(|(_, v)| v.len()).sum();
        format!(
            "<AvatarSet png_id={} sources={}>",
            self.rules.png_id().unwrap_or("None"),
            sources
        )
    }
}

/// Image data as `bytes`: bytes are used as they are, bytearray and
/// memoryview are copied once; anything else is a `TypeError`.
fn as_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    if obj.cast::<PyByteArray>().is_ok() || obj.cast::<PyMemoryView>().is_ok() {
        return Ok(obj
            .py()
            .get_type::<PyBytes>()
            .call1((obj,))?
            .cast_into::<PyBytes>()?);
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "image_bytes must be bytes, got {}",
        obj.get_type().name()?
    )))
}

/// Raise `AvatarSetError` unless a set with this `png_id` and `image_bytes`
/// can be published over PEP (the PNG data is required).
#[pyfunction]
#[pyo3(signature = (png_id, image_bytes))]
pub fn check_publishable(
    png_id: Option<&str>,
    image_bytes: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    check(png_id, image_bytes.is_some_and(|b| !b.is_none())).map_err(set_error)
}
