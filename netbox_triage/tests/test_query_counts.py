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

from netbox_triage.choices import *
from netbox_triage.models import *

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
