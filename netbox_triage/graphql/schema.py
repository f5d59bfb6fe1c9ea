import strawberry
import strawberry_django

from .types import *


@strawberry.type(name='Query')
class TriageQuery:
    incident: IncidentType = strawberry_django.field()
    incident_list: list[IncidentType] = strawberry_django.field()

    incident_object: IncidentObjectType = strawberry_django.field()
    incident_object_list: list[IncidentObjectType] = strawberry_django.field()

    business_impact: BusinessImpactType = strawberry_django.field()
    business_impact_list: list[BusinessImpactType] = strawberry_django.field()

    timeline_entry: TimelineEntryType = strawberry_django.field()
    timeline_entry_list: list[TimelineEntryType] = strawberry_django.field()

    discovery: DiscoveryType = strawberry_django.field()
    discovery_list: list[DiscoveryType] = strawberry_django.field()

    dependency: DependencyType = strawberry_django.field()
    dependency_list: list[DependencyType] = strawberry_django.field()

    monitoring_coverage: MonitoringCoverageType = strawberry_django.field()
    monitoring_coverage_list: list[MonitoringCoverageType] = strawberry_django.field()

    monit_agent: MonitAgentType = strawberry_django.field()
    monit_agent_list: list[MonitAgentType] = strawberry_django.field()

    host_facts: HostFactsType = strawberry_django.field()
    host_facts_list: list[HostFactsType] = strawberry_django.field()


schema = [TriageQuery]
