"""install(): a bot script written for plain aioxmpp.avatar, run unmodified
in a subprocess, uses our implementation; without install() it uses
aioxmpp's. The script is tests/bots/plain_aioxmpp_bot.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aioxmpp
import aioxmpp.avatar
import aioxmpp.avatar.service
import pytest

import aioxmpp_avatar

BOT = Path(__file__).parent / "bots" / "plain_aioxmpp_bot.py"
RUN_INSTALLED = (
    "import runpy, sys, aioxmpp_avatar; aioxmpp_avatar.install(); "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)


async def run_bot(prosody, make_account, connect, mutual_subscribe, *, install):
    """Run the bot for two fresh, mutually subscribed accounts; return the
    JSON line it prints."""
    publisher, observer = make_account.many(2)
    await mutual_subscribe(await connect(publisher), await connect(observer))
    env = dict(
        os.environ,
        BOT_HOST=prosody.host,
        BOT_PORT=str(prosody.port),
        PUBLISHER_JID=publisher.jid,
        PUBLISHER_PASSWORD=publisher.password,
        OBSERVER_JID=observer.jid,
        OBSERVER_PASSWORD=observer.password,
    )
    if install:
        args = [sys.executable, "-c", RUN_INSTALLED, str(BOT)]
    else:
        args = [sys.executable, str(BOT)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.prosody
async def test_unmodified_bot_uses_ours_after_install(
        prosody, make_account, connect, mutual_subscribe):
    seen = await run_bot(prosody, make_account, connect, mutual_subscribe,
                         install=True)
    assert seen["service"] == "aioxmpp_avatar.service"
    assert seen["descriptor"] == "aioxmpp_avatar.service"
    assert seen["same_image"] and seen["id"] == seen["png_id"]


@pytest.mark.prosody
async def test_without_install_the_bot_uses_aioxmpp(
        prosody, make_account, connect, mutual_subscribe):
    seen = await run_bot(prosody, make_account, connect, mutual_subscribe,
                         install=False)
    assert seen["service"] == "aioxmpp.avatar.service"
    assert seen["same_image"]


def test_install_is_idempotent_and_uninstall_restores():
    originals = (aioxmpp.AvatarService, aioxmpp.avatar.AvatarSet,
                 aioxmpp.avatar.service.PubsubAvatarDescriptor)
    aioxmpp_avatar.install()
    aioxmpp_avatar.install()
    try:
        assert aioxmpp_avatar.installed()
        assert aioxmpp.AvatarService is aioxmpp_avatar.AvatarService
        assert aioxmpp.avatar.AvatarService is aioxmpp_avatar.AvatarService
        assert aioxmpp.avatar.AvatarSet is aioxmpp_avatar.AvatarSet
        assert (aioxmpp.avatar.service.VCardAvatarDescriptor
                is aioxmpp_avatar.VCardAvatarDescriptor)
    finally:
        aioxmpp_avatar.uninstall()
    aioxmpp_avatar.uninstall()
    assert not aioxmpp_avatar.installed()
    assert (aioxmpp.AvatarService, aioxmpp.avatar.AvatarSet,
            aioxmpp.avatar.service.PubsubAvatarDescriptor) == originals
