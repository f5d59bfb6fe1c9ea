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
from .probing.runner import change_logging, hosts_from_keys, probe_hosts, timeouts_from_settings
from .probing.targets import host_key
from .rules.runner import run_discovery
from .settings import get_setting

__all__ = ('ProbeJob', 'RulesJob', 'TopologyJob', 'enqueue_probe', 'enqueue_rules', 'enqueue_topology',
           'latest_topology', 'probe_job_timeout', 'settle_abandoned_jobs', 'topology_preview', 'viewable_render')

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
        if summary.prober:
            self.logger.info(f'SSH connections: {summary.prober}')
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
        if abandoned := settle_abandoned_jobs(pending):
            self.logger.warning(f'{len(abandoned)} probe job(s) of this batch died with their worker; their hosts '
                                f'keep the facts they had (probe them again)')
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


def settle_abandoned_jobs(jobs, timestamp=None):
    """End, as errored, those of ``jobs`` (not yet ended) whose RQ job died with its worker; returns them.

    A worker killed mid-job leaves NetBox's Job "running" for ever. RQ notices: once the job's timeout has
    passed without the worker finishing it, cleaning the queue's started registry moves it to the failed
    registry. Each host's facts are written in a transaction of their own, so nothing half-written stays.
    """
    import django_rq
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    settled = []
    cleaned = set()
    for job in jobs:
        if job.status == JobStatusChoices.STATUS_PENDING and job.started is None:
            continue  # still queued
        queue = django_rq.get_queue(job.queue_name or 'default')
        if queue.name not in cleaned:
            StartedJobRegistry(queue=queue).cleanup(timestamp)
            cleaned.add(queue.name)
        rq_job = queue.fetch_job(str(job.job_id))
        if rq_job is None or rq_job.get_status(refresh=False) in (JobStatus.FAILED, JobStatus.STOPPED,
                                                                  JobStatus.CANCELED):
            job.terminate(status=JobStatusChoices.STATUS_ERRORED,
                          error='its RQ worker stopped before the job finished')
            settled.append(job)
    return settled


def probe_job_timeout(hosts):
    """RQ's time limit for a chunk of ``hosts``: each round of `probe_concurrency` hosts may use every timeout
    (connect, banner, authentication, command), then dependencies and rules; RQ's 300 s default is too short."""
    timeouts = timeouts_from_settings()
    per_host = timeouts.connect + timeouts.banner + timeouts.auth + timeouts.command
    rounds = -(-hosts // max(1, int(get_setting('probe_concurrency'))))
    return int(rounds * per_host) + 600


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
        jobs.append(ProbeJob.enqueue(name=name, user=user, hosts=chunk, job_timeout=probe_job_timeout(len(chunk))))
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
    """Render the topology of a site, cluster or incident as the job's user may view it: each part in a
    throw-away directory with a hard timeout (exporters.topology.render_source). The pictures, the generated
    source and the objects they show are kept in the job's data, where the topology views find the newest
    render the reader may view in full (`latest_topology`)."""

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
        self.job.data = {'object': object_key, 'group_by': group_by, 'parts': parts, 'messages': topology.messages,
                         'objects': topology.objects}
        self.job.save(update_fields=['data'])


def _topology_job_name(obj):
    return f'{TOPOLOGY_JOB}: {str(obj)[:120]} ({topology_key(obj)})'


def enqueue_topology(obj, user=None, group_by='cluster'):
    return TopologyJob.enqueue(name=_topology_job_name(obj), user=user, object_key=topology_key(obj),
                               group_by=group_by)


# A reader is shown the newest of the last RECENT_RENDERS renders of an object that they may view in full.
RECENT_RENDERS = 5


def _pending_render(obj, user):
    """The reader's own render of ``obj`` still queued or running (anyone's without a user: the CLI)."""
    jobs = Job.objects.filter(name=_topology_job_name(obj)).exclude(status__in=JobStatusChoices.TERMINAL_STATE_CHOICES)
    if user is not None:
        jobs = jobs.filter(user=user)
    return jobs.order_by('-created').first()


def viewable_render(obj, user, group_by=None):
    """The pk of the newest completed render of ``obj`` that shows ``user`` nothing they may not view, or None.

    Renders are shared, but one made by someone who sees more (an admin) must not show a tenant-restricted
    reader the other tenants' hosts: of the RECENT_RENDERS newest, the first whose recorded objects the
    reader may all view wins. Costs one query plus one per model, whatever the number of nodes. Without a
    user (the CLI) or for a superuser, the newest render.
    """
    from .exporters.topology import shows_only, visible_objects

    renders = Job.objects.filter(name__startswith=TOPOLOGY_JOB, data__object=topology_key(obj),
                                 status=JobStatusChoices.STATUS_COMPLETED)
    if group_by:
        renders = renders.filter(data__group_by=group_by)
    renders = renders.order_by('-completed', '-pk')
    if user is None or (user.is_active and user.is_superuser):
        return renders.values_list('pk', flat=True).first()
    rows = list(renders.values_list('pk', 'data__objects')[:RECENT_RENDERS])
    visible = visible_objects([objects for _pk, objects in rows], user) if rows else {}
    return next((pk for pk, objects in rows if shows_only(objects, visible)), None)


def latest_topology(obj, user, group_by=None):
    """(the reader's pending render, the newest completed render they may view in full) of ``obj``, each or None:
    the topology page, its downloads, the REST API and the post-mortem show that render's pictures."""
    pk = viewable_render(obj, user, group_by)
    return _pending_render(obj, user), Job.objects.filter(pk=pk).first() if pk else None


def topology_preview(obj, user):
    """What an object page's Topology panel shows ``user``: (pending render, viewable render without its data,
    grouping, the first part's SVG). Only those two keys of the job's data leave the database, not every PNG."""
    from django.db.models.fields.json import KT

    pending, pk = _pending_render(obj, user), viewable_render(obj, user)
    job = pk and Job.objects.defer('data').annotate(
        topology_group_by=KT('data__group_by'), topology_svg=KT('data__parts__0__svg')).filter(pk=pk).first()
    if not job:
        return pending, None, 'cluster', None
    return pending, job, job.topology_group_by or 'cluster', job.topology_svg
