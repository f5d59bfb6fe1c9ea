from django.utils.translation import gettext_lazy as _

from netbox.ui import attrs, panels

__all__ = (
    'AffectedHostsPanel',
    'BusinessImpactPanel',
    'CoverageChecksPanel',
    'CoverageHistoryPanel',
    'MonitAgentPanel',
    'MonitoringCoveragePanel',
    'DependencyPanel',
    'DiscoveryPanel',
    'EvidencePanel',
    'IncidentDiscoveriesPanel',
    'HostFactsPanel',
    'IncidentObjectPanel',
    'IncidentPanel',
    'LossPanel',
    'RawSectionsPanel',
    'TimelineEntryPanel',
    'TimelinePanel',
)


class IncidentPanel(panels.ObjectAttributesPanel):
    title_ = attrs.TextAttr('title', label=_('Title'))
    status = attrs.ChoiceAttr('status')
    severity = attrs.ChoiceAttr('severity')
    started_at = attrs.DateTimeAttr('started_at', label=_('Started'))
    detected_at = attrs.DateTimeAttr('detected_at', label=_('Detected'))
    resolved_at = attrs.DateTimeAttr('resolved_at', label=_('Resolved'))
    tenant = attrs.RelatedObjectAttr('tenant', linkify=True, grouped_by='group')
    description = attrs.TextAttr('description')


class LossPanel(panels.TemplatePanel):
    """Loss figures computed from the incident's loss rates (see netbox_triage.impact)."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/loss.html', title=_('Business impact'), **kwargs)


class TimelinePanel(panels.TemplatePanel):
    """The incident's timeline, newest first, filterable by kind, with an inline "add entry" form."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/timeline.html', title=_('Timeline'), **kwargs)


class IncidentObjectPanel(panels.ObjectAttributesPanel):
    incident = attrs.RelatedObjectAttr('incident', linkify=True)
    object_type = attrs.TextAttr('object_type', label=_('Type'))
    object = attrs.GenericForeignKeyAttr('object', linkify=True, label=_('Object'))
    note = attrs.TextAttr('note')


class BusinessImpactPanel(panels.ObjectAttributesPanel):
    incident = attrs.RelatedObjectAttr('incident', linkify=True)
    effective_from = attrs.DateTimeAttr('effective_from', label=_('Effective from'))
    loss_per_day = attrs.TextAttr('loss_per_day', label=_('Loss per day'), format_string='{:,}')
    currency = attrs.TextAttr('currency')
    basis = attrs.ChoiceAttr('basis')
    note = attrs.TextAttr('note')
    description = attrs.TextAttr('description')


class TimelineEntryPanel(panels.ObjectAttributesPanel):
    incident = attrs.RelatedObjectAttr('incident', linkify=True)
    timestamp = attrs.DateTimeAttr('timestamp', label=_('Time'))
    kind = attrs.ChoiceAttr('kind')
    object = attrs.GenericForeignKeyAttr('object', linkify=True, label=_('Linked object'))
    author = attrs.TextAttr('author')
    description = attrs.TextAttr('description')


class HostFactsPanel(panels.ObjectAttributesPanel):
    title = _('Probe')
    host = attrs.TemplatedAttr('host', label=_('Host'), template_name='netbox_triage/attrs/host.html')
    status = attrs.ChoiceAttr('status', label=_('Probe status'))
    error = attrs.TextAttr('error')
    target = attrs.TextAttr('target')
    probed_at = attrs.DateTimeAttr('probed_at', label=_('Probed at'))
    last_ok_at = attrs.DateTimeAttr('last_ok_at', label=_('Last OK'))
    duration_ms = attrs.NumericAttr('duration_ms', label=_('Duration (ms)'))
    os_pretty_name = attrs.TextAttr('os_pretty_name', label=_('OS'))
    os_family = attrs.TextAttr('os_family', label=_('OS family'))
    kernel = attrs.TextAttr('kernel')
    architecture = attrs.TextAttr('architecture')
    virtualization = attrs.TextAttr('virtualization')
    kind_mismatch = attrs.BooleanAttr('kind_mismatch', label=_('Kind mismatch'))
    hostkey_fingerprint = attrs.TextAttr('hostkey_fingerprint', label=_('Host key'), copy_button=True)
    hostkey_offered = attrs.TemplatedAttr(
        'hostkey_offered', label=_('Offered key'), template_name='netbox_triage/attrs/hostkey_offered.html'
    )
    hostkey_offered_by_jump = attrs.BooleanAttr('hostkey_offered_by_jump', label=_('Offered by the jump host'))
    jump_hostkey_fingerprint = attrs.TextAttr('jump_hostkey_fingerprint', label=_('Jump host key'), copy_button=True)
    platform_derived = attrs.TextAttr('platform_derived', label=_('Platform from the probe'))


class RawSectionsPanel(panels.TemplatePanel):
    """The raw output of each probe section, as text (probe output is untrusted: never markup)."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/raw_sections.html', title=_('Raw sections'), **kwargs)


class DiscoveryPanel(panels.ObjectAttributesPanel):
    title_ = attrs.TextAttr('title', label=_('Title'))
    severity = attrs.ChoiceAttr('severity')
    status = attrs.ChoiceAttr('status')
    object = attrs.GenericForeignKeyAttr('object', linkify=True, label=_('About'))
    rule = attrs.TextAttr('rule')
    incident = attrs.RelatedObjectAttr('incident', linkify=True)
    first_seen = attrs.DateTimeAttr('first_seen', label=_('First seen'))
    last_seen = attrs.DateTimeAttr('last_seen', label=_('Last seen'))
    resolved_at = attrs.DateTimeAttr('resolved_at', label=_('Resolved'))
    fingerprint = attrs.TextAttr('fingerprint')
    description = attrs.TextAttr('description')


class EvidencePanel(panels.TemplatePanel):
    """Evidence and recommendation as plain text: evidence quotes probe output, which is untrusted."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/evidence.html', title=_('Evidence'), **kwargs)


class IncidentDiscoveriesPanel(panels.TemplatePanel):
    """Open discoveries about the incident's objects, counted by severity, the worst listed."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/incident_discoveries.html', title=_('Discoveries'), **kwargs)


class DependencyPanel(panels.ObjectAttributesPanel):
    source = attrs.GenericForeignKeyAttr('source', linkify=True, label=_('Source'))
    kind = attrs.ChoiceAttr('kind')
    target = attrs.GenericForeignKeyAttr('target', linkify=True, label=_('Target'))
    port = attrs.NumericAttr('port')
    label = attrs.TextAttr('label')
    origin = attrs.ChoiceAttr('origin')
    status = attrs.ChoiceAttr('status')
    last_seen = attrs.DateTimeAttr('last_seen', label=_('Last seen'))
    description = attrs.TextAttr('description')


class MonitoringCoveragePanel(panels.ObjectAttributesPanel):
    host = attrs.TemplatedAttr('host', label=_('Host'), template_name='netbox_triage/attrs/host.html')
    system = attrs.ChoiceAttr('system')
    state = attrs.ChoiceAttr('state')
    check_types = attrs.TextAttr('check_types', label=_('Check types'))
    failing_checks = attrs.NumericAttr('failing_checks', label=_('Failing checks'))
    last_report = attrs.DateTimeAttr('last_report', label=_('Last report'))
    silent_since = attrs.DateTimeAttr('silent_since', label=_('Silent since'))
    poll_interval = attrs.NumericAttr('poll_interval', label=_('Poll interval (s)'))
    agent_version = attrs.TextAttr('agent_version', label=_('Agent version'))
    agent_uptime = attrs.NumericAttr('agent_uptime', label=_('Agent uptime (s)'))
    reported_hostname = attrs.TextAttr('reported_hostname', label=_('Reported hostname'))
    ui_url = attrs.TextAttr('ui_url', label=_('UI link'))
    description = attrs.TextAttr('description')


class CoverageChecksPanel(panels.TemplatePanel):
    """The checks the system reported, with their states (text from the monitored host: escaped)."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/coverage_checks.html', title=_('Checks'), **kwargs)


class CoverageHistoryPanel(panels.TemplatePanel):
    """The recent reports and events, as plain text (they quote Monit's messages)."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/coverage_history.html', title=_('Recent history'), **kwargs)


class MonitAgentPanel(panels.ObjectAttributesPanel):
    hostname = attrs.TextAttr('hostname', label=_('Reported hostname'))
    monit_id = attrs.TextAttr('monit_id', label=_('Monit ID'))
    address = attrs.TextAttr('address', label=_('Reported from'))
    httpd_address = attrs.TextAttr('httpd_address', label=_('Monit HTTP address'))
    version = attrs.TextAttr('version', label=_('Monit version'))
    device = attrs.RelatedObjectAttr('device', linkify=True)
    virtual_machine = attrs.RelatedObjectAttr('virtual_machine', linkify=True)
    match_note = attrs.TextAttr('match_note', label=_('Match'))
    reports = attrs.NumericAttr('reports')
    first_seen = attrs.DateTimeAttr('first_seen', label=_('First seen'))
    last_seen = attrs.DateTimeAttr('last_seen', label=_('Last seen'))


class AffectedHostsPanel(panels.TemplatePanel):
    """The incident's hosts at a glance: probe status, OS, worst open discovery, monitoring."""

    def __init__(self, **kwargs):
        super().__init__('netbox_triage/panels/affected_hosts.html', title=_('Affected hosts'), **kwargs)
