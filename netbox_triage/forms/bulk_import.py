from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from dcim.models import Device
from netbox.forms import NetBoxModelImportForm, PrimaryModelImportForm
from tenancy.models import Tenant
from utilities.forms.fields import CSVChoiceField, CSVContentTypeField, CSVModelChoiceField
from virtualization.models import VirtualMachine

from ..choices import *
from ..models import *

__all__ = (
    'BusinessImpactImportForm',
    'MonitoringCoverageImportForm',
    'DependencyImportForm',
    'DiscoveryImportForm',
    'IncidentImportForm',
    'IncidentObjectImportForm',
    'TimelineEntryImportForm',
)


class IncidentImportForm(PrimaryModelImportForm):
    status = CSVChoiceField(label=_('Status'), choices=IncidentStatusChoices, required=False)
    severity = CSVChoiceField(label=_('Severity'), choices=SeverityChoices, required=False)
    tenant = CSVModelChoiceField(
        label=_('Tenant'), queryset=Tenant.objects.all(), required=False, to_field_name='name'
    )

    class Meta:
        model = Incident
        fields = (
            'title', 'status', 'severity', 'started_at', 'detected_at', 'resolved_at', 'summary', 'tenant',
            'description', 'owner', 'comments', 'tags',
        )


class IncidentObjectImportForm(NetBoxModelImportForm):
    incident = CSVModelChoiceField(label=_('Incident'), queryset=Incident.objects.all(), to_field_name='pk')
    object_type = CSVContentTypeField(
        label=_('Object type'),
        queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS),
        help_text=_('dcim.device, virtualization.virtualmachine, virtualization.cluster or ipam.service'),
    )

    class Meta:
        model = IncidentObject
        fields = ('incident', 'object_type', 'object_id', 'note', 'tags')


class BusinessImpactImportForm(PrimaryModelImportForm):
    incident = CSVModelChoiceField(label=_('Incident'), queryset=Incident.objects.all(), to_field_name='pk')
    basis = CSVChoiceField(label=_('Basis'), choices=ImpactBasisChoices, required=False)

    class Meta:
        model = BusinessImpact
        fields = (
            'incident', 'effective_from', 'loss_per_day', 'currency', 'basis', 'note', 'description', 'owner',
            'comments', 'tags',
        )


class TimelineEntryImportForm(PrimaryModelImportForm):
    incident = CSVModelChoiceField(label=_('Incident'), queryset=Incident.objects.all(), to_field_name='pk')
    kind = CSVChoiceField(label=_('Kind'), choices=TimelineKindChoices, required=False)
    object_type = CSVContentTypeField(
        label=_('Object type'), queryset=ContentType.objects.all(), required=False,
    )

    class Meta:
        model = TimelineEntry
        fields = (
            'incident', 'timestamp', 'kind', 'text', 'object_type', 'object_id', 'description', 'owner', 'comments',
            'tags',
        )


class DiscoveryImportForm(PrimaryModelImportForm):
    severity = CSVChoiceField(label=_('Severity'), choices=SeverityChoices, required=False)
    status = CSVChoiceField(label=_('Status'), choices=DiscoveryStatusChoices, required=False)
    object_type = CSVContentTypeField(
        label=_('Object type'), queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS), required=False,
        help_text=_('dcim.device, virtualization.virtualmachine, virtualization.cluster or ipam.service'),
    )
    incident = CSVModelChoiceField(label=_('Incident'), queryset=Incident.objects.all(), to_field_name='pk',
                                   required=False)

    class Meta:
        model = Discovery
        fields = ('title', 'rule', 'severity', 'status', 'object_type', 'object_id', 'evidence_text', 'recommendation',
                  'incident', 'description', 'owner', 'comments', 'tags')


class DependencyImportForm(PrimaryModelImportForm):
    source_type = CSVContentTypeField(
        label=_('Source type'), queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS),
        help_text=_('dcim.device, virtualization.virtualmachine, virtualization.cluster or ipam.service'),
    )
    target_type = CSVContentTypeField(
        label=_('Target type'), queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS),
        help_text=_('dcim.device, virtualization.virtualmachine, virtualization.cluster or ipam.service'),
    )
    kind = CSVChoiceField(label=_('Kind'), choices=DependencyKindChoices, required=False)
    status = CSVChoiceField(label=_('Status'), choices=DependencyStatusChoices, required=False)

    class Meta:
        model = Dependency
        fields = ('source_type', 'source_id', 'target_type', 'target_id', 'kind', 'port', 'label', 'status',
                  'description', 'owner', 'comments', 'tags')


class MonitoringCoverageImportForm(PrimaryModelImportForm):
    device = CSVModelChoiceField(label=_('Device'), queryset=Device.objects.all(), to_field_name='name',
                                 required=False)
    virtual_machine = CSVModelChoiceField(label=_('Virtual machine'), queryset=VirtualMachine.objects.all(),
                                          to_field_name='name', required=False)
    system = CSVChoiceField(label=_('System'), choices=MonitoringSystemChoices)
    state = CSVChoiceField(label=_('State'), choices=MonitoringStateChoices, required=False)

    class Meta:
        model = MonitoringCoverage
        fields = ('device', 'virtual_machine', 'system', 'state', 'ui_url', 'description', 'owner', 'comments', 'tags')
