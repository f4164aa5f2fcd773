"""What the command line tool prints: where lines go (:class:`Output`,
:func:`note`, :class:`Progress`) and how avatars are described and chosen
(:func:`describe_descriptor`, :func:`choose_descriptor`,
:func:`metadata_line`)."""

from __future__ import annotations

import sys
import time
from typing import Any, List, Optional, Sequence, TextIO, Tuple

from .._core import (
    AbstractAvatarDescriptor,
    HttpAvatarDescriptor,
    VCardAvatarDescriptor,
)


class Output:
    """Where human-readable lines go: stdout normally, stderr when stdout
    carries data (``get -o -``)."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream

    def __call__(self, *parts: Any) -> None:
        stream = self.stream or sys.stdout
        print(*parts, file=stream, flush=True)


def note(message: str) -> None:
    """A progress or status line on stderr."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """``label: done/total`` on stderr: updated in place on a terminal,
    otherwise printed about ten times (and at the end)."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.failed = 0
        self._tty = sys.stderr.isatty()
        self._step = max(1, total // 10)

    def advance(self, ok: bool = True) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        last = self.done == self.total
        if self._tty:
            end = "\n" if last else ""
            sys.stderr.write(f"\r{self._text()}{end}")
            sys.stderr.flush()
        elif last or self.done % self._step == 0:
            note(self._text())

    def _text(self) -> str:
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"{self.label}: {self.done}/{self.total}{failed}"


# -- avatars ---------------------------------------------------------------------


def descriptor_source(descriptor: AbstractAvatarDescriptor) -> str:
    """``"pep"``, ``"vcard"`` or ``"http"``."""
    if isinstance(descriptor, VCardAvatarDescriptor):
        return "vcard"
    if isinstance(descriptor, HttpAvatarDescriptor):
        return "http"
    return "pep"


def describe_descriptor(descriptor: AbstractAvatarDescriptor) -> str:
    """``<id> <type> <w>x<h> <n> bytes via <source>`` (unknowns left out)."""
    parts = [descriptor.normalized_id, descriptor.mime_type or "unknown type"]
    if descriptor.width and descriptor.height:
        parts.append(f"{descriptor.width}x{descriptor.height}")
    if descriptor.nbytes is not None:
        parts.append(f"{descriptor.nbytes} bytes")
    source = descriptor_source(descriptor)
    parts.append(f"via {source}")
    if source == "http" and descriptor.url:
        parts.append(descriptor.url)
    return " ".join(parts)


def _size_key(descriptor: AbstractAvatarDescriptor) -> Tuple[int, int]:
    area = (descriptor.width or 0) * (descriptor.height or 0)
    return area, descriptor.nbytes or 0


def choose_descriptor(
    metadata: Sequence[AbstractAvatarDescriptor],
) -> Tuple[Optional[AbstractAvatarDescriptor], str]:
    """The descriptor to fetch and why: fetchable over XMPP first, then
    ``image/png``, then the largest (pixels, then bytes). ``(None, why)``
    when none can be fetched over XMPP."""
    if not metadata:
        return None, "no avatar"
    fetchable = [d for d in metadata if d.can_get_image_bytes_via_xmpp]
    if not fetchable:
        return None, (
            f"none of the {len(metadata)} offered version(s) can be fetched"
            " over XMPP (HTTP only)"
        )
    pngs = [d for d in fetchable if (d.mime_type or "").lower() == "image/png"]
    pool = pngs or fetchable
    best = max(pool, key=_size_key)
    if len(metadata) == 1:
        return best, "the only version offered"
    reasons: List[str] = []
    if len(fetchable) < len(metadata):
        reasons.append("fetchable over XMPP")
    reasons.append("PNG" if pngs else "no PNG fetchable over XMPP")
    if len(pool) > 1:
        same_kind = "PNG versions" if pngs else "versions fetchable over XMPP"
        reasons.append(f"largest of {len(pool)} {same_kind}")
    return best, ", ".join(reasons)


def metadata_line(jid: Any, metadata: Sequence[AbstractAvatarDescriptor]) -> str:
    """One ``watch`` line: time, JID, ids, types, sizes, dimensions."""
    stamp = time.strftime("%H:%M:%S")
    if not metadata:
        return f"{stamp} {jid} no avatar"
    ids = ",".join(d.normalized_id for d in metadata)
    types = ",".join(d.mime_type or "?" for d in metadata)
    sizes = ",".join("?" if d.nbytes is None else str(d.nbytes) for d in metadata)
    dims = ",".join(
        f"{d.width}x{d.height}" if d.width and d.height else "?" for d in metadata
    )
    via = ",".join(descriptor_source(d) for d in metadata)
    return f"{stamp} {jid} ids={ids} types={types} sizes={sizes} dims={dims} via={via}"
