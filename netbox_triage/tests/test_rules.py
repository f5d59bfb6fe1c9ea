"""Discovery rules on real-world version strings, haproxy.cfg files and the simulated fleet. Plain unittest:
no database, no Django, no network (socket connections are refused for the whole module)."""

import copy
import json
import re
import unittest
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

from netbox_triage.probing.facts import FACT_KEYS, parse_probe_output
from netbox_triage.probing.parsers.packages import components, dpkg_packages, rpm_packages
from netbox_triage.rules import Finding, HostView, Rule, registry, run_rules
from netbox_triage.rules.base import Registry
from netbox_triage.rules.cluster_drift import host_attributes
from netbox_triage.rules.eol import DATA_PATH, lifecycle_for, parse_platform, release_key
from netbox_triage.rules.exposed_services import HttpAnswer, judge_http_exposure
from netbox_triage.rules.haproxy_checks import parse_haproxy_config
from netbox_triage.rules.inventory import platform_matches
from netbox_triage.rules.vulnerable_packages import VULNERABILITIES, compare_versions, upstream_affected

PROFILES_DIR = Path(__file__).resolve().parent.parent / 'fleet' / 'profiles'
TODAY = date(2026, 11, 21)
PROBED = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
_PROFILE_CACHE = {}
_patches = []


def setUpModule():
    def refuse(*args, **kwargs):
        raise AssertionError('the rule tests must not open network connections')

    for target in ('socket.socket.connect', 'socket.socket.connect_ex', 'socket.create_connection'):
        patcher = mock.patch(target, refuse)
        patcher.start()
        _patches.append(patcher)


def tearDownModule():
    while _patches:
        _patches.pop().stop()


def profile_facts(name):
    if name not in _PROFILE_CACHE:
        _PROFILE_CACHE[name] = parse_probe_output((PROFILES_DIR / f'{name}.out').read_bytes()).facts
    return copy.deepcopy(_PROFILE_CACHE[name])


def empty_facts():
    return {key: default() for key, default in FACT_KEYS.items()}


def os_fact(os_id, version_id, family=None, name=None, pretty=None):
    families = {'rhel': 'rhel', 'centos': 'rhel', 'rocky': 'rhel', 'almalinux': 'rhel', 'ol': 'rhel',
                'debian': 'debian', 'ubuntu': 'debian', 'sles': 'suse', 'amzn': 'amazon', 'alpine': 'alpine'}
    return {'id': os_id, 'version_id': version_id, 'family': family or families.get(os_id, 'other'),
            'name': name or os_id, 'pretty_name': pretty or f'{os_id} {version_id}', 'id_like': []}


def package_facts(os_id, version_id, rpm=(), dpkg=(), **extra):
    """Facts as the probe parsers build them, from real `rpm -qa --qf` / `dpkg-query -W` lines."""
    facts = empty_facts()
    facts['os'] = os_fact(os_id, version_id)
    packages = {}
    if rpm:
        packages.update(rpm_packages('\n'.join(rpm)))
    if dpkg:
        packages.update(dpkg_packages('\n'.join(dpkg)))
    facts['packages'] = packages
    facts['components'] = components(packages)
    facts.update(extra)
    return facts


def rpm_line(name, version, release, epoch='(none)', arch='x86_64'):
    return f'{name}\t{epoch}\t{version}\t{release}\t{arch}'


def dpkg_line(name, version, arch='amd64'):
    return f'{name}\t{version}\t{arch}\tinstall ok installed'


def host(name='h1', facts=None, kind='vm', **kwargs):
    kwargs.setdefault('probed_at', PROBED)
    prefix = 'virtualization.virtualmachine' if kind == 'vm' else 'dcim.device'
    key = kwargs.pop('key', f'{prefix}:{name}')
    return HostView(key=key, name=name, kind=kind, facts=facts if facts is not None else empty_facts(), **kwargs)


def run(rule, hosts, today=TODAY, **settings):
    return run_rules(hosts if isinstance(hosts, list) else [hosts], today=today, only=[rule],
                     settings={rule: settings} if settings else None)


def titles(findings):
    return [finding.title for finding in findings]


class FindingAndRegistryTests(unittest.TestCase):
    def test_every_rule_is_registered(self):
        self.assertEqual(sorted(registry.names()), [
            'cluster_drift', 'disk', 'eol', 'exposed_services', 'haproxy_checks', 'inventory', 'redundancy',
            'staleness', 'vulnerable_packages',
        ])
        for rule in registry:
            self.assertTrue(rule.title)
            self.assertIsInstance(rule.default_settings, dict)

    def test_fingerprint_follows_the_evidence(self):
        first = Finding('disk', 'dcim.device:1', 'high', 't', {'mount': '/', 'used': 96}, 'text')
        again = Finding('disk', 'dcim.device:1', 'high', 'other title', {'used': 96, 'mount': '/'}, 'other text')
        changed = Finding('disk', 'dcim.device:1', 'high', 't', {'mount': '/', 'used': 97}, 'text')
        other_host = Finding('disk', 'dcim.device:2', 'high', 't', {'mount': '/', 'used': 96}, 'text')
        self.assertEqual(first.fingerprint, again.fingerprint)
        self.assertNotEqual(first.fingerprint, changed.fingerprint)
        self.assertNotEqual(first.fingerprint, other_host.fingerprint)
        self.assertRegex(first.fingerprint, r'^[0-9a-f]{32}$')
        pinned = Finding('disk', 'dcim.device:1', 'high', 't', {'used': 97}, 'x', identity={'mount': '/'})
        pinned_again = Finding('disk', 'dcim.device:1', 'high', 't', {'used': 98}, 'x', identity={'mount': '/'})
        self.assertEqual(pinned.fingerprint, pinned_again.fingerprint)
        self.assertEqual(json.loads(json.dumps(first.as_dict()))['evidence'], {'mount': '/', 'used': 96})

    def test_finding_refuses_bad_severity_and_unserialisable_evidence(self):
        with self.assertRaises(ValueError):
            Finding('disk', None, 'urgent', 't', {}, '')
        with self.assertRaises(TypeError):
            Finding('disk', None, 'low', 't', {'mounts': {'/', '/var'}}, '')
        with self.assertRaises(ValueError):
            HostView(key='x', name='x', kind='router')

    def test_a_failing_rule_is_one_error_finding_and_the_others_run(self):
        local = Registry()

        @local.register
        class Broken(Rule):
            name = 'broken'
            title = 'Broken'

            def per_host(self, host, settings, today):
                raise KeyError('cpu')

        @local.register
        class Works(Rule):
            name = 'works'
            title = 'Works'
            default_settings = {'severity': 'low'}

            def per_host(self, host, settings, today):
                return [self.finding(host.key, settings['severity'], 'ok', {'n': 1}, 'ok')]

        hosts = [host('a'), host('b'), host('c')]
        with self.assertLogs('netbox_triage.rules', 'ERROR'):
            findings = local.run(hosts, settings={'works': {'severity': 'info'}}, today=TODAY)
        errors = [finding for finding in findings if finding.rule == 'broken']
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0].evidence['failures'], 3)
        self.assertIn('KeyError', errors[0].evidence['error'])
        self.assertEqual([f.severity for f in findings if f.rule == 'works'], ['info'] * 3)
        with self.assertRaises(ValueError):
            local.run(hosts, only=['nope'])
        with self.assertRaises(ValueError):
            local.run(hosts, settings={'works': {'colour': 'red'}}, only=['works'])
        with self.assertRaises(ValueError):
            local.run(hosts, settings={'nope': {}})

    def test_rules_survive_hosts_without_facts(self):
        hosts = [host('bare', facts={}), host('empty', facts=empty_facts(), kind='device', platform='Cisco IOS')]
        findings = run_rules(hosts, today=TODAY)
        self.assertEqual([f for f in findings if 'error' in f.evidence], [])


def guess(name):
    found = parse_platform(name)
    return (found.os_id, found.version)


class EndOfLifeTests(unittest.TestCase):
    def test_data_file_has_a_source_and_sane_dates_for_every_entry(self):
        data = json.loads(DATA_PATH.read_text())
        ids = {product['id'] for product in data['products']}
        for expected in ('rhel', 'centos', 'rocky', 'almalinux', 'oracle-linux', 'debian', 'ubuntu', 'sles', 'alpine',
                         'amazon-linux', 'windows-server'):
            self.assertIn(expected, ids)
        for product in data['products']:
            self.assertTrue(product['source'].startswith('https://'), product['id'])
            for entry in product['releases']:
                where = f'{product["id"]} {entry["release"]}'
                self.assertTrue(entry['source'].startswith('https://'), where)
                released, eol = date.fromisoformat(entry['released']), date.fromisoformat(entry['eol'])
                self.assertLess(released, eol, where)
                for phase in entry['extended']:
                    self.assertGreater(date.fromisoformat(phase['end']), eol, where)
                    self.assertIsInstance(phase['paid'], bool, where)

    def test_known_dates(self):
        cases = [('centos', '6', '2020-11-30'), ('centos', '7', '2024-06-30'), ('rhel', '4', '2012-02-29'),
                 ('debian', '6', '2014-05-31'), ('ubuntu', '14.04', '2019-04-30'), ('sles', '11.1', '2012-08-31'),
                 ('windows', '2012-r2', '2023-10-10'), ('amzn', '2', '2026-06-30')]
        for os_id, release, eol in cases:
            self.assertEqual(lifecycle_for(os_id, release).eol.isoformat(), eol, (os_id, release))
        self.assertEqual(lifecycle_for('centos', '9', 'CentOS Stream').product, 'CentOS Stream')
        self.assertIsNone(lifecycle_for('centos', '9', 'CentOS Linux'))

    def test_release_keys(self):
        self.assertEqual(release_key('major', '6.5'), '6')
        self.assertEqual(release_key('major', '4.9'), '4')
        self.assertEqual(release_key('major.minor', '14.04.6'), '14.04')
        self.assertEqual(release_key('major.minor', '3.18.4'), '3.18')
        self.assertEqual(release_key('sles', '11.1'), '11.1')
        self.assertEqual(release_key('sles', '15'), '15.0')
        self.assertEqual(release_key('amazon', '2'), '2')
        self.assertEqual(release_key('amazon', '2018.03'), '2018.03')
        self.assertEqual(release_key('amazon', '2023'), '2023')
        self.assertEqual(release_key('windows', 'Windows Server 2012 R2 Standard'), '2012-r2')
        self.assertIsNone(release_key('major', 'n/a'))

    def test_platform_names(self):
        self.assertEqual(guess('CentOS 6'), ('centos', '6'))
        self.assertEqual(guess('ubuntu-22-04'), ('ubuntu', '22.04'))
        self.assertEqual(guess('Ubuntu 14.04 LTS'), ('ubuntu', '14.04'))
        self.assertEqual(guess('SLES 12 SP5'), ('sles', '12.5'))
        self.assertEqual(guess('Red Hat Enterprise Linux 7.9'), ('rhel', '7.9'))
        self.assertEqual(guess('Windows Server 2012 R2'), ('windows', '2012-r2'))
        self.assertEqual(guess('Debian bookworm'), ('debian', '12'))
        self.assertEqual(guess('ol8'), ('ol', '8'))
        self.assertTrue(parse_platform('CentOS Stream 9').stream)
        self.assertIsNone(parse_platform('Cisco IOS-XE'))
        self.assertIsNone(parse_platform('Linux'))

    def _centos7(self, today, **settings):
        facts = empty_facts()
        facts['os'] = os_fact('centos', '7', pretty='CentOS Linux 7 (Core)')
        return run('eol', host('db', facts), today=today, **settings)

    def test_severity_grows_with_time_past_end_of_life(self):
        self.assertEqual(self._centos7(date(2024, 3, 1)), [])
        approaching = self._centos7(date(2024, 6, 1))
        self.assertEqual([f.severity for f in approaching], ['info'])
        self.assertEqual(approaching[0].evidence['phase'], 'approaching')
        self.assertEqual(self._centos7(date(2024, 6, 1), warn_days=0), [])
        self.assertEqual([f.severity for f in self._centos7(date(2024, 7, 1))], ['medium'])
        self.assertEqual([f.severity for f in self._centos7(date(2025, 8, 1))], ['high'])
        self.assertEqual([f.severity for f in self._centos7(date(2027, 7, 1))], ['critical'])
        # Quiet until the evidence changes: a month later in the same phase is the same finding.
        self.assertEqual(self._centos7(date(2025, 8, 1))[0].fingerprint, self._centos7(date(2025, 9, 1))[0].fingerprint)

    def test_extended_support_is_shown(self):
        facts = empty_facts()
        facts['os'] = os_fact('debian', '11', pretty='Debian GNU/Linux 11 (bullseye)')
        in_lts = run('eol', host('d11', facts), today=date(2025, 1, 1))
        self.assertEqual([f.severity for f in in_lts], ['low'])
        self.assertEqual(in_lts[0].evidence['extended'], [{'name': 'Debian LTS', 'end': '2026-08-31', 'paid': False,
                                                           'active': True}])
        self.assertIn('Debian LTS until 2026-08-31 (free, running)', in_lts[0].evidence_text)
        after = run('eol', host('d11', facts), today=date(2026, 9, 1))
        self.assertEqual([f.severity for f in after], ['high'])
        self.assertFalse(after[0].evidence['extended'][0]['active'])
        self.assertNotEqual(in_lts[0].fingerprint, after[0].fingerprint)
        facts['os'] = os_fact('ubuntu', '20.04', pretty='Ubuntu 20.04.6 LTS')
        esm = run('eol', host('u20', facts))
        self.assertEqual([f.severity for f in esm], ['medium'])
        self.assertIn('paid extended support', esm[0].recommendation)

    def test_supported_releases_do_not_fire(self):
        for os_id, version in (('ubuntu', '22.04'), ('ubuntu', '24.04'), ('rocky', '9.4'), ('almalinux', '8.10'),
                               ('debian', '13'), ('rhel', '9.4'), ('amzn', '2023'), ('sles', '15.7')):
            facts = empty_facts()
            facts['os'] = os_fact(os_id, version)
            self.assertEqual(run('eol', host('ok', facts)), [], (os_id, version))
        facts['os'] = os_fact('ubuntu', '22.04')
        self.assertEqual([f.severity for f in run('eol', host('ok', facts), warn_days=200)], ['info'])

    def test_unknown_and_older_releases(self):
        facts = empty_facts()
        facts['os'] = os_fact('evil', '6.6.6', family='debian')
        self.assertEqual(run('eol', host('x', facts)), [])
        facts['os'] = os_fact('rhel', '3.9', pretty='Red Hat Enterprise Linux AS release 3 (Taroon Update 9)')
        found = run('eol', host('x', facts))
        self.assertEqual([f.severity for f in found], ['critical'])
        self.assertTrue(found[0].evidence['eol_is_upper_bound'])

    def test_platform_is_used_only_without_facts(self):
        windows = host('win', facts={}, kind='device', platform='Windows Server 2012 R2')
        found = run('eol', windows)
        self.assertEqual([f.severity for f in found], ['critical'])
        self.assertEqual(found[0].evidence['basis'], 'platform')
        self.assertEqual(found[0].title, 'Windows Server 2012 R2 is past end of life (2023-10-10)')
        self.assertEqual(run('eol', windows, use_platform=False), [])
        # With facts, the probe wins over a wrong platform name.
        probed = host('u22', profile_facts('ubuntu2204'), platform='CentOS 6')
        self.assertEqual(run('eol', probed), [])

    def test_profiles(self):
        sles = run('eol', host('sles', profile_facts('sles11')))
        self.assertEqual(sles[0].title, 'SUSE Linux Enterprise Server 11 SP1 is past end of life (2012-08-31)')
        self.assertIn('LTSS', sles[0].evidence_text)
        rhel4 = run('eol', host('be-1', profile_facts('rhel4')))
        self.assertEqual(rhel4[0].evidence['release'], '4')
        self.assertEqual(rhel4[0].evidence['source'], 'https://access.redhat.com/support/policy/updates/errata')
        self.assertEqual([f.severity for f in run('eol', host('a', profile_facts('alpine')))], ['high'])
        self.assertEqual([f.severity for f in run('eol', host('a', profile_facts('amazon2')))], ['medium'])


class VersionComparisonTests(unittest.TestCase):
    def test_rpm(self):
        self.assertEqual(compare_versions('rpm', '1.0.1e-15.el6', '1.0.1e-16.el6_5.7'), -1)
        self.assertEqual(compare_versions('rpm', '1.0.1e-30.el6_6.4', '1.0.1e-16.el6_5.7'), 1)
        self.assertEqual(compare_versions('rpm', '3.0-27.el4', '3.0-27.el4.2'), -1)
        self.assertEqual(compare_versions('rpm', '4.1.2-15.el6_4', '4.1.2-15.el6_5.1'), -1)
        self.assertEqual(compare_versions('rpm', '4.1.2-15.el6_5.2', '4.1.2-15.el6_5.1'), 1)
        self.assertEqual(compare_versions('rpm', '1:1.0.2k-25.el7_9', '1.0.2k-99.el7'), 1)  # the epoch wins
        self.assertEqual(compare_versions('rpm', '8.7p1-38.el9', '8.7p1-38.el9_4.1'), -1)

    def test_dpkg(self):
        self.assertEqual(compare_versions('dpkg', '1:8.9p1-3ubuntu0.4', '1:8.9p1-3ubuntu0.10'), -1)  # not text order
        self.assertEqual(compare_versions('dpkg', '1.0.1f-1ubuntu2.27', '1.0.1f-1ubuntu2'), 1)
        self.assertEqual(compare_versions('dpkg', '1.0.1e-2+deb7u4', '1.0.1e-2+deb7u5'), -1)
        self.assertEqual(compare_versions('dpkg', '4.1-3+deb6u2', '4.1-3+deb6u1'), 1)
        self.assertEqual(compare_versions('dpkg', '2.1~rc1-1', '2.1-1'), -1)
        self.assertEqual(compare_versions('dpkg', '1:9.2p1-2+deb12u1', '1:9.2p1-2+deb12u3'), -1)

    def test_apk(self):
        self.assertEqual(compare_versions('apk', '3.1.4-r5', '3.1.4-r1'), 1)

    def test_upstream_ranges(self):
        heartbleed, shellshock, regresshion = VULNERABILITIES
        for version, affected in (('1.0.1', True), ('1.0.1e', True), ('1.0.1f', True), ('1.0.1g', False),
                                  ('1.0.0', False), ('0.9.8o', False), ('1.0.2k', False), ('3.0.2', False)):
            self.assertEqual(upstream_affected(heartbleed, version), affected, version)
        for version, affected in (('8.9p1', True), ('9.2p1', True), ('8.5p1', True), ('9.8p1', False),
                                  ('8.4p1', False), ('7.4p1', False), ('3.9p1', True)):
            self.assertEqual(upstream_affected(regresshion, version), affected, version)
        for version, affected in (('4.1.2', True), ('4.2+dfsg', True), ('4.3', True), ('4.3.30', False),
                                  ('5.1', False), ('3.0', True)):
            self.assertEqual(upstream_affected(shellshock, version), affected, version)


class VulnerablePackagesTests(unittest.TestCase):
    def findings(self, facts, **settings):
        return run('vulnerable_packages', host('h', facts), **settings)

    def cves(self, facts, **settings):
        return sorted(finding.evidence.get('cve') for finding in self.findings(facts, **settings))

    def test_rhel6_heartbleed_is_judged_on_the_release(self):
        vulnerable = package_facts('centos', '6.5', rpm=[rpm_line('openssl', '1.0.1e', '15.el6')])
        fixed = package_facts('centos', '6.5', rpm=[rpm_line('openssl', '1.0.1e', '16.el6_5.7')])
        later = package_facts('rhel', '6.6', rpm=[rpm_line('openssl', '1.0.1e', '30.el6_6.4')])
        before = package_facts('rhel', '6.4', rpm=[rpm_line('openssl', '1.0.0', '27.el6_4.2')])
        self.assertEqual(self.cves(vulnerable), ['CVE-2014-0160'])
        self.assertEqual(self.cves(fixed), [])
        self.assertEqual(self.cves(later), [])
        self.assertEqual(self.cves(before), [])
        finding = self.findings(vulnerable)[0]
        self.assertEqual(finding.severity, 'high')  # no TLS service seen
        self.assertEqual(finding.evidence['packages'][0]['fixed_in'], '1.0.1e-16.el6_5.7')
        self.assertEqual(finding.evidence['packages'][0]['advisory'], 'RHSA-2014:0376')

    def test_debian_and_ubuntu_backports(self):
        cases = [
            (('ubuntu', '14.04'), dpkg_line('libssl1.0.0', '1.0.1f-1ubuntu2.27'), []),
            (('ubuntu', '14.04'), dpkg_line('libssl1.0.0', '1.0.1f-1ubuntu2'), []),
            (('ubuntu', '14.04'), dpkg_line('libssl1.0.0', '1.0.1f-1ubuntu1'), ['CVE-2014-0160']),
            (('ubuntu', '12.04'), dpkg_line('libssl1.0.0', '1.0.1-4ubuntu5.11'), ['CVE-2014-0160']),
            (('ubuntu', '12.04'), dpkg_line('libssl1.0.0', '1.0.1-4ubuntu5.12'), []),
            (('debian', '7'), dpkg_line('libssl1.0.0', '1.0.1e-2+deb7u4'), ['CVE-2014-0160']),
            (('debian', '7'), dpkg_line('libssl1.0.0', '1.0.1e-2+deb7u5'), []),
            (('debian', '6'), dpkg_line('libssl0.9.8', '0.9.8o-4squeeze14'), []),
            (('debian', '6'), dpkg_line('bash', '4.1-3'), ['CVE-2014-6271']),
            (('debian', '6'), dpkg_line('bash', '4.1-3+deb6u2'), []),
            (('debian', '7'), dpkg_line('bash', '4.2+dfsg-0.1'), ['CVE-2014-6271']),
            (('debian', '7'), dpkg_line('bash', '4.2+dfsg-0.1+deb7u3'), []),
            (('ubuntu', '14.04'), dpkg_line('bash', '4.3-7ubuntu1'), ['CVE-2014-6271']),
            (('ubuntu', '14.04'), dpkg_line('bash', '4.3-7ubuntu1.7'), []),
            (('ubuntu', '22.04'), dpkg_line('bash', '5.1-6ubuntu1'), []),
            (('ubuntu', '22.04'), dpkg_line('openssh-server', '1:8.9p1-3ubuntu0.4'), ['CVE-2024-6387']),
            (('ubuntu', '22.04'), dpkg_line('openssh-server', '1:8.9p1-3ubuntu0.10'), []),
            (('ubuntu', '24.04'), dpkg_line('openssh-server', '1:9.6p1-3ubuntu13'), ['CVE-2024-6387']),
            (('ubuntu', '24.04'), dpkg_line('openssh-server', '1:9.6p1-3ubuntu13.3'), []),
            (('ubuntu', '20.04'), dpkg_line('openssh-server', '1:8.2p1-4ubuntu0.11'), []),
            (('debian', '12'), dpkg_line('openssh-server', '1:9.2p1-2+deb12u1'), ['CVE-2024-6387']),
            (('debian', '12'), dpkg_line('openssh-server', '1:9.2p1-2+deb12u3'), []),
            (('debian', '11'), dpkg_line('openssh-server', '1:8.4p1-5+deb11u3'), []),
        ]
        for (os_id, version), line, expected in cases:
            self.assertEqual(self.cves(package_facts(os_id, version, dpkg=[line])), expected, (os_id, line))

    def test_rpm_distributions(self):
        cases = [
            (('rhel', '5.11'), rpm_line('bash', '3.2', '32.el5'), ['CVE-2014-6271']),
            (('rhel', '5.11'), rpm_line('bash', '3.2', '33.el5.1'), []),
            (('centos', '7'), rpm_line('bash', '4.2.46', '35.el7_9'), []),
            (('centos', '7'), rpm_line('openssl', '1.0.1e', '34.el7', epoch='1'), []),  # RHEL 7 shipped the fix
            (('rhel', '9.4'), rpm_line('openssh-server', '8.7p1', '38.el9'), ['CVE-2024-6387']),
            (('rhel', '9.4'), rpm_line('openssh-server', '8.7p1', '38.el9_4.1'), []),
            (('rocky', '9.4'), rpm_line('openssh-server', '8.7p1', '38.el9_4.1'), []),
            (('rhel', '8.10'), rpm_line('openssh-server', '8.0p1', '19.el8_9.2'), []),
            (('amzn', '2018.03'), rpm_line('openssl', '1.0.1e', '37.66.amzn1', epoch='1'), []),
            (('amzn', '2014.03'), rpm_line('openssl', '1.0.1e', '30.51.amzn1', epoch='1'), ['CVE-2014-0160']),
            (('amzn', '2'), rpm_line('bash', '4.2.46', '34.amzn2'), []),
        ]
        for (os_id, version), line, expected in cases:
            self.assertEqual(self.cves(package_facts(os_id, version, rpm=[line])), expected, (os_id, line))

    def test_undecided_releases_stay_quiet_unless_asked(self):
        # openSUSE 13.1 shipped OpenSSL 1.0.1e; the table has no row for it: its backports are unknown here.
        facts = package_facts('opensuse', '13.1', rpm=[rpm_line('openssl', '1.0.1e', '11.32.1')])
        facts['os']['family'] = 'suse'
        self.assertEqual(self.findings(facts), [])
        undecided = self.findings(facts, report_undecided=True)
        self.assertEqual([(f.severity, f.evidence['cve']) for f in undecided], [('info', 'CVE-2014-0160')])
        # Ubuntu 13.04 was dead before Heartbleed: no fix was ever published, so it is vulnerable.
        raring = package_facts('ubuntu', '13.04', dpkg=[dpkg_line('libssl1.0.0', '1.0.1c-4ubuntu8.2')])
        self.assertEqual(self.cves(raring), ['CVE-2014-0160'])

    def test_openssl_without_a_package_is_judged_upstream(self):
        facts = package_facts('alpine', '2.7', openssl_version='OpenSSL 1.0.1f 6 Jan 2014')
        found = self.findings(facts)
        self.assertEqual([f.evidence['cve'] for f in found], ['CVE-2014-0160'])
        self.assertIn('no package', found[0].evidence['packages'][0]['basis'])
        facts['openssl_version'] = 'OpenSSL 1.0.1g 7 Apr 2014'
        self.assertEqual(self.findings(facts), [])

    def test_haproxy_inherits_the_system_openssl(self):
        found = run('vulnerable_packages', host('haproxy-1', profile_facts('centos6-heartbleed')))
        heartbleed = [f for f in found if f.evidence['cve'] == 'CVE-2014-0160'][0]
        self.assertEqual(heartbleed.severity, 'critical')
        exposed = ' '.join(heartbleed.evidence['exposed_through'])
        self.assertIn('haproxy 1.5.4 (runs on OpenSSL 1.0.1e)', exposed)
        self.assertIn('terminates TLS', exposed)
        self.assertEqual(run('vulnerable_packages', host('haproxy-2', profile_facts('centos6-patched'))), [])

    def test_haproxy_with_its_own_openssl(self):
        facts = profile_facts('centos6-patched')
        facts['haproxy']['openssl_running'] = 'OpenSSL 1.0.1f 6 Jan 2014'
        found = run('vulnerable_packages', host('haproxy-2', facts))
        self.assertEqual([f.evidence['cve'] for f in found], ['CVE-2014-0160'])
        self.assertEqual(found[0].evidence['packages'][0]['name'], 'haproxy (bundled OpenSSL)')
        facts['haproxy']['openssl_running'] = 'OpenSSL 1.0.2u 20 Dec 2019'
        self.assertEqual(run('vulnerable_packages', host('haproxy-2', facts)), [])

    def test_nginx_inherits_the_system_openssl(self):
        """Debian's nginx links the system libssl: the host's Heartbleed names it, and a TLS port makes it
        critical; with the fixed libssl nothing is raised for nginx either."""
        nginx = [dpkg_line('nginx', '1.2.1-2.2+wheezy2'), dpkg_line('nginx-common', '1.2.1-2.2+wheezy2')]
        vulnerable = package_facts('debian', '7', dpkg=[dpkg_line('libssl1.0.0', '1.0.1e-2+deb7u4'), *nginx])
        [finding] = self.findings(vulnerable)
        self.assertEqual(finding.evidence['cve'], 'CVE-2014-0160')
        self.assertIn('nginx (distribution package, linked against the system OpenSSL)',
                      finding.evidence['exposed_through'])
        self.assertEqual(finding.severity, 'high')
        vulnerable['listening'] = listening(('0.0.0.0', 443, 'nginx'))
        [finding] = self.findings(vulnerable)
        self.assertEqual(finding.severity, 'critical')
        self.assertIn('TLS port listening on 0.0.0.0:443 (nginx)', finding.evidence['exposed_through'])
        fixed = package_facts('debian', '7', dpkg=[dpkg_line('libssl1.0.0', '1.0.1e-2+deb7u5'), *nginx],
                              listening=listening(('0.0.0.0', 443, 'nginx')))
        self.assertEqual(self.findings(fixed), [])

    def test_regresshion_severity_follows_sshd_exposure(self):
        facts = package_facts('debian', '12', dpkg=[dpkg_line('openssh-server', '1:9.2p1-2+deb12u1')])
        facts['listening'] = [{'address': '127.0.0.1', 'port': 22, 'process': 'sshd', 'pid': 1,
                               'all_interfaces': False}]
        self.assertEqual([f.severity for f in self.findings(facts)], ['medium'])
        facts['listening'].append({'address': '0.0.0.0', 'port': 22, 'process': 'sshd', 'pid': 1,
                                   'all_interfaces': True})
        self.assertEqual([f.severity for f in self.findings(facts)], ['high'])

    def test_only_some_cves(self):
        facts = profile_facts('centos6-heartbleed')
        self.assertEqual(self.cves(facts, cves=['CVE-2014-6271']), ['CVE-2014-6271'])


def listening(*entries):
    return [{'address': address, 'port': port, 'process': process, 'pid': 1, 'all_interfaces': address in ('*', '::')}
            for address, port, process in entries]


class ExposedServicesTests(unittest.TestCase):
    def test_jenkins_on_all_interfaces(self):
        found = run('exposed_services', host('fe-3', profile_facts('ubuntu2204-jenkins')))
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0].evidence['service'], 'jenkins')
        self.assertEqual([(s['address'], s['port']) for s in found[0].evidence['sockets']],
                         [('0.0.0.0', 8080), ('*', 50000)])
        self.assertEqual(found[0].evidence['version'], '2.332.3')

    def test_java_on_8080_is_not_jenkins(self):
        for profile in ('rhel4', 'debian6', 'ubuntu1404', 'ubuntu2204'):
            self.assertEqual(run('exposed_services', host(profile, profile_facts(profile))), [], profile)

    def test_loopback_and_tls_ports_do_not_fire(self):
        facts = profile_facts('ubuntu2204-jenkins')
        facts['listening'] = listening(('127.0.0.1', 8080, 'java'), ('::1', 8080, 'java'))
        self.assertEqual(run('exposed_services', host('ci', facts)), [])
        facts = empty_facts()
        facts['listening'] = listening(('0.0.0.0', 2376, 'dockerd'))
        self.assertEqual(run('exposed_services', host('docker', facts)), [])
        facts['listening'] = listening(('0.0.0.0', 2375, 'dockerd'))
        self.assertEqual([f.evidence['service'] for f in run('exposed_services', host('docker', facts))], ['docker'])

    def test_redis_only_when_asked(self):
        facts = profile_facts('debian12-redis')
        self.assertEqual(run('exposed_services', host('redis-1', facts)), [])
        found = run('exposed_services', host('redis-1', facts), services=['redis'])
        self.assertEqual([(s['address'], s['port']) for s in found[0].evidence['sockets']],
                         [('0.0.0.0', 6379), ('::', 6379)])

    def test_judge_jenkins(self):
        pages = {
            '/script': HttpAnswer(200, {'X-Jenkins': '2.332.3'}, '<title>Script Console [Jenkins]</title>'),
            '/api/json': HttpAnswer(200, {'X-Jenkins': '2.332.3'}, '{"_class": "hudson.model.Hudson", "jobs": []}'),
        }
        verdict = judge_http_exposure('vm:1', 'jenkins', pages.__getitem__, '10.0.10.3', 8080)
        self.assertEqual(verdict.state, 'anonymous-admin')
        self.assertEqual(verdict.finding.severity, 'critical')
        self.assertEqual(verdict.finding.evidence['version'], '2.332.3')
        self.assertEqual(verdict.finding.rule, 'exposed_services')

        pages['/script'] = HttpAnswer(403, {'X-Jenkins': '2.332.3'}, 'Authentication required')
        verdict = judge_http_exposure('vm:1', 'jenkins', pages.__getitem__, '10.0.10.3', 8080)
        self.assertEqual((verdict.state, verdict.finding.severity), ('anonymous-read', 'high'))

        protected = {
            '/script': (403, {'X-Jenkins': '2.440'}, '<html>Authentication required</html>'),
            '/api/json': (403, {'X-Jenkins': '2.440'}, ''),
        }
        verdict = judge_http_exposure('vm:1', 'jenkins', protected.__getitem__)
        self.assertEqual((verdict.state, verdict.finding), ('protected', None))
        redirect = {'/script': (302, {'Location': '/login?from=%2Fscript', 'X-Jenkins': '2.440'}, ''),
                    '/api/json': (302, {'Location': '/login?from=%2Fapi%2Fjson', 'X-Jenkins': '2.440'}, '')}
        self.assertEqual(judge_http_exposure('vm:1', 'jenkins', redirect.__getitem__).state, 'protected')

    def test_judge_other_answers(self):
        def refused(path):
            raise ConnectionRefusedError(111, 'Connection refused')

        self.assertEqual(judge_http_exposure('vm:1', 'jenkins', refused).state, 'unreachable')
        nginx = lambda path: HttpAnswer(200, {'Server': 'nginx'}, '<h1>Welcome to nginx!</h1>')  # noqa: E731
        self.assertEqual(judge_http_exposure('vm:1', 'jenkins', nginx).state, 'not-this-service')
        elastic = lambda path: (200, {}, '{"name": "n1", "cluster_name": "logs", "version": {"number": "7.10.2"}}')  # noqa: E731
        verdict = judge_http_exposure('vm:1', 'elasticsearch', elastic)
        self.assertEqual((verdict.state, verdict.finding.severity), ('anonymous-read', 'high'))
        docker = lambda path: (200, {}, '{"Version": "24.0.7", "ApiVersion": "1.43"}')  # noqa: E731
        self.assertEqual(judge_http_exposure('vm:1', 'docker', docker).finding.severity, 'critical')
        with self.assertRaises(ValueError):
            judge_http_exposure('vm:1', 'ftp', docker)


def haproxy_host(config, capped=False):
    facts = empty_facts()
    facts['haproxy'] = {'version': '2.8.5', 'openssl_built': None, 'openssl_running': None, 'config': config,
                        'config_capped': capped}
    return host('lb', facts)


def unchecked(config, **settings):
    found = run('haproxy_checks', haproxy_host(config), **settings)
    return {item['section']: item['unchecked'] for finding in found for item in finding.evidence['backends']}


class HaproxyChecksTests(unittest.TestCase):
    def test_profiles(self):
        found = run('haproxy_checks', host('haproxy-1', profile_facts('centos6-heartbleed')))
        self.assertEqual([item['section'] for item in found[0].evidence['backends']], ['backend app', 'backend web'])
        self.assertEqual(found[0].evidence['backends'][0]['unchecked'], ['be-1', 'be-2', 'be-3'])
        self.assertIn('Only haproxy.cfg was read', found[0].evidence_text)
        # default-server check in defaults: every server is checked, httpchk says how.
        self.assertEqual(run('haproxy_checks', host('haproxy-2', profile_facts('centos6-patched'))), [])
        self.assertEqual(run('haproxy_checks', host('fe-1', profile_facts('ubuntu2204'))), [])

    def test_server_lines(self):
        config = """
backend checked
    server a 10.0.0.1:80 check inter 2s
    server b 10.0.0.2:80 check
backend commented
    server a 10.0.0.1:80 # check
    server b 10.0.0.2:80 check
backend cookie
    # "check" here is a cookie value, not the keyword
    server a 10.0.0.1:80 cookie check
    server b 10.0.0.2:80 cookie b check
backend quoted
    server a 10.0.0.1:80 "check"
    server b 10.0.0.2:80 check # \\"no-check\\"
backend tracked
    server a 10.0.0.1:80 track checked/a
    server b 10.0.0.2:80 agent-check agent-port 9999
"""
        self.assertEqual(unchecked(config), {'backend commented': ['a'], 'backend cookie': ['a']})

    def test_default_server_inheritance(self):
        config = """
defaults
    mode http
    default-server check inter 3s
backend inherits
    server a 10.0.0.1:80
    server b 10.0.0.2:80 no-check
defaults plain
    mode tcp
backend fresh
    server a 10.0.0.1:3306
    server b 10.0.0.2:3306
backend ordered
    server a 10.0.0.1:80
    default-server check
    server b 10.0.0.2:80
defaults checked
    default-server check
defaults
    mode http
backend named from checked
    server a 10.0.0.1:80
    server b 10.0.0.2:80
listen old-style
    bind :8080
    option httpchk GET /health
    server a 10.0.0.1:8080
    server b 10.0.0.2:8080
"""
        found = run('haproxy_checks', haproxy_host(config))
        backends = {item['section']: item for item in found[0].evidence['backends']}
        self.assertEqual({name: item['unchecked'] for name, item in backends.items()}, {
            'backend inherits': ['b'],
            'backend fresh': ['a', 'b'],
            'backend ordered': ['a'],
            'listen old-style': ['a', 'b'],
        })
        self.assertEqual(backends['listen old-style']['check_options'], ['httpchk'])
        self.assertIn('"option httpchk" is set but never runs without "check"', found[0].evidence_text)

    def test_what_does_not_count(self):
        config = """
backend single
    server only 10.0.0.1:80
backend one-active
    server a 10.0.0.1:80
    server b 10.0.0.2:80 disabled
backend off
    disabled
    server a 10.0.0.1:80
    server b 10.0.0.2:80
frontend www
    bind *:80
    default_backend single
"""
        self.assertEqual(unchecked(config), {})
        self.assertEqual(unchecked(config, min_servers=1), {'backend single': ['only'], 'backend one-active': ['a']})

    def test_templates_includes_and_conditions(self):
        config = """
include /etc/haproxy/conf.d/backends.cfg
.if defined(STAGING)
backend staging
    server-template web 3 web.staging.internal:80
.endif
backend prod
    server-template web 1-5 web.prod.internal:80 check resolvers dns
"""
        parsed = parse_haproxy_config(config)
        self.assertEqual([(p.name, [s.checked for s in p.servers]) for p in parsed.proxies],
                         [('staging', [False]), ('prod', [True])])
        found = run('haproxy_checks', haproxy_host(config), min_servers=1)
        notes = found[0].evidence['notes']
        self.assertTrue(any('"include" is not a HAProxy directive' in note for note in notes))
        self.assertTrue(any('.if blocks' in note for note in notes))
        capped = run('haproxy_checks', haproxy_host(config, capped=True), min_servers=1)
        self.assertTrue(any('cut at the probe size limit' in note for note in capped[0].evidence['notes']))

    def test_no_haproxy(self):
        self.assertEqual(run('haproxy_checks', host('x', empty_facts())), [])


class DiskTests(unittest.TestCase):
    def test_profiles(self):
        redis = run('disk', host('redis-1', profile_facts('debian12-redis')))
        self.assertEqual([(f.evidence['mount'], f.evidence['used_percent'], f.severity) for f in redis],
                         [('/var/lib/redis', 97, 'high')])
        mysql = run('disk', host('mysql-1', profile_facts('mysql-baremetal')))
        self.assertEqual([f.evidence['mount'] for f in mysql], ['/backup'])
        sles = run('disk', host('sles', profile_facts('sles11')))
        self.assertEqual([(f.evidence['condition'], f.evidence['mount'], f.evidence['df_ms'], f.severity)
                          for f in sles], [('slow', '/mnt/exports', 812, 'medium')])
        self.assertIn('file server', sles[0].recommendation)
        for profile in ('debian12', 'ubuntu2204', 'centos7', 'centos6-patched'):
            self.assertEqual(run('disk', host(profile, profile_facts(profile))), [], profile)

    def filesystems(self, *entries):
        facts = empty_facts()
        facts['filesystems'] = [{'device': '/dev/sda1', 'fstype': fstype, 'mount': mount, 'used_percent': used,
                                 'available_bytes': 1 << 30, 'df_ms': ms} for mount, fstype, used, ms in entries]
        return host('h', facts)

    def test_thresholds_and_ignored_filesystems(self):
        found = run('disk', self.filesystems(('/', 'ext4', 94, 2), ('/var', 'xfs', 99, 1),
                                             ('/snap/core/1', 'squashfs', 100, 1), ('/data', 'ext4', None, 5000)))
        self.assertEqual([(f.evidence['condition'], f.evidence['mount'], f.severity) for f in found],
                         [('full', '/var', 'critical'), ('slow', '/data', 'high')])
        found = run('disk', self.filesystems(('/', 'ext4', 94, 2)), used_percent=90, slow_ms=1)
        self.assertEqual([f.evidence['condition'] for f in found], ['full', 'slow'])
        self.assertEqual(run('disk', self.filesystems(('/var', 'xfs', 99, 1)), ignore_mounts=['/var']), [])

    def test_fingerprint_ignores_small_moves(self):
        at96 = run('disk', self.filesystems(('/backup', 'xfs', 96, 1)))[0]
        at97 = run('disk', self.filesystems(('/backup', 'xfs', 97, 1)))[0]
        at99 = run('disk', self.filesystems(('/backup', 'xfs', 99, 1)))[0]
        self.assertEqual(at96.fingerprint, at97.fingerprint)
        self.assertNotEqual(at96.fingerprint, at99.fingerprint)


def patched_ubuntu2204():
    """A healthy Ubuntu 22.04 frontend: the ubuntu2204 profile with the regreSSHion fix installed."""
    facts = profile_facts('ubuntu2204')
    for name in facts['components']['openssh']:
        facts['packages'][name]['full'] = '1:8.9p1-3ubuntu0.10'
    return facts


class ClusterDriftTests(unittest.TestCase):
    def members(self, facts_list, cluster='Web', **kwargs):
        return [host(f'web-{index}', facts, cluster=cluster, cluster_key='virtualization.cluster:9', role='Web',
                     site='DC', **kwargs) for index, facts in enumerate(facts_list, 1)]

    def test_identical_members_are_quiet(self):
        self.assertEqual(run('cluster_drift', self.members([patched_ubuntu2204() for _ in range(3)])), [])

    def test_the_odd_one_out_is_named(self):
        facts = [patched_ubuntu2204() for _ in range(3)]
        facts[1]['kernel']['release'] = '5.15.0-91-generic'
        facts[1]['cpu']['stepping'] = 7
        found = run('cluster_drift', self.members(facts))
        self.assertEqual([(f.subject, f.severity) for f in found], [('virtualization.virtualmachine:web-2', 'medium')])
        self.assertEqual([item['attribute'] for item in found[0].evidence['differences']], ['cpu', 'kernel'])
        self.assertEqual(found[0].evidence['differences'][1]['majority'], '2 of 3')

    def test_a_pair_that_differs_is_a_group_finding(self):
        found = run('cluster_drift', self.members([profile_facts('mysql-baremetal'), profile_facts('centos7')]))
        self.assertEqual([f.subject for f in found], ['virtualization.cluster:9'])
        attributes = [item['attribute'] for item in found[0].evidence['differences']]
        self.assertEqual(attributes, ['cpu', 'kernel', 'openssl', 'mysql'])
        self.assertIn('mysql: web-1 5.6.51-2.el7, web-2 5.7.36-1.el7', found[0].evidence_text)

    def test_a_package_on_one_member_only_is_not_drift(self):
        found = run('cluster_drift', self.members([patched_ubuntu2204(), patched_ubuntu2204(), patched_ubuntu2204()]))
        self.assertEqual(found, [])
        facts = patched_ubuntu2204()
        facts['packages']['jenkins'] = {'version': '2.332.3', 'release': None, 'epoch': None, 'arch': 'all',
                                        'full': '2.332.3', 'manager': 'dpkg', 'other_versions': []}
        facts['components']['jenkins'] = ['jenkins']
        self.assertEqual(run('cluster_drift', self.members([patched_ubuntu2204(), patched_ubuntu2204(), facts])), [])

    def test_groups(self):
        facts = [patched_ubuntu2204() for _ in range(2)]
        facts[1]['os']['version_id'] = '20.04'
        # Same members by cluster and by role+site: compared once.
        self.assertEqual(len(run('cluster_drift', self.members(facts))), 1)
        # Without a cluster, role within a site groups them.
        loose = [host(f'w{i}', f, role='Web', site='DC') for i, f in enumerate(facts)]
        self.assertEqual([f.evidence['group'] for f in run('cluster_drift', loose)], ['role Web in site DC'])
        tagged = [host(f'w{i}', f, tags=('web-pool',)) for i, f in enumerate(facts)]
        self.assertEqual(run('cluster_drift', tagged), [])
        self.assertEqual(len(run('cluster_drift', tagged, tags=['web-pool'])), 1)
        # Inactive and unprobed hosts are not compared.
        facts.append(empty_facts())
        members = self.members(facts)
        members[1] = replace(members[1], is_active=False)
        self.assertEqual(run('cluster_drift', members), [])

    def test_attributes(self):
        values = host_attributes(host('x', profile_facts('centos6-heartbleed')), ['openssl', 'haproxy', 'mysql'])
        self.assertEqual(values, {
            'cpu': 'Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz (stepping 4)',
            'kernel': '2.6.32-431.el6.x86_64',
            'os': 'centos 6.5',
            'openssl': '1.0.1e-15.el6',
            'haproxy': '1.5.4-1.el6',
        })


class RedundancyTests(unittest.TestCase):
    def test_single_active_member(self):
        hosts = [
            host('db-1', cluster='DB', role='Database'),
            host('db-2', cluster='DB', role='Database', is_active=False),
            host('web-1', cluster='Web', role='Web'),
            host('web-2', cluster='Web', role='Web'),
            host('jump', role='Jump host'),
        ]
        found = run('redundancy', hosts)
        self.assertEqual(sorted((f.subject, f.evidence['group']) for f in found), [
            ('virtualization.virtualmachine:db-1', 'cluster DB'),
            ('virtualization.virtualmachine:db-1', 'role Database'),
            ('virtualization.virtualmachine:jump', 'role Jump host'),
        ])
        self.assertEqual(found[0].evidence['inactive'], ['db-2'])
        self.assertEqual(len(run('redundancy', hosts, ignore_roles=['Jump host', 'Database'])), 1)
        self.assertEqual(run('redundancy', hosts[2:4]), [])


class InventoryTests(unittest.TestCase):
    def test_kind(self):
        vm_as_device = run('inventory', host('mysql-2', profile_facts('centos7'), kind='device'))
        self.assertEqual([f.evidence['check'] for f in vm_as_device], ['device-is-virtual'])
        self.assertIn('systemd-detect-virt: kvm', vm_as_device[0].evidence['clues'])
        metal_as_vm = run('inventory', host('redis-1', profile_facts('debian12-redis'), kind='vm'))
        self.assertEqual([f.evidence['check'] for f in metal_as_vm], ['vm-is-bare-metal'])
        self.assertEqual(run('inventory', host('redis-1', profile_facts('debian12-redis'), kind='device')), [])
        self.assertEqual(run('inventory', host('redis-2', profile_facts('debian12'), kind='vm')), [])
        # RHEL 4 gives no virtualization clue: nothing to say either way.
        self.assertEqual(run('inventory', host('be-1', profile_facts('rhel4'), kind='device')), [])
        container = profile_facts('ubuntu2204')
        container['virtualization'] = {'role': 'container', 'type': 'lxc',
                                       'evidence': ['PID 1 environment container=lxc']}
        self.assertIn('container (lxc)', run('inventory', host('c', container, kind='device'))[0].title)

    def test_platform(self):
        rhel4 = os_fact('rhel', '4.9')
        self.assertTrue(platform_matches('CentOS 6', os_fact('centos', '6.5')))
        self.assertTrue(platform_matches('Ubuntu 14.04', os_fact('ubuntu', '14.04')))
        self.assertTrue(platform_matches('Debian 12', os_fact('debian', '12')))
        self.assertTrue(platform_matches('SLES 11 SP1', os_fact('sles', '11.1')))
        self.assertTrue(platform_matches('CentOS', os_fact('centos', '7')))
        self.assertFalse(platform_matches('Ubuntu 14.04', rhel4))
        self.assertFalse(platform_matches('RHEL 7', os_fact('centos', '7')))
        self.assertFalse(platform_matches('Ubuntu 22.04', os_fact('ubuntu', '20.04')))
        self.assertFalse(platform_matches('SLES 11 SP4', os_fact('sles', '11.1')))
        self.assertIsNone(platform_matches('Linux', rhel4))
        self.assertIsNone(platform_matches('CentOS 6', {}))
        found = run('inventory', host('be-1', profile_facts('rhel4'), platform='Ubuntu 14.04'))
        self.assertEqual(found[0].evidence['os_id'], 'rhel')
        self.assertEqual(run('inventory', host('be-3', profile_facts('ubuntu1404'), platform='Ubuntu 14.04')), [])


class StalenessTests(unittest.TestCase):
    def test_age(self):
        def stale(days, **kwargs):
            return run('staleness', host('h', probed_at=PROBED - timedelta(days=days), **kwargs))

        self.assertEqual(stale(3), [])
        self.assertEqual([f.severity for f in stale(10)], ['low'])
        self.assertEqual([f.severity for f in stale(40)], ['medium'])
        self.assertEqual(stale(10)[0].fingerprint, run('staleness', host('h', probed_at=PROBED - timedelta(days=10)),
                                                       today=TODAY + timedelta(days=5))[0].fingerprint)
        self.assertEqual(run('staleness', host('h', probed_at=None)), [])
        never = run('staleness', host('h', probed_at=None), report_never_probed=True)
        self.assertEqual([f.severity for f in never], ['info'])

    def test_host_key(self):
        found = run('staleness', host('h', hostkey_changed=True))
        self.assertEqual([(f.severity, f.evidence) for f in found], [('high', {'check': 'hostkey-changed'})])
        first = run('staleness', host('h', hostkey_changed='SHA256:abc'))[0]
        second = run('staleness', host('h', hostkey_changed='SHA256:def'))[0]
        self.assertNotEqual(first.fingerprint, second.fingerprint)


# The demo seed (netbox_triage/demo.py): name, profile, role, cluster, platform, VM?
SEED = (
    ('haproxy-1', 'centos6-heartbleed', 'Load balancer', 'Entrypoint', 'CentOS 6', False),
    ('haproxy-2', 'centos6-patched', 'Load balancer', 'Entrypoint', 'CentOS 6', False),
    ('be-1', 'rhel4', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    ('be-2', 'debian6', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    ('be-3', 'ubuntu1404', 'Backend', 'Backend Cluster', 'Ubuntu 14.04', True),
    ('fe-1', 'ubuntu2204', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    ('fe-2', 'ubuntu2204', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    ('fe-3', 'ubuntu2204-jenkins', 'Frontend', 'Frontend Cluster', 'Ubuntu 22.04', True),
    ('redis-1', 'debian12-redis', 'Cache', 'Cache HA', 'Debian 12', False),
    ('redis-2', 'debian12', 'Cache', 'Cache HA', 'Debian 12', True),
    ('mysql-1', 'mysql-baremetal', 'Database', 'Database HA', 'CentOS 7', False),
    ('mysql-2', 'centos7', 'Database', 'Database HA', 'CentOS 7', False),
)

# Every finding on the seed fleet on 2026-11-21, as (rule, host or cluster, severity).
SEED_FINDINGS = {
    # End of life: CentOS 6 and 7, RHEL 4, Debian 6, Ubuntu 14.04 (ESM and Legacy ended), and Debian 12, whose
    # regular security support ended in July 2026 (Debian LTS runs until 2028: low).
    ('eol', 'haproxy-1', 'critical'), ('eol', 'haproxy-2', 'critical'), ('eol', 'be-1', 'critical'),
    ('eol', 'be-2', 'critical'), ('eol', 'be-3', 'critical'), ('eol', 'mysql-1', 'high'), ('eol', 'mysql-2', 'high'),
    ('eol', 'redis-1', 'low'), ('eol', 'redis-2', 'low'),
    # Heartbleed behind HAProxy's TLS, Shellshock on the two 2013-era bash builds; regreSSHion on Ubuntu 22.04
    # and Debian 12 hosts with the 2023 openssh builds. Nothing on haproxy-2, whose releases carry the fixes.
    ('vulnerable_packages:CVE-2014-0160', 'haproxy-1', 'critical'),
    ('vulnerable_packages:CVE-2014-6271', 'haproxy-1', 'high'),
    ('vulnerable_packages:CVE-2014-6271', 'be-1', 'high'),
    ('vulnerable_packages:CVE-2024-6387', 'fe-1', 'high'), ('vulnerable_packages:CVE-2024-6387', 'fe-2', 'high'),
    ('vulnerable_packages:CVE-2024-6387', 'fe-3', 'high'), ('vulnerable_packages:CVE-2024-6387', 'redis-1', 'high'),
    ('vulnerable_packages:CVE-2024-6387', 'redis-2', 'high'),
    ('exposed_services', 'fe-3', 'medium'),
    ('haproxy_checks', 'haproxy-1', 'high'),
    ('disk', 'redis-1', 'high'), ('disk', 'mysql-1', 'high'),
    # Pairs cannot have an odd one out: the finding is the cluster's. The Frontend Cluster is alike.
    ('cluster_drift', 'Entrypoint', 'medium'), ('cluster_drift', 'Backend Cluster', 'medium'),
    ('cluster_drift', 'Cache HA', 'low'), ('cluster_drift', 'Database HA', 'medium'),
    # Devices that are VMs (VMware, KVM), and platforms the team believed before the probe.
    ('inventory:device-is-virtual', 'haproxy-1', 'medium'), ('inventory:device-is-virtual', 'haproxy-2', 'medium'),
    ('inventory:device-is-virtual', 'mysql-2', 'medium'),
    ('inventory:platform', 'be-1', 'medium'), ('inventory:platform', 'be-2', 'medium'),
}


def seed_hosts():
    clusters, hosts = {}, []
    for number, (name, profile, role, cluster, platform, is_vm) in enumerate(SEED, 1):
        clusters.setdefault(cluster, f'virtualization.cluster:{len(clusters) + 1}')
        hosts.append(HostView(
            key=f'{"virtualization.virtualmachine" if is_vm else "dcim.device"}:{number}',
            name=name,
            kind='vm' if is_vm else 'device',
            facts=profile_facts(profile),
            platform=platform,
            role=role,
            site='Customer DC',
            cluster=cluster,
            cluster_key=clusters[cluster],
            probed_at=PROBED,
        ))
    return hosts, clusters


def summarise(findings, hosts, clusters):
    names = {h.key: h.name for h in hosts}
    names.update({key: name for name, key in clusters.items()})
    summary = set()
    for finding in findings:
        rule = finding.rule
        if rule == 'vulnerable_packages':
            rule += ':' + finding.evidence['cve']
        elif rule == 'inventory':
            rule += ':' + finding.evidence['check']
        summary.add((rule, names[finding.subject], finding.severity))
    return summary


class FleetTests(unittest.TestCase):
    def test_seed_fleet_exact_findings(self):
        hosts, clusters = seed_hosts()
        findings = run_rules(hosts, today=TODAY)
        self.assertEqual(len(findings), len(SEED_FINDINGS), [f.title for f in findings])
        self.assertEqual(summarise(findings, hosts, clusters), SEED_FINDINGS)
        for finding in findings:
            json.dumps(finding.as_dict())
            self.assertTrue(finding.evidence_text and finding.recommendation, finding.title)
        # The patched twin of the Heartbleed host: only its end of life, its NetBox record and its cluster.
        patched = {(rule, sev) for rule, name, sev in SEED_FINDINGS if name == 'haproxy-2'}
        self.assertEqual(patched, {('eol', 'critical'), ('inventory:device-is-virtual', 'medium')})

    def test_seed_fleet_is_stable(self):
        hosts, _clusters = seed_hosts()
        first = sorted(f.fingerprint for f in run_rules(hosts, today=TODAY))
        second = sorted(f.fingerprint for f in run_rules(seed_hosts()[0], today=TODAY + timedelta(days=3)))
        self.assertEqual(first, second)

    def test_entrypoint_drift_names_what_differs(self):
        hosts, clusters = seed_hosts()
        drift = [f for f in run_rules(hosts, today=TODAY, only=['cluster_drift'])
                 if f.subject == clusters['Entrypoint']][0]
        self.assertEqual([item['attribute'] for item in drift.evidence['differences']], ['cpu', 'openssl', 'haproxy'])
        self.assertEqual(drift.evidence['differences'][1]['values'],
                         {'haproxy-1': '1.0.1e-15.el6', 'haproxy-2': '1.0.1e-16.el6_5.7'})

    def test_healthy_cluster_raises_nothing(self):
        hosts = [HostView(key=f'virtualization.virtualmachine:{n}', name=f'web-{n}', kind='vm',
                          facts=patched_ubuntu2204(), platform='Ubuntu 22.04', role='Web', site='DC', cluster='Web',
                          cluster_key='virtualization.cluster:1', probed_at=PROBED) for n in range(1, 4)]
        self.assertEqual(run_rules(hosts, today=TODAY), [])

    def test_every_profile_alone(self):
        expected = {
            'alpine': {'eol'},
            'amazon2': {'eol'},
            'centos6-heartbleed': {'eol', 'haproxy_checks', 'vulnerable_packages:CVE-2014-0160',
                                   'vulnerable_packages:CVE-2014-6271'},
            'centos6-patched': {'eol'},
            'centos7': {'eol'},
            'debian12': {'eol', 'vulnerable_packages:CVE-2024-6387'},
            'debian12-redis': {'eol', 'disk', 'vulnerable_packages:CVE-2024-6387'},
            'debian6': {'eol'},
            'hostile': {'disk'},
            'hostile-markup': {'eol', 'disk'},
            'mysql-baremetal': {'eol', 'disk'},
            'rhel4': {'eol', 'vulnerable_packages:CVE-2014-6271'},
            'sles11': {'eol', 'disk'},
            'ubuntu1404': {'eol'},
            'ubuntu2204': {'vulnerable_packages:CVE-2024-6387'},
            'ubuntu2204-jenkins': {'exposed_services', 'vulnerable_packages:CVE-2024-6387'},
        }
        self.assertEqual(sorted(expected), sorted(path.stem for path in PROFILES_DIR.glob('*.out')))
        for profile, rules in expected.items():
            facts = profile_facts(profile)
            virtual = facts['virtualization'].get('role') in ('guest', 'container')
            found = run_rules([host(profile, facts, kind='vm' if virtual else 'device')], today=TODAY)
            labels = {f.rule + (':' + f.evidence['cve'] if f.rule == 'vulnerable_packages' else '') for f in found}
            self.assertEqual(labels, rules, profile)

    def test_hostile_profile_text_stays_data(self):
        facts = profile_facts('hostile')
        facts['os']['id'] = 'debian'
        facts['os']['version_id'] = '6'
        found = run_rules([host('evil', facts, kind='vm', platform='<script>alert(1)</script>')], today=TODAY)
        for finding in found:
            self.assertTrue(re.match(r'^[0-9a-f]{32}$', finding.fingerprint))
            json.dumps(finding.as_dict())


if __name__ == '__main__':
    unittest.main()
