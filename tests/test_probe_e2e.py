"""Probing end to end: a live NetBox, a real RQ worker and the simulated SSH fleet on loopback.

The three doors into the same probe are driven as a user would: the REST API (pynetbox session),
the "Probe now" button of the UI, and `netbox triage_probe`. One host carries a 10.x address and
no override: the scope guard must refuse it without a connection attempt (no packet leaves).
"""

import http.cookiejar
import os
import re
import signal
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

import pynetbox

from netbox_triage.fleet.manifest import FleetHost
from netbox_triage.fleet.server import FleetServer
from netbox_triage.fleet.sshd import LoopbackSshd
from tests.live import INSTANCE, NETBOX, PASSWORD, USERNAME, environment, live_netbox, netbox

# Hosts of this test: name -> (fleet address, profile, behaviour); None = no fleet host at all.
HOSTS = {
    'e2e-ubuntu': ('127.102.0.1', 'ubuntu2204', 'normal'),
    'e2e-rhel4': ('127.102.0.2', 'rhel4', 'normal'),
    'e2e-locked': ('127.102.0.3', 'ubuntu2204', 'auth_reject'),
    'e2e-hang': ('127.102.0.4', 'ubuntu2204', 'hang'),
}


class ProbeEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = live_netbox()
        cls.nb = pynetbox.api(cls.server.url, token=cls.server.token)
        # Host keys stay stable across runs: the pins NetBox keeps from an earlier run still match.
        cls.state_dir = INSTANCE / 'e2e-fleet'
        public_key = (INSTANCE / 'ssh' / 'id_ed25519.pub').read_text()
        fleet_hosts = [FleetHost(address=address, port=0, profile=profile, behaviour=behaviour, name=name)
                       for name, (address, profile, behaviour) in HOSTS.items()]
        # Each process is stopped by a class cleanup registered as soon as it runs: they run even when setUpClass
        # fails half-way (tearDownClass would not), so no worker of this run outlives it and takes the jobs of the
        # next one (a stray worker on the same Redis DB runs them with its own configuration and database).
        cls.fleet = FleetServer(fleet_hosts, state_dir=cls.state_dir, authorized_keys=[public_key]).start()
        cls.addClassCleanup(cls.fleet.stop)
        # And this machine itself, behind a real OpenSSH server.
        cls.sshd = LoopbackSshd(INSTANCE / 'e2e-sshd', public_key).start()
        cls.addClassCleanup(cls.sshd.stop)
        cls.worker = subprocess.Popen(
            [str(NETBOX), 'rqworker', 'high', 'default', 'low'], env=environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        cls.addClassCleanup(cls._stop_worker)
        cls.devices = cls._make_hosts()
        # Each run starts from first contact: no facts, no pinned keys.
        netbox('shell', '--no-imports', '-c',
               'from netbox_triage.models import HostFacts; '
               'HostFacts.objects.filter(device__name__startswith="e2e-").delete()')

    @classmethod
    def _stop_worker(cls):
        """The worker, its scheduler and any work-horse: the whole process group."""
        try:
            os.killpg(cls.worker.pid, signal.SIGTERM)
            cls.worker.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(cls.worker.pid, signal.SIGKILL)
            cls.worker.wait(timeout=30)

    @classmethod
    def _make_hosts(cls):
        nb = cls.nb
        site = nb.dcim.sites.get(slug='e2e') or nb.dcim.sites.create(name='e2e', slug='e2e')
        maker = nb.dcim.manufacturers.get(slug='e2e') or nb.dcim.manufacturers.create(name='e2e', slug='e2e')
        dtype = nb.dcim.device_types.get(slug='e2e') or nb.dcim.device_types.create(
            manufacturer=maker.id, model='e2e', slug='e2e')
        role = nb.dcim.device_roles.get(slug='e2e') or nb.dcim.device_roles.create(name='e2e', slug='e2e')
        devices = {}
        for name, (address, _profile, _behaviour) in HOSTS.items():
            context = {'triage': {'ssh': {'host': address, 'port': cls.fleet.port}}}
            device = nb.dcim.devices.get(name=name) or nb.dcim.devices.create(
                name=name, site=site.id, device_type=dtype.id, role=role.id)
            device.local_context_data = context  # the fleet's port changes from run to run
            device.save()
            devices[name] = device
        local = nb.dcim.devices.get(name='e2e-localhost') or nb.dcim.devices.create(
            name='e2e-localhost', site=site.id, device_type=dtype.id, role=role.id)
        local.local_context_data = {'triage': {'ssh': {'host': '127.0.0.1', 'port': cls.sshd.port}}}
        local.save()
        devices['e2e-localhost'] = local
        # Out of scope: a 10.x primary address and no override. Must never be dialled.
        outside = nb.dcim.devices.get(name='e2e-outside') or nb.dcim.devices.create(
            name='e2e-outside', site=site.id, device_type=dtype.id, role=role.id)
        iface = nb.dcim.interfaces.get(device_id=outside.id, name='eth0') or nb.dcim.interfaces.create(
            device=outside.id, name='eth0', type='1000base-t')
        ip = nb.ipam.ip_addresses.get(address='10.0.99.1/24') or nb.ipam.ip_addresses.create(
            address='10.0.99.1/24', assigned_object_type='dcim.interface', assigned_object_id=iface.id)
        outside.primary_ip4 = ip.id
        outside.save()
        devices['e2e-outside'] = outside
        return devices

    def _wait_for_jobs(self, jobs, timeout=120):
        deadline = time.monotonic() + timeout
        for job in jobs:
            while time.monotonic() < deadline:
                state = self.nb.core.jobs.get(job['id'])
                if state.status.value in ('completed', 'errored', 'failed'):
                    self.assertEqual(state.status.value, 'completed', f'job {job["id"]} ended {state.status.value}')
                    break
                time.sleep(1)
            else:
                self.fail(f'job {job["id"]} did not finish within {timeout} s')

    def _facts(self, name):
        return self.nb.plugins.triage.host_facts.get(device_id=self.devices[name].id)

    def test_rest_api_probe_records_every_outcome(self):
        response = self.nb.http_session.post(
            f'{self.server.url}/api/plugins/triage/probe/',
            json={'devices': [device.id for device in self.devices.values()]},
            headers={'Authorization': f'Bearer {self.server.token}', 'Accept': 'application/json'},
        )
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()['scope'], 'allowed_networks: 127.0.0.0/8, ::1/128')
        self._wait_for_jobs(response.json()['jobs'])
        # The worker's horse forked its prober (SSH and parsing there); the fleet rules job probes nothing.
        probers = [dict(self.nb.core.jobs.get(job['id']).data).get('progress', {}).get('prober')
                   for job in response.json()['jobs']]
        self.assertIn('a forked child process (triage-probe)', probers)
        self.assertEqual(set(probers) - {None}, {'a forked child process (triage-probe)'})

        ubuntu = self._facts('e2e-ubuntu')
        self.assertEqual(ubuntu.status.value, 'ok', ubuntu.error)
        self.assertEqual(ubuntu.os_family, 'debian')
        self.assertIn('22.04', ubuntu.os_version)
        self.assertTrue(ubuntu.hostkey_fingerprint.startswith('SHA256:'))
        rhel4 = self._facts('e2e-rhel4')
        self.assertEqual(rhel4.status.value, 'ok', rhel4.error)
        self.assertEqual(rhel4.os_family, 'rhel')
        self.assertEqual(self.nb.dcim.devices.get(self.devices['e2e-rhel4'].id).platform.name,
                         f'{rhel4.os_name} {rhel4.os_version}')
        local = self._facts('e2e-localhost')
        self.assertEqual(local.status.value, 'ok', local.error)
        self.assertEqual(local.kernel, os.uname().release, "real sshd: the facts are this machine's")
        self.assertEqual(self._facts('e2e-locked').status.value, 'auth_failed')
        self.assertEqual(self._facts('e2e-hang').status.value, 'timeout')
        outside = self._facts('e2e-outside')
        self.assertEqual(outside.status.value, 'out_of_scope')
        self.assertIn('10.0.99.1', outside.error)
        # Secrets never reach the API: no key material besides the host's public key.
        self.assertNotIn('PRIVATE KEY', str(dict(ubuntu)))

    def test_management_command_summarises_and_fails_on_bad_hosts(self):
        # A fleet host and this machine behind the real OpenSSH server, inline with the progress bar.
        good = netbox('triage_probe', '--device', 'e2e-ubuntu', '--device', 'e2e-localhost', check=False)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        self.assertIn('scope: allowed_networks: 127.0.0.0/8', good.stdout)
        self.assertIn('SSH connections: a forked child process (triage-probe)', good.stdout)
        self.assertRegex(good.stdout, r'ok\D+2\b')
        self.assertEqual(self._facts('e2e-localhost').kernel, os.uname().release)
        bad = netbox('triage_probe', '--device', 'e2e-locked', '--device', 'e2e-outside', check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn('auth_failed', bad.stdout)
        self.assertIn('out_of_scope', bad.stdout)

    def test_probe_now_button(self):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = opener.open(f'{self.server.url}/login/').read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
        opener.open(urllib.request.Request(
            f'{self.server.url}/login/',
            data=urllib.parse.urlencode({'csrfmiddlewaretoken': token, 'username': USERNAME,
                                         'password': PASSWORD}).encode(),
            headers={'Referer': f'{self.server.url}/login/'},
        ))
        # A fleet host, and this machine behind the real OpenSSH server.
        for host in ('e2e-rhel4', 'e2e-localhost'):
            device = self.devices[host]
            page = opener.open(f'{self.server.url}/dcim/devices/{device.id}/').read().decode()
            self.assertIn('Probe now', page)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            name = f'Triage probe: {host}'
            before = len(self.nb.core.jobs.filter(name=name))
            opener.open(urllib.request.Request(
                f'{self.server.url}/plugins/triage/probe/device/',
                data=urllib.parse.urlencode({'csrfmiddlewaretoken': token, 'pk': device.id,
                                             'return_url': f'/dcim/devices/{device.id}/'}).encode(),
                headers={'Referer': f'{self.server.url}/dcim/devices/{device.id}/'},
            ))
            jobs = [{'id': job.id} for job in self.nb.core.jobs.filter(name=name)]
            self.assertEqual(len(jobs), before + 1)
            self._wait_for_jobs(jobs)
            self.assertEqual(self._facts(host).status.value, 'ok')
        self.assertEqual(self._facts('e2e-localhost').kernel, os.uname().release)


if __name__ == '__main__':
    unittest.main()
