"""Loss arithmetic: the loss-rate step function, integrated with Decimal (no database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import TestCase

from netbox_triage.impact import MixedCurrenciesError, Rate, summarise_loss

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
H = timedelta(hours=1)


def usd(offset, per_day):
    return Rate(T0 + offset, Decimal(per_day), 'USD')


class SummariseLossTestCase(TestCase):

    def test_no_rates(self):
        summary = summarise_loss([], T0, now=T0 + 3 * H)
        self.assertIsNone(summary.currency)
        self.assertEqual(summary.total_lost, Decimal('0.00'))
        self.assertEqual(summary.current_rate, Decimal('0.00'))
        self.assertEqual(summary.saved, Decimal('0.00'))
        self.assertEqual(summary.as_of, T0 + 3 * H)

    def test_single_rate(self):
        summary = summarise_loss([usd(0 * H, '240000')], T0, now=T0 + 3 * H)
        self.assertEqual(summary.currency, 'USD')
        self.assertEqual(summary.total_lost, Decimal('30000.00'))
        self.assertEqual(summary.current_rate, Decimal('240000.00'))
        self.assertEqual(summary.first_rate, Decimal('240000.00'))
        self.assertEqual(summary.saved, Decimal('0.00'))

    def test_step_integration_across_rate_changes(self):
        rates = [usd(0 * H, '1000000'), usd(2 * H, '200000')]
        summary = summarise_loss(rates, T0, now=T0 + 3 * H)
        self.assertEqual(summary.total_lost, Decimal('91666.67'))
        self.assertEqual(summary.current_rate, Decimal('200000.00'))
        self.assertEqual(summary.first_rate, Decimal('1000000.00'))

    def test_decimal_exactness(self):
        # 2 h at USD 1,000,000/day is 83,333.33…; 1 h at 200,000/day is 8,333.33…
        self.assertEqual(summarise_loss([usd(0 * H, '1000000')], T0, now=T0 + 2 * H).total_lost,
                         Decimal('83333.33'))
        self.assertEqual(summarise_loss([usd(0 * H, '200000')], T0, now=T0 + H).total_lost, Decimal('8333.33'))
        # Together the thirds add up before rounding: 91,666.666… is 91,666.67, not 83,333.33 + 8,333.33.
        summary = summarise_loss([usd(0 * H, '1000000'), usd(2 * H, '200000')], T0, now=T0 + 3 * H)
        self.assertIsInstance(summary.total_lost, Decimal)
        self.assertEqual(summary.total_lost, Decimal('91666.67'))
        self.assertEqual(summary.total_lost.as_tuple().exponent, -2)
        # No float drift: a day at 0.10 a day is exactly 0.10.
        self.assertEqual(summarise_loss([usd(0 * H, '0.10')], T0, now=T0 + 24 * H).total_lost, Decimal('0.10'))
        self.assertEqual(
            summarise_loss([usd(0 * H, '0.01')], T0, now=T0 + timedelta(days=3650)).total_lost, Decimal('36.50')
        )

    def test_sub_second_precision(self):
        summary = summarise_loss([usd(0 * H, '86400000')], T0, now=T0 + timedelta(microseconds=500000))
        self.assertEqual(summary.total_lost, Decimal('500.00'))  # 1,000 per second for half a second

    def test_saved_by_mitigations(self):
        # The first rate over 3 h would have cost 125,000.00; the mitigation cut it to 91,666.67.
        summary = summarise_loss([usd(0 * H, '1000000'), usd(2 * H, '200000')], T0, now=T0 + 3 * H)
        self.assertEqual(summary.saved, Decimal('33333.33'))

    def test_saved_is_negative_when_things_got_worse(self):
        summary = summarise_loss([usd(0 * H, '100000'), usd(1 * H, '400000')], T0, now=T0 + 2 * H)
        self.assertEqual(summary.total_lost, Decimal('20833.33'))
        self.assertEqual(summary.saved, Decimal('-12500.00'))

    def test_resolved_incident(self):
        rates = [usd(0 * H, '1000000'), usd(2 * H, '200000')]
        summary = summarise_loss(rates, T0, now=T0 + 30 * H, resolved_at=T0 + 3 * H)
        self.assertEqual(summary.total_lost, Decimal('91666.67'))  # nothing accrues after resolution
        self.assertEqual(summary.saved, Decimal('33333.33'))
        self.assertEqual(summary.current_rate, Decimal('0.00'))
        self.assertEqual(summary.as_of, T0 + 3 * H)

    def test_resolution_in_the_future_is_not_yet_the_end(self):
        summary = summarise_loss([usd(0 * H, '240000')], T0, now=T0 + H, resolved_at=T0 + 5 * H)
        self.assertEqual(summary.total_lost, Decimal('10000.00'))
        self.assertEqual(summary.current_rate, Decimal('240000.00'))

    def test_rate_after_resolution_counts_nothing(self):
        rates = [usd(0 * H, '240000'), usd(5 * H, '480000')]
        summary = summarise_loss(rates, T0, now=T0 + 10 * H, resolved_at=T0 + 2 * H)
        self.assertEqual(summary.total_lost, Decimal('20000.00'))
        self.assertEqual(summary.saved, Decimal('0.00'))

    def test_rate_in_the_future(self):
        rates = [usd(0 * H, '240000'), usd(5 * H, '0')]
        summary = summarise_loss(rates, T0, now=T0 + 2 * H)
        self.assertEqual(summary.total_lost, Decimal('20000.00'))
        self.assertEqual(summary.current_rate, Decimal('240000.00'))  # the future rate is not in force yet
        self.assertEqual(summary.saved, Decimal('0.00'))

    def test_only_future_rates(self):
        summary = summarise_loss([usd(5 * H, '240000')], T0, now=T0 + 2 * H)
        self.assertEqual(summary.currency, 'USD')
        self.assertEqual(summary.total_lost, Decimal('0.00'))
        self.assertEqual(summary.current_rate, Decimal('0.00'))
        self.assertEqual(summary.first_rate, Decimal('0.00'))

    def test_rate_effective_before_the_start(self):
        # A rate dated before the incident counts from the incident's start, not from its own date.
        summary = summarise_loss([usd(-5 * H, '240000')], T0, now=T0 + H)
        self.assertEqual(summary.total_lost, Decimal('10000.00'))
        self.assertEqual(summary.current_rate, Decimal('240000.00'))

    def test_rate_superseded_before_the_start(self):
        # The 480,000 rate was replaced before the incident began: it never applied, and no
        # mitigation during the incident "saved" anything against it.
        rates = [usd(-5 * H, '480000'), usd(-1 * H, '240000')]
        summary = summarise_loss(rates, T0, now=T0 + H)
        self.assertEqual(summary.total_lost, Decimal('10000.00'))
        self.assertEqual(summary.first_rate, Decimal('240000.00'))
        self.assertEqual(summary.saved, Decimal('0.00'))

    def test_rate_starting_after_the_incident(self):
        # No rate for the first hour: that hour costs nothing and saves nothing.
        summary = summarise_loss([usd(H, '240000'), usd(2 * H, '120000')], T0, now=T0 + 3 * H)
        self.assertEqual(summary.total_lost, Decimal('15000.00'))
        self.assertEqual(summary.saved, Decimal('5000.00'))

    def test_order_of_rates_does_not_matter(self):
        rates = [usd(2 * H, '200000'), usd(0 * H, '1000000')]
        self.assertEqual(summarise_loss(rates, T0, now=T0 + 3 * H).total_lost, Decimal('91666.67'))

    def test_same_instant_rates(self):
        # Two rates from the same instant: the later one in the list wins, the other never applies.
        rates = [usd(0 * H, '480000'), usd(0 * H, '240000')]
        summary = summarise_loss(rates, T0, now=T0 + H)
        self.assertEqual(summary.total_lost, Decimal('10000.00'))
        self.assertEqual(summary.current_rate, Decimal('240000.00'))

    def test_mixed_currencies_refused(self):
        rates = [usd(0 * H, '1000'), Rate(T0 + H, Decimal('1000'), 'EUR')]
        with self.assertRaisesRegex(MixedCurrenciesError, r'several currencies \(EUR, USD\)'):
            summarise_loss(rates, T0, now=T0 + 3 * H)

    def test_empty_window(self):
        summary = summarise_loss([usd(0 * H, '240000')], T0, now=T0)
        self.assertEqual(summary.total_lost, Decimal('0.00'))
        self.assertEqual(summary.first_rate, Decimal('240000.00'))
        self.assertEqual(summary.saved, Decimal('0.00'))

    def test_before_the_start(self):
        summary = summarise_loss([usd(0 * H, '240000')], T0, now=T0 - H)
        self.assertEqual(summary.total_lost, Decimal('0.00'))
