"""The fleet's monitoring coverage in numbers, for the dashboard: hosts per state, per check type, per site
and role. Three queries whatever the size of the fleet."""

from collections import Counter

from django.db.models import Q

from dcim.models import Device
from virtualization.models import VirtualMachine

from ..choices import MonitoringCheckTypeChoices, MonitoringStateChoices
from ..models import MonitoringCoverage

__all__ = ('STATE_RANK', 'coverage_summary', 'host_state')

# A host's state is the best of its systems' states: one reporting system means the host is watched.
STATE_RANK = {
    MonitoringStateChoices.REPORTING: 4,
    MonitoringStateChoices.SILENT: 3,
    MonitoringStateChoices.CONFIGURED: 2,
    MonitoringStateChoices.PLANNED: 1,
    MonitoringStateChoices.NONE: 0,
}


def host_state(states):
    """The best of some coverage states ('none' for no coverage at all)."""
    return max(states, key=lambda state: STATE_RANK.get(state, 0), default=MonitoringStateChoices.NONE)


def coverage_summary(devices=None, vms=None):
    """Coverage of the devices and VMs of two querysets (both None: the whole fleet).

    Returns ``{'hosts': n, 'by_state': {state: hosts}, 'by_check_type': {type: hosts},
    'by_site': {site: {state: hosts}}, 'by_role': {role: {state: hosts}}, 'failing_checks': hosts}``, where a
    host counts once, in its best state (:func:`host_state`); ``by_check_type`` counts hosts whose *reporting*
    coverage covers that type (what is proven, not what is planned); ``failing_checks`` counts reporting hosts
    with at least one failing check. Every state and check type is present (zeros included); sites and roles
    without a name are under ''.
    """
    if devices is None and vms is None:
        devices, vms = Device.objects.all(), VirtualMachine.objects.all()
    devices = devices if devices is not None else Device.objects.none()
    vms = vms if vms is not None else VirtualMachine.objects.none()
    states, types, failing = {}, {}, set()
    for device_id, vm_id, state, check_types, failing_checks in MonitoringCoverage.objects.filter(
        Q(device__in=devices.values('pk')) | Q(virtual_machine__in=vms.values('pk')),
    ).values_list(
        'device_id', 'virtual_machine_id', 'state', 'check_types', 'failing_checks',
    ):
        key = ('d', device_id) if device_id else ('v', vm_id)
        states.setdefault(key, []).append(state)
        if state == MonitoringStateChoices.REPORTING:
            types.setdefault(key, set()).update(check_types or ())
            if failing_checks:
                failing.add(key)
    by_state = Counter()
    by_type = Counter()
    by_site, by_role = {}, {}
    hosts = 0
    for prefix, queryset in (('d', devices), ('v', vms)):
        for pk, site, role in queryset.order_by().values_list('pk', 'site__name', 'role__name').iterator(
            chunk_size=5000,
        ):
            key = (prefix, pk)
            hosts += 1
            state = host_state(states.get(key, ()))
            by_state[state] += 1
            by_type.update(types.get(key, ()))
            by_site.setdefault(site or '', Counter())[state] += 1
            by_role.setdefault(role or '', Counter())[state] += 1
    all_states = MonitoringStateChoices.values()
    return {
        'hosts': hosts,
        'by_state': {state: by_state.get(state, 0) for state in all_states},
        'by_check_type': {kind: by_type.get(kind, 0) for kind in MonitoringCheckTypeChoices.values()},
        'by_site': {name: {state: counts.get(state, 0) for state in all_states}
                    for name, counts in sorted(by_site.items())},
        'by_role': {name: {state: counts.get(state, 0) for state in all_states}
                    for name, counts in sorted(by_role.items())},
        'failing_checks': len(failing),
    }
