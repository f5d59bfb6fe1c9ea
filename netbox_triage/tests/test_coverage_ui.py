"""Monitoring coverage and Monit agents in NetBox: views, REST API (with GraphQL), filters, and the coverage panel.

The collector that writes them is tested in test_collector.py and end to end in tests/.
"""

from django.test import override_settings
from django.utils import timezone
from rest_framework import status

from utilities.testing import (
    APIViewTestCases,
    ViewTestCases,
    create_tags,
    create_test_device,
    create_test_virtualmachine,
)
from utilities.testing import TestCase as NetBoxTestCase

from netbox_triage.choices import *
from netbox_triage.filtersets import MonitoringCoverageFilterSet
from netbox_triage.models import *

from .base import PluginURLMixin


def make_coverage():
    devices = [create_test_device(f'Device {i}') for i in range(1, 5)]
    vms = [create_test_virtualmachine(f'VM {i}') for i in range(1, 3)]
    now = timezone.now()
    rows = (
        MonitoringCoverage(device=devices[0], system=MonitoringSystemChoices.MONIT,
                           state=MonitoringStateChoices.REPORTING, check_types=['disk', 'cpu'], last_report=now,
                           checks=[{'name': 'rootfs', 'type': 'disk', 'status': 'ok'}]),
        MonitoringCoverage(device=devices[1], system=MonitoringSystemChoices.MONIT,
                           state=MonitoringStateChoices.SILENT, check_types=['disk'], failing_checks=2),
        MonitoringCoverage(virtual_machine=vms[0], system=MonitoringSystemChoices.ZABBIX,
                           state=MonitoringStateChoices.CONFIGURED),
    )
    MonitoringCoverage.objects.bulk_create(rows)
    return devices, vms, rows


class MonitoringCoverageViewTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = MonitoringCoverage

    @classmethod
    def setUpTestData(cls):
        devices, vms, rows = make_coverage()
        tags = create_tags('Alpha', 'Bravo', 'Charlie')
        cls.form_data = {
            'device': devices[2].pk,
            'system': MonitoringSystemChoices.PROMETHEUS,
            'state': MonitoringStateChoices.PLANNED,
            'check_types': ['cpu', 'memory'],
            'ui_url': 'https://prometheus.example/graph',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'device,virtual_machine,system,state',
            'Device 3,,nagios,configured',
            'Device 4,,checkmk,planned',
            ',VM 2,newrelic,none',
        )
        cls.csv_update_data = (
            'id,state',
            f'{rows[0].pk},silent',
            f'{rows[1].pk},reporting',
            f'{rows[2].pk},planned',
        )
        cls.bulk_edit_data = {'state': MonitoringStateChoices.PLANNED}


class MonitoringCoverageAPITestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = MonitoringCoverage
    brief_fields = ['display', 'id', 'state', 'system', 'url']
    bulk_update_data = {'state': MonitoringStateChoices.PLANNED}
    bulk_update_invalid_data = {'state': 'bogus'}

    @classmethod
    def setUpTestData(cls):
        devices, vms, _rows = make_coverage()
        cls.create_data = [
            {'device': devices[2].pk, 'system': 'prometheus', 'state': 'configured', 'check_types': ['cpu']},
            {'device': devices[3].pk, 'system': 'nagios'},
            {'virtual_machine': vms[1].pk, 'system': 'checkmk', 'checks': [
                {'name': 'load', 'type': 'load', 'status': 'ok'}]},
        ]

    def test_collector_fields_are_read_only(self):
        self.add_permissions('netbox_triage.add_monitoringcoverage')
        device = create_test_device('Device 9')
        response = self.client.post(self._get_list_url(), {
            'device': device.pk, 'system': 'zabbix', 'last_report': '2024-01-01T00:00:00Z', 'history': ['x'],
            'agent_version': '9.9',
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        coverage = MonitoringCoverage.objects.get(pk=response.data['id'])
        self.assertEqual((coverage.last_report, coverage.history, coverage.agent_version), (None, [], ''))

    def test_one_row_per_host_and_system(self):
        self.add_permissions('netbox_triage.add_monitoringcoverage')
        device = MonitoringCoverage.objects.filter(device__isnull=False).first().device
        response = self.client.post(self._get_list_url(), {'device': device.pk, 'system': 'monit'}, format='json',
                                    **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)


class MonitAgentAPITestCase(
    PluginURLMixin,
    APIViewTestCases.GetObjectViewTestCase,
    APIViewTestCases.ListObjectsViewTestCase,
    APIViewTestCases.UpdateObjectViewTestCase,
    APIViewTestCases.DeleteObjectViewTestCase,
    APIViewTestCases.GraphQLTestCase,
):
    """Agents come from the collector (no POST); a person maps them to a host. GraphQL: monit_agent(_list)."""

    model = MonitAgent
    brief_fields = ['display', 'hostname', 'id', 'url']

    @classmethod
    def setUpTestData(cls):
        devices, vms, _rows = make_coverage()
        now = timezone.now()
        MonitAgent.objects.bulk_create([
            MonitAgent(monit_id='a' * 32, hostname='web-7', address='192.0.2.7', version='5.33.0', first_seen=now,
                       last_seen=now, reports=3, device=devices[1], match_note='mapped by hand'),
            MonitAgent(monit_id='b' * 32, hostname='Device 1', version='5.26.0', device=devices[0], first_seen=now,
                       last_seen=now, match_note="matched by host name 'Device 1'"),
            MonitAgent(monit_id='c' * 32, hostname='vm-1', virtual_machine=vms[0], first_seen=now, last_seen=now),
        ])
        cls.update_data = {'device': devices[3].pk}
        cls.bulk_update_data = {'device': None, 'virtual_machine': None}  # unmap in bulk
        cls.bulk_update_invalid_data = {'device': devices[2].pk, 'virtual_machine': vms[1].pk}  # one host, not two

    def test_no_create(self):
        self.add_permissions('netbox_triage.add_monitagent')
        response = self.client.post(self._get_list_url(), {'monit_id': 'd' * 32}, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_405_METHOD_NOT_ALLOWED)

    def test_collector_fields_are_read_only(self):
        self.add_permissions('netbox_triage.change_monitagent')
        agent = MonitAgent.objects.get(hostname='web-7')
        response = self.client.patch(self._get_detail_url(agent), {'hostname': 'forged', 'reports': 0},
                                     format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        agent.refresh_from_db()
        self.assertEqual((agent.hostname, agent.reports), ('web-7', 3))


class MonitoringCoverageFilterTest(NetBoxTestCase):

    @classmethod
    def setUpTestData(cls):
        cls.devices, cls.vms, _rows = make_coverage()

    def filter(self, **params):
        return MonitoringCoverageFilterSet(params, MonitoringCoverage.objects.all()).qs

    def test_filters(self):
        self.assertEqual(self.filter(state=['silent']).get().device, self.devices[1])
        self.assertEqual(self.filter(system=['zabbix']).get().virtual_machine, self.vms[0])
        self.assertEqual(self.filter(check_type=['cpu']).get().device, self.devices[0])
        self.assertEqual(self.filter(has_failing_checks=True).get().device, self.devices[1])
        self.assertEqual(self.filter(device_id=[self.devices[0].pk]).count(), 1)
        self.assertEqual(self.filter(q='VM 1').count(), 1)


@override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
class CoveragePanelTest(NetBoxTestCase):

    @classmethod
    def setUpTestData(cls):
        cls.devices, cls.vms, _rows = make_coverage()

    def test_device_page_shows_its_coverage_or_says_not_monitored(self):
        response = self.client.get(self.devices[0].get_absolute_url())
        self.assertContains(response, 'Monitoring')
        self.assertContains(response, 'Reporting')
        response = self.client.get(self.devices[3].get_absolute_url())
        self.assertContains(response, 'Not monitored')

    def test_agent_list_and_mapping(self):
        agent = MonitAgent.objects.create(monit_id='a' * 32, hostname='<b>web-7</b>', first_seen=timezone.now(),
                                          last_seen=timezone.now(), match_note='no host named web-7')
        self.add_permissions('netbox_triage.view_monitagent', 'netbox_triage.change_monitagent')
        response = self.client.get('/plugins/triage/monit-agents/')
        self.assertContains(response, '&lt;b&gt;web-7&lt;/b&gt;')
        response = self.client.post(f'/plugins/triage/monit-agents/{agent.pk}/edit/',
                                    {'device': self.devices[3].pk})
        self.assertHttpStatus(response, 302)
        agent.refresh_from_db()
        self.assertEqual(agent.device, self.devices[3])


class CoverageColumnTest(NetBoxTestCase):
    """The Monitoring column on NetBox's device and VM lists: one query for the page, whatever its rows."""

    def _count(self, url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(queries), response

    def test_column_shows_the_best_state_in_constant_queries(self):
        from django.urls import reverse

        from dcim.models import Device

        self.add_permissions('dcim.view_device', 'netbox_triage.view_monitoringcoverage')
        self.user.config.set('tables.DeviceTable.columns', ['name', 'triage_monitoring'], commit=True)
        counts = []
        for total in (2, 12):
            while Device.objects.count() < total:
                device = create_test_device(f'mon-{Device.objects.count()}')
                odd = Device.objects.count() % 2
                state = MonitoringStateChoices.REPORTING if odd else MonitoringStateChoices.SILENT
                MonitoringCoverage.objects.create(device=device, system=MonitoringSystemChoices.MONIT, state=state)
                MonitoringCoverage.objects.create(device=device, system=MonitoringSystemChoices.ZABBIX,
                                                  state=MonitoringStateChoices.PLANNED)
            count, response = self._count(reverse('dcim:device_list'))
            counts.append(count)
        self.assertEqual(counts[0], counts[1])
        self.assertContains(response, '>reporting</span>')  # the best of reporting/planned
        self.assertContains(response, '>silent</span>')  # silent beats planned
        create_test_device('mon-none')
        _count, response = self._count(reverse('dcim:device_list'))
        self.assertContains(response, '>none</span>')

    def test_csv_export_past_the_page(self):
        """An export walks every listed host, past the page the states were first loaded for."""
        from django.urls import reverse

        self.add_permissions('dcim.view_device', 'netbox_triage.view_monitoringcoverage')
        self.user.config.set('tables.DeviceTable.columns', ['name', 'triage_monitoring'], commit=True)
        for number in range(4):
            device = create_test_device(f'exported-{number}')
            MonitoringCoverage.objects.create(device=device, system=MonitoringSystemChoices.MONIT,
                                              state=MonitoringStateChoices.REPORTING if number % 2 else
                                              MonitoringStateChoices.SILENT)
        create_test_device('exported-none')
        response = self.client.get(reverse('dcim:device_list') + '?export=table&per_page=1')
        self.assertEqual(response.status_code, 200)
        rows = dict(line.split(',')[:2] for line in response.content.decode().splitlines()[1:])
        self.assertEqual(rows, {'exported-0': 'silent', 'exported-1': 'reporting', 'exported-2': 'silent',
                                'exported-3': 'reporting', 'exported-none': 'none'})

    def test_without_permission_the_column_shows_nothing(self):
        from django.urls import reverse

        self.add_permissions('dcim.view_device')
        self.user.config.set('tables.DeviceTable.columns', ['name', 'triage_monitoring'], commit=True)
        device = create_test_device('secret-mon')
        MonitoringCoverage.objects.create(device=device, system=MonitoringSystemChoices.MONIT,
                                          state=MonitoringStateChoices.REPORTING)
        _count, response = self._count(reverse('dcim:device_list'))
        self.assertNotContains(response, '>reporting</span>')


class UnmonitoredListTest(NetBoxTestCase):
    """The device and VM lists of hosts no monitoring system reports for."""

    @classmethod
    def setUpTestData(cls):
        cls.devices, cls.vms, _rows = make_coverage()

    def test_lists(self):
        from django.urls import reverse

        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        response = self.client.get(reverse('plugins:netbox_triage:unmonitored_devices'))
        self.assertHttpStatus(response, 200)
        names = {device.name for device in response.context['table'].data}
        self.assertEqual(names, {'Device 2', 'Device 3', 'Device 4'})  # Device 1 reports; 2 is silent
        self.assertContains(response, 'Devices not monitored')
        response = self.client.get(reverse('plugins:netbox_triage:unmonitored_virtualmachines') + '?q=VM')
        self.assertEqual({vm.name for vm in response.context['table'].data}, {'VM 1', 'VM 2'})

    def test_needs_view_permission(self):
        from django.urls import reverse

        with override_settings(EXEMPT_VIEW_PERMISSIONS=[]):
            response = self.client.get(reverse('plugins:netbox_triage:unmonitored_devices'))
        self.assertHttpStatus(response, 403)
