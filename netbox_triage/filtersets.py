import django_filters
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils.translation import gettext as _

from dcim.models import Device
from netbox.filtersets import NetBoxModelFilterSet, PrimaryModelFilterSet
from tenancy.filtersets import TenancyFilterSet
from users.models import User
from utilities.filters import MultiValueContentTypeFilter, MultiValueNumberFilter
from utilities.filtersets import register_filterset
from virtualization.models import Cluster, VirtualMachine

from .choices import *
from .models import *

__all__ = (
    'BusinessImpactFilterSet',
    'MonitAgentFilterSet',
    'MonitoringCoverageFilterSet',
    'DependencyFilterSet',
    'DiscoveryFilterSet',
    'HostFactsFilterSet',
    'IncidentFilterSet',
    'IncidentObjectFilterSet',
    'TimelineEntryFilterSet',
)


class IncidentScopedFilterMixin(django_filters.FilterSet):
    incident_id = django_filters.ModelMultipleChoiceFilter(
        field_name='incident',
        queryset=Incident.objects.all(),
        distinct=False,
        label=_('Incident (ID)'),
    )


@register_filterset
class IncidentFilterSet(PrimaryModelFilterSet, TenancyFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=IncidentStatusChoices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SeverityChoices, distinct=False)
    is_open = django_filters.BooleanFilter(method='filter_is_open', label=_('Open'))
    device_id = MultiValueNumberFilter(method='filter_affected', field_name='dcim.device', label=_('Device (ID)'))
    virtual_machine_id = MultiValueNumberFilter(
        method='filter_affected', field_name='virtualization.virtualmachine', label=_('Virtual machine (ID)')
    )
    cluster_id = MultiValueNumberFilter(
        method='filter_affected', field_name='virtualization.cluster', label=_('Cluster (ID)')
    )
    service_id = MultiValueNumberFilter(method='filter_affected', field_name='ipam.service', label=_('Service (ID)'))

    class Meta:
        model = Incident
        fields = ('id', 'title', 'started_at', 'detected_at', 'resolved_at', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(title__icontains=value) | Q(summary__icontains=value) | Q(description__icontains=value)
        )

    def filter_is_open(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status__in=IncidentStatusChoices.OPEN)
        return queryset.exclude(status__in=IncidentStatusChoices.OPEN)

    def filter_affected(self, queryset, name, value):
        app_label, model = name.split('.')
        return queryset.filter(
            affected_objects__object_type__app_label=app_label,
            affected_objects__object_type__model=model,
            affected_objects__object_id__in=value,
        ).distinct()


@register_filterset
class IncidentObjectFilterSet(IncidentScopedFilterMixin, NetBoxModelFilterSet):
    object_type = MultiValueContentTypeFilter()
    object_type_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ContentType.objects.all(), distinct=False, label=_('Object type (ID)')
    )
    device_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Device.objects.all(), method='filter_object', label=_('Device (ID)')
    )
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), method='filter_object', label=_('Virtual machine (ID)')
    )
    cluster_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Cluster.objects.all(), method='filter_object', label=_('Cluster (ID)')
    )

    class Meta:
        model = IncidentObject
        fields = ('id', 'object_id', 'note')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(note__icontains=value) | Q(incident__title__icontains=value))

    def filter_object(self, queryset, name, value):
        if not value:
            return queryset
        model = value[0]._meta.model
        return queryset.filter(
            object_type__app_label=model._meta.app_label,
            object_type__model=model._meta.model_name,
            object_id__in=[obj.pk for obj in value],
        )


@register_filterset
class BusinessImpactFilterSet(IncidentScopedFilterMixin, PrimaryModelFilterSet):
    basis = django_filters.MultipleChoiceFilter(choices=ImpactBasisChoices, distinct=False)
    currency = django_filters.CharFilter(method='filter_currency', label=_('Currency'))

    class Meta:
        model = BusinessImpact
        fields = ('id', 'effective_from', 'loss_per_day', 'note', 'description')

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency__in=[code.strip().upper() for code in value.split(',')])

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(note__icontains=value) | Q(incident__title__icontains=value) | Q(currency__iexact=value.strip())
        )


@register_filterset
class TimelineEntryFilterSet(IncidentScopedFilterMixin, PrimaryModelFilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=TimelineKindChoices, distinct=False)
    object_type = MultiValueContentTypeFilter()
    object_type_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ContentType.objects.all(), distinct=False, label=_('Object type (ID)')
    )
    author_id = django_filters.ModelMultipleChoiceFilter(
        queryset=User.objects.all(), distinct=False, label=_('Author (ID)')
    )
    author = django_filters.ModelMultipleChoiceFilter(
        field_name='author__username',
        queryset=User.objects.all(),
        to_field_name='username',
        distinct=False,
        label=_('Author (name)'),
    )

    class Meta:
        model = TimelineEntry
        fields = ('id', 'timestamp', 'object_id', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(text__icontains=value) | Q(incident__title__icontains=value))


@register_filterset
class HostFactsFilterSet(NetBoxModelFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ProbeStatusChoices, distinct=False)
    device_id = django_filters.ModelMultipleChoiceFilter(queryset=Device.objects.all(), label=_('Device (ID)'))
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), label=_('Virtual machine (ID)')
    )
    os_family = django_filters.CharFilter(method='filter_exact', label=_('OS family'))
    os_name = django_filters.CharFilter(lookup_expr='icontains')
    os_version = django_filters.CharFilter()
    virtualization = django_filters.CharFilter()
    kernel = django_filters.CharFilter(lookup_expr='icontains')
    kind_mismatch = django_filters.BooleanFilter()
    probed_before = django_filters.DateTimeFilter(field_name='probed_at', lookup_expr='lt')

    class Meta:
        model = HostFacts
        fields = ('id', 'status', 'os_family', 'os_name', 'os_version', 'kernel', 'architecture', 'virtualization',
                  'kind_mismatch', 'probed_at', 'last_ok_at', 'hostkey_fingerprint')

    def filter_exact(self, queryset, name, value):
        return queryset.filter(**{f'{name}__in': [item.strip() for item in value.split(',')]})

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(device__name__icontains=value) | Q(virtual_machine__name__icontains=value)
            | Q(os_pretty_name__icontains=value) | Q(kernel__icontains=value) | Q(error__icontains=value)
        )


def _objects_of(value):
    """ModelMultipleChoiceFilter values → (app_label, model, [pks])."""
    model = value[0]._meta.model
    return model._meta.app_label, model._meta.model_name, [obj.pk for obj in value]


@register_filterset
class DiscoveryFilterSet(PrimaryModelFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DiscoveryStatusChoices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SeverityChoices, distinct=False)
    is_active = django_filters.BooleanFilter(method='filter_is_active', label=_('Open or acknowledged'))
    object_type = MultiValueContentTypeFilter()
    object_type_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ContentType.objects.all(), distinct=False, label=_('Object type (ID)')
    )
    device_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Device.objects.all(), method='filter_object', label=_('Device (ID)')
    )
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), method='filter_object', label=_('Virtual machine (ID)')
    )
    cluster_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Cluster.objects.all(), method='filter_cluster', label=_('Cluster or its members (ID)')
    )
    incident_id = django_filters.ModelMultipleChoiceFilter(
        field_name='incident', queryset=Incident.objects.all(), distinct=False, label=_('Incident (ID)')
    )
    concerns_incident_id = django_filters.ModelChoiceFilter(
        queryset=Incident.objects.all(), method='filter_concerns_incident',
        label=_('Linked to, or about an affected object of, incident (ID)'),
    )

    class Meta:
        model = Discovery
        # `rule` is free text, not a choice of the registered rules: discoveries recorded by hand have rule "manual",
        # and those of a rule since removed keep its name.
        fields = ('id', 'rule', 'object_id', 'subject_key', 'title', 'first_seen', 'last_seen', 'resolved_at',
                  'fingerprint', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(title__icontains=value) | Q(evidence_text__icontains=value) | Q(rule__icontains=value)
        )

    def filter_cluster(self, queryset, name, value):
        if not value:
            return queryset
        query = Q(pk__in=[])
        for cluster in value:
            query |= Q(pk__in=Discovery.objects.about(cluster).values('pk'))
        return queryset.filter(query)

    def filter_concerns_incident(self, queryset, name, value):
        return queryset.for_incident(value) if value else queryset

    def filter_is_active(self, queryset, name, value):
        if value is None:
            return queryset
        active = Q(status__in=DiscoveryStatusChoices.ACTIVE)
        return queryset.filter(active if value else ~active)

    def filter_object(self, queryset, name, value):
        if not value:
            return queryset
        app_label, model, pks = _objects_of(value)
        return queryset.filter(object_type__app_label=app_label, object_type__model=model, object_id__in=pks)


@register_filterset
class DependencyFilterSet(PrimaryModelFilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=DependencyKindChoices, distinct=False)
    origin = django_filters.MultipleChoiceFilter(choices=DependencyOriginChoices, distinct=False)
    status = django_filters.MultipleChoiceFilter(choices=DependencyStatusChoices, distinct=False)
    source_type = MultiValueContentTypeFilter()
    source_type_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ContentType.objects.all(), distinct=False, label=_('Source type (ID)')
    )
    target_type = MultiValueContentTypeFilter()
    target_type_id = django_filters.ModelMultipleChoiceFilter(
        queryset=ContentType.objects.all(), distinct=False, label=_('Target type (ID)')
    )
    device_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Device.objects.all(), method='filter_either_end', label=_('Device at either end (ID)')
    )
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), method='filter_either_end',
        label=_('Virtual machine at either end (ID)'),
    )
    cluster_id = django_filters.ModelMultipleChoiceFilter(
        queryset=Cluster.objects.all(), method='filter_either_end', label=_('Cluster at either end (ID)')
    )

    class Meta:
        model = Dependency
        fields = ('id', 'source_id', 'target_id', 'port', 'label', 'last_seen', 'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(label__icontains=value) | Q(description__icontains=value))

    def filter_either_end(self, queryset, name, value):
        if not value:
            return queryset
        app_label, model, pks = _objects_of(value)
        return queryset.filter(
            Q(source_type__app_label=app_label, source_type__model=model, source_id__in=pks)
            | Q(target_type__app_label=app_label, target_type__model=model, target_id__in=pks)
        )


@register_filterset
class MonitoringCoverageFilterSet(PrimaryModelFilterSet):
    system = django_filters.MultipleChoiceFilter(choices=MonitoringSystemChoices, distinct=False)
    state = django_filters.MultipleChoiceFilter(choices=MonitoringStateChoices, distinct=False)
    check_type = django_filters.MultipleChoiceFilter(
        choices=MonitoringCheckTypeChoices, method='filter_check_type', label=_('Covers check type')
    )
    device_id = django_filters.ModelMultipleChoiceFilter(queryset=Device.objects.all(), label=_('Device (ID)'))
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), label=_('Virtual machine (ID)')
    )
    has_failing_checks = django_filters.BooleanFilter(method='filter_failing', label=_('Has failing checks'))

    class Meta:
        model = MonitoringCoverage
        fields = ('id', 'last_report', 'silent_since', 'agent_version', 'reported_hostname', 'failing_checks',
                  'description')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(
            Q(device__name__icontains=value) | Q(virtual_machine__name__icontains=value)
            | Q(reported_hostname__icontains=value) | Q(description__icontains=value)
        )

    def filter_check_type(self, queryset, name, value):
        return queryset.filter(check_types__overlap=list(value)) if value else queryset

    def filter_failing(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(failing_checks__gt=0) if value else queryset.filter(failing_checks=0)


@register_filterset
class MonitAgentFilterSet(NetBoxModelFilterSet):
    device_id = django_filters.ModelMultipleChoiceFilter(queryset=Device.objects.all(), label=_('Device (ID)'))
    virtual_machine_id = django_filters.ModelMultipleChoiceFilter(
        queryset=VirtualMachine.objects.all(), label=_('Virtual machine (ID)')
    )
    mapped = django_filters.BooleanFilter(method='filter_mapped', label=_('Mapped to a host'))

    class Meta:
        model = MonitAgent
        fields = ('id', 'monit_id', 'hostname', 'version', 'first_seen', 'last_seen')

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        return queryset.filter(Q(hostname__icontains=value) | Q(monit_id__icontains=value))

    def filter_mapped(self, queryset, name, value):
        if value is None:
            return queryset
        mapped = Q(device__isnull=False) | Q(virtual_machine__isnull=False)
        return queryset.filter(mapped) if value else queryset.exclude(mapped)
