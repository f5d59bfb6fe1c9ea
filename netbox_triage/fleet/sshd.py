"""A real OpenSSH sshd on loopback addresses, started as the current user: for tests and benchmarks.

The simulated fleet (``server.py``) answers the probe from recorded outputs; this one runs the real script on
this machine, behind the real OpenSSH server. One class serves every caller: the real-sshd tests, the
end-to-end tests and the transport benchmark (50 addresses on one port). Nothing system-wide changes except
``/run/sshd`` (sshd's privilege-separation directory), created when missing. Only loopback addresses.
"""

import ipaddress
import os
import socket
import subprocess
import time
from pathlib import Path

__all__ = ('SSHD', 'LoopbackSshd', 'free_port', 'keygen')

SSHD = '/usr/sbin/sshd'
# sshd accepts at most 16 listen sockets (MAX_LISTEN_SOCKS): more addresses take more processes.
MAX_LISTEN_SOCKS = 16


def free_port(address='127.0.0.1'):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def keygen(path, key_type='ed25519'):
    """A passphrase-less key pair at ``path`` and ``path``.pub (kept when it exists)."""
    path = Path(path)
    if not path.exists():
        subprocess.run(['ssh-keygen', '-q', '-t', key_type, '-N', '', '-f', str(path)], check=True)
    return path


class LoopbackSshd:
    """sshd on ``addresses`` (loopback only) and one port, accepting the public keys ``authorized_keys``.

    ``host_keys``: key types to create and serve (``host_<type>`` in ``directory``); ``options``: sshd_config
    lines that come before the defaults (e.g. ``LogLevel VERBOSE``). ``start()`` waits until every process
    accepts. ``command_prefix``: argv that runs sshd (and must exec it, keeping its pid), e.g. ``unshare`` to give
    it a mount namespace of its own.
    """

    def __init__(self, directory, authorized_keys, addresses=('127.0.0.1',), port=None, host_keys=('ed25519',),
                 options=(), command_prefix=()):
        for address in addresses:
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f'{address} is not a loopback address')
        self.dir = Path(directory)
        self.addresses = list(addresses)
        self.port = port or free_port(self.addresses[0])
        self.authorized_keys = authorized_keys
        self.host_keys = host_keys
        self.options = list(options)
        self.command_prefix = list(command_prefix)
        self.processes = []
        self._logs = []

    def host_key(self, key_type='ed25519'):
        return self.dir / f'host_{key_type}'

    def log_text(self):
        return '\n'.join(path.read_text(errors='replace') for path in sorted(self.dir.glob('sshd.*.log')))

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        for key_type in self.host_keys:
            keygen(self.host_key(key_type), key_type)
        authorized = self.dir / 'authorized_keys'
        authorized.write_text(self.authorized_keys)
        authorized.chmod(0o600)
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        sftp = next((p for p in ('/usr/lib/openssh/sftp-server', '/usr/libexec/sftp-server') if os.path.exists(p)),
                    None)
        groups = [self.addresses[i:i + MAX_LISTEN_SOCKS] for i in range(0, len(self.addresses), MAX_LISTEN_SOCKS)]
        for number, group in enumerate(groups):
            config = self.dir / f'sshd_config.{number}'
            config.write_text('\n'.join([
                f'Port {self.port}',
                *(f'ListenAddress {address}' for address in group),
                *(f'HostKey {self.host_key(key_type)}' for key_type in self.host_keys),
                f'AuthorizedKeysFile {authorized}',
                f'PidFile {self.dir / f"sshd.{number}.pid"}',
                *self.options,  # first: sshd keeps the first value of a keyword
                'StrictModes no',
                'UsePAM no',
                'PermitRootLogin prohibit-password',
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'MaxStartups 200',
                'MaxSessions 200',
                'UseDNS no',
                *([f'Subsystem sftp {sftp}'] if sftp else []),
                '',
            ]))
            log = open(self.dir / f'sshd.{number}.log', 'wb')
            self._logs.append(log)
            self.processes.append(subprocess.Popen([*self.command_prefix, SSHD, '-D', '-e', '-f', str(config)],
                                                   stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        for number, group in enumerate(groups):
            while True:
                try:
                    socket.create_connection((group[-1], self.port), timeout=0.5).close()
                    break
                except OSError:
                    if self.processes[number].poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f'sshd did not start:\n{self.log_text()[-2000:]}') from None
                    time.sleep(0.05)
        return self

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self.processes, self._logs = [], []
