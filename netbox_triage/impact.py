"""Business-impact arithmetic: loss rates are a step function of time, integrated with Decimal.

Pure functions over (effective_from, loss_per_day, currency) triples, so the incident page, the
API, the board and the post-mortem all compute the same figures.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

__all__ = (
    'LossPoint',
    'LossSummary',
    'MixedCurrenciesError',
    'Rate',
    'loss_series',
    'summarise_loss',
)

SECONDS_PER_DAY = Decimal(86400)
CENTS = Decimal('0.01')


class MixedCurrenciesError(ValueError):
    """Loss rates in several currencies cannot be added up."""


@dataclass(frozen=True)
class Rate:
    effective_from: datetime
    loss_per_day: Decimal
    currency: str


@dataclass(frozen=True)
class LossSummary:
    currency: str | None
    current_rate: Decimal  # per day, at `as_of` (zero once resolved)
    first_rate: Decimal  # per day: the rate before any mitigation
    total_lost: Decimal  # from the start up to `as_of`
    saved: Decimal  # what the first rate would have cost over the same time, minus total_lost (negative if worse)
    as_of: datetime


def _money(value):
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def _seconds(start, end):
    delta = end - start
    return Decimal(delta.days) * SECONDS_PER_DAY + Decimal(delta.seconds) + Decimal(delta.microseconds) / 10**6


def summarise_loss(rates, started_at, *, now, resolved_at=None):
    """Integrate the loss-rate step function from `started_at` to `resolved_at` (or `now`).

    A rate applies from its `effective_from` (or the incident's start, if earlier) until the next
    rate takes over. Rates dated after the end of the window count for nothing yet. Raises
    MixedCurrenciesError when the rates use more than one currency.
    """
    rates = sorted(rates, key=lambda rate: rate.effective_from)
    currencies = {rate.currency for rate in rates}
    if len(currencies) > 1:
        raise MixedCurrenciesError(
            f'loss rates use several currencies ({", ".join(sorted(currencies))}); use one currency per incident'
        )
    end = min(resolved_at, now) if resolved_at else now
    zero = Decimal('0.00')
    if not rates:
        return LossSummary(None, zero, zero, zero, zero, end)

    total = Decimal(0)
    exposure = Decimal(0)  # seconds during which some rate applied
    first = None  # the first rate that applied in the window (not one superseded before the start)
    for index, rate in enumerate(rates):
        begin = max(rate.effective_from, started_at)
        until = rates[index + 1].effective_from if index + 1 < len(rates) else end
        until = min(until, end)
        if until <= begin:
            continue
        seconds = _seconds(begin, until)
        total += Decimal(rate.loss_per_day) * seconds / SECONDS_PER_DAY
        exposure += seconds
        if first is None:
            first = Decimal(rate.loss_per_day)

    active = [rate for rate in rates if rate.effective_from <= end]
    current = Decimal(active[-1].loss_per_day) if active and not (resolved_at and resolved_at <= now) else Decimal(0)
    if first is None:  # an empty window: the rate in force at its end, if any
        first = Decimal(active[-1].loss_per_day) if active else Decimal(0)
    saved = first * exposure / SECONDS_PER_DAY - total
    return LossSummary(
        currency=rates[0].currency,
        current_rate=_money(current),
        first_rate=_money(first),
        total_lost=_money(total),
        saved=_money(saved),
        as_of=end,
    )


@dataclass(frozen=True)
class LossPoint:
    at: datetime
    rate: Decimal  # per day, in force from `at` on
    total_lost: Decimal  # cumulative loss at `at`


def loss_series(rates, started_at, *, now, resolved_at=None):
    """The breakpoints of the loss over time: the start, each rate change inside the window, and the end.

    Cumulative figures come from :func:`summarise_loss` itself, so the chart and the figures agree to the
    cent. Raises MixedCurrenciesError like it.
    """
    rates = sorted(rates, key=lambda rate: rate.effective_from)
    end = min(resolved_at, now) if resolved_at else now
    if end < started_at:
        end = started_at
    times = sorted({started_at, end, *(r.effective_from for r in rates if started_at < r.effective_from < end)})
    points = []
    for at in times:
        summary = summarise_loss(rates, started_at, now=at)
        in_force = [r for r in rates if r.effective_from <= at]
        rate = Decimal(in_force[-1].loss_per_day) if in_force and at < end else Decimal(0)
        if at == end and resolved_at is None and in_force:
            rate = Decimal(in_force[-1].loss_per_day)
        points.append(LossPoint(at, _money(rate), summary.total_lost))
    return points
