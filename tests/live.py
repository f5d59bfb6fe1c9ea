"""A live NetBox for end-to-end tests: `netbox runserver` on a loopback port, on its own database.

`make test` (scripts/bootstrap.sh) copies a fresh `<db>_e2e` database from the migrated template
before every run; this module starts one server per test process on it, creates the admin user
and provisions a v2 API token the way a user would (`POST /api/users/tokens/provision/`).
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETBOX = ROOT / '.venv' / 'bin' / 'netbox'
INSTANCE = Path(os.environ.get('NETBOX_ROOT', ROOT / '.netbox'))
E2E_DB = os.environ.get('TRIAGE_E2E_DB_NAME', 'netbox_triage_e2e')
USERNAME = 'e2e-admin'
PASSWORD = 'e2e-Password-1'

_server = None


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def environment():
    env = dict(os.environ)
    env.update({'NETBOX_ROOT': str(INSTANCE), 'TRIAGE_DB_NAME': E2E_DB, 'TRIAGE_REDIS_DB': '4'})
    return env


def netbox(*args, check=True, timeout=600, **kwargs):
    """Run a `netbox` management command against the end-to-end database."""
    return subprocess.run(
        [str(NETBOX), *args], env=environment(), check=check, timeout=timeout, capture_output=True, text=True,
        **kwargs,
    )


class LiveNetBox:
    def __init__(self):
        self.port = _free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log = INSTANCE / 'log' / f'e2e-web-{self.port}.log'
        self.process = None
        self.token = None

    def start(self):
        netbox('shell', '--no-imports', '-c', (
            'from users.models import User\n'
            f'u, _ = User.objects.get_or_create(username={USERNAME!r}, defaults={{"is_superuser": True}})\n'
            f'u.set_password({PASSWORD!r}); u.save()\n'
        ))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open('w')
        self.process = subprocess.Popen(
            [str(NETBOX), 'runserver', f'127.0.0.1:{self.port}', '--noreload', '--insecure'],
            env=environment(), stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'NetBox exited early; see {self.log}:\n{self.log.read_text()[-2000:]}')
            try:
                with urllib.request.urlopen(f'{self.url}/login/', timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f'NetBox did not answer on {self.url} within 180 s; see {self.log}')
        self.token = self.provision_token(USERNAME, PASSWORD)
        return self

    def provision_token(self, username, password):
        request = urllib.request.Request(
            f'{self.url}/api/users/tokens/provision/',
            data=json.dumps({'username': username, 'password': password}).encode(),
            headers={'Content-Type': 'application/json', 'Accept': 'application/json'},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        return f'nbt_{body["key"]}.{body["token"]}'

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if getattr(self, '_log_file', None):
            self._log_file.close()


def live_netbox():
    """The shared server of this test process, started on first use."""
    global _server
    if _server is None:
        _server = LiveNetBox().start()
        atexit.register(_server.stop)
    return _server


class RealSshd:
    """A real OpenSSH sshd on 127.0.0.1 (a free port) that accepts one public key, for probing this machine."""

    def __init__(self, authorized_key, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.authorized_key = authorized_key
        self.port = _free_port()
        self.process = None

    def start(self):
        host_key = self.dir / 'host_ed25519'
        if not host_key.exists():
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(host_key)], check=True)
        (self.dir / 'authorized_keys').write_text(self.authorized_key)
        (self.dir / 'sshd_config').write_text('\n'.join([
            f'Port {self.port}', 'ListenAddress 127.0.0.1', f'HostKey {host_key}',
            f'AuthorizedKeysFile {self.dir / "authorized_keys"}', f'PidFile {self.dir / "sshd.pid"}',
            'StrictModes no', 'UsePAM no', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
            'KbdInteractiveAuthentication no', 'MaxStartups 200', '',
        ]))
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        self.process = subprocess.Popen(['/usr/sbin/sshd', '-D', '-e', '-f', str(self.dir / 'sshd_config')],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError('sshd did not start')

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
