from django import forms
from django.utils.translation import gettext_lazy as _

from netbox.forms import PrimaryModelBulkEditForm
from tenancy.models import Tenant
from utilities.forms import add_blank_choice
from utilities.forms.fields import ChoiceField, DynamicModelChoiceField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker

from ..choices import *
from ..models import *

__all__ = (
    'BusinessImpactBulkEditForm',
    'MonitoringCoverageBulkEditForm',
    'DependencyBulkEditForm',
    'DiscoveryBulkEditForm',
    'IncidentBulkEditForm',
    'TimelineEntryBulkEditForm',
)


class IncidentBulkEditForm(PrimaryModelBulkEditForm):
    status = ChoiceField(label=_('Status'), choices=add_blank_choice(IncidentStatusChoices), required=False)
    severity = ChoiceField(label=_('Severity'), choices=add_blank_choice(SeverityChoices), required=False)
    tenant = DynamicModelChoiceField(label=_('Tenant'), queryset=Tenant.objects.all(), required=False)
    resolved_at = forms.DateTimeField(label=_('Resolved at'), required=False, widget=DateTimePicker())

    model = Incident
    fieldsets = (
        FieldSet('status', 'severity', 'resolved_at', 'description', name=_('Incident')),
        FieldSet('tenant', name=_('Tenancy')),
    )
    nullable_fields = ('tenant', 'resolved_at', 'description', 'comments')


class BusinessImpactBulkEditForm(PrimaryModelBulkEditForm):
    basis = ChoiceField(label=_('Basis'), choices=add_blank_choice(ImpactBasisChoices), required=False)
    note = forms.CharField(label=_('Note'), max_length=200, required=False)

    model = BusinessImpact
    fieldsets = (FieldSet('basis', 'note', 'description', name=_('Loss rate')),)
    nullable_fields = ('note', 'description', 'comments')


class TimelineEntryBulkEditForm(PrimaryModelBulkEditForm):
    kind = ChoiceField(label=_('Kind'), choices=add_blank_choice(TimelineKindChoices), required=False)

    model = TimelineEntry
    fieldsets = (FieldSet('kind', 'description', name=_('Timeline entry')),)
    nullable_fields = ('description', 'comments')


class DiscoveryBulkEditForm(PrimaryModelBulkEditForm):
    status = ChoiceField(label=_('Status'), choices=add_blank_choice(DiscoveryStatusChoices), required=False)
    severity = ChoiceField(label=_('Severity'), choices=add_blank_choice(SeverityChoices), required=False)
    incident = DynamicModelChoiceField(label=_('Incident'), queryset=Incident.objects.all(), required=False)

    model = Discovery
    fieldsets = (FieldSet('status', 'severity', 'incident', 'description', name=_('Discovery')),)
    nullable_fields = ('incident', 'description', 'comments')


class DependencyBulkEditForm(PrimaryModelBulkEditForm):
    kind = ChoiceField(label=_('Kind'), choices=add_blank_choice(DependencyKindChoices), required=False)
    status = ChoiceField(label=_('Status'), choices=add_blank_choice(DependencyStatusChoices), required=False)
    label = forms.CharField(label=_('Label'), max_length=100, required=False)

    model = Dependency
    fieldsets = (FieldSet('kind', 'status', 'label', 'description', name=_('Dependency')),)
    nullable_fields = ('label', 'description', 'comments')


class MonitoringCoverageBulkEditForm(PrimaryModelBulkEditForm):
    state = ChoiceField(label=_('State'), choices=add_blank_choice(MonitoringStateChoices), required=False)
    ui_url = forms.URLField(label=_('UI link'), required=False)

    model = MonitoringCoverage
    fieldsets = (FieldSet('state', 'ui_url', 'description', name=_('Coverage')),)
    nullable_fields = ('ui_url', 'description', 'comments')
