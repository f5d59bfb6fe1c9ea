"""Listening TCP sockets and established TCP connections, from ``ss`` or ``netstat``.

Listening sockets say what a host exposes (Jenkins on 0.0.0.0:8080); established connections are
the real dependency map (this backend talks to that MySQL) that nobody documented. Read layouts:
ss from iproute2 2.6 to 6.x (with or without the State column, ``users:(("sshd",pid=1,fd=3))`` or
``users:(("sshd",1,3))``), and net-tools or busybox netstat (``1234/sshd``).
"""

import ipaddress
import re

from .text import clean, to_int

__all__ = ('MAX_SOCKETS', 'established_facts', 'listening_facts')

MAX_SOCKETS = 4096
_SS_PROCESS = re.compile(r'users:\(\("(?P<name>[^"]{0,64})",(?:pid=)?(?P<pid>\d+)')
_NETSTAT_PROCESS = re.compile(r'^(?P<pid>\d+)/(?P<name>.{1,64})$')
_STATES = {'LISTEN', 'ESTAB', 'ESTABLISHED', 'UNCONN', 'SYN-SENT', 'SYN-RECV', 'FIN-WAIT-1', 'FIN-WAIT-2',
           'TIME-WAIT', 'CLOSE-WAIT', 'LAST-ACK', 'CLOSING', 'CLOSED'}
_WILDCARDS = {'*', '0.0.0.0', '::', '[::]'}


def _endpoint(token):
    """'10.0.0.1:80', '[::ffff:10.0.0.1]:80', ':::22', '*:*', '127.0.0.53%lo:53' -> (address, port)."""
    address, found, port = token.rpartition(':')
    if not found:
        return None
    address = address.strip('[]').split('%')[0]
    if address not in _WILDCARDS:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        # Java and friends accept IPv4 on IPv6 sockets: show ::ffff:10.0.0.1 as 10.0.0.1.
        address = str(getattr(parsed, 'ipv4_mapped', None) or parsed)
    port_number = to_int(port)
    if port == '*':
        port_number = None
    elif port_number is None or not 0 <= port_number <= 65535:
        return None
    return address, port_number


def _process(text):
    if match := _SS_PROCESS.search(text):
        return clean(match.group('name'), 64), int(match.group('pid'))
    if match := _NETSTAT_PROCESS.match(text.strip()):
        return clean(match.group('name'), 64), int(match.group('pid'))
    return None, None


def _rows(text, tool):
    """Yield ``(state or None, local, peer, process text)`` per socket line."""
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ('State', 'Recv-Q', 'Netid', 'Proto', 'Active'):
            continue
        if tool == 'netstat':
            if not words[0].startswith('tcp') or len(words) < 6:
                continue
            yield words[5], words[3], words[4], ' '.join(words[6:])
            continue
        if words[0] == 'tcp':
            words = words[1:]
        state = None
        if words and words[0].upper() in _STATES:
            state = words.pop(0).upper()
        if len(words) < 4 or to_int(words[0]) is None or to_int(words[1]) is None:
            continue
        yield state, words[2], words[3], ' '.join(words[4:])


def listening_facts(text, tool='ss'):
    """A list of ``{address, port, process, pid, all_interfaces}``, one per listening socket."""
    sockets = []
    seen = set()
    for state, local, _peer, rest in _rows(text, tool):
        if state not in (None, 'LISTEN') or len(sockets) >= MAX_SOCKETS:
            continue
        endpoint = _endpoint(local)
        if endpoint is None or endpoint[1] is None:
            continue
        process, pid = _process(rest)
        key = (endpoint, process, pid)
        if key in seen:
            continue
        seen.add(key)
        sockets.append({
            'address': endpoint[0],
            'port': endpoint[1],
            'process': process,
            'pid': pid,
            'all_interfaces': endpoint[0] in _WILDCARDS,
        })
    return sockets


def established_facts(text, tool='ss'):
    """A list of ``{local_address, local_port, peer_address, peer_port, process, pid}``."""
    connections = []
    for state, local, peer, rest in _rows(text, tool):
        if state not in (None, 'ESTAB', 'ESTABLISHED') or len(connections) >= MAX_SOCKETS:
            continue
        local_end, peer_end = _endpoint(local), _endpoint(peer)
        if local_end is None or peer_end is None or local_end[1] is None or peer_end[1] is None:
            continue
        process, pid = _process(rest)
        connections.append({
            'local_address': local_end[0],
            'local_port': local_end[1],
            'peer_address': peer_end[0],
            'peer_port': peer_end[1],
            'process': process,
            'pid': pid,
        })
    return connections
