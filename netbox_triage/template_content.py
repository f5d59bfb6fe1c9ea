from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from netbox.plugins import PluginTemplateExtension

from .choices import DiscoveryStatusChoices, IncidentStatusChoices
from .models import Discovery, HostFacts, Incident, severity_counts
from .models.discoveries import SEVERITY_ORDER

# How many open discoveries an object's page lists (the panel links to the rest).
DISCOVERIES_SHOWN = 10


class OpenIncidentsPanel(PluginTemplateExtension):
    """Device, VM and cluster pages show the open incidents the object is part of."""

    models = ['dcim.device', 'virtualization.virtualmachine', 'virtualization.cluster', 'ipam.service']

    def left_page(self):
        obj = self.context['object']
        request = self.context['request']
        incidents = (
            Incident.objects.restrict(request.user, 'view')
            .filter(
                status__in=IncidentStatusChoices.OPEN,
                affected_objects__object_type=ContentType.objects.get_for_model(obj),
                affected_objects__object_id=obj.pk,
            )
            .distinct()
            .order_by('-started_at')
        )
        return self.render('netbox_triage/inc/open_incidents.html', extra_context={'incidents': incidents})


class FactsPanel(PluginTemplateExtension):
    """Device and VM pages: what the probe found, for users who may view that host's facts, and a "Probe now"
    button for those who may probe it (probing.access)."""

    models = ['dcim.device', 'virtualization.virtualmachine']

    def right_page(self):
        from .probing.access import may_probe, probe_selection

        obj = self.context['object']
        user = self.context['request'].user
        if not user.has_perm('netbox_triage.view_hostfacts'):
            return ''
        lookup = {'device': obj} if obj._meta.model_name == 'device' else {'virtual_machine': obj}
        visible = HostFacts.objects.restrict(user, 'view')
        return self.render('netbox_triage/inc/facts_panel.html', extra_context={
            'facts': visible.filter(**lookup).defer('raw_sections').first(),
            'constrained': visible.query.has_filters(),  # hidden facts and no facts then look alike
            'probe_model': obj._meta.model_name,
            'can_probe': may_probe(user) and bool(probe_selection([obj], user).hosts),
        })


class ProbeListButton(PluginTemplateExtension):
    """Device and VM lists: probe the selected hosts, or every host the current filter shows."""

    models = ['dcim.device', 'virtualization.virtualmachine']

    def list_buttons(self):
        model = self.context['object']  # NetBox passes the listed model as `object` to list_buttons()
        return self.render('netbox_triage/inc/probe_list_button.html', extra_context={
            'probe_model': model._meta.model_name,
            'filter_query': self.context['request'].GET.urlencode(),
        })


class SSHConfigListButton(PluginTemplateExtension):
    """Device and VM lists: download an ~/.ssh/config for every host the current filters show."""

    models = ['dcim.device', 'virtualization.virtualmachine']

    def list_buttons(self):
        query = self.context['request'].GET.copy()
        query.setlist('host_type', [self.context['object']._meta.model_name])
        return self.render('netbox_triage/inc/ssh_config_list_button.html', extra_context={
            'export_query': query.urlencode(),
        })


class DiscoveriesPanel(PluginTemplateExtension):
    """Device, VM and cluster pages: the open discoveries about the object (for a cluster, its members too)."""

    models = ['dcim.device', 'virtualization.virtualmachine', 'virtualization.cluster']

    def left_page(self):
        obj = self.context['object']
        request = self.context['request']
        if not request.user.has_perm('netbox_triage.view_discovery'):
            return ''
        about = Discovery.objects.restrict(request.user, 'view').about(obj)
        active = about.active()
        counts = severity_counts(active)
        label = obj._meta.model_name
        filter_name = {'device': 'device_id', 'virtualmachine': 'virtual_machine_id', 'cluster': 'cluster_id'}[label]
        return self.render('netbox_triage/inc/discoveries_panel.html', extra_context={
            'counts': counts,
            'discoveries': list(active.select_related('object_type').prefetch_related('object')
                                .order_by(SEVERITY_ORDER, '-last_seen')[:DISCOVERIES_SHOWN]),
            'resolved': about.exclude(status__in=DiscoveryStatusChoices.ACTIVE).count(),
            'list_url': reverse('plugins:netbox_triage:discovery_list') + f'?{filter_name}={obj.pk}',
            'show_object': label == 'cluster',
            'run_model': label if label in ('device', 'virtualmachine') else None,
        })


class RunRulesListButton(PluginTemplateExtension):
    """The discovery list: run every rule now."""

    models = ['netbox_triage.discovery']

    def list_buttons(self):
        return self.render('netbox_triage/inc/run_rules_button.html')


class TopologyPanel(PluginTemplateExtension):
    """Site, cluster and incident pages: the newest rendered topology the reader may view in full (never one
    showing hosts they may not see), and a button to render it again."""

    models = ['dcim.site', 'virtualization.cluster', 'netbox_triage.incident']

    def full_width_page(self):
        import base64

        from .jobs import topology_preview

        obj = self.context['object']
        pending, job, group_by, svg = topology_preview(obj, self.context['request'].user)
        return self.render('netbox_triage/inc/topology_panel.html', extra_context={
            'job': job, 'pending': pending,
            'svg_uri': 'data:image/svg+xml;base64,' + base64.b64encode(svg.encode()).decode() if svg else None,
            'topology_url': reverse('plugins:netbox_triage:topology', args=[obj._meta.label_lower, obj.pk]),
            'group_by': group_by,
        })


class CoveragePanel(PluginTemplateExtension):
    """Device and VM pages: which monitoring systems cover the host, and whether they really report."""

    models = ['dcim.device', 'virtualization.virtualmachine']

    def right_page(self):
        from .models import MonitoringCoverage

        obj = self.context['object']
        request = self.context['request']
        if not request.user.has_perm('netbox_triage.view_monitoringcoverage'):
            return ''
        field = 'device' if obj._meta.model_name == 'device' else 'virtual_machine'
        coverage = MonitoringCoverage.objects.restrict(request.user, 'view').filter(**{field: obj})
        return self.render('netbox_triage/inc/coverage_panel.html', extra_context={
            'coverage': list(coverage), 'host_field': field,
        })


class IncidentButtons(PluginTemplateExtension):
    """The incident page's header: download the post-mortem."""

    models = ['netbox_triage.incident']

    def buttons(self):
        return self.render('netbox_triage/inc/incident_buttons.html')


template_extensions = [OpenIncidentsPanel, FactsPanel, DiscoveriesPanel, ProbeListButton, SSHConfigListButton,
                       RunRulesListButton, TopologyPanel, IncidentButtons,
                       CoveragePanel]
