from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dcim.models import Device
from users.models import User
from virtualization.models import VirtualMachine

from netbox_triage.jobs import enqueue_rules
from netbox_triage.models import Discovery
from netbox_triage.models.discoveries import SEVERITY_ORDER
from netbox_triage.probing.runner import change_logging
from netbox_triage.rules import registry
from netbox_triage.rules.runner import run_discovery

from .triage_probe import add_host_filters, select_hosts


class Command(BaseCommand):
    help = ('Run the discovery rules and record their findings as discoveries. Without host filters every host is '
            'judged; fleet rules (drift, redundancy) always judge the whole fleet.')

    def add_arguments(self, parser):
        add_host_filters(parser)
        parser.add_argument('--rule', action='append', default=None, help='run only this rule (repeatable)')
        parser.add_argument('--no-fleet', action='store_true', help='skip the fleet rules')
        parser.add_argument('--list', action='store_true', help='list the rules and their settings, run nothing')
        parser.add_argument('--enqueue', action='store_true', help='run as a background job on the RQ workers')
        parser.add_argument('--user', help='record changes in the changelog (and raise events) as this NetBox user')

    def handle(self, *args, **options):
        console = Console(file=self.stdout, highlight=False)
        if options['list']:
            table = Table(title='discovery rules')
            for column in ('rule', 'scope', 'title', 'settings'):
                table.add_column(column)
            for rule in registry:
                table.add_row(rule.name, 'fleet' if rule.has_fleet() else 'per host', rule.title,
                              Text(repr(rule.default_settings)))
            console.print(table)
            return
        try:
            registry.select(options['rule'])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        filtered = any(options[name] for name in ('site', 'role', 'tag', 'device', 'vm'))
        hosts = select_hosts(options) if filtered else None
        user = None
        if options['user']:
            user = User.objects.filter(username=options['user']).first()
            if user is None:
                raise CommandError(f"no NetBox user {options['user']!r}")
        if options['enqueue']:
            job = enqueue_rules(hosts, user=user, only=options['rule'], fleet=not options['no_fleet'])
            console.print(f'enqueued job #{job.pk} {job.job_id}')
            return

        devices = vms = None
        if hosts is not None:
            devices = Device.objects.filter(pk__in=[h.pk for h in hosts if isinstance(h, Device)])
            vms = VirtualMachine.objects.filter(pk__in=[h.pk for h in hosts if isinstance(h, VirtualMachine)])
        with change_logging(user):
            summary = run_discovery(devices, vms, fleet=not options['no_fleet'], only=options['rule'],
                                    log=lambda message: None)

        table = Table(title=f'{summary.hosts} host(s) judged by {len(summary.rules)} rule(s): '
                            f'{summary.findings} finding(s)')
        table.add_column('discoveries')
        table.add_column('count', justify='right')
        for label, value in (('new', summary.created), ('back (were resolved)', summary.reopened),
                             ('updated', summary.updated), ('resolved', summary.resolved),
                             ('unchanged', summary.unchanged), ('false positives, still quiet', summary.quiet),
                             ('HTTP checks made', summary.http_checks),
                             ('timeline entries written', summary.timeline_entries)):
            table.add_row(label, str(value))
        console.print(table)

        active = Discovery.objects.active().filter(rule__in=summary.rules)
        if hosts is not None:
            keys = [f'{h._meta.label_lower}:{h.pk}' for h in hosts]
            active = active.filter(subject_key__in=keys)
        worst = Table(title='open discoveries, worst first (up to 30)')
        for column in ('severity', 'discovery', 'id'):
            worst.add_column(column)
        for discovery in active.order_by(SEVERITY_ORDER, 'title')[:30]:
            worst.add_row(discovery.severity, Text(discovery.title), str(discovery.pk))  # names are not markup
        console.print(worst)
