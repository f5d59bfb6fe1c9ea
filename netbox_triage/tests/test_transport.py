"""The SSH transport against the simulated fleet: every status, every bound, and what never happens."""

import base64
import gc
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import paramiko

from netbox_triage.connections import Scope
from netbox_triage.fleet import FleetHost, FleetServer
from netbox_triage.probing.hostkeys import HostKey, HostKeyPin, KnownHosts, StrictKnownHosts, TrustOnFirstUse
from netbox_triage.probing.transport import Credentials, ProbeStatus, Target, Timeouts, run_many, run_probe

PROFILE = b'### triage probe fixture\nos_release=ubuntu 22.04\n'
SCRIPT = b'echo "### triage probe fixture"\nuname -a\n'
NET = '127.78.0'
BEHAVIOURS = {
    1: 'normal', 2: 'normal', 3: 'normal', 4: 'hang', 5: 'refuse', 6: 'auth_reject', 7: 'garbage', 8: 'flood',
    9: 'hostkey_change', 10: 'slow', 11: 'stall', 12: 'normal',
}
OUTSIDE = 12  # a fleet host the scope leaves out
FAST = Timeouts(connect=2, banner=1.5, auth=3, command=5)


def _write_key(path: Path) -> paramiko.PKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    path.chmod(0o600)
    return paramiko.PKey.from_path(path)


def _open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


class FleetTestCase(unittest.TestCase):
    """One fleet for the whole class, on 127.78.0.x and a free port."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-transport-'))
        (cls.tmp / 'profiles').mkdir()
        (cls.tmp / 'profiles' / 'fixture.out').write_bytes(PROFILE)
        cls.client_key = _write_key(cls.tmp / 'id_ed25519')
        cls.other_key = _write_key(cls.tmp / 'other_ed25519')
        cls.hosts = {
            n: FleetHost(f'{NET}.{n}', 0, 'fixture', behaviour, name=f'{behaviour}-{n}', latency_ms=0)
            for n, behaviour in BEHAVIOURS.items()
        }
        cls.hosts[10] = FleetHost(f'{NET}.10', 0, 'fixture', 'slow', name='slow-10', latency_ms=40)
        cls.fleet = FleetServer(
            list(cls.hosts.values()), state_dir=cls.tmp / 'state', profiles_dir=cls.tmp / 'profiles',
            authorized_keys=[cls.client_key], password='s3cret-fleet-pw',
        ).start()
        cls.scope = Scope([f'{NET}.0/29', f'{NET}.8/30'])  # .1-.11; leaves .12 out
        cls.credentials = Credentials(key_files=(str(cls.tmp / 'id_ed25519'),))

    @classmethod
    def tearDownClass(cls):
        cls.fleet.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def target(self, n, **kwargs) -> Target:
        host = self.hosts[n]
        return Target(key=f'dcim.device:{n}', name=host.name, host=host.address, port=self.fleet.port, **kwargs)

    def stats(self, n):
        return self.fleet.stats[self.hosts[n].address]

    def probe(self, n, credentials=None, timeouts=FAST, **kwargs):
        return run_probe(self.target(n, **kwargs.pop('target', {})), SCRIPT, credentials or self.credentials,
                         timeouts, kwargs.pop('scope', self.scope), **kwargs)


class StatusTests(FleetTestCase):
    def test_ok(self):
        before = self.stats(1).execs
        result = self.probe(1)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(result.stdout, PROFILE)
        self.assertEqual((result.exit_status, result.truncated, result.error, result.phase), (0, False, '', 'done'))
        self.assertEqual(result.address, f'{NET}.1')
        fleet_key = self.fleet.hostkey(f'{NET}.1')
        self.assertEqual(result.hostkey, f'{fleet_key.get_name()} {fleet_key.get_base64()}')
        self.assertEqual(result.hostkey_fingerprint, fleet_key.fingerprint)
        self.assertRegex(result.hostkey_fingerprint, r'^SHA256:[A-Za-z0-9+/]{43}$')
        self.assertTrue(result.hostkey_first_use)
        self.assertGreater(result.cpu_ms, 0)
        self.assertEqual(self.stats(1).execs, before + 1)
        self.assertEqual(self.stats(1).commands[-1], 'exec sh -s')
        self.assertGreaterEqual(self.stats(1).script_bytes, len(SCRIPT))

    def test_pinned_key_and_pinned_fingerprint(self):
        key = self.fleet.hostkey(f'{NET}.2')
        for pin in (f'{key.get_name()} {key.get_base64()} comment', key.fingerprint):
            result = self.probe(2, target={'pinned_host_key': pin})
            self.assertEqual(result.status, ProbeStatus.OK, result.error)
            self.assertFalse(result.hostkey_first_use)

    def test_hang_times_out_within_the_banner_timeout(self):
        started = time.monotonic()
        result = self.probe(4)
        elapsed = time.monotonic() - started
        self.assertEqual(result.status, ProbeStatus.TIMEOUT)
        self.assertEqual(result.phase, 'banner')
        self.assertIn('no SSH banner within 1.5s', result.error)
        self.assertLess(elapsed, FAST.banner * 1.2)
        self.assertGreaterEqual(elapsed, FAST.banner * 0.9)

    def test_refused_is_unreachable(self):
        result = self.probe(5)
        self.assertEqual(result.status, ProbeStatus.UNREACHABLE)
        self.assertIn('connection refused', result.error)
        self.assertEqual(result.phase, 'connect')

    def test_auth_reject_is_one_attempt_on_one_connection(self):
        connections, attempts = self.stats(6).connections, self.stats(6).auth_attempts
        result = self.probe(6)
        self.assertEqual(result.status, ProbeStatus.AUTH_FAILED)
        self.assertIn("authentication as 'root' rejected", result.error)
        self.assertEqual(self.stats(6).connections, connections + 1)
        self.assertEqual(self.stats(6).auth_attempts, attempts + 1)
        self.assertEqual(self.stats(6).execs, 0)
        self.assertIsNotNone(result.hostkey_fingerprint)  # the key was seen, before auth

    def test_garbage_is_ok_binary_and_capped(self):
        result = self.probe(7)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(len(result.stdout), self.fleet.garbage_bytes)
        self.assertFalse(result.truncated)
        result = self.probe(7, max_output_bytes=64 * 1024)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual((len(result.stdout), result.truncated), (64 * 1024, True))

    def test_flood_is_ok_and_truncated_at_the_cap(self):
        result = self.probe(8)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertTrue(result.truncated)
        self.assertEqual(len(result.stdout), 8 * 1024 * 1024)
        self.assertIsNone(result.exit_status)

    def test_stall_hits_the_command_timeout(self):
        started = time.monotonic()
        result = self.probe(11, timeouts=Timeouts(connect=2, banner=2, auth=2, command=1))
        elapsed = time.monotonic() - started
        self.assertEqual(result.status, ProbeStatus.TIMEOUT)
        self.assertEqual(result.phase, 'exec')
        self.assertIn('did not finish within 1s', result.error)
        self.assertLess(elapsed, 2.0)
        self.assertGreaterEqual(elapsed, 1.0)

    def test_slow_host_answers_later(self):
        fast, slow = self.probe(3), self.probe(10)
        self.assertEqual(slow.status, ProbeStatus.OK, slow.error)
        self.assertEqual(slow.stdout, PROFILE)
        # At least five round trips at 40 ms each.
        self.assertGreater(slow.duration_ms - fast.duration_ms, 200)

    def test_missing_key_file_is_an_error_status(self):
        result = self.probe(1, credentials=Credentials(key_files=(str(self.tmp / 'nope'),)))
        self.assertEqual(result.status, ProbeStatus.ERROR)
        self.assertIn('key file', result.error)
        self.assertIn('does not exist', result.error)

    def test_no_descriptor_leak(self):
        self.probe(1)
        gc.collect()
        before = _open_fds()
        for n in (1, 4, 5, 6, 7):
            self.probe(n, timeouts=Timeouts(connect=1, banner=0.3, auth=1, command=2))
        gc.collect()
        self.assertLessEqual(_open_fds(), before + 2)


class SecretTests(FleetTestCase):
    def test_password_auth(self):
        result = self.probe(1, credentials=Credentials(password='s3cret-fleet-pw'))
        self.assertEqual(result.status, ProbeStatus.OK, result.error)

    def test_secrets_never_surface(self):
        secret = 'hunter2-do-not-log'
        credentials = Credentials(password=secret, key_passphrase='also-secret')
        with self.assertLogs('netbox_triage', level='DEBUG') as logs:
            result = self.probe(1, credentials=credentials)
        self.assertEqual(result.status, ProbeStatus.AUTH_FAILED)
        self.assertIn('password', result.error)
        for text in (result.error, repr(result), str(result.__dict__), repr(credentials), '\n'.join(logs.output)):
            self.assertNotIn(secret, text)
            self.assertNotIn('also-secret', text)

    def test_keys_are_tried_once_each_then_the_password(self):
        attempts = self.stats(3).auth_attempts
        credentials = Credentials(key_files=(str(self.tmp / 'other_ed25519'),), password='s3cret-fleet-pw')
        result = self.probe(3, credentials=credentials)
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(self.stats(3).auth_attempts, attempts + 2)


class HostKeyTests(FleetTestCase):
    def test_changed_key_is_a_mismatch_and_nothing_runs(self):
        first = self.probe(9)
        self.assertEqual(first.status, ProbeStatus.OK, first.error)
        self.assertTrue(first.hostkey_first_use)
        pinned = first.hostkey
        execs, attempts = self.stats(9).execs, self.stats(9).auth_attempts
        self.fleet.rotate_hostkey(f'{NET}.9')
        result = self.probe(9, target={'pinned_host_key': pinned})
        self.assertEqual(result.status, ProbeStatus.HOSTKEY_MISMATCH)
        self.assertEqual(result.phase, 'hostkey')
        old, new = first.hostkey_fingerprint, self.fleet.hostkey(f'{NET}.9').fingerprint
        self.assertEqual(result.expected_fingerprints, (old,))
        self.assertEqual(result.hostkey_fingerprint, new)
        self.assertIn(old, result.error)
        self.assertIn(new, result.error)
        self.assertEqual((self.stats(9).execs, self.stats(9).auth_attempts), (execs, attempts))
        self.assertEqual(result.stdout, b'')

    def test_strict_known_hosts(self):
        path = self.tmp / 'known_hosts'
        path.write_text('\n'.join(self.fleet.known_hosts_lines()) + '\n')
        policy = StrictKnownHosts(KnownHosts.load(path))
        self.assertEqual(self.probe(1, hostkey_policy=policy).status, ProbeStatus.OK)
        # A host missing from the file is refused before authentication.
        lines = [line for line in path.read_text().splitlines() if not line.startswith(f'[{NET}.2]')]
        policy = StrictKnownHosts(KnownHosts.parse('\n'.join(lines), path='kh'))
        attempts = self.stats(2).auth_attempts
        result = self.probe(2, hostkey_policy=policy)
        self.assertEqual(result.status, ProbeStatus.HOSTKEY_MISMATCH)
        self.assertIn('host unknown in kh', result.error)
        self.assertEqual(self.stats(2).auth_attempts, attempts)


class ScopeTests(FleetTestCase):
    def test_out_of_scope_target_gets_no_connection(self):
        connections = self.stats(OUTSIDE).connections
        result = self.probe(OUTSIDE)
        self.assertEqual(result.status, ProbeStatus.OUT_OF_SCOPE)
        self.assertIn(f'{NET}.12', result.error)
        time.sleep(0.2)
        self.assertEqual(self.stats(OUTSIDE).connections, connections)

    def test_name_resolving_out_of_scope(self):
        connections = self.stats(OUTSIDE).connections

        def resolver(host, port):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (f'{NET}.12', port))]

        target = Target(key='k', name='db', host='db.internal', port=self.fleet.port)
        result = run_probe(target, SCRIPT, self.credentials, FAST, self.scope, resolver=resolver)
        self.assertEqual(result.status, ProbeStatus.OUT_OF_SCOPE)
        self.assertIn(f'db.internal resolves to {NET}.12', result.error)
        time.sleep(0.2)
        self.assertEqual(self.stats(OUTSIDE).connections, connections)


class JumpHostTests(FleetTestCase):
    def test_probe_through_a_jump_host(self):
        forwards, target_connections = self.stats(2).forwards, self.stats(3).connections
        result = self.probe(3, target={'jump': self.target(2)})
        self.assertEqual(result.status, ProbeStatus.OK, result.error)
        self.assertEqual(result.stdout, PROFILE)
        self.assertEqual(result.hostkey_fingerprint, self.fleet.hostkey(f'{NET}.3').fingerprint)
        self.assertEqual(result.jump_hostkey.split()[1], self.fleet.hostkey(f'{NET}.2').get_base64())
        self.assertEqual(self.stats(2).forwards, forwards + 1)
        self.assertEqual(self.stats(3).connections, target_connections + 1)

    def test_target_behind_the_jump_must_be_in_scope_too(self):
        jump_connections = self.stats(2).connections
        result = self.probe(OUTSIDE, target={'jump': self.target(2)})
        self.assertEqual(result.status, ProbeStatus.OUT_OF_SCOPE)
        time.sleep(0.2)
        # Refused before the jump host was even dialled.
        self.assertEqual(self.stats(2).connections, jump_connections)
        self.assertEqual(self.stats(OUTSIDE).connections, 0)

    def test_jump_host_key_mismatch(self):
        jump = self.target(2, pinned_host_key=self.fleet.hostkey(f'{NET}.3').fingerprint)
        forwards = self.stats(2).forwards
        result = self.probe(3, target={'jump': jump})
        self.assertEqual(result.status, ProbeStatus.HOSTKEY_MISMATCH)
        self.assertIn(f'jump host {NET}.2', result.error)
        self.assertEqual(self.stats(2).forwards, forwards)


class _RawServer:
    """A TCP server on loopback that answers every connection with ``reply(conn)``: for non-SSH peers."""

    def __init__(self, address, reply):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        try:
            self.reply(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


class NotSshTests(unittest.TestCase):
    address = '127.78.1.1'

    def probe(self, reply):
        server = _RawServer(self.address, reply)
        self.addCleanup(server.close)
        target = Target(key='k', name='n', host=self.address, port=server.port)
        started = time.monotonic()
        result = run_probe(target, SCRIPT, Credentials(password='x'), FAST, Scope([f'{self.address}/32']))
        return result, time.monotonic() - started

    def test_endless_bytes_before_the_banner_are_cut_off(self):
        def stream(conn):
            chunk = b'A' * 65536
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conn.sendall(chunk)

        result, elapsed = self.probe(stream)
        self.assertEqual(result.status, ProbeStatus.ERROR)
        self.assertIn('without completing an SSH handshake', result.error)
        self.assertLess(elapsed, FAST.banner)

    def test_a_web_server_is_not_an_ssh_server(self):
        def http(conn):
            conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
            time.sleep(3)

        result, elapsed = self.probe(http)
        self.assertEqual(result.status, ProbeStatus.TIMEOUT)
        self.assertIn('no SSH banner within 1.5s (it sent 47 bytes of something else', result.error)
        self.assertLess(elapsed, 2 * FAST.banner + 1)

    def test_connection_closed_at_once(self):
        result, _ = self.probe(lambda conn: None)
        self.assertEqual(result.status, ProbeStatus.UNREACHABLE)
        self.assertIn('connection closed by the server', result.error)


class RunManyTests(FleetTestCase):
    def test_a_hanging_host_delays_nobody(self):
        timeouts = Timeouts(connect=2, banner=1.5, auth=3, command=5)
        numbers = [4, 1, 2, 3, 5, 6, 7, 1, 2, 3, 12]
        seen = []
        started = time.monotonic()
        results = run_many([self.target(n) for n in numbers], SCRIPT, self.credentials, timeouts, self.scope,
                           concurrency=4, on_result=lambda r: seen.append((r.key, time.monotonic() - started)))
        elapsed = time.monotonic() - started
        self.assertLessEqual(elapsed, timeouts.banner * 1.2)
        self.assertEqual([r.key for r in results], [f'dcim.device:{n}' for n in numbers])
        self.assertEqual(seen[-1][0], 'dcim.device:4')
        statuses = [r.status for r in results]
        self.assertEqual(statuses, ['timeout', 'ok', 'ok', 'ok', 'unreachable', 'auth_failed', 'ok', 'ok', 'ok',
                                    'ok', 'out_of_scope'])
        self.assertTrue(all(t < 1.0 for key, t in seen[:-1]), seen)

    def test_keep_output_false_drops_output_after_the_callback(self):
        outputs = []
        results = run_many([self.target(1), self.target(2)], SCRIPT, self.credentials, FAST, self.scope,
                           concurrency=2, on_result=lambda r: outputs.append(r.stdout), keep_output=False)
        self.assertEqual(outputs, [PROFILE, PROFILE])
        self.assertEqual([r.stdout for r in results], [b'', b''])

    def test_empty(self):
        self.assertEqual(run_many([], SCRIPT, self.credentials, FAST, self.scope), [])


def _fake_ed25519(filler: bytes) -> HostKey:
    blob = b'\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20' + filler * 32
    return HostKey('ssh-ed25519', base64.b64encode(blob).decode())


class KnownHostsFileTests(unittest.TestCase):
    key = _fake_ed25519(b'k')
    other = _fake_ed25519(b'o')

    def hashed(self, token):
        salt = b's' * 20
        digest = hmac.digest(salt, token.encode(), 'sha1')
        return f'|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}'

    def test_formats(self):
        known = KnownHosts.parse('\n'.join([
            '# comment',
            f'web1,192.0.2.10 {self.key}',
            f'[bastion]:2222 {self.key}',
            f'{self.hashed("[127.100.0.1]:2222")} {self.key}',
            f'*.example.net,!evil.example.net {self.other}',
            f'@cert-authority *.example.org {self.key}',
            f'@revoked * {self.other}',
            'garbage line',
        ]))
        self.assertEqual(known.lookup('web1'), [self.key])
        self.assertEqual(known.lookup('WEB1'), [self.key])
        self.assertEqual(known.lookup('192.0.2.10'), [self.key])
        self.assertEqual(known.lookup('web1', 2222), [])
        self.assertEqual(known.lookup('bastion', 2222), [self.key])
        self.assertEqual(known.lookup('bastion'), [])
        self.assertEqual(known.lookup('127.100.0.1', 2222), [self.key])
        self.assertEqual(known.lookup('127.100.0.1'), [])
        self.assertEqual(known.lookup('a.example.net'), [self.other])
        self.assertEqual(known.lookup('evil.example.net'), [])
        self.assertEqual(known.lookup('x.example.org'), [])
        self.assertTrue(known.is_revoked(self.other))
        self.assertEqual(known.skipped_lines, 2)

    @unittest.skipUnless(shutil.which('ssh-keygen'), 'ssh-keygen is not installed')
    def test_entries_hashed_by_ssh_keygen(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / 'known_hosts'
            path.write_text(f'[127.100.0.5]:2222 {self.key}\nfe-1 {self.key}\n')
            subprocess.run(['ssh-keygen', '-H', '-f', str(path)], check=True, capture_output=True)
            self.assertNotIn('fe-1', path.read_text())
            known = KnownHosts.load(path)
        self.assertEqual(known.lookup('127.100.0.5', 2222), [self.key])
        self.assertEqual(known.lookup('fe-1'), [self.key])
        self.assertEqual(known.lookup('fe-2'), [])

    def test_strict_policy_verdicts(self):
        policy = StrictKnownHosts(KnownHosts.parse(f'web1 {self.key}\n@revoked * {self.other}\n'))
        self.assertTrue(policy.check(['web1'], 22, None, self.key).accepted)
        self.assertEqual(policy.preferred_key_types(['web1'], 22, None), ['ssh-ed25519'])
        verdict = policy.check(['web2', '192.0.2.7'], 22, None, self.key)
        self.assertFalse(verdict.accepted)
        self.assertIn('host unknown', verdict.message)
        self.assertIn('@revoked', policy.check(['web1'], 22, None, self.other).message)

    def test_pins(self):
        pin = HostKeyPin.parse(str(self.key))
        self.assertTrue(pin.matches(self.key))
        self.assertEqual(HostKeyPin.parse(self.key.fingerprint).fingerprint, self.key.fingerprint)
        self.assertEqual(self.key.fingerprint, 'SHA256:' + base64.b64encode(
            hashlib.sha256(self.key.blob).digest()).decode().rstrip('='))
        verdict = TrustOnFirstUse().check(['h'], 22, pin, self.other)
        self.assertFalse(verdict.accepted)
        self.assertEqual(verdict.expected, (self.key.fingerprint,))
        with self.assertRaisesRegex(ValueError, 'does not match its type'):
            HostKey.parse(f'ssh-rsa {self.key.base64}')
        with self.assertRaises(ValueError):
            HostKeyPin.parse('SHA256:short')

    def test_bad_pin_is_an_error_status_before_any_connection(self):
        def resolver(host, port):
            raise AssertionError('nothing may be resolved or dialled with an unusable pin')

        target = Target(key='k', name='web1', host='web1.example', port=22, pinned_host_key='nonsense')
        result = run_probe(target, b'', Credentials(password='x'), FAST, Scope(['127.0.0.0/8']), resolver=resolver)
        self.assertEqual(result.status, ProbeStatus.ERROR)
        self.assertIn('the pinned host key of web1 is unusable', result.error)

if __name__ == '__main__':
    unittest.main()
