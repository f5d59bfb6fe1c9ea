"""The simulated fleet: its manifest, its behaviours and its command line."""

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import paramiko

from netbox_triage.connections import Scope
from netbox_triage.fleet import FleetHost, FleetServer, load_manifest, loopback_address, scale_fleet, seed_fleet
from netbox_triage.fleet.manifest import SEED_HOSTS, dump_manifest
from netbox_triage.probing.hostkeys import KnownHosts
from netbox_triage.probing.transport import Credentials, Target, Timeouts, run_probe

PROFILE = b'### fixture\n'
TIMEOUTS = Timeouts(connect=2, banner=2, auth=3, command=5)
REPO = Path(__file__).resolve().parents[2]


def _client_key(path: Path) -> None:
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(path)], check=True)


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class ManifestTests(unittest.TestCase):
    def test_seed_fleet_maps_every_demo_host(self):
        hosts = seed_fleet()
        self.assertEqual(len(hosts), 12)
        by_name = {host.name: host for host in hosts}
        self.assertEqual(by_name['haproxy-1'].address, '127.100.0.1')
        self.assertEqual(by_name['be-2'].address, '127.100.11.2')
        self.assertEqual(by_name['mysql-2'].address, '127.100.13.2')
        self.assertEqual(by_name['fe-3'].profile, 'ubuntu2204-jenkins')
        for name, netbox_address, profile in SEED_HOSTS:
            host = by_name[name]
            self.assertEqual((host.netbox_address, host.profile, host.port), (netbox_address, profile, 2222))
            self.assertEqual(host.address, netbox_address.replace('10.0.', '127.100.', 1))
            self.assertTrue(ipaddress.ip_address(host.address).is_loopback)
            self.assertNotEqual(host.address, '127.0.0.1')
        self.assertEqual(len({host.address for host in hosts}), 12)

    def test_loopback_address_only_maps_the_seed_network(self):
        self.assertEqual(loopback_address('10.0.255.254'), '127.100.255.254')
        for address in ('10.1.0.1', '192.168.1.1', '172.16.0.1'):
            with self.assertRaisesRegex(ValueError, 'not a demo seed address'):
                loopback_address(address)

    def test_hosts_must_be_on_loopback_with_a_known_behaviour(self):
        with self.assertRaisesRegex(ValueError, 'loopback addresses only'):
            FleetHost('10.0.0.1', 2222, 'debian12')
        with self.assertRaisesRegex(ValueError, 'unknown behaviour'):
            FleetHost('127.0.0.5', 2222, 'debian12', 'explode')
        self.assertEqual(FleetHost('127.0.0.5', 2222, 'debian12', 'slow').latency_ms, 50.0)

    def test_scale_fleet(self):
        hosts = scale_fleet(2000, latency_ms=50, hang_fraction=0.1)
        self.assertEqual(len(hosts), 2000)
        addresses = [ipaddress.ip_address(host.address) for host in hosts]
        self.assertEqual(len(set(addresses)), 2000)
        self.assertEqual(str(addresses[0]), '127.101.0.1')
        self.assertTrue(all(a.is_loopback and int(a) & 0xFF not in (0, 255) for a in addresses))
        self.assertTrue(all(a in ipaddress.ip_network('127.101.0.0/16') for a in addresses))
        hanging = [i for i, host in enumerate(hosts) if host.behaviour == 'hang']
        self.assertEqual(len(hanging), 200)
        self.assertTrue(all(b - a == 10 for a, b in zip(hanging, hanging[1:])))
        self.assertTrue(all(host.latency_ms == 50 for host in hosts))

    def test_manifest_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / 'fleet.json'
            hosts = seed_fleet(port=2200)
            dump_manifest(hosts, path)
            self.assertEqual(load_manifest(path), hosts)
            self.assertEqual({host.port for host in load_manifest(path, port=2300)}, {2300})
            path.write_text('{"hosts": [{"address": "127.0.0.9", "port": 1, "profile": "x", "colour": "red"}]}')
            with self.assertRaisesRegex(ValueError, 'host #1'):
                load_manifest(path)


class ServerTests(unittest.TestCase):
    NET = '127.79.0'

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix='triage-fleet-'))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        (self.tmp / 'profiles').mkdir()
        (self.tmp / 'profiles' / 'fixture.out').write_bytes(PROFILE)
        _client_key(self.tmp / 'id')
        self.credentials = Credentials(key_files=(str(self.tmp / 'id'),))
        self.scope = Scope([f'{self.NET}.0/24'])

    def fleet(self, hosts, **kwargs) -> FleetServer:
        server = FleetServer(hosts, state_dir=self.tmp / 'state', profiles_dir=self.tmp / 'profiles',
                             authorized_keys=[str(self.tmp / 'id.pub')], **kwargs).start()
        self.addCleanup(server.stop)
        return server

    def probe(self, server, address, **kwargs):
        target = Target(key=address, name=address, host=address, port=server.port, **kwargs)
        return run_probe(target, b'true\n', self.credentials, TIMEOUTS, self.scope)

    def test_host_keys_are_stable_across_restarts_except_hostkey_change(self):
        hosts = [FleetHost(f'{self.NET}.1', 0, 'fixture'), FleetHost(f'{self.NET}.2', 0, 'fixture', 'hostkey_change')]
        first = self.fleet(hosts)
        stable, changing = first.hostkey(f'{self.NET}.1'), first.hostkey(f'{self.NET}.2')
        self.assertEqual(self.probe(first, f'{self.NET}.1').hostkey_fingerprint, stable.fingerprint)
        first.stop()
        second = self.fleet(hosts)
        self.assertEqual(second.hostkey(f'{self.NET}.1').fingerprint, stable.fingerprint)
        self.assertNotEqual(second.hostkey(f'{self.NET}.2').fingerprint, changing.fingerprint)
        self.assertEqual(self.probe(second, f'{self.NET}.1').hostkey_fingerprint, stable.fingerprint)
        rotated = second.rotate_hostkey(f'{self.NET}.1')
        self.assertEqual(self.probe(second, f'{self.NET}.1').hostkey_fingerprint, rotated.fingerprint)

    def test_refuse_hang_and_normal_on_the_wire(self):
        server = self.fleet([
            FleetHost(f'{self.NET}.3', 0, 'fixture', 'refuse'),
            FleetHost(f'{self.NET}.4', 0, 'fixture', 'hang'),
            FleetHost(f'{self.NET}.5', 0, 'fixture'),
        ])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((f'{self.NET}.3', server.port), timeout=1)
        with socket.create_connection((f'{self.NET}.4', server.port), timeout=1) as sock:
            sock.settimeout(0.5)
            with self.assertRaises(TimeoutError):
                sock.recv(10)
        with socket.create_connection((f'{self.NET}.5', server.port), timeout=1) as sock:
            sock.settimeout(2)
            self.assertTrue(sock.recv(10).startswith(b'SSH-2.0-'))
        time.sleep(0.1)
        self.assertEqual(server.stats[f'{self.NET}.4'].connections, 1)

    def test_missing_profile_and_other_commands(self):
        server = self.fleet([
            FleetHost(f'{self.NET}.6', 0, 'no-such-profile'),
            FleetHost(f'{self.NET}.7', 0, 'fixture'),
        ])
        result = self.probe(server, f'{self.NET}.6')
        self.assertEqual((result.status, result.exit_status), ('ok', 1))
        self.assertIn(b"no profile 'no-such-profile'", result.stderr)
        transport = paramiko.Transport(socket.create_connection((f'{self.NET}.7', server.port), timeout=2))
        try:
            transport.start_client(timeout=5)
            transport.auth_publickey('root', paramiko.PKey.from_path(self.tmp / 'id'))
            channel = transport.open_session(timeout=5)
            channel.exec_command('uptime')
            channel.shutdown_write()
            self.assertEqual(channel.recv_exit_status(), 127)
        finally:
            transport.close()

    def test_password_auth_and_known_hosts_lines(self):
        server = self.fleet([FleetHost(f'{self.NET}.8', 0, 'fixture')], password='pw-for-the-fleet')
        target = Target(key='k', name='n', host=f'{self.NET}.8', port=server.port)
        result = run_probe(target, b'', Credentials(password='pw-for-the-fleet'), TIMEOUTS, self.scope)
        self.assertEqual((result.status, result.stdout), ('ok', PROFILE))
        known = KnownHosts.parse('\n'.join(server.known_hosts_lines()))
        self.assertEqual([str(key) for key in known.lookup(f'{self.NET}.8', server.port)], [result.hostkey])

    def test_jump_forwarding_is_limited_to_loopback(self):
        server = self.fleet([FleetHost(f'{self.NET}.9', 0, 'fixture')])
        transport = paramiko.Transport(socket.create_connection((f'{self.NET}.9', server.port), timeout=2))
        transport.set_log_channel('netbox_triage.fleet.ssh')
        try:
            transport.start_client(timeout=5)
            transport.auth_publickey('root', paramiko.PKey.from_path(self.tmp / 'id'))
            with self.assertRaises(paramiko.ChannelException):
                # Never dialled: the fleet refuses the channel before connecting anywhere.
                transport.open_channel('direct-tcpip', ('192.0.2.1', 22), ('127.0.0.1', 0), timeout=5)
        finally:
            transport.close()


class CommandLineTests(unittest.TestCase):
    def test_runs_until_sigterm(self):
        tmp = Path(tempfile.mkdtemp(prefix='triage-fleet-cli-'))
        self.addCleanup(shutil.rmtree, tmp, True)
        _client_key(tmp / 'id')
        (tmp / 'profiles').mkdir()
        (tmp / 'profiles' / 'fixture.out').write_bytes(PROFILE)
        manifest = tmp / 'fleet.json'
        dump_manifest([FleetHost('127.79.1.1', 0, 'fixture', name='a'), FleetHost('127.79.1.2', 0, 'fixture')],
                      manifest)
        port = _free_port('127.79.1.1')
        pidfile = tmp / 'fleet.pid'
        process = subprocess.Popen(
            [sys.executable, '-m', 'netbox_triage.fleet.server', '--manifest', str(manifest), '--port', str(port),
             '--authorized-key', str(tmp / 'id.pub'), '--pidfile', str(pidfile), '--state-dir', str(tmp / 'state'),
             '--profiles-dir', str(tmp / 'profiles'), '--known-hosts-out', str(tmp / 'known_hosts')],
            cwd=REPO, env={**os.environ, 'PYTHONPATH': str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 15
            while not pidfile.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(pidfile.exists(), process.stdout.read().decode() if process.poll() is not None else '')
            self.assertEqual(int(pidfile.read_text()), process.pid)
            target = Target(key='a', name='a', host='127.79.1.2', port=port)
            result = run_probe(target, b'', Credentials(key_files=(str(tmp / 'id'),)), TIMEOUTS,
                               Scope(['127.79.1.0/24']))
            self.assertEqual((result.status, result.stdout), ('ok', PROFILE))
            self.assertIn(f'[127.79.1.2]:{port} {result.hostkey}', (tmp / 'known_hosts').read_text())
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(10), 0)
            self.assertFalse(pidfile.exists())
            self.assertIn(b'2 hosts listening on port', process.stdout.read())
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()

    def test_refuses_to_run_without_credentials(self):
        completed = subprocess.run(
            [sys.executable, '-m', 'netbox_triage.fleet.server', '--seed'], cwd=REPO,
            env={**os.environ, 'PYTHONPATH': str(REPO)}, capture_output=True, timeout=30,
        )
        self.assertEqual(completed.returncode, 2)
        self.assertIn(b'--authorized-key', completed.stderr)


if __name__ == '__main__':
    unittest.main()
