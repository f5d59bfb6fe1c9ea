"""Background jobs. Thin: they load their targets and call the domain code in probing/."""

import time
from datetime import timedelta

from django.utils import timezone

from core.choices import JobStatusChoices
from core.models import Job
from dcim.models import Device
from netbox.jobs import JobRunner
from virtualization.models import VirtualMachine

from .probing.runner import change_logging, hosts_from_keys, probe_hosts
from .probing.targets import host_key
from .rules.runner import run_discovery
from .settings import get_setting

__all__ = ('ProbeJob', 'RulesJob', 'enqueue_probe', 'enqueue_rules')

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
        # The per-host rules judge what was just probed; fleet rules run once per batch (RulesJob).
        devices, vms = _querysets(hosts)
        with change_logging(self.job.user):
            rules = run_discovery(devices, vms, fleet=False, log=self.logger.info)
        self.job.data = {'progress': summary.as_dict(), 'rules': rules.as_dict()}
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
