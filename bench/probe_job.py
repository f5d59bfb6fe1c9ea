"""Benchmark of the probe as users run it: ProbeJob chunks on one RQ worker against the simulated fleet.

bench/probe_transport.py (b) times the bare transport (`run_many`). This times the whole path a bulk probe
takes: `netbox triage_probe --all --enqueue --user admin` calls `enqueue_probe()`, which enqueues one
ProbeJob per `probe_chunk_size` hosts and a fleet RulesJob; ONE `netbox rqworker high default low` runs
them: per chunk `probe_hosts()` (transport, parse, `apply_probe_results()` per batch of hosts: HostFacts, platform,
VM resources, changelog), then `record_dependencies()` and the per-host rules; then the fleet rules.

Set-up: a throwaway database copied from the migrated template (`triage_bench_probe_job`, dropped at the
end unless --keep-db), its own Redis databases (TRIAGE_REDIS_DB, default 14, and the next one for caching;
flushed at start and end; the run stops if another RQ worker listens there), the instance's configuration
(NETBOX_ROOT=/work/main/.netbox) with only the settings given on the command line changed (--concurrency,
--chunk-size: a configuration module in a temporary directory that loads the instance's and overrides those
keys, through NETBOX_CONFIGURATION).
The simulated fleet (`python -m netbox_triage.fleet.server`) serves N hosts on 127.101.x.y with the added
latency; N devices and VMs (half each; VMs in clusters of three) are bulk-created in NetBox, each dialled
through its local config context `triage.ssh` (host, port). Hosts answer with the fleet profiles in turn
(`--fleet-profile mix`, a cluster shares one) or all with one profile.

Three runs, each timed from the first job's creation to the last probe job's end (and to the fleet rules
job's end, and until the worker's queue is empty: NetBox's own search-index jobs the writes left), with the
jobs' own data (per-status summary, changed hosts, dependencies, rules):
  1. first probe: every host new (HostFacts created, platforms, changelog rows);
  2. again, nothing changed: idempotent, no HostFacts changelog row expected;
  3. the fleet restarted with a share of hosts hanging (TCP accepted, no SSH banner).
Memory: the work-horse's peak RSS (VmHWM read by the horse when its job ends, and sampled from /proc),
and the worker's. Queries: the worker runs `netbox rqworker` through this file (`--worker`), which counts
every statement Django sends and times the job's phases without touching the plugin (`--plain-worker`
runs the bare `netbox rqworker` instead: no queries, no phases). Only loopback addresses are used.

    NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/probe_job.py [--hosts 2000] [--concurrency N]
        [--chunk-size N] [--in-process] [--fleet-profile mix|NAME] [--no-doc] [--keep-db] [--job-profile]

docs/benchmarks.md is written (between its markers) only by a run at the bar's size (2,000 hosts, 50 ms).
"""

import argparse
import functools
import heapq
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from _harness import create_database, drop_database, log, write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from netbox_triage.probing.forked import PROCESS_NAME as PROBER  # noqa: E402 - the name a job's SSH child takes

DB = os.environ.setdefault('TRIAGE_DB_NAME', 'triage_bench_probe_job')
# 14/15 are the benchmarks' (bench/discoveries.py runs no worker); the end-to-end tests use 2 to 13.
REDIS_DB = int(os.environ.setdefault('TRIAGE_REDIS_DB', '14'))
os.environ.setdefault('NETBOX_ROOT', str(REPO / '.netbox'))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netbox.settings')

NETBOX = REPO / '.venv' / 'bin' / 'netbox'
PYTHON = REPO / '.venv' / 'bin' / 'python'
OUT = REPO / 'bench' / 'out'
BEGIN = '<!-- bench/probe_job.py: begin -->'
END = '<!-- bench/probe_job.py: end -->'
PROFILES = REPO / 'netbox_triage' / 'fleet' / 'profiles'
BAR_HOSTS, BAR_LATENCY_MS, BAR_RATE, BAR_RSS_MB, BAR_HANG_RATIO = 2000, 50.0, 40.0, 500, 1.2
ADMIN = 'admin'
PROBE_JOB = 'Triage probe'
FLEET_RULES_JOB = 'Triage rules (fleet, after probe)'
JOB_LOG_ENV = 'TRIAGE_BENCH_JOB_LOG'
JOB_PROFILE_ENV = 'TRIAGE_BENCH_JOB_PROFILE'
PSQL_TIMEOUT = 300  # seconds a psql call may take


def redis_in_use():
    """The RQ workers another NetBox has registered in our Redis database: its jobs must not meet ours."""
    import redis
    from rq import Worker

    return Worker.count(connection=redis.Redis(host='127.0.0.1', port=6379, db=REDIS_DB))


def flush_redis():
    """Forget what an interrupted run left in this benchmark's Redis databases (tasks, caching)."""
    import redis

    for number in (REDIS_DB, REDIS_DB + 1):
        redis.Redis(host='127.0.0.1', port=6379, db=number).flushdb()


def write_configuration(directory, overrides):
    """A configuration module that loads the instance's and changes only ``overrides`` in the plugin's settings;
    returns its module name (for NETBOX_CONFIGURATION, with ``directory`` on PYTHONPATH)."""
    instance = Path(os.environ['NETBOX_ROOT']) / 'conf' / 'configuration.py'
    name = 'triage_bench_probe_job_configuration'
    (directory / f'{name}.py').write_text(
        '# Written by bench/probe_job.py: the instance configuration, with the benchmark plugin settings.\n'
        'import importlib.util as _util\n'
        f'_spec = _util.spec_from_file_location("triage_bench_instance_configuration", {str(instance)!r})\n'
        '_base = _util.module_from_spec(_spec)\n'
        '_spec.loader.exec_module(_base)\n'
        'globals().update({k: v for k, v in vars(_base).items() if k.isupper()})\n'
        'PLUGINS_CONFIG = {**PLUGINS_CONFIG, "netbox_triage": {**PLUGINS_CONFIG["netbox_triage"], '
        f'**{overrides!r}}}}}\n'
    )
    return name


# --- the worker side: `bench/probe_job.py --worker` is `netbox rqworker` with counters -------------------------


def worker_main(queues):
    """Run `netbox rqworker` with a statement counter on every database connection and timers around the
    job's phases; each job appends one JSON line to $TRIAGE_BENCH_JOB_LOG when it ends (in its work-horse)."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    counter = {'queries': 0}

    def count(execute, sql, params, many, context):
        counter['queries'] += 1
        return execute(sql, params, many, context)

    original_init = BaseDatabaseWrapper.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.execute_wrappers.append(count)

    BaseDatabaseWrapper.__init__ = init

    import django

    django.setup()
    from netbox.jobs import JobRunner

    from netbox_triage import jobs as jobs_module
    from netbox_triage.probing import runner as runner_module

    phases = {}

    def timed(module, name, phase):
        function = getattr(module, name)

        def wrapper(*args, **kwargs):
            started, queries = time.perf_counter(), counter['queries']
            try:
                return function(*args, **kwargs)
            finally:
                figure = phases.setdefault(phase, {'seconds': 0.0, 'queries': 0, 'calls': 0})
                figure['seconds'] += time.perf_counter() - started
                figure['queries'] += counter['queries'] - queries
                figure['calls'] += 1

        setattr(module, name, wrapper)

    timed(jobs_module, 'hosts_from_keys', 'load hosts')
    timed(jobs_module, 'probe_hosts', 'probe_hosts')
    timed(runner_module, 'apply_probe_results', 'apply (in probe_hosts)')
    timed(jobs_module, 'record_dependencies', 'dependencies')
    timed(jobs_module, 'run_discovery', 'rules')
    original_handle = JobRunner.handle.__func__
    job_log = os.environ.get(JOB_LOG_ENV)
    profile_dir = os.environ.get(JOB_PROFILE_ENV)

    @functools.wraps(original_handle)  # RQ refuses functions whose module is __main__
    def handle(cls, job, *args, **kwargs):
        phases.clear()
        profiler = None
        if profile_dir and cls is jobs_module.ProbeJob:
            try:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.005)
            except ImportError:
                import cProfile

                profiler = cProfile.Profile()
                profiler.start, profiler.stop = profiler.enable, profiler.disable
            profiler.start()
        usage, queries, started = resource.getrusage(resource.RUSAGE_SELF), counter['queries'], time.time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the forked prober, once reaped
        try:
            return original_handle(cls, job, *args, **kwargs)
        finally:
            ended = time.time()
            if profiler:
                profiler.stop()
                path = Path(profile_dir) / f'probe_job-profile-job{job.pk}.txt'
                if hasattr(profiler, 'output_text'):
                    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
                    profiler.last_session.save(str(path.with_suffix('.pyisession')))  # `pyinstrument --load`
                else:
                    import io
                    import pstats

                    buffer = io.StringIO()
                    stats = pstats.Stats(profiler, stream=buffer)
                    stats.sort_stats('cumulative').print_stats(60)
                    stats.sort_stats('tottime').print_stats(30)
                    path.write_text(buffer.getvalue())
            after = resource.getrusage(resource.RUSAGE_SELF)
            after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
            if job_log:
                status = Path('/proc/self/status').read_text()
                hwm = int(re.search(r'VmHWM:\s+(\d+)', status).group(1))
                record = {
                    'job': job.pk, 'runner': cls.__name__, 'pid': os.getpid(), 'started': started, 'ended': ended,
                    'queries': counter['queries'] - queries,
                    'cpu_seconds': after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
                    'prober_cpu_seconds': (after_children.ru_utime + after_children.ru_stime
                                           - children.ru_utime - children.ru_stime),
                    'vmhwm_mb': hwm / 1024, 'phases': {name: dict(figure) for name, figure in phases.items()},
                    'hosts': list(kwargs.get('hosts') or ()),  # in the order the job probes them
                }
                with open(job_log, 'a') as stream:
                    stream.write(json.dumps(record) + '\n')

    JobRunner.handle = classmethod(handle)
    from netbox.cli import main

    sys.argv = ['netbox', 'rqworker', *queues]
    return main()


# --- processes -----------------------------------------------------------------------------------------------


def _proc_status(pid):
    try:
        text = Path(f'/proc/{pid}/status').read_text()
        stat = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    figures = dict(re.findall(r'^(VmHWM|VmRSS):\s+(\d+)', text, re.M))
    name = re.search(r'^Name:\s+(.*)$', text, re.M)
    return {'pgrp': int(stat[2]), 'hwm': int(figures.get('VmHWM', 0)), 'rss': int(figures.get('VmRSS', 0)),
            'comm': name.group(1).strip() if name else ''}


def _pss(pid):
    try:
        return int(re.search(r'^Pss:\s+(\d+)', Path(f'/proc/{pid}/smaps_rollup').read_text(), re.M).group(1))
    except (FileNotFoundError, ProcessLookupError, AttributeError):
        return 0


def _children(pid):
    try:
        return [int(child) for child in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def process_cpu(pid):
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(value) for value in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Sampler(threading.Thread):
    """Polls the worker's process tree: the worker's own peak RSS, and each work-horse's (RQ forks one per job;
    it calls setpgrp, so a horse is a descendant that leads its own process group)."""

    def __init__(self, worker_pid, interval):
        super().__init__(daemon=True)
        self.worker_pid, self.interval = worker_pid, interval
        self.stopping = threading.Event()
        self.horses = {}  # pid -> {'first': t, 'last': t, 'hwm_kb': peak}
        self.probers = {}  # the horses' forked probers (probing/forked.py), the same way
        self.worker_hwm_kb = 0
        self.tree_pss_peak_kb = 0

    def run(self):
        rounds = 0
        while not self.stopping.wait(self.interval):
            now, rounds = time.time(), rounds + 1
            pids = descendants(self.worker_pid)
            if rounds % 10 == 0:  # the whole tree's proportional set size (shared pages split), less often: dearer
                self.tree_pss_peak_kb = max(self.tree_pss_peak_kb, sum(_pss(pid) for pid in pids))
            for pid in pids:
                status = _proc_status(pid)
                if status is None:
                    continue
                if pid == self.worker_pid:
                    self.worker_hwm_kb = max(self.worker_hwm_kb, status['hwm'])
                elif status['pgrp'] == pid or status['comm'] == PROBER:
                    seen = (self.horses if status['pgrp'] == pid else self.probers).setdefault(
                        pid, {'first': now, 'last': now, 'hwm_kb': 0})
                    seen['last'] = now
                    seen['hwm_kb'] = max(seen['hwm_kb'], status['hwm'])

    def horses_between(self, start, end, probers=False):
        return [h for h in (self.probers if probers else self.horses).values()
                if h['last'] >= start and h['first'] <= end]

    def stop(self):
        self.stopping.set()
        self.join(timeout=5)


def stop_process_tree(process, name, grace=20):
    """SIGTERM a process we started (and its process group), then SIGKILL what is left of its tree, work-horses
    included (they lead process groups of their own)."""
    if process is None or process.poll() is not None:
        return
    tree = descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f'{name} did not stop within {grace} s: killing it')
    for pid in tree + descendants(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log(f'{name} (pid {process.pid}) is still running')


class Fleet:
    """The simulated fleet in its own process (its own session), on one port across restarts, with its host keys
    kept in a state directory so that the keys pinned by the first run stay valid."""

    def __init__(self, tmp, hosts, port, public_key):
        self.tmp, self.hosts, self.port, self.public_key = tmp, hosts, port, public_key
        self.process = None
        self.log = tmp / 'fleet.log'

    def start(self, hang_fraction):
        from netbox_triage.fleet.manifest import dump_manifest

        manifest = self.tmp / f'fleet-{hang_fraction:g}.json'
        dump_manifest(self.hosts(hang_fraction), manifest)
        pidfile = self.tmp / 'fleet.pid'
        pidfile.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [str(PYTHON), '-m', 'netbox_triage.fleet.server', '--manifest', str(manifest), '--port', str(self.port),
             '--authorized-key', str(self.public_key), '--pidfile', str(pidfile),
             '--state-dir', str(self.tmp / 'fleet-state')],
            cwd=REPO, env={**os.environ, 'PYTHONPATH': str(REPO)}, stdout=subprocess.DEVNULL,
            stderr=self.log.open('a'), start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while not pidfile.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'the fleet did not start:\n{self.log.read_text()[-2000:]}')
            time.sleep(0.2)
        return self

    def cpu(self):
        return process_cpu(self.process.pid) if self.process else 0.0

    def stop(self):
        stop_process_tree(self.process, 'fleet')
        self.process = None


# --- the NetBox side -----------------------------------------------------------------------------------------


def is_vm(index):
    """Hosts come in fours: two VMs, two devices (so that the hanging hosts, every tenth, fall on both kinds)."""
    return index % 4 < 2


def ordinal(index):
    """The host's rank among the hosts of its kind (VMs or devices)."""
    return index // 4 * 2 + index % 2


def cluster_of(index):
    return ordinal(index) // 3  # VMs in clusters of three


def fleet_hosts(count, latency_ms, port, profile):
    """scale_fleet()'s hosts (127.101.x.y, hanging ones spread evenly); with 'mix', the profiles in turn, the
    three VMs of a cluster sharing one. Returns a function of the hang fraction."""
    from netbox_triage.fleet.manifest import scale_fleet

    names = sorted(path.stem for path in PROFILES.glob('*.out')) if profile == 'mix' else [profile]

    def profile_of(index):
        return names[(cluster_of(index) if is_vm(index) else ordinal(index)) % len(names)]

    def hosts(hang_fraction):
        return [replace(host, profile=profile_of(index)) for index, host in
                enumerate(scale_fleet(count, latency_ms, hang_fraction, port=port))]

    return hosts


def create_fixture(hosts):
    """The admin user, and one device or VM per fleet host (half are VMs, in clusters of three), each dialled
    through its local config context; bulk-created (no signals, so no per-object jobs)."""
    from unittest import mock

    from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
    from extras.jobs import RenderConfigContextJob
    from users.models import User
    from virtualization.models import Cluster, ClusterType, VirtualMachine

    started = time.monotonic()
    user = User.objects.create(username=ADMIN, is_superuser=True, is_active=True)
    user.set_password(ADMIN)
    user.save()
    with mock.patch.object(RenderConfigContextJob, 'enqueue_once'):
        manufacturer = Manufacturer.objects.create(name='Bench', slug='bench')
        device_type = DeviceType.objects.create(manufacturer=manufacturer, model='Server', slug='server')
        sites = Site.objects.bulk_create(Site(name=f'Site {i}', slug=f'site-{i}') for i in range(4))
        role = DeviceRole.objects.create(name='Server', slug='server')
        cluster_type = ClusterType.objects.create(name='KVM', slug='kvm')
        vm_indexes = [i for i in range(len(hosts)) if is_vm(i)]
        clusters = Cluster.objects.bulk_create(
            Cluster(name=f'cluster-{n:04d}', type=cluster_type) for n in range(math.ceil(len(vm_indexes) / 3)))

        def context(host):
            return {'triage': {'ssh': {'host': host.address, 'port': host.port}}}

        Device.objects.bulk_create(
            (Device(name=host.name, device_type=device_type, role=role, site=sites[i % len(sites)], status='active',
                    local_context_data=context(host)) for i, host in enumerate(hosts) if not is_vm(i)), batch_size=1000)
        VirtualMachine.objects.bulk_create(
            (VirtualMachine(name=host.name, cluster=clusters[cluster_of(i)], role=role, status='active',
                            local_context_data=context(host)) for i, host in enumerate(hosts) if is_vm(i)),
            batch_size=1000)
    log(f'fixture: {len(hosts):,} hosts ({len(hosts) - len(vm_indexes):,} devices, {len(vm_indexes):,} VMs in '
        f'{len(clusters):,} clusters) in {time.monotonic() - started:.1f} s')


def worker_environment(tmp, configuration, job_profile):
    env = {**os.environ, JOB_LOG_ENV: str(tmp / 'jobs.jsonl')}
    if configuration:
        env['NETBOX_CONFIGURATION'] = configuration
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(tmp), env.get('PYTHONPATH')]))
    if job_profile:
        env[JOB_PROFILE_ENV] = str(OUT)
    return env


def start_worker(tmp, env, plain):
    command = ([str(NETBOX), 'rqworker', 'high', 'default', 'low'] if plain else
               [str(PYTHON), __file__, '--worker', 'high', 'default', 'low'])
    worker = subprocess.Popen(command, env=env, cwd=REPO, stdout=(tmp / 'worker.log').open('w'),
                              stderr=subprocess.STDOUT, start_new_session=True)
    import django_rq
    from rq import Worker

    connection = django_rq.get_connection('default')
    deadline = time.monotonic() + 120
    while not Worker.count(connection=connection):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'the RQ worker did not start:\n{(tmp / "worker.log").read_text()[-3000:]}')
        time.sleep(0.2)
    wait_idle()
    return worker


def wait_idle(timeout=120):
    """Until no job is queued or running (the system jobs the worker enqueues at start-up run first)."""
    from core.choices import JobStatusChoices
    from core.models import Job

    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        busy = Job.objects.exclude(status__in=JobStatusChoices.TERMINAL_STATE_CHOICES).exclude(
            status=JobStatusChoices.STATUS_SCHEDULED).exists()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        time.sleep(0.3)
    raise RuntimeError('the worker stayed busy')


def hostfacts_changes():
    from django.contrib.contenttypes.models import ContentType

    from core.models import ObjectChange

    from netbox_triage.models import HostFacts

    return ObjectChange.objects.filter(changed_object_type=ContentType.objects.get_for_model(HostFacts)).count()


def host_outcomes():
    """{'dcim.device:1': [status, duration ms], ...}: each host's last probe."""
    from netbox_triage.models import HostFacts

    return {(f'dcim.device:{device}' if device else f'virtualization.virtualmachine:{vm}'): [status, duration]
            for device, vm, status, duration in HostFacts.objects.values_list(
                'device_id', 'virtual_machine_id', 'status', 'duration_ms')}


def changelog_since(moment):
    from django.db.models import Count

    from core.models import ObjectChange

    rows = (ObjectChange.objects.filter(time__gte=moment).values('changed_object_type__app_label',
                                                                 'changed_object_type__model')
            .annotate(n=Count('pk')).order_by('-n'))
    return {f"{row['changed_object_type__app_label']}.{row['changed_object_type__model']}": row['n'] for row in rows}


def run_batch(label, hosts, env, sampler, fleet, tmp, wait_timeout):
    """Enqueue a probe of every host the way a user does, wait for the batch, and gather its figures."""
    from core.choices import JobStatusChoices
    from core.models import Job

    wait_idle()
    sampler.tree_pss_peak_kb = 0  # per run (VmHWM cannot be reset: the worker's is its peak so far)
    before_changes = hostfacts_changes()
    jobs_log = tmp / 'jobs.jsonl'
    log_offset = jobs_log.stat().st_size if jobs_log.exists() else 0
    fleet_cpu, busy = fleet.cpu(), machine_busy()
    command_started = time.time()
    completed = subprocess.run([str(NETBOX), 'triage_probe', '--all', '--enqueue', '--user', ADMIN], env=env,
                               cwd=REPO, capture_output=True, text=True, timeout=600)
    command_seconds = time.time() - command_started
    if completed.returncode:
        raise RuntimeError(f'triage_probe --enqueue exited {completed.returncode}:\n{completed.stderr[-3000:]}')
    ids = [int(pk) for pk in re.findall(r'job #(\d+)', completed.stdout)]
    if not ids:
        raise RuntimeError(f'triage_probe enqueued nothing:\n{completed.stdout[-2000:]}')
    first_created = Job.objects.filter(pk__in=ids).order_by('created').values_list('created', flat=True)[0]
    deadline = time.monotonic() + wait_timeout
    while True:
        # A fleet rules job that finds probe jobs still running re-enqueues itself: wait for its successors too.
        batch = list(Job.objects.filter(pk__in=ids) | Job.objects.filter(name=FLEET_RULES_JOB,
                                                                          created__gte=first_created))
        if all(job.status in JobStatusChoices.TERMINAL_STATE_CHOICES for job in batch):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f'{label}: the batch did not end within {wait_timeout} s')
        time.sleep(0.25)
    fleet_cpu, busy_end = fleet.cpu() - fleet_cpu, machine_busy()
    # What the batch left for the same worker: NetBox's own jobs (search index updates after each host's
    # commit, config context renders), run once the batch's jobs are done. Recurring system jobs aside.
    wait_idle(timeout=wait_timeout)
    side = Job.objects.filter(created__gte=first_created, interval__isnull=True).exclude(
        pk__in=[job.pk for job in batch])
    side_jobs = dict(Counter(side.values_list('name', flat=True)))
    drained = max([job.completed for job in batch] + [job.completed for job in side if job.completed])
    failed = [job for job in batch if job.status != JobStatusChoices.STATUS_COMPLETED]
    if failed:
        raise RuntimeError(f'{label}: ' + '; '.join(f'job #{job.pk} {job.name} ended {job.status}: {job.error}'
                                                    for job in failed))
    records = {}
    if jobs_log.exists():
        with jobs_log.open() as stream:
            stream.seek(log_offset)
            for line in stream:
                record = json.loads(line)
                records[record['job']] = record
    probes = sorted((job for job in batch if job.name.startswith(PROBE_JOB)), key=lambda job: job.pk)
    rules = sorted((job for job in batch if job.name == FLEET_RULES_JOB), key=lambda job: job.pk)
    probe_end = max(job.completed for job in probes)
    rules_end = max(job.completed for job in rules) if rules else probe_end
    statuses, changed = {}, 0
    chunks = []
    for job in probes:
        data = job.data or {}
        progress = data.get('progress') or {}
        for status, count in (progress.get('statuses') or {}).items():
            statuses[status] = statuses.get(status, 0) + count
        changed += progress.get('changed', 0)
        record = records.get(job.pk, {})
        horses = sampler.horses_between(job.started.timestamp(), job.completed.timestamp())
        chunks.append({
            'job': job.pk, 'name': job.name, 'hosts': progress.get('total', 0),
            'statuses': progress.get('statuses') or {}, 'changed': progress.get('changed', 0),
            'queued_seconds': (job.started - first_created).total_seconds(),
            'seconds': (job.completed - job.started).total_seconds(),
            'queries': record.get('queries'), 'cpu_seconds': record.get('cpu_seconds'),
            'prober_cpu_seconds': record.get('prober_cpu_seconds'),
            'vmhwm_mb': record.get('vmhwm_mb'),
            'sampled_hwm_mb': max((h['hwm_kb'] for h in horses), default=0) / 1024,
            'prober_hwm_mb': max((h['hwm_kb'] for h in sampler.horses_between(
                job.started.timestamp(), job.completed.timestamp(), probers=True)), default=0) / 1024,
            'phases': record.get('phases') or {},
            'host_keys': record.get('hosts') or [],
            'dependencies': data.get('dependencies') or {}, 'rules': data.get('rules') or {},
        })
    fleet_rules = []
    for job in rules:
        record = records.get(job.pk, {})
        fleet_rules.append({
            'job': job.pk, 'seconds': (job.completed - job.started).total_seconds(),
            'queries': record.get('queries'), 'cpu_seconds': record.get('cpu_seconds'),
            'vmhwm_mb': record.get('vmhwm_mb'), 'rules': (job.data or {}).get('rules') or {},
        })
    probe_seconds = (probe_end - first_created).total_seconds()
    outcomes = host_outcomes()
    for chunk in chunks:
        chunk['outcomes'] = [outcomes.get(key) for key in chunk['host_keys']]  # [status, duration ms] in probe order
    figures = {
        'label': label, 'hosts': hosts, 'jobs': len(probes), 'command_seconds': round(command_seconds, 2),
        'probe_seconds': probe_seconds, 'rules_seconds': (rules_end - first_created).total_seconds(),
        'drained_seconds': (drained - first_created).total_seconds(), 'side_jobs': side_jobs,
        'rate': hosts / probe_seconds, 'statuses': statuses, 'changed': changed, 'chunks': chunks,
        'fleet_rules': fleet_rules, 'hostfacts_changes': hostfacts_changes() - before_changes,
        'changelog': changelog_since(first_created), 'fleet_cpu_seconds': fleet_cpu,
        'machine_busy': (busy_end[0] - busy[0]) / max(1, busy_end[1] - busy[1]),
        'peak_horse_mb': max([c['vmhwm_mb'] or 0 for c in chunks] + [c['sampled_hwm_mb'] for c in chunks]
                             + [r['vmhwm_mb'] or 0 for r in fleet_rules]),
        'worker_hwm_mb': sampler.worker_hwm_kb / 1024, 'tree_pss_peak_mb': sampler.tree_pss_peak_kb / 1024,
        'peak_prober_mb': max((c['prober_hwm_mb'] for c in chunks), default=0),
    }
    log(f'{label}: {hosts} hosts, probe jobs {probe_seconds:.1f} s ({figures["rate"]:.1f} hosts/s), fleet rules '
        f'done at {figures["rules_seconds"]:.1f} s, queue drained at {figures["drained_seconds"]:.1f} s '
        f'({side_jobs or "no other jobs"}); {statuses}; {changed} changed; HostFacts changelog rows '
        f'{figures["hostfacts_changes"]}; horse peak {figures["peak_horse_mb"]:.0f} MB')
    for chunk in chunks:
        phases = ', '.join(f'{name} {figure["seconds"]:.1f} s/{figure["queries"]} q'
                           for name, figure in chunk['phases'].items())
        log(f'  job #{chunk["job"]}: {chunk["hosts"]} hosts in {chunk["seconds"]:.1f} s, cpu '
            f'{chunk["cpu_seconds"] or 0:.1f} s (+ prober {chunk["prober_cpu_seconds"] or 0:.1f} s), '
            f'{chunk["queries"]} queries; {phases}')
    return figures


def run(args, tmp, state):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from netbox_triage.fleet.sshd import free_port
    from netbox_triage.jobs import probe_job_timeout
    from netbox_triage.settings import get_setting

    call_command('migrate', verbosity=0, interactive=False)  # a migration newer than the template
    settings = {name: get_setting(name) for name in ('probe_concurrency', 'probe_chunk_size', 'connect_timeout',
                                                     'auth_timeout', 'command_timeout', 'ssh_key_files',
                                                     'probe_in_subprocess')}
    key_file = Path(settings['ssh_key_files'][0])
    public_key = key_file.with_name(key_file.name + '.pub')
    if not public_key.exists():
        raise SystemExit(f'{public_key} is missing: the fleet must accept the key in ssh_key_files')
    port = free_port('127.101.0.1')
    hosts = fleet_hosts(args.hosts, args.latency_ms, port, args.fleet_profile)
    create_fixture(hosts(0.0))
    env = state['env']
    chunk = max(1, int(settings['probe_chunk_size']))
    chunk_sizes = [min(chunk, args.hosts - start) for start in range(0, args.hosts, chunk)]
    wait_timeout = sum(probe_job_timeout(size) for size in chunk_sizes) + 600

    fleet = state['fleet'] = Fleet(tmp, hosts, port, public_key).start(0.0)
    worker = state['worker'] = start_worker(tmp, env, args.plain_worker)
    sampler = state['sampler'] = Sampler(worker.pid, args.sample_interval)
    sampler.start()
    runs = [run_batch('1. first probe', args.hosts, env, sampler, fleet, tmp, wait_timeout),
            run_batch('2. again, nothing changed', args.hosts, env, sampler, fleet, tmp, wait_timeout)]
    fleet.stop()
    fleet.start(args.hang_fraction)
    runs.append(run_batch(f'3. {args.hang_fraction * 100:g} % of hosts hanging', args.hosts, env, sampler, fleet, tmp,
                          wait_timeout))
    with connection.cursor() as cursor:
        cursor.execute('SHOW server_version')
        postgres = cursor.fetchone()[0]
    return {
        'generated': datetime.now(UTC).strftime('%Y-%m-%d %H:%M'), 'cpus': os.cpu_count(),
        'python': platform.python_version(), 'postgres': postgres, 'load_start': state['load_start'],
        'load_end': os.getloadavg(), 'hosts': args.hosts, 'latency_ms': args.latency_ms,
        'hang_fraction': args.hang_fraction, 'profile': args.fleet_profile, 'overrides': state['overrides'],
        'settings': {k: v for k, v in settings.items() if k != 'ssh_key_files'}, 'chunks': chunk_sizes,
        'plain_worker': args.plain_worker, 'runs': runs,
    }


# --- report ----------------------------------------------------------------------------------------------------


def fifo_makespan(durations, workers):
    """When the last of `durations` ends if each starts, in order, as soon as one of `workers` is free: how
    run_many's pool probes a chunk."""
    free = [0.0] * workers  # when each worker is next free: at the end, when each finished its last host
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def hang_allowance(report):
    """What the timeouts allow run 3: run 2 (the same hosts, already known, nothing changed) plus what its hanging
    hosts must cost, two ways, per chunk (the chunks run one after the other on the one worker, so their extra
    waits add up):

    - `ideal`: one banner timeout (`connect_timeout`: a hanging host accepts TCP and never sends its SSH banner)
      for each set of `probe_concurrency` workers the hanging hosts hold, as if they had all been started first,
      as bench/probe_transport.py (b) counts it. No scheduler can do that without knowing in advance which hosts
      will hang.
    - `in probe order`: the chunk's hosts replayed in the order the job probed them, each holding a worker for
      its own run-2 duration, and a hanging host for the banner timeout instead; the difference with the replay
      without hangs. A hanging host started near a chunk's end holds the chunk for its whole timeout after the
      others are done: that tail is the timeouts' cost, not the prober's.

    Returns (allowed ideal, waves, ratio ideal, allowed in probe order, extra seconds per chunk, ratio)."""
    baseline, hang = report['runs'][1], report['runs'][2]
    concurrency, banner = report['settings']['probe_concurrency'], report['settings']['connect_timeout']
    waves = [math.ceil(chunk['statuses'].get('timeout', 0) / concurrency) for chunk in hang['chunks']]
    allowed = baseline['probe_seconds'] + sum(waves) * banner
    before = {key: outcome for chunk in baseline['chunks']
              for key, outcome in zip(chunk.get('host_keys', ()), chunk.get('outcomes', ()))}
    extras = []
    for chunk in hang['chunks']:
        normal, hanging = [], []
        for key, outcome in zip(chunk.get('host_keys', ()), chunk.get('outcomes', ())):
            seconds = ((before.get(key) or [None, 0])[1] or 0) / 1000
            normal.append(seconds)
            hanging.append(banner if outcome and outcome[0] == 'timeout' else seconds)
        extras.append(fifo_makespan(hanging, concurrency) - fifo_makespan(normal, concurrency) if normal else None)
    if any(extra is None for extra in extras):  # an old report without the hosts' order
        return allowed, waves, hang['probe_seconds'] / allowed, None, extras, None
    in_order = baseline['probe_seconds'] + sum(extras)
    return allowed, waves, hang['probe_seconds'] / allowed, in_order, extras, hang['probe_seconds'] / in_order


def render_section(report):
    runs = report['runs']
    settings = report['settings']
    overrides = report['overrides']
    set_text = ('the defaults except ' + ', '.join(f'`{k}` {v}' for k, v in overrides.items()) if overrides
                else 'the defaults')
    rows = []
    for figures in runs:
        counted = all(c['queries'] is not None for c in figures['chunks'])  # not with --plain-worker
        queries = f"{sum(c['queries'] for c in figures['chunks']) / figures['hosts']:.1f}" if counted else 'n/a'
        cpu = (f"{sum(c['cpu_seconds'] for c in figures['chunks']) * 1000 / figures['hosts']:.1f} + "
               f"{sum(c['prober_cpu_seconds'] or 0 for c in figures['chunks']) * 1000 / figures['hosts']:.1f}"
               if counted else 'n/a')
        rows.append(
            f"| {figures['label']} | {figures['jobs']} | {figures['probe_seconds']:.1f} | **{figures['rate']:.1f}** | "
            f"{figures['rules_seconds']:.1f} | {figures['drained_seconds']:.1f} | "
            f"{cpu} | {queries} | {figures['peak_horse_mb']:.0f} | {figures['peak_prober_mb']:.0f} | "
            f"{', '.join(f'{k}: {v:,}' for k, v in sorted(figures['statuses'].items()))} | {figures['changed']:,} | "
            f"{figures['hostfacts_changes']:,} | {figures['fleet_cpu_seconds'] * 1000 / figures['hosts']:.1f} | "
            f"{figures['machine_busy'] * 100:.0f} % |")
    first = runs[0]
    phase_names = []
    for figures in runs:
        for chunk in figures['chunks']:
            phase_names += [name for name in chunk['phases'] if name not in phase_names]
    phase_rows = []
    for figures in runs:
        totals = {}
        for chunk in figures['chunks']:
            for name, figure in chunk['phases'].items():
                total = totals.setdefault(name, [0.0, 0])
                total[0] += figure['seconds']
                total[1] += figure['queries']
        job_seconds = sum(c['seconds'] for c in figures['chunks'])
        if totals:
            phase_rows.append(f"| {figures['label']} | {job_seconds:.1f} | " + ' | '.join(
                f'{totals[name][0]:.1f} s / {totals[name][1]:,} q' if name in totals else '' for name in phase_names)
                + ' |')
    rate = first['rate']
    peak = max(figures['peak_horse_mb'] for figures in runs)
    tree = max(figures['tree_pss_peak_mb'] for figures in runs)
    allowed, waves, ratio, in_order, extras, order_ratio = hang_allowance(report)
    hang = runs[2]
    load = ' '.join(f'{value:.2f}' for value in report['load_start'])
    rules = first['fleet_rules'][0] if first['fleet_rules'] else None
    lines = [
        BEGIN,
        '## Probe jobs on one RQ worker (`bench/probe_job.py`)',
        '',
        f"Machine: {report['cpus']} CPUs, Python {report['python']}, PostgreSQL {report['postgres']}. Generated by "
        f"`bench/probe_job.py` on {report['generated']} (load average at the start {load}).",
        '',
        'The real path of a bulk probe, unlike `bench/probe_transport.py` (b) which times the bare transport: '
        '`netbox triage_probe --all --enqueue --user admin` (`enqueue_probe()`) enqueues one ProbeJob per '
        f"`probe_chunk_size` hosts and the fleet RulesJob; one `netbox rqworker high default low` runs them: "
        'per chunk `probe_hosts()` (SSH, parse, `apply_probe_results()` per batch of hosts: HostFacts, platform, '
        'VM resources, '
        'changelog), `record_dependencies()` and the per-host rules, then the fleet rules. '
        f"{report['hosts']:,} hosts of the simulated fleet on 127.101.x.y with {report['latency_ms']:g} ms added "
        f"per round trip (fleet in its own process on the same machine; profiles "
        f"{'in turn, a cluster sharing one' if report['profile'] == 'mix' else report['profile']}), half devices, "
        'half VMs in clusters of three, each dialled through its local `triage.ssh` config context. Settings: '
        f'{set_text}: `probe_concurrency` {settings["probe_concurrency"]}, `probe_chunk_size` '
        f'{settings["probe_chunk_size"]} ({len(report["chunks"])} chunk{"s" if len(report["chunks"]) > 1 else ""} of '
        f'{", ".join(map(str, report["chunks"]))} hosts), '
        f'timeouts connect/banner {settings["connect_timeout"]} s, auth {settings["auth_timeout"]} s, command '
        f'{settings["command_timeout"]} s. Wall times run from the creation of the first job to the end of the last '
        'probe job (and to the end of the fleet rules job); CPU, queries and peak RSS are those of the work-horses '
        '(RQ forks one per job), the RSS their VmHWM at the end of the job and sampled from `/proc`, and of the '
        "prober each horse forks for the job's SSH connections and parsing (probing/forked.py, setting "
        f"`probe_in_subprocess` {settings.get('probe_in_subprocess', True)}): its CPU as the horse's reaped child, "
        'its RSS sampled.',
        '',
        '| run | jobs | probe jobs wall (s) | hosts/s | + fleet rules (s) | queue drained (s) '
        '| CPU per host, horse + prober (ms) | queries per host | peak horse RSS (MB) | peak prober RSS (MB) '
        '| statuses | changed | HostFacts changelog rows | fleet CPU per host (ms) | machine busy |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
        *rows,
        '',
    ]
    if phase_rows:
        lines += [
            'Where the time of the jobs goes (summed over the chunks; `apply` is part of `probe_hosts`: the horse '
            'records results as its forked prober sends them, parsed):',
            '',
            '| run | jobs (s) | ' + ' | '.join(phase_names) + ' |',
            '|---|---:|' + '---:|' * len(phase_names),
            *phase_rows,
            '',
        ]
    lines += [
        f'- throughput (run 1, facts new): **{rate:.1f} hosts/s** (bar: >= {BAR_RATE:.0f}) -> '
        f"{'met' if rate >= BAR_RATE else 'NOT met'}; run 2: {runs[1]['rate']:.1f} hosts/s",
        f'- peak memory of the whole worker: worker, RQ scheduler, work-horse and its prober together at most '
        f'**{tree:.0f} MB** (bar: < {BAR_RSS_MB}) -> {"met" if tree < BAR_RSS_MB else "NOT met"} (PSS: pages they '
        f'share, most of a forked process, split between them; sampled every second); alone (RSS, shared pages '
        f"counted in each): the work-horse {peak:.0f} MB, its prober {max(r['peak_prober_mb'] for r in runs):.0f} MB, "
        f"the worker {max(r['worker_hwm_mb'] for r in runs):.0f} MB",
        f"- {report['hang_fraction'] * 100:g} % hanging ({hang['statuses'].get('timeout', 0):,} timeouts): "
        f"{hang['probe_seconds']:.1f} s. What the timeouts allow, from run 2 ({runs[1]['probe_seconds']:.1f} s, the "
        'same hosts with nothing changed): '
        + (f"in the order the jobs probe the hosts (each chunk replayed with run 2's host durations and "
           f"{settings['connect_timeout']} s for each hanging host, `hang_allowance()`), "
           f"+ {' + '.join(f'{extra:.1f}' for extra in extras)} s = {in_order:.1f} s, ratio **{order_ratio:.2f}** "
           f"(bar: <= {BAR_HANG_RATIO}) -> {'met' if order_ratio <= BAR_HANG_RATIO else 'NOT met'}; "
           if in_order else '')
        + f"as if every hanging host had been started first (one {settings['connect_timeout']} s banner timeout per "
        f"set of {settings['probe_concurrency']} workers they hold in each chunk, {' + '.join(map(str, waves))}), "
        f'{allowed:.1f} s, ratio {ratio:.2f}'
        + ('' if in_order else f" (bar: <= {BAR_HANG_RATIO}) -> {'met' if ratio <= BAR_HANG_RATIO else 'NOT met'}"),
        f"- idempotent: HostFacts changelog rows in run 2: **{runs[1]['hostfacts_changes']}** (run 1: "
        f"{first['hostfacts_changes']:,}); all changelog rows by type, "
        + '; '.join(f"run {figures['label'][0]}: "
                    + (', '.join(f'{name} {n:,}' for name, n in figures['changelog'].items()) or 'none')
                    for figures in runs),
    ]
    lines.append('- NetBox\'s own jobs the batch left on the same worker (run after it; "queue drained" is when the '
                 'last ended): ' + '; '.join(f"run {figures['label'][0]}: "
                                             + (', '.join(f'{n:,} {name}' for name, n in figures['side_jobs'].items())
                                                or 'none') for figures in runs))
    if rules:
        found = rules['rules']
        lines.append(f"- fleet rules job of run 1: {rules['seconds']:.1f} s"
                     + (f", {rules['queries']} queries" if rules['queries'] is not None else '')
                     + f"; {found.get('findings', 0)} findings, {found.get('created', 0)} created; per-host rules in "
                     f"the probe jobs: {sum(c['rules'].get('created', 0) for c in first['chunks'])} discoveries "
                     'created')
    lines += [
        '- re-run: `' + ' '.join(['NETBOX_ROOT=/work/main/.netbox .venv/bin/python bench/probe_job.py',
                                  *(('--in-process' if k == 'probe_in_subprocess' else
                                     f'--{k.replace("probe_", "").replace("_", "-")} {v}')
                                    for k, v in overrides.items()),
                                  *(['--plain-worker'] if report['plain_worker'] else [])])
        + '` (creates and drops its own database, `triage_bench_probe_job`, and Redis databases '
        f'{REDIS_DB}/{REDIS_DB + 1}; `--job-profile` writes a profile of each probe job to `bench/out/`).',
        END,
    ]
    return '\n'.join(lines)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        return worker_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=BAR_HOSTS)
    parser.add_argument('--latency-ms', type=float, default=BAR_LATENCY_MS)
    parser.add_argument('--hang-fraction', type=float, default=0.1)
    parser.add_argument('--concurrency', type=int, help='probe_concurrency (default: the plugin default)')
    parser.add_argument('--chunk-size', type=int, help='probe_chunk_size (default: the plugin default)')
    parser.add_argument('--in-process', action='store_true',
                        help='probe_in_subprocess False: the SSH connections in threads of the work-horse itself')
    parser.add_argument('--fleet-profile', default='mix',
                        help="'mix' (every fleet profile in turn) or the one profile every host answers with")
    parser.add_argument('--plain-worker', action='store_true',
                        help='run the bare `netbox rqworker` (no query counts, no phase timings)')
    parser.add_argument('--job-profile', action='store_true',
                        help='profile each probe job in its work-horse (pyinstrument, else cProfile) to bench/out/')
    parser.add_argument('--sample-interval', type=float, default=0.1)
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    parser.add_argument('--keep-db', action='store_true', help=f'leave the {DB} database behind')
    args = parser.parse_args()
    if args.fleet_profile != 'mix' and not (PROFILES / f'{args.fleet_profile}.out').exists():
        parser.error(f'no fleet profile {args.fleet_profile!r}')
    if not 0 < args.hosts <= 60000:
        parser.error('--hosts: 1 to 60,000')
    if args.job_profile and args.plain_worker:
        parser.error('--job-profile needs the counting worker (not --plain-worker)')
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    overrides = {}
    if args.concurrency is not None:
        overrides['probe_concurrency'] = args.concurrency
    if args.chunk_size is not None:
        overrides['probe_chunk_size'] = args.chunk_size
    if args.in_process:
        overrides['probe_in_subprocess'] = False
    tmp = Path(tempfile.mkdtemp(prefix='triage-bench-probe-job-'))
    state = {'overrides': overrides, 'load_start': os.getloadavg(), 'fleet': None, 'worker': None, 'sampler': None}
    configuration = write_configuration(tmp, overrides) if overrides else None
    if configuration:
        os.environ['NETBOX_CONFIGURATION'] = configuration
        sys.path.insert(0, str(tmp))
    state['env'] = worker_environment(tmp, configuration, args.job_profile)
    OUT.mkdir(parents=True, exist_ok=True)
    if workers := redis_in_use():
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f'Redis database {REDIS_DB} has {workers} RQ worker(s) of another NetBox: choose a free one '
                         f'with TRIAGE_REDIS_DB (it and the next one are flushed)')
    # Interrupted or terminated (even when started in the background, where SIGINT comes ignored): clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f'stopped by signal {signum}'))
    report = None
    # A run that was killed leaves its database behind, maybe with sessions still on it.
    create_database(DB, replace=True, force=True, timeout=PSQL_TIMEOUT)
    try:
        flush_redis()
        report = run(args, tmp, state)
    finally:
        if state['sampler']:
            state['sampler'].stop()
        stop_process_tree(state['worker'], 'RQ worker')
        if state['fleet']:
            state['fleet'].stop()
        if report is None:
            for name in ('worker.log', 'fleet.log'):
                if (tmp / name).exists():
                    log(f'--- last lines of {name}:\n' + (tmp / name).read_text()[-3000:])
        if not args.keep_db:
            drop_database(DB, force=True, timeout=PSQL_TIMEOUT)
        flush_redis()
        shutil.rmtree(tmp, ignore_errors=True)
    (OUT / 'probe_job.json').write_text(json.dumps(report, indent=1, default=str) + '\n')
    section = render_section(report)
    (OUT / 'probe_job.md').write_text(section + '\n')
    print(section)
    at_bar = args.hosts == BAR_HOSTS and args.latency_ms == BAR_LATENCY_MS
    if args.no_doc or not at_bar:
        log(f'docs/benchmarks.md not written ({"--no-doc" if args.no_doc else "not the bar size"}); '
            f'see {OUT / "probe_job.md"}')
    else:
        write_doc_section(section, BEGIN, END)
    rate, peak = report['runs'][0]['rate'], max(figures['tree_pss_peak_mb'] for figures in report['runs'])
    _allowed, _waves, ideal_ratio, _in_order, _extras, order_ratio = hang_allowance(report)
    hang_ratio = ideal_ratio if order_ratio is None else order_ratio  # as the section's verdict
    return 0 if rate >= BAR_RATE and peak < BAR_RSS_MB and hang_ratio <= BAR_HANG_RATIO else 1


if __name__ == '__main__':
    sys.exit(main())
