"""Running the command line tool (``python -m aioxmpp_avatar``) and the
demo in subprocesses, for the unit and the integration tests.

Every subprocess has a timeout, runs without a controlling terminal
(``start_new_session``) and with stdin from ``/dev/null`` unless a test says
otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

#: Seconds one CLI run may take (the CLI's own --timeout is shorter).
RUN_TIMEOUT = 30.0
#: --timeout passed to the CLI.
CLI_TIMEOUT = "10"
#: The demo program (examples/demo.py).
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def cli_env(
    account: Any = None, *, password: Optional[str] = None, **extra: str
) -> Dict[str, str]:
    """This process's environment without ``XMPP_*``, then `account`'s JID
    and password (or `password`), then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPP_")}
    if account is not None:
        env["XMPP_JID"] = account.jid
        env["XMPP_PASSWORD"] = account.password if password is None else password
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: Optional[Dict[str, str]] = None,
    timeout: float = RUN_TIMEOUT,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI; returns the CompletedProcess (text output)."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", "aioxmpp_avatar", *args],
        env=cli_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        **kwargs,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill `proc` if it still runs (a test's clean-up)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def server_args(server: Any) -> List[str]:
    """The options that point the CLI at the test server."""
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--allow-plaintext",
        "--timeout",
        CLI_TIMEOUT,
    ]


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> None:
    """Exit `code`, exactly one line on stderr containing `needles`, no
    traceback anywhere."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aioxmpp-avatar: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
