"""Which distribution and release a host runs, from whichever release file it has.

os-release is the modern source; hosts from before it (RHEL 4/5, Debian 6, SLES 11) only have
/etc/redhat-release, /etc/SuSE-release, /etc/debian_version, /etc/lsb-release or /etc/issue. The
first source that names the distribution wins; later ones only fill the keys it left empty. The
result is normalised to a family (rhel, debian, suse, alpine, amazon, ...) so rules need not know
every derivative.
"""

import re
import shlex

from .text import clean

__all__ = (
    'FAMILIES',
    'os_facts',
    'parse_lsb_release',
    'parse_os_release',
    'parse_redhat_release',
    'parse_suse_release',
)

# Distribution ID -> family. Amazon Linux is its own family: its packages and advisories are not RHEL's.
FAMILIES = {
    'rhel': 'rhel',
    'centos': 'rhel',
    'rocky': 'rhel',
    'almalinux': 'rhel',
    'ol': 'rhel',
    'scientific': 'rhel',
    'cloudlinux': 'rhel',
    'eurolinux': 'rhel',
    'virtuozzo': 'rhel',
    'fedora': 'fedora',
    'amzn': 'amazon',
    'debian': 'debian',
    'ubuntu': 'debian',
    'raspbian': 'debian',
    'linuxmint': 'debian',
    'devuan': 'debian',
    'kali': 'debian',
    'sles': 'suse',
    'sled': 'suse',
    'sles_sap': 'suse',
    'opensuse': 'suse',
    'opensuse-leap': 'suse',
    'opensuse-tumbleweed': 'suse',
    'suse': 'suse',
    'alpine': 'alpine',
    'arch': 'arch',
    'gentoo': 'gentoo',
}

DEBIAN_CODENAMES = {
    '3': 'woody', '4': 'etch', '5': 'lenny', '6': 'squeeze', '7': 'wheezy', '8': 'jessie', '9': 'stretch',
    '10': 'buster', '11': 'bullseye', '12': 'bookworm', '13': 'trixie', '14': 'forky',
}

_KEY = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,63}')
_REDHAT = re.compile(r'^(?P<name>.+?)\s+release\s+(?P<version>[0-9][0-9.]*)\s*(?:\((?P<codename>[^)]*)\))?')
_UPDATE = re.compile(r'Update\s+([0-9]{1,3})', re.IGNORECASE)
_REDHAT_IDS = (
    ('red hat', 'rhel'),
    ('centos', 'centos'),
    ('scientific', 'scientific'),
    ('fedora', 'fedora'),
    ('oracle', 'ol'),
    ('enterprise linux enterprise linux', 'ol'),
    ('cloudlinux', 'cloudlinux'),
    ('rocky', 'rocky'),
    ('almalinux', 'almalinux'),
    ('amazon', 'amzn'),
)
_ISSUE_ESCAPE = re.compile(r'\\[a-zA-Z]|%[a-zA-Z]')
_ISSUE_NOISE = re.compile(r'^welcome to\s+|\s+-?\s*kernel\b.*$|\s+on an?\s.*$', re.IGNORECASE)
KEYS = ('family', 'id', 'id_like', 'name', 'version', 'version_id', 'pretty_name', 'codename', 'source')


def _shell_value(value):
    """One os-release value, unquoted the way sh would, never expanded."""
    try:
        words = shlex.split(value, comments=False, posix=True)
    except ValueError:
        return value.strip().strip('"\'')
    return ' '.join(words)


def parse_os_release(text):
    """os-release(5) as a dict: shell quoting and escapes, comments, CRLF; last assignment wins."""
    result = {}
    for line in text.replace('\r', '\n').splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key, found, value = line.partition('=')
        if found and _KEY.fullmatch(key):
            result[key.upper()] = clean(_shell_value(value))
    return result


def parse_redhat_release(text):
    """'CentOS release 6.10 (Final)', 'Red Hat Enterprise Linux AS release 4 (Nahant Update 9)'."""
    line = clean(text.strip().splitlines()[0] if text.strip() else '')
    match = _REDHAT.match(line)
    if not match:
        return {'name': line, 'pretty_name': line} if line else {}
    name, version, codename = match.group('name'), match.group('version'), match.group('codename') or ''
    lowered = name.lower()
    distribution = next((value for needle, value in _REDHAT_IDS if needle in lowered), None)
    version_id = version
    update = _UPDATE.search(codename)
    if update and '.' not in version:
        version_id = f'{version}.{update.group(1)}'
    codename = _UPDATE.sub('', codename).strip()
    return {
        'id': distribution,
        'name': name,
        'version': f'{version} ({match.group("codename")})' if match.group('codename') else version,
        'version_id': version_id,
        'pretty_name': line,
        'codename': codename or None,
    }


def parse_suse_release(text):
    """/etc/SuSE-release: a title line, then VERSION = 11 and PATCHLEVEL = 4."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    title = clean(re.sub(r'\s*\([^)]*\)\s*$', '', lines[0]))
    values = {}
    for line in lines[1:]:
        key, found, value = line.partition('=')
        if found:
            values[key.strip().upper()] = clean(value)
    version = values.get('VERSION') or (re.search(r'[0-9][0-9.]*', title) or [None])[0]
    patch = values.get('PATCHLEVEL')
    lowered = title.lower()
    distribution = 'opensuse' if 'opensuse' in lowered else 'sled' if 'desktop' in lowered else 'sles'
    name = clean(re.sub(r'\s+[0-9][0-9.]*$', '', title))
    pretty = f'{name} {version}' + (f' SP{patch}' if patch and patch != '0' else '')
    return {
        'id': distribution,
        'name': name,
        'version': f'{version} SP{patch}' if patch and patch != '0' else version,
        'version_id': f'{version}.{patch}' if patch and version and '.' not in version else version,
        'pretty_name': pretty,
        'codename': values.get('CODENAME'),
    }


def parse_lsb_release(text):
    """/etc/lsb-release: DISTRIB_ID, DISTRIB_RELEASE, DISTRIB_CODENAME, DISTRIB_DESCRIPTION."""
    values = parse_os_release(text)
    distribution = (values.get('DISTRIB_ID') or '').lower() or None
    return {
        'id': distribution,
        'name': values.get('DISTRIB_ID'),
        'version': values.get('DISTRIB_RELEASE'),
        'version_id': values.get('DISTRIB_RELEASE'),
        'pretty_name': values.get('DISTRIB_DESCRIPTION'),
        'codename': values.get('DISTRIB_CODENAME'),
    }


def _from_os_release(text):
    values = parse_os_release(text)
    if not values.get('ID') and not values.get('NAME'):
        return {}
    id_like = [clean(word, 64) for word in (values.get('ID_LIKE') or '').lower().split()][:8]
    return {
        'id': (values.get('ID') or '').lower() or None,
        'id_like': id_like,
        'name': values.get('NAME'),
        'version': values.get('VERSION'),
        'version_id': values.get('VERSION_ID'),
        'pretty_name': values.get('PRETTY_NAME'),
        'codename': values.get('VERSION_CODENAME') or values.get('UBUNTU_CODENAME'),
    }


def _from_debian_version(text):
    value = clean(text.strip().splitlines()[0] if text.strip() else '', 64)
    if not value:
        return {}
    if value[0].isdigit():
        major = value.split('.')[0]
        return {
            'id': 'debian',
            'name': 'Debian GNU/Linux',
            'version': value,
            'version_id': major,
            'codename': DEBIAN_CODENAMES.get(major),
        }
    return {'id': 'debian', 'name': 'Debian GNU/Linux', 'version': value, 'codename': value.split('/')[0]}


def _from_alpine_release(text):
    value = clean(text.strip().splitlines()[0] if text.strip() else '', 64)
    if not value:
        return {}
    return {'id': 'alpine', 'name': 'Alpine Linux', 'version': value, 'version_id': value}


def _from_issue(text):
    for line in text.splitlines():
        line = clean(_ISSUE_NOISE.sub('', clean(_ISSUE_ESCAPE.sub('', line))))
        if line and not line.lower().startswith('kernel'):
            return {'name': line, 'pretty_name': line}
    return {}


def family_of(distribution, id_like=()):
    """The family of a distribution ID, falling back on its ID_LIKE list."""
    if distribution in FAMILIES:
        return FAMILIES[distribution]
    if distribution and distribution.startswith('opensuse'):
        return 'suse'
    for like in id_like or ():
        if like in FAMILIES:
            return FAMILIES[like]
    return 'other' if distribution else 'unknown'


# (section, reader) in precedence order.
SOURCES = (
    ('os_release', _from_os_release),
    ('redhat_release', parse_redhat_release),
    ('suse_release', parse_suse_release),
    ('debian_version', _from_debian_version),
    ('lsb_release', parse_lsb_release),
    ('alpine_release', _from_alpine_release),
    ('issue', _from_issue),
)


def os_facts(sections):
    """Merge the release files of one probe into the ``os`` fact."""
    facts = dict.fromkeys(KEYS)
    facts['id_like'] = []
    for name, reader in SOURCES:
        section = sections.get(name)
        if section is None or section.absent or not section.body.strip():
            continue
        found = reader(section.body)
        if not found:
            continue
        if facts['source'] is None:
            facts['source'] = name.replace('_', '-')
        elif facts['id'] and found.get('id') and found['id'] != facts['id']:
            continue
        for key, value in found.items():
            if value and not facts.get(key):
                facts[key] = value
    if facts['version'] and not facts['version_id']:
        facts['version_id'] = facts['version']
    if facts['name'] and not facts['pretty_name']:
        facts['pretty_name'] = ' '.join(filter(None, (facts['name'], facts['version'])))
    facts['family'] = family_of(facts['id'], facts['id_like'])
    return facts
