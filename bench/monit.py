"""Benchmark of the Monit bundle export (netbox_triage.exporters.monit), written to docs/benchmarks.md.

Creates a throwaway database from the migrated template (`netbox_triage_template`), fills it with
1,000 hosts (800 devices, 200 VMs) on loopback addresses, each with the probe facts of one of the
fleet profiles (filesystems, interfaces, Monit version) and two dependencies (MySQL and Redis or
HTTP), then times write_monit_tarball() of all of them into memory (render, tar, gzip) and of a
tenth of them (the query count must not move), and runs `monit -t` on a sample of the extracted
bundles. Bar: 1,000 hosts under 10 s. The database is dropped at the end (unless --keep-db); the
section between the markers in docs/benchmarks.md is replaced (re-read just before it is written).
Nothing connects anywhere. Usage:

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/monit.py [--hosts 1000] [--no-doc]
"""

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _harness import log, measure, throwaway_database, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_monit')
os.environ.setdefault('TRIAGE_REDIS_DB', '12')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

BEGIN = '<!-- bench/monit.py: begin -->'
END = '<!-- bench/monit.py: end -->'
BAR_SECONDS = 10.0
SAMPLE = 25


def build_fixture(total):
    """Bulk-create hosts, facts and dependencies (no signals, so no per-object jobs)."""
    from unittest import mock

    from django.contrib.contenttypes.models import ContentType
    from netaddr import IPNetwork

    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from extras.jobs import RenderConfigContextJob
    from ipam.models import IPAddress
    from virtualization.models import Cluster, ClusterType, VirtualMachine

    from netbox_triage.models import Dependency, HostFacts
    from netbox_triage.probing.facts import parse_probe_output

    started = time.monotonic()
    profiles = [parse_probe_output(path.read_bytes()).facts
                for path in sorted((REPO / 'netbox_triage' / 'fleet' / 'profiles').glob('*.out'))]
    with mock.patch.object(RenderConfigContextJob, 'enqueue_once'):
        manufacturer = Manufacturer.objects.create(name='Bench', slug='bench')
        device_type = DeviceType.objects.create(manufacturer=manufacturer, model='Server', slug='server')
        role = DeviceRole.objects.create(name='Server', slug='server')
        site = Site.objects.create(name='Bench site', slug='bench-site')
        cluster = Cluster.objects.create(name='Bench cluster', type=ClusterType.objects.create(name='KVM', slug='kvm'))
        ips = IPAddress.objects.bulk_create(
            IPAddress(address=IPNetwork(f'127.{100 + i // 65536}.{i // 256 % 256}.{i % 256}/8')) for i in range(total))
        # Every fifth host is a VM, so any slice of names holds both kinds.
        devices = Device.objects.bulk_create(
            (Device(name=f'host-{i:05d}', device_type=device_type, role=role, site=site, status='active',
                    primary_ip4=ips[i]) for i in range(total) if i % 5), batch_size=2000)
        machines = VirtualMachine.objects.bulk_create(
            (VirtualMachine(name=f'host-{i:05d}', cluster=cluster, site=site, status='active', primary_ip4=ips[i])
             for i in range(0, total, 5)), batch_size=2000)
        HostFacts.objects.bulk_create(
            [HostFacts(device=host, status='ok', facts=profiles[i % len(profiles)]) for i, host in enumerate(devices)]
            + [HostFacts(virtual_machine=host, status='ok', facts=profiles[i % len(profiles)])
               for i, host in enumerate(machines)], batch_size=2000)
        hosts = [*devices, *machines]
        types = {model: ContentType.objects.get_for_model(model) for model in (Device, VirtualMachine)}
        dependencies = []
        for i, host in enumerate(hosts):
            for offset, port, label in ((1, 3306, 'MySQL'), (2, 6379 if i % 2 else 80, '')):
                target = hosts[(i + offset * 7) % total]
                dependencies.append(Dependency(
                    source_type=types[type(host)], source_id=host.pk, target_type=types[type(target)],
                    target_id=target.pk, kind='uses', port=port, label=label))
        Dependency.objects.bulk_create(dependencies, batch_size=2000)
    log(f'fixture: {len(devices)} devices, {len(machines)} VMs, {len(dependencies)} dependencies '
        f'in {time.monotonic() - started:.1f} s')


def run(args):
    import django

    django.setup()
    from django.db import connection

    from netbox_triage.exporters.hosts import host_querysets
    from netbox_triage.exporters.monit import write_monit_tarball

    build_fixture(args.hosts)
    tmp = tempfile.TemporaryDirectory()
    prefix = tmp.name

    def export(params):
        def fn():
            buffer = io.BytesIO()
            bundle = write_monit_tarball(*host_querysets(params), buffer, prefix=prefix)
            return bundle, buffer.getvalue()
        return fn

    figures = {}
    figures['all'], (bundle, data) = measure(f'write_monit_tarball, {args.hosts} hosts', export({}), args.rounds)
    figures['tenth'], (small, _) = measure('write_monit_tarball, a tenth', export({'q': 'host-000'}), args.rounds)
    assert len(bundle.hosts) == args.hosts and not bundle.skipped, (len(bundle.hosts), bundle.skipped[:3])

    monit = shutil.which('monit')
    checked, failures = 0, []
    if monit:
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as tar:
            tar.extractall(prefix, filter='tar')
        for host in bundle.hosts[::max(1, len(bundle.hosts) // SAMPLE)][:SAMPLE]:
            result = subprocess.run([monit, '-t', '-c', f'{prefix}/{host.alias}/monitrc'], capture_output=True,
                                    text=True, env={'HOME': prefix, 'PATH': '/usr/bin:/bin'}, timeout=30)
            checked += 1
            if result.returncode:
                failures.append((host.alias, result.stdout + result.stderr))
    tmp.cleanup()
    with connection.cursor() as cursor:
        cursor.execute('SHOW server_version')
        postgres = cursor.fetchone()[0]
    monit_version = subprocess.run([monit, '-V'], capture_output=True, text=True).stdout.split('\n')[0] \
        if monit else 'not installed'
    report = {
        'generated': datetime.now(UTC).strftime('%Y-%m-%d %H:%M'), 'cpus': os.cpu_count(),
        'python': platform.python_version(), 'postgres': postgres, 'monit': monit_version,
        'hosts': args.hosts, 'small_hosts': len(small.hosts), 'bytes': len(data),
        'files': sum(len(host.files) for host in bundle.hosts),
        'remote_checks': sum(len(host.remote_checks) for host in bundle.hosts),
        'left_out': sum(len(host.left_out) for host in bundle.hosts),
        'checked': checked, 'failures': failures, 'figures': figures,
    }
    section = render_section(report)
    print(section)
    if not args.no_doc:
        write_doc_section(section, BEGIN, END)
    if failures:
        raise SystemExit(f'monit -t failed for {len(failures)} bundle(s): {failures[:2]}')


def render_section(report):
    figures = report['figures']
    full, tenth = figures['all'], figures['tenth']
    return '\n'.join([
        BEGIN,
        '## Monit bundle export (`bench/monit.py`)',
        '',
        f"Machine: {report['cpus']} CPUs, Python {report['python']}, PostgreSQL {report['postgres']}, "
        f"{report['monit']}. Generated by `bench/monit.py` on {report['generated']}.",
        '',
        f"Throwaway database: {report['hosts']:,} hosts (4 devices for 1 VM) on loopback addresses, each with the "
        'probe facts of one of the fleet profiles and two dependencies (MySQL, and Redis or HTTP). Timed: '
        '`write_monit_tarball()` of every host into memory (queries, render, tar, gzip), median of '
        f"{full['rounds']} rounds after a warm-up.",
        '',
        '| export | hosts | median (s) | min / max (s) | queries |',
        '|---|---:|---:|---|---:|',
        f"| write_monit_tarball() | {report['hosts']:,} | {full['median']:.3f} | {full['min']:.3f} / "
        f"{full['max']:.3f} | {full['queries']} |",
        f"| write_monit_tarball() | {report['small_hosts']:,} | {tenth['median']:.3f} | {tenth['min']:.3f} / "
        f"{tenth['max']:.3f} | {tenth['queries']} |",
        '',
        f"- {report['hosts']:,} hosts: **{full['median']:.2f} s** (bar: < {BAR_SECONDS:.0f} s) -> "
        f"{'met' if full['median'] < BAR_SECONDS else 'NOT met'}; {report['files']:,} files, "
        f"{report['remote_checks']:,} remote checks, {report['left_out']:,} statements left out (version or "
        f"safety), tar.gz of {report['bytes'] / 1024:.0f} KiB",
        f"- queries: {full['queries']} for {report['hosts']:,} hosts, {tenth['queries']} for "
        f"{report['small_hosts']:,} (constant) -> {'met' if full['queries'] == tenth['queries'] else 'NOT met'}",
        f"- `monit -t` on {report['checked']} extracted bundles spread over the set: "
        f"{report['checked'] - len(report['failures'])} passed",
        END,
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    parser.add_argument('--keep-db', action='store_true', help=f'leave the {DB} database behind')
    args = parser.parse_args()
    with throwaway_database(DB, keep=args.keep_db):
        run(args)


if __name__ == '__main__':
    main()
