from django.utils.translation import gettext_lazy as _

from netbox.ui import attrs, panels

__all__ = (
    'BusinessImpactPanel',
    'IncidentObjectPanel',
    'IncidentPanel',
    'LossPanel',
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
