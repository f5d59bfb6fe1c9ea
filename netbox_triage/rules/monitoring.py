"""Monitoring coverage findings: "monitoring went silent" and "not monitored".

Pure, like every rule: it judges one host from plain data (its coverage rows as dicts) and returns findings.
It is deliberately **not registered** in the rules registry. ``run_discovery`` resolves every discovery of
the per-host and fleet rules it runs that those rules did not find again; since HostView carries no coverage,
a registered ``monitoring`` rule would find nothing there and resolve every "went silent" discovery after each
probe, to be re-raised a minute later by the silence job (flapping events and timeline entries). Instead its
only runner is the collector's silence job (``collector/silence.py``), which reads the coverage and records
these findings through ``runner.record_findings(per_host_rules=['monitoring'], host_keys=None)``: the same
idempotent create/update/resolve as the other rules, under the rule name ``monitoring``. When HostView gains
the host's coverage (``host_views()``), this becomes a registered per-host rule and the job goes away.
"""

from .base import Finding

__all__ = ('RULE_NAME', 'monitoring_findings')

RULE_NAME = 'monitoring'
MONITORED_STATES = ('configured', 'reporting', 'silent')


def monitoring_findings(host_key, host_name, coverages, silent_severity='high', unmonitored_severity='low',
                        active=True):
    """Findings about one host from its coverage rows.

    ``coverages`` are dicts with ``system``, ``system_label``, ``state``, ``last_report`` and ``silent_since``
    (datetimes or None). A system that went silent raises one finding per system; a host with no system in a
    monitored state (configured, reporting or silent) raises "not monitored" (unless ``unmonitored_severity``
    is None). Inactive hosts (planned, offline, decommissioning) are not judged.
    """
    if not active:
        return []
    findings = []
    for coverage in sorted(coverages, key=lambda c: c['system']):
        if coverage['state'] != 'silent':
            continue
        label = coverage.get('system_label') or coverage['system']
        last = coverage.get('last_report')
        since = coverage.get('silent_since')
        evidence = {'check': 'silent', 'system': coverage['system'],
                    'last_report': last.isoformat() if last else None,
                    'silent_since': since.isoformat() if since else None}
        findings.append(Finding(
            rule=RULE_NAME, subject=host_key, severity=silent_severity,
            title=f'{label} monitoring of {host_name} went silent',
            evidence=evidence,
            evidence_text=(f'{label} on {host_name} stopped reporting' + (
                f'; last report at {last.isoformat()}' if last else '') + '.'),
            recommendation=(f'Check that the host is up and that {label} runs on it (for Monit: `monit status`, '
                            'and the `set mmonit` line of its control file); the finding resolves by itself when '
                            'reports resume.'),
            # One finding per silence: a later silence (another last report) is a new discovery.
            identity={'check': 'silent', 'system': coverage['system'],
                      'last_report': last.isoformat() if last else None},
        ))
    monitored = any(c['state'] in MONITORED_STATES for c in coverages)
    if not monitored and unmonitored_severity:
        planned = sorted(c.get('system_label') or c['system'] for c in coverages if c['state'] == 'planned')
        findings.append(Finding(
            rule=RULE_NAME, subject=host_key, severity=unmonitored_severity,
            title=f'{host_name} is not monitored',
            evidence={'check': 'unmonitored', 'planned': planned},
            evidence_text=(f'No monitoring system is configured or reporting for {host_name}' + (
                f' (planned: {", ".join(planned)})' if planned else '') + '.'),
            recommendation='Install the Monit bundle exported for this host (Triage › exports), or record the '
                           'monitoring that covers it.',
            identity={'check': 'unmonitored'},
        ))
    return findings
