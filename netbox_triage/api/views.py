import json
from types import SimpleNamespace

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import APIRootView
from rest_framework.views import APIView

from dcim.models import Device
from netbox.api.authentication import TokenPermissions
from netbox.api.renderers import TextRenderer
from netbox.api.viewsets import NetBoxModelViewSet, NetBoxReadOnlyModelViewSet
from virtualization.models import VirtualMachine

from .. import filtersets
from ..connections import Scope
from ..exporters.hosts import HostFilterError, host_querysets
from ..exporters.monit import render_monit_bundle
from ..exporters.ssh_config import render_ssh_config
from ..jobs import enqueue_probe
from ..models import *
from ..probing.access import PROBE_REFUSED, may_probe, probe_selection
from . import serializers


class TriageRootView(APIRootView):
    """netbox-triage API root"""

    def get_view_name(self):
        return 'Triage'


class MarkdownRenderer(BaseRenderer):
    media_type = 'text/markdown'
    format = 'md'
    charset = 'utf-8'

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode() if isinstance(data, str) else json.dumps(data).encode()


class PDFRenderer(BaseRenderer):
    media_type = 'application/pdf'
    format = 'pdf'
    charset = None
    render_style = 'binary'

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class IncidentViewSet(NetBoxModelViewSet):
    queryset = Incident.objects.prefetch_related(
        Prefetch('impacts', queryset=BusinessImpact.objects.order_by('effective_from', 'pk')),
    )
    serializer_class = serializers.IncidentSerializer
    filterset_class = filtersets.IncidentFilterSet

    @extend_schema(responses={(200, 'text/markdown'): OpenApiTypes.STR, (200, 'application/pdf'): OpenApiTypes.BINARY})
    @action(detail=True, methods=['get'], url_path='postmortem',
            renderer_classes=[MarkdownRenderer, PDFRenderer, JSONRenderer])
    def postmortem(self, request, pk=None):
        """The post-mortem: Markdown (`?format=md` or `Accept: text/markdown`) or PDF (`?format=pdf`)."""
        from ..postmortem import PostmortemError, render_pdf, render_postmortem

        incident = self.get_object()
        postmortem = render_postmortem(incident, user=request.user)
        if request.accepted_renderer.format == 'pdf':
            try:
                return Response(render_pdf(postmortem))
            except PostmortemError as exc:
                return Response({'detail': str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if request.accepted_renderer.format == 'json':
            return Response({'markdown': postmortem.markdown})
        return Response(postmortem.markdown)


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


class DiscoveryViewSet(NetBoxModelViewSet):
    queryset = Discovery.objects.select_related('incident').prefetch_related('object')
    serializer_class = serializers.DiscoverySerializer
    filterset_class = filtersets.DiscoveryFilterSet


class DependencyViewSet(NetBoxModelViewSet):
    queryset = Dependency.objects.prefetch_related('source', 'target')
    serializer_class = serializers.DependencySerializer
    filterset_class = filtersets.DependencyFilterSet


class MonitoringCoverageViewSet(NetBoxModelViewSet):
    queryset = MonitoringCoverage.objects.select_related('device', 'virtual_machine')
    serializer_class = serializers.MonitoringCoverageSerializer
    filterset_class = filtersets.MonitoringCoverageFilterSet


class MonitAgentViewSet(NetBoxModelViewSet):
    queryset = MonitAgent.objects.select_related('device', 'virtual_machine')
    serializer_class = serializers.MonitAgentSerializer
    filterset_class = filtersets.MonitAgentFilterSet
    http_method_names = ['get', 'patch', 'put', 'delete', 'head', 'options']  # agents come from the collector


class HostFactsViewSet(NetBoxReadOnlyModelViewSet):
    queryset = HostFacts.objects.select_related('device', 'virtual_machine')
    serializer_class = serializers.HostFactsSerializer
    filterset_class = filtersets.HostFactsFilterSet


def _filtered(host_type, params, user, request):
    """One kind of host matching `params` through the exports' shared filtering (unknown filters refused)."""
    if not params:
        return []
    devices, vms = host_querysets({**params, 'host_type': host_type}, user=user, request=request)
    return list(devices if host_type == 'device' else vms)


class ProbeView(APIView):
    """POST: enqueue probe jobs for devices/VMs (by ID or by filter). Answers 202 with the jobs and the hosts
    skipped because the user may view but not change them (probing writes to them); 403 when none is left."""

    # NetBox's token permissions map POST to `add` on this queryset's model (netbox_triage.add_hostfacts, and a
    # write-enabled token); post() adds change_hostfacts and change on each host (probing.access).
    queryset = HostFacts.objects.all()

    def get_view_name(self):
        return 'Probe'

    def post(self, request):
        if not may_probe(request.user):
            return Response({'detail': PROBE_REFUSED}, status=status.HTTP_403_FORBIDDEN)
        serializer = serializers.ProbeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        devices = Device.objects.restrict(request.user, 'view')
        vms = VirtualMachine.objects.restrict(request.user, 'view')
        hosts = list(devices.filter(pk__in=data['devices'])) + list(vms.filter(pk__in=data['virtual_machines']))
        try:
            hosts += _filtered('device', data['device_filter'], request.user, request)
            hosts += _filtered('virtualmachine', data['virtual_machine_filter'], request.user, request)
        except HostFilterError as exc:
            return Response({'detail': str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        hosts = list({(host._meta.label_lower, host.pk): host for host in hosts}.values())
        if not hosts:
            return Response({'detail': 'No device or virtual machine matches.'}, status=status.HTTP_400_BAD_REQUEST)
        selection = probe_selection(hosts, request.user)
        skipped = [
            {'object_type': host._meta.label_lower, 'id': host.pk, 'name': host.name, 'reason': reason}
            for host, reason in selection.skipped
        ]
        if not selection.hosts:
            return Response({'detail': 'You may not change any of the matching hosts.', 'skipped': skipped},
                            status=status.HTTP_403_FORBIDDEN)
        jobs = enqueue_probe(selection.hosts, user=request.user)
        return Response({
            'hosts': len(selection.hosts),
            'skipped': skipped,
            'scope': Scope.from_settings().describe(),  # targets outside it end as out_of_scope
            'jobs': [{'id': job.pk, 'job_id': str(job.job_id), 'url': f'/api/core/jobs/{job.pk}/'} for job in jobs],
        }, status=status.HTTP_202_ACCEPTED)


class ViewHostsPermission(TokenPermissions):
    """NetBox's token permissions, satisfied by view permission on devices or on virtual machines.

    Each queryset is then restricted to the objects the user may view, so a user who sees only
    VMs gets an export of those VMs rather than a 403.
    """

    def has_permission(self, request, view):
        for model in (Device, VirtualMachine):
            if super().has_permission(request, SimpleNamespace(queryset=model.objects.all())):
                return True
        return False


class SSHConfigRenderer(TextRenderer):
    """text/plain: the ssh_config itself; anything else (an error) as JSON text."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else json.dumps(data)


class SSHConfigExportView(APIView):
    """GET: an ~/.ssh/config (text/plain) for the devices/VMs the user may view; `?format=json` adds hosts/skipped.

    Filters are the device and VM list filters (`site`, `role`, `tenant`, `tag`, `cluster_id`,
    `status`, …), plus `host_type` and `prefer`; see docs/exports.md.
    """

    # For NetBox's token machinery and the schema; ViewHostsPermission also accepts VM view permission.
    queryset = Device.objects.all()
    permission_classes = [ViewHostsPermission]
    renderer_classes = [SSHConfigRenderer, JSONRenderer]

    def get_view_name(self):
        return 'SSH config export'

    @extend_schema(
        parameters=[
            OpenApiParameter('host_type', str, enum=['device', 'virtualmachine'], many=True,
                             description='only devices or only virtual machines'),
            OpenApiParameter('prefer', str, enum=['ipv4', 'ipv6'],
                             description='primary IP used as HostName when a host has both'),
        ],
        responses={(200, 'text/plain'): OpenApiTypes.STR, (200, 'application/json'): OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            devices, virtual_machines = host_querysets(request.query_params, user=request.user, request=request)
            export = render_ssh_config(devices, virtual_machines, prefer=request.query_params.get('prefer'))
        except ValueError as exc:
            return Response({'detail': str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        headers = {'X-Triage-Skipped-Hosts': str(len(export.skipped))}
        if request.accepted_renderer.format == 'json':
            return Response(export.as_dict(), headers=headers)
        return Response(export.text, headers=headers)


class TarGzRenderer(BaseRenderer):
    """application/gzip: the bundle's bytes; an error (a dict) as JSON bytes."""

    media_type = 'application/gzip'
    format = 'tar.gz'
    charset = None
    render_style = 'binary'

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class MonitExportView(APIView):
    """GET: an installable Monit bundle (tar.gz) for the devices/VMs the user may view; `?format=json` lists the
    hosts, their remote checks and what was left out instead.

    Filters are the device and VM list filters plus `host_type` and `prefix` (install directory on the hosts).
    """

    queryset = Device.objects.all()
    permission_classes = [ViewHostsPermission]
    renderer_classes = [TarGzRenderer, JSONRenderer]

    def get_view_name(self):
        return 'Monit bundle export'

    @extend_schema(
        parameters=[
            OpenApiParameter('host_type', str, enum=['device', 'virtualmachine'], many=True,
                             description='only devices or only virtual machines'),
            OpenApiParameter('prefix', str, description='install directory on the hosts (default /etc/monit)'),
        ],
        responses={(200, 'application/gzip'): OpenApiTypes.BINARY, (200, 'application/json'): OpenApiTypes.OBJECT},
    )
    def get(self, request):
        try:
            devices, virtual_machines = host_querysets(request.query_params, user=request.user, request=request)
            bundle = render_monit_bundle(devices, virtual_machines, prefix=request.query_params.get('prefix') or None,
                                         user=request.user)
        except ValueError as exc:
            return Response({'detail': str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        headers = {'X-Triage-Skipped-Hosts': str(len(bundle.skipped))}
        if request.accepted_renderer.format == 'json':
            return Response(bundle.as_dict(), headers=headers)
        headers['Content-Disposition'] = 'attachment; filename="monit-bundle.tar.gz"'
        return Response(bundle.tarball(), headers=headers)


class TopologyRenderer(BaseRenderer):
    """image/png, image/svg+xml or text/x-python: one part of the latest render (bytes from the view)."""

    media_type = '*/*'
    format = 'file'
    charset = None
    render_style = 'binary'

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class RenderPermission(ViewHostsPermission):
    """Rendering a topology reads NetBox, so POST needs view permission (and a write-enabled token)."""

    perms_map = {**ViewHostsPermission.perms_map, 'POST': ['%(app_label)s.view_%(model_name)s']}


class TopologyView(APIView):
    """The topology of a site, cluster or incident (`object_type=dcim.site|virtualization.cluster|
    netbox_triage.incident`, `object_id`).

    GET: the summary of the newest render the user may view in full (none that shows an object they may not
    view), or one part's file with `download=png|svg|py` (`part`, from 1).
    POST: render it again in a background job, as the user (`group_by=cluster|role|tag`); 202 with the job.
    """

    queryset = Device.objects.all()
    permission_classes = [RenderPermission]
    renderer_classes = [JSONRenderer, TopologyRenderer]

    def get_view_name(self):
        return 'Topology'

    def _object(self, request, data):
        from django.apps import apps

        from ..jobs import TOPOLOGY_MODELS

        object_type, object_id = data.get('object_type', ''), str(data.get('object_id', ''))
        if object_type not in TOPOLOGY_MODELS or not object_id.isdigit():
            return None, Response({'detail': f'object_type must be one of {", ".join(sorted(TOPOLOGY_MODELS))} '
                                             f'and object_id a number'}, status=status.HTTP_400_BAD_REQUEST)
        obj = apps.get_model(object_type).objects.restrict(request.user, 'view').filter(pk=int(object_id)).first()
        if obj is None:
            return None, Response({'detail': 'no such object'}, status=status.HTTP_404_NOT_FOUND)
        return obj, None

    @extend_schema(
        parameters=[
            OpenApiParameter('object_type', str,
                             enum=['dcim.site', 'virtualization.cluster', 'netbox_triage.incident']),
            OpenApiParameter('object_id', int),
            OpenApiParameter('download', str, enum=['png', 'svg', 'py']),
            OpenApiParameter('part', int),
        ],
        responses={(200, 'application/json'): OpenApiTypes.OBJECT, (200, '*/*'): OpenApiTypes.BINARY},
    )
    def get(self, request):
        import base64

        from ..jobs import latest_topology

        obj, error = self._object(request, request.query_params)
        if error:
            return error
        pending, job = latest_topology(obj, request.user)
        parts = (job.data or {}).get('parts', []) if job else []
        download = request.query_params.get('download')
        if download:
            part = request.query_params.get('part', '1')
            if download not in ('png', 'svg', 'py') or not part.isdigit() or not 0 < int(part) <= len(parts):
                return Response({'detail': 'nothing to download: no diagram you may see yet (POST to render one), '
                                           'or check download/part'},
                                status=status.HTTP_404_NOT_FOUND)
            item = parts[int(part) - 1]
            body = {'png': lambda: base64.b64decode(item['png']) if item['png'] else None,
                    'svg': lambda: item['svg'].encode() if item['svg'] else None,
                    'py': lambda: item['source'].encode()}[download]()
            if body is None:
                return Response({'detail': item.get('message') or 'no picture'}, status=status.HTTP_404_NOT_FOUND)
            content_type = {'png': 'image/png', 'svg': 'image/svg+xml', 'py': 'text/x-python'}[download]
            request.accepted_renderer = TopologyRenderer()
            return Response(body, content_type=content_type)
        return Response({
            'object_type': obj._meta.label_lower, 'object_id': obj.pk,
            'pending_job': pending.pk if pending else None,
            'job': job.pk if job else None,
            'rendered': job.completed if job else None,
            'group_by': (job.data or {}).get('group_by') if job else None,
            'messages': (job.data or {}).get('messages', []) if job else [
                'No diagram you may see yet: POST here to render one.'],
            'parts': [{'part': index, 'title': p['title'], 'nodes': p['nodes'], 'edges': p['edges'],
                       'ok': bool(p.get('svg')), 'message': p.get('message', ''), 'seconds': p.get('seconds')}
                      for index, p in enumerate(parts, start=1)],
        })

    def post(self, request):
        from ..exporters.topology import GROUP_BY
        from ..jobs import enqueue_topology

        obj, error = self._object(request, request.data)
        if error:
            return error
        group_by = request.data.get('group_by', 'cluster')
        if group_by not in GROUP_BY:
            return Response({'detail': f'group_by must be one of {", ".join(GROUP_BY)}'},
                            status=status.HTTP_400_BAD_REQUEST)
        job = enqueue_topology(obj, user=request.user, group_by=group_by)
        return Response({'job': job.pk, 'job_id': str(job.job_id), 'status': job.status},
                        status=status.HTTP_202_ACCEPTED)
