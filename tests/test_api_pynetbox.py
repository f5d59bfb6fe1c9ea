"""The REST API as automation uses it: pynetbox against a live NetBox (`nb.plugins.triage.…`)."""

import unittest
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pynetbox
from pynetbox.core.query import RequestError

from tests.live import live_netbox


class IncidentAPITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        server = live_netbox()
        cls.nb = pynetbox.api(server.url, token=server.token)

    def test_incident_loss_figures_through_pynetbox(self):
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        incident = self.nb.plugins.triage.incidents.create(
            title='pynetbox: payment API down', status='investigating', severity='critical',
            started_at=started.isoformat(),
        )
        self.nb.plugins.triage.business_impacts.create(
            incident=incident.id, effective_from=started.isoformat(), loss_per_day='1000000.00', currency='USD',
        )
        self.nb.plugins.triage.business_impacts.create(
            incident=incident.id, effective_from=(started + timedelta(hours=2)).isoformat(),
            loss_per_day='200000.00', currency='USD', basis='measured',
        )
        incident.status = 'resolved'
        incident.resolved_at = (started + timedelta(hours=3)).isoformat()
        incident.save()

        fetched = self.nb.plugins.triage.incidents.get(incident.id)
        self.assertEqual(fetched.currency, 'USD')
        # 2 h at 1,000,000/day + 1 h at 200,000/day, then resolved: nothing more accrues.
        self.assertEqual(Decimal(str(fetched.total_lost)), Decimal('91666.67'))
        self.assertEqual(Decimal(str(fetched.current_loss_rate)), Decimal('0.00'))
        self.assertEqual(Decimal(str(fetched.saved_by_mitigations)), Decimal('33333.33'))

        kinds = [entry.kind.value for entry in self.nb.plugins.triage.timeline_entries.filter(incident_id=incident.id)]
        self.assertEqual(kinds.count('system'), 2, 'each loss rate adds a timeline entry')
        self.assertEqual(kinds.count('status'), 1, 'the status change adds a timeline entry')

    def test_negative_rate_is_a_400_with_a_field_error(self):
        incident = self.nb.plugins.triage.incidents.create(title='pynetbox: negative rate')
        with self.assertRaises(RequestError) as caught:
            self.nb.plugins.triage.business_impacts.create(
                incident=incident.id, loss_per_day='-5.00', currency='USD',
            )
        self.assertEqual(caught.exception.req.status_code, 400)
        self.assertIn('loss_per_day', caught.exception.error)
        self.assertEqual(len(self.nb.plugins.triage.business_impacts.filter(incident_id=incident.id)), 0)

    def test_computed_figures_are_read_only(self):
        incident = self.nb.plugins.triage.incidents.create(title='pynetbox: read-only totals')
        self.nb.plugins.triage.incidents.update([{'id': incident.id, 'total_lost': '1.00'}])
        self.assertEqual(Decimal(str(self.nb.plugins.triage.incidents.get(incident.id).total_lost)), Decimal('0'))


if __name__ == '__main__':
    unittest.main()
