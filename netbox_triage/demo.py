"""The demo: the seed's 12-host infrastructure and the night's incident, loaded idempotently.

Hosts carry their 10.0.x.y addresses in NetBox, as in the seed. Each one's local config context
(`triage.ssh`) maps it to a loopback address of the simulated fleet, so every connection the
plugin opens for the demo stays on 127.0.0.0/8.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from ipaddress import ip_interface

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from dcim.models import Device, DeviceRole, DeviceType, Interface, Manufacturer, Platform, Site
from ipam.models import IPAddress
from tenancy.models import Tenant
from virtualization.models import Cluster, ClusterType, VirtualMachine, VMInterface

from .choices import (
    DependencyKindChoices,
    DependencyOriginChoices,
    DependencyStatusChoices,
    ImpactBasisChoices,
    IncidentStatusChoices,
    SeverityChoices,
    TimelineKindChoices,
)
from .models import BusinessImpact, Dependency, Incident, IncidentObject, TimelineEntry

__all__ = ('DEMO_COVERAGE', 'DEMO_DEPENDENCIES', 'DEMO_HOSTS', 'DEMO_MONIT_DAEMONS', 'FLEET_PORT',
           'create_demo_agents', 'create_demo_coverage', 'create_demo_dependencies', 'demo_monit_id', 'load_demo',
           'loopback_for')

# The simulated fleet listens on this port of each host's loopback address.
FLEET_PORT = 2222
INCIDENT_TITLE = 'Checkout failing for one customer in three'


@dataclass(frozen=True)
class DemoHost:
    name: str
    address: str  # as recorded in NetBox (the seed's network)
    role: str
    cluster: str
    platform: str  # what the team believed before the probe
    is_vm: bool


DEMO_HOSTS = (
    DemoHost('haproxy-1', '10.0.0.1/24', 'Load balancer', 'Entrypoint', 'CentOS 6', False),
    DemoHost('haproxy-2', '10.0.0.2/24', 'Load balancer', 'Entrypoint', 'CentOS 6', False),
    DemoHost('be-1', '10.0.11.1/24', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    DemoHost('be-2', '10.0.11.2/24', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    DemoHost('be-3', '10.0.11.3/24', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    DemoHost('fe-1', '10.0.10.1/24', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    DemoHost('fe-2', '10.0.10.2/24', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    DemoHost('fe-3', '10.0.10.3/24', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    DemoHost('redis-1', '10.0.12.1/24', 'Cache', 'Cache HA', 'Debian 12', False),
    DemoHost('redis-2', '10.0.12.2/24', 'Cache', 'Cache HA', 'Debian 12', True),
    DemoHost('mysql-1', '10.0.13.1/24', 'Database', 'Database HA', 'CentOS 7', False),
    DemoHost('mysql-2', '10.0.13.2/24', 'Database', 'Database HA', 'CentOS 7', False),
)

ROLE_COLORS = {
    'Load balancer': '4caf50', 'Backend': '2196f3', 'Frontend': 'ff9800', 'Cache': 'f44336', 'Database': '9c27b0',
}


def loopback_for(address):
    """Map a seed address 10.0.x.y to the fleet's loopback address 127.100.x.y."""
    ip = ip_interface(address).ip
    octets = str(ip).split('.')
    return f'127.100.{octets[2]}.{octets[3]}'


def _slug(name):
    return name.lower().replace(' ', '-').replace('.', '-')


def _get(model, name, **defaults):
    obj, _created = model.objects.get_or_create(name=name, defaults={'slug': _slug(name), **defaults})
    return obj


def _host(spec, site, tenant, device_type, cluster_type):
    role = _get(DeviceRole, spec.role, color=ROLE_COLORS[spec.role], vm_role=True)
    platform = _get(Platform, spec.platform)
    cluster, _created = Cluster.objects.get_or_create(
        name=spec.cluster, defaults={'type': cluster_type, 'scope': site}
    )
    context = {'triage': {'ssh': {'host': loopback_for(spec.address), 'port': FLEET_PORT}}}
    common = {'role': role, 'platform': platform, 'tenant': tenant, 'cluster': cluster,
              'local_context_data': context}
    if spec.is_vm:
        host, _created = VirtualMachine.objects.get_or_create(name=spec.name, defaults={'site': site, **common})
        iface, _created = VMInterface.objects.get_or_create(virtual_machine=host, name='eth0')
    else:
        host, _created = Device.objects.get_or_create(
            name=spec.name, defaults={'site': site, 'device_type': device_type, **common}
        )
        iface, _created = Interface.objects.get_or_create(device=host, name='eth0', defaults={'type': '1000base-t'})
    ip = IPAddress.objects.filter(address=spec.address).first()
    if ip is None:
        ip = IPAddress.objects.create(address=spec.address, assigned_object=iface, tenant=tenant)
    if host.primary_ip4_id != ip.pk:
        host.primary_ip4 = ip
        host.save()
    return host


def _incident(hosts, clusters, tenant, now):
    started = (now - timedelta(hours=3)).replace(second=0, microsecond=0)
    incident, created = Incident.objects.get_or_create(
        title=INCIDENT_TITLE,
        defaults={
            'status': IncidentStatusChoices.MITIGATING,
            'severity': SeverityChoices.CRITICAL,
            'started_at': started,
            'detected_at': started + timedelta(minutes=12),
            'tenant': tenant,
            'description': 'One request in three fails at checkout; the business loses sales every minute.',
            'summary': (
                'Customers report failed payments since the evening deployment window. '
                'Backends answer slowly; one of them cannot reach the database.'
            ),
        },
    )
    if not created:
        return incident, False
    started = incident.started_at
    for obj in [hosts['be-1'], hosts['be-2'], hosts['be-3'], hosts['haproxy-1'], hosts['mysql-1'],
                clusters['Backend Cluster']]:
        IncidentObject.objects.get_or_create(
            incident=incident, object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
        )
    BusinessImpact.objects.create(
        incident=incident, effective_from=started, loss_per_day=Decimal('1000000.00'), currency='USD',
        basis=ImpactBasisChoices.ESTIMATE, note='Sales team estimate: one order in three lost.',
    )
    BusinessImpact.objects.create(
        incident=incident, effective_from=started + timedelta(hours=2), loss_per_day=Decimal('200000.00'),
        currency='USD', basis=ImpactBasisChoices.MEASURED,
        note='After be-3 was taken out of the HAProxy pool (temporary fix).',
    )
    entries = [
        (timedelta(minutes=12), TimelineKindChoices.NOTE, 'Support escalates: checkout errors for many customers.',
         None),
        (timedelta(minutes=45), TimelineKindChoices.ACTION, 'Consultant on site; business and tech teams in one room.',
         None),
        (timedelta(minutes=70), TimelineKindChoices.FINDING,
         'be-3 cannot reach **mysql-1** on 3306 since the firewall upgrade; HAProxy has no health check.',
         hosts['be-3']),
        (timedelta(hours=2), TimelineKindChoices.MITIGATION, 'be-3 removed from the HAProxy backend pool.',
         hosts['haproxy-1']),
    ]
    for offset, kind, text, obj in entries:
        TimelineEntry.objects.create(
            incident=incident, timestamp=started + offset, kind=kind, text=text,
            object_type=ContentType.objects.get_for_model(obj) if obj else None, object_id=obj.pk if obj else None,
        )
    return incident, True


@transaction.atomic
def load_demo(now=None):
    """Create (or find) the demo objects; returns a dict of what exists and what was created."""
    now = now or timezone.now()
    site = _get(Site, 'Customer DC', status='active')
    tenant = _get(Tenant, 'Web shop')
    manufacturer = _get(Manufacturer, 'Generic')
    device_type, _created = DeviceType.objects.get_or_create(
        manufacturer=manufacturer, model='Rack server', defaults={'slug': 'rack-server'}
    )
    cluster_type = _get(ClusterType, 'Application cluster')
    hosts = {spec.name: _host(spec, site, tenant, device_type, cluster_type) for spec in DEMO_HOSTS}
    clusters = {c.name: c for c in Cluster.objects.filter(name__in={spec.cluster for spec in DEMO_HOSTS})}
    incident, created = _incident(hosts, clusters, tenant, now)
    create_demo_dependencies(hosts)
    create_demo_coverage(hosts, now)
    create_demo_agents(hosts, now)
    return {'hosts': hosts, 'incident': incident, 'incident_created': created}


# The seed's picture as dependencies: (source, target, kind, port, label). The HAProxy pair stands by,
# the ingress sends HTTP to the frontends and the backends, the backends use the cache and the
# database, and each HA pair replicates. Ports match what the probe sees, so probing the demo
# confirms these edges (it only refreshes `last_seen`) instead of doubling them.
DEMO_DEPENDENCIES = (
    ('haproxy-2', 'haproxy-1', DependencyKindChoices.STANDBY, None, ''),
    *(('haproxy-1', f'fe-{n}', DependencyKindChoices.USES, 80, 'HTTP') for n in (1, 2, 3)),
    *(('haproxy-1', f'be-{n}', DependencyKindChoices.USES, 8080, 'HTTP') for n in (1, 2, 3)),
    *((f'be-{n}', 'redis-1', DependencyKindChoices.USES, 6379, 'Redis') for n in (1, 2, 3)),
    *((f'be-{n}', 'mysql-1', DependencyKindChoices.USES, 3306, 'MySQL') for n in (1, 2, 3)),
    ('redis-2', 'redis-1', DependencyKindChoices.REPLICA, None, ''),
    ('mysql-2', 'mysql-1', DependencyKindChoices.REPLICA, None, ''),
)


def create_demo_dependencies(hosts=None):
    """Draw the seed's diagram by hand: the dependencies a person would enter (idempotent)."""
    if hosts is None:
        names = [spec.name for spec in DEMO_HOSTS]
        hosts = {host.name: host for model in (Device, VirtualMachine) for host in model.objects.filter(name__in=names)}
    created = 0
    for source_name, target_name, kind, port, label in DEMO_DEPENDENCIES:
        source, target = hosts.get(source_name), hosts.get(target_name)
        if source is None or target is None:
            continue
        _dependency, was_created = Dependency.objects.get_or_create(
            source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
            target_type=ContentType.objects.get_for_model(target), target_id=target.pk, kind=kind, port=port,
            defaults={'label': label, 'origin': DependencyOriginChoices.MANUAL,
                      'status': DependencyStatusChoices.CONFIRMED},
        )
        created += was_created
    return created


# Monitoring coverage as the night found it: (host, system, state, failing check or None, minutes since the last
# report). Monit rows look like the collector's (the checks of the exported monitrc); the backends' Monit on be-3
# and the replica's went silent; the database has a Prometheus someone set up; haproxy-2, redis-2 and fe-3 have
# nothing (fe-3's New Relic is only planned). Reporting rows stay "reporting" only while reports arrive: the
# silence job marks them silent after three missed cycles unless a real Monit reports. `make demo` starts one
# real monit daemon per reporting row (DEMO_MONIT_DAEMONS, scripts/demo_monit.sh; docs/monitoring.md).
DEMO_COVERAGE = (
    ('haproxy-1', 'monit', 'reporting', None, 0),
    ('be-1', 'monit', 'reporting', None, 0),
    ('be-2', 'monit', 'reporting', 'mysql-1_3306', 0),
    ('be-3', 'monit', 'silent', None, 47),
    ('fe-1', 'monit', 'reporting', None, 0),
    ('fe-2', 'monit', 'reporting', None, 0),
    ('redis-1', 'monit', 'reporting', None, 0),
    ('mysql-1', 'prometheus', 'configured', None, None),
    ('mysql-2', 'monit', 'silent', None, 190),
    ('fe-3', 'newrelic', 'planned', None, None),
)
_DEMO_REMOTE = {'haproxy-1': [], 'fe-1': [], 'fe-2': [], 'redis-1': [],
                'be-1': ['redis-1_6379', 'mysql-1_3306'], 'be-2': ['redis-1_6379', 'mysql-1_3306'],
                'be-3': ['redis-1_6379', 'mysql-1_3306'], 'mysql-2': []}


def _demo_checks(name, failing):
    checks = [
        {'name': name, 'service': 'system', 'types': ['cpu', 'memory', 'load'], 'status': 'ok'},
        {'name': 'fs_root', 'service': 'filesystem', 'types': ['disk'], 'status': 'ok'},
        {'name': 'eth0', 'service': 'network', 'types': ['network'], 'status': 'ok'},
        {'name': 'os_release', 'service': 'program', 'types': ['os_release'], 'status': 'ok'},
    ] + [{'name': remote, 'service': 'host', 'types': ['remote_service'], 'status': 'ok'}
         for remote in _DEMO_REMOTE.get(name, [])]
    for check in checks:
        if check['name'] == failing:
            check['status'] = 'failed'
    return checks


def create_demo_coverage(hosts=None, now=None):
    """The demo's monitoring coverage (idempotent: existing rows are left as they are). Returns how many were
    created."""
    from .models import MonitoringCoverage

    now = now or timezone.now()
    if hosts is None:
        names = [spec.name for spec in DEMO_HOSTS]
        hosts = {host.name: host for model in (Device, VirtualMachine) for host in model.objects.filter(name__in=names)}
    created = 0
    for name, system, state, failing, minutes in DEMO_COVERAGE:
        host = hosts.get(name)
        if host is None:
            continue
        lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
        values = {'state': state}
        if system == 'monit':
            last = now - timedelta(minutes=minutes)
            checks = _demo_checks(name, failing)
            values.update(
                checks=checks, check_types=sorted({t for c in checks for t in c['types']}),
                failing_checks=sum(c['status'] == 'failed' for c in checks), last_report=last, poll_interval=30,
                agent_version='5.33.0' if not name.startswith('be-') else '5.26.0', agent_uptime=86400 * 12,
                reported_hostname=name,
                history=[{'kind': 'status', 'from': (last - timedelta(hours=2)).isoformat(), 'to': last.isoformat(),
                          'reports': 240, 'checks': len(checks), 'failed': [failing] if failing else [],
                          'failed_count': 1 if failing else 0, 'uptime': 86400 * 12}],
            )
            if state == 'silent':
                values['silent_since'] = last + timedelta(seconds=95)
        elif system == 'prometheus':
            values.update(checks=[{'name': 'node_exporter', 'types': ['cpu', 'memory', 'disk', 'network']},
                                  {'name': 'mysqld_exporter', 'types': ['remote_service']}],
                          check_types=['cpu', 'disk', 'memory', 'network', 'remote_service'],
                          ui_url='http://10.0.13.1:9090/targets',
                          description='Set up by the previous DBA; nobody looks at it')
        _coverage, was_created = MonitoringCoverage.objects.get_or_create(system=system, **lookup, defaults=values)
        created += was_created
    return created


# The hosts `make demo` runs a real monit daemon for (scripts/demo_monit.sh): the Monit rows "reporting" above.
# be-3 and mysql-2 stay silent (coverage configured, no daemon); haproxy-2 and redis-2 have none.
DEMO_MONIT_DAEMONS = tuple(name for name, system, state, _failing, _minutes in DEMO_COVERAGE
                           if system == 'monit' and state == 'reporting')
_MONIT_ID_NAMESPACE = uuid.UUID('5b0c8f52-3f0e-4b7a-9a57-6d1f3c2e7a10')


def demo_monit_id(name):
    """The fixed Monit ID of the demo daemon playing `name` (32 hex digits, the form Monit generates itself).
    scripts/demo_monit.sh writes it to the daemon's `set idfile` before starting it."""
    return uuid.uuid5(_MONIT_ID_NAMESPACE, f'netbox-triage-demo/{name}').hex


def create_demo_agents(hosts=None, now=None):
    """Map each demo Monit daemon's fixed ID to its seed host, and create the collector's user (idempotent:
    existing rows are left as they are). All demo daemons run on this machine under one hostname and report
    from 127.0.0.1, so the collector could match them by their `check system` name only; the mapping by ID is
    what the collector trusts first. Returns how many agents were created."""
    from users.models import User

    from .models import MonitAgent
    from .settings import get_setting

    now = now or timezone.now()
    if hosts is None:
        hosts = {host.name: host for model in (Device, VirtualMachine)
                 for host in model.objects.filter(name__in=DEMO_MONIT_DAEMONS)}
    User.objects.get_or_create(username=get_setting('monit_collector_user'))
    created = 0
    for name in DEMO_MONIT_DAEMONS:
        host = hosts.get(name)
        if host is None:
            continue
        _agent, was_created = MonitAgent.objects.get_or_create(monit_id=demo_monit_id(name), defaults={
            'hostname': name, 'first_seen': now, 'last_seen': now, 'reports': 0,
            'device': host if isinstance(host, Device) else None,
            'virtual_machine': host if isinstance(host, VirtualMachine) else None,
            'match_note': 'mapped by the demo (netbox_triage.demo.create_demo_agents)',
        })
        created += was_created
    return created
