"""Monit bundles: per host, a control file in the seed's spirit plus the scripts and secrets files it names.

Monit refuses a control file whose programs or includes do not exist, so the export is an installable
bundle, one folder per host under an install prefix chosen at export time (default `/etc/monit`):

    <prefix>/<alias>/monitrc                   0600  the control file (`monit -c <prefix>/<alias>/monitrc`)
    <prefix>/<alias>/scripts/notify.sh         0755  alert hook: syslog, and Slack when a webhook is set
    <prefix>/<alias>/scripts/os_release.sh     0755  the `os_release` program check
    <prefix>/<alias>/secrets/<check>.monitrc   0600  placeholder credentials of one database check
    <prefix>/<alias>/secrets/mmonit.monitrc    0600  the `set mmonit` line (collector URL and password)
    <prefix>/<alias>/secrets/slack-webhook.url 0600  the Slack webhook notify.sh posts to

What a monitrc holds comes from NetBox and the probe: `system` checks (load sized by the probe's CPU
count, CPU, memory, swap when the host has swap), a `filesystem` check per real mount the probe
found, a `network` check per interface that was up, the `os_release` program check, and a remote
`host` check per dependency of the host (MySQL, Redis, PostgreSQL, HTTP(S), SSH protocol tests, else
a TCP port test). Names and values come from many hands, and a monitrc has no escaping, so:

- the folder and check names are the host's name made safe by the ssh_config export's one
  transformation (`alias_for()`), so `ssh web-01` and `<prefix>/web-01/monitrc` name the same
  host; a name with nothing usable left, or an alias another host already holds, is skipped;
- keywords are fixed by this module; data only ever fills a value that passed an allowlist
  (mount paths, interface names, IP literals, ports), and strings written in quotes are our own
  paths under the validated prefix, so no data can add a statement, an `include` or a program;
- remote targets use the SSH probe's address mapping (`triage.ssh` host, and its port for SSH
  checks) and must be IP literals inside `allowed_networks`: anything else is left out with a
  comment saying why, never written;
- secrets are never in a bundle served by NetBox: the monitrc includes `secrets/mmonit.monitrc` for its
  `set mmonit` line (the collector's password), notify.sh reads `secrets/slack-webhook.url`, a database
  check includes `secrets/<check>.monitrc`; all are placeholders kept on the host, filled in there, or
  by the operator on the NetBox server with `triage_export monit --with-secrets` (MonitSecrets, from the
  environment variables the settings name; no UI or REST door passes them);
- statements the host's Monit cannot parse (version from the probe, see MONIT_FEATURES) are left
  out with a comment;
- comments (names, reasons) are reduced to printable ASCII, other characters escaped.
"""

import io
import ipaddress
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField, Case, CharField, ExpressionWrapper, Func, JSONField, Q, When
from django.db.models.fields.json import KeyTransform

from dcim.models import Device
from ipam.models import Service
from virtualization.models import Cluster, VirtualMachine

from ..choices import DependencyStatusChoices
from ..connections import Scope
from ..models import Dependency
from ..probing.targets import TargetError, _valid_host, _valid_port
from ..settings import get_setting
from .ssh_config import (
    CHUNK_SIZE,
    HOST_RANK,
    SkippedHost,
    _describe,
    _triage_ssh,
    _TriageValues,
    _without_jit,
    alias_for,
    comment_text,
)

__all__ = (
    'DEFAULT_MONIT_VERSION',
    'MONIT_FEATURES',
    'LeftOut',
    'MonitBundle',
    'MonitHost',
    'MonitSecrets',
    'RemoteCheck',
    'render_monit_bundle',
    'validate_prefix',
    'write_monit_tarball',
)

# Statements this exporter writes that not every Monit 5.x parses: the first version known to parse
# each, and where that comes from. Everything else it writes (set daemon/log/httpd/mmonit, include,
# check system with loadavg, cpu usage (user|system|wait) and memory usage, check filesystem with
# space usage, check host with port, type tcpssl, protocol mysql|pgsql|ssh|http, exec, "else if
# succeeded", "for N cycles") is older than Monit 5.0 or came with it, and every statement is
# checked with `monit -t` on the Monit installed here (5.33.0) by tests/test_monit.py.
MONIT_FEATURES = {
    'swap': ((5, 2, 0), 'openSUSE monit.changes, "update to 5.2: added support for swap monitoring"'),
    'program': ((5, 3, 0), 'openSUSE monit.changes, "changes from 5.3.0: new \'check program\' statement added"'),
    'network': ((5, 11, 0), 'bitbucket.org/tildeslash/monit issues #139 and #417: "the network check was '
                            'implemented in monit 5.11"'),
    'mysql_credentials': ((5, 14, 0), 'bitbucket.org/tildeslash/monit issue #368: "The username+password support '
                                      'for mysql test was added in Monit 5.14"'),
    'redis': ((5, 20, 0), 'bitbucket.org/tildeslash/monit issue #531: a 5.20.0 user is told to use "protocol redis" '
                          '(possibly older; 5.20 is the earliest version we can vouch for; before it: TCP test)'),
    'filesystem_service_time': ((5, 21, 0), 'bitbucket.org/tildeslash/monit issue #163 "monitor disk I/O and service '
                                            'time": "implemented in Monit 5.21.0"'),
    'https': ((5, 33, 0), 'checked with monit -t on 5.33.0 (an alias of "type tcpssl protocol http", bitbucket issue '
                          '#1069; the older form, issue #14, is written for older Monits and still parsed by 5.33)'),
    'pgsql_credentials': ((5, 33, 0), 'checked with monit -t on 5.33.0 only (asked for in bitbucket issue #715); '
                                      'older Monits get the check without credentials'),
}
# When the probe did not find Monit on the host: write for the oldest Monit a current distribution
# still ships (Ubuntu 20.04: 5.26.0); `assume_version` overrides it. Probe again once Monit is installed.
DEFAULT_MONIT_VERSION = (5, 26, 0)

# The prefix and everything derived from it is written unquoted or inside double quotes: no spaces,
# quotes, `#`, `$` or `%`, and no `.`/`..` components.
PREFIX = re.compile(r'^(?:/[A-Za-z0-9_][A-Za-z0-9._+-]*)+$')
PREFIX_MAX = 200
CHECK_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$')
MOUNT = re.compile(r'^/[A-Za-z0-9_.+@:/-]*$')
INTERFACE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$')
# The webhook (an environment variable) and the collector URL (a setting) are written into a secrets file and a
# monitrc: allowlisted. The collector URL carries no credentials (settings.py refuses them at start-up); Monit
# sends the URL's user and password verbatim (it does not percent-decode them), so they are allowlisted too.
WEBHOOK = re.compile(r'^https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/%+=-]*)?$')
COLLECTOR = re.compile(r'^(https?)://([A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/%+=-]*)?)$')
COLLECTOR_USER = re.compile(r'^[A-Za-z0-9._~+-]{1,150}$')
COLLECTOR_PASSWORD = re.compile(r'^[A-Za-z0-9._~!*+=,;%-]{1,200}$')
VERSION = re.compile(r'^\s*(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?')
# Filesystems that are images or memory, always "full" or meaningless for space alerts.
PSEUDO_FILESYSTEMS = frozenset({
    'proc', 'sysfs', 'devtmpfs', 'tmpfs', 'devpts', 'cgroup', 'cgroup2', 'overlay', 'aufs', 'squashfs',
    'iso9660', 'ramfs', 'efivarfs', 'nsfs', 'autofs', 'fuse.lxcfs',
})
# Protocol tests by dependency label (checked first) and by port.
LABEL_PROTOCOLS = (
    (re.compile(r'mysql|mariadb', re.I), 'mysql'),
    (re.compile(r'redis', re.I), 'redis'),
    (re.compile(r'postgres|pgsql', re.I), 'pgsql'),
    (re.compile(r'https', re.I), 'https'),
    (re.compile(r'http', re.I), 'http'),
    (re.compile(r'\bssh\b', re.I), 'ssh'),
)
PORT_PROTOCOLS = {3306: 'mysql', 6379: 'redis', 5432: 'pgsql', 443: 'https', 80: 'http', 8080: 'http', 22: 'ssh'}
DEFAULT_PORTS = {'mysql': 3306, 'redis': 6379, 'pgsql': 5432, 'https': 443, 'http': 80, 'ssh': 22}
PROTOCOL_NAMES = {'mysql': 'MySQL', 'redis': 'Redis', 'pgsql': 'PostgreSQL', 'https': 'HTTPS', 'http': 'HTTP',
                  'ssh': 'SSH', None: 'TCP'}
CREDENTIAL_FEATURES = {'mysql': 'mysql_credentials', 'pgsql': 'pgsql_credentials'}
HOST_MODELS = {'dcim.device': Device, 'virtualization.virtualmachine': VirtualMachine}
README = 'netbox-triage-monit.txt'
MMONIT_FILE = 'secrets/mmonit.monitrc'
WEBHOOK_FILE = 'secrets/slack-webhook.url'


class LeftOut(NamedTuple):
    """A check that was not written into a host's monitrc, and why."""
    what: str
    reason: str


class RemoteCheck(NamedTuple):
    name: str
    target: str
    address: str
    port: int
    protocol: str | None
    credentials_file: str | None


@dataclass
class MonitHost:
    alias: str
    name: str
    object_type: str
    id: int
    monit_version: str | None
    files: dict = field(default_factory=dict)  # path relative to the prefix -> (text, mode)
    remote_checks: list[RemoteCheck] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def monitrc(self):
        return self.files[f'{self.alias}/monitrc'][0]

    def as_dict(self):
        return {
            'alias': self.alias, 'name': self.name, 'object_type': self.object_type, 'id': self.id,
            'monit_version': self.monit_version, 'files': sorted(self.files),
            'remote_checks': [check._asdict() for check in self.remote_checks],
            'left_out': [item._asdict() for item in self.left_out],
        }


@dataclass
class MonitBundle:
    prefix: str
    hosts: list[MonitHost] = field(default_factory=list)
    skipped: list[SkippedHost] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    with_secrets: bool = False  # the secrets files hold the operator's secrets (CLI --with-secrets)

    def readme(self):
        lines = [
            f'Monit bundle generated by netbox-triage from NetBox: {len(self.hosts)} host(s), '
            f'{len(self.skipped)} skipped, for the install prefix {self.prefix}.',
            '',
            'Install: put <prefix>/<host>/ at the same path on the host (tar -xzf <bundle>.tar.gz -C <prefix>),',
        ]
        if self.with_secrets:
            lines += [
                'THIS BUNDLE HOLDS SECRETS (triage_export monit --with-secrets): the collector password in',
                '<host>/secrets/mmonit.monitrc and the Slack webhook in <host>/secrets/slack-webhook.url. Keep it',
                'mode 0600 and delete it once installed. Fill in secrets/<check>.monitrc if it has any, then:',
            ]
        else:
            lines += [
                'fill in its secrets/ files on the host (NetBox never ships them): mmonit.monitrc (the set mmonit',
                'line with the collector password), slack-webhook.url, and any <check>.monitrc, then:',
            ]
        lines += [
            '  monit -t -c <prefix>/<host>/monitrc && monit -c <prefix>/<host>/monitrc',
            'Updating without overwriting filled-in secrets (GNU tar):',
            "  tar -xzf <bundle>.tar.gz -C <prefix> --wildcards --skip-old-files '*/secrets/*'",
            "  tar -xzf <bundle>.tar.gz -C <prefix> --exclude='*/secrets/*'",
            '',
            'Hosts:',
        ]
        lines += [f'  {host.alias}: {comment_text(_describe(host))}, Monit {host.monit_version or "unknown"}, '
                  f'{len(host.left_out)} check(s) left out' for host in self.hosts]
        if self.skipped:
            lines.append('Skipped (not safe to write):')
            lines += [f'  {comment_text(_describe(s))}: {comment_text(s.reason)}' for s in self.skipped]
        return '\n'.join(lines) + '\n'

    def write_tarball(self, fileobj):
        """Write the bundle as a tar.gz stream to a binary file object (seekable or not)."""
        with tarfile.open(fileobj=fileobj, mode='w|gz', format=tarfile.PAX_FORMAT) as tar:
            _add(tar, README, self.readme(), 0o644, self.created)
            for host in self.hosts:
                for folder in (host.alias, f'{host.alias}/scripts', f'{host.alias}/secrets'):
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(self.created)
                    info.uname = info.gname = 'root'
                    tar.addfile(info)
                for path, (text, mode) in sorted(host.files.items()):
                    _add(tar, path, text, mode, self.created)

    def tarball(self):
        buffer = io.BytesIO()
        self.write_tarball(buffer)
        return buffer.getvalue()

    def as_dict(self):
        return {'prefix': self.prefix, 'hosts': [host.as_dict() for host in self.hosts],
                'skipped': [skipped._asdict() for skipped in self.skipped]}


def _add(tar, path, text, mode, mtime):
    data = text.encode('utf-8')
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), mode, int(mtime)
    info.uname = info.gname = 'root'
    tar.addfile(info, io.BytesIO(data))


def validate_prefix(prefix):
    """The install prefix as written, or ValueError: absolute, allowlisted, no `.`/`..` components."""
    prefix = str(prefix or '')
    if len(prefix) > 1:
        prefix = prefix.rstrip('/')
    if not PREFIX.match(prefix) or len(prefix) > PREFIX_MAX:
        raise ValueError(f'install prefix {comment_text(prefix)!r} must be an absolute path of letters, digits and '
                         f'. _ + - (no spaces, quotes or . / .. components, at most {PREFIX_MAX} characters)')
    return prefix


def parse_version(text):
    """(5, 33, 0) from '5.33.0' or '1:5.33.0-1'-style package versions' upstream part; None when unknown."""
    if not text:
        return None
    match = VERSION.match(str(text).split(':', 1)[-1])
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _version_text(version):
    return '.'.join(str(part) for part in version)


def collector_url_error(url):
    """Why `monit_collector_url` cannot be written as `set mmonit` (None when it can). Never echoes a credential."""
    if not url:
        return None
    if not isinstance(url, str):
        return 'must be a string'
    _scheme, _sep, rest = url.partition('://')
    if '@' in rest.split('/', 1)[0]:
        return ("must not carry credentials (user:password@): Monit's user is monit_collector_user and its password "
                'is read from the environment variable named by monit_collector_password_env; bundles get them in '
                'secrets/mmonit.monitrc, filled in on the host or by `triage_export monit --with-secrets`')
    if not COLLECTOR.match(url):
        return 'must be an http(s):// URL of letters, digits and . _ ~ / % + = - (host, optional port and path)'
    return None


def collector_credentials_error(user, password):
    """(setting, why) when Monit could not send this user and password in a `set mmonit` URL, else None: Monit
    sends them verbatim, so they are allowlisted. Names the rule, never the password."""
    if not COLLECTOR_USER.match(user or ''):
        return 'monit_collector_user', 'must be letters, digits and . _ ~ + - to be written into a set mmonit URL'
    if not COLLECTOR_PASSWORD.match(password or ''):
        return 'monit_collector_password_env', (
            'the collector password must be 1 to 200 letters, digits and . _ ~ ! * + = , ; % - (Monit sends the '
            'password of its set mmonit URL verbatim, so nothing can be escaped)')
    return None


class MonitSecrets(NamedTuple):
    """The secrets an operator's bundle carries in its secrets files (`triage_export monit --with-secrets` on the
    NetBox server): the collector's user and password and the Slack webhook, from the environment variables the
    settings name. Only that command builds one; the UI and REST doors never do, so their bundles hold none."""

    collector_user: str
    collector_password: str | None  # None: no collector URL set, nothing to report to
    webhook: str | None  # None: the variable is empty, alerts go to syslog only
    password_env: str
    webhook_env: str

    def __repr__(self):
        # Never the values, whoever prints this (a traceback, a debugger, a log line).
        password = '<hidden>' if self.collector_password else None
        webhook = '<hidden>' if self.webhook else None
        return (f'MonitSecrets(collector_user={self.collector_user!r}, collector_password={password}, '
                f'webhook={webhook}, password_env={self.password_env!r}, webhook_env={self.webhook_env!r})')

    @classmethod
    def from_environment(cls):
        """Raises ValueError, naming the variable (never its value), when a needed secret is missing or unusable."""
        user, password_env = get_setting('monit_collector_user'), get_setting('monit_collector_password_env')
        webhook_env = get_setting('monit_slack_webhook_env')
        password = None
        if get_setting('monit_collector_url'):
            password = os.environ.get(password_env) or ''
            if not password:
                raise ValueError(f'the bundles report to monit_collector_url, but the environment variable '
                                 f'{password_env} (monit_collector_password_env) is empty or unset')
            error = collector_credentials_error(user, password)
            if error:
                raise ValueError(f'{error[0]} {error[1]}' if error[0] == 'monit_collector_user' else
                                 f'{error[1]} (environment variable {password_env})')
        webhook = (os.environ.get(webhook_env) or '').strip() or None
        if webhook and not WEBHOOK.match(webhook):
            raise ValueError(f'the environment variable {webhook_env} (monit_slack_webhook_env) must hold an https:// '
                             f'URL of letters, digits and . _ ~ / % + = -')
        return cls(user, password, webhook, password_env, webhook_env)


class _Settings(NamedTuple):
    prefix: str
    collector: str
    scope: Scope
    assume_version: tuple
    secrets: MonitSecrets | None


def _settings(prefix, assume_version, secrets):
    collector = get_setting('monit_collector_url') or ''
    error = collector_url_error(collector)
    if error:
        raise ValueError(f'monit_collector_url {error}')
    return _Settings(validate_prefix(prefix or get_setting('monit_prefix')), collector, Scope.from_settings(),
                     tuple(assume_version or DEFAULT_MONIT_VERSION), secrets)


def _rows(queryset, with_facts, user=None):
    """Stream plain rows: name, mapped address inputs and (for exported hosts) the probe facts we use.

    One query per queryset, no model instances: primary IPs as text, only the `triage` part of config
    contexts (as in the ssh_config export) and only the needed keys of the facts JSON. With a `user`, facts
    come only from HostFacts that user may view (a subquery, still one query): a host whose facts they may not
    see is exported as an unprobed host (no filesystem or interface checks).
    """
    cold = Q(_config_context_data__isnull=True)
    annotations = {
        'ip4': Func('primary_ip4__address', function='HOST', output_field=CharField()),
        'ip6': Func('primary_ip6__address', function='HOST', output_field=CharField()),
        'cached_ssh': KeyTransform('ssh', KeyTransform('triage', '_config_context_data')),
        'cold': ExpressionWrapper(cold, output_field=BooleanField()),
        'context_triage': _TriageValues('config_context_data', path='$[*].triage'),
        'local_triage': Case(When(cold, then=_TriageValues('local_context_data', path='$.triage')), default=None,
                             output_field=JSONField()),
    }
    fields = ['id', 'name', 'ip4', 'ip6', 'cached_ssh', 'cold', 'context_triage', 'local_triage']
    if with_facts:
        visible = Q()
        if user is not None:
            from ..models import HostFacts

            visible = Q(triage_facts__in=HostFacts.objects.restrict(user, 'view').values('pk'))

        def fact(expression):
            return expression if user is None else Case(When(visible, then=expression), default=None,
                                                        output_field=JSONField())

        for key in ('filesystems', 'interfaces', 'cpu', 'memory', 'monit_version'):
            annotations[f'f_{key}'] = fact(KeyTransform(key, 'triage_facts__facts'))
        annotations['f_monit_package'] = fact(KeyTransform(
            'version', KeyTransform('monit', KeyTransform('packages', 'triage_facts__facts'))))
        fields += ['f_filesystems', 'f_interfaces', 'f_cpu', 'f_memory', 'f_monit_version', 'f_monit_package']
    return (
        queryset.annotate_config_context_data(only_invalidated=True)
        .annotate(**annotations)
        .order_by()
        .values_list(*fields, named=True)
        .iterator(chunk_size=CHUNK_SIZE)
    )


class _Target(NamedTuple):
    description: str  # e.g. "device 'mysql-1' (#5)", raw
    alias: str
    address: str | None
    ssh_port: int | None
    error: str | None


def _target(row, object_type):
    """Where Monit should dial a target host: the probe's mapping (triage.ssh host, else the primary IP)."""
    description = f'{object_type.rsplit(".", 1)[1]} {row.name!r} (#{row.id})'
    ssh = _triage_ssh(row)
    try:
        address = _valid_host(ssh['host'], 'triage.ssh host') if ssh.get('host') else (row.ip4 or row.ip6)
        ssh_port = _valid_port(ssh['port'], 'triage.ssh port') if ssh.get('port') is not None else None
    except TargetError as exc:
        return _Target(description, alias_for(row.name), None, None, str(exc))
    if not address:
        return _Target(description, alias_for(row.name), None, None, 'no primary IP address and no triage.ssh host')
    return _Target(description, alias_for(row.name), address, ssh_port, None)


def _protocol(label, port):
    for pattern, protocol in LABEL_PROTOCOLS:
        if label and pattern.search(label):
            return protocol
    return PORT_PROTOCOLS.get(port)


class _Dependency(NamedTuple):
    target: tuple  # (object_type label, id)
    kind: str
    port: int | None
    label: str
    origin: str
    status: str


def _load_dependencies(devices, virtual_machines, user, types):
    """{(object_type, id): [_Dependency]} for the exported hosts, hidden ones left out; one query."""
    dependencies = Dependency.objects.all()
    if user is not None:
        dependencies = dependencies.restrict(user, 'view')
    rows = (
        dependencies.filter(
            Q(source_type=types['dcim.device'], source_id__in=devices.values('pk'))
            | Q(source_type=types['virtualization.virtualmachine'], source_id__in=virtual_machines.values('pk'))
        )
        .exclude(status=DependencyStatusChoices.HIDDEN)
        .order_by('source_type_id', 'source_id', 'target_type_id', 'target_id', 'port', 'pk')
        .values_list('source_type_id', 'source_id', 'target_type_id', 'target_id', 'kind', 'port', 'label', 'origin',
                     'status')
    )
    labels = {ct.pk: label for label, ct in types.items()}
    found = {}
    for source_type, source_id, target_type, target_id, kind, port, label, origin, status in rows:
        source = (labels.get(source_type), source_id)
        found.setdefault(source, []).append(
            _Dependency((labels.get(target_type, 'other'), target_id), kind, port, label or '', origin, status))
    return found


def _load_targets(dependencies, user):
    """Resolve every dependency target to _Targets and ports: a few queries, whatever the number of hosts.

    Returns {(object_type, id): (description, [( _Target, [ports] )]) or error text}.
    """
    wanted = {target for deps in dependencies.values() for target in (d.target for d in deps)}
    service_ids = [pk for label, pk in wanted if label == 'ipam.service']
    services = {}
    if service_ids:
        queryset = Service.objects.filter(pk__in=service_ids)
        if user is not None:
            queryset = queryset.restrict(user, 'view')
        types = {ct.pk: f'{ct.app_label}.{ct.model}' for ct in ContentType.objects.get_for_models(
            Device, VirtualMachine).values()}
        for pk, name, parent_type, parent_id, mappings in queryset.values_list(
                'pk', 'name', 'parent_object_type_id', 'parent_object_id', 'port_mappings'):
            # NetBox 4.7 stores 'protocol/port' strings; Monit checks TCP ports only.
            ports = sorted({int(port) for protocol, _, port in (str(m).partition('/') for m in mappings or ())
                            if protocol.lower() == 'tcp' and port.isdigit() and 0 < int(port) < 65536})
            services[pk] = (name, types.get(parent_type), parent_id, ports)
    host_ids = {label: {pk for kind, pk in wanted if kind == label} for label in HOST_MODELS}
    for _name, parent_label, parent_id, _ports in services.values():
        if parent_label in host_ids:
            host_ids[parent_label].add(parent_id)
    hosts = {}
    for label, ids in host_ids.items():
        if not ids:
            continue
        queryset = HOST_MODELS[label].objects.filter(pk__in=ids)
        if user is not None:
            queryset = queryset.restrict(user, 'view')
        for row in _rows(queryset, with_facts=False):
            hosts[(label, row.id)] = _target(row, label)

    resolved = {}
    for label, pk in wanted:
        if label in HOST_MODELS:
            host = hosts.get((label, pk))
            resolved[(label, pk)] = host or f'{label.rsplit(".", 1)[1]} #{pk}: not found or not visible to you'
        elif label == 'ipam.service':
            service = services.get(pk)
            if service is None:
                resolved[(label, pk)] = f'service #{pk}: not found or not visible to you'
                continue
            name, parent_label, parent_id, ports = service
            host = hosts.get((parent_label, parent_id))
            if host is None:
                resolved[(label, pk)] = f'service {name!r} (#{pk}): its parent is not a device or VM you may view'
            else:
                resolved[(label, pk)] = (host, f'service {name!r} (#{pk}) on {host.description}', ports)
        else:
            resolved[(label, pk)] = f'{label} #{pk}: not a device, VM or service (no single address to check)'
    return resolved


class _Writer:
    """Builds one host's files; knows the host's Monit version and what it left out."""

    def __init__(self, alias, settings, version):
        self.alias = alias
        self.settings = settings
        self.version = version
        self.base = f'{settings.prefix}/{alias}'
        self.notify = f'{self.base}/scripts/notify.sh'
        self.action = f'then exec "{self.notify}"\n    else if succeeded then exec "{self.notify}"'
        self.left_out = []
        self.names = set()
        self.files = {}

    def supports(self, feature):
        return self.version >= MONIT_FEATURES[feature][0]

    def version_reason(self, feature):
        needed = _version_text(MONIT_FEATURES[feature][0])
        return f'needs Monit {needed} (this file is for {_version_text(self.version)})'

    def leave_out(self, what, reason):
        self.left_out.append(LeftOut(what, reason))
        return [f'# left out: {comment_text(what)}: {comment_text(reason)}']

    def claim(self, name):
        """Check names must be unique in a control file; False when taken or not allowlisted."""
        if not CHECK_NAME.match(name) or name.lower() in self.names:
            return False
        self.names.add(name.lower())
        return True


def _system(writer, row):
    cpu = row.f_cpu if isinstance(row.f_cpu, dict) else {}
    memory = row.f_memory if isinstance(row.f_memory, dict) else {}
    threads = cpu.get('threads')
    threads = threads if isinstance(threads, int) and 0 < threads < 100_000 else None
    load = 2 * threads if threads else 8
    writer.claim(writer.alias)
    lines = [f'check system {writer.alias}']
    if not threads:
        lines.append('    # the probe did not count the CPUs: load threshold 8')
    lines += [
        f'    if loadavg (5min) > {load} for 5 cycles {writer.action}',
        f'    if cpu usage (user) > 90% for 5 cycles {writer.action}',
        f'    if cpu usage (system) > 50% for 5 cycles {writer.action}',
        f'    if cpu usage (wait) > 50% for 5 cycles {writer.action}',
        f'    if memory usage > 90% for 5 cycles {writer.action}',
    ]
    swap = memory.get('swap_total_bytes')
    if swap == 0:
        lines.append('    # no swap on this host at probe time: no swap test')
    elif not writer.supports('swap'):
        lines += ['    ' + line for line in writer.leave_out('swap usage test', writer.version_reason('swap'))]
    else:
        lines.append(f'    if swap usage > 25% for 5 cycles {writer.action}')
    return lines


def _filesystems(writer, row):
    lines, seen = [], set()
    filesystems = row.f_filesystems if isinstance(row.f_filesystems, list) else []
    if row.f_filesystems is None:
        return ['# no probe facts: probe the host to add filesystem and network checks']
    for entry in filesystems:
        if not isinstance(entry, dict):
            continue
        mount, fstype = entry.get('mount'), entry.get('fstype')
        if not isinstance(mount, str) or mount in seen:
            continue
        seen.add(mount)
        what = f'filesystem {mount}'
        if isinstance(fstype, str) and fstype in PSEUDO_FILESYSTEMS:
            continue
        if not MOUNT.match(mount) or '/../' in f'{mount}/' or '/./' in f'{mount}/':
            lines += writer.leave_out(what, 'the mount point has characters outside [A-Za-z0-9/_.+@:-]')
            continue
        mount = mount.rstrip('/') or '/'
        name = 'fs_root' if mount == '/' else 'fs' + re.sub(r'[^A-Za-z0-9_-]', '_', mount)
        if not writer.claim(name):
            lines += writer.leave_out(what, f'check name {name!r} is already used or too long')
            continue
        lines += ['', f'check filesystem {name} with path {mount}',
                  f'    if space usage > 95% {writer.action}']
        if writer.supports('filesystem_service_time'):
            lines.append(f'    if service time > 300 milliseconds for 5 cycles {writer.action}')
        else:
            lines += ['    ' + line for line in writer.leave_out(
                f'{what}: service time test', writer.version_reason('filesystem_service_time'))]
    return lines


def _interfaces(writer, row):
    interfaces = [entry for entry in (row.f_interfaces if isinstance(row.f_interfaces, list) else [])
                  if isinstance(entry, dict) and isinstance(entry.get('name'), str) and entry['name'] != 'lo']
    if not interfaces:
        return []
    if not writer.supports('network'):
        return writer.leave_out('network interface checks', writer.version_reason('network'))
    lines = []
    for entry in interfaces:
        ifname = entry['name']
        what = f'interface {ifname}'
        if not INTERFACE.match(ifname):
            lines += writer.leave_out(what, 'the name has characters outside [A-Za-z0-9_.-] (aliases, VLAN@parent)')
        elif entry.get('state') != 'up':
            lines.append(f'# interface {ifname} was {comment_text(entry.get("state") or "in an unknown state")} at '
                         f'probe time: not checked')
        elif not writer.claim(f'net_{ifname}'):
            lines += writer.leave_out(what, f'check name net_{ifname} is already used')
        else:
            lines += ['', f'check network net_{ifname} with interface {ifname}',
                      f'    if failed link {writer.action}']
    return lines


def _os_release(writer):
    if not writer.supports('program'):
        return writer.leave_out('os_release program check', writer.version_reason('program'))
    if not writer.claim('os_release'):
        return writer.leave_out('os_release program check', 'check name os_release is already used (by the host)')
    writer.files[f'{writer.alias}/scripts/os_release.sh'] = (OS_RELEASE_SCRIPT, 0o755)
    return ['', f'check program os_release with path "{writer.base}/scripts/os_release.sh" with timeout 10 seconds',
            f'    if status != 0 {writer.action}']


def _remote(writer, dependencies, targets):
    """One `check host` per (target, port); everything that cannot be checked safely is left out, said why."""
    lines, checks, merged = [], [], {}
    for dep in dependencies:
        resolved = targets.get(dep.target)
        what = f'{dep.kind} dependency #{dep.target[1]} ({dep.target[0]})'
        if isinstance(resolved, str):
            lines += writer.leave_out(what, resolved)
            continue
        if isinstance(resolved, _Target):
            host, description, ports = resolved, resolved.description, []
        else:
            host, description, ports = resolved
        what = f'{dep.kind} {description}'
        if host.error:
            lines += writer.leave_out(what, host.error)
            continue
        protocol = _protocol(dep.label, dep.port)
        if dep.port:
            ports = [dep.port]
        elif not ports and protocol:
            ports = [DEFAULT_PORTS[protocol]]
        if not ports:
            lines += writer.leave_out(what, 'no port: set one on the dependency')
            continue
        for port in ports:
            port_protocol = protocol or PORT_PROTOCOLS.get(port)
            if port_protocol == 'ssh' and host.ssh_port:
                port = host.ssh_port  # the probe's mapping: SSH goes where the probe dials
            merged.setdefault((host.address, port), (host, port, port_protocol, description, []))[4].append(dep)
    for (address, port), (host, port, protocol, description, deps) in merged.items():
        what = f'{description} port {port}'
        try:
            ipaddress.ip_address(address)
        except ValueError:
            lines += writer.leave_out(what, f'address {address!r} is a name: Monit would resolve it on the host, so '
                                            f'its scope cannot be checked here; map it to an IP address')
            continue
        if address not in writer.settings.scope:
            lines += writer.leave_out(what, f'{address} is outside the allowed networks ({writer.settings.scope})')
            continue
        name = f'{host.alias}_{port}'
        if not host.alias or not writer.claim(name):
            lines += writer.leave_out(what, f'check name {name!r} is empty, already used or too long')
            continue
        test = f'port {port}'
        if protocol == 'redis' and not writer.supports('redis'):
            protocol_text = f'    # Redis protocol test {writer.version_reason("redis")}: TCP test only'
            protocol = None
        else:
            protocol_text = None
        if protocol == 'https':
            test += ' protocol https' if writer.supports('https') else ' type tcpssl protocol http'
        elif protocol:
            test += f' protocol {protocol}'
        credentials = None
        if protocol in CREDENTIAL_FEATURES:
            if writer.supports(CREDENTIAL_FEATURES[protocol]):
                credentials = f'{writer.alias}/secrets/{name}.monitrc'
                writer.files[credentials] = (_secrets_placeholder(writer, host, port, protocol), 0o600)
            else:
                protocol_text = (f'    # no credentials: {PROTOCOL_NAMES[protocol]} credentials '
                                 f'{writer.version_reason(CREDENTIAL_FEATURES[protocol])}')
        kinds = ', '.join(sorted({f'{d.kind} ({d.origin}, {d.status}{", " + d.label if d.label else ""})'
                                  for d in deps}))
        lines += ['', f'check host {name} with address {address}',
                  f'    # {comment_text(description)}: {comment_text(kinds)}']
        if protocol_text:
            lines.append(protocol_text)
        lines += ['    if failed', f'        {test}']
        if credentials:
            lines.append(f'        include {writer.settings.prefix}/{credentials}')
        lines += [f'    {writer.action}']
        checks.append(RemoteCheck(name, description, address, port, protocol,
                                  f'{writer.settings.prefix}/{credentials}' if credentials else None))
    return lines, checks


def _secrets_placeholder(writer, host, port, protocol):
    return (
        f'# Credentials of the {PROTOCOL_NAMES[protocol]} check {host.alias}_{port} in '
        f'{writer.base}/monitrc (netbox-triage).\n'
        f'# NetBox never holds them: write them here, on the host, as one line such as\n'
        f'#     username "monit" password "..."\n'
        f'# and keep this file mode 0600. Left as comments only, the check logs in without credentials.\n'
    )


def _mmonit_file(writer):
    """secrets/mmonit.monitrc: the `set mmonit` line with the collector's password (--with-secrets), else a
    placeholder of comments saying what to write there."""
    settings, secrets = writer.settings, writer.settings.secrets
    scheme, rest = COLLECTOR.match(settings.collector).groups()
    if secrets is not None and secrets.collector_password:
        return (
            f'# The collector the Monit of {writer.alias} reports to, included by {writer.base}/monitrc\n'
            f'# (written by netbox-triage: triage_export monit --with-secrets). Keep this file mode 0600.\n'
            f'set mmonit {scheme}://{secrets.collector_user}:{secrets.collector_password}@{rest}\n'
        )
    user = comment_text(get_setting('monit_collector_user'))
    return (
        f'# The collector the Monit of {writer.alias} reports to, included by {writer.base}/monitrc (netbox-triage).\n'
        f"# NetBox never ships the collector's password: write it here, on the host, as this file's one statement\n"
        f'#     set mmonit {scheme}://{user}:<password>@{rest}\n'
        f'# (Monit sends the password as written) and keep this file mode 0600. Left as comments only, this\n'
        f'# host does not report to NetBox.\n'
    )


def _webhook_file(writer):
    """secrets/slack-webhook.url, which notify.sh reads: the webhook (--with-secrets), else a placeholder."""
    secrets = writer.settings.secrets
    if secrets is not None and secrets.webhook:
        return (
            f'# The Slack incoming webhook {writer.notify} posts alerts to (written by netbox-triage:\n'
            f'# triage_export monit --with-secrets, from {secrets.webhook_env}). Keep this file mode 0600.\n'
            f'{secrets.webhook}\n'
        )
    return (
        f'# The Slack incoming webhook {writer.notify} posts alerts to (netbox-triage).\n'
        f'# NetBox never ships it: write it here, on the host, as one line https://hooks.slack.com/services/...\n'
        f'# and keep this file mode 0600. Left as comments only, alerts go to syslog only.\n'
    )


def _host_files(row, object_type, alias, settings, dependencies, targets):
    known = parse_version(row.f_monit_version) or parse_version(row.f_monit_package)
    version = known or settings.assume_version
    writer = _Writer(alias, settings, version)
    webhook_file = f'{writer.base}/{WEBHOOK_FILE}'
    writer.files[f'{alias}/scripts/notify.sh'] = (_notify_script(alias, webhook_file), 0o755)
    writer.files[f'{alias}/{WEBHOOK_FILE}'] = (_webhook_file(writer), 0o600)

    # The web interface (for `monit status` on the host) on 127.0.0.1, a literal: `localhost` makes Monit ask DNS
    # for its IPv6 address wherever /etc/hosts has no `::1 localhost` (seen with strace in the end-to-end test).
    body = ['set daemon 60', 'set log syslog', 'set httpd port 2812 and use address 127.0.0.1', '    allow 127.0.0.1']
    if settings.collector:
        # The `set mmonit` line carries the collector's password: it lives in a secrets file kept on the host.
        writer.files[f'{alias}/{MMONIT_FILE}'] = (_mmonit_file(writer), 0o600)
        body.append(f'include {writer.base}/{MMONIT_FILE}')
    body += ['', *_system(writer, row)]
    sections = [_filesystems(writer, row), _interfaces(writer, row), _os_release(writer)]
    for section in sections:
        body += section
    remote_lines, checks = _remote(writer, dependencies, targets)
    body += remote_lines

    description = comment_text(f'{object_type.rsplit(".", 1)[1]} {row.name!r} (#{row.id})')
    header = [
        f'# Monit control file generated by netbox-triage from NetBox for {description}.',
        f'# Check and run: monit -t -c {writer.base}/monitrc && monit -c {writer.base}/monitrc',
        f'# Monit {_version_text(known)} on this host (from the probe).' if known else
        f'# Monit version unknown (not found by the probe): written for Monit {_version_text(version)} and later; '
        f'probe again once Monit is installed.',
        f'# Alerts run {writer.notify}: syslog, and Slack when {webhook_file} holds a webhook.',
    ]
    if settings.collector:
        header.append(f'# Reports to the netbox-triage collector {settings.collector} once '
                      f'{writer.base}/{MMONIT_FILE} holds its set mmonit line.')
    if writer.left_out:
        header.append(f'# Left out ({len(writer.left_out)}):')
        header += [f'#   {comment_text(item.what)}: {comment_text(item.reason)}' for item in writer.left_out]
    writer.files[f'{alias}/monitrc'] = ('\n'.join(header + [''] + body) + '\n', 0o600)
    return MonitHost(alias=alias, name=row.name, object_type=object_type, id=row.id,
                     monit_version=_version_text(known) if known else None, files=writer.files,
                     remote_checks=checks, left_out=writer.left_out)


def _notify_script(alias, webhook_file):
    # The path is under the validated prefix (no quotes, spaces or `$`), so single quotes hold it verbatim.
    return NOTIFY_SCRIPT.replace('@ALIAS@', alias).replace('@WEBHOOK_FILE@', webhook_file)


def render_monit_bundle(devices, virtual_machines, *, prefix=None, user=None, assume_version=None, secrets=None):
    """Build the Monit bundle of the given device and VM querysets (already filtered and restricted).

    `prefix` is where the bundle will be installed (default: the `monit_prefix` setting). `user`
    restricts what remote checks may reveal: dependencies, targets and services the user may not
    view are left out (None: the CLI, unrestricted). `assume_version` (a tuple) is the Monit version
    written for when the probe found none (default DEFAULT_MONIT_VERSION). `secrets` (a MonitSecrets,
    the CLI's --with-secrets only) fills the secrets files; without it they are placeholders and the
    bundle holds no secret. Raises ValueError for a bad prefix or setting. A constant number of
    queries, whatever the number of hosts.
    """
    settings = _settings(prefix, assume_version, secrets)
    types = {f'{ct.app_label}.{ct.model}': ct for ct in ContentType.objects.get_for_models(
        Device, VirtualMachine, Service, Cluster).values()}
    entries, skipped = [], []
    with _without_jit(devices.db):
        dependencies = _load_dependencies(devices, virtual_machines, user, types)
        targets = _load_targets(dependencies, user)
        for queryset in (devices, virtual_machines):
            object_type = queryset.model._meta.label_lower
            for row in _rows(queryset, with_facts=True, user=user):
                alias = alias_for(row.name)
                if not row.name:
                    skipped.append(SkippedHost(row.name, 'has no name', object_type, row.id))
                elif not CHECK_NAME.match(alias):
                    skipped.append(SkippedHost(row.name, 'the name has no letter or digit usable as a Monit folder '
                                                         'and check name', object_type, row.id))
                else:
                    entries.append((alias, object_type, row))

    bundle = MonitBundle(prefix=settings.prefix, with_secrets=secrets is not None)
    holders = {}
    for alias, object_type, row in sorted(entries, key=lambda e: (HOST_RANK.get(e[1], 9), e[2].id)):
        holder = holders.setdefault(alias.lower(), (object_type, row))
        if holder[1] is not row:
            owner = f'{holder[0].rsplit(".", 1)[1]} {holder[1].name!r} (#{holder[1].id})'
            skipped.append(SkippedHost(row.name, f'folder {alias!r} is already used by {owner}', object_type, row.id))
            continue
        host_dependencies = dependencies.get((object_type, row.id), [])
        bundle.hosts.append(_host_files(row, object_type, alias, settings, host_dependencies, targets))
    bundle.hosts.sort(key=lambda h: (h.alias.casefold(), h.alias))
    bundle.skipped = sorted(skipped, key=lambda s: (HOST_RANK.get(s.object_type, 9), s.id))
    return bundle


def write_monit_tarball(devices, virtual_machines, fileobj, *, prefix=None, user=None, assume_version=None,
                        secrets=None):
    """Render the bundle and write it to `fileobj` (binary) as a tar.gz; return the MonitBundle."""
    bundle = render_monit_bundle(devices, virtual_machines, prefix=prefix, user=user, assume_version=assume_version,
                                 secrets=secrets)
    bundle.write_tarball(fileobj)
    return bundle


NOTIFY_SCRIPT = r"""#!/bin/sh
# Monit alert hook generated by netbox-triage for @ALIAS@. Monit sets MONIT_HOST, MONIT_SERVICE,
# MONIT_EVENT and MONIT_DESCRIPTION. Always logs to syslog; posts to Slack when the secrets file below
# holds a webhook (written on this host, or by the operator's `triage_export monit --with-secrets`:
# never in a bundle downloaded from NetBox). Only a plain https:// URL is taken from it, and it is
# handed to curl/wget on standard input, not on the command line.
WEBHOOK_FILE='@WEBHOOK_FILE@'
text="[${MONIT_HOST:-@ALIAS@}] ${MONIT_SERVICE:-monit}: ${MONIT_EVENT:-event} - ${MONIT_DESCRIPTION:-}"
logger -t monit-triage -- "$text" 2>/dev/null || true
WEBHOOK=$(tr -d '\r' 2>/dev/null < "$WEBHOOK_FILE" \
    | grep -E '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%+=-]*)?$' | head -n 1)
[ -n "$WEBHOOK" ] || exit 0
json=$(printf '%s' "$text" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
payload="{\"text\":\"$json\"}"
if command -v curl >/dev/null 2>&1; then
    printf 'url = "%s"\n' "$WEBHOOK" | curl -fsS -m 10 -K - -H 'Content-Type: application/json' \
        --data-binary "$payload" >/dev/null
elif command -v wget >/dev/null 2>&1; then
    printf '%s\n' "$WEBHOOK" | wget -q -T 10 -O /dev/null --header='Content-Type: application/json' \
        --post-data="$payload" -i -
else
    logger -t monit-triage -- 'neither curl nor wget: alert not sent to Slack' 2>/dev/null
    exit 1
fi
"""

OS_RELEASE_SCRIPT = r"""#!/bin/sh
# The OS release, shown as this program check's output in Monit (generated by netbox-triage).
if [ -r /etc/os-release ]; then
    sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"' | head -n 1
elif [ -r /etc/redhat-release ]; then
    head -n 1 /etc/redhat-release
elif [ -r /etc/SuSE-release ]; then
    head -n 1 /etc/SuSE-release
elif [ -r /etc/alpine-release ]; then
    printf 'Alpine Linux %s\n' "$(cat /etc/alpine-release)"
elif [ -r /etc/debian_version ]; then
    printf 'Debian %s\n' "$(cat /etc/debian_version)"
else
    uname -sr
fi
"""
