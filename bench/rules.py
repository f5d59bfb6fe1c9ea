"""Benchmark of the discovery rules (netbox_triage.rules) over 10,000 synthetic hosts; bar: under 30 s.

Hosts are built from the 15 fleet profiles (each parsed once, facts deep-copied per host), with names,
clusters of three, roles, sites, platforms, probe ages and host-key flags varied the way a real NetBox
would hold them. The run is timed cold (version, platform and haproxy.cfg caches emptied) and then
warm, and each rule alone. Results go to bench/out/rules.md and .json, and a section of
docs/benchmarks.md (re-read just before it is written, so other benchmarks' sections are kept).

    PYTHONPATH=. .venv/bin/python bench/rules.py [--hosts 10000] [--rounds 3]
"""

import argparse
import copy
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _harness import write_doc_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from netbox_triage.probing.facts import parse_probe_output  # noqa: E402
from netbox_triage.rules import HostView, eol, haproxy_checks, registry, run_rules, vulnerable_packages  # noqa: E402

PROFILES = REPO / 'netbox_triage' / 'fleet' / 'profiles'
OUT = REPO / 'bench' / 'out'
BEGIN = '<!-- bench/rules.py: begin -->'
END = '<!-- bench/rules.py: end -->'
TODAY = date(2026, 11, 21)
BAR_SECONDS = 30.0
ROLES = {
    'centos6-heartbleed': 'Load balancer', 'centos6-patched': 'Load balancer', 'rhel4': 'Backend', 'debian6': 'Backend',
    'ubuntu1404': 'Backend', 'ubuntu2204': 'Frontend', 'ubuntu2204-jenkins': 'CI', 'debian12-redis': 'Cache',
    'debian12': 'Cache', 'mysql-baremetal': 'Database', 'centos7': 'Database', 'sles11': 'File server',
    'alpine': 'Proxy', 'amazon2': 'Web', 'hostile': 'Unknown',
}


def load_profiles():
    return {path.stem: parse_probe_output(path.read_bytes()).facts for path in sorted(PROFILES.glob('*.out'))}


def synthetic_hosts(profiles, count):
    """``count`` hosts cycling through the profiles; every third host starts a new cluster of three."""
    names = sorted(profiles)
    now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    hosts = []
    for index in range(count):
        profile = names[index % len(names)]
        facts = copy.deepcopy(profiles[profile])
        virtual = (facts.get('virtualization') or {}).get('role') in ('guest', 'container')
        kind = 'vm' if (virtual or index % 29 == 0) else 'device'  # a few physical boxes recorded as VMs
        cluster = f'cluster-{index // 3:05d}'
        os_facts = facts.get('os') or {}
        platform_name = os_facts.get('pretty_name') if index % 17 else 'Ubuntu 14.04'  # a few wrong platforms
        hosts.append(HostView(
            key=f'{"virtualization.virtualmachine" if kind == "vm" else "dcim.device"}:{index + 1}',
            name=f'{profile}-{index + 1:05d}',
            kind=kind,
            facts=facts,
            platform=platform_name,
            role=ROLES.get(profile, 'Server'),
            site=f'site-{index % 20:02d}',
            cluster=cluster,
            cluster_key=f'virtualization.cluster:{index // 3 + 1}',
            tags=('production',) if index % 2 else ('staging',),
            probed_at=now - timedelta(days=index % 12, hours=index % 7),
            hostkey_changed=index % 200 == 0,
            is_active=index % 53 != 0,
        ))
    return hosts


def clear_caches():
    vulnerable_packages._parse.cache_clear()
    haproxy_checks.parse_haproxy_config.cache_clear()
    eol.parse_platform.cache_clear()


def timed(function):
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - started_wall, time.process_time() - started_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=10_000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--no-doc', action='store_true', help='do not write docs/benchmarks.md')
    args = parser.parse_args()

    profiles, parse_seconds, _cpu = timed(load_profiles)
    hosts, build_seconds, _cpu = timed(lambda: synthetic_hosts(profiles, args.hosts))

    clear_caches()
    findings, cold_wall, cold_cpu = timed(lambda: run_rules(hosts, today=TODAY))
    warm = [timed(lambda: run_rules(hosts, today=TODAY))[1:] for _round in range(args.rounds)]
    warm_wall = statistics.median(wall for wall, _cpu in warm)
    per_rule = {}
    for name in registry.names():
        clear_caches()
        rule_findings, wall, cpu = timed(lambda: run_rules(hosts, today=TODAY, only=[name]))
        per_rule[name] = {'seconds_cold': round(wall, 3), 'findings': len(rule_findings)}
    errors = [finding.as_dict() for finding in findings if 'error' in finding.evidence]
    by_severity = Counter(finding.severity for finding in findings)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        'generated': datetime.now().strftime('%Y-%m-%d %H:%M'),
        'machine': f'{os.cpu_count()} CPUs, Python {platform.python_version()}',
        'hosts': args.hosts,
        'profiles': len(profiles),
        'parse_profiles_seconds': round(parse_seconds, 3),
        'build_hosts_seconds': round(build_seconds, 3),
        'cold_seconds': round(cold_wall, 3),
        'cold_cpu_seconds': round(cold_cpu, 3),
        'warm_median_seconds': round(warm_wall, 3),
        'rounds': args.rounds,
        'findings': len(findings),
        'findings_by_severity': dict(sorted(by_severity.items())),
        'rule_errors': errors,
        'per_rule': per_rule,
        'peak_rss_mb': round(peak_mb, 1),
        'bar_seconds': BAR_SECONDS,
        'bar_met': cold_wall < BAR_SECONDS and not errors,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / 'rules.json').write_text(json.dumps(result, indent=1) + '\n')
    section = render(result)
    (OUT / 'rules.md').write_text(section)
    if not args.no_doc:
        write_doc_section(section.rstrip('\n'), BEGIN, END)
    print(section)
    return 0 if result['bar_met'] else 1


def render(result):
    rows = '\n'.join(
        f'| {name} | {item["seconds_cold"]:.2f} | {item["findings"]} |' for name, item in result['per_rule'].items()
    )
    severities = ', '.join(f'{key} {value}' for key, value in result['findings_by_severity'].items())
    verdict = 'met' if result['bar_met'] else 'NOT met'
    return f"""{BEGIN}
## Discovery rules (`bench/rules.py`)

Machine: {result['machine']}. Generated by `bench/rules.py` on {result['generated']}.

{result['hosts']:,} synthetic hosts built from the {result['profiles']} fleet profiles (facts parsed once, deep-copied
per host; clusters of three, 20 sites, varied platforms, probe ages and host-key flags), every registered rule,
`today` = {TODAY.isoformat()}. "Cold" empties the version, platform and haproxy.cfg caches first.

- all rules, cold: **{result['cold_seconds']:.2f} s** wall ({result['cold_cpu_seconds']:.2f} s CPU) \
(bar: < {result['bar_seconds']:.0f} s) -> {verdict}
- all rules, warm (median of {result['rounds']}): {result['warm_median_seconds']:.2f} s
- findings: {result['findings']:,} ({severities}); rule errors: {len(result['rule_errors'])}
- peak RSS of the benchmark process (hosts included): {result['peak_rss_mb']:.0f} MB

| rule (alone, cold) | wall (s) | findings |
|---|---:|---:|
{rows}
{END}
"""


if __name__ == '__main__':
    sys.exit(main())
