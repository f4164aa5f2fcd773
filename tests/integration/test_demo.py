"""The demo (examples/demo.py, which dev/demo.sh runs) end to end: it starts
its own throwaway Prosody, so it runs with the integration tests."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from aioxmpp_avatar.cli import errors
from aioxmpp_avatar.testing import prosody_installed
from support.cli import DEMO, RUN_TIMEOUT, cli_env, stop
from support.images import PNG_SIGNATURE

pytestmark = pytest.mark.skipif(
    not prosody_installed(), reason="Prosody is not installed"
)


def run_demo(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_demo(tmp_path: Path) -> None:
    result = run_demo("--out", str(tmp_path), "--timeout", "20", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    assert "stats()" in result.stdout and "empty metadata" in result.stdout
    images = sorted(tmp_path.glob("*.png"))
    assert len(images) == 2
    for path in images:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert hashlib.sha1(data).hexdigest()[:8] in path.name
    assert "Traceback" not in result.stderr


def test_demo_interrupted_cleans_up(tmp_path: Path) -> None:
    """Ctrl-C in the middle of the demo: exit 130, server stopped, its
    temporary directory removed."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--out", str(tmp_path)],
        env=cli_env(TMPDIR=str(tmp)), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        seen: list[str] = []
        while not any("registered" in line for line in seen):  # bounded: the
            line = proc.stdout.readline()  # demo ends within its --timeout
            if not line:
                break
            seen.append(line)
        proc.send_signal(2)  # SIGINT
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        stop(proc)
    # Either interrupted, or (on a very fast machine) finished before the signal.
    assert proc.returncode in (errors.EXIT_INTERRUPTED, 0), err
    assert "Traceback" not in err
    assert not list(tmp.glob("prosody-test-*"))
