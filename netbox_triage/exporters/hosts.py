"""Which devices and VMs an export covers: NetBox's own filtersets, NetBox's own permissions.

The UI, REST and CLI doors all pass their filters here, as list-view query parameters (`site`,
`role`, `tenant`, `tag`, `cluster_id`, `status`, `q`, saved filters, …). A parameter that one of
the filtersets in play does not know is refused instead of silently ignored: `rack_id` would
otherwise narrow the devices and export every VM.
"""

from django.http import QueryDict

from dcim.filtersets import DeviceFilterSet
from dcim.models import Device
from virtualization.filtersets import VirtualMachineFilterSet
from virtualization.models import VirtualMachine

__all__ = ('HOST_TYPES', 'HostFilterError', 'host_querysets')

HOST_TYPES = {
    'device': (Device, DeviceFilterSet),
    'virtualmachine': (VirtualMachine, VirtualMachineFilterSet),
}
# Query parameters that shape a list page or an export but filter nothing.
NON_FILTER_PARAMS = frozenset({
    'host_type', 'incident', 'prefer', 'prefix', 'assume_version', 'format', 'export', 'sort', 'ordering',
    'per_page', 'page', 'limit', 'offset',
    'brief', 'fields', 'omit', 'return_url', 'embedded', 'tableconfig_id', 'include_columns', 'exclude_columns',
})
# Saved filters (NetBox's `filter`/`filter_id`) are expanded by the filterset itself.
SAVED_FILTER_PARAMS = ('filter', 'filter_id')


class HostFilterError(ValueError):
    """The filters cannot be applied as given (unknown parameter, unknown slug, bad host type)."""


def host_querysets(params, user=None, request=None):
    """Return (devices, virtual_machines) matching list-view style `params`, restricted to what `user` may view.

    `params` is a QueryDict or a mapping of names to values or lists of values. `host_type`
    (`device` or `virtualmachine`, repeatable) limits the export to one kind; the other queryset is
    then empty. `incident=<id>` keeps the hosts that incident affects (directly, through a cluster or a
    service). Without a user (the CLI), nothing is restricted.
    """
    if not isinstance(params, QueryDict):
        query = QueryDict(mutable=True)
        for key, value in params.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            query.setlist(key, [str(v) for v in values if v is not None])
        params = query
    host_types = params.getlist('host_type') or list(HOST_TYPES)
    unknown_types = sorted(set(host_types) - set(HOST_TYPES))
    if unknown_types:
        raise HostFilterError(f"host_type must be one of {', '.join(HOST_TYPES)} (got {', '.join(unknown_types)})")
    filters = QueryDict(mutable=True)
    for key in params:
        if key not in NON_FILTER_PARAMS:
            filters.setlist(key, params.getlist(key))

    querysets = []
    for name, (model, filterset_class) in HOST_TYPES.items():
        queryset = model.objects.all()
        if user is not None:
            queryset = queryset.restrict(user, 'view')
        if name not in host_types:
            querysets.append(queryset.none())
            continue
        filterset = filterset_class(filters, queryset, request=request)
        unknown = sorted(key for key in filters if key not in filterset.filters and key not in SAVED_FILTER_PARAMS)
        if unknown:
            raise HostFilterError(
                f"{', '.join(unknown)}: not a filter for {model._meta.verbose_name_plural} "
                f'(add host_type=… to export one kind of host only)'
            )
        if not filterset.is_valid():
            errors = '; '.join(f"{field}: {' '.join(messages)}" for field, messages in filterset.errors.items())
            raise HostFilterError(f'{model._meta.verbose_name_plural}: {errors}')
        querysets.append(filterset.qs)
    if params.get('incident'):
        querysets = _of_incident(params.get('incident'), querysets, user)
    return tuple(querysets)


def _of_incident(incident_id, querysets, user):
    from ..models import Incident
    from .topology import incident_hosts

    incidents = Incident.objects.all() if user is None else Incident.objects.restrict(user, 'view')
    incident = incidents.filter(pk=int(incident_id)).first() if str(incident_id).isdigit() else None
    if incident is None:
        raise HostFilterError(f'incident: no incident #{incident_id} you may view')
    devices, vms = incident_hosts(incident)
    return [querysets[0].filter(pk__in=devices.values('pk')), querysets[1].filter(pk__in=vms.values('pk'))]
