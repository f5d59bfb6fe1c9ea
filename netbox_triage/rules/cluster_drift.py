"""Members of one group that should be alike but are not: CPU, kernel, OS release, key package versions.

"The same three backends" that run three kernels, or an HA pair on two MySQL versions, explain the node
that behaves differently. A group is a NetBox cluster, a role within a site, or a tag named in the
settings (a tag such as "production" is no group of equals, so none is used unless listed). Groups
with the same members are compared once.

When one value holds a strict majority, every host with another value gets its own finding (the odd
one out). Without a majority (a pair that differs, three different kernels) the finding is about the
group and lists each member's value. A package is compared among the members that have it: a tool on
one node only is not drift.
"""

from collections import Counter

from .base import Rule, max_severity, register

__all__ = ('ClusterDriftRule', 'host_attributes')

ATTRIBUTES = ('cpu', 'kernel', 'os')


def host_attributes(host, packages):
    """``{attribute: value}`` for the comparable facts of one host (attributes it lacks are left out)."""
    facts = host.facts or {}
    values = {}
    cpu = facts.get('cpu') or {}
    if cpu.get('model'):
        values['cpu'] = cpu['model'] + (f' (stepping {cpu["stepping"]})' if cpu.get('stepping') is not None else '')
    kernel = (facts.get('kernel') or {}).get('release')
    if kernel:
        values['kernel'] = kernel
    os_facts = facts.get('os') or {}
    if os_facts.get('id'):
        values['os'] = ' '.join(filter(None, (os_facts['id'], os_facts.get('version_id'))))
    installed = facts.get('packages') or {}
    components = facts.get('components') or {}
    for product in packages:
        versions = sorted({installed[name]['full'] for name in components.get(product, ()) if name in installed})
        if versions:
            values[product] = ' '.join(versions)
    return values


@register
class ClusterDriftRule(Rule):
    name = 'cluster_drift'
    title = 'Cluster drift'
    description = 'Members of one cluster, role or tag differ in CPU, kernel, OS or key package versions.'
    default_settings = {
        'group_by': ['cluster', 'role_site', 'tag'],
        # Tags whose hosts should be identical; empty: no tag groups.
        'tags': [],
        'packages': ['openssl', 'openssh', 'glibc', 'haproxy', 'nginx', 'apache', 'mysql', 'postgresql', 'redis',
                     'java', 'tomcat', 'keepalived', 'jenkins'],
        'attribute_severity': {'cpu': 'low', 'kernel': 'medium', 'os': 'medium'},
        'package_severity': 'medium',
    }

    def _groups(self, hosts, settings):
        groups, seen = [], set()
        candidates = {}
        for host in hosts:
            if not host.is_active or not host.facts:
                continue
            if 'cluster' in settings['group_by'] and host.cluster:
                key = ('cluster', host.cluster_key or host.cluster)
                candidates.setdefault(key, (f'cluster {host.cluster}', host.cluster_key, []))[2].append(host)
            if 'role_site' in settings['group_by'] and host.role and host.site:
                key = ('role_site', host.role, host.site)
                candidates.setdefault(key, (f'role {host.role} in site {host.site}', None, []))[2].append(host)
            if 'tag' in settings['group_by']:
                for tag in host.tags:
                    if tag in settings['tags']:
                        candidates.setdefault(('tag', tag), (f'tag {tag}', None, []))[2].append(host)
        for label, subject, members in candidates.values():
            identity = frozenset(host.key for host in members)
            if len(members) < 2 or identity in seen:
                continue
            seen.add(identity)
            groups.append((label, subject, sorted(members, key=lambda host: host.name)))
        return groups

    def fleet(self, hosts, settings, today):
        findings = []
        packages = settings['packages']
        severities = dict(settings['attribute_severity'])
        for product in packages:
            severities.setdefault(product, settings['package_severity'])
        for label, subject, members in self._groups(hosts, settings):
            values = {host.key: host_attributes(host, packages) for host in members}
            odd = {}  # host key -> differences
            split = []
            for attribute in (*ATTRIBUTES, *packages):
                present = [(host, values[host.key][attribute]) for host in members if attribute in values[host.key]]
                counts = Counter(value for _host, value in present)
                if len(present) < 2 or len(counts) < 2:
                    continue
                value, count = counts.most_common(1)[0]
                if count * 2 > len(present):
                    for host, other in present:
                        if other != value:
                            odd.setdefault(host.key, []).append({
                                'attribute': attribute, 'value': other, 'majority_value': value,
                                'majority': f'{count} of {len(present)}',
                            })
                else:
                    split.append({'attribute': attribute,
                                  'values': {host.name: other for host, other in present}})
            names = [host.name for host in members]
            by_key = {host.key: host for host in members}
            for key, differences in odd.items():
                host = by_key[key]
                severity = max_severity(severities.get(item['attribute'], 'medium') for item in differences)
                evidence = {'group': label, 'members': names, 'differences': differences}
                text = f'{host.name} differs from the other members of {label}: ' + '; '.join(
                    f'{item["attribute"]} {item["value"]} where {item["majority"]} have {item["majority_value"]}'
                    for item in differences) + '.'
                attributes = ', '.join(item['attribute'] for item in differences)
                findings.append(self.finding(
                    key, severity, f'{host.name} is the odd one out in {label} ({attributes})', evidence, text,
                    'Bring it in line with the others (or document why it differs): a node that differs is the '
                    'first suspect when one node in three misbehaves.',
                ))
            if split:
                severity = max_severity(severities.get(item['attribute'], 'medium') for item in split)
                evidence = {'group': label, 'members': names, 'differences': split}
                text = f'The members of {label} differ and no value holds a majority: ' + '; '.join(
                    f'{item["attribute"]}: ' + ', '.join(f'{name} {value}' for name, value in item['values'].items())
                    for item in split) + '.'
                attributes = ', '.join(item['attribute'] for item in split)
                findings.append(self.finding(
                    subject, severity, f'{label}: members differ in {attributes}', evidence, text,
                    'Decide which build is the reference and converge the members on it.',
                ))
        return findings
