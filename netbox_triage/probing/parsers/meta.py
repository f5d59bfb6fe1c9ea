"""What the probe itself reported about this run: clock precision, caps, escaping, user id."""

from .text import clean, key_values, to_int

__all__ = ('probe_meta',)

_PRECISION_MS = {'ns': 1, 'uptime': 10, 's': 1000}


def probe_meta(text):
    """``{clock, clock_precision_ms, timeout, escape, uid, date}``."""
    values = key_values(text)
    clock = clean(values.get('clock'), 16) or None
    return {
        'clock': clock,
        'clock_precision_ms': _PRECISION_MS.get(clock),
        'timeout': clean(values.get('timeout'), 16) or None,
        'escape': clean(values.get('escape'), 16) or None,
        'uid': to_int(values.get('uid')),
        'date': to_int(values.get('date')),
    }
