"""The triage board: every figure of the plugin's home page (and its dashboard widgets), in a fixed number of queries.

What the room asks at 5 a.m., answered from the database in one pass: what do the open incidents cost, how much
of the fleet can we see, what did the rules find, is anything watching it, and what moved since the last probe.
The group tiles (by site, role, cluster or tag) come from one grouped SQL statement over every host the user may
view, whatever the size of the fleet; the figures are plain dataclasses, so the view, the widgets and the tests
read the same numbers. Every queryset is restricted to what ``user`` may view.

A host is a device or a virtual machine. Its **state**, worst first (the first that applies wins):

1. ``failed``: its last probe failed (unreachable, timeout, authentication failed, host key mismatch, no address,
   out of scope, parse error, error): we cannot see it, so nothing else about it can be trusted;
2. ``critical``: an open or acknowledged critical discovery is about it;
3. ``high``: the same with a high one;
4. ``stale``: its last probe succeeded, but longer ago than the staleness rule's first threshold (7 days unless
   ``rule_settings['staleness']['stale_after_days']`` says otherwise);
5. ``never``: it was never probed (no facts, or status "never");
6. ``ok``: probed recently, no critical or high finding.

(``unknown`` replaces ``never`` for a user who may not view host facts at all.) A tile takes the worst state of
its hosts. Medium, low and info discoveries are counted but do not colour tiles.

A host's **monitoring coverage** is the best state of its systems (reporting > silent > configured > planned >
none, as in ``collector/summary.py``); a host no system covers is "none". The board shows the fleet coverage
summary of ``collector.summary.coverage_summary()`` (hosts per state, per check type of their *reporting* systems,
reporting hosts with a failing check), computed here inside the same grouped statement, restricted to the user.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import BigIntegerField, Case, CharField, Count, F, IntegerField, Prefetch, Q, Value, When, Window
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dcim.models import Device, DeviceRole, Site
from extras.models import Tag
from virtualization.models import Cluster, VirtualMachine

from .choices import (
    IncidentStatusChoices,
    MonitoringCheckTypeChoices,
    MonitoringStateChoices,
    ProbeStatusChoices,
    SeverityChoices,
)
from .impact import MixedCurrenciesError
from .models import BusinessImpact, Discovery, HostFacts, Incident, MonitoringCoverage, TimelineEntry
from .settings import get_setting

__all__ = (
    'BOARD_GROUPINGS',
    'DEFAULT_GROUP_BY',
    'HOST_STATES',
    'Board',
    'ChangedHost',
    'FleetFigures',
    'IncidentFigures',
    'Tile',
    'board_figures',
    'changed_hosts',
    'fleet_figures',
    'open_incident_figures',
    'recent_timeline',
    'stale_after',
)

# How many rows the lists of the board show.
INCIDENTS_SHOWN = 50
TIMELINE_SHOWN = 15
CHANGED_SHOWN = 15
# "Changed since the last probe" looks at probes of the last day.
CHANGED_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class HostState:
    value: str
    label: str
    color: str  # a NetBox/Tabler colour: `text-bg-<color>`
    icon: str  # an mdi icon, so a tile never speaks by colour alone


# Worst first: a tile is coloured by the first of these its hosts are in.
HOST_STATES = (
    HostState('failed', _('Probe failed'), 'red', 'mdi-lan-disconnect'),
    HostState('critical', _('Critical discovery'), 'pink', 'mdi-alert-octagon'),
    HostState('high', _('High discovery'), 'orange', 'mdi-alert'),
    HostState('stale', _('Stale facts'), 'yellow', 'mdi-clock-alert-outline'),
    HostState('never', _('Never probed'), 'gray', 'mdi-help-circle-outline'),
    HostState('unknown', _('Facts not visible'), 'gray', 'mdi-eye-off-outline'),
    HostState('ok', _('OK'), 'green', 'mdi-check-circle'),
)
_STATES = {state.value: state for state in HOST_STATES}
_STATE_ORDER = {state.value: rank for rank, state in enumerate(HOST_STATES)}

# Probe outcomes that count as "failed" (everything but ok and never).
FAILED_STATUSES = tuple(v for v in ProbeStatusChoices.values() if v not in (ProbeStatusChoices.OK,
                                                                            ProbeStatusChoices.NEVER))
# Severities, highest first; their rank in SQL is their index here.
SEVERITIES = tuple(reversed(SeverityChoices.values()))
# Coverage states, worst (no coverage) first; their rank in SQL is their index here, a host takes the highest.
COVERAGE_STATES = (
    MonitoringStateChoices.NONE,
    MonitoringStateChoices.PLANNED,
    MonitoringStateChoices.CONFIGURED,
    MonitoringStateChoices.SILENT,
    MonitoringStateChoices.REPORTING,
)
# Check types, as coverage_summary() counts them: hosts whose reporting coverage covers the type.
CHECK_TYPES = tuple(MonitoringCheckTypeChoices.values())


_SEVERITY_LABELS = {choice[0]: choice[1] for choice in SeverityChoices}
_COVERAGE_LABELS = {choice[0]: choice[1] for choice in MonitoringStateChoices}
_CHECK_TYPE_LABELS = {choice[0]: choice[1] for choice in MonitoringCheckTypeChoices}


@dataclass(frozen=True)
class Grouping:
    key: str
    label: str
    model: type
    device_field: str  # the values() path on Device (and VirtualMachine) giving the group's pk
    list_filter: str  # the device/VM list filter for one group
    none_label: str
    discovery_filter: str | None = None  # the discovery list filter for one group, where DiscoveryFilterSet has one
    multi_valued: bool = False  # a host may be in several groups (tags): the tiles do not add up to the fleet


BOARD_GROUPINGS = {
    'site': Grouping('site', _('Site'), Site, 'site', 'site_id', _('No site')),
    'role': Grouping('role', _('Role'), DeviceRole, 'role', 'role_id', _('No role')),
    'cluster': Grouping('cluster', _('Cluster'), Cluster, 'cluster', 'cluster_id', _('No cluster'),
                        discovery_filter='cluster_id'),
    'tag': Grouping('tag', _('Tag'), Tag, 'tags', 'tag', _('No tag'), multi_valued=True),
}
DEFAULT_GROUP_BY = 'site'


@dataclass
class HostCounts:
    """What a set of hosts looks like: used for the fleet and for each tile."""

    hosts: int = 0
    devices: int = 0
    virtual_machines: int = 0
    # {state: hosts}, every state of HOST_STATES present; each host counts once, in its worst state.
    by_state: dict = field(default_factory=lambda: {state.value: 0 for state in HOST_STATES})
    # Probe figures (each host in exactly one of never/failed/stale/fresh; probed = failed + stale + fresh).
    never_probed: int = 0
    failed: int = 0
    stale: int = 0
    fresh: int = 0
    # {severity: open or acknowledged discoveries about these hosts}, highest first.
    discoveries: dict = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    # {coverage state: hosts in that state}, or None when the user may not view coverage.
    coverage: dict | None = None
    # {check type: hosts whose reporting coverage covers it}, and reporting hosts with a failing check (None, 0 when
    # the user may not view coverage): coverage_summary()'s by_check_type and failing_checks.
    check_types: dict | None = None
    failing_checks: int = 0

    @property
    def probed(self):
        return self.failed + self.stale + self.fresh

    @property
    def unreachable(self):
        """Hosts whose last probe failed (the board's "unreachable" figure)."""
        return self.failed

    @property
    def worst_state(self):
        for state in HOST_STATES:
            if self.by_state[state.value]:
                return state
        return _STATES['ok']

    @property
    def monitored(self):
        """Hosts with a configured, reporting or silent system (MonitoringStateChoices.MONITORED)."""
        if self.coverage is None:
            return None
        return sum(self.coverage[state] for state in MonitoringStateChoices.MONITORED)

    @property
    def states(self):
        """[(HostState, hosts)] for the states that have hosts, worst first."""
        return [(state, self.by_state[state.value]) for state in HOST_STATES if self.by_state[state.value]]

    @property
    def discovery_badges(self):
        """[(label, colour, count)] of the severities with discoveries, highest first."""
        return [(_SEVERITY_LABELS[severity], SeverityChoices.colors.get(severity), count)
                for severity, count in self.discoveries.items() if count]

    @property
    def coverage_rows(self):
        """[(label, colour, hosts)] for every coverage state, best (reporting) first; [] without coverage."""
        if self.coverage is None:
            return []
        return [(_COVERAGE_LABELS[state], MonitoringStateChoices.colors.get(state), self.coverage[state])
                for state in reversed(COVERAGE_STATES)]

    @property
    def check_type_rows(self):
        """[(check type, label, colour, hosts)] for every check type, in the choices' order; [] without coverage."""
        if self.check_types is None:
            return []
        return [(kind, _CHECK_TYPE_LABELS[kind], MonitoringCheckTypeChoices.colors.get(kind), self.check_types[kind])
                for kind in CHECK_TYPES]

    def coverage_summary(self):
        """The figures in the shape of collector.summary.coverage_summary() (None without coverage)."""
        if self.coverage is None:
            return None
        return {'hosts': self.hosts, 'by_state': {state: self.coverage[state] for state in
                                                  MonitoringStateChoices.values()},
                'by_check_type': dict(self.check_types), 'failing_checks': self.failing_checks}

    def add(self, kind, probe, worst_severity, coverage_rank, hosts, severity_counts, type_counts=(), failing=0):
        self.hosts += hosts
        if kind == 'd':
            self.devices += hosts
        else:
            self.virtual_machines += hosts
        if probe == 'never':
            self.never_probed += hosts
        elif probe == 'failed':
            self.failed += hosts
        elif probe == 'stale':
            self.stale += hosts
        elif probe == 'ok':
            self.fresh += hosts
        self.by_state[_host_state(probe, worst_severity)] += hosts
        for severity, count in zip(SEVERITIES, severity_counts, strict=True):
            self.discoveries[severity] += count or 0
        if self.coverage is not None:
            self.coverage[COVERAGE_STATES[coverage_rank or 0]] += hosts
            for check_type, count in zip(CHECK_TYPES, type_counts, strict=True):
                self.check_types[check_type] += count or 0
            self.failing_checks += failing or 0


def _host_state(probe, worst_severity):
    if probe == 'failed':
        return 'failed'
    if worst_severity == 0:
        return 'critical'
    if worst_severity == 1:
        return 'high'
    if probe in ('stale', 'never', 'unknown'):
        return probe
    return 'ok'


@dataclass
class Tile(HostCounts):
    """One group of hosts on the board: its figures, its worst state and the lists it links to."""

    key: int | None = None  # the group object's pk (None: hosts without one)
    name: str = ''
    url: str | None = None  # the group object's own page, when the user may view it
    device_list_url: str | None = None
    vm_list_url: str | None = None
    discovery_list_url: str | None = None

    @property
    def state(self):
        return self.worst_state


@dataclass
class FleetFigures(HostCounts):
    """The whole fleet the user may view, plus the lists its figures link to."""

    stale_after: timedelta = timedelta(days=7)
    # Every active discovery the user may view, hosts or not (clusters, services, fleet-wide), by severity.
    all_discoveries: dict = field(default_factory=dict)
    can_view_facts: bool = True
    can_view_discoveries: bool = True
    links: dict = field(default_factory=dict)

    @property
    def discovery_rows(self):
        """[(label, colour, count, discovery list URL)] of every severity, highest first; [] if not viewable."""
        if self.all_discoveries is None:
            return []
        return [(_SEVERITY_LABELS[severity], SeverityChoices.colors.get(severity), count,
                 self.links['severity'][severity]) for severity, count in self.all_discoveries.items()]

    @property
    def check_type_figures(self):
        """[(check type, label, colour, hosts, list URL of the reporting coverage)]; [] without coverage."""
        return [(kind, label, color, hosts, self.links.get('check_type', {}).get(kind))
                for kind, label, color, hosts in self.check_type_rows]


@dataclass
class IncidentFigures:
    incident: Incident
    elapsed: timedelta  # since the incident started
    currency: str | None = None
    current_rate: object = None  # Decimal per day
    total_lost: object = None
    saved: object = None
    first_rate: object = None
    error: str | None = None  # loss rates in mixed currencies: no figures rather than a wrong sum


@dataclass
class ChangedHost:
    facts: HostFacts
    host: object  # the Device or VirtualMachine
    changelog_url: str


@dataclass
class Board:
    now: object
    group_by: str
    groupings: list  # [(key, label)]
    fleet: FleetFigures
    tiles: list
    incidents: list
    incidents_total: int
    timeline: list
    changed: list
    changed_total: int
    changed_since: object
    can_view: dict  # {'incidents', 'timeline', 'facts', 'discoveries', 'coverage'}: bool
    host_states: tuple = HOST_STATES  # for the legend


#
# Permissions and querysets
#

def _can_view(user, model):
    return user.has_perm(f'{model._meta.app_label}.view_{model._meta.model_name}')


def _hosts(user):
    return {'d': Device.objects.restrict(user, 'view'), 'v': VirtualMachine.objects.restrict(user, 'view')}


def stale_after():
    """The staleness rule's first threshold: facts older than this are stale."""
    from .rules import registry

    thresholds = registry['staleness'].settings(get_setting('rule_settings').get('staleness'))['stale_after_days']
    days = min((days for days, _severity in thresholds), default=7)
    return timedelta(days=days)


#
# The grouped host query
#

def _sql(queryset):
    """(sql, params) of a queryset, or None when it can match nothing (restrict() gave .none())."""
    if queryset.query.is_empty():
        return None
    return queryset.query.sql_with_params()


def _union(parts, columns):
    """UNION ALL of `(kind, compiled)` parts as rows of `columns` ({name: SQL type}, the kind first).

    `kind` is 'd' or 'v' (a constant of this module, never data); a part that can match nothing is left out, and
    with none left the union is an empty relation of the same shape.
    """
    names = list(columns)
    sqls, params = [], []
    for kind, compiled in parts:
        if compiled is None:
            continue
        assert kind in ('d', 'v')
        sqls.append(f"SELECT '{kind}'::text AS kind, q.* FROM ({compiled[0]}) AS q({', '.join(names[1:])})")
        params += compiled[1]
    if not sqls:
        nulls = ', '.join(f'NULL::{sql_type} AS {name}' for name, sql_type in columns.items())
        return f'SELECT {nulls} WHERE false', []
    return ' UNION ALL '.join(sqls), params


def _probe_class(cutoff):
    return Case(
        When(Q(status=ProbeStatusChoices.NEVER) | Q(probed_at__isnull=True), then=Value('never')),
        When(status=ProbeStatusChoices.OK, probed_at__lt=cutoff, then=Value('stale')),
        When(status=ProbeStatusChoices.OK, then=Value('ok')),
        default=Value('failed'),
        output_field=CharField(),
    )


def _rank(field_name, values):
    return Case(*(When(**{field_name: value}, then=Value(rank)) for rank, value in enumerate(values)),
                default=Value(None), output_field=IntegerField())


def _grouped_host_rows(user, grouping, now, cutoff):
    """One statement: (kind, group pk, probe class, worst severity rank, coverage rank, hosts, count per severity).

    Each host row (restricted, per kind) is left-joined to its facts, to the per-host aggregate of its active
    discoveries and to the best of its coverage rows, then grouped. The inner querysets are Django's own (with the
    user's object permissions), compiled to SQL and joined here because a generic foreign key (a discovery's
    object) cannot be joined by the ORM.
    """
    hosts = _hosts(user)
    fk = {'d': 'device', 'v': 'virtual_machine'}
    types = {'d': ContentType.objects.get_for_model(Device), 'v': ContentType.objects.get_for_model(VirtualMachine)}

    if grouping is None:
        group = Value(None, output_field=BigIntegerField())
    else:
        group = F(grouping.device_field)
    host_parts = [(kind, _sql(qs.order_by().annotate(grp=group).values_list('pk', 'grp')))
                  for kind, qs in hosts.items()]

    visible_facts = _can_view(user, HostFacts)
    facts = HostFacts.objects.restrict(user, 'view') if visible_facts else HostFacts.objects.none()
    facts_parts = [(kind, _sql(facts.filter(**{f'{fk[kind]}__isnull': False}).order_by()
                               .annotate(cls=_probe_class(cutoff)).values_list(f'{fk[kind]}_id', 'cls')))
                   for kind in hosts]

    discoveries = (Discovery.objects.restrict(user, 'view').active() if _can_view(user, Discovery)
                   else Discovery.objects.none())
    disc_parts = [(kind, _sql(discoveries.filter(object_type=types[kind]).order_by()
                              .annotate(rank=_rank('severity', SEVERITIES)).values_list('object_id', 'rank')))
                  for kind in hosts]

    coverage = (MonitoringCoverage.objects.restrict(user, 'view') if _can_view(user, MonitoringCoverage)
                else MonitoringCoverage.objects.none())
    cov_parts = [(kind, _sql(coverage.filter(**{f'{fk[kind]}__isnull': False}).order_by()
                             .annotate(rank=_rank('state', COVERAGE_STATES))
                             .values_list(f'{fk[kind]}_id', 'rank', 'check_types', 'failing_checks')))
                 for kind in hosts]

    host_sql, host_params = _union(host_parts, {'kind': 'text', 'id': 'bigint', 'grp': 'bigint'})
    facts_sql, facts_params = _union(facts_parts, {'kind': 'text', 'id': 'bigint', 'cls': 'text'})
    disc_sql, disc_params = _union(disc_parts, {'kind': 'text', 'id': 'bigint', 'rank': 'integer'})
    cov_sql, cov_params = _union(cov_parts, {'kind': 'text', 'id': 'bigint', 'rank': 'integer',
                                             'types': 'varchar[]', 'failing': 'integer'})
    per_severity = ', '.join(f'COUNT(*) FILTER (WHERE rank = {rank}) AS s{rank}' for rank in range(len(SEVERITIES)))
    sums = ', '.join(f'SUM(d.s{rank})' for rank in range(len(SEVERITIES)))
    # coverage_summary()'s per-host figures: the check types of its reporting rows, and whether one of them fails.
    reporting = COVERAGE_STATES.index(MonitoringStateChoices.REPORTING)
    per_type = ', '.join(f'bool_or(rank = {reporting} AND %s = ANY(types)) AS t{i}' for i in range(len(CHECK_TYPES)))
    type_counts = ', '.join(f'COUNT(*) FILTER (WHERE c.t{i})' for i in range(len(CHECK_TYPES)))
    never = 'never' if visible_facts else 'unknown'
    sql = f"""
        SELECT h.kind, h.grp, COALESCE(f.cls, %s) AS cls, d.worst, c.best, COUNT(*), {sums}, {type_counts},
               COUNT(*) FILTER (WHERE c.failing)
        FROM ({host_sql}) AS h
        LEFT JOIN ({facts_sql}) AS f ON f.kind = h.kind AND f.id = h.id
        LEFT JOIN (
            SELECT kind, id, MIN(rank) AS worst, {per_severity} FROM ({disc_sql}) AS dd GROUP BY kind, id
        ) AS d ON d.kind = h.kind AND d.id = h.id
        LEFT JOIN (
            SELECT kind, id, MAX(rank) AS best, {per_type},
                   bool_or(rank = {reporting} AND failing > 0) AS failing
            FROM ({cov_sql}) AS cc GROUP BY kind, id
        ) AS c ON c.kind = h.kind AND c.id = h.id
        GROUP BY 1, 2, 3, 4, 5
    """
    params = [never, *host_params, *facts_params, *disc_params, *CHECK_TYPES, *cov_params]
    with connections[Device.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _fill(counts, rows):
    for kind, _group, probe, worst, best, hosts, *figures in rows:
        severity_counts, figures = figures[:len(SEVERITIES)], figures[len(SEVERITIES):]
        counts.add(kind, probe, worst, best, hosts, severity_counts, figures[:len(CHECK_TYPES)], figures[-1])
    return counts


#
# The figures
#

def _optional_url(viewname):
    """A URL that may not be wired yet (a list still being built): None rather than a broken page."""
    try:
        return reverse(viewname)
    except NoReverseMatch:
        return None


def _list_url(viewname, params):
    return f'{reverse(viewname)}?{urlencode(params, doseq=True)}'


def fleet_figures(user, *, now=None, rows=None):
    """Hosts known/probed/stale/unreachable, discoveries by severity and coverage by state, for the whole fleet.

    ``rows``: the grouped host rows of a single-valued grouping, which add up to the fleet (saves a query).
    """
    now = now or timezone.now()
    after = stale_after()
    if rows is None:
        rows = _grouped_host_rows(user, None, now, now - after)
    can_view_coverage = _can_view(user, MonitoringCoverage)
    fleet = FleetFigures(
        stale_after=after, can_view_facts=_can_view(user, HostFacts), can_view_discoveries=_can_view(user, Discovery),
        coverage=dict.fromkeys(COVERAGE_STATES, 0) if can_view_coverage else None,
        check_types=dict.fromkeys(CHECK_TYPES, 0) if can_view_coverage else None,
    )
    _fill(fleet, rows)
    if fleet.can_view_discoveries:
        counts = dict(Discovery.objects.restrict(user, 'view').active().order_by()
                      .values_list('severity').annotate(n=Count('pk')))
        fleet.all_discoveries = {severity: counts.get(severity, 0) for severity in SEVERITIES}
    else:
        fleet.all_discoveries = None
    facts_list = 'plugins:netbox_triage:hostfacts_list'
    discovery_list = 'plugins:netbox_triage:discovery_list'
    fleet.links = {
        'devices': reverse('dcim:device_list'),
        'virtual_machines': reverse('virtualization:virtualmachine_list'),
        'facts': reverse(facts_list),
        'failed': _list_url(facts_list, {'status': FAILED_STATUSES}),
        'stale': _list_url(facts_list, {'status': ProbeStatusChoices.OK,
                                        'probed_before': (now - after).isoformat(timespec='seconds')}),
        'never': _list_url(facts_list, {'status': ProbeStatusChoices.NEVER}),
        'discoveries': _list_url(discovery_list, {'is_active': 'true'}),
        'severity': {severity: _list_url(discovery_list, {'is_active': 'true', 'severity': severity})
                     for severity in SEVERITIES},
        'coverage': _optional_url('plugins:netbox_triage:monitoringcoverage_list') if can_view_coverage else None,
        # The reporting coverage rows behind each check-type figure.
        'check_type': {check_type: _list_url('plugins:netbox_triage:monitoringcoverage_list', {
            'state': MonitoringStateChoices.REPORTING, 'check_type': check_type}) for check_type in CHECK_TYPES}
        if can_view_coverage else {},
        'unmonitored_devices': _optional_url('plugins:netbox_triage:unmonitored_devices'),
        'unmonitored_vms': _optional_url('plugins:netbox_triage:unmonitored_virtualmachines'),
    }
    return fleet


def group_tiles(user, group_by=DEFAULT_GROUP_BY, *, now=None, rows=None):
    """One tile per group of hosts (hosts without a group share one), worst state first, then by name."""
    now = now or timezone.now()
    grouping = BOARD_GROUPINGS[group_by]
    if rows is None:
        rows = _grouped_host_rows(user, grouping, now, now - stale_after())
    can_view_coverage = _can_view(user, MonitoringCoverage)
    tiles = {}
    for row in rows:
        key = row[1]
        if key not in tiles:
            tiles[key] = Tile(key=key, coverage=dict.fromkeys(COVERAGE_STATES, 0) if can_view_coverage else None,
                              check_types=dict.fromkeys(CHECK_TYPES, 0) if can_view_coverage else None)
        _fill(tiles[key], [row])

    fields = ('pk', 'name', 'slug') if grouping.model is Tag else ('pk', 'name')
    named = {row[0]: row for row in grouping.model.objects.restrict(user, 'view')
             .filter(pk__in=[key for key in tiles if key is not None]).values_list(*fields)}
    model_name = grouping.model._meta.model_name
    app_label = grouping.model._meta.app_label
    for key, tile in tiles.items():
        if key is None:
            tile.name = str(grouping.none_label)
            value = 'null'
        elif key in named:
            tile.name = named[key][1]
            tile.url = reverse(f'{app_label}:{model_name}', args=[key])
            value = named[key][2] if grouping.model is Tag else key
        else:
            # A group the user may not view: its hosts are counted, its name and page are not shown.
            tile.name = f'{grouping.model._meta.verbose_name} #{key}'
            value = None if grouping.model is Tag else key
        if value is not None:
            if tile.devices:
                tile.device_list_url = _list_url('dcim:device_list', {grouping.list_filter: value})
            if tile.virtual_machines:
                tile.vm_list_url = _list_url('virtualization:virtualmachine_list', {grouping.list_filter: value})
            if grouping.discovery_filter and key is not None and any(tile.discoveries.values()):
                tile.discovery_list_url = _list_url('plugins:netbox_triage:discovery_list',
                                                    {grouping.discovery_filter: key, 'is_active': 'true'})
    return sorted(tiles.values(), key=lambda tile: (_STATE_ORDER[tile.state.value], tile.key is None,
                                                    tile.name.lower(), tile.key or 0))


def open_incident_figures(user, *, now=None, limit=INCIDENTS_SHOWN):
    """([IncidentFigures] of the open incidents, most severe first then newest, total open): two queries."""
    now = now or timezone.now()
    if not _can_view(user, Incident):
        return [], 0
    incidents = list(
        Incident.objects.restrict(user, 'view').filter(status__in=IncidentStatusChoices.OPEN)
        .prefetch_related(Prefetch('impacts', queryset=BusinessImpact.objects.order_by('effective_from', 'pk')))
        .order_by(_rank('severity', SEVERITIES).asc(nulls_last=True), '-started_at', '-pk')
    )
    figures = []
    for incident in incidents[:limit]:
        item = IncidentFigures(incident=incident, elapsed=max(now - incident.started_at, timedelta(0)))
        try:
            summary = incident.loss_summary(now=now)
        except MixedCurrenciesError as exc:
            item.error = str(exc)
        else:
            item.currency = summary.currency
            item.current_rate = summary.current_rate
            item.total_lost = summary.total_lost
            item.saved = summary.saved
            item.first_rate = summary.first_rate
        figures.append(item)
    return figures, len(incidents)


def recent_timeline(user, *, limit=TIMELINE_SHOWN):
    """The latest timeline entries of the incidents the user may view, newest first: one query."""
    if not (_can_view(user, TimelineEntry) and _can_view(user, Incident)):
        return []
    return list(
        TimelineEntry.objects.restrict(user, 'view')
        .filter(incident__in=Incident.objects.restrict(user, 'view').values('pk'))
        .select_related('incident', 'author')
        .order_by('-timestamp', '-pk')[:limit]
    )


def changed_hosts(user, *, now=None, since=None, limit=CHANGED_SHOWN):
    """Hosts whose facts changed at their last probe, that probe being since ``since`` (default: the last day).

    The probe (``probing/apply.py``) saves HostFacts, with a changelog entry, only when something it tracks
    changed (status, error, facts, OS, kernel, host keys…), and moves ``probed_at`` with a plain UPDATE every time
    (which leaves ``last_updated`` alone). Its save happens after the ``now`` it stamps ``probed_at`` with, so
    "changed at the last probe" is ``last_updated >= probed_at``; a first probe counts (the facts are new). A
    later edit by a person (e.g. accepting a host key) also counts, as a change after the last probe.
    Returns ([ChangedHost] newest probe first, how many in all): one query.
    """
    now = now or timezone.now()
    since = since or now - CHANGED_WINDOW
    if not _can_view(user, HostFacts):
        return [], 0
    hosts = _hosts(user)
    changed = (
        HostFacts.objects.restrict(user, 'view')
        .filter(probed_at__gte=since, last_updated__gte=F('probed_at'))
        .filter(Q(device__in=hosts['d'].values('pk')) | Q(virtual_machine__in=hosts['v'].values('pk')))
    )
    rows = list(
        changed.select_related('device', 'virtual_machine')
        .only('pk', 'status', 'probed_at', 'last_updated', 'os_pretty_name', 'kernel', 'device__name',
              'virtual_machine__name')
        .annotate(total=Window(Count('pk')))  # how many in all, in the same query
        .order_by('-probed_at', '-pk')[:limit]
    )
    total = rows[0].total if rows else 0
    return [
        ChangedHost(facts=facts, host=facts.device or facts.virtual_machine,
                    changelog_url=reverse('plugins:netbox_triage:hostfacts_changelog', args=[facts.pk]))
        for facts in rows
    ], total


def board_figures(user, group_by=DEFAULT_GROUP_BY, *, now=None):
    """Every figure of the triage board for ``user``, hosts grouped by ``group_by`` (site, role, cluster or tag;
    anything else falls back to site). A fixed number of queries, whatever the number of hosts, discoveries,
    incidents or timeline entries."""
    now = now or timezone.now()
    if group_by not in BOARD_GROUPINGS:
        group_by = DEFAULT_GROUP_BY
    incidents, incidents_total = open_incident_figures(user, now=now)
    changed, changed_total = changed_hosts(user, now=now)
    can_view_facts = _can_view(user, HostFacts)
    grouping = BOARD_GROUPINGS[group_by]
    rows = _grouped_host_rows(user, grouping, now, now - stale_after())
    return Board(
        now=now,
        group_by=group_by,
        groupings=[(key, grouping.label) for key, grouping in BOARD_GROUPINGS.items()],
        fleet=fleet_figures(user, now=now, rows=None if grouping.multi_valued else rows),
        tiles=group_tiles(user, group_by, now=now, rows=rows),
        incidents=incidents,
        incidents_total=incidents_total,
        timeline=recent_timeline(user),
        changed=changed,
        changed_total=changed_total,
        changed_since=now - CHANGED_WINDOW,
        can_view={
            'incidents': _can_view(user, Incident),
            'timeline': _can_view(user, TimelineEntry) and _can_view(user, Incident),
            'facts': can_view_facts,
            'discoveries': _can_view(user, Discovery),
            'coverage': _can_view(user, MonitoringCoverage),
        },
        host_states=tuple(state for state in HOST_STATES if state.value != ('never' if not can_view_facts
                                                                            else 'unknown')),
    )
