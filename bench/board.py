"""Benchmark of the triage board (netbox_triage.board and its template), written to docs/benchmarks.md.

Creates a throwaway database from the migrated template (`netbox_triage_template`) and fills it in two steps: first
1,000 hosts, then up to 10,000 (8 devices for 2 VMs) over 20 sites, 8 roles, 50 clusters and 10 tags (none, one or
two per host), each with probe facts (most ok, some failed, stale or never probed), 2.5 active discoveries per host
on average, one or two monitoring coverage rows on most hosts, 20 open incidents with loss rates and 5,000 timeline
entries. After each step it times board_figures() for each grouping (superuser, and a user whose object
permissions limit devices to half the sites), the board template's render, both dashboard widgets, and the whole
page as a browser asks for it (Django's test client, logged in: the superuser in each grouping, the limited user
by site), and counts the queries: the count must not move between 1,000 and 10,000 hosts. Bar: the whole page
under 500 ms at 10,000 hosts. The database is dropped at the end (unless --keep-db); the section between the
markers in docs/benchmarks.md is replaced (re-read just before it is written), unless --no-doc or a --hosts
other than 10,000 (a quick check never overwrites the figures). Nothing connects anywhere. Usage:

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/board.py [--hosts 10000] [--rounds 5] [--no-doc]
    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/board.py --hosts 500 --rounds 2   # a quick check
"""

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import log, measure, throwaway_database, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_board')
os.environ.setdefault('TRIAGE_REDIS_DB', '12')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

BEGIN = '<!-- bench/board.py: begin -->'
END = '<!-- bench/board.py: end -->'
BAR_SECONDS = 0.5
DOC_HOSTS = 10000  # the size the bar names; only a run at this size writes docs/benchmarks.md
SITES, ROLES, CLUSTERS, TAGS = 20, 8, 50, 10
INCIDENTS, TIMELINE_ENTRIES = 20, 5000


class Fixture:
    """Bulk-created data (no signals, so no per-object jobs); `grow(n)` adds hosts up to n in all."""

    def __init__(self):
        from unittest import mock

        from dcim.models import DeviceRole, DeviceType, Manufacturer, Site
        from extras.jobs import RenderConfigContextJob
        from extras.models import Tag
        from virtualization.models import Cluster, ClusterType

        from netbox_triage.models import BusinessImpact, Incident, TimelineEntry
        from netbox_triage.probing.facts import parse_probe_output

        self.now = datetime.now(UTC)
        self.hosts = 0
        self.profiles = [parse_probe_output(path.read_bytes()).facts
                         for path in sorted((REPO / 'netbox_triage' / 'fleet' / 'profiles').glob('*.out'))]
        self.patch = mock.patch.object(RenderConfigContextJob, 'enqueue_once')
        with self.patch:
            manufacturer = Manufacturer.objects.create(name='Bench', slug='bench')
            self.device_type = DeviceType.objects.create(manufacturer=manufacturer, model='Server', slug='server')
            self.roles = DeviceRole.objects.bulk_create(DeviceRole(name=f'Role {i}', slug=f'role-{i}')
                                                        for i in range(ROLES))
            self.sites = Site.objects.bulk_create(Site(name=f'Site {i:02d}', slug=f'site-{i:02d}')
                                                  for i in range(SITES))
            cluster_type = ClusterType.objects.create(name='KVM', slug='kvm')
            self.clusters = Cluster.objects.bulk_create(Cluster(name=f'Cluster {i:02d}', type=cluster_type)
                                                        for i in range(CLUSTERS))
            self.tags = Tag.objects.bulk_create(Tag(name=f'Tag {i}', slug=f'tag-{i}') for i in range(TAGS))
            incidents = Incident.objects.bulk_create(
                Incident(title=f'Incident {i}', status='investigating' if i % 3 else 'mitigating',
                         severity=('critical', 'high', 'medium')[i % 3], started_at=self.now - timedelta(hours=1 + i))
                for i in range(INCIDENTS))
            BusinessImpact.objects.bulk_create(
                BusinessImpact(incident=incident, effective_from=incident.started_at + timedelta(minutes=30 * k),
                               loss_per_day=(1_000_000, 200_000, 50_000)[k], currency='USD')
                for incident in incidents for k in range(3))
            TimelineEntry.objects.bulk_create(
                (TimelineEntry(incident=incidents[i % INCIDENTS], timestamp=self.now - timedelta(seconds=i),
                               kind='note', text=f'Entry **{i}**') for i in range(TIMELINE_ENTRIES)), batch_size=2000)

    def grow(self, total):
        from django.contrib.contenttypes.models import ContentType
        from django.db import connection
        from django.db.models import F

        from dcim.models import Device
        from extras.models import TaggedItem
        from virtualization.models import VirtualMachine

        from netbox_triage.models import Discovery, HostFacts, MonitoringCoverage

        started = time.monotonic()
        new = range(self.hosts, total)
        with self.patch:
            # Every fifth host is a VM.
            devices = Device.objects.bulk_create(
                (Device(name=f'host-{i:05d}', device_type=self.device_type, role=self.roles[i % ROLES],
                        site=self.sites[i % SITES], cluster=self.clusters[i % CLUSTERS] if i % 3 == 0 else None,
                        status='active') for i in new if i % 5), batch_size=2000)
            machines = VirtualMachine.objects.bulk_create(
                (VirtualMachine(name=f'host-{i:05d}', cluster=self.clusters[i % CLUSTERS], role=self.roles[i % ROLES],
                                site=self.sites[i % SITES], status='active') for i in new if i % 5 == 0),
                batch_size=2000)
        hosts = [*devices, *machines]
        types = {model: ContentType.objects.get_for_model(model) for model in (Device, VirtualMachine)}
        TaggedItem.objects.bulk_create(
            (TaggedItem(content_type=types[type(host)], object_id=host.pk, tag=self.tags[(host.pk + k) % TAGS])
             for host in hosts for k in range(host.pk % 3)), batch_size=5000)

        facts = []
        for n, host in enumerate(hosts):
            lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
            roll = host.pk % 20
            if roll == 0:
                facts.append(HostFacts(status='never', **lookup))
                continue
            status = ('unreachable', 'timeout', 'auth_failed')[roll % 3] if roll in (1, 2, 3) else 'ok'
            probed = self.now - (timedelta(days=10) if roll in (4, 5) else timedelta(minutes=n % 600))
            facts.append(HostFacts(status=status, probed_at=probed, last_ok_at=probed if status == 'ok' else None,
                                   facts=self.profiles[n % len(self.profiles)] if status == 'ok' else {}, **lookup))
        facts = HostFacts.objects.bulk_create(facts, batch_size=1000)
        # As the probe leaves them: saved before the last probe, except one host in ten whose facts changed at it.
        pks = [f.pk for f in facts]
        HostFacts.objects.filter(pk__in=pks).update(last_updated=F('probed_at') - timedelta(minutes=5))
        HostFacts.objects.filter(pk__in=pks[::10], probed_at__isnull=False).update(
            last_updated=F('probed_at') + timedelta(seconds=1))

        severities = ('critical', 'high', 'medium', 'low', 'info')
        discoveries = []
        for host in hosts:
            for k in range(host.pk % 6):  # 0..5, 2.5 on average
                discoveries.append(Discovery(
                    object_type=types[type(host)], object_id=host.pk, subject_key=f'{host._meta.label_lower}:{host.pk}',
                    rule='bench', severity=severities[(host.pk + k) % 5 if k else 2 + host.pk % 3],
                    status='open' if k % 4 else 'acknowledged', title=f'Finding {k} on {host.name}',
                    fingerprint=f'bench-{k}'))
        Discovery.objects.bulk_create(discoveries, batch_size=5000)
        coverage = []
        for host in hosts:
            lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
            roll = host.pk % 10
            if roll < 7:
                coverage.append(MonitoringCoverage(
                    system='monit', state=('reporting', 'reporting', 'configured', 'planned', 'silent', 'none',
                                           'reporting')[roll], **lookup))
            if roll in (0, 5):
                coverage.append(MonitoringCoverage(system='zabbix', state='configured', **lookup))
        MonitoringCoverage.objects.bulk_create(coverage, batch_size=5000)
        self.hosts = total
        log(f'fixture: {total} hosts ({len(devices)} devices, {len(machines)} VMs added), {len(discoveries)} '
            f'discoveries, {len(coverage)} coverage rows added in {time.monotonic() - started:.1f} s')
        with connection.cursor() as cursor:
            cursor.execute('ANALYZE')


def users():
    from core.models import ObjectType
    from dcim.models import Device
    from users.models import ObjectPermission, User

    admin = User.objects.create_superuser(username='bench-admin', password=None)
    limited = User.objects.create_user(username='bench-limited')
    everything = ObjectPermission.objects.create(name='bench: view the rest', actions=['view'])
    everything.object_types.set(ObjectType.objects.filter(app_label__in=('netbox_triage', 'virtualization', 'extras'))
                                | ObjectType.objects.filter(app_label='dcim', model__in=('site', 'devicerole')))
    everything.users.add(limited)
    half_the_sites = [f'site-{i:02d}' for i in range(0, SITES, 2)]
    half = ObjectPermission.objects.create(name='bench: devices of half the sites', actions=['view'],
                                           constraints={'site__slug__in': half_the_sites})
    half.object_types.add(ObjectType.objects.get_for_model(Device))
    half.users.add(limited)
    return User.objects.get(pk=admin.pk), User.objects.get(pk=limited.pk)


def run_step(admin, limited, rounds):
    from django.template.loader import render_to_string
    from django.test import Client, RequestFactory
    from django.urls import reverse

    from netbox_triage.board import BOARD_GROUPINGS, board_figures
    from netbox_triage.widgets import FleetSanityWidget, OpenIncidentsWidget

    def request_for(user):
        request = RequestFactory().get('/plugins/triage/')
        request.user = user
        return request

    figures = {}
    for group_by in BOARD_GROUPINGS:
        figures[f'figures {group_by}'], board = measure(
            f'board_figures, by {group_by}', lambda g=group_by: board_figures(admin, g), rounds, unit='ms')
        figures[f'render {group_by}'], _html = measure(
            f'template render, by {group_by}',
            lambda b=board: render_to_string('netbox_triage/board.html', {'board': b}, request=request_for(admin)),
            rounds, unit='ms')
    figures['figures limited'], limited_board = measure(
        'board_figures, by site, limited user', lambda: board_figures(limited, 'site'), rounds, unit='ms')
    figures['widget incidents'], _ = measure(
        'open incidents widget', lambda: OpenIncidentsWidget().render(request_for(admin)), rounds, unit='ms')
    figures['widget fleet'], _ = measure(
        'fleet sanity widget', lambda: FleetSanityWidget().render(request_for(admin)), rounds, unit='ms')
    url = reverse('plugins:netbox_triage:board')
    for user, groupings, who in ((admin, BOARD_GROUPINGS, 'superuser'), (limited, ['site'], 'limited user')):
        client = Client()
        client.force_login(user)
        for group_by in groupings:
            def page(c=client, g=group_by):
                response = c.get(url, {'group_by': g})
                assert response.status_code == 200, response.status_code
                assert b'class="card' in response.content
            key = f'page {group_by}' + (' limited' if user is limited else '')
            figures[key], _ = measure(f'whole page (test client), by {group_by}, {who}', page, rounds, unit='ms')
    return figures, board, limited_board


def run(args):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    # The template may predate the plugin's latest migrations (e.g. monitoring coverage).
    call_command('migrate', verbosity=0)
    fixture = Fixture()
    admin, limited = users()
    small = args.hosts // 10
    fixture.grow(small)
    small_figures, small_board, _ = run_step(admin, limited, args.rounds)
    fixture.grow(args.hosts)
    figures, board, limited_board = run_step(admin, limited, args.rounds)
    with connection.cursor() as cursor:
        cursor.execute('SHOW server_version')
        postgres = cursor.fetchone()[0]
        cursor.execute('SELECT count(*) FROM netbox_triage_discovery')
        discoveries = cursor.fetchone()[0]
        cursor.execute('SELECT count(*) FROM netbox_triage_monitoringcoverage')
        coverage = cursor.fetchone()[0]
    report = {
        'generated': datetime.now(UTC).strftime('%Y-%m-%d %H:%M'), 'cpus': os.cpu_count(),
        'python': platform.python_version(), 'postgres': postgres,
        'load': ' '.join(f'{x:.2f}' for x in os.getloadavg()),
        'hosts': args.hosts, 'small_hosts': small, 'discoveries': discoveries, 'coverage': coverage,
        'fleet': board.fleet, 'limited_hosts': limited_board.fleet.hosts,
        'figures': figures, 'small': small_figures,
    }
    section = render_section(report)
    print(section)
    if args.no_doc or args.hosts != DOC_HOSTS:
        reason = '--no-doc' if args.no_doc else f'it holds the figures at {DOC_HOSTS:,} hosts'
        log(f'docs/benchmarks.md left as it is ({reason})')
    else:
        write_doc_section(section, BEGIN, END)


def render_section(report):
    figures, small = report['figures'], report['small']
    fleet = report['fleet']
    rows = []
    for key, figure in figures.items():
        rows.append(f"| {figure['name']} | {figure['median'] * 1000:.0f} | {figure['min'] * 1000:.0f} / "
                    f"{figure['max'] * 1000:.0f} | {figure['queries']} | {small[key]['queries']} |")
    slowest = max(figures[f'figures {g}']['median'] + figures[f'render {g}']['median']
                  for g in ('site', 'role', 'cluster', 'tag'))
    pages = {key: figure for key, figure in figures.items() if key.startswith('page ')}
    slowest_page = max(pages.values(), key=lambda figure: figure['median'])
    constant = all(figures[key]['queries'] == small[key]['queries'] for key in figures)
    lines = [
        BEGIN,
        '## Triage board (`bench/board.py`)',
        '',
        f"Machine: {report['cpus']} CPUs, Python {report['python']}, PostgreSQL {report['postgres']}. Generated by "
        f"`bench/board.py` on {report['generated']} (load average at the end {report['load']}).",
        '',
        f"Throwaway database: {report['hosts']:,} hosts ({fleet.devices:,} devices, {fleet.virtual_machines:,} VMs) "
        f'over {SITES} sites, {ROLES} roles, {CLUSTERS} clusters and {TAGS} tags (0-2 per host), with probe facts '
        f'({fleet.probed:,} probed, {fleet.stale:,} stale, {fleet.failed:,} unreachable, '
        f'{fleet.never_probed:,} never), '
        f"{report['discoveries']:,} discoveries, {report['coverage']:,} monitoring coverage rows, {INCIDENTS} open "
        f'incidents with three loss rates each and {TIMELINE_ENTRIES:,} timeline entries. Timed: `board_figures()` '
        'for each grouping (superuser), the board template rendered from its result, the same figures for a user whose '
        f"object permissions limit devices to half the sites ({report['limited_hosts']:,} hosts), the two dashboard "
        "widgets, and the whole page as the browser gets it (`GET /plugins/triage/?group_by=…` through Django's test "
        'client and every middleware, logged in: the superuser in each grouping, the limited user by site). Median '
        f"of {figures['figures site']['rounds']} rounds after a warm-up; queries are counted at "
        f"{report['hosts']:,} and at {report['small_hosts']:,} hosts.",
        '',
        f"| measured | median (ms) | min / max (ms) | queries at {report['hosts']:,} | queries at "
        f"{report['small_hosts']:,} |",
        '|---|---:|---|---:|---:|',
        *rows,
        '',
        f"- {report['hosts']:,} hosts, the whole page, slowest ({slowest_page['name']}): "
        f"**{slowest_page['median'] * 1000:.0f} ms** in {slowest_page['queries']} queries (bar: < "
        f"{BAR_SECONDS * 1000:.0f} ms) -> {'met' if slowest_page['median'] < BAR_SECONDS else 'NOT met'}",
        f"- {report['hosts']:,} hosts, figures + render alone, slowest grouping: {slowest * 1000:.0f} ms",
        f"- queries: the same at {report['small_hosts']:,} and {report['hosts']:,} hosts for every row -> "
        f"{'met' if constant else 'NOT met'}",
        '- the tiles come from one grouped SQL statement (hosts left-joined to their facts, to a per-host aggregate '
        'of their active discoveries and to their best coverage), built from the restricted querysets.',
        f'- re-run: `NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/board.py` (creates and drops its own '
        f'database, `{DB}`).',
        END,
    ]
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=DOC_HOSTS, help='hosts in the second step (the first has a tenth)')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    parser.add_argument('--keep-db', action='store_true', help=f'leave the {DB} database behind')
    args = parser.parse_args()
    with throwaway_database(DB, keep=args.keep_db):
        run(args)


if __name__ == '__main__':
    main()
