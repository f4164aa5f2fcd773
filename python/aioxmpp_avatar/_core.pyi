"""Type stubs for the Rust extension module ``aioxmpp_avatar._core``."""

import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, Optional, Union, final

from typing_extensions import Self, disjoint_base

__all__ = [
    "__version__",
    "DEFAULT_MAX_IMAGE_BYTES",
    "normalize_id",
    "means_no_avatar",
    "verify_image",
    "check_publishable",
    "check_access_model",
    "png_dimensions",
    "purge_fallback",
    "PurgeFallback",
    "IqKind",
    "ImageStore",
    "AvatarSession",
    "AvatarSet",
    "AbstractAvatarDescriptor",
    "PubsubAvatarDescriptor",
    "HttpAvatarDescriptor",
    "VCardAvatarDescriptor",
    "ImageDirectory",
    "AvatarError",
    "AvatarSetError",
    "AvatarImageError",
    "ImageConversion",
    "IntegrityError",
    "ImageTooLargeError",
    "ImageUnavailableError",
]

#: The package version (Cargo.toml's, the one version source).
__version__: str
#: Largest image (in bytes) accepted by default when fetching and verifying.
DEFAULT_MAX_IMAGE_BYTES: int

# --- functions -------------------------------------------------------------

def normalize_id(id_: str) -> str:
    """Lowercase form of a hex SHA-1 id (ASCII letters only change)."""

def means_no_avatar(condition: str) -> bool:
    """Whether an XMPP error condition name means "this JID has no avatar"."""

def verify_image(
    id_: str,
    nbytes: Optional[int],
    data: bytes,
    max_bytes: int = ...,
) -> bytes:
    """Return `data` if it matches the SHA-1 `id_` and size, else raise."""

def check_publishable(png_id: Optional[str], image_bytes: Optional[object]) -> str:
    """The id to publish under; AvatarSetError unless the set is publishable."""

def png_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if unreadable."""

@final
class PurgeFallback:
    """What wipe_avatar does after a failed purge of our data node."""
    DONE: PurgeFallback
    OVERWRITE: PurgeFallback
    RAISE: PurgeFallback
    def __eq__(self, value: object, /) -> bool: ...
    def __int__(self) -> int: ...

def purge_fallback(condition: str) -> PurgeFallback:
    """After a failed purge with this error condition, what to do."""

def check_access_model(model: str) -> None:
    """Raise ValueError unless `model` is an access model of XEP-0060."""

# --- exceptions ------------------------------------------------------------

class AvatarError(RuntimeError):
    """Base class of every error raised by aioxmpp_avatar (a RuntimeError)."""

class AvatarSetError(AvatarError):
    """An AvatarSet rule was broken, or the set cannot be published as it is."""

class AvatarImageError(AvatarSetError):
    """The image given to AvatarSet.from_image cannot become an avatar."""

class IntegrityError(AvatarError):
    """Fetched image data does not match the advertised SHA-1 id or size."""

class ImageTooLargeError(AvatarError):
    """The image is larger than the configured limit; it was not fetched."""

class ImageUnavailableError(AvatarError):
    """The peer has no image data for this avatar, or fetching it failed recently."""

# --- AvatarSet -------------------------------------------------------------

@final
class ImageConversion:
    """What AvatarSet.from_image did; str() says it in one line."""
    @property
    def input_format(self) -> str:
        """"PNG", "JPEG", "WebP" or "GIF"."""
    @property
    def input_size(self) -> tuple[int, int]:
        """Width and height of the input as stored."""
    @property
    def input_bytes(self) -> int:
        """Length of the input in bytes."""
    @property
    def size(self) -> int:
        """Side of the square output in pixels."""
    @property
    def output_bytes(self) -> int:
        """Length of the output PNG in bytes."""
    @property
    def rotated(self) -> bool:
        """Whether an EXIF orientation was applied."""
    @property
    def removed(self) -> list[str]:
        """The kinds of metadata found in the input and left out."""

@disjoint_base
class AvatarSet:
    """The sources of one avatar image, built for publishing."""

    def __new__(cls, *_args: Any, **_kwargs: Any) -> Self: ...
    @classmethod
    def from_image(
        cls, data: Union[bytes, bytearray, memoryview], *, max_size: int = 192,
        max_bytes: int = 98304,
    ) -> Self:
        """One clean, square image/png source made from any photo."""
    @property
    def conversion(self) -> Optional[ImageConversion]:
        """What from_image did to the input (None for other sets)."""
    def __copy__(self) -> Self:
        """A copy with the same sources."""
    def __deepcopy__(self, memo: Any, /) -> Self:
        """A copy with the same sources (image bytes are shared)."""
    @property
    def image_bytes(self) -> Optional[bytes]:
        """The ``image/png`` image data, once added."""
    @property
    def png_id(self) -> Optional[str]:
        """The normalised SHA-1 of the ``image/png`` image data, once added."""
    @property
    def metadata(self) -> Any:
        """The ``aioxmpp.avatar.xso.Metadata`` to publish, grouped by MIME type."""
    def add_avatar_image(
        self,
        mime_type: str,
        *,
        id_: Optional[str] = None,
        image_bytes: Union[bytes, bytearray, memoryview, None] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        url: Optional[str] = None,
        nbytes: Optional[int] = None,
    ) -> None:
        """Add a source of the avatar image; a broken rule raises AvatarSetError."""

# --- descriptors -----------------------------------------------------------

@disjoint_base
class AbstractAvatarDescriptor:
    """Base of every avatar descriptor: what an avatar is and how to get it."""

    def __new__(cls, *_args: Any, **_kwargs: Any) -> Self: ...
    def __init__(
        self,
        remote_jid: Any,
        id_: str,
        *,
        mime_type: Optional[str] = None,
        nbytes: Optional[int] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        url: Optional[str] = None,
        **_kwargs: Any,
    ) -> None: ...
    @property
    def remote_jid(self) -> Any:
        """The JID this avatar belongs to."""
    @property
    def id_(self) -> str:
        """The SHA-1 of the image as the peer wrote it; use it on the wire."""
    @property
    def normalized_id(self) -> str:
        """The lowercase SHA-1 of the image, for caching and comparison."""
    @property
    def mime_type(self) -> Optional[str]:
        """The MIME type of the image data, if known."""
    @property
    def nbytes(self) -> Optional[int]:
        """The size of the image data in bytes, if known."""
    @property
    def width(self) -> Optional[int]:
        """The width of the image in pixels, if known."""
    @property
    def height(self) -> Optional[int]:
        """The height of the image in pixels, if known."""
    @property
    def url(self) -> Optional[str]:
        """Where the image can be downloaded, for URL sources."""
    @property
    def can_get_image_bytes_via_xmpp(self) -> bool:
        """Whether get_image_bytes() can fetch the image over XMPP."""
    @property
    def has_image_data_in_pubsub(self) -> bool:
        """Deprecated alias of can_get_image_bytes_via_xmpp (warns)."""
    def get_image_bytes(self) -> Coroutine[Any, Any, bytes]:
        """Fetch the image data, verified against the SHA-1 id and size."""
    @property
    def _pubsub(self) -> Any:
        """The PubSubClient used for fetching, or None."""
    @property
    def _vcard(self) -> Any:
        """The VCardService used for fetching, or None."""
    @property
    def _image_bytes(self) -> Optional[bytes]:
        """Image data handed to the constructor, or None."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

class PubsubAvatarDescriptor(AbstractAvatarDescriptor):
    """An avatar whose PNG data is in the owner's PEP data node (XEP-0084)."""

    def __init__(
        self,
        remote_jid: Any,
        id_: str,
        *,
        pubsub: Any = None,
        mime_type: Optional[str] = None,
        nbytes: Optional[int] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        url: Optional[str] = None,
        **_kwargs: Any,
    ) -> None: ...

class HttpAvatarDescriptor(AbstractAvatarDescriptor):
    """An avatar that is only available at a URL."""


class VCardAvatarDescriptor(AbstractAvatarDescriptor):
    """An avatar from the owner's vCard PHOTO (XEP-0153)."""

    def __init__(
        self,
        remote_jid: Any,
        id_: str,
        *,
        vcard: Any = None,
        image_bytes: Optional[bytes] = None,
        mime_type: Optional[str] = None,
        nbytes: Optional[int] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
        url: Optional[str] = None,
        **_kwargs: Any,
    ) -> None: ...

# --- per-connection state --------------------------------------------------

@final
class IqKind:
    """The kinds of avatar IQ, as counted in stats()."""
    METADATA: IqKind
    DATA: IqKind
    VCARD: IqKind
    def __eq__(self, value: object, /) -> bool: ...
    def __int__(self) -> int: ...

@final
class ImageStore:
    """Verified avatar images in memory, shared by every descriptor and JID."""
    def __new__(cls) -> Self: ...
    @property
    def budget(self) -> int:
        """Bytes of verified image data kept in memory."""
    @budget.setter
    def budget(self, budget: int) -> None: ...
    @property
    def max_image_bytes(self) -> int:
        """Largest image accepted, in bytes."""
    @max_image_bytes.setter
    def max_image_bytes(self, limit: int) -> None: ...
    def get(self, id_: str) -> Optional[bytes]:
        """Verified image bytes with this id, or None (counted as a miss)."""
    def remember(self, id_: str, data: bytes) -> None:
        """Keep bytes that ImageDirectory.read served for `id_`."""
    def put(self, id_: str, nbytes: Optional[int], data: bytes) -> bytes:
        """Verify fetched data against the id and size and keep it."""
    def stats(self) -> dict[str, int]:
        """Counters of the store's work."""

@final
class AvatarSession:
    """Per-connection avatar state of one AvatarService."""

    def __new__(
        cls,
        images: ImageStore,
        fetcher: Optional[
            Callable[[AbstractAvatarDescriptor], Awaitable[bytes]]
        ] = None,
        pubsub: Any = None,
        vcard: Any = None,
    ) -> Self: ...
    @property
    def metadata_cache_size(self) -> int:
        """Maximum number of JIDs in the metadata cache."""
    @metadata_cache_size.setter
    def metadata_cache_size(self, size: int) -> None: ...
    @property
    def max_infos(self) -> int:
        """Most <info/> entries taken from one metadata item."""
    @max_infos.setter
    def max_infos(self, max: int) -> None: ...
    @property
    def negative_ttl(self) -> float:
        """Seconds a failed image fetch for one (JID, id) is not retried."""
    @negative_ttl.setter
    def negative_ttl(self, seconds: float) -> None: ...
    @property
    def request_timeout(self) -> float:
        """Seconds one avatar IQ may take before its waiters get a time-out."""
    @request_timeout.setter
    def request_timeout(self, seconds: float) -> None: ...
    @property
    def max_concurrent_requests(self) -> int:
        """Most avatar IQs outstanding at once."""
    @max_concurrent_requests.setter
    def max_concurrent_requests(self, value: int) -> None: ...
    @property
    def domain_share(self) -> int:
        """Avatar IQ slots one domain may hold out of max_concurrent_requests."""
    @property
    def epoch(self) -> int:
        """The current stream's number: pass it to `record_fetch_failure`."""
    @property
    def advertise(self) -> bool:
        """Whether our vCard hash is advertised in presence."""
    @property
    def own_hash(self) -> Optional[str]:
        """The hash we know for our own vCard photo."""
    def cached_metadata(self, jid: Any) -> Optional[list[AbstractAvatarDescriptor]]:
        """The cached descriptor list for `jid`, or None (counted as hit/miss)."""
    def begin_request(
        self, jid: Any, require_fresh: bool, disable_pep: bool = False
    ) -> int:
        """Start a metadata request; returns its token."""
    def abort_request(self, jid: Any) -> None:
        """A metadata request failed or was cancelled."""
    def finish_pep(
        self, jid: Any, token: int, items: Optional[Iterable[Any]]
    ) -> Optional[tuple[bool, list[AbstractAvatarDescriptor]]]:
        """The PEP answer to a request; None means: try the vCard fallback."""
    def finish_vcard(
        self,
        jid: Any,
        token: int,
        photo: Optional[bytes],
        mime_type: Optional[str],
    ) -> tuple[bool, list[AbstractAvatarDescriptor]]:
        """The vCard answer to a request: `(changed, descriptors)`."""
    def pep_notification(
        self, jid: Any, item: Any
    ) -> Optional[list[AbstractAvatarDescriptor]]:
        """A PEP metadata notification: the new descriptors if changed, else None."""
    def presence(
        self,
        full_jid: Any,
        local_jid: Any,
        has_update: bool,
        photo: Optional[str],
        muc: bool,
    ) -> tuple[Optional[tuple[Any, list[AbstractAvatarDescriptor]]], Optional[int]]:
        """An available presence: `((jid, descriptors) or None, rehash token)`."""
    def unavailable(self, full_jid: Any, local_jid: Any, muc: bool) -> Optional[int]:
        """An unavailable presence; returns a rehash token if one is needed."""
    def advertisement(self) -> tuple[bool, Optional[str]]:
        """What to put into an outgoing presence: `(attach, photo hash)`."""
    def set_advertise(self, on: bool) -> Optional[int]:
        """Switch advertising; returns a rehash token when switched on."""
    def is_current_rehash(self, token: int) -> bool:
        """Whether `token` is the rehash currently running."""
    def finish_rehash(self, token: int, photo: Optional[bytes]) -> None:
        """A rehash fetched our vCard; `photo` is its PHOTO data or None."""
    def fail_rehash(self, token: int) -> None:
        """A rehash failed: the hash stays unknown."""
    def set_own_hash(self, hash: str) -> None:
        """We published (or, with "", cleared) our vCard photo ourselves."""
    def check_fetch(self, jid: Any, id_: str, nbytes: Optional[int]) -> None:
        """Refuse a fetch (too large, or failed recently) before any IQ."""
    def record_fetch_failure(self, jid: Any, id_: str, epoch: int) -> None:
        """Remember that fetching `id_` for `jid`, started during stream
        `epoch`, failed (a failure from an older stream is not kept)."""
    def count_iq(self, kind: IqKind) -> None:
        """Count an IQ sent."""
    def count_coalesced(self) -> None:
        """Count a request that joined one already in flight."""
    def stats(self) -> dict[str, int]:
        """Counters of the work done so far."""
    def clear(self) -> None:
        """Forget everything tied to the connection (stream destroyed)."""

@final
class ImageDirectory:
    """Verified avatar images kept in a directory across restarts; every
    method that touches the disk releases the GIL (call it off the loop)."""
    def __new__(cls) -> Self: ...
    @property
    def path(self) -> Optional[Path]:
        """The directory in use, or None."""
    @path.setter
    def path(self, path: Union[str, os.PathLike[str], None]) -> None: ...
    @property
    def budget(self) -> Optional[int]:
        """Bytes of image files kept at most, or None for unbounded."""
    @budget.setter
    def budget(self, budget: Optional[int]) -> None: ...
    def read(self, id_: str, limit: int) -> tuple[Optional[bytes], Optional[str]]:
        """The verified image with this id and a log message if refused."""
    def write(self, id_: str, data: bytes) -> Optional[str]:
        """Keep verified `data`; a log message when the disk failed."""
    def stats(self) -> dict[str, int]:
        """Counters of the directory's work."""
