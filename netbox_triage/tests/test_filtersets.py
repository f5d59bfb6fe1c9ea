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


class DiscoveryFilterSetTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = Discovery.objects.all()
    filterset = DiscoveryFilterSet
    # Free text and data, searched by `q` (evidence_text) or only read (evidence, recommendation).
    ignore_fields = ('evidence', 'evidence_text', 'recommendation')

    @classmethod
    def setUpTestData(cls):
        cls.vm = create_test_virtualmachine('VM 1')
        cls.cluster = cls.vm.cluster
        cls.host = create_test_device('Host 1', cluster=cls.cluster)
        cls.devices = (create_test_device('Device 1'), create_test_device('Device 2'))
        cls.incidents = Incident.objects.bulk_create((
            Incident(title='Incident 1', started_at=T0),
            Incident(title='Incident 2', started_at=T0),
        ))
        for obj in (cls.devices[0], cls.cluster):
            IncidentObject.objects.create(incident=cls.incidents[0], object_type=ContentType.objects.get_for_model(obj),
                                          object_id=obj.pk)

        def discovery(obj, **attrs):
            if obj is not None:
                attrs.update(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
            return Discovery.objects.create(**attrs)

        cls.discoveries = (
            discovery(cls.devices[0], rule='eol', severity='critical', title='CentOS 6 is end of life',
                      evidence_text='os-release says foobar-evidence', fingerprint='a' * 64, description='foobar1',
                      first_seen=T0, last_seen=T0 + timedelta(hours=1)),
            discovery(cls.devices[1], rule='disk', severity='high', status='acknowledged', title='Disk / is 95% full',
                      fingerprint='b' * 64, description='foobar2', incident=cls.incidents[1],
                      first_seen=T0 + timedelta(days=1), last_seen=T0 + timedelta(days=1)),
            discovery(cls.vm, rule='exposed_services', severity='medium', status='resolved', title='MySQL on 0.0.0.0',
                      resolved_at=T0 + timedelta(days=2), first_seen=T0, last_seen=T0),
            discovery(cls.host, rule='manual', severity='low', status='false_positive', title='Odd cron job',
                      first_seen=T0, last_seen=T0),
            discovery(cls.cluster, rule='cluster_drift', severity='info', title='Kernels differ', first_seen=T0,
                      last_seen=T0),
            discovery(None, rule='redundancy', severity='high', title='One load balancer', incident=cls.incidents[0],
                      first_seen=T0, last_seen=T0),
        )

    def assertFilters(self, params, *indexes):
        self.assertEqual(
            sorted(self.filterset(params, self.queryset).qs.values_list('pk', flat=True)),
            sorted(self.discoveries[i].pk for i in indexes),
        )

    def test_q(self):
        self.assertFilters({'q': 'end of life'}, 0)
        self.assertFilters({'q': 'foobar-evidence'}, 0)
        self.assertFilters({'q': 'cluster_drift'}, 4)
        self.assertFilters({'q': ' '}, 0, 1, 2, 3, 4, 5)

    def test_rule(self):
        self.assertFilters({'rule': ['eol', 'manual']}, 0, 3)
        self.assertFilters({'rule__n': ['eol', 'manual', 'disk', 'redundancy']}, 2, 4)

    def test_title(self):
        self.assertFilters({'title': ['Kernels differ']}, 4)
        self.assertFilters({'title__ic': ['disk']}, 1)

    def test_status(self):
        self.assertFilters({'status': [DiscoveryStatusChoices.OPEN]}, 0, 4, 5)
        self.assertFilters({'status': [DiscoveryStatusChoices.RESOLVED, DiscoveryStatusChoices.FALSE_POSITIVE]}, 2, 3)

    def test_severity(self):
        self.assertFilters({'severity': [SeverityChoices.HIGH]}, 1, 5)

    def test_is_active(self):
        self.assertFilters({'is_active': True}, 0, 1, 4, 5)
        self.assertFilters({'is_active': False}, 2, 3)

    def test_object_type(self):
        self.assertFilters({'object_type': ['dcim.device']}, 0, 1, 3)
        self.assertFilters({'object_type_id': [ContentType.objects.get_for_model(self.cluster).pk]}, 4)

    def test_object_id(self):
        self.assertFilters({'object_id': [self.devices[1].pk], 'object_type': ['dcim.device']}, 1)

    def test_subject_key(self):
        self.assertFilters({'subject_key': [f'virtualization.virtualmachine:{self.vm.pk}']}, 2)

    def test_device(self):
        self.assertFilters({'device_id': [self.devices[0].pk, self.devices[1].pk]}, 0, 1)
        self.assertFilters({'device_id': [self.host.pk]}, 3)

    def test_virtual_machine(self):
        self.assertFilters({'virtual_machine_id': [self.vm.pk]}, 2)

    def test_cluster(self):
        """A cluster's discoveries, and those of its member devices and VMs."""
        self.assertFilters({'cluster_id': [self.cluster.pk]}, 2, 3, 4)

    def test_incident(self):
        self.assertFilters({'incident_id': [self.incidents[0].pk, self.incidents[1].pk]}, 1, 5)

    def test_concerns_incident(self):
        """Linked to the incident, or about an affected object (and the members of an affected cluster)."""
        self.assertFilters({'concerns_incident_id': self.incidents[0].pk}, 0, 2, 3, 4, 5)
        self.assertFilters({'concerns_incident_id': self.incidents[1].pk}, 1)
        self.assertFilters({'concerns_incident_id': self.incidents[0].pk, 'is_active': True}, 0, 4, 5)

    def test_first_seen(self):
        self.assertFilters({'first_seen__gt': [T0.isoformat()]}, 1)

    def test_last_seen(self):
        self.assertFilters({'last_seen__gte': [(T0 + timedelta(minutes=30)).isoformat()]}, 0, 1)

    def test_resolved_at(self):
        self.assertFilters({'resolved_at': [(T0 + timedelta(days=2)).isoformat()]}, 2)

    def test_fingerprint(self):
        self.assertFilters({'fingerprint': ['a' * 64, 'b' * 64]}, 0, 1)
        self.assertFilters({'fingerprint__isw': ['manual-']}, 2, 3, 4, 5)

    def test_description(self):
        self.assertFilters({'description': ['foobar1', 'foobar2']}, 0, 1)


class DependencyFilterSetTestCase(TestCase, ChangeLoggedFilterSetTestMixin):
    queryset = Dependency.objects.all()
    filterset = DependencyFilterSet

    @classmethod
    def setUpTestData(cls):
        cls.vm = create_test_virtualmachine('VM 1')
        cls.cluster = cls.vm.cluster
        cls.devices = (create_test_device('Device 1'), create_test_device('Device 2'), create_test_device('Device 3'))

        def dependency(source, target, **attrs):
            return Dependency(
                source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
                target_type=ContentType.objects.get_for_model(target), target_id=target.pk, **attrs
            )

        cls.dependencies = Dependency.objects.bulk_create((
            dependency(cls.devices[0], cls.devices[1], port=3306, label='MySQL', description='foobar1',
                       last_seen=T0),
            dependency(cls.devices[0], cls.vm, port=6379, label='Redis', origin=DependencyOriginChoices.PROBE,
                       status=DependencyStatusChoices.DISCOVERED, description='foobar2',
                       last_seen=T0 + timedelta(hours=1)),
            dependency(cls.vm, cls.cluster, kind=DependencyKindChoices.REPLICA, label='Replication',
                       status=DependencyStatusChoices.HIDDEN),
            dependency(cls.devices[2], cls.devices[0], kind=DependencyKindChoices.STANDBY, port=22, label='SSH',
                       origin=DependencyOriginChoices.PROBE),
        ))

    def assertFilters(self, params, *indexes):
        self.assertEqual(
            sorted(self.filterset(params, self.queryset).qs.values_list('pk', flat=True)),
            sorted(self.dependencies[i].pk for i in indexes),
        )

    def test_q(self):
        self.assertFilters({'q': 'redis'}, 1)
        self.assertFilters({'q': 'foobar'}, 0, 1)

    def test_kind(self):
        self.assertFilters({'kind': [DependencyKindChoices.REPLICA, DependencyKindChoices.STANDBY]}, 2, 3)

    def test_origin(self):
        self.assertFilters({'origin': [DependencyOriginChoices.PROBE]}, 1, 3)

    def test_status(self):
        self.assertFilters({'status': [DependencyStatusChoices.CONFIRMED]}, 0, 3)

    def test_source_type(self):
        self.assertFilters({'source_type': ['dcim.device']}, 0, 1, 3)
        self.assertFilters({'source_type_id': [ContentType.objects.get_for_model(self.vm).pk]}, 2)

    def test_target_type(self):
        self.assertFilters({'target_type': ['virtualization.cluster']}, 2)
        self.assertFilters({'target_type_id': [ContentType.objects.get_for_model(self.vm).pk]}, 1)

    def test_source_id(self):
        self.assertFilters({'source_id': [self.devices[2].pk], 'source_type': ['dcim.device']}, 3)

    def test_target_id(self):
        self.assertFilters({'target_id': [self.devices[1].pk], 'target_type': ['dcim.device']}, 0)

    def test_device(self):
        """Devices at either end."""
        self.assertFilters({'device_id': [self.devices[0].pk]}, 0, 1, 3)
        self.assertFilters({'device_id': [self.devices[1].pk, self.devices[2].pk]}, 0, 3)

    def test_virtual_machine(self):
        self.assertFilters({'virtual_machine_id': [self.vm.pk]}, 1, 2)

    def test_cluster(self):
        self.assertFilters({'cluster_id': [self.cluster.pk]}, 2)

    def test_port(self):
        self.assertFilters({'port': [3306, 22]}, 0, 3)

    def test_label(self):
        self.assertFilters({'label': ['MySQL', 'SSH']}, 0, 3)

    def test_last_seen(self):
        self.assertFilters({'last_seen__gte': [T0.isoformat()]}, 0, 1)

    def test_description(self):
        self.assertFilters({'description': ['foobar1', 'foobar2']}, 0, 1)
