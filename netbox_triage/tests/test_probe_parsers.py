"""Probe output parsing: every fleet profile, odd and hostile input. Plain unittest: no database, no Django."""

import json
import os
import time
import tracemalloc
import unittest
from pathlib import Path
from unittest import mock

from netbox_triage.probing import facts as facts_module
from netbox_triage.probing.facts import FACT_KEYS, parse_probe_output
from netbox_triage.probing.parsers.cpu import cpu_facts
from netbox_triage.probing.parsers.host import hostname_facts
from netbox_triage.probing.parsers.network import interface_facts
from netbox_triage.probing.parsers.os import (
    os_facts,
    parse_os_release,
    parse_redhat_release,
    parse_suse_release,
)
from netbox_triage.probing.parsers.packages import apk_packages, components, dpkg_packages, rpm_packages
from netbox_triage.probing.parsers.sockets import established_facts, listening_facts
from netbox_triage.probing.parsers.virt import virtualization_facts
from netbox_triage.probing.sections import SECTION_ORDER, Section, split_probe, split_sections

PROFILES_DIR = Path(__file__).resolve().parent.parent / 'fleet' / 'profiles'
REQUIRED_PROFILES = (
    'rhel4', 'debian6', 'centos6-heartbleed', 'centos6-patched', 'centos7', 'ubuntu1404', 'ubuntu2204',
    'ubuntu2204-jenkins', 'debian12-redis', 'debian12', 'sles11', 'alpine', 'amazon2', 'mysql-baremetal', 'hostile',
)


def load(name):
    return parse_probe_output((PROFILES_DIR / f'{name}.out').read_bytes())


def probe(*parts, header=True):
    """Raw probe output from (name, body) pairs; body None means absent."""
    out = b'@@triage:probe v1@@\n' if header else b''
    for name, body in parts:
        if body is None:
            out += b'@@triage:absent %s@@\n' % name.encode()
        else:
            data = body if isinstance(body, bytes) else body.encode()
            out += b'@@triage:begin %s@@\n%s\n@@triage:end %s rc=0 ms=1@@\n' % (name.encode(), data, name.encode())
    return out


def strings(value):
    """Every string inside a facts structure, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


class ProfileTests(unittest.TestCase):
    """Each simulated host parses into the facts its story needs."""

    @classmethod
    def setUpClass(cls):
        cls.parsed = {name: load(name) for name in REQUIRED_PROFILES}

    def test_every_profile_exists_and_parses(self):
        names = {path.stem for path in PROFILES_DIR.glob('*.out')}
        self.assertLessEqual(set(REQUIRED_PROFILES), names)
        for name in sorted(names):
            with self.subTest(profile=name):
                parsed = load(name)
                self.assertEqual(set(parsed.facts), set(FACT_KEYS))
                self.assertEqual(parsed.facts['probe']['version'], 'v1')
                json.dumps(parsed.facts)
                if not name.startswith('hostile'):  # hostile*: odd input on purpose
                    self.assertEqual(parsed.errors, [])
                    self.assertTrue(parsed.facts['hostname'])
                    self.assertTrue(parsed.facts['interfaces'])
                    self.assertTrue(parsed.facts['filesystems'])

    def test_profiles_match_their_sources(self):
        from netbox_triage.fleet.profiles.build import build_profile, profile_names

        self.assertLessEqual(set(REQUIRED_PROFILES), set(profile_names()))
        for name in profile_names():
            with self.subTest(profile=name):
                self.assertEqual(build_profile(name), (PROFILES_DIR / f'{name}.out').read_bytes(),
                                 'stale: run python -m netbox_triage.fleet.profiles.build')

    def test_every_section_is_known_to_the_script(self):
        for name, parsed in self.parsed.items():
            with self.subTest(profile=name):
                self.assertLessEqual(set(parsed.facts['probe']['sections']), set(SECTION_ORDER))

    def test_operating_systems(self):
        expected = {
            'rhel4': ('rhel', 'rhel', 'Red Hat Enterprise Linux AS', '4.9', 'redhat-release'),
            'debian6': ('debian', 'debian', 'Debian GNU/Linux', '6', 'debian-version'),
            'centos6-heartbleed': ('rhel', 'centos', 'CentOS', '6.5', 'redhat-release'),
            'centos6-patched': ('rhel', 'centos', 'CentOS', '6.5', 'redhat-release'),
            'centos7': ('rhel', 'centos', 'CentOS Linux', '7', 'os-release'),
            'mysql-baremetal': ('rhel', 'centos', 'CentOS Linux', '7', 'os-release'),
            'ubuntu1404': ('debian', 'ubuntu', 'Ubuntu', '14.04', 'os-release'),
            'ubuntu2204': ('debian', 'ubuntu', 'Ubuntu', '22.04', 'os-release'),
            'ubuntu2204-jenkins': ('debian', 'ubuntu', 'Ubuntu', '22.04', 'os-release'),
            'debian12-redis': ('debian', 'debian', 'Debian GNU/Linux', '12', 'os-release'),
            'debian12': ('debian', 'debian', 'Debian GNU/Linux', '12', 'os-release'),
            'sles11': ('suse', 'sles', 'SUSE Linux Enterprise Server', '11.1', 'suse-release'),
            'alpine': ('alpine', 'alpine', 'Alpine Linux', '3.18.4', 'os-release'),
            'amazon2': ('amazon', 'amzn', 'Amazon Linux', '2', 'os-release'),
        }
        for name, (family, distribution, os_name, version_id, source) in expected.items():
            with self.subTest(profile=name):
                found = self.parsed[name].facts['os']
                self.assertEqual(
                    (found['family'], found['id'], found['name'], found['version_id'], found['source']),
                    (family, distribution, os_name, version_id, source),
                )
        self.assertEqual(self.parsed['rhel4'].facts['os']['codename'], 'Nahant')
        self.assertEqual(self.parsed['rhel4'].facts['os']['pretty_name'],
                         'Red Hat Enterprise Linux AS release 4 (Nahant Update 9)')
        self.assertEqual(self.parsed['debian6'].facts['os']['version'], '6.0.10')
        self.assertEqual(self.parsed['debian6'].facts['os']['codename'], 'squeeze')
        self.assertEqual(self.parsed['debian6'].facts['os']['pretty_name'], 'Debian GNU/Linux 6.0.10 (squeeze)')
        self.assertEqual(self.parsed['ubuntu1404'].facts['os']['codename'], 'trusty')
        self.assertEqual(self.parsed['ubuntu2204'].facts['os']['codename'], 'jammy')
        self.assertEqual(self.parsed['sles11'].facts['os']['pretty_name'], 'SUSE Linux Enterprise Server 11 SP1')
        self.assertEqual(self.parsed['amazon2'].facts['os']['id_like'], ['centos', 'rhel', 'fedora'])

    def test_virtualization(self):
        expected = {
            'rhel4': ('unknown', 'unknown'),
            'debian6': ('guest', 'kvm'),
            'centos6-heartbleed': ('guest', 'vmware'),
            'centos6-patched': ('guest', 'vmware'),
            'centos7': ('guest', 'kvm'),
            'mysql-baremetal': ('none', 'none'),
            'ubuntu1404': ('guest', 'xen'),
            'ubuntu2204': ('guest', 'kvm'),
            'ubuntu2204-jenkins': ('guest', 'kvm'),
            'debian12-redis': ('none', 'none'),
            'debian12': ('guest', 'microsoft'),
            'sles11': ('guest', 'vmware'),
            'alpine': ('guest', 'kvm'),
            'amazon2': ('guest', 'kvm'),
            'hostile': ('container', 'lxc'),
        }
        for name, (role, virt_type) in expected.items():
            with self.subTest(profile=name):
                found = self.parsed[name].facts['virtualization']
                self.assertEqual((found['role'], found['type']), (role, virt_type))
        self.assertIn('systemd-detect-virt: kvm', self.parsed['ubuntu2204'].facts['virtualization']['evidence'])
        self.assertIn('/sys/hypervisor/type: xen', self.parsed['ubuntu1404'].facts['virtualization']['evidence'])

    def test_kernel_and_host(self):
        rhel4 = self.parsed['rhel4'].facts
        self.assertEqual(rhel4['kernel'], {'name': 'Linux', 'release': '2.6.9-100.ELsmp',
                                           'version': '#1 SMP Tue Feb 1 12:17:32 EST 2011', 'arch': 'x86_64'})
        self.assertEqual(rhel4['hostname'], 'be-1')
        self.assertEqual(rhel4['uptime_seconds'], 98812345)
        self.assertEqual(rhel4['load_average'], [2.31, 2.05, 1.98])

    def test_cpu_and_memory(self):
        redis = self.parsed['debian12-redis'].facts
        self.assertEqual(redis['cpu']['model'], 'Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz')
        self.assertEqual((redis['cpu']['stepping'], redis['cpu']['microcode']), (7, '0x5003604'))
        self.assertEqual((redis['cpu']['sockets'], redis['cpu']['cores'], redis['cpu']['threads']), (2, 24, 48))
        # No lscpu on RHEL 4: counted from the /proc/cpuinfo topology lines.
        rhel4 = self.parsed['rhel4'].facts['cpu']
        self.assertEqual((rhel4['sockets'], rhel4['cores'], rhel4['threads'], rhel4['microcode']), (2, 4, 4, None))
        # The two HAProxy nodes look alike and are not: different CPU generations.
        self.assertNotEqual(self.parsed['centos6-heartbleed'].facts['cpu']['model_id'],
                            self.parsed['centos6-patched'].facts['cpu']['model_id'])
        self.assertEqual(self.parsed['rhel4'].facts['memory']['total_bytes'], 8161600 * 1024)
        self.assertEqual(self.parsed['rhel4'].facts['memory']['swap_total_bytes'], 8193140 * 1024)

    def test_heartbleed_release_strings(self):
        vulnerable = self.parsed['centos6-heartbleed'].facts
        patched = self.parsed['centos6-patched'].facts
        self.assertEqual(vulnerable['packages']['openssl']['full'], '1.0.1e-15.el6')
        self.assertEqual(vulnerable['packages']['openssl']['release'], '15.el6')
        self.assertEqual(patched['packages']['openssl']['full'], '1.0.1e-16.el6_5.7')
        self.assertEqual(patched['packages']['openssl']['version'], '1.0.1e')
        for parsed in (vulnerable, patched):
            self.assertEqual(parsed['openssl_version'], 'OpenSSL 1.0.1e-fips 11 Feb 2013')
            self.assertEqual(parsed['haproxy']['openssl_built'], 'OpenSSL 1.0.1e-fips 11 Feb 2013')
            self.assertEqual(parsed['haproxy']['openssl_running'], 'OpenSSL 1.0.1e-fips 11 Feb 2013')
        self.assertEqual(vulnerable['haproxy']['version'], '1.5.4')
        self.assertEqual(patched['haproxy']['version'], '1.8.30')
        self.assertEqual(vulnerable['components']['openssl'], ['openssl'])

    def test_haproxy_configuration(self):
        vulnerable = self.parsed['centos6-heartbleed'].facts['haproxy']['config']
        patched = self.parsed['centos6-patched'].facts['haproxy']['config']
        servers = [line.split() for line in vulnerable.splitlines() if line.strip().startswith('server ')]
        self.assertEqual([words[2] for words in servers],
                         ['10.0.11.1:8080', '10.0.11.2:8080', '10.0.11.3:8080', '10.0.10.1:80', '10.0.10.2:80',
                          '10.0.10.3:80'])
        self.assertFalse(any('check' in words for words in servers))
        self.assertNotIn('default-server', vulnerable)
        self.assertIn('    default-server check inter 2s fall 3 rise 2', patched.splitlines())
        self.assertIn('# TODO check with the dev team', patched)
        self.assertIsNone(self.parsed['ubuntu2204'].facts['haproxy'])

    def test_full_filesystem(self):
        filesystems = {fs['mount']: fs for fs in self.parsed['debian12-redis'].facts['filesystems']}
        redis = filesystems['/var/lib/redis']
        self.assertEqual(redis['used_percent'], 97)
        self.assertEqual((redis['device'], redis['fstype'], redis['df_ms']), ('/dev/mapper/vg0-redis', 'ext4', 38))
        self.assertEqual(redis['size_bytes'], 102687672 * 1024)
        self.assertEqual(redis['used_bytes'], 94376644 * 1024)
        self.assertLess(max(fs['used_percent'] for fs in self.parsed['debian12'].facts['filesystems']), 90)
        nfs = {fs['mount']: fs for fs in self.parsed['sles11'].facts['filesystems']}['/mnt/exports']
        self.assertEqual((nfs['fstype'], nfs['df_ms']), ('nfs', 812))

    def test_jenkins_listens_everywhere(self):
        jenkins = self.parsed['ubuntu2204-jenkins'].facts
        self.assertIn({'address': '0.0.0.0', 'port': 8080, 'process': 'java', 'pid': 1288, 'all_interfaces': True},
                      jenkins['listening'])
        self.assertEqual(jenkins['packages']['jenkins']['version'], '2.332.3')
        self.assertEqual(jenkins['java_version'], '11.0.20.1')
        self.assertNotIn(8080, [s['port'] for s in self.parsed['ubuntu2204'].facts['listening']])

    def test_redis_and_mysql_dependencies(self):
        def peers(name, port):
            return sorted({c['peer_address'] for c in self.parsed[name].facts['established']
                           if c['local_port'] == port})

        def targets(name):
            return sorted({(c['peer_address'], c['peer_port']) for c in self.parsed[name].facts['established']
                           if c['peer_port'] in (6379, 3306)})

        self.assertEqual(peers('mysql-baremetal', 3306), ['10.0.11.1', '10.0.11.3', '10.0.13.2'])
        self.assertEqual(peers('debian12-redis', 6379), ['10.0.11.1', '10.0.11.2', '10.0.11.3', '10.0.12.2'])
        self.assertEqual(targets('rhel4'), [('10.0.12.1', 6379), ('10.0.13.1', 3306)])
        self.assertEqual(targets('ubuntu1404'), [('10.0.12.1', 6379), ('10.0.13.1', 3306)])
        self.assertEqual(targets('debian6'), [('10.0.12.1', 6379)])
        haproxy = self.parsed['centos6-heartbleed'].facts['established']
        self.assertEqual(sorted({(c['peer_address'], c['peer_port']) for c in haproxy if c['peer_port'] in (80, 8080)}),
                         [('10.0.10.1', 80), ('10.0.10.2', 80), ('10.0.10.3', 80), ('10.0.11.1', 8080),
                          ('10.0.11.2', 8080), ('10.0.11.3', 8080)])
        self.assertIn({'address': '0.0.0.0', 'port': 6379, 'process': 'redis-server', 'pid': 1022,
                       'all_interfaces': True}, self.parsed['debian12-redis'].facts['listening'])

    def test_old_tools(self):
        rhel4 = self.parsed['rhel4']
        sections = rhel4.facts['probe']['sections']
        self.assertEqual(sections['ss_listen'], {'absent': True})
        self.assertEqual(sections['netstat_listen'], {'rc': 0, 'ms': 88})
        self.assertIn({'address': '::', 'port': 8080, 'process': 'java', 'pid': 3110, 'all_interfaces': True},
                      rhel4.facts['listening'])
        self.assertIn({'address': '127.0.0.1', 'port': 25, 'process': 'sendmail: acce', 'pid': 2398,
                       'all_interfaces': False}, rhel4.facts['listening'])
        packages = rhel4.facts['packages']
        self.assertEqual(packages['openssl']['full'], '0.9.7a-43.17.el4_8.2')
        self.assertEqual(packages['kernel-smp']['other_versions'], ['2.6.9-89.0.25.EL'])
        self.assertEqual((packages['jdk']['epoch'], packages['jdk']['full']), ('2000', '2000:1.6.0_45-fcs'))
        self.assertEqual(rhel4.facts['probe']['timeout'], 'watchdog')
        self.assertEqual(rhel4.facts['java_version'], '1.6.0_45')
        self.assertEqual(self.parsed['debian6'].facts['packages']['openssh-server']['epoch'], '1')
        self.assertEqual(self.parsed['debian6'].facts['packages']['openssh-server']['release'], '6+squeeze8')

    def test_alpine_busybox(self):
        alpine = self.parsed['alpine'].facts
        self.assertEqual(alpine['packages'], {})
        self.assertEqual(alpine['probe']['sections']['packages_apk'], {'absent': True})
        self.assertEqual((alpine['probe']['clock'], alpine['probe']['clock_precision_ms']), ('s', 1000))
        self.assertEqual([(s['address'], s['port']) for s in alpine['listening']],
                         [('0.0.0.0', 80), ('0.0.0.0', 22), ('::', 80), ('::', 22)])
        self.assertEqual([c['peer_address'] for c in alpine['established']], ['10.0.1.10', '10.0.0.1'])
        self.assertEqual(alpine['interfaces'][1]['state'], 'up')

    def test_package_components(self):
        self.assertEqual(self.parsed['ubuntu1404'].facts['components']['openssl'], ['libssl1.0.0', 'openssl'])
        self.assertEqual(self.parsed['centos7'].facts['components']['openssl'], ['openssl', 'openssl-libs'])
        self.assertEqual(self.parsed['centos7'].facts['packages']['openssl']['full'], '1:1.0.2k-25.el7_9')
        self.assertEqual(self.parsed['mysql-baremetal'].facts['components']['mysql'], ['mysql-community-server'])
        self.assertEqual(self.parsed['debian12-redis'].facts['packages']['redis-server']['full'], '5:7.0.11-1+deb12u1')
        self.assertEqual(self.parsed['debian12-redis'].facts['monit_version'], '5.33.0')
        self.assertEqual(self.parsed['amazon2'].facts['packages']['openssl']['epoch'], '1')

    def test_hostile_profile(self):
        parsed = self.parsed['hostile']
        facts = parsed.facts
        json.dumps(facts)
        self.assertIsNone(facts['hostname'])
        self.assertNotIn('\n', facts['hostname_raw'])
        self.assertIn('ProxyCommand', facts['hostname_raw'])
        # The hostname injected into os-release and the duplicate after the last section both lose.
        self.assertTrue(parsed.sections['hostname'].startswith('evil-host\n'))
        self.assertEqual(facts['os']['pretty_name'], '<script>alert(1)</script> "Evil" \'Linux\' $(reboot) `id`')
        self.assertEqual(facts['os']['id'], 'evil')
        self.assertEqual(facts['os']['version'], "6.6.6 (It's fine)")
        self.assertEqual(facts['kernel']['release'], '6.6.6-evil')
        self.assertNotIn('pwned', json.dumps(facts))
        self.assertTrue(facts['probe']['sections']['os_release'].get('tampered'))
        self.assertNotIn('tampered', facts['probe']['sections']['uname'])
        for text in strings(facts):
            self.assertFalse(any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text), repr(text))
            self.assertNotIn('\u202e', text)
        self.assertLessEqual(len(facts['cpu']['model']), 256)
        self.assertIsNone(facts['cpu']['stepping'])
        self.assertIsNone(facts['cpu']['microcode'])
        self.assertIsNone(facts['memory']['total_bytes'])
        self.assertIsNone(facts['uptime_seconds'])
        self.assertIsNone(facts['load_average'])
        self.assertEqual(list(facts['packages']), ['openssl'])
        self.assertEqual([(s['port'], s['process']) for s in facts['listening']], [(22, '<img src=x>')])
        self.assertEqual(facts['interfaces'], [{'name': 'eth0', 'mac': '02:00:00:66:00:06', 'state': 'up', 'mtu': 1500,
                                                'addresses': ['10.0.66.6/24', 'fe80::1/64', '10.0.66.7/24']}])
        self.assertIn('/srv/with space', [fs['mount'] for fs in facts['filesystems']])
        messages = {(error['section'], error['message']) for error in parsed.errors}
        self.assertIn(('hostname', 'hostname is not a plain host name; kept only as hostname_raw'), messages)
        self.assertIn(('hostname', 'printed more than once'), messages)


class SectionSplitTests(unittest.TestCase):
    """The splitter alone: the output contract and what hosts do to it."""

    def test_contract(self):
        raw = (b'@@triage:probe v1@@\n@@triage:begin os_release@@\nID=debian\n\n@@triage:end os_release rc=0 ms=3@@\n'
               b'@@triage:absent lsb_release@@\n@@triage:begin virt_detect@@\nnone\n\n'
               b'@@triage:end virt_detect rc=1 ms=-1@@\n')
        split = split_probe(raw)
        self.assertEqual(split.version, 'v1')
        self.assertEqual(split.notes, [])
        self.assertEqual(split.sections['os_release'], Section('os_release', 'ID=debian\n', 0, 3))
        self.assertEqual(split.sections['lsb_release'], Section('lsb_release', absent=True))
        self.assertEqual((split.sections['virt_detect'].rc, split.sections['virt_detect'].ms), (1, -1))
        self.assertFalse(split.sections['virt_detect'].ok)
        self.assertTrue(split.sections['os_release'].ok)

    def test_crlf_junk_and_empty_bodies(self):
        raw = (b'Last login: yesterday\r\nmotd\r\n@@triage:probe v1@@\r\n@@triage:begin issue@@\r\n\r\n'
               b'@@triage:end issue rc=0 ms=1@@\r\n@@triage:begin os_release@@\r\nNAME="A"\r\nID=a\r\n\r\n'
               b'@@triage:end os_release rc=0 ms=1@@\r\nlogout\r\n')
        sections = split_sections(raw)
        self.assertEqual(sections['issue'].body, '')
        self.assertEqual(sections['os_release'].body, 'NAME="A"\nID=a\n')

    def test_markers_are_whole_lines_only(self):
        raw = probe(('issue', 'see @@triage:end issue rc=0 ms=1@@ here\n@@triage:end issue rc=0 ms=1@@ trailing\n'
                              ' @@triage:end issue rc=0 ms=1@@\n'))
        section = split_sections(raw)['issue']
        self.assertEqual(section.body.count('@@triage:end'), 3)
        self.assertFalse(section.tampered)

    def test_truncated_output(self):
        raw = probe(('os_release', 'ID=debian\n')) + b'@@triage:begin cpuinfo@@\nprocessor\t: 0\nmodel name\t: X'
        split = split_probe(raw)
        self.assertTrue(split.sections['cpuinfo'].truncated)
        self.assertIsNone(split.sections['cpuinfo'].rc)
        self.assertEqual(split.sections['cpuinfo'].body, 'processor\t: 0\nmodel name\t: X')
        self.assertIn(('cpuinfo', 'truncated: no end marker'), split.notes)
        self.assertFalse(split.sections['os_release'].truncated)

    def test_begin_inside_a_section_closes_it(self):
        raw = b'@@triage:probe v1@@\n@@triage:begin uname@@\nrelease=1\n' + probe(('hostname', 'web1\n'), header=False)
        sections = split_sections(raw)
        self.assertTrue(sections['uname'].truncated)
        self.assertEqual(sections['hostname'].body, 'web1\n')
        self.assertFalse(sections['hostname'].truncated)

    def test_duplicates(self):
        raw = (b'@@triage:probe v1@@\n@@triage:begin hostname@@\nfirst\n' + probe(('hostname', 'second\n'),
                                                                                    ('hostname', 'third\n'),
                                                                                    ('issue', None), ('issue', 'x'),
                                                                                    header=False))
        split = split_probe(raw)
        # The first copy is truncated (a begin followed it), so the first complete one wins.
        self.assertEqual(split.sections['hostname'].body, 'second\n')
        self.assertEqual(split.sections['hostname'].duplicates, 2)
        self.assertEqual(split.sections['issue'].body, 'x')
        self.assertFalse(split.sections['issue'].absent)

    def test_section_cap(self):
        raw = probe(('haproxy_cfg', 'x' * 100_000), ('issue', 'small'))
        sections = split_sections(raw, max_section_bytes=1000)
        self.assertEqual(len(sections['haproxy_cfg'].body), 1000)
        self.assertTrue(sections['haproxy_cfg'].capped)
        self.assertEqual(sections['issue'].body, 'small')
        parsed = parse_probe_output(raw, max_section_bytes=1000)
        self.assertTrue(parsed.facts['haproxy']['config_capped'])
        self.assertEqual(len(parsed.sections['haproxy_cfg']), 1000)

    def test_non_utf8(self):
        raw = probe(('issue', b'Ger\xe4t \xff\xfe\xc3('), ('hostname', b'h\xc3\xa9'))
        sections = split_sections(raw)
        self.assertEqual(sections['issue'].body, 'Ger\ufffdt \ufffd\ufffd\ufffd(')
        self.assertEqual(sections['hostname'].body, 'h\u00e9')

    def test_no_header_and_unknown_version(self):
        self.assertIn((None, 'no probe header'), split_probe(b'@@triage:absent issue@@\n').notes)
        self.assertIn((None, 'unknown probe version v9'), split_probe(b'@@triage:probe v9@@\n').notes)
        self.assertEqual(split_probe(b'').sections, {})

    def test_input_cap(self):
        raw = probe(('issue', 'a')) + b'@@triage:begin cpuinfo@@\n' + b'y' * 5000
        split = split_probe(raw, max_input_bytes=len(raw) - 1000)
        self.assertTrue(split.input_capped)
        self.assertTrue(split.sections['cpuinfo'].truncated)
        self.assertEqual(split.sections['issue'].body, 'a')

    def test_injected_end_of_own_section_is_re_extended(self):
        body = 'ID=evil\n@@triage:end os_release rc=0 ms=1@@\nID=after\n'
        raw = probe(('os_release', body), ('hostname', 'web1\n'))
        sections = split_sections(raw)
        self.assertEqual(sections['os_release'].body, body)
        self.assertTrue(sections['os_release'].tampered)
        self.assertEqual(sections['hostname'].body, 'web1\n')
        self.assertFalse(sections['hostname'].tampered)

    def test_injected_complete_section_never_beats_the_real_one(self):
        body = ('ID=evil\n@@triage:end os_release rc=0 ms=1@@\n@@triage:begin hostname@@\npwned\n'
                '@@triage:end hostname rc=0 ms=1@@\n')
        sections = split_sections(probe(('os_release', body), ('hostname', 'web1\n')))
        self.assertEqual(sections['hostname'].body, 'web1\n')
        self.assertTrue(sections['os_release'].tampered)
        self.assertEqual(sections['os_release'].body, 'ID=evil')

    def test_injected_unterminated_section_never_beats_the_real_one(self):
        body = 'ID=evil\n@@triage:end os_release rc=0 ms=1@@\n@@triage:begin hostname@@\npwned\n'
        sections = split_sections(probe(('os_release', body), ('uname', 'release=1\n'), ('hostname', 'web1\n')))
        self.assertEqual(sections['hostname'].body, 'web1\n')
        self.assertEqual(sections['uname'].body, 'release=1\n')

    def test_injected_end_of_another_section_stays_body_text(self):
        body = 'ID=x\n@@triage:end hostname rc=0 ms=1@@\n@@triage:absent uname@@\n'
        sections = split_sections(probe(('hostname', 'web1\n'), ('os_release', body), ('uname', 'release=1\n')))
        self.assertEqual(sections['hostname'].body, 'web1\n')
        self.assertEqual(sections['os_release'].body, body)
        self.assertTrue(sections['os_release'].tampered)
        self.assertFalse(sections['uname'].absent)

    def test_stray_end_of_an_older_section_only_flags(self):
        raw = probe(('hostname', 'web1\n'), ('issue', 'x')) + b'@@triage:end hostname rc=0 ms=1@@\n'
        split = split_probe(raw)
        self.assertEqual(split.sections['hostname'].body, 'web1\n')
        self.assertEqual(split.sections['issue'].body, 'x')
        self.assertTrue(split.sections['hostname'].tampered and split.sections['issue'].tampered)

    def test_ten_megabytes_of_garbage(self):
        garbage = os.urandom(4 * 1024 * 1024) + (b'@@triage:begin issue@@\n' + b'A' * 80 + b'\n') * 40_000
        garbage += b'@@triage:' + b'x' * 1_000_000 + b'\n' + os.urandom(2 * 1024 * 1024)
        self.assertGreater(len(garbage), 10 * 1024 * 1024)
        tracemalloc.start()
        started = time.monotonic()
        parsed = parse_probe_output(garbage)
        elapsed = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.assertLess(elapsed, 10)
        self.assertLess(peak, 120 * 1024 * 1024)
        self.assertLessEqual(len(parsed.sections['issue']), 64 * 1024)
        json.dumps(parsed.facts)


class OsReleaseTests(unittest.TestCase):
    def test_quoting(self):
        text = (
            '# comment line\n'
            'NAME="Foo \\"Bar\\" Linux"\n'
            "PRETTY_NAME='Foo $(id) `uname`'\n"
            'ID=foo\n'
            'VERSION="1.0 (It\'s)"\n'
            'ID_LIKE="rhel   fedora"\n'
            'BROKEN="unterminated\n'
            '  VARIANT = spaced\n'
            'lower_case=ok\n'
            'ID=foo2\n'
        )
        values = parse_os_release(text)
        self.assertEqual(values['NAME'], 'Foo "Bar" Linux')
        self.assertEqual(values['PRETTY_NAME'], 'Foo $(id) `uname`')
        self.assertEqual(values['VERSION'], "1.0 (It's)")
        self.assertEqual(values['ID'], 'foo2')
        self.assertEqual(values['BROKEN'], 'unterminated')
        self.assertNotIn('VARIANT ', values)
        self.assertEqual(values['LOWER_CASE'], 'ok')

    def test_crlf_and_family(self):
        text = 'NAME="Rocky Linux"\r\nID="rocky"\r\nID_LIKE="rhel centos fedora"\r\nVERSION_ID="9.3"\r\n'
        sections = {'os_release': Section('os_release', text, 0, 1)}
        found = os_facts(sections)
        self.assertEqual((found['family'], found['id'], found['version_id']), ('rhel', 'rocky', '9.3'))
        unknown = os_facts({'os_release': Section('os_release', 'ID=mystery\nID_LIKE=debian\n', 0, 1)})
        self.assertEqual(unknown['family'], 'debian')
        self.assertEqual(os_facts({})['family'], 'unknown')

    def test_release_files(self):
        self.assertEqual(parse_redhat_release('Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n')['version_id'],
                         '5.11')
        centos = parse_redhat_release('CentOS release 6.10 (Final)')
        self.assertEqual((centos['id'], centos['version_id'], centos['codename']), ('centos', '6.10', 'Final'))
        suse = parse_suse_release('openSUSE 13.1 (x86_64)\nVERSION = 13.1\nCODENAME = Bottle\n')
        self.assertEqual((suse['id'], suse['version_id'], suse['codename']), ('opensuse', '13.1', 'Bottle'))
        issue_only = os_facts({'issue': Section('issue', 'Welcome to Gentoo Linux \\n \\l\nKernel \\r\n', 0, 1)})
        self.assertEqual(issue_only['name'], 'Gentoo Linux')
        testing = os_facts({'debian_version': Section('debian_version', 'trixie/sid\n', 0, 1)})
        self.assertEqual((testing['family'], testing['codename']), ('debian', 'trixie'))


class SectionParserTests(unittest.TestCase):
    def test_missing_sections(self):
        parsed = parse_probe_output(probe(('uname', None), ('hostname', None)))
        self.assertEqual(set(parsed.facts), set(FACT_KEYS))
        self.assertEqual(parsed.facts['interfaces'], [])
        self.assertEqual(parsed.facts['packages'], {})
        self.assertIsNone(parsed.facts['hostname'])
        self.assertEqual(parsed.facts['virtualization']['role'], 'unknown')
        self.assertEqual(parsed.errors, [])

    def test_one_broken_parser_costs_only_its_facts(self):
        raw = (PROFILES_DIR / 'centos7.out').read_bytes()
        with mock.patch.object(facts_module, 'cpu_facts', side_effect=RuntimeError('boom')):
            parsed = parse_probe_output(raw)
        self.assertEqual(parsed.facts['cpu'], {})
        self.assertEqual(parsed.facts['os']['id'], 'centos')
        self.assertEqual(parsed.errors, [{'section': 'cpu', 'message': 'parser failed: RuntimeError: boom'}])

    def test_failed_section_is_reported(self):
        raw = b'@@triage:probe v1@@\n@@triage:begin haproxy_cfg@@\n\n@@triage:end haproxy_cfg rc=1 ms=2@@\n'
        parsed = parse_probe_output(raw)
        self.assertIsNone(parsed.facts['haproxy']['config'])
        self.assertIn({'section': 'haproxy_cfg', 'message': 'could not be read (rc=1)'}, parsed.errors)

    def test_hostnames(self):
        self.assertEqual(hostname_facts('Web-1.Example.COM\n'), ('web-1.example.com', 'Web-1.Example.COM', None))
        for text in ('a\nProxyCommand x\n', 'a b', '-oProxyCommand=x', '', 'a..b', 'x' * 300):
            with self.subTest(text=text):
                self.assertIsNone(hostname_facts(text)[0])

    def test_cpuinfo_without_lscpu(self):
        text = ''.join(f'processor\t: {n}\nmodel name\t: X\nphysical id\t: {n // 4}\ncore id\t\t: {n % 2}\n\n'
                       for n in range(8))
        found = cpu_facts(text)
        self.assertEqual((found['sockets'], found['cores'], found['threads']), (2, 4, 8))
        self.assertEqual(cpu_facts('')['threads'], None)

    def test_ifconfig_layouts(self):
        old = ('eth0      Link encap:Ethernet  HWaddr 00:16:3E:00:00:01\n'
               '          inet addr:10.0.0.5  Bcast:10.0.0.255  Mask:255.255.255.0\n'
               '          inet6 addr: fe80::216:3eff:fe00:1/64 Scope:Link\n'
               '          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n\n'
               'lo        Link encap:Local Loopback\n          inet addr:127.0.0.1  Mask:255.0.0.0\n'
               '          LOOPBACK RUNNING  MTU:16436  Metric:1\n')
        found = interface_facts(ifconfig=old)
        self.assertEqual(found[0], {'name': 'eth0', 'mac': '00:16:3e:00:00:01', 'state': 'up', 'mtu': 1500,
                                    'addresses': ['10.0.0.5/24', 'fe80::216:3eff:fe00:1/64']})
        self.assertEqual(found[1]['addresses'], ['127.0.0.1/8'])
        self.assertIsNone(found[1]['state'])

    def test_socket_layouts(self):
        ss_new = ('State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n'
                  'LISTEN 0      128    [::ffff:10.0.0.1]:22  [::]:* users:(("sshd",pid=1,fd=3))\n'
                  'LISTEN 0      128    127.0.0.53%lo:53  0.0.0.0:*\n'
                  'LISTEN 0      128    300.1.1.1:22  0.0.0.0:*\n')
        self.assertEqual(listening_facts(ss_new), [
            {'address': '10.0.0.1', 'port': 22, 'process': 'sshd', 'pid': 1, 'all_interfaces': False},
            {'address': '127.0.0.53', 'port': 53, 'process': None, 'pid': None, 'all_interfaces': False},
        ])
        netstat = ('Proto Recv-Q Send-Q Local Address Foreign Address State PID/Program name\n'
                   'tcp 0 0 10.0.0.5:80 10.0.0.9:5000 ESTABLISHED 12/nginx: worker\n'
                   'tcp 0 0 10.0.0.5:80 10.0.0.9:5001 TIME_WAIT -\n'
                   'udp 0 0 0.0.0.0:68 0.0.0.0:* 1/dhclient\n')
        self.assertEqual(established_facts(netstat, 'netstat'), [
            {'local_address': '10.0.0.5', 'local_port': 80, 'peer_address': '10.0.0.9', 'peer_port': 5000,
             'process': 'nginx: worker', 'pid': 12},
        ])

    def test_packages(self):
        rpm = rpm_packages('openssl\t(none)\t1.0.1e\t15.el6\tx86_64\nopenssl\t1\t1.0.1e\t16.el6\ti686\nbad line\n')
        self.assertEqual(rpm['openssl']['full'], '1.0.1e-15.el6')
        self.assertEqual(rpm['openssl']['other_versions'], ['1:1.0.1e-16.el6'])
        dpkg = dpkg_packages('libssl1.0.0\t1.0.1f-1ubuntu2.27\tamd64\tinstall ok installed\n'
                             'openssh-server\t1:6.6p1-2ubuntu2\tamd64\tinstall ok installed\n'
                             'nginx\t1.4.6\tall\tdeinstall ok config-files\n'
                             'redis\t3:2.8.4\tamd64\tinstall ok installed\n')
        self.assertEqual((dpkg['openssh-server']['epoch'], dpkg['openssh-server']['version'],
                          dpkg['openssh-server']['release']), ('1', '6.6p1', '2ubuntu2'))
        self.assertNotIn('nginx', dpkg)
        self.assertEqual((dpkg['redis']['version'], dpkg['redis']['release']), ('2.8.4', None))
        apk = apk_packages('openssl-3.1.4-r5\nlibssl3-3.1.4-r5\nnot a package\n')
        self.assertEqual(apk['libssl3']['full'], '3.1.4-r5')
        self.assertEqual(components({**dpkg, **apk})['openssl'], ['libssl1.0.0', 'libssl3', 'openssl'])

    def test_virtualization_hints(self):
        def virt(**bodies):
            return virtualization_facts({name: Section(name, body, 0, 1) for name, body in bodies.items()})

        self.assertEqual(virt(virt_hints='xen_capabilities=control_d\nproc_xen=1\n')['role'], 'host')
        self.assertEqual(virt(cgroup='12:pids:/docker/0123456789abcdef\n')['type'], 'docker')
        self.assertEqual(virt(cgroup='0::/kubepods/besteffort/pod1\n')['role'], 'container')
        self.assertEqual(virt(dmi='sys_vendor=innotek GmbH\nproduct_name=VirtualBox\n')['type'], 'oracle')
        self.assertEqual(virt(dmi='sys_vendor=Supermicro\nproduct_name=X11DPi-N\n')['role'], 'none')
        self.assertEqual(virt(cpuinfo='processor\t: 0\nflags\t\t: fpu hypervisor\n')['type'], 'vm-other')


if __name__ == '__main__':
    unittest.main()
