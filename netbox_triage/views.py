from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views import View

from core.signals import clear_events
from dcim.filtersets import DeviceFilterSet
from dcim.forms import DeviceFilterForm
from dcim.models import Device
from dcim.tables import DeviceTable
from extras.ui.panels import CustomFieldsPanel, TagsPanel
from netbox.object_actions import BulkDelete, BulkExport
from netbox.ui import actions, layout
from netbox.ui.panels import CommentsPanel, JSONPanel, ObjectsTablePanel
from netbox.views import generic
from utilities.exceptions import PermissionsViolation
from utilities.forms import restrict_form_fields
from utilities.views import register_model_view
from virtualization.filtersets import VirtualMachineFilterSet
from virtualization.forms import VirtualMachineFilterForm
from virtualization.models import VirtualMachine
from virtualization.tables import VirtualMachineTable

from . import filtersets, forms, tables
from .choices import MonitoringStateChoices, TimelineKindChoices
from .exporters.hosts import host_querysets
from .exporters.monit import render_monit_bundle
from .exporters.ssh_config import render_ssh_config
from .impact import MixedCurrenciesError
from .jobs import TOPOLOGY_MODELS, enqueue_probe, enqueue_rules, enqueue_topology, latest_topology
from .models import *
from .models.discoveries import SEVERITY_ORDER
from .postmortem import PostmortemError, loss_chart_for, render_pdf, render_postmortem
from .probing.access import PROBE_REFUSED, may_probe, probe_selection
from .quick_add import missing_permissions, quick_add_hosts
from .ui import panels

# How many timeline entries the incident page shows before linking to the full list.
TIMELINE_PAGE_SIZE = 100
DISCOVERY_PAGE_SIZE = 20


AFFECTED_HOSTS_SHOWN = 100


def affected_hosts(incident, user):
    """The incident's devices and VMs (directly, through a cluster or a service) with their probe status, worst
    open discovery and best monitoring state: the workspace's "how sane are the hosts we are fighting for"."""
    from .collector.summary import host_state
    from .exporters.topology import incident_hosts
    from .rules.base import max_severity

    def _can_view(user, model):
        return user.has_perm(f'{model._meta.app_label}.view_{model._meta.model_name}')

    devices, vms = incident_hosts(incident)
    rows = []
    for queryset, kind in ((devices, 'device'), (vms, 'virtualmachine')):
        queryset = queryset.restrict(user, 'view').order_by('name')
        rows += [(kind, host) for host in queryset[:AFFECTED_HOSTS_SHOWN]]
    rows = rows[:AFFECTED_HOSTS_SHOWN]
    keys = [f'{host._meta.label_lower}:{host.pk}' for _kind, host in rows]
    severities, coverage, facts_of = {}, {}, {}
    if _can_view(user, HostFacts):  # the probe's status and OS: only the facts the user may view
        for facts in HostFacts.objects.restrict(user, 'view').filter(
                Q(device__in=[h.pk for k, h in rows if k == 'device'])
                | Q(virtual_machine__in=[h.pk for k, h in rows if k == 'virtualmachine'])
        ).only('device_id', 'virtual_machine_id', 'status', 'os_pretty_name'):
            facts_of[f'dcim.device:{facts.device_id}' if facts.device_id
                     else f'virtualization.virtualmachine:{facts.virtual_machine_id}'] = facts
    if _can_view(user, Discovery):
        for key, severity in Discovery.objects.restrict(user, 'view').active().filter(
                subject_key__in=keys).values_list('subject_key', 'severity'):
            severities.setdefault(key, []).append(severity)
    if _can_view(user, MonitoringCoverage):
        for device_id, vm_id, state in MonitoringCoverage.objects.restrict(user, 'view').filter(
                Q(device__in=[h.pk for k, h in rows if k == 'device'])
                | Q(virtual_machine__in=[h.pk for k, h in rows if k == 'virtualmachine'])
        ).values_list('device_id', 'virtual_machine_id', 'state'):
            key = f'dcim.device:{device_id}' if device_id else f'virtualization.virtualmachine:{vm_id}'
            coverage.setdefault(key, []).append(state)
    result = []
    for (kind, host), key in zip(rows, keys):
        found = severities.get(key, [])
        result.append({
            'host': host, 'facts': facts_of.get(key), 'facts_shown': _can_view(user, HostFacts),
            'discoveries': len(found),
            'worst': max_severity(found) if found else None,
            'monitoring': host_state(coverage.get(key, [])) if _can_view(user, MonitoringCoverage) else None,
        })
    return result


def incidents_with_figures():
    """Incidents with what list/detail pages need to compute loss figures without per-row queries."""
    return Incident.objects.select_related('tenant').prefetch_related(
        Prefetch('impacts', queryset=BusinessImpact.objects.order_by('effective_from', 'pk')),
        'tags',
    ).annotate(affected_count=Count('affected_objects', distinct=True))


#
# Incidents
#

@register_model_view(Incident, 'list', path='', detail=False)
class IncidentListView(generic.ObjectListView):
    queryset = incidents_with_figures()
    filterset = filtersets.IncidentFilterSet
    filterset_form = forms.IncidentFilterForm
    table = tables.IncidentTable


@register_model_view(Incident)
class IncidentView(generic.ObjectView):
    queryset = incidents_with_figures()
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[
            panels.IncidentPanel(),
            panels.LossPanel(),
            CommentsPanel(field_name='summary', title=_('Summary')),
        ],
        right_panels=[
            ObjectsTablePanel(
                'netbox_triage.incidentobject',
                filters={'incident_id': lambda ctx: ctx['object'].pk},
                exclude_columns=['incident'],
                title=_('Affected objects'),
                actions=[
                    actions.AddObject(
                        'netbox_triage.incidentobject',
                        url_params={'incident': lambda ctx: ctx['object'].pk},
                        label=_('Add an affected object'),
                    ),
                ],
            ),
            ObjectsTablePanel(
                'netbox_triage.businessimpact',
                filters={'incident_id': lambda ctx: ctx['object'].pk},
                exclude_columns=['incident'],
                title=_('Loss rates'),
                actions=[
                    actions.AddObject(
                        'netbox_triage.businessimpact',
                        url_params={'incident': lambda ctx: ctx['object'].pk},
                        label=_('Add a loss rate'),
                    ),
                ],
            ),
            TagsPanel(),
            CustomFieldsPanel(),
            CommentsPanel(),
        ],
        bottom_panels=[
            panels.AffectedHostsPanel(),
            panels.IncidentDiscoveriesPanel(),
            panels.TimelinePanel(),
        ],
    )

    def get_extra_context(self, request, instance):
        kind = request.GET.get('kind')
        if kind not in TimelineKindChoices.values():
            kind = None
        entries = (
            TimelineEntry.objects.restrict(request.user, 'view')
            .filter(incident=instance)
            .select_related('author', 'object_type')
            .prefetch_related('object')
            .order_by('-timestamp', '-pk')
        )
        if kind:
            entries = entries.filter(kind=kind)
        entries = list(entries[:TIMELINE_PAGE_SIZE + 1])
        try:
            summary, error = instance.loss_summary(), None
            chart = loss_chart_for(instance) if summary.currency else None
        except MixedCurrenciesError as exc:
            summary, error, chart = None, str(exc), None
        discoveries = Discovery.objects.restrict(request.user, 'view').for_incident(instance).active()
        return {
            'affected_hosts': affected_hosts(instance, request.user),
            'discovery_counts': severity_counts(discoveries),
            'discoveries': list(
                discoveries.select_related('object_type').prefetch_related('object')
                .order_by(SEVERITY_ORDER, '-last_seen')[:DISCOVERY_PAGE_SIZE]
            ),
            'discoveries_url': (reverse('plugins:netbox_triage:discovery_list')
                                + f'?concerns_incident_id={instance.pk}&is_active=true'),
            'loss_summary': summary,
            'loss_chart': chart,
            'loss_error': error,
            'timeline_entries': entries[:TIMELINE_PAGE_SIZE],
            'timeline_more': len(entries) > TIMELINE_PAGE_SIZE,
            'timeline_kind': kind,
            'timeline_kinds': [(value, label) for value, label, *_color in TimelineKindChoices.CHOICES],
            'timeline_now': timezone.now(),
        }


@register_model_view(Incident, 'add', detail=False)
@register_model_view(Incident, 'edit')
class IncidentEditView(generic.ObjectEditView):
    queryset = Incident.objects.all()
    form = forms.IncidentForm


@register_model_view(Incident, 'delete')
class IncidentDeleteView(generic.ObjectDeleteView):
    queryset = Incident.objects.all()


@register_model_view(Incident, 'bulk_import', path='import', detail=False)
class IncidentBulkImportView(generic.BulkImportView):
    queryset = Incident.objects.all()
    model_form = forms.IncidentImportForm


@register_model_view(Incident, 'bulk_edit', path='edit', detail=False)
class IncidentBulkEditView(generic.BulkEditView):
    queryset = incidents_with_figures()
    filterset = filtersets.IncidentFilterSet
    table = tables.IncidentTable
    form = forms.IncidentBulkEditForm


@register_model_view(Incident, 'bulk_delete', path='delete', detail=False)
class IncidentBulkDeleteView(generic.BulkDeleteView):
    queryset = incidents_with_figures()
    filterset = filtersets.IncidentFilterSet
    table = tables.IncidentTable


@register_model_view(Incident, 'postmortem', path='postmortem')
class IncidentPostmortemView(LoginRequiredMixin, View):
    """GET: the incident's post-mortem as Markdown (`?format=md`, default) or PDF (`?format=pdf`), with only what
    the user may view in it."""

    def get(self, request, pk):
        incident = get_object_or_404(incidents_with_figures().restrict(request.user, 'view'), pk=pk)
        postmortem = render_postmortem(incident, user=request.user)
        if request.GET.get('format') == 'pdf':
            try:
                body, content_type, extension = render_pdf(postmortem), 'application/pdf', 'pdf'
            except PostmortemError as exc:
                return HttpResponse(f'{exc}\n', status=503, content_type='text/plain; charset=utf-8')
        else:
            body, content_type, extension = postmortem.markdown, 'text/markdown; charset=utf-8', 'md'
        response = HttpResponse(body, content_type=content_type)
        response['Content-Disposition'] = f'attachment; filename="{postmortem.filename}.{extension}"'
        return response


class IncidentActionView(LoginRequiredMixin, View):
    """POST: the incident workspace's quick actions on the hosts it affects: probe them, or run the rules."""

    def post(self, request, pk):
        from .exporters.topology import incident_hosts

        incident = get_object_or_404(Incident.objects.restrict(request.user, 'view'), pk=pk)
        devices, vms = incident_hosts(incident)
        hosts = [*devices.restrict(request.user, 'view'), *vms.restrict(request.user, 'view')]
        action = request.POST.get('action')
        if not hosts:
            messages.warning(request, _('This incident affects no device or virtual machine you may view.'))
        elif action == 'probe':
            if not may_probe(request.user):
                return HttpResponseForbidden(PROBE_REFUSED)
            _enqueue_probe_of(request, hosts, _('Probe of {count} affected host(s) enqueued in {jobs} job(s).'))
        elif action == 'rules':
            if not request.user.has_perm('netbox_triage.add_discovery'):
                return HttpResponseForbidden('You may not run the rules (netbox_triage.add_discovery).')
            enqueue_rules(hosts, user=request.user, fleet=True)
            messages.success(request, _('Rules enqueued for {count} affected host(s).').format(count=len(hosts)))
        else:
            return HttpResponseBadRequest('action must be probe or rules\n')
        return redirect(incident.get_absolute_url())


#
# Affected objects
#

@register_model_view(IncidentObject, 'list', path='', detail=False)
class IncidentObjectListView(generic.ObjectListView):
    queryset = IncidentObject.objects.select_related('incident', 'object_type').prefetch_related('object', 'tags')
    filterset = filtersets.IncidentObjectFilterSet
    filterset_form = forms.IncidentObjectFilterForm
    table = tables.IncidentObjectTable


@register_model_view(IncidentObject)
class IncidentObjectView(generic.ObjectView):
    queryset = IncidentObject.objects.select_related('incident', 'object_type')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.IncidentObjectPanel()],
        right_panels=[TagsPanel(), CustomFieldsPanel()],
    )


@register_model_view(IncidentObject, 'add', detail=False)
@register_model_view(IncidentObject, 'edit')
class IncidentObjectEditView(generic.ObjectEditView):
    queryset = IncidentObject.objects.all()
    form = forms.IncidentObjectForm


@register_model_view(IncidentObject, 'delete')
class IncidentObjectDeleteView(generic.ObjectDeleteView):
    queryset = IncidentObject.objects.all()


@register_model_view(IncidentObject, 'bulk_import', path='import', detail=False)
class IncidentObjectBulkImportView(generic.BulkImportView):
    queryset = IncidentObject.objects.all()
    model_form = forms.IncidentObjectImportForm


@register_model_view(IncidentObject, 'bulk_delete', path='delete', detail=False)
class IncidentObjectBulkDeleteView(generic.BulkDeleteView):
    queryset = IncidentObject.objects.select_related('incident', 'object_type').prefetch_related('object')
    filterset = filtersets.IncidentObjectFilterSet
    table = tables.IncidentObjectTable


#
# Business impact (loss rates)
#

@register_model_view(BusinessImpact, 'list', path='', detail=False)
class BusinessImpactListView(generic.ObjectListView):
    queryset = BusinessImpact.objects.select_related('incident').prefetch_related('tags')
    filterset = filtersets.BusinessImpactFilterSet
    filterset_form = forms.BusinessImpactFilterForm
    table = tables.BusinessImpactTable


@register_model_view(BusinessImpact)
class BusinessImpactView(generic.ObjectView):
    queryset = BusinessImpact.objects.select_related('incident')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.BusinessImpactPanel()],
        right_panels=[TagsPanel(), CustomFieldsPanel(), CommentsPanel()],
    )


@register_model_view(BusinessImpact, 'add', detail=False)
@register_model_view(BusinessImpact, 'edit')
class BusinessImpactEditView(generic.ObjectEditView):
    queryset = BusinessImpact.objects.all()
    form = forms.BusinessImpactForm


@register_model_view(BusinessImpact, 'delete')
class BusinessImpactDeleteView(generic.ObjectDeleteView):
    queryset = BusinessImpact.objects.all()


@register_model_view(BusinessImpact, 'bulk_import', path='import', detail=False)
class BusinessImpactBulkImportView(generic.BulkImportView):
    queryset = BusinessImpact.objects.all()
    model_form = forms.BusinessImpactImportForm


@register_model_view(BusinessImpact, 'bulk_edit', path='edit', detail=False)
class BusinessImpactBulkEditView(generic.BulkEditView):
    queryset = BusinessImpact.objects.select_related('incident')
    filterset = filtersets.BusinessImpactFilterSet
    table = tables.BusinessImpactTable
    form = forms.BusinessImpactBulkEditForm


@register_model_view(BusinessImpact, 'bulk_delete', path='delete', detail=False)
class BusinessImpactBulkDeleteView(generic.BulkDeleteView):
    queryset = BusinessImpact.objects.select_related('incident')
    filterset = filtersets.BusinessImpactFilterSet
    table = tables.BusinessImpactTable


#
# Timeline entries
#

def timeline_entries():
    return TimelineEntry.objects.select_related('incident', 'author', 'object_type').prefetch_related('object', 'tags')


@register_model_view(TimelineEntry, 'list', path='', detail=False)
class TimelineEntryListView(generic.ObjectListView):
    queryset = timeline_entries()
    filterset = filtersets.TimelineEntryFilterSet
    filterset_form = forms.TimelineEntryFilterForm
    table = tables.TimelineEntryTable


@register_model_view(TimelineEntry)
class TimelineEntryView(generic.ObjectView):
    queryset = timeline_entries()
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.TimelineEntryPanel(), CommentsPanel(field_name='text', title=_('Text'))],
        right_panels=[TagsPanel(), CustomFieldsPanel(), CommentsPanel()],
    )


@register_model_view(TimelineEntry, 'add', detail=False)
@register_model_view(TimelineEntry, 'edit')
class TimelineEntryEditView(generic.ObjectEditView):
    queryset = TimelineEntry.objects.all()
    form = forms.TimelineEntryForm

    def alter_object(self, obj, request, url_args, url_kwargs):
        if not obj.pk and request.user.is_authenticated:
            obj.author = request.user
        return obj


@register_model_view(TimelineEntry, 'delete')
class TimelineEntryDeleteView(generic.ObjectDeleteView):
    queryset = TimelineEntry.objects.all()


@register_model_view(TimelineEntry, 'bulk_import', path='import', detail=False)
class TimelineEntryBulkImportView(generic.BulkImportView):
    queryset = TimelineEntry.objects.all()
    model_form = forms.TimelineEntryImportForm

    def save_object(self, object_form, request):
        # Imported entries are signed by the importer, like entries added by hand or via the API.
        if not object_form.instance.pk and request.user.is_authenticated:
            object_form.instance.author = request.user
        return super().save_object(object_form, request)


@register_model_view(TimelineEntry, 'bulk_edit', path='edit', detail=False)
class TimelineEntryBulkEditView(generic.BulkEditView):
    queryset = timeline_entries()
    filterset = filtersets.TimelineEntryFilterSet
    table = tables.TimelineEntryTable
    form = forms.TimelineEntryBulkEditForm


@register_model_view(TimelineEntry, 'bulk_delete', path='delete', detail=False)
class TimelineEntryBulkDeleteView(generic.BulkDeleteView):
    queryset = timeline_entries()
    filterset = filtersets.TimelineEntryFilterSet
    table = tables.TimelineEntryTable


#
# Discoveries
#

def discoveries_with_objects():
    return Discovery.objects.select_related('incident', 'object_type').prefetch_related('object', 'tags')


@register_model_view(Discovery, 'list', path='', detail=False)
class DiscoveryListView(generic.ObjectListView):
    queryset = discoveries_with_objects()
    filterset = filtersets.DiscoveryFilterSet
    filterset_form = forms.DiscoveryFilterForm
    table = tables.DiscoveryTable


@register_model_view(Discovery)
class DiscoveryView(generic.ObjectView):
    queryset = Discovery.objects.select_related('incident', 'object_type')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.DiscoveryPanel(), panels.EvidencePanel()],
        right_panels=[JSONPanel('evidence', title=_('Evidence (data)')), TagsPanel(), CustomFieldsPanel(),
                      CommentsPanel()],
    )


@register_model_view(Discovery, 'add', detail=False)
@register_model_view(Discovery, 'edit')
class DiscoveryEditView(generic.ObjectEditView):
    queryset = Discovery.objects.all()
    form = forms.DiscoveryForm


@register_model_view(Discovery, 'delete')
class DiscoveryDeleteView(generic.ObjectDeleteView):
    queryset = Discovery.objects.all()


@register_model_view(Discovery, 'bulk_import', path='import', detail=False)
class DiscoveryBulkImportView(generic.BulkImportView):
    queryset = Discovery.objects.all()
    model_form = forms.DiscoveryImportForm


@register_model_view(Discovery, 'bulk_edit', path='edit', detail=False)
class DiscoveryBulkEditView(generic.BulkEditView):
    queryset = discoveries_with_objects()
    filterset = filtersets.DiscoveryFilterSet
    table = tables.DiscoveryTable
    form = forms.DiscoveryBulkEditForm


@register_model_view(Discovery, 'bulk_delete', path='delete', detail=False)
class DiscoveryBulkDeleteView(generic.BulkDeleteView):
    queryset = discoveries_with_objects()
    filterset = filtersets.DiscoveryFilterSet
    table = tables.DiscoveryTable


class RunRulesView(LoginRequiredMixin, View):
    """POST: enqueue a rules job, for every host or for one device/VM ("Run rules" buttons)."""

    models = {'device': Device, 'virtualmachine': VirtualMachine}

    def post(self, request):
        if not request.user.has_perm('netbox_triage.add_discovery'):
            return HttpResponseForbidden('You may not run the rules (netbox_triage.add_discovery).')
        hosts = None
        model = self.models.get(request.POST.get('model', ''))
        if model is not None:
            hosts = list(model.objects.restrict(request.user, 'view').filter(
                pk__in=[pk for pk in request.POST.getlist('pk') if pk.isdigit()]))
            if not hosts:
                messages.warning(request, _('No hosts selected.'))
        if hosts is None or hosts:
            enqueue_rules(hosts, user=request.user, fleet=hosts is None)
            messages.success(request, _('Rules enqueued for {what}.').format(
                what=_('every host') if hosts is None else _('{count} host(s)').format(count=len(hosts))))
        return_url = request.POST.get('return_url') or reverse('plugins:netbox_triage:discovery_list')
        if not url_has_allowed_host_and_scheme(return_url, allowed_hosts={request.get_host()}):
            return_url = reverse('plugins:netbox_triage:discovery_list')
        return redirect(return_url)


#
# Dependencies
#

def dependencies_with_ends():
    return Dependency.objects.select_related('source_type', 'target_type').prefetch_related(
        'source', 'target', 'tags')


@register_model_view(Dependency, 'list', path='', detail=False)
class DependencyListView(generic.ObjectListView):
    queryset = dependencies_with_ends()
    filterset = filtersets.DependencyFilterSet
    filterset_form = forms.DependencyFilterForm
    table = tables.DependencyTable


@register_model_view(Dependency)
class DependencyView(generic.ObjectView):
    queryset = Dependency.objects.select_related('source_type', 'target_type')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.DependencyPanel()],
        right_panels=[TagsPanel(), CustomFieldsPanel(), CommentsPanel()],
    )


@register_model_view(Dependency, 'add', detail=False)
@register_model_view(Dependency, 'edit')
class DependencyEditView(generic.ObjectEditView):
    queryset = Dependency.objects.all()
    form = forms.DependencyForm


@register_model_view(Dependency, 'delete')
class DependencyDeleteView(generic.ObjectDeleteView):
    queryset = Dependency.objects.all()


@register_model_view(Dependency, 'bulk_import', path='import', detail=False)
class DependencyBulkImportView(generic.BulkImportView):
    queryset = Dependency.objects.all()
    model_form = forms.DependencyImportForm


@register_model_view(Dependency, 'bulk_edit', path='edit', detail=False)
class DependencyBulkEditView(generic.BulkEditView):
    queryset = dependencies_with_ends()
    filterset = filtersets.DependencyFilterSet
    table = tables.DependencyTable
    form = forms.DependencyBulkEditForm


@register_model_view(Dependency, 'bulk_delete', path='delete', detail=False)
class DependencyBulkDeleteView(generic.BulkDeleteView):
    queryset = dependencies_with_ends()
    filterset = filtersets.DependencyFilterSet
    table = tables.DependencyTable


#
# Monitoring coverage
#

@register_model_view(MonitoringCoverage, 'list', path='', detail=False)
class MonitoringCoverageListView(generic.ObjectListView):
    queryset = MonitoringCoverage.objects.select_related('device', 'virtual_machine').prefetch_related('tags')
    filterset = filtersets.MonitoringCoverageFilterSet
    filterset_form = forms.MonitoringCoverageFilterForm
    table = tables.MonitoringCoverageTable


@register_model_view(MonitoringCoverage)
class MonitoringCoverageView(generic.ObjectView):
    queryset = MonitoringCoverage.objects.select_related('device', 'virtual_machine')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.MonitoringCoveragePanel(), panels.CoverageChecksPanel()],
        right_panels=[panels.CoverageHistoryPanel(), TagsPanel(), CustomFieldsPanel(), CommentsPanel()],
    )


@register_model_view(MonitoringCoverage, 'add', detail=False)
@register_model_view(MonitoringCoverage, 'edit')
class MonitoringCoverageEditView(generic.ObjectEditView):
    queryset = MonitoringCoverage.objects.all()
    form = forms.MonitoringCoverageForm


@register_model_view(MonitoringCoverage, 'delete')
class MonitoringCoverageDeleteView(generic.ObjectDeleteView):
    queryset = MonitoringCoverage.objects.all()


@register_model_view(MonitoringCoverage, 'bulk_import', path='import', detail=False)
class MonitoringCoverageBulkImportView(generic.BulkImportView):
    queryset = MonitoringCoverage.objects.all()
    model_form = forms.MonitoringCoverageImportForm


@register_model_view(MonitoringCoverage, 'bulk_edit', path='edit', detail=False)
class MonitoringCoverageBulkEditView(generic.BulkEditView):
    queryset = MonitoringCoverage.objects.select_related('device', 'virtual_machine')
    filterset = filtersets.MonitoringCoverageFilterSet
    table = tables.MonitoringCoverageTable
    form = forms.MonitoringCoverageBulkEditForm


@register_model_view(MonitoringCoverage, 'bulk_delete', path='delete', detail=False)
class MonitoringCoverageBulkDeleteView(generic.BulkDeleteView):
    queryset = MonitoringCoverage.objects.select_related('device', 'virtual_machine')
    filterset = filtersets.MonitoringCoverageFilterSet
    table = tables.MonitoringCoverageTable


@register_model_view(MonitAgent, 'list', path='', detail=False)
class MonitAgentListView(generic.ObjectListView):
    queryset = MonitAgent.objects.select_related('device', 'virtual_machine')
    filterset = filtersets.MonitAgentFilterSet
    filterset_form = forms.MonitAgentFilterForm
    table = tables.MonitAgentTable
    actions = (BulkExport, BulkDelete)


@register_model_view(MonitAgent)
class MonitAgentView(generic.ObjectView):
    queryset = MonitAgent.objects.select_related('device', 'virtual_machine')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(left_panels=[panels.MonitAgentPanel()], right_panels=[TagsPanel()])


@register_model_view(MonitAgent, 'edit')
class MonitAgentEditView(generic.ObjectEditView):
    queryset = MonitAgent.objects.all()
    form = forms.MonitAgentForm


@register_model_view(MonitAgent, 'delete')
class MonitAgentDeleteView(generic.ObjectDeleteView):
    queryset = MonitAgent.objects.all()


@register_model_view(MonitAgent, 'bulk_delete', path='delete', detail=False)
class MonitAgentBulkDeleteView(generic.BulkDeleteView):
    queryset = MonitAgent.objects.select_related('device', 'virtual_machine')
    filterset = filtersets.MonitAgentFilterSet
    table = tables.MonitAgentTable


class UnmonitoredDeviceListView(generic.ObjectListView):
    """NetBox's device list, limited to the devices no monitoring system reports for: "what is nobody watching?".

    NetBox's own device filters cannot be extended by a plugin, so the question has its own list, with every
    device filter, column and bulk action on top.
    """

    queryset = Device.objects.exclude(triage_coverage__state=MonitoringStateChoices.REPORTING)
    filterset = DeviceFilterSet
    table = DeviceTable
    filterset_form = DeviceFilterForm
    actions = (BulkExport,)
    template_name = 'netbox_triage/unmonitored_list.html'


class UnmonitoredVirtualMachineListView(generic.ObjectListView):
    """The same question for virtual machines."""

    queryset = VirtualMachine.objects.exclude(triage_coverage__state=MonitoringStateChoices.REPORTING)
    filterset = VirtualMachineFilterSet
    table = VirtualMachineTable
    filterset_form = VirtualMachineFilterForm
    actions = (BulkExport,)
    template_name = 'netbox_triage/unmonitored_list.html'


#
# The board
#

class BoardView(LoginRequiredMixin, View):
    """The plugin's home page: open incidents, fleet sanity in tiles, latest timeline entries, changed hosts."""

    def get(self, request):
        from .board import board_figures

        return render(request, 'netbox_triage/board.html', {
            'board': board_figures(request.user, request.GET.get('group_by')),
        })


#
# Host facts
#

@register_model_view(HostFacts, 'list', path='', detail=False)
class HostFactsListView(generic.ObjectListView):
    queryset = HostFacts.objects.select_related('device', 'virtual_machine').defer('raw_sections', 'facts')
    filterset = filtersets.HostFactsFilterSet
    filterset_form = forms.HostFactsFilterForm
    table = tables.HostFactsTable
    actions = (BulkExport, BulkDelete)


@register_model_view(HostFacts)
class HostFactsView(generic.ObjectView):
    queryset = HostFacts.objects.select_related('device', 'virtual_machine')
    template_name = 'generic/object.html'
    layout = layout.SimpleLayout(
        left_panels=[panels.HostFactsPanel(), panels.RawSectionsPanel()],
        right_panels=[JSONPanel('facts', title=_('Parsed facts')), TagsPanel()],
    )


@register_model_view(HostFacts, 'delete')
class HostFactsDeleteView(generic.ObjectDeleteView):
    queryset = HostFacts.objects.all()


@register_model_view(HostFacts, 'bulk_delete', path='delete', detail=False)
class HostFactsBulkDeleteView(generic.BulkDeleteView):
    queryset = HostFacts.objects.select_related('device', 'virtual_machine')
    filterset = filtersets.HostFactsFilterSet
    table = tables.HostFactsTable


def _enqueue_probe_of(request, hosts, done_message):
    """Probe the hosts of a UI door that the user may probe (probing/access.py), and say which were skipped."""
    selection = probe_selection(hosts, request.user)
    if selection.skipped:
        level = messages.warning if selection.hosts else messages.error
        level(request, _('Not probed, as you may not change them: {names}.').format(names=selection.skipped_names()))
    if selection.hosts:
        jobs = enqueue_probe(selection.hosts, user=request.user)
        messages.success(request, done_message.format(count=len(selection.hosts), jobs=len(jobs)))


class ProbeView(LoginRequiredMixin, View):
    """POST: enqueue a probe of one host ("Probe now") or of the selected/filtered hosts of a list."""

    models = {'device': Device, 'virtualmachine': VirtualMachine}

    def post(self, request, model):
        if not may_probe(request.user):
            return HttpResponseForbidden(PROBE_REFUSED)
        host_model = self.models.get(model)
        if host_model is None:
            raise Http404
        hosts = host_model.objects.restrict(request.user, 'view')
        if request.POST.getlist('pk'):
            hosts = hosts.filter(pk__in=[pk for pk in request.POST.getlist('pk') if pk.isdigit()])
        elif request.POST.get('_all'):
            filterset = {Device: DeviceFilterSet, VirtualMachine: VirtualMachineFilterSet}[host_model]
            hosts = filterset(QueryDict(request.POST.get('filter', '')), hosts).qs
        else:
            hosts = hosts.none()
        hosts = list(hosts)
        return_url = request.POST.get('return_url') or reverse(f'{host_model._meta.app_label}:{model}_list')
        if not url_has_allowed_host_and_scheme(return_url, allowed_hosts={request.get_host()}):
            return_url = reverse(f'{host_model._meta.app_label}:{model}_list')
        if not hosts:
            messages.warning(request, _('No hosts selected to probe.'))
            return redirect(return_url)
        _enqueue_probe_of(request, hosts, _('Probe of {count} host(s) enqueued in {jobs} job(s).'))
        return redirect(return_url)


class AcceptHostKeyView(LoginRequiredMixin, View):
    """POST: an admin accepts the new host key a host presented (after checking it out of band)."""

    def post(self, request, pk):
        facts = get_object_or_404(HostFacts.objects.restrict(request.user, 'change'), pk=pk)
        if not facts.hostkey_offered:
            messages.warning(request, _('This host offered no new key.'))
        else:
            facts.snapshot()
            facts.accept_offered_hostkey()  # the host's own key, or its jump host's
            facts.save()
            messages.success(request, _('New host key accepted; the next probe will use it.'))
        return redirect(facts.get_absolute_url())


class QuickAddView(LoginRequiredMixin, View):
    """Paste addresses, get minimal devices/VMs with primary IPs, ready to probe.

    Needs the add permission on every model it creates (host, interface, IP address); object permission
    constraints are checked on the created objects before the transaction commits (quick_add)."""

    template_name = 'netbox_triage/quick_add.html'

    def _form(self, request, data=None):
        form = forms.QuickAddForm(data)
        restrict_form_fields(form, request.user)  # only sites, clusters, roles, types the user may view
        return form

    def get(self, request):
        if all(missing_permissions(request.user, kind) for kind in ('device', 'vm')):
            return HttpResponseForbidden('You may not quick-add devices or virtual machines.')
        return render(request, self.template_name, {'form': self._form(request)})

    def post(self, request):
        form = self._form(request, request.POST)
        if missing := missing_permissions(request.user, request.POST.get('kind')):
            return HttpResponseForbidden(f"You may not quick-add these hosts (missing {', '.join(missing)}).")
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = quick_add_hosts(
                    data['addresses'], kind=data['kind'], site=data['site'], role=data['role'],
                    cluster=data['cluster'], device_type=data['device_type'], name_prefix=data['name_prefix'],
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except PermissionsViolation as exc:
                form.add_error(None, exc.message)
                clear_events.send(sender=self)  # the rolled-back objects' events must not fire
            else:
                messages.success(request, _('{created} host(s) created, {skipped} skipped (already in NetBox).').format(
                    created=len(result.created), skipped=len(result.skipped)))
                model = 'dcim:device_list' if data['kind'] == 'device' else 'virtualization:virtualmachine_list'
                return redirect(reverse(model) + '?' + '&'.join(f'id={h.pk}' for h in result.created[:500]))
        return render(request, self.template_name, {'form': form})


class SSHConfigExportView(LoginRequiredMixin, View):
    """GET: an ~/.ssh/config for the devices/VMs the user may view, with the device and VM lists' filters.

    `host_type=device|virtualmachine` limits it to one kind (the list buttons set it), `prefer=ipv6`
    picks the IPv6 primary IP; see docs/exports.md.
    """

    def get(self, request):
        try:
            devices, virtual_machines = host_querysets(request.GET, user=request.user, request=request)
            export = render_ssh_config(devices, virtual_machines, prefer=request.GET.get('prefer'))
        except ValueError as exc:
            return HttpResponseBadRequest(f'{exc}\n', content_type='text/plain; charset=utf-8')
        response = HttpResponse(export.text, content_type='text/plain; charset=utf-8')
        response['Content-Disposition'] = 'attachment; filename="ssh_config"'
        response['X-Triage-Skipped-Hosts'] = str(len(export.skipped))
        return response


class MonitExportView(LoginRequiredMixin, View):
    """GET: an installable Monit bundle (tar.gz) for the devices/VMs the user may view, filtered like the lists.

    `prefix` is the install directory on the hosts (default: the `monit_prefix` setting); `?id=…&host_type=…`
    gives one host's bundle (the facts panel's button). See docs/exports.md.
    """

    def get(self, request):
        try:
            devices, virtual_machines = host_querysets(request.GET, user=request.user, request=request)
            bundle = render_monit_bundle(devices, virtual_machines, prefix=request.GET.get('prefix') or None,
                                         user=request.user)
        except ValueError as exc:
            return HttpResponseBadRequest(f'{exc}\n', content_type='text/plain; charset=utf-8')
        name = f'monit-{bundle.hosts[0].alias}' if len(bundle.hosts) == 1 else 'monit-bundle'
        response = HttpResponse(bundle.tarball(), content_type='application/gzip')
        response['Content-Disposition'] = f'attachment; filename="{name}.tar.gz"'
        response['X-Triage-Skipped-Hosts'] = str(len(bundle.skipped))
        return response


def topology_object(request, object_type):
    """The site, cluster or incident named in a topology URL, if the user may view it (else 404)."""
    from django.apps import apps

    if object_type not in TOPOLOGY_MODELS:
        raise Http404
    return apps.get_model(object_type).objects.restrict(request.user, 'view')


class TopologyView(LoginRequiredMixin, View):
    """The rendered topology of a site, cluster or incident: the newest render the user may view in full, its
    downloads, and a form to render it again (in a background job: rendering has a hard timeout and never runs
    in a web request)."""

    template_name = 'netbox_triage/topology.html'
    downloads = {'png': ('image/png', 'png'), 'svg': ('image/svg+xml', 'svg'), 'py': ('text/x-python', 'py')}

    def get(self, request, object_type, pk):
        import base64

        obj = get_object_or_404(topology_object(request, object_type), pk=pk)
        pending, job = latest_topology(obj, request.user)
        parts = (job.data or {}).get('parts', []) if job else []
        download = request.GET.get('download')
        if download:
            if download not in self.downloads or not parts:
                raise Http404
            index = request.GET.get('part', '1')
            if not index.isdigit() or not 0 < int(index) <= len(parts):
                raise Http404
            part = parts[int(index) - 1]
            content_type, extension = self.downloads[download]
            body = {'png': lambda: base64.b64decode(part['png']) if part['png'] else None,
                    'svg': lambda: part['svg'], 'py': lambda: part['source']}[download]()
            if body is None:
                raise Http404
            response = HttpResponse(body, content_type=content_type)
            response['Content-Disposition'] = f'attachment; filename="topology-{obj._meta.model_name}-{obj.pk}' \
                                              f'{"-" + index if len(parts) > 1 else ""}.{extension}"'
            response['Content-Security-Policy'] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
            return response
        images = [
            {**part, 'index': index,
             'svg_uri': 'data:image/svg+xml;base64,' + base64.b64encode(part['svg'].encode()).decode()
             if part.get('svg') else None}
            for index, part in enumerate(parts, start=1)
        ]
        return render(request, self.template_name, {
            'object': obj, 'job': job, 'pending': pending, 'parts': images,
            'messages_': (job.data or {}).get('messages', []) if job else [],
            'group_by': (job.data or {}).get('group_by', 'cluster') if job else 'cluster',
            'object_type': object_type,
            'group_by_choices': ('cluster', 'role', 'tag'),
        })

    def post(self, request, object_type, pk):
        from .exporters.topology import GROUP_BY

        obj = get_object_or_404(topology_object(request, object_type), pk=pk)
        group_by = request.POST.get('group_by', 'cluster')
        if group_by not in GROUP_BY:
            return HttpResponseBadRequest(f'group_by must be one of {", ".join(GROUP_BY)}\n')
        enqueue_topology(obj, user=request.user, group_by=group_by)
        messages.success(request, _('Rendering the topology in the background; this page shows it when done.'))
        return redirect(request.path)
