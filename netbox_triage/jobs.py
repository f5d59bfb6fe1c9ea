"""Background jobs. Thin: they load their targets and call the domain code in probing/."""

import time
from datetime import timedelta

from django.utils import timezone

from core.choices import JobStatusChoices
from core.models import Job
from dcim.models import Device
from netbox.jobs import JobRunner
from virtualization.models import VirtualMachine

from .probing.dependencies import record_dependencies
from .probing.runner import change_logging, hosts_from_keys, probe_hosts
from .probing.targets import host_key
from .rules.runner import run_discovery
from .settings import get_setting

__all__ = ('ProbeJob', 'RulesJob', 'TopologyJob', 'enqueue_probe', 'enqueue_rules', 'enqueue_topology',
           'latest_topology', 'topology_preview')

# A fleet rules job waits for the probe jobs of its batch: it looks again every WAIT_STEP, up to WAIT_LIMIT.
WAIT_STEP = timedelta(seconds=10)
WAIT_LIMIT = timedelta(hours=2)


def _querysets(keys):
    """Host keys → (devices, VMs) querysets."""
    ids = {'dcim.device': [], 'virtualization.virtualmachine': []}
    for key in keys:
        label, _sep, pk = key.partition(':')
        if label in ids and pk.isdigit():
            ids[label].append(int(pk))
    return (Device.objects.filter(pk__in=ids['dcim.device']),
            VirtualMachine.objects.filter(pk__in=ids['virtualization.virtualmachine']))


class ProbeJob(JobRunner):
    """Probe one chunk of hosts. A bulk run is split into chunks so several RQ workers share it."""

    class Meta:
        name = 'Triage probe'

    def run(self, hosts, *args, **kwargs):
        targets = hosts_from_keys(hosts)
        self.logger.info(f'probing {len(targets)} host(s)')
        last_save = [0.0]

        def progress(summary):
            now = time.monotonic()
            if now - last_save[0] > 2 or summary.done == summary.total:
                last_save[0] = now
                self.job.data = {'progress': summary.as_dict()}
                self.job.save(update_fields=['data'])

        with change_logging(self.job.user):
            summary = probe_hosts(targets, on_progress=progress, log=self.logger.warning)
        self.logger.info(f'scope: {summary.scope}')
        counts = ', '.join(f'{status}: {count}' for status, count in sorted(summary.statuses.items()))
        self.logger.info(f'done: {summary.done}/{summary.total} ({counts}); {summary.changed} changed')
        self.job.data = {'progress': summary.as_dict()}
        self.job.save(update_fields=['data'])
        # Established connections become discovered dependencies; the per-host rules judge what was just
        # probed (fleet rules run once per batch, in a RulesJob).
        devices, vms = _querysets(hosts)
        with change_logging(self.job.user):
            dependencies = record_dependencies(hosts)
            self.logger.info(f'dependencies: {dependencies.created} new, {dependencies.refreshed} seen again, '
                             f'{dependencies.unknown} connection(s) to hosts NetBox does not know')
            rules = run_discovery(devices, vms, fleet=False, log=self.logger.info)
        self.job.data = {'progress': summary.as_dict(), 'dependencies': dependencies.as_dict(),
                         'rules': rules.as_dict()}
        self.job.save(update_fields=['data'])


class RulesJob(JobRunner):
    """Run the discovery rules: per-host rules on some hosts (or all), fleet rules over the whole fleet.

    After a bulk probe it waits for the batch's probe jobs (``after``), so drift and redundancy are judged
    on fresh facts whichever worker finishes last.
    """

    class Meta:
        name = 'Triage rules'

    def run(self, hosts=None, only=None, fleet=True, after=(), waited=0, *args, **kwargs):
        pending = Job.objects.filter(pk__in=after).exclude(status__in=JobStatusChoices.TERMINAL_STATE_CHOICES)
        if pending.exists() and timedelta(seconds=waited) < WAIT_LIMIT:
            count = pending.count()
            self.logger.info(f'waiting for {count} probe job(s) of this batch; looking again in '
                             f'{WAIT_STEP.seconds} s')
            RulesJob.enqueue(name=self.job.name, user=self.job.user, schedule_at=timezone.now() + WAIT_STEP,
                             hosts=hosts, only=only, fleet=fleet, after=list(after),
                             waited=waited + int(WAIT_STEP.total_seconds()))
            return
        devices, vms = _querysets(hosts) if hosts is not None else (None, None)
        with change_logging(self.job.user):
            summary = run_discovery(devices, vms, fleet=fleet, only=only, log=self.logger.info)
        self.job.data = {'rules': summary.as_dict()}
        self.job.save(update_fields=['data'])


def enqueue_probe(hosts, user=None):
    """Enqueue probe jobs for devices/VMs, `probe_chunk_size` hosts per job; returns the jobs."""
    keys = [host_key(host) for host in hosts]
    size = max(1, int(get_setting('probe_chunk_size')))
    chunks = [keys[i:i + size] for i in range(0, len(keys), size)]
    jobs = []
    for index, chunk in enumerate(chunks, start=1):
        name = 'Triage probe' if len(chunks) == 1 else f'Triage probe ({index}/{len(chunks)})'
        if len(keys) == 1:
            name = f'Triage probe: {hosts[0].name}'[:200]
        # Devices and VMs do not take jobs (no JobsMixin), so the job names its hosts in its data.
        jobs.append(ProbeJob.enqueue(name=name, user=user, hosts=chunk))
    if len(keys) > 1:
        jobs.append(RulesJob.enqueue(name='Triage rules (fleet, after probe)', user=user, hosts=[], fleet=True,
                                     after=[job.pk for job in jobs]))
    return jobs


def enqueue_rules(hosts=None, user=None, only=None, fleet=True):
    """Enqueue a rules job for some devices/VMs (None: every host)."""
    keys = None if hosts is None else [host_key(host) for host in hosts]
    return RulesJob.enqueue(name='Triage rules', user=user, hosts=keys, only=only, fleet=fleet)


# What a topology can be drawn for: the object pages that show one.
TOPOLOGY_MODELS = {'dcim.site', 'virtualization.cluster', 'netbox_triage.incident'}
TOPOLOGY_JOB = 'Triage topology'


def topology_key(obj):
    return f'{obj._meta.label_lower}:{obj.pk}'


class TopologyJob(JobRunner):
    """Render the topology of a site, cluster or incident: each part in a throw-away directory with a hard
    timeout (exporters.topology.render_source). The pictures and the generated source are kept in the
    job's data, where the topology views read the latest one."""

    class Meta:
        name = TOPOLOGY_JOB

    def run(self, object_key, group_by='cluster', *args, **kwargs):
        import base64

        from django.apps import apps

        from .exporters.topology import render_topology, topology_for_object

        label, _sep, pk = object_key.partition(':')
        if label not in TOPOLOGY_MODELS:
            raise ValueError(f'no topology for {object_key!r}')
        obj = apps.get_model(label).objects.get(pk=int(pk))
        topology = topology_for_object(obj, group_by=group_by, user=self.job.user)
        parts = []
        for index, graph in enumerate(topology.parts, start=1):
            self.logger.info(f'rendering part {index}/{len(topology.parts)}: {len(graph.nodes)} node(s)')
            render = render_topology(graph)
            if render.message:
                self.logger.warning(render.message)
            parts.append({
                'title': graph.title, 'nodes': len(graph.nodes), 'edges': len(graph.edges),
                'svg': render.svg, 'png': base64.b64encode(render.png).decode() if render.png else None,
                'source': render.source, 'message': render.message, 'seconds': round(render.seconds, 2),
            })
        for message in topology.messages:
            self.logger.info(message)
        self.job.data = {'object': object_key, 'group_by': group_by, 'parts': parts, 'messages': topology.messages}
        self.job.save(update_fields=['data'])


def _topology_job_name(obj):
    return f'{TOPOLOGY_JOB}: {str(obj)[:120]} ({topology_key(obj)})'


def enqueue_topology(obj, user=None, group_by='cluster'):
    return TopologyJob.enqueue(name=_topology_job_name(obj), user=user, object_key=topology_key(obj),
                               group_by=group_by)


def latest_topology(obj, group_by=None):
    """The newest topology job of ``obj`` (any state), or None: the views show its pictures or its progress."""
    jobs = Job.objects.filter(name__startswith=TOPOLOGY_JOB, data__object=topology_key(obj))
    if group_by:
        jobs = jobs.filter(data__group_by=group_by)
    pending = Job.objects.filter(name=_topology_job_name(obj)).exclude(
        status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).order_by('-created').first()
    return pending, jobs.filter(status=JobStatusChoices.STATUS_COMPLETED).order_by('-completed').first()


def topology_preview(obj):
    """What an object page's Topology panel shows: (pending job, completed job without its data, grouping, the
    first part's SVG). Only those two keys of the job's data leave the database, not every part's PNG."""
    pending = Job.objects.filter(name=_topology_job_name(obj)).exclude(
        status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).order_by('-created').first()
    row = (Job.objects.filter(name__startswith=TOPOLOGY_JOB, data__object=topology_key(obj),
                              status=JobStatusChoices.STATUS_COMPLETED)
           .order_by('-completed').values_list('pk', 'data__group_by', 'data__parts__0__svg').first())
    if row is None:
        return pending, None, 'cluster', None
    job = Job.objects.defer('data').get(pk=row[0])
    return pending, job, row[1] or 'cluster', row[2]
