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


def create_discovery(obj, title, **attrs):
    if obj is not None:
        attrs.update(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
    attrs.setdefault('rule', 'manual')
    return Discovery.objects.create(title=title, **attrs)


class DiscoveryTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = Discovery
    user_permissions = ('netbox_triage.view_incident',)
    brief_fields = ['display', 'id', 'severity', 'status', 'title', 'url']
    bulk_update_data = {
        'status': DiscoveryStatusChoices.ACKNOWLEDGED,
        'severity': SeverityChoices.HIGH,
    }
    bulk_update_invalid_data = {
        'status': 'not-a-status',
    }

    @classmethod
    def setUpTestData(cls):
        incidents = create_incidents(1)
        devices = [create_test_device(f'Device {i}') for i in range(1, 4)]
        cls.discoveries = (
            create_discovery(devices[0], 'Discovery 1', rule='eol', severity=SeverityChoices.CRITICAL,
                             fingerprint='f' * 64, evidence={'os': 'CentOS 6'}, incident=incidents[0]),
            create_discovery(devices[1], 'Discovery 2', rule='disk', severity=SeverityChoices.HIGH),
            create_discovery(None, 'Discovery 3', status=DiscoveryStatusChoices.RESOLVED),
        )
        cls.create_data = [
            {'title': 'Created 1', 'rule': 'manual', 'object_type': 'dcim.device', 'object_id': devices[2].pk},
            {'title': 'Created 2', 'rule': 'manual', 'object_type': 'dcim.device', 'object_id': devices[2].pk,
             'severity': SeverityChoices.CRITICAL, 'evidence_text': 'telnet on port 23', 'incident': incidents[0].pk},
            {'title': 'Created 3', 'rule': 'manual', 'status': DiscoveryStatusChoices.ACKNOWLEDGED,
             'evidence': {'ports': [23]}},
        ]
        cls.incidents, cls.devices = incidents, devices

    def _post(self, **data):
        self.add_permissions('netbox_triage.add_discovery')
        payload = {'title': 'By hand', 'rule': 'manual', 'object_type': 'dcim.device', 'object_id': self.devices[2].pk}
        payload.update(data)
        return self.client.post(self._get_list_url(), payload, format='json', **self.header)

    def test_manual_discoveries_get_unique_fingerprints(self):
        first, second = self._post(), self._post()
        self.assertHttpStatus(first, status.HTTP_201_CREATED)
        self.assertHttpStatus(second, status.HTTP_201_CREATED)
        for response in (first, second):
            self.assertTrue(response.data['fingerprint'].startswith('manual-'))
            self.assertEqual(response.data['subject_key'], f'dcim.device:{self.devices[2].pk}')
            self.assertEqual(response.data['object']['id'], self.devices[2].pk)
        self.assertNotEqual(first.data['fingerprint'], second.data['fingerprint'])

    def test_bulk_created_manual_discoveries_do_not_collide(self):
        self.add_permissions('netbox_triage.add_discovery')
        item = {'title': 'Same', 'rule': 'manual', 'object_type': 'dcim.device', 'object_id': self.devices[2].pk}
        response = self.client.post(self._get_list_url(), [item, item], format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(len({row['fingerprint'] for row in response.data}), 2)

    def test_identity_and_times_are_read_only(self):
        response = self._post(subject_key='dcim.device:999', fingerprint='chosen', first_seen='2000-01-01T00:00:00Z',
                              last_seen='2000-01-01T00:00:00Z')
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        discovery = Discovery.objects.get(pk=response.data['id'])
        self.assertEqual(discovery.subject_key, f'dcim.device:{self.devices[2].pk}')
        self.assertTrue(discovery.fingerprint.startswith('manual-'))
        self.assertGreater(discovery.first_seen.year, 2000)
        self.assertGreater(discovery.last_seen.year, 2000)

        self.add_permissions('netbox_triage.change_discovery')
        rule_found = self.discoveries[0]
        response = self.client.patch(self._get_detail_url(rule_found), {
            'subject_key': 'x', 'fingerprint': 'y', 'first_seen': '2000-01-01T00:00:00Z', 'description': 'Patched',
        }, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertEqual(response.data['description'], 'Patched')
        self.assertEqual(response.data['fingerprint'], 'f' * 64)
        self.assertEqual(response.data['subject_key'], f'dcim.device:{self.devices[0].pk}')

        response = self.client.options(self._get_list_url(), **self.header)
        post = response.data['actions']['POST']
        for name in ('subject_key', 'fingerprint', 'first_seen', 'last_seen', 'resolved_at'):
            self.assertTrue(post[name]['read_only'], name)

    def test_false_positive(self):
        self.add_permissions('netbox_triage.change_discovery')
        discovery = self.discoveries[0]
        response = self.client.patch(self._get_detail_url(discovery), {'status': 'false_positive'}, format='json',
                                     **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertEqual(response.data['status']['value'], DiscoveryStatusChoices.FALSE_POSITIVE)
        discovery.refresh_from_db()
        self.assertEqual(discovery.status, DiscoveryStatusChoices.FALSE_POSITIVE)
        self.assertIsNone(discovery.resolved_at)
        self.assertFalse(discovery.is_active)

    def test_resolving_sets_resolved_at(self):
        self.add_permissions('netbox_triage.change_discovery')
        url = self._get_detail_url(self.discoveries[1])
        response = self.client.patch(url, {'status': 'resolved'}, format='json', **self.header)
        self.assertHttpStatus(response, status.HTTP_200_OK)
        self.assertIsNotNone(response.data['resolved_at'])
        response = self.client.patch(url, {'status': 'open'}, format='json', **self.header)
        self.assertIsNone(response.data['resolved_at'])

    def test_refuses_bad_objects(self):
        site = self.devices[0].site
        for data in ({'object_type': 'dcim.site', 'object_id': site.pk}, {'object_id': 999999},
                     {'object_type': 'dcim.device', 'object_id': None}):
            with self.subTest(data=data):
                response = self._post(**data)
                self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertFalse(Discovery.objects.filter(title='By hand').exists())

    def test_fleet_wide(self):
        response = self._post(object_type=None, object_id=None)
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertIsNone(response.data['object'])
        self.assertEqual(response.data['subject_key'], '')

    def test_filters(self):
        self.add_permissions('netbox_triage.view_discovery')
        url = self._get_list_url()
        for query, expected in (
            ('rule=manual', ['Discovery 3']),
            ('rule=eol&rule=disk', ['Discovery 1', 'Discovery 2']),
            ('is_active=true', ['Discovery 1', 'Discovery 2']),
            (f'device_id={self.devices[1].pk}', ['Discovery 2']),
            (f'concerns_incident_id={self.incidents[0].pk}', ['Discovery 1']),
        ):
            with self.subTest(query=query):
                response = self.client.get(f'{url}?{query}', **self.header)
                self.assertHttpStatus(response, status.HTTP_200_OK)
                self.assertEqual(sorted(row['title'] for row in response.data['results']), expected)


class DependencyTestCase(PluginURLMixin, APIViewTestCases.APIViewTestCase):
    model = Dependency
    brief_fields = ['display', 'id', 'kind', 'label', 'port', 'url']
    bulk_update_data = {
        'status': DependencyStatusChoices.HIDDEN,
        'label': 'Bulk',
    }
    bulk_update_invalid_data = {
        'port': 70000,
    }

    @classmethod
    def setUpTestData(cls):
        devices = [create_test_device(f'Device {i}') for i in range(1, 5)]
        device_type = ContentType.objects.get_for_model(devices[0])

        def edge(source, target, **attrs):
            return Dependency(source_type=device_type, source_id=source.pk, target_type=device_type,
                              target_id=target.pk, **attrs)

        Dependency.objects.bulk_create((
            edge(devices[0], devices[1], port=3306, label='MySQL'),
            edge(devices[0], devices[2], port=6379, label='Redis'),
            edge(devices[1], devices[2], kind=DependencyKindChoices.REPLICA, origin=DependencyOriginChoices.PROBE,
                 status=DependencyStatusChoices.DISCOVERED),
        ))
        cls.create_data = [
            {'source_type': 'dcim.device', 'source_id': devices[3].pk, 'target_type': 'dcim.device',
             'target_id': devices[0].pk, 'port': 443, 'label': 'HTTPS'},
            {'source_type': 'dcim.device', 'source_id': devices[3].pk, 'target_type': 'dcim.device',
             'target_id': devices[1].pk, 'kind': DependencyKindChoices.STANDBY},
            {'source_type': 'dcim.device', 'source_id': devices[2].pk, 'target_type': 'dcim.device',
             'target_id': devices[3].pk, 'kind': DependencyKindChoices.OTHER, 'port': 22,
             'status': DependencyStatusChoices.HIDDEN},
        ]
        cls.devices = devices

    def _post(self, **data):
        self.add_permissions('netbox_triage.add_dependency')
        payload = {'source_type': 'dcim.device', 'source_id': self.devices[3].pk, 'target_type': 'dcim.device',
                   'target_id': self.devices[0].pk, 'port': 8080}
        payload.update(data)
        return self.client.post(self._get_list_url(), payload, format='json', **self.header)

    def test_ends_are_serialised(self):
        response = self._post()
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        self.assertEqual(response.data['source']['id'], self.devices[3].pk)
        self.assertEqual(response.data['target']['name'], 'Device 1')
        self.assertEqual(response.data['origin']['value'], DependencyOriginChoices.MANUAL)

    def test_origin_and_last_seen_are_read_only(self):
        response = self._post(origin='probe', last_seen='2024-05-01T20:00:00Z')
        self.assertHttpStatus(response, status.HTTP_201_CREATED)
        dependency = Dependency.objects.get(pk=response.data['id'])
        self.assertEqual(dependency.origin, DependencyOriginChoices.MANUAL)
        self.assertIsNone(dependency.last_seen)

    def test_refuses_bad_edges(self):
        site = self.devices[0].site
        for data in ({'target_id': self.devices[3].pk}, {'target_id': self.devices[1].pk, 'port': 3306,
                                                         'source_id': self.devices[0].pk},
                     {'target_type': 'dcim.site', 'target_id': site.pk}, {'target_id': 999999}, {'port': 0}):
            with self.subTest(data=data):
                response = self._post(**data)
                self.assertHttpStatus(response, status.HTTP_400_BAD_REQUEST)
        self.assertEqual(Dependency.objects.count(), 3)

    def test_filter_either_end(self):
        self.add_permissions('netbox_triage.view_dependency')
        response = self.client.get(f'{self._get_list_url()}?device_id={self.devices[2].pk}', **self.header)
        self.assertEqual(response.data['count'], 2)
