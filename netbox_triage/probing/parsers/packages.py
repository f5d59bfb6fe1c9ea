"""Installed versions of the packages that matter in a rescue (OpenSSL, OpenSSH, HAProxy, ...).

The full distribution release string is kept (``1.0.1e-16.el6_5.7``, ``1:1.0.1t-1+deb8u12``):
distributions backport security fixes without changing the upstream version, so only the release
says whether Heartbleed is fixed. Nothing here compares versions; rules do, with a proper RPM or
Debian version comparison. ``components`` maps a product to the package names that carry it on this
host (``openssl`` -> ``openssl``, ``openssl-libs``; or ``libssl1.0.0`` on Debian).
"""

import re

from .text import clean

__all__ = (
    'COMPONENTS',
    'MAX_PACKAGES',
    'apk_packages',
    'components',
    'dpkg_packages',
    'rpm_packages',
)

MAX_PACKAGES = 2048
MAX_OTHER_VERSIONS = 16
_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9+._~-]{0,127}')
_VERSION = re.compile(r'[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,127}')
_APK = re.compile(r'^(?P<name>.+?)-(?P<version>[0-9][^-]*)-r(?P<release>[0-9]{1,6})$')
_EPOCH = re.compile(r'[0-9]{1,9}')

COMPONENTS = (
    ('openssl', re.compile(r'^(openssl([0-9][0-9.]*[a-z]?)?|openssl-libs|libssl[0-9][A-Za-z0-9.]*)$')),
    ('openssh', re.compile(r'^openssh(-server|-clients?)?$')),
    ('haproxy', re.compile(r'^(rh-)?haproxy[0-9]*$')),
    ('nginx', re.compile(r'^nginx(-core|-full|-light|-extras)?$')),
    ('apache', re.compile(r'^(httpd|apache2)(-bin)?$')),
    ('mysql', re.compile(r'^(mysql(-community)?-server(-[0-9.]+)?|mysql-server-core-[0-9.]+|mariadb-server(-[0-9.]+)?'
                         r'|mariadb-server-core(-[0-9.]+)?|[Pp]ercona-[Ss]erver-server(-[0-9]+)?)$')),
    ('postgresql', re.compile(r'^postgresql[0-9]*(-server|-[0-9.]+)?$')),
    ('redis', re.compile(r'^redis[0-9]*(-server)?$')),
    ('java', re.compile(r'^(java-[0-9.]+-openjdk(-headless)?|openjdk-[0-9]+-(jre|jdk)(-headless)?'
                        r'|jdk[0-9._-]*|jre[0-9._-]*)$')),
    ('jenkins', re.compile(r'^jenkins$')),
    ('kernel', re.compile(r'^(kernel(-core|-default|-smp|-PAE|-hugemem|-largesmp|-xen|-uek)?|linux-image-.+)$')),
    ('monit', re.compile(r'^monit$')),
    ('glibc', re.compile(r'^(glibc|libc6)$')),
    ('bash', re.compile(r'^bash$')),
    ('sudo', re.compile(r'^sudo$')),
    ('keepalived', re.compile(r'^keepalived$')),
    ('tomcat', re.compile(r'^tomcat[0-9]*$')),
)


def _add(packages, name, entry):
    if not _NAME.fullmatch(name) or not entry['version']:
        return
    kept = packages.get(name)
    if kept is None:
        if len(packages) < MAX_PACKAGES:
            entry['other_versions'] = []
            packages[name] = entry
    elif entry['full'] != kept['full'] and entry['full'] not in kept['other_versions']:
        if len(kept['other_versions']) < MAX_OTHER_VERSIONS:
            kept['other_versions'].append(entry['full'])


def _version(value):
    value = clean(value, 128)
    return value if value and _VERSION.fullmatch(value) else None


def rpm_packages(text):
    """``rpm -qa --qf '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n'`` lines."""
    packages = {}
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) != 5:
            continue
        name, epoch, version, release, arch = (field.strip() for field in fields)
        version, release = _version(version), _version(release)
        epoch = epoch if _EPOCH.fullmatch(epoch) else None
        evr = f'{version}-{release}' if release else version
        _add(packages, name, {
            'version': version,
            'release': release,
            'epoch': epoch,
            'arch': clean(arch, 16) or None,
            'full': f'{epoch}:{evr}' if epoch and epoch != '0' else evr,
            'manager': 'rpm',
        })
    return packages


def dpkg_packages(text):
    """``dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\t${Status}\\n'``; installed only."""
    packages = {}
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) < 2:
            continue
        name, full = fields[0].strip(), _version(fields[1].strip())
        status = fields[3].split() if len(fields) > 3 else ['install', 'ok', 'installed']
        if not full or status[-1:] not in (['installed'], ['half-configured'], ['unpacked']):
            continue
        epoch, _, rest = full.rpartition(':') if ':' in full else ('', '', full)
        upstream, dash, revision = rest.rpartition('-')
        if not dash:
            upstream, revision = rest, None
        arch = clean(fields[2], 16) if len(fields) > 2 else None
        _add(packages, name, {
            'version': upstream,
            'release': revision,
            'epoch': epoch if _EPOCH.fullmatch(epoch) else None,
            'arch': arch or None,
            'full': full,
            'manager': 'dpkg',
        })
    return packages


def apk_packages(text):
    """``apk info -v`` lines: ``openssl-3.1.4-r5``."""
    packages = {}
    for line in text.splitlines():
        match = _APK.match(line.strip())
        if not match:
            continue
        version = _version(match.group('version'))
        release = f'r{match.group("release")}'
        _add(packages, match.group('name'), {
            'version': version,
            'release': release,
            'epoch': None,
            'arch': None,
            'full': f'{version}-{release}',
            'manager': 'apk',
        })
    return packages


def components(packages):
    """``{product: [package names]}`` for the products in :data:`COMPONENTS` found on this host."""
    found = {}
    for name in sorted(packages):
        for product, pattern in COMPONENTS:
            if pattern.match(name):
                found.setdefault(product, []).append(name)
                break
    return found
