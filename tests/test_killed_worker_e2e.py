"""A worker killed in the middle of a probe: nothing half-written stays, and the next run picks up.

A live NetBox on its own database and Redis DBs, a real RQ worker, and a simulated fleet on 127.108.0.x whose
hosts answer after different delays, so that a bulk probe (`netbox triage_probe --all --enqueue`) is still
running when the test sends SIGKILL to the worker and its work-horse: no `finally`, no rollback in Python, as
when the OOM killer or a pulled plug stops a worker. Then:

- the job's forked prober (probing/forked.py), spared by the kill, ends by itself with the work-horse;
- every HostFacts row written before the kill is whole (status, probe time, facts of an OK probe), PostgreSQL
  holds no transaction of the dead worker, and the probe job still says "running" (NetBox cannot know);
- `settle_abandoned_jobs()` ends that job as errored once RQ gives it up (its timeout passed), which also lets
  the batch's waiting fleet-rules job go on, on a new worker;
- probing again gets every host: the next run picks up.

Every connection stays on 127.0.0.0/8.
"""

import os
import subprocess
import time
import unittest

import requests

from netbox_triage.fleet.manifest import FleetHost
from netbox_triage.fleet.server import FleetServer
from netbox_triage.probing.forked import PROCESS_NAME
from tests.live import INSTANCE, USERNAME, IsolatedNetBox, wait_for_jobs

DATABASE = os.environ.get('TRIAGE_E2E_KILLED_DB', 'netbox_triage_e2e_killed')
REDIS_DB = int(os.environ.get('TRIAGE_E2E_KILLED_REDIS_DB', '12'))
HOSTS = 24
PROFILES = ('ubuntu2204', 'rhel4', 'debian12', 'centos7')
FINAL = ('completed', 'errored', 'failed')


def _running(pid):
    """Still running: a process ended but not yet reaped by whoever adopted it (a zombie) has ended."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except FileNotFoundError:
        return False


class KilledWorkerEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = IsolatedNetBox(DATABASE, REDIS_DB, keep_db=os.environ.get('TRIAGE_E2E_KEEP_DB') == '1')
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.session = requests.Session()
        cls.session.headers.update({'Authorization': f'Bearer {cls.server.token}', 'Accept': 'application/json'})
        public_key = (INSTANCE / 'ssh' / 'id_ed25519.pub').read_text()
        # 40 ms to 960 ms added per round trip: the hosts finish one after the other over several seconds.
        hosts = [FleetHost(address=f'127.108.0.{n}', port=0, profile=PROFILES[n % len(PROFILES)],
                           name=f'killed-{n:02d}', latency_ms=40 * n) for n in range(1, HOSTS + 1)]
        cls.fleet = FleetServer(hosts, state_dir=INSTANCE / 'e2e-killed-fleet', authorized_keys=[public_key]).start()
        cls.addClassCleanup(cls.fleet.stop)
        cls.server.netbox('shell', '--no-imports', '-c', (
            'from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site\n'
            'site = Site.objects.create(name="killed", slug="killed")\n'
            'maker = Manufacturer.objects.create(name="killed", slug="killed")\n'
            'dtype = DeviceType.objects.create(manufacturer=maker, model="killed", slug="killed")\n'
            'role = DeviceRole.objects.create(name="killed", slug="killed")\n'
            f'for n in range(1, {HOSTS} + 1):\n'
            '    Device.objects.create(name=f"killed-{n:02d}", site=site, device_type=dtype, role=role,\n'
            '        local_context_data={"triage": {"ssh": {"host": f"127.108.0.{n}", '
            f'"port": {cls.fleet.port}}}}}}})\n'
        ))

    def api(self, path, **params):
        response = self.session.get(f'{self.server.url}/api/{path}', params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def facts(self):
        return self.api('plugins/triage/host-facts/', limit=1000)['results']

    def probe_jobs(self):
        return self.api('core/jobs/', name__isw='Triage probe', ordering='created', limit=100)['results']

    def fleet_rules_ran(self):
        """Whether the batch's fleet-rules job ran the rules (while it waits, each look is a job of its own)."""
        jobs = self.api('core/jobs/', name='Triage rules (fleet, after probe)', limit=100)['results']
        return any(job['status']['value'] == 'completed' and 'rules' in (job['data'] or {}) for job in jobs)

    def idle_in_transaction(self):
        result = subprocess.run(
            ['psql', '-h', '127.0.0.1', '-U', 'postgres', '-tAc',
             f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{DATABASE}' "
             "AND state LIKE 'idle in transaction%'"],
            capture_output=True, text=True, timeout=30, check=True)
        return int(result.stdout.strip())

    def test_killed_worker_leaves_whole_facts_and_the_next_run_picks_up(self):
        enqueued = self.server.netbox('triage_probe', '--all', '--enqueue', '--user', USERNAME)
        self.assertIn(f'for {HOSTS} host(s)', enqueued.stdout)

        # Kill the worker once a few hosts are recorded and the job is still running.
        deadline = time.monotonic() + 120
        while True:
            done = len(self.facts())
            if done >= 3:
                break
            self.assertLess(time.monotonic(), deadline, 'the probe never started')
            time.sleep(0.2)
        # The job's SSH connections run in a forked child (probing/forked.py): left alone here, it must end with
        # the work-horse rather than probe on for a job nobody records.
        probers = self.server.kill_worker(spare=(PROCESS_NAME,))
        self.assertLess(done, HOSTS, 'every host was probed before the kill: the fleet answered too fast')
        self.assertTrue(probers, 'the probe job ran without its forked prober')
        deadline = time.monotonic() + 10
        while alive := [pid for pid in probers if _running(pid)]:
            self.assertLess(time.monotonic(), deadline, f'the forked prober(s) {alive} outlived the work-horse')
            time.sleep(0.1)

        time.sleep(1)
        self.assertEqual(self.idle_in_transaction(), 0)
        recorded = self.facts()
        self.assertLess(len(recorded), HOSTS)
        for facts in recorded:
            with self.subTest(host=facts['device']['name']):
                self.assertEqual(facts['status']['value'], 'ok')
                self.assertIsNotNone(facts['probed_at'])
                self.assertIsNotNone(facts['last_ok_at'])
                self.assertTrue(facts['os_pretty_name'])
                self.assertTrue(facts['facts']['packages'])
        [killed] = self.probe_jobs()
        self.assertEqual(killed['status']['value'], 'running')
        self.assertFalse(self.fleet_rules_ran())

        # RQ gives the job up once its timeout has passed (here: pretend an hour went by); the job ends errored.
        settled = self.server.netbox('shell', '--no-imports', '-c', (
            'import time\n'
            'from core.models import Job\n'
            'from netbox_triage.jobs import settle_abandoned_jobs\n'
            'jobs = settle_abandoned_jobs(Job.objects.filter(name__startswith="Triage probe", status="running"),'
            ' timestamp=time.time() + 3600)\n'
            'print("settled", len(jobs))\n'
        ))
        self.assertIn('settled 1', settled.stdout)
        killed = self.api(f'core/jobs/{killed["id"]}/')
        self.assertEqual(killed['status']['value'], 'errored')
        self.assertIn('worker stopped', killed['error'])

        # A new worker: the batch's fleet-rules job stops waiting for the dead chunk, and a new probe gets all.
        self.server.start_worker()
        deadline = time.monotonic() + 120
        while not self.fleet_rules_ran():
            self.assertLess(time.monotonic(), deadline, 'the fleet rules job still waits for the killed chunk')
            time.sleep(1)

        again = self.server.netbox('triage_probe', '--all', '--enqueue', '--user', USERNAME)
        self.assertIn(f'for {HOSTS} host(s)', again.stdout)
        pending = [job['id'] for job in self.probe_jobs() if job['status']['value'] not in FINAL]
        self.assertTrue(pending)
        wait_for_jobs(self.session, self.server.url, pending, timeout=240)
        final = self.facts()
        self.assertEqual(len(final), HOSTS)
        self.assertEqual({facts['status']['value'] for facts in final}, {'ok'})


if __name__ == '__main__':
    unittest.main()
