from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.urls import reverse

from core.models import ObjectType
from tenancy.models import Tenant
from users.models import ObjectPermission
from utilities.testing import ViewTestCases, create_tags, create_test_device, create_test_virtualmachine, post_data

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
