"""Background jobs. Thin: they load their targets and call the domain code in probing/."""

import time

from netbox.jobs import JobRunner

from .probing.runner import change_logging, hosts_from_keys, probe_hosts
from .probing.targets import host_key
from .settings import get_setting

__all__ = ('ProbeJob', 'enqueue_probe')


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
    return jobs
