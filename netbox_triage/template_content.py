from django.contrib.contenttypes.models import ContentType

from netbox.plugins import PluginTemplateExtension

from .choices import IncidentStatusChoices
from .models import Incident


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


template_extensions = [OpenIncidentsPanel]
