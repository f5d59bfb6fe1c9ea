"""Benchmark of the probe transport (netbox_triage.probing.transport), written to bench/out/probe_transport.md.

(a) One real OpenSSH sshd listening on 50 loopback addresses (127.0.50.1-50): run_many against plain
    parallel OpenSSH `ssh` (50 processes) running the same script, and `ansible -m setup -a
    gather_subset=min` with 50 forks (ansible-core in a throwaway venv under /tmp).
    Bar: run_many within 1.3x of plain ssh, and at least 3x faster than Ansible.
(b) The simulated fleet (netbox_triage.fleet) with 2,000 hosts and 50 ms added per round trip, probed
    by one client process: at least 40 hosts/s and a peak RSS under 500 MB; then the same with 10 % of
    the hosts hanging, which must end within 20 % of what the timeouts allow.
(c) Client CPU per host, for every tool above.

All traffic stays on 127.0.0.0/8. Usage:

    PYTHONPATH=. .venv/bin/python bench/probe_transport.py [--part a|b|all] [--hosts 2000] [--ssh-hosts 50]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import log

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from netbox_triage.connections import Scope  # noqa: E402
from netbox_triage.fleet.manifest import scale_fleet  # noqa: E402
from netbox_triage.fleet.sshd import SSHD, LoopbackSshd, free_port, keygen  # noqa: E402
from netbox_triage.probing.transport import Credentials, Target, Timeouts, run_many  # noqa: E402

SCRIPT_PATH = REPO / 'netbox_triage' / 'probing' / 'script.sh'
TINY_SCRIPT = b'echo probe; uname -a; exit 0\n'
ANSIBLE_VENV = Path('/tmp/triage-bench-ansible')
ASYNCSSH_VENV = Path('/tmp/triage-bench-asyncssh')
# Run by the asyncssh venv's Python: the same job as run_many, written the asyncssh way.
ASYNCSSH_CLIENT = """
import asyncio, json, resource, sys, time
import asyncssh

async def probe(address, port, key, script, limit):
    async with limit:
        async with asyncssh.connect(address, port, username='root', client_keys=[key], known_hosts=None,
                                    connect_timeout=20) as conn:
            result = await conn.run('exec sh -s', input=script, encoding=None, timeout=120)
            return result.exit_status == 0 and bool(result.stdout)

async def main():
    addresses, port, key, script_path, concurrency = json.loads(sys.argv[1])
    script = open(script_path, 'rb').read()
    limit = asyncio.Semaphore(concurrency)
    key = asyncssh.read_private_key(key)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    results = await asyncio.gather(*(probe(a, port, key, script, limit) for a in addresses), return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({'wall': time.monotonic() - started, 'ok': sum(r is True for r in results),
                      'cpu': usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime}))

asyncio.run(main())
"""
SSH_NET = '127.0.50'
OUT = REPO / 'bench' / 'out' / 'probe_transport.md'
LOAD_AT_START = ' '.join(Path('/proc/loadavg').read_text().split()[:3]) if Path('/proc/loadavg').exists() else '?'


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


# --- (a) real sshd ------------------------------------------------------------------------------


# Debian's own start-up files for a new account's shell, what a server's root has unless someone changed them.
STOCK_DOTFILES = {'.bashrc': Path('/usr/share/base-files/dot.bashrc'),
                  '.profile': Path('/usr/share/base-files/dot.profile')}


def stock_dotfiles_prefix() -> tuple[tuple[str, ...], str]:
    """An argv prefix that runs sshd in a mount namespace where the login user's ~/.bashrc and ~/.profile are
    Debian's stock files, and a sentence saying what the sessions get.

    sshd runs every command through the user's login shell, and Debian's bash reads ~/.bashrc when sshd starts it,
    even for a command. This machine's root has `pyenv init` there (about 160 ms of CPU per session): measured as it
    is, every tool pays the developer's dotfiles once per host, which is not what a server does. Needs root and
    util-linux `unshare`; otherwise the sessions run with the dotfiles as they are, and the report says so.
    """
    home = Path.home()
    binds = [(stock, home / name) for name, stock in STOCK_DOTFILES.items()
             if stock.exists() and (home / name).exists()]
    if not binds:
        return (), f'login shell start-up files of {home} as they are (none to replace)'
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return (), f'login shell start-up files of {home} as they are (replacing them needs root and unshare)'
    mounts = ' && '.join(f'mount --bind {stock} {target}' for stock, target in binds)
    prefix = ('unshare', '--mount', '--propagation', 'private', 'sh', '-c', f'{mounts} && exec "$@"', 'sh')
    if subprocess.run([*prefix, 'true'], capture_output=True).returncode != 0:
        return (), f'login shell start-up files of {home} as they are (a private mount namespace was refused)'
    names = ', '.join(STOCK_DOTFILES)
    return prefix, (f"login shell start-up files: Debian's stock {names} bind-mounted over {home}'s in sshd's own "
                    f'mount namespace (`--dotfiles as-is` keeps them)')


def start_sshd(tmp: Path, count: int, dotfiles: str = 'stock') -> tuple[LoopbackSshd, str]:
    """OpenSSH sshd, as the current user, on ``count`` loopback addresses and one port, accepting ``tmp/client``;
    returns it with a sentence on the login shell's start-up files (see ``stock_dotfiles_prefix``)."""
    keygen(tmp / 'client')
    addresses = [f'{SSH_NET}.{n}' for n in range(1, count + 1)]
    prefix, login_shell = stock_dotfiles_prefix() if dotfiles == 'stock' else (
        (), f'login shell start-up files of {Path.home()} as they are (`--dotfiles as-is`)')
    sshd = LoopbackSshd(tmp, (tmp / 'client.pub').read_text(), addresses=addresses, options=('LogLevel ERROR',),
                        command_prefix=prefix)
    return sshd.start(), login_shell


def time_run_many(sshd: LoopbackSshd, script: bytes, concurrency: int) -> dict:
    targets = [Target(key=a, name=a, host=a, port=sshd.port) for a in sshd.addresses]
    credentials = Credentials(key_files=(str(sshd.dir / 'client'),))
    timeouts = Timeouts(connect=10, banner=20, auth=20, command=120)
    cpu, started = self_cpu(), time.monotonic()
    results = run_many(targets, script, credentials, timeouts, Scope([f'{SSH_NET}.0/24']), concurrency=concurrency)
    wall = time.monotonic() - started
    statuses = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    return {
        'wall': wall, 'cpu_per_host_ms': (self_cpu() - cpu) * 1000 / len(targets), 'statuses': statuses,
        'host_cpu_ms_median': statistics.median(r.cpu_ms for r in results),
        'errors': sorted({r.error for r in results if r.error})[:3],
    }


def time_plain_ssh(sshd: LoopbackSshd, script: bytes) -> dict:
    script_file = sshd.dir / 'script.sh'
    script_file.write_bytes(script)
    cpu, started = children_cpu(), time.monotonic()
    processes = []
    for address in sshd.addresses:
        with open(script_file, 'rb') as stdin:
            processes.append(subprocess.Popen(
                ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                 '-o', 'LogLevel=ERROR', '-i', str(sshd.dir / 'client'), '-p', str(sshd.port),
                 f'root@{address}', 'exec sh -s'],
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            ))
    ok = 0
    for process in processes:
        out, _ = process.communicate(timeout=300)
        ok += process.returncode == 0 and bool(out)
    wall = time.monotonic() - started
    return {'wall': wall, 'cpu_per_host_ms': (children_cpu() - cpu) * 1000 / len(processes), 'ok': ok}


def ensure_asyncssh() -> str | None:
    python = ASYNCSSH_VENV / 'bin' / 'python'
    if not python.exists():
        log('installing asyncssh into a throwaway venv under /tmp ...')
        try:
            subprocess.run([sys.executable, '-m', 'venv', str(ASYNCSSH_VENV)], check=True, capture_output=True)
            subprocess.run([str(ASYNCSSH_VENV / 'bin' / 'pip'), 'install', '-q', 'asyncssh'], check=True,
                           capture_output=True, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log(f'asyncssh could not be installed: {exc}')
            return None
    return str(python) if python.exists() else None


def time_asyncssh(sshd: LoopbackSshd, script: bytes, python: str) -> dict:
    script_file = sshd.dir / 'script.sh'
    script_file.write_bytes(script)
    argument = json.dumps([sshd.addresses, sshd.port, str(sshd.dir / 'client'), str(script_file),
                           len(sshd.addresses)])
    completed = subprocess.run([python, '-c', ASYNCSSH_CLIENT, argument], capture_output=True, timeout=600)
    if completed.returncode != 0:
        raise RuntimeError('asyncssh client failed: ' + completed.stderr.decode(errors='replace')[-1000:])
    figures = json.loads(completed.stdout)
    # Wall and CPU from inside the client: the interpreter's start-up is left out, as it is for run_many.
    return {'wall': figures['wall'], 'cpu_per_host_ms': figures['cpu'] * 1000 / len(sshd.addresses),
            'ok': figures['ok']}


def ensure_ansible() -> str | None:
    ansible = ANSIBLE_VENV / 'bin' / 'ansible'
    if ansible.exists():
        return str(ansible)
    log('installing ansible-core into a throwaway venv under /tmp ...')
    try:
        subprocess.run([sys.executable, '-m', 'venv', str(ANSIBLE_VENV)], check=True, capture_output=True)
        subprocess.run([str(ANSIBLE_VENV / 'bin' / 'pip'), 'install', '-q', 'ansible-core'], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log(f'ansible-core could not be installed: {exc}')
        return None
    return str(ansible) if ansible.exists() else None


def time_ansible(sshd: LoopbackSshd, ansible: str) -> dict:
    inventory = sshd.dir / 'inventory.ini'
    inventory.write_text('[fleet]\n' + ''.join(
        f'{address} ansible_host={address} ansible_port={sshd.port}\n' for address in sshd.addresses
    ) + '\n[fleet:vars]\nansible_user=root\nansible_python_interpreter=/usr/bin/python3\n'
        f'ansible_ssh_private_key_file={sshd.dir / "client"}\n')
    control = Path(tempfile.mkdtemp(prefix='cp-', dir=sshd.dir))
    env = {
        **os.environ,
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_PIPELINING': 'True',
        'ANSIBLE_SSH_ARGS': '-o ControlMaster=auto -o ControlPersist=no -o UserKnownHostsFile=/dev/null',
        'ANSIBLE_SSH_CONTROL_PATH_DIR': str(control),
        'ANSIBLE_LOCAL_TEMP': str(sshd.dir / 'ansible-tmp'),
        'ANSIBLE_NOCOLOR': '1',
    }
    cpu, started = children_cpu(), time.monotonic()
    completed = subprocess.run(
        [ansible, 'all', '-i', str(inventory), '-m', 'setup', '-a', 'gather_subset=min', '-f', str(len(sshd.addresses)),
         '-o'], env=env, capture_output=True, timeout=900,
    )
    wall = time.monotonic() - started
    ok = completed.stdout.count(b'SUCCESS')
    return {'wall': wall, 'cpu_per_host_ms': (children_cpu() - cpu) * 1000 / len(sshd.addresses), 'ok': ok,
            'rc': completed.returncode, 'stderr': completed.stderr.decode(errors='replace')[-500:]}


def part_a(count: int, rounds: int, with_asyncssh: bool, dotfiles: str = 'stock') -> dict:
    tmp = Path(tempfile.mkdtemp(prefix='triage-bench-sshd-'))
    sshd, login_shell = start_sshd(tmp, count, dotfiles)
    ansible = ensure_ansible()
    asyncssh = ensure_asyncssh() if with_asyncssh else None
    script = SCRIPT_PATH.read_bytes() if SCRIPT_PATH.exists() else TINY_SCRIPT
    report = {'hosts': count, 'script_bytes': len(script), 'script': 'probing/script.sh' if SCRIPT_PATH.exists()
              else 'tiny', 'ansible': bool(ansible), 'rounds': rounds, 'login_shell': login_shell, 'user': 'root',
              'runs': {}}
    try:
        # Warm up every tool once (page cache, .pyc files), then alternate them so drift hits all alike.
        time_run_many(sshd, TINY_SCRIPT, count)
        time_plain_ssh(sshd, TINY_SCRIPT)
        if ansible:
            time_ansible(sshd, ansible)
        if asyncssh:
            time_asyncssh(sshd, TINY_SCRIPT, asyncssh)
        for label, payload in (('script', script), ('tiny', TINY_SCRIPT)):
            for _ in range(rounds):
                runs = {'run_many': time_run_many(sshd, payload, count), 'ssh': time_plain_ssh(sshd, payload)}
                if asyncssh:
                    runs['asyncssh'] = time_asyncssh(sshd, payload, asyncssh)
                if ansible and label == 'script':
                    runs['ansible'] = time_ansible(sshd, ansible)
                for tool, figures in runs.items():
                    report['runs'].setdefault(f'{label}/{tool}', []).append(figures)
                    log(f'(a) {label:6} {tool:8} {figures["wall"]:.2f}s cpu/host {figures["cpu_per_host_ms"]:.1f} ms')
    finally:
        sshd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return report


# --- (b) simulated fleet --------------------------------------------------------------------------


def client_run(args) -> None:
    """Runs in its own process so that its peak RSS and CPU are the probe client's alone."""
    hosts = scale_fleet(args.hosts, args.latency_ms, args.hang_fraction, port=args.port)
    targets = [Target(key=h.name, name=h.name, host=h.address, port=h.port) for h in hosts]
    timeouts = Timeouts(connect=args.timeout, banner=args.timeout, auth=args.timeout, command=30)
    statuses, cpu_ms, durations = {}, [], []
    peak_threads = 0

    def on_result(result):
        nonlocal peak_threads
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.status == 'ok':
            cpu_ms.append(result.cpu_ms)
            durations.append(result.duration_ms)
        import threading

        peak_threads = max(peak_threads, threading.active_count())

    cpu, started = self_cpu(), time.monotonic()
    run_many(targets, args.script.encode(), Credentials(key_files=(args.key,)), timeouts,
             Scope(['127.101.0.0/16']), concurrency=args.concurrency, on_result=on_result, keep_output=False)
    wall = time.monotonic() - started
    print(json.dumps({
        'wall': wall, 'statuses': statuses, 'process_cpu_s': self_cpu() - cpu,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'host_cpu_ms_median': statistics.median(cpu_ms) if cpu_ms else 0,
        'host_cpu_ms_p95': percentile(cpu_ms, 0.95), 'duration_ms_median': statistics.median(durations or [0]),
        'duration_ms_p95': percentile(durations, 0.95), 'peak_threads': peak_threads,
    }))


def run_fleet_and_client(tmp: Path, hosts: int, latency: float, hang_fraction: float, concurrency: int,
                         timeout: float) -> dict:
    port = free_port('127.101.0.1')
    pidfile = tmp / f'fleet-{hang_fraction}.pid'
    fleet = subprocess.Popen(
        [sys.executable, '-m', 'netbox_triage.fleet.server', '--scale', str(hosts), '--latency-ms', str(latency),
         '--hang-fraction', str(hang_fraction), '--port', str(port), '--authorized-key', str(tmp / 'client.pub'),
         '--pidfile', str(pidfile), '--state-dir', str(tmp / 'fleet-state'), '--profiles-dir', str(tmp / 'profiles'),
         '--profile', 'bench'],
        cwd=REPO, env={**os.environ, 'PYTHONPATH': str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not pidfile.exists():
            if fleet.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('fleet did not start: ' + fleet.stderr.read().decode(errors='replace'))
            time.sleep(0.1)
        fleet_cpu = _process_cpu(fleet.pid)
        client = subprocess.run(
            [sys.executable, __file__, '--client', '--hosts', str(hosts), '--latency-ms', str(latency),
             '--hang-fraction', str(hang_fraction), '--port', str(port), '--concurrency', str(concurrency),
             '--timeout', str(timeout), '--key', str(tmp / 'client'), '--script', TINY_SCRIPT.decode()],
            cwd=REPO, capture_output=True, timeout=1800,
        )
        if client.returncode != 0:
            raise RuntimeError('client failed: ' + client.stderr.decode(errors='replace')[-2000:])
        figures = json.loads(client.stdout)
        figures['fleet_cpu_s'] = _process_cpu(fleet.pid) - fleet_cpu
        return figures
    finally:
        fleet.send_signal(signal.SIGTERM)
        try:
            fleet.wait(30)
        except subprocess.TimeoutExpired:
            fleet.kill()
            fleet.wait()


def _process_cpu(pid: int) -> float:
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def part_b(hosts: int, latency: float, concurrency: int, timeout: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix='triage-bench-fleet-'))
    try:
        keygen(tmp / 'client')
        (tmp / 'profiles').mkdir()
        # A realistic answer: this machine's own probe output when the real script exists.
        if SCRIPT_PATH.exists():
            output = subprocess.run(['sh', '-s'], input=SCRIPT_PATH.read_bytes(), capture_output=True,
                                    timeout=120).stdout
        else:
            output = b'probe\n' * 2000
        (tmp / 'profiles' / 'bench.out').write_bytes(output)
        report = {'hosts': hosts, 'latency_ms': latency, 'concurrency': concurrency, 'timeout': timeout,
                  'profile_bytes': len(output)}
        log(f'(b) {hosts} hosts, {latency} ms, concurrency {concurrency} ...')
        report['normal'] = run_fleet_and_client(tmp, hosts, latency, 0.0, concurrency, timeout)
        log(f'(b) normal: {json.dumps(report["normal"])}')
        report['hang'] = run_fleet_and_client(tmp, hosts, latency, 0.1, concurrency, timeout)
        log(f'(b) 10% hanging: {json.dumps(report["hang"])}')
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- report ---------------------------------------------------------------------------------------


def render(a: dict | None, b: dict | None, notes: list[str], load: str = LOAD_AT_START) -> str:
    lines = [
        '# Probe transport benchmark',
        '',
        f'Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, '
        f'{subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()}. '
        f'Generated by `bench/probe_transport.py` on {time.strftime("%Y-%m-%d %H:%M")}; load average at start '
        f'{load}.',
        '',
    ]
    if a:
        med = {key: statistics.median(run['wall'] for run in runs) for key, runs in a['runs'].items()}
        cpu = {key: statistics.median(run['cpu_per_host_ms'] for run in runs) for key, runs in a['runs'].items()}
        lines += [
            f'## (a) Real OpenSSH sshd, {a["hosts"]} loopback addresses, all hosts at once',
            '',
            f'Same targets, same key; {a["hosts"]} distinct addresses on one port, served by sshd processes of '
            f'16 ListenAddress each (MAX_LISTEN_SOCKS in sshd), MaxStartups 200. '
            f'"script" is `probing/{SCRIPT_PATH.name}` ({a["script_bytes"]} bytes, it runs on the host too); '
            f'"tiny" is a one-line script that isolates the transport. Median of {a["rounds"]} rounds after a '
            f'warm-up; CPU is the client side only (our process, or the ssh/ansible processes). Sessions log in as '
            f'{a.get("user", "root")}; {a.get("login_shell", "login shell start-up files as they are")}.',
            '',
            '| payload | tool | wall (s) | client CPU per host (ms) | vs plain ssh |',
            '|---|---|---:|---:|---:|',
        ]
        for key in a['runs']:
            payload, tool = key.split('/')
            ratio = med[key] / med[f'{payload}/ssh']
            lines.append(f'| {payload} | {tool} | {med[key]:.2f} | {cpu[key]:.1f} | {ratio:.2f}x |')
        ours, ssh = med['script/run_many'], med['script/ssh']
        lines += ['', f'- run_many / plain ssh (script): **{ours / ssh:.2f}x** (bar: <= 1.3x) '
                      f'-> {"met" if ours / ssh <= 1.3 else "NOT met"}']
        if 'script/ansible' in med:
            speedup = med['script/ansible'] / ours
            verdict = 'met' if speedup >= 3 else 'NOT met'
            lines.append(f'- Ansible / run_many: **{speedup:.1f}x** (bar: >= 3x) -> {verdict}'
                         f' (ansible-core, pipelining on, forks {a["hosts"]}, interpreter given: its best case)')
            client_share = cpu['script/run_many'] * a['hosts'] / 1000 / (ours * (os.cpu_count() or 1))
            lines += [
                f'- client CPU per host: run_many {cpu["script/run_many"]:.1f} ms, ssh {cpu["script/ssh"]:.1f} ms '
                f'({cpu["script/ssh"] / cpu["script/run_many"]:.1f}x more), Ansible {cpu["script/ansible"]:.1f} ms '
                f'({cpu["script/ansible"] / cpu["script/run_many"]:.1f}x more)',
                f'- where the wall time goes: here the {a["hosts"]} "hosts" share the {os.cpu_count()} CPUs with the '
                f'client, and sshd plus the work on the host dominate: run_many itself used '
                f'{client_share * 100:.0f} % of the CPU time available during its run. Against remote hosts the '
                f'client side is what is shared, and there Ansible spends '
                f'{cpu["script/ansible"] / cpu["script/run_many"]:.0f}x more CPU per host.',
            ]
        else:
            lines.append('- Ansible: not measured (ansible-core could not be installed)')
        if 'script/asyncssh' in med:
            lines.append(
                f'- asyncssh (same job, asyncio, {a["hosts"]} at once): {med["script/asyncssh"]:.2f} s with the '
                f'script ({med["script/asyncssh"] / ours:.2f}x run_many), {med["tiny/asyncssh"]:.2f} s tiny '
                f'({med["tiny/asyncssh"] / med["tiny/run_many"]:.2f}x); client CPU per host '
                f'{cpu["script/asyncssh"]:.1f} ms vs {cpu["script/run_many"]:.1f} ms')
        statuses = [run['statuses'] for run in a['runs']['script/run_many']]
        lines += [f'- run_many statuses: {statuses[-1]}', '']
    if b:
        normal, hang = b['normal'], b['hang']
        rate = b['hosts'] / normal['wall']
        hangs = hang['statuses'].get('timeout', 0)
        # Each full set of workers held by hanging hosts costs one banner timeout on top of the normal run.
        waves = -(-hangs // b['concurrency'])
        allowed = normal['wall'] + waves * b['timeout']
        lines += [
            f'## (b) Simulated fleet: {b["hosts"]} hosts, {b["latency_ms"]:g} ms added per round trip, '
            f'one client process',
            '',
            f'Fleet (`python -m netbox_triage.fleet.server --scale`) in its own process; the client probes with '
            f'run_many(concurrency={b["concurrency"]}), answer {b["profile_bytes"]} bytes per host, '
            f'connect/banner/auth timeouts {b["timeout"]:g} s.',
            '',
            '| run | wall (s) | hosts/s | peak RSS (MB) | client CPU per host (ms) | per-host CPU median / p95 (ms) '
            '| per-host duration median / p95 (ms) | statuses |',
            '|---|---:|---:|---:|---:|---|---|---|',
        ]
        for label, run in (('all answer', normal), ('10 % hang', hang)):
            lines.append(
                f'| {label} | {run["wall"]:.1f} | {b["hosts"] / run["wall"]:.1f} | {run["peak_rss_mb"]:.0f} | '
                f'{run["process_cpu_s"] * 1000 / b["hosts"]:.1f} | {run["host_cpu_ms_median"]:.1f} / '
                f'{run["host_cpu_ms_p95"]:.1f} | {run["duration_ms_median"]:.0f} / {run["duration_ms_p95"]:.0f} | '
                f'{run["statuses"]} |')
        lines += [
            '',
            f'- throughput: **{rate:.1f} hosts/s** (bar: >= 40) -> {"met" if rate >= 40 else "NOT met"}',
            f'- peak RSS: **{max(normal["peak_rss_mb"], hang["peak_rss_mb"]):.0f} MB** (bar: < 500) -> '
            f'{"met" if max(normal["peak_rss_mb"], hang["peak_rss_mb"]) < 500 else "NOT met"}',
            f'- with {hangs} hanging hosts: {hang["wall"]:.1f} s; what the timeouts allow: the run without hangs '
            f'({normal["wall"]:.1f} s) plus one {b["timeout"]:g} s banner timeout for each set of {b["concurrency"]} '
            f'workers the hanging hosts hold ({waves}) = {allowed:.1f} s; ratio **{hang["wall"] / allowed:.2f}** '
            f'(bar: <= 1.2) -> '
            f'{"met" if hang["wall"] <= 1.2 * allowed else "NOT met"}',
            f'- fleet server CPU (its own process): {normal["fleet_cpu_s"] * 1000 / b["hosts"]:.1f} ms per host',
            '',
        ]
    if a or b:
        lines += ['## (c) Client CPU per host', '', '| where | tool | client CPU per host (ms) |', '|---|---|---:|']
        if a:
            for key, runs in a['runs'].items():
                payload, tool = key.split('/')
                figure = statistics.median(run['cpu_per_host_ms'] for run in runs)
                lines.append(f'| real sshd, {payload} | {tool} | {figure:.1f} |')
        if b:
            for label, run in (('all answer', b['normal']), ('10 % hang', b['hang'])):
                lines.append(f'| fleet {b["hosts"]} hosts, {label} | run_many | '
                             f'{run["process_cpu_s"] * 1000 / b["hosts"]:.1f} |')
        lines += [
            '',
            'run_many figures are the whole client process (every thread: workers, paramiko transports, '
            'watchdog) divided by hosts; ssh and Ansible figures are the CPU of their processes. '
            '`ProbeResult.cpu_ms` gives the same per host (worker thread + its transport thread).',
            '',
        ]
    if notes:
        lines += ['## Notes', ''] + [f'- {note}' for note in notes] + ['']
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--part', choices=('a', 'b', 'all'), default='all')
    parser.add_argument('--ssh-hosts', type=int, default=50)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--hosts', type=int, default=2000)
    parser.add_argument('--latency-ms', type=float, default=50.0)
    parser.add_argument('--concurrency', type=int, default=100)
    parser.add_argument('--timeout', type=float, default=5.0)
    parser.add_argument('--out', default=str(OUT))
    parser.add_argument('--note', action='append', default=[])
    parser.add_argument('--dotfiles', choices=('stock', 'as-is'), default='stock',
                        help="(a): the login user's ~/.bashrc and ~/.profile: Debian's stock ones (default), or as is")
    parser.add_argument('--asyncssh', action='store_true', help='(a): also measure an asyncssh client')
    parser.add_argument('--render', metavar='JSON', help='only re-render the report from a saved JSON')
    # Internal: the client half of part (b).
    parser.add_argument('--client', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--hang-fraction', type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument('--port', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--key', help=argparse.SUPPRESS)
    parser.add_argument('--script', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_run(args)
        return 0
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        Path(args.out).write_text(render(saved['a'], saved['b'], list(args.note) + saved.get('notes', []),
                                            saved.get('load', '?')))
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    notes = list(args.note)
    a = b = None
    if args.part in ('a', 'all'):
        if not os.path.exists(SSHD):
            notes.append(f'(a) skipped: {SSHD} is not installed (apt-get install openssh-server)')
        else:
            a = part_a(args.ssh_hosts, args.rounds, args.asyncssh, args.dotfiles)
            if not a['ansible']:
                notes.append('(a) ansible-core could not be installed; Ansible was not measured')
    if args.part in ('b', 'all'):
        b = part_b(args.hosts, args.latency_ms, args.concurrency, args.timeout)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(a, b, notes))
    (out.with_suffix('.json')).write_text(json.dumps({'a': a, 'b': b, 'notes': notes, 'load': LOAD_AT_START},
                                                     indent=1))
    log(f'written to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
