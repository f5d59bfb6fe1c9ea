"""Silence: Monit coverage that stopped reporting turns "silent", and the discoveries follow.

A Monit reports once per poll cycle (the ``poll`` it sends). A coverage that has not reported for
``monit_collector_missed_cycles`` of its own cycles (plus a few seconds of grace for the network and the
check run itself) is marked silent. Then every device and VM is judged by the pure ``rules.monitoring``
rule and its findings recorded through the rules runner (``record_findings``), so "monitoring went silent" and
"not monitored" are ordinary discoveries: idempotent, change-logged, with events and timeline entries; they
resolve by themselves when the reports resume (the collector calls :func:`judge_monitoring` for that host at
once).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dcim.models import Device
from virtualization.models import VirtualMachine

from ..choices import MonitoringStateChoices, MonitoringSystemChoices
from ..models import MonitoringCoverage
from ..rules.monitoring import RULE_NAME, monitoring_findings
from ..rules.runner import RulesSummary, record_findings
from ..settings import get_setting

__all__ = ('DEFAULT_POLL', 'GRACE', 'SilenceSummary', 'check_silence', 'judge_monitoring', 'mark_silent')

DEFAULT_POLL = 30  # Monit's usual cycle, when a report did not say
GRACE = timedelta(seconds=5)


@dataclass
class SilenceSummary:
    silenced: int = 0
    hosts: int = 0
    findings: int = 0
    created: int = 0
    resolved: int = 0

    def as_dict(self):
        return {'silenced': self.silenced, 'hosts': self.hosts, 'findings': self.findings, 'created': self.created,
                'resolved': self.resolved}

    def __str__(self):
        return (f'{self.silenced} coverage(s) went silent; {self.hosts} host(s) judged, {self.findings} finding(s): '
                f'{self.created} new, {self.resolved} resolved')


def silence_deadline(last_report, poll_interval, missed_cycles=None):
    """When a Monit that last reported at ``last_report`` with cycle ``poll_interval`` counts as silent."""
    missed = missed_cycles or get_setting('monit_collector_missed_cycles')
    return last_report + timedelta(seconds=missed * (poll_interval or DEFAULT_POLL)) + GRACE


def mark_silent(now=None):
    """Mark silent the Monit coverage rows past their deadline; returns their IDs. Change-logged saves (a few
    rows at a time in practice), inside whatever change-logging context the caller set."""
    now = now or timezone.now()
    missed = get_setting('monit_collector_missed_cycles')
    due = [pk for pk, last_report, poll in MonitoringCoverage.objects.filter(
        system=MonitoringSystemChoices.MONIT, state=MonitoringStateChoices.REPORTING, last_report__isnull=False,
    ).values_list('pk', 'last_report', 'poll_interval').iterator(chunk_size=5000)
        if silence_deadline(last_report, poll, missed) <= now]
    silenced = []
    with transaction.atomic():
        # Locked and checked again: a report may have arrived since the list above.
        for coverage in MonitoringCoverage.objects.select_for_update().filter(
            pk__in=due, state=MonitoringStateChoices.REPORTING,
        ):
            if silence_deadline(coverage.last_report, coverage.poll_interval, missed) > now:
                continue
            coverage.snapshot()
            coverage.state = MonitoringStateChoices.SILENT
            coverage.silent_since = now
            history = list(coverage.history or ())
            history.append({'kind': 'silent', 'at': now.isoformat(),
                            'missed_cycles': missed, 'last_report': coverage.last_report.isoformat()})
            coverage.history = history[-get_setting('monit_collector_history'):] if get_setting(
                'monit_collector_history') else []
            coverage.save()
            silenced.append(coverage.pk)
    return silenced


def _coverage_by_host(host_filter=None):
    labels = dict(MonitoringSystemChoices)
    rows = MonitoringCoverage.objects.all()
    if host_filter is not None:
        rows = rows.filter(host_filter)
    by_host = {}
    for device_id, vm_id, system, state, last_report, silent_since in rows.values_list(
        'device_id', 'virtual_machine_id', 'system', 'state', 'last_report', 'silent_since',
    ).iterator(chunk_size=5000):
        key = f'dcim.device:{device_id}' if device_id else f'virtualization.virtualmachine:{vm_id}'
        by_host.setdefault(key, []).append({
            'system': system, 'system_label': str(labels.get(system, system)), 'state': state,
            'last_report': last_report, 'silent_since': silent_since,
        })
    return by_host


def judge_monitoring(host_keys=None, now=None):
    """Judge hosts (None: every device and VM) with the monitoring rule and record the findings.

    Returns the runner's RulesSummary. Four queries plus the recorder's, whatever the number of hosts.
    """
    from django.db.models import Q

    now = now or timezone.now()
    devices, vms = Device.objects.all(), VirtualMachine.objects.all()
    host_filter = None
    if host_keys is not None:
        ids = {'dcim.device': [], 'virtualization.virtualmachine': []}
        for key in host_keys:
            label, _sep, pk = key.partition(':')
            if label in ids and pk.isdigit():
                ids[label].append(int(pk))
        devices = devices.filter(pk__in=ids['dcim.device'])
        vms = vms.filter(pk__in=ids['virtualization.virtualmachine'])
        host_filter = Q(device_id__in=ids['dcim.device']) | Q(virtual_machine_id__in=ids[
            'virtualization.virtualmachine'])
    coverage = _coverage_by_host(host_filter)
    silent_severity = get_setting('monitoring_silent_severity')
    unmonitored_severity = get_setting('monitoring_unmonitored_severity')
    findings, judged = [], []
    for label, queryset in (('dcim.device', devices), ('virtualization.virtualmachine', vms)):
        for pk, name, status in queryset.order_by().values_list('pk', 'name', 'status').iterator(chunk_size=5000):
            key = f'{label}:{pk}'
            judged.append(key)
            findings += monitoring_findings(key, name or key, coverage.get(key, []), silent_severity,
                                            unmonitored_severity, active=status == 'active')
    return record_findings(findings, per_host_rules=[RULE_NAME], host_keys=None if host_keys is None else judged,
                           now=now, summary=RulesSummary(hosts=len(judged), rules=[RULE_NAME]))


def check_silence(now=None):
    """The silence job's work: mark what went silent, then judge every host. Returns a SilenceSummary."""
    now = now or timezone.now()
    summary = SilenceSummary(silenced=len(mark_silent(now)))
    recorded = judge_monitoring(now=now)
    summary.hosts = recorded.hosts
    summary.findings, summary.created, summary.resolved = recorded.findings, recorded.created, recorded.resolved
    return summary
