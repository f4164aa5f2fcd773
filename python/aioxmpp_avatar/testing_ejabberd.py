"""A throwaway ejabberd XMPP server for tests, with the interface of
:class:`aioxmpp_avatar.testing.ProsodyServer` (both are
:class:`~aioxmpp_avatar.testing.ThrowawayServer`), so that one test runs
against either server.

For tests only: it needs ejabberd installed (``ejabberdctl`` on ``PATH`` or
in ``/usr/sbin``; on Debian or Ubuntu ``apt-get install ejabberd``; tested
with 23.01) and must run as root or as the ``ejabberd`` user, since
Debian's ``ejabberdctl`` runs the Erlang VM as that user (as root the
server's directory is handed to it).  The server runs in the foreground
from a private directory holding the generated ``ejabberd.yml``, the Mnesia
database and the logs; it never uses the system-wide configuration or
service.  It listens on ``127.0.0.1`` only, without TLS, and its Erlang node
has a random name, a random cookie and a distribution port of its own (no
``epmd``), so that several servers may run at once::

    from aioxmpp_avatar.testing_ejabberd import EjabberdServer

    with EjabberdServer() as server:  # domain "localhost", free ports
        alice, bob = server.register_many([("alice", "pw"), ("bob", "pw")])
        client = server.make_client(alice)
        ...

Unlike Prosody, accounts can only be registered while the server runs.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .testing import (
    Account,
    ServerError,
    ServerNotInstalled,
    ThrowawayServer,
    _end_processes,
    _file_has,
    _start_time,
    free_port,
)

__all__ = [
    "DEFAULT_EJABBERD_MODULES",
    "EjabberdError",
    "EjabberdNotInstalled",
    "EjabberdServer",
    "ejabberd_installed",
]

#: Modules (and their options) loaded on every server: what aioxmpp and
#: the avatar protocols need (rosters, disco, entity caps, PEP, vCards with
#: the XEP-0153 presence hash, and XEP-0398 conversion).
DEFAULT_EJABBERD_MODULES: Mapping[str, Mapping[str, Any]] = {
    "mod_roster": {},
    "mod_disco": {},
    "mod_caps": {},
    "mod_ping": {},
    "mod_vcard": {"search": False},
    "mod_vcard_xupdate": {},
    "mod_avatar": {},
    "mod_pubsub": {"plugins": ["flat", "pep"]},
}

#: ejabberd's name for each of our (Prosody's) log levels.
_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}
#: The user Debian's ejabberdctl runs the VM as (its INSTALLUSER).
_INSTALL_USER = "ejabberd"
#: Seconds one ``ejabberdctl`` status call may take while waiting for start.
_STATUS_TIMEOUT_S = 10.0
#: Printed by ejabberd when a port of its listener or its node is taken.
_PORT_TAKEN = "eaddrinuse"

_INSTALL_HINT = (
    "ejabberd is needed (aioxmpp_avatar.testing_ejabberd) but {what}. Install"
    " it with `apt-get update && apt-get install -y ejabberd` (Debian/Ubuntu);"
    " the test server never uses the system-wide service, so you may"
    " `systemctl disable --now ejabberd` afterwards."
)


class EjabberdNotInstalled(ServerNotInstalled):
    """``ejabberdctl`` is missing, or this user may not run it."""


class EjabberdError(ServerError):
    """ejabberd did not start, stop, or an ``ejabberdctl`` command failed."""


def _find_ejabberdctl(given: Optional[str]) -> str:
    if given is not None:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise EjabberdNotInstalled(
                _INSTALL_HINT.format(what=f"{given!r} is not an executable")
            )
        return given
    found = shutil.which("ejabberdctl") or shutil.which(
        "ejabberdctl", path="/usr/sbin:/usr/local/sbin"
    )
    if found is None:
        raise EjabberdNotInstalled(
            _INSTALL_HINT.format(what="`ejabberdctl` was not found")
        )
    return found


def _run_as() -> Optional[Tuple[int, int]]:
    """The uid and gid that will own the server's files, :data:`None` when
    the VM runs as the current user."""
    if os.geteuid() != 0:
        if pwd.getpwuid(os.geteuid()).pw_name != _INSTALL_USER:
            raise EjabberdNotInstalled(
                _INSTALL_HINT.format(
                    what=f"ejabberdctl runs only as root or as {_INSTALL_USER!r}"
                )
            )
        return None
    try:
        entry = pwd.getpwnam(_INSTALL_USER)
    except KeyError:
        raise EjabberdNotInstalled(
            _INSTALL_HINT.format(what=f"there is no {_INSTALL_USER!r} user")
        ) from None
    return entry.pw_uid, entry.pw_gid


def ejabberd_installed() -> bool:
    """Return whether ``ejabberdctl`` is found and usable by this user."""
    try:
        _find_ejabberdctl(None)
        _run_as()
    except EjabberdNotInstalled:
        return False
    return True


def _node_processes(node: str) -> List[Tuple[int, int]]:
    """``(pid, start time)`` of the processes whose command line names the
    Erlang `node`, and of all their descendants (``erl_child_setup``,
    ``inet_gethost``: they run in sessions of their own)."""
    parents: Dict[int, int] = {}
    named = set()
    needle = node.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        parents[pid] = int(stat[stat.rindex(b")") + 2 :].split()[1])
        if needle in cmdline:
            named.add(pid)
    found = set(named)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found}
        grew = not children <= found
        found |= children
    result = []
    for pid in sorted(found):
        start = _start_time(pid)
        if start is not None:
            result.append((pid, start))
    return result


class EjabberdServer(ThrowawayServer):
    """A private ejabberd instance on ``127.0.0.1`` for tests.

    :param domain: the single host served.
    :param directory: directory for config, database and logs.  If omitted
        a temporary directory is created (and deleted by :meth:`stop` unless
        `keep` is true).  A given directory is created if needed and never
        deleted; when running as root it is handed to the ``ejabberd`` user.
    :param keep: keep the temporary directory after :meth:`stop`.
    :param log_level: minimum level written to :attr:`log_path`
        (``"debug"``, ``"info"``, ``"warn"`` or ``"error"``).
    :param modules: modules and their options, defaults to
        :data:`DEFAULT_EJABBERD_MODULES`.
    :param extra_config: top-level options added to (or replacing those of)
        the generated ``ejabberd.yml``.
    :param startup_timeout: seconds :meth:`start` waits for the server.
    :param ejabberdctl: path of ``ejabberdctl`` (default: PATH, then
        ``/usr/sbin``).

    :raises EjabberdNotInstalled: if ``ejabberdctl`` cannot be found or
        this user may not run it.
    """

    kind = "ejabberd"
    error = EjabberdError
    #: Six ``ejabberdctl`` calls at once are known to work.
    register_concurrency = 6

    def __init__(
        self,
        domain: str = "localhost",
        *,
        directory: Optional[str] = None,
        keep: bool = False,
        log_level: str = "info",
        modules: Mapping[str, Mapping[str, Any]] = DEFAULT_EJABBERD_MODULES,
        extra_config: Optional[Mapping[str, Any]] = None,
        startup_timeout: float = 30.0,
        ejabberdctl: Optional[str] = None,
    ) -> None:
        if log_level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {tuple(_LOG_LEVELS)}")
        self._ejabberdctl = _find_ejabberdctl(ejabberdctl)
        self._owner = _run_as()
        super().__init__(
            domain, directory=directory, keep=keep, startup_timeout=startup_timeout
        )
        self.log_level = log_level
        self.modules = {name: dict(options) for name, options in modules.items()}
        self.extra_config = dict(extra_config or {})
        #: The Erlang node name (unique, so servers never meet).
        self.node = f"avatar-test-{secrets.token_hex(6)}@localhost"
        self._cookie = secrets.token_hex(16)
        #: The Erlang distribution port (how ``ejabberdctl`` reaches the VM).
        self.dist_port = free_port(self.host)

        self.config_path = os.path.join(self.directory, "ejabberd.yml")
        self.ctl_config_path = os.path.join(self.directory, "ejabberdctl.cfg")
        self.vm_args_path = os.path.join(self.directory, "vm.args")
        self.spool_path = os.path.join(self.directory, "spool")
        self.logs_path = os.path.join(self.directory, "logs")
        self.pid_path = os.path.join(self.directory, "ejabberd.pid")
        #: ejabberd's own log file.
        self.log_path = os.path.join(self.logs_path, "ejabberd.log")
        for path in (self.spool_path, self.logs_path):
            os.makedirs(path, exist_ok=True)
        # ejabberdctl reads ERL_INETRC from the config directory.
        open(os.path.join(self.directory, "inetrc"), "w").close()
        self._write_config()

    # -- configuration -----------------------------------------------------

    def _config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {
            "hosts": [self.domain],
            "loglevel": _LOG_LEVELS[self.log_level],
            "log_rotate_count": 0,
            "acme": {"auto": False},
            "certfiles": [],
            "listen": [
                {
                    "port": self.port,
                    "ip": self.host,
                    "module": "ejabberd_c2s",
                    "starttls": False,
                    "starttls_required": False,
                    "max_stanza_size": 1048576,
                }
            ],
            "auth_method": "internal",
            "auth_password_format": "scram",
            "default_db": "mnesia",
            "s2s_access": "none",
            "api_permissions": {
                "console commands": {
                    "from": ["ejabberd_ctl"],
                    "who": "all",
                    "what": "*",
                }
            },
            "modules": self.modules,
        }
        config.update(self.extra_config)
        return config

    def _write_config(self) -> None:
        contrib = os.path.join(self.directory, "contrib")
        files = {
            # JSON is YAML: no quoting rules of our own to get wrong.
            self.config_path: "# generated by aioxmpp_avatar.testing_ejabberd\n"
            + json.dumps(self._config(), indent=1)
            + "\n",
            self.ctl_config_path: "".join(
                f"{key}={value}\n"
                for key, value in (
                    ("ERL_DIST_PORT", self.dist_port),
                    ("VMARGS", self.vm_args_path),
                    ("EJABBERD_PID_PATH", self.pid_path),
                    ("CONTRIB_MODULES_PATH", contrib),
                    ("CONTRIB_MODULES_CONF_DIR", os.path.join(contrib, "conf")),
                    ("EJABBERD_BYPASS_WARNINGS", "true"),
                )
            ),
            self.vm_args_path: f"-setcookie {self._cookie}\n"
            "-kernel inet_dist_use_interface {127,0,0,1}\n",
        }
        for path, text in files.items():
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)

    def _pick_ports(self) -> None:
        super()._pick_ports()
        self.dist_port = free_port(self.host)

    # -- lifecycle ---------------------------------------------------------

    def _ctl(self, *args: str) -> List[str]:
        return [
            self._ejabberdctl,
            "--config-dir",
            self.directory,
            "--config",
            self.config_path,
            "--ctl-config",
            self.ctl_config_path,
            "--node",
            self.node,
            "--logs",
            self.logs_path,
            "--spool",
            self.spool_path,
            *args,
        ]

    def _command(self) -> List[str]:
        return self._ctl("foreground")

    def _prepare_spawn(self) -> None:
        if self._owner is None:
            return
        uid, gid = self._owner
        os.chown(self.directory, uid, gid)
        for root, dirs, files in os.walk(self.directory):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    def _port_taken(self) -> bool:
        return any(
            _file_has(path, _PORT_TAKEN) for path in (self.log_path, self.console_path)
        )

    def _ready(self) -> bool:
        if not self._probe():
            return False
        try:
            rc, _ = self._run_tool(self._ctl("status"), _STATUS_TIMEOUT_S)
        except EjabberdError:
            return False
        return rc == 0

    def _leftovers(self) -> List[Tuple[int, int]]:
        return _node_processes(self.node)

    def _request_stop(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        try:
            rc, _ = self._run_tool(self._ctl("stop"), timeout)
        except EjabberdError:
            rc = -1
        if rc != 0:
            # The VM runs as another user in its own session: end it directly.
            _end_processes(_node_processes(self.node), timeout)

    # -- accounts ----------------------------------------------------------

    def register(self, user: str, password: str) -> Account:
        """Create (or reset the password of) `user` on :attr:`domain`.

        Uses ``ejabberdctl register`` (an existing account is unregistered,
        losing its data, and registered anew); the server must be running.
        """
        return super().register(user, password)

    def _register_one(self, user: str, password: str, timeout: float) -> None:
        if not self.running:
            raise EjabberdError("ejabberd registers accounts only while running")
        out = ""
        # ejabberdctl's own node name has only three random hex digits, so
        # concurrent calls can collide: one retry.
        for _ in range(2):
            rc, out = self._run_tool(
                self._ctl("register", user, self.domain, password), timeout
            )
            if rc == 0:
                return
            if "already registered" in out:
                # The password is reset the only way core ejabberd offers
                # (change_password needs mod_admin_extra): anew.
                self._run_tool(self._ctl("unregister", user, self.domain), timeout)
        raise EjabberdError(f"exit {rc}: {out}")
