from django import forms
from django.utils.translation import gettext_lazy as _

from dcim.models import Device
from netbox.forms import NetBoxModelFilterSetForm, PrimaryModelFilterSetForm
from tenancy.forms import TenancyFilterForm
from utilities.forms import BOOLEAN_WITH_BLANK_CHOICES
from utilities.forms.fields import DynamicModelChoiceField, DynamicModelMultipleChoiceField, TagFilterField
from utilities.forms.rendering import FieldSet
from virtualization.models import Cluster, VirtualMachine

from ..choices import *
from ..models import *

__all__ = (
    'BusinessImpactFilterForm',
    'MonitAgentFilterForm',
    'MonitoringCoverageFilterForm',
    'DependencyFilterForm',
    'DiscoveryFilterForm',
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


class DiscoveryFilterForm(PrimaryModelFilterSetForm):
    model = Discovery
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('status', 'is_active', 'severity', 'rule', 'incident_id', 'concerns_incident_id', name=_('Discovery')),
        FieldSet('device_id', 'virtual_machine_id', 'cluster_id', name=_('About')),
    )
    status = forms.MultipleChoiceField(label=_('Status'), choices=DiscoveryStatusChoices, required=False)
    is_active = forms.NullBooleanField(
        label=_('Open or acknowledged'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    severity = forms.MultipleChoiceField(label=_('Severity'), choices=SeverityChoices, required=False)
    rule = forms.MultipleChoiceField(label=_('Rule'), choices=lambda: [(n, n) for n in _rule_names()],
                                     required=False)
    incident_id = DynamicModelMultipleChoiceField(queryset=Incident.objects.all(), required=False,
                                                  label=_('Incident'))
    # The incident page links here with it: shown, so the list says why it holds what it holds.
    concerns_incident_id = DynamicModelChoiceField(
        queryset=Incident.objects.all(), required=False, label=_('Concerns incident'),
        help_text=_('Linked to it, or about one of its affected objects'),
    )
    device_id = DynamicModelMultipleChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine_id = DynamicModelMultipleChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    cluster_id = DynamicModelMultipleChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))
    tag = TagFilterField(model)


def _rule_names():
    """The registered rules, and "manual" for the discoveries people record by hand."""
    from ..rules import registry

    return [*registry.names(), 'manual']


class DependencyFilterForm(PrimaryModelFilterSetForm):
    model = Dependency
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('kind', 'origin', 'status', name=_('Dependency')),
        FieldSet('device_id', 'virtual_machine_id', 'cluster_id', name=_('Either end')),
    )
    kind = forms.MultipleChoiceField(label=_('Kind'), choices=DependencyKindChoices, required=False)
    origin = forms.MultipleChoiceField(label=_('Origin'), choices=DependencyOriginChoices, required=False)
    status = forms.MultipleChoiceField(label=_('Status'), choices=DependencyStatusChoices, required=False)
    device_id = DynamicModelMultipleChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine_id = DynamicModelMultipleChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    cluster_id = DynamicModelMultipleChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))
    tag = TagFilterField(model)


class MonitoringCoverageFilterForm(PrimaryModelFilterSetForm):
    model = MonitoringCoverage
    fieldsets = (
        FieldSet('q', 'filter_id', 'tag'),
        FieldSet('system', 'state', 'check_type', 'has_failing_checks', name=_('Coverage')),
        FieldSet('device_id', 'virtual_machine_id', name=_('Host')),
    )
    system = forms.MultipleChoiceField(label=_('System'), choices=MonitoringSystemChoices, required=False)
    state = forms.MultipleChoiceField(label=_('State'), choices=MonitoringStateChoices, required=False)
    check_type = forms.MultipleChoiceField(label=_('Covers check type'), choices=MonitoringCheckTypeChoices,
                                           required=False)
    has_failing_checks = forms.NullBooleanField(
        label=_('Has failing checks'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    device_id = DynamicModelMultipleChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine_id = DynamicModelMultipleChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    tag = TagFilterField(model)


class MonitAgentFilterForm(NetBoxModelFilterSetForm):
    model = MonitAgent
    fieldsets = (FieldSet('q', 'filter_id', 'tag'), FieldSet('mapped', name=_('Agent')))
    mapped = forms.NullBooleanField(
        label=_('Mapped to a host'), required=False, widget=forms.Select(choices=BOOLEAN_WITH_BLANK_CHOICES)
    )
    tag = TagFilterField(model)
