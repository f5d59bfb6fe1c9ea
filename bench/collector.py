"""Benchmark of the Monit collector (netbox_triage.collector), written to docs/benchmarks.md.

Creates a throwaway database from the migrated template (`netbox_triage_template`), migrates it, adds
N devices (default 500) and the collector's user, and serves NetBox with gunicorn: **one sync worker, one
thread** on a loopback port, the collector enabled through a configuration module of its own. Each host
then reports the Monit 5.33 status recorded in the tests (about 5 KB, six checks, one failing), under its own
Monit ID and host name: once to register (agent matched by name, coverage created, change-logged), then at a
steady rate of N / 30 s (every host on Monit's usual 30-s cycle, ≈17 req/s for 500) for --seconds, open loop
(requests leave on schedule whether or not the previous one finished, so queueing shows in the latency).
Bar: p99 under 200 ms with no error. The database is dropped at the end (unless --keep-db); the section
between the markers in docs/benchmarks.md is replaced. Nothing leaves 127.0.0.1. Usage:

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/collector.py [--hosts 500] [--seconds 60] [--no-doc]
"""

import argparse
import base64
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from _harness import create_database, drop_database, log, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_collector')
os.environ.setdefault('TRIAGE_REDIS_DB', '8')
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')
PASSWORD = 'bench-Collector-pw1'
os.environ['TRIAGE_MONIT_COLLECTOR_PASSWORD'] = PASSWORD

BEGIN = '<!-- bench/collector.py: begin -->'
END = '<!-- bench/collector.py: end -->'
BAR_P99_MS = 200.0
FIXTURE = REPO / 'netbox_triage' / 'tests' / 'data' / 'monit' / 'monit-5.33-status.xml'
CONFIG_MODULE = """\
import runpy

_conf = runpy.run_path({path!r})
globals().update({{name: value for name, value in _conf.items() if name.isupper()}})
PLUGINS_CONFIG['netbox_triage'] = dict(PLUGINS_CONFIG['netbox_triage'], monit_collector_enabled=True)
"""


def build_fleet(total):
    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from users.models import User

    site = Site.objects.create(name='Bench', slug='bench')
    maker = Manufacturer.objects.create(name='Bench', slug='bench')
    dtype = DeviceType.objects.create(manufacturer=maker, model='Bench', slug='bench')
    role = DeviceRole.objects.create(name='Bench', slug='bench')
    Device.objects.bulk_create([Device(name=f'bench-{n:04d}', site=site, device_type=dtype, role=role,
                                       status='active') for n in range(total)])
    User.objects.get_or_create(username='monit-collector')


def bodies(total):
    template = FIXTURE.read_bytes()
    return [template.replace(b'f7ffd58d49e90cd63f17a5997ae64f15', f'{n:032x}'.encode())
            .replace(b'<localhostname>be-1</localhostname>', f'<localhostname>bench-{n:04d}</localhostname>'.encode())
            .replace(b'<service name="be-1">', f'<service name="bench-{n:04d}">'.encode())
            for n in range(total)]


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_gunicorn(tmp, port):
    (tmp / 'triage_bench_collector_configuration.py').write_text(CONFIG_MODULE.format(
        path=str(Path(os.environ['NETBOX_ROOT']) / 'conf' / 'configuration.py')))
    env = dict(os.environ, NETBOX_CONFIGURATION='triage_bench_collector_configuration',
               PYTHONPATH=os.pathsep.join([str(tmp), str(REPO)]))
    process = subprocess.Popen(
        [str(REPO / '.venv' / 'bin' / 'gunicorn'), '--workers', '1', '--threads', '1', '--worker-class', 'sync',
         '--bind', f'127.0.0.1:{port}', '--timeout', '120', '--log-level', 'warning', 'netbox.wsgi'],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp / 'gunicorn.log').open('w'), start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit((tmp / 'gunicorn.log').read_text()[-2000:])
            time.sleep(0.3)
    raise SystemExit('gunicorn did not start')


def post(url, body, auth):
    request = urllib.request.Request(url, data=body, method='POST', headers={
        'Content-Type': 'text/xml', 'Authorization': auth, 'User-Agent': 'Monit/5.33.0'})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, (time.perf_counter() - start) * 1000


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]


def run_load(url, payloads, auth, rate, seconds):
    """Open loop: request i leaves at i / rate seconds, host i mod N."""
    count = int(rate * seconds)
    results = [None] * count
    lock = threading.Lock()
    start = time.perf_counter()

    def one(i):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        outcome = post(url, payloads[i % len(payloads)], auth)
        with lock:
            results[i] = outcome

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(one, range(count)))
    return results, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=500)
    parser.add_argument('--seconds', type=int, default=60)
    parser.add_argument('--no-doc', action='store_true')
    parser.add_argument('--keep-db', action='store_true')
    options = parser.parse_args()

    log(f'database {DB}: creating and migrating')
    create_database(DB, replace=True)
    subprocess.run([str(REPO / '.venv' / 'bin' / 'netbox'), 'migrate', '--no-input'], check=True,
                   capture_output=True)
    import django

    django.setup()
    gunicorn = None
    try:
        build_fleet(options.hosts)
        payloads = bodies(options.hosts)
        port = free_port()
        url = f'http://127.0.0.1:{port}/plugins/triage/collector/monit/'
        auth = 'Basic ' + base64.b64encode(f'monit-collector:{PASSWORD}'.encode()).decode()
        with tempfile.TemporaryDirectory() as tmp:
            gunicorn = start_gunicorn(Path(tmp), port)
            log(f'gunicorn (1 sync worker) on 127.0.0.1:{port}; first reports of {options.hosts} hosts')
            first = [post(url, body, auth) for body in payloads]
            rate = options.hosts / 30
            log(f'steady state: {rate:.1f} req/s for {options.seconds} s')
            results, elapsed = run_load(url, payloads, auth, rate, options.seconds)
            log('closed loop, one client: 300 reports back to back')
            closed_start = time.perf_counter()
            closed = [post(url, payloads[i % len(payloads)], auth) for i in range(300)]
            closed_rate = len(closed) / (time.perf_counter() - closed_start)
        from netbox_triage.models import MonitAgent, MonitoringCoverage

        reporting = MonitoringCoverage.objects.filter(state='reporting').count()
        agents = MonitAgent.objects.exclude(device=None).count()
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        if not options.keep_db:
            drop_database(DB)

    first_ms = [ms for _s, ms in first]
    steady_ms = [ms for _s, ms in results]
    errors = sum(status != 200 for status, _ms in first + results + closed)
    p99 = percentile(steady_ms, 0.99)
    met = p99 < BAR_P99_MS and errors == 0
    monit = subprocess.run(['monit', '-V'], capture_output=True, text=True).stdout.splitlines()[0] if \
        subprocess.run(['which', 'monit'], capture_output=True).returncode == 0 else 'monit not installed'
    postgres = subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-tAc', 'SHOW server_version'],
                              capture_output=True, text=True).stdout.strip()
    row = '| {} | {:,} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |'.format
    section = '\n'.join([
        '## Monit collector (`bench/collector.py`)',
        '',
        f'Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {postgres}, {monit}. '
        f'Generated by `bench/collector.py` on {datetime.now(UTC):%Y-%m-%d %H:%M}.',
        '',
        f'Throwaway database with {options.hosts:,} devices; NetBox under gunicorn with **one sync worker, one '
        'thread**, collector enabled. Each host posts the Monit 5.33 status recorded in the tests '
        f'({len(payloads[0]):,} bytes, six checks, one failing) under its own Monit ID and host name, with HTTP '
        'Basic credentials. Latency is measured by the client on loopback, open loop (requests leave on '
        'schedule, so queueing counts).',
        '',
        '| phase | requests | req/s | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |',
        '|---|---:|---:|---:|---:|---:|---:|',
        row('first report (agent matched by name, coverage created, change-logged), sequential', len(first),
            len(first) / (sum(first_ms) / 1000), statistics.median(first_ms), percentile(first_ms, 0.95),
            percentile(first_ms, 0.99), max(first_ms)),
        row(f'steady state: every host every 30 s, {options.seconds} s', len(results), len(results) / elapsed,
            statistics.median(steady_ms), percentile(steady_ms, 0.95), p99, max(steady_ms)),
        row('closed loop, one client back to back (capacity of the worker)', len(closed), closed_rate,
            statistics.median([ms for _s, ms in closed]), percentile([ms for _s, ms in closed], 0.95),
            percentile([ms for _s, ms in closed], 0.99), max(ms for _s, ms in closed)),
        '',
        f'- {options.hosts:,} hosts every 30 s ({options.hosts / 30:.1f} req/s) on one worker: p99 **{p99:.1f} ms** '
        f'(bar: < {BAR_P99_MS:.0f} ms, no error) -> {"met" if met else "NOT met"}; {errors} error(s)',
        f'- afterwards: {reporting:,} coverage rows reporting, {agents:,} agents matched to their device',
        '- the max of the first phase is the fresh worker loading NetBox on its first request',
    ])
    print(section)
    if not options.no_doc:
        write_doc_section(f'{BEGIN}\n{section}\n{END}', BEGIN, END)
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())
