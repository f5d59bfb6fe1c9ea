"""Topology diagrams: devices and VMs, their dependencies and open discoveries, drawn with `diagrams`.

Three steps, each usable on its own:

1. `build_topology()` reads NetBox (a constant number of queries), restricted to what the reader may
   view, into plain data: nodes with an icon, a group and a label, edges styled by kind, split into
   parts of at most `topology_node_limit` nodes (per site, then per group), and the objects they show
   (`visible_objects()`/`shows_only()` decide who may see a saved render);
2. `generate_source()` writes a `diagrams` program for one part, readable and editable like the
   seed's. Every string from NetBox is cleaned (no control or bidi characters, bounded length),
   written as a Python literal with `repr()`, and wrapped in `graphviz.escape()` in the program, so
   Graphviz reads it as plain text: no HTML-like label, no `\\N`-style escape, no quote that ends
   the attribute. Variable names come from an allowlist; no NetBox text is ever written outside a
   literal;
3. `render_source()` runs that program with this Python in a subprocess, in a temporary
   directory, with a hard timeout (`topology_render_timeout`) and no viewer, and returns the PNG
   and a self-contained SVG: icons inlined once as `data:` URIs, comments and anything outside an
   allowlist of SVG elements and attributes removed, so the SVG is safe to serve from NetBox.
"""

import base64
import keyword
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from defusedxml.ElementTree import fromstring as parse_xml
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from dcim.models import Device, Site
from ipam.models import Service
from virtualization.models import Cluster, VirtualMachine

from ..choices import DependencyKindChoices, DependencyStatusChoices, DiscoveryStatusChoices, SeverityChoices
from ..models import Dependency, Discovery, HostFacts, Incident
from ..settings import get_setting
from .hosts import host_querysets

__all__ = (
    'GROUP_BY',
    'ICONS',
    'Topology',
    'TopologyEdge',
    'TopologyError',
    'TopologyGraph',
    'TopologyNode',
    'TopologyRender',
    'build_topology',
    'generate_source',
    'incident_hosts',
    'render_source',
    'render_topology',
    'shows_only',
    'topology_for_hosts',
    'topology_for_object',
    'visible_objects',
    'write_topology_files',
)

GROUP_BY = ('cluster', 'role', 'tag')

# Icon key -> (module, class) of `diagrams`; every icon the plugin may draw.
ICONS = {
    'haproxy': ('diagrams.onprem.network', 'HAProxy'),
    'nginx': ('diagrams.onprem.network', 'Nginx'),
    'apache': ('diagrams.onprem.network', 'Apache'),
    'spring': ('diagrams.programming.framework', 'Spring'),
    'angular': ('diagrams.programming.framework', 'Angular'),
    'redis': ('diagrams.onprem.inmemory', 'Redis'),
    'mysql': ('diagrams.onprem.database', 'MySQL'),
    'mariadb': ('diagrams.onprem.database', 'MariaDB'),
    'postgresql': ('diagrams.onprem.database', 'PostgreSQL'),
    'jenkins': ('diagrams.onprem.ci', 'Jenkins'),
    'server': ('diagrams.onprem.compute', 'Server'),
    'vm': ('diagrams.azure.compute', 'VM'),
    'cluster': ('diagrams.generic.compute', 'Rack'),
}

# What a role or platform name says a host is (a role wins over the probe's guesses, as people
# name roles after what a host is for): word pattern -> category.
HINTS = (
    (re.compile(r'load.?balanc|haproxy|\blb\b|ingress|entry.?point|reverse.?proxy|proxy'), 'balancer'),
    (re.compile(r'jenkins|\bci\b|build'), 'ci'),
    (re.compile(r'database|\bdb\b|mysql|maria|postgres|\bsql\b'), 'database'),
    (re.compile(r'cache|redis|memcache'), 'cache'),
    (re.compile(r'front.?end|\bweb\b|static|angular|\bui\b'), 'web'),
    (re.compile(r'back.?end|\bapi\b|\bapp\b|application|spring|java|tomcat'), 'app'),
)
# Process names of listening sockets (lower case) -> service.
PROCESSES = {
    'haproxy': 'haproxy', 'nginx': 'nginx', 'httpd': 'apache', 'apache2': 'apache', 'httpd2-prefork': 'apache',
    'httpd2-worker': 'apache', 'mysqld': 'mysql', 'mariadbd': 'mariadb', 'postgres': 'postgresql',
    'postmaster': 'postgresql', 'redis-server': 'redis', 'java': 'java',
}
# Probe components (package families) -> service.
COMPONENTS = {
    'haproxy': 'haproxy', 'nginx': 'nginx', 'apache': 'apache', 'mysql': 'mysql', 'postgresql': 'postgresql',
    'redis': 'redis', 'jenkins': 'jenkins', 'java': 'java', 'tomcat': 'java',
}
# Per category, the services that pick its icon (first found), then the category's own icon.
CATEGORY_ICONS = {
    'balancer': (('haproxy', 'haproxy'), ('nginx', 'nginx'), ('apache', 'apache'), (None, 'haproxy')),
    'ci': ((None, 'jenkins'),),
    'database': (('mariadb', 'mariadb'), ('postgresql', 'postgresql'), ('mysql', 'mysql'), (None, 'mysql')),
    'cache': ((None, 'redis'),),
    'web': ((None, 'angular'),),
    'app': ((None, 'spring'),),
}
# Without a role or platform hint: the first service found decides.
SERVICE_ICONS = (
    ('haproxy', 'haproxy'), ('jenkins', 'jenkins'), ('mariadb', 'mariadb'), ('mysql', 'mysql'),
    ('postgresql', 'postgresql'), ('redis', 'redis'), ('java', 'spring'), ('nginx', 'nginx'), ('apache', 'apache'),
)

# Colours of "uses" edges by the icon of the used node, as in the seed's picture.
USES_COLORS = {
    'redis': 'brown', 'mysql': 'black', 'mariadb': 'black', 'postgresql': 'black', 'spring': 'darkgreen',
    'angular': 'red', 'nginx': 'red', 'apache': 'red', 'haproxy': 'darkblue', 'jenkins': 'darkorange3',
}
SEVERITY_RANK = {value: rank for rank, value in enumerate(
    (SeverityChoices.INFO, SeverityChoices.LOW, SeverityChoices.MEDIUM, SeverityChoices.HIGH, SeverityChoices.CRITICAL)
)}
SEVERITY_FONT_COLORS = {
    SeverityChoices.CRITICAL: 'red3', SeverityChoices.HIGH: 'darkorange3', SeverityChoices.MEDIUM: 'goldenrod4',
    SeverityChoices.LOW: 'blue4', SeverityChoices.INFO: 'gray30',
}
NEIGHBOUR_FONT_COLOR = 'gray45'
MAX_TEXT = 60
# Larger diagrams draw straight splines: orthogonal routing grows much faster than the graph.
ORTHO_MAX_EDGES = 150

DEVICE, VM, SERVICE, CLUSTER = 'dcim.device', 'virtualization.virtualmachine', 'ipam.service', 'virtualization.cluster'
DEPENDENCY, FACTS, DISCOVERY = 'netbox_triage.dependency', 'netbox_triage.hostfacts', 'netbox_triage.discovery'
# Every model a diagram reveals rows of (`Topology.objects`), by label.
SHOWN_MODELS = {
    DEVICE: Device, VM: VirtualMachine, SERVICE: Service, CLUSTER: Cluster, DEPENDENCY: Dependency, FACTS: HostFacts,
    DISCOVERY: Discovery,
}


class TopologyError(Exception):
    """The diagram cannot be drawn (bad parameter, or Graphviz/diagrams failed)."""


@dataclass
class TopologyNode:
    key: str  # 'dcim.device:12'
    name: str
    address: str
    icon: str
    group: str
    site: str
    url: str = ''
    neighbour: bool = False  # drawn for context: outside the hosts asked for
    severity: str | None = None  # worst active discovery
    findings: int = 0
    shows: tuple = ()  # (model label, pk) of every object the node reveals: itself, its facts, its discoveries

    @property
    def label(self):
        text = f'{self.name} - {self.address}' if self.address else self.name
        if self.findings:
            text += f'\n[!] {self.findings} open, {self.severity}'
        return text


@dataclass
class TopologyEdge:
    source: str
    target: str
    kind: str
    port: int | None = None
    label: str = ''
    discovered: bool = False  # found by the probe, not yet confirmed by a person
    shows: tuple = ()  # (model label, pk): the dependency, and the services it was resolved through

    @property
    def text(self):
        if self.kind in (DependencyKindChoices.REPLICA, DependencyKindChoices.STANDBY):
            words = [self.kind]
        else:
            words = [part for part in (self.label, f':{self.port}' if self.port else '') if part]
        if self.discovered:
            words.append('(discovered)')
        return ' '.join(words)


@dataclass
class TopologyGraph:
    title: str
    group_by: str
    nodes: list[TopologyNode] = field(default_factory=list)
    edges: list[TopologyEdge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def groups(self):
        return sorted({node.group for node in self.nodes if node.group})


@dataclass
class Topology:
    """The parts to draw (one unless the inventory was split) and what the reader should know."""

    parts: list[TopologyGraph]
    messages: list[str] = field(default_factory=list)
    node_limit: int = 0

    @property
    def objects(self):
        """What the parts show, {model label: sorted ids}: a saved render goes only to readers who may view it all."""
        shown = defaultdict(set)
        for graph in self.parts:
            for item in (*graph.nodes, *graph.edges):
                for label, pk in item.shows:
                    shown[label].add(pk)
        return {label: sorted(ids) for label, ids in sorted(shown.items())}


@dataclass
class TopologyRender:
    source: str
    png: bytes | None = None
    svg: str | None = None
    message: str = ''
    seconds: float = 0.0

    @property
    def ok(self):
        return self.png is not None and self.svg is not None


# --- text --------------------------------------------------------------------------------------

_SPACES = re.compile(r'\s+')


def clean_text(value, limit=MAX_TEXT):
    """Printable text on one line: control, format (bidi) and separator characters become spaces."""
    text = unicodedata.normalize('NFC', str(value or ''))
    text = ''.join(' ' if unicodedata.category(char)[0] in 'CZ' else char for char in text)
    text = _SPACES.sub(' ', text).strip()
    return text if len(text) <= limit else text[:limit - 1] + '…'


def _identifier(name, taken):
    """A Python variable name for a node: [a-z0-9_] from the name, never a keyword, unique."""
    base = re.sub(r'[^a-z0-9_]+', '_', unicodedata.normalize('NFKD', name).encode('ascii', 'ignore').decode().lower())
    base = base.strip('_')[:40] or 'host'
    if base[0].isdigit() or keyword.iskeyword(base) or base in ('text', 'Cluster', 'Diagram', 'Edge'):
        base = f'host_{base}'
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f'{base}_{number}'
    taken.add(candidate)
    return candidate


# --- reading NetBox ----------------------------------------------------------------------------

def _key(label, pk):
    return f'{label}:{pk}'


def _address(host):
    ip = host.primary_ip4 or host.primary_ip6
    return str(ip.address.ip) if ip else ''


def _hints(*names):
    text = ' '.join(name.lower() for name in names if name)
    return [category for pattern, category in HINTS if pattern.search(text)]


def _services(facts):
    found = set()
    for socket in facts.get('listening') or ():
        if isinstance(socket, dict):
            process = str(socket.get('process') or '').lower()
            if process in PROCESSES:
                found.add(PROCESSES[process])
    for component in facts.get('components') or {}:
        if component in COMPONENTS:
            found.add(COMPONENTS[component])
    if 'java' in found and 'jenkins' not in found:
        # Jenkins runs on Java and listens on its agent port 50000 by default.
        if any(isinstance(s, dict) and s.get('port') == 50000 and s.get('process') == 'java'
               for s in facts.get('listening') or ()):
            found.add('jenkins')
    return found


def choose_icon(is_vm, role='', platform='', facts=None):
    """Icon key from the role and platform names, then the probe's listening services and packages."""
    services = _services(facts or {})
    for category in _hints(role, platform):
        for service, icon in CATEGORY_ICONS[category]:
            if service is None or service in services:
                return icon
    for service, icon in SERVICE_ICONS:
        if service in services:
            return icon
    return 'vm' if is_vm else 'server'


def _group_of(host, group_by):
    if group_by == 'cluster':
        return host.cluster.name if host.cluster_id else ''
    if group_by == 'role':
        return host.role.name if host.role_id else ''
    tags = sorted(tag.name for tag in host.tags.all())
    return tags[0] if tags else ''


def _hosts(queryset, group_by):
    queryset = queryset.select_related('site', 'role', 'platform', 'cluster', 'primary_ip4', 'primary_ip6')
    if group_by == 'tag':
        queryset = queryset.prefetch_related('tags')
    return list(queryset.order_by('name', 'pk'))


def _content_types():
    labels = (DEVICE, VM, SERVICE, CLUSTER)
    return {label: ContentType.objects.get_by_natural_key(*label.split('.')) for label in labels}


def build_topology(devices, virtual_machines, *, user, group_by='cluster', title='Topology', neighbours=True,
                   node_limit=None):
    """Nodes, groups and edges for the given device and VM querysets, split to fit the node limit.

    Dependencies that are not hidden join the hosts; with `neighbours`, hosts (or clusters) at the
    other end of one are drawn too, greyed, so a cluster's page shows what it talks to. Services
    stand for their host. Each host carries its worst active discovery. Queries: a fixed number,
    whatever the number of hosts.

    Everything read is restricted to what `user` may view (`None`, the CLI's default: nothing is):
    hosts, neighbours, dependencies, the services they go through, clusters, facts and discoveries. A
    dependency whose other end the user may not view is not drawn. Every node and edge lists the
    objects it shows (`Topology.objects`), so that a saved render is only ever shown to readers who
    may view all of them.
    """
    if group_by not in GROUP_BY:
        raise TopologyError(f"group_by must be one of {', '.join(GROUP_BY)} (got {group_by!r})")
    node_limit = node_limit or get_setting('topology_node_limit')

    def visible(queryset):
        return queryset if user is None else queryset.restrict(user, 'view')

    types = _content_types()
    type_labels = {ct.pk: label for label, ct in types.items()}
    hosts = {}  # key -> (host, is_vm)
    for is_vm, queryset in ((False, devices), (True, virtual_machines)):
        label = VM if is_vm else DEVICE
        for host in _hosts(visible(queryset), group_by):
            hosts[_key(label, host.pk)] = (host, is_vm)
    device_ids = [host.pk for host, is_vm in hosts.values() if not is_vm]
    vm_ids = [host.pk for host, is_vm in hosts.values() if is_vm]

    # Dependencies touching the hosts, or one of their services.
    services_of_hosts = visible(Service.objects.filter(
        Q(parent_object_type=types[DEVICE], parent_object_id__in=device_ids)
        | Q(parent_object_type=types[VM], parent_object_id__in=vm_ids)
    )).values('pk')
    ends = Q()
    for side in ('source', 'target'):
        ends |= Q(**{f'{side}_type': types[DEVICE], f'{side}_id__in': device_ids})
        ends |= Q(**{f'{side}_type': types[VM], f'{side}_id__in': vm_ids})
        ends |= Q(**{f'{side}_type': types[SERVICE], f'{side}_id__in': services_of_hosts})
    dependencies = list(
        visible(Dependency.objects.filter(ends)).exclude(status=DependencyStatusChoices.HIDDEN).order_by('pk').values(
            'pk', 'source_type_id', 'source_id', 'target_type_id', 'target_id', 'kind', 'port', 'label', 'status'
        )
    ) if hosts else []

    # Resolve services to their hosts; find the neighbours to load.
    wanted = defaultdict(set)
    for row in dependencies:
        for side in ('source', 'target'):
            wanted[type_labels.get(row[f'{side}_type_id'])].add(row[f'{side}_id'])
    service_host = {}
    if wanted[SERVICE]:
        for service in visible(Service.objects.filter(pk__in=wanted[SERVICE])).values(
                'pk', 'parent_object_type_id', 'parent_object_id'):
            parent = type_labels.get(service['parent_object_type_id'])
            if parent in (DEVICE, VM):
                service_host[service['pk']] = _key(parent, service['parent_object_id'])
                wanted[parent].add(service['parent_object_id'])
    neighbour_keys = set()
    if neighbours:
        for label, model in ((DEVICE, Device), (VM, VirtualMachine)):
            missing = {pk for pk in wanted[label] if _key(label, pk) not in hosts}
            if missing:
                for host in _hosts(visible(model.objects.filter(pk__in=missing)), group_by):
                    hosts[_key(label, host.pk)] = (host, label == VM)
                    neighbour_keys.add(_key(label, host.pk))
    clusters = {}
    if neighbours and wanted[CLUSTER]:
        clusters = {_key(CLUSTER, c.pk): c for c in visible(Cluster.objects.filter(pk__in=wanted[CLUSTER]))}

    # Probe facts (only what picks an icon) and active discoveries, for every host drawn.
    all_devices = [host.pk for host, is_vm in hosts.values() if not is_vm]
    all_vms = [host.pk for host, is_vm in hosts.values() if is_vm]
    facts = {}  # key -> (HostFacts pk, what picks the icon)
    if hosts:
        for row in visible(HostFacts.objects.filter(Q(device_id__in=all_devices) | Q(virtual_machine_id__in=all_vms))
                           ).values('pk', 'device_id', 'virtual_machine_id', 'facts__listening', 'facts__components'):
            key = _key(DEVICE, row['device_id']) if row['device_id'] else _key(VM, row['virtual_machine_id'])
            facts[key] = (row['pk'], {'listening': row['facts__listening'], 'components': row['facts__components']})
    findings = defaultdict(list)  # key -> [(severity, Discovery pk)]
    discovery_filter = Q(object_type=types[DEVICE], object_id__in=all_devices) | Q(
        object_type=types[VM], object_id__in=all_vms)
    if clusters:
        discovery_filter |= Q(object_type=types[CLUSTER], object_id__in=[c.pk for c in clusters.values()])
    if hosts:
        for row in visible(Discovery.objects.filter(discovery_filter, status__in=DiscoveryStatusChoices.ACTIVE)).values(
                'pk', 'object_type_id', 'object_id', 'severity'):
            findings[_key(type_labels[row['object_type_id']], row['object_id'])].append((row['severity'], row['pk']))

    nodes = {}
    for key, (host, is_vm) in hosts.items():
        role = host.role.name if host.role_id else ''
        platform = host.platform.name if host.platform_id else ''
        facts_pk, host_facts = facts.get(key, (None, None))
        nodes[key] = TopologyNode(
            key=key, name=clean_text(host.name or f'#{host.pk}'), address=_address(host),
            icon=choose_icon(is_vm, role, platform, host_facts),
            group=clean_text(_group_of(host, group_by)), site=clean_text(host.site.name if host.site_id else ''),
            url=host.get_absolute_url(), neighbour=key in neighbour_keys,
            shows=((VM if is_vm else DEVICE, host.pk), *(((FACTS, facts_pk),) if facts_pk else ())),
        )
    for key, cluster in clusters.items():
        # A cluster is only ever a neighbour: its site never titles a part, so its scope is not read.
        nodes[key] = TopologyNode(key=key, name=clean_text(cluster.name), address='', icon='cluster', group='',
                                  site='', url=cluster.get_absolute_url(), neighbour=True,
                                  shows=((CLUSTER, cluster.pk),))
    for key, found in findings.items():
        if key in nodes:
            nodes[key].findings = len(found)
            nodes[key].severity = max((severity for severity, _pk in found), key=lambda s: SEVERITY_RANK.get(s, 0))
            nodes[key].shows += tuple((DISCOVERY, pk) for _severity, pk in found)

    def endpoint(row, side):
        label, pk = type_labels.get(row[f'{side}_type_id']), row[f'{side}_id']
        return service_host.get(pk) if label == SERVICE else _key(label, pk)

    edges, seen = [], set()
    for row in dependencies:
        source, target = endpoint(row, 'source'), endpoint(row, 'target')
        if source not in nodes or target not in nodes or source == target:
            continue
        services = tuple((SERVICE, row[f'{side}_id']) for side in ('source', 'target')
                         if type_labels.get(row[f'{side}_type_id']) == SERVICE)
        edge = TopologyEdge(source, target, row['kind'], row['port'], clean_text(row['label'], 40),
                            discovered=row['status'] == DependencyStatusChoices.DISCOVERED,
                            shows=((DEPENDENCY, row['pk']), *services))
        identity = (edge.source, edge.target, edge.kind, edge.port)
        if identity not in seen:
            seen.add(identity)
            edges.append(edge)
    # A discovered connection between two nodes a person already linked adds nothing to the picture.
    linked = {frozenset((e.source, e.target)) for e in edges if not e.discovered}
    redundant = [e for e in edges if e.discovered and frozenset((e.source, e.target)) in linked]
    edges = [e for e in edges if e not in redundant]
    return _split(title, group_by, nodes, edges, node_limit, len(redundant))


def _part(title, group_by, nodes, edges, members, node_limit):
    """One diagram: `members` and, room permitting, the neighbours their edges reach."""
    chosen = {key: nodes[key] for key in members}
    extra = {}
    for edge in edges:
        for mine, other in ((edge.source, edge.target), (edge.target, edge.source)):
            if mine in chosen and other not in chosen:
                extra[other] = nodes[other]
    notes = []
    if len(chosen) + len(extra) > node_limit:
        notes.append(f'{len(extra)} connected host(s) outside this part are not drawn (node limit {node_limit}).')
        extra = {}
    for key, node in extra.items():
        chosen[key] = TopologyNode(**{**node.__dict__, 'neighbour': True})
    part_edges = [e for e in edges if e.source in chosen and e.target in chosen]
    return TopologyGraph(title=title, group_by=group_by, nodes=sorted(chosen.values(), key=_node_order),
                         edges=part_edges, notes=notes)


def _node_order(node):
    return (node.neighbour, node.group, node.name, node.key)


def _split(title, group_by, nodes, edges, node_limit, redundant):
    messages = []
    if redundant:
        messages.append(f'{redundant} discovered connection(s) between hosts already linked by hand are not drawn.')
    own = [key for key, node in nodes.items() if not node.neighbour]
    if len(nodes) <= node_limit:
        return Topology([_part(title, group_by, nodes, edges, nodes, node_limit)], messages, node_limit)
    if len(own) <= node_limit:
        return Topology([_part(title, group_by, nodes, edges, own, node_limit)], messages, node_limit)
    parts = []
    by_site = defaultdict(list)
    for key in own:
        by_site[nodes[key].site].append(key)
    messages.append(f'{len(own)} hosts are more than one diagram holds ({node_limit}): split per site.')
    for site in sorted(by_site):
        keys = by_site[site]
        site_title = f'{title} - {site or "no site"}'
        if len(keys) <= node_limit:
            parts.append(_part(site_title, group_by, nodes, edges, keys, node_limit))
            continue
        by_group = defaultdict(list)
        for key in keys:
            by_group[nodes[key].group].append(key)
        messages.append(f'Site {site or "(none)"!r} has {len(keys)} hosts: split per {group_by}.')
        for group in sorted(by_group):
            group_keys = by_group[group]
            if len(group_keys) > node_limit:
                messages.append(
                    f'Site {site or "(none)"!r}, {group_by} {group or "(none)"!r}: {len(group_keys)} hosts, over the '
                    f'limit of {node_limit}; not drawn. Narrow the filters (e.g. by role or tag) to draw it.'
                )
                continue
            parts.append(_part(f'{site_title} - {group or "no " + group_by}', group_by, nodes, edges, group_keys,
                               node_limit))
    return Topology(parts, messages, node_limit)


def incident_hosts(incident):
    """(devices, virtual machines) an incident affects: directly, through a cluster, or through a service."""
    types = _content_types()
    rows = list(incident.affected_objects.values_list('object_type_id', 'object_id'))
    ids = defaultdict(set)
    labels = {ct.pk: label for label, ct in types.items()}
    for type_id, pk in rows:
        ids[labels.get(type_id)].add(pk)
    device_q = Q(pk__in=ids[DEVICE]) | Q(cluster_id__in=ids[CLUSTER])
    vm_q = Q(pk__in=ids[VM]) | Q(cluster_id__in=ids[CLUSTER])
    services = Service.objects.filter(pk__in=ids[SERVICE])
    device_q |= Q(pk__in=services.filter(parent_object_type=types[DEVICE]).values('parent_object_id'))
    vm_q |= Q(pk__in=services.filter(parent_object_type=types[VM]).values('parent_object_id'))
    return Device.objects.filter(device_q), VirtualMachine.objects.filter(vm_q)


def topology_for_hosts(params, *, user, request=None, group_by='cluster', title='Topology', neighbours=True):
    """The topology of the devices and VMs that list-view style `params` select (the exports' shared filters), as
    `user` may view it (None: everything)."""
    devices, vms = host_querysets(params, user=user, request=request)
    return build_topology(devices, vms, user=user, group_by=group_by, title=title, neighbours=neighbours)


def topology_for_object(obj, *, user, group_by='cluster', neighbours=True):
    """The topology of a site, a cluster or an incident, restricted to what `user` may view (None: everything)."""
    if isinstance(obj, Site):
        devices, vms = Device.objects.filter(site=obj), VirtualMachine.objects.filter(site=obj)
    elif isinstance(obj, Cluster):
        devices, vms = Device.objects.filter(cluster=obj), VirtualMachine.objects.filter(cluster=obj)
    elif isinstance(obj, Incident):
        devices, vms = incident_hosts(obj)
    else:
        raise TopologyError(f'no topology for a {obj._meta.verbose_name}')
    return build_topology(devices, vms, user=user, group_by=group_by, title=clean_text(str(obj), 80),
                          neighbours=neighbours)


def visible_objects(records, user):
    """Of the objects some saved renders show (`Topology.objects` dicts), those `user` may view now:
    {label: set of ids}, one query per model whatever the number of renders or nodes."""
    wanted = defaultdict(set)
    for objects in records:
        for label, ids in (objects or {}).items():
            if label in SHOWN_MODELS:
                wanted[label].update(pk for pk in ids if isinstance(pk, int))
    return {label: set(SHOWN_MODELS[label].objects.restrict(user, 'view').filter(pk__in=ids)
                       .values_list('pk', flat=True))
            for label, ids in wanted.items() if ids}


def shows_only(objects, visible):
    """Whether a render's `objects` are all in `visible`: an unknown model, a deleted or hidden row refuses it."""
    if not isinstance(objects, dict):
        return False  # a render from before renders recorded their objects: nobody can tell what it shows
    return all(label in SHOWN_MODELS and isinstance(ids, list) and set(ids) <= visible.get(label, set())
               for label, ids in objects.items())


# --- the diagrams program ----------------------------------------------------------------------

def _literal(text):
    """A Python literal Graphviz reads as plain text: `text('…')` with the cleaned string's repr()."""
    return f'text({text!r})'


def _edge_attrs(edge, nodes):
    attrs = {}
    if edge.text:
        attrs['label'] = edge.text
    if edge.kind in (DependencyKindChoices.REPLICA, DependencyKindChoices.STANDBY):
        attrs.update(color='red', style='dashed')
    elif edge.kind == DependencyKindChoices.OTHER:
        attrs.update(color='gray40')
    else:
        attrs['color'] = USES_COLORS.get(nodes[edge.target].icon, 'gray25')
    if edge.discovered:
        attrs['style'] = 'dotted'
    return attrs


def _edge_call(attrs):
    parts = []
    for name, value in attrs.items():
        parts.append(f'{name}={_literal(value)}' if name == 'label' else f'{name}={value!r}')
    return f"Edge({', '.join(parts)})"


def _list(names):
    return names[0] if len(names) == 1 else f"[{', '.join(names)}]"


def generate_source(graph, *, outformat=('png', 'svg'), filename='topology'):
    """The Python source of a `diagrams` program drawing `graph`, in the seed's style."""
    nodes = {node.key: node for node in graph.nodes}
    used = sorted({node.icon for node in graph.nodes})
    imports = defaultdict(list)
    for icon in used:
        module, name = ICONS[icon]
        imports[module].append(name)
    taken = set()
    names = {node.key: _identifier(node.name, taken) for node in graph.nodes}
    splines = 'ortho' if len(graph.edges) <= ORTHO_MAX_EDGES else 'spline'

    lines = [
        '#!/usr/bin/env python3',
        '"""Topology diagram generated by netbox-triage from NetBox. Edit it freely and run it with python3."""',
        '',
        'from diagrams import Cluster, Diagram, Edge',
        *(f"from {module} import {', '.join(sorted(imports[module]))}" for module in sorted(imports)),
        '# Names from NetBox are plain text for Graphviz: no HTML-like labels, no backslash escapes.',
        'from graphviz import escape as text',
        '',
        f'with Diagram({_literal(clean_text(graph.title, 120))}, filename={filename!r}, show=False, '
        f"outformat={list(outformat)!r}, direction='LR', graph_attr={{'splines': {splines!r}}}):",
    ]

    def node_line(node, indent):
        attrs = ''
        if node.findings:
            attrs = f', fontcolor={SEVERITY_FONT_COLORS.get(node.severity, "red3")!r}'
        elif node.neighbour:
            attrs = f', fontcolor={NEIGHBOUR_FONT_COLOR!r}'
        class_name = ICONS[node.icon][1]
        return f'{indent}{names[node.key]} = {class_name}({_literal(node.label)}{attrs})'

    by_group = defaultdict(list)
    for node in graph.nodes:
        by_group[node.group].append(node)
    for node in by_group.pop('', []):
        lines.append(node_line(node, '    '))
    for group in sorted(by_group):
        lines.append(f'    with Cluster({_literal(group)}):')
        lines.extend(node_line(node, '        ') for node in by_group[group])
    if graph.edges:
        lines.append('')

    # Group edges as the seed does: many sources into one target, or one source to many targets.
    pending = [(edge, _edge_attrs(edge, nodes)) for edge in graph.edges]
    symmetric = (DependencyKindChoices.REPLICA, DependencyKindChoices.STANDBY)
    undirected = [(e, a) for e, a in pending if e.kind in symmetric]
    directed = [(e, a) for e, a in pending if e.kind not in symmetric]
    for edge, attrs in undirected:
        lines.append(f'    {names[edge.target]} - {_edge_call(attrs)} - {names[edge.source]}')
    into = defaultdict(list)
    for edge, attrs in directed:
        into[(edge.target, tuple(attrs.items()))].append(edge.source)
    out_of = defaultdict(list)
    for (target, attrs), sources in into.items():
        if len(sources) > 1:
            lines.append(f'    {_list([names[s] for s in sources])} >> {_edge_call(dict(attrs))} >> {names[target]}')
        else:
            out_of[(sources[0], attrs)].append(target)
    for (source, attrs), targets in out_of.items():
        lines.append(f'    {names[source]} >> {_edge_call(dict(attrs))} >> {_list([names[t] for t in targets])}')
    return '\n'.join(lines) + '\n'


# --- rendering ---------------------------------------------------------------------------------

SVG_NS = 'http://www.w3.org/2000/svg'
XLINK_NS = 'http://www.w3.org/1999/xlink'
XLINK_HREF = f'{{{XLINK_NS}}}href'
SVG_ELEMENTS = {'svg', 'g', 'title', 'polygon', 'polyline', 'path', 'ellipse', 'text', 'image', 'defs', 'use'}
SVG_ATTRIBUTES = {
    'id', 'class', 'x', 'y', 'width', 'height', 'viewBox', 'transform', 'fill', 'stroke', 'stroke-width',
    'stroke-dasharray', 'stroke-opacity', 'fill-opacity', 'points', 'd', 'cx', 'cy', 'rx', 'ry', 'font-family',
    'font-size', 'font-weight', 'font-style', 'text-anchor', 'preserveAspectRatio', 'version', XLINK_HREF,
}
ElementTree.register_namespace('', SVG_NS)
ElementTree.register_namespace('xlink', XLINK_NS)


def _icon_root():
    import diagrams

    return Path(diagrams.__file__).resolve().parent.parent / 'resources'


def _png_size(data):
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise TopologyError('an icon is not a PNG file')
    return int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')


def _number(value):
    return float(re.sub(r'(px|pt)$', '', value or '0'))


def make_svg_self_contained(svg_text):
    """Inline each icon once (`<defs>` + `<use>`) and keep only allowlisted SVG: safe to serve as is."""
    root = parse_xml(svg_text.encode())
    if root.tag != f'{{{SVG_NS}}}svg':
        raise TopologyError('Graphviz did not write an SVG document')
    icon_root = _icon_root()
    defs = ElementTree.Element(f'{{{SVG_NS}}}defs')
    icons = {}  # path -> (id, width, height)
    removed = Counter()

    def clean(element):
        for child in list(element):
            tag = child.tag.split('}')[-1] if child.tag.startswith(f'{{{SVG_NS}}}') else None
            if tag is None or tag not in SVG_ELEMENTS:
                element.remove(child)
                removed[str(child.tag)] += 1
                continue
            if tag == 'image':
                use = _inline_icon(child, icon_root, icons, defs)
                index = list(element).index(child)
                element.remove(child)
                if use is not None:
                    element.insert(index, use)
                else:
                    removed['image'] += 1
                continue
            for name in list(child.attrib):
                if name not in SVG_ATTRIBUTES or name == XLINK_HREF:
                    del child.attrib[name]
                    removed[f'@{name}'] += 1
            clean(child)

    for name in list(root.attrib):
        if name not in SVG_ATTRIBUTES:
            del root.attrib[name]
    clean(root)
    if len(defs):
        root.insert(0, defs)
    _check_svg(root)
    text = ElementTree.tostring(root, encoding='unicode')
    return text, removed


def _check_svg(root):
    """The last word before serving: allowlisted elements and attributes only, links to our icons only."""
    for element in root.iter():
        tag = element.tag.split('}')[-1]
        if not element.tag.startswith(f'{{{SVG_NS}}}') or tag not in SVG_ELEMENTS:
            raise TopologyError(f'the SVG holds a {element.tag!r} element')
        for name, value in element.attrib.items():
            if name not in SVG_ATTRIBUTES:
                raise TopologyError(f'the SVG holds a {name!r} attribute')
            if name == XLINK_HREF and not (
                    (tag == 'use' and re.fullmatch(r'#icon-[0-9]+', value))
                    or (tag == 'image' and re.fullmatch(r'data:image/png;base64,[A-Za-z0-9+/=]+', value))):
                raise TopologyError('the SVG links to something other than its own icons')


def _inline_icon(image, icon_root, icons, defs):
    href = image.get(XLINK_HREF) or image.get('href') or ''
    path = Path(href).resolve() if href.startswith('/') else None
    if path is None or icon_root not in path.parents or path.suffix != '.png' or not path.is_file():
        return None
    if path not in icons:
        data = path.read_bytes()
        width, height = _png_size(data)
        icon_id = f'icon-{len(icons)}'
        icons[path] = (icon_id, width, height)
        ElementTree.SubElement(defs, f'{{{SVG_NS}}}image', {
            'id': icon_id, 'width': str(width), 'height': str(height),
            XLINK_HREF: 'data:image/png;base64,' + base64.b64encode(data).decode('ascii'),
        })
    icon_id, width, height = icons[path]
    scale = min(_number(image.get('width')) / width, _number(image.get('height')) / height)
    return ElementTree.Element(f'{{{SVG_NS}}}use', {
        XLINK_HREF: f'#{icon_id}',
        'transform': f"translate({_number(image.get('x')):.2f},{_number(image.get('y')):.2f}) scale({scale:.5f})",
    })


def render_source(source, *, timeout=None, filename='topology'):
    """Run a `diagrams` program in a throw-away directory; PNG and self-contained SVG, or a message.

    The program runs with this interpreter (`-I`: no user site, no PYTHON* variables), in its own
    process group so that Graphviz dies with it when the timeout strikes; no display variable
    reaches it, and `show=False`, so no viewer ever opens.
    """
    timeout = timeout or get_setting('topology_render_timeout')
    started = time.monotonic()
    result = TopologyRender(source=source)
    with tempfile.TemporaryDirectory(prefix='triage-topology-') as directory:
        program = Path(directory, f'{filename}.py')
        program.write_text(source, encoding='utf-8')
        env = {'PATH': os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin'), 'HOME': directory,
               'LANG': 'C.UTF-8', 'TMPDIR': directory}
        process = subprocess.Popen(
            [sys.executable, '-I', program.name], cwd=directory, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            _out, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            result.message = f'Rendering took longer than {timeout} s and was stopped (topology_render_timeout).'
            result.seconds = time.monotonic() - started
            return result
        if process.returncode:
            lines = errors.decode('utf-8', 'replace').strip().splitlines()
            tail = clean_text(lines[-1] if lines else 'no output', 300)
            result.message = f'Rendering failed (exit status {process.returncode}): {tail}'
            result.seconds = time.monotonic() - started
            return result
        png, svg = Path(directory, f'{filename}.png'), Path(directory, f'{filename}.svg')
        if not png.is_file() or not svg.is_file():
            result.message = 'Rendering wrote no picture.'
        else:
            result.png = png.read_bytes()
            result.svg, _removed = make_svg_self_contained(svg.read_text(encoding='utf-8'))
    result.seconds = time.monotonic() - started
    return result


def render_topology(graph, *, timeout=None):
    """Generate and render one part of a topology; `TopologyRender.message` carries the part's notes."""
    result = render_source(generate_source(graph), timeout=timeout)
    if graph.notes:
        result.message = ' '.join(filter(None, [result.message, *graph.notes]))
    return result


def write_topology_files(topology, directory, *, formats=('png', 'svg', 'py'), timeout=None):
    """Render every part into `directory` as topology[-N].{png,svg,py}; return (paths, messages)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths, messages = [], list(topology.messages)
    for index, graph in enumerate(topology.parts, start=1):
        stem = 'topology' if len(topology.parts) == 1 else f'topology-{index}'
        render = render_topology(graph, timeout=timeout) if {'png', 'svg'} & set(formats) else None
        if render is not None and render.message:
            messages.append(f'{graph.title}: {render.message}')
        outputs = {'py': generate_source(graph).encode()}
        if render is not None and render.ok:
            outputs.update(png=render.png, svg=render.svg.encode())
        for extension in formats:
            if extension in outputs:
                path = directory / f'{stem}.{extension}'
                path.write_bytes(outputs[extension])
                paths.append(path)
    return paths, messages
