"""A throwaway Prosody XMPP server, to test bots and the package against a
real server on ``127.0.0.1`` (as aioxmpp has :mod:`aioxmpp.testutils`).

For tests only: it needs Prosody installed (``prosody`` and ``prosodyctl``
on ``PATH``; on Debian or Ubuntu ``apt-get install prosody``; tested with
0.12). Prosody runs as a child process with a generated config in a private
directory (never the system-wide configuration or service), listening on
``127.0.0.1`` only and without TLS; :meth:`ProsodyServer.make_client` builds
clients that may log in without TLS, which is only ever allowed to a
loopback address. With pytest::

    import aioxmpp
    import pytest
    from aioxmpp_avatar.testing import ProsodyServer, mutual_subscribe

    @pytest.fixture(scope="session")
    def prosody():
        with ProsodyServer() as server:  # domain "localhost", a free port
            yield server

    async def test_two_bots(prosody):
        alice, bob = prosody.register_many([("alice", "pw"), ("bob", "pw")])
        clients = [prosody.make_client(alice), prosody.make_client(bob)]
        for client in clients:  # subscriptions need available resources
            client.summon(aioxmpp.PresenceServer).set_presence(
                aioxmpp.PresenceState(True)
            )
        async with clients[0].connected(), clients[1].connected():
            await mutual_subscribe(*clients)
            ...  # the bots at work

The server is stopped and its directory removed by :meth:`ProsodyServer.stop`
(or leaving the ``with`` block), and at interpreter exit as a last resort.
The package's own integration tests and ``examples/demo.py`` use it.

:class:`ThrowawayServer` is what every such server has in common;
:class:`aioxmpp_avatar.testing_ejabberd.EjabberdServer` is the same for
ejabberd, so that a test written against one runs on the other.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import (
    IO,
    Any,
    Callable,
    ClassVar,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
)

import aioxmpp
import aioxmpp.connector
import aioxmpp.roster.xso as roster_xso

from .cli.connection import is_loopback, password_security_layer

__all__ = [
    "DEFAULT_MODULES",
    "DISABLED_MODULES",
    "Account",
    "ProsodyError",
    "ProsodyNotInstalled",
    "ProsodyServer",
    "ServerError",
    "ServerNotInstalled",
    "ThrowawayServer",
    "free_port",
    "make_client",
    "mutual_subscribe",
    "prosody_installed",
]

#: Modules loaded on every server (besides Prosody's automatic ones such as
#: ``presence``, ``message``, ``iq`` and ``c2s``).
DEFAULT_MODULES: Tuple[str, ...] = (
    "roster",
    "saslauth",
    "disco",
    "pep",
    "vcard_legacy",
    "vcard4",
    "ping",
    "posix",
)

#: Automatically loaded modules that are switched off.
DISABLED_MODULES: Tuple[str, ...] = ("s2s", "offline")

_INSTALL_HINT = (
    "Prosody is needed (aioxmpp_avatar.testing) but {what} was not found. "
    "Install it with `apt-get update && apt-get install -y prosody` "
    "(Debian/Ubuntu); the test server never uses the system-wide service, "
    "so you may `systemctl disable --now prosody` afterwards."
)

_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_LOG_LEVELS = ("debug", "info", "warn", "error")
_PORT_FAILURE = "Failed to open server port {port} "

_READY_POLL_S = 0.02
_PROBE_TIMEOUT_S = 1.0
_START_ATTEMPTS = 3


class ServerNotInstalled(RuntimeError):
    """The server software a :class:`ThrowawayServer` needs is missing (or
    cannot be run by this user)."""


class ServerError(RuntimeError):
    """A :class:`ThrowawayServer` did not start or stop, or one of its
    control commands (such as registering an account) failed."""


class ProsodyNotInstalled(ServerNotInstalled):
    """``prosody`` or ``prosodyctl`` is not on ``PATH``."""


class ProsodyError(ServerError):
    """Prosody did not start, stop, or a ``prosodyctl`` command failed."""


class _PortTaken(Exception):
    """Internal: somebody else grabbed a port picked for the server."""


@dataclasses.dataclass(frozen=True)
class Account:
    """An account registered on a :class:`ThrowawayServer`."""

    user: str
    domain: str
    password: str

    @property
    def jid(self) -> str:
        """The bare JID of the account as a string (``user@domain``)."""
        return f"{self.user}@{self.domain}"

    def __str__(self) -> str:
        return self.jid


def prosody_installed() -> bool:
    """Return whether both ``prosody`` and ``prosodyctl`` are on ``PATH``."""
    return all(shutil.which(name) for name in ("prosody", "prosodyctl"))


def _find_executable(name: str, given: Optional[str]) -> str:
    if given is not None:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            what = f"{given!r} (an executable)"
            raise ProsodyNotInstalled(_INSTALL_HINT.format(what=what))
        return given
    found = shutil.which(name)
    if found is None:
        raise ProsodyNotInstalled(_INSTALL_HINT.format(what=f"`{name}` on PATH"))
    return found


def _lua_str(value: str) -> str:
    """Quote `value` as a Lua string literal."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )
    return f'"{escaped}"'


def _lua_list(values: Iterable[str]) -> str:
    return "{ " + ", ".join(_lua_str(v) for v in values) + " }"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that was free a moment ago (the kernel
    picks it; another process may still take it before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return "<no log>"
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:]) or "<empty>"


def _file_has(path: str, needle: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return needle in f.read()
    except OSError:
        return False


# Servers that are running; stopped at interpreter exit as a last resort so
# that a crashed test run does not leave server processes behind.
_RUNNING: weakref.WeakSet[ThrowawayServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop()


def _pdeathsig_preexec() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` making the kernel SIGTERM the child when the thread
    that forked it dies (Linux only; :data:`None` elsewhere).

    Everything is resolved in the parent so that the child, between fork and
    exec, only makes one foreign call (no imports, no allocation-heavy work).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # not in every Python build

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:  # pragma: no cover - runs in the child
        prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)

    return preexec


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


_S = TypeVar("_S", bound="ThrowawayServer")


class ThrowawayServer:
    """What every private test server on ``127.0.0.1`` has in common: a
    directory of its own, a c2s port, a child process in a session of its
    own, start-up with retries on a taken port, account registration
    through the server's control tool, stop and clean-up, and
    :meth:`make_client`.  :class:`ProsodyServer` and
    :class:`aioxmpp_avatar.testing_ejabberd.EjabberdServer` are the
    concrete servers; tests written against this interface run on both.

    Supports ``with`` and ``async with`` (start on enter, stop on exit).
    """

    #: Interface the server listens on (plaintext is refused elsewhere).
    host = "127.0.0.1"
    #: Short name of the server software (``"prosody"``, ``"ejabberd"``),
    #: for tests whose expectations legitimately differ between servers.
    kind: ClassVar[str] = ""
    #: The exception raised when starting, stopping or registering fails.
    error: ClassVar[Type[ServerError]] = ServerError
    #: How many control commands :meth:`register_many` runs at once.
    register_concurrency: ClassVar[int] = 8
    #: Where the server's own log is written (set by subclasses).
    log_path: str
    #: Where the server writes its pid (set by subclasses).
    pid_path: str

    def __init__(
        self,
        domain: str,
        *,
        directory: Optional[str],
        keep: bool,
        startup_timeout: float,
    ) -> None:
        if not _DOMAIN_RE.match(domain):
            raise ValueError(f"invalid domain {domain!r}")
        self.domain = domain
        self.keep = keep
        self.startup_timeout = startup_timeout
        if directory is None:
            self.directory = tempfile.mkdtemp(prefix=f"{self.kind}-test-")
            self._owns_directory = True
        else:
            self.directory = os.path.abspath(directory)
            os.makedirs(self.directory, exist_ok=True)
            self._owns_directory = False
        #: stdout/stderr of the server process (early startup errors).
        self.console_path = os.path.join(self.directory, "console.log")
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._console: Optional[IO[bytes]] = None
        self._lock = threading.RLock()
        self.port = free_port(self.host)

    # -- what each server does its own way ---------------------------------

    def _write_config(self) -> None:
        """Write the configuration for the current ports."""
        raise NotImplementedError

    def _pick_ports(self) -> None:
        """Choose fresh ports after one was taken (then the config is
        rewritten)."""
        self.port = free_port(self.host)

    def _command(self) -> List[str]:
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def _prepare_spawn(self) -> None:
        """Called before every spawn (e.g. to fix file ownership)."""

    def _port_taken(self) -> bool:
        """Whether the logs say that a port of ours was taken."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """Whether the running server is ready for clients."""
        return self._probe()

    def _request_stop(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        """Ask the running server to shut down cleanly."""
        proc.terminate()

    def _leftovers(self) -> List[Tuple[int, int]]:
        """Processes of the server outside its process group, as ``(pid,
        start time)`` pairs, collected before it is stopped."""
        return []

    def _register_one(self, user: str, password: str, timeout: float) -> None:
        """Create (or reset the password of) one account; raises
        :attr:`error` on failure."""
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """PID of the running server process (the one this object started),
        or :data:`None`."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.pid is not None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last `lines` lines of the log and console output."""
        return (
            f"--- {self.log_path} ---\n{_tail(self.log_path, lines)}\n"
            f"--- {self.console_path} ---\n{_tail(self.console_path, 10)}"
        )

    def start(self: _S) -> _S:
        """Start the server and wait until it accepts XMPP connections.

        Returns `self`.  Does nothing if already running.

        :raises ServerError: (:attr:`error`) if the process exits or does not
            answer within :attr:`startup_timeout` seconds; the message holds
            the log tail.
        """
        with self._lock:
            if self.running:
                return self
            if not os.path.isdir(self.directory):
                raise self.error(
                    f"{self.directory} is gone (removed by stop()); create a new"
                    f" {type(self).__name__}, or pass keep=True to restart one"
                )
            for attempt in range(_START_ATTEMPTS):
                self._spawn()
                try:
                    self._wait_ready(time.monotonic() + self.startup_timeout)
                except _PortTaken:
                    self._terminate()
                    if attempt + 1 == _START_ATTEMPTS:
                        raise self.error(
                            f"could not bind a port after {_START_ATTEMPTS}"
                            f" attempts\n{self.log_tail()}"
                        ) from None
                    self._pick_ports()
                    self._write_config()
                    continue
                except BaseException:
                    self._terminate()
                    raise
                _RUNNING.add(self)
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self) -> None:
        self._prepare_spawn()
        if self._console is not None:
            self._console.close()
        self._console = open(self.console_path, "ab")
        # PR_SET_PDEATHSIG fires when the forking *thread* ends, so only use
        # it from the main thread (an executor thread may end any time).
        preexec = None
        if threading.current_thread() is threading.main_thread():
            preexec = _pdeathsig_preexec()
        self._proc = subprocess.Popen(
            self._command(),
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
            start_new_session=True,  # its own process group, ended by stop()
        )

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        name = type(self).__name__
        while True:
            rc = self._proc.poll()
            if self._port_taken():
                raise _PortTaken()
            if rc is not None:
                raise self.error(
                    f"{name} exited with status {rc} during startup\n{self.log_tail()}"
                )
            if self._ready():
                return
            if time.monotonic() >= deadline:
                raise self.error(
                    f"{name} did not accept connections on "
                    f"{self.host}:{self.port} within {self.startup_timeout}"
                    f" s\n{self.log_tail()}"
                )
            # Doubles as "wake up as soon as the process dies".
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=_READY_POLL_S)

    def _probe(self) -> bool:
        """Whether an XMPP server for our domain answers on our port."""
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=_PROBE_TIMEOUT_S
            )
        except OSError:
            return False
        with sock:
            try:
                sock.sendall(
                    (
                        "<?xml version='1.0'?><stream:stream"
                        f" to='{self.domain}' version='1.0'"
                        " xmlns='jabber:client'"
                        " xmlns:stream='http://etherx.jabber.org/streams'>"
                    ).encode()
                )
                data = b""
                end = time.monotonic() + _PROBE_TIMEOUT_S
                while b"<stream:features" not in data and time.monotonic() < end:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                with contextlib.suppress(OSError):
                    sock.sendall(b"</stream:stream>")
            except OSError:
                return False
        text = data.decode("utf-8", "replace")
        return (
            f"from='{self.domain}'" in text or f'from="{self.domain}"' in text
        ) and "<stream:features" in text

    def _terminate(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            leftovers = self._leftovers() if proc.poll() is None else []
            if proc.poll() is None:
                self._request_stop(proc, timeout)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # Whatever the server left in its process group goes too.
            _signal_group(proc.pid, signal.SIGKILL)
            _end_processes(leftovers, timeout)
        if self._console is not None:
            self._console.close()
            self._console = None
        _RUNNING.discard(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (cleanly, killing it after `timeout` s) and clean
        up.

        The temporary directory is removed unless :attr:`keep` is true or
        the directory was given by the caller; after that the server cannot
        be started again.  Safe to call repeatedly.
        """
        with self._lock:
            self._terminate(timeout)
            if self._owns_directory and not self.keep:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    async def __aenter__(self: _S) -> _S:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.start)

    async def __aexit__(self, *exc_info: Any) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.stop)

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return (
            f"<{type(self).__name__} {self.domain} {self.host}:{self.port}"
            f" {state} dir={self.directory!r}>"
        )

    # -- accounts ----------------------------------------------------------

    def _run_tool(self, argv: Sequence[str], timeout: float) -> Tuple[int, str]:
        """Run a control command; return its exit status and output."""
        try:
            done = subprocess.run(
                argv,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise self.error(
                f"{' '.join(argv[:1])} timed out after {timeout:.1f} s"
            ) from None
        return done.returncode, done.stdout.decode("utf-8", "replace").strip()

    def register(self, user: str, password: str) -> Account:
        """Create (or reset the password of) `user` on :attr:`domain`."""
        return self.register_many([(user, password)])[0]

    def register_many(
        self,
        accounts: Iterable[Tuple[str, str]],
        *,
        concurrency: Optional[int] = None,
        timeout: float = 60.0,
    ) -> List[Account]:
        """Register several ``(user, password)`` pairs, running up to
        `concurrency` (default :attr:`register_concurrency`) control
        commands at once, all within `timeout` s.

        Returns the :class:`Account` objects in input order.

        :raises ServerError: (:attr:`error`) if any registration fails.
        """
        pairs = list(accounts)
        for user, _ in pairs:
            if not user or "@" in user or "/" in user:
                raise ValueError(f"invalid user name {user!r}")
        deadline = time.monotonic() + timeout

        def one(pair: Tuple[str, str]) -> Optional[str]:
            user, password = pair
            try:
                self._register_one(
                    user, password, max(0.1, deadline - time.monotonic())
                )
            except ServerError as exc:
                return f"{user}@{self.domain}: {exc}"
            return None

        if concurrency is None:
            concurrency = self.register_concurrency
        workers = max(1, min(concurrency, len(pairs)))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            errors = [e for e in pool.map(one, pairs) if e is not None]
        if errors:
            raise self.error("registration failed:\n" + "\n".join(errors))
        return [Account(user, self.domain, password) for user, password in pairs]

    # -- clients -----------------------------------------------------------

    def make_client(self, account: Account, **kwargs: Any) -> Any:
        """Build an unconnected :class:`aioxmpp.Client` for `account`
        pointed at this server (see :func:`make_client`)."""
        if not self.running:
            raise self.error("the server is not running")
        return make_client(
            account.jid,
            account.password,
            host=self.host,
            port=self.port,
            **kwargs,
        )


def _start_time(pid: int) -> Optional[int]:
    """The start time of process `pid` (clock ticks since boot) from
    ``/proc``, or :data:`None` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def _end_processes(processes: Sequence[Tuple[int, int]], timeout: float) -> None:
    """SIGTERM the ``(pid, start time)`` processes that still exist (the
    start time guards against reused pids), SIGKILL them after `timeout`."""

    def alive() -> List[int]:
        return [pid for pid, start in processes if _start_time(pid) == start]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        end = time.monotonic() + timeout
        while alive() and time.monotonic() < end:
            time.sleep(_READY_POLL_S)
        if not alive():
            return


class ProsodyServer(ThrowawayServer):
    """A private Prosody instance on ``127.0.0.1`` for tests.

    :param domain: the single ``VirtualHost`` served.
    :param directory: directory for config, data and logs.  If omitted a
        temporary directory is created (and deleted by :meth:`stop` unless
        `keep` is true).  A given directory is created if needed and never
        deleted.
    :param keep: keep the temporary directory after :meth:`stop`.
    :param log_level: minimum level written to :attr:`log_path`
        (``"debug"``, ``"info"``, ``"warn"`` or ``"error"``).
    :param modules: modules to enable, defaults to :data:`DEFAULT_MODULES`.
    :param extra_config: Lua text appended to the global section of the
        config (before the ``VirtualHost`` line).
    :param host_config: Lua text appended after the ``VirtualHost`` line.
    :param startup_timeout: seconds :meth:`start` waits for the server.
    :param prosody: path of the ``prosody`` executable (default: PATH).
    :param prosodyctl: path of ``prosodyctl`` (default: PATH).

    :raises ProsodyNotInstalled: if the executables cannot be found.

    The config is written on construction, so accounts can be registered
    with :meth:`register` before :meth:`start`.
    """

    kind = "prosody"
    error = ProsodyError

    def __init__(
        self,
        domain: str = "localhost",
        *,
        directory: Optional[str] = None,
        keep: bool = False,
        log_level: str = "info",
        modules: Sequence[str] = DEFAULT_MODULES,
        extra_config: str = "",
        host_config: str = "",
        startup_timeout: float = 20.0,
        prosody: Optional[str] = None,
        prosodyctl: Optional[str] = None,
    ) -> None:
        if log_level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {_LOG_LEVELS}")
        self._prosody = _find_executable("prosody", prosody)
        self._prosodyctl = _find_executable("prosodyctl", prosodyctl)
        super().__init__(
            domain, directory=directory, keep=keep, startup_timeout=startup_timeout
        )
        self.log_level = log_level
        self.modules = tuple(modules)
        self.extra_config = extra_config
        self.host_config = host_config

        self.config_path = os.path.join(self.directory, "prosody.cfg.lua")
        self.data_path = os.path.join(self.directory, "data")
        self.pid_path = os.path.join(self.directory, "prosody.pid")
        #: Prosody's own log file.
        self.log_path = os.path.join(self.directory, "prosody.log")
        os.makedirs(self.data_path, exist_ok=True)
        # An empty certificate directory keeps certmanager from logging an
        # error on every start and every prosodyctl call.
        os.makedirs(os.path.join(self.directory, "certs"), exist_ok=True)
        self._write_config()

    # -- configuration -----------------------------------------------------

    def _config_text(self) -> str:
        lines = [
            "-- generated by aioxmpp_avatar.testing; do not edit",
            "daemonize = false",
            # Prosody refuses to start as root otherwise (tests on CI and in
            # containers run as root); it serves 127.0.0.1 only.
            "run_as_root = true",
            f"pidfile = {_lua_str(self.pid_path)}",
            f"data_path = {_lua_str(self.data_path)}",
            f"certificates = {_lua_str(os.path.join(self.directory, 'certs'))}",
            "log = {",
            f"  {{ levels = {{ min = {_lua_str(self.log_level)} }},",
            f'    to = "file", filename = {_lua_str(self.log_path)} }};',
            "}",
            f"interfaces = {_lua_list([self.host])}",
            f"local_interfaces = {_lua_list([self.host])}",
            f"c2s_ports = {{ {int(self.port)} }}",
            "s2s_ports = {}",
            "http_ports = {}",
            "https_ports = {}",
            "c2s_direct_tls_ports = {}",
            "s2s_direct_tls_ports = {}",
            "legacy_ssl_ports = {}",
            "c2s_require_encryption = false",
            "s2s_require_encryption = false",
            "allow_unencrypted_plain_auth = true",
            'storage = "internal"',
            'authentication = "internal_hashed"',
            f"modules_enabled = {_lua_list(self.modules)}",
            f"modules_disabled = {_lua_list(DISABLED_MODULES)}",
            self.extra_config,
            f"VirtualHost {_lua_str(self.domain)}",
            self.host_config,
            "",
        ]
        return "\n".join(lines)

    def _write_config(self) -> None:
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self._config_text())
        os.replace(tmp, self.config_path)

    def _command(self) -> List[str]:
        return [self._prosody, "-F", "--config", self.config_path]

    def _port_taken(self) -> bool:
        return _file_has(self.log_path, _PORT_FAILURE.format(port=self.port))

    # -- accounts ----------------------------------------------------------

    def register(self, user: str, password: str) -> Account:
        """Create (or reset the password of) `user` on :attr:`domain`.

        Uses ``prosodyctl --config FILE register``; works whether or not
        the server is running.
        """
        return super().register(user, password)

    def _register_one(self, user: str, password: str, timeout: float) -> None:
        argv = [
            self._prosodyctl,
            "--config",
            self.config_path,
            "register",
            user,
            self.domain,
            password,
        ]
        rc, out = self._run_tool(argv, timeout)
        if rc != 0:
            raise ProsodyError(f"exit {rc}: {out}")


def make_client(
    jid: Any,
    password: str,
    *,
    host: str,
    port: int,
    **kwargs: Any,
) -> Any:
    """Build an unconnected :class:`aioxmpp.Client` for `jid` (a string or
    an :class:`aioxmpp.JID`) that talks plain TCP (STARTTLS offered by the
    server would still be used, but is not required) to `host`:`port`,
    authenticating with `password`.

    Extra keyword arguments go to :class:`aioxmpp.Client`.

    :raises ValueError: if `host` is not a loopback address, since the
        connection may be unencrypted.
    """
    if not is_loopback(host):
        raise ValueError(
            f"refusing a possibly unencrypted XMPP connection to non-loopback"
            f" host {host!r}"
        )
    if isinstance(jid, str):
        jid = aioxmpp.JID.fromstr(jid)
    return aioxmpp.Client(
        jid,
        password_security_layer(password, require_tls=False),
        override_peer=[(host, port, aioxmpp.connector.STARTTLSConnector())],
        **kwargs,
    )


async def mutual_subscribe(
    client_a: Any,
    client_b: Any,
    timeout: float = 10.0,
) -> None:
    """Make two connected, *available* clients subscribe to each other.

    Both send a subscription request through :class:`aioxmpp.RosterClient`
    and approve the peer's request when :meth:`~aioxmpp.RosterClient.on_subscribe`
    fires; once both roster items say ``both``, both send their presence
    again and it returns when each has received the other's (so that the
    server knows each contact's entity capabilities, which decide who gets
    PEP notifications).

    :raises ValueError: if a client is not connected or not available
        (servers deliver subscription requests to available resources only).
    :raises TimeoutError: if the subscription is not mutual within `timeout`
        seconds.
    """
    clients = (client_a, client_b)
    for client in clients:
        if not client.established:
            raise ValueError(f"{client.local_jid} is not connected")
        if not client.summon(aioxmpp.PresenceServer).state.available:
            raise ValueError(
                f"{client.local_jid} is not available; subscription requests"
                " are only delivered to available resources"
            )

    jids = [c.local_jid.bare() for c in clients]
    rosters = [c.summon(aioxmpp.RosterClient) for c in clients]
    done = [asyncio.Event(), asyncio.Event()]

    with contextlib.ExitStack() as stack:
        for i, roster in enumerate(rosters):
            peer = jids[1 - i]
            event = done[i]

            def on_subscribe(
                stanza: Any, *, roster: Any = roster, peer: Any = peer
            ) -> None:
                if stanza.from_ is not None and stanza.from_.bare() == peer:
                    roster.approve(peer)

            def on_item(
                item: Any, *_args: Any, peer: Any = peer, event: asyncio.Event = event
            ) -> None:
                if item.jid == peer and item.subscription == "both":
                    event.set()

            stack.enter_context(roster.on_subscribe.context_connect(on_subscribe))
            stack.enter_context(roster.on_entry_added.context_connect(on_item))
            stack.enter_context(
                roster.on_entry_subscription_state_changed.context_connect(on_item)
            )

        # A roster get marks the session as "interested" so that Prosody
        # sends it roster pushes even if RosterClient was summoned only
        # after connecting; its answer also tells us the current state.
        for i, client in enumerate(clients):
            reply = await asyncio.wait_for(
                client.send(
                    aioxmpp.IQ(type_=aioxmpp.IQType.GET, payload=roster_xso.Query())
                ),
                timeout,
            )
            peer = jids[1 - i]
            current = rosters[i].items.get(peer)
            if (current is not None and current.subscription == "both") or any(
                item.jid == peer and item.subscription == "both"
                for item in (reply.items if reply is not None else ())
            ):
                done[i].set()

        if all(e.is_set() for e in done):
            return
        for i, roster in enumerate(rosters):
            roster.subscribe(jids[1 - i])

        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in done)), timeout)
        except asyncio.TimeoutError:
            states = [
                getattr(r.items.get(jids[1 - i]), "subscription", None)
                for i, r in enumerate(rosters)
            ]
            raise TimeoutError(
                f"mutual subscription {jids[0]} <-> {jids[1]} not established"
                f" within {timeout} s (roster states: {states})"
            ) from None
    await _exchange_presence(clients, jids, timeout)


async def _exchange_presence(
    clients: Sequence[Any], jids: Sequence[Any], timeout: float
) -> None:
    """Make both clients send their presence again and wait until each has
    received the other's.

    PEP notifications go to contacts whose entity capabilities say
    ``+notify`` (XEP-0163 §4, via XEP-0115); the server learns them from the
    contact's presence, and XEP-0163 leaves open whether a presence that
    raced with the subscription counts.  Prosody records it; ejabberd
    records only a presence that arrives once the subscription exists.  A
    presence received after the roster said ``both`` counts on both.
    """
    seen = [asyncio.Event(), asyncio.Event()]
    with contextlib.ExitStack() as stack:
        for i, client in enumerate(clients):
            peer, event = jids[1 - i], seen[i]

            def on_presence(
                full_jid: Any,
                stanza: Any,
                *,
                peer: Any = peer,
                event: asyncio.Event = event,
            ) -> None:
                if full_jid.bare() == peer:
                    event.set()

            presence = client.summon(aioxmpp.PresenceClient)
            for signal_ in (presence.on_available, presence.on_changed):
                stack.enter_context(signal_.context_connect(on_presence))
        for client in clients:
            client.summon(aioxmpp.PresenceServer).resend_presence()
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in seen)), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"{jids[0]} and {jids[1]} did not receive each other's presence"
                f" within {timeout} s"
            ) from None
