"""Probed facts are shown only to users who may view that host's facts (netbox_triage.view_hostfacts and its
object constraints): the "Facts" panel of device and VM pages, the facts columns (and their CSV export) on
NetBox's own device and VM lists, and the incident page's affected hosts."""

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from dcim.models import Device
from utilities.testing import TestCase, create_test_device

from netbox_triage.models import HostFacts, Incident, IncidentObject
from netbox_triage.probing.apply import apply_probe_result

from .test_host_facts import probe_result
from .test_probe_permissions import T0, TwoTenantsMixin, grant

UBUNTU = 'Ubuntu 22.04.3 LTS'
RHEL4 = 'Red Hat Enterprise Linux AS release 4'
COLUMNS = ['name', 'triage_probe_status', 'triage_os', 'triage_kernel', 'triage_virtualization', 'triage_probed_at']


class FactsVisibilityTest(TwoTenantsMixin, TestCase):
    """Blue's hosts run Ubuntu, red's Red Hat 4; the user may view every host, and blue's facts only."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        for host in (cls.red_device, cls.red_vm):
            apply_probe_result(host, probe_result(host, 'rhel4', hostkey_first_use=False))

    def setUp(self):
        super().setUp()
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        for table in ('DeviceTable', 'VirtualMachineTable'):
            self.user.config.set(f'tables.{table}.columns', COLUMNS, commit=True)

    def may_view_blue_facts(self):
        grant(self.user, HostFacts, ['view'], {'device__tenant__slug': 'blue'})
        grant(self.user, HostFacts, ['view'], {'virtual_machine__tenant__slug': 'blue'})

    def test_panel_needs_view_hostfacts(self):
        response = self.client.get(self.blue_device.get_absolute_url())
        self.assertHttpStatus(response, 200)
        self.assertNotContains(response, UBUNTU)
        self.assertNotContains(response, 'Never probed')
        self.add_permissions('netbox_triage.view_hostfacts')
        self.assertContains(self.client.get(self.blue_device.get_absolute_url()), UBUNTU)

    def test_panel_honours_constraints(self):
        self.may_view_blue_facts()
        for host, shown in ((self.blue_device, UBUNTU), (self.blue_vm, UBUNTU)):
            with self.subTest(host=host.name):
                self.assertContains(self.client.get(host.get_absolute_url()), shown)
        for host in (self.red_device, self.red_vm):
            with self.subTest(host=host.name):
                response = self.client.get(host.get_absolute_url())
                self.assertNotContains(response, RHEL4)
                self.assertContains(response, 'not yours to view')

    def test_list_columns_need_view_hostfacts(self):
        response = self.client.get(reverse('dcim:device_list'))
        self.assertContains(response, 'blue-db')
        self.assertNotContains(response, UBUNTU)
        self.assertNotContains(response, RHEL4)

    def test_list_columns_honour_constraints(self):
        self.may_view_blue_facts()
        for url in (reverse('dcim:device_list'), reverse('virtualization:virtualmachine_list')):
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertContains(response, UBUNTU, count=1)
                self.assertNotContains(response, RHEL4)
                self.assertContains(response, 'red-')  # the host itself is listed, its facts are not

    def test_csv_export_past_the_page_honours_constraints(self):
        """An export walks every listed host, past the page the facts were first loaded for."""
        self.may_view_blue_facts()
        for number in range(3):
            host = create_test_device(f'blue-{number}', tenant=self.blue)
            apply_probe_result(host, probe_result(host, 'ubuntu2204'))
        response = self.client.get(reverse('dcim:device_list') + '?export=table&per_page=1')
        self.assertHttpStatus(response, 200)
        rows = {line.split(',')[0]: line for line in response.content.decode().splitlines()[1:]}
        self.assertEqual(set(rows), set(Device.objects.values_list('name', flat=True)))
        for name in ('blue-db', 'blue-0', 'blue-1', 'blue-2'):
            self.assertIn(UBUNTU, rows[name])
        self.assertNotIn(RHEL4, rows['red-db'])
        self.assertEqual(rows['red-db'].split(',')[1:], ['', '', '', '', ''])

    def test_incident_affected_hosts(self):
        incident = Incident.objects.create(title='Checkout down', started_at=T0)
        for host in (self.blue_device, self.red_device):
            IncidentObject.objects.create(incident=incident, object_type=ContentType.objects.get_for_model(host),
                                          object_id=host.pk)
        self.add_permissions('netbox_triage.view_incident')
        response = self.client.get(incident.get_absolute_url())
        self.assertContains(response, 'red-db')
        self.assertNotContains(response, UBUNTU)
        self.assertNotContains(response, 'never probed')
        self.may_view_blue_facts()
        response = self.client.get(incident.get_absolute_url())
        self.assertContains(response, UBUNTU, count=1)
        self.assertNotContains(response, RHEL4)

    def test_hostile_facts_in_the_columns_are_text(self):
        host = create_test_device('x-hostile', tenant=self.blue)
        apply_probe_result(host, probe_result(host, 'hostile'))
        self.assertIn('<script>', HostFacts.objects.get(device=host).os_pretty_name)
        self.add_permissions('netbox_triage.view_hostfacts')
        response = self.client.get(reverse('dcim:device_list'))
        self.assertContains(response, 'x-hostile')
        self.assertContains(response, '&lt;script&gt;')
        self.assertNotIn(b'<script>alert', response.content)
