"""An `~/.ssh/config` for devices and VMs: one `Host` block per host, grouped by site.

ssh_config has no escaping: a newline ends a directive, whitespace separates arguments, `%` and
`${…}` are expanded, and anything after `Host` is a pattern list. Names and config contexts come
from many hands, so nothing reaches the file unless it passes an allowlist:

- the `Host` alias is the object's name made safe by one documented transformation (see
  `alias_for()`); a name with nothing usable left, or an alias another host already holds, is
  skipped;
- HostName, User, Port and ProxyJump come from the same validators the probe uses
  (`probing.targets`), then a last check of the exact text written; IdentityFile only comes from
  the settings (a path, never key material);
- keywords are fixed by this module: no value from data ever chooses one, so `ProxyCommand`,
  `LocalCommand` or `Match exec` cannot appear;
- comments (site names, skipped hosts) are reduced to printable ASCII, other characters escaped.

A host that cannot be made safe is skipped, and said so in the header comment and in `skipped`.
"""

import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import connections, transaction
from django.db.models import BooleanField, Case, CharField, ExpressionWrapper, Func, JSONField, Q, When
from django.db.models.fields.json import KeyTransform

from utilities.data import deepmerge

from ..probing.targets import TargetError, _parse_jump, _valid_host, _valid_port, _valid_username
from ..settings import SSH_CONFIG_PATH, get_setting

__all__ = ('ExportedHost', 'SSHConfigExport', 'SkippedHost', 'alias_for', 'render_ssh_config')

ALIAS_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')
ALIAS = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9._-]*$')
# The last check on every value written after a keyword: no whitespace, quotes, `#`, `=`, `,`, `%`, `$`.
VALUE = re.compile(r'^[A-Za-z0-9_.:@\[\]][A-Za-z0-9_.:@\[\]-]*$')
# Rows fetched per round trip while streaming.
CHUNK_SIZE = 2000
# Devices before VMs when two hosts would share an alias: the first keeps it.
HOST_RANK = {'dcim.device': 0, 'virtualization.virtualmachine': 1}


class ExportedHost(NamedTuple):
    alias: str
    name: str
    object_type: str
    id: int
    site: str | None
    hostname: str
    user: str
    port: int
    proxy_jump: str | None
    identity_file: str | None


class SkippedHost(NamedTuple):
    name: str | None
    reason: str
    object_type: str
    id: int


@dataclass
class SSHConfigExport:
    text: str
    hosts: list[ExportedHost] = field(default_factory=list)
    skipped: list[SkippedHost] = field(default_factory=list)

    def as_dict(self):
        """The REST answer for `?format=json`."""
        return {
            'text': self.text,
            'hosts': [host._asdict() for host in self.hosts],
            'skipped': [skipped._asdict() for skipped in self.skipped],
        }


def alias_for(name):
    """The `Host` alias for a NetBox name, or '' when nothing usable is left.

    Deterministic: accents are dropped (NFKD, then combining marks removed), every run of
    characters outside `[A-Za-z0-9._-]` becomes one `-`, and leading/trailing `-` and `.` go.
    Case is kept. `web 01` → `web-01`, `rtr-zürich` → `rtr-zurich`, `-oProxyCommand=x` →
    `oProxyCommand-x`, `名前` → '' (skipped).
    """
    decomposed = unicodedata.normalize('NFKD', name or '')
    return ALIAS_UNSAFE.sub('-', ''.join(c for c in decomposed if not unicodedata.combining(c))).strip('.-')


def comment_text(text):
    """Text fit for one comment line: printable ASCII kept, anything else backslash-escaped."""
    return ''.join(c if ' ' <= c <= '~' else c.encode('unicode_escape').decode('ascii') for c in str(text))


def _describe(host):
    """E.g. `device 'web 01' (#12)`, for an ExportedHost or a SkippedHost; raw, so pass it through comment_text()."""
    return f'{host.object_type.rsplit(".", 1)[1]} {host.name!r} (#{host.id})'


def _checked(value, what):
    value = str(value)
    if not VALUE.match(value):
        raise TargetError(f'{what} {value!r} cannot be written into ssh_config safely')
    return value


class _TriageValues(Func):
    """The `triage` value of each config context given, in order, skipping those without one."""

    function = 'jsonb_path_query_array'
    template = "%(function)s(%(expressions)s, '%(path)s')"
    output_field = JSONField()


def _triage_ssh(row):
    """`triage.ssh` of the host's rendered config context, as a dict ({} when absent or not a dict).

    Warm rows carry it straight from NetBox's pre-rendered cache (`_config_context_data`, read in SQL
    so the rest of the context never leaves the database). Cold rows (cache invalidated, until
    NetBox's background job re-renders it) merge the `triage` values of the annotated contexts and
    of the local context, in order, as ConfigContextModel.render_config_context() merges whole
    contexts: deepmerge() treats top-level keys independently, so the result for `triage` is the same.
    """
    if row.cold:
        context = {}
        for triage in [*(row.context_triage or ()), *(row.local_triage or ())]:
            context = deepmerge(context, {'triage': triage})
        triage = context.get('triage')
        ssh = triage.get('ssh') if isinstance(triage, dict) else None
    else:
        ssh = row.cached_ssh
    return ssh if isinstance(ssh, dict) else {}


class _Defaults(NamedTuple):
    prefer: str
    username: str
    port: int
    jump: object
    identity_file: str | None


def _host_entry(row, object_type, defaults):
    """ExportedHost for one device/VM row, or raise TargetError saying why it cannot be written."""
    ssh = _triage_ssh(row)
    user = _checked(_valid_username(ssh.get('username', defaults.username), 'user'), 'user')
    port = _valid_port(ssh.get('port', defaults.port), 'port')
    if ssh.get('host'):
        hostname = _valid_host(ssh['host'], 'triage.ssh host')
    else:
        if defaults.prefer == 'ipv4':
            hostname = row.ip4 or row.ip6
        else:
            hostname = row.ip6 or row.ip4
        if not hostname:
            raise TargetError('no primary IP address and no triage.ssh host')
    hostname = _checked(hostname, 'HostName')
    proxy_jump = None
    jump_spec = ssh.get('jump', defaults.jump)
    if jump_spec:
        jump = _parse_jump(jump_spec, user)
        jump_host = f'[{jump.host}]' if ':' in jump.host else jump.host
        proxy_jump = _checked(f'{jump.username}@{jump_host}:{jump.port}', 'ProxyJump')
    return ExportedHost(
        alias=alias_for(row.name), name=row.name, object_type=object_type, id=row.id, site=row.site__name,
        hostname=hostname, user=user, port=port, proxy_jump=proxy_jump, identity_file=defaults.identity_file,
    )


def _rows(queryset):
    """Stream plain rows with what the export needs: one query, no model instances, no per-row query.

    Primary IPs come as text (`host()` in SQL). Only the `triage` part of config contexts leaves the
    database: from NetBox's pre-rendered cache, or for rows whose cache is invalidated, from NetBox's
    own config-context annotation, computed in the same query.
    """
    cold = Q(_config_context_data__isnull=True)
    return (
        queryset.annotate_config_context_data(only_invalidated=True)
        .annotate(
            ip4=Func('primary_ip4__address', function='HOST', output_field=CharField()),
            ip6=Func('primary_ip6__address', function='HOST', output_field=CharField()),
            cached_ssh=KeyTransform('ssh', KeyTransform('triage', '_config_context_data')),
            cold=ExpressionWrapper(cold, output_field=BooleanField()),
            context_triage=_TriageValues('config_context_data', path='$[*].triage'),
            local_triage=Case(When(cold, then=_TriageValues('local_context_data', path='$.triage')), default=None,
                              output_field=JSONField()),
        )
        .order_by()
        .values_list('id', 'name', 'site__name', 'ip4', 'ip6', 'cached_ssh', 'cold', 'context_triage',
                     'local_triage', named=True)
        .iterator(chunk_size=CHUNK_SIZE)
    )


@contextmanager
def _without_jit(using):
    """Run the export's queries in one transaction with PostgreSQL's JIT off, then put it back.

    The planner costs NetBox's config-context subquery per row even though the CASE around it runs
    it for none of the warm rows, so JIT kicks in and spends ~1 s compiling a 35 ms scan (measured
    on 10,000 devices, bench/ssh_config.py). Streaming also needs the transaction: outside one,
    Django's server-side cursor is WITH HOLD, which materialises the whole result first.
    """
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        previous = cursor.fetchone()[0]
        yield
        # On an exception the rollback restores it (also to a savepoint); after success, so do we.
        cursor.execute("SELECT set_config('jit', %s, true)", [previous])


def _block(host):
    lines = []
    if host.alias != host.name:
        lines.append(f'# {comment_text(_describe(host))}')
    lines += [f'Host {host.alias}', f'    HostName {host.hostname}', f'    User {host.user}', f'    Port {host.port}']
    if host.proxy_jump:
        lines.append(f'    ProxyJump {host.proxy_jump}')
    if host.identity_file:
        lines.append(f'    IdentityFile {host.identity_file}')
    return lines


def _collect(queryset, defaults, entries, skipped):
    """Append an ExportedHost or a SkippedHost for each row of `queryset`."""
    object_type = queryset.model._meta.label_lower
    for row in _rows(queryset):
        if not row.name:
            skipped.append(SkippedHost(row.name, 'has no name', object_type, row.id))
            continue
        try:
            entry = _host_entry(row, object_type, defaults)
        except TargetError as exc:
            skipped.append(SkippedHost(row.name, str(exc), object_type, row.id))
            continue
        if not ALIAS.match(entry.alias):
            skipped.append(SkippedHost(row.name, 'the name has no letter or digit usable in an ssh_config alias',
                                       object_type, row.id))
            continue
        entries.append(entry)


def render_ssh_config(devices, virtual_machines, *, prefer=None, identity_file=None):
    """Render an ssh_config for the given device and VM querysets (already filtered and restricted).

    `prefer` ('ipv4' or 'ipv6', default the `ssh_config_prefer` setting) picks the primary IP used as
    HostName when a host has both; a `triage.ssh` host in the config context wins over either.
    `identity_file` defaults to the `ssh_config_identity_file` setting.
    """
    prefer = prefer or get_setting('ssh_config_prefer')
    if prefer not in ('ipv4', 'ipv6'):
        raise ValueError(f"prefer must be 'ipv4' or 'ipv6', not {prefer!r}")
    identity_file = identity_file or get_setting('ssh_config_identity_file')
    if identity_file is not None and not SSH_CONFIG_PATH.match(identity_file):
        raise ValueError(f'identity file {identity_file!r} is not a plain path')
    defaults = _Defaults(prefer, get_setting('ssh_username'), get_setting('ssh_port'),
                         get_setting('ssh_jump_host'), identity_file)

    entries, skipped = [], []
    with _without_jit(devices.db):
        for queryset in (devices, virtual_machines):
            _collect(queryset, defaults, entries, skipped)

    # Two blocks with one alias would merge in ssh (first value wins per keyword): the first host keeps it.
    hosts, holders = [], {}
    for entry in sorted(entries, key=lambda e: (HOST_RANK.get(e.object_type, 9), e.id)):
        holder = holders.setdefault(entry.alias.lower(), entry)
        if holder is entry:
            hosts.append(entry)
        else:
            skipped.append(SkippedHost(entry.name, f'alias {entry.alias!r} is already used by {_describe(holder)}',
                                       entry.object_type, entry.id))
    hosts.sort(key=lambda h: (h.site is None, (h.site or '').casefold(), h.site or '', h.alias.casefold(), h.alias))
    skipped.sort(key=lambda s: (HOST_RANK.get(s.object_type, 9), s.id))

    lines = [
        f'# ssh_config generated by netbox-triage from NetBox: {len(hosts)} host(s), {len(skipped)} skipped.',
        '# Use it with `Include <this file>` in ~/.ssh/config, or `ssh -F <this file> <alias>`.',
    ]
    if skipped:
        lines.append('# Skipped (not safe to write, or not reachable as configured):')
        lines += [f'#   {comment_text(_describe(s))}: {comment_text(s.reason)}' for s in skipped]
    site = object()
    for host in hosts:
        if host.site != site:
            site = host.site
            lines += ['', f'# Site: {comment_text(site)}' if site is not None else '# No site']
        lines += _block(host)
    return SSHConfigExport(text='\n'.join(lines) + '\n', hosts=hosts, skipped=skipped)
