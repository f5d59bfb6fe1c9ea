from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.urls import reverse

from core.models import ObjectType
from dcim.models import Device
from tenancy.models import Tenant
from users.models import ObjectPermission
from utilities.testing import (
    TestCase,
    ViewTestCases,
    create_tags,
    create_test_device,
    create_test_virtualmachine,
    post_data,
)

from netbox_triage.choices import *
from netbox_triage.models import *

from .base import PluginURLMixin

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


def create_incidents(count=4):
    incidents = [
        Incident(title=f'Incident {i}', started_at=T0 + timedelta(hours=i), severity=SeverityChoices.HIGH)
        for i in range(1, count + 1)
    ]
    return Incident.objects.bulk_create(incidents)


class IncidentTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = Incident

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(3)
        tenants = (
            Tenant.objects.create(name='Tenant 1', slug='tenant-1'),
            Tenant.objects.create(name='Tenant 2', slug='tenant-2'),
        )
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'title': 'Incident X',
            'status': IncidentStatusChoices.MITIGATING,
            'severity': SeverityChoices.CRITICAL,
            'started_at': T0,
            'detected_at': T0 + timedelta(minutes=10),
            'resolved_at': None,
            'summary': 'Checkout is **down**',
            'tenant': tenants[0].pk,
            'description': 'A new incident',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'title,status,severity,started_at,tenant',
            'Incident 4,investigating,high,2024-05-02 10:00:00+00:00,Tenant 1',
            'Incident 5,mitigating,critical,2024-05-02 11:00:00+00:00,Tenant 2',
            'Incident 6,monitoring,low,2024-05-02 12:00:00+00:00,',
        )
        cls.csv_update_data = (
            'id,title,description',
            f'{incidents[0].pk},Incident 7,New description 7',
            f'{incidents[1].pk},Incident 8,New description 8',
            f'{incidents[2].pk},Incident 9,New description 9',
        )
        cls.bulk_edit_data = {
            'severity': SeverityChoices.LOW,
            'status': IncidentStatusChoices.MONITORING,
            'tenant': tenants[1].pk,
            'description': 'New description',
        }

    def test_detail_page_shows_loss_figures_and_timeline(self):
        incident = Incident.objects.create(title='Priced', started_at=T0)
        BusinessImpact.objects.create(
            incident=incident, effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD'
        )
        BusinessImpact.objects.create(
            incident=incident, effective_from=T0 + timedelta(hours=2), loss_per_day=Decimal('200000'), currency='USD'
        )
        Incident.objects.filter(pk=incident.pk).update(resolved_at=T0 + timedelta(hours=3))
        TimelineEntry.objects.create(incident=incident, timestamp=T0, text='Pager went *off*')
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.view_timelineentry')

        response = self.client.get(incident.get_absolute_url())
        self.assertHttpStatus(response, 200)
        content = response.content.decode()
        self.assertIn('91,666.67', content)  # lost: 83,333.33… + 8,333.33…
        self.assertIn('33,333.33', content)  # saved: 125,000.00 at the first rate, minus what was lost
        self.assertIn('Pager went <em>off</em>', content)

    def test_detail_page_reports_mixed_currencies(self):
        incident = Incident.objects.create(title='Two currencies', started_at=T0)
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='USD'),
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='EUR'),
        ))
        self.add_permissions('netbox_triage.view_incident')

        response = self.client.get(incident.get_absolute_url())
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'loss rates use several currencies (EUR, USD)')

    def test_timeline_kind_filter(self):
        incident = Incident.objects.create(title='Filtered', started_at=T0)
        TimelineEntry.objects.create(incident=incident, timestamp=T0, kind=TimelineKindChoices.NOTE, text='a-note')
        TimelineEntry.objects.create(
            incident=incident, timestamp=T0, kind=TimelineKindChoices.FINDING, text='a-finding'
        )
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.view_timelineentry')

        response = self.client.get(f'{incident.get_absolute_url()}?kind=finding')
        self.assertContains(response, 'a-finding')
        self.assertNotContains(response, 'a-note')

    def test_global_search_finds_incidents_and_entries(self):
        # The search cache is written on commit, inline here rather than by some RQ worker.
        with mock.patch('netbox.search.deferred.any_workers_for_queue', return_value=False), \
                self.captureOnCommitCallbacks(execute=True):
            incident = Incident.objects.create(title='Quasar outage', started_at=T0, summary='zebracorn in the logs')
            entry = TimelineEntry.objects.create(incident=incident, timestamp=T0, text='The flux capacitor melted')
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.view_timelineentry')

        response = self.client.get(reverse('search'), {'q': 'zebracorn'})
        self.assertContains(response, incident.get_absolute_url())
        response = self.client.get(reverse('search'), {'q': 'capacitor'})
        self.assertContains(response, entry.get_absolute_url())

    def test_timeline_respects_timeline_permissions(self):
        incident = Incident.objects.create(title='Secret', started_at=T0)
        TimelineEntry.objects.create(incident=incident, timestamp=T0, text='classified-entry')
        self.add_permissions('netbox_triage.view_incident')

        response = self.client.get(incident.get_absolute_url())
        self.assertHttpStatus(response, 200)
        self.assertNotContains(response, 'classified-entry')


class IncidentObjectTestCase(
    PluginURLMixin,
    ViewTestCases.GetObjectViewTestCase,
    ViewTestCases.GetObjectChangelogViewTestCase,
    ViewTestCases.CreateObjectViewTestCase,
    ViewTestCases.EditObjectViewTestCase,
    ViewTestCases.DeleteObjectViewTestCase,
    ViewTestCases.ListObjectsViewTestCase,
    ViewTestCases.BulkImportObjectsViewTestCase,
    ViewTestCases.BulkDeleteObjectsViewTestCase,
):
    """Affected objects have no bulk edit view: there is nothing to change in bulk but a note."""

    model = IncidentObject

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(2)
        devices = [create_test_device(f'Device {i}') for i in range(1, 5)]
        vm = create_test_virtualmachine('VM 1')
        device_type = ContentType.objects.get_for_model(devices[0])
        affected = (
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[0].pk, note='first'),
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[1].pk),
            IncidentObject(incident=incidents[1], object_type=device_type, object_id=devices[0].pk),
        )
        IncidentObject.objects.bulk_create(affected)
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'incident': incidents[1].pk,
            'device': devices[3].pk,
            'note': 'Cannot reach the database',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'incident,object_type,object_id,note',
            f'{incidents[1].pk},dcim.device,{devices[1].pk},one',
            f'{incidents[1].pk},dcim.device,{devices[2].pk},two',
            f'{incidents[0].pk},virtualization.virtualmachine,{vm.pk},three',
        )
        cls.csv_update_data = (
            'id,note',
            f'{affected[0].pk},Note 7',
            f'{affected[1].pk},Note 8',
            f'{affected[2].pk},Note 9',
        )
        cls.devices = devices
        cls.incidents = incidents

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_sets_generic_object(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        response = self.client.post(self._get_url('add'), {
            'incident': self.incidents[1].pk, 'device': self.devices[2].pk,
        })
        self.assertHttpStatus(response, 302)
        created = IncidentObject.objects.get(incident=self.incidents[1], object_id=self.devices[2].pk)
        self.assertEqual(created.object, self.devices[2])

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_requires_one_object(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        count = IncidentObject.objects.count()
        response = self.client.post(self._get_url('add'), {'incident': self.incidents[1].pk})
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Choose a device, virtual machine, service or cluster.')
        self.assertEqual(IncidentObject.objects.count(), count)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_duplicate(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        count = IncidentObject.objects.count()
        response = self.client.post(self._get_url('add'), {
            'incident': self.incidents[0].pk, 'device': self.devices[0].pk,
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'This object is already affected by this incident.')
        self.assertEqual(IncidentObject.objects.count(), count)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_import_refuses_missing_object(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        count = IncidentObject.objects.count()
        response = self.client.post(self._get_url('bulk_import'), {
            'data': f'incident,object_type,object_id\n{self.incidents[0].pk},dcim.device,999999',
            'format': 'csv',
            'csv_delimiter': ',',
        })
        self.assertHttpStatus(response, 200)
        self.assertEqual(IncidentObject.objects.count(), count)

    def test_device_page_shows_open_incidents(self):
        self.add_permissions('dcim.view_device', 'netbox_triage.view_incident')
        Incident.objects.filter(pk=self.incidents[1].pk).update(status=IncidentStatusChoices.RESOLVED)
        response = self.client.get(self.devices[0].get_absolute_url())
        self.assertHttpStatus(response, 200)
        self.assertContains(response, self.incidents[0].get_absolute_url())
        self.assertNotContains(response, self.incidents[1].get_absolute_url())


class BusinessImpactTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = BusinessImpact

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(4)
        impacts = (
            BusinessImpact(incident=incidents[0], effective_from=T0, loss_per_day=Decimal('1000'), currency='USD'),
            BusinessImpact(incident=incidents[1], effective_from=T0, loss_per_day=Decimal('2000'), currency='EUR'),
            BusinessImpact(incident=incidents[2], effective_from=T0, loss_per_day=Decimal('3000'), currency='GBP'),
        )
        BusinessImpact.objects.bulk_create(impacts)
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'incident': incidents[3].pk,
            'effective_from': T0 + timedelta(hours=1),
            'loss_per_day': Decimal('1000000.00'),
            'currency': 'CHF',
            'basis': ImpactBasisChoices.MEASURED,
            'note': 'Finance says so',
            'description': 'Measured loss',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'incident,effective_from,loss_per_day,currency,basis',
            f'{incidents[3].pk},2024-05-01 20:00:00+00:00,100.00,JPY,estimate',
            f'{incidents[3].pk},2024-05-01 21:00:00+00:00,50.00,JPY,measured',
            f'{incidents[0].pk},2024-05-01 22:00:00+00:00,10.00,USD,measured',
        )
        cls.csv_update_data = (
            'id,note,loss_per_day',
            f'{impacts[0].pk},Note 7,7.00',
            f'{impacts[1].pk},Note 8,8.00',
            f'{impacts[2].pk},Note 9,9.00',
        )
        cls.bulk_edit_data = {
            'basis': ImpactBasisChoices.MEASURED,
            'note': 'Confirmed',
        }
        cls.incidents = incidents

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_normalises_currency(self):
        self.add_permissions('netbox_triage.add_businessimpact')
        response = self.client.post(self._get_url('add'), {
            'incident': self.incidents[3].pk, 'effective_from': '2024-05-01 20:00:00',
            'loss_per_day': '10', 'currency': ' chf ', 'basis': ImpactBasisChoices.ESTIMATE,
        })
        self.assertHttpStatus(response, 302)
        self.assertEqual(BusinessImpact.objects.get(incident=self.incidents[3]).currency, 'CHF')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_second_currency(self):
        self.add_permissions('netbox_triage.add_businessimpact')
        response = self.client.post(self._get_url('add'), {
            'incident': self.incidents[0].pk, 'effective_from': '2024-05-01 20:00:00',
            'loss_per_day': '10', 'currency': 'EUR', 'basis': ImpactBasisChoices.ESTIMATE,
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'This incident already counts its losses in USD')
        self.assertEqual(BusinessImpact.objects.filter(incident=self.incidents[0]).count(), 1)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_add_form_proposes_default_currency(self):
        self.add_permissions('netbox_triage.add_businessimpact')
        response = self.client.get(self._get_url('add'))
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'name="currency" value="USD"')


class TimelineEntryTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = TimelineEntry

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(2)
        device = create_test_device('Device 1')
        entries = (
            TimelineEntry(incident=incidents[0], timestamp=T0 + timedelta(hours=1), text='Entry 1'),
            TimelineEntry(incident=incidents[0], timestamp=T0 + timedelta(hours=2), text='Entry 2'),
            TimelineEntry(incident=incidents[1], timestamp=T0 + timedelta(hours=3), text='Entry 3'),
        )
        TimelineEntry.objects.bulk_create(entries)
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'incident': incidents[1].pk,
            'timestamp': T0 + timedelta(hours=2, minutes=30),
            'kind': TimelineKindChoices.FINDING,
            'text': 'be-3 cannot reach mysql-1',
            'device': device.pk,
            'description': 'Found it',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'incident,timestamp,kind,text',
            f'{incidents[0].pk},2024-05-01 21:30:00+00:00,note,Imported 1',
            f'{incidents[0].pk},2024-05-01 21:40:00+00:00,action,Imported 2',
            f'{incidents[1].pk},2024-05-01 22:30:00+00:00,finding,Imported 3',
        )
        cls.csv_update_data = (
            'id,text',
            f'{entries[0].pk},Text 7',
            f'{entries[1].pk},Text 8',
            f'{entries[2].pk},Text 9',
        )
        cls.bulk_edit_data = {
            'kind': TimelineKindChoices.ACTION,
            'description': 'Bulk',
        }
        cls.incidents = incidents
        cls.device = device

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_sets_author_and_linked_object(self):
        self.add_permissions('netbox_triage.add_timelineentry')
        response = self.client.post(self._get_url('add'), post_data(self.form_data))
        self.assertHttpStatus(response, 302)
        entry = TimelineEntry.objects.get(text=self.form_data['text'])
        self.assertEqual(entry.author, self.user)
        self.assertEqual(entry.object, self.device)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_import_signs_new_entries_only(self):
        self.add_permissions('netbox_triage.add_timelineentry', 'netbox_triage.change_timelineentry')
        existing = TimelineEntry.objects.get(text='Entry 1')
        response = self.client.post(self._get_url('bulk_import'), {
            'data': f'incident,timestamp,text\n{self.incidents[0].pk},2024-05-01 21:10:00+00:00,Imported',
            'format': 'csv',
            'csv_delimiter': ',',
        })
        self.assertHttpStatus(response, 302)
        self.assertEqual(TimelineEntry.objects.get(text='Imported').author, self.user)

        response = self.client.post(self._get_url('bulk_import'), {
            'data': f'id,text\n{existing.pk},Re-imported',
            'format': 'csv',
            'csv_delimiter': ',',
        })
        self.assertHttpStatus(response, 302)
        existing.refresh_from_db()
        self.assertEqual(existing.text, 'Re-imported')
        self.assertIsNone(existing.author)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_edit_keeps_original_author(self):
        entry = TimelineEntry.objects.get(text='Entry 1')
        self.add_permissions('netbox_triage.change_timelineentry')
        response = self.client.post(self._get_url('edit', entry), {
            'incident': entry.incident_id, 'timestamp': '2024-05-01 21:00:00', 'kind': 'note', 'text': 'Edited',
        })
        self.assertHttpStatus(response, 302)
        entry.refresh_from_db()
        self.assertEqual(entry.text, 'Edited')
        self.assertIsNone(entry.author)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_entry_long_before_start(self):
        self.add_permissions('netbox_triage.add_timelineentry')
        count = TimelineEntry.objects.count()
        incident = self.incidents[0]  # started 21:00
        response = self.client.post(self._get_url('add'), {
            'incident': incident.pk, 'timestamp': '2024-05-01 19:59:00', 'kind': 'note', 'text': 'Too early',
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'This entry is dated more than 60 minutes before the incident started')
        self.assertEqual(TimelineEntry.objects.count(), count)

        # Within the grace: accepted.
        response = self.client.post(self._get_url('add'), {
            'incident': incident.pk, 'timestamp': '2024-05-01 20:00:00', 'kind': 'note', 'text': 'Just in time',
        })
        self.assertHttpStatus(response, 302)
        self.assertEqual(TimelineEntry.objects.count(), count + 1)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_two_linked_objects(self):
        self.add_permissions('netbox_triage.add_timelineentry')
        vm = create_test_virtualmachine('VM 1')
        response = self.client.post(self._get_url('add'), {
            'incident': self.incidents[0].pk, 'timestamp': '2024-05-01 21:30:00', 'kind': 'note', 'text': 'Both',
            'device': self.device.pk, 'virtual_machine': vm.pk,
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Choose one object only.')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_inline_form_on_incident_page_adds_entry(self):
        obj_perm = ObjectPermission(name='Timeline', actions=['add', 'view'])
        obj_perm.save()
        obj_perm.users.add(self.user)
        obj_perm.object_types.add(ObjectType.objects.get_for_model(TimelineEntry))
        incident = self.incidents[0]
        page = self.client.get(incident.get_absolute_url())
        self.assertContains(page, f'action="{self._get_url("add")}"')

        response = self.client.post(self._get_url('add'), {
            'incident': incident.pk, 'kind': 'action', 'timestamp': '2024-05-01 21:05:00', 'text': 'Inline entry',
            'return_url': f'{incident.get_absolute_url()}#timeline',
        })
        self.assertRedirects(response, f'{incident.get_absolute_url()}#timeline', fetch_redirect_response=False)
        self.assertTrue(TimelineEntry.objects.filter(incident=incident, text='Inline entry', author=self.user).exists())


def create_discovery(obj, title, severity=SeverityChoices.MEDIUM, status=DiscoveryStatusChoices.OPEN, **attrs):
    """One discovery about `obj` (None: fleet-wide), saved one by one so each gets its own fingerprint."""
    if obj is not None:
        attrs.update(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
    return Discovery.objects.create(
        title=title, rule=attrs.pop('rule', 'manual'), severity=severity, status=status, **attrs
    )


def create_dependency(source, target, **attrs):
    return Dependency.objects.create(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk, **attrs
    )


XSS = '<script>alert(1)</script>'
XSS_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;'


class DiscoveryTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = Discovery

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(2)
        devices = [create_test_device(f'Device {i}') for i in range(1, 4)]
        vm = create_test_virtualmachine('VM 1')
        discoveries = (
            create_discovery(devices[0], 'Discovery 1', SeverityChoices.CRITICAL, rule='eol'),
            create_discovery(devices[1], 'Discovery 2', SeverityChoices.HIGH, rule='disk'),
            create_discovery(vm, 'Discovery 3', SeverityChoices.LOW, DiscoveryStatusChoices.RESOLVED),
        )
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'title': 'MySQL listens on 0.0.0.0',
            'rule': 'manual',
            'severity': SeverityChoices.HIGH,
            'status': DiscoveryStatusChoices.ACKNOWLEDGED,
            'incident': incidents[0].pk,
            'device': devices[2].pk,
            'evidence_text': 'tcp LISTEN 0.0.0.0:3306',
            'recommendation': 'Bind to the private address',
            'description': 'Seen by hand',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'title,rule,severity,status,object_type,object_id,incident',
            f'Imported 1,manual,critical,open,dcim.device,{devices[0].pk},{incidents[0].pk}',
            f'Imported 2,manual,low,acknowledged,virtualization.virtualmachine,{vm.pk},',
            'Imported 3,manual,info,open,,,',
        )
        cls.csv_update_data = (
            'id,title,status',
            f'{discoveries[0].pk},Title 7,acknowledged',
            f'{discoveries[1].pk},Title 8,false_positive',
            f'{discoveries[2].pk},Title 9,open',
        )
        cls.bulk_edit_data = {
            'status': DiscoveryStatusChoices.ACKNOWLEDGED,
            'severity': SeverityChoices.CRITICAL,
            'incident': incidents[1].pk,
        }
        cls.incidents, cls.devices, cls.vm = incidents, devices, vm

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_by_hand(self):
        self.add_permissions('netbox_triage.add_discovery')
        for _ in range(2):
            response = self.client.post(self._get_url('add'), post_data(self.form_data))
            self.assertHttpStatus(response, 302)
        created = Discovery.objects.filter(title=self.form_data['title'])
        self.assertEqual(created.count(), 2)
        for discovery in created:
            self.assertEqual(discovery.object, self.devices[2])
            self.assertEqual(discovery.subject_key, f'dcim.device:{self.devices[2].pk}')
            self.assertTrue(discovery.fingerprint.startswith('manual-'))
        self.assertEqual(len({d.fingerprint for d in created}), 2)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_add_form_proposes_manual_rule(self):
        self.add_permissions('netbox_triage.add_discovery')
        response = self.client.get(self._get_url('add'))
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'name="rule" value="manual"')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_two_objects(self):
        self.add_permissions('netbox_triage.add_discovery')
        count = Discovery.objects.count()
        response = self.client.post(self._get_url('add'), {
            'title': 'Both', 'rule': 'manual', 'severity': 'low', 'status': 'open',
            'device': self.devices[0].pk, 'virtual_machine': self.vm.pk,
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Choose one object only.')
        self.assertEqual(Discovery.objects.count(), count)

    def _move_to_vm(self, discovery):
        self.add_permissions('netbox_triage.change_discovery')
        response = self.client.post(self._get_url('edit', discovery), {
            'title': discovery.title, 'rule': discovery.rule, 'severity': 'low', 'status': 'open',
            'virtual_machine': self.vm.pk,
        })
        self.assertHttpStatus(response, 302)
        discovery.refresh_from_db()
        return discovery

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_edit_moves_the_object(self):
        discovery = self._move_to_vm(create_discovery(self.devices[0], 'Noted by hand'))
        self.assertEqual(discovery.object, self.vm)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_edit_moves_the_subject_key_of_a_manual_discovery(self):
        discovery = self._move_to_vm(create_discovery(self.devices[0], 'Noted by hand'))
        self.assertEqual(discovery.subject_key, f'virtualization.virtualmachine:{self.vm.pk}')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_import_refuses_unsupported_type(self):
        self.add_permissions('netbox_triage.add_discovery')
        count = Discovery.objects.count()
        site = self.devices[0].site
        response = self.client.post(self._get_url('bulk_import'), {
            'data': f'title,rule,object_type,object_id\nAbout a site,manual,dcim.site,{site.pk}',
            'format': 'csv',
            'csv_delimiter': ',',
        })
        self.assertHttpStatus(response, 200)
        self.assertEqual(Discovery.objects.count(), count)

    def test_list_filters_by_manual_rule(self):
        self.add_permissions('netbox_triage.view_discovery')
        response = self.client.get(f'{self._get_url("list")}?rule=manual')
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Discovery 3')
        self.assertNotContains(response, 'Discovery 1')

    def test_hostile_text_is_escaped(self):
        incident = self.incidents[0]
        IncidentObject.objects.create(
            incident=incident, object_type=ContentType.objects.get_for_model(Device), object_id=self.devices[0].pk
        )
        discovery = create_discovery(self.devices[0], f'Title {XSS}', SeverityChoices.CRITICAL,
                                     evidence_text=f'Evidence {XSS}', recommendation=f'Do {XSS}')
        self.add_permissions('netbox_triage.view_discovery', 'netbox_triage.view_incident', 'dcim.view_device')

        for url in (discovery.get_absolute_url(), self._get_url('list'), self.devices[0].get_absolute_url(),
                    incident.get_absolute_url()):
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertHttpStatus(response, 200)
                self.assertNotContains(response, XSS)
                self.assertContains(response, f'Title {XSS_ESCAPED}')
        response = self.client.get(f'{self._get_url("list")}?export=table')
        self.assertHttpStatus(response, 200)
        response = self.client.get(discovery.get_absolute_url())
        self.assertContains(response, f'Evidence {XSS_ESCAPED}')
        self.assertContains(response, f'Do {XSS_ESCAPED}')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_evidence_is_plain_text_in_the_form(self):
        self.add_permissions('netbox_triage.add_discovery')
        response = self.client.get(self._get_url('add'))
        self.assertHttpStatus(response, 200)
        self.assertFalse(response.context['form'].fields['evidence_text'].help_text)

    def test_global_search_finds_discoveries(self):
        with mock.patch('netbox.search.deferred.any_workers_for_queue', return_value=False), \
                self.captureOnCommitCallbacks(execute=True):
            discovery = create_discovery(self.devices[0], 'Telnet is enabled', evidence_text='port 23 zebracorn')
        self.add_permissions('netbox_triage.view_discovery')
        response = self.client.get(reverse('search'), {'q': 'zebracorn'})
        self.assertContains(response, discovery.get_absolute_url())


class DiscoveriesPanelTestCase(TestCase):
    """The Discoveries panels of device, VM, cluster and incident pages."""

    @classmethod
    def setUpTestData(cls):
        cls.vm = create_test_virtualmachine('vm-1')
        cls.cluster = cls.vm.cluster
        cls.host = create_test_device('host-1', cluster=cls.cluster)
        cls.device = create_test_device('db-1')
        cls.other = create_test_device('other-1')
        for obj, prefix in ((cls.device, 'dev'), (cls.vm, 'vm'), (cls.host, 'host'), (cls.cluster, 'cluster'),
                            (cls.other, 'other')):
            create_discovery(obj, f'{prefix}-critical-open', SeverityChoices.CRITICAL)
            create_discovery(obj, f'{prefix}-high-acknowledged', SeverityChoices.HIGH,
                             DiscoveryStatusChoices.ACKNOWLEDGED)
            create_discovery(obj, f'{prefix}-info-resolved', SeverityChoices.INFO, DiscoveryStatusChoices.RESOLVED)
            create_discovery(obj, f'{prefix}-low-false-positive', SeverityChoices.LOW,
                             DiscoveryStatusChoices.FALSE_POSITIVE)
        create_discovery(None, 'fleet-medium-open')

    def get(self, url):
        response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        return response

    def assertShows(self, response, *titles):
        for title in titles:
            self.assertContains(response, f'>{title}</a>')

    def assertHides(self, response, *titles):
        for title in titles:
            self.assertNotContains(response, f'>{title}</a>')

    def test_device_page(self):
        self.add_permissions('dcim.view_device', 'netbox_triage.view_discovery')
        response = self.get(self.device.get_absolute_url())
        self.assertShows(response, 'dev-critical-open', 'dev-high-acknowledged')
        self.assertHides(response, 'dev-info-resolved', 'dev-low-false-positive', 'other-critical-open',
                         'fleet-medium-open')
        self.assertContains(response, '1 critical</span>')
        self.assertContains(response, '1 high</span>')
        self.assertContains(response, '(2 resolved or false positive)')
        self.assertContains(response, f'?device_id={self.device.pk}')

    def test_virtual_machine_page(self):
        self.add_permissions('virtualization.view_virtualmachine', 'netbox_triage.view_discovery')
        response = self.get(self.vm.get_absolute_url())
        self.assertShows(response, 'vm-critical-open', 'vm-high-acknowledged')
        self.assertHides(response, 'vm-info-resolved', 'cluster-critical-open', 'dev-critical-open')
        self.assertContains(response, '1 critical</span>')
        self.assertContains(response, f'?virtual_machine_id={self.vm.pk}')

    def test_cluster_page_lists_members(self):
        self.add_permissions('virtualization.view_cluster', 'netbox_triage.view_discovery')
        response = self.get(self.cluster.get_absolute_url())
        self.assertShows(response, 'cluster-critical-open', 'vm-critical-open', 'host-critical-open',
                         'cluster-high-acknowledged', 'vm-high-acknowledged', 'host-high-acknowledged')
        self.assertHides(response, 'vm-info-resolved', 'dev-critical-open', 'other-critical-open')
        self.assertContains(response, '3 critical</span>')
        self.assertContains(response, '3 high</span>')
        self.assertContains(response, '(6 resolved or false positive)')
        self.assertContains(response, '· vm-1')  # the member each finding is about
        self.assertContains(response, f'?cluster_id={self.cluster.pk}')

    def test_panel_without_discoveries(self):
        self.add_permissions('dcim.view_device', 'netbox_triage.view_discovery')
        Discovery.objects.filter(object_id=self.device.pk, object_type__model='device').delete()
        response = self.get(self.device.get_absolute_url())
        self.assertContains(response, 'No open discovery.')

    def test_incident_page_counts_by_severity(self):
        incident = Incident.objects.create(title='Checkout down', started_at=T0)
        for obj in (self.device, self.cluster):
            IncidentObject.objects.create(
                incident=incident, object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
            )
        linked = create_discovery(self.other, 'other-medium-linked', incident=incident)
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.view_discovery')
        response = self.get(incident.get_absolute_url())
        # device, cluster, its VM and its host: one critical open and one high acknowledged each; plus the linked one.
        self.assertContains(response, 'Critical: 4</span>')
        self.assertContains(response, 'High: 4</span>')
        self.assertContains(response, 'Medium: 1</span>')
        self.assertContains(response, 'Low: 0</span>')
        self.assertContains(response, 'Info: 0</span>')
        self.assertShows(response, 'dev-critical-open', 'host-critical-open', 'vm-high-acknowledged',
                         linked.title)
        self.assertHides(response, 'dev-info-resolved', 'vm-low-false-positive', 'other-critical-open',
                         'fleet-medium-open')
        self.assertContains(response, f'concerns_incident_id={incident.pk}&amp;is_active=true')

    def test_incident_page_links_to_its_discoveries(self):
        incident = Incident.objects.create(title='Checkout down', started_at=T0)
        IncidentObject.objects.create(
            incident=incident, object_type=ContentType.objects.get_for_model(self.cluster), object_id=self.cluster.pk
        )
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.view_discovery')
        url = self.get(incident.get_absolute_url()).context['discoveries_url']
        response = self.get(url)
        self.assertShows(response, 'cluster-critical-open', 'vm-high-acknowledged', 'host-critical-open')
        self.assertHides(response, 'cluster-info-resolved', 'dev-critical-open', 'fleet-medium-open')
        self.assertContains(response, 'Checkout down')  # the applied filter is shown
        response = self.get(f'{url}&severity=high')
        self.assertShows(response, 'vm-high-acknowledged')
        self.assertHides(response, 'vm-critical-open')

    def test_incident_page_without_permission_on_discoveries(self):
        incident = Incident.objects.create(title='Checkout down', started_at=T0)
        IncidentObject.objects.create(
            incident=incident, object_type=ContentType.objects.get_for_model(Device), object_id=self.device.pk
        )
        self.add_permissions('netbox_triage.view_incident')
        response = self.get(incident.get_absolute_url())
        self.assertContains(response, 'Critical: 0</span>')
        self.assertHides(response, 'dev-critical-open')

    def test_constrained_permission(self):
        """A user who may view only one device's discoveries sees only those, in the list and in every panel."""
        obj_perm = ObjectPermission(
            name='db-1 discoveries', actions=['view'],
            constraints={'object_type__app_label': 'dcim', 'object_type__model': 'device',
                         'object_id': self.device.pk},
        )
        obj_perm.save()
        obj_perm.users.add(self.user)
        obj_perm.object_types.add(ObjectType.objects.get_for_model(Discovery))
        self.add_permissions('dcim.view_device', 'virtualization.view_cluster', 'netbox_triage.view_incident')
        incident = Incident.objects.create(title='Checkout down', started_at=T0)
        for obj in (self.device, self.cluster):
            IncidentObject.objects.create(
                incident=incident, object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
            )

        response = self.get(reverse('plugins:netbox_triage:discovery_list'))
        self.assertShows(response, 'dev-critical-open', 'dev-info-resolved')
        self.assertHides(response, 'host-critical-open', 'vm-critical-open', 'other-critical-open',
                         'fleet-medium-open')

        response = self.get(self.device.get_absolute_url())
        self.assertShows(response, 'dev-critical-open')

        for url in (self.host.get_absolute_url(), self.cluster.get_absolute_url()):
            with self.subTest(url=url):
                response = self.get(url)
                self.assertContains(response, 'No open discovery.')
                self.assertHides(response, 'host-critical-open', 'cluster-critical-open')
                self.assertNotContains(response, 'resolved or false positive')

        response = self.get(incident.get_absolute_url())
        self.assertContains(response, 'Critical: 1</span>')
        self.assertContains(response, 'High: 1</span>')
        self.assertShows(response, 'dev-critical-open')
        self.assertHides(response, 'host-critical-open', 'vm-critical-open', 'cluster-critical-open')


class RunRulesTestCase(TestCase):
    """The "Run rules" buttons. `enqueue_rules` is mocked: the RQ worker and the job itself are exercised by the
    end-to-end tests (tests/) and by test_rules.py; here only the permission and what is enqueued matter."""

    @classmethod
    def setUpTestData(cls):
        cls.device = create_test_device('db-1')
        cls.url = reverse('plugins:netbox_triage:run_rules')

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_requires_add_discovery(self, enqueue):
        self.add_permissions('netbox_triage.view_discovery', 'netbox_triage.change_discovery')
        response = self.client.post(self.url)
        self.assertHttpStatus(response, 403)
        enqueue.assert_not_called()

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_anonymous_is_sent_to_login(self, enqueue):
        self.client.logout()
        response = self.client.post(self.url)
        self.assertHttpStatus(response, 302)
        self.assertIn('/login/', response.url)
        enqueue.assert_not_called()

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_fleet(self, enqueue):
        self.add_permissions('netbox_triage.add_discovery')
        response = self.client.post(self.url)
        self.assertRedirects(response, reverse('plugins:netbox_triage:discovery_list'), fetch_redirect_response=False)
        enqueue.assert_called_once_with(None, user=self.user, fleet=True)

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_one_device(self, enqueue):
        self.add_permissions('netbox_triage.add_discovery', 'dcim.view_device')
        return_url = self.device.get_absolute_url()
        response = self.client.post(self.url, {'model': 'device', 'pk': self.device.pk, 'return_url': return_url})
        self.assertRedirects(response, return_url, fetch_redirect_response=False)
        enqueue.assert_called_once_with([self.device], user=self.user, fleet=False)

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_device_not_viewable(self, enqueue):
        self.add_permissions('netbox_triage.add_discovery')
        response = self.client.post(self.url, {'model': 'device', 'pk': self.device.pk})
        self.assertHttpStatus(response, 302)
        enqueue.assert_not_called()

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_refuses_foreign_return_url(self, enqueue):
        self.add_permissions('netbox_triage.add_discovery')
        response = self.client.post(self.url, {'return_url': 'https://evil.example/'})
        self.assertRedirects(response, reverse('plugins:netbox_triage:discovery_list'), fetch_redirect_response=False)

    @mock.patch('netbox_triage.views.enqueue_rules')
    def test_buttons_follow_the_permission(self, enqueue):
        self.add_permissions('netbox_triage.view_discovery', 'dcim.view_device')
        list_url = reverse('plugins:netbox_triage:discovery_list')
        self.assertNotContains(self.client.get(list_url), f'action="{self.url}"')
        self.assertNotContains(self.client.get(self.device.get_absolute_url()), f'action="{self.url}"')
        self.add_permissions('netbox_triage.add_discovery')
        self.assertContains(self.client.get(list_url), f'action="{self.url}"')
        self.assertContains(self.client.get(self.device.get_absolute_url()), f'action="{self.url}"')


class DependencyTestCase(PluginURLMixin, ViewTestCases.PrimaryObjectViewTestCase):
    model = Dependency

    @classmethod
    def setUpTestData(cls):
        devices = [create_test_device(f'Device {i}') for i in range(1, 5)]
        vm = create_test_virtualmachine('VM 1')
        dependencies = (
            create_dependency(devices[0], devices[1], port=3306, label='MySQL'),
            create_dependency(devices[0], devices[2], port=6379, label='Redis'),
            create_dependency(vm, devices[1], kind=DependencyKindChoices.REPLICA, port=3306,
                              origin=DependencyOriginChoices.PROBE, status=DependencyStatusChoices.DISCOVERED),
        )
        tags = create_tags('Alpha', 'Bravo', 'Charlie')

        cls.form_data = {
            'source_device': devices[3].pk,
            'target_virtual_machine': vm.pk,
            'kind': DependencyKindChoices.USES,
            'port': 443,
            'label': 'HTTPS',
            'status': DependencyStatusChoices.CONFIRMED,
            'description': 'Calls the API',
            'tags': [t.pk for t in tags],
        }
        cls.csv_data = (
            'source_type,source_id,target_type,target_id,kind,port,label',
            f'dcim.device,{devices[1].pk},dcim.device,{devices[2].pk},uses,80,HTTP',
            f'dcim.device,{devices[2].pk},virtualization.virtualmachine,{vm.pk},standby,,',
            f'virtualization.virtualmachine,{vm.pk},virtualization.cluster,{vm.cluster.pk},other,22,SSH',
        )
        cls.csv_update_data = (
            'id,label,port',
            f'{dependencies[0].pk},Label 7,1',
            f'{dependencies[1].pk},Label 8,2',
            f'{dependencies[2].pk},Label 9,3',
        )
        cls.bulk_edit_data = {
            'kind': DependencyKindChoices.STANDBY,
            'status': DependencyStatusChoices.HIDDEN,
            'label': 'Bulk',
        }
        cls.devices, cls.vm, cls.dependencies = devices, vm, dependencies

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_sets_both_ends(self):
        self.add_permissions('netbox_triage.add_dependency')
        response = self.client.post(self._get_url('add'), post_data(self.form_data))
        self.assertHttpStatus(response, 302)
        dependency = Dependency.objects.get(label='HTTPS')
        self.assertEqual(dependency.source, self.devices[3])
        self.assertEqual(dependency.target, self.vm)
        self.assertEqual(dependency.origin, DependencyOriginChoices.MANUAL)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_edit_form_shows_both_ends(self):
        self.add_permissions('netbox_triage.change_dependency')
        response = self.client.get(self._get_url('edit', self.dependencies[2]))
        self.assertHttpStatus(response, 200)
        self.assertEqual(response.context['form'].initial['source_virtual_machine'], self.vm.pk)
        self.assertEqual(response.context['form'].initial['target_device'], self.devices[1].pk)
        self.assertContains(response, f'<option value="{self.vm.pk}"\n selected\n>VM 1</option>')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_missing_or_double_end(self):
        self.add_permissions('netbox_triage.add_dependency')
        count = Dependency.objects.count()
        response = self.client.post(self._get_url('add'), {
            'source_device': self.devices[0].pk, 'kind': 'uses', 'status': 'confirmed',
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Choose exactly one target object.')
        response = self.client.post(self._get_url('add'), {
            'source_device': self.devices[0].pk, 'source_virtual_machine': self.vm.pk,
            'target_device': self.devices[1].pk, 'kind': 'uses', 'status': 'confirmed',
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'Choose exactly one source object.')
        self.assertEqual(Dependency.objects.count(), count)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_create_refuses_self_and_duplicate(self):
        self.add_permissions('netbox_triage.add_dependency')
        count = Dependency.objects.count()
        response = self.client.post(self._get_url('add'), {
            'source_device': self.devices[0].pk, 'target_device': self.devices[0].pk, 'kind': 'uses',
            'status': 'confirmed',
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'An object cannot depend on itself.')
        response = self.client.post(self._get_url('add'), {
            'source_device': self.devices[0].pk, 'target_device': self.devices[1].pk, 'kind': 'uses', 'port': 3306,
            'status': 'confirmed',
        })
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'This dependency already exists.')
        self.assertEqual(Dependency.objects.count(), count)

    @override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
    def test_import_refuses_unsupported_type_and_missing_object(self):
        self.add_permissions('netbox_triage.add_dependency')
        count = Dependency.objects.count()
        site = self.devices[0].site
        for row in (f'dcim.site,{site.pk},dcim.device,{self.devices[0].pk}',
                    f'dcim.device,{self.devices[0].pk},dcim.device,999999'):
            with self.subTest(row=row):
                response = self.client.post(self._get_url('bulk_import'), {
                    'data': f'source_type,source_id,target_type,target_id\n{row}',
                    'format': 'csv',
                    'csv_delimiter': ',',
                })
                self.assertHttpStatus(response, 200)
        self.assertEqual(Dependency.objects.count(), count)

    def test_global_search_finds_dependencies(self):
        with mock.patch('netbox.search.deferred.any_workers_for_queue', return_value=False), \
                self.captureOnCommitCallbacks(execute=True):
            dependency = create_dependency(self.devices[2], self.devices[3], label='Zebracorn queue')
        self.add_permissions('netbox_triage.view_dependency')
        response = self.client.get(reverse('search'), {'q': 'zebracorn'})
        self.assertContains(response, dependency.get_absolute_url())

    def test_list_shows_both_ends(self):
        self.add_permissions('netbox_triage.view_dependency')
        response = self.client.get(f'{self._get_url("list")}?virtual_machine_id={self.vm.pk}')
        self.assertHttpStatus(response, 200)
        self.assertContains(response, self.vm.get_absolute_url())
        self.assertContains(response, self.devices[1].get_absolute_url())
        self.assertNotContains(response, 'Redis')
