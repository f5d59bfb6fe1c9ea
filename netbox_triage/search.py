from netbox.search import SearchIndex

from . import models


class IncidentIndex(SearchIndex):
    model = models.Incident
    fields = (
        ('title', 100),
        ('description', 500),
        ('summary', 5000),
        ('comments', 5000),
    )
    display_attrs = ('status', 'severity', 'started_at', 'tenant', 'description')


class TimelineEntryIndex(SearchIndex):
    model = models.TimelineEntry
    fields = (
        ('text', 5000),
        ('description', 500),
    )
    display_attrs = ('incident', 'kind', 'timestamp')


class BusinessImpactIndex(SearchIndex):
    model = models.BusinessImpact
    fields = (
        ('note', 500),
        ('description', 500),
    )
    display_attrs = ('incident', 'loss_per_day', 'currency', 'effective_from')


class DiscoveryIndex(SearchIndex):
    model = models.Discovery
    fields = (
        ('title', 100),
        ('rule', 300),
        ('evidence_text', 5000),
        ('description', 500),
    )
    display_attrs = ('severity', 'status', 'object', 'last_seen')


class DependencyIndex(SearchIndex):
    model = models.Dependency
    fields = (
        ('label', 300),
        ('description', 500),
    )
    display_attrs = ('source', 'kind', 'target', 'port')


class MonitoringCoverageIndex(SearchIndex):
    model = models.MonitoringCoverage
    fields = (
        ('reported_hostname', 300),
        ('description', 500),
    )
    display_attrs = ('system', 'state', 'last_report')


indexes = [IncidentIndex, TimelineEntryIndex, BusinessImpactIndex, DiscoveryIndex, DependencyIndex,
           MonitoringCoverageIndex]
