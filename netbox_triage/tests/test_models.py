from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.test import TestCase, override_settings

from dcim.models import Site
from utilities.testing import create_test_device

from netbox_triage.choices import *
from netbox_triage.models import *

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
H = timedelta(hours=1)


class ValidationTestCase(TestCase):

    @classmethod
    def setUpTestData(cls):
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0)
        cls.device = create_test_device('be-3')
        cls.device_type = ContentType.objects.get_for_model(cls.device)

    def assertInvalid(self, instance, field, message):
        with self.assertRaises(ValidationError) as cm:
            instance.full_clean()
        self.assertIn(field, cm.exception.message_dict, cm.exception.message_dict)
        self.assertIn(message, cm.exception.message_dict[field])

    # Incident

    def test_incident_resolved_before_started(self):
        incident = Incident(title='x', started_at=T0, resolved_at=T0 - timedelta(seconds=1))
        self.assertInvalid(incident, 'resolved_at', 'An incident cannot be resolved before it started.')

    def test_incident_resolved_before_detected(self):
        incident = Incident(title='x', started_at=T0, detected_at=T0 + 2 * H, resolved_at=T0 + H)
        self.assertInvalid(incident, 'resolved_at', 'An incident cannot be resolved before it was detected.')

    def test_incident_resolution_time_is_stamped(self):
        incident = Incident(title='x', started_at=T0, status=IncidentStatusChoices.RESOLVED)
        incident.full_clean()
        self.assertIsNotNone(incident.resolved_at)
        self.assertGreaterEqual(incident.resolved_at, T0)

    def test_incident_is_open(self):
        self.assertTrue(Incident(status=IncidentStatusChoices.MONITORING).is_open)
        self.assertFalse(Incident(status=IncidentStatusChoices.RESOLVED).is_open)

    # Affected objects

    def test_affected_object_must_exist(self):
        obj = IncidentObject(incident=self.incident, object_type=self.device_type, object_id=999999)
        self.assertInvalid(obj, 'object_id', 'Related object not found using the provided value: 999999.')

    def test_affected_object_type_is_limited(self):
        site = Site.objects.get()
        obj = IncidentObject(
            incident=self.incident, object_type=ContentType.objects.get_for_model(site), object_id=site.pk
        )
        with self.assertRaises(ValidationError) as cm:
            obj.full_clean()
        self.assertIn('object_type', cm.exception.message_dict)

    def test_affected_object_once_per_incident(self):
        IncidentObject.objects.create(incident=self.incident, object_type=self.device_type, object_id=self.device.pk)
        duplicate = IncidentObject(incident=self.incident, object_type=self.device_type, object_id=self.device.pk)
        with self.assertRaises(ValidationError) as cm:
            duplicate.full_clean()
        self.assertIn('This object is already affected by this incident.', cm.exception.messages)

    def test_affected_object_str(self):
        obj = IncidentObject(incident=self.incident, object_type=self.device_type, object_id=self.device.pk)
        self.assertEqual(str(obj), 'Checkout down: be-3')

    # Loss rates

    def impact(self, **kwargs):
        values = {'incident': self.incident, 'effective_from': T0, 'loss_per_day': Decimal('1000'), 'currency': 'USD'}
        values.update(kwargs)
        return BusinessImpact(**values)

    def test_loss_rate_cannot_be_negative(self):
        self.assertInvalid(
            self.impact(loss_per_day=Decimal('-0.01')), 'loss_per_day', 'A loss rate cannot be negative.'
        )

    def test_loss_rate_zero_is_allowed(self):
        self.impact(loss_per_day=Decimal('0')).full_clean()

    def test_unknown_currency(self):
        self.assertInvalid(self.impact(currency='XYZ'), 'currency', 'XYZ is not an ISO 4217 currency code.')

    def test_currency_is_normalised(self):
        impact = self.impact(currency='eur')
        impact.full_clean()
        self.assertEqual(impact.currency, 'EUR')

    def test_one_currency_per_incident(self):
        self.impact(currency='USD').save()
        self.assertInvalid(
            self.impact(currency='EUR'), 'currency',
            'This incident already counts its losses in USD; one incident uses one currency.',
        )
        self.impact(currency='usd', effective_from=T0 + H).full_clean()

    def test_loss_rate_str(self):
        self.assertEqual(str(self.impact(loss_per_day=Decimal('1000000.00'))),
                         'USD 1,000,000.00/day from 2024-05-01 20:00')

    # Timeline entries

    def entry(self, **kwargs):
        values = {'incident': self.incident, 'timestamp': T0, 'text': 'Something happened'}
        values.update(kwargs)
        return TimelineEntry(**values)

    def test_entry_within_the_grace(self):
        self.entry(timestamp=T0 - H).full_clean()

    def test_entry_before_the_grace(self):
        self.assertInvalid(
            self.entry(timestamp=T0 - H - timedelta(seconds=1)), 'timestamp',
            'This entry is dated more than 60 minutes before the incident started (2024-05-01 20:00 UTC).',
        )

    @override_settings(PLUGINS_CONFIG={'netbox_triage': {'timeline_grace_minutes': 0}})
    def test_entry_with_no_grace(self):
        self.assertInvalid(
            self.entry(timestamp=T0 - timedelta(seconds=1)), 'timestamp',
            'This entry is dated more than 0 minutes before the incident started (2024-05-01 20:00 UTC).',
        )
        self.entry(timestamp=T0).full_clean()

    def test_entry_link_needs_type_and_id(self):
        self.assertInvalid(self.entry(object_type=self.device_type), 'object_id', 'This field cannot be null.')
        self.assertInvalid(self.entry(object_id=self.device.pk), 'object_type', 'This field cannot be null.')

    def test_entry_linked_object_must_exist(self):
        self.assertInvalid(
            self.entry(object_type=self.device_type, object_id=999999), 'object_id',
            'Related object not found using the provided value: 999999.',
        )
        self.entry(object_type=self.device_type, object_id=self.device.pk).full_clean()


class LossFiguresTestCase(TestCase):
    """The incident's figures come from its loss rates, through netbox_triage.impact."""

    def test_figures(self):
        incident = Incident.objects.create(title='x', started_at=T0, resolved_at=T0 + 3 * H)
        BusinessImpact.objects.create(incident=incident, effective_from=T0, loss_per_day=1000000, currency='USD')
        BusinessImpact.objects.create(incident=incident, effective_from=T0 + 2 * H, loss_per_day=200000,
                                      currency='USD')
        incident = Incident.objects.get(pk=incident.pk)
        self.assertEqual(incident.currency, 'USD')
        self.assertEqual(incident.total_lost, Decimal('91666.67'))
        self.assertEqual(incident.saved_by_mitigations, Decimal('33333.33'))
        self.assertEqual(incident.current_loss_rate, Decimal('0.00'))
        self.assertIsNone(incident.loss_error)

    def test_mixed_currencies(self):
        incident = Incident.objects.create(title='x', started_at=T0)
        BusinessImpact.objects.bulk_create((
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='USD'),
            BusinessImpact(incident=incident, effective_from=T0, loss_per_day=1, currency='EUR'),
        ))
        self.assertIsNone(incident.total_lost)
        self.assertIsNone(incident.currency)
        self.assertIn('several currencies (EUR, USD)', incident.loss_error)


class AutomaticTimelineTestCase(TestCase):
    """signals.py: status changes and loss-rate changes write their own timeline entries."""

    def setUp(self):
        self.incident = Incident.objects.create(title='Checkout down', started_at=T0)

    def entries(self, kind):
        return TimelineEntry.objects.filter(incident=self.incident, kind=kind)

    def test_creating_an_incident_adds_nothing(self):
        self.assertFalse(TimelineEntry.objects.exists())

    def test_status_change_adds_one_status_entry(self):
        self.incident.status = IncidentStatusChoices.MITIGATING
        self.incident.save()
        entry = self.entries(TimelineKindChoices.STATUS).get()
        self.assertEqual(entry.text, 'Status changed from Investigating to Mitigating.')
        self.assertIsNone(entry.author)
        self.assertEqual(TimelineEntry.objects.count(), 1)

        # A fresh copy from the database, changed again.
        incident = Incident.objects.get(pk=self.incident.pk)
        incident.status = IncidentStatusChoices.RESOLVED
        incident.save()
        self.assertEqual(self.entries(TimelineKindChoices.STATUS).count(), 2)
        self.assertTrue(self.entries(TimelineKindChoices.STATUS).filter(
            text='Status changed from Mitigating to Resolved.').exists())

    def test_saving_without_change_adds_nothing(self):
        self.incident.title = 'Checkout still down'
        self.incident.save()
        Incident.objects.get(pk=self.incident.pk).save()
        self.assertFalse(TimelineEntry.objects.exists())

    def test_saving_twice_after_a_change_adds_one(self):
        self.incident.status = IncidentStatusChoices.MONITORING
        self.incident.save()
        self.incident.save()
        self.assertEqual(self.entries(TimelineKindChoices.STATUS).count(), 1)

    def test_new_loss_rate_adds_a_system_entry(self):
        BusinessImpact.objects.create(
            incident=self.incident, effective_from=T0 + H, loss_per_day=Decimal('1000000'), currency='USD',
            basis=ImpactBasisChoices.MEASURED, note='Finance figure.',
        )
        entry = self.entries(TimelineKindChoices.SYSTEM).get()
        self.assertEqual(
            entry.text,
            'Loss rate set to USD 1,000,000.00 per day from 2024-05-01 21:00 UTC (measured). Finance figure.',
        )
        self.assertEqual(entry.timestamp, T0 + H)

    def test_loss_rate_dated_before_the_start_is_logged_at_the_start(self):
        BusinessImpact.objects.create(
            incident=self.incident, effective_from=T0 - 5 * H, loss_per_day=Decimal('10'), currency='USD'
        )
        self.assertEqual(self.entries(TimelineKindChoices.SYSTEM).get().timestamp, T0)

    def test_loss_rate_given_as_text(self):
        BusinessImpact.objects.create(incident=self.incident, effective_from=T0, loss_per_day='1234.5', currency='USD')
        self.assertIn('USD 1,234.50 per day', self.entries(TimelineKindChoices.SYSTEM).get().text)

    def test_changed_loss_rate_adds_a_system_entry(self):
        impact = BusinessImpact.objects.create(
            incident=self.incident, effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD'
        )
        impact = BusinessImpact.objects.get(pk=impact.pk)
        impact.loss_per_day = Decimal('200000')
        impact.save()
        self.assertEqual(self.entries(TimelineKindChoices.SYSTEM).count(), 2)
        self.assertTrue(self.entries(TimelineKindChoices.SYSTEM).filter(
            text__startswith='Loss rate changed to USD 200,000.00 per day').exists())

    def test_saving_a_loss_rate_without_change_adds_nothing(self):
        impact = BusinessImpact.objects.create(
            incident=self.incident, effective_from=T0, loss_per_day=Decimal('1000000'), currency='USD'
        )
        impact.description = 'Only the description'
        impact.save()
        impact = BusinessImpact.objects.get(pk=impact.pk)
        impact.save()
        self.assertEqual(self.entries(TimelineKindChoices.SYSTEM).count(), 1)

    def test_deferred_status_costs_no_extra_query(self):
        Incident.objects.create(title='Second', started_at=T0)
        with self.assertNumQueries(1):
            titles = [incident.title for incident in Incident.objects.only('pk', 'title')]
        self.assertEqual(len(titles), 2)

    def test_raw_saves_are_ignored(self):
        # Fixtures (loaddata) save with raw=True: no entries, and no crash without a loaded incident.
        from django.db.models.signals import post_save

        impact = BusinessImpact(pk=1, incident_id=self.incident.pk, effective_from=T0, loss_per_day=1, currency='USD')
        post_save.send(sender=BusinessImpact, instance=impact, created=True, raw=True)
        self.incident.status = IncidentStatusChoices.RESOLVED
        post_save.send(sender=Incident, instance=self.incident, created=False, raw=True)
        self.assertFalse(TimelineEntry.objects.exists())
