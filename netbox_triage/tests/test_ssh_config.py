"""The ~/.ssh/config export: what OpenSSH makes of the file, hostile data, permissions, the three doors."""

import io
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import ObjectType
from dcim.models import Device, Site
from extras.models import ConfigContext
from ipam.models import IPAddress
from tenancy.models import Tenant
from users.constants import TOKEN_PREFIX
from users.models import ObjectPermission, Token
from utilities.testing import TestCase, create_tags, create_test_device
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.exporters.hosts import host_querysets
from netbox_triage.exporters.ssh_config import alias_for, render_ssh_config
from netbox_triage.settings import validate_settings

SSH = shutil.which('ssh')
DIRECTIVES = {'Host', 'HostName', 'User', 'Port', 'ProxyJump', 'IdentityFile'}
PLUGINS_CONFIG = {
    **settings.PLUGINS_CONFIG,
    'netbox_triage': {
        **settings.PLUGINS_CONFIG['netbox_triage'],
        'ssh_username': 'triage',
        'ssh_port': 22,
        'ssh_jump_host': None,
        'ssh_config_identity_file': '~/.ssh/triage_%h',
    },
}
UI_URL = 'plugins:netbox_triage:ssh_config_export'
API_URL = 'plugins-api:netbox_triage-api:ssh_config_export'

# Names that would add a directive, a pattern or a token if written verbatim, and the alias each becomes.
HOSTILE_NAMES = {
    'evil\nProxyCommand touch /tmp/pwned': 'evil-ProxyCommand-touch-tmp-pwned',
    'two words': 'two-words',
    'dq"uote': 'dq-uote',
    "sq'uote": 'sq-uote',
    '%h-%p': 'h--p',
    '-oProxyCommand=x': 'oProxyCommand-x',
    'ProxyCommand evil': 'ProxyCommand-evil',
    'tab\tLocalCommand x': 'tab-LocalCommand-x',
    'cr\rMatch exec "x"': 'cr-Match-exec-x',
    'zürich-ß': 'zurich',
    'line\u2028ProxyCommand y': 'line-ProxyCommand-y',
    '#comment': 'comment',
    'Host *': 'Host',
    '${HOME}': 'HOME',
    'a,b': 'a-b',
    'x=y': 'x-y',
    'Match exec "touch /tmp/x"': 'Match-exec-touch-tmp-x',
}
UNUSABLE_NAMES = ('名前', '...', '\n')


def add_host(model, name, ip4=None, ip6=None, **attrs):
    """A device or VM with primary IPs set directly (the export does not care which interface holds them)."""
    if model is Device:
        host = create_test_device(name, **attrs)
    else:
        host = VirtualMachine.objects.create(name=name, **attrs)
    updates = {}
    if ip4:
        updates['primary_ip4'] = IPAddress.objects.create(address=ip4)
    if ip6:
        updates['primary_ip6'] = IPAddress.objects.create(address=ip6)
    if updates:
        model.objects.filter(pk=host.pk).update(**updates)
    return host


def ssh_resolve(text, aliases):
    """`ssh -G` (no connection) for each alias: {alias: {keyword: first value}}; ssh must accept the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'ssh_config'
        path.write_text(text)
        resolved = {}
        for alias in aliases:
            result = subprocess.run([SSH, '-G', '-F', str(path), alias], capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=30)
            if result.returncode != 0:
                raise AssertionError(f'ssh -G {alias!r} failed: {result.stderr}')
            options = {}
            for line in result.stdout.splitlines():
                keyword, _, value = line.partition(' ')
                options.setdefault(keyword, value)
            resolved[alias] = options
        return resolved


def directives(text):
    """(keyword, arguments) for every line ssh would read as a directive."""
    found = []
    for line in text.split('\n'):
        stripped = line.strip()
        if stripped and not stripped.startswith('#'):
            keyword, *arguments = stripped.split()
            found.append((keyword, arguments))
    return found


@override_settings(PLUGINS_CONFIG=PLUGINS_CONFIG)
class SSHConfigTestCase(TestCase):

    @classmethod
    def setUpTestData(cls):
        cls.site_a = Site.objects.create(name='Site A', slug='site-a')
        cls.site_b = Site.objects.create(name='Site B', slug='site-b')
        cls.tenant_1 = Tenant.objects.create(name='Tenant 1', slug='tenant-1')
        cls.tenant_2 = Tenant.objects.create(name='Tenant 2', slug='tenant-2')
        cluster_type = ClusterType.objects.create(name='Cluster Type 1', slug='cluster-type-1')
        cls.cluster = Cluster.objects.create(name='Cluster 1', type=cluster_type)
        bastion = ConfigContext.objects.create(name='Site A bastion', data={
            'triage': {'ssh': {'jump': 'ops@bastion-a.example:2222', 'username': 'admin'}},
        })
        bastion.sites.add(cls.site_a)
        # Contexts that merge: a heavier one per tenant, and a lighter one whose `triage` is not even a dict.
        tenant_port = ConfigContext.objects.create(name='Tenant 2 port', weight=2000,
                                                   data={'triage': {'ssh': {'port': 2022}}})
        tenant_port.tenants.add(cls.tenant_2)
        odd = ConfigContext.objects.create(name='Site B odd', weight=50, data={'triage': 'not a dict', 'ntp': ['x']})
        odd.sites.add(cls.site_b)

        add_host(Device, 'web-01', '10.0.0.1/24', '2001:db8::1/64', site=cls.site_a, tenant=cls.tenant_1)
        add_host(Device, 'db 02', '10.0.1.2/24', site=cls.site_b, tenant=cls.tenant_2,
                 local_context_data={'triage': {'ssh': {'port': 2200}}})
        add_host(Device, 'v6-only', ip6='2001:db8::3/64', site=cls.site_b)
        add_host(Device, 'mapped', '10.0.1.4/24', site=cls.site_b, local_context_data={'triage': {'ssh': {
            'host': '127.100.0.4', 'jump': {'host': '::1', 'port': 2022, 'username': 'jumper'},
        }}})
        add_host(Device, 'no-ip', site=cls.site_b)
        add_host(VirtualMachine, 'vm-01', '10.1.0.1/24', site=cls.site_a, cluster=cls.cluster, tenant=cls.tenant_1)
        add_host(VirtualMachine, 'vm-02', '10.1.0.2/24', cluster=cls.cluster, tenant=cls.tenant_2)
        # Same alias as a device ('web-01'), once exactly and once by case: the device keeps it.
        add_host(VirtualMachine, 'web 01', '10.1.0.3/24', cluster=cls.cluster)
        add_host(VirtualMachine, 'WEB-01', '10.1.0.4/24', cluster=cls.cluster)

    # What OpenSSH must resolve each alias to: hostname, user, port, proxyjump (None: no ProxyJump).
    EXPECTED = {
        'web-01': ('10.0.0.1', 'admin', '22', 'ops@bastion-a.example:2222'),
        'db-02': ('10.0.1.2', 'triage', '2200', None),
        'v6-only': ('2001:db8::3', 'triage', '22', None),
        'mapped': ('127.100.0.4', 'triage', '22', 'jumper@[::1]:2022'),
        'vm-01': ('10.1.0.1', 'admin', '22', 'ops@bastion-a.example:2222'),
        'vm-02': ('10.1.0.2', 'triage', '2022', None),
    }

    def export(self, **params):
        return render_ssh_config(*host_querysets(params))

    def assertResolves(self, text, expected):
        resolved = ssh_resolve(text, expected)
        for alias, (hostname, user, port, proxyjump) in expected.items():
            with self.subTest(alias=alias):
                options = resolved[alias]
                self.assertEqual(options['hostname'], hostname)
                self.assertEqual(options['user'], user)
                self.assertEqual(options['port'], port)
                self.assertEqual(options.get('proxyjump'), proxyjump)
                self.assertEqual(options['identityfile'], '~/.ssh/triage_%h')
                self.assertNotIn('proxycommand', options)
                self.assertNotIn('localcommand', options)
                self.assertEqual(options['permitlocalcommand'], 'no')

    def test_ssh_resolves_every_host(self):
        cold = self.export()
        self.assertEqual({host.alias for host in cold.hosts}, set(self.EXPECTED))
        self.assertResolves(cold.text, self.EXPECTED)
        skipped = {(s.object_type, s.name): s.reason for s in cold.skipped}
        self.assertIn('no primary IP', skipped[('dcim.device', 'no-ip')])
        self.assertIn("alias 'web-01' is already used by device 'web-01'",
                      skipped[('virtualization.virtualmachine', 'web 01')])
        self.assertIn('already used by device', skipped[('virtualization.virtualmachine', 'WEB-01')])
        for description in ("device 'no-ip'", "virtualmachine 'web 01'", "virtualmachine 'WEB-01'"):
            self.assertIn(description, cold.text.split('\n\n')[0])  # the header comment names them

        # NetBox's pre-rendered config contexts give the same file as the per-query annotation.
        call_command('rebuild_config_context_cache', stdout=io.StringIO())
        self.assertFalse(Device.objects.filter(_config_context_data__isnull=True).exists())
        self.assertEqual(self.export().text, cold.text)

    def test_jit_setting_is_restored(self):
        with connection.cursor() as cursor:
            cursor.execute('SHOW jit')
            before = cursor.fetchone()[0]
            self.export()
            cursor.execute('SHOW jit')
            self.assertEqual(cursor.fetchone()[0], before)

    def test_grouped_by_site(self):
        text = self.export().text
        self.assertLess(text.index('# Site: Site A'), text.index('Host web-01'))
        self.assertLess(text.index('Host vm-01'), text.index('# Site: Site B'))
        self.assertLess(text.index('# Site: Site B'), text.index('Host db-02'))
        self.assertLess(text.index('# No site'), text.index('Host vm-02'))

    def test_prefer_ipv6(self):
        export = render_ssh_config(*host_querysets({}), prefer='ipv6')
        hostnames = {host.alias: host.hostname for host in export.hosts}
        self.assertEqual(hostnames['web-01'], '2001:db8::1')
        self.assertEqual(hostnames['db-02'], '10.0.1.2')  # no IPv6: falls back
        self.assertEqual(hostnames['mapped'], '127.100.0.4')  # the triage.ssh host wins
        self.assertEqual(ssh_resolve(export.text, ['web-01'])['web-01']['hostname'], '2001:db8::1')
        with self.assertRaises(ValueError):
            render_ssh_config(*host_querysets({}), prefer='ipv5')

    def test_hostile_names_add_no_directive(self):
        evil_site = Site.objects.create(name='Evil\nProxyCommand site', slug='evil')
        for i, name in enumerate([*HOSTILE_NAMES, *UNUSABLE_NAMES], start=1):
            add_host(Device, name, f'10.9.0.{i}/24', site=evil_site)
        add_host(VirtualMachine, 'vm\nLocalCommand x', '10.9.1.1/24', site=evil_site)

        export = self.export(site='evil')
        aliases = {host.name: host.alias for host in export.hosts}
        self.assertEqual(aliases, {**HOSTILE_NAMES, 'vm\nLocalCommand x': 'vm-LocalCommand-x'})
        self.assertEqual({s.name for s in export.skipped}, set(UNUSABLE_NAMES))
        self.assertTrue(all(' ' <= c <= '~' or c == '\n' for c in export.text), 'printable ASCII only')
        found = directives(export.text)
        self.assertEqual({keyword for keyword, _ in found}, DIRECTIVES - {'ProxyJump'})  # no jump configured here
        self.assertTrue(all(len(arguments) == 1 for _, arguments in found), found)
        hosts = [arguments[0] for keyword, arguments in found if keyword == 'Host']
        self.assertEqual(sorted(hosts), sorted(aliases.values()))
        self.assertEqual(len(found), 5 * len(hosts))  # Host, HostName, User, Port, IdentityFile: nothing more
        for line in export.text.split('\n'):
            if 'ProxyCommand' in line or 'LocalCommand' in line or 'Match' in line:
                self.assertTrue(line.startswith('#') or line.startswith('Host '), line)

        expected = {alias: (f'10.9.0.{i}', 'triage', '22', None)
                    for i, alias in enumerate(HOSTILE_NAMES.values(), start=1)}
        self.assertResolves(export.text, {**expected, 'vm-LocalCommand-x': ('10.9.1.1', 'triage', '22', None)})

    def test_alias_for(self):
        self.assertEqual(alias_for('core switch 01'), 'core-switch-01')
        self.assertEqual(alias_for('rtr-zürich.example.net'), 'rtr-zurich.example.net')
        self.assertEqual(alias_for('--x--'), 'x')
        self.assertEqual(alias_for('名前'), '')
        self.assertEqual(alias_for('a\u00a0b\u2028c'), 'a-b-c')
        self.assertEqual(alias_for(None), '')

    def test_hostile_context_values_are_skipped(self):
        hostile = {
            'ctx-host': ({'host': 'x\nProxyCommand y'}, 'triage.ssh host'),
            'ctx-host-token': ({'host': '%h.example'}, 'triage.ssh host'),
            'ctx-user': ({'username': 'root\nProxyCommand y'}, 'user'),
            'ctx-port': ({'port': '22\nProxyCommand y'}, 'port'),
            'ctx-port-range': ({'port': 70000}, 'port'),
            'ctx-jump': ({'jump': 'ops@bastion:22\nProxyCommand y'}, 'jump'),
            'ctx-jump-user': ({'jump': {'host': 'bastion', 'username': '-oProxyCommand=y'}}, 'jump user'),
            'ctx-jump-list': ({'jump': 'a@b:22,c@d:22'}, 'jump'),
            'ctx-jump-space': ({'jump': 'bastion -oProxyCommand=y'}, 'jump'),
        }
        site = Site.objects.create(name='Contexts', slug='contexts')
        for i, (name, (ssh, _)) in enumerate(hostile.items(), start=1):
            add_host(Device, name, f'10.8.0.{i}/24', site=site, local_context_data={'triage': {'ssh': ssh}})
        add_host(Device, 'ctx-fine', '10.8.1.1/24', site=site, local_context_data={'triage': {'ssh': {'port': 2201}}})

        export = self.export(site='contexts')
        self.assertEqual([host.alias for host in export.hosts], ['ctx-fine'])
        reasons = {s.name: s.reason for s in export.skipped}
        self.assertEqual(set(reasons), set(hostile))
        for name, (_, reason) in hostile.items():
            self.assertTrue(reasons[name].startswith(reason), (name, reasons[name]))
        header = export.text.split('\n\n')[0]
        self.assertIn("device 'ctx-host' (#", header)
        self.assertIn("'x\\nProxyCommand y' is not a host name", header)
        self.assertEqual([k for k, _ in directives(export.text)], ['Host', 'HostName', 'User', 'Port', 'IdentityFile'])
        self.assertResolves(export.text, {'ctx-fine': ('10.8.1.1', 'triage', '2201', None)})

    def test_settings_are_validated(self):
        def configured(**values):
            return override_settings(PLUGINS_CONFIG={
                **PLUGINS_CONFIG, 'netbox_triage': {**PLUGINS_CONFIG['netbox_triage'], **values},
            })

        for value in ('~/.ssh/id x', '~/.ssh/id\nProxyCommand y', '~/.ssh/id_%z', '${HOME}/id', '"~/id"', 42):
            with self.subTest(identity_file=value), configured(ssh_config_identity_file=value):
                with self.assertRaisesMessage(ImproperlyConfigured, 'ssh_config_identity_file'):
                    validate_settings()
        with configured(ssh_config_prefer='ipv5'), self.assertRaisesMessage(ImproperlyConfigured, 'ssh_config_prefer'):
            validate_settings()
        with configured(ssh_config_identity_file='%d/.ssh/id_%h', ssh_config_prefer='ipv6'):
            validate_settings()

    #
    # Permissions and the doors
    #

    def aliases(self, text):
        return {arguments[0] for keyword, arguments in directives(text) if keyword == 'Host'}

    def test_view_exports_only_permitted_hosts(self):
        permission = ObjectPermission.objects.create(name='Tenant 1 hosts', actions=['view'],
                                                     constraints={'tenant__slug': 'tenant-1'})
        permission.users.add(self.user)
        permission.object_types.add(ObjectType.objects.get_for_model(Device),
                                    ObjectType.objects.get_for_model(VirtualMachine))

        response = self.client.get(reverse(UI_URL))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response['Content-Type'], 'text/plain; charset=utf-8')
        self.assertEqual(response['Content-Disposition'], 'attachment; filename="ssh_config"')
        self.assertEqual(self.aliases(response.content.decode()), {'web-01', 'vm-01'})

        response = self.client.get(reverse(UI_URL), {'host_type': 'virtualmachine'})
        self.assertEqual(self.aliases(response.content.decode()), {'vm-01'})

    def test_view_without_permission_or_login(self):
        response = self.client.get(reverse(UI_URL))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.aliases(response.content.decode()), set())
        self.assertEqual(Client().get(reverse(UI_URL)).status_code, 302)  # to the login page

    def test_view_filters(self):
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        url = reverse(UI_URL)
        self.assertEqual(self.aliases(self.client.get(url, {'site': 'site-a'}).content.decode()), {'web-01', 'vm-01'})
        self.assertEqual(self.aliases(self.client.get(url, {'tenant': 'tenant-2'}).content.decode()),
                         {'db-02', 'vm-02'})
        self.assertEqual(self.aliases(self.client.get(url, {'cluster_id': self.cluster.pk}).content.decode()),
                         {'vm-01', 'vm-02', 'web-01'})
        response = self.client.get(url, {'site': 'site-a', 'host_type': 'device', 'sort': 'name', 'per_page': 50})
        self.assertEqual(self.aliases(response.content.decode()), {'web-01'})
        self.assertEqual(response['X-Triage-Skipped-Hosts'], '0')

        # A device-only filter would leave the VMs unfiltered: refused unless the export is devices only.
        response = self.client.get(url, {'manufacturer': 'manufacturer-1'})
        self.assertEqual(response.status_code, 400)
        self.assertIn(b'manufacturer: not a filter for virtual machines', response.content)
        self.assertEqual(self.client.get(url, {'manufacturer': 'manufacturer-1', 'host_type': 'device'}).status_code,
                         200)
        self.assertEqual(self.client.get(url, {'site': 'no-such-site'}).status_code, 400)
        self.assertEqual(self.client.get(url, {'host_type': 'cable'}).status_code, 400)
        self.assertEqual(self.client.get(url, {'prefer': 'ipv5'}).status_code, 400)

    def test_list_buttons(self):
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        response = self.client.get(reverse('dcim:device_list'), {'site': 'site-a'})
        self.assertContains(response, 'Export SSH config')
        self.assertNotContains(response, 'An error occurred when loading content from plugin')
        self.assertContains(response, f'{reverse(UI_URL)}?site=site-a&amp;host_type=device')
        response = self.client.get(reverse('virtualization:virtualmachine_list'))
        self.assertContains(response, f'{reverse(UI_URL)}?host_type=virtualmachine')

    def api_client(self, *permissions):
        self.add_permissions(*permissions)
        token = Token.objects.create(user=self.user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f'Bearer {TOKEN_PREFIX}{token.key}.{token.token}')
        return client

    def test_api(self):
        client = self.api_client('dcim.view_device', 'virtualization.view_virtualmachine')
        url = reverse(API_URL)
        response = client.get(url, {'site': 'site-a'})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response['Content-Type'], 'text/plain; charset=utf-8')
        self.assertEqual(response.content.decode(), self.export(site='site-a').text)

        response = client.get(url, {'format': 'json', 'site': 'site-b'})
        self.assertEqual(response.status_code, 200)
        data = json.loads(response.content)
        self.assertEqual(set(data), {'text', 'hosts', 'skipped'})
        self.assertEqual({h['alias'] for h in data['hosts']}, {'db-02', 'v6-only', 'mapped'})
        mapped = next(h for h in data['hosts'] if h['alias'] == 'mapped')
        self.assertEqual((mapped['hostname'], mapped['proxy_jump']), ('127.100.0.4', 'jumper@[::1]:2022'))
        self.assertEqual([(s['name'], s['object_type']) for s in data['skipped']], [('no-ip', 'dcim.device')])
        self.assertIn('no primary IP', data['skipped'][0]['reason'])
        self.assertEqual(response['X-Triage-Skipped-Hosts'], '1')

        response = client.get(url, {'site': 'no-such-site'})
        self.assertEqual(response.status_code, 400)
        self.assertIn('no-such-site', response.content.decode())

    def test_api_permissions(self):
        url = reverse(API_URL)
        self.assertIn(APIClient().get(url).status_code, (401, 403))
        client = self.api_client()
        self.assertEqual(client.get(url).status_code, 403)
        # View permission on VMs alone is enough, and exports only the VMs.
        client = self.api_client('virtualization.view_virtualmachine')
        response = client.get(url)
        self.assertEqual(response.status_code, 200)
        # The VM 'web 01' keeps alias web-01 when the device 'web-01' is not visible.
        self.assertEqual(self.aliases(response.content.decode()), {'vm-01', 'vm-02', 'web-01'})

    def test_command(self):
        stdout, stderr = io.StringIO(), io.StringIO()
        call_command('triage_export', 'ssh-config', '--site', 'site-b', stdout=stdout, stderr=stderr)
        self.assertEqual(stdout.getvalue(), self.export(site='site-b').text)
        self.assertIn('3 host(s) written to standard output, 1 skipped', stderr.getvalue())
        self.assertIn("'no-ip': no primary IP", stderr.getvalue())

        with tempfile.TemporaryDirectory() as tmp:
            output = Path(tmp) / 'ssh_config'
            call_command('triage_export', 'ssh-config', '--cluster', 'Cluster 1', '--tenant', 'tenant-1',
                         '--prefer', 'ipv6', '--output', str(output), stdout=io.StringIO(), stderr=io.StringIO())
            self.assertEqual(self.aliases(output.read_text()), {'vm-01'})
        stdout = io.StringIO()
        call_command('triage_export', 'ssh-config', '--host-type', 'device', '--status', 'active', '--role',
                     'device-role-1', stdout=stdout, stderr=io.StringIO())
        self.assertEqual(self.aliases(stdout.getvalue()), {'web-01', 'db-02', 'v6-only', 'mapped'})
        tag = create_tags('Bastioned')[0]
        Device.objects.get(name='web-01').tags.add(tag)
        stdout = io.StringIO()
        call_command('triage_export', 'ssh-config', '--tag', tag.slug, stdout=stdout, stderr=io.StringIO())
        self.assertEqual(self.aliases(stdout.getvalue()), {'web-01'})
        with self.assertRaisesMessage(CommandError, 'no cluster named nope'):
            call_command('triage_export', 'ssh-config', '--cluster', 'nope', stdout=io.StringIO())
        with self.assertRaisesMessage(CommandError, 'site'):
            call_command('triage_export', 'ssh-config', '--site', 'nope', stdout=io.StringIO())

    def test_constant_queries(self):
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        site = Site.objects.create(name='Many', slug='many')
        bastion = ConfigContext.objects.create(name='Many bastion', data={'triage': {'ssh': {'jump': 'bastion'}}})
        bastion.sites.add(site)

        def add(first, last):
            for i in range(first, last):
                model = Device if i % 2 else VirtualMachine
                add_host(model, f'many-{i}', f'10.7.{i // 200}.{i % 200 + 1}/16', site=site,
                         local_context_data={'triage': {'ssh': {'port': 2000 + i}}})

        def count():
            with CaptureQueriesContext(connection) as exporter:
                export = render_ssh_config(*host_querysets({'site': 'many'}, user=self.user))
            with CaptureQueriesContext(connection) as view:
                self.client.get(reverse(UI_URL), {'site': 'many'})
            return len(export.hosts), len(exporter), len(view)

        add(0, 5)
        count()  # the first request loads the user's permissions once
        hosts, exporter_5, view_5 = count()
        self.assertEqual(hosts, 5)
        add(5, 50)
        hosts, exporter_50, view_50 = count()
        self.assertEqual(hosts, 50)
        self.assertEqual(exporter_50, exporter_5)
        self.assertEqual(view_50, view_5)
        call_command('rebuild_config_context_cache', stdout=io.StringIO())
        self.assertEqual(count(), (50, exporter_5, view_5))
