"""A simulated fleet of SSH hosts on loopback addresses, for tests, the demo and benchmarks.

One process listens on one loopback address per host (127.100.x.y for the demo seed, 127.101.x.y for
benchmarks), all on the same port, and answers the probe's ``exec sh -s`` with the bytes of the host's
profile (``profiles/<name>.out``). Each host can misbehave on purpose (see manifest.BEHAVIOURS).
Host keys live in a state directory and stay the same across restarts, except for hostkey_change.

    python -m netbox_triage.fleet.server --seed --port 2222 --authorized-key ~/.ssh/id_ed25519.pub \\
        --pidfile /tmp/fleet.pid

It only ever listens on, and forwards to (as a jump host), loopback addresses.
"""

import argparse
import errno
import hmac
import ipaddress
import logging
import os
import random
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from netbox_triage.fleet.manifest import DEFAULT_PORT, FleetHost, load_manifest, scale_fleet, seed_fleet

__all__ = (
    'FleetServer',
    'HostStats',
    'PROFILES_DIR',
    'main',
)

logger = logging.getLogger(__name__)
_SSH_LOG_CHANNEL = 'netbox_triage.fleet.ssh'
if logging.getLogger(_SSH_LOG_CHANNEL).level == logging.NOTSET:
    logging.getLogger(_SSH_LOG_CHANNEL).setLevel(logging.CRITICAL)

PROFILES_DIR = Path(__file__).resolve().parent / 'profiles'
FLOOD_BYTES = 10 * 1000 * 1000
GARBAGE_BYTES = 256 * 1024
_STDIN_LIMIT = 4 * 1024 * 1024
_SESSION_TIMEOUT = 60.0


@dataclass
class HostStats:
    """What a host saw, so tests can prove what did (not) happen."""

    connections: int = 0
    auth_attempts: int = 0
    execs: int = 0
    commands: list = field(default_factory=list)
    script_bytes: int = 0
    forwards: int = 0


class _LatencySocket:
    """Delays every burst the server receives by ``latency`` seconds: one added delay per round trip."""

    def __init__(self, sock: socket.socket, latency: float):
        self._sock = sock
        self._latency = latency
        self._buffer = b''

    def recv(self, n: int) -> bytes:
        if not self._buffer:
            data = self._sock.recv(65536)
            if not data:
                return data
            time.sleep(self._latency)
            self._buffer = data
        chunk, self._buffer = self._buffer[:n], self._buffer[n:]
        return chunk

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _generate_ed25519() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


def _load_ed25519(data: bytes) -> paramiko.PKey:
    import io

    return paramiko.Ed25519Key(file_obj=io.StringIO(data.decode()))


def _parse_authorized_keys(entries) -> set[bytes]:
    """Public key blobs from PKeys, 'TYPE BASE64 [comment]' lines or files of such lines."""
    import base64

    blobs = set()
    for entry in entries:
        if isinstance(entry, paramiko.PKey):
            blobs.add(entry.asbytes())
            continue
        text = str(entry)
        if not text.startswith(('ssh-', 'ecdsa-')) and Path(text).exists():
            text = Path(text).read_text()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith('#'):
                # An authorized_keys line may start with options; the key type is the field before the base64.
                for index, part in enumerate(parts[:-1]):
                    if part.startswith(('ssh-', 'ecdsa-')):
                        blobs.add(base64.b64decode(parts[index + 1]))
                        break
    return blobs


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split('%', 1)[0]).is_loopback
    except ValueError:
        return False


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: 'FleetServer', host: FleetHost, stats: HostStats):
        self.server = server
        self.host = host
        self.stats = stats
        self.exec_events: dict[int, threading.Event] = {}
        self.exec_commands: dict[int, bytes] = {}
        self.forwards: dict[int, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def get_allowed_auths(self, username):
        methods = []
        if self.server.authorized_blobs:
            methods.append('publickey')
        if self.server.password is not None:
            methods.append('password')
        return ','.join(methods) or 'publickey'

    def _count(self):
        with self.server.stats_lock:
            self.stats.auth_attempts += 1

    def check_auth_publickey(self, username, key):
        self._count()
        if self.host.behaviour == 'auth_reject':
            return paramiko.AUTH_FAILED
        if key.asbytes() in self.server.authorized_blobs:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username, password):
        self._count()
        if self.host.behaviour == 'auth_reject' or self.server.password is None:
            return paramiko.AUTH_FAILED
        if hmac.compare_digest(password.encode(), self.server.password.encode()):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == 'session':
            with self._lock:
                self.exec_events[chanid] = threading.Event()
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        # A fleet host can serve as a jump host, to loopback destinations only.
        if not _is_loopback(destination[0]):
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        with self._lock:
            self.forwards[chanid] = (destination[0], int(destination[1]))
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel, command):
        with self._lock:
            event = self.exec_events.get(channel.get_id())
            if event is None or event.is_set():
                return False
            self.exec_commands[channel.get_id()] = bytes(command)
        event.set()
        return True

    def check_channel_pty_request(self, *args):
        return False

    def check_channel_shell_request(self, channel):
        return False


class FleetServer:
    """Serve ``hosts`` from threads of this process; ``start()`` returns once every listener is bound.

    ``port`` 0 on the hosts means: pick one free port for all of them (see :attr:`port`).
    """

    def __init__(
        self,
        hosts: list[FleetHost],
        *,
        state_dir,
        profiles_dir=None,
        authorized_keys=(),
        password: str | None = None,
        garbage_bytes: int = GARBAGE_BYTES,
        flood_bytes: int = FLOOD_BYTES,
        backlog: int = 128,
    ):
        addresses = [host.address for host in hosts]
        if len(set(addresses)) != len(addresses):
            raise ValueError('fleet hosts need distinct addresses')
        self.hosts = list(hosts)
        self.state_dir = Path(state_dir)
        self.profiles_dir = Path(profiles_dir) if profiles_dir else PROFILES_DIR
        self.authorized_blobs = _parse_authorized_keys(authorized_keys)
        self.password = password
        self.garbage_bytes = garbage_bytes
        self.flood_bytes = flood_bytes
        self.backlog = backlog
        self.stats: dict[str, HostStats] = {host.address: HostStats() for host in hosts}
        self.stats_lock = threading.Lock()
        self.port: int | None = None
        self._by_address = {host.address: host for host in hosts}
        self._keys: dict[str, paramiko.PKey] = {}
        self._keys_lock = threading.Lock()
        self._profiles: dict[str, bytes | None] = {}
        self._listeners: dict[socket.socket, FleetHost] = {}
        self._hung: set[socket.socket] = set()
        self._transports: set[paramiko.Transport] = set()
        self._transports_lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wakeup_r, self._wakeup_w = None, None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> 'FleetServer':
        (self.state_dir / 'hostkeys').mkdir(parents=True, exist_ok=True)
        self._bind_all()
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, None)
        for sock in self._listeners:
            self._selector.register(sock, selectors.EVENT_READ, 'listen')
        self._thread = threading.Thread(target=self._accept_loop, name='fleet-accept', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._wakeup_w is not None:
            try:
                self._wakeup_w.send(b'x')
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        with self._transports_lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        for sock in list(self._listeners) + list(self._hung):
            sock.close()
        self._listeners.clear()
        self._hung.clear()
        for sock in (self._wakeup_r, self._wakeup_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _bind_all(self) -> None:
        listening = [host for host in self.hosts if host.behaviour != 'refuse']
        pick = any(not host.port for host in listening)
        for _attempt in range(20):
            chosen = 0
            try:
                for host in listening:
                    port = host.port or chosen
                    sock = socket.socket(socket.AF_INET6 if ':' in host.address else socket.AF_INET)
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        sock.bind((host.address, port))
                        sock.listen(self.backlog)
                    except OSError:
                        sock.close()
                        raise
                    sock.setblocking(False)
                    self._listeners[sock] = host
                    if not host.port and not chosen:
                        chosen = sock.getsockname()[1]
                ports = {host.port for host in listening if host.port}
                self.port = chosen or (min(ports) if ports else None)
                return
            except OSError as exc:
                for sock in self._listeners:
                    sock.close()
                self._listeners.clear()
                if exc.errno != errno.EADDRINUSE or not pick:
                    raise
        raise OSError(errno.EADDRINUSE, 'could not find a port free on every fleet address')

    # --- keys and profiles ----------------------------------------------------------------------

    def hostkey(self, address: str) -> paramiko.PKey:
        """The host key ``address`` presents now (created on first use, kept in state_dir)."""
        with self._keys_lock:
            key = self._keys.get(address)
            if key is None:
                host = self._by_address[address]
                if host.behaviour == 'hostkey_change':
                    key = _load_ed25519(_generate_ed25519())
                else:
                    path = self.state_dir / 'hostkeys' / f'{address}_ed25519'
                    if not path.exists():
                        tmp = path.with_suffix('.tmp')
                        tmp.write_bytes(_generate_ed25519())
                        os.chmod(tmp, 0o600)
                        tmp.replace(path)
                    key = _load_ed25519(path.read_bytes())
                self._keys[address] = key
            return key

    def rotate_hostkey(self, address: str) -> paramiko.PKey:
        """Give ``address`` a fresh host key (in memory only), as a reinstall or an impostor would."""
        with self._keys_lock:
            self._keys[address] = _load_ed25519(_generate_ed25519())
            return self._keys[address]

    def known_hosts_lines(self) -> list[str]:
        """OpenSSH known_hosts lines for every listening host, for strict mode."""
        lines = []
        for host in self.hosts:
            if host.behaviour in ('refuse', 'hang'):
                continue
            key = self.hostkey(host.address)
            token = host.address if self.port == 22 else f'[{host.address}]:{self.port or host.port}'
            lines.append(f'{token} {key.get_name()} {key.get_base64()}')
        return lines

    def _profile(self, name: str) -> bytes | None:
        if name not in self._profiles:
            path = self.profiles_dir / f'{name}.out'
            self._profiles[name] = path.read_bytes() if path.is_file() else None
        return self._profiles[name]

    # --- serving --------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self._selector.select(timeout=1.0)
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            for key, _mask in events:
                sock = key.fileobj
                if key.data == 'listen':
                    self._accept(sock)
                elif key.data == 'hung':
                    self._drain_hung(sock)
                elif sock is self._wakeup_r:
                    return

    def _accept(self, listener: socket.socket) -> None:
        host = self._listeners.get(listener)
        if host is None:
            return
        for _ in range(64):
            try:
                conn, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            with self.stats_lock:
                self.stats[host.address].connections += 1
            if host.behaviour == 'hang':
                # Hold the connection and never send the banner; close it only when the client goes away.
                conn.setblocking(False)
                self._hung.add(conn)
                self._selector.register(conn, selectors.EVENT_READ, 'hung')
                continue
            conn.setblocking(True)
            threading.Thread(target=self._serve, args=(conn, host), name=f'fleet-{host.name}', daemon=True).start()

    def _drain_hung(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if not data:
            self._selector.unregister(conn)
            self._hung.discard(conn)
            conn.close()

    def _serve(self, conn: socket.socket, host: FleetHost) -> None:
        stats = self.stats[host.address]
        sock = _LatencySocket(conn, host.latency_ms / 1000.0) if host.latency_ms else conn
        transport = paramiko.Transport(sock)
        transport.set_log_channel(_SSH_LOG_CHANNEL)
        with self._transports_lock:
            self._transports.add(transport)
        try:
            transport.add_server_key(self.hostkey(host.address))
            interface = _Interface(self, host, stats)
            try:
                transport.start_server(server=interface)
            except (paramiko.SSHException, EOFError, OSError):
                return
            while transport.is_active() and not self._stopping.is_set():
                channel = transport.accept(timeout=1.0)
                if channel is None:
                    continue
                chanid = channel.get_id()
                if chanid in interface.forwards:
                    target = self._forward
                    args = (channel, interface.forwards[chanid], stats)
                else:
                    target = self._session
                    args = (channel, interface, host, stats)
                threading.Thread(target=target, args=args, daemon=True).start()
        except Exception:
            logger.debug('fleet host %s: connection ended with an error', host.name, exc_info=True)
        finally:
            transport.close()
            with self._transports_lock:
                self._transports.discard(transport)

    def _session(self, channel, interface: _Interface, host: FleetHost, stats: HostStats) -> None:
        try:
            event = interface.exec_events.get(channel.get_id())
            if event is None or not event.wait(_SESSION_TIMEOUT):
                return
            command = interface.exec_commands.get(channel.get_id(), b'')
            with self.stats_lock:
                stats.execs += 1
                stats.commands.append(command.decode(errors='replace'))
            # Like sh -s: read the script to its end first.
            channel.settimeout(_SESSION_TIMEOUT)
            received = 0
            while received < _STDIN_LIMIT:
                data = channel.recv(65536)
                if not data:
                    break
                received += len(data)
            with self.stats_lock:
                stats.script_bytes += received
            if command.strip() not in (b'exec sh -s', b'sh -s', b'/bin/sh -s'):
                channel.sendall_stderr(b'fleet: only the probe (exec sh -s) is simulated\n')
                channel.send_exit_status(127)
                return
            if host.behaviour == 'stall':
                # Never answer; leave when the client gives up or the fleet stops.
                while not channel.closed and not self._stopping.wait(0.2):
                    pass
            elif host.behaviour == 'flood':
                line = b'flood ' * 20 + b'\n'
                chunk = line * (65536 // len(line))
                sent = 0
                while sent < self.flood_bytes:
                    part = chunk[:self.flood_bytes - sent]
                    channel.sendall(part)
                    sent += len(part)
                channel.send_exit_status(0)
            elif host.behaviour == 'garbage':
                channel.sendall(random.Random(host.address).randbytes(self.garbage_bytes))
                channel.send_exit_status(0)
            else:
                output = self._profile(host.profile)
                if output is None:
                    channel.sendall_stderr(f'fleet: no profile {host.profile!r} in {self.profiles_dir}\n'.encode())
                    channel.send_exit_status(1)
                else:
                    channel.sendall(output)
                    channel.send_exit_status(0)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            for finish in (channel.shutdown_write, channel.close):
                try:
                    finish()
                except (OSError, EOFError, paramiko.SSHException):  # the client is gone (a killed prober)
                    pass

    def _forward(self, channel, destination: tuple[str, int], stats: HostStats) -> None:
        with self.stats_lock:
            stats.forwards += 1
        try:
            upstream = socket.create_connection(destination, timeout=10)
        except OSError:
            channel.close()
            return
        upstream.settimeout(None)

        def pump_up():
            try:
                while True:
                    data = channel.recv(65536)
                    if not data:
                        break
                    upstream.sendall(data)
            except (OSError, EOFError):
                pass
            finally:
                try:
                    upstream.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        thread = threading.Thread(target=pump_up, daemon=True)
        thread.start()
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                channel.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            thread.join(5)
            upstream.close()
            channel.close()


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m netbox_triage.fleet.server', description=__doc__.split('\n')[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--seed', action='store_true', help='the 12 demo hosts on 127.100.x.y')
    which.add_argument('--scale', type=int, metavar='N', help='N benchmark hosts on 127.101.0.1 upwards')
    which.add_argument('--manifest', metavar='FILE', help='hosts from a JSON manifest')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT)
    parser.add_argument('--latency-ms', type=float, default=50.0, help='with --scale: added latency per round trip')
    parser.add_argument('--hang-fraction', type=float, default=0.0, help='with --scale: share of hanging hosts')
    parser.add_argument('--profile', default='ubuntu2204', help='with --scale: the profile every host answers')
    parser.add_argument('--authorized-key', action='append', default=[], metavar='FILE',
                        help='public key (.pub or authorized_keys file) accepted by every host; repeatable')
    parser.add_argument('--password-env', metavar='VAR', help='accept the password held in this environment variable')
    parser.add_argument('--state-dir', default=os.path.join(os.path.expanduser('~'), '.cache', 'netbox-triage-fleet'))
    parser.add_argument('--profiles-dir', default=str(PROFILES_DIR))
    parser.add_argument('--pidfile', metavar='FILE', help='written once every listener is bound')
    parser.add_argument('--known-hosts-out', metavar='FILE', help='write known_hosts lines for the fleet here')
    parser.add_argument('--manifest-out', metavar='FILE', help='write the served hosts as a JSON manifest here')
    args = parser.parse_args(argv)

    if args.seed:
        hosts = seed_fleet(port=args.port)
    elif args.scale is not None:
        hosts = scale_fleet(args.scale, args.latency_ms, args.hang_fraction, port=args.port, profile=args.profile)
    else:
        hosts = load_manifest(args.manifest, port=args.port)
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            parser.error(f'environment variable {args.password_env} is not set')
    if not args.authorized_key and password is None:
        parser.error('give --authorized-key and/or --password-env: the fleet accepts nobody otherwise')

    _raise_fd_limit()
    logging.basicConfig(level=logging.INFO, format='fleet: %(message)s')
    server = FleetServer(hosts, state_dir=args.state_dir, profiles_dir=args.profiles_dir,
                         authorized_keys=args.authorized_key, password=password)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    web = []
    if args.seed:
        from netbox_triage.fleet.web import start_seed_web

        web = start_seed_web(hosts)
    try:
        if args.known_hosts_out:
            Path(args.known_hosts_out).write_text('\n'.join(server.known_hosts_lines()) + '\n')
        if args.manifest_out:
            from netbox_triage.fleet.manifest import dump_manifest

            dump_manifest(hosts, args.manifest_out)
        if args.pidfile:
            Path(args.pidfile).write_text(f'{os.getpid()}\n')
        missing = sorted({host.profile for host in hosts if server._profile(host.profile) is None})
        if missing:
            logger.info('no profile file for: %s (those hosts answer with an error)', ', '.join(missing))
        logger.info('%d hosts listening on port %s (%s .. %s)', len(hosts), server.port, hosts[0].address,
                    hosts[-1].address)
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
    finally:
        for service in web:
            service.shutdown()
        server.stop()
        if args.pidfile:
            try:
                Path(args.pidfile).unlink()
            except FileNotFoundError:
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
