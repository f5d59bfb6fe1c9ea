from django.utils.translation import gettext_lazy as _

from netbox.plugins.navigation import PluginMenu, PluginMenuButton, PluginMenuItem


def _item(model, label, add=True):
    buttons = ()
    if add:
        buttons = (
            PluginMenuButton(
                link=f'plugins:netbox_triage:{model}_add',
                title=_('Add'),
                icon_class='mdi mdi-plus-thick',
                permissions=[f'netbox_triage.add_{model}'],
            ),
            PluginMenuButton(
                link=f'plugins:netbox_triage:{model}_bulk_import',
                title=_('Import'),
                icon_class='mdi mdi-upload',
                permissions=[f'netbox_triage.add_{model}'],
            ),
        )
    return PluginMenuItem(
        link=f'plugins:netbox_triage:{model}_list',
        link_text=label,
        permissions=[f'netbox_triage.view_{model}'],
        buttons=buttons,
    )


menu = PluginMenu(
    label=_('Triage'),
    icon_class='mdi mdi-ambulance',
    groups=(
        (_('Incidents'), (
            _item('incident', _('Incidents')),
            _item('businessimpact', _('Loss rates')),
            _item('timelineentry', _('Timeline')),
            _item('incidentobject', _('Affected objects')),
        )),
        (_('Findings'), (
            _item('discovery', _('Discoveries')),
            _item('dependency', _('Dependencies')),
        )),
        (_('Monitoring'), (
            _item('monitoringcoverage', _('Monitoring coverage')),
            _item('monitagent', _('Monit agents'), add=False),
            PluginMenuItem(link='plugins:netbox_triage:unmonitored_devices', link_text=_('Devices not monitored'),
                           permissions=['dcim.view_device']),
            PluginMenuItem(link='plugins:netbox_triage:unmonitored_virtualmachines',
                           link_text=_('VMs not monitored'), permissions=['virtualization.view_virtualmachine']),
        )),
        (_('Inventory'), (
            _item('hostfacts', _('Host facts'), add=False),
            PluginMenuItem(link='plugins:netbox_triage:quick_add', link_text=_('Quick add hosts'),
                           permissions=['virtualization.add_virtualmachine']),
        )),
    ),
)
