"""Hostname, uptime and load: small facts, but the hostname ends up in ssh_config and in NetBox.

A kernel hostname may hold any byte, so a hostile host can try to smuggle a newline and an
``ssh_config`` directive (``ProxyCommand``) through it. Only a plain RFC 1123-style name is
accepted as ``hostname``; anything else is kept, cleaned, as ``hostname_raw`` for a human to read.
"""

import re

from .text import clean, to_int

__all__ = (
    'hostname_facts',
    'load_average',
    'uptime_seconds',
)

_HOSTNAME = re.compile(r'[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?')
_SECONDS = re.compile(r'([0-9]{1,12})(?:\.[0-9]{1,6})?')
_LOAD = re.compile(r'[0-9]{1,6}\.[0-9]{1,3}')


def hostname_facts(text):
    """``(hostname or None, hostname_raw, problem or None)``."""
    lines = [line.strip() for line in text.replace('\r', '\n').splitlines() if line.strip()]
    raw = clean(' '.join(lines), 255)
    if len(lines) == 1 and _HOSTNAME.fullmatch(lines[0]) and '..' not in lines[0]:
        return lines[0].lower(), raw, None
    if not lines:
        return None, None, 'empty hostname'
    return None, raw, 'hostname is not a plain host name; kept only as hostname_raw'


def uptime_seconds(text):
    """Whole seconds from /proc/uptime ('3144.24 5750.25')."""
    words = text.split()
    match = _SECONDS.fullmatch(words[0]) if words else None
    return to_int(match.group(1)) if match else None


def load_average(text):
    """The 1, 5 and 15 minute load averages from /proc/loadavg, or None."""
    words = text.split()[:3]
    if len(words) == 3 and all(_LOAD.fullmatch(word) for word in words):
        return [float(word) for word in words]
    return None
