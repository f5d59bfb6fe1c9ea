"""Roles and clusters that rest on one active member: "one more of everything".

A cluster with a single running node, or the only host of a role, is a single point of failure the
diagram does not show. The finding points at that host. Inactive members (offline, planned,
decommissioning in NetBox) do not count as redundancy, and the finding lists them.
"""

from .base import Rule, register

__all__ = ('RedundancyRule',)


@register
class RedundancyRule(Rule):
    name = 'redundancy'
    title = 'Single point of failure'
    description = 'A role or cluster has a single active member.'
    default_settings = {
        'group_by': ['cluster', 'role'],
        # Roles that are single by design (a jump host, a lab box).
        'ignore_roles': [],
        'ignore_clusters': [],
        'severity': 'medium',
    }

    def fleet(self, hosts, settings, today):
        groups = {}
        for host in hosts:
            if 'cluster' in settings['group_by'] and host.cluster and host.cluster not in settings['ignore_clusters']:
                key = ('cluster', host.cluster_key or host.cluster)
                groups.setdefault(key, (f'cluster {host.cluster}', []))[1].append(host)
            if 'role' in settings['group_by'] and host.role and host.role not in settings['ignore_roles']:
                groups.setdefault(('role', host.role), (f'role {host.role}', []))[1].append(host)
        findings = []
        for label, members in groups.values():
            active = [host for host in members if host.is_active]
            if len(active) != 1:
                continue
            single = active[0]
            inactive = sorted(host.name for host in members if not host.is_active)
            evidence = {'group': label, 'active': [single.name], 'inactive': inactive}
            text = f'{single.name} is the only active member of {label}'
            text += f' ({len(inactive)} inactive: {", ".join(inactive)}).' if inactive else '.'
            findings.append(self.finding(
                single.key, settings['severity'], f'{single.name} is the only active member of {label}', evidence,
                text, 'Add a second member (or bring an inactive one back), or record why this one may stand alone '
                      'and how long it takes to rebuild.',
            ))
        return findings
