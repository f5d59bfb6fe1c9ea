from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory

from utilities.testing import TableTestCases, TestCase, create_test_device, create_test_virtualmachine

from netbox_triage.models import *
from netbox_triage.tables import *
from netbox_triage.views import dependencies_with_ends, discoveries_with_objects, incidents_with_figures

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


class IncidentTableTestCase(TableTestCases.StandardTableTestCase):
    table = IncidentTable


class IncidentObjectTableTestCase(TableTestCases.StandardTableTestCase):
    table = IncidentObjectTable


class BusinessImpactTableTestCase(TableTestCases.StandardTableTestCase):
    table = BusinessImpactTable


class TimelineEntryTableTestCase(TableTestCases.StandardTableTestCase):
    table = TimelineEntryTable


class TableRenderingTestCase(TestCase):
    """The columns that compute or link: rendered from populated querysets, every column shown."""

    @classmethod
    def setUpTestData(cls):
        cls.incident = Incident.objects.create(
            title='Checkout down', started_at=T0, resolved_at=T0 + timedelta(hours=3), status='resolved'
        )
        BusinessImpact.objects.create(
            incident=cls.incident, effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD'
        )
        BusinessImpact.objects.create(
            incident=cls.incident, effective_from=T0 + timedelta(hours=2), loss_per_day=Decimal('200000'),
            currency='USD',
        )
        cls.device = create_test_device('be-3')
        IncidentObject.objects.create(
            incident=cls.incident, object_type=ContentType.objects.get_for_model(cls.device), object_id=cls.device.pk
        )
        TimelineEntry.objects.create(
            incident=cls.incident, timestamp=T0, text='be-3 **unreachable**',
            object_type=ContentType.objects.get_for_model(cls.device), object_id=cls.device.pk,
        )

    def render(self, table_class, queryset):
        request = RequestFactory().get('/')
        request.user = self.user
        table = table_class(queryset)
        table._set_columns(table_class.Meta.fields)
        return table.as_html(request)

    def test_incident_table_money_columns(self):
        html = self.render(IncidentTable, incidents_with_figures())
        self.assertIn('91,666.67', html)
        self.assertIn('33,333.33', html)
        self.assertIn('/plugins/triage/affected-objects/?incident_id=', html)

    def test_incident_object_table_links_object(self):
        html = self.render(IncidentObjectTable, IncidentObject.objects.all())
        self.assertIn(self.device.get_absolute_url(), html)
        self.assertIn(self.incident.get_absolute_url(), html)
        self.assertIn(IncidentObject.objects.get().get_absolute_url(), html)

    def test_business_impact_table_money(self):
        html = self.render(BusinessImpactTable, BusinessImpact.objects.all())
        self.assertIn('1,000,000.00', html)
        self.assertIn('200,000.00', html)

    def test_timeline_table_renders_markdown_and_object(self):
        html = self.render(TimelineEntryTable, TimelineEntry.objects.all())
        self.assertIn('<strong>unreachable</strong>', html)
        self.assertIn(self.device.get_absolute_url(), html)


class DiscoveryTableTestCase(TableTestCases.StandardTableTestCase):
    table = DiscoveryTable


class DependencyTableTestCase(TableTestCases.StandardTableTestCase):
    table = DependencyTable


class DiscoveryTableRenderingTestCase(TestCase):
    """Discoveries and dependencies link their generic objects, and never render their text as markup."""

    @classmethod
    def setUpTestData(cls):
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0)
        cls.device = create_test_device('db-1')
        cls.vm = create_test_virtualmachine('app-1')
        cls.discovery = Discovery.objects.create(
            title='<script>alert(1)</script>', rule='manual', severity='critical', incident=cls.incident,
            object_type=ContentType.objects.get_for_model(cls.device), object_id=cls.device.pk,
            evidence_text='<b>bold</b>', recommendation='<i>patch</i>',
        )
        Discovery.objects.create(title='Fleet-wide', rule='redundancy')
        cls.dependency = Dependency.objects.create(
            source_type=ContentType.objects.get_for_model(cls.vm), source_id=cls.vm.pk,
            target_type=ContentType.objects.get_for_model(cls.device), target_id=cls.device.pk, port=3306,
            label='<em>MySQL</em>',
        )

    def render(self, table_class, queryset):
        request = RequestFactory().get('/')
        request.user = self.user
        table = table_class(queryset)
        table._set_columns(table_class.Meta.fields)
        return table.as_html(request)

    def test_discovery_table(self):
        html = self.render(DiscoveryTable, discoveries_with_objects())
        self.assertIn(self.discovery.get_absolute_url(), html)
        self.assertIn(self.device.get_absolute_url(), html)
        self.assertIn(self.incident.get_absolute_url(), html)
        self.assertIn('Fleet-wide', html)
        self.assertNotIn('<script>', html)
        self.assertNotIn('<b>bold</b>', html)
        self.assertNotIn('<i>patch</i>', html)
        self.assertIn('&lt;script&gt;alert(1)&lt;/script&gt;', html)
        self.assertIn('&lt;b&gt;bold&lt;/b&gt;', html)
        self.assertIn(self.discovery.fingerprint, html)

    def test_dependency_table(self):
        html = self.render(DependencyTable, dependencies_with_ends())
        self.assertIn(self.dependency.get_absolute_url(), html)
        self.assertIn(self.vm.get_absolute_url(), html)
        self.assertIn(self.device.get_absolute_url(), html)
        self.assertIn('&lt;em&gt;MySQL&lt;/em&gt;', html)
        self.assertNotIn('<em>MySQL</em>', html)
