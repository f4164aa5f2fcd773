"""The layout of the suite: ``unit/`` needs nothing but the package;
``integration/`` talks to a throwaway Prosody (:mod:`aioxmpp_avatar.testing`,
its fixtures are in ``integration/conftest.py``) and every test there
carries the ``prosody`` marker, so that ``pytest -m "not prosody"`` starts
no server. ``support/`` holds what the tests share (``tests/`` is on
``sys.path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "prosody: integration test that talks to a throwaway Prosody server "
        "(every test in tests/integration/, applied automatically)",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: List[pytest.Item]
) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.prosody)
