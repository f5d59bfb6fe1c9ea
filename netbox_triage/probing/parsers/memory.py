"""Memory and swap sizes from /proc/meminfo, in bytes (the kernel reports kB = KiB)."""

from .text import key_values, to_int

__all__ = ('memory_facts',)


def _bytes(values, key):
    words = (values.get(key) or '').split()
    number = to_int(words[0]) if words else None
    if number is None or number < 0:
        return None
    unit = words[1].lower() if len(words) > 1 else 'kb'
    return number * 1024 if unit == 'kb' else number


def memory_facts(text):
    """``{total_bytes, available_bytes, swap_total_bytes, swap_free_bytes}``."""
    values = key_values(text, ':')
    return {
        'total_bytes': _bytes(values, 'MemTotal'),
        'available_bytes': _bytes(values, 'MemAvailable'),
        'swap_total_bytes': _bytes(values, 'SwapTotal'),
        'swap_free_bytes': _bytes(values, 'SwapFree'),
    }
