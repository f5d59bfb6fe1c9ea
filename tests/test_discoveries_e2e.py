"""Discoveries and exports end to end: a live NetBox on its own database, a real RQ worker, the seed fleet.

The walk a consultant takes after `make demo`, driven from outside: load the seed (`triage_demo`), probe every
host through the REST API, let the worker run the probe jobs and the "Triage rules (fleet, after probe)"
job, then read the discoveries back over REST: the seed's worst problems are there (Red Hat 4, Heartbleed on
one HAProxy only, no health checks, cluster drift, the anonymous Jenkins found by the active HTTP check). A
second probe changes nothing, a false positive stays one, and the exports work with the real tools: the
topology job's PNG and SVG, the Monit bundle checked by `monit -t`, the SSH config read by `ssh -G`.

This module has its own instance (database `TRIAGE_E2E_DISCOVERIES_DB`, Redis DBs `TRIAGE_E2E_DISCOVERIES_REDIS_DB`
and the next, a free port or `TRIAGE_E2E_DISCOVERIES_PORT`) and its own fleet on 127.106.x.y, so it runs beside
`make demo` (127.100.x.y, port 8000) and the other end-to-end tests. Every connection stays on 127.0.0.0/8.
"""

import io
import ipaddress
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest
from pathlib import Path

import requests

from netbox_triage.fleet.manifest import SEED_HOSTS, FleetHost
from netbox_triage.fleet.server import FleetServer
from netbox_triage.fleet.web import start_seed_web
from netbox_triage.tests.test_rules import SEED_FINDINGS
from tests.live import INSTANCE, USERNAME, IsolatedNetBox, wait_for_jobs

DATABASE = os.environ.get('TRIAGE_E2E_DISCOVERIES_DB', 'netbox_triage_e2e_discoveries')
REDIS_DB = int(os.environ.get('TRIAGE_E2E_DISCOVERIES_REDIS_DB', '6'))
PORT = os.environ.get('TRIAGE_E2E_DISCOVERIES_PORT')
# The seed's 10.0.x.y hosts answer here (the demo's fleet holds 127.100.x.y).
FLEET_NETWORK = ipaddress.ip_network('127.106.0.0/16')
RULES_JOB = 'Triage rules (fleet, after probe)'
DISCOVERY_TYPE = 'netbox_triage.discovery'


def fleet_address(netbox_address):
    return str(FLEET_NETWORK.network_address + (int(ipaddress.ip_address(netbox_address)) & 0xFFFF))


class DiscoveriesEndToEndTest(unittest.TestCase):
    """Steps run in order (test_1…test_6); setUpClass loads the seed and runs the first probe."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='triage-e2e-')
        cls.server = IsolatedNetBox(DATABASE, REDIS_DB, port=PORT,
                                    keep_db=os.environ.get('TRIAGE_E2E_KEEP_DB') == '1')
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.session = requests.Session()
        cls.session.headers.update({'Authorization': f'Bearer {cls.server.token}', 'Accept': 'application/json'})

        public_key = (INSTANCE / 'ssh' / 'id_ed25519.pub').read_text()
        cls.fleet_hosts = [FleetHost(address=fleet_address(address), port=0, profile=profile, name=name,
                                     netbox_address=address) for name, address, profile in SEED_HOSTS]
        # Host keys stay stable across runs (the database is new each time, so nothing is pinned anyway).
        cls.fleet = FleetServer(cls.fleet_hosts, state_dir=INSTANCE / 'e2e-discoveries-fleet',
                                authorized_keys=[public_key]).start()
        cls.addClassCleanup(cls.fleet.stop)
        # fe-3's anonymous Jenkins on its fleet address, port 8080, as the fleet's `--seed` serves it.
        cls.web = start_seed_web(cls.fleet_hosts)
        for web in cls.web:
            cls.addClassCleanup(web.server_close)
            cls.addClassCleanup(web.shutdown)

        result = cls.server.netbox('triage_demo')
        cls.incident_id = int(re.search(r'incident #(\d+)', result.stdout).group(1))
        cls.hosts = cls._point_hosts_at_the_fleet()
        cls.first_probe = cls.probe_everything()

    @classmethod
    def _point_hosts_at_the_fleet(cls):
        """{name: (kind, id)}: each seed host's `triage.ssh` override now names this module's fleet."""
        hosts = {}
        for name, address, _profile in SEED_HOSTS:
            for kind, endpoint in (('device', 'dcim/devices'), ('virtual_machine', 'virtualization/virtual-machines')):
                found = cls.get(f'/api/{endpoint}/', name=name)['results']
                if found:
                    host_id = found[0]['id']
                    context = {'triage': {'ssh': {'host': fleet_address(address), 'port': cls.fleet.port}}}
                    response = cls.session.patch(f'{cls.server.url}/api/{endpoint}/{host_id}/',
                                                 json={'local_context_data': context}, timeout=30)
                    response.raise_for_status()
                    hosts[name] = (kind, host_id)
                    break
        assert len(hosts) == len(SEED_HOSTS), hosts
        return hosts

    @classmethod
    def get(cls, path, **params):
        response = cls.session.get(f'{cls.server.url}{path}', params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    @classmethod
    def probe_everything(cls):
        """POST /probe/ for the 12 seed hosts; wait for the probe jobs and the fleet rules job that follows."""
        payload = {'devices': [i for kind, i in cls.hosts.values() if kind == 'device'],
                   'virtual_machines': [i for kind, i in cls.hosts.values() if kind == 'virtual_machine']}
        response = cls.session.post(f'{cls.server.url}/api/plugins/triage/probe/', json=payload, timeout=60)
        assert response.status_code == 202, response.text
        jobs = response.json()['jobs']
        done = wait_for_jobs(cls.session, cls.server.url, [job['id'] for job in jobs], timeout=240)
        names = [job['name'] for job in done.values()]
        assert RULES_JOB in names, names
        rules = cls._rules_result(max(job['id'] for job in done.values() if job['name'] == RULES_JOB))
        return {'jobs': done, 'rules': rules}

    @classmethod
    def _rules_result(cls, job_id, timeout=240):
        """The fleet rules' summary. A rules job that found probe jobs still running hands over to a new one
        (scheduled a few seconds later): follow it to the job that ran the rules."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = cls.get('/api/core/jobs/', name=RULES_JOB, id__gte=job_id, ordering='id')['results']
            for job in later:
                if job['status']['value'] == 'completed' and (job.get('data') or {}).get('rules'):
                    return job['data']['rules']
                if job['status']['value'] in ('errored', 'failed'):
                    raise AssertionError(f'{RULES_JOB} #{job["id"]} ended {job["status"]["value"]}: {job["error"]}')
            time.sleep(1)
        raise AssertionError(f'no {RULES_JOB} job ran the rules within {timeout} s')

    def discoveries(self, **params):
        return self.get('/api/plugins/triage/discoveries/', limit=1000, **params)['results']

    def active(self):
        return [d for d in self.discoveries() if d['status']['value'] in ('open', 'acknowledged')]

    def about(self, name):
        kind, host_id = self.hosts[name]
        label = 'dcim.device' if kind == 'device' else 'virtualization.virtualmachine'
        return [d for d in self.active() if d['subject_key'] == f'{label}:{host_id}']

    def changelog_count(self):
        return self.get('/api/core/object-changes/', changed_object_type=DISCOVERY_TYPE, limit=1)['count']

    # 1. What the first probe found ------------------------------------------------------------------------

    def test_1_the_seeds_worst_problems_are_discovered(self):
        for job in self.first_probe['jobs'].values():
            self.assertEqual(job['status']['value'], 'completed')
        facts = self.get('/api/plugins/triage/host-facts/', limit=100)['results']
        self.assertEqual(sorted(f['status']['value'] for f in facts), ['ok'] * len(SEED_HOSTS),
                         [(f['display'], f['error']) for f in facts if f['status']['value'] != 'ok'])

        be_1 = self.about('be-1')
        self.assertTrue([d for d in be_1 if d['rule'] == 'eol' and d['severity']['value'] == 'critical'
                         and 'Red Hat' in d['title']], [d['title'] for d in be_1])
        heartbleed = [d for d in self.about('haproxy-1') if 'Heartbleed' in d['title']]
        self.assertEqual([(d['rule'], d['severity']['value']) for d in heartbleed],
                         [('vulnerable_packages', 'critical')])
        self.assertFalse([d for d in self.about('haproxy-2') if 'heartbleed' in d['title'].lower()],
                         'haproxy-2 runs the patched OpenSSL')
        self.assertTrue([d for d in self.about('haproxy-1') if d['rule'] == 'haproxy_checks'])
        drift = [d for d in self.active() if d['rule'] == 'cluster_drift']
        self.assertTrue(drift)
        self.assertIn('Backend Cluster', {d['object']['display'] for d in drift if d['object']})
        # The probe job's active HTTP check reached the anonymous Jenkins on fe-3's fleet address.
        jenkins = [d for d in self.about('fe-3') if d['rule'] == 'exposed_services']
        self.assertEqual([d['severity']['value'] for d in jenkins], ['critical'], [d['title'] for d in jenkins])
        self.assertTrue(jenkins[0]['title'].startswith('Jenkins allows anonymous administrative access'))
        self.assertIn('/script', str(jenkins[0]['evidence']))
        # Every planted problem, and nothing else: the same set as the rules' offline seed test (severities of
        # end-of-life findings move with the calendar, so they are left out here), with the exposed Jenkins
        # confirmed by the active check. The patched HAProxy and the healthy Frontend Cluster raise nothing more.
        names = {f'{"dcim.device" if kind == "device" else "virtualization.virtualmachine"}:{host_id}': name
                 for name, (kind, host_id) in self.hosts.items()}
        found = set()
        for discovery in self.active():
            rule = discovery['rule']
            if rule == 'vulnerable_packages':
                rule += ':' + discovery['evidence']['cve']
            elif rule == 'inventory':
                rule += ':' + discovery['evidence']['check']
            subject = names.get(discovery['subject_key']) or (discovery['object'] or {}).get('display')
            found.add((rule, subject))
        expected = {(rule, name) for rule, name, _severity in SEED_FINDINGS}
        self.assertEqual(found, expected,
                         f'unexpected: {sorted(found - expected)}; missing: {sorted(expected - found)}')
        # Written as the user who asked for the probe.
        changes = self.get('/api/core/object-changes/', changed_object_type=DISCOVERY_TYPE, limit=1000)['results']
        self.assertTrue(changes)
        self.assertEqual({c['user_name'] for c in changes}, {USERNAME})

    # 2. Probing again changes nothing ---------------------------------------------------------------------

    def test_2_a_second_probe_creates_no_discovery_and_no_changelog_entry(self):
        before = sorted((d['id'], d['status']['value'], d['title'], d['last_updated']) for d in self.discoveries())
        changes = self.changelog_count()
        second = self.probe_everything()
        self.assertEqual((second['rules']['created'], second['rules']['reopened'], second['rules']['updated'],
                          second['rules']['resolved']), (0, 0, 0, 0), second['rules'])
        after = sorted((d['id'], d['status']['value'], d['title'], d['last_updated']) for d in self.discoveries())
        self.assertEqual(after, before)
        self.assertEqual(self.changelog_count(), changes)

    # 3. A false positive stays quiet ----------------------------------------------------------------------

    def test_3_a_false_positive_stays_one_after_the_rules_run_again(self):
        target = [d for d in self.about('haproxy-1') if d['rule'] == 'haproxy_checks'][0]
        response = self.session.patch(f'{self.server.url}/api/plugins/triage/discoveries/{target["id"]}/',
                                      json={'status': 'false_positive'}, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        result = self.server.netbox('triage_rules', '--user', USERNAME, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn('false positives, still quiet', result.stdout)
        again = self.get(f'/api/plugins/triage/discoveries/{target["id"]}/')
        self.assertEqual(again['status']['value'], 'false_positive')
        same = [d for d in self.discoveries(rule='haproxy_checks') if d['subject_key'] == target['subject_key']]
        self.assertEqual([d['id'] for d in same], [target['id']], 'no new discovery for the same evidence')

    # 4. The incident's topology ---------------------------------------------------------------------------

    def test_4_topology_of_the_incident_renders_to_png_and_clean_svg(self):
        url = f'{self.server.url}/api/plugins/triage/topology/'
        target = {'object_type': 'netbox_triage.incident', 'object_id': self.incident_id}
        response = self.session.post(url, json=target, timeout=30)
        self.assertEqual(response.status_code, 202, response.text)
        wait_for_jobs(self.session, self.server.url, [response.json()['job']], timeout=240)
        summary = self.get('/api/plugins/triage/topology/', **target)
        self.assertTrue(summary['parts'] and all(part['ok'] for part in summary['parts']), summary)

        png = self.session.get(url, params={**target, 'download': 'png'}, headers={'Accept': '*/*'}, timeout=60)
        self.assertEqual(png.status_code, 200, png.text[:500])
        self.assertEqual(png.headers['Content-Type'], 'image/png')
        self.assertTrue(png.content.startswith(b'\x89PNG\r\n\x1a\n'))
        svg = self.session.get(url, params={**target, 'download': 'svg'}, headers={'Accept': '*/*'}, timeout=60)
        self.assertEqual(svg.status_code, 200, svg.text[:500])
        self.assertTrue(svg.headers['Content-Type'].startswith('image/svg+xml'))
        self.assertIn('<svg', svg.text)
        self.assertNotIn('<script', svg.text.lower())
        self.assertIn('haproxy-1', svg.text)

    # 5. The Monit bundle passes `monit -t` ----------------------------------------------------------------

    @unittest.skipUnless(shutil.which('monit'), 'monit is not installed')
    def test_5_monit_bundle_of_the_site_passes_monit_t_on_every_host(self):
        site = self.get('/api/dcim/sites/', name='Customer DC')['results'][0]
        prefix = tempfile.mkdtemp(prefix='monit_', dir=self.tmp.name)
        params = {'site': site['slug'], 'prefix': prefix}
        url = f'{self.server.url}/api/plugins/triage/export/monit/'
        listing = self.session.get(url, params={**params, 'format': 'json'}, timeout=60)
        self.assertEqual(listing.status_code, 200, listing.text[:500])
        aliases = sorted(host['alias'] for host in listing.json()['hosts'])
        self.assertIn('haproxy-1', aliases)

        response = self.session.get(url, params=params, headers={'Accept': 'application/gzip'}, timeout=60)
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertTrue(response.content.startswith(b'\x1f\x8b'), 'a gzip stream')
        with tarfile.open(fileobj=io.BytesIO(response.content), mode='r:gz') as tar:
            tar.extractall(prefix, filter='tar')
        self.assertEqual(sorted(p.parent.name for p in Path(prefix).glob('*/monitrc')),
                         aliases)
        for alias in aliases:
            result = subprocess.run(['monit', '-t', '-c', f'{prefix}/{alias}/monitrc'], capture_output=True,
                                    text=True, timeout=30, env={'HOME': self.tmp.name, 'PATH': '/usr/bin:/bin'})
            self.assertEqual(result.returncode, 0, f'{alias}: {result.stdout}{result.stderr}')

    # 6. The SSH config is what ssh reads -----------------------------------------------------------------

    @unittest.skipUnless(shutil.which('ssh'), 'ssh is not installed')
    def test_6_ssh_config_resolves_hosts_with_ssh_g(self):
        response = self.session.get(f'{self.server.url}/api/plugins/triage/export/ssh-config/',
                                    headers={'Accept': 'text/plain'}, timeout=60)
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertEqual(response.headers['X-Triage-Skipped-Hosts'], '0')
        config = os.path.join(self.tmp.name, 'ssh_config')
        with open(config, 'w') as file:
            file.write(response.text)
        addresses = {name: fleet_address(address) for name, address, _profile in SEED_HOSTS}
        for alias in ('haproxy-1', 'be-1'):  # a device and a VM
            result = subprocess.run(['ssh', '-G', '-F', config, alias], capture_output=True, text=True, timeout=30,
                                    env={'HOME': self.tmp.name, 'PATH': '/usr/bin:/bin'})
            self.assertEqual(result.returncode, 0, result.stderr)
            options = dict(line.split(' ', 1) for line in result.stdout.splitlines() if ' ' in line)
            # The `triage.ssh` override (where the plugin reaches the host) wins over the primary IP.
            self.assertEqual(options['hostname'], addresses[alias])
            self.assertEqual(options['port'], str(self.fleet.port))


if __name__ == '__main__':
    unittest.main()
