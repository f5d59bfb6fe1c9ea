"""Quick add: turn a list of addresses (or CIDRs) into minimal devices/VMs, ready to probe.

At 4:30 a.m. the inventory starts as a list of IPs someone pasted; names come later, from the
probe (or from people). Each address becomes one host named after it, with an interface and that
address as its primary IP. Addresses already in NetBox are skipped, so running it twice is harmless.
"""

import ipaddress
from dataclasses import dataclass, field

from django.db import transaction

from dcim.models import Device, Interface
from ipam.models import IPAddress
from virtualization.models import VirtualMachine, VMInterface

__all__ = ('MAX_ADDRESSES', 'QuickAddResult', 'parse_addresses', 'quick_add_hosts')

MAX_ADDRESSES = 4096


@dataclass
class QuickAddResult:
    created: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (address, reason)


def parse_addresses(text):
    """Addresses and CIDRs separated by commas, spaces or new lines → host addresses with their prefix length.

    A CIDR expands to its usable hosts; its prefix length is kept on each address. Raises ValueError
    with the offending token.
    """
    result = []
    for token in text.replace(',', ' ').split():
        try:
            if '/' in token:
                network = ipaddress.ip_network(token, strict=False)
                hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
                if len(result) + len(hosts) > MAX_ADDRESSES:
                    raise ValueError(f'{token}: more than {MAX_ADDRESSES} addresses in one go')
                result.extend(ipaddress.ip_interface(f'{host}/{network.prefixlen}') for host in hosts)
            else:
                address = ipaddress.ip_address(token)
                result.append(ipaddress.ip_interface(f'{address}/{address.max_prefixlen}'))
        except ValueError as exc:
            raise ValueError(f'{token!r} is not an IP address or network ({exc})') from None
    if len(result) > MAX_ADDRESSES:
        raise ValueError(f'more than {MAX_ADDRESSES} addresses in one go')
    return result


def _name_for(interface, prefix):
    return f"{prefix}{str(interface.ip).replace('.', '-').replace(':', '-')}"


@transaction.atomic
def quick_add_hosts(addresses, *, kind, site=None, role=None, cluster=None, device_type=None, tenant=None,
                    status='active', name_prefix='host-'):
    """Create one device or VM per address; returns a QuickAddResult."""
    result = QuickAddResult()
    existing = {str(ip.address.ip) for ip in IPAddress.objects.filter(
        address__net_in=[str(a.ip) for a in addresses])}
    for interface in addresses:
        if str(interface.ip) in existing:
            result.skipped.append((str(interface.ip), 'address already in NetBox'))
            continue
        name = _name_for(interface, name_prefix)
        if kind == 'device':
            host = Device(name=name, site=site, role=role, device_type=device_type, cluster=cluster, tenant=tenant,
                          status=status)
            host.full_clean()
            host.save()
            iface = Interface.objects.create(device=host, name='eth0', type='other')
        else:
            host = VirtualMachine(name=name, site=site, role=role, cluster=cluster, tenant=tenant, status=status)
            host.full_clean()
            host.save()
            iface = VMInterface.objects.create(virtual_machine=host, name='eth0')
        ip = IPAddress.objects.create(address=str(interface), assigned_object=iface, tenant=tenant)
        if interface.version == 4:
            host.primary_ip4 = ip
        else:
            host.primary_ip6 = ip
        host.save()
        existing.add(str(interface.ip))
        result.created.append(host)
    return result
