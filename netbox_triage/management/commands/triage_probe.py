from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dcim.models import Device
from users.models import User
from virtualization.models import VirtualMachine

from netbox_triage.jobs import enqueue_probe
from netbox_triage.probing.dependencies import record_dependencies
from netbox_triage.probing.runner import change_logging, probe_hosts
from netbox_triage.rules.runner import run_discovery


def add_host_filters(parser):
    """The host selection shared by triage_probe and the commands that follow it."""
    parser.add_argument('--site', action='append', default=[], help='site slug (repeatable)')
    parser.add_argument('--role', action='append', default=[], help='device/VM role slug (repeatable)')
    parser.add_argument('--tag', action='append', default=[], help='tag slug (repeatable)')
    parser.add_argument('--device', action='append', default=[], help='device name (repeatable)')
    parser.add_argument('--vm', action='append', default=[], help='virtual machine name (repeatable)')
    parser.add_argument('--all', action='store_true', help='every device and virtual machine')


def select_hosts(options):
    """Devices and VMs matching the filters, devices first."""
    if not (options['all'] or options['site'] or options['role'] or options['tag'] or options['device']
            or options['vm']):
        raise CommandError('choose hosts: --all, or --site/--role/--tag/--device/--vm')
    querysets = []
    for model, names in ((Device, options['device']), (VirtualMachine, options['vm'])):
        if (options['device'] or options['vm']) and not names:
            continue
        qs = model.objects.all()
        if options['site']:
            qs = qs.filter(site__slug__in=options['site'])
        if options['role']:
            qs = qs.filter(role__slug__in=options['role'])
        for tag in options['tag']:
            qs = qs.filter(tags__slug=tag)
        if names:
            qs = qs.filter(name__in=names)
        querysets.append(qs.order_by('name'))
    hosts = [host for qs in querysets for host in qs]
    if not hosts:
        raise CommandError('no device or virtual machine matches these filters')
    return hosts


class Command(BaseCommand):
    help = 'Probe devices and virtual machines over SSH and record their facts.'

    def add_arguments(self, parser):
        add_host_filters(parser)
        parser.add_argument('--enqueue', action='store_true', help='run as background jobs on the RQ workers')
        parser.add_argument('--user', help='record changes in the changelog as this NetBox user')
        parser.add_argument('--no-rules', action='store_true', help='do not run the discovery rules afterwards')

    def handle(self, *args, **options):
        hosts = select_hosts(options)
        user = None
        if options['user']:
            user = User.objects.filter(username=options['user']).first()
            if user is None:
                raise CommandError(f"no NetBox user {options['user']!r}")
        console = Console(file=self.stdout, highlight=False)
        if options['enqueue']:
            jobs = enqueue_probe(hosts, user=user)
            console.print(f'enqueued {len(jobs)} job(s) for {len(hosts)} host(s):')
            for job in jobs:
                console.print(f'  job #{job.pk} {job.job_id}')
            return

        # Redrawn as results are recorded, not by rich's refresh thread: a process with no other thread may run
        # the SSH connections in a forked child (probing/forked.py).
        with Progress(TextColumn('probing'), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=not console.is_terminal, auto_refresh=False) as progress:
            task = progress.add_task('probe', total=len(hosts))
            with change_logging(user):
                summary = probe_hosts(hosts, on_progress=lambda s: progress.update(task, completed=s.done,
                                                                                   refresh=True))

        console.print(f'scope: {summary.scope}')
        if summary.prober:
            console.print(f'SSH connections: {summary.prober}')
        with change_logging(user):
            dependencies = record_dependencies(hosts)
        console.print(f'dependencies: {dependencies.created} new, {dependencies.refreshed} seen again, '
                      f'{dependencies.unknown} connection(s) to hosts NetBox does not know')
        if not options['no_rules']:
            devices = Device.objects.filter(pk__in=[h.pk for h in hosts if isinstance(h, Device)])
            vms = VirtualMachine.objects.filter(pk__in=[h.pk for h in hosts if isinstance(h, VirtualMachine)])
            with change_logging(user):
                rules = run_discovery(devices, vms, fleet=len(hosts) > 1, log=lambda message: None)
            console.print(f'rules: {rules}')
        table = Table(title=f'{summary.done} host(s) probed, {summary.changed} changed')
        table.add_column('status')
        table.add_column('hosts', justify='right')
        for status, count in sorted(summary.statuses.items()):
            table.add_row(status, str(count))
        console.print(table)
        if summary.failures:
            failures = Table(title='not probed')
            for column in ('host', 'status', 'reason'):
                failures.add_column(column)
            for name, status, error in summary.failures:
                failures.add_row(Text(name), Text(status), Text(error))  # probe output is not markup
            console.print(failures)
            raise SystemExit(1)
