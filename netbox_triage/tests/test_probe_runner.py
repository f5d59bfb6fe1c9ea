"""The probe runner over real SSH to the simulated fleet: what one chunk records, host by host.

A host NetBox refuses to save becomes that host's `error` while the rest of its chunk is recorded; a VM's
virtual disks stay its disk; a jump host's key is pinned on first use for each host, and a changed one refuses
the probe before any credential reaches it, until someone accepts the new key. Every connection stays on
127.83.0.0/24.
"""

import shutil
import tempfile
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import override_settings
from django.urls import reverse

from dcim.models import Device, Manufacturer, Platform
from utilities.testing import TestCase, create_test_device, create_test_virtualmachine
from virtualization.models import VirtualDisk, VirtualMachine

from netbox_triage.choices import ProbeStatusChoices
from netbox_triage.fleet import FleetHost, FleetServer
from netbox_triage.models import HostFacts
from netbox_triage.probing.runner import hosts_from_keys, probe_hosts
from netbox_triage.probing.targets import host_key

NET = '127.83.0'
BASTION = f'{NET}.9'


def _client_key(path):
    private = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    path.chmod(0o600)
    return paramiko.PKey.from_path(path)


def _key_text(pkey):
    return f'{pkey.get_name()} {pkey.get_base64()}'


class ProbeRunnerTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-runner-'))
        key = _client_key(cls.tmp / 'id_ed25519')
        cls.fleet = FleetServer([
            FleetHost(f'{NET}.1', 0, 'ubuntu2204', name='web'),
            FleetHost(f'{NET}.2', 0, 'debian12', name='cache'),
            FleetHost(f'{NET}.3', 0, 'centos7', name='db'),
            FleetHost(BASTION, 0, 'alpine', name='bastion'),
        ], state_dir=cls.tmp / 'state', authorized_keys=[key]).start()
        cls.enterClassContext(override_settings(PLUGINS_CONFIG={'netbox_triage': {
            'allowed_networks': [f'{NET}.0/24'], 'ssh_key_files': [str(cls.tmp / 'id_ed25519')],
            'ssh_use_agent': False, 'connect_timeout': 3, 'auth_timeout': 5, 'command_timeout': 30,
        }}))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.fleet.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def setUpTestData(cls):
        def ssh(address, **extra):
            return {'triage': {'ssh': {'host': address, 'port': cls.fleet.port, **extra}}}

        cls.web = create_test_virtualmachine('web')
        cls.cache = create_test_virtualmachine('cache')
        VirtualDisk.objects.create(virtual_machine=cls.cache, name='root', size=20000)
        VirtualDisk.objects.create(virtual_machine=cls.cache, name='data', size=30000)
        cls.db = create_test_device('db')
        # The platform its probe derives exists, limited to another manufacturer: NetBox refuses it on this device.
        Platform.objects.create(name='CentOS Linux 7', slug='centos-linux-7',
                                manufacturer=Manufacturer.objects.create(name='Other maker', slug='other-maker'))
        cls.behind = create_test_virtualmachine('behind-the-bastion')
        for host, context in ((cls.web, ssh(f'{NET}.1')), (cls.cache, ssh(f'{NET}.2')), (cls.db, ssh(f'{NET}.3')),
                              (cls.behind, ssh(f'{NET}.1', jump=f'{BASTION}:{cls.fleet.port}'))):
            type(host).objects.filter(pk=host.pk).update(local_context_data=context)

    def probe(self, *hosts):
        return probe_hosts(hosts_from_keys([host_key(host) for host in hosts]))

    def facts(self, host):
        return HostFacts.objects.get(**{'device' if isinstance(host, Device) else 'virtual_machine': host})

    def test_one_host_netbox_refuses_does_not_cost_the_rest_of_the_chunk(self):
        with self.assertLogs('netbox_triage.probing', 'WARNING') as logs:
            summary = self.probe(self.db, self.web, self.cache)
        self.assertEqual((summary.done, dict(summary.statuses)), (3, {'ok': 2, 'error': 1}), summary.failures)
        message = ('recording the probe result failed: platform: platform CentOS Linux 7 is limited to Other maker '
                   f'devices, but this device is a {self.db.device_type.manufacturer}')
        self.assertEqual(summary.failures, [('db', 'error', message)])
        self.assertIn('recording the probe result of db failed', logs.output[0])
        db = self.facts(self.db)
        self.assertEqual((db.status, db.error, db.facts, db.hostkey), ('error', message, {}, ''))
        self.assertIsNone(Device.objects.get(pk=self.db.pk).platform, 'nothing of its result stays')
        web = self.facts(self.web)
        self.assertEqual((web.status, web.os_name), ('ok', 'Ubuntu'))
        self.assertEqual(VirtualMachine.objects.get(pk=self.web.pk).platform.name, 'Ubuntu 22.04')
        # The VM with virtual disks: NetBox's sum of its disks stays, the rest follows the probe.
        cache = VirtualMachine.objects.get(pk=self.cache.pk)
        self.assertEqual(self.facts(self.cache).status, 'ok', self.facts(self.cache).error)
        self.assertEqual((cache.disk, cache.vcpus, cache.platform.name), (50000, 4, 'Debian GNU/Linux 12'))

    def test_the_jump_host_key_is_pinned_on_first_use_and_a_new_one_refused(self):
        self.add_permissions('netbox_triage.change_hostfacts')
        summary = self.probe(self.behind)
        self.assertEqual(dict(summary.statuses), {'ok': 1}, summary.failures)
        facts = self.facts(self.behind)
        first_key = _key_text(self.fleet.hostkey(BASTION))
        self.assertEqual(facts.jump_hostkey, first_key)
        self.assertEqual(facts.hostkey, _key_text(self.fleet.hostkey(f'{NET}.1')))
        self.assertEqual(facts.jump_hostkey_fingerprint, self.fleet.hostkey(BASTION).fingerprint)

        # The pin is passed on the next probe, and kept.
        self.assertEqual(dict(self.probe(self.behind).statuses), {'ok': 1})
        self.assertEqual(self.facts(self.behind).jump_hostkey, first_key)

        # The bastion now shows another key: refused before authentication, nothing reaches the target.
        new_key = _key_text(self.fleet.rotate_hostkey(BASTION))
        bastion, target = self.fleet.stats[BASTION], self.fleet.stats[f'{NET}.1']
        attempts, forwards, connections = bastion.auth_attempts, bastion.forwards, target.connections
        summary = self.probe(self.behind)
        facts = self.facts(self.behind)
        self.assertEqual(facts.status, ProbeStatusChoices.HOSTKEY_MISMATCH)
        self.assertTrue(facts.error.startswith(f'jump host {BASTION}: host key mismatch'), facts.error)
        self.assertEqual((facts.hostkey_offered, facts.hostkey_offered_by_jump, facts.jump_hostkey),
                         (new_key, True, first_key))
        self.assertEqual((bastion.auth_attempts, bastion.forwards, target.connections),
                         (attempts, forwards, connections))
        self.assertEqual(summary.failures, [('behind-the-bastion', 'hostkey_mismatch', facts.error)])

        # Someone checked the new key out of band and accepts it: the jump host's pin changes, the host's does not.
        response = self.client.post(reverse('plugins:netbox_triage:hostfacts_accept_hostkey', args=[facts.pk]))
        self.assertEqual(response.status_code, 302)
        facts = self.facts(self.behind)
        self.assertEqual((facts.jump_hostkey, facts.hostkey_offered, facts.hostkey_offered_by_jump),
                         (new_key, '', False))
        self.assertEqual(facts.hostkey, _key_text(self.fleet.hostkey(f'{NET}.1')))
        self.assertEqual(dict(self.probe(self.behind).statuses), {'ok': 1})
