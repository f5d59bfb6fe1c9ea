"""What counts as a change in a host's facts: the stable view the probe compares before it writes.

A real host never prints the same thing twice: the clock, uptime, load, free memory and disk space,
the probe's own timings, ephemeral ports and pids move on every run. Those readings are still stored
(the disk rule reads `used_percent`), but they do not make a change: comparing them would change-log
every probe of every host and list the whole fleet among the hosts changed since the last probe.
"""

import json

from .dependencies import connections_of

__all__ = ('VOLATILE_KEYS', 'stable_facts')

# Top-level facts that are readings, not facts about the host.
VOLATILE_KEYS = frozenset({'uptime_seconds', 'load_average'})
# Per-filesystem and per-socket fields that say what exists, not how full or busy it is right now.
_FILESYSTEM_FIELDS = ('device', 'fstype', 'mount', 'size_bytes')
_LISTENING_FIELDS = ('address', 'port', 'process', 'all_interfaces')


def _items(value):
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _set_of(items, fields):
    """An order-free set of the items' chosen fields (JSON text, so any value the parsers produce is hashable)."""
    return frozenset(json.dumps([item.get(name) for name in fields]) for item in items)


def _probe(probe):
    probe = probe if isinstance(probe, dict) else {}
    view = {key: value for key, value in probe.items() if key not in ('date', 'sections')}
    sections = probe.get('sections') if isinstance(probe.get('sections'), dict) else {}
    view['sections'] = {
        name: {key: value for key, value in status.items() if key != 'ms'} if isinstance(status, dict) else status
        for name, status in sections.items()
    }
    return view


def stable_facts(facts):
    """The facts minus what moves between two probes of an unchanged host; equal views mean nothing changed.

    Kept: OS, kernel, hostname, virtualization, CPU, memory totals, the filesystems and their sizes,
    interfaces and addresses, listening services (without pids), the peers and service ports of established
    connections (without ephemeral ports or pids), packages and versions, HAProxy, which sections answered.
    """
    facts = facts if isinstance(facts, dict) else {}
    view = {key: value for key, value in facts.items()
            if key not in VOLATILE_KEYS and key not in ('probe', 'memory', 'filesystems', 'listening', 'established')}
    view['probe'] = _probe(facts.get('probe'))
    memory = facts.get('memory') if isinstance(facts.get('memory'), dict) else {}
    view['memory'] = {key: value for key, value in memory.items() if key.endswith('total_bytes')}
    view['filesystems'] = _set_of(_items(facts.get('filesystems')), _FILESYSTEM_FIELDS)
    view['listening'] = _set_of(_items(facts.get('listening')), _LISTENING_FIELDS)
    view['established'] = frozenset(connections_of({'listening': _items(facts.get('listening')),
                                                    'established': _items(facts.get('established'))}))
    return view
