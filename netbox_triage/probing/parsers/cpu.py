"""CPU model, stepping, microcode and topology.

Hosts in one cluster that look identical can differ in CPU stepping or microcode, and that alone can
explain one node behaving differently; so both are kept verbatim. Counts come from lscpu when it
ran, else from the /proc/cpuinfo topology lines (the script keeps those for every CPU).
"""

import re

from .text import clean, key_values, to_int

__all__ = ('cpu_facts',)

_FIELD = re.compile(r'^([A-Za-z][A-Za-z0-9 _()-]{0,40}?)\s*:\s?(.*)$')
_MICROCODE = re.compile(r'(?:0x)?[0-9a-fA-F]{1,16}')


def _blocks(text):
    """The processor blocks of /proc/cpuinfo as dicts (blank lines separate them)."""
    blocks = [{}]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        match = _FIELD.match(line)
        if match:
            blocks[-1].setdefault(match.group(1).strip().lower(), match.group(2).strip())
    return [block for block in blocks if block]


def cpu_facts(cpuinfo, lscpu=''):
    """``{model, vendor, family, model_id, stepping, microcode, sockets, cores, threads}``."""
    blocks = [block for block in _blocks(cpuinfo or '') if 'processor' in block]
    first = blocks[0] if blocks else {}
    if not first and cpuinfo:
        first = (_blocks(cpuinfo) or [{}])[0]
    details = key_values(lscpu or '', ':')
    microcode = first.get('microcode')
    facts = {
        'model': clean(first.get('model name') or details.get('Model name') or first.get('cpu model')) or None,
        'vendor': clean(first.get('vendor_id') or details.get('Vendor ID'), 64) or None,
        'family': to_int(first.get('cpu family') or details.get('CPU family')),
        'model_id': to_int(first.get('model') or details.get('Model')),
        'stepping': to_int(first.get('stepping') or details.get('Stepping')),
        'microcode': clean(microcode, 32) if microcode and _MICROCODE.fullmatch(microcode) else None,
        'sockets': None,
        'cores': None,
        'threads': None,
    }
    sockets = to_int(details.get('Socket(s)') or details.get('CPU socket(s)'))
    per_socket = to_int(details.get('Core(s) per socket'))
    threads = to_int(details.get('CPU(s)'))
    if sockets and per_socket:
        facts.update(sockets=sockets, cores=sockets * per_socket, threads=threads)
        return facts
    if blocks:
        physical = {block.get('physical id') for block in blocks if 'physical id' in block}
        cores = {(block.get('physical id'), block.get('core id')) for block in blocks if 'core id' in block}
        facts['threads'] = len(blocks)
        facts['sockets'] = len(physical) or None
        facts['cores'] = len(cores) or None
    elif threads:
        facts['threads'] = threads
    return facts
