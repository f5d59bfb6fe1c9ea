"""Benchmark of the discovery rules against the database: run_discovery() over 10,000 hosts; bar: under 30 s.

Unlike bench/rules.py (the pure rules on synthetic HostViews), this measures the real thing:
`netbox_triage.rules.runner.run_discovery()` builds the HostViews from NetBox, runs every rule and
records the findings as Discovery rows (bulk writes, changelog rows, events), inside NetBox's
`event_tracking` as a user, the way a probe job or `triage_rules --user` runs it.

A throwaway database is copied from the migrated template (`netbox_triage_template`) and migrated.
The fixture grows in steps (1,000, 5,000, then 10,000 hosts: 60 % VMs in clusters of three, 40 %
devices, 20 sites, a role per profile, platforms, tags), each host with a HostFacts row whose facts
come from the fleet profiles (parsed once, rotated, varied so drift, redundancy, staleness and
disk rules fire); one open incident includes a few hosts and clusters. At each step the discoveries
of the previous step are deleted, then three runs are timed and their queries counted:

  (a) first run: every finding is new (Discovery rows, changelog rows, events, timeline entries);
  (b) second run: nothing changed (only `last_seen` moves);
  (c) after 1 % of the hosts' facts changed (another profile): some created, some resolved.

Hosts have no primary IP and no `triage.ssh` override, so the active HTTP check (on by default)
finds no address to try: no packet leaves. The database is dropped at the end (unless --keep-db);
the section between the markers in docs/benchmarks.md is replaced (re-read just before it is written).

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/discoveries.py [--sizes 1000,5000,10000] [--profile]
"""

import argparse
import base64
import copy
import json
import os
import platform
import re
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import log, throwaway_database, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_discoveries')
os.environ.setdefault('TRIAGE_REDIS_DB', '14')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

OUT = REPO / 'bench' / 'out'
BEGIN = '<!-- bench/discoveries.py: begin -->'
END = '<!-- bench/discoveries.py: end -->'
PROFILES = REPO / 'netbox_triage' / 'fleet' / 'profiles'
BAR_SECONDS = 30.0
SITES = 20
CHANGED_SHARE = 100  # one host in a hundred changes before run (c)
ROLES = {
    'centos6-heartbleed': 'Load balancer', 'centos6-patched': 'Load balancer', 'rhel4': 'Backend', 'debian6': 'Backend',
    'ubuntu1404': 'Backend', 'ubuntu2204': 'Frontend', 'ubuntu2204-jenkins': 'CI', 'debian12-redis': 'Cache',
    'debian12': 'Cache', 'mysql-baremetal': 'Database', 'centos7': 'Database', 'sles11': 'File server',
    'alpine': 'Proxy', 'amazon2': 'Web', 'hostile': 'Unknown', 'hostile-markup': 'Unknown',
}


class QueryCounter:
    """Counts statements, and statements by shape (the first words and the table), to tell a per-host
    query from a bulk write split into batches of rows."""

    def __init__(self):
        self.count = 0
        self.shapes = {}

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        shape = re.sub(r'\s+', ' ', sql)
        shape = ' '.join(shape.split(' ')[:2]) + ' ' + ','.join(sorted(set(re.findall(r'"(\w+)"\.', shape)))[:3]) \
            if not shape.startswith(('INSERT', 'UPDATE', 'DELETE')) else ' '.join(shape.split(' ')[:3])
        self.shapes[shape] = self.shapes.get(shape, 0) + 1
        return execute(sql, params, many, context)


class Fleet:
    """The fixture: grows to a given number of hosts; host ``i`` always gets the same attributes."""

    def __init__(self):
        from unittest import mock

        from django.contrib.contenttypes.models import ContentType

        from dcim.models import DeviceRole, DeviceType, Manufacturer, Platform, Site
        from extras.jobs import RenderConfigContextJob
        from extras.models import Tag
        from virtualization.models import ClusterType

        from netbox_triage.probing.facts import parse_probe_output

        # bulk_create sends no signals, but saving sites/roles/platforms would enqueue context renders.
        self._no_render = mock.patch.object(RenderConfigContextJob, 'enqueue_once')
        self._no_render.start()
        self.profiles = {path.stem: parse_probe_output(path.read_bytes()).facts
                         for path in sorted(PROFILES.glob('*.out'))}
        self.names = sorted(self.profiles)
        manufacturer = Manufacturer.objects.create(name='Bench', slug='bench')
        self.device_type = DeviceType.objects.create(manufacturer=manufacturer, model='Server', slug='server')
        self.sites = [Site.objects.create(name=f'Site {i:02d}', slug=f'site-{i:02d}') for i in range(SITES)]
        self.roles = {name: DeviceRole.objects.create(name=name, slug=re.sub(r'\W+', '-', name.lower()))
                      for name in sorted(set(ROLES.values()))}
        self.platforms = {}
        for profile, facts in self.profiles.items():
            pretty = (facts.get('os') or {}).get('pretty_name') or profile
            if pretty not in self.platforms:
                self.platforms[pretty] = Platform.objects.create(name=pretty[:100], slug=f'p-{len(self.platforms)}')
        self.platform_by_profile = {p: self.platforms[(f.get('os') or {}).get('pretty_name') or p]
                                    for p, f in self.profiles.items()}
        self.tags = [Tag.objects.create(name='production', slug='production'),
                     Tag.objects.create(name='staging', slug='staging')]
        self.cluster_type = ClusterType.objects.create(name='KVM', slug='kvm')
        self.types = {model: ContentType.objects.get_for_model(model)
                      for model in (self._device_model(), self._vm_model())}
        self.hosts = 0
        self.now = datetime.now(UTC)
        self.keys = []  # (model, pk) per host index

    @staticmethod
    def _device_model():
        from dcim.models import Device
        return Device

    @staticmethod
    def _vm_model():
        from virtualization.models import VirtualMachine
        return VirtualMachine

    def profile_of(self, index):
        # The three members of a cluster share a profile (drift then means something); devices rotate.
        return self.names[(self._cluster_number(index) if self._is_vm(index) else index) % len(self.names)]

    @staticmethod
    def _is_vm(index):
        # Hosts come in blocks of ten: six VMs (two clusters of three), then four devices.
        return index % 10 < 6

    def facts_of(self, index, profile=None):
        """A deep copy of the profile's facts, varied so that drift and disk rules have something to find."""
        facts = copy.deepcopy(self.profiles[profile or self.profile_of(index)])
        if index % 21 == 0 and isinstance(facts.get('kernel'), dict) and facts['kernel'].get('release'):
            facts['kernel']['release'] += '-drift'  # the odd one out of its cluster / role in its site
        if index % 33 == 0:
            for filesystem in facts.get('filesystems') or ():
                if isinstance(filesystem, dict) and filesystem.get('used_percent') is not None:
                    filesystem['used_percent'] = 97
                    break
        return facts

    def grow(self, total):
        """Add hosts ``self.hosts .. total - 1`` (devices, VMs, clusters, tags, facts) in bulk."""
        from dcim.models import Device
        from extras.models import TaggedItem
        from virtualization.models import Cluster, VirtualMachine

        from netbox_triage.models import HostFacts

        started = time.monotonic()
        indexes = range(self.hosts, total)
        vm_indexes = [i for i in indexes if self._is_vm(i)]
        cluster_ids = sorted({self._cluster_number(i) for i in vm_indexes})
        clusters = {number: cluster for number, cluster in zip(cluster_ids, Cluster.objects.bulk_create(
            Cluster(name=f'cluster-{number:05d}', type=self.cluster_type)
            for number in cluster_ids), strict=True)}
        devices = Device.objects.bulk_create((
            Device(name=f'dev-{i:05d}', device_type=self.device_type, role=self.roles[ROLES[self.profile_of(i)]],
                   site=self.sites[i % SITES], status='active' if i % 97 else 'offline',
                   platform=self.platform_by_profile[self.profile_of(i)] if i % 17 else self.platforms_any())
            for i in indexes if not self._is_vm(i)), batch_size=2000)
        machines = VirtualMachine.objects.bulk_create((
            VirtualMachine(name=f'vm-{i:05d}', cluster=clusters[self._cluster_number(i)],
                           site=self.sites[self._cluster_number(i) % SITES],
                           role=self.roles[ROLES[self.profile_of(i)]],
                           platform=self.platform_by_profile[self.profile_of(i)],
                           # every 50th cluster keeps a single active member: redundancy finds it
                           status='offline' if self._cluster_number(i) % 50 == 0 and i % 3 else 'active')
            for i in vm_indexes), batch_size=2000)
        device_iter, vm_iter = iter(devices), iter(machines)
        facts, tagged = [], []
        for i in indexes:
            host = next(vm_iter) if self._is_vm(i) else next(device_iter)
            model = type(host)
            self.keys.append((model, host.pk))
            offered = ('ssh-ed25519 ' + base64.b64encode(b'\0\0\0\x0bssh-ed25519\0\0\0 ' + bytes(32)).decode()
                       if i % 200 == 7 else '')
            facts.append(HostFacts(
                **{'device' if model is Device else 'virtual_machine': host}, status='ok', facts=self.facts_of(i),
                probed_at=self.now - timedelta(days=i % 40), last_ok_at=self.now - timedelta(days=i % 40),
                hostkey_offered=offered))
            tagged.append(TaggedItem(content_type=self.types[model], object_id=host.pk,
                                     tag=self.tags[i % 2]))
        HostFacts.objects.bulk_create(facts, batch_size=2000)
        TaggedItem.objects.bulk_create(tagged, batch_size=2000)
        self.hosts = total
        log(f'fixture: {total:,} hosts ({len(devices):,} devices and {len(machines):,} VMs added, '
            f'{len(clusters):,} clusters) in {time.monotonic() - started:.1f} s')

    def platforms_any(self):
        return self.platforms[sorted(self.platforms)[0]]  # a platform that disagrees with the probe

    @staticmethod
    def _cluster_number(index):
        return index // 10 * 2 + (index % 10) // 3

    def change_one_percent(self, round_number):
        """Give one host in a hundred another profile's facts (a reinstall, a patch): run (c)."""
        from netbox_triage.models import HostFacts

        changed = []
        for i in range(round_number % CHANGED_SHARE, self.hosts, CHANGED_SHARE):
            model, pk = self.keys[i]
            other = self.names[(self.names.index(self.profile_of(i)) + 1 + round_number) % len(self.names)]
            row = HostFacts.objects.filter(**{'device_id' if model is self._device_model() else
                                              'virtual_machine_id': pk}).only('pk').first()
            row.facts = self.facts_of(i, other)
            changed.append(row)
        HostFacts.objects.bulk_update(changed, ['facts'], batch_size=1000)
        return len(changed)

    def stop(self):
        self._no_render.stop()


def open_incident(fleet):
    """One open incident with a few hosts and clusters: new high/critical findings reach its timeline."""
    from django.contrib.contenttypes.models import ContentType

    from virtualization.models import Cluster

    from netbox_triage.models import Incident, IncidentObject

    incident = Incident.objects.create(title='Checkout fails', status='investigating', severity='critical',
                                       started_at=fleet.now - timedelta(hours=3))
    rows = [IncidentObject(incident=incident, object_type=fleet.types[model], object_id=pk)
            for model, pk in fleet.keys[:50]]
    cluster_type = ContentType.objects.get_for_model(Cluster)
    rows += [IncidentObject(incident=incident, object_type=cluster_type, object_id=pk)
             for pk in Cluster.objects.order_by('pk').values_list('pk', flat=True)[:5]]
    IncidentObject.objects.bulk_create(rows)
    return incident


def forget_discoveries():
    """Empty the discoveries and what they wrote (changelog, timeline), so the next run is a first run."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from core.models import ObjectChange

    from netbox_triage.models import Discovery, TimelineEntry

    discovery_type = ContentType.objects.get_for_model(Discovery)
    ObjectChange.objects.filter(changed_object_type=discovery_type)._raw_delete(connection.alias)
    TimelineEntry.objects.filter(object_type=discovery_type)._raw_delete(connection.alias)
    Discovery.objects.all()._raw_delete(connection.alias)


def timed_run(user, label, profiler=None):
    from django.db import connection

    from netbox_triage.models import Discovery
    from netbox_triage.probing.runner import change_logging
    from netbox_triage.rules import eol, haproxy_checks, vulnerable_packages
    from netbox_triage.rules.runner import run_discovery

    # Every run starts cold, like a job in a fresh RQ work-horse: the rules' parse caches emptied.
    for cached in (vulnerable_packages._parse, haproxy_checks.parse_haproxy_config, eol.parse_platform):
        cached.cache_clear()
    counter = QueryCounter()
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counter):
        if profiler:
            profiler.start()
        # The events are dispatched when event_tracking exits: inside the timing, as in a job.
        with change_logging(user):
            summary = run_discovery(log=lambda message: None)
        if profiler:
            profiler.stop()
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    figure = {'run': label, 'seconds': round(wall, 2), 'cpu_seconds': round(cpu, 2), 'queries': counter.count,
              'hosts': summary.hosts, 'findings': summary.findings, 'created': summary.created,
              'reopened': summary.reopened, 'updated': summary.updated, 'resolved': summary.resolved,
              'unchanged': summary.unchanged, 'timeline_entries': summary.timeline_entries,
              'http_checks': summary.http_checks, 'discoveries': Discovery.objects.count(),
              'repeated': {shape: n for shape, n in sorted(counter.shapes.items()) if n > 1},
              'distinct': len(counter.shapes)}
    log(f'{summary.hosts:,} hosts, {label}: {wall:.2f} s, {counter.count} queries; {summary}')
    return figure


class _CProfile:
    """cProfile behind pyinstrument's start/stop, for a venv without pyinstrument."""

    def __init__(self):
        import cProfile

        self.profile = cProfile.Profile()

    def start(self):
        self.profile.enable()

    def stop(self):
        self.profile.disable()

    def text(self):
        import io
        import pstats

        buffer = io.StringIO()
        stats = pstats.Stats(self.profile, stream=buffer)
        stats.sort_stats('cumulative').print_stats(60)
        stats.sort_stats('tottime').print_stats(30)
        return buffer.getvalue()


class _Pyinstrument:
    def __init__(self):
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=0.005)
        self.start, self.stop = self.profiler.start, self.profiler.stop

    def text(self):
        return self.profiler.output_text(unicode=False, color=False, show_all=True)


def make_profiler():
    try:
        return _Pyinstrument()
    except ImportError:
        return _CProfile()


def changelog_rows():
    from django.contrib.contenttypes.models import ContentType

    from core.models import ObjectChange

    from netbox_triage.models import Discovery

    return ObjectChange.objects.filter(changed_object_type=ContentType.objects.get_for_model(Discovery)).count()


def run(args):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from users.models import User

    call_command('migrate', verbosity=0, interactive=False)  # a migration newer than the template
    user = User.objects.create(username='bench-rules', is_superuser=True)
    fleet = Fleet()
    incident = None
    steps = []
    profile_texts = {}
    for size in args.sizes:
        fleet.grow(size)
        if incident is None:
            incident = open_incident(fleet)
        forget_discoveries()
        step = {'hosts': size, 'runs': []}
        before = changelog_rows()
        profiling = args.profile and size == args.sizes[-1]
        profiles = {}
        profiler = make_profiler() if profiling else None
        step['runs'].append(timed_run(user, '(a) first run', profiler))
        if profiler:
            profiles['a'] = profiler.text()
        step['changelog_first'] = changelog_rows() - before
        before = changelog_rows()
        profiler = make_profiler() if profiling else None
        step['runs'].append(timed_run(user, '(b) second run, nothing changed', profiler))
        if profiler:
            profiles['b'] = profiler.text()
        step['changelog_second'] = changelog_rows() - before
        step['changed_hosts'] = fleet.change_one_percent(len(steps))
        profiler = make_profiler() if profiling else None
        step['runs'].append(timed_run(user, f"(c) after {step['changed_hosts']} hosts changed", profiler))
        if profiler:
            profiles['c'] = profiler.text()
            profile_texts = profiles
        steps.append(step)
    fleet.stop()
    with connection.cursor() as cursor:
        cursor.execute('SHOW server_version')
        postgres = cursor.fetchone()[0]
    report = {
        'generated': datetime.now(UTC).strftime('%Y-%m-%d %H:%M'), 'cpus': os.cpu_count(),
        'python': platform.python_version(), 'postgres': postgres, 'load': os.getloadavg(),
        'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        'steps': steps,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / 'discoveries.json').write_text(json.dumps(report, indent=1, default=str) + '\n')
    for run_name, text in profile_texts.items():
        (OUT / f'discoveries-profile-{run_name}.txt').write_text(text)
        log(f'profile of run ({run_name}): {OUT / f"discoveries-profile-{run_name}.txt"}')
    section = render_section(report)
    (OUT / 'discoveries.md').write_text(section + '\n')
    print(section)
    if not args.no_doc:
        write_doc_section(section, BEGIN, END)
    return report


# Where the time goes: `--profile` (pyinstrument) at 10,000 hosts, 2026-11-22; profiled runs are slower.
PROFILE_NOTES = (
    '- where the time goes (pyinstrument, 10,000 hosts, first run (a)): `record_findings()` was 77 %, most of it '
    "`Discovery.to_objectchange()`: NetBox's `serialize_object()` (Django's JSON stream serializer and back, 0.29 ms "
    'an object) and, per new discovery, an empty `Tag.objects.none()` compiled to SQL each time its tags were read '
    '(10 s of a 46 s profiled run). Now `Discovery.serialize_object()` builds the same dict through the Python '
    "serializer (0.05 ms, `models/serialization.py`, compared with NetBox's own in the tests) and one evaluated "
    "empty queryset stands for every new discovery's tags: (a) at 10,000 hosts went from 30 s to 20 s. Earlier: "
    'loading known discoveries as model instances with their tags took 46 % of (b) (19.2 s at 10,000 hosts then, '
    'about 7 s after they were read as plain rows); the rules are 15 % of (a), `host_views()` 7 %. '
    "On 2026-12-07's slower machine (the same code took 43.0 s for (a) at 10,000 hosts) a 5,000-host profile "
    "showed univers' rpm version comparisons at 14 % of (a), now remembered per version pair, and "
    "`ObjectChange`'s generic-relation setter (a copied manager per object) at 6 %, now the type and id set as "
    'columns in `Discovery.to_objectchange()`: 43.0 -> 28.9 s.',
)


def render_section(report):
    steps = report['steps']
    last = steps[-1]
    rows = []
    for step in steps:
        for figure in step['runs']:
            rows.append(
                f"| {step['hosts']:,} | {figure['run']} | {figure['seconds']:.2f} | {figure['cpu_seconds']:.2f} | "
                f"{figure['queries']} | {figure['findings']:,} | {figure['created']:,} | {figure['updated']:,} | "
                f"{figure['resolved']:,} | {figure['unchanged']:,} | {figure['timeline_entries']} |")
    slowest = max(figure['seconds'] for figure in last['runs'])
    queries = {step['hosts']: [figure['queries'] for figure in step['runs']] for step in steps}
    # Not growing: no size needs more statements than a smaller one (the first run of the process may need one
    # more, to fill Django's ContentType cache).
    sizes = list(queries)
    constant = all(queries[b][i] <= queries[a][i] for a, b in zip(sizes, sizes[1:]) for i in range(3))
    spread = '; '.join(f'{label}: ' + ', '.join(f'{q[i]} ({hosts:,})' for hosts, q in queries.items())
                       for i, label in enumerate(('(a)', '(b)', '(c)')))
    load = ' '.join(f'{value:.2f}' for value in report['load'])
    shapes = {step['hosts']: [figure['distinct'] for figure in step['runs']] for step in steps}
    # Not growing: the first size may count one more (a cache of NetBox's filled on first use in the process).
    distinct_constant = all(shapes[a][i] >= shapes[b][i] for a, b in zip(shapes, list(shapes)[1:]) for i in range(3))
    distinct = '; '.join(f'{label}: ' + ', '.join(f'{q[i]} ({hosts:,})' for hosts, q in shapes.items())
                         for i, label in enumerate(('(a)', '(b)', '(c)')))
    repeated = '; '.join(
        f"{figure['run'][:3]} " + ', '.join(f'`{shape}` x{n}' for shape, n in figure['repeated'].items() if n > 2)
        for figure in last['runs'])
    return '\n'.join([
        BEGIN,
        '## Discoveries with the database (`bench/discoveries.py`)',
        '',
        f"Machine: {report['cpus']} CPUs, Python {report['python']}, PostgreSQL {report['postgres']}. Generated by "
        f"`bench/discoveries.py` on {report['generated']} (load average at the end {load}).",
        '',
        '`run_discovery()` as a job runs it: HostViews from the database, every rule, findings recorded as Discovery '
        'rows, inside `event_tracking` as a user (changelog rows, *Discovery raised/resolved* events dispatched '
        'when it exits; no event rules defined). Throwaway database, grown in steps to '
        f"{last['hosts']:,} hosts: 60 % VMs in clusters of three, 40 % devices, {SITES} sites, a role per "
        'profile, platforms (one in 17 wrong), two tags; each host has the facts of one of the fleet profiles '
        '(a cluster shares one), one in 21 with a drifting kernel, one in 33 with a full disk, probe ages up '
        'to 40 days, a changed host key on one in 200; one open incident with 50 hosts and 5 clusters. At each '
        'size the discoveries are emptied, then: (a) first run, (b) second run with nothing changed, (c) a run '
        "after one host in a hundred got another profile's facts. Every run starts cold (the rules' parse caches "
        'emptied, as in a fresh RQ work-horse). Queries: every statement Django sends, event dispatch included.',
        '',
        '| hosts | run | wall (s) | CPU (s) | queries | findings | created | updated | resolved | unchanged | '
        'timeline |',
        '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
        *rows,
        '',
        f"- {last['hosts']:,} hosts, slowest of the three runs: **{slowest:.2f} s** (bar: < {BAR_SECONDS:.0f} s) -> "
        f"{'met' if slowest < BAR_SECONDS else 'NOT met'}",
        f"- queries by size, {spread} -> {'not growing: met' if constant else 'NOT met: they grow'}",
        f'- distinct statements (by kind and table) by size, {distinct} -> '
        f"{'not growing: no query per host' if distinct_constant else 'GROWING'}; what repeats more than twice at "
        f"{last['hosts']:,} hosts: {repeated or 'nothing'}",
        f"- changelog rows for discoveries at {last['hosts']:,} hosts: {last['changelog_first']:,} after (a), "
        f"{last['changelog_second']} after (b)",
        f"- peak RSS of the benchmark process: {report['peak_rss_mb']} MB",
        *PROFILE_NOTES,
        '- re-run: `NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/discoveries.py` (creates and drops its own '
        'database, `triage_bench_discoveries`; `--profile` writes pyinstrument (else cProfile) profiles of the '
        'three runs at the largest size to `bench/out/`).',
        END,
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='1000,5000,10000',
                        type=lambda value: sorted(int(v) for v in value.split(',')))
    parser.add_argument('--profile', action='store_true',
                        help='profile the runs at the largest size with pyinstrument (else cProfile)')
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    parser.add_argument('--keep-db', action='store_true', help=f'leave the {DB} database behind')
    args = parser.parse_args()
    # replace: a run that was killed leaves its database behind.
    with throwaway_database(DB, keep=args.keep_db, replace=True):
        report = run(args)
    slowest = max(figure['seconds'] for figure in report['steps'][-1]['runs'])
    return 0 if slowest < BAR_SECONDS else 1


if __name__ == '__main__':
    sys.exit(main())
