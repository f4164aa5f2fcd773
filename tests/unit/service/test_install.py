"""install() and uninstall(): aioxmpp's avatar names point to ours and
back."""

from __future__ import annotations

import aioxmpp
import aioxmpp.avatar
import aioxmpp.avatar.service
import pytest

import aioxmpp_avatar
from aioxmpp_avatar import (
    AvatarService,
    PubsubAvatarDescriptor,
)
from support.service_env import (
    ALICE,
    Env,
    info,
)

REPLACED = {
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


@pytest.fixture
def pristine_aioxmpp():
    """Run with aioxmpp's own names and restore the state found."""
    was_installed = aioxmpp_avatar.installed()
    aioxmpp_avatar.uninstall()
    try:
        yield
    finally:
        aioxmpp_avatar.uninstall()
        if was_installed:
            aioxmpp_avatar.install()


def test_install_and_uninstall(pristine_aioxmpp):
    originals = {
        (module, name): getattr(module, name)
        for module, names in REPLACED.items()
        for name in names
    }
    for (_module, name), obj in originals.items():
        assert obj is not getattr(aioxmpp_avatar, name)

    aioxmpp_avatar.install()
    assert aioxmpp_avatar.installed()
    for module, name in originals:
        assert getattr(module, name) is getattr(aioxmpp_avatar, name), name
    assert aioxmpp.AvatarService is AvatarService
    assert aioxmpp.avatar.service.PubsubAvatarDescriptor is PubsubAvatarDescriptor

    aioxmpp_avatar.install()  # idempotent: the originals are still known
    assert aioxmpp_avatar.installed()

    aioxmpp_avatar.uninstall()
    assert not aioxmpp_avatar.installed()
    for (module, name), obj in originals.items():
        assert getattr(module, name) is obj, name
    aioxmpp_avatar.uninstall()  # no-op
    for (module, name), obj in originals.items():
        assert getattr(module, name) is obj, name


async def test_installed_service_is_what_aioxmpp_code_builds(pristine_aioxmpp):
    aioxmpp_avatar.install()
    cls = aioxmpp.avatar.AvatarService
    assert cls is AvatarService
    environment = Env()
    assert isinstance(environment.service, cls)
    environment.notify(ALICE, info())
    (d,) = await environment.service.get_avatar_metadata(ALICE)
    assert isinstance(d, aioxmpp.avatar.service.PubsubAvatarDescriptor)
