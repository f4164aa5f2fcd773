//! `AvatarSet`: the sources of one avatar, built for publishing.

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView, PyTuple};

use super::errors::{set_error, AvatarImageError};
use crate::avatar_image::{self, Normalized};
use crate::avatar_set::{
    check_publishable as check, AvatarSet as Rules, AvatarSetError, NewSource,
};
use crate::model::AvatarInfo;

/// The sources of one avatar image: at most one `image/png` with the image
/// data itself, the others as URLs. Build it with `add_avatar_image` and
/// publish it with `AvatarService.publish_avatar_set`.
#[pyclass(module = "aioxmpp_avatar", subclass, dict)]
pub struct AvatarSet {
    rules: Rules,
    image_bytes: Option<Py<PyBytes>>,
    metadata: Option<Py<PyAny>>,
    /// What `from_image` did to the input, for sets it built.
    #[pyo3(get)]
    conversion: Option<Py<ImageConversion>>,
}

const _: () =
    assert!(avatar_image::DEFAULT_MAX_SIZE == 192 && avatar_image::DEFAULT_MAX_BYTES == 98304);

/// What `AvatarSet.from_image` did to turn the input into the avatar;
/// `str()` of it says so in one line.
#[pyclass(module = "aioxmpp_avatar", frozen)]
pub struct ImageConversion(Normalized);

#[pymethods]
impl ImageConversion {
    /// "PNG", "JPEG", "WebP" or "GIF".
    #[getter]
    fn input_format(&self) -> String {
        self.0.input_format.to_string()
    }

    /// Width and height of the input as stored.
    #[getter]
    fn input_size(&self) -> (u32, u32) {
        (self.0.input_width, self.0.input_height)
    }

    /// Length of the input in bytes.
    #[getter]
    fn input_bytes(&self) -> usize {
        self.0.input_bytes
    }

    /// Side of the square output in pixels.
    #[getter]
    fn size(&self) -> u32 {
        self.0.size
    }

    /// Length of the output PNG in bytes.
    #[getter]
    fn output_bytes(&self) -> usize {
        self.0.png.len()
    }

    /// Whether an EXIF orientation was applied.
    #[getter]
    fn rotated(&self) -> bool {
        self.0.rotated
    }

    /// The kinds of metadata found in the input and left out, e.g. "EXIF".
    #[getter]
    fn removed(&self) -> Vec<String> {
        self.0.removed.iter().map(ToString::to_string).collect()
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<ImageConversion {}>", self.0)
    }
}

#[pymethods]
impl AvatarSet {
    /// An empty set (extra arguments are left to subclasses' `__init__`).
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        Self {
            rules: Rules::new(),
            image_bytes: None,
            metadata: None,
            conversion: None,
        }
    }

    /// A set of one `image/png` source made from any photo (PNG, JPEG,
    /// WebP or GIF, its first frame): EXIF orientation applied, the centre
    /// square cropped, scaled down to at most `max_size` pixels a side,
    /// every metadata chunk dropped, transparency kept, encoded as a PNG of
    /// at most `max_bytes` (shrunk step by step to fit, down to 32 px).
    /// Raises `AvatarImageError` (an `AvatarSetError`) saying why an input
    /// cannot be used. Runs without the GIL: `await
    /// asyncio.to_thread(AvatarSet.from_image, data)` keeps a loop free.
    #[classmethod]
    // Literal defaults show in the signature; checked against the core's.
    #[pyo3(signature = (data, *, max_size=192, max_bytes=98304))]
    fn from_image<'py>(
        cls: &Bound<'py, pyo3::types::PyType>,
        data: &Bound<'py, PyAny>,
        max_size: i64,
        max_bytes: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let input = as_bytes(data)?;
        let bytes = input.as_bytes();
        let normalized = py
            .detach(|| avatar_image::normalize(bytes, max_size, max_bytes))
            .map_err(|e| AvatarImageError::new_err(e.to_string()))?;
        let set = cls.call0()?;
        let png = PyBytes::new(py, &normalized.png);
        let side = normalized.size.into_pyobject(py)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("image_bytes", png)?;
        kwargs.set_item("width", &side)?;
        kwargs.set_item("height", &side)?;
        set.call_method("add_avatar_image", ("image/png",), Some(&kwargs))?;
        let conversion = Py::new(py, ImageConversion(normalized))?;
        set.cast::<AvatarSet>()?.borrow_mut().conversion = Some(conversion);
        Ok(set)
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
    /// grouped by MIME type in the order the types were first added. The
    /// same object is returned each time and grows with later additions.
    #[getter]
    fn metadata(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(m) = &self.metadata {
            return Ok(m.clone_ref(py));
        }
        static METADATA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let metadata = METADATA
            .import(py, "aioxmpp.avatar.xso", "Metadata")?
            .call0()?;
        for (mime_type, infos) in self.rules.groups() {
            for info in infos {
                append_info(&metadata, mime_type, info)?;
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
        width: Option<&Bound<'_, PyAny>>,
        height: Option<&Bound<'_, PyAny>>,
        url: Option<&str>,
        nbytes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let image = image_bytes
            .filter(|b| !b.is_none())
            .map(as_bytes)
            .transpose()?;
        let data = image.as_ref().map(|b| b.as_bytes());
        let source = NewSource {
            mime_type,
            id: id_,
            image_bytes: data,
            width: int_arg("width", width)?,
            height: int_arg("height", height)?,
            url,
            nbytes: int_arg("nbytes", nbytes)?,
        };
        let rules = &mut self.rules;
        // Hashing a large image must not hold the GIL.
        py.detach(|| rules.add(&source)).map_err(set_error)?;
        if let Some(image) = image {
            self.image_bytes = Some(image.unbind());
        }
        if let Some(metadata) = &self.metadata {
            let (mime, infos) = self
                .rules
                .groups()
                .iter()
                .find(|(m, _)| m == mime_type)
                .expect("the source was just added");
            append_info(metadata.bind(py), mime, infos.last().expect("just added"))?;
        }
        Ok(())
    }

    /// A copy with the same sources (the image bytes are shared).
    fn __copy__(&self, py: Python<'_>) -> Self {
        Self {
            rules: self.rules.clone(),
            image_bytes: self.image_bytes.as_ref().map(|b| b.clone_ref(py)),
            metadata: None,
            conversion: self.conversion.as_ref().map(|c| c.clone_ref(py)),
        }
    }

    /// A copy with the same sources (bytes are immutable, so shared).
    fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> Self {
        self.__copy__(py)
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

/// Append one `Info` for `info` to an aioxmpp `Metadata` XSO.
fn append_info(metadata: &Bound<'_, PyAny>, mime_type: &str, info: &AvatarInfo) -> PyResult<()> {
    static INFO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = metadata.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("id_", &info.id)?;
    kwargs.set_item("mime_type", mime_type)?;
    kwargs.set_item("nbytes", info.nbytes)?;
    kwargs.set_item("width", info.width)?;
    kwargs.set_item("height", info.height)?;
    kwargs.set_item("url", info.url.as_deref())?;
    let xso = INFO
        .import(py, "aioxmpp.avatar.xso", "Info")?
        .call((), Some(&kwargs))?;
    metadata
        .getattr("info")?
        .get_item(mime_type)?
        .call_method1("append", (xso,))?;
    Ok(())
}

/// A numeric argument: None, or an integer (a too large one is reported as
/// out of range by name; a non-integer is a `TypeError`).
fn int_arg(argument: &'static str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    match value.extract::<i64>() {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Err(set_error(AvatarSetError::OutOfRange {
                argument,
                given: value.repr()?.to_string(),
            }))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{argument} must be an integer or None, got {}",
            value.get_type().name()?
        ))),
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
    Err(PyTypeError::new_err(format!(
        "image_bytes must be bytes, got {}",
        obj.get_type().name()?
    )))
}

/// The id to publish a set with this `png_id` and `image_bytes` under;
/// `AvatarSetError` unless it can be published over PEP (the PNG data is
/// required).
#[pyfunction]
#[pyo3(signature = (png_id, image_bytes))]
pub fn check_publishable<'a>(
    png_id: Option<&'a str>,
    image_bytes: Option<&Bound<'_, PyAny>>,
) -> PyResult<&'a str> {
    check(png_id, image_bytes.is_some_and(|b| !b.is_none())).map_err(set_error)
}

/// Raise `ValueError` unless `model` is an access model of XEP-0060.
#[pyfunction]
pub fn check_access_model(model: &str) -> PyResult<()> {
    crate::avatar_set::check_access_model(model).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// `(width, height)` from a PNG's IHDR chunk; `ValueError` saying what is
/// wrong when `data` is not a PNG with a readable header.
#[pyfunction]
pub fn png_dimensions(data: &[u8]) -> PyResult<(u32, u32)> {
    crate::avatar_set::png_header(data)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}
