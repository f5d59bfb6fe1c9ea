"""The Monit collector end to end: a real `monit` daemon (Debian's), configured by the plugin's own Monit
export, reports to the collector of a live NetBox on loopback; the host turns "reporting" with its checks;
stopping monit turns it "silent" after the configured cycles, and the discovery is raised.

The server runs with a configuration module of its own (the instance's, plus the collector settings and the
collector URL, without credentials), on its own port. The bundle is the operator's `triage_export monit
--with-secrets`: the collector's user and password (from the environment) land in secrets/mmonit.monitrc only.
Monit runs with HOME in a temporary directory (its id, state and pid files), a 0600 control file and a 2-second
cycle instead of the exported 60.

The monitored host has probe facts (filesystems) and depends on two hosts whose NetBox addresses are 10.0.x.y:
one mapped by its `triage.ssh` config context to a loopback address where this test listens, one not mapped
(outside the scope: left out of the control file). Only loopback is in sight: the control file and its includes
name loopback addresses only, Monit connects to the listener (its remote check reports "ok"), and every
connection Monit opens (traced with strace when it is installed) goes to the collector or the listener.
"""

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import pynetbox

from tests import live

MONIT = shutil.which('monit') or '/usr/bin/monit'
STRACE = shutil.which('strace')
COLLECTOR_USER = 'monit-collector'
COLLECTOR_PASSWORD = 'e2e-Collector-pw1'
HOST = 'e2e-monit-be-1'
SITE = 'e2e-monit'
CYCLE = 2
MISSED = 2
# The host's dependencies: NetBox knows them at 10.0.x.y (never dialled); the first is mapped to loopback.
MAPPED_TARGET, MAPPED_ADDRESS, LISTEN_ADDRESS = 'e2e-monit-db-1', '10.0.77.8/24', '127.77.0.8'
UNMAPPED_TARGET, UNMAPPED_ADDRESS = 'e2e-monit-db-2', '10.0.77.9/24'
# Probe facts of the monitored host: a real mount of this machine, and a pseudo filesystem that is not checked.
FACTS = {'filesystems': [{'mount': '/', 'fstype': 'ext4'}, {'mount': '/run', 'fstype': 'tmpfs'}],
         'cpu': {'threads': 2}, 'memory': {'swap_total_bytes': 0}}

CONFIG_MODULE = """\
import os
import runpy

_conf = runpy.run_path({path!r})
globals().update({{name: value for name, value in _conf.items() if name.isupper()}})
PLUGINS_CONFIG['netbox_triage'] = dict(PLUGINS_CONFIG['netbox_triage'], **{{
    'monit_collector_enabled': True,
    'monit_collector_user': {user!r},
    'monit_collector_password_env': 'TRIAGE_MONIT_COLLECTOR_PASSWORD',
    'monit_collector_url': os.environ['TRIAGE_E2E_MONIT_COLLECTOR_URL'],
    'monit_collector_missed_cycles': {missed},
}})
"""


class LoopbackListener:
    """A TCP listener on a loopback address: accepts, records the peer, closes (Monit's port test)."""

    def __init__(self, address):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.address, self.port = self.sock.getsockname()
        self.peers = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            conn.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.sock.close()


def dialled(strace_log):
    """{(address, port)} of every IPv4/IPv6 connect/sendto/sendmsg in an strace log (AF_UNIX is local)."""
    found = set()
    for line in strace_log.splitlines():
        if 'AF_INET' not in line:
            continue
        port = re.search(r'sin6?_port=htons\((\d+)\)', line)
        address = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        found.add((address and (address.group(1) or address.group(2)), port and int(port.group(1))))
    return found


def statements(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith('#')]


@unittest.skipUnless(os.path.exists(MONIT), 'monit is not installed')
class MonitCollectorEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-monit-e2e-'))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        (cls.tmp / 'triage_monit_e2e_configuration.py').write_text(CONFIG_MODULE.format(
            path=str(live.INSTANCE / 'conf' / 'configuration.py'), user=COLLECTOR_USER, missed=MISSED))
        cls.server = live.LiveNetBox()
        url = f'http://127.0.0.1:{cls.server.port}/plugins/triage/collector/monit/'  # no credentials in a setting
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
        cls.listener = LoopbackListener(LISTEN_ADDRESS).start()
        cls.addClassCleanup(cls.listener.stop)
        cls._add_facts_and_dependencies()
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
    def _add_facts_and_dependencies(cls):
        """Probe facts on the host; two targets at 10.0.x.y, the first mapped to the listener by triage.ssh."""
        cls.shell(
            'from django.contrib.contenttypes.models import ContentType\n'
            'from dcim.models import Device, Interface\n'
            'from ipam.models import IPAddress\n'
            'from netbox_triage.models import Dependency, HostFacts\n'
            f'host = Device.objects.get(name={HOST!r})\n'
            f'HostFacts.objects.update_or_create(device=host, defaults={{"status": "ok", "facts": {FACTS!r}}})\n'
            'Dependency.objects.filter(source_type=ContentType.objects.get_for_model(Device), '
            'source_id=host.pk).delete()\n'
            f'for name, address, context, port, label in (({MAPPED_TARGET!r}, {MAPPED_ADDRESS!r}, '
            f'{{"triage": {{"ssh": {{"host": {LISTEN_ADDRESS!r}}}}}}}, {cls.listener.port}, ""), '
            f'({UNMAPPED_TARGET!r}, {UNMAPPED_ADDRESS!r}, None, 3306, "MySQL")):\n'
            '    target, _ = Device.objects.get_or_create(name=name, defaults={"site": host.site, '
            '"device_type": host.device_type, "role": host.role})\n'
            '    target.local_context_data = context\n'
            '    iface, _ = Interface.objects.get_or_create(device=target, name="eth0", defaults={"type": "virtual"})\n'
            '    ip = IPAddress.objects.filter(address=address).first() or IPAddress.objects.create(address=address, '
            'assigned_object=iface)\n'
            '    target.primary_ip4 = ip\n'
            '    target.save()\n'
            '    Dependency.objects.create(source_type=ContentType.objects.get_for_model(Device), source_id=host.pk, '
            'target_type=ContentType.objects.get_for_model(Device), target_id=target.pk, kind="uses", port=port, '
            'label=label)\n'
        )

    @classmethod
    def _install_bundle(cls):
        """The operator's Monit export (--with-secrets) for the host, installed under a temporary prefix, cycle
        shortened."""
        prefix = cls.tmp / 'monit'
        bundle = cls.tmp / 'bundle.tar.gz'
        live.netbox('triage_export', 'monit', '--prefix', str(prefix), '--site', SITE, '--with-secrets',
                    '--output', str(bundle))
        assert bundle.stat().st_mode & 0o077 == 0, oct(bundle.stat().st_mode)  # it holds the password
        prefix.mkdir()
        with tarfile.open(bundle) as tar:
            tar.extractall(prefix, filter='tar')
        cls.prefix = prefix
        monitrc = prefix / HOST / 'monitrc'
        text = monitrc.read_text()
        # The password is in the secrets file the monitrc includes, and nowhere else in the host's folder.
        mmonit = prefix / HOST / 'secrets' / 'mmonit.monitrc'
        assert f'include {mmonit}' in text, text
        assert f'set mmonit http://{COLLECTOR_USER}:{COLLECTOR_PASSWORD}@127.0.0.1:' in mmonit.read_text()
        holders = [path for path in (prefix / HOST).rglob('*') if path.is_file()
                   and COLLECTOR_PASSWORD in path.read_text()]
        assert holders == [mmonit], holders
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

    def start_traced(self, log):
        """Start the daemon under `strace -f` (it follows the fork): every connection it opens is recorded."""
        env = dict(os.environ, HOME=str(self.home))
        tracer = subprocess.Popen(
            [STRACE, '-f', '-qq', '-e', 'trace=connect,sendto,sendmsg', '-e', 'signal=none', '-o', str(log),
             MONIT, '-c', str(self.monitrc)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.addCleanup(lambda: tracer.poll() is not None or tracer.kill())
        return tracer

    def monit_files(self):
        """The control file and every file it includes, as Monit reads them."""
        text = self.monitrc.read_text()
        included = [Path(line.split(None, 1)[1]) for line in statements(text) if line.startswith('include ')]
        return {self.monitrc: text, **{path: path.read_text() for path in included}}

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

    def test_control_file_names_only_loopback(self):
        files = self.monit_files()
        self.assertEqual(len(files), 2, files)  # monitrc and secrets/mmonit.monitrc (the MySQL check is left out)
        remote = f'{MAPPED_TARGET}_{self.listener.port}'
        for path, text in files.items():
            for line in statements(text):
                with self.subTest(file=path.name, line=line):
                    self.assertNotIn('10.0.77.', line)  # NetBox's addresses of the targets are never dialled
                    self.assertNotIn('localhost', line)  # a name: Monit would ask DNS for it
                    for address in re.findall(r'\baddress (\S+)', line):
                        self.assertIn(address, ('127.0.0.1', LISTEN_ADDRESS))
                    for host in re.findall(r'https?://(?:[^@/ ]*@)?([^:/ ]+)', line):
                        self.assertTrue(ipaddress.ip_address(host).is_loopback, line)
        text = files[self.monitrc]
        self.assertEqual(re.findall(r'^check host (\S+) with address (\S+)$', text, re.M),
                         [(remote, LISTEN_ADDRESS)])
        self.assertIn(f'if failed\n        port {self.listener.port}\n', text)
        self.assertIn(f'{UNMAPPED_TARGET}', text)  # said why, in a comment
        self.assertIn('10.0.77.9 is outside the allowed networks', text)
        self.assertIn('check filesystem fs_root with path /', text)
        self.assertNotIn('/run', ' '.join(statements(text)))  # tmpfs: not checked

    def test_real_monit_reports_then_goes_silent(self):
        self.assertIn('Control file syntax OK', self.monit('-t').stdout + self.monit('-t').stderr)
        trace = self.tmp / 'monit.strace'
        tracer = self.start_traced(trace) if STRACE else None
        if tracer is None:
            self.monit()  # starts the daemon (it forks)
        self.addCleanup(self.monit, 'quit', check=False)
        remote = f'{MAPPED_TARGET}_{self.listener.port}'

        def remote_ok(coverage):
            return coverage['state'] == 'reporting' and any(
                check['name'] == remote and check['status'] == 'ok' for check in coverage['checks'])

        reporting = self.wait_for(remote_ok, 60, 'the host did not turn reporting with its remote check ok')
        names = {check['name']: check for check in reporting['checks']}
        self.assertIn(HOST, names)  # check system <host>: the Monit name the collector matched
        self.assertIn('cpu', names[HOST]['types'])
        # The probe's filesystem and the mapped dependency are checked by the running Monit, and reported.
        self.assertEqual(names['fs_root']['types'], ['disk'])
        self.assertEqual(names[remote]['types'], ['remote_service'])
        self.assertEqual([name for name, check in names.items() if check['service'] == 'host'], [remote])
        self.assertTrue({'disk', 'remote_service'} <= set(reporting['check_types']), reporting['check_types'])
        # Monit dialled the listener, from loopback.
        self.assertTrue(self.listener.peers)
        self.assertTrue(all(ipaddress.ip_address(peer).is_loopback for peer in self.listener.peers))
        self.assertEqual(reporting['poll'], CYCLE)
        self.assertTrue(reporting['version'].startswith('5.'))
        self.assertEqual(
            self.shell('from netbox_triage.models import MonitAgent\n'
                       f'print(MonitAgent.objects.get(hostname={HOST!r}).match_note)').strip(),
            f'matched by host name {HOST!r}')

        self.monit('quit')
        with self.subTest('every connection Monit opened'):
            if tracer is None:
                self.skipTest('strace is not installed: connections not traced')
            tracer.wait(timeout=30)  # strace ends with the daemon it follows
            dials = dialled(trace.read_text())
            # The collector (its reports) and the listener (the remote check), nothing else: no 10.0.x.y, no DNS.
            self.assertEqual(dials, {('127.0.0.1', self.server.port), (LISTEN_ADDRESS, self.listener.port)})
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
