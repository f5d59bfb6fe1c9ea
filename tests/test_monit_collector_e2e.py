"""The Monit collector end to end: a real `monit` daemon (Debian's), configured by the plugin's own Monit
export, reports to the collector of a live NetBox on loopback; the host turns "reporting" with its checks;
stopping monit turns it "silent" after the configured cycles, and the discovery is raised.

The server runs with a configuration module of its own (the instance's, plus the collector settings and the
collector URL the export writes as `set mmonit`), on its own port. Monit runs with HOME in a temporary
directory (its id, state and pid files), a 0600 control file, a 2-second cycle instead of the exported 60, and
only loopback in sight: the exported control file has no remote checks here, and it reports to 127.0.0.1.
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

import pynetbox

from tests import live

MONIT = shutil.which('monit') or '/usr/bin/monit'
COLLECTOR_USER = 'monit-collector'
COLLECTOR_PASSWORD = 'e2e-Collector-pw1'
HOST = 'e2e-monit-be-1'
SITE = 'e2e-monit'
CYCLE = 2
MISSED = 2

CONFIG_MODULE = """\
import os
import runpy

_conf = runpy.run_path({path!r})
globals().update({{name: value for name, value in _conf.items() if name.isupper()}})
PLUGINS_CONFIG['netbox_triage'] = dict(PLUGINS_CONFIG['netbox_triage'], **{{
    'monit_collector_enabled': True,
    'monit_collector_user': {user!r},
    'monit_collector_url': os.environ['TRIAGE_E2E_MONIT_COLLECTOR_URL'],
    'monit_collector_missed_cycles': {missed},
}})
"""


@unittest.skipUnless(os.path.exists(MONIT), 'monit is not installed')
class MonitCollectorEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-monit-e2e-'))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        (cls.tmp / 'triage_monit_e2e_configuration.py').write_text(CONFIG_MODULE.format(
            path=str(live.INSTANCE / 'conf' / 'configuration.py'), user=COLLECTOR_USER, missed=MISSED))
        cls.server = live.LiveNetBox()
        url = (f'http://{COLLECTOR_USER}:{COLLECTOR_PASSWORD}@127.0.0.1:{cls.server.port}'
               '/plugins/triage/collector/monit/')
        env = {
            'NETBOX_CONFIGURATION': 'triage_monit_e2e_configuration',
            'PYTHONPATH': os.pathsep.join(filter(None, [str(cls.tmp), str(live.ROOT), os.environ.get('PYTHONPATH')])),
            'TRIAGE_E2E_MONIT_COLLECTOR_URL': url,
            'TRIAGE_MONIT_COLLECTOR_PASSWORD': COLLECTOR_PASSWORD,
        }
        # Everything this test starts (server, worker, commands) sees these; the rest of the suite does not.
        cls.env_patch = mock.patch.dict(os.environ, env)
        cls.env_patch.start()
        cls.addClassCleanup(cls.env_patch.stop)
        # Its own Redis databases too, so no other end-to-end worker picks up this server's jobs.
        shared_environment = live.environment
        redis_db = os.environ.get('TRIAGE_E2E_MONIT_REDIS_DB', '10')
        cls.environment_patch = mock.patch.object(
            live, 'environment', lambda: dict(shared_environment(), TRIAGE_REDIS_DB=redis_db))
        cls.environment_patch.start()
        cls.addClassCleanup(cls.environment_patch.stop)
        live.netbox('migrate', '--no-input')
        cls.server.start()
        cls.addClassCleanup(cls.server.stop)
        cls.worker = subprocess.Popen(
            [str(live.NETBOX), 'rqworker', 'high', 'default', 'low'], env=live.environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        cls.addClassCleanup(cls._stop_worker)
        cls.nb = pynetbox.api(cls.server.url, token=cls.server.token)
        cls.shell(
            'from users.models import User\n'
            f'User.objects.get_or_create(username={COLLECTOR_USER!r})\n'
            'from netbox_triage.models import MonitAgent, MonitoringCoverage\n'
            f'MonitoringCoverage.objects.filter(device__name={HOST!r}).delete()\n'
            f'MonitAgent.objects.filter(hostname={HOST!r}).delete()\n'
        )
        cls.device = cls._make_host()
        cls.home = cls.tmp / 'home'
        cls.home.mkdir()
        cls.monitrc = cls._install_bundle()

    @classmethod
    def _stop_worker(cls):
        cls.worker.terminate()
        try:
            cls.worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cls.worker.kill()

    @classmethod
    def shell(cls, code):
        return live.netbox('shell', '--no-imports', '-c', code).stdout

    @classmethod
    def _make_host(cls):
        nb = cls.nb
        site = nb.dcim.sites.get(slug=SITE) or nb.dcim.sites.create(name=SITE, slug=SITE)
        maker = nb.dcim.manufacturers.get(slug='e2e') or nb.dcim.manufacturers.create(name='e2e', slug='e2e')
        dtype = nb.dcim.device_types.get(slug='e2e') or nb.dcim.device_types.create(
            manufacturer=maker.id, model='e2e', slug='e2e')
        role = nb.dcim.device_roles.get(slug='e2e') or nb.dcim.device_roles.create(name='e2e', slug='e2e')
        return nb.dcim.devices.get(name=HOST) or nb.dcim.devices.create(
            name=HOST, site=site.id, device_type=dtype.id, role=role.id, status='active')

    @classmethod
    def _install_bundle(cls):
        """The plugin's Monit export for the host, installed under a temporary prefix, cycle shortened."""
        prefix = cls.tmp / 'monit'
        bundle = cls.tmp / 'bundle.tar.gz'
        live.netbox('triage_export', 'monit', '--prefix', str(prefix), '--site', SITE, '--output', str(bundle))
        prefix.mkdir()
        with tarfile.open(bundle) as tar:
            tar.extractall(prefix, filter='tar')
        monitrc = prefix / HOST / 'monitrc'
        text = monitrc.read_text()
        assert f'set mmonit http://{COLLECTOR_USER}:' in text, text
        assert 'set daemon 60' in text, text
        # A short cycle for the test, its own log; the rest is the export as generated.
        text = text.replace('set daemon 60', f'set daemon {CYCLE}').replace(
            'set log syslog', f'set log {cls.tmp / "monit.log"}')
        # The exported httpd port (2812) may be taken on this machine: any free loopback port will do.
        text = text.replace('set httpd port 2812', f'set httpd port {live._free_port()}')
        monitrc.write_text(text)
        monitrc.chmod(0o600)
        return monitrc

    def monit(self, *args, check=True):
        env = dict(os.environ, HOME=str(self.home))
        return subprocess.run([MONIT, '-c', str(self.monitrc), *args], env=env, check=check, capture_output=True,
                              text=True, timeout=60)

    def coverage(self):
        out = self.shell(
            'import json\n'
            'from netbox_triage.models import MonitoringCoverage, Discovery\n'
            f'c = MonitoringCoverage.objects.filter(device__name={HOST!r}, system="monit").first()\n'
            'd = list(Discovery.objects.filter(rule="monitoring", object_id=c.device_id, '
            'object_type__model="device").values("title", "status")) if c else []\n'
            'print(json.dumps(None if c is None else {"state": c.state, "checks": c.checks, '
            '"check_types": c.check_types, "version": c.agent_version, "poll": c.poll_interval, '
            '"uptime": c.agent_uptime, "history": c.history, "discoveries": d}))\n'
        )
        return json.loads(out.strip().splitlines()[-1])

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.coverage()
            if state is not None and predicate(state):
                return state
            time.sleep(1)
        log = (self.tmp / 'monit.log').read_text()[-2000:] if (self.tmp / 'monit.log').exists() else ''
        self.fail(f'{what} within {timeout} s; last state {state}; monit log:\n{log}')

    def test_real_monit_reports_then_goes_silent(self):
        self.assertIn('Control file syntax OK', self.monit('-t').stdout + self.monit('-t').stderr)
        self.monit()  # starts the daemon (it forks)
        self.addCleanup(self.monit, 'quit', check=False)
        reporting = self.wait_for(lambda c: c['state'] == 'reporting', 60, 'the host did not turn reporting')
        names = {check['name']: check for check in reporting['checks']}
        self.assertIn(HOST, names)  # check system <host>: the Monit name the collector matched
        self.assertIn('cpu', names[HOST]['types'])
        self.assertEqual(reporting['poll'], CYCLE)
        self.assertTrue(reporting['version'].startswith('5.'))
        self.assertEqual(
            self.shell('from netbox_triage.models import MonitAgent\n'
                       f'print(MonitAgent.objects.get(hostname={HOST!r}).match_note)').strip(),
            f'matched by host name {HOST!r}')

        self.monit('quit')
        time.sleep(CYCLE * MISSED + 6)
        # The system job runs every minute on the worker; run it now rather than wait for the next minute.
        self.shell('from netbox_triage.collector.jobs import MonitoringSilenceJob\n'
                   'MonitoringSilenceJob.enqueue()\n')
        silent = self.wait_for(lambda c: c['state'] == 'silent', 90, 'the host did not turn silent')
        self.assertIn({'title': f'Monit monitoring of {HOST} went silent', 'status': 'open'}, silent['discoveries'])
        self.assertEqual(silent['history'][-1]['kind'], 'silent')
        self.assertTrue(any(entry.get('kind') == 'event' and 'stopped' in entry.get('message', '')
                            for entry in silent['history']), silent['history'])

        # Reports resume: reporting again, the discovery resolved by the collector itself.
        self.monit()
        resumed = self.wait_for(lambda c: c['state'] == 'reporting', 60, 'the host did not report again')
        self.assertIn({'title': f'Monit monitoring of {HOST} went silent', 'status': 'resolved'},
                      resumed['discoveries'])
