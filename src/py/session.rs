//! `AvatarSession`: the core's per-connection state as the service sees it.
//!
//! One call per event: the service hands over the aioxmpp objects it got
//! (JIDs, pubsub items, presence fields), the state reads their fields,
//! decides in the pure core, and answers with ready descriptor lists.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3::{intern, PyTraverseError, PyVisit};

use super::descriptors::AbstractAvatarDescriptor;
use super::errors::{ImageTooLargeError, ImageUnavailableError};
use super::image_store::ImageStore;
use super::jid::{jid_key, jid_key_of, with_jid_ref, JidKey};
use super::settings::{count_setting, seconds_setting, MAX_ENTRIES};
use super::xso::Infos;
use crate::cache::{CompactRecord, CompactRecords, RequestToken, Stored};
use crate::ids::sha1_hex;
use crate::lru::Lookup;
use crate::model::{AsRecord, Record, SourceKind};
use crate::own_vcard::{Advertisement, RehashToken};
use crate::session::{self as core, Presence, VCardAnswer};

/// Per-connection avatar state of one `AvatarService`.
#[pyclass(module = "aioxmpp_avatar._core")]
pub struct AvatarSession {
    session: core::AvatarSession<JidKey, Py<PyList>>,
    images: Py<ImageStore>,
    request_timeout: Duration,
    max_concurrent_requests: usize,
    helpers: Helpers,
}

/// What the descriptors this session builds carry for fetching.
struct Helpers {
    fetcher: Option<Py<PyAny>>,
    pubsub: Option<Py<PyAny>>,
    vcard: Option<Py<PyAny>>,
}

/// The kinds of avatar IQ, as counted in `stats()`.
#[pyclass(module = "aioxmpp_avatar._core", eq, eq_int, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum IqKind {
    /// A metadata node request (XEP-0084 §4.3).
    METADATA,
    /// A data node request (XEP-0084 §4.4).
    DATA,
    /// A vCard request (XEP-0153 §3.2).
    VCARD,
}

impl From<IqKind> for core::IqKind {
    fn from(kind: IqKind) -> Self {
        match kind {
            IqKind::METADATA => Self::Metadata,
            IqKind::DATA => Self::Data,
            IqKind::VCARD => Self::VCard,
        }
    }
}

impl Helpers {
    /// The descriptor list of `jid` for `records`.
    fn descriptors<'py, 'r>(
        &self,
        jid: &Bound<'py, PyAny>,
        records: impl ExactSizeIterator<Item = &'r CompactRecord>,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = jid.py();
        let clone = |o: &Option<Py<PyAny>>| o.as_ref().map(|o| o.clone_ref(py));
        let list = PyList::empty(py);
        for r in records {
            let mut d = AbstractAvatarDescriptor::new(r.clone(), jid.clone().unbind());
            d.fetcher = clone(&self.fetcher);
            match r.kind() {
                SourceKind::Pubsub => d.pubsub = clone(&self.pubsub),
                SourceKind::VCard => d.vcard = clone(&self.vcard),
                SourceKind::Http | SourceKind::Abstract => {}
            }
            list.append(d.into_object(py)?)?;
        }
        Ok(list)
    }
}

impl AvatarSession {
    /// The descriptor list of `key`'s cache entry, if cached. The list is
    /// kept with the entry (for the most recently used JIDs, see
    /// `cache::KEPT_VIEWS`), so that the list returned by a request or a
    /// lookup is the one the next lookups return, at no cost; beyond that
    /// bound an entry costs no Python objects.
    fn cached_view<'py, Q: Lookup<JidKey>>(
        &mut self,
        jid: &Bound<'py, PyAny>,
        key: &Q,
        purpose: ViewFor,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let py = jid.py();
        let entry = match purpose {
            ViewFor::Lookup => self.session.cached(key),
            ViewFor::Event => self.session.cache.peek(key),
        };
        let Some(entry) = entry else {
            return Ok(None);
        };
        if let Some(view) = entry.view {
            return Ok(Some(view.bind(py).clone()));
        }
        let list = self.helpers.descriptors(jid, entry.records.iter())?;
        self.session.cache.keep_view(key, list.clone().unbind());
        Ok(Some(list))
    }

    /// The descriptor list of `jid` for `records` that are not cached.
    fn uncached_descriptors<'py, R: AsRecord>(
        &self,
        jid: &Bound<'py, PyAny>,
        records: &[R],
    ) -> PyResult<Bound<'py, PyList>> {
        self.helpers
            .descriptors(jid, CompactRecords::new(records).iter())
    }

    /// Finish a request with `records` and answer `(changed, descriptors)`;
    /// a newer cached value wins over the request's result.
    fn finish<'py, R: AsRecord>(
        &mut self,
        jid: &Bound<'py, PyAny>,
        token: u64,
        records: &[R],
    ) -> PyResult<(bool, Bound<'py, PyList>)> {
        let key = jid_key(jid)?;
        let outcome = self
            .session
            .cache
            .finish_request(&key, RequestToken(token), records);
        let changed = outcome == Some(Stored::Changed);
        match self.cached_view(jid, &key, ViewFor::Event)? {
            Some(list) => Ok((changed, list)),
            None => Ok((false, self.uncached_descriptors(jid, records)?)),
        }
    }
}

/// Why a descriptor list is wanted, see [`AvatarSession::cached_view`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum ViewFor {
    /// A cached `get_avatar_metadata` (counted as a cache hit or miss).
    Lookup,
    /// A request's answer, or an event to announce.
    Event,
}

#[pymethods]
impl AvatarSession {
    /// State keeping its images in `images`, building descriptors whose
    /// `get_image_bytes()` awaits `fetcher(descriptor)` and that carry
    /// `pubsub` (aioxmpp `PubSubClient`) and `vcard` (`VCardService`).
    #[new]
    #[pyo3(signature = (images, fetcher=None, pubsub=None, vcard=None))]
    fn py_new(
        images: Py<ImageStore>,
        fetcher: Option<Py<PyAny>>,
        pubsub: Option<Py<PyAny>>,
        vcard: Option<Py<PyAny>>,
    ) -> Self {
        Self {
            session: core::AvatarSession::new(),
            request_timeout: crate::limits::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: crate::limits::DEFAULT_MAX_CONCURRENT_REQUESTS,
            images,
            helpers: Helpers {
                fetcher,
                pubsub,
                vcard,
            },
        }
    }

    /// Maximum number of JIDs in the metadata cache.
    #[getter]
    fn get_metadata_cache_size(&self) -> usize {
        self.session.cache.capacity()
    }

    #[setter]
    fn set_metadata_cache_size(&mut self, size: &Bound<'_, PyAny>) -> PyResult<()> {
        let size = count_setting("metadata_cache_size", size, 0, MAX_ENTRIES)?;
        self.session.cache.set_capacity(size as usize);
        Ok(())
    }

    /// Most `<info/>` entries taken from one metadata item.
    #[getter]
    fn get_max_infos(&self) -> usize {
        self.session.max_infos()
    }

    #[setter]
    fn set_max_infos(&mut self, max: &Bound<'_, PyAny>) -> PyResult<()> {
        let max = count_setting("max_infos", max, 1, MAX_ENTRIES)?;
        self.session.set_max_infos(max as usize);
        Ok(())
    }

    /// Seconds a failed image fetch for one (JID, id) is not retried.
    #[getter]
    fn get_negative_ttl(&self) -> f64 {
        self.session.negative_ttl().as_secs_f64()
    }

    #[setter]
    fn set_negative_ttl(&mut self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let ttl = seconds_setting("negative_ttl", seconds, true)?;
        self.session.set_negative_ttl(ttl);
        Ok(())
    }

    /// Seconds one avatar IQ may take before its waiters get a time-out.
    #[getter]
    fn get_request_timeout(&self) -> f64 {
        self.request_timeout.as_secs_f64()
    }

    #[setter]
    fn set_request_timeout(&mut self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.request_timeout = seconds_setting("request_timeout", seconds, false)?;
        Ok(())
    }

    /// Most avatar IQs outstanding at once.
    #[getter]
    fn get_max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    #[setter]
    fn set_max_concurrent_requests(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let n = count_setting("max_concurrent_requests", value, 1, MAX_ENTRIES)?;
        self.max_concurrent_requests = n as usize;
        Ok(())
    }

    /// Avatar IQ slots one domain may hold out of `max_concurrent_requests`.
    #[getter]
    fn get_domain_share(&self) -> usize {
        crate::limits::domain_share(self.max_concurrent_requests)
    }

    /// The cached descriptor list for `jid`, or None (counted as hit/miss).
    fn cached_metadata<'py>(
        &mut self,
        jid: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        with_jid_ref(jid, true, |key| self.cached_view(jid, key, ViewFor::Lookup))?
    }

    /// Start a metadata request; returns its token.
    #[pyo3(signature = (jid, require_fresh, disable_pep=false))]
    fn begin_request(
        &mut self,
        jid: &Bound<'_, PyAny>,
        require_fresh: bool,
        disable_pep: bool,
    ) -> PyResult<u64> {
        Ok(self
            .session
            .begin_request(&jid_key(jid)?, require_fresh, disable_pep)
            .0)
    }

    /// A request failed or was cancelled.
    fn abort_request(&mut self, jid: &Bound<'_, PyAny>) -> PyResult<()> {
        self.session.cache.abort_request(&jid_key(jid)?);
        Ok(())
    }

    /// The PEP answer to a request: `items` are the pubsub items, or None
    /// when the peer has no avatar node. Returns `(changed, descriptors)`,
    /// or None when the vCard fallback must be tried (XEP-0153).
    fn finish_pep<'py>(
        &mut self,
        jid: &Bound<'py, PyAny>,
        token: u64,
        items: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<(bool, Bound<'py, PyList>)>> {
        let key = jid_key(jid)?;
        let Some(items) = items else {
            if self.session.needs_vcard_fallback(&key) {
                return Ok(None);
            }
            return self.finish(jid, token, &[] as &[Record]).map(Some);
        };
        let infos = Infos::read_all(items)?;
        let raws = infos.as_ref().map(Infos::raws).unwrap_or_default();
        let records = self.session.pep_answer(&key, &raws);
        self.finish(jid, token, &records).map(Some)
    }

    /// The vCard answer to a request (XEP-0153 §3.2): the photo (or None)
    /// and its MIME type. A photo within `max_image_bytes` goes into the
    /// image store and, as in aioxmpp, into the descriptor itself, which
    /// then never fetches again; a larger one is kept nowhere, and the
    /// descriptor's fetch is refused as for a PEP image. For a JID known to
    /// use PEP avatars (`disable_pep`) the answer is returned but neither
    /// cached nor announced.
    fn finish_vcard<'py>(
        &mut self,
        jid: &Bound<'py, PyAny>,
        token: u64,
        photo: Option<Bound<'py, PyBytes>>,
        mime_type: Option<&str>,
    ) -> PyResult<(bool, Bound<'py, PyList>)> {
        let py = jid.py();
        let data = photo.as_ref().map(|p| p.as_bytes());
        let records = py.detach(|| {
            core::AvatarSession::<JidKey, Py<PyList>>::vcard_fallback_records(data, mime_type)
        });
        let id = records.first().map(|r| r.info.id.clone());
        let mut accepted = false;
        if let (Some(data), Some(id)) = (data, &id) {
            // Verified by construction; only the size limit can refuse it.
            let mut images = self.images.try_borrow_mut(py)?;
            let store = &mut images.0;
            accepted = py.detach(|| store.put_verified(id, None, data)).is_ok();
        }
        let key = jid_key(jid)?;
        let stored = self
            .session
            .finish_vcard(&key, RequestToken(token), &records);
        let cached = match stored {
            VCardAnswer::Cached(outcome) => self
                .cached_view(jid, &key, ViewFor::Event)?
                .map(|list| (outcome == Some(Stored::Changed), list)),
            VCardAnswer::CallerOnly => None,
        };
        let (changed, list) = match cached {
            Some(answer) => answer,
            None => (false, self.uncached_descriptors(jid, &records)?),
        };
        if let (Some(photo), Some(id), true) = (photo, id, accepted) {
            for item in list.iter() {
                let descriptor = item.cast::<AbstractAvatarDescriptor>()?;
                let mut d = descriptor.borrow_mut();
                // Only our own answer: a newer event may have won the race.
                if d.record.kind() == SourceKind::VCard && d.record.id() == id {
                    d.image_bytes = Some(photo.clone().unbind());
                }
            }
        }
        Ok((changed, list))
    }

    /// A PEP notification of `jid`'s metadata node: the new descriptor list
    /// when it changed, else None.
    fn pep_notification<'py>(
        &mut self,
        jid: &Bound<'py, PyAny>,
        item: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some(infos) = Infos::read(item)? else {
            return Ok(None);
        };
        let key = jid_key(jid)?;
        match self.session.pep_notification(&key, &infos.raws()) {
            (Stored::Unchanged, _) => Ok(None),
            // Kept as the entry's view: a lookup that follows returns the
            // list the listeners got, as aioxmpp's does.
            (Stored::Changed, records) => match self.cached_view(jid, &key, ViewFor::Event)? {
                Some(list) => Ok(Some(list)),
                None => self.uncached_descriptors(jid, &records).map(Some),
            },
        }
    }

    /// A presence (available or changed) from `full_jid`; `has_update` says
    /// whether it carried `vcard-temp:x:update`, `photo` is its `<photo/>`.
    /// Returns `(jid, descriptors)` when that JID's avatar changed (else
    /// None) and a rehash token when our own vCard hash must be recomputed.
    #[pyo3(signature = (full_jid, local_jid, has_update, photo, muc))]
    #[allow(clippy::type_complexity)]
    fn presence<'py>(
        &mut self,
        full_jid: &Bound<'py, PyAny>,
        local_jid: &Bound<'py, PyAny>,
        has_update: bool,
        photo: Option<&str>,
        muc: bool,
    ) -> PyResult<(Option<(Bound<'py, PyAny>, Bound<'py, PyList>)>, Option<u64>)> {
        let full = jid_key(full_jid)?;
        let local = jid_key(local_jid)?;
        let bare = jid_key_of(full_jid, false)?;
        let outcome = self.session.presence(&Presence {
            from_full: &full,
            from_bare: &bare,
            own_other_resource: full.is_other_resource_of(&local),
            muc,
            update: has_update.then_some(photo),
        });
        let changed = match outcome.changed {
            None => None,
            Some(for_full) => {
                let (jid, key) = if for_full {
                    (full_jid.clone(), full)
                } else {
                    (full_jid.call_method0(intern!(full_jid.py(), "bare"))?, bare)
                };
                self.cached_view(&jid, &key, ViewFor::Event)?
                    .map(|list| (jid, list))
            }
        };
        Ok((changed, outcome.rehash.map(|t| t.0)))
    }

    /// A presence of type unavailable from `full_jid`; returns a rehash
    /// token when our own vCard hash must be recomputed.
    fn unavailable(
        &mut self,
        full_jid: &Bound<'_, PyAny>,
        local_jid: &Bound<'_, PyAny>,
        muc: bool,
    ) -> PyResult<Option<u64>> {
        let (from, local) = (jid_key(full_jid)?, jid_key(local_jid)?);
        let own = from.is_other_resource_of(&local);
        Ok(self.session.unavailable(&from, own, muc).map(|t| t.0))
    }

    /// What to put into an outgoing presence: `(attach, photo)`; with
    /// `attach` false the presence is left alone, a None photo means an
    /// empty `<x/>`.
    fn advertisement(&self) -> (bool, Option<String>) {
        match self.session.vcard.advertisement() {
            Advertisement::Untouched => (false, None),
            Advertisement::NotReady => (true, None),
            Advertisement::Photo(hash) => (true, Some(hash)),
        }
    }

    /// Whether our vCard hash is advertised in presence.
    #[getter]
    fn get_advertise(&self) -> bool {
        self.session.vcard.advertise()
    }

    /// Switch advertising; returns a rehash token when switched on.
    fn set_advertise(&mut self, on: bool) -> Option<u64> {
        self.session.vcard.set_advertise(on).map(|t| t.0)
    }

    /// Whether `token` is the rehash currently running.
    fn is_current_rehash(&self, token: u64) -> bool {
        self.session.vcard.is_current_rehash(RehashToken(token))
    }

    /// A rehash fetched our vCard: `photo` is its PHOTO data (None: none).
    fn finish_rehash(&mut self, py: Python<'_>, token: u64, photo: Option<&[u8]>) {
        let hash = py.detach(|| photo.map(sha1_hex).unwrap_or_default());
        self.session
            .vcard
            .finish_rehash(RehashToken(token), Some(&hash));
    }

    /// A rehash failed: the hash stays unknown.
    fn fail_rehash(&mut self, token: u64) {
        self.session.vcard.finish_rehash(RehashToken(token), None);
    }

    /// We published (or, with "", cleared) our vCard photo ourselves.
    fn set_own_hash(&mut self, hash: &str) {
        self.session.vcard.set_own_hash(hash);
    }

    /// The hash we know for our own vCard photo.
    #[getter]
    fn get_own_hash(&self) -> Option<&str> {
        self.session.vcard.own_hash()
    }

    /// Refuse a fetch before any IQ: the advertised size is over the limit
    /// (`ImageTooLargeError`), or the same fetch failed recently
    /// (`ImageUnavailableError`).
    #[pyo3(signature = (jid, id_, nbytes))]
    fn check_fetch(
        &mut self,
        jid: &Bound<'_, PyAny>,
        id_: &str,
        nbytes: Option<i64>,
    ) -> PyResult<()> {
        let images = self.images.try_borrow(jid.py())?;
        if images.0.advertised_too_large(nbytes) {
            return Err(ImageTooLargeError::new_err(format!(
                "avatar {id_} of {} is advertised with {} bytes, over the limit of {} bytes; not fetched",
                jid.str()?,
                nbytes.unwrap_or_default(),
                images.0.max_image_bytes()
            )));
        }
        drop(images);
        if self
            .session
            .recently_failed(&jid_key(jid)?, id_, Instant::now())
        {
            let ttl = self.session.negative_ttl().as_secs();
            return Err(ImageUnavailableError::new_err(format!(
                "fetching avatar {id_} of {} failed less than {ttl} s ago; not retried yet",
                jid.str()?
            )));
        }
        Ok(())
    }

    /// The current stream's number: pass it to `record_fetch_failure`.
    #[getter]
    fn get_epoch(&self) -> u64 {
        self.session.epoch()
    }

    /// Remember that fetching `id_` for `jid`, started during stream
    /// `epoch`, failed (a failure from an older stream is not kept).
    fn record_fetch_failure(
        &mut self,
        jid: &Bound<'_, PyAny>,
        id_: &str,
        epoch: u64,
    ) -> PyResult<()> {
        self.session
            .record_failure(&jid_key(jid)?, id_, Instant::now(), epoch);
        Ok(())
    }

    /// Count an IQ sent.
    fn count_iq(&mut self, kind: IqKind) {
        self.session.count_iq(kind.into());
    }

    /// Count a request that joined one already in flight.
    fn count_coalesced(&mut self) {
        self.session.stats.requests_coalesced += 1;
    }

    /// Counters of the work done so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.session.stats;
        let d = super::counters(
            py,
            &[
                ("cache_hits", s.cache_hits),
                ("cache_misses", s.cache_misses),
                ("iq_metadata", s.iq_metadata),
                ("iq_data", s.iq_data),
                ("iq_vcard", s.iq_vcard),
                ("requests_coalesced", s.requests_coalesced),
                ("negative_cache_hits", s.negative_cache_hits),
                ("infos_dropped", s.infos_dropped),
                ("presence_hashes_ignored", s.presence_hashes_ignored),
                ("metadata_evictions", self.session.cache.evictions),
            ],
        )?;
        d.set_item("cached_jids", self.session.cache.len())?;
        Ok(d)
    }

    /// Forget everything tied to the connection (stream destroyed).
    fn clear(&mut self) {
        self.session.clear();
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.images)?;
        let h = &self.helpers;
        for obj in [&h.fetcher, &h.pubsub, &h.vcard].into_iter().flatten() {
            visit.call(obj)?;
        }
        for view in self.session.cache.views() {
            visit.call(view)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.helpers = Helpers {
            fetcher: None,
            pubsub: None,
            vcard: None,
        };
        self.session.cache.clear();
    }
}
