"""End to end against a real OpenSSH sshd on 127.0.0.1, started by the test as the current user.

sshd gets a temporary config, host keys and authorized_keys; nothing system-wide is changed except
creating /run/sshd (OpenSSH's privilege separation directory) when missing. If sshd is not installed
and we are root, the test installs Debian's openssh-server; it skips only when that is impossible.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from netbox_triage.connections import Scope
from netbox_triage.fleet.sshd import SSHD, LoopbackSshd, keygen
from netbox_triage.probing.hostkeys import KnownHosts, StrictKnownHosts
from netbox_triage.probing.transport import Credentials, ProbeStatus, Target, Timeouts, run_probe

SCRIPT_PATH = Path(__file__).resolve().parents[1] / 'netbox_triage' / 'probing' / 'script.sh'
TINY_SCRIPT = b'echo "probe-start"\nid -un\necho "probe-end"\n'
TIMEOUTS = Timeouts(connect=3, banner=5, auth=5, command=15)
ADDRESS = '127.0.0.1'
USER = pwd.getpwuid(os.geteuid()).pw_name


def _ensure_sshd() -> str | None:
    """Return why sshd cannot be used, or None once /usr/sbin/sshd exists."""
    if os.path.exists(SSHD):
        return None
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        return f'{SSHD} is missing and cannot be installed here (needs root and apt-get)'
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    try:
        install = subprocess.run(['apt-get', 'install', '-y', '-q', 'openssh-server'], env=env,
                                 capture_output=True, timeout=300)
        if install.returncode != 0:
            subprocess.run(['apt-get', 'update', '-q'], env=env, capture_output=True, timeout=300)
            subprocess.run(['apt-get', 'install', '-y', '-q', 'openssh-server'], env=env, capture_output=True,
                           timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f'installing openssh-server failed: {exc}'
    return None if os.path.exists(SSHD) else 'apt-get install openssh-server did not provide /usr/sbin/sshd'


class RealSshdTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = _ensure_sshd()
        if reason:
            raise unittest.SkipTest(reason)
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-sshd-'))
        tmp = cls.tmp
        keygen(tmp / 'client')
        keygen(tmp / 'stranger')
        try:
            os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        except OSError as exc:
            raise unittest.SkipTest(f'cannot create /run/sshd for sshd privilege separation: {exc}') from None
        cls.sshd = LoopbackSshd(tmp, (tmp / 'client.pub').read_text(), addresses=(ADDRESS,),
                                host_keys=('ed25519', 'rsa'), options=('MaxSessions 50', 'LogLevel VERBOSE'))
        try:
            cls.sshd.start()
        except RuntimeError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise AssertionError(str(exc)) from None
        cls.port = cls.sshd.port
        cls.credentials = Credentials(key_files=(str(tmp / 'client'),))
        cls.scope = Scope([f'{ADDRESS}/32'])
        cls.script = SCRIPT_PATH.read_bytes() if SCRIPT_PATH.exists() else TINY_SCRIPT

    @classmethod
    def tearDownClass(cls):
        cls.sshd.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def target(self, **kwargs) -> Target:
        return Target(key='dcim.device:1', name='localhost-sshd', host=ADDRESS, port=self.port,
                      username=USER, **kwargs)

    def fingerprint(self, pub: str) -> str:
        out = subprocess.run(['ssh-keygen', '-lf', str(self.tmp / pub)], check=True, capture_output=True, text=True)
        return out.stdout.split()[1]

    def test_probe_runs_and_fingerprint_matches_ssh_keygen(self):
        result = run_probe(self.target(), self.script, self.credentials, TIMEOUTS, self.scope)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(result.exit_status, 0)
        if self.script is TINY_SCRIPT:
            self.assertEqual(result.stdout.splitlines()[0], b'probe-start')
            self.assertEqual(result.stdout.splitlines()[-1], b'probe-end')
        else:
            self.assertTrue(result.stdout.startswith(b'@@triage:probe v1@@'), result.stdout[:200])
            self.assertIn(b'@@triage:end ', result.stdout)
        self.assertEqual(result.hostkey_type, 'ssh-ed25519')
        self.assertEqual(result.hostkey_fingerprint, self.fingerprint('host_ed25519.pub'))
        self.assertEqual(result.hostkey.split()[1], (self.tmp / 'host_ed25519.pub').read_text().split()[1])
        self.assertTrue(result.hostkey_first_use)

    def test_pin_of_another_key_type_is_honoured(self):
        # Pinned to the RSA host key: the client must ask for it first, not report a mismatch.
        pin = ' '.join((self.tmp / 'host_rsa.pub').read_text().split()[:2])
        result = run_probe(self.target(pinned_host_key=pin), TINY_SCRIPT, self.credentials, TIMEOUTS, self.scope)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(result.hostkey_type, 'ssh-rsa')
        self.assertEqual(result.hostkey_fingerprint, self.fingerprint('host_rsa.pub'))

    def test_wrong_pin_stops_before_authentication(self):
        before = self.sshd.log_text().count('Accepted publickey')
        result = run_probe(self.target(pinned_host_key=self.fingerprint('client.pub')), TINY_SCRIPT,
                           self.credentials, TIMEOUTS, self.scope)
        self.assertEqual(result.status, ProbeStatus.HOSTKEY_MISMATCH)
        time.sleep(0.2)
        after = self.sshd.log_text().count('Accepted publickey')
        self.assertEqual(before, after)

    def test_strict_known_hosts_hashed_by_ssh_keygen(self):
        known_hosts = self.tmp / 'known_hosts'
        key = ' '.join((self.tmp / 'host_ed25519.pub').read_text().split()[:2])
        known_hosts.write_text(f'[{ADDRESS}]:{self.port} {key}\n')
        subprocess.run(['ssh-keygen', '-H', '-f', str(known_hosts)], check=True, capture_output=True)
        policy = StrictKnownHosts(KnownHosts.load(known_hosts))
        result = run_probe(self.target(), TINY_SCRIPT, self.credentials, TIMEOUTS, self.scope, policy)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)

    def test_unknown_client_key_is_auth_failed(self):
        result = run_probe(self.target(), TINY_SCRIPT, Credentials(key_files=(str(self.tmp / 'stranger'),)),
                           TIMEOUTS, self.scope)
        self.assertEqual(result.status, ProbeStatus.AUTH_FAILED)
        self.assertIn(f"authentication as '{USER}' rejected (tried key ssh-ed25519 SHA256:", result.error)


if __name__ == '__main__':
    unittest.main()
