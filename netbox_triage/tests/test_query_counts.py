"""The incident and discovery pages cost a constant number of queries, however long the night gets.

Each test measures the same page with a little and with a lot of data and asserts equal counts; the
small case is also recorded in query_counts.json (regenerate with UPDATE_QUERY_COUNTS=1, serially).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from extras.models import Tag
from tenancy.models import Tenant
from users.models import User
from utilities.testing import APITestCase, TestCase, create_test_device, create_test_virtualmachine
from utilities.testing.query_counts import assert_expected_query_count
from virtualization.models import VirtualMachine

from netbox_triage.choices import *
from netbox_triage.models import *
from netbox_triage.probing.apply import apply_probe_result

from .test_host_facts import probe_result

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


class IncidentPageQueryCountTestCase(TestCase):
    model = Incident
    user_permissions = (
        'netbox_triage.view_incident',
        'netbox_triage.view_timelineentry',
        'netbox_triage.add_timelineentry',
        'netbox_triage.view_businessimpact',
        'netbox_triage.view_incidentobject',
    )

    @classmethod
    def setUpTestData(cls):
        cls.tenant = Tenant.objects.create(name='Web shop', slug='web-shop')
        cls.tags = [Tag.objects.create(name=f'Tag {i}', slug=f'tag-{i}') for i in range(2)]
        cls.device = create_test_device('be-3')
        cls.vm = create_test_virtualmachine('fe-1')
        cls.authors = [User.objects.create_user(username=f'author-{i}') for i in range(3)]

    def add_incident(self, number):
        incident = Incident.objects.create(
            title=f'Incident {number}', started_at=T0, resolved_at=T0 + timedelta(hours=3), tenant=self.tenant,
            status=IncidentStatusChoices.RESOLVED,
        )
        incident.tags.set(self.tags)
        BusinessImpact.objects.create(incident=incident, effective_from=T0, loss_per_day=Decimal('1000000'),
                                      currency='USD')
        BusinessImpact.objects.create(incident=incident, effective_from=T0 + timedelta(hours=2),
                                      loss_per_day=Decimal('200000'), currency='USD')
        for obj in (self.device, self.vm):
            IncidentObject.objects.create(
                incident=incident, object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
            )
        self.add_entries(incident, 3)
        return incident

    def add_entries(self, incident, count):
        linked = (self.device, self.vm, None)
        entries = []
        first = incident.timeline.count()
        for i in range(first, first + count):
            obj = linked[i % len(linked)]
            entries.append(TimelineEntry(
                incident=incident, timestamp=T0 + timedelta(minutes=i), kind=TimelineKindChoices.NOTE,
                text=f'Entry **{i}**', author=self.authors[i % len(self.authors)],
                object_type=ContentType.objects.get_for_model(obj) if obj else None, object_id=obj.pk if obj else None,
            ))
        TimelineEntry.objects.bulk_create(entries)

    def count_queries(self, url):
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def test_detail_page(self):
        incident = self.add_incident(1)
        url = incident.get_absolute_url()
        self.client.get(url)  # warm the per-process caches (content types, permissions)

        with assert_expected_query_count(self, 'detail_page'):
            response = self.client.get(url)
        self.assertContains(response, 'Entry <strong>2</strong>')
        small, _response = self.count_queries(url)

        self.add_entries(incident, 297)
        large, response = self.count_queries(url)
        self.assertContains(response, 'Entry <strong>299</strong>')
        self.assertContains(response, 'All entries')  # more than the page shows
        self.assertEqual(small, large, 'the incident page costs more queries with more timeline entries')

    def test_list_page(self):
        url = reverse('plugins:netbox_triage:incident_list')
        self.add_incident(1)
        self.client.get(url)

        with assert_expected_query_count(self, 'list_page'):
            response = self.client.get(url)
        self.assertContains(response, '91,666.67')
        one, _response = self.count_queries(url)

        for number in range(2, 31):
            self.add_incident(number)
        thirty, response = self.count_queries(url)
        self.assertContains(response, 'Incident 30')
        self.assertEqual(one, thirty, 'the incident list costs more queries with more incidents')

        for incident in Incident.objects.all():
            self.add_entries(incident, 297)
        longer, _response = self.count_queries(url)
        self.assertEqual(thirty, longer, 'the incident list costs more queries with more timeline entries')


class IncidentAPIQueryCountTestCase(APITestCase):
    """The REST and GraphQL incident lists compute loss figures from prefetched rates too."""

    model = Incident
    user_permissions = ('netbox_triage.view_incident', 'netbox_triage.view_businessimpact')

    def add_incidents(self, count):
        for i in range(count):
            incident = Incident.objects.create(title=f'Incident {i}', started_at=T0)
            BusinessImpact.objects.bulk_create((
                BusinessImpact(incident=incident, effective_from=T0, loss_per_day=Decimal('1000'), currency='USD'),
                BusinessImpact(incident=incident, effective_from=T0 + timedelta(hours=1),
                               loss_per_day=Decimal('10'), currency='USD'),
            ))

    def count_queries(self, method, url, **kwargs):
        with CaptureQueriesContext(connection) as ctx:
            response = method(url, **kwargs, **self.header)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def test_rest_list(self):
        url = reverse('plugins-api:netbox_triage-api:incident-list')
        self.add_incidents(1)
        self.client.get(url, **self.header)
        one, _response = self.count_queries(self.client.get, url)
        self.add_incidents(29)
        thirty, response = self.count_queries(self.client.get, url)
        self.assertEqual(response.data['count'], 30)
        self.assertEqual(response.data['results'][0]['currency'], 'USD')
        self.assertEqual(one, thirty)

    def test_graphql_list(self):
        url = reverse('graphql')
        query = {'query': '{ incident_list { id title currency total_lost current_loss_rate saved_by_mitigations } }'}
        self.add_incidents(1)
        self.client.post(url, query, format='json', **self.header)
        one, _response = self.count_queries(self.client.post, url, data=query, format='json')
        self.add_incidents(29)
        thirty, response = self.count_queries(self.client.post, url, data=query, format='json')
        rows = response.json()['data']['incident_list']
        self.assertEqual(len(rows), 30)
        self.assertEqual(rows[0]['currency'], 'USD')
        self.assertEqual(one, thirty)


class FindingsQueryCountMixin:
    """Discoveries and dependencies about a device, a VM, their cluster and an unrelated device, in rounds."""

    user_permissions = (
        'netbox_triage.view_discovery',
        'netbox_triage.add_discovery',
        'netbox_triage.view_dependency',
        'netbox_triage.view_incident',
        'netbox_triage.view_timelineentry',
        'netbox_triage.view_businessimpact',
        'netbox_triage.view_incidentobject',
        'dcim.view_device',
        'virtualization.view_virtualmachine',
        'virtualization.view_cluster',
    )

    @classmethod
    def setUpTestData(cls):
        cls.tags = [Tag.objects.create(name=f'Tag {i}', slug=f'tag-{i}') for i in range(2)]
        cls.vm = create_test_virtualmachine('fe-1')
        cls.cluster = cls.vm.cluster
        cls.device = create_test_device('be-3', cluster=cls.cluster)
        cls.other = create_test_device('db-1')
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0)
        for obj in (cls.other, cls.cluster):
            IncidentObject.objects.create(
                incident=cls.incident, object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
            )

    def add_discoveries(self, rounds):
        """`rounds` × one discovery about each of: a device, a VM, a cluster, an unrelated device and the fleet."""
        severities = SeverityChoices.values()
        for i in range(rounds):
            for obj in (self.device, self.vm, self.cluster, self.other, None):
                discovery = Discovery.objects.create(
                    title=f'Finding {Discovery.objects.count()}', rule='manual', severity=severities[i % 5],
                    status=(DiscoveryStatusChoices.OPEN, DiscoveryStatusChoices.RESOLVED)[i % 2],
                    object_type=ContentType.objects.get_for_model(obj) if obj else None,
                    object_id=obj.pk if obj else None, incident=self.incident if i % 3 == 0 else None,
                )
                discovery.tags.set(self.tags)

    def add_dependencies(self, count):
        ends = (self.device, self.vm, self.cluster, self.other)
        first = Dependency.objects.count()
        for i in range(first, first + count):
            source, target = ends[i % 4], ends[(i + 1) % 4]
            dependency = Dependency.objects.create(
                source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
                target_type=ContentType.objects.get_for_model(target), target_id=target.pk, port=1000 + i,
                label=f'Edge {i}',
            )
            dependency.tags.set(self.tags)

    def count_queries(self, url):
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def assert_constant(self, name, url, grow, expect):
        """Measure `url` (also recorded as `name`), then again after `grow()`: the counts must match."""
        self.client.get(url)  # warm the per-process caches (content types, permissions)
        with assert_expected_query_count(self, name):
            response = self.client.get(url)
        self.assertContains(response, expect)
        small, _response = self.count_queries(url)
        grow()
        large, _response = self.count_queries(url)
        self.assertEqual(small, large, f'{url} costs more queries with more rows')


class DiscoveryPageQueryCountTestCase(FindingsQueryCountMixin, TestCase):
    """The discovery list, the discoveries panels and the incident page: constant in the discoveries."""

    model = Discovery

    def test_list_page(self):
        self.add_discoveries(2)
        self.assert_constant('list_page', reverse('plugins:netbox_triage:discovery_list'),
                             lambda: self.add_discoveries(6), 'Finding 9')

    def test_device_page(self):
        self.add_discoveries(2)
        self.assert_constant('device_page', self.device.get_absolute_url(), lambda: self.add_discoveries(20),
                             'Finding 0')

    def test_cluster_page(self):
        self.add_discoveries(2)
        self.assert_constant('cluster_page', self.cluster.get_absolute_url(), lambda: self.add_discoveries(20),
                             'Finding 0')

    def test_incident_page(self):
        self.add_discoveries(2)
        self.assert_constant('incident_page', self.incident.get_absolute_url(), lambda: self.add_discoveries(20),
                             'Critical: ')


class DependencyPageQueryCountTestCase(FindingsQueryCountMixin, TestCase):
    model = Dependency

    def test_list_page(self):
        self.add_dependencies(8)
        self.assert_constant('list_page', reverse('plugins:netbox_triage:dependency_list'),
                             lambda: self.add_dependencies(32), 'Edge 7')


class DiscoveryAPIQueryCountTestCase(APITestCase):
    """The REST lists serialise the generic objects from prefetched rows."""

    model = Discovery
    user_permissions = ('netbox_triage.view_discovery', 'netbox_triage.view_dependency', 'netbox_triage.view_incident')

    @classmethod
    def setUpTestData(cls):
        cls.vm = create_test_virtualmachine('fe-1')
        cls.device = create_test_device('be-3')
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0)

    def add(self, count):
        ends = (self.device, self.vm, self.vm.cluster)
        first = Discovery.objects.count()
        for i in range(first, first + count):
            obj, other = ends[i % 3], ends[(i + 1) % 3]
            Discovery.objects.create(title=f'Finding {i}', rule='manual', incident=self.incident,
                                     object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
            Dependency.objects.create(
                source_type=ContentType.objects.get_for_model(obj), source_id=obj.pk,
                target_type=ContentType.objects.get_for_model(other), target_id=other.pk, port=1000 + i,
            )

    def count_queries(self, url):
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url, **self.header)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def test_rest_lists(self):
        self.add(3)
        for name in ('discovery', 'dependency'):
            url = reverse(f'plugins-api:netbox_triage-api:{name}-list')
            with self.subTest(name=name):
                self.client.get(url, **self.header)
                small, _response = self.count_queries(url)
                self.add(27)
                large, response = self.count_queries(url)
                self.assertEqual(response.data['count'], Discovery.objects.count())
                self.assertEqual(small, large)


class FactsColumnsQueryCountTestCase(TestCase):
    """NetBox's own device and VM lists with the probe's facts columns shown: the facts of the page's rows come in
    one restricted query (tables.VisibleFacts), with 3 hosts as with 30."""

    model = HostFacts
    user_permissions = ('dcim.view_device', 'virtualization.view_virtualmachine', 'netbox_triage.view_hostfacts')
    columns = ['name', 'triage_probe_status', 'triage_os', 'triage_kernel', 'triage_virtualization', 'triage_probed_at']

    def add_hosts(self, total):
        while VirtualMachine.objects.count() < total:
            number = VirtualMachine.objects.count()
            device = create_test_device(f'cols-{number}')
            apply_probe_result(device, probe_result(device, 'ubuntu2204'))
            vm = create_test_virtualmachine(f'cols-vm-{number}')
            apply_probe_result(vm, probe_result(vm, 'rhel4'))

    def count_queries(self, url):
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def test_device_and_vm_lists(self):
        for table in ('DeviceTable', 'VirtualMachineTable'):
            self.user.config.set(f'tables.{table}.columns', self.columns, commit=True)
        lists = (
            ('device_list', reverse('dcim:device_list'), 'Ubuntu 22.04.3 LTS'),
            ('virtualmachine_list', reverse('virtualization:virtualmachine_list'),
             'Red Hat Enterprise Linux AS release 4'),
        )
        self.add_hosts(3)
        small = {}
        for name, url, expect in lists:
            self.client.get(url)  # warm the per-process caches (content types, permissions)
            with assert_expected_query_count(self, name):
                response = self.client.get(url)
            self.assertContains(response, expect, count=3)
            small[name], _response = self.count_queries(url)
        self.add_hosts(30)
        for name, url, expect in lists:
            with self.subTest(list=name):
                large, response = self.count_queries(url)
                self.assertContains(response, expect, count=30)
                self.assertEqual(small[name], large, f'the {name} costs more queries with more hosts')


class IncidentHostsQueryCountTestCase(TestCase):
    """The incident page with 3 and with 30 affected hosts (devices and VMs, each probed, with discoveries and
    monitoring coverage): the affected hosts, their discoveries, the topology panel and the affected objects table
    (loaded by the page in a request of its own) cost the same queries."""

    model = Incident
    user_permissions = (
        'netbox_triage.view_incident',
        'netbox_triage.view_incidentobject',
        'netbox_triage.view_businessimpact',
        'netbox_triage.view_timelineentry',
        'netbox_triage.view_hostfacts',
        'netbox_triage.view_discovery',
        'netbox_triage.view_monitoringcoverage',
        'dcim.view_device',
        'virtualization.view_virtualmachine',
    )

    @classmethod
    def setUpTestData(cls):
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0, severity=SeverityChoices.CRITICAL)
        BusinessImpact.objects.create(incident=cls.incident, effective_from=T0, loss_per_day=Decimal('1000000'),
                                      currency='USD')

    def add_hosts(self, total):
        """Affected hosts up to `total`, alternately devices and VMs: facts from a fleet profile, two discoveries
        (the worst rotating through the severities) and a coverage row (the state rotating) each."""
        severities = SeverityChoices.values()
        states = (MonitoringStateChoices.REPORTING, MonitoringStateChoices.SILENT, MonitoringStateChoices.CONFIGURED)
        while IncidentObject.objects.filter(incident=self.incident).count() < total:
            number = IncidentObject.objects.filter(incident=self.incident).count()
            if number % 2:
                host, field = create_test_virtualmachine(f'affected-{number:02d}'), 'virtual_machine'
            else:
                host, field = create_test_device(f'affected-{number:02d}'), 'device'
            apply_probe_result(host, probe_result(host, ('rhel4', 'ubuntu2204', 'debian12')[number % 3]))
            host_type = ContentType.objects.get_for_model(host)
            for k in range(2):
                Discovery.objects.create(title=f'Finding {k} on {host.name}', rule='manual',
                                         severity=severities[(number + k) % len(severities)],
                                         object_type=host_type, object_id=host.pk)
            MonitoringCoverage.objects.create(system='monit', state=states[number % len(states)], **{field: host})
            IncidentObject.objects.create(incident=self.incident, object_type=host_type, object_id=host.pk)

    def count_queries(self, url):
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        return len(ctx.captured_queries), response

    def test_detail_page(self):
        url = self.incident.get_absolute_url()
        self.add_hosts(3)
        self.client.get(url)  # warm the per-process caches (content types, permissions)

        with assert_expected_query_count(self, 'affected_hosts_page'):
            response = self.client.get(url)
        self.assertContains(response, 'affected-02')
        self.assertContains(response, 'Red Hat Enterprise Linux AS release 4')
        three, _response = self.count_queries(url)
        # The affected objects panel loads its table in a request of its own (HTMX).
        table_url = reverse('plugins:netbox_triage:incidentobject_list') + f'?incident_id={self.incident.pk}'
        table_three, _response = self.count_queries(table_url)

        self.add_hosts(30)
        table_thirty, response = self.count_queries(table_url)
        self.assertContains(response, 'affected-29')
        self.assertEqual(table_three, table_thirty, 'the affected objects table costs more queries with more rows')
        thirty, response = self.count_queries(url)
        for name in ('affected-00', 'affected-29'):  # the first and the last host, with their facts and findings
            self.assertContains(response, f'>{name}</a>')
        self.assertContains(response, 'Ubuntu 22.04.3 LTS')
        self.assertContains(response, '>reporting</span>')
        self.assertContains(response, '>silent</span>')
        self.assertEqual(three, thirty, 'the incident page costs more queries with more affected hosts')
