"""The Monit bundle export: what `monit -t` makes of every bundle, hostile data, scope, versions, permissions, CLI,
and secrets (never in a bundle NetBox serves; only in the secrets files of the CLI's --with-secrets bundle)."""

import io
import ipaddress
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import ObjectType
from dcim.models import Device
from ipam.models import IPAddress, Service
from tenancy.models import Tenant
from users.models import ObjectPermission
from utilities.testing import APITestCase, TestCase, create_test_device
from virtualization.models import VirtualMachine

from netbox_triage.demo import load_demo
from netbox_triage.exporters.hosts import host_querysets
from netbox_triage.exporters.monit import (
    MonitSecrets,
    render_monit_bundle,
    validate_prefix,
    write_monit_tarball,
)
from netbox_triage.models import Dependency, HostFacts
from netbox_triage.probing.facts import parse_probe_output

MONIT = shutil.which('monit')
PROFILES = Path(__file__).resolve().parents[1] / 'fleet' / 'profiles'
PLUGINS_CONFIG = {
    **settings.PLUGINS_CONFIG,
    'netbox_triage': {
        **settings.PLUGINS_CONFIG['netbox_triage'],
        'allowed_networks': ['127.0.0.0/8'],
        'monit_collector_url': '',
    },
}
# The operator's secrets, in the environment variables the settings name (defaults).
COLLECTOR_PASSWORD = 'Coll3ctor-pw.S3cret'
WEBHOOK = 'https://hooks.slack.com/services/T000/B000/WebHookS3cret'
SECRET_ENV = {'TRIAGE_MONIT_COLLECTOR_PASSWORD': COLLECTOR_PASSWORD, 'TRIAGE_MONIT_SLACK_WEBHOOK_URL': WEBHOOK}
COLLECTOR_CONFIG = {**PLUGINS_CONFIG, 'netbox_triage': {
    **PLUGINS_CONFIG['netbox_triage'], 'monit_collector_url': 'http://127.0.0.1:8000/plugins/triage/collector/monit/'}}
HOSTILE_NAMES = (
    'evil\ninclude /etc/shadow',
    'check program x with path "/bin/sh -c id"',
    '-leading-dash',
    '%h %p',
    'two words',
    'dq"uote',
    "sq'uote",
    'set httpd port 1 allow 0.0.0.0/0',
    '../../etc',
    'os_release',
)
UNUSABLE_NAMES = ('名前', '...')
# The statements (first word of a non-comment line) this exporter may write.
KEYWORDS = {'set', 'allow', 'check', 'if', 'port', 'include', 'then', 'else'}


def facts_from(profile):
    return parse_probe_output((PROFILES / f'{profile}.out').read_bytes()).facts


def add_facts(host, profile):
    kind = 'device' if isinstance(host, Device) else 'virtual_machine'
    HostFacts.objects.create(**{kind: host}, status='ok', facts=facts_from(profile))


def depend(source, target, port=None, label='', **attrs):
    # The demo already draws the seed's dependencies (be-n uses mysql-1 and redis-1, …).
    return Dependency.objects.get_or_create(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk, port=port,
        kind=attrs.pop('kind', 'uses'), defaults={'label': label, **attrs})[0]


def statements(text):
    return [line.strip() for line in text.split('\n') if line.strip() and not line.strip().startswith('#')]


class Extracted:
    """A bundle extracted under a temporary prefix, the way an operator installs it."""

    def __init__(self, data, prefix):
        self.prefix = prefix
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as tar:
            self.members = tar.getmembers()
            tar.extractall(self.prefix, filter='tar')

    def monit_t(self, alias):
        result = subprocess.run([MONIT, '-t', '-c', f'{self.prefix}/{alias}/monitrc'], capture_output=True,
                                text=True, timeout=30, stdin=subprocess.DEVNULL, env={'HOME': self.prefix,
                                                                                     'PATH': '/usr/bin:/bin'})
        return result.returncode, result.stdout + result.stderr


@override_settings(PLUGINS_CONFIG=PLUGINS_CONFIG)
class MonitBundleTestCase(TestCase):

    @classmethod
    def setUpTestData(cls):
        cls.hosts = load_demo()['hosts']
        h = cls.hosts
        add_facts(h['mysql-1'], 'mysql-baremetal')
        add_facts(h['mysql-2'], 'centos7')
        add_facts(h['redis-1'], 'debian12-redis')  # Monit 5.33.0
        add_facts(h['redis-2'], 'debian12')
        add_facts(h['be-3'], 'ubuntu1404')  # Monit 5.6
        add_facts(h['haproxy-1'], 'centos6-heartbleed')
        add_facts(h['fe-3'], 'hostile')
        cls.outside = create_test_device('outside')
        ip = IPAddress.objects.create(address='192.0.2.10/24')
        Device.objects.filter(pk=cls.outside.pk).update(primary_ip4=ip)
        cls.named = create_test_device('named', local_context_data={'triage': {'ssh': {'host': 'db.example'}}})
        cls.service = Service.objects.create(parent=h['mysql-2'], name='mysql', port_mappings=['tcp/3306', 'udp/53'])

        for source in ('be-1', 'be-2', 'be-3'):
            depend(h[source], h['mysql-1'], 3306, 'MySQL')
            depend(h[source], h['redis-1'], 6379, 'Redis')
        depend(h['be-1'], h['haproxy-1'], 22, 'SSH')
        depend(h['fe-1'], h['be-1'], 8080, origin='probe', status='discovered')
        depend(h['fe-1'], h['mysql-2'], 5432, 'PostgreSQL')
        depend(h['fe-1'], h['redis-2'], 443)
        depend(h['fe-2'], cls.service)
        depend(h['fe-2'], h['mysql-2'], 9999)
        depend(h['be-2'], h['haproxy-2'], 80, status='hidden')
        depend(h['be-2'], cls.outside, 5432)
        depend(h['be-2'], cls.named, 3306)
        depend(h['mysql-2'], h['mysql-1'], 3306, 'MySQL', kind='replica')
        for name in HOSTILE_NAMES + UNUSABLE_NAMES:
            VirtualMachine.objects.create(name=name, local_context_data={'triage': {'ssh': {'host': '127.0.0.9'}}})

    def bundle(self, params=None, **kwargs):
        return render_monit_bundle(*host_querysets(params or {}), **kwargs)

    def host(self, bundle, alias):
        return next(host for host in bundle.hosts if host.alias == alias)

    def test_every_bundle_passes_monit_t(self):
        self.assertTrue(MONIT, 'monit is not installed')
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        bundle = self.bundle(prefix=tmp.name)
        self.assertEqual(len(bundle.hosts), 12 + len(HOSTILE_NAMES) + 2)
        extracted = Extracted(bundle.tarball(), tmp.name)
        for host in bundle.hosts:
            with self.subTest(host=host.alias):
                rc, output = extracted.monit_t(host.alias)
                self.assertEqual(rc, 0, output)
                self.assertIn('Control file syntax OK', output)
        modes = {member.name: member.mode for member in extracted.members}
        self.assertEqual(modes['be-1/monitrc'], 0o600)
        self.assertEqual(modes['be-1/scripts/notify.sh'], 0o755)
        self.assertEqual(modes['be-1/secrets/mysql-1_3306.monitrc'], 0o600)
        self.assertEqual(modes['be-1/secrets/slack-webhook.url'], 0o600)
        for member in extracted.members:
            self.assertFalse(member.name.startswith(('/', '..')) or '/../' in member.name, member.name)
        skipped = {s.name: s.reason for s in bundle.skipped}
        self.assertEqual(set(skipped), {*UNUSABLE_NAMES, 'named', 'outside'} - {'named', 'outside'})

    def test_demo_backend_checks_its_dependencies_on_loopback(self):
        bundle = self.bundle(prefix='/etc/monit')
        be1 = self.host(bundle, 'be-1')
        checks = {check.name: check for check in be1.remote_checks}
        self.assertEqual(set(checks), {'mysql-1_3306', 'redis-1_6379', 'haproxy-1_2222'})
        self.assertEqual(checks['mysql-1_3306'].address, '127.100.13.1')
        self.assertEqual(checks['haproxy-1_2222'].protocol, 'ssh')  # the probe's port mapping
        self.assertEqual(checks['mysql-1_3306'].credentials_file, '/etc/monit/be-1/secrets/mysql-1_3306.monitrc')
        text = be1.monitrc
        self.assertIn('check host mysql-1_3306 with address 127.100.13.1', text)
        self.assertIn('port 3306 protocol mysql\n        include /etc/monit/be-1/secrets/mysql-1_3306.monitrc', text)
        self.assertIn('port 6379 protocol redis', text)
        self.assertIn('port 2222 protocol ssh', text)
        self.assertIn('then exec "/etc/monit/be-1/scripts/notify.sh"', text)
        self.assertIn('check program os_release with path "/etc/monit/be-1/scripts/os_release.sh"', text)
        self.assertNotIn('password', ''.join(statements(text)))
        self.assertIn("WEBHOOK_FILE='/etc/monit/be-1/secrets/slack-webhook.url'",
                      be1.files['be-1/scripts/notify.sh'][0])
        self.assertEqual(statements(be1.files['be-1/secrets/slack-webhook.url'][0]), [])  # a placeholder
        fe1 = {check.name: check for check in self.host(bundle, 'fe-1').remote_checks}
        self.assertEqual((fe1['be-1_8080'].protocol, fe1['mysql-2_5432'].protocol, fe1['redis-2_443'].protocol),
                         ('http', 'pgsql', 'https'))
        fe2 = {check.name: check for check in self.host(bundle, 'fe-2').remote_checks}
        self.assertEqual(set(fe2), {'mysql-2_3306', 'mysql-2_9999'})  # a service: its parent and its ports
        self.assertIsNone(fe2['mysql-2_9999'].protocol)
        self.assertIn('if failed\n        port 9999\n', self.host(bundle, 'fe-2').monitrc)

    def test_only_loopback_targets_and_out_of_scope_left_out(self):
        bundle = self.bundle()
        for host in bundle.hosts:
            for line in statements(host.monitrc):
                match = re.search(r'with address (\S+)', line)
                if match:
                    self.assertTrue(ipaddress.ip_address(match.group(1)).is_loopback, line)
            for check in host.remote_checks:
                self.assertTrue(ipaddress.ip_address(check.address).is_loopback)
        be2 = self.host(bundle, 'be-2')
        reasons = ' '.join(f'{item.what}: {item.reason}' for item in be2.left_out)
        self.assertIn('192.0.2.10 is outside the allowed networks', reasons)
        self.assertIn("'db.example' is a name", reasons)
        self.assertNotIn('192.0.2.10', ' '.join(statements(be2.monitrc)))
        self.assertIn('# left out:', be2.monitrc)
        self.assertNotIn('haproxy-2', be2.monitrc)  # hidden dependency
        # An empty scope lets no remote check through.
        config = {**PLUGINS_CONFIG, 'netbox_triage': {**PLUGINS_CONFIG['netbox_triage'], 'allowed_networks': []}}
        with override_settings(PLUGINS_CONFIG=config):
            self.assertFalse(any(host.remote_checks for host in self.bundle().hosts))

    def test_statements_follow_the_monit_version(self):
        bundle = self.bundle()
        old = self.host(bundle, 'be-3')  # Monit 5.6
        self.assertEqual(old.monit_version, '5.6.0')
        self.assertNotIn('service time', ' '.join(statements(old.monitrc)))
        self.assertNotIn('check network', ' '.join(statements(old.monitrc)))
        self.assertIn('port 6379\n', old.monitrc)  # no redis protocol before 5.20
        self.assertNotIn('include', ' '.join(statements(old.monitrc)))  # no MySQL credentials before 5.14
        self.assertIn('check program os_release', old.monitrc)
        self.assertTrue(any('service time' in item.what for item in old.left_out))
        new = self.host(bundle, 'redis-1')  # Monit 5.33.0
        self.assertIn('if service time > 300 milliseconds for 5 cycles', new.monitrc)
        self.assertIn('check network net_bond0 with interface bond0', new.monitrc)
        self.assertIn('# interface eno2 was down at probe time', new.monitrc)
        self.assertIn('check filesystem fs_var_lib_redis with path /var/lib/redis', new.monitrc)
        self.assertIn('if swap usage > 25%', new.monitrc)
        self.assertIn('if loadavg (5min) > 96 ', new.monitrc)
        unknown = self.host(bundle, 'mysql-1')
        self.assertIsNone(unknown.monit_version)
        self.assertIn('Monit version unknown', unknown.monitrc)
        self.assertIn('check filesystem fs_backup with path /backup', unknown.monitrc)
        hostile = self.host(bundle, 'fe-3')
        self.assertTrue(any('/srv/with space' in item.what for item in hostile.left_out))
        ancient = self.bundle({'q': 'mysql-1'}, assume_version=(5, 0, 0))
        self.assertNotIn('check program', ' '.join(statements(self.host(ancient, 'mysql-1').monitrc)))
        self.assertNotIn('swap usage', ' '.join(statements(self.host(ancient, 'mysql-1').monitrc)))

    def test_hostile_names_add_no_statement(self):
        bundle = self.bundle()
        aliases = {host.name: host.alias for host in bundle.hosts}
        self.assertEqual(aliases['evil\ninclude /etc/shadow'], 'evil-include-etc-shadow')
        self.assertEqual(aliases['-leading-dash'], 'leading-dash')
        self.assertEqual(aliases['../../etc'], 'etc')
        for host in bundle.hosts:
            for path in host.files:
                self.assertTrue(path.startswith(f'{host.alias}/'), path)
            for line in statements(host.monitrc):
                self.assertIn(line.split()[0], KEYWORDS, line)
                if line.startswith('include '):
                    self.assertRegex(line, rf'^include /etc/monit/{re.escape(host.alias)}/secrets/[\w.-]+\.monitrc$')
            self.assertNotIn('/etc/shadow', ' '.join(statements(host.monitrc)))
            self.assertNotIn('/bin/sh', ' '.join(statements(host.monitrc)))
        # A host named like a check keeps its system check; the os_release program is left out, said why.
        named = self.host(bundle, 'os_release')
        self.assertIn('check system os_release', named.monitrc)
        self.assertTrue(any('os_release' in item.what for item in named.left_out))
        skipped = {s.name: s.reason for s in bundle.skipped}
        self.assertIn('no letter or digit', skipped['名前'])
        self.assertIn("'名前'".encode('unicode_escape').decode('ascii').strip("'"), bundle.readme())

    def test_prefix_is_validated(self):
        self.assertEqual(validate_prefix('/opt/monit/'), '/opt/monit')
        for bad in ('etc/monit', '/etc/monit dir', '/etc/"x"', '/etc/../x', '/etc/./x', '/', '', '/etc/$HOME',
                    '/etc/mon%it', '/a\n/b'):
            with self.subTest(prefix=bad), self.assertRaises(ValueError):
                validate_prefix(bad)
        with self.assertRaises(ValueError):
            self.bundle(prefix='/tmp/x y')
        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_SLACK_WEBHOOK_URL': "https://x/'; reboot"}):
            with self.assertRaisesRegex(ValueError, 'TRIAGE_MONIT_SLACK_WEBHOOK_URL'):
                MonitSecrets.from_environment()

    def test_collector_line(self):
        self.assertNotIn('mmonit', self.host(self.bundle(), 'be-1').monitrc)
        with override_settings(PLUGINS_CONFIG=COLLECTOR_CONFIG), mock.patch.dict(os.environ, SECRET_ENV):
            tmp = tempfile.TemporaryDirectory()
            self.addCleanup(tmp.cleanup)
            bundle = self.bundle({'q': 'be-1'}, prefix=tmp.name)
        be1 = self.host(bundle, 'be-1')
        # The monitrc includes the secrets file kept on the host; the bundle ships it as comments saying what to write.
        self.assertIn(f'\ninclude {tmp.name}/be-1/secrets/mmonit.monitrc\n', be1.monitrc)
        self.assertNotIn('set mmonit', ' '.join(statements(be1.monitrc)))
        placeholder = be1.files['be-1/secrets/mmonit.monitrc']
        self.assertEqual((statements(placeholder[0]), placeholder[1]), ([], 0o600))
        self.assertIn('set mmonit http://monit-collector:<password>@127.0.0.1:8000/plugins/triage/collector/monit/',
                      placeholder[0])
        extracted = Extracted(bundle.tarball(), tmp.name)
        rc, output = extracted.monit_t('be-1')
        self.assertEqual(rc, 0, output)
        # A credential in the URL setting is refused (start-up refuses it too: test_collector.py).
        config = {**PLUGINS_CONFIG, 'netbox_triage': {**PLUGINS_CONFIG['netbox_triage'],
                                                      'monit_collector_url': 'http://u:pw@127.0.0.1/c/'}}
        with override_settings(PLUGINS_CONFIG=config), self.assertRaisesRegex(ValueError, 'must not carry credentials'):
            self.bundle()

    def test_restricted_user_gets_only_its_tenant(self):
        other = Tenant.objects.create(name='Other', slug='other')
        secret = create_test_device('secret-db', tenant=other)
        secret.primary_ip4 = IPAddress.objects.create(address='127.0.0.77/8')
        secret.save()
        depend(self.hosts['be-1'], secret, 3306, 'MySQL')
        permission = ObjectPermission.objects.create(name='Web shop hosts', actions=['view'],
                                                     constraints={'tenant__slug': 'web-shop'})
        permission.object_types.set([ObjectType.objects.get_for_model(Device),
                                     ObjectType.objects.get_for_model(VirtualMachine)])
        permission.users.add(self.user)
        self.add_permissions('netbox_triage.view_dependency')
        bundle = render_monit_bundle(*host_querysets({}, user=self.user), user=self.user)
        self.assertEqual({host.alias for host in bundle.hosts}, {spec for spec in self.hosts})
        be1 = self.host(bundle, 'be-1')
        self.assertNotIn('secret-db', ' '.join(statements(be1.monitrc)))
        self.assertNotIn('127.0.0.77', be1.monitrc)
        self.assertTrue(any('not visible to you' in item.reason for item in be1.left_out))
        # Unrestricted (the CLI), the same dependency is checked.
        self.assertIn('secret-db_3306', {c.name for c in self.host(self.bundle(), 'be-1').remote_checks})

    def test_facts_only_for_users_who_may_view_them(self):
        """The probe's facts (mount points, interfaces, Monit version) shape a bundle: a user who may view the
        hosts but not their facts gets the checks of an unprobed host."""
        permission = ObjectPermission.objects.create(name='Hosts', actions=['view'])
        permission.object_types.set([ObjectType.objects.get_for_model(Device),
                                     ObjectType.objects.get_for_model(VirtualMachine)])
        permission.users.add(self.user)

        def filesystems():
            bundle = render_monit_bundle(*host_querysets({'q': 'mysql-1'}, user=self.user), user=self.user)
            return [line for line in statements(self.host(bundle, 'mysql-1').monitrc) if 'check filesystem' in line]

        everything = [line for line in statements(self.host(self.bundle({'q': 'mysql-1'}), 'mysql-1').monitrc)
                      if 'check filesystem' in line]  # the CLI: unrestricted
        without = filesystems()
        self.add_permissions('netbox_triage.view_hostfacts')
        self.user = type(self.user).objects.get(pk=self.user.pk)  # NetBox caches permissions on the user object
        with_facts = filesystems()
        self.assertEqual(with_facts, everything)
        self.assertLess(len(without), len(with_facts))

    def test_command_writes_tarball(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        output = Path(tmp.name) / 'bundle.tar.gz'
        stderr = io.StringIO()
        call_command('triage_export', 'monit', '--prefix', tmp.name, '--tenant', 'web-shop', '--output', str(output),
                     stdout=io.StringIO(), stderr=stderr)
        with tarfile.open(output) as tar:
            names = set(tar.getnames())
        self.assertIn('be-1/monitrc', names)
        self.assertNotIn('outside/monitrc', names)
        self.assertIn(f'12 Monit bundle(s) for {tmp.name} written to {output}', ' '.join(stderr.getvalue().split()))

        stdout = io.TextIOWrapper(io.BytesIO())
        call_command('triage_export', 'monit', '--host-type', 'device', stdout=stdout, stderr=io.StringIO())
        stdout.flush()
        with tarfile.open(fileobj=io.BytesIO(stdout.buffer.getvalue()), mode='r:gz') as tar:
            names = set(tar.getnames())
            monitrc = tar.extractfile('mysql-1/monitrc').read().decode()
        self.assertIn('haproxy-1/monitrc', names)
        self.assertNotIn('be-1/monitrc', names)
        self.assertIn('/etc/monit/mysql-1/scripts/notify.sh', monitrc)
        with self.assertRaises(CommandError):
            call_command('triage_export', 'monit', '--prefix', 'relative', '--output', str(output),
                         stdout=io.StringIO(), stderr=io.StringIO())
        self.assertFalse(output.exists())

    def test_write_monit_tarball_streams(self):
        stream = io.BytesIO()
        bundle = write_monit_tarball(*host_querysets({'q': 'be-'}), stream, prefix='/srv/monit')
        with tarfile.open(fileobj=io.BytesIO(stream.getvalue()), mode='r:gz') as tar:
            self.assertIn('netbox-triage-monit.txt', tar.getnames())
            self.assertIn('be-2/secrets/mysql-1_3306.monitrc', tar.getnames())
        self.assertEqual({host.alias for host in bundle.hosts}, {'be-1', 'be-2', 'be-3'})

    def test_constant_queries(self):
        sink = Device.objects.get(name='mysql-1')

        def add(first, last):
            for i in range(first, last):
                host = create_test_device(f'many-{i}', local_context_data={'triage': {'ssh': {'host': '127.0.1.1'}}})
                depend(host, sink, 3306, 'MySQL')
                depend(host, self.service)

        def count():
            with CaptureQueriesContext(connection) as queries:
                bundle = self.bundle({'q': 'many-'})
            return len(bundle.hosts), len(queries)

        add(0, 5)
        count()  # content types are cached from the first call on
        hosts, queries_5 = count()
        add(5, 10)
        self.assertEqual(count(), (10, queries_5))
        self.assertEqual(hosts, 5)


def tar_files(data):
    """{member name: bytes} of every regular file of a tar.gz."""
    with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}


@override_settings(PLUGINS_CONFIG=COLLECTOR_CONFIG)
class MonitSecretsTest(APITestCase):
    """The collector's password and the Slack webhook (in the environment, as in production) reach a bundle only
    through the CLI's --with-secrets, and then only its secrets files; every bundle still passes `monit -t`."""

    @classmethod
    def setUpTestData(cls):
        cls.db = create_test_device('db-9', local_context_data={'triage': {'ssh': {'host': '127.0.3.9'}}})
        cls.web = create_test_device('web-9')
        add_facts(cls.web, 'debian12-redis')  # Monit 5.33: the MySQL check includes its credentials file
        depend(cls.web, cls.db, 3306, 'MySQL')

    def setUp(self):
        super().setUp()
        self.client.force_login(self.user)
        patcher = mock.patch.dict(os.environ, SECRET_ENV)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.add_permissions('dcim.view_device', 'netbox_triage.view_dependency')
        self.prefix = tempfile.mkdtemp(prefix='monit-secrets-')
        self.addCleanup(shutil.rmtree, self.prefix, ignore_errors=True)

    def assertNoSecret(self, files, where):
        for name, data in files.items():
            for secret in (COLLECTOR_PASSWORD, WEBHOOK, 'WebHookS3cret'):
                self.assertNotIn(secret.encode(), data, f'{where}: {name}')

    def assertMonitT(self, data, aliases):
        self.assertTrue(MONIT, 'monit is not installed')
        extracted = Extracted(data, self.prefix)
        for alias in aliases:
            rc, output = extracted.monit_t(alias)
            self.assertEqual(rc, 0, output)

    def export_with_secrets(self, output, *args):
        stderr = io.StringIO()
        call_command('triage_export', 'monit', '--prefix', self.prefix, '--with-secrets', '--output', str(output),
                     *args, stdout=io.StringIO(), stderr=stderr)
        return stderr.getvalue()

    def test_ui_and_rest_bundles_hold_no_secret(self):
        ui_url = reverse('plugins:netbox_triage:monit_export')
        rest_url = reverse('plugins-api:netbox_triage-api:monit_export')
        responses = {
            'UI list': self.client.get(f'{ui_url}?prefix={self.prefix}'),
            'UI one host': self.client.get(f'{ui_url}?prefix={self.prefix}&host_type=device&id={self.web.pk}'),
            'REST': self.client.get(f'{rest_url}?prefix={self.prefix}', **self.header),
        }
        for where, response in responses.items():
            with self.subTest(door=where):
                self.assertHttpStatus(response, 200)
                files = tar_files(response.content)
                # Every secrets file is there, as a placeholder; no file anywhere holds a secret.
                expected = {'web-9/secrets/mmonit.monitrc', 'web-9/secrets/slack-webhook.url',
                            'web-9/secrets/db-9_3306.monitrc'}
                if where != 'UI one host':
                    expected |= {'db-9/secrets/mmonit.monitrc', 'db-9/secrets/slack-webhook.url'}
                self.assertEqual({name for name in files if '/secrets/' in name}, expected)
                for name in expected:
                    self.assertEqual(statements(files[name].decode()), [], name)
                self.assertIn(b'include ', files['web-9/monitrc'])
                self.assertNoSecret(files, where)
        summary = self.client.get(f'{rest_url}?format=json', **self.header)
        self.assertHttpStatus(summary, 200)
        self.assertNoSecret({'json': summary.content}, 'REST JSON')
        self.assertMonitT(responses['UI list'].content, ('web-9', 'db-9'))

    def test_with_secrets_fills_only_the_secrets_files(self):
        output = Path(self.prefix) / 'bundle.tar.gz'
        output.write_bytes(b'an older file')
        output.chmod(0o644)
        summary = self.export_with_secrets(output)
        self.assertEqual(stat.S_IMODE(output.stat().st_mode), 0o600)
        self.assertIn('TRIAGE_MONIT_COLLECTOR_PASSWORD', summary)
        self.assertNoSecret({'stderr': summary.encode()}, 'CLI summary')
        files = tar_files(output.read_bytes())
        url = f'http://monit-collector:{COLLECTOR_PASSWORD}@127.0.0.1:8000/plugins/triage/collector/monit/'
        for alias in ('web-9', 'db-9'):
            self.assertEqual(statements(files[f'{alias}/secrets/mmonit.monitrc'].decode()), [f'set mmonit {url}'])
            self.assertEqual(statements(files[f'{alias}/secrets/slack-webhook.url'].decode()), [WEBHOOK])
        self.assertEqual({name for name, data in files.items() if COLLECTOR_PASSWORD.encode() in data},
                         {'web-9/secrets/mmonit.monitrc', 'db-9/secrets/mmonit.monitrc'})
        self.assertEqual({name for name, data in files.items() if b'WebHookS3cret' in data},
                         {'web-9/secrets/slack-webhook.url', 'db-9/secrets/slack-webhook.url'})
        self.assertEqual(statements(files['web-9/secrets/db-9_3306.monitrc'].decode()), [])  # the host's own
        self.assertNoSecret({'repr': repr(MonitSecrets.from_environment()).encode()}, 'MonitSecrets')
        self.assertIn('THIS BUNDLE HOLDS SECRETS', files['netbox-triage-monit.txt'].decode())
        self.assertMonitT(output.read_bytes(), ('web-9', 'db-9'))

    def test_with_secrets_needs_the_password(self):
        output = Path(self.prefix) / 'bundle.tar.gz'
        for env, error in (({'TRIAGE_MONIT_COLLECTOR_PASSWORD': ''}, 'TRIAGE_MONIT_COLLECTOR_PASSWORD .* empty'),
                           ({'TRIAGE_MONIT_COLLECTOR_PASSWORD': 'has@at'}, 'Monit sends the password'),
                           ({'TRIAGE_MONIT_SLACK_WEBHOOK_URL': 'http://plain.example/'}, 'https://')):
            with self.subTest(env=env), mock.patch.dict(os.environ, env):
                with self.assertRaisesRegex(CommandError, error) as caught:
                    self.export_with_secrets(output)
                self.assertNotIn('has@at', str(caught.exception))
                self.assertFalse(output.exists())
        # No webhook is fine: syslog only, said so.
        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_SLACK_WEBHOOK_URL': ''}):
            self.assertIn('no Slack webhook', self.export_with_secrets(output))
        self.assertEqual(statements(tar_files(output.read_bytes())['web-9/secrets/slack-webhook.url'].decode()), [])

    def test_notify_script_reads_only_a_webhook_from_its_secrets_file(self):
        output = Path(self.prefix) / 'bundle.tar.gz'
        self.export_with_secrets(output)
        Extracted(output.read_bytes(), self.prefix)
        fakebin = Path(self.prefix) / 'bin'
        fakebin.mkdir()
        record = Path(self.prefix) / 'curl'
        (fakebin / 'curl').write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.args\ncat > {record}.stdin\n')
        (fakebin / 'curl').chmod(0o755)
        script = f'{self.prefix}/web-9/scripts/notify.sh'
        env = {'PATH': f'{fakebin}:/usr/bin:/bin', 'MONIT_SERVICE': 'fs_root', 'MONIT_EVENT': 'Resource limit matched',
               'MONIT_DESCRIPTION': 'space usage 96%'}

        def alert():
            for suffix in ('.args', '.stdin'):
                Path(f'{record}{suffix}').unlink(missing_ok=True)
            subprocess.run(['/bin/sh', script], env=env, timeout=30, check=False, capture_output=True)
            return Path(f'{record}.args'), Path(f'{record}.stdin')

        args, stdin = alert()
        self.assertEqual(stdin.read_text(), f'url = "{WEBHOOK}"\n')  # on standard input, not the command line
        self.assertNotIn('WebHookS3cret', args.read_text())
        self.assertIn('space usage 96%', args.read_text())
        webhook_file = Path(f'{self.prefix}/web-9/secrets/slack-webhook.url')
        for content in ('# the placeholder\n', 'https://evil.example/$(touch x)\n', 'http://plain.example/\n'):
            webhook_file.write_text(content)
            args, stdin = alert()
            self.assertFalse(args.exists(), content)  # nothing posted
