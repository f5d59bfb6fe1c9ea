"""Who may probe which host. A probe writes to NetBox (the host's HostFacts, its platform, a VM's vcpus,
memory and disk), so every door (UI, incident quick action, REST) asks for change, not view.

A user probes a host when they hold `netbox_triage.add_hostfacts` and `netbox_triage.change_hostfacts`,
the host is in `Device/VirtualMachine.objects.restrict(user, 'change')` (object permission constraints
apply: change on one tenant's devices probes those only), and the host's facts, once they exist, are in
`HostFacts.objects.restrict(user, 'change')`. Hosts the user may view but not change are skipped and named.
"""

from dataclasses import dataclass, field

from ..models import HostFacts

__all__ = ('PROBE_PERMISSIONS', 'PROBE_REFUSED', 'ProbeSelection', 'may_probe', 'probe_selection')

PROBE_PERMISSIONS = ('netbox_triage.add_hostfacts', 'netbox_triage.change_hostfacts')
PROBE_REFUSED = 'You may not probe hosts (needs netbox_triage.add_hostfacts and netbox_triage.change_hostfacts).'


def may_probe(user):
    """The model-level half: may `user` probe anything at all?"""
    return user.has_perms(PROBE_PERMISSIONS)


@dataclass
class ProbeSelection:
    hosts: list = field(default_factory=list)  # the user may probe these
    skipped: list = field(default_factory=list)  # (host, reason): viewable, but not the user's to change

    def skipped_names(self, shown=10):
        """'a, b, c and 4 more': for a one-line message."""
        names = [str(host) for host, _reason in self.skipped[:shown]]
        more = len(self.skipped) - len(names)
        return ', '.join(names) + (f' and {more} more' if more > 0 else '')


def probe_selection(hosts, user):
    """Split `hosts` (devices and VMs the user may view) into those `user` may probe and those skipped.

    Two queries per kind of host, whatever the number of hosts; the order of `hosts` is kept.
    """
    probeable, locked = set(), set()
    for model in {type(host) for host in hosts}:
        pks = [host.pk for host in hosts if type(host) is model]
        changeable = set(model.objects.restrict(user, 'change').filter(pk__in=pks).values_list('pk', flat=True))
        link = 'device' if model._meta.model_name == 'device' else 'virtual_machine'
        facts_locked = set(
            HostFacts.objects.filter(**{f'{link}__in': changeable})
            .exclude(pk__in=HostFacts.objects.restrict(user, 'change').values('pk'))
            .values_list(f'{link}_id', flat=True)
        )
        probeable |= {(model, pk) for pk in changeable - facts_locked}
        locked |= {(model, pk) for pk in facts_locked}
    selection = ProbeSelection()
    for host in hosts:
        key = (type(host), host.pk)
        if key in probeable:
            selection.hosts.append(host)
        elif key in locked:
            selection.skipped.append((host, 'you may not change its facts'))
        else:
            selection.skipped.append((host, f'you may not change this {host._meta.verbose_name}'))
    return selection
