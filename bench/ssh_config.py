"""Benchmark of the ~/.ssh/config export (netbox_triage.exporters.ssh_config), written to bench/out/ssh_config.md.

Creates a throwaway database from the migrated template (`netbox_triage_template`), fills it with
10,000 devices and 2,500 VMs over 20 sites (half of them with a bastion config context, one global
context of ~2 KB like real deployments carry, 10 % of hosts with a local context), then times:

(a) a NetBox export template writing the same three lines per device (Host, HostName, User),
    downloaded from the device list (`/dcim/devices/?export=…`) as a user does;
(b) the SSH config export of the same 10,000 devices: render_ssh_config() itself and the UI view;
(c) the SSH config export of 10,000 devices + VMs (8,000 + 2,000: 16 sites), with NetBox's pre-rendered config
    contexts cold (computed in the query) and warm.
Bar: (c) under 1 s with a number of queries that does not grow with the hosts. The database is
dropped at the end (unless --keep-db). Nothing leaves loopback. Usage:

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/ssh_config.py [--devices 10000] [--vms 2500]
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _harness import log, measure, throwaway_database

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_ssh')
# Jobs NetBox would enqueue while the fixture is built must not reach the shared Redis queues.
os.environ.setdefault('TRIAGE_REDIS_DB', '12')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

OUT = REPO / 'bench' / 'out'
SITES = 20
EXPORT_TEMPLATE = (
    '{% for device in queryset %}Host {{ device.name }}\n'
    '    HostName {{ device.primary_ip4.address.ip }}\n'
    '    User root\n'
    '{% endfor %}'
)
BAR_SECONDS = 1.0


def build_fixture(devices, vms):
    """Bulk-create the hosts (no signals, so no per-object jobs) with realistic config contexts."""
    from unittest import mock

    from netaddr import IPNetwork

    from core.models import ObjectType
    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from extras.jobs import RenderConfigContextJob
    from extras.models import ConfigContext, ExportTemplate
    from ipam.models import IPAddress
    from tenancy.models import Tenant
    from users.models import User
    from virtualization.models import Cluster, ClusterType, VirtualMachine

    started = time.monotonic()
    with mock.patch.object(RenderConfigContextJob, 'enqueue_once'):
        manufacturer = Manufacturer.objects.create(name='Bench', slug='bench')
        device_type = DeviceType.objects.create(manufacturer=manufacturer, model='Server', slug='server')
        role = DeviceRole.objects.create(name='Server', slug='server')
        tenants = [Tenant.objects.create(name=f'Tenant {i}', slug=f'tenant-{i}') for i in range(4)]
        sites = [Site.objects.create(name=f'Site {i:02d}', slug=f'site-{i:02d}') for i in range(SITES)]
        cluster = Cluster.objects.create(name='Bench cluster',
                                         type=ClusterType.objects.create(name='KVM', slug='kvm'))
        ConfigContext.objects.create(name='Global', weight=100, data={
            'ntp_servers': [f'ntp{i}.example.net' for i in range(8)],
            'syslog': [{'host': f'log{i}.example.net', 'port': 514, 'proto': 'udp'} for i in range(8)],
            'dns': {'servers': ['192.0.2.53', '198.51.100.53'], 'search': ['example.net', 'corp.example.net']},
            'banner': 'Authorised access only. ' * 20,
            'snmp': {'community': 'not-a-secret', 'location': 'bench', 'contacts': ['noc@example.net'] * 10},
        })
        for site in sites[::2]:
            context = ConfigContext.objects.create(name=f'{site.name} bastion', weight=200, data={
                'triage': {'ssh': {'jump': f'ops@bastion.{site.slug}.example.net:22', 'username': 'admin'}},
            })
            context.sites.add(site)

        total = devices + vms
        ips4 = IPAddress.objects.bulk_create(
            IPAddress(address=IPNetwork(f'10.{i // 65536}.{i // 256 % 256}.{i % 256}/8')) for i in range(total))
        ips6 = IPAddress.objects.bulk_create(
            IPAddress(address=IPNetwork(f'2001:db8::{i:x}/64')) for i in range(0, total, 3))

        def attrs(i):
            return {
                'name': f'host-{i:05d}', 'site': sites[i * SITES // total], 'tenant': tenants[i % 4],
                'status': 'active', 'primary_ip4': ips4[i], 'primary_ip6': ips6[i // 3] if i % 3 == 0 else None,
                'local_context_data': {'triage': {'ssh': {'port': 2200}}} if i % 10 == 0 else None,
            }

        # Hosts are spread so every site holds devices and VMs in the same proportion.
        hosts = list(range(total))
        vm_indexes = set(hosts[::total // vms][:vms]) if vms else set()
        Device.objects.bulk_create(
            (Device(device_type=device_type, role=role, **attrs(i)) for i in hosts if i not in vm_indexes),
            batch_size=2000)
        VirtualMachine.objects.bulk_create(
            (VirtualMachine(cluster=cluster, **attrs(i)) for i in sorted(vm_indexes)), batch_size=2000)

        template = ExportTemplate.objects.create(name='ssh', template_code=EXPORT_TEMPLATE, mime_type='text/plain',
                                                 file_extension='conf', as_attachment=True)
        template.object_types.set([ObjectType.objects.get_for_model(Device)])
        user = User.objects.create_user(username='bench', is_superuser=True)
    log(f'fixture: {Device.objects.count()} devices, {VirtualMachine.objects.count()} VMs '
        f'in {time.monotonic() - started:.1f} s')
    return user, sites


def run(args):
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from dcim.models import Device
    from virtualization.models import VirtualMachine

    from netbox_triage.exporters.hosts import host_querysets
    from netbox_triage.exporters.ssh_config import CHUNK_SIZE, render_ssh_config

    user, sites = build_fixture(args.devices, args.vms)
    client = Client()
    client.force_login(user)
    figures = {}

    # Same 10,000 devices: the export template from the device list, and the SSH config export.
    def export_template():
        response = client.get('/dcim/devices/', {'export': 'ssh'})
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    figures['template'], text = measure('export template, devices (UI)', export_template, args.template_rounds,
                                        warmup=False)
    assert text.count('\nHost ') + text.startswith('Host ') == args.devices, 'export template host count'

    def devices_only():
        return render_ssh_config(*host_querysets({'host_type': 'device'}))

    def devices_view():
        response = client.get('/plugins/triage/export/ssh-config/', {'host_type': 'device'})
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    figures['devices_cold'], export = measure('render_ssh_config, devices, cold contexts', devices_only, args.rounds)
    assert len(export.hosts) == args.devices and not export.skipped, (len(export.hosts), export.skipped[:3])
    figures['devices_view_cold'], _ = measure('SSH config view, devices, cold contexts', devices_view, args.rounds)

    # 10,000 devices + VMs: the first 15 sites hold 7,500 devices and 2,500 VMs.
    mixed_sites = [site.slug for site in sites[:SITES * 10_000 // (args.devices + args.vms)]]

    def mixed():
        return render_ssh_config(*host_querysets({'site': mixed_sites}))

    def mixed_view():
        response = client.get('/plugins/triage/export/ssh-config/', {'site': mixed_sites})
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    figures['mixed_cold'], export = measure('render_ssh_config, devices + VMs, cold contexts', mixed, args.rounds)
    mixed_counts = (sum(h.object_type == 'dcim.device' for h in export.hosts),
                    sum(h.object_type != 'dcim.device' for h in export.hosts))
    figures['mixed_view_cold'], _ = measure('SSH config view, devices + VMs, cold contexts', mixed_view, args.rounds)

    started = time.monotonic()
    call_command('rebuild_config_context_cache', stdout=open(os.devnull, 'w'))
    log(f'config contexts pre-rendered in {time.monotonic() - started:.1f} s')
    assert not Device.objects.filter(_config_context_data__isnull=True).exists()
    assert not VirtualMachine.objects.filter(_config_context_data__isnull=True).exists()
    figures['devices_warm'], _ = measure('render_ssh_config, devices, warm contexts', devices_only, args.rounds)
    figures['devices_view_warm'], _ = measure('SSH config view, devices, warm contexts', devices_view, args.rounds)
    figures['mixed_warm'], warm = measure('render_ssh_config, devices + VMs, warm contexts', mixed, args.rounds)
    figures['mixed_view_warm'], _ = measure('SSH config view, devices + VMs, warm contexts', mixed_view, args.rounds)
    assert warm.text == export.text, 'cold and warm config contexts must give the same file'

    # Same filter over a tenth of the hosts: the query count must not move.
    def small():
        return render_ssh_config(*host_querysets({'site': mixed_sites[:2]}))

    figures['small_warm'], small_export = measure('render_ssh_config, 2 sites, warm contexts', small, args.rounds)

    report = {
        'generated': datetime.now(UTC).strftime('%Y-%m-%d %H:%M'),
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                    'load_at_start': LOAD_AT_START, 'postgres': postgres_version()},
        'devices': args.devices, 'vms': args.vms, 'mixed': mixed_counts, 'small_hosts': len(small_export.hosts),
        'chunk_size': CHUNK_SIZE, 'figures': figures,
    }
    write_report(report)


def postgres_version():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('SHOW server_version')
        return cursor.fetchone()[0]


def write_report(report):
    figures = report['figures']
    template, devices_view = figures['template'], figures['devices_view_warm']
    mixed, mixed_cold = figures['mixed_warm'], figures['mixed_cold']
    devices_n, (mixed_devices, mixed_vms) = report['devices'], report['mixed']
    devices_only = f'{devices_n:,} devices'
    both = f'{mixed_devices:,} devices + {mixed_vms:,} VMs'
    rows = [
        ('export template, from the device list', devices_only, 'template'),
        ('SSH config view, cold contexts', devices_only, 'devices_view_cold'),
        ('SSH config view, warm contexts', devices_only, 'devices_view_warm'),
        ('render_ssh_config(), cold contexts', devices_only, 'devices_cold'),
        ('render_ssh_config(), warm contexts', devices_only, 'devices_warm'),
        ('SSH config view, cold contexts', both, 'mixed_view_cold'),
        ('SSH config view, warm contexts', both, 'mixed_view_warm'),
        ('render_ssh_config(), cold contexts', both, 'mixed_cold'),
        ('render_ssh_config(), warm contexts', both, 'mixed_warm'),
        ('render_ssh_config(), warm contexts', f"{report['small_hosts']:,} hosts (2 sites)", 'small_warm'),
    ]
    worst = max(figures[k]['median'] for k in ('mixed_cold', 'mixed_warm', 'mixed_view_cold', 'mixed_view_warm'))
    lines = [
        '## SSH config export (`bench/ssh_config.py`)',
        '',
        f"Machine: {report['machine']['cpus']} CPUs, Python {report['machine']['python']}, PostgreSQL "
        f"{report['machine']['postgres']}. Generated by `bench/ssh_config.py` on {report['generated']} "
        f"(load average at start {report['machine']['load_at_start']}).",
        '',
        f"Throwaway database: {devices_n:,} devices and {report['vms']:,} VMs over {SITES} sites, every host with an "
        'IPv4 primary IP (a third also IPv6), a ~2 KB global config context, a per-site bastion context on half '
        'the sites, a local context on 10 % of the hosts. The export template writes `Host`, `HostName`, `User` '
        'per device; the SSH config export writes `Host`, `HostName`, `User`, `Port` and, for bastion sites, '
        '`ProxyJump`. "Cold" is NetBox\'s pre-rendered config context invalidated (computed inside the one query), '
        '"warm" after `rebuild_config_context_cache`. Median of '
        f"{figures['mixed_warm']['rounds']} rounds after a warm-up ({template['rounds']} rounds, no warm-up, "
        'for the export template). Queries are the statements Django sends; streaming adds one FETCH round trip '
        f"per {report['chunk_size']:,} rows.",
        '',
        '| export | hosts | median (s) | min / max (s) | queries |',
        '|---|---:|---:|---|---:|',
    ]
    for label, hosts, key in rows:
        figure = figures[key]
        lines.append(f"| {label} | {hosts} | {figure['median']:.3f} | {figure['min']:.3f} / {figure['max']:.3f} | "
                     f"{figure['queries']} |")
    lines += [
        '',
        f"- {mixed_devices:,} devices + {mixed_vms:,} VMs: **{mixed['median']:.3f} s** warm, "
        f"{mixed_cold['median']:.3f} s cold; slowest of the four (function and view, cold and warm) "
        f"{worst:.3f} s (bar: < {BAR_SECONDS:.0f} s) -> {'met' if worst < BAR_SECONDS else 'NOT met'}",
        f"- queries: {mixed['queries']} for {mixed_devices + mixed_vms:,} hosts, "
        f"{figures['small_warm']['queries']} for {report['small_hosts']:,} (constant) -> "
        f"{'met' if mixed['queries'] == figures['small_warm']['queries'] else 'NOT met'}",
        f"- export template vs SSH config view, same {devices_n:,} devices from the UI: "
        f"{template['median']:.2f} s and {template['queries']:,} queries vs {devices_view['median']:.3f} s and "
        f"{devices_view['queries']} queries: **{template['median'] / devices_view['median']:.0f}x faster**",
        '',
    ]
    OUT.mkdir(exist_ok=True)
    (OUT / 'ssh_config.md').write_text('\n'.join(lines))
    (OUT / 'ssh_config.json').write_text(json.dumps(report, indent=2))
    print('\n'.join(lines))


LOAD_AT_START = ' '.join(Path('/proc/loadavg').read_text().split()[:3]) if Path('/proc/loadavg').exists() else '?'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--devices', type=int, default=10_000)
    parser.add_argument('--vms', type=int, default=2_500)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--template-rounds', type=int, default=3)
    parser.add_argument('--keep-db', action='store_true', help=f'leave the {DB} database behind')
    args = parser.parse_args()
    with throwaway_database(DB, keep=args.keep_db):
        run(args)


if __name__ == '__main__':
    main()
