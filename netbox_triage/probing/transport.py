"""Run the probe script on hosts over SSH: one connection and one exec per host, every step bounded.

Each host ends with a :class:`ProbeResult` whose ``status`` says what happened; nothing a host does
(hanging, refusing, flooding, lying about its key) raises out of :func:`run_probe` or :func:`run_many`.
Sockets come from :mod:`netbox_triage.connections` only, so the scope check applies to every target
and every jump host. paramiko is used directly (Transport, not SSHClient) to check the host key
between the key exchange and authentication, and to make exactly one attempt per credential.
"""

import heapq
import logging
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import paramiko

from netbox_triage import connections
from netbox_triage.connections import OutOfScope, Resolver, Scope, UnresolvableHost
from netbox_triage.probing.hostkeys import HostKey, HostKeyPin, HostKeyPolicy, TrustOnFirstUse, key_algorithms

__all__ = (
    'Credentials',
    'CredentialsError',
    'DEFAULT_MAX_OUTPUT_BYTES',
    'PROBE_COMMAND',
    'ProbeResult',
    'ProbeStatus',
    'Target',
    'Timeouts',
    'run_many',
    'run_probe',
)

logger = logging.getLogger(__name__)

# paramiko logs every failed handshake at ERROR with a traceback; in a bulk run those failures are
# per-host statuses already, so its messages go to this logger, quiet unless configured otherwise.
SSH_LOG_CHANNEL = 'netbox_triage.ssh'
if logging.getLogger(SSH_LOG_CHANNEL).level == logging.NOTSET:
    logging.getLogger(SSH_LOG_CHANNEL).setLevel(logging.CRITICAL)

PROBE_COMMAND = 'exec sh -s'
DEFAULT_MAX_OUTPUT_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_STDERR_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024
# How long the watchdog lets a blocking paramiko call overrun its phase budget before closing it.
_WATCHDOG_GRACE = 0.5
# What a server may send before the key exchange is over (banner lines, KEXINIT, key exchange reply take a
# few KB). paramiko keeps reading banner lines into memory, so a hostile host could otherwise stream forever.
_HANDSHAKE_MAX_BYTES = 256 * 1024


class ProbeStatus:
    OK = 'ok'
    UNREACHABLE = 'unreachable'
    TIMEOUT = 'timeout'
    AUTH_FAILED = 'auth_failed'
    HOSTKEY_MISMATCH = 'hostkey_mismatch'
    OUT_OF_SCOPE = 'out_of_scope'
    ERROR = 'error'
    ALL = (OK, UNREACHABLE, TIMEOUT, AUTH_FAILED, HOSTKEY_MISMATCH, OUT_OF_SCOPE, ERROR)


@dataclass(frozen=True)
class Target:
    """One host to probe. ``host`` is what is dialled (a name or an address)."""

    key: str
    name: str
    host: str
    port: int = 22
    username: str = 'root'
    jump: 'Target | None' = None
    # 'ssh-ed25519 AAAA...' or 'SHA256:...'; None until the first successful probe pins it.
    pinned_host_key: str | None = None


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``banner`` bounds the SSH greeting and, separately, the key exchange after it;
    ``auth`` bounds authentication and opening the session; ``command`` is the total for the exec."""

    connect: float = 10.0
    banner: float = 10.0
    auth: float = 15.0
    command: float = 120.0

    def budget(self, jump: bool = False) -> float:
        """The longest a single host can take (the jump host's own steps counted when there is one)."""
        reach = self.connect + 2 * self.banner + self.auth
        return reach * (2 if jump else 1) + self.auth + self.command


class CredentialsError(Exception):
    """A key file cannot be used (missing, encrypted, unknown type). Never carries a secret."""


@dataclass(eq=False)
class Credentials:
    """What the probe authenticates with. Key files are read once and shared by every host of a job."""

    key_files: tuple[str, ...] = ()
    use_agent: bool = False
    password: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    _keys: list | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def load_keys(self) -> list:
        with self._lock:
            if self._keys is None:
                keys = []
                for path in self.key_files:
                    try:
                        keys.append(paramiko.PKey.from_path(path, password=self.key_passphrase))
                    except FileNotFoundError:
                        raise CredentialsError(f'key file {path} does not exist') from None
                    except PermissionError:
                        raise CredentialsError(f'key file {path} is not readable') from None
                    except (paramiko.PasswordRequiredException, TypeError):
                        raise CredentialsError(f'key file {path} is encrypted and no passphrase was given') from None
                    except Exception as exc:
                        raise CredentialsError(f'key file {path} cannot be loaded ({type(exc).__name__})') from None
                self._keys = keys
            return self._keys

    def redact(self, text: str) -> str:
        for secret in (self.password, self.key_passphrase):
            if secret:
                text = text.replace(secret, '***')
        return text


@dataclass
class ProbeResult:
    key: str
    name: str
    host: str
    port: int
    status: str = ProbeStatus.ERROR
    # The address actually dialled (after the scope check), for the record.
    address: str | None = None
    stdout: bytes = b''
    stderr: bytes = b''
    truncated: bool = False
    stderr_truncated: bool = False
    exit_status: int | None = None
    # The key the server presented: 'TYPE BASE64' is what a caller pins after a first use.
    hostkey: str | None = None
    hostkey_type: str | None = None
    hostkey_fingerprint: str | None = None
    hostkey_first_use: bool = False
    expected_fingerprints: tuple[str, ...] = ()
    jump_hostkey: str | None = None
    jump_hostkey_first_use: bool = False
    # Where the probe stopped: resolve, connect, banner, hostkey, auth, session, exec, done.
    phase: str = 'resolve'
    error: str = ''
    duration_ms: int = 0
    cpu_ms: float = 0.0
    # The output already parsed (facts.ParsedProbe), where the caller had it parsed next to the transport
    # (probing/forked.py); None: parse ``stdout``.
    parsed: object = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == ProbeStatus.OK

    def __repr__(self) -> str:
        return (
            f'<ProbeResult {self.key} {self.status} phase={self.phase} exit={self.exit_status} '
            f'stdout={len(self.stdout)}B{" truncated" if self.truncated else ""} {self.duration_ms}ms>'
        )


class _Stop(Exception):
    """Ends a probe early once its result says why."""


class _MeasuredTransport(paramiko.Transport):
    """A Transport that records the CPU time of its own thread, so the probe can be charged for it."""

    cpu_seconds = 0.0

    def run(self):
        try:
            super().run()
        except (EOFError, OSError):
            # Teardown only (paramiko's loop catches the rest): a transport tunnelled through a jump host closes
            # its channel after the jump transport is gone. Nothing is left to tell the peer; not worth a traceback.
            pass
        finally:
            self.cpu_seconds = time.thread_time()


class _HandshakeGuard:
    """Wraps the transport's socket and cuts it when the server sends too much before the key exchange ends."""

    def __init__(self, sock, limit: int = _HANDSHAKE_MAX_BYTES):
        self._sock = sock
        self._limit = limit
        self.received = 0
        self.open = False
        self.overflowed = False

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        if not self.open:
            self.received += len(data)
            if self.received > self._limit:
                self.overflowed = True
                raise EOFError('the server sent too much before the SSH key exchange')
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Watchdog:
    """One thread for the whole process that aborts probes stuck in a call paramiko does not bound
    (exec_command waits forever for the server's reply)."""

    def __init__(self):
        # Entries hold weak references: a finished probe (and its output) must not wait here for its deadline.
        self._heap: list[tuple[float, int, weakref.ref]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._counter = 0

    def arm(self, deadline: float, probe: '_Probe') -> None:
        with self._cond:
            self._counter += 1
            heapq.heappush(self._heap, (deadline, self._counter, weakref.ref(probe)))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name='triage-probe-watchdog', daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, probe_ref = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
            probe = probe_ref()
            if probe is not None:
                probe.expire(deadline)
                del probe


_watchdog = _Watchdog()


def _close_all(closables: list) -> None:
    """Close channels, then shut sockets down (so transport threads see EOF at once), then the rest."""
    channels = [item for item in closables if isinstance(item, paramiko.Channel)]
    sockets = [item for item in closables if isinstance(item, socket.socket)]
    others = [item for item in closables if item not in channels and item not in sockets]
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    for item in channels + others + sockets:
        try:
            item.close()
        except Exception:
            pass


def _elapsed_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class _Probe:
    def __init__(self, target, credentials, timeouts, scope, hostkey_policy, resolver):
        self.target = target
        self.credentials = credentials
        self.timeouts = timeouts
        self.scope = scope
        self.policy = hostkey_policy or TrustOnFirstUse()
        self.resolver = resolver
        self.result = ProbeResult(key=target.key, name=target.name, host=target.host, port=target.port)
        self._lock = threading.Lock()
        self._closables: list = []
        self._deadline = float('inf')
        self._expired = False
        self._done = False

    # --- watchdog -------------------------------------------------------------------------------

    def _phase(self, phase: str, budget: float) -> None:
        with self._lock:
            self.result.phase = phase
            self._deadline = time.monotonic() + budget + _WATCHDOG_GRACE
            deadline = self._deadline
        _watchdog.arm(deadline, self)

    def expire(self, deadline: float) -> None:
        with self._lock:
            if self._done or deadline != self._deadline:
                return
            self._expired = True
            closables = list(self._closables)
        _close_all(closables)

    def _track(self, item):
        with self._lock:
            self._closables.append(item)
        return item

    # --- outcome helpers ------------------------------------------------------------------------

    def _fail(self, status: str, message: str):
        self.result.status = status
        self.result.error = self.credentials.redact(message)
        raise _Stop()

    def _fail_ssh(self, exc: BaseException, what: str, budget: float, started: float, transport=None):
        """Classify an exception raised by paramiko during the handshake, auth or session."""
        timed_out = f'{what} timed out after {budget:g}s'
        if transport is not None and not transport.remote_version:
            timed_out = f'{what}: no SSH banner within {self.timeouts.banner:g}s'
            guard = transport.sock
            if isinstance(guard, _HandshakeGuard) and guard.received:
                timed_out += f' (it sent {guard.received} bytes of something else: not an SSH server?)'
        elif transport is not None and not transport.initial_kex_done:
            timed_out = f'{what}: key exchange did not finish within {self.timeouts.banner:g}s'
        if self._expired or time.monotonic() - started >= budget:
            self._fail(ProbeStatus.TIMEOUT, timed_out)
        cause = exc.__context__ if isinstance(exc, paramiko.SSHException) else exc
        text = str(exc)
        if isinstance(cause, TimeoutError) or (transport is not None and transport.packetizer.handshake_timed_out()):
            self._fail(ProbeStatus.TIMEOUT, timed_out)
        if isinstance(exc, EOFError) or isinstance(cause, (EOFError, ConnectionResetError, BrokenPipeError)):
            self._fail(ProbeStatus.UNREACHABLE, f'connection closed by the server during {what}')
        if 'Indecipherable protocol version' in text:
            self._fail(ProbeStatus.ERROR, f'not an SSH server: it greeted with {text.split(chr(34))[1][:80]!r}')
        self._fail(ProbeStatus.ERROR, f'{what} failed: {type(exc).__name__}: {text or "no detail"}')

    # --- the probe ------------------------------------------------------------------------------

    def run(self, script: bytes, max_output: int, max_stderr: int) -> ProbeResult:
        started = time.monotonic()
        cpu_started = time.thread_time()
        transports: list[_MeasuredTransport] = []
        try:
            self._execute(script, max_output, max_stderr, transports)
        except _Stop:
            pass
        except Exception as exc:  # a bug or an unforeseen paramiko error: still a per-host status
            logger.debug('probe of %s failed unexpectedly', self.target.key, exc_info=True)
            self.result.status = ProbeStatus.ERROR
            self.result.error = self.credentials.redact(f'{type(exc).__name__}: {exc}')
        finally:
            with self._lock:
                self._done = True
                closables = list(self._closables)
            _close_all(closables)
            cpu = time.thread_time() - cpu_started
            for transport in transports:
                transport.join(1.0)
                cpu += transport.cpu_seconds
            self.result.cpu_ms = round(cpu * 1000, 2)
            self.result.duration_ms = _elapsed_ms(started)
        logger.debug('probe %s: %s (%s) in %d ms', self.target.key, self.result.status, self.result.phase,
                     self.result.duration_ms)
        return self.result

    def _execute(self, script, max_output, max_stderr, transports):
        target, timeouts, result = self.target, self.timeouts, self.result
        try:
            keys = self.credentials.load_keys()
        except CredentialsError as exc:
            self._fail(ProbeStatus.ERROR, str(exc))
        # Every hop is checked before the first packet leaves, the target even when reached through a jump.
        hops = {'target': target} if target.jump is None else {'jump': target.jump, 'target': target}
        self._pins, self._addresses = {}, {}
        for role, hop in hops.items():
            try:
                self._pins[role] = HostKeyPin.parse(hop.pinned_host_key) if hop.pinned_host_key else None
            except ValueError as exc:
                self._fail(ProbeStatus.ERROR, f'the pinned host key of {hop.name} is unusable: {exc}')
        for role, hop in hops.items():
            try:
                self._addresses[role] = connections.check_target(hop.host, hop.port, self.scope,
                                                                 resolver=self.resolver)
            except OutOfScope as exc:
                self._fail(ProbeStatus.OUT_OF_SCOPE, f'{"jump host " if role == "jump" else ""}{exc}')
            except UnresolvableHost as exc:
                self._fail(ProbeStatus.UNREACHABLE, str(exc))
        result.address = self._addresses['target']

        sock = None
        if target.jump is not None:
            jump = target.jump
            jump_sock = self._connect(jump, label=f'jump host {jump.host}')
            jump_transport = self._ssh(jump, jump_sock, keys, transports, is_jump=True)
            self._phase('connect', timeouts.connect)
            started = time.monotonic()
            try:
                sock = self._track(connections.open_tunnel(
                    jump_transport, target.host, target.port, scope=self.scope, timeout=timeouts.connect,
                    resolver=self.resolver,
                ))
            except OutOfScope as exc:
                self._fail(ProbeStatus.OUT_OF_SCOPE, str(exc))
            except paramiko.ChannelException as exc:
                self._fail(ProbeStatus.UNREACHABLE, f'jump host {jump.host} cannot reach {target.host} port '
                                                    f'{target.port}: {exc.text or exc.code}')
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._fail_ssh(exc, f'tunnel through {jump.host}', timeouts.connect, started)
        else:
            sock = self._connect(target, label=target.host)
        transport = self._ssh(target, sock, keys, transports, is_jump=False)
        self._exec(transport, script, max_output, max_stderr)

    def _connect(self, hop: Target, label: str):
        self._phase('connect', self.timeouts.connect)
        try:
            return self._track(connections.open_connection(
                hop.host, hop.port, scope=self.scope, timeout=self.timeouts.connect, resolver=self.resolver
            ))
        except OutOfScope as exc:
            self._fail(ProbeStatus.OUT_OF_SCOPE, str(exc))
        except UnresolvableHost as exc:
            self._fail(ProbeStatus.UNREACHABLE, str(exc))
        except ConnectionRefusedError:
            self._fail(ProbeStatus.UNREACHABLE, f'{label} port {hop.port}: connection refused')
        except TimeoutError:
            self._fail(ProbeStatus.TIMEOUT, f'{label} port {hop.port}: TCP connect timed out after '
                                            f'{self.timeouts.connect:g}s')
        except OSError as exc:
            if self._expired:
                self._fail(ProbeStatus.TIMEOUT, f'{label} port {hop.port}: TCP connect timed out')
            self._fail(ProbeStatus.UNREACHABLE, f'{label} port {hop.port}: {exc.strerror or exc}')

    def _ssh(self, hop: Target, sock, keys, transports, is_jump: bool):
        """Key exchange, host key check, authentication; returns the authenticated transport."""
        timeouts, result = self.timeouts, self.result
        label = f'jump host {hop.host}' if is_jump else hop.host
        guard = _HandshakeGuard(sock)
        transport = self._track(_MeasuredTransport(guard))
        transports.append(transport)
        transport.set_log_channel(SSH_LOG_CHANNEL)
        transport.banner_timeout = timeouts.banner
        transport.handshake_timeout = timeouts.banner
        transport.auth_timeout = timeouts.auth

        role = 'jump' if is_jump else 'target'
        pin = self._pins[role]
        names = list(dict.fromkeys([hop.host, hop.name, self._addresses[role]]))
        preferred = [alg for key_type in self.policy.preferred_key_types(names, hop.port, pin)
                     for alg in key_algorithms(key_type)]
        if preferred:
            options = transport.get_security_options()
            available = list(options.key_types)
            options.key_types = [alg for alg in preferred if alg in available] + [
                alg for alg in available if alg not in preferred]

        budget = 2 * timeouts.banner
        self._phase('banner', budget)
        started = time.monotonic()
        try:
            transport.start_client(timeout=budget)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if guard.overflowed:
                self._fail(ProbeStatus.ERROR, f'{label} sent more than {_HANDSHAKE_MAX_BYTES // 1024} KiB without '
                                              f'completing an SSH handshake: not an SSH server, or a hostile one')
            self._fail_ssh(exc, f'SSH handshake with {label}', budget, started, transport)
        if not transport.is_active() or not transport.initial_kex_done:
            self._fail_ssh(TimeoutError(), f'SSH handshake with {label}', budget, started, transport)
        guard.open = True

        result.phase = 'hostkey'
        key = HostKey.from_pkey(transport.get_remote_server_key())
        verdict = self.policy.check(names, hop.port, pin, key)
        if is_jump:
            result.jump_hostkey = str(key)
            result.jump_hostkey_first_use = verdict.first_use
        else:
            result.hostkey = str(key)
            result.hostkey_type = key.key_type
            result.hostkey_fingerprint = key.fingerprint
            result.hostkey_first_use = verdict.first_use
        if not verdict.accepted:
            result.expected_fingerprints = verdict.expected
            self._fail(ProbeStatus.HOSTKEY_MISMATCH, f'{label}: {verdict.message}')

        self._authenticate(transport, hop, keys, label)
        return transport

    def _authenticate(self, transport, hop: Target, keys, label: str):
        """One attempt per credential, in order: key files, agent keys, password. Never a retry."""
        timeouts = self.timeouts
        self._phase('auth', timeouts.auth)
        started = time.monotonic()
        deadline = started + timeouts.auth
        tried: list[str] = []
        allowed: list[str] | None = None
        agent = None
        candidates = [('publickey', key, f'key {key.get_name()} {key.fingerprint}') for key in keys]
        try:
            if self.credentials.use_agent:
                try:
                    agent = paramiko.Agent()
                    candidates += [('publickey', key, f'agent key {key.fingerprint}') for key in agent.get_keys()]
                except paramiko.SSHException:
                    agent = None
            if self.credentials.password is not None:
                candidates.append(('password', self.credentials.password, 'password'))
            if not candidates:
                self._fail(ProbeStatus.AUTH_FAILED, f'{label}: no credentials configured (no key file, agent '
                                                    f'or password)')
            for method, secret, description in candidates:
                if allowed is not None and method not in allowed and not (
                        method == 'password' and 'keyboard-interactive' in allowed):
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail(ProbeStatus.TIMEOUT, f'{label}: authentication timed out after {timeouts.auth:g}s')
                transport.auth_timeout = remaining
                tried.append(description)
                try:
                    if method == 'publickey':
                        partial = transport.auth_publickey(hop.username, secret)
                    else:
                        partial = transport.auth_password(hop.username, secret)
                except paramiko.BadAuthenticationType as exc:
                    allowed = list(exc.allowed_types)
                    tried[-1] += ' (method not offered)'
                    continue
                except paramiko.AuthenticationException as exc:
                    if 'timeout' in str(exc).lower() or self._expired:
                        self._fail(ProbeStatus.TIMEOUT, f'{label}: authentication timed out after '
                                                        f'{timeouts.auth:g}s')
                    if 'transport shut down' in str(exc):
                        self._fail(ProbeStatus.UNREACHABLE, f'{label}: connection closed during authentication')
                    continue
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    self._fail_ssh(exc, f'authentication to {label}', timeouts.auth, started)
                if transport.is_authenticated():
                    return
                if partial:
                    allowed = list(partial)
        finally:
            if agent is not None:
                agent.close()
        offered = f'; the server offers {", ".join(allowed)}' if allowed else ''
        self._fail(ProbeStatus.AUTH_FAILED, f'{label}: authentication as {hop.username!r} rejected '
                                            f'(tried {"; ".join(tried) or "nothing usable"}){offered}')

    def _exec(self, transport, script: bytes, max_output: int, max_stderr: int):
        timeouts, result, target = self.timeouts, self.result, self.target
        self._phase('session', timeouts.auth)
        started = time.monotonic()
        try:
            channel = self._track(transport.open_session(timeout=timeouts.auth))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._fail_ssh(exc, f'opening a session on {target.host}', timeouts.auth, started)

        self._phase('exec', timeouts.command)
        started = time.monotonic()
        deadline = started + timeouts.command
        stdout, stderr = bytearray(), bytearray()
        try:
            channel.settimeout(timeouts.command)
            channel.exec_command(PROBE_COMMAND)
            channel.sendall(script)
            channel.shutdown_write()
            poller = select.poll()
            poller.register(channel.fileno(), select.POLLIN)
            while True:
                while channel.recv_ready() and not result.truncated:
                    data = channel.recv(_READ_CHUNK)
                    if len(stdout) + len(data) > max_output:
                        stdout += data[:max_output - len(stdout)]
                        result.truncated = True
                    else:
                        stdout += data
                while channel.recv_stderr_ready():
                    data = channel.recv_stderr(_READ_CHUNK)
                    if len(stderr) + len(data) > max_stderr:
                        stderr += data[:max_stderr - len(stderr)]
                        result.stderr_truncated = True
                    else:
                        stderr += data
                if result.truncated:
                    # Enough: the rest would be thrown away, so stop the command rather than drain it.
                    break
                if (channel.eof_received or channel.closed) and not channel.recv_ready() \
                        and not channel.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._expired:
                    result.stdout, result.stderr = bytes(stdout), bytes(stderr)
                    self._fail(ProbeStatus.TIMEOUT, f'{target.host}: the probe did not finish within '
                                                    f'{timeouts.command:g}s ({len(stdout)} bytes of output kept)')
                poller.poll(min(remaining, 1.0) * 1000)
            if not result.truncated:
                remaining = max(0.0, deadline - time.monotonic())
                if channel.status_event.wait(remaining) and channel.exit_status != -1:
                    result.exit_status = channel.exit_status
        except TimeoutError:
            result.stdout, result.stderr = bytes(stdout), bytes(stderr)
            self._fail(ProbeStatus.TIMEOUT, f'{target.host}: the probe did not finish within {timeouts.command:g}s')
        except (paramiko.SSHException, OSError, EOFError) as exc:
            result.stdout, result.stderr = bytes(stdout), bytes(stderr)
            if self._expired:
                self._fail(ProbeStatus.TIMEOUT, f'{target.host}: the probe did not finish within '
                                                f'{timeouts.command:g}s')
            self._fail(ProbeStatus.ERROR, f'{target.host}: running the probe failed: {type(exc).__name__}: '
                                          f'{exc or "channel closed"}')
        result.stdout, result.stderr = bytes(stdout), bytes(stderr)
        result.status = ProbeStatus.OK
        result.phase = 'done'


def run_probe(
    target: Target,
    script: bytes,
    credentials: Credentials,
    timeouts: Timeouts,
    scope: Scope,
    hostkey_policy: HostKeyPolicy | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    *,
    max_stderr_bytes: int = DEFAULT_MAX_STDERR_BYTES,
    resolver: Resolver | None = None,
) -> ProbeResult:
    """Probe one host: connect (scope-checked), check its key, authenticate, run ``script`` with sh -s.

    Never raises for anything the host or the network does; the result's status says what happened.
    """
    probe = _Probe(target, credentials, timeouts, scope, hostkey_policy, resolver)
    return probe.run(script, max_output_bytes, max_stderr_bytes)


def run_many(
    targets: Iterable[Target],
    script: bytes,
    credentials: Credentials,
    timeouts: Timeouts,
    scope: Scope,
    hostkey_policy: HostKeyPolicy | None = None,
    concurrency: int = 20,
    on_result: Callable[[ProbeResult], None] | None = None,
    *,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    keep_output: bool = True,
    resolver: Resolver | None = None,
    on_idle: Callable[[], None] | None = None,
    idle_seconds: float = 1.0,
) -> list[ProbeResult]:
    """Probe many hosts, at most ``concurrency`` at once; results come back in ``targets`` order.

    ``on_result`` is called in the calling thread as each host finishes (so it may use the Django ORM);
    ``on_idle``, in the same thread, whenever no host finished for ``idle_seconds``.
    With ``keep_output=False`` the returned results drop stdout/stderr once ``on_result`` has seen
    them, so a run over thousands of hosts does not hold every output in memory.
    A host that hangs holds one worker for at most its own ``timeouts.budget()``.
    """
    targets = list(targets)
    if not targets:
        return []
    results: list[ProbeResult | None] = [None] * len(targets)
    workers = max(1, min(concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='triage-probe') as pool:
        futures = {
            pool.submit(
                run_probe, target, script, credentials, timeouts, scope, hostkey_policy, max_output_bytes,
                resolver=resolver,
            ): index
            for index, target in enumerate(targets)
        }
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=idle_seconds if on_idle else None, return_when=FIRST_COMPLETED)
                if not done:
                    on_idle()  # nothing finished for a while: the caller may flush what it holds
                    continue
                for future in done:
                    result = future.result()
                    results[futures[future]] = result
                    if on_result is not None:
                        on_result(result)
                    if not keep_output:
                        result.stdout = result.stderr = b''
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results
