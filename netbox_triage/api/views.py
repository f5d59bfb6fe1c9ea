from django.db.models import Prefetch
from django.http import QueryDict
from rest_framework import status
from rest_framework.response import Response
from rest_framework.routers import APIRootView
from rest_framework.views import APIView

from dcim.filtersets import DeviceFilterSet
from dcim.models import Device
from netbox.api.viewsets import NetBoxModelViewSet, NetBoxReadOnlyModelViewSet
from virtualization.filtersets import VirtualMachineFilterSet
from virtualization.models import VirtualMachine

from .. import filtersets
from ..jobs import enqueue_probe
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


class HostFactsViewSet(NetBoxReadOnlyModelViewSet):
    queryset = HostFacts.objects.select_related('device', 'virtual_machine')
    serializer_class = serializers.HostFactsSerializer
    filterset_class = filtersets.HostFactsFilterSet


def _filtered(filterset, queryset, params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return filterset(query, queryset).qs if params else queryset.none()


class ProbeView(APIView):
    """POST: enqueue probe jobs for devices/VMs (by ID or by filter). Answers 202 with the jobs."""

    # NetBox's token permissions map POST to `add` on this queryset's model: netbox_triage.add_hostfacts.
    queryset = HostFacts.objects.all()

    def get_view_name(self):
        return 'Probe'

    def post(self, request):
        if not request.user.has_perm('netbox_triage.add_hostfacts'):
            return Response({'detail': 'You may not probe hosts (netbox_triage.add_hostfacts).'},
                            status=status.HTTP_403_FORBIDDEN)
        serializer = serializers.ProbeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        devices = Device.objects.restrict(request.user, 'view')
        vms = VirtualMachine.objects.restrict(request.user, 'view')
        hosts = list(devices.filter(pk__in=data['devices'])) + list(vms.filter(pk__in=data['virtual_machines']))
        hosts += list(_filtered(DeviceFilterSet, devices, data['device_filter']))
        hosts += list(_filtered(VirtualMachineFilterSet, vms, data['virtual_machine_filter']))
        hosts = list({(host._meta.label_lower, host.pk): host for host in hosts}.values())
        if not hosts:
            return Response({'detail': 'No device or virtual machine matches.'}, status=status.HTTP_400_BAD_REQUEST)
        jobs = enqueue_probe(hosts, user=request.user)
        return Response({
            'hosts': len(hosts),
            'jobs': [{'id': job.pk, 'job_id': str(job.job_id), 'url': f'/api/core/jobs/{job.pk}/'} for job in jobs],
        }, status=status.HTTP_202_ACCEPTED)
