"""aioxmpp_avatar.testing without a server (the server itself is tested by
integration/test_harness.py)."""

from __future__ import annotations

import pytest

from aioxmpp_avatar.testing import make_client


def test_refuses_plaintext_to_remote_host() -> None:
    with pytest.raises(ValueError):
        make_client("a@example.org", "pw", host="192.0.2.1", port=5222)
