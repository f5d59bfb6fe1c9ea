"""Dependencies from the probe: who talks to whom, read from the hosts' established TCP connections.

A connection to a port the host listens on is inbound (the peer uses this host on that port);
any other is outbound (this host uses the peer on the peer's port). The peer's address is looked up
in NetBox: an IP address assigned to an interface of a device or VM, or else a host whose local
config context dials it (`triage.ssh.host`, how the demo maps 10.0.x.y onto loopback). Peers
NetBox does not know are counted, not stored.

Each dependency seen is kept as `Dependency(origin=probe, status=discovered, kind=uses)`, once:
seeing it again only refreshes `last_seen` (one `QuerySet.update()`, no changelog), and a person's
verdict (confirmed, hidden) is never changed. New rows are saved one by one so that, inside the
probe job's change-logging context, they enter the changelog as the requesting user.
"""

import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, F, Func, Q
from django.utils import timezone

from dcim.models import Device, Interface
from ipam.models import IPAddress
from virtualization.models import VirtualMachine, VMInterface

from ..choices import DependencyKindChoices, DependencyOriginChoices, DependencyStatusChoices
from ..models import Dependency, HostFacts

__all__ = ('IGNORED_PORTS', 'WELL_KNOWN_PORTS', 'DependencyRecord', 'connections_of', 'record_dependencies')

DEVICE, VM = 'dcim.device', 'virtualization.virtualmachine'
# Administration, not a dependency: the probe's own SSH session shows up on every host.
IGNORED_PORTS = frozenset({22})
WELL_KNOWN_PORTS = {
    21: 'FTP', 25: 'SMTP', 53: 'DNS', 80: 'HTTP', 110: 'POP3', 143: 'IMAP', 389: 'LDAP', 443: 'HTTPS', 465: 'SMTPS',
    587: 'SMTP', 636: 'LDAPS', 993: 'IMAPS', 1433: 'SQL Server', 1521: 'Oracle', 1936: 'HAProxy stats',
    2049: 'NFS', 2181: 'ZooKeeper', 2812: 'Monit', 3000: 'HTTP', 3306: 'MySQL', 5432: 'PostgreSQL', 5672: 'AMQP',
    5601: 'Kibana', 6379: 'Redis', 8000: 'HTTP', 8080: 'HTTP', 8443: 'HTTPS', 9090: 'Prometheus', 9092: 'Kafka',
    9200: 'Elasticsearch', 11211: 'Memcached', 15672: 'RabbitMQ', 27017: 'MongoDB', 50000: 'Jenkins agent',
}


@dataclass
class DependencyRecord:
    """What one call recorded: new edges, edges seen again, and the peers NetBox does not know."""

    created: int = 0
    refreshed: int = 0
    hosts: int = 0  # hosts whose facts were read
    unknown_peers: Counter = field(default_factory=Counter)  # (address, port) -> connections
    ambiguous_peers: Counter = field(default_factory=Counter)  # addresses held by more than one host

    @property
    def unknown(self):
        return sum(self.unknown_peers.values())

    def as_dict(self):
        return {
            'created': self.created, 'refreshed': self.refreshed, 'hosts': self.hosts, 'unknown': self.unknown,
            'unknown_peers': [{'address': a, 'port': p, 'connections': n}
                              for (a, p), n in self.unknown_peers.most_common(100)],
            'ambiguous_peers': sorted(self.ambiguous_peers),
        }


def _address(value):
    try:
        address = ipaddress.ip_address(str(value).strip('[]').split('%')[0])
    except ValueError:
        return None
    return str(getattr(address, 'ipv4_mapped', None) or address)


def _port(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536 else None


def connections_of(facts):
    """Yield (peer address, service port, outbound) per established TCP connection in a host's facts.

    Inbound when the local port is one the host listens on; without listening facts, the lower of
    the two ports is taken for the service.
    """
    listening = {s.get('port') for s in facts.get('listening') or () if isinstance(s, dict)}
    for connection in facts.get('established') or ():
        if not isinstance(connection, dict):
            continue
        peer = _address(connection.get('peer_address'))
        local_port, peer_port = _port(connection.get('local_port')), _port(connection.get('peer_port'))
        if peer is None or local_port is None or peer_port is None:
            continue
        if listening:
            inbound = local_port in listening
        else:
            inbound = local_port < peer_port
        yield peer, local_port if inbound else peer_port, not inbound


def _host_keys(hosts):
    keys = []
    for host in hosts:
        if isinstance(host, str):
            label, _sep, pk = host.partition(':')
            if label in (DEVICE, VM) and pk.isdigit():
                keys.append((label, int(pk)))
        elif isinstance(host, (Device, VirtualMachine)) and host.pk:
            keys.append((host._meta.label_lower, host.pk))
    return list(dict.fromkeys(keys))


def _owners(addresses):
    """{address: {(label, pk), …}} for the addresses NetBox knows: assigned IPs, then local SSH contexts."""
    owners = defaultdict(set)
    if not addresses:
        return owners
    interface_ct = ContentType.objects.get_for_model(Interface)
    vminterface_ct = ContentType.objects.get_for_model(VMInterface)
    rows = IPAddress.objects.annotate(
        host_address=Func(F('address'), function='HOST', output_field=CharField())
    ).filter(
        host_address__in=addresses, assigned_object_type__in=(interface_ct, vminterface_ct)
    ).values_list('host_address', 'assigned_object_type_id', 'assigned_object_id')
    assigned = defaultdict(list)
    for address, type_id, object_id in rows:
        assigned[type_id].append((address, object_id))
    for type_id, model, parent, label in ((interface_ct.pk, Interface, 'device_id', DEVICE),
                                          (vminterface_ct.pk, VMInterface, 'virtual_machine_id', VM)):
        if assigned[type_id]:
            parents = dict(model.objects.filter(pk__in={i for _a, i in assigned[type_id]}).values_list('pk', parent))
            for address, interface_id in assigned[type_id]:
                if parents.get(interface_id):
                    owners[address].add((label, parents[interface_id]))
    missing = set(addresses) - set(owners)
    if missing:
        for label, model in ((DEVICE, Device), (VM, VirtualMachine)):
            for pk, dialled in model.objects.filter(local_context_data__triage__ssh__host__in=missing).values_list(
                    'pk', 'local_context_data__triage__ssh__host'):
                owners[_address(dialled) or str(dialled)].add((label, pk))
    return owners


@transaction.atomic
def record_dependencies(hosts, *, now=None):
    """Record the dependencies seen in the facts of `hosts` (host keys such as 'dcim.device:12', or instances).

    Queries: a fixed number whatever the number of hosts, plus one save per dependency seen for the
    first time.
    """
    now = now or timezone.now()
    record = DependencyRecord()
    keys = _host_keys(hosts)
    if not keys:
        return record
    device_ids = [pk for label, pk in keys if label == DEVICE]
    vm_ids = [pk for label, pk in keys if label == VM]
    rows = HostFacts.objects.filter(Q(device_id__in=device_ids) | Q(virtual_machine_id__in=vm_ids)).values_list(
        'device_id', 'virtual_machine_id', 'facts__listening', 'facts__established')

    seen = defaultdict(set)  # (client, server, port) -> connections, client/server as (label, pk)
    peers_of = []
    for device_id, vm_id, listening, established in rows:
        record.hosts += 1
        me = (DEVICE, device_id) if device_id else (VM, vm_id)
        facts = {'listening': listening if isinstance(listening, list) else [],
                 'established': established if isinstance(established, list) else []}
        for peer, port, outbound in connections_of(facts):
            if port not in IGNORED_PORTS:
                peers_of.append((me, peer, port, outbound))
    owners = _owners({peer for _me, peer, _port, _out in peers_of})
    for me, peer, port, outbound in peers_of:
        found = owners.get(peer)
        if not found:
            record.unknown_peers[(peer, port)] += 1
            continue
        if len(found) > 1:
            record.ambiguous_peers[peer] += 1
            continue
        other = next(iter(found))
        if other == me:
            continue
        client, server = (me, other) if outbound else (other, me)
        seen[(client, server, port)].add(peer)
    if not seen:
        return record

    types = {label: ContentType.objects.get_by_natural_key(*label.split('.')) for label in (DEVICE, VM)}
    sources = defaultdict(set)
    for (client, _server, _port) in seen:
        sources[client[0]].add(client[1])
    existing_filter = Q()
    for label, ids in sources.items():
        existing_filter |= Q(source_type=types[label], source_id__in=ids)
    existing = {}
    for pk, source_type, source_id, target_type, target_id, port in Dependency.objects.filter(
            existing_filter, kind=DependencyKindChoices.USES).values_list(
            'pk', 'source_type_id', 'source_id', 'target_type_id', 'target_id', 'port'):
        existing[(source_type, source_id, target_type, target_id, port)] = pk

    refresh = []
    for (client, server, port) in sorted(seen):
        identity = (types[client[0]].pk, client[1], types[server[0]].pk, server[1], port)
        if identity in existing:
            refresh.append(existing[identity])
            continue
        Dependency(
            source_type=types[client[0]], source_id=client[1], target_type=types[server[0]], target_id=server[1],
            kind=DependencyKindChoices.USES, port=port, label=WELL_KNOWN_PORTS.get(port, ''),
            origin=DependencyOriginChoices.PROBE, status=DependencyStatusChoices.DISCOVERED, last_seen=now,
        ).save()
        record.created += 1
    if refresh:
        record.refreshed = Dependency.objects.filter(pk__in=refresh).update(last_seen=now)
    return record
