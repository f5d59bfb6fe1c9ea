from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django

from netbox.graphql.types import NetBoxObjectType, PrimaryObjectType, register_type

from .. import models
from .filters import *

if TYPE_CHECKING:
    from dcim.graphql.types import DeviceType
    from netbox.graphql.types import ContentTypeType
    from tenancy.graphql.types import TenantType
    from users.graphql.types import UserType
    from virtualization.graphql.types import VirtualMachineType

__all__ = (
    'BusinessImpactType',
    'MonitoringCoverageType',
    'DependencyType',
    'DiscoveryType',
    'HostFactsType',
    'IncidentObjectType',
    'IncidentType',
    'MonitAgentType',
    'TimelineEntryType',
)


# What the loss figures read (Incident.loss_summary()), so the optimizer neither defers nor re-queries it.
LOSS_FIGURE_HINTS = {'prefetch_related': ['impacts'], 'only': ['started_at', 'resolved_at']}


@register_type(models.Incident, fields='__all__', filters=IncidentFilter, pagination=True)
class IncidentType(PrimaryObjectType):
    tenant: Annotated['TenantType', strawberry.lazy('tenancy.graphql.types')] | None
    impacts: list[Annotated['BusinessImpactType', strawberry.lazy('netbox_triage.graphql.types')]]
    timeline: list[Annotated['TimelineEntryType', strawberry.lazy('netbox_triage.graphql.types')]]
    affected_objects: list[Annotated['IncidentObjectType', strawberry.lazy('netbox_triage.graphql.types')]]

    @strawberry_django.field(**LOSS_FIGURE_HINTS)
    def currency(self) -> str | None:
        return self.currency

    @strawberry_django.field(**LOSS_FIGURE_HINTS)
    def current_loss_rate(self) -> Decimal | None:
        return self.current_loss_rate

    @strawberry_django.field(**LOSS_FIGURE_HINTS)
    def total_lost(self) -> Decimal | None:
        return self.total_lost

    @strawberry_django.field(**LOSS_FIGURE_HINTS)
    def saved_by_mitigations(self) -> Decimal | None:
        return self.saved_by_mitigations


@register_type(models.IncidentObject, fields='__all__', filters=IncidentObjectFilter, pagination=True)
class IncidentObjectType(NetBoxObjectType):
    incident: Annotated['IncidentType', strawberry.lazy('netbox_triage.graphql.types')]
    object_type: Annotated['ContentTypeType', strawberry.lazy('netbox.graphql.types')]


@register_type(models.BusinessImpact, fields='__all__', filters=BusinessImpactFilter, pagination=True)
class BusinessImpactType(PrimaryObjectType):
    incident: Annotated['IncidentType', strawberry.lazy('netbox_triage.graphql.types')]


@register_type(models.TimelineEntry, fields='__all__', filters=TimelineEntryFilter, pagination=True)
class TimelineEntryType(PrimaryObjectType):
    incident: Annotated['IncidentType', strawberry.lazy('netbox_triage.graphql.types')]
    object_type: Annotated['ContentTypeType', strawberry.lazy('netbox.graphql.types')] | None
    author: Annotated['UserType', strawberry.lazy('users.graphql.types')] | None


@register_type(models.HostFacts, fields='__all__', filters=HostFactsFilter, pagination=True)
class HostFactsType(NetBoxObjectType):
    device: Annotated['DeviceType', strawberry.lazy('dcim.graphql.types')] | None
    virtual_machine: Annotated['VirtualMachineType', strawberry.lazy('virtualization.graphql.types')] | None


@register_type(models.Discovery, fields='__all__', filters=DiscoveryFilter, pagination=True)
class DiscoveryType(PrimaryObjectType):
    object_type: Annotated['ContentTypeType', strawberry.lazy('netbox.graphql.types')] | None
    incident: Annotated['IncidentType', strawberry.lazy('netbox_triage.graphql.types')] | None


@register_type(models.Dependency, fields='__all__', filters=DependencyFilter, pagination=True)
class DependencyType(PrimaryObjectType):
    source_type: Annotated['ContentTypeType', strawberry.lazy('netbox.graphql.types')]
    target_type: Annotated['ContentTypeType', strawberry.lazy('netbox.graphql.types')]


@register_type(models.MonitoringCoverage, exclude=('check_types',), filters=MonitoringCoverageFilter, pagination=True)
class MonitoringCoverageType(PrimaryObjectType):
    device: Annotated['DeviceType', strawberry.lazy('dcim.graphql.types')] | None
    virtual_machine: Annotated['VirtualMachineType', strawberry.lazy('virtualization.graphql.types')] | None
    check_types: list[str]


@register_type(models.MonitAgent, fields='__all__', filters=MonitAgentFilter, pagination=True)
class MonitAgentType(NetBoxObjectType):
    device: Annotated['DeviceType', strawberry.lazy('dcim.graphql.types')] | None
    virtual_machine: Annotated['VirtualMachineType', strawberry.lazy('virtualization.graphql.types')] | None
