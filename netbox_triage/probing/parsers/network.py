"""Network interfaces, their addresses and MACs, from ``ip -o`` or, on older hosts, ``ifconfig -a``.

These become NetBox interfaces and IP addresses, and tell which address a host really answers on.
Both ifconfig layouts are read: net-tools before 2.0 and busybox ("inet addr:10.0.0.1
Mask:255.255.255.0") and net-tools 2.x ("inet 10.0.0.1  netmask 255.255.255.0").
"""

import ipaddress
import re

from .text import clean

__all__ = ('MAX_INTERFACES', 'interface_facts')

MAX_INTERFACES = 256
MAX_ADDRESSES = 64
_NAME = re.compile(r'[A-Za-z0-9_.:@-]{1,32}')
_MAC = re.compile(r'(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}')
_IP_ADDR = re.compile(r'^\d+:\s+(?P<name>\S+)\s+(?P<family>inet6?)\s+(?P<cidr>[0-9a-fA-F.:]+/\d{1,3})')
_IP_LINK = re.compile(r'^\d+:\s+(?P<name>[^:\s]+(?:@[^:\s]+)?):\s+<(?P<flags>[^>]*)>(?P<rest>.*)$')
_MTU = re.compile(r'\bmtu (\d{1,6})')
_STATE = re.compile(r'\bstate ([A-Z]+)')
_LINK_MAC = re.compile(r'link/(?:ether|infiniband)\s+(\S+)')
_IFCONFIG_HEAD = re.compile(r'^(?P<name>[^\s:]+(?::[0-9]+)?):?\s+(?P<rest>.*)$')
_OLD_INET = re.compile(r'inet addr:\s*(?P<address>[0-9.]+).*?Mask:\s*(?P<mask>[0-9.]+)')
_NEW_INET = re.compile(r'\binet (?P<address>[0-9.]+)\s+netmask (?P<mask>\S+)')
_OLD_INET6 = re.compile(r'inet6 addr:\s*(?P<cidr>[0-9a-fA-F:]+/\d{1,3})')
_NEW_INET6 = re.compile(r'\binet6 (?P<address>[0-9a-fA-F:]+)\s+prefixlen (?P<prefix>\d{1,3})')
_UP = re.compile(r'^\s+UP\b|<(?:[A-Z_]+,)*UP[,>]')
_HWADDR = re.compile(r'(?:HWaddr|ether)\s+(?P<mac>\S+)')


def _cidr(address, mask=None):
    """Validated 'address/prefix', or None; a hostile host cannot smuggle anything else through."""
    try:
        if mask is not None:
            if mask.startswith('0x'):
                mask = str(ipaddress.IPv4Address(int(mask, 16)))
            return ipaddress.ip_interface(f'{address}/{mask}').with_prefixlen
        return ipaddress.ip_interface(address).with_prefixlen
    except ValueError:
        return None


def _mac(value):
    return value.lower().replace('-', ':') if value and _MAC.fullmatch(value) else None


class _Interfaces:
    def __init__(self):
        self.by_name = {}

    def get(self, name):
        name = name.split('@')[0]
        if not _NAME.fullmatch(name):
            return None
        if name not in self.by_name:
            if len(self.by_name) >= MAX_INTERFACES:
                return None
            self.by_name[name] = {'name': clean(name, 32), 'mac': None, 'addresses': [], 'state': None, 'mtu': None}
        return self.by_name[name]

    def add_address(self, name, cidr):
        interface = self.get(name)
        if interface is not None and cidr and cidr not in interface['addresses']:
            if len(interface['addresses']) < MAX_ADDRESSES:
                interface['addresses'].append(cidr)


def _read_ip(interfaces, addr_text, link_text):
    for line in (link_text or '').splitlines():
        match = _IP_LINK.match(line)
        if not match:
            continue
        interface = interfaces.get(match.group('name'))
        if interface is None:
            continue
        rest = match.group('rest')
        mac = _LINK_MAC.search(rest)
        mtu = _MTU.search(rest)
        state = _STATE.search(rest)
        interface['mac'] = _mac(mac.group(1)) if mac else None
        interface['mtu'] = int(mtu.group(1)) if mtu else None
        interface['state'] = state.group(1).lower() if state else None
        if interface['state'] in (None, 'unknown'):
            # busybox ip prints no state; loopback and tunnels say UNKNOWN: the UP flag tells.
            interface['state'] = 'up' if 'UP' in match.group('flags').split(',') else 'down'
    for line in (addr_text or '').splitlines():
        match = _IP_ADDR.match(line)
        if match:
            interfaces.add_address(match.group('name'), _cidr(match.group('cidr')))


def _read_ifconfig(interfaces, text):
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            match = _IFCONFIG_HEAD.match(line)
            name = match.group('name') if match else ''
            # An alias eth0:1 is an address of eth0.
            current = interfaces.get(name.split(':')[0]) if name else None
        if current is None:
            continue
        if _UP.search(line):
            current['state'] = 'up'
        if match := _HWADDR.search(line):
            current['mac'] = _mac(match.group('mac')) or current['mac']
        if match := _OLD_INET.search(line) or _NEW_INET.search(line):
            interfaces.add_address(current['name'], _cidr(match.group('address'), match.group('mask')))
        if match := _OLD_INET6.search(line):
            interfaces.add_address(current['name'], _cidr(match.group('cidr')))
        elif match := _NEW_INET6.search(line):
            interfaces.add_address(current['name'], _cidr(f'{match.group("address")}/{match.group("prefix")}'))
        if mtu := re.search(r'\b(?:MTU:|mtu )(\d{1,6})', line):
            current['mtu'] = int(mtu.group(1))


def interface_facts(ip_addr=None, ip_link=None, ifconfig=None):
    """A list of ``{name, mac, addresses: [cidr, ...], state, mtu}`` in the order the host lists them."""
    interfaces = _Interfaces()
    if ip_addr or ip_link:
        _read_ip(interfaces, ip_addr, ip_link)
    elif ifconfig:
        _read_ifconfig(interfaces, ifconfig)
    return list(interfaces.by_name.values())
