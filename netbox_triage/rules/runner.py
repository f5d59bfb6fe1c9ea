"""Run the rules against NetBox and keep the Discovery rows in step with what they find.

The rule modules are pure; this module is their only link to the database. It builds the hosts the
rules see and records their findings in a constant number of queries, whatever the number of hosts:
a new finding is created, a known one only gets its ``last_seen`` moved (``QuerySet.update``: no
changelog noise), one that is gone is resolved, one a person marked as a false positive stays quiet
while its evidence is unchanged. Changes are change-logged as the requesting user, raise the plugin's
event types, and reach the timelines of the open incidents that include the object.

Per-host rules judge the hosts asked for; fleet rules (drift, redundancy) always judge the whole
inventory, since a group is only meaningful whole. The only network traffic is the optional active
HTTP check of exposed services, through the scope guard in ``connections.py``.
"""

import logging
from dataclasses import dataclass, field
from datetime import date

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from dcim.models import Device
from extras.models import Tag, TaggedItem
from netbox.context import current_request
from virtualization.models import VirtualMachine

from ..choices import DiscoveryStatusChoices, IncidentStatusChoices, TimelineKindChoices
from ..events import DISCOVERY_RAISED, DISCOVERY_RESOLVED, enqueue_discovery_event
from ..markdown_text import md_code
from ..settings import get_setting
from .base import Finding, HostView, registry, severity_rank
from .exposed_services import ExposedServicesRule, HttpAnswer, judge_http_exposure

__all__ = ('RulesSummary', 'host_views', 'record_findings', 'run_discovery')

logger = logging.getLogger('netbox_triage.rules')

# pg_advisory_xact_lock key: one recorder at a time (probe chunks on several workers, a command).
RECORD_LOCK = 120100
SUBJECT_MODELS = {
    'dcim.device': ('dcim', 'device'),
    'virtualization.virtualmachine': ('virtualization', 'virtualmachine'),
    'virtualization.cluster': ('virtualization', 'cluster'),
    'ipam.service': ('ipam', 'service'),
}
CONTENT_FIELDS = ('severity', 'title', 'evidence', 'evidence_text', 'recommendation', 'object_type_id', 'object_id')
TIMELINE_SEVERITIES = ('high', 'critical')


@dataclass
class RulesSummary:
    hosts: int = 0
    rules: list = field(default_factory=list)
    findings: int = 0
    created: int = 0
    reopened: int = 0
    updated: int = 0
    resolved: int = 0
    unchanged: int = 0
    quiet: int = 0
    http_checks: int = 0
    timeline_entries: int = 0

    @property
    def changed(self):
        return self.created + self.reopened + self.updated + self.resolved

    def as_dict(self):
        return {
            'hosts': self.hosts, 'rules': self.rules, 'findings': self.findings, 'created': self.created,
            'reopened': self.reopened, 'updated': self.updated, 'resolved': self.resolved,
            'unchanged': self.unchanged, 'false_positives_quiet': self.quiet, 'http_checks': self.http_checks,
            'timeline_entries': self.timeline_entries,
        }

    def __str__(self):
        return (f'{self.hosts} host(s), {len(self.rules)} rule(s), {self.findings} finding(s): {self.created} new, '
                f'{self.reopened} back, {self.updated} updated, {self.resolved} resolved, {self.unchanged} unchanged, '
                f'{self.quiet} false positive(s) quiet')


# Hosts as rules see them ------------------------------------------------------------------------------------

_HOST_FIELDS = ('pk', 'name', 'status', 'platform__name', 'role__name', 'site__name', 'cluster_id', 'cluster__name',
                'triage_facts__facts', 'triage_facts__last_ok_at', 'triage_facts__hostkey_offered')


def host_views(devices=None, vms=None):
    """HostViews for the devices and VMs of two querysets (None: all), in four queries."""
    from ..probing.hostkeys import fingerprint

    views = []
    for model, queryset, kind in ((Device, devices, 'device'), (VirtualMachine, vms, 'vm')):
        if queryset is None:
            queryset = model.objects.all()
        label = model._meta.label_lower
        content_type = ContentType.objects.get_for_model(model)
        tags = {}
        for object_id, tag in TaggedItem.objects.filter(
            content_type=content_type, object_id__in=queryset.values('pk')
        ).values_list('object_id', 'tag__name'):
            tags.setdefault(object_id, []).append(tag)
        for row in queryset.order_by().values(*_HOST_FIELDS).iterator(chunk_size=2000):
            offered = row['triage_facts__hostkey_offered']
            views.append(HostView(
                key=f'{label}:{row["pk"]}',
                name=row['name'] or f'{label}:{row["pk"]}',
                kind=kind,
                facts=row['triage_facts__facts'] or {},
                platform=row['platform__name'],
                role=row['role__name'],
                site=row['site__name'],
                cluster=row['cluster__name'],
                cluster_key=f'virtualization.cluster:{row["cluster_id"]}' if row['cluster_id'] else None,
                tags=tuple(sorted(tags.get(row['pk'], ()))),
                probed_at=row['triage_facts__last_ok_at'],
                hostkey_changed=_offered_fingerprint(offered, fingerprint) if offered else False,
                is_active=row['status'] == 'active',
            ))
    return views


def _offered_fingerprint(offered, fingerprint):
    import base64

    try:
        return fingerprint(base64.b64decode(offered.split()[-1], validate=True))
    except (ValueError, IndexError):
        return True


# Active HTTP checks of exposed services ---------------------------------------------------------------------

def check_exposures(findings):
    """Replace the passive "reachable, authentication unknown" findings by what anonymous HTTP requests show.

    Only the host's own addresses are tried: its `triage.ssh.host` override (where the plugin reaches that
    host), else the listening address itself, else the host's primary IP; every connection goes through the
    scope guard. A service that asks for credentials drops the finding; one that could not be checked keeps
    the passive finding with the check's outcome.
    """
    from ..connections import Scope, http_get

    candidates = [f for f in findings if f.rule == ExposedServicesRule.name and
                  f.evidence.get('authentication') == 'unknown' and f.evidence.get('service') in _HTTP_SERVICES]
    if not candidates:
        return findings, 0
    addresses = _check_addresses([f.subject for f in candidates])
    scope = Scope(get_setting('allowed_networks'))
    timeout = get_setting('connect_timeout')
    checked = 0
    replaced = {}
    for finding in candidates:
        override, primary, own = addresses.get(finding.subject, (None, None, set()))
        verdicts = []
        tried = set()
        for sock in finding.evidence['sockets']:
            address = override or (sock['address'] if sock['address'] not in WILDCARDS else primary)
            if not address or (not override and sock['address'] not in WILDCARDS and sock['address'] not in own):
                continue  # only the host's own recorded addresses
            if (address, sock['port']) in tried:
                continue
            tried.add((address, sock['port']))
            base = f'http://{address if ":" not in address else f"[{address}]"}:{sock["port"]}'
            checked += 1
            verdicts.append(judge_http_exposure(
                finding.subject, finding.evidence['service'],
                lambda path, base=base: _http_answer(http_get(base + path, scope=scope, timeout=timeout,
                                                              max_bytes=256 * 1024)),
                address=sock['address'], port=sock['port'],
            ))
        exposed = [v.finding for v in verdicts if v.finding is not None]
        if exposed:
            replaced[id(finding)] = [max(exposed, key=lambda f: severity_rank(f.severity))]
        elif any(v.state == 'protected' for v in verdicts):
            replaced[id(finding)] = []  # it asks for credentials (its other ports are not its web interface)
        elif verdicts:
            evidence = dict(finding.evidence, active_check=sorted({v.state for v in verdicts}))
            text = finding.evidence_text + ' Active check: ' + '; '.join(
                f'{c["path"]} -> {c["status"] or c["error"]}' for v in verdicts for c in v.checks) + '.'
            replaced[id(finding)] = [Finding(
                rule=finding.rule, subject=finding.subject, severity=finding.severity, title=finding.title,
                evidence=evidence, evidence_text=text[:4000], recommendation=finding.recommendation,
            )]
    result = []
    for finding in findings:
        result.extend(replaced.get(id(finding), [finding]))
    return result, checked


_HTTP_SERVICES = ('jenkins', 'elasticsearch', 'docker')
WILDCARDS = ('0.0.0.0', '::', '*', '')


def _http_answer(response):
    return HttpAnswer(response.status, response.headers, response.body.decode('utf-8', 'replace'))


def _check_addresses(keys):
    """{host key: (triage.ssh.host override, primary IP, addresses recorded for the host)} for a few hosts."""
    from ..probing.runner import hosts_from_keys
    from ..probing.targets import ssh_context

    result = {}
    for host in hosts_from_keys(keys, with_facts=True):
        primary = host.primary_ip4 or host.primary_ip6
        override = ssh_context(host).get('host')
        facts = getattr(getattr(host, 'triage_facts', None), 'facts', None) or {}
        own = {str(a.get('address')) for i in facts.get('interfaces') or () for a in i.get('addresses') or ()
               if isinstance(a, dict)}
        if primary is not None:
            own.add(str(primary.address.ip))
        result[f'{host._meta.label_lower}:{host.pk}'] = (
            str(override) if override else None, str(primary.address.ip) if primary else None, own)
    return result


# Recording --------------------------------------------------------------------------------------------------

def _content_types():
    return {label: ContentType.objects.get_by_natural_key(*natural) for label, natural in SUBJECT_MODELS.items()}


def _subject(key, content_types):
    """'dcim.device:12' → (content type, 12); anything else (a group label, None) → (None, None)."""
    label, _sep, pk = (key or '').partition(':')
    if label in content_types and pk.isdigit():
        return content_types[label], int(pk)
    return None, None


def _open_incidents_by_object():
    """{(content type id, object id): [incident ids]} for the objects of open incidents."""
    from ..models import IncidentObject

    affected = {}
    for ct_id, object_id, incident_id in IncidentObject.objects.filter(
        incident__status__in=IncidentStatusChoices.OPEN
    ).values_list('object_type_id', 'object_id', 'incident_id'):
        affected.setdefault((ct_id, object_id), []).append(incident_id)
    return affected


def _incidents_for(discovery, affected, clusters, content_types):
    incidents = list(affected.get((discovery.object_type_id, discovery.object_id), ()))
    cluster_key = clusters.get(discovery.subject_key)
    if cluster_key:
        cluster_type, cluster_id = _subject(cluster_key, content_types)
        incidents += affected.get((cluster_type.pk, cluster_id), ())
    return sorted(set(incidents))


def record_findings(findings, per_host_rules=(), host_keys=None, fleet_rules=(), hosts=(), now=None,
                    summary=None):
    """Store ``findings``: the result of ``per_host_rules`` over ``host_keys`` (None: every host) and of
    ``fleet_rules`` over the whole fleet. Discoveries of those rules and subjects that were not found again
    are resolved. Returns the :class:`RulesSummary`."""
    from core.models import ObjectChange

    from ..models import Discovery, TimelineEntry

    now = now or timezone.now()
    summary = summary or RulesSummary()
    summary.findings = len(findings)
    content_types = _content_types()
    clusters = {host.key: host.cluster_key for host in hosts if host.cluster_key}
    request = current_request.get()
    user = getattr(request, 'user', None) if request is not None else None
    user = user if user is not None and getattr(user, 'is_authenticated', False) else None

    scope = Q(pk__in=[])
    if per_host_rules:
        subjects = Q(subject_key='') if host_keys is None else Q(subject_key__in=[*host_keys, ''])
        scope |= Q(rule__in=list(per_host_rules)) & (Q() if host_keys is None else subjects)
    if fleet_rules:
        scope |= Q(rule__in=list(fleet_rules))

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute('SELECT pg_advisory_xact_lock(%s)', [RECORD_LOCK])
        # Known discoveries as plain rows (no model instances, no tags): most are only seen again. Full
        # instances, for snapshots and the changelog, are loaded for the few that change.
        fields = ('pk', 'rule', 'subject_key', 'fingerprint', 'status', *CONTENT_FIELDS)
        existing = {(row[1], row[2], row[3]): dict(zip(fields, row))
                    for row in Discovery.objects.filter(scope).values_list(*fields)}
        affected = _open_incidents_by_object()

        # New discoveries have no tags: one evaluated empty queryset stands for all of them (a fresh .none() each
        # would be compiled to SQL every time the changelog and the events read the tags).
        no_tags = Tag.objects.none()
        list(no_tags)
        created, raised, touched = [], [], []
        reopen, update, resolve = {}, {}, []  # pk -> new values; pks
        seen = set()
        for finding in findings:
            key = (finding.rule, finding.subject or '', finding.fingerprint)
            if key in seen:
                continue
            seen.add(key)
            object_type, object_id = _subject(finding.subject, content_types)
            values = {
                'severity': finding.severity, 'title': finding.title[:300], 'evidence': finding.evidence,
                'evidence_text': finding.evidence_text, 'recommendation': finding.recommendation,
                'object_type_id': object_type.pk if object_type else None, 'object_id': object_id,
            }
            row = existing.pop(key, None)
            if row is None:
                discovery = Discovery(rule=finding.rule, subject_key=finding.subject or '',
                                      fingerprint=finding.fingerprint, status=DiscoveryStatusChoices.OPEN,
                                      first_seen=now, last_seen=now, created=now, last_updated=now, **values)
                incidents = _incidents_for(discovery, affected, clusters, content_types)
                discovery.incident_id = incidents[0] if incidents else None
                discovery._prefetched_objects_cache = {'tags': no_tags}
                created.append(discovery)
                raised.append(discovery)
            elif row['status'] == DiscoveryStatusChoices.FALSE_POSITIVE:
                touched.append(row['pk'])
                summary.quiet += 1
            elif row['status'] == DiscoveryStatusChoices.RESOLVED:
                reopen[row['pk']] = values
            elif any(row[name] != value for name, value in values.items()):
                update[row['pk']] = values
            else:
                touched.append(row['pk'])
                summary.unchanged += 1
        resolve = [row['pk'] for row in existing.values() if row['status'] in DiscoveryStatusChoices.ACTIVE]

        changed, resolved = [], []
        full = Discovery.objects.prefetch_related('tags').in_bulk([*reopen, *update, *resolve])
        for pk, values in reopen.items():
            discovery = full[pk]
            discovery.snapshot()
            _assign(discovery, values)
            discovery.status, discovery.resolved_at = DiscoveryStatusChoices.OPEN, None
            discovery.last_seen = discovery.last_updated = now
            changed.append(discovery)
            raised.append(discovery)
        for pk, values in update.items():
            discovery = full[pk]
            discovery.snapshot()
            _assign(discovery, values)
            discovery.last_seen = discovery.last_updated = now
            changed.append(discovery)
        for pk in resolve:
            discovery = full[pk]
            discovery.snapshot()
            discovery.status, discovery.resolved_at, discovery.last_updated = (
                DiscoveryStatusChoices.RESOLVED, now, now)
            changed.append(discovery)
            resolved.append(discovery)
        summary.reopened, summary.updated = len(reopen), len(update)
        summary.created = len(created)
        summary.resolved = len(resolved)

        if touched:  # one statement whatever the number: the ids travel as one array parameter
            with connection.cursor() as cursor:
                cursor.execute(f'UPDATE {Discovery._meta.db_table} SET last_seen = %s WHERE id = ANY(%s)',
                               [now, touched])
        # No batch_size: Django writes all rows in one statement, or splits them only where the backend
        # limits the parameters of one statement (server-side binding).
        Discovery.objects.bulk_create(created)
        _update_rows(Discovery, changed, [*CONTENT_FIELDS, 'status', 'resolved_at', 'last_seen', 'last_updated'])

        if user is not None:
            changes = [d.to_objectchange('create') for d in created] + [d.to_objectchange('update') for d in changed]
            for change in changes:
                change.user, change.user_name, change.request_id, change.time = user, user.username, request.id, now
            ObjectChange.objects.bulk_create(changes)
        for discovery in raised:
            enqueue_discovery_event(discovery, DISCOVERY_RAISED)
        for discovery in resolved:
            enqueue_discovery_event(discovery, DISCOVERY_RESOLVED)

        entries = []
        discovery_type = ContentType.objects.get_for_model(Discovery)
        for discovery in raised:
            if discovery.severity in TIMELINE_SEVERITIES:
                for incident_id in _incidents_for(discovery, affected, clusters, content_types):
                    entries.append(_entry(incident_id, discovery, discovery_type, now, user,
                                          f'Discovery ({discovery.get_severity_display().lower()}): '
                                          f'{md_code(discovery.title)}.'))
        for discovery in resolved:
            incidents = set(_incidents_for(discovery, affected, clusters, content_types))
            if discovery.incident_id:
                incidents.add(discovery.incident_id)
            for incident_id in sorted(incidents):
                entries.append(_entry(incident_id, discovery, discovery_type, now, user,
                                      f'Discovery resolved (no longer found): {md_code(discovery.title)}.'))
        TimelineEntry.objects.bulk_create(entries)
        summary.timeline_entries = len(entries)
    return summary


def _update_rows(model, objs, names):
    """Save the fields ``names`` of ``objs`` in one ``UPDATE … FROM (VALUES …)`` statement, whatever their number.

    Django's ``bulk_update`` writes a CASE per column: one statement per batch, each quadratic in its size. This
    joins the new values instead; it splits only where the backend limits the parameters of one statement.
    """
    if not objs:
        return
    opts = model._meta
    quote = connection.ops.quote_name
    columns = [opts.pk, *(opts.get_field(name) for name in names)]
    assignments = ', '.join(f'{quote(f.column)} = v.{quote(f.column)}::{f.db_type(connection)}' for f in columns[1:])
    aliases = ', '.join(quote(f.column) for f in columns)
    pk = quote(opts.pk.column)
    limit = connection.features.max_query_params
    per_statement = max(1, limit // len(columns)) if limit else len(objs)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start:start + per_statement]
            rows = ', '.join(['(' + ', '.join(['%s'] * len(columns)) + ')'] * len(chunk))
            cursor.execute(
                f'UPDATE {quote(opts.db_table)} SET {assignments} FROM (VALUES {rows}) AS v({aliases}) '
                f'WHERE {quote(opts.db_table)}.{pk} = v.{pk}::{opts.pk.db_type(connection)}',
                [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in chunk for f in columns],
            )


def _assign(discovery, values):
    for name, value in values.items():
        setattr(discovery, name, value)


def _entry(incident_id, discovery, discovery_type, now, user, text):
    from ..models import TimelineEntry

    return TimelineEntry(incident_id=incident_id, timestamp=now, kind=TimelineKindChoices.FINDING, text=text,
                         object_type=discovery_type, object_id=discovery.pk, author=user, created=now,
                         last_updated=now)


# The entry point --------------------------------------------------------------------------------------------

def run_discovery(devices=None, vms=None, *, fleet=True, only=None, today=None, now=None, active_checks=None,
                  log=None):
    """Run the rules and record their findings; returns a :class:`RulesSummary`.

    ``devices``/``vms`` are querysets of the hosts to judge with the per-host rules (both None: every host).
    ``fleet`` also runs the fleet rules (over every host). ``only`` limits the run to some rule names.
    Changes are change-logged and raise events when called inside NetBox's ``event_tracking`` (a request,
    or ``probing.runner.change_logging(user)``).
    """
    log = log or logger.info
    now = now or timezone.now()
    today = today or date.today()
    disabled = set(get_setting('disabled_rules'))
    selected = [rule for rule in registry.select(only) if rule.name not in disabled]
    per_host_rules = [rule.name for rule in selected if rule.has_per_host()]
    fleet_rules = [rule.name for rule in selected if rule.has_fleet()] if fleet else []
    settings = {name: value for name, value in get_setting('rule_settings').items()
                if name in {rule.name for rule in selected}}

    everyone = devices is None and vms is None
    fleet_hosts = None
    if everyone or fleet_rules:
        fleet_hosts = host_views()
    if everyone:
        hosts = fleet_hosts
        host_keys = None
    else:
        hosts = host_views(devices if devices is not None else Device.objects.none(),
                           vms if vms is not None else VirtualMachine.objects.none())
        host_keys = [host.key for host in hosts]
    summary = RulesSummary(hosts=len(hosts), rules=per_host_rules + fleet_rules)
    findings = []
    if per_host_rules and hosts:
        findings += registry.run(hosts, settings={k: v for k, v in settings.items() if k in per_host_rules},
                                 today=today, only=per_host_rules)
    if fleet_rules:
        findings += registry.run(fleet_hosts, settings={k: v for k, v in settings.items() if k in fleet_rules},
                                 today=today, only=fleet_rules)
    if active_checks is None:
        active_checks = get_setting('active_http_checks')
    if active_checks:
        findings, summary.http_checks = check_exposures(findings)
    log(f'rules: {len(findings)} finding(s) on {len(hosts)} host(s); recording')
    record_findings(findings, per_host_rules=per_host_rules, host_keys=host_keys, fleet_rules=fleet_rules,
                    hosts=fleet_hosts or hosts, now=now, summary=summary)
    log(f'rules: {summary}')
    return summary
