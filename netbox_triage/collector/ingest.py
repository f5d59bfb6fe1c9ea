"""Turn one parsed Monit report into NetBox state: the agent, its host's Monit coverage and its history.

Hot path (a known agent, nothing new): three queries and one UPDATE each, no changelog entry, since a fleet
reports every cycle. A full, change-logged save (as the collector's user, inside the request) happens only
when something a person cares about changes: the coverage is created, its state changes (silent → reporting),
the set of check types or the Monit version changes, or an agent is first seen or matched.

History is compact: consecutive reports with the same failing checks collapse into one entry
(``{"kind": "status", "from", "to", "reports", "failed", "checks"}``); events (a check failed or recovered,
Monit started or stopped) are always kept; only the last ``monit_collector_history`` entries stay.
"""

import ipaddress
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from dcim.models import Device
from virtualization.models import VirtualMachine

from ..choices import MonitoringStateChoices, MonitoringSystemChoices
from ..models import MonitAgent, MonitoringCoverage
from ..settings import get_setting

__all__ = ('IngestResult', 'ingest_report', 'match_host')

MAX_CHECKS = 500
MAX_FAILED_LISTED = 10


@dataclass
class IngestResult:
    outcome: str  # 'reporting' or 'unknown_host'
    agent_id: int
    host_key: str = ''
    coverage_id: int | None = None
    resumed: bool = False  # the coverage was silent (or not reporting) before this report
    note: str = ''


def _host_key(host):
    return f'{host._meta.label_lower}:{host.pk}'


def _unique(devices, vms):
    hosts = list(devices[:2]) + list(vms[:2])
    return hosts[0] if len(hosts) == 1 else None, len(hosts)


def _usable_address(value):
    try:
        address = ipaddress.ip_address((value or '').strip().strip('[]'))
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified or address.is_link_local or address.is_multicast:
        return None  # every host has these: they name no one
    return str(address)


def match_host(hostname, addresses=()):
    """(device or VM, how it matched) for a Monit agent; (None, why not) when there is no single match.

    By the host name Monit reports (its `check system` name, by default the machine's hostname), case
    insensitive, then by its short name (before the first dot), then by the addresses the report came from
    (primary IPs and interface addresses; loopback and link-local addresses name no one).
    """
    notes = []
    names = [hostname] if hostname else []
    if hostname and '.' in hostname.strip('.'):
        names.append(hostname.split('.', 1)[0])
    for name in names:
        host, count = _unique(Device.objects.filter(name__iexact=name),
                              VirtualMachine.objects.filter(name__iexact=name))
        if host is not None:
            return host, f'matched by host name {name!r}'
        if count > 1:
            notes.append(f'host name {name!r} names several devices/VMs')
    for value in addresses:
        address = _usable_address(value)
        if address is None:
            continue
        query = (Q(primary_ip4__address__net_host=address) | Q(primary_ip6__address__net_host=address)
                 | Q(interfaces__ip_addresses__address__net_host=address))
        host, count = _unique(Device.objects.filter(query).distinct(), VirtualMachine.objects.filter(query).distinct())
        if host is not None:
            return host, f'matched by address {address}'
        if count > 1:
            notes.append(f'address {address} belongs to several devices/VMs')
    if not notes:
        notes.append(f'no device or VM named {hostname!r}' + (
            f' or with address {", ".join(a for a in addresses if a)}' if any(addresses) else ''))
    return None, '; '.join(notes)[:300]


def _status_entry(report, now):
    failed = report.failed
    return {'kind': 'status', 'from': now.isoformat(), 'to': now.isoformat(), 'reports': 1,
            'checks': len(report.checks), 'failed': failed[:MAX_FAILED_LISTED], 'failed_count': len(failed),
            'uptime': report.uptime}


def _history(history, report, now):
    """The new history: the report folded into the last status entry when nothing failed differently."""
    limit = get_setting('monit_collector_history')
    history = [dict(item) for item in history or () if isinstance(item, dict)]
    if report.event is not None:
        event = report.event.as_dict()
        event['at'] = event['at'] or now.isoformat()
        history.append(event)
    entry = _status_entry(report, now)
    last = next((item for item in reversed(history) if item.get('kind') == 'status'), None)
    restarted = last is not None and report.uptime is not None and (last.get('uptime') or 0) > report.uptime
    if (last is not None and history and history[-1] is last and not restarted
            and last.get('failed') == entry['failed'] and last.get('failed_count') == entry['failed_count']
            and last.get('checks') == entry['checks']):
        last.update(to=entry['to'], reports=last.get('reports', 1) + 1, uptime=report.uptime)
    else:
        history.append(entry)
    return history[-limit:] if limit else []


def _ui_url(report):
    """Monit's own web interface, when it listens on an address others can reach (not localhost)."""
    address = _usable_address(report.httpd_address)
    if address is None or not report.httpd_port:
        return ''
    host = f'[{address}]' if ':' in address else address
    return f'http://{host}:{report.httpd_port}/'


def _agent_values(report, client_address, now):
    return {
        'hostname': report.hostname, 'address': client_address or None,
        'httpd_address': report.httpd_address, 'version': report.version, 'last_seen': now,
    }


def ingest_report(report, client_address=None, now=None):
    """Record ``report`` (a :class:`~.parser.MonitReport`) received from ``client_address``.

    Call inside NetBox's ``event_tracking`` (the collector view, as the collector's user) for the
    change-logged saves to be attributed. Returns an :class:`IngestResult`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        agent = (MonitAgent.objects.select_for_update(of=('self',)).select_related('device', 'virtual_machine')
                 .filter(monit_id=report.monit_id).first())
        values = _agent_values(report, client_address, now)
        if agent is None or not agent.is_mapped:
            host, note = match_host(report.hostname, (client_address, report.httpd_address))
            if agent is None:
                agent = MonitAgent(monit_id=report.monit_id, first_seen=now, reports=0, **values)
            else:
                agent.snapshot()
            for name, value in values.items():
                setattr(agent, name, value)
            agent.reports += 1
            agent.match_note = note
            if host is not None:
                agent.device = host if isinstance(host, Device) else None
                agent.virtual_machine = host if isinstance(host, VirtualMachine) else None
            if agent.pk is None or host is not None:
                agent.full_clean()
                agent.save()
            else:  # still unknown: no changelog entry every cycle
                MonitAgent.objects.filter(pk=agent.pk).update(reports=F('reports') + 1, match_note=note, **values)
            if host is None:
                return IngestResult('unknown_host', agent.pk, note=note)
        else:
            MonitAgent.objects.filter(pk=agent.pk).update(reports=F('reports') + 1, **values)
        host = agent.host
        return _record_coverage(report, agent, host, now)


def _record_coverage(report, agent, host, now):
    checks = [check.as_dict() for check in report.checks[:MAX_CHECKS]]
    is_device = isinstance(host, Device)
    lookup = {'device': host} if is_device else {'virtual_machine': host}
    coverage = (MonitoringCoverage.objects.select_for_update()
                .filter(system=MonitoringSystemChoices.MONIT, **lookup).first())
    values = {
        'state': MonitoringStateChoices.REPORTING,
        'checks': checks,
        'check_types': report.check_types,
        'failing_checks': len(report.failed),
        'last_report': now,
        'silent_since': None,
        'poll_interval': report.poll if report.poll and report.poll > 0 else None,
        'agent_version': report.version,
        'agent_uptime': report.uptime if report.uptime is not None and report.uptime >= 0 else None,
        'reported_hostname': report.hostname,
    }
    if coverage is None:
        coverage = MonitoringCoverage(system=MonitoringSystemChoices.MONIT, **lookup, **values,
                                      ui_url=_ui_url(report), history=_history([], report, now))
        coverage.full_clean()
        coverage.save()
        return IngestResult('reporting', agent.pk, _host_key(host), coverage.pk, resumed=True,
                            note=agent.match_note)
    resumed = coverage.state != MonitoringStateChoices.REPORTING
    logged = (resumed or coverage.check_types != values['check_types']
              or coverage.agent_version != values['agent_version'])
    if logged:
        coverage.snapshot()
    values['history'] = _history(coverage.history, report, now)
    if not coverage.ui_url:
        values['ui_url'] = _ui_url(report)
    if logged:
        for name, value in values.items():
            setattr(coverage, name, value)
        coverage.save()
    else:
        MonitoringCoverage.objects.filter(pk=coverage.pk).update(**values)
    return IngestResult('reporting', agent.pk, _host_key(host), coverage.pk, resumed=resumed,
                        note=agent.match_note)
