"""Real filesystems with their size, use and how long ``df`` took on each.

A full disk and a slow one (a dying array, a hung NFS server) are both classic causes of an outage,
so each filesystem carries ``used_percent`` and ``df_ms``. The script writes one line per
filesystem: ``ms <TAB> fstype <TAB> mount point (as in /proc/mounts) <TAB> df -P line``; a host
without /proc/mounts gets plain ``df -P -k`` output instead, without per-filesystem timing.
"""

import re

from .text import clean, to_int

__all__ = ('MAX_FILESYSTEMS', 'filesystem_facts')

MAX_FILESYSTEMS = 512
_DF = re.compile(r'^(?P<device>\S+)\s+(?P<size>[0-9]+)\s+(?P<used>[0-9]+)\s+(?P<avail>[0-9]+)\s+(?P<pct>[0-9]+|-)%?\s+'
                 r'(?P<mount>.+)$')
_OCTAL = re.compile(r'\\([0-7]{3})')


def _unescape(path):
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), path)


def _entry(df_line, fstype=None, mount=None, ms=None):
    match = _DF.match(df_line.strip())
    entry = {
        'device': None,
        'fstype': clean(fstype, 32) or None,
        'mount': clean(mount, 512) or None,
        'size_bytes': None,
        'used_bytes': None,
        'available_bytes': None,
        'used_percent': None,
        'df_ms': ms if ms is not None and ms >= 0 else None,
    }
    if not match:
        return entry
    size, used, available = (to_int(match.group(key)) for key in ('size', 'used', 'avail'))
    entry.update(
        device=clean(match.group('device'), 256),
        mount=entry['mount'] or clean(match.group('mount'), 512),
        size_bytes=size * 1024 if size is not None else None,
        used_bytes=used * 1024 if used is not None else None,
        available_bytes=available * 1024 if available is not None else None,
        used_percent=to_int(match.group('pct')),
    )
    return entry


def filesystem_facts(text):
    """A list of ``{device, fstype, mount, size_bytes, used_bytes, available_bytes, used_percent, df_ms}``."""
    filesystems = []
    for line in text.splitlines():
        if len(filesystems) >= MAX_FILESYSTEMS:
            break
        fields = line.split('\t', 3)
        if len(fields) == 4:
            ms, fstype, mount, df_line = fields
            filesystems.append(_entry(df_line, fstype, _unescape(mount), to_int(ms)))
        elif line.strip() and not line.startswith('Filesystem'):
            entry = _entry(line)
            if entry['device']:
                filesystems.append(entry)
    return filesystems
