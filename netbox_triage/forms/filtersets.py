from django import forms
from django.utils.translation import gettext_lazy as _

from netbox.forms import NetBoxModelFilterSetForm, PrimaryModelFilterSetForm
from tenancy.forms import TenancyFilterForm
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import DynamicModelMultipleChoiceField, TagFilterField
from utilities.forms.rendering import FieldSet

from ..choices import *
from ..models import *

__all__ = (
    'BusinessImpactFilterForm',
    'HostFactsFilterForm',
    'IncidentFilterForm',
    'IncidentObjectFilterForm',
    'TimelineEntryFilterForm',
)


class IncidentFilterForm(TenancyFilterForm, PrimaryModelFilterSetForm):
    model = Incident
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('status', 'severity', 'is_open', name=_('Incident')),
        FieldSet('tenant_group_id', 'tenant_id', name=_('Tenancy')),
    )
    status = forms.MultipleChoiceField(label=_('Status'), choices=IncidentStatusChoices, required=False)
    severity = forms.MultipleChoiceField(label=_('Severity'), choices=SeverityChoices, required=False)
    is_open = forms.NullBooleanField(
        label=_('Open'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    tag = TagFilterField(model)


class IncidentObjectFilterForm(NetBoxModelFilterSetForm):
    model = IncidentObject
    fieldsets = (FieldSet('q', 'filter_id', 'tag', 'incident_id'),)
    incident_id = DynamicModelMultipleChoiceField(
        queryset=Incident.objects.all(), required=False, label=_('Incident')
    )
    tag = TagFilterField(model)


class BusinessImpactFilterForm(PrimaryModelFilterSetForm):
    model = BusinessImpact
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('incident_id', 'basis', 'currency', name=_('Loss rate')),
    )
    incident_id = DynamicModelMultipleChoiceField(
        queryset=Incident.objects.all(), required=False, label=_('Incident')
    )
    basis = forms.MultipleChoiceField(label=_('Basis'), choices=ImpactBasisChoices, required=False)
    currency = forms.CharField(label=_('Currency'), required=False)
    tag = TagFilterField(model)


class TimelineEntryFilterForm(PrimaryModelFilterSetForm):
    model = TimelineEntry
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('incident_id', 'kind', name=_('Timeline')),
    )
    incident_id = DynamicModelMultipleChoiceField(
        queryset=Incident.objects.all(), required=False, label=_('Incident')
    )
    kind = forms.MultipleChoiceField(label=_('Kind'), choices=TimelineKindChoices, required=False)
    tag = TagFilterField(model)


class HostFactsFilterForm(NetBoxModelFilterSetForm):
    model = HostFacts
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('status', 'os_family', 'virtualization', 'kind_mismatch', name=_('Facts')),
    )
    status = forms.MultipleChoiceField(label=_('Probe status'), choices=ProbeStatusChoices, required=False)
    os_family = forms.CharField(label=_('OS family'), required=False)
    virtualization = forms.CharField(label=_('Virtualization'), required=False)
    kind_mismatch = forms.NullBooleanField(
        label=_('Kind mismatch'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    tag = TagFilterField(model)
