from django.db.models import Prefetch
from rest_framework.routers import APIRootView

from netbox.api.viewsets import NetBoxModelViewSet

from .. import filtersets
from ..models import *
from . import serializers


class TriageRootView(APIRootView):
    """netbox-triage API root"""

    def get_view_name(self):
        return 'Triage'


class IncidentViewSet(NetBoxModelViewSet):
    queryset = Incident.objects.prefetch_related(
        Prefetch('impacts', queryset=BusinessImpact.objects.order_by('effective_from', 'pk')),
    )
    serializer_class = serializers.IncidentSerializer
    filterset_class = filtersets.IncidentFilterSet


class IncidentObjectViewSet(NetBoxModelViewSet):
    queryset = IncidentObject.objects.prefetch_related('object')
    serializer_class = serializers.IncidentObjectSerializer
    filterset_class = filtersets.IncidentObjectFilterSet


class BusinessImpactViewSet(NetBoxModelViewSet):
    queryset = BusinessImpact.objects.all()
    serializer_class = serializers.BusinessImpactSerializer
    filterset_class = filtersets.BusinessImpactFilterSet


class TimelineEntryViewSet(NetBoxModelViewSet):
    queryset = TimelineEntry.objects.prefetch_related('object')
    serializer_class = serializers.TimelineEntrySerializer
    filterset_class = filtersets.TimelineEntryFilterSet
