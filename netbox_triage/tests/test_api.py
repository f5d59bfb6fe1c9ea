from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.urls import reverse
from rest_framework import status

from utilities.testing import APITestCase, APIViewTestCases, create_test_device

from netbox_triage.choices import *
from netbox_triage.models import *

from .base import PluginURLMixin

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


def create_incidents(count):
    return Incident.objects.bulk_create(
        Incident(title=f'Incident {i}', started_at=T0 + timedelta(hours=i)) for i in range(1, count + 1)
    )


class AppTestCase(PluginURLMixin, APITestCase):
    model = Incident

    def test_root(self):
        url = reverse('plugins-api:netbox_triage-api:api-root')
        response = self.client.get(f'{url}?format=api', **self.header)
        self.assertEqual(response.status_code, 200)


class IncidentTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = Incident
    brief_fields = ['description', 'display', 'id', 'severity', 'status', 'title', 'url']
    create_data = [
        {'title': 'Incident 4', 'status': IncidentStatusChoices.INVESTIGATING, 'started_at': T0},
        {'title': 'Incident 5', 'severity': SeverityChoices.CRITICAL, 'started_at': T0 + timedelta(hours=1)},
        {'title': 'Incident 6', 'started_at': T0, 'detected_at': T0 + timedelta(minutes=5), 'summary': 'Down'},
    ]
    bulk_update_data = {
        'severity': SeverityChoices.LOW,
        'description': 'New description',
    }
    bulk_update_invalid_data = {
        'status': 'not-a-status',
    }

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(3)
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incidents[0], effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD'),
            BusinessImpact(
                incident=incidents[0], effective_from=T0 + timedelta(hours=3), loss_per_day=Decimal('200000'),
                currency='USD',
            ),
        ))
        # Incident 1 started at T0 + 1 h: 2 h at 1,000,000/day, then 1 h at 200,000/day.
        Incident.objects.filter(pk=incidents[0].pk).update(
            status=IncidentStatusChoices.RESOLVED, resolved_at=T0 + timedelta(hours=4)
        )
        cls.incidents = incidents

    def test_loss_figures(self):
        self.add_permissions('netbox_triage.view_incident')
        response = self.client.get(self._get_detail_url(self.incidents[0]), **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertEqual(response.data['currency'], 'USD')
        self.assertEqual(Decimal(response.data['total_lost']), Decimal('91666.67'))
        self.assertEqual(Decimal(response.data['saved_by_mitigations']), Decimal('33333.33'))
        self.assertEqual(Decimal(response.data['current_loss_rate']), Decimal('0.00'))  # resolved
        self.assertIsNone(response.data['loss_error'])

        # No rates: no currency, nothing lost.
        response = self.client.get(self._get_detail_url(self.incidents[1]), **self.header)
        self.assertIsNone(response.data['currency'])
        self.assertEqual(Decimal(response.data['total_lost']), Decimal('0'))

    def test_loss_figures_are_read_only(self):
        self.add_permissions('netbox_triage.view_incident', 'netbox_triage.change_incident')
        url = self._get_detail_url(self.incidents[0])
        response = self.client.patch(url, {
            'total_lost': '1.00', 'saved_by_mitigations': '2.00', 'current_loss_rate': '3.00', 'currency': 'EUR',
            'loss_error': 'hacked', 'description': 'Patched',
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertEqual(response.data['description'], 'Patched')
        self.assertEqual(response.data['currency'], 'USD')
        self.assertEqual(Decimal(response.data['total_lost']), Decimal('91666.67'))
        self.assertEqual(Decimal(response.data['saved_by_mitigations']), Decimal('33333.33'))
        self.assertIsNone(response.data['loss_error'])

        response = self.client.options(url, **self.header)
        put = response.data['actions'].get('PUT') or response.data['actions']['POST']
        for name in ('currency', 'current_loss_rate', 'total_lost', 'saved_by_mitigations', 'loss_error'):
            self.assertTrue(put[name]['read_only'], name)

    def test_mixed_currencies_reported(self):
        incident = self.incidents[2]
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='USD'),
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='EUR'),
        ))
        self.add_permissions('netbox_triage.view_incident')
        response = self.client.get(self._get_detail_url(incident), **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertIsNone(response.data['total_lost'])
        self.assertIn('several currencies', response.data['loss_error'])

    def test_resolved_before_started(self):
        self.add_permissions('netbox_triage.add_incident')
        response = self.client.post(self._get_list_url(), {
            'title': 'Backwards', 'started_at': T0, 'resolved_at': T0 - timedelta(minutes=1),
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('resolved_at', response.data)
        self.assertFalse(Incident.objects.filter(title='Backwards').exists())

    def test_resolving_sets_resolved_at(self):
        self.add_permissions('netbox_triage.add_incident')
        response = self.client.post(self._get_list_url(), {
            'title': 'Closed at once', 'started_at': T0, 'status': IncidentStatusChoices.RESOLVED,
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertIsNotNone(response.data['resolved_at'])
        self.assertIsNotNone(Incident.objects.get(pk=response.data['id']).resolved_at)

    def test_filter_by_affected_device(self):
        device = create_test_device('Device 1')
        IncidentObject.objects.create(
            incident=self.incidents[1], object_type=ContentType.objects.get_for_model(device), object_id=device.pk
        )
        self.add_permissions('netbox_triage.view_incident')
        response = self.client.get(f'{self._get_list_url()}?device_id={device.pk}', **self.header)
        self.assertEqual([row['id'] for row in response.data['results']], [self.incidents[1].pk])


class IncidentObjectTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = IncidentObject
    user_permissions = ('netbox_triage.view_incident',)
    brief_fields = ['display', 'id', 'incident', 'object_id', 'object_type', 'url']
    graphql_base_name = 'incident_object'
    bulk_update_data = {
        'note': 'New note',
    }
    bulk_update_invalid_data = {
        'object_type': 'dcim.site',
    }

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(2)
        devices = [create_test_device(f'Device {i}') for i in range(1, 7)]
        device_type = ContentType.objects.get_for_model(devices[0])
        IncidentObject.objects.bulk_create((
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[0].pk, note='a'),
            IncidentObject(incident=incidents[0], object_type=device_type, object_id=devices[1].pk),
            IncidentObject(incident=incidents[1], object_type=device_type, object_id=devices[0].pk),
        ))
        cls.create_data = [
            {'incident': incidents[1].pk, 'object_type': 'dcim.device', 'object_id': devices[3].pk},
            {'incident': incidents[1].pk, 'object_type': 'dcim.device', 'object_id': devices[4].pk, 'note': 'x'},
            {'incident': incidents[0].pk, 'object_type': 'dcim.device', 'object_id': devices[5].pk},
        ]
        cls.incidents = incidents
        cls.devices = devices

    def test_object_is_serialised(self):
        self.add_permissions('netbox_triage.view_incidentobject')
        instance = IncidentObject.objects.get(note='a')
        response = self.client.get(self._get_detail_url(instance), **self.header)
        self.assertEqual(response.data['object']['id'], self.devices[0].pk)
        self.assertEqual(response.data['object']['name'], 'Device 1')

    def test_refuses_duplicate(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        response = self.client.post(self._get_list_url(), {
            'incident': self.incidents[0].pk, 'object_type': 'dcim.device', 'object_id': self.devices[0].pk,
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('already affected', str(response.data))

    def test_refuses_missing_object(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        response = self.client.post(self._get_list_url(), {
            'incident': self.incidents[0].pk, 'object_type': 'dcim.device', 'object_id': 999999,
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('object_id', response.data)

    def test_refuses_unsupported_type(self):
        self.add_permissions('netbox_triage.add_incidentobject')
        response = self.client.post(self._get_list_url(), {
            'incident': self.incidents[0].pk, 'object_type': 'dcim.site', 'object_id': 1,
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('object_type', response.data)


class BusinessImpactTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = BusinessImpact
    user_permissions = ('netbox_triage.view_incident',)
    brief_fields = ['currency', 'display', 'effective_from', 'id', 'loss_per_day', 'url']
    bulk_update_data = {
        'basis': ImpactBasisChoices.MEASURED,
        'note': 'Confirmed by finance',
    }
    bulk_update_invalid_data = {
        'loss_per_day': '-1.00',
    }

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(4)
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incidents[0], effective_from=T0, loss_per_day=Decimal('1000'), currency='USD'),
            BusinessImpact(incident=incidents[1], effective_from=T0, loss_per_day=Decimal('2000'), currency='EUR'),
            BusinessImpact(incident=incidents[2], effective_from=T0, loss_per_day=Decimal('3000'), currency='GBP'),
        ))
        cls.create_data = [
            {'incident': incidents[3].pk, 'effective_from': T0, 'loss_per_day': Decimal('1000000.00'),
             'currency': 'CHF'},
            {'incident': incidents[3].pk, 'effective_from': T0 + timedelta(hours=2),
             'loss_per_day': Decimal('200000.00'), 'currency': 'CHF', 'basis': ImpactBasisChoices.MEASURED},
            {'incident': incidents[0].pk, 'effective_from': T0 + timedelta(hours=1), 'loss_per_day': Decimal('0.00'),
             'currency': 'USD', 'note': 'Fixed'},
        ]
        cls.incidents = incidents

    def _post(self, **data):
        self.add_permissions('netbox_triage.add_businessimpact')
        payload = {'incident': self.incidents[3].pk, 'effective_from': T0, 'loss_per_day': '10', 'currency': 'USD'}
        payload.update(data)
        return self.client.post(self._get_list_url(), payload, format='json', **self.header)

    def test_negative_loss_rate(self):
        response = self._post(loss_per_day='-0.01')
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('loss_per_day', response.data)
        self.assertFalse(BusinessImpact.objects.filter(incident=self.incidents[3]).exists())

    def test_unknown_currency(self):
        response = self._post(currency='XYZ')
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('XYZ is not an ISO 4217 currency code.', response.data['currency'])

    def test_second_currency(self):
        response = self._post(incident=self.incidents[0].pk, currency='EUR')
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('already counts its losses in USD', str(response.data['currency']))
        self.assertEqual(BusinessImpact.objects.filter(incident=self.incidents[0]).count(), 1)

    def test_second_currency_in_one_request(self):
        self.add_permissions('netbox_triage.add_businessimpact')
        incident = self.incidents[3].pk
        response = self.client.post(self._get_list_url(), [
            {'incident': incident, 'effective_from': T0, 'loss_per_day': '10', 'currency': 'USD'},
            {'incident': incident, 'effective_from': T0, 'loss_per_day': '10', 'currency': 'EUR'},
        ], format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertEqual(response.data['errors'][0]['index'], 1)
        self.assertIn('already counts its losses in USD', str(response.data['errors'][0]['errors']['currency']))
        self.assertFalse(BusinessImpact.objects.filter(incident=self.incidents[3]).exists())

    def test_changing_currency_of_the_only_rate(self):
        self.add_permissions('netbox_triage.change_businessimpact')
        impact = BusinessImpact.objects.get(incident=self.incidents[0])
        response = self.client.patch(self._get_detail_url(impact), {'currency': 'EUR'}, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        impact.refresh_from_db()
        self.assertEqual(impact.currency, 'EUR')

    def test_currency_is_normalised(self):
        response = self._post(currency='usd')
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(response.data['currency'], 'USD')
        self.assertEqual(BusinessImpact.objects.get(pk=response.data['id']).currency, 'USD')

        # The stored code is what the one-currency rule compares against.
        response = self._post(currency='Usd', effective_from=T0 + timedelta(hours=1))
        self.assertHttpStatus(response, status.HTTP_201_CREATED)

    def test_timeline_records_the_new_rate(self):
        response = self._post(loss_per_day='1234.5')
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        entry = TimelineEntry.objects.get(incident=self.incidents[3])
        self.assertEqual(entry.kind, TimelineKindChoices.SYSTEM)
        self.assertIn('USD 1,234.50 per day', entry.text)
        self.assertEqual(entry.author, self.user)


class TimelineEntryTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = TimelineEntry
    user_permissions = ('netbox_triage.view_incident',)
    brief_fields = ['display', 'id', 'kind', 'timestamp', 'url']
    bulk_update_data = {
        'kind': TimelineKindChoices.ACTION,
    }
    bulk_update_invalid_data = {
        'kind': 'not-a-kind',
    }

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(2)
        TimelineEntry.objects.bulk_create((
            TimelineEntry(incident=incidents[0], timestamp=T0 + timedelta(hours=1), text='Entry 1'),
            TimelineEntry(incident=incidents[0], timestamp=T0 + timedelta(hours=2), text='Entry 2'),
            TimelineEntry(incident=incidents[1], timestamp=T0 + timedelta(hours=3), text='Entry 3'),
        ))
        cls.create_data = [
            {'incident': incidents[0].pk, 'timestamp': T0 + timedelta(hours=1), 'text': 'Created 1'},
            {'incident': incidents[0].pk, 'timestamp': T0 + timedelta(minutes=1), 'text': 'Created 2',
             'kind': TimelineKindChoices.FINDING},
            {'incident': incidents[1].pk, 'timestamp': T0 + timedelta(hours=2), 'text': 'Created 3',
             'kind': TimelineKindChoices.MITIGATION},
        ]
        cls.incidents = incidents

    def _post(self, **data):
        self.add_permissions('netbox_triage.add_timelineentry')
        payload = {'incident': self.incidents[0].pk, 'timestamp': T0 + timedelta(hours=1), 'text': 'Hello'}
        payload.update(data)
        return self.client.post(self._get_list_url(), payload, format='json', **self.header)

    def test_author_is_the_requesting_user(self):
        response = self._post()
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(response.data['author']['id'], self.user.pk)
        self.assertEqual(TimelineEntry.objects.get(pk=response.data['id']).author, self.user)

    def test_author_cannot_be_chosen(self):
        other = type(self.user).objects.create_user(username='someone-else')
        response = self._post(author=other.pk)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(TimelineEntry.objects.get(pk=response.data['id']).author, self.user)

    def test_bulk_created_entries_get_the_author(self):
        self.add_permissions('netbox_triage.add_timelineentry')
        response = self.client.post(self._get_list_url(), [
            {'incident': self.incidents[0].pk, 'timestamp': T0 + timedelta(hours=1), 'text': 'One'},
            {'incident': self.incidents[0].pk, 'timestamp': T0 + timedelta(hours=1), 'text': 'Two'},
        ], format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual({row['author']['id'] for row in response.data}, {self.user.pk})

    def test_entry_before_the_grace(self):
        # Incident 1 started at T0 + 1 h; the default grace is 60 minutes.
        response = self._post(timestamp=T0 - timedelta(minutes=1))
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('timestamp', response.data)

        response = self._post(timestamp=T0)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)

    @override_settings(PLUGINS_CONFIG={'netbox_triage': {'timeline_grace_minutes': 5}})
    def test_entry_before_a_configured_grace(self):
        response = self._post(timestamp=T0 + timedelta(minutes=54))
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('timestamp', response.data)
        response = self._post(timestamp=T0 + timedelta(minutes=55))
        self.assertHttpStatus(response, status.HTTP_201_CREATED)

    def test_moving_an_entry_before_the_grace(self):
        self.add_permissions('netbox_triage.change_timelineentry')
        entry = TimelineEntry.objects.get(text='Entry 1')
        response = self.client.patch(
            self._get_detail_url(entry), {'timestamp': T0 - timedelta(hours=1)}, format='json', **self.header
        )
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertIn('timestamp', response.data)

    def test_linked_object(self):
        device = create_test_device('Device 1')
        response = self._post(object_type='dcim.device', object_id=device.pk)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(response.data['object']['id'], device.pk)

        response = self._post(object_type='dcim.device')
        self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
