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


indexes = [IncidentIndex, TimelineEntryIndex, BusinessImpactIndex]
