"""The aioxmpp service: User Avatars (XEP-0084) with the vCard-based fallback
(XEP-0153), a drop-in for :class:`aioxmpp.avatar.AvatarService`.

This module only wires aioxmpp to the Rust core: it subscribes to aioxmpp's
signals and filters, sends the IQs, and owns the asyncio objects (the
publish lock, the shared in-flight requests, the rehash task). Every
decision about avatars (what is valid, what changed, what to cache, evict,
fetch or advertise) is taken by the core's ``AvatarSession``
(:mod:`aioxmpp_avatar._core`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar, Union

import aioxmpp
import aioxmpp.avatar.xso as avatar_xso
import aioxmpp.callbacks as callbacks
import aioxmpp.disco as disco
import aioxmpp.forms
import aioxmpp.pep as pep
import aioxmpp.presence as presence
import aioxmpp.pubsub as pubsub
import aioxmpp.service as service
import aioxmpp.stream
import aioxmpp.vcard as vcard
from aioxmpp.utils import gather_reraise_multi, namespaces

from . import _core, _fetch
from ._core import (  # noqa: F401 - re-exported, as aioxmpp.avatar.service does
    AbstractAvatarDescriptor,
    AvatarError,
    AvatarImageError,
    AvatarSet,
    AvatarSetError,
    HttpAvatarDescriptor,
    ImageConversion,
    ImageTooLargeError,
    ImageUnavailableError,
    IntegrityError,
    PubsubAvatarDescriptor,
    VCardAvatarDescriptor,
    normalize_id,
)

__all__ = [
    "AbstractAvatarDescriptor",
    "AvatarError",
    "AvatarImageError",
    "AvatarService",
    "AvatarSet",
    "AvatarSetError",
    "HttpAvatarDescriptor",
    "ImageConversion",
    "ImageTooLargeError",
    "ImageUnavailableError",
    "IntegrityError",
    "PubsubAvatarDescriptor",
    "VCardAvatarDescriptor",
    "normalize_id",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: XEP-0398: the server converts between the PEP avatar and the vCard photo.
NS_PEP_VCARD_CONVERSION = "urn:xmpp:pep-vcard-conversion:0"


class AvatarService(service.Service):  # type: ignore[misc]  # aioxmpp is untyped
    """Read, watch and publish User Avatars (XEP-0084), falling back to
    vCard-based avatars (XEP-0153) for entities without a PEP avatar.

    Behaves as :class:`aioxmpp.avatar.AvatarService`; on top of it, fetched
    images are verified and kept in a shared store, concurrent requests share
    one IQ, all per-JID state is bounded, and publishing can set the access
    model. See :meth:`stats` for what it saved.

    .. signal:: on_metadata_changed(jid, metadata)

        The avatar of `jid` changed; `metadata` is the new list of
        descriptors (empty: no avatar).
    """

    ORDER_AFTER = [
        disco.DiscoClient,
        disco.DiscoServer,
        pubsub.PubSubClient,
        pep.PEPClient,
        vcard.VCardService,
        presence.PresenceClient,
        presence.PresenceServer,
    ]

    avatar_pep = pep.register_pep_node(namespaces.xep0084_metadata, notify=True)

    on_metadata_changed = callbacks.Signal()

    def __init__(self, client: aioxmpp.Client, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._pubsub = self.dependencies[pubsub.PubSubClient]
        self._pep = self.dependencies[pep.PEPClient]
        self._presence_server = self.dependencies[presence.PresenceServer]
        self._disco = self.dependencies[disco.DiscoClient]
        self._vcard = self.dependencies[vcard.VCardService]
        self._images = _core.ImageStore()
        self._directory = _core.ImageDirectory()
        self._session = _core.AvatarSession(
            self._images, self._get_image_bytes, self._pubsub, self._vcard)
        self._publish_lock = asyncio.Lock()
        self._synchronize_vcard = False
        self._default_access_model: Optional[str] = None
        self._request_slots: Optional[asyncio.Semaphore] = None
        #: domain -> [its share of the slots, requests waiting or running]
        self._domain_slots: dict[str, list[Any]] = {}
        self._metadata_requests: dict[Any, asyncio.Future[Any]] = {}
        self._image_requests: dict[Any, asyncio.Future[Any]] = {}
        self._image_requests_by_id: dict[str, asyncio.Future[Any]] = {}
        self._rehash_task: Optional[asyncio.Future[None]] = None
        self._server_converts_vcard: Optional[bool] = None
        # The signal object itself: reading the attribute goes through
        # aioxmpp's descriptor (two Python calls and a weak reference),
        # which would cost about a tenth of a notification.
        self._metadata_changed = self.on_metadata_changed

    # -- configuration -----------------------------------------------------

    @property
    def metadata_cache_size(self) -> int:
        """Most JIDs whose avatar metadata is cached (LRU; default 200)."""
        return self._session.metadata_cache_size

    @metadata_cache_size.setter
    def metadata_cache_size(self, value: int) -> None:
        self._session.metadata_cache_size = value

    @property
    def synchronize_vcard(self) -> bool:
        """Also publish the avatar as vCard photo (default False). Takes
        effect at the next :meth:`publish_avatar_set` or
        :meth:`disable_avatar`."""
        return self._synchronize_vcard

    @synchronize_vcard.setter
    def synchronize_vcard(self, value: bool) -> None:
        self._synchronize_vcard = bool(value)

    @property
    def advertise_vcard(self) -> bool:
        """Advertise our vCard photo hash in presence (default True).
        Switching it on fetches our vCard to recompute the hash."""
        return self._session.advertise

    @advertise_vcard.setter
    def advertise_vcard(self, value: bool) -> None:
        token = self._session.set_advertise(bool(value))
        if token is not None:
            self._start_rehash(token)

    @property
    def image_directory(self) -> Optional[os.PathLike[str]]:
        """Directory that keeps verified images across restarts (None:
        memory only), created if missing. It may be shared by several
        processes. Refused with :class:`ValueError` if it is a link, not a
        directory, or writable or owned by other users. Files are read
        without following links, verified against their SHA-1 name, and
        all disk work runs off the event loop."""
        return self._directory.path

    @image_directory.setter
    def image_directory(self, path: Union[str, os.PathLike[str], None]) -> None:
        self._directory.path = None if path is None else str(path)

    @property
    def image_directory_budget(self) -> Optional[int]:
        """Bytes of image files kept in :attr:`image_directory` at most
        (default 64 MiB; None: unbounded); the least recently used files of
        every process sharing the directory are removed first, at the next
        write."""
        return self._directory.budget

    @image_directory_budget.setter
    def image_directory_budget(self, value: Optional[int]) -> None:
        self._directory.budget = value

    @property
    def image_memory_budget(self) -> int:
        """Bytes of verified images kept in memory (LRU; default 16 MiB),
        shared by every JID and descriptor of this service."""
        return self._images.budget

    @image_memory_budget.setter
    def image_memory_budget(self, value: int) -> None:
        self._images.budget = value

    @property
    def max_image_bytes(self) -> int:
        """Largest image fetched or accepted, in bytes (default 1 MiB);
        larger ones are refused with :class:`ImageTooLargeError`, before
        any IQ when advertised as such."""
        return self._images.max_image_bytes

    @max_image_bytes.setter
    def max_image_bytes(self, value: int) -> None:
        self._images.max_image_bytes = value

    @property
    def max_infos(self) -> int:
        """Most ``<info/>`` entries taken from one metadata item (default
        16); the rest are ignored."""
        return self._session.max_infos

    @max_infos.setter
    def max_infos(self, value: int) -> None:
        self._session.max_infos = value

    @property
    def negative_ttl(self) -> float:
        """Seconds a failed image fetch for one (JID, id) is not retried
        (default 300); meanwhile :meth:`~AbstractAvatarDescriptor.get_image_bytes`
        raises :class:`ImageUnavailableError` at once. A notification naming
        the id again allows a retry straight away."""
        return self._session.negative_ttl

    @negative_ttl.setter
    def negative_ttl(self, seconds: float) -> None:
        self._session.negative_ttl = seconds

    @property
    def max_concurrent_requests(self) -> int:
        """Most avatar IQs outstanding at once (default 128)."""
        return self._session.max_concurrent_requests

    @max_concurrent_requests.setter
    def max_concurrent_requests(self, value: int) -> None:
        self._session.max_concurrent_requests = value
        self._request_slots = None
        self._domain_slots = {}

    @property
    def request_timeout(self) -> float:
        """Seconds one avatar IQ may take, waiting for a free slot included
        (default 30). On expiry every waiter gets
        :class:`asyncio.TimeoutError`, the slot is freed, nothing is
        cached."""
        return self._session.request_timeout

    @request_timeout.setter
    def request_timeout(self, seconds: float) -> None:
        self._session.request_timeout = seconds

    @property
    def default_access_model(self) -> Optional[str]:
        """Access model used by :meth:`publish_avatar_set` when none is
        given (None: leave the server's default)."""
        return self._default_access_model

    @default_access_model.setter
    def default_access_model(self, value: Optional[str]) -> None:
        if value is not None:
            _core.check_access_model(value)
        self._default_access_model = value

    def stats(self) -> dict[str, int]:
        """Counters of the work done: cache hits and misses, IQs sent per
        kind, requests coalesced, bytes verified, integrity failures,
        evictions, negative-cache hits and more, as a dict."""
        return {**self._session.stats(), **self._images.stats(),
                **self._directory.stats()}

    # -- reading avatars ---------------------------------------------------

    async def get_avatar_metadata(
        self, jid: aioxmpp.JID, *, require_fresh: bool = False,
        disable_pep: bool = False,
    ) -> list[AbstractAvatarDescriptor]:
        """The avatar descriptors of `jid` (an empty list: no avatar).

        Cached unless `require_fresh`; otherwise asks the PEP metadata node,
        where ``feature-not-implemented`` and ``item-not-found`` mean "no
        avatar" and other errors propagate, then falls back to the vCard
        for JIDs that never had a PEP avatar (`disable_pep` skips PEP, e.g.
        for MUC occupants). Concurrent calls for one JID share one request.
        """
        if not require_fresh:
            cached = self._session.cached_metadata(jid)
            if cached is not None:
                return cached
        metadata: list[AbstractAvatarDescriptor] = await self._join(
            self._metadata_requests, (jid, disable_pep),
            functools.partial(self._fetch_metadata, jid, require_fresh,
                              disable_pep),
        )
        return metadata

    async def subscribe(self, jid: aioxmpp.JID) -> None:
        """Subscribe explicitly to avatar metadata notifications of `jid`."""
        await self._pubsub.subscribe(jid, namespaces.xep0084_metadata)

    async def _fetch_metadata(
        self, jid: aioxmpp.JID, require_fresh: bool, disable_pep: bool,
    ) -> list[AbstractAvatarDescriptor]:
        session = self._session
        token = session.begin_request(jid, require_fresh, disable_pep)
        try:
            answer = None
            if not disable_pep:
                items = await self._request_pep_metadata(jid)
                answer = session.finish_pep(jid, token, items)
            if answer is None:
                card = await self._request(
                    _core.IqKind.VCARD, jid, self._vcard.get_vcard, jid)
                photo = _fetch.photo_of(card)
                mime_type = card.get_photo_mime_type() if photo is not None else None
                answer = session.finish_vcard(jid, token, photo, mime_type)
        except BaseException:
            session.abort_request(jid)
            raise
        changed, metadata = answer
        if changed:
            self._metadata_changed(jid, metadata)
        return metadata

    async def _request_pep_metadata(self, jid: aioxmpp.JID) -> Optional[Any]:
        """The items of `jid`'s metadata node, or None for no node."""
        try:
            result = await self._request(
                _core.IqKind.METADATA, jid, self._pubsub.get_items, jid,
                namespaces.xep0084_metadata, max_items=1)
        except aioxmpp.XMPPCancelError as exc:
            if _core.means_no_avatar(exc.condition.value[1]):
                return None
            raise
        return result.payload.items

    async def _get_image_bytes(self, descriptor: AbstractAvatarDescriptor) -> bytes:
        """The fetcher of the descriptors this service builds (see
        :class:`_core.AvatarSession`): image bytes from memory, the image
        directory, else fetched once for all askers of that JID, verified
        and stored.

        A fetch of the same id from another JID may be joined (verified
        bytes are the same bytes), but its failure or time-out is never
        ours: then we fetch from our own JID."""
        given = _fetch.given_bytes(descriptor)
        if given is not None:
            return given
        jid, id_ = descriptor.remote_jid, descriptor.id_
        data = self._images.get(id_)
        if data is None and self._directory.path is not None:
            data = await self._read_directory(id_)
        if data is not None:
            return data
        self._session.check_fetch(jid, id_, descriptor.nbytes)
        key = (descriptor.normalized_id, jid)
        by_id = self._image_requests_by_id
        if key not in self._image_requests:
            other = by_id.get(descriptor.normalized_id)
            if other is not None:
                try:
                    joined = await asyncio.shield(other)
                except asyncio.CancelledError:
                    if not other.cancelled():
                        raise
                except Exception:  # noqa: BLE001 - the other JID's failure
                    pass
                else:
                    self._session.count_coalesced()
                    return self._images.put(id_, descriptor.nbytes, joined)
        waiter = self._join(
            self._image_requests, key,
            functools.partial(self._fetch_image, descriptor),
        )
        task = self._image_requests.get(key)
        if task is not None and descriptor.normalized_id not in by_id:
            by_id[descriptor.normalized_id] = task
            task.add_done_callback(functools.partial(
                _forget_request, by_id, descriptor.normalized_id))
        data = await waiter
        assert isinstance(data, bytes)
        return data

    async def _fetch_image(self, descriptor: AbstractAvatarDescriptor) -> bytes:
        """One IQ for the image of `descriptor`, verified, stored in memory
        and in the image directory; a failure is remembered."""
        jid, id_ = descriptor.remote_jid, descriptor.id_
        kind = (_core.IqKind.DATA if isinstance(descriptor, PubsubAvatarDescriptor)
                else _core.IqKind.VCARD)
        epoch = self._session.epoch
        try:
            data = await self._request(
                kind, jid, _fetch.request_image_data, descriptor,
                pubsub=self._pubsub, vcard=self._vcard,
            )
            data = self._images.put(id_, descriptor.nbytes, data)
        except asyncio.CancelledError:
            raise
        except IntegrityError as exc:
            logger.warning("avatar %s of %s rejected: %s", id_, jid, exc)
            self._session.record_fetch_failure(jid, id_, epoch)
            raise
        except Exception:
            self._session.record_fetch_failure(jid, id_, epoch)
            raise
        if self._directory.path is not None:
            problem = await asyncio.to_thread(self._directory.write, id_, data)
            if problem is not None:
                logger.warning("%s", problem)
        return data

    async def _read_directory(self, id_: str) -> Optional[bytes]:
        """Verified bytes of `id_` from :attr:`image_directory` (read in a
        worker thread), kept in memory too; None when not there."""
        data, problem = await asyncio.to_thread(
            self._directory.read, id_, self._images.max_image_bytes)
        if problem is not None:
            logger.warning("%s", problem)
        if data is not None:
            self._images.remember(id_, data)
        return data

    async def _request(
        self, kind: _core.IqKind, jid: aioxmpp.JID,
        send: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any,
    ) -> T:
        """``await send(*args, **kwargs)``: one avatar IQ to `jid`, counted
        by `kind`, within :attr:`request_timeout` (waiting for a slot
        included), within the concurrency limit and within its domain's
        share of it, so silent peers of one domain never hold every slot."""
        return await asyncio.wait_for(
            self._request_in_slots(kind, jid.domain, send, *args, **kwargs),
            self._session.request_timeout,
        )

    async def _request_in_slots(
        self, kind: _core.IqKind, domain: str,
        send: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any,
    ) -> T:
        if self._request_slots is None:
            self._request_slots = asyncio.Semaphore(
                self._session.max_concurrent_requests)
        slots = self._domain_slots.get(domain)
        if slots is None:
            share = self._session.domain_share
            slots = self._domain_slots[domain] = [asyncio.Semaphore(share), 0]
        slots[1] += 1
        try:
            async with slots[0], self._request_slots:
                self._session.count_iq(kind)
                return await send(*args, **kwargs)
        finally:
            slots[1] -= 1
            if slots[1] == 0 and self._domain_slots.get(domain) is slots:
                del self._domain_slots[domain]

    def _join(
        self, table: dict[Any, asyncio.Future[Any]], key: Any,
        start: Callable[[], Awaitable[Any]],
    ) -> asyncio.Future[Any]:
        """Await the request in flight under `key`, or start it. Waiters are
        shielded: one waiter's cancellation does not cancel the others."""
        task = table.get(key)
        if task is None:
            task = asyncio.ensure_future(start())
            table[key] = task
            task.add_done_callback(functools.partial(_forget_request, table, key))
        else:
            self._session.count_coalesced()
        return asyncio.shield(task)

    # -- events ------------------------------------------------------------

    @service.attrsignal(avatar_pep, "on_item_publish")
    def _handle_pubsub_publish(
        self, jid: aioxmpp.JID, node: str, item: Any, *, message: Any = None,
    ) -> None:
        # try/except, not a context manager: this runs per notification,
        # and entering a generator-based one costs more than the rest.
        try:
            metadata = self._session.pep_notification(jid, item)
            if metadata is not None:
                self._metadata_changed(jid, metadata)
        except Exception:  # noqa: BLE001 - logged with its traceback
            _log_handler_error("PEP notification from %s", jid)

    @service.depsignal(presence.PresenceClient, "on_available")
    def _handle_on_available(self, full_jid: aioxmpp.JID, stanza: Any) -> None:
        self._handle_presence(full_jid, stanza)

    @service.depsignal(presence.PresenceClient, "on_changed")
    def _handle_on_changed(self, full_jid: aioxmpp.JID, stanza: Any) -> None:
        self._handle_presence(full_jid, stanza)

    def _handle_presence(self, full_jid: aioxmpp.JID, stanza: Any) -> None:
        try:
            update = stanza.xep0153_x
            changed, rehash = self._session.presence(
                full_jid, self.client.local_jid, update is not None,
                update.photo if update is not None else None, _is_muc(stanza),
            )
            if changed is not None:
                self._metadata_changed(*changed)
            if rehash is not None:
                self._start_rehash(rehash)
        except Exception:  # noqa: BLE001 - logged with its traceback
            _log_handler_error("presence from %s", full_jid)

    @service.depsignal(presence.PresenceClient, "on_unavailable")
    def _handle_on_unavailable(self, full_jid: aioxmpp.JID, stanza: Any) -> None:
        try:
            rehash = self._session.unavailable(
                full_jid, self.client.local_jid, _is_muc(stanza))
            if rehash is not None:
                self._start_rehash(rehash)
        except Exception:  # noqa: BLE001 - logged with its traceback
            _log_handler_error("unavailable presence from %s", full_jid)

    @service.depfilter(aioxmpp.stream.StanzaStream,
                       "service_outbound_presence_filter")
    def _attach_vcard_notify_to_presence(self, stanza: Any) -> Any:
        attach, photo = self._session.advertisement()
        if attach:
            stanza.xep0153_x = avatar_xso.VCardTempUpdate(photo)
        return stanza

    @service.depsignal(aioxmpp.stream.StanzaStream, "on_stream_destroyed")
    def handle_stream_destroyed(self, reason: Optional[BaseException]) -> None:
        """Forget everything tied to the connection that ended."""
        self._session.clear()
        self._server_converts_vcard = None

    def _start_rehash(self, token: int) -> None:
        """Recompute our vCard hash in the background (XEP-0153 §4.3);
        until it is known, presences say "not ready"."""
        if self._rehash_task is not None:
            self._rehash_task.cancel()
        self._presence_server.resend_presence()
        self._rehash_task = asyncio.ensure_future(self._rehash(token))

    async def _rehash(self, token: int) -> None:
        session = self._session
        try:
            photo = _fetch.photo_of(await self._vcard.get_vcard())
        except asyncio.CancelledError:
            session.fail_rehash(token)
            raise
        except Exception as exc:  # noqa: BLE001 - reported, hash stays unknown
            logger.warning("could not fetch our vCard to hash its photo: %s", exc)
            session.fail_rehash(token)
            return
        if session.is_current_rehash(token):
            session.finish_rehash(token, photo)
            self._presence_server.resend_presence()

    # -- publishing --------------------------------------------------------

    async def publish_avatar_set(
        self, avatar_set: AvatarSet, *, access_model: Optional[str] = None,
    ) -> None:
        """Make `avatar_set` our avatar: the PNG data, then the metadata,
        over PEP; with :attr:`synchronize_vcard` also as vCard photo.

        `access_model` (default :attr:`default_access_model`), e.g.
        ``"open"``, is requested with publish-options so that people who are
        not contacts (MUC members) can see the avatar; a node configured
        otherwise is reconfigured once. Raises, before sending anything,
        :class:`AvatarSetError` when the set has no PNG data and
        ``ValueError`` for an access model XEP-0060 does not define; raises
        ``RuntimeError`` when neither PEP nor vCard publishing is available.
        """
        id_ = _core.check_publishable(avatar_set.png_id, avatar_set.image_bytes)
        if access_model is None:
            access_model = self._default_access_model
        if access_model is not None:
            _core.check_access_model(access_model)
        done = False
        async with self._publish_lock:
            if await self._pep.available():
                await self._publish(namespaces.xep0084_data,
                                    avatar_xso.Data(avatar_set.image_bytes),
                                    id_, access_model)
                await self._publish(namespaces.xep0084_metadata, avatar_set.metadata,
                                    id_, access_model)
                done = True
            if self._synchronize_vcard:
                if not await self._server_converts_vcard_avatars():
                    card = await self._vcard.get_vcard()
                    card.set_photo_data("image/png", avatar_set.image_bytes)
                    await self._vcard.set_vcard(card)
                self._session.set_own_hash(id_)
                self._presence_server.resend_presence()
                done = True
        if not done:
            raise AvatarError(
                "failed to publish avatar: the server offers neither PEP nor "
                "vCard publishing (enable synchronize_vcard for vCard)"
            )

    async def disable_avatar(self) -> None:
        """Publish empty metadata (the avatar is hidden, its data stays);
        with :attr:`synchronize_vcard` also clear the vCard photo. Errors of
        both parts are gathered into one ``aioxmpp.errors.GatherError``."""
        async with self._publish_lock:
            todo: list[Awaitable[Any]] = []
            if self._synchronize_vcard:
                todo.append(self._disable_vcard_avatar())
            if await self._pep.available():
                todo.append(self._pep.publish(namespaces.xep0084_metadata,
                                              avatar_xso.Metadata()))
            await gather_reraise_multi(*todo, message="disable_avatar")

    async def wipe_avatar(self) -> None:
        """As :meth:`disable_avatar`, and remove the image data from the
        server: the data node is purged (its items are deleted, its
        configuration such as the access model stays), so the old image
        cannot be fetched any more."""
        async with self._publish_lock:
            todo: list[Awaitable[Any]] = []
            if self._synchronize_vcard:
                todo.append(self._disable_vcard_avatar())
            if await self._pep.available():
                todo.append(self._wipe_pep_avatar())
            await gather_reraise_multi(*todo, message="wipe_avatar")

    async def _wipe_pep_avatar(self) -> None:
        await self._pep.publish(namespaces.xep0084_metadata, avatar_xso.Metadata())
        own = self.client.local_jid.bare()
        try:
            await self._pubsub.purge(own, namespaces.xep0084_data)
        except aioxmpp.XMPPCancelError as exc:
            fallback = _core.purge_fallback(exc.condition.value[1])
            if fallback == _core.PurgeFallback.RAISE:
                raise
            if fallback == _core.PurgeFallback.OVERWRITE:
                await self._pep.publish(namespaces.xep0084_data, avatar_xso.Data(b""))

    async def _disable_vcard_avatar(self) -> None:
        if not await self._server_converts_vcard_avatars():
            card = await self._vcard.get_vcard()
            card.clear_photo_data()
            await self._vcard.set_vcard(card)
        self._session.set_own_hash("")
        self._presence_server.resend_presence()

    async def _publish(
        self, node: str, payload: Any, id_: Optional[str],
        access_model: Optional[str],
    ) -> Any:
        """Publish one item; when the node's access model conflicts with
        the requested one (XEP-0060 §7.1.5), reconfigure it and retry once."""
        try:
            return await self._pep.publish(node, payload, id_=id_,
                                           access_model=access_model)
        except aioxmpp.XMPPCancelError as exc:
            if access_model is None or exc.condition != aioxmpp.ErrorCondition.CONFLICT:
                raise
        await self._configure_access_model(node, access_model)
        return await self._pep.publish(node, payload, id_=id_,
                                       access_model=access_model)

    async def _configure_access_model(self, node: str, access_model: str) -> None:
        own = self.client.local_jid.bare()
        form = await self._pubsub.get_node_config(own, node)
        submit = aioxmpp.forms.Data(aioxmpp.forms.DataType.SUBMIT)
        for field in form.fields:
            if field.var == "FORM_TYPE":
                submit.fields.append(aioxmpp.forms.Field(
                    type_=aioxmpp.forms.FieldType.HIDDEN, var=field.var,
                    values=list(field.values)))
        submit.fields.append(aioxmpp.forms.Field(
            var="pubsub#access_model", values=[access_model]))
        await self._pubsub.set_node_config(own, submit, node)

    async def _server_converts_vcard_avatars(self) -> bool:
        """Whether our server keeps the vCard photo and the PEP avatar in
        sync itself (XEP-0398), so we must not also rewrite the vCard."""
        if self._server_converts_vcard is None:
            try:
                info = await asyncio.wait_for(
                    self._disco.query_info(self.client.local_jid.bare()),
                    self._session.request_timeout)
            except Exception as exc:  # noqa: BLE001 - any failure: no conversion
                logger.info("no XEP-0398 answer from our server (%r): "
                            "writing the vCard ourselves", exc)
                return False
            self._server_converts_vcard = NS_PEP_VCARD_CONVERSION in info.features
        return bool(self._server_converts_vcard)


def _log_handler_error(what: str, jid: aioxmpp.JID) -> None:
    """Log the exception being handled in a handler of an aioxmpp signal,
    which must never propagate: it would disconnect the handler for good."""
    logger.exception("avatar service: error handling " + what, jid)


def _is_muc(stanza: Any) -> bool:
    """Whether a presence comes from a MUC occupant (XEP-0045 user <x/>)."""
    return getattr(stanza, "xep0045_muc_user", None) is not None


def _forget_request(
    table: dict[Any, asyncio.Future[Any]], key: Any, task: asyncio.Future[Any],
) -> None:
    """Done-callback of a shared request: drop it from its table and mark
    its exception as retrieved (every waiter got it through the shield)."""
    if table.get(key) is task:
        del table[key]
    if not task.cancelled():
        task.exception()
