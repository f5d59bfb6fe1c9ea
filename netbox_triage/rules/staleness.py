"""Facts too old to trust, and a host whose SSH host key changed.

Rules are only as good as the last probe: a host not probed for weeks may have been patched, filled
up or replaced since. A changed host key means a reinstall, a replaced machine or someone in the
middle; the probe refuses to talk to it until a human accepts the new key, so its facts also stop
being refreshed. The key change is an input flag (set by the probe's host-key check); when the caller
passes the new key's fingerprint instead of True, it is part of the evidence, so accepting one change
does not silence the next.
"""

from .base import Rule, register

__all__ = ('StalenessRule',)


@register
class StalenessRule(Rule):
    name = 'staleness'
    title = 'Stale facts or changed host key'
    description = 'The host was not probed for a while, or its SSH host key changed.'
    default_settings = {
        # [days, severity]: the last row whose days are reached wins.
        'stale_after_days': [[7, 'low'], [30, 'medium']],
        'report_never_probed': False,
        'hostkey_severity': 'high',
    }

    def per_host(self, host, settings, today):
        findings = []
        if host.hostkey_changed:
            evidence = {'check': 'hostkey-changed'}
            if isinstance(host.hostkey_changed, str):
                evidence['new_key'] = host.hostkey_changed
            text = f'The SSH host key of {host.name} is not the one seen before' + (
                f' (now {host.hostkey_changed})' if isinstance(host.hostkey_changed, str) else '') + '.'
            findings.append(self.finding(
                host.key, settings['hostkey_severity'], f'SSH host key of {host.name} changed', evidence, text,
                'Find out why (reinstall, replaced machine, or an attacker in the path) before accepting the new '
                'key; until then the host is not probed.',
            ))
        if host.probed_at is None:
            if settings['report_never_probed']:
                findings.append(self.finding(
                    host.key, 'info', f'{host.name} was never probed', {'check': 'never-probed'},
                    f'{host.name} has no probe facts: no rule can judge it.', 'Probe it.',
                ))
            return findings
        age = (today - host.probed_at.date()).days
        severity = None
        for days, level in settings['stale_after_days']:
            if age >= days:
                severity = level
        if severity:
            probed = host.probed_at.date().isoformat()
            findings.append(self.finding(
                host.key, severity, f'Facts of {host.name} are {age} days old',
                {'check': 'stale', 'probed_on': probed},
                f'Last successful probe on {probed}, {age} days before {today.isoformat()}.',
                'Probe it again; if the probe fails, its status says why (unreachable, auth, host key).',
                identity={'check': 'stale', 'probed_on': probed, 'severity': severity},
            ))
        return findings
