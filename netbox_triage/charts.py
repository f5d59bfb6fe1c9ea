"""Server-side SVG charts: no JavaScript, the same picture on the incident page and in the post-mortem.

Axes and text use `currentColor`, so the chart follows the page's text colour in light and dark mode
(and is black in a file on its own); the two series use colours that read on both backgrounds.
"""

from datetime import timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from .impact import loss_series

__all__ = ('loss_chart_svg',)

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 78, 92, 28, 42
RATE_COLOUR = '#f59f00'  # the loss rate (step)
TOTAL_COLOUR = '#e03131'  # the cumulative loss


def _money(value):
    value = float(value)
    for limit, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(value) >= limit:
            return f'{value / limit:.3g}{suffix}'
    return f'{value:.0f}'


def _ticks(maximum, count=4):
    if maximum <= 0:
        return [Decimal(0)]
    step = Decimal(str(float(maximum) / count))
    magnitude = Decimal(10) ** (len(str(int(step))) - 1) if step >= 1 else Decimal(1)
    step = (step / magnitude).to_integral_value(rounding='ROUND_CEILING') * magnitude
    return [step * index for index in range(count + 1)]


def loss_chart_svg(rates, started_at, *, now, resolved_at=None, title='Loss over time'):
    """An SVG document: the loss rate per day (steps) and the cumulative loss (line) since the start.

    ``rates`` are impact.Rate values; the currency is an ISO 4217 code (validated by the model) and is
    escaped anyway, like every text in the picture.
    """
    points = loss_series(rates, started_at, now=now, resolved_at=resolved_at)
    currency = escape(rates[0].currency) if rates else ''
    start, end = points[0].at, points[-1].at
    span = max((end - start).total_seconds(), 60.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    rate_ticks = _ticks(max((p.rate for p in points), default=Decimal(0)))
    total_ticks = _ticks(max((p.total_lost for p in points), default=Decimal(0)))
    rate_max, total_max = float(rate_ticks[-1]) or 1.0, float(total_ticks[-1]) or 1.0

    def x(at):
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y(value, maximum):
        return TOP + plot_h * (1 - float(value) / maximum)

    steps, previous = [], None
    for point in points:
        if previous is not None:
            steps.append(f'L{x(point.at):.1f},{y(previous.rate, rate_max):.1f}')
        steps.append(f'{"M" if previous is None else "L"}{x(point.at):.1f},{y(point.rate, rate_max):.1f}')
        previous = point
    total = ' '.join(f'{"M" if i == 0 else "L"}{x(p.at):.1f},{y(p.total_lost, total_max):.1f}'
                     for i, p in enumerate(points))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="12">',
        f'<title>{escape(title)}</title>',
        '<g stroke="currentColor" stroke-opacity="0.25">',
    ]
    for tick in rate_ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick, rate_max):.1f}" '
                     f'y2="{y(tick, rate_max):.1f}"/>')
    parts.append('</g><g fill="currentColor">')
    for tick in rate_ticks:
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick, rate_max) + 4:.1f}" text-anchor="end">{_money(tick)}</text>')
    for tick in total_ticks:
        parts.append(f'<text x="{WIDTH - RIGHT + 6}" y="{y(tick, total_max) + 4:.1f}">{_money(tick)}</text>')
    hours = span / 3600
    step = timedelta(hours=max(1, round(hours / 6))) if hours > 2 else timedelta(minutes=30)
    tick_at = start
    while tick_at <= end:
        parts.append(f'<text x="{x(tick_at):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f'{tick_at:%H:%M}</text>')
        tick_at += step
    parts += [
        f'<text x="{LEFT}" y="{TOP - 10}" fill="{RATE_COLOUR}">{currency} per day (rate)</text>',
        f'<text x="{WIDTH - RIGHT}" y="{TOP - 10}" text-anchor="end" fill="{TOTAL_COLOUR}">{currency} lost '
        f'(cumulative)</text>',
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f'{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC</text>',
        '</g>',
        f'<path d="{" ".join(steps)}" fill="none" stroke="{RATE_COLOUR}" stroke-width="2.5"/>',
        f'<path d="{total}" fill="none" stroke="{TOTAL_COLOUR}" stroke-width="2.5"/>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="currentColor" '
        f'stroke-opacity="0.5"/>',
        '</svg>',
    ]
    return '\n'.join(parts)
