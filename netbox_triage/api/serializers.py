from django.contrib.contenttypes.models import ContentType
from rest_framework import serializers

from dcim.api.serializers_.devices import DeviceSerializer
from netbox.api.fields import ChoiceField, ContentTypeField
from netbox.api.gfk_fields import GFKSerializerField
from netbox.api.serializers import NetBoxModelSerializer, PrimaryModelSerializer
from tenancy.api.serializers_.tenants import TenantSerializer
from users.api.serializers_.users import UserSerializer
from virtualization.api.serializers_.virtualmachines import VirtualMachineSerializer

from ..choices import *
from ..models import *

__all__ = (
    'BusinessImpactSerializer',
    'MonitAgentSerializer',
    'MonitoringCoverageSerializer',
    'DependencySerializer',
    'DiscoverySerializer',
    'HostFactsSerializer',
    'IncidentObjectSerializer',
    'IncidentSerializer',
    'TimelineEntrySerializer',
)

MONEY = {'max_digits': 20, 'decimal_places': 2, 'read_only': True, 'allow_null': True}


class IncidentSerializer(PrimaryModelSerializer):
    status = ChoiceField(choices=IncidentStatusChoices, required=False)
    severity = ChoiceField(choices=SeverityChoices, required=False)
    tenant = TenantSerializer(nested=True, required=False, allow_null=True)
    # Computed from the loss rates (netbox_triage.impact); null when the rates mix currencies.
    currency = serializers.CharField(read_only=True, allow_null=True)
    current_loss_rate = serializers.DecimalField(**MONEY)
    total_lost = serializers.DecimalField(**MONEY)
    saved_by_mitigations = serializers.DecimalField(**MONEY)
    loss_error = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = (
            'id', 'url', 'display_url', 'display', 'title', 'status', 'severity', 'started_at', 'detected_at',
            'resolved_at', 'summary', 'tenant', 'currency', 'current_loss_rate', 'total_lost', 'saved_by_mitigations',
            'loss_error', 'description', 'owner', 'comments', 'tags', 'custom_fields', 'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'title', 'status', 'severity', 'description')
        # Incident.clean() stamps resolved_at when the status becomes "resolved".
        model_clean_fields = ('resolved_at',)


class IncidentObjectSerializer(NetBoxModelSerializer):
    incident = IncidentSerializer(nested=True)
    object_type = ContentTypeField(queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS))
    object = GFKSerializerField(read_only=True)

    class Meta:
        model = IncidentObject
        fields = (
            'id', 'url', 'display_url', 'display', 'incident', 'object_type', 'object_id', 'object', 'note', 'tags',
            'custom_fields', 'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'incident', 'object_type', 'object_id')


class BusinessImpactSerializer(PrimaryModelSerializer):
    incident = IncidentSerializer(nested=True)
    basis = ChoiceField(choices=ImpactBasisChoices, required=False)

    class Meta:
        model = BusinessImpact
        fields = (
            'id', 'url', 'display_url', 'display', 'incident', 'effective_from', 'loss_per_day', 'currency', 'basis',
            'note', 'description', 'owner', 'comments', 'tags', 'custom_fields', 'created', 'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'effective_from', 'loss_per_day', 'currency')
        # BusinessImpact.clean() upper-cases the currency code; the one-currency rule compares stored codes.
        model_clean_fields = ('currency',)


class TimelineEntrySerializer(PrimaryModelSerializer):
    incident = IncidentSerializer(nested=True)
    kind = ChoiceField(choices=TimelineKindChoices, required=False)
    object_type = ContentTypeField(queryset=ContentType.objects.all(), required=False, allow_null=True)
    object = GFKSerializerField(read_only=True)
    author = UserSerializer(nested=True, read_only=True)

    class Meta:
        model = TimelineEntry
        fields = (
            'id', 'url', 'display_url', 'display', 'incident', 'timestamp', 'kind', 'text', 'object_type',
            'object_id', 'object', 'author', 'description', 'owner', 'comments', 'tags', 'custom_fields', 'created',
            'last_updated',
        )
        brief_fields = ('id', 'url', 'display', 'timestamp', 'kind')

    def create(self, validated_data):
        request = self.context.get('request')
        if request is not None and request.user.is_authenticated:
            validated_data.setdefault('author', request.user)
        return super().create(validated_data)


class HostFactsSerializer(NetBoxModelSerializer):
    device = DeviceSerializer(nested=True, read_only=True)
    virtual_machine = VirtualMachineSerializer(nested=True, read_only=True)
    status = ChoiceField(choices=ProbeStatusChoices, read_only=True)
    jump_hostkey_fingerprint = serializers.CharField(read_only=True)

    class Meta:
        model = HostFacts
        fields = (
            'id', 'url', 'display_url', 'display', 'device', 'virtual_machine', 'status', 'error', 'target',
            'probed_at', 'last_ok_at', 'duration_ms', 'os_family', 'os_name', 'os_version', 'os_pretty_name', 'kernel',
            'architecture', 'virtualization', 'kind_mismatch', 'platform_derived', 'hostkey_fingerprint', 'hostkey',
            'hostkey_offered', 'hostkey_offered_by_jump', 'jump_hostkey', 'jump_hostkey_fingerprint', 'facts',
            'raw_sections', 'tags', 'custom_fields', 'created', 'last_updated',
        )
        read_only_fields = fields
        brief_fields = ('id', 'url', 'display', 'status', 'os_pretty_name', 'probed_at')


class ProbeRequestSerializer(serializers.Serializer):
    """What to probe: explicit devices/VMs, or NetBox filters applied to devices and VMs."""

    devices = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    virtual_machines = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    device_filter = serializers.DictField(required=False, default=dict,
                                          help_text='DeviceFilterSet parameters, e.g. {"site": ["dc1"]}')
    virtual_machine_filter = serializers.DictField(required=False, default=dict)


class DiscoverySerializer(PrimaryModelSerializer):
    """Rules write discoveries; API users triage them (status, incident, severity) or record one by hand."""

    severity = ChoiceField(choices=SeverityChoices, required=False)
    status = ChoiceField(choices=DiscoveryStatusChoices, required=False)
    object_type = ContentTypeField(queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS), required=False,
                                   allow_null=True)
    object = GFKSerializerField(read_only=True)
    incident = IncidentSerializer(nested=True, required=False, allow_null=True)

    class Meta:
        model = Discovery
        fields = (
            'id', 'url', 'display_url', 'display', 'title', 'rule', 'severity', 'status', 'object_type', 'object_id',
            'object', 'subject_key', 'evidence', 'evidence_text', 'recommendation', 'fingerprint', 'first_seen',
            'last_seen', 'resolved_at', 'incident', 'description', 'owner', 'comments', 'tags', 'custom_fields',
            'created', 'last_updated',
        )
        read_only_fields = ('subject_key', 'fingerprint', 'first_seen', 'last_seen', 'resolved_at')
        brief_fields = ('id', 'url', 'display', 'title', 'severity', 'status')


class DependencySerializer(PrimaryModelSerializer):
    source_type = ContentTypeField(queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS))
    source = GFKSerializerField(read_only=True)
    target_type = ContentTypeField(queryset=ContentType.objects.filter(AFFECTED_OBJECT_MODELS))
    target = GFKSerializerField(read_only=True)
    kind = ChoiceField(choices=DependencyKindChoices, required=False)
    origin = ChoiceField(choices=DependencyOriginChoices, read_only=True)
    status = ChoiceField(choices=DependencyStatusChoices, required=False)

    class Meta:
        model = Dependency
        fields = (
            'id', 'url', 'display_url', 'display', 'source_type', 'source_id', 'source', 'target_type', 'target_id',
            'target', 'kind', 'port', 'label', 'origin', 'status', 'last_seen', 'description', 'owner', 'comments',
            'tags', 'custom_fields', 'created', 'last_updated',
        )
        read_only_fields = ('last_seen',)
        brief_fields = ('id', 'url', 'display', 'kind', 'port', 'label')


class MonitoringCoverageSerializer(PrimaryModelSerializer):
    device = DeviceSerializer(nested=True, required=False, allow_null=True)
    virtual_machine = VirtualMachineSerializer(nested=True, required=False, allow_null=True)
    system = ChoiceField(choices=MonitoringSystemChoices)
    state = ChoiceField(choices=MonitoringStateChoices, required=False)

    class Meta:
        model = MonitoringCoverage
        fields = (
            'id', 'url', 'display_url', 'display', 'device', 'virtual_machine', 'system', 'state', 'checks',
            'check_types', 'failing_checks', 'last_report', 'silent_since', 'poll_interval', 'agent_version',
            'agent_uptime', 'reported_hostname', 'ui_url', 'history', 'description', 'owner', 'comments', 'tags',
            'custom_fields', 'created', 'last_updated',
        )
        read_only_fields = ('failing_checks', 'last_report', 'silent_since', 'poll_interval', 'agent_version',
                            'agent_uptime', 'reported_hostname', 'history')
        brief_fields = ('id', 'url', 'display', 'system', 'state')


class MonitAgentSerializer(NetBoxModelSerializer):
    device = DeviceSerializer(nested=True, required=False, allow_null=True)
    virtual_machine = VirtualMachineSerializer(nested=True, required=False, allow_null=True)

    class Meta:
        model = MonitAgent
        fields = (
            'id', 'url', 'display_url', 'display', 'monit_id', 'hostname', 'address', 'httpd_address', 'version',
            'device', 'virtual_machine', 'match_note', 'first_seen', 'last_seen', 'reports', 'tags', 'created',
            'last_updated',
        )
        read_only_fields = ('monit_id', 'hostname', 'address', 'httpd_address', 'version', 'match_note',
                            'first_seen', 'last_seen', 'reports')
        brief_fields = ('id', 'url', 'display', 'hostname')
