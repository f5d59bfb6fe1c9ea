from typing import Annotated

import strawberry
import strawberry_django
from strawberry.scalars import ID
from strawberry_django import DatetimeFilterLookup, StrFilterLookup

from netbox.graphql.filters import NetBoxModelFilter, PrimaryModelFilter, register_filter
from tenancy.graphql.filter_mixins import TenancyFilterMixin

from .. import models

__all__ = (
    'BusinessImpactFilter',
    'MonitoringCoverageFilter',
    'DependencyFilter',
    'DiscoveryFilter',
    'HostFactsFilter',
    'IncidentFilter',
    'IncidentObjectFilter',
    'MonitAgentFilter',
    'TimelineEntryFilter',
)


@register_filter(models.Incident, lookups=True)
class IncidentFilter(TenancyFilterMixin, PrimaryModelFilter):
    title: StrFilterLookup | None = strawberry_django.filter_field()
    status: StrFilterLookup | None = strawberry_django.filter_field()
    severity: StrFilterLookup | None = strawberry_django.filter_field()
    started_at: DatetimeFilterLookup | None = strawberry_django.filter_field()
    detected_at: DatetimeFilterLookup | None = strawberry_django.filter_field()
    resolved_at: DatetimeFilterLookup | None = strawberry_django.filter_field()
    summary: StrFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.IncidentObject, lookups=True)
class IncidentObjectFilter(NetBoxModelFilter):
    incident: Annotated['IncidentFilter', strawberry.lazy('netbox_triage.graphql.filters')] | None = (
        strawberry_django.filter_field()
    )
    incident_id: ID | None = strawberry_django.filter_field()
    object_type_id: ID | None = strawberry_django.filter_field()
    object_id: ID | None = strawberry_django.filter_field()
    note: StrFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.BusinessImpact, lookups=True)
class BusinessImpactFilter(PrimaryModelFilter):
    incident: Annotated['IncidentFilter', strawberry.lazy('netbox_triage.graphql.filters')] | None = (
        strawberry_django.filter_field()
    )
    incident_id: ID | None = strawberry_django.filter_field()
    effective_from: DatetimeFilterLookup | None = strawberry_django.filter_field()
    currency: StrFilterLookup | None = strawberry_django.filter_field()
    basis: StrFilterLookup | None = strawberry_django.filter_field()
    note: StrFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.TimelineEntry, lookups=True)
class TimelineEntryFilter(PrimaryModelFilter):
    incident: Annotated['IncidentFilter', strawberry.lazy('netbox_triage.graphql.filters')] | None = (
        strawberry_django.filter_field()
    )
    incident_id: ID | None = strawberry_django.filter_field()
    timestamp: DatetimeFilterLookup | None = strawberry_django.filter_field()
    kind: StrFilterLookup | None = strawberry_django.filter_field()
    text: StrFilterLookup | None = strawberry_django.filter_field()
    object_type_id: ID | None = strawberry_django.filter_field()
    object_id: ID | None = strawberry_django.filter_field()


@register_filter(models.HostFacts, lookups=True)
class HostFactsFilter(NetBoxModelFilter):
    device_id: ID | None = strawberry_django.filter_field()
    virtual_machine_id: ID | None = strawberry_django.filter_field()
    status: StrFilterLookup | None = strawberry_django.filter_field()
    os_family: StrFilterLookup | None = strawberry_django.filter_field()
    os_name: StrFilterLookup | None = strawberry_django.filter_field()
    os_version: StrFilterLookup | None = strawberry_django.filter_field()
    kernel: StrFilterLookup | None = strawberry_django.filter_field()
    virtualization: StrFilterLookup | None = strawberry_django.filter_field()
    probed_at: DatetimeFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.Discovery, lookups=True)
class DiscoveryFilter(PrimaryModelFilter):
    rule: StrFilterLookup | None = strawberry_django.filter_field()
    severity: StrFilterLookup | None = strawberry_django.filter_field()
    status: StrFilterLookup | None = strawberry_django.filter_field()
    title: StrFilterLookup | None = strawberry_django.filter_field()
    evidence_text: StrFilterLookup | None = strawberry_django.filter_field()
    object_type_id: ID | None = strawberry_django.filter_field()
    object_id: ID | None = strawberry_django.filter_field()
    incident_id: ID | None = strawberry_django.filter_field()
    first_seen: DatetimeFilterLookup | None = strawberry_django.filter_field()
    last_seen: DatetimeFilterLookup | None = strawberry_django.filter_field()
    resolved_at: DatetimeFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.Dependency, lookups=True)
class DependencyFilter(PrimaryModelFilter):
    source_type_id: ID | None = strawberry_django.filter_field()
    source_id: ID | None = strawberry_django.filter_field()
    target_type_id: ID | None = strawberry_django.filter_field()
    target_id: ID | None = strawberry_django.filter_field()
    kind: StrFilterLookup | None = strawberry_django.filter_field()
    origin: StrFilterLookup | None = strawberry_django.filter_field()
    status: StrFilterLookup | None = strawberry_django.filter_field()
    label: StrFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.MonitoringCoverage, lookups=True)
class MonitoringCoverageFilter(PrimaryModelFilter):
    device_id: ID | None = strawberry_django.filter_field()
    virtual_machine_id: ID | None = strawberry_django.filter_field()
    system: StrFilterLookup | None = strawberry_django.filter_field()
    state: StrFilterLookup | None = strawberry_django.filter_field()
    last_report: DatetimeFilterLookup | None = strawberry_django.filter_field()


@register_filter(models.MonitAgent, lookups=True)
class MonitAgentFilter(NetBoxModelFilter):
    monit_id: StrFilterLookup | None = strawberry_django.filter_field()
    hostname: StrFilterLookup | None = strawberry_django.filter_field()
    version: StrFilterLookup | None = strawberry_django.filter_field()
    device_id: ID | None = strawberry_django.filter_field()
    virtual_machine_id: ID | None = strawberry_django.filter_field()
    match_note: StrFilterLookup | None = strawberry_django.filter_field()
    first_seen: DatetimeFilterLookup | None = strawberry_django.filter_field()
    last_seen: DatetimeFilterLookup | None = strawberry_django.filter_field()
