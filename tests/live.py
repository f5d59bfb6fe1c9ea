"""A live NetBox for end-to-end tests: `netbox runserver` on a loopback port, on its own database.

`make test` (scripts/bootstrap.sh) copies a fresh `<db>_e2e` database from the migrated template
before every run; this module starts one server per test process on it, creates the admin user
and provisions a v2 API token the way a user would (`POST /api/users/tokens/provision/`).
"""

import atexit
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from netbox_triage.fleet.sshd import free_port as _free_port

ROOT = Path(__file__).resolve().parent.parent
NETBOX = ROOT / '.venv' / 'bin' / 'netbox'
INSTANCE = Path(os.environ.get('NETBOX_ROOT', ROOT / '.netbox'))
E2E_DB = os.environ.get('TRIAGE_E2E_DB_NAME', 'netbox_triage_e2e')
USERNAME = 'e2e-admin'
PASSWORD = 'e2e-Password-1'

_server = None



def environment():
    env = dict(os.environ)
    env.update({'NETBOX_ROOT': str(INSTANCE), 'TRIAGE_DB_NAME': E2E_DB, 'TRIAGE_REDIS_DB': '4'})
    return env


def netbox(*args, check=True, timeout=600, **kwargs):
    """Run a `netbox` management command against the end-to-end database."""
    return subprocess.run(
        [str(NETBOX), *args], env=environment(), check=check, timeout=timeout, capture_output=True, text=True,
        **kwargs,
    )


class LiveNetBox:
    def __init__(self):
        self.port = _free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log = INSTANCE / 'log' / f'e2e-web-{self.port}.log'
        self.process = None
        self.token = None

    def start(self):
        netbox('shell', '--no-imports', '-c', (
            'from users.models import User\n'
            f'u, _ = User.objects.get_or_create(username={USERNAME!r}, defaults={{"is_superuser": True}})\n'
            f'u.set_password({PASSWORD!r}); u.save()\n'
        ))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open('w')
        self.process = subprocess.Popen(
            [str(NETBOX), 'runserver', f'127.0.0.1:{self.port}', '--noreload', '--insecure'],
            env=environment(), stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'NetBox exited early; see {self.log}:\n{self.log.read_text()[-2000:]}')
            try:
                with urllib.request.urlopen(f'{self.url}/login/', timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f'NetBox did not answer on {self.url} within 180 s; see {self.log}')
        self.token = self.provision_token(USERNAME, PASSWORD)
        return self

    def provision_token(self, username, password):
        request = urllib.request.Request(
            f'{self.url}/api/users/tokens/provision/',
            data=json.dumps({'username': username, 'password': password}).encode(),
            headers={'Content-Type': 'application/json', 'Accept': 'application/json'},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        return f'nbt_{body["key"]}.{body["token"]}'

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if getattr(self, '_log_file', None):
            self._log_file.close()


def live_netbox():
    """The shared server of this test process, started on first use."""
    global _server
    if _server is None:
        _server = LiveNetBox().start()
        atexit.register(_server.stop)
    return _server


# An instance of its own ---------------------------------------------------------------------------------------
# For a test module that must not share state with the other end-to-end tests: its own database (copied from
# the migrated template, then migrated), its own Redis databases, its own RQ worker, a free (or given) port.

TEMPLATE_DB = os.environ.get('TRIAGE_TEMPLATE_DB_NAME', 'netbox_triage_template')


def _psql(sql):
    return subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', sql],
                          capture_output=True, text=True, timeout=120)


class IsolatedNetBox(LiveNetBox):
    """A live NetBox and an RQ worker on a fresh copy of the template database and their own Redis databases
    (``redis_db`` for tasks, ``redis_db + 1`` for caching). ``stop()`` stops both and drops the database
    (unless ``keep_db``)."""

    def __init__(self, database, redis_db, port=None, keep_db=False):
        super().__init__()
        if not database.isidentifier() or not database.islower():
            raise ValueError(f'database name {database!r}: lower-case letters, digits and _ only')
        self.database, self.redis_db, self.keep_db = database, int(redis_db), keep_db
        if port:
            self.port = int(port)
            self.url = f'http://127.0.0.1:{self.port}'
            self.log = INSTANCE / 'log' / f'e2e-web-{self.port}.log'
        self.worker = None

    def environment(self):
        env = environment()
        env.update({'TRIAGE_DB_NAME': self.database, 'TRIAGE_REDIS_DB': str(self.redis_db)})
        return env

    def netbox(self, *args, check=True, timeout=600):
        """Run a `netbox` management command against this instance's database (a failure shows its stderr)."""
        result = subprocess.run([str(NETBOX), *args], env=self.environment(), timeout=timeout, capture_output=True,
                                text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f'netbox {args[0]} exited {result.returncode}:\n{result.stderr[-3000:]}')
        return result

    def create_database(self):
        """A fresh copy of the template (retried while another session copies it), migrated."""
        _psql(f'DROP DATABASE IF EXISTS {self.database}')
        deadline = time.monotonic() + 300
        while True:
            result = _psql(f'CREATE DATABASE {self.database} OWNER netbox_triage TEMPLATE {TEMPLATE_DB}')
            if result.returncode == 0:
                break
            if 'is being accessed by other users' not in result.stderr or time.monotonic() > deadline:
                raise RuntimeError(f'cannot create {self.database}: {result.stderr.strip()}')
            time.sleep(3)
        self.netbox('migrate', '--no-input', '-v', '0', timeout=1200)  # a migration newer than the template

    def flush_redis(self):
        """Forget queued jobs and cache entries an earlier, interrupted run left in this instance's Redis DBs."""
        import redis

        for number in (self.redis_db, self.redis_db + 1):
            redis.Redis(host='127.0.0.1', port=6379, db=number).flushdb()

    def start(self):
        self.create_database()
        self.flush_redis()
        self.netbox('shell', '--no-imports', '-c', (
            'from users.models import User\n'
            f'u, _ = User.objects.get_or_create(username={USERNAME!r}, defaults={{"is_superuser": True}})\n'
            f'u.set_password({PASSWORD!r}); u.save()\n'
        ))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open('w')
        self.process = subprocess.Popen(
            [str(NETBOX), 'runserver', f'127.0.0.1:{self.port}', '--noreload', '--insecure'],
            env=self.environment(), stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.worker_log = INSTANCE / 'log' / f'e2e-worker-{self.port}.log'
        self._worker_log_file = self.worker_log.open('w')
        self.start_worker()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'NetBox exited early; see {self.log}:\n{self.log.read_text()[-2000:]}')
            try:
                with urllib.request.urlopen(f'{self.url}/login/', timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f'NetBox did not answer on {self.url} within 180 s; see {self.log}')
        self.token = self.provision_token(USERNAME, PASSWORD)
        return self

    def start_worker(self):
        """An RQ worker (its own process group, so `kill_worker()` takes its work-horse too)."""
        self.worker = subprocess.Popen(
            [str(NETBOX), 'rqworker', 'high', 'default', 'low'], env=self.environment(),
            stdout=self._worker_log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self.worker

    def kill_worker(self, spare=()):
        """SIGKILL the worker and its work-horse, as the OOM killer or a pulled plug would: no clean-up runs.
        (RQ's work-horse starts a session of its own, so the worker's process group does not hold it.)
        Descendants whose process name is in `spare` are left alone, to see whether they end by themselves;
        returns their pids."""
        pids, spared, parents = [], [], [self.worker.pid]
        while parents:
            pids += parents
            found = subprocess.run(['ps', '-o', 'pid=,comm=', '--ppid', ','.join(map(str, parents))],
                                   capture_output=True, text=True).stdout.splitlines()
            parents = []
            for line in found:
                pid, _sep, name = line.strip().partition(' ')
                (spared if name.strip() in spare else parents).append(int(pid))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.worker.wait(timeout=30)
        return spared

    def stop(self):
        super().stop()
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
        if getattr(self, '_worker_log_file', None):
            self._worker_log_file.close()
        if not self.keep_db:
            _psql(f'DROP DATABASE IF EXISTS {self.database} WITH (FORCE)')


def wait_for_jobs(session, url, job_ids, timeout=180):
    """Wait until NetBox's jobs `job_ids` end; returns {id: job JSON}. Raises AssertionError on a failure."""
    deadline = time.monotonic() + timeout
    done = {}
    for job_id in job_ids:
        while True:
            job = session.get(f'{url}/api/core/jobs/{job_id}/', timeout=30).json()
            if job['status']['value'] in ('completed', 'errored', 'failed'):
                if job['status']['value'] != 'completed':
                    raise AssertionError(f'job {job_id} ({job["name"]}) ended {job["status"]["value"]}: '
                                         f'{job.get("error")}')
                done[job_id] = job
                break
            if time.monotonic() > deadline:
                raise AssertionError(f'job {job_id} ({job["name"]}) still {job["status"]["value"]} after {timeout} s')
            time.sleep(1)
    return done
