//! Avatar descriptors: what a JID's avatar is and how to get its image.
//!
//! Constructed exactly as aioxmpp's are (user code builds them directly),
//! subclassable from Python, comparable and hashable by their fields.
//! `get_image_bytes()` returns the coroutine of the descriptor's fetcher:
//! the service's, for descriptors a service built (image store, shared
//! requests, limits), else `aioxmpp_avatar._fetch.fetch_directly`. Both
//! verify the bytes in the core before returning them.

use std::hash::{Hash, Hasher};

use pyo3::exceptions::PyDeprecationWarning;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::cache::CompactRecord;
use crate::ids::normalize_id;
use crate::model::{AvatarInfo, Record, SourceKind};

/// Base of every avatar descriptor.
#[pyclass(module = "aioxmpp_avatar.service", subclass, weakref)]
pub struct AbstractAvatarDescriptor {
    pub(crate) remote_jid: Py<PyAny>,
    /// The kind and fields, compact as in the cache (a descriptor is built
    /// from a cache entry by copying 40 bytes); decoded when read.
    pub(crate) record: CompactRecord,
    /// The pubsub kind's `PubSubClient`, for fetching.
    #[pyo3(get, name = "_pubsub")]
    pub(crate) pubsub: Option<Py<PyAny>>,
    /// The vCard kind's `VCardService`, for fetching.
    #[pyo3(get, name = "_vcard")]
    pub(crate) vcard: Option<Py<PyAny>>,
    /// The vCard kind's image data handed to the constructor.
    #[pyo3(get, name = "_image_bytes")]
    pub(crate) image_bytes: Option<Py<PyBytes>>,
    /// `fetcher(descriptor)` is what `get_image_bytes()` awaits: given by
    /// the service that built this descriptor; `None` for descriptors built
    /// by user code, which fetch directly.
    pub(crate) fetcher: Option<Py<PyAny>>,
}

impl AbstractAvatarDescriptor {
    /// A descriptor of `record` with no fetching helpers attached.
    pub(crate) fn new(record: CompactRecord, remote_jid: Py<PyAny>) -> Self {
        Self {
            remote_jid,
            record,
            pubsub: None,
            vcard: None,
            image_bytes: None,
            fetcher: None,
        }
    }

    /// Build the Python object of the class that matches `kind`.
    pub(crate) fn into_object(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let kind = self.record.kind();
        let init = PyClassInitializer::from(self);
        Ok(match kind {
            SourceKind::Pubsub => {
                Py::new(py, init.add_subclass(PubsubAvatarDescriptor))?.into_any()
            }
            SourceKind::Http => Py::new(py, init.add_subclass(HttpAvatarDescriptor))?.into_any(),
            SourceKind::VCard => Py::new(py, init.add_subclass(VCardAvatarDescriptor))?.into_any(),
            SourceKind::Abstract => Py::new(py, init)?.into_any(),
        })
    }
}

#[pymethods]
impl AbstractAvatarDescriptor {
    /// Construction is two-step, as for Python classes: `__new__` accepts
    /// any arguments (so subclasses may have signatures of their own) and
    /// `__init__` takes the descriptor's fields.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(
        py: Python<'_>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> Self {
        Self::new(empty(SourceKind::Abstract), py.None())
    }

    /// Set the fields: `remote_jid`, `id_` and the keyword-only hints.
    /// `pubsub` (pubsub kind), `vcard` and `image_bytes` (vCard kind) are
    /// the kinds' fetching helpers; other keyword arguments are ignored so
    /// that a service may pass its own.
    #[pyo3(signature = (remote_jid, id_, *, mime_type=None, nbytes=None, width=None, height=None, url=None, pubsub=None, vcard=None, image_bytes=None, **_kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn __init__(
        &mut self,
        remote_jid: Py<PyAny>,
        id_: String,
        mime_type: Option<String>,
        nbytes: Option<i64>,
        width: Option<i64>,
        height: Option<i64>,
        url: Option<String>,
        pubsub: Option<Py<PyAny>>,
        vcard: Option<Py<PyAny>>,
        image_bytes: Option<Py<PyBytes>>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) {
        self.remote_jid = remote_jid;
        let kind = self.record.kind();
        let info = AvatarInfo {
            id: id_,
            mime_type,
            nbytes,
            width,
            height,
            url,
        };
        self.record = CompactRecord::new(&Record { kind, info });
        match kind {
            SourceKind::Pubsub => self.pubsub = pubsub,
            SourceKind::VCard => {
                self.vcard = vcard;
                self.image_bytes = image_bytes;
            }
            SourceKind::Http | SourceKind::Abstract => {}
        }
    }

    /// Everything needed to rebuild this descriptor (copy and pickle).
    fn __getstate__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.borrow();
        let i = this.record.to_info();
        // Python subclasses have a __dict__; our own classes do not.
        let dict = slf.getattr(pyo3::intern!(py, "__dict__")).ok();
        let state = (
            this.remote_jid.clone_ref(py),
            (i.id, i.mime_type, i.nbytes, i.width, i.height, i.url),
            (
                this.pubsub.as_ref().map(|o| o.clone_ref(py)),
                this.vcard.as_ref().map(|o| o.clone_ref(py)),
            ),
            (
                this.image_bytes.as_ref().map(|o| o.clone_ref(py)),
                this.fetcher.as_ref().map(|o| o.clone_ref(py)),
            ),
            dict,
        );
        Ok(state.into_pyobject(py)?.into_any().unbind())
    }

    /// Restore the state made by `__getstate__`.
    #[allow(clippy::type_complexity)]
    fn __setstate__(
        slf: &Bound<'_, Self>,
        state: (
            Py<PyAny>,
            (
                String,
                Option<String>,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<String>,
            ),
            (Option<Py<PyAny>>, Option<Py<PyAny>>),
            (Option<Py<PyBytes>>, Option<Py<PyAny>>),
            Option<Bound<'_, PyDict>>,
        ),
    ) -> PyResult<()> {
        let (
            remote_jid,
            (id, mime_type, nbytes, width, height, url),
            (pubsub, vcard),
            (image_bytes, fetcher),
            dict,
        ) = state;
        {
            let mut this = slf.borrow_mut();
            this.remote_jid = remote_jid;
            let info = AvatarInfo {
                id,
                mime_type,
                nbytes,
                width,
                height,
                url,
            };
            this.record = CompactRecord::new(&Record {
                kind: this.record.kind(),
                info,
            });
            this.pubsub = pubsub;
            this.vcard = vcard;
            this.image_bytes = image_bytes;
            this.fetcher = fetcher;
        }
        if let Some(dict) = dict {
            slf.getattr(pyo3::intern!(slf.py(), "__dict__"))?
                .call_method1("update", (dict,))?;
        }
        Ok(())
    }

    /// The JID this avatar belongs to.
    #[getter]
    fn remote_jid(&self, py: Python<'_>) -> Py<PyAny> {
        self.remote_jid.clone_ref(py)
    }

    /// The SHA-1 of the image as the peer wrote it; use it on the wire.
    #[getter]
    fn id_(&self) -> String {
        self.record.id()
    }

    /// The lowercase SHA-1 of the image; use it for caching and comparison.
    #[getter]
    fn normalized_id(&self) -> String {
        normalize_id(&self.record.id())
    }

    /// The MIME type of the image data, if known.
    #[getter]
    fn mime_type(&self) -> Option<&str> {
        self.record.mime_type()
    }

    /// The size of the image data in bytes, if known.
    #[getter]
    fn nbytes(&self) -> Option<i64> {
        self.record.nbytes()
    }

    /// The width of the image in pixels, if known.
    #[getter]
    fn width(&self) -> Option<i64> {
        self.record.width()
    }

    /// The height of the image in pixels, if known.
    #[getter]
    fn height(&self) -> Option<i64> {
        self.record.height()
    }

    /// Where the image can be downloaded, for URL sources.
    #[getter]
    fn url(&self) -> Option<&str> {
        self.record.url()
    }

    /// Whether `get_image_bytes()` can fetch the image over XMPP.
    #[getter]
    fn can_get_image_bytes_via_xmpp(&self) -> bool {
        matches!(self.record.kind(), SourceKind::Pubsub | SourceKind::VCard)
    }

    /// Deprecated alias of `can_get_image_bytes_via_xmpp`.
    #[getter]
    fn has_image_data_in_pubsub<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        PyErr::warn(
            py,
            &py.get_type::<PyDeprecationWarning>(),
            c"the has_image_data_in_pubsub attribute is deprecated and will be removed in 1.0; use can_get_image_bytes_via_xmpp",
            1,
        )?;
        slf.getattr(pyo3::intern!(py, "can_get_image_bytes_via_xmpp"))
    }

    /// Fetch the image data (a coroutine). The bytes are verified against
    /// the SHA-1 id and the advertised size before they are returned.
    fn get_image_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static DIRECT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let py = slf.py();
        let fetcher = match &slf.borrow().fetcher {
            Some(fetcher) => fetcher.bind(py).clone(),
            None => DIRECT
                .import(py, "aioxmpp_avatar._fetch", "fetch_directly")?
                .clone(),
        };
        fetcher.call1((slf,))
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let equal = match other.cast::<AbstractAvatarDescriptor>() {
            Ok(other) => {
                let (a, b) = (slf.borrow(), other.borrow());
                a.record == b.record && a.remote_jid.bind(py).eq(b.remote_jid.bind(py))?
            }
            Err(_) => return Ok(py.NotImplemented()),
        };
        match op {
            CompareOp::Eq => Ok(equal.into_pyobject(py)?.to_owned().into_any().unbind()),
            CompareOp::Ne => Ok((!equal).into_pyobject(py)?.to_owned().into_any().unbind()),
            _ => Ok(py.NotImplemented()),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.record, self.remote_jid.bind(py).hash()?).hash(&mut h);
        Ok(h.finish() as isize)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.borrow();
        let class = slf.get_type().qualname()?;
        let mut parts = vec![
            format!("remote_jid={}", this.remote_jid.bind(slf.py()).str()?),
            format!("id_={:?}", this.record.id()),
        ];
        let info = this.record.to_info();
        if let Some(m) = &info.mime_type {
            parts.push(format!("mime_type={m:?}"));
        }
        for (name, value) in [
            ("nbytes", info.nbytes),
            ("width", info.width),
            ("height", info.height),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        }
        if let Some(u) = &info.url {
            parts.push(format!("url={u:?}"));
        }
        Ok(format!("<{} {}>", class, parts.join(" ")))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.remote_jid)?;
        for obj in [&self.pubsub, &self.vcard, &self.fetcher]
            .into_iter()
            .flatten()
        {
            visit.call(obj)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.pubsub = None;
        self.vcard = None;
        self.fetcher = None;
    }
}

/// The fields of a descriptor before `__init__`.
fn empty(kind: SourceKind) -> CompactRecord {
    CompactRecord::new(&Record {
        kind,
        info: AvatarInfo::default(),
    })
}

/// Declare a descriptor kind: a subclass of `AbstractAvatarDescriptor`
/// whose `__new__` (accepting any arguments, like the base's) sets `$kind`.
macro_rules! descriptor_kind {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        #[pyclass(module = "aioxmpp_avatar.service", extends = AbstractAvatarDescriptor, subclass)]
        pub struct $name;

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (*_args, **_kwargs))]
            fn py_new(
                py: Python<'_>,
                _args: &Bound<'_, PyTuple>,
                _kwargs: Option<&Bound<'_, PyDict>>,
            ) -> PyClassInitializer<Self> {
                let base = AbstractAvatarDescriptor::new(empty(SourceKind::$kind), py.None());
                PyClassInitializer::from(base).add_subclass(Self)
            }
        }
    };
}

descriptor_kind!(
    /// An avatar whose PNG data is in the owner's PEP data node (XEP-0084).
    PubsubAvatarDescriptor,
    Pubsub
);
descriptor_kind!(
    /// An avatar that is only available at a URL.
    HttpAvatarDescriptor,
    Http
);
descriptor_kind!(
    /// An avatar from the owner's vCard PHOTO (XEP-0153); the image bytes may
    /// already be known, and are not part of equality.
    VCardAvatarDescriptor,
    VCard
);
