import django_tables2 as tables
from django.utils.translation import gettext_lazy as _
from django_tables2.utils import Accessor

from netbox.tables import NetBoxTable, PrimaryModelTable, columns
from tenancy.tables import TenancyColumnsMixin

from .models import *

__all__ = (
    'BusinessImpactTable',
    'MonitAgentTable',
    'MonitoringCoverageTable',
    'DependencyTable',
    'DiscoveryTable',
    'HostFactsTable',
    'IncidentObjectTable',
    'IncidentTable',
    'TimelineEntryTable',
)


class MoneyColumn(tables.Column):
    """A Decimal amount with thousands separators, e.g. 1,000,000.00."""

    def render(self, value):
        return f'{value:,.2f}'


class IncidentTable(TenancyColumnsMixin, PrimaryModelTable):
    title = tables.Column(verbose_name=_('Title'), linkify=True)
    status = columns.ChoiceFieldColumn(verbose_name=_('Status'))
    severity = columns.ChoiceFieldColumn(verbose_name=_('Severity'))
    started_at = columns.DateTimeColumn(verbose_name=_('Started'))
    detected_at = columns.DateTimeColumn(verbose_name=_('Detected'))
    resolved_at = columns.DateTimeColumn(verbose_name=_('Resolved'))
    currency = tables.Column(verbose_name=_('Currency'), orderable=False)
    current_loss_rate = MoneyColumn(verbose_name=_('Loss per day now'), orderable=False)
    total_lost = MoneyColumn(verbose_name=_('Lost so far'), orderable=False)
    saved_by_mitigations = MoneyColumn(verbose_name=_('Saved by mitigations'), orderable=False)
    affected_count = columns.LinkedCountColumn(
        accessor=Accessor('affected_count'),
        viewname='plugins:netbox_triage:incidentobject_list',
        url_params={'incident_id': 'pk'},
        verbose_name=_('Affected objects'),
    )
    tags = columns.TagColumn(url_name='plugins:netbox_triage:incident_list')

    class Meta(PrimaryModelTable.Meta):
        model = Incident
        fields = (
            'pk', 'id', 'title', 'status', 'severity', 'started_at', 'detected_at', 'resolved_at', 'currency',
            'current_loss_rate', 'total_lost', 'saved_by_mitigations', 'affected_count', 'tenant', 'tenant_group',
            'description', 'comments', 'tags', 'created', 'last_updated',
        )
        default_columns = (
            'pk', 'title', 'status', 'severity', 'started_at', 'currency', 'current_loss_rate', 'total_lost',
            'affected_count',
        )


class IncidentObjectTable(NetBoxTable):
    incident = tables.Column(verbose_name=_('Incident'), linkify=True)
    object_type = columns.ContentTypeColumn(verbose_name=_('Type'))
    object = tables.Column(verbose_name=_('Object'), linkify=True, orderable=False)
    tags = columns.TagColumn(url_name='plugins:netbox_triage:incidentobject_list')
    actions = columns.ActionsColumn(actions=('edit', 'delete'))

    class Meta(NetBoxTable.Meta):
        model = IncidentObject
        fields = ('pk', 'id', 'incident', 'object_type', 'object', 'note', 'tags', 'created', 'last_updated')
        default_columns = ('pk', 'id', 'incident', 'object_type', 'object', 'note')


class BusinessImpactTable(PrimaryModelTable):
    incident = tables.Column(verbose_name=_('Incident'), linkify=True)
    effective_from = columns.DateTimeColumn(verbose_name=_('Effective from'), linkify=True)
    loss_per_day = MoneyColumn(verbose_name=_('Loss per day'))
    basis = columns.ChoiceFieldColumn(verbose_name=_('Basis'))
    tags = columns.TagColumn(url_name='plugins:netbox_triage:businessimpact_list')

    class Meta(PrimaryModelTable.Meta):
        model = BusinessImpact
        fields = (
            'pk', 'id', 'incident', 'effective_from', 'loss_per_day', 'currency', 'basis', 'note', 'description',
            'comments', 'tags', 'created', 'last_updated',
        )
        default_columns = ('pk', 'incident', 'effective_from', 'loss_per_day', 'currency', 'basis', 'note')


class TimelineEntryTable(PrimaryModelTable):
    incident = tables.Column(verbose_name=_('Incident'), linkify=True)
    timestamp = columns.DateTimeColumn(verbose_name=_('Time'), linkify=True)
    kind = columns.ChoiceFieldColumn(verbose_name=_('Kind'))
    text = columns.MarkdownColumn(verbose_name=_('Text'))
    object = tables.Column(verbose_name=_('Linked object'), linkify=True, orderable=False)
    author = tables.Column(verbose_name=_('Author'))
    tags = columns.TagColumn(url_name='plugins:netbox_triage:timelineentry_list')

    class Meta(PrimaryModelTable.Meta):
        model = TimelineEntry
        fields = (
            'pk', 'id', 'incident', 'timestamp', 'kind', 'text', 'object', 'author', 'description', 'comments',
            'tags', 'created', 'last_updated',
        )
        default_columns = ('pk', 'timestamp', 'incident', 'kind', 'text', 'object', 'author')


class DiscoveryTable(PrimaryModelTable):
    title = tables.Column(verbose_name=_('Title'), linkify=True)
    severity = columns.ChoiceFieldColumn(verbose_name=_('Severity'))
    status = columns.ChoiceFieldColumn(verbose_name=_('Status'))
    object_type = columns.ContentTypeColumn(verbose_name=_('Type'))
    object = tables.Column(verbose_name=_('Object'), linkify=True, orderable=False)
    incident = tables.Column(verbose_name=_('Incident'), linkify=True)
    first_seen = columns.DateTimeColumn(verbose_name=_('First seen'))
    last_seen = columns.DateTimeColumn(verbose_name=_('Last seen'))
    resolved_at = columns.DateTimeColumn(verbose_name=_('Resolved'))
    tags = columns.TagColumn(url_name='plugins:netbox_triage:discovery_list')

    class Meta(PrimaryModelTable.Meta):
        model = Discovery
        fields = (
            'pk', 'id', 'title', 'severity', 'status', 'rule', 'object_type', 'object', 'evidence_text',
            'recommendation', 'incident', 'first_seen', 'last_seen', 'resolved_at', 'fingerprint', 'description',
            'comments', 'tags', 'created', 'last_updated',
        )
        default_columns = ('pk', 'severity', 'title', 'object', 'rule', 'status', 'first_seen', 'last_seen')


class DependencyTable(PrimaryModelTable):
    source = tables.Column(verbose_name=_('Source'), linkify=True, orderable=False)
    kind = columns.ChoiceFieldColumn(verbose_name=_('Kind'))
    target = tables.Column(verbose_name=_('Target'), linkify=True, orderable=False)
    origin = columns.ChoiceFieldColumn(verbose_name=_('Origin'))
    status = columns.ChoiceFieldColumn(verbose_name=_('Status'))
    last_seen = columns.DateTimeColumn(verbose_name=_('Last seen'))
    tags = columns.TagColumn(url_name='plugins:netbox_triage:dependency_list')
    actions = columns.ActionsColumn(actions=('edit', 'delete'))

    class Meta(PrimaryModelTable.Meta):
        model = Dependency
        fields = (
            'pk', 'id', 'source', 'kind', 'target', 'port', 'label', 'origin', 'status', 'last_seen', 'description',
            'comments', 'tags', 'created', 'last_updated',
        )
        default_columns = ('pk', 'id', 'source', 'kind', 'target', 'port', 'label', 'origin', 'status')


class MonitoringCoverageTable(PrimaryModelTable):
    host = tables.Column(verbose_name=_('Host'), linkify=True, orderable=False, accessor=Accessor('host'))
    system = columns.ChoiceFieldColumn(verbose_name=_('System'), linkify=True)
    state = columns.ChoiceFieldColumn(verbose_name=_('State'))
    check_types = columns.ArrayColumn(verbose_name=_('Check types'))
    last_report = columns.DateTimeColumn(verbose_name=_('Last report'))
    silent_since = columns.DateTimeColumn(verbose_name=_('Silent since'))
    ui_url = tables.URLColumn(verbose_name=_('UI link'))
    tags = columns.TagColumn(url_name='plugins:netbox_triage:monitoringcoverage_list')

    class Meta(PrimaryModelTable.Meta):
        model = MonitoringCoverage
        fields = (
            'pk', 'id', 'host', 'system', 'state', 'check_types', 'failing_checks', 'last_report', 'silent_since',
            'poll_interval', 'agent_version', 'reported_hostname', 'ui_url', 'description', 'comments', 'tags',
            'created', 'last_updated',
        )
        default_columns = ('pk', 'host', 'system', 'state', 'check_types', 'failing_checks', 'last_report')


class MonitAgentTable(NetBoxTable):
    hostname = tables.Column(verbose_name=_('Reported hostname'), linkify=True)
    device = tables.Column(verbose_name=_('Device'), linkify=True)
    virtual_machine = tables.Column(verbose_name=_('Virtual machine'), linkify=True)
    first_seen = columns.DateTimeColumn(verbose_name=_('First seen'))
    last_seen = columns.DateTimeColumn(verbose_name=_('Last seen'))
    actions = columns.ActionsColumn(actions=('edit', 'delete'))

    class Meta(NetBoxTable.Meta):
        model = MonitAgent
        fields = ('pk', 'id', 'hostname', 'monit_id', 'address', 'httpd_address', 'version', 'device',
                  'virtual_machine', 'match_note', 'reports', 'first_seen', 'last_seen')
        default_columns = ('pk', 'hostname', 'address', 'version', 'device', 'virtual_machine', 'match_note',
                           'last_seen')


class HostFactsTable(NetBoxTable):
    host = tables.Column(verbose_name=_('Host'), linkify=True, orderable=False, accessor=Accessor('host'))
    status = columns.ChoiceFieldColumn(verbose_name=_('Probe status'), linkify=True)
    os_pretty_name = tables.Column(verbose_name=_('OS'))
    os_family = tables.Column(verbose_name=_('OS family'))
    os_version = tables.Column(verbose_name=_('OS version'))
    kernel = tables.Column(verbose_name=_('Kernel'))
    architecture = tables.Column(verbose_name=_('Arch'))
    virtualization = tables.Column(verbose_name=_('Virtualization'))
    kind_mismatch = columns.BooleanColumn(verbose_name=_('Kind mismatch'))
    probed_at = columns.DateTimeColumn(verbose_name=_('Probed'))
    last_ok_at = columns.DateTimeColumn(verbose_name=_('Last OK'))
    duration_ms = tables.Column(verbose_name=_('Duration (ms)'))
    error = tables.Column(verbose_name=_('Error'))
    actions = columns.ActionsColumn(actions=('delete',))

    class Meta(NetBoxTable.Meta):
        model = HostFacts
        fields = (
            'pk', 'id', 'host', 'status', 'os_pretty_name', 'os_family', 'os_version', 'kernel', 'architecture',
            'virtualization', 'kind_mismatch', 'probed_at', 'last_ok_at', 'duration_ms', 'error', 'target',
            'hostkey_fingerprint', 'created', 'last_updated',
        )
        default_columns = ('pk', 'host', 'status', 'os_pretty_name', 'kernel', 'virtualization', 'probed_at')


# Columns on NetBox's own device and VM lists. NetBox prefetches what a column's accessor names, unrestricted
# (a `triage_facts__…` accessor would load every row's facts, raw sections included, whatever the user may view),
# so these columns read the rows of the page themselves, in one restricted query per table.

# What the facts columns show, copied out of the facts JSON on HostFacts itself.
FACTS_COLUMN_FIELDS = ('status', 'os_pretty_name', 'kernel', 'virtualization', 'probed_at')


class VisibleFacts:
    """The HostFacts of a table's hosts that the current user may view, loaded once for all the facts columns:
    the page's rows on a list page, every listed host when an export walks past the page."""

    def __init__(self, table):
        from netbox.context import current_request

        user = getattr(current_request.get(), 'user', None)
        self.table = table
        self.queryset = None
        if user is not None and user.has_perm('netbox_triage.view_hostfacts'):
            self.queryset = HostFacts.objects.restrict(user, 'view').only(
                'device_id', 'virtual_machine_id', *FACTS_COLUMN_FIELDS)
        self.facts, self.loaded, self.everything = {}, set(), False

    @classmethod
    def of(cls, table):
        if not hasattr(table, '_triage_facts'):
            table._triage_facts = cls(table)
        return table._triage_facts

    def get(self, record):
        if self.queryset is None:
            return None
        if record.pk not in self.loaded and not self.everything:
            self._load(record)
        return self.facts.get(record.pk)

    def _load(self, record):
        from django_tables2.data import TableQuerysetData

        link = 'device' if record._meta.model_name == 'device' else 'virtual_machine'
        page = getattr(self.table, 'page', None)
        on_page = [getattr(row, 'record', row).pk for row in page.object_list] if page else []  # BoundRows
        if record.pk in on_page:
            hosts = on_page
            self.loaded.update(on_page)
        else:
            data = self.table.data
            hosts = data.data.values('pk') if isinstance(data, TableQuerysetData) else [row.pk for row in data]
            self.everything = True
        for facts in self.queryset.filter(**{f'{link}__in': hosts}):
            self.facts[getattr(facts, f'{link}_id')] = facts


class FactsColumn(tables.Column):
    """One probed fact on NetBox's device and VM lists, shown only where the user may view the host's facts."""

    datetime_column = columns.DateTimeColumn()  # renders probed_at as NetBox's lists render times

    def __init__(self, fact, **kwargs):
        self.fact = fact
        super().__init__(accessor=Accessor('pk'), orderable=False, empty_values=(), **kwargs)

    def _value(self, record, table):
        facts = VisibleFacts.of(table).get(record)
        value = getattr(facts, self.fact) if facts is not None else None
        return facts, value

    def render(self, record, table):
        from django.utils.html import format_html

        facts, value = self._value(record, table)
        if value in (None, ''):
            return self.default
        if self.fact == 'status':
            return format_html('<span class="badge text-bg-{}">{}</span>', facts.get_status_color() or 'secondary',
                               facts.get_status_display())
        if self.fact == 'probed_at':
            return self.datetime_column.render(value)
        return value

    def value(self, record, table):
        facts, value = self._value(record, table)
        if value in (None, ''):
            return ''
        return value.isoformat() if self.fact == 'probed_at' else value


class CoverageColumn(tables.Column):
    """A host's monitoring, in its best state, on NetBox's device and VM lists.

    NetBox's list views cannot be told to prefetch a plugin's rows, so the column loads the coverage of every
    row of the page in one query, the first time it renders a cell, and keeps it on the table; an export that walks
    past the page loads every row of the table in one more query.
    """

    STATE_COLORS = {'reporting': 'green', 'silent': 'red', 'configured': 'blue', 'planned': 'cyan', 'none': 'gray'}

    def __init__(self, field, **kwargs):
        self.field = field
        super().__init__(accessor=Accessor('pk'), orderable=False, empty_values=(), **kwargs)

    def _states(self, table, everything):
        """({host pk: state}, the pks looked up or None for all) for the page's rows, or for every row of the
        table (an export walks past the page); None where the user may not view coverage."""
        from django_tables2.data import TableQuerysetData

        from netbox.context import current_request

        from .collector.summary import host_state

        request = current_request.get()
        user = getattr(request, 'user', None)
        if user is None or not user.has_perm('netbox_triage.view_monitoringcoverage'):
            return None
        covered = None
        if not everything and getattr(table, 'page', None):
            ids = covered = {getattr(row, 'record', row).pk for row in table.page.object_list}  # BoundRows
        elif isinstance(table.data, TableQuerysetData):
            ids = table.data.data.values('pk')
        else:
            ids = [row.pk for row in table.data]
        found = {}
        for host_id, state in MonitoringCoverage.objects.restrict(user, 'view').filter(
            **{f'{self.field}__in': ids}
        ).values_list(self.field, 'state'):
            found.setdefault(host_id, []).append(state)
        return {pk: host_state(states) for pk, states in found.items()}, covered

    def state(self, record, table):
        """The host's state, or None where the user may not view coverage."""
        loaded = getattr(table, '_triage_coverage', False)
        if loaded is False or (loaded is not None and loaded[1] is not None and record.pk not in loaded[1]):
            loaded = table._triage_coverage = self._states(table, everything=loaded is not False)
        if loaded is None:
            return None
        return loaded[0].get(record.pk, 'none')

    def render(self, record, table):
        from django.utils.html import format_html

        state = self.state(record, table)
        if state is None:
            return '—'
        return format_html('<span class="badge text-bg-{}">{}</span>', self.STATE_COLORS.get(state, 'gray'), state)

    def value(self, record, table):
        return self.state(record, table) or ''


def register_facts_columns():
    from dcim.tables import DeviceTable
    from utilities.tables import register_table_column
    from virtualization.tables import VirtualMachineTable

    columns_ = {
        'triage_probe_status': FactsColumn('status', verbose_name=_('Probe status')),
        'triage_os': FactsColumn('os_pretty_name', verbose_name=_('OS (probed)')),
        'triage_kernel': FactsColumn('kernel', verbose_name=_('Kernel (probed)')),
        'triage_virtualization': FactsColumn('virtualization', verbose_name=_('Virtualization (probed)')),
        'triage_probed_at': FactsColumn('probed_at', verbose_name=_('Probed at')),
    }
    for name, column in columns_.items():
        register_table_column(column, name, DeviceTable, VirtualMachineTable)
    register_table_column(CoverageColumn('device_id', verbose_name=_('Monitoring')), 'triage_monitoring',
                          DeviceTable)
    register_table_column(CoverageColumn('virtual_machine_id', verbose_name=_('Monitoring')), 'triage_monitoring',
                          VirtualMachineTable)
