//! Reading aioxmpp's avatar XSOs (`aioxmpp.avatar.xso`): the field values of
//! received `<info/>` elements, handed to the core for validation.
//!
//! aioxmpp has already parsed the stanza; these functions only read what it
//! parsed, as cheaply as possible, and never decide what is valid. Reading
//! happens in two steps: [`Infos::read`] collects the Python values and
//! [`Infos::raws`] lends them to validation. A repeated notification
//! is recognised by comparing the validated records exactly, never by a
//! hash of peer-chosen strings.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};

use super::jid::utf8;
use crate::validate::{RawInfo, RawInt};

/// aioxmpp's avatar and pubsub item XSO classes and the descriptors that
/// key their parsed contents: `Info`'s six fields in the order id, type,
/// bytes, width, height, url, `Metadata.info`, and the `registered_payload`
/// of `EventItem` (notifications) and `Item` (answers).
struct Classes {
    info: Py<PyAny>,
    info_fields: [Py<PyAny>; 6],
    metadata: Py<PyAny>,
    metadata_info: Py<PyAny>,
    items: [(Py<PyAny>, Py<PyAny>); 2],
}

const INFO_FIELDS: [&str; 6] = ["id_", "mime_type", "nbytes", "width", "height", "url"];

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();
    CLASSES.get_or_try_init(py, || {
        let module = py.import("aioxmpp.avatar.xso")?;
        let info = module.getattr("Info")?;
        let metadata = module.getattr("Metadata")?;
        let dict = info.getattr("__dict__")?;
        let field = |name: &str| dict.get_item(name).map(Bound::unbind);
        let pubsub = py.import("aioxmpp.pubsub.xso")?;
        let item = |name: &str| -> PyResult<(Py<PyAny>, Py<PyAny>)> {
            let class = pubsub.getattr(name)?;
            let payload = class.getattr("__dict__")?.get_item("registered_payload")?;
            Ok((class.unbind(), payload.unbind()))
        };
        Ok(Classes {
            items: [item("EventItem")?, item("Item")?],
            metadata_info: metadata.getattr("__dict__")?.get_item("info")?.unbind(),
            metadata: metadata.unbind(),
            info_fields: [
                field(INFO_FIELDS[0])?,
                field(INFO_FIELDS[1])?,
                field(INFO_FIELDS[2])?,
                field(INFO_FIELDS[3])?,
                field(INFO_FIELDS[4])?,
                field(INFO_FIELDS[5])?,
            ],
            info: info.unbind(),
        })
    })
}

/// The six field values of one `<info/>` (id, type, bytes, width, height,
/// url), as aioxmpp parsed them; `None` where a field is unset.
struct InfoValues<'py>([Option<Bound<'py, PyAny>>; 6]);

impl<'py> InfoValues<'py> {
    /// For aioxmpp's own `Info` the values are taken straight from its parsed
    /// contents (a dict keyed by the attribute descriptors), which costs a
    /// fraction of six attribute look-ups; any other object is read
    /// attribute by attribute.
    fn read(info: &Bound<'py, PyAny>, classes: &Classes) -> PyResult<Self> {
        let py = info.py();
        let mut values: [Option<Bound<'py, PyAny>>; 6] = Default::default();
        if info.get_type().is(classes.info.bind(py)) {
            let contents = info.getattr(intern!(py, "_xso_contents"))?;
            let contents = as_dict(&contents)?;
            for (slot, field) in values.iter_mut().zip(&classes.info_fields) {
                *slot = contents.get_item(field)?;
            }
        } else {
            for (slot, name) in values.iter_mut().zip(INFO_FIELDS) {
                *slot = info.getattr(name).ok();
            }
        }
        Ok(Self(values))
    }
}

/// The `<info/>` entries of one or more metadata items, not yet converted.
pub struct Infos<'py>(Vec<InfoValues<'py>>);

impl<'py> Infos<'py> {
    /// The entries of one pubsub item; `None` when it carries no parsed
    /// `aioxmpp.avatar.xso.Metadata`.
    pub fn read(item: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let py = item.py();
        let classes = classes(py)?;
        let payload = payload_of(item, classes)?;
        let Some(payload) = payload.filter(|p| p.get_type().is(classes.metadata.bind(py))) else {
            return Ok(None);
        };
        // Metadata.info is a dict of MIME type -> list of Info, kept in the
        // XSO's parsed contents; absent means no <info/> at all.
        let contents = payload.getattr(intern!(py, "_xso_contents"))?;
        let mut infos = Vec::new();
        if let Some(by_type) = as_dict(&contents)?.get_item(&classes.metadata_info)? {
            for (_, group) in as_dict(&by_type)?.iter() {
                // aioxmpp's groups are lists (XSOList): indexed, without
                // an iterator object per group.
                match group.cast::<PyList>() {
                    Ok(list) => {
                        for info in list.iter() {
                            infos.push(InfoValues::read(&info, classes)?);
                        }
                    }
                    Err(_) => {
                        for info in group.try_iter()? {
                            infos.push(InfoValues::read(&info?, classes)?);
                        }
                    }
                }
            }
        }
        Ok(Some(Self(infos)))
    }

    /// The entries of several pubsub items; `None` when none carries
    /// metadata.
    pub fn read_all(items: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let mut found: Option<Self> = None;
        for item in items.try_iter()? {
            if let Some(infos) = Self::read(&item?)? {
                match &mut found {
                    Some(all) => all.0.extend(infos.0),
                    None => found = Some(infos),
                }
            }
        }
        Ok(found)
    }

    /// The values as validation takes them, borrowed from the Python
    /// objects (no copy of any string).
    pub fn raws(&self) -> Vec<RawInfo<'_>> {
        self.0
            .iter()
            .map(
                |InfoValues([id, mime_type, nbytes, width, height, url])| RawInfo {
                    id: text(id),
                    mime_type: text(mime_type),
                    nbytes: int(nbytes),
                    width: int(width),
                    height: int(height),
                    url: text(url),
                },
            )
            .collect()
    }
}

/// The payload of a pubsub item (`None`: unset). For aioxmpp's own item
/// classes it is read straight from the parsed contents, as the `Info`
/// fields are: the attribute is a descriptor implemented in Python, whose
/// call cost a twentieth of a whole notification.
fn payload_of<'py>(
    item: &Bound<'py, PyAny>,
    classes: &Classes,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = item.py();
    let class = item.get_type();
    for (known, field) in &classes.items {
        if class.is(known.bind(py)) {
            let contents = item.getattr(intern!(py, "_xso_contents"))?;
            return as_dict(&contents)?.get_item(field);
        }
    }
    item.getattr(intern!(py, "registered_payload")).map(Some)
}

/// A string field, borrowed; anything else counts as absent.
fn text<'a>(value: &'a Option<Bound<'_, PyAny>>) -> Option<&'a str> {
    // A cast, not `extract`: a failed extract builds a Python exception,
    // which would cost more than the whole entry for every absent `url`.
    let value = value.as_ref()?;
    let text = match value.cast_exact::<PyString>() {
        Ok(text) => text,
        Err(_) => value.cast::<PyString>().ok()?,
    };
    utf8(text.as_borrowed()).ok()
}

/// An XSO's parsed contents (or a part of them) as a dict. aioxmpp's are
/// plain dicts: the exact type is checked first, which under the stable
/// ABI costs no call into the interpreter.
fn as_dict<'a, 'py>(value: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyDict>> {
    match value.cast_exact::<PyDict>() {
        Ok(dict) => Ok(dict),
        Err(_) => Ok(value.cast::<PyDict>()?),
    }
}

/// An integer field, keeping "absent" and "not an integer" apart.
fn int(value: &Option<Bound<'_, PyAny>>) -> RawInt {
    match value {
        None => RawInt::Absent,
        Some(v) if v.is_none() => RawInt::Absent,
        // i64 first: it is the fast conversion; i128 only for huge values.
        Some(v) => match v.extract::<i64>() {
            Ok(n) => RawInt::Value(n.into()),
            Err(_) => v
                .extract::<i128>()
                .map(RawInt::Value)
                .unwrap_or(RawInt::Invalid),
        },
    }
}
