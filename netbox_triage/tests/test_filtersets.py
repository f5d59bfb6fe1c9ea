from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.test import TestCase

from tenancy.models import Tenant, TenantGroup
from users.models import User
from utilities.testing import ChangeLoggedFilterSetTestMixin, create_test_device, create_test_virtualmachine

from netbox_triage.choices import *
from netbox_triage.filtersets import *
from netbox_triage.models import *

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


class IncidentTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = Incident.objects.all()
    filterset = IncidentFilterSet
    # The summary is the incident's Markdown body, searched by `q` like `comments`.
    ignore_fields = ('summary',)

    @classmethod
    def setUpTestData(cls):
        group = TenantGroup.objects.create(name='Group 1', slug='group-1')
        tenants = (
            Tenant.objects.create(name='Tenant 1', slug='tenant-1', group=group),
            Tenant.objects.create(name='Tenant 2', slug='tenant-2'),
        )
        incidents = (
            Incident(
                title='Checkout down', status=IncidentStatusChoices.INVESTIGATING, severity=SeverityChoices.CRITICAL,
                started_at=T0, detected_at=T0 + timedelta(minutes=5), tenant=tenants[0], description='foobar1',
                summary='Payments fail',
            ),
            Incident(
                title='Slow search', status=IncidentStatusChoices.MITIGATING, severity=SeverityChoices.LOW,
                started_at=T0 + timedelta(days=1), tenant=tenants[1], description='foobar2',
            ),
            Incident(
                title='Disk full', status=IncidentStatusChoices.RESOLVED, severity=SeverityChoices.HIGH,
                started_at=T0 + timedelta(days=2), resolved_at=T0 + timedelta(days=2, hours=1),
            ),
        )
        Incident.objects.bulk_create(incidents)
        device = create_test_device('Device 1')
        vm = create_test_virtualmachine('VM 1')
        IncidentObject.objects.bulk_create((
            IncidentObject(incident=incidents[0], object_type=ContentType.objects.get_for_model(device),
                           object_id=device.pk),
            IncidentObject(incident=incidents[1], object_type=ContentType.objects.get_for_model(device),
                           object_id=device.pk),
            IncidentObject(incident=incidents[2], object_type=ContentType.objects.get_for_model(vm), object_id=vm.pk),
            IncidentObject(incident=incidents[2], object_type=ContentType.objects.get_for_model(vm.cluster),
                           object_id=vm.cluster.pk),
        ))
        cls.incidents, cls.tenants, cls.group, cls.device, cls.vm = incidents, tenants, group, device, vm

    def test_q(self):
        self.assertEqual(self.filterset({'q': 'checkout'}, self.queryset).qs.get(), self.incidents[0])
        self.assertEqual(self.filterset({'q': 'payments'}, self.queryset).qs.get(), self.incidents[0])
        self.assertEqual(self.filterset({'q': 'foobar'}, self.queryset).qs.count(), 2)

    def test_title(self):
        params = {'title': ['Checkout down', 'Disk full']}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_status(self):
        params = {'status': [IncidentStatusChoices.INVESTIGATING, IncidentStatusChoices.RESOLVED]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_severity(self):
        self.assertEqual(self.filterset({'severity': [SeverityChoices.LOW]}, self.queryset).qs.get(),
                         self.incidents[1])

    def test_is_open(self):
        self.assertEqual(self.filterset({'is_open': True}, self.queryset).qs.count(), 2)
        self.assertEqual(self.filterset({'is_open': False}, self.queryset).qs.get(), self.incidents[2])

    def test_started_at(self):
        params = {'started_at__gte': [(T0 + timedelta(hours=12)).isoformat()]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_detected_at(self):
        params = {'detected_at': [(T0 + timedelta(minutes=5)).isoformat()]}
        self.assertEqual(self.filterset(params, self.queryset).qs.get(), self.incidents[0])

    def test_resolved_at(self):
        params = {'resolved_at__lte': [(T0 + timedelta(days=3)).isoformat()]}
        self.assertEqual(self.filterset(params, self.queryset).qs.get(), self.incidents[2])

    def test_description(self):
        params = {'description': ['foobar1', 'foobar2']}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_tenant(self):
        self.assertEqual(self.filterset({'tenant_id': [self.tenants[0].pk]}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'tenant': [self.tenants[1].slug]}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'tenant_group_id': [self.group.pk]}, self.queryset).qs.count(), 1)

    def test_affected_objects(self):
        self.assertEqual(self.filterset({'device_id': [self.device.pk]}, self.queryset).qs.count(), 2)
        self.assertEqual(self.filterset({'virtual_machine_id': [self.vm.pk]}, self.queryset).qs.get(),
                         self.incidents[2])
        self.assertEqual(self.filterset({'cluster_id': [self.vm.cluster.pk]}, self.queryset).qs.get(),
                         self.incidents[2])
        # An object ID of another type matches nothing.
        self.assertFalse(self.filterset({'cluster_id': [self.device.pk]}, self.queryset).qs.exists())


class IncidentObjectTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = IncidentObject.objects.all()
    filterset = IncidentObjectFilterSet

    @classmethod
    def setUpTestData(cls):
        incidents = Incident.objects.bulk_create((
            Incident(title='Incident 1', started_at=T0),
            Incident(title='Incident 2', started_at=T0),
        ))
        devices = (create_test_device('Device 1'), create_test_device('Device 2'))
        vm = create_test_virtualmachine('VM 1')
        device_type = ContentType.objects.get_for_model(devices[0])
        IncidentObject.objects.bulk_create((
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[0].pk, note='foobar1'),
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[1].pk, note='foobar2'),
            IncidentObject(incident=incidents[1], object_type=ContentType.objects.get_for_model(vm), object_id=vm.pk),
            IncidentObject(incident=incidents[1], object_type=ContentType.objects.get_for_model(vm.cluster),
                           object_id=vm.cluster.pk),
        ))
        cls.incidents, cls.devices, cls.vm = incidents, devices, vm

    def test_q(self):
        self.assertEqual(self.filterset({'q': 'foobar1'}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'q': 'Incident 2'}, self.queryset).qs.count(), 2)

    def test_incident(self):
        self.assertEqual(self.filterset({'incident_id': [self.incidents[0].pk]}, self.queryset).qs.count(), 2)

    def test_object_type(self):
        self.assertEqual(self.filterset({'object_type': ['dcim.device']}, self.queryset).qs.count(), 2)
        params = {'object_type_id': [ContentType.objects.get_for_model(self.vm).pk]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 1)

    def test_object_id(self):
        params = {'object_id': [self.devices[0].pk]}
        self.assertTrue(all(o.object_id == self.devices[0].pk for o in self.filterset(params, self.queryset).qs))

    def test_objects(self):
        params = {'device_id': [self.devices[0].pk, self.devices[1].pk]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)
        self.assertEqual(self.filterset({'virtual_machine_id': [self.vm.pk]}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'cluster_id': [self.vm.cluster.pk]}, self.queryset).qs.count(), 1)

    def test_note(self):
        self.assertEqual(self.filterset({'note': ['foobar1', 'foobar2']}, self.queryset).qs.count(), 2)


class BusinessImpactTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = BusinessImpact.objects.all()
    filterset = BusinessImpactFilterSet

    @classmethod
    def setUpTestData(cls):
        incidents = Incident.objects.bulk_create((
            Incident(title='Checkout down', started_at=T0),
            Incident(title='Slow search', started_at=T0),
        ))
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incidents[0], effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD',
                           basis=ImpactBasisChoices.ESTIMATE, note='Sales estimate', description='foobar1'),
            BusinessImpact(incident=incidents[0], effective_from=T0 + timedelta(hours=2),
                           loss_per_day=Decimal('200000'), currency='USD', basis=ImpactBasisChoices.MEASURED,
                           description='foobar2'),
            BusinessImpact(incident=incidents[1], effective_from=T0, loss_per_day=Decimal('500'), currency='EUR',
                           basis=ImpactBasisChoices.MEASURED),
        ))
        cls.incidents = incidents

    def test_q(self):
        self.assertEqual(self.filterset({'q': 'sales'}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'q': 'checkout'}, self.queryset).qs.count(), 2)
        self.assertEqual(self.filterset({'q': 'eur'}, self.queryset).qs.count(), 1)

    def test_incident(self):
        self.assertEqual(self.filterset({'incident_id': [self.incidents[1].pk]}, self.queryset).qs.count(), 1)

    def test_effective_from(self):
        params = {'effective_from__gt': [T0.isoformat()]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 1)

    def test_loss_per_day(self):
        self.assertEqual(self.filterset({'loss_per_day': ['500']}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'loss_per_day__gte': ['200000']}, self.queryset).qs.count(), 2)

    def test_currency(self):
        self.assertEqual(self.filterset({'currency': 'usd'}, self.queryset).qs.count(), 2)
        self.assertEqual(self.filterset({'currency': 'USD, EUR'}, self.queryset).qs.count(), 3)

    def test_basis(self):
        self.assertEqual(self.filterset({'basis': [ImpactBasisChoices.MEASURED]}, self.queryset).qs.count(), 2)

    def test_note(self):
        self.assertEqual(self.filterset({'note': ['Sales estimate']}, self.queryset).qs.count(), 1)

    def test_description(self):
        self.assertEqual(self.filterset({'description': ['foobar1', 'foobar2']}, self.queryset).qs.count(), 2)


class TimelineEntryTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = TimelineEntry.objects.all()
    filterset = TimelineEntryFilterSet
    # The entry's Markdown body, searched by `q`.
    ignore_fields = ('text',)

    @classmethod
    def setUpTestData(cls):
        incidents = Incident.objects.bulk_create((
            Incident(title='Checkout down', started_at=T0),
            Incident(title='Slow search', started_at=T0),
        ))
        users = (User.objects.create_user(username='alice'), User.objects.create_user(username='bob'))
        device = create_test_device('Device 1')
        TimelineEntry.objects.bulk_create((
            TimelineEntry(incident=incidents[0], timestamp=T0, kind=TimelineKindChoices.NOTE, text='Pager went off',
                          author=users[0], description='foobar1'),
            TimelineEntry(incident=incidents[0], timestamp=T0 + timedelta(hours=1), kind=TimelineKindChoices.FINDING,
                          text='be-3 cannot reach mysql-1', author=users[1], description='foobar2',
                          object_type=ContentType.objects.get_for_model(device), object_id=device.pk),
            TimelineEntry(incident=incidents[1], timestamp=T0 + timedelta(hours=2), kind=TimelineKindChoices.STATUS,
                          text='Status changed'),
        ))
        cls.incidents, cls.users, cls.device = incidents, users, device

    def test_q(self):
        self.assertEqual(self.filterset({'q': 'mysql'}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'q': 'slow search'}, self.queryset).qs.count(), 1)

    def test_incident(self):
        self.assertEqual(self.filterset({'incident_id': [self.incidents[0].pk]}, self.queryset).qs.count(), 2)

    def test_timestamp(self):
        params = {'timestamp__gte': [(T0 + timedelta(minutes=30)).isoformat()]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_kind(self):
        params = {'kind': [TimelineKindChoices.NOTE, TimelineKindChoices.STATUS]}
        self.assertEqual(self.filterset(params, self.queryset).qs.count(), 2)

    def test_object(self):
        self.assertEqual(self.filterset({'object_type': ['dcim.device']}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'object_id': [self.device.pk]}, self.queryset).qs.count(), 1)

    def test_author(self):
        self.assertEqual(self.filterset({'author_id': [self.users[0].pk]}, self.queryset).qs.count(), 1)
        self.assertEqual(self.filterset({'author': ['alice', 'bob']}, self.queryset).qs.count(), 2)

    def test_description(self):
        self.assertEqual(self.filterset({'description': ['foobar1', 'foobar2']}, self.queryset).qs.count(), 2)
