"""The ``env`` fixture: an AvatarService over mocked dependencies
(:class:`support.service_env.Env`, where the builders the tests share live
too)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest

from support.service_env import TIMEOUT, Env


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """A fresh :class:`Env`; nothing it started outlives the test."""
    environment = Env()
    yield environment
    # Nothing the service started (rehash, shared requests) may outlive the
    # test's event loop.
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=TIMEOUT)
