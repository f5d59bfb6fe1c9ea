"""HostFacts: applying probe results to NetBox, where to connect, and the pages/API that show facts.

Probe results here are built from the simulated fleet's profiles (the exact bytes a host prints),
so no connection is opened: the transport itself is tested in test_transport.py and end to end in
tests/test_probe_e2e.py.
"""

import uuid
from importlib.resources import files

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import ObjectChange
from dcim.models import Device, Platform
from ipam.models import IPAddress
from netbox.context_managers import event_tracking
from users.models import User
from utilities.request import NetBoxFakeRequest
from utilities.testing import APIViewTestCases, ViewTestCases, create_test_device, create_test_virtualmachine
from utilities.testing import TestCase as NetBoxTestCase
from virtualization.models import VirtualMachine

from netbox_triage.choices import ProbeStatusChoices
from netbox_triage.models import HostFacts
from netbox_triage.probing.apply import apply_probe_result
from netbox_triage.probing.targets import TargetError, target_for
from netbox_triage.probing.transport import ProbeResult

from .base import PluginURLMixin

PROFILES = files('netbox_triage.fleet').joinpath('profiles')
HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn4n3tR0gaGqXmBR0mfoJq6ZbXAu/l3yXXs5Chh2nYf'


def probe_result(host, profile=None, status=ProbeStatusChoices.OK, **kwargs):
    stdout = PROFILES.joinpath(f'{profile}.out').read_bytes() if profile else b''
    defaults = {'hostkey': HOSTKEY, 'hostkey_first_use': True, 'hostkey_fingerprint': 'SHA256:' + 'x' * 43,
                'duration_ms': 120, 'address': '127.100.0.1'}
    defaults.update(kwargs)
    return ProbeResult(key=f'{host._meta.label_lower}:{host.pk}', name=host.name, host='127.100.0.1', port=2222,
                       status=status, stdout=stdout, **defaults)


def logged(user):
    return event_tracking(NetBoxFakeRequest({'id': uuid.uuid4(), 'user': user}))


class ApplyProbeResultTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create(username='prober')
        cls.device = create_test_device('haproxy-1')
        cls.vm = create_test_virtualmachine('be-1')

    def test_first_probe_records_facts_platform_and_pins_the_host_key(self):
        facts, changed = apply_probe_result(self.device, probe_result(self.device, 'centos6-heartbleed'))
        self.assertTrue(changed)
        self.assertEqual(facts.status, ProbeStatusChoices.OK)
        self.assertEqual(facts.os_family, 'rhel')
        self.assertEqual(facts.virtualization, 'vmware')
        self.assertTrue(facts.kind_mismatch, 'a device that is a VMware guest is flagged')
        self.assertEqual(facts.hostkey, HOSTKEY)
        self.assertIn('openssl', facts.facts['packages'])
        self.assertIn('haproxy_cfg', facts.raw_sections)
        self.device.refresh_from_db()
        self.assertEqual(self.device.platform.name, 'CentOS 6.5')
        self.assertTrue(Device.objects.filter(pk=self.device.pk).exists(), 'the probe never deletes or converts')

    def test_vm_resources_follow_the_probe(self):
        apply_probe_result(self.vm, probe_result(self.vm, 'ubuntu2204'))
        self.vm.refresh_from_db()
        facts = HostFacts.objects.get(virtual_machine=self.vm)
        self.assertEqual(self.vm.vcpus, facts.facts['cpu']['threads'])
        self.assertEqual(self.vm.memory, facts.facts['memory']['total_bytes'] // (1024 * 1024))
        self.assertGreater(self.vm.disk, 0)
        self.assertFalse(facts.kind_mismatch)

    def test_second_identical_probe_writes_nothing_to_the_changelog(self):
        with logged(self.user):
            apply_probe_result(self.vm, probe_result(self.vm, 'rhel4'))
        first = ObjectChange.objects.count()
        self.assertGreater(first, 0, 'the first probe is change-logged')
        with logged(self.user):
            _facts, changed = apply_probe_result(self.vm, probe_result(self.vm, 'rhel4', hostkey_first_use=False))
        self.assertFalse(changed)
        self.assertEqual(ObjectChange.objects.count(), first)
        self.assertEqual(Platform.objects.filter(name__startswith='Red Hat').count(), 1)

    def test_a_failure_keeps_the_last_facts(self):
        apply_probe_result(self.vm, probe_result(self.vm, 'debian6'))
        facts, _changed = apply_probe_result(self.vm, probe_result(
            self.vm, status=ProbeStatusChoices.AUTH_FAILED, error='authentication failed (publickey)'))
        self.assertEqual(facts.status, ProbeStatusChoices.AUTH_FAILED)
        self.assertEqual(facts.os_name, 'Debian GNU/Linux')
        self.assertIsNotNone(facts.last_ok_at)

    def test_garbage_is_a_parse_error(self):
        result = probe_result(self.vm)
        result.stdout = bytes(range(256)) * 100
        facts, _changed = apply_probe_result(self.vm, result)
        self.assertEqual(facts.status, ProbeStatusChoices.PARSE_ERROR)

    def test_changed_host_key_is_offered_not_pinned(self):
        apply_probe_result(self.vm, probe_result(self.vm, 'ubuntu2204'))
        other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2b3ZlcmJvc2UtYnV0LWRpZmZlcmVudC1rZXktYmxvYjE'
        facts, _changed = apply_probe_result(self.vm, probe_result(
            self.vm, status=ProbeStatusChoices.HOSTKEY_MISMATCH, hostkey=other, error='host key mismatch'))
        self.assertEqual(facts.status, ProbeStatusChoices.HOSTKEY_MISMATCH)
        self.assertEqual(facts.hostkey, HOSTKEY)
        self.assertEqual(facts.hostkey_offered, other)

    def test_hostile_output_is_stored_as_text(self):
        facts, _changed = apply_probe_result(self.vm, probe_result(self.vm, 'hostile'))
        for value in (facts.os_pretty_name, facts.os_name, facts.kernel):
            self.assertNotRegex(value, r'[\x00-\x1f\x7f]')


class TargetForTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.device = create_test_device('target-1')
        device = Device.objects.get(pk=cls.device.pk)
        device.primary_ip4 = IPAddress.objects.create(address='10.0.0.1/24')
        device.save()

    def setUp(self):
        self.device = Device.objects.select_related('primary_ip4').get(pk=self.device.pk)

    def test_primary_ip_by_default(self):
        target = target_for(self.device)
        self.assertEqual((target.host, target.port, target.username), ('10.0.0.1', 22, 'root'))

    def test_config_context_overrides_address_port_user_and_jump(self):
        self.device.local_context_data = {'triage': {'ssh': {
            'host': '127.100.0.1', 'port': 2222, 'username': 'ops', 'jump': 'jumper@127.0.0.9:2200'}}}
        target = target_for(self.device)
        self.assertEqual((target.host, target.port, target.username), ('127.100.0.1', 2222, 'ops'))
        self.assertEqual((target.jump.host, target.jump.port, target.jump.username), ('127.0.0.9', 2200, 'jumper'))

    def test_unsafe_values_are_refused(self):
        for ssh in ({'host': 'x\nProxyCommand evil'}, {'host': '-oProxyCommand=x'}, {'port': 70000},
                    {'username': 'root;reboot'}, {'jump': 'a b'}):
            self.device.local_context_data = {'triage': {'ssh': ssh}}
            with self.subTest(ssh=ssh), self.assertRaises(TargetError):
                target_for(self.device)

    def test_no_address(self):
        host = create_test_virtualmachine('no-ip')
        with self.assertRaisesRegex(TargetError, 'no primary IP'):
            target_for(host)


class HostFactsViewTestCase(
    PluginURLMixin,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    ViewTestCases.DeleteObjectViewTestCase,
    ViewTestCases.ListObjectsViewTestCase,
    ViewTestCases.BulkDeleteObjectsViewTestCase,
):
    model = HostFacts

    @classmethod
    def setUpTestData(cls):
        for name, profile in (('fe-1', 'ubuntu2204'), ('be-2', 'debian6'), ('x-hostile', 'hostile')):
            vm = create_test_virtualmachine(name)
            apply_probe_result(vm, probe_result(vm, profile))

    def test_hostile_probe_output_renders_as_text(self):
        self.add_permissions('netbox_triage.view_hostfacts', 'virtualization.view_virtualmachine')
        facts = HostFacts.objects.get(virtual_machine__name='x-hostile')
        self.assertIn('<script>', facts.os_pretty_name + str(facts.raw_sections))
        for url in (facts.get_absolute_url(), reverse('plugins:netbox_triage:hostfacts_list'),
                    facts.virtual_machine.get_absolute_url()):
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(response.status_code, 200)
                self.assertNotIn(b'<script>alert', response.content)


class HostFactsAPITestCase(
    PluginURLMixin,
    APIViewTestCases.GetObjectViewTestCase,
    APIViewTestCases.ListObjectsViewTestCase,
    APIViewTestCases.GraphQLTestCase,
):
    model = HostFacts
    brief_fields = ['display', 'id', 'os_pretty_name', 'probed_at', 'status', 'url']

    @classmethod
    def setUpTestData(cls):
        for name, profile in (('api-1', 'ubuntu2204'), ('api-2', 'rhel4'), ('api-3', 'alpine')):
            vm = create_test_virtualmachine(name)
            apply_probe_result(vm, probe_result(vm, profile))

    def test_host_facts_are_read_only(self):
        self.add_permissions('netbox_triage.add_hostfacts', 'netbox_triage.change_hostfacts')
        facts = HostFacts.objects.first()
        url = reverse('plugins-api:netbox_triage-api:hostfacts-detail', kwargs={'pk': facts.pk})
        response = self.client.patch(url, {'status': 'ok'}, format='json', **self.header)
        self.assertEqual(response.status_code, 405)

    def test_probe_endpoint_requires_permission_and_enqueues(self):
        url = reverse('plugins-api:netbox_triage-api:probe')
        vm = HostFacts.objects.first().virtual_machine
        response = self.client.post(url, {'virtual_machines': [vm.pk]}, format='json', **self.header)
        self.assertEqual(response.status_code, 403)

    def test_probe_endpoint_refuses_an_unknown_filter_instead_of_probing_everything(self):
        self.add_permissions('netbox_triage.add_hostfacts', 'virtualization.view_virtualmachine')
        url = reverse('plugins-api:netbox_triage-api:probe')
        response = self.client.post(url, {'virtual_machine_filter': {'no_such_filter': 'x'}}, format='json',
                                    **self.header)
        self.assertEqual(response.status_code, 400)
        self.assertIn('no_such_filter', response.data['detail'])


class StaleTimestampsTest(TestCase):
    def test_probe_timestamps_do_not_touch_the_changelog(self):
        vm = create_test_virtualmachine('stamp')
        user = User.objects.create(username='stamper')
        with logged(user):
            apply_probe_result(vm, probe_result(vm, 'debian12'))
            before = ObjectChange.objects.count()
            facts, _changed = apply_probe_result(vm, probe_result(vm, 'debian12', hostkey_first_use=False),
                                                 now=timezone.now())
        self.assertEqual(ObjectChange.objects.count(), before)
        self.assertIsNotNone(facts.probed_at)


class FactsColumnsQueryCountTest(NetBoxTestCase):
    """NetBox's device and VM lists with the probe's columns shown: no query per row."""

    def _count(self, url):
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(queries), response

    def test_constant_queries(self):
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        columns = ['name', 'triage_probe_status', 'triage_os', 'triage_kernel', 'triage_virtualization',
                   'triage_probed_at']
        self.user.config.set('tables.DeviceTable.columns', columns, commit=True)
        self.user.config.set('tables.VirtualMachineTable.columns', columns, commit=True)
        counts = []
        for total in (2, 12):
            while Device.objects.count() < total:
                device = create_test_device(f'cols-{Device.objects.count()}')
                apply_probe_result(device, probe_result(device, 'ubuntu2204'))
                vm = create_test_virtualmachine(f'cols-vm-{VirtualMachine.objects.count()}')
                apply_probe_result(vm, probe_result(vm, 'rhel4'))
            device_count, response = self._count(reverse('dcim:device_list'))
            self.assertContains(response, 'Ubuntu 22.04')
            vm_count, response = self._count(reverse('virtualization:virtualmachine_list'))
            self.assertContains(response, 'Red Hat Enterprise Linux AS release 4')
            counts.append((device_count, vm_count))
        self.assertEqual(counts[0], counts[1])
