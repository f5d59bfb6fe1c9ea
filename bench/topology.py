"""Benchmark of topology diagrams (netbox_triage.exporters.topology), written to docs/benchmarks.md.

Creates a throwaway database from the migrated template (`netbox_triage_template`), then times, from
NetBox data to PNG and self-contained SVG (build_topology + generate_source + render in a subprocess
with Graphviz):

(a) the demo's 12 seed hosts and their hand-drawn dependencies (the seed's picture);
(b) 300 hosts (150 devices, 150 VMs) in 10 clusters of 30, tiers using the next tier (300 edges),
    replicas in the cache and database tiers, an open discovery on one host in ten.
Bars: (a) under 3 s, (b) under 60 s. Only this benchmark's section between its markers in
docs/benchmarks.md is replaced. Nothing leaves loopback. Usage:

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/topology.py [--rounds 3] [--no-doc] [--keep-db]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from _harness import log, throwaway_database, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_topology')
os.environ.setdefault('TRIAGE_REDIS_DB', '12')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

BEGIN = '<!-- bench/topology.py: begin -->'
END = '<!-- bench/topology.py: end -->'
OUT = REPO / 'bench' / 'out'
DEMO_BAR, LARGE_BAR = 3.0, 60.0
TIERS = (('Load balancer', 2), ('Frontend', 2), ('Backend', 3), ('Cache', 1), ('Database', 2))


def build_large_fixture():
    """300 hosts over 10 clusters (tiers of 30), each host using one host of the next tier."""
    from django.contrib.contenttypes.models import ContentType

    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from virtualization.models import Cluster, ClusterType, VirtualMachine

    from netbox_triage.models import Dependency, Discovery

    site = Site.objects.create(name='Large DC', slug='large-dc')
    device_type = DeviceType.objects.create(
        manufacturer=Manufacturer.objects.create(name='Bench', slug='bench'), model='Server', slug='server')
    cluster_type = ClusterType.objects.create(name='Bench', slug='bench')
    tiers = []
    for role_name, count in TIERS:
        role, _created = DeviceRole.objects.get_or_create(
            name=role_name, defaults={'slug': role_name.lower().replace(' ', '-'), 'vm_role': True})
        for index in range(count):
            tiers.append((role, Cluster.objects.create(name=f'{role_name} {index + 1}', type=cluster_type,
                                                       scope=site)))
    hosts = []
    for tier, (role, cluster) in enumerate(tiers):
        members = []
        for n in range(30):
            name = f'{cluster.name.lower().replace(" ", "-")}-{n:02d}'
            if n % 2:
                host = VirtualMachine.objects.create(name=name, site=site, cluster=cluster, role=role)
            else:
                host = Device.objects.create(name=name, site=site, cluster=cluster, role=role,
                                             device_type=device_type)
            members.append(host)
        hosts.append(members)
    types = {model: ContentType.objects.get_for_model(model) for model in (Device, VirtualMachine)}

    def ref(host, side):
        return {f'{side}_type': types[type(host)], f'{side}_id': host.pk}

    rows = []
    for tier, members in enumerate(hosts[:-1]):
        for n, host in enumerate(members):
            target = hosts[tier + 1][n]
            rows.append(Dependency(**ref(host, 'source'), **ref(target, 'target'), kind='uses', port=8080 + tier))
    for tier, (role, _cluster) in enumerate(tiers):
        if role.name in ('Cache', 'Database'):
            for n in range(1, 30, 2):
                rows.append(Dependency(**ref(hosts[tier][n], 'source'), **ref(hosts[tier][n - 1], 'target'),
                                       kind='replica'))
    Dependency.objects.bulk_create(rows)
    Discovery.objects.bulk_create(
        Discovery(object_type=types[type(host)], object_id=host.pk, rule='bench', title='bench', severity='high',
                  subject_key=f'bench:{host.pk}')
        for members in hosts for host in members[::10])
    return site, sum(len(members) for members in hosts), len(rows)


def measure(name, site, rounds):
    from django.db import connection

    from netbox_triage.exporters.topology import generate_source, render_source, topology_for_object

    runs = []
    for _ in range(rounds):
        count = [0]

        def counter(execute, sql, params, many, context):
            count[0] += 1
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            topology = topology_for_object(site, user=None)
        built = time.perf_counter()
        graph = topology.parts[0]
        source = generate_source(graph)
        render = render_source(source)
        done = time.perf_counter()
        if not render.ok:
            raise SystemExit(f'{name}: {render.message}')
        runs.append({'build': built - started, 'render': done - built, 'total': done - started, 'queries': count[0],
                     'nodes': len(graph.nodes), 'edges': len(graph.edges), 'parts': len(topology.parts),
                     'png': len(render.png), 'svg': len(render.svg), 'png_bytes': render.png})
        log(f"{name}: {runs[-1]['total']:.2f} s (build {runs[-1]['build']:.3f} s, {count[0]} queries; "
            f"render {runs[-1]['render']:.2f} s)")
    best = {key: statistics.median(run[key] for run in runs) for key in ('build', 'render', 'total')}
    best.update({key: runs[0][key] for key in ('queries', 'nodes', 'edges', 'parts', 'png', 'svg')})
    best.update(max=max(run['total'] for run in runs), rounds=rounds)
    return best, runs[-1]['png_bytes']


def section(report):
    demo, large = report['demo'], report['large']
    rows = []
    for label, figure in (('(a) demo, 12 seed hosts', demo), ('(b) 300 hosts, 10 clusters', large)):
        rows.append(f"| {label} | {figure['nodes']} | {figure['edges']} | {figure['queries']} | "
                    f"{figure['build']:.3f} | {figure['render']:.2f} | **{figure['total']:.2f}** | "
                    f"{figure['max']:.2f} | {figure['png'] // 1024:,} / {figure['svg'] // 1024:,} |")
    verdict_demo = 'met' if demo['max'] < DEMO_BAR else 'NOT met'
    verdict_large = 'met' if large['max'] < LARGE_BAR else 'NOT met'
    return '\n'.join([
        BEGIN,
        '## Topology diagrams (`bench/topology.py`)',
        '',
        f"Machine: {report['machine']}. Generated by `bench/topology.py` on {report['generated']} "
        f"(load average at start {report['load']}).",
        '',
        'From NetBox data to a PNG and a self-contained SVG: `topology_for_object(site)` (build), then '
        '`generate_source()` and `render_source()` (render: the generated `diagrams` program run with this Python '
        'in a subprocess, Graphviz `dot` twice, icons inlined in the SVG). (b): 150 devices and 150 VMs in 10 '
        'clusters of 30 (load balancers, frontends, backends, cache, databases), each host using one host of the '
        'next tier, replica pairs in the cache and database tiers, an open discovery on one host in ten; over '
        f"150 edges the diagram is routed with splines instead of orthogonal lines. Median of {demo['rounds']} rounds.",
        '',
        '| diagram | nodes | edges | queries | build (s) | render (s) | total (s) | max (s) | PNG / SVG (KiB) |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        *rows,
        '',
        f"- (a) the demo's diagram: **{demo['total']:.2f} s** (slowest round {demo['max']:.2f} s; bar: < "
        f'{DEMO_BAR:.0f} s) -> {verdict_demo}',
        f"- (b) 300 nodes: **{large['total']:.2f} s** (slowest round {large['max']:.2f} s; bar: < {LARGE_BAR:.0f} s) "
        f'-> {verdict_large}',
        f"- queries to build the graph: {demo['queries']} for 12 hosts, {large['queries']} for 300 (a fixed number).",
        f"- not included: loading NetBox's URLconf, once per process ({report['urlconf_seconds']:.1f} s here), which "
        'a web or RQ worker process has done before it draws anything (node links use `reverse()`).',
        '- re-run: `NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/topology.py` (creates and drops its own '
        f'database, `{DB}`).',
        END,
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    parser.add_argument('--keep-db', action='store_true')
    args = parser.parse_args(argv)
    load = ' '.join(f'{value:.2f}' for value in os.getloadavg())
    with throwaway_database(DB, keep=args.keep_db):
        import django

        django.setup()
        from django.core.management import call_command
        from django.urls import reverse

        from dcim.models import Site

        from netbox_triage.demo import load_demo

        call_command('migrate', 'netbox_triage', verbosity=0)  # the template may predate the newest migration
        load_demo()
        # A NetBox process has its URLconf loaded before it draws anything (node links use reverse()): load it
        # here too, and report the one-off cost apart.
        started = time.perf_counter()
        reverse('home')
        urlconf_seconds = time.perf_counter() - started
        demo, demo_png = measure('demo', Site.objects.get(name='Customer DC'), args.rounds)
        site, hosts, edges = build_large_fixture()
        log(f'fixture: {hosts} hosts, {edges} dependencies')
        large, large_png = measure('300 hosts', site, args.rounds)
    OUT.mkdir(exist_ok=True)
    (OUT / 'topology-demo.png').write_bytes(demo_png)
    (OUT / 'topology-300.png').write_bytes(large_png)
    report = {
        'demo': demo, 'large': large, 'load': load, 'urlconf_seconds': urlconf_seconds,
        'generated': datetime.now().strftime('%Y-%m-%d %H:%M'),
        'machine': f'{os.cpu_count()} CPUs, Python {platform.python_version()}, '
                   f"{subprocess.run(['dot', '-V'], capture_output=True, text=True).stderr.strip()}",
    }
    text = section(report)
    print(text)
    if not args.no_doc:
        write_doc_section(text, BEGIN, END)
    return 0 if demo['max'] < DEMO_BAR and large['max'] < LARGE_BAR else 1


if __name__ == '__main__':
    sys.exit(main())
