"""The layout of the suite: ``unit/`` needs nothing but the package;
``integration/`` talks to throwaway XMPP servers (:mod:`aioxmpp_avatar.testing`
and :mod:`aioxmpp_avatar.testing_ejabberd`; the fixtures are in
``integration/conftest.py``, where the ``server`` fixture runs each test on
Prosody and on ejabberd). ``support/`` holds what the tests share
(``tests/`` is on ``sys.path``).

Markers, applied automatically to every test in ``integration/``:

``integration``
    every one of them, so ``pytest -m "not integration"`` starts no server;
``prosody`` / ``ejabberd``
    the server the test talks to: its ``server`` parameter, and ``prosody``
    for the few that start a Prosody of their own (the demo). So
    ``pytest -m "not prosody"`` starts no Prosody and ``pytest -m prosody``
    runs the integration tests on Prosody only.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

INTEGRATION = Path(__file__).resolve().parent / "integration"
#: The server kinds (``server`` fixture parameters) that are also markers,
#: with their marker descriptions.
SERVER_KINDS = {
    "prosody": "integration test that talks to a throwaway Prosody (its"
    " `server` parameter, or the demo's own Prosody)",
    "ejabberd": "integration test that talks to a throwaway ejabberd (its"
    " `server` parameter)",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: test that talks to a throwaway XMPP server (every test"
        " in tests/integration/, applied automatically)",
    )
    for kind, description in SERVER_KINDS.items():
        config.addinivalue_line("markers", f"{kind}: {description}")


def pytest_collection_modifyitems(
    config: pytest.Config, items: List[pytest.Item]
) -> None:
    for item in items:
        if not item.path.is_relative_to(INTEGRATION):
            continue
        item.add_marker(pytest.mark.integration)
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("server") if callspec is not None else None
        item.add_marker(kind if kind in SERVER_KINDS else "prosody")
