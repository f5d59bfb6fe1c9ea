"""Famous critical vulnerabilities in installed packages: Heartbleed, Shellshock, regreSSHion.

Distributions backport fixes without changing the upstream version: RHEL 6's ``openssl-1.0.1e-16.el6_5.7``
is fixed, ``1.0.1e-15.el6`` is not, and both say "1.0.1e". So a package is judged by the full release it
carries against the release its distribution published with the fix (:data:`VULNERABILITIES`, one
advisory per row). The upstream version only decides when nothing else can: an OpenSSL that came from
no package (``openssl version``), or one HAProxy was linked with that no package on the host provides.
A distribution package whose release has no row is *undecided* and stays quiet by default: guessing from
the upstream version there is exactly the false positive this rule exists to avoid.

Versions are compared with ``univers`` (the version library behind VulnerableCode): RPM
``epoch:version-release``, Debian ``epoch:upstream-revision`` and Alpine ``-rN`` each by its own rules.
Upstream versions ('1.0.1e', '8.9p1', '4.1.2') are compared with the RPM algorithm, which orders
letters and digit runs the way these projects number their releases.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from univers.versions import AlpineLinuxVersion, DebianVersion, InvalidVersion, RpmVersion

from .base import Rule, endpoint, register
from .eol import distribution_release, lifecycle_for, lifecycle_table

__all__ = (
    'VULNERABILITIES',
    'Fix',
    'VulnerablePackagesRule',
    'Vulnerability',
    'compare_versions',
    'upstream_affected',
)

# RHEL and the rebuilds that kept its release numbers for these packages at the time.
EL_CLASSIC = ('rhel', 'centos', 'scientific', 'ol')
AMAZON_AMI = ('2011.09', '2012.03', '2012.09', '2013.03', '2013.09', '2014.03', '2014.09', '2015.03', '2015.09',
              '2016.03', '2016.09', '2017.03', '2017.09', '2018.03')
# A release first published this long after a disclosure shipped with the fix.
SHIPPED_FIXED_AFTER = timedelta(days=30)
TLS_PORTS = frozenset((443, 465, 636, 853, 993, 995, 5061, 5986, 8443, 9443))
_OPENSSL_VERSION = re.compile(r'OpenSSL\s+(\d+\.\d+\.\d+[a-z]{0,2})\b')


@dataclass(frozen=True)
class Fix:
    """What one distribution release published for one vulnerability.

    ``fixed`` is the first package version with the fix (as rpm/dpkg print it, epoch included); None means
    the release was never affected; '' means no fix was ever published (the release was already dead).
    """

    distros: tuple
    releases: tuple
    fixed: str | None
    advisory: str
    source: str


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    name: str
    component: str  # a product of probing.parsers.packages.COMPONENTS
    summary: str
    published: date
    # Upstream versions affected: (first affected or None, first fixed or None) intervals.
    affected: tuple
    fixes: tuple
    source: str
    recommendation: str


VULNERABILITIES = (
    Vulnerability(
        cve='CVE-2014-0160',
        name='Heartbleed',
        component='openssl',
        summary='TLS heartbeat read overrun: remote readers get process memory (private keys, sessions, passwords).',
        published=date(2014, 4, 7),
        affected=(('1.0.1', '1.0.1g'),),
        fixes=(
            Fix(EL_CLASSIC, ('6',), '1.0.1e-16.el6_5.7', 'RHSA-2014:0376', 'https://access.redhat.com/errata/RHSA-2014:0376'),
            Fix(('debian',), ('7',), '1.0.1e-2+deb7u5', 'DSA-2896-1', 'https://www.debian.org/security/2014/dsa-2896'),
            Fix(('ubuntu',), ('12.04',), '1.0.1-4ubuntu5.12', 'USN-2165-1', 'https://ubuntu.com/security/notices/USN-2165-1'),
            Fix(('ubuntu',), ('12.10',), '1.0.1c-3ubuntu2.7', 'USN-2165-1', 'https://ubuntu.com/security/notices/USN-2165-1'),
            Fix(('ubuntu',), ('13.10',), '1.0.1e-3ubuntu1.2', 'USN-2165-1', 'https://ubuntu.com/security/notices/USN-2165-1'),
            Fix(('ubuntu',), ('14.04',), '1.0.1f-1ubuntu2', 'USN-2165-1', 'https://ubuntu.com/security/notices/USN-2165-1'),
            Fix(('ubuntu',), ('13.04',), '', 'none: 13.04 reached end of life in January 2014',
                'https://ubuntu.com/security/CVE-2014-0160'),
            Fix(('amzn',), AMAZON_AMI, '1:1.0.1e-37.66.amzn1', 'ALAS-2014-320', 'https://alas.aws.amazon.com/ALAS-2014-320.html'),
        ),
        source='https://www.openssl.org/news/secadv/20140407.txt',
        recommendation='Update OpenSSL, restart every service linked against it (HAProxy, nginx, ...), then '
                       'replace the TLS private keys and revoke the old certificates: they may have leaked.',
    ),
    Vulnerability(
        cve='CVE-2014-6271',
        name='Shellshock',
        component='bash',
        summary='bash runs commands appended to function definitions in environment variables (CGI, DHCP, '
                'SSH ForceCommand).',
        published=date(2014, 9, 24),
        affected=(('1.14', '3.0.17'), ('3.1', '3.1.18'), ('3.2', '3.2.52'), ('4.0', '4.0.39'), ('4.1', '4.1.12'),
                  ('4.2', '4.2.48'), ('4.3', '4.3.25')),
        fixes=(
            Fix(EL_CLASSIC, ('4',), '3.0-27.el4.2', 'RHSA-2014:1294 (RHEL 4 ELS)',
                'https://access.redhat.com/errata/RHSA-2014:1294'),
            Fix(EL_CLASSIC, ('5',), '3.2-33.el5.1', 'RHSA-2014:1293', 'https://access.redhat.com/errata/RHSA-2014:1293'),
            Fix(EL_CLASSIC, ('6',), '4.1.2-15.el6_5.1', 'RHSA-2014:1293', 'https://access.redhat.com/errata/RHSA-2014:1293'),
            Fix(EL_CLASSIC, ('7',), '4.2.45-5.el7_0.2', 'RHSA-2014:1293', 'https://access.redhat.com/errata/RHSA-2014:1293'),
            Fix(('debian',), ('6',), '4.1-3+deb6u1', 'DLA-59-1', 'https://security-tracker.debian.org/tracker/CVE-2014-6271'),
            Fix(('debian',), ('7',), '4.2+dfsg-0.1+deb7u1', 'DSA-3032-1', 'https://www.debian.org/security/2014/dsa-3032'),
            Fix(('ubuntu',), ('10.04',), '4.1-2ubuntu3.1', 'USN-2362-1', 'https://ubuntu.com/security/notices/USN-2362-1'),
            Fix(('ubuntu',), ('12.04',), '4.2-2ubuntu2.2', 'USN-2362-1', 'https://ubuntu.com/security/notices/USN-2362-1'),
            Fix(('ubuntu',), ('14.04',), '4.3-7ubuntu1.1', 'USN-2362-1', 'https://ubuntu.com/security/notices/USN-2362-1'),
            Fix(('amzn',), AMAZON_AMI, '4.1.2-15.19.amzn1', 'ALAS-2014-418', 'https://alas.aws.amazon.com/ALAS-2014-418.html'),
        ),
        source='https://nvd.nist.gov/vuln/detail/CVE-2014-6271',
        recommendation='Update bash to the newest release of the distribution (the follow-up fixes for '
                       'CVE-2014-7169 and friends came days later) and look for CGI scripts run through a shell.',
    ),
    Vulnerability(
        cve='CVE-2024-6387',
        name='regreSSHion',
        component='openssh',
        summary='Signal handler race in sshd (LoginGraceTime): unauthenticated remote code execution as root.',
        published=date(2024, 7, 1),
        affected=((None, '4.4p1'), ('8.5p1', '9.8p1')),
        fixes=(
            # AlmaLinux and CentOS Stream published their own release numbers: undecided there.
            Fix(('rhel', 'rocky', 'ol'), ('9',), '8.7p1-38.el9_4.1', 'RHSA-2024:4312',
                'https://access.redhat.com/errata/RHSA-2024:4312'),
            Fix(('debian',), ('12',), '1:9.2p1-2+deb12u3', 'DSA-5724-1', 'https://security-tracker.debian.org/tracker/DSA-5724-1'),
            Fix(('ubuntu',), ('22.04',), '1:8.9p1-3ubuntu0.10', 'USN-6859-1', 'https://ubuntu.com/security/notices/USN-6859-1'),
            Fix(('ubuntu',), ('23.10',), '1:9.3p1-1ubuntu3.6', 'USN-6859-1', 'https://ubuntu.com/security/notices/USN-6859-1'),
            Fix(('ubuntu',), ('24.04',), '1:9.6p1-3ubuntu13.3', 'USN-6859-1', 'https://ubuntu.com/security/notices/USN-6859-1'),
        ),
        source='https://www.qualys.com/2024/07/01/cve-2024-6387/regresshion.txt',
        recommendation='Update openssh-server and restart sshd; until then, LoginGraceTime 0 in sshd_config '
                       'closes the race (at the cost of easier connection exhaustion).',
    ),
)

_PARSERS = {'rpm': RpmVersion, 'dpkg': DebianVersion, 'apk': AlpineLinuxVersion}


@lru_cache(maxsize=65536)
def _parse(manager, text):
    try:
        return _PARSERS.get(manager, RpmVersion)(text)
    except (InvalidVersion, ValueError, TypeError):
        return None


# A fleet runs a handful of versions of each package: the comparisons (univers' rpmvercmp in Python, the dearest part
# of the rules at 10,000 hosts) are remembered per version pair.
@lru_cache(maxsize=65536)
def compare_versions(manager, left, right):
    """-1, 0 or 1 comparing two package versions of one package manager; None if either cannot be read."""
    a, b = _parse(manager, left), _parse(manager, right)
    if a is None or b is None:
        return None
    return (a > b) - (a < b)


@lru_cache(maxsize=65536)
def upstream_affected(vulnerability, version):
    """Whether an upstream version lies in one of the vulnerability's affected intervals (None: unreadable)."""
    current = _parse('upstream', version)
    if current is None:
        return None
    for introduced, fixed in vulnerability.affected:
        if introduced is not None and current < _parse('upstream', introduced):
            continue
        if fixed is not None and not current < _parse('upstream', fixed):
            continue
        return True
    return False


def _fix_for(vulnerability, os_id, release):
    for fix in vulnerability.fixes:
        if os_id in fix.distros and release in fix.releases:
            return fix
    return None


def _openssl_upstream(text):
    match = _OPENSSL_VERSION.search(text or '')
    return match.group(1) if match else None


@dataclass
class _Verdict:
    """The judgement of one installed version: 'vulnerable', 'fixed', 'not-affected' or 'undecided'."""

    state: str
    package: str
    installed: str
    fixed_in: str | None = None
    advisory: str | None = None
    source: str | None = None
    basis: str = 'distribution release'


def _judge_package(vulnerability, name, entry, installed, os_id, release, released):
    upstream = entry.get('version') if installed == entry.get('full') else None
    if upstream is None:
        # other_versions hold full strings only; take the upstream part the way the parsers do.
        rest = installed.split(':', 1)[-1]
        upstream = rest.rsplit('-', 1)[0] if '-' in rest else rest
    if not upstream_affected(vulnerability, upstream):
        return _Verdict('not-affected', name, installed, basis='upstream version outside the affected range')
    fix = _fix_for(vulnerability, os_id, release)
    if fix is not None:
        if fix.fixed is None:
            return _Verdict('not-affected', name, installed, advisory=fix.advisory, source=fix.source)
        if fix.fixed == '':
            return _Verdict('vulnerable', name, installed, None, fix.advisory, fix.source)
        order = compare_versions(entry.get('manager'), installed, fix.fixed)
        if order is None:
            return _Verdict('undecided', name, installed, fix.fixed, fix.advisory, fix.source)
        state = 'vulnerable' if order < 0 else 'fixed'
        return _Verdict(state, name, installed, fix.fixed, fix.advisory, fix.source)
    if released is not None and released >= vulnerability.published + SHIPPED_FIXED_AFTER:
        basis = f'release published {released.isoformat()}, after the fix'
        return _Verdict('not-affected', name, installed, basis=basis)
    return _Verdict('undecided', name, installed, basis='no fixed release known for this distribution release')


@register
class VulnerablePackagesRule(Rule):
    name = 'vulnerable_packages'
    title = 'Famous critical vulnerability'
    description = 'Heartbleed, Shellshock and regreSSHion, judged on the distribution release of each package.'
    default_settings = {
        # CVE ids to check; None for every one in VULNERABILITIES.
        'cves': None,
        # Report packages whose distribution release has no row in the table as an info finding.
        'report_undecided': False,
    }

    def per_host(self, host, settings, today):
        packages = host.fact('packages', {})
        components = host.fact('components', {})
        os_facts = host.fact('os', {})
        table = lifecycle_table()
        os_id, release = distribution_release(os_facts, table)
        lifecycle = lifecycle_for(os_id, release, os_facts.get('name') or '', table) if os_id else None
        released = lifecycle.released if lifecycle else None
        wanted = settings['cves']
        findings = []
        for vulnerability in VULNERABILITIES:
            if wanted is not None and vulnerability.cve not in wanted:
                continue
            verdicts = []
            for name in components.get(vulnerability.component, ()):
                entry = packages.get(name) or {}
                for installed in [entry.get('full'), *entry.get('other_versions', ())]:
                    if installed:
                        verdicts.append(_judge_package(vulnerability, name, entry, installed, os_id, release,
                                                       released))
            findings.extend(self._findings(host, vulnerability, verdicts, os_id, release, settings))
        return findings

    def _binary_verdicts(self, host, vulnerability, verdicts):
        """OpenSSL that no package explains: the `openssl` binary itself, and what HAProxy runs on."""
        extra, exposed = [], []
        if vulnerability.component != 'openssl':
            return extra, exposed
        package_upstreams = {}
        for verdict in verdicts:
            upstream = verdict.installed.split(':', 1)[-1].rsplit('-', 1)[0]
            package_upstreams.setdefault(upstream, []).append(verdict)
        if not verdicts:
            upstream = _openssl_upstream(host.fact('openssl_version'))
            if upstream and upstream_affected(vulnerability, upstream):
                extra.append(_Verdict('vulnerable', 'openssl (no package)', upstream,
                                      basis='`openssl version` of a binary no package provides'))
        haproxy = host.fact('haproxy') or {}
        running = _openssl_upstream(haproxy.get('openssl_running') or haproxy.get('openssl_built'))
        if running:
            matching = package_upstreams.get(running)
            label = f'haproxy {haproxy.get("version") or "?"} (runs on OpenSSL {running})'
            if matching:
                if any(verdict.state == 'vulnerable' for verdict in matching):
                    exposed.append(label)
            elif upstream_affected(vulnerability, running):
                extra.append(_Verdict('vulnerable', 'haproxy (bundled OpenSSL)', running,
                                      basis='`haproxy -vv`: an OpenSSL no package on the host provides'))
                exposed.append(label)
        return extra, exposed

    def _exposure(self, host, vulnerability, exposed):
        """Services reachable through the vulnerable code, and whether that makes it worse."""
        listening = host.fact('listening', [])
        components = host.fact('components', {})
        remote = [sock for sock in listening if not _is_loopback(sock.get('address'))]
        if vulnerability.component == 'openssl':
            haproxy = host.fact('haproxy') or {}
            config = haproxy.get('config') or ''
            if exposed and re.search(r'^\s*bind\s.*\sssl\b', config, re.MULTILINE):
                exposed.append('haproxy terminates TLS (a bind line with "ssl")')
            for product in ('nginx', 'apache'):
                if components.get(product):
                    exposed.append(f'{product} (distribution package, linked against the system OpenSSL)')
            tls = sorted({_socket_label(sock) for sock in remote if sock.get('port') in TLS_PORTS})
            exposed.extend(f'TLS port listening on {item}' for item in tls)
            return exposed, 'critical' if tls or any('terminates TLS' in item for item in exposed) else 'high'
        if vulnerability.component == 'openssh':
            ssh = [sock for sock in remote if sock.get('process') == 'sshd' or sock.get('port') == 22]
            if ssh:
                where = sorted({endpoint(sock['address'], sock['port']) for sock in ssh})
                exposed.append('sshd listening on ' + ', '.join(where))
            return exposed, 'high' if ssh or not listening else 'medium'
        if vulnerability.component == 'bash':
            web = [sock for sock in remote if (sock.get('process') or '').startswith(('httpd', 'apache'))]
            if web and components.get('apache'):
                exposed.append('Apache httpd listening (CGI scripts are the classic Shellshock vector)')
                return exposed, 'critical'
        return exposed, 'high'

    def _findings(self, host, vulnerability, verdicts, os_id, release, settings):
        extra, exposed = self._binary_verdicts(host, vulnerability, verdicts)
        verdicts = verdicts + extra
        vulnerable = [verdict for verdict in verdicts if verdict.state == 'vulnerable']
        distribution = f'{os_id} {release}' if os_id else 'unknown distribution'
        if not vulnerable:
            undecided = [verdict for verdict in verdicts if verdict.state == 'undecided']
            if not (undecided and settings['report_undecided']):
                return []
            evidence = {
                'cve': vulnerability.cve,
                'name': vulnerability.name,
                'distribution': distribution,
                'packages': [{'name': v.package, 'installed': v.installed} for v in undecided],
                'basis': 'upstream version in the affected range; no fixed release known for this distribution',
            }
            text = (f'{", ".join(f"{v.package} {v.installed}" for v in undecided)} on {distribution}: the upstream '
                    f'version is in the {vulnerability.name} range, and no fixed release of this distribution is '
                    'known here, so backported fixes cannot be ruled out.')
            return [self.finding(host.key, 'info', f'{vulnerability.name} ({vulnerability.cve}) cannot be ruled out',
                                 evidence, text, 'Check the package changelog for ' + vulnerability.cve + '.')]
        exposed, severity = self._exposure(host, vulnerability, exposed)
        packages = []
        for verdict in vulnerable:
            item = {'name': verdict.package, 'installed': verdict.installed, 'basis': verdict.basis}
            if verdict.fixed_in:
                item['fixed_in'] = verdict.fixed_in
            if verdict.advisory:
                item['advisory'] = verdict.advisory
            if verdict.source:
                item['source'] = verdict.source
            packages.append(item)
        evidence = {
            'cve': vulnerability.cve,
            'name': vulnerability.name,
            'component': vulnerability.component,
            'distribution': distribution,
            'packages': packages,
            'exposed_through': exposed,
            'source': vulnerability.source,
        }
        lines = []
        for item in packages:
            fixed = f' (fixed in {item["fixed_in"]}, {item["advisory"]})' if item.get('fixed_in') else (
                f' ({item["advisory"]})' if item.get('advisory') else f' ({item["basis"]})')
            lines.append(f'{item["name"]} {item["installed"]}{fixed}')
        text = f'{vulnerability.summary} Vulnerable on {distribution}: ' + '; '.join(lines) + '.'
        if exposed:
            text += ' Reachable through: ' + '; '.join(exposed) + '.'
        title = f'{vulnerability.name} ({vulnerability.cve}): vulnerable {vulnerability.component}'
        return [self.finding(host.key, severity, title, evidence, text, vulnerability.recommendation)]


def _socket_label(sock):
    return endpoint(sock['address'], sock['port']) + (f' ({sock["process"]})' if sock.get('process') else '')


def _is_loopback(address):
    return bool(address) and (address.startswith('127.') or address == '::1')
