"""aioxmpp_avatar.testing without a server (the server itself is tested by
integration/test_harness.py)."""

from __future__ import annotations

from typing import Any

import pytest

from aioxmpp_avatar.testing import ProsodyServer, ServerNotInstalled, make_client
from aioxmpp_avatar.testing_ejabberd import EjabberdServer


def test_refuses_plaintext_to_remote_host() -> None:
    with pytest.raises(ValueError):
        make_client("a@example.org", "pw", host="192.0.2.1", port=5222)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ProsodyServer(prosody="/nonexistent/prosody"),
        lambda: EjabberdServer(ejabberdctl="/nonexistent/ejabberdctl"),
    ],
    ids=["prosody", "ejabberd"],
)
def test_a_missing_server_is_server_not_installed(make: Any) -> None:
    """What the integration fixture turns into a skip (or, under CI, a
    failure), for either server."""
    with pytest.raises(ServerNotInstalled, match="apt-get"):
        make()
