"""Quick add: turn a list of addresses (or CIDRs) into minimal devices/VMs, ready to probe.

At 4:30 a.m. the inventory starts as a list of IPs someone pasted; names come later, from the
probe (or from people). Each address becomes one host named after it, with an interface and that
address as its primary IP. Addresses already in NetBox are skipped, so running it twice is harmless.

For a user (the UI door), it is NetBox's ObjectEditView rule: the add permission on every model it creates,
and, inside the same transaction, every created object must be one the user may add (object permission
constraints, e.g. only in their tenant or site), or nothing is created.
"""

import ipaddress
from dataclasses import dataclass, field

from django.db import transaction

from dcim.models import Device, Interface
from ipam.models import IPAddress
from utilities.exceptions import PermissionsViolation
from virtualization.models import VirtualMachine, VMInterface

__all__ = (
    'MAX_ADDRESSES', 'QuickAddPermissionsViolation', 'QuickAddResult', 'missing_permissions', 'parse_addresses',
    'quick_add_hosts',
)

MAX_ADDRESSES = 4096
# What quick add creates, per kind: the host, its interface, its primary IP.
CREATED_MODELS = {'device': (Device, Interface, IPAddress), 'vm': (VirtualMachine, VMInterface, IPAddress)}


class QuickAddPermissionsViolation(PermissionsViolation):
    """NetBox's PermissionsViolation, saying which permission or which object was refused."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def missing_permissions(user, kind):
    """The add permissions `user` lacks to quick-add hosts of `kind` ('device' or 'vm')."""
    models = CREATED_MODELS['device' if kind == 'device' else 'vm']
    perms = [f'{model._meta.app_label}.add_{model._meta.model_name}' for model in models]
    return [perm for perm in perms if not user.has_perm(perm)]


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
            network = ipaddress.ip_network(token, strict=False)
        except ValueError as exc:
            raise ValueError(f'{token!r} is not an IP address or network ({exc})') from None
        # Count before expanding: an IPv6 /64 pasted by mistake must not be listed first.
        if len(result) + network.num_addresses - (2 if network.num_addresses > 2 else 0) > MAX_ADDRESSES:
            raise ValueError(f'{token!r}: more than {MAX_ADDRESSES} addresses in one go')
        hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
        prefixlen = network.prefixlen if '/' in token else network.max_prefixlen
        result.extend(ipaddress.ip_interface(f'{host}/{prefixlen}') for host in hosts)
    if len(result) > MAX_ADDRESSES:
        raise ValueError(f'more than {MAX_ADDRESSES} addresses in one go')
    return result


def _name_for(interface, prefix):
    return f"{prefix}{str(interface.ip).replace('.', '-').replace(':', '-')}"


@transaction.atomic
def quick_add_hosts(addresses, *, kind, site=None, role=None, cluster=None, device_type=None, tenant=None,
                    status='active', name_prefix='host-', user=None):
    """Create one device or VM per address; returns a QuickAddResult.

    With a `user`, raises QuickAddPermissionsViolation (and creates nothing) unless the user may add every object.
    """
    if user is not None and (missing := missing_permissions(user, kind)):
        raise QuickAddPermissionsViolation(f"You may not quick-add these hosts (missing {', '.join(missing)}).")
    result = QuickAddResult()
    created = {model: [] for model in CREATED_MODELS['device' if kind == 'device' else 'vm']}
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
        for obj in (host, iface, ip):
            created[type(obj)].append(obj)
    if user is not None:
        _check_object_permissions(user, created)
    return result


def _check_object_permissions(user, created):
    """Raise (rolling the transaction back) unless every created object is one `user` may add."""
    for model, objects in created.items():
        if not objects:
            continue
        allowed = set(model.objects.restrict(user, 'add').filter(pk__in=[obj.pk for obj in objects])
                      .values_list('pk', flat=True))
        refused = [obj for obj in objects if obj.pk not in allowed]
        if refused:
            others = f' and {len(refused) - 1} more' if len(refused) > 1 else ''
            raise QuickAddPermissionsViolation(
                f'Nothing created: your object permissions do not allow adding {model._meta.verbose_name} '
                f'{refused[0]}{others} (check the site, tenant, cluster or role).'
            )
