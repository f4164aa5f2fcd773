"""install(): a bot script written for plain aioxmpp.avatar, run unmodified
in a subprocess, uses our implementation; without install() it uses
aioxmpp's. The script is bots/plain_aioxmpp_bot.py. (install() itself:
unit/service/test_install.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.images import make_png

BOT = Path(__file__).parent / "bots" / "plain_aioxmpp_bot.py"
RUN_INSTALLED = (
    "import runpy, sys, aioxmpp_avatar; aioxmpp_avatar.install(); "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)


async def run_bot(
    server, make_account, connect, mutual_subscribe, tmp_path, *, install
):
    """Run the bot for two fresh, mutually subscribed accounts; return the
    JSON line it prints."""
    publisher, observer = make_account.many(2)
    png = tmp_path / "avatar.png"
    png.write_bytes(make_png(2, 2, (128, 128, 128)))
    await mutual_subscribe(await connect(publisher), await connect(observer))
    env = dict(
        os.environ,
        BOT_HOST=server.host,
        BOT_PORT=str(server.port),
        BOT_PNG=str(png),
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


async def test_unmodified_bot_uses_ours_after_install(
        server, make_account, connect, mutual_subscribe, tmp_path):
    seen = await run_bot(server, make_account, connect, mutual_subscribe,
                         tmp_path, install=True)
    assert seen["service"] == "aioxmpp_avatar.service"
    assert seen["descriptor"] == "aioxmpp_avatar.service"
    assert seen["same_image"] and seen["id"] == seen["png_id"]


async def test_without_install_the_bot_uses_aioxmpp(
        server, make_account, connect, mutual_subscribe, tmp_path):
    seen = await run_bot(server, make_account, connect, mutual_subscribe,
                         tmp_path, install=False)
    assert seen["service"] == "aioxmpp.avatar.service"
    assert seen["same_image"]
