"""aioxmpp-avatar: User Avatars (XEP-0084) with the vCard-based fallback
(XEP-0153) for aioxmpp, with a Rust core.

A drop-in replacement for :mod:`aioxmpp.avatar`: use the names below where
a bot used ``aioxmpp.avatar.*``, or call :func:`install` once at start-up so
that ``aioxmpp.AvatarService`` and the names in :mod:`aioxmpp.avatar` are
ours and unmodified code picks them up.
"""

from __future__ import annotations

from typing import Any

import aioxmpp
import aioxmpp.avatar
import aioxmpp.avatar.service

from . import service
from ._core import __version__ as __version__
from .service import *  # noqa: F403 - the public names, listed in service.__all__

__all__ = [*service.__all__, "install", "installed", "uninstall"]

#: Which names :func:`install` replaces, per aioxmpp module.
_REPLACED = {
    aioxmpp: ("AvatarService",),
    aioxmpp.avatar: ("AvatarService", "AvatarSet", "normalize_id"),
    aioxmpp.avatar.service: (
        "AvatarService",
        "AvatarSet",
        "normalize_id",
        "AbstractAvatarDescriptor",
        "PubsubAvatarDescriptor",
        "HttpAvatarDescriptor",
        "VCardAvatarDescriptor",
    ),
}

_originals: dict[tuple[Any, str], Any] = {}


def install() -> None:
    """Make aioxmpp's avatar names point to ours, so that code written for
    :mod:`aioxmpp.avatar` (``client.summon(aioxmpp.AvatarService)``,
    ``aioxmpp.avatar.AvatarSet()``) uses this package unchanged.

    Call it before the clients summon the service. Idempotent; undone by
    :func:`uninstall`.
    """
    if _originals:
        return
    ours = globals()
    for module, names in _REPLACED.items():
        for name in names:
            _originals[(module, name)] = getattr(module, name)
            setattr(module, name, ours[name])


def uninstall() -> None:
    """Restore aioxmpp's own avatar names (no-op when not installed)."""
    while _originals:
        (module, name), original = _originals.popitem()
        setattr(module, name, original)


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_originals)
