"""HostFacts: applying probe results to NetBox, where to connect, and the pages/API that show facts.

Probe results here are built from the simulated fleet's profiles (the exact bytes a host prints),
so no connection is opened: the transport itself is tested in test_transport.py and end to end in
tests/test_probe_e2e.py.
"""

import subprocess
import time
import uuid
from importlib.resources import files
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import ObjectChange, ObjectType
from dcim.models import Device, Manufacturer, Platform, Rack, Site
from extras.models import Tag
from ipam.models import IPAddress
from netbox.context_managers import event_tracking
from users.models import ObjectPermission, User
from utilities.request import NetBoxFakeRequest
from utilities.testing import APIViewTestCases, ViewTestCases, create_test_device, create_test_virtualmachine
from virtualization.models import VirtualDisk, VirtualMachine

from netbox_triage.choices import ProbeStatusChoices
from netbox_triage.models import HostFacts
from netbox_triage.probing.apply import apply_probe_result, apply_probe_results
from netbox_triage.probing.changes import stable_facts
from netbox_triage.probing.facts import parse_probe_output
from netbox_triage.probing.runner import probe_script
from netbox_triage.probing.targets import TargetError, target_for
from netbox_triage.probing.transport import ProbeResult
from netbox_triage.settings import validate_settings

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


def edited(profile, replacements):
    """A profile's bytes with some values changed, as the same host would print them at another time."""
    data = PROFILES.joinpath(f'{profile}.out').read_bytes()
    for old, new in replacements:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    return data


# debian12 an hour later: clock, uptime, load, free memory and disk space, df's and each section's timings,
# the ephemeral port of its connection to the other Redis and the pid of its redis-server all moved.
READINGS_MOVED = (
    (b'date=1700699400', b'date=1700703000'),
    (b'2204117.90 4370021.33', b'2207717.42 4377220.10'),
    (b'0.12 0.10 0.09 1/141 33012', b'2.31 1.05 0.61 3/158 35120'),
    (b'MemFree:        11020580 kB', b'MemFree:         9020580 kB'),
    (b'MemAvailable:   11020580 kB', b'MemAvailable:    9520580 kB'),
    (b'1\text4\t/\t/dev/sda1     30787492    5141200   24057044     18% /',
     b'9\text4\t/\t/dev/sda1     30787492    6141200   23057044     21% /'),
    (b'10.0.12.2:45566     10.0.12.1:6379 users:(("redis-server",pid=702,fd=9))',
     b'10.0.12.2:51034     10.0.12.1:6379 users:(("redis-server",pid=1702,fd=9))'),
    (b'users:(("redis-server",pid=702,fd=6))', b'users:(("redis-server",pid=1702,fd=6))'),
    (b'users:(("redis-server",pid=702,fd=7))', b'users:(("redis-server",pid=1702,fd=7))'),
    (b'@@triage:end filesystems rc=0 ms=12@@', b'@@triage:end filesystems rc=0 ms=48@@'),
)
OPENSSL_UPGRADED = ((b'openssl\t3.0.11-1~deb12u2\t', b'openssl\t3.0.15-1~deb12u1\t'),)


def grant(user, action, model):
    permission = ObjectPermission.objects.create(name=f'{action} {model._meta.label}', actions=[action])
    permission.object_types.add(ObjectType.objects.get_for_model(model))
    permission.users.add(user)
    return User.objects.get(pk=user.pk)  # no cached permissions


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

    def test_serialised_as_netbox_does_but_without_raw_sections(self):
        from utilities.serialization import serialize_object

        facts, _changed = apply_probe_result(self.device, probe_result(self.device, 'centos6-heartbleed'))
        facts = HostFacts.objects.get(pk=facts.pk)
        facts.tags.add(Tag.objects.create(name='Rescue', slug='rescue'))
        self.assertEqual(facts.serialize_object(), serialize_object(facts, exclude=['raw_sections']))
        self.assertEqual(facts.serialize_object()['tags'], ['Rescue'])
        self.assertNotIn('raw_sections', facts.serialize_object())

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


class QuietReprobeTest(TestCase):
    """Probing a host again writes to the changelog only when a fact changed, not when a reading moved."""

    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create(username='prober')
        cls.vm = create_test_virtualmachine('redis-2')

    def probe(self, stdout, first_use=False):
        result = probe_result(self.vm, 'debian12', hostkey_first_use=first_use)
        result.stdout = stdout
        with logged(self.user):
            return apply_probe_result(self.vm, result)

    def test_moved_readings_are_stored_without_a_changelog_entry(self):
        first, _changed = self.probe(PROFILES.joinpath('debian12.out').read_bytes(), first_use=True)
        saved = HostFacts.objects.get(pk=first.pk)
        changes = ObjectChange.objects.count()
        facts, changed = self.probe(edited('debian12', READINGS_MOVED))
        self.assertFalse(changed)
        self.assertEqual(ObjectChange.objects.count(), changes)
        stored = HostFacts.objects.get(pk=first.pk)
        self.assertEqual(stored.last_updated, saved.last_updated)
        # The board's "changed at the last probe" is last_updated >= probed_at: not this host.
        self.assertLess(stored.last_updated, stored.probed_at)
        # The readings themselves are current: the disk rule reads them.
        self.assertEqual(stored.facts['uptime_seconds'], 2207717)
        self.assertEqual(stored.facts['filesystems'][0]['used_percent'], 21)
        self.assertEqual(stored.facts['established'][0]['local_port'], 51034)
        self.assertIn('6141200', stored.raw_sections['filesystems'])
        self.assertEqual(facts.facts, stored.facts)

    def test_a_package_upgrade_is_change_logged(self):
        first, _changed = self.probe(PROFILES.joinpath('debian12.out').read_bytes(), first_use=True)
        changes = ObjectChange.objects.count()
        _facts, changed = self.probe(edited('debian12', READINGS_MOVED + OPENSSL_UPGRADED))
        self.assertTrue(changed)
        change = ObjectChange.objects.order_by('-pk').first()
        self.assertEqual(ObjectChange.objects.count(), changes + 1)
        self.assertEqual((change.changed_object_id, change.user), (first.pk, self.user))
        self.assertEqual(change.postchange_data['facts']['packages']['openssl']['version'], '3.0.15')
        self.assertNotIn('raw_sections', change.postchange_data)  # the changelog keeps the parsed facts only
        # The pre-change snapshot is what was stored before this probe, readings included.
        self.assertEqual(change.prechange_data['facts']['packages']['openssl']['version'], '3.0.11')
        self.assertEqual(change.prechange_data['facts']['uptime_seconds'], 2204117)
        stored = HostFacts.objects.get(pk=first.pk)
        self.assertGreaterEqual(stored.last_updated, stored.probed_at)

    def test_a_platform_change_is_change_logged_with_the_previous_one(self):
        device = create_test_device('reinstalled')
        with logged(self.user):
            apply_probe_result(device, probe_result(device, 'centos6-patched'))
            host = Device.objects.get(pk=device.pk)
            apply_probe_result(host, probe_result(host, 'centos7', hostkey_first_use=False))  # reinstalled
        change = ObjectChange.objects.filter(changed_object_id=device.pk,
                                             changed_object_type__model='device').order_by('-pk').first()
        names = dict(Platform.objects.values_list('pk', 'name'))
        self.assertEqual((names[change.prechange_data['platform']], names[change.postchange_data['platform']]),
                         ('CentOS 6.5', 'CentOS Linux 7'))

    def test_stable_view(self):
        before = parse_probe_output(PROFILES.joinpath('debian12.out').read_bytes()).facts
        later = parse_probe_output(edited('debian12', READINGS_MOVED)).facts
        self.assertNotEqual(before, later)
        self.assertEqual(stable_facts(before), stable_facts(later))
        for change in ((b'/dev/sda1     30787492', b'/dev/sda1     61574984'),  # a grown filesystem
                       (b'10.0.12.1:6379 users', b'10.0.12.9:6379 users'),  # another peer
                       (b'127.0.0.1:2812', b'0.0.0.0:2812'),  # a service now listening everywhere
                       (b'MemTotal:       16371132 kB', b'MemTotal:       32742264 kB')):
            with self.subTest(change=change):
                self.assertNotEqual(stable_facts(parse_probe_output(edited('debian12', (change,))).facts),
                                    stable_facts(before))

    def test_this_machine_probed_twice_writes_nothing_new(self):
        """The real script on this machine, twice: its clock, uptime and free memory move; its facts do not."""
        def run():
            output = subprocess.run(['sh', '-s'], input=probe_script(), capture_output=True, timeout=120).stdout
            return output, parse_probe_output(output).facts

        for _attempt in range(3):  # a service started in between (another test's server) is a real change
            first, first_facts = run()
            time.sleep(1.1)
            second, second_facts = run()
            if stable_facts(first_facts) == stable_facts(second_facts):
                break
        else:
            self.fail('this machine kept changing between two probes a second apart')
        self.assertNotEqual(first_facts['probe']['date'], second_facts['probe']['date'])
        record, _changed = self.probe(first, first_use=True)
        changes = ObjectChange.objects.count()
        saved = HostFacts.objects.get(pk=record.pk).last_updated
        _facts, changed = self.probe(second)
        self.assertFalse(changed)
        self.assertEqual(ObjectChange.objects.count(), changes)
        stored = HostFacts.objects.get(pk=record.pk)
        self.assertEqual((stored.status, stored.last_updated), (ProbeStatusChoices.OK, saved))
        self.assertEqual(stored.facts['probe']['date'], second_facts['probe']['date'])


class PlatformOwnershipTest(TestCase):
    """The probe sets the platform it derives unless a person chose one; it creates one only if allowed."""

    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create(username='viewer')
        cls.device = create_test_device('haproxy-2')

    def platform(self, host):
        host = type(host).objects.select_related('platform').get(pk=host.pk)
        return host.platform.name if host.platform else None

    def test_a_platform_a_person_chose_stays(self):
        vm = create_test_virtualmachine('be-1')
        vm.platform = Platform.objects.create(name='Ubuntu 14.04', slug='ubuntu-14-04')
        vm.save()
        facts, _changed = apply_probe_result(vm, probe_result(vm, 'rhel4'))
        self.assertEqual(self.platform(vm), 'Ubuntu 14.04')
        self.assertEqual(facts.platform_derived, 'Red Hat Enterprise Linux AS 4.9')
        self.assertFalse(Platform.objects.filter(name__startswith='Red Hat').exists())
        apply_probe_result(vm, probe_result(vm, 'rhel4', hostkey_first_use=False))
        self.assertEqual(self.platform(vm), 'Ubuntu 14.04', "still the person's, probe after probe")

    def test_the_probe_keeps_its_own_platform_current_until_a_person_changes_it(self):
        apply_probe_result(self.device, probe_result(self.device, 'centos6-patched'))
        self.assertEqual(self.platform(self.device), 'CentOS 6.5')
        host = Device.objects.get(pk=self.device.pk)
        apply_probe_result(host, probe_result(host, 'centos7', hostkey_first_use=False))  # reinstalled
        self.assertEqual(self.platform(host), 'CentOS Linux 7')
        host = Device.objects.get(pk=self.device.pk)
        host.snapshot()
        host.platform = Platform.objects.create(name='RHEL 7', slug='rhel-7')
        host.save()
        host = Device.objects.get(pk=self.device.pk)
        facts, _changed = apply_probe_result(host, probe_result(host, 'centos7', hostkey_first_use=False))
        self.assertEqual(self.platform(host), 'RHEL 7')
        self.assertEqual(facts.platform_derived, 'CentOS Linux 7')

    def test_a_platform_is_created_only_by_a_user_who_may_add_platforms(self):
        facts, _changed = apply_probe_result(self.device, probe_result(self.device, 'centos6-patched'), user=self.user)
        self.assertIsNone(self.platform(self.device))
        self.assertFalse(Platform.objects.filter(name='CentOS 6.5').exists())
        self.assertEqual(facts.status, ProbeStatusChoices.OK)
        self.assertIn('platform "CentOS 6.5" is not in NetBox and the requesting user may not add platforms',
                      facts.error)
        # An existing platform is assigned all the same.
        Platform.objects.create(name='CentOS 6.5', slug='centos-6-5')
        host = Device.objects.get(pk=self.device.pk)
        facts, _changed = apply_probe_result(host, probe_result(host, 'centos6-patched'), user=self.user)
        self.assertEqual((self.platform(host), facts.error), ('CentOS 6.5', ''))
        # With dcim.add_platform, the probe creates what it needs.
        vm = create_test_virtualmachine('be-2')
        apply_probe_result(vm, probe_result(vm, 'debian6'), user=grant(self.user, 'add', Platform))
        self.assertEqual(self.platform(vm), 'Debian GNU/Linux 6')


    def test_a_platform_another_worker_created_meanwhile_is_used(self):
        check = Platform.full_clean

        def racing(platform, *args, **kwargs):
            check(platform, *args, **kwargs)
            Platform.objects.create(name=platform.name, slug=platform.slug)  # another chunk's, between check and save

        with mock.patch.object(Platform, 'full_clean', racing):
            facts, _changed = apply_probe_result(self.device, probe_result(self.device, 'centos6-patched'))
        self.assertEqual((facts.status, facts.error), (ProbeStatusChoices.OK, ''))
        self.assertEqual(self.platform(self.device), 'CentOS 6.5')
        self.assertEqual(Platform.objects.filter(name='CentOS 6.5').count(), 1)


class RecordingFailureTest(TestCase):
    """A result NetBox refuses is that host's error, rolled back whole; a VM's virtual disks are left alone."""

    def test_a_vm_with_virtual_disks_keeps_the_disk_they_add_up_to(self):
        vm = create_test_virtualmachine('disks')
        VirtualDisk.objects.create(virtual_machine=vm, name='root', size=20000)
        VirtualDisk.objects.create(virtual_machine=vm, name='data', size=30000)
        vm = VirtualMachine.objects.get(pk=vm.pk)
        self.assertEqual((vm.disk, vm.virtual_disk_count), (50000, 2))
        facts, _changed = apply_probe_result(vm, probe_result(vm, 'ubuntu2204'))
        self.assertEqual(facts.status, ProbeStatusChoices.OK, facts.error)
        vm.refresh_from_db()
        self.assertEqual(vm.disk, 50000)
        self.assertEqual(vm.vcpus, facts.facts['cpu']['threads'])

    def test_a_host_netbox_refuses_to_save_gets_an_error_and_nothing_else(self):
        """The derived platform exists but is limited to another manufacturer: NetBox would refuse the device."""
        device = create_test_device('wrong-maker')
        other = Manufacturer.objects.create(name='Other maker', slug='other-maker')
        Platform.objects.create(name='CentOS Linux 7', slug='centos-linux-7', manufacturer=other)
        with self.assertLogs('netbox_triage.probing', 'WARNING') as logs:
            facts, changed = apply_probe_result(device, probe_result(device, 'centos7'))
        self.assertIn('recording the probe result of wrong-maker failed', logs.output[0])
        self.assertTrue(changed)
        self.assertEqual(facts.status, ProbeStatusChoices.ERROR)
        self.assertEqual(facts.error, 'recording the probe result failed: platform: platform CentOS Linux 7 is '
                                      f'limited to Other maker devices, but this device is a '
                                      f'{device.device_type.manufacturer}')
        stored = HostFacts.objects.get(device=device)
        self.assertEqual((stored.status, stored.facts, stored.os_name, stored.hostkey), ('error', {}, '', ''))
        self.assertIsNotNone(stored.probed_at)
        self.assertIsNone(Device.objects.get(pk=device.pk).platform)

    def test_an_unrelated_inconsistency_does_not_cost_the_probe(self):
        """A device in a rack of another site (legacy data NetBox's edit form would refuse): the probe validates the
        fields it sets, records its facts and its platform, and leaves the rack to a person."""
        device = create_test_device('in-the-wrong-rack')
        other = Site.objects.create(name='Elsewhere', slug='elsewhere')
        Device.objects.filter(pk=device.pk).update(rack=Rack.objects.create(name='R9', site=other))
        device = Device.objects.get(pk=device.pk)
        facts, _changed = apply_probe_result(device, probe_result(device, 'centos7'))
        self.assertEqual(facts.status, ProbeStatusChoices.OK, facts.error)
        stored = Device.objects.get(pk=device.pk)
        self.assertEqual((stored.platform.name, stored.rack.name), ('CentOS Linux 7', 'R9'))


class BatchedRecordingTest(TestCase):
    """Several hosts in one transaction (what a probe job does): the statements a batch needs do not grow with its
    hosts where NetBox does not make them, and a failed batch leaves nothing behind for the next one."""

    @staticmethod
    def statements(queries, prefix):
        return [q['sql'] for q in queries.captured_queries if q['sql'].startswith(prefix)]

    def test_a_batch_reads_and_locks_its_facts_in_one_statement_per_kind(self):
        hosts = [create_test_device(f'dev-{n}') for n in range(3)] + [create_test_virtualmachine(f'vm-{n}')
                                                                       for n in range(3)]
        apply_probe_results([(host, probe_result(host, 'debian12')) for host in hosts])
        with CaptureQueriesContext(connection) as queries:
            outcomes = apply_probe_results([(host, probe_result(host, 'debian12', hostkey_first_use=False))
                                            for host in hosts])
        self.assertEqual([(facts.status, changed) for facts, changed in outcomes], [('ok', False)] * 6)
        reads = self.statements(queries, 'SELECT "netbox_triage_hostfacts"')
        self.assertEqual(len(reads), 2, reads)
        self.assertTrue(all(sql.endswith('FOR UPDATE') for sql in reads), reads)
        self.assertEqual(len(self.statements(queries, 'UPDATE "netbox_triage_hostfacts"')), 6)

    def test_a_changed_record_carries_its_probe_times_in_its_own_save(self):
        vm = create_test_virtualmachine('one-write')
        now = timezone.now()
        with CaptureQueriesContext(connection) as queries:
            [(facts, changed)] = apply_probe_results([(vm, probe_result(vm, 'debian12'))], now=now)
        self.assertTrue(changed)
        self.assertEqual(len(self.statements(queries, 'INSERT INTO "netbox_triage_hostfacts"')), 1)
        self.assertEqual(self.statements(queries, 'UPDATE "netbox_triage_hostfacts"'), [])
        stored = HostFacts.objects.get(pk=facts.pk)
        self.assertEqual((stored.probed_at, stored.last_ok_at, stored.duration_ms), (now, now, 120))

    def test_platforms_found_in_one_batch_serve_the_next(self):
        first, second = create_test_device('first'), create_test_device('second')
        platforms = {}
        apply_probe_results([(first, probe_result(first, 'centos7'))], platforms=platforms)
        self.assertEqual(list(platforms), ['CentOS Linux 7'])
        with CaptureQueriesContext(connection) as queries:
            [(facts, _changed)] = apply_probe_results([(second, probe_result(second, 'centos7'))],
                                                      platforms=platforms)
        self.assertEqual(facts.status, ProbeStatusChoices.OK, facts.error)
        self.assertEqual(self.statements(queries, 'SELECT "dcim_platform"'), [])
        self.assertEqual(Device.objects.get(pk=second.pk).platform, platforms['CentOS Linux 7'])

    def test_a_failed_batch_forgets_the_platforms_it_created(self):
        """The Debian platform the first host needed was created inside the batch the second host made fail: it
        was rolled back with it, so it must not be handed to the next batch."""
        good, refused, later = (create_test_device(name) for name in ('good', 'refused', 'later'))
        other = Manufacturer.objects.create(name='Other maker', slug='other-maker')
        Platform.objects.create(name='CentOS Linux 7', slug='centos-linux-7', manufacturer=other)
        platforms = {}
        with self.assertLogs('netbox_triage.probing', 'INFO'):
            outcomes = apply_probe_results([(good, probe_result(good, 'debian12')),
                                            (refused, probe_result(refused, 'centos7'))], platforms=platforms)
        self.assertEqual([facts.status for facts, _changed in outcomes], ['ok', 'error'])
        self.assertEqual(platforms, {})
        debian = Device.objects.get(pk=good.pk).platform  # created again by the host-by-host pass
        [(facts, _changed)] = apply_probe_results([(later, probe_result(later, 'debian12'))], platforms=platforms)
        self.assertEqual(facts.status, ProbeStatusChoices.OK, facts.error)
        self.assertEqual(Device.objects.get(pk=later.pk).platform, debian)


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

    def test_pins_for_the_host_and_its_jump_host(self):
        self.device.local_context_data = {'triage': {'ssh': {'jump': 'jumper@127.0.0.9:2200'}}}
        target = target_for(self.device, pinned_host_key=HOSTKEY, pinned_jump_host_key='SHA256:' + 'j' * 43)
        self.assertEqual((target.pinned_host_key, target.jump.pinned_host_key), (HOSTKEY, 'SHA256:' + 'j' * 43))
        self.assertIsNone(target_for(self.device).jump.pinned_host_key)

    def test_hostkey_state_dir_is_no_setting_any_more(self):
        with override_settings(PLUGINS_CONFIG={'netbox_triage': {'hostkey_state_dir': '/var/lib/triage'}}):
            with self.assertRaisesRegex(ImproperlyConfigured,
                                        r"\['hostkey_state_dir'\]: no longer a setting: nothing read it"):
                validate_settings()

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
        self.add_permissions('netbox_triage.add_hostfacts', 'netbox_triage.change_hostfacts',
                             'virtualization.view_virtualmachine')
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
