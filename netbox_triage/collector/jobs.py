"""The silence job: a NetBox system job, every minute, on the RQ workers (thin: the work is in silence.py)."""

from netbox.jobs import JobRunner, system_job

from ..probing.runner import change_logging
from .auth import collector_user
from .silence import check_silence

__all__ = ('MonitoringSilenceJob',)


@system_job(interval=1)
class MonitoringSilenceJob(JobRunner):
    """Mark Monit coverage silent after missed cycles and keep the monitoring discoveries in step."""

    class Meta:
        name = 'Triage monitoring silence'

    def run(self, *args, **kwargs):
        # Changes are change-logged as the collector's user when it exists (the same user its reports write as).
        with change_logging(collector_user()):
            summary = check_silence()
        self.logger.info(str(summary))
        self.job.data = {'silence': summary.as_dict()}
        self.job.save(update_fields=['data'])
