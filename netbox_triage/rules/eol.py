"""End-of-life operating systems, from the vendors' published lifecycle dates (data/os_lifecycle.json).

A release past the end of its standard support gets no more security fixes for free; the finding says
when that was, which extended support exists (Debian LTS, Ubuntu Pro ESM, RHEL ELS, SUSE LTSS, Windows
ESU) and whether it is still running, and grows in severity with the years. The probe's os facts are the
basis; a host never probed is judged from its NetBox platform name instead, and the finding says so.

The OS identification helpers here (:func:`distribution_release`, :func:`parse_platform`) are shared with
the vulnerable-package and inventory rules.
"""

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from .base import Rule, register

__all__ = (
    'DATA_PATH',
    'EndOfLifeRule',
    'Lifecycle',
    'PlatformGuess',
    'distribution_release',
    'lifecycle_for',
    'lifecycle_table',
    'parse_platform',
    'release_key',
)

DATA_PATH = Path(__file__).resolve().parent.parent / 'data' / 'os_lifecycle.json'

# Release formats of distributions the lifecycle data does not list, by os family (probing/parsers/os.py).
_FAMILY_FORMATS = {'rhel': 'major', 'fedora': 'major', 'debian': 'major', 'suse': 'sles', 'alpine': 'major.minor',
                   'amazon': 'amazon'}
_NUMBER = re.compile(r'\d+(?:\.\d+)*')


@dataclass(frozen=True)
class Phase:
    name: str
    end: date
    paid: bool


@dataclass(frozen=True)
class Lifecycle:
    product_id: str
    product: str
    release: str
    released: date | None
    eol: date
    extended: tuple
    source: str
    estimated: bool = False
    note: str | None = None
    codename: str | None = None
    # True when the host's release is older than every release in the data: eol is then an upper bound.
    older_than_known: bool = False


def _date(text):
    return date.fromisoformat(text) if text else None


def _release_sort_key(release):
    return tuple(int(part) if part.isdigit() else 0 for part in re.split(r'[.-]', release))


class LifecycleTable:
    """The lifecycle data file, indexed by os id and release."""

    def __init__(self, data):
        self.products = {}
        self.by_os_id = {}
        self.releases = {}
        for product in data['products']:
            self.products[product['id']] = product
            for os_id in product['os_ids']:
                self.by_os_id.setdefault(os_id, []).append(product)
            for entry in product['releases']:
                self.releases[(product['id'], entry['release'])] = Lifecycle(
                    product_id=product['id'],
                    product=product['name'],
                    release=entry['release'],
                    released=_date(entry.get('released')),
                    eol=_date(entry['eol']),
                    extended=tuple(Phase(p['name'], _date(p['end']), bool(p['paid'])) for p in entry['extended']),
                    source=entry.get('source') or product['source'],
                    estimated=bool(entry.get('estimated')),
                    note=entry.get('note'),
                    codename=entry.get('codename'),
                )

    def product_for(self, os_id, name=''):
        """The product an os id belongs to; 'centos' is CentOS Stream when the name says so."""
        candidates = self.by_os_id.get(os_id or '', [])
        name = (name or '').lower()
        for product in candidates:
            if product.get('name_contains') and product['name_contains'] in name:
                return product
        return next((product for product in candidates if not product.get('name_contains')), None)

    def format_for(self, os_id, family=None):
        product = self.product_for(os_id)
        if product:
            return product['release_format']
        return _FAMILY_FORMATS.get(family, 'major')

    def lookup(self, product, release):
        found = self.releases.get((product['id'], release))
        if found or not release:
            return found
        known = sorted((entry['release'] for entry in product['releases']), key=_release_sort_key)
        if product['release_format'] != 'windows' and _release_sort_key(release) < _release_sort_key(known[0]):
            oldest = self.releases[(product['id'], known[0])]
            return Lifecycle(
                product_id=oldest.product_id, product=oldest.product, release=release, released=None,
                eol=oldest.eol, extended=(), source=oldest.source, older_than_known=True,
            )
        return None

    def codename_release(self, product, codename):
        for entry in product['releases']:
            if entry.get('codename') and entry['codename'] == codename:
                return entry['release']
        return None

    def supported_releases(self, product, today):
        return [entry['release'] for entry in product['releases'] if _date(entry['eol']) > today]


@lru_cache(maxsize=4)
def lifecycle_table(path=DATA_PATH):
    with open(path, encoding='utf-8') as handle:
        return LifecycleTable(json.load(handle))


def release_key(release_format, version):
    """The release a lifecycle entry is keyed by: '6' for CentOS 6.5, '14.04', '11.1' for SLES 11 SP1."""
    if not version:
        return None
    text = str(version).strip().lower()
    if release_format == 'windows':
        match = re.search(r'(20\d\d)(?:\s*-?\s*(r2))?', text)
        return '-'.join(filter(None, match.groups())) if match else None
    match = _NUMBER.search(text)
    if not match:
        return None
    parts = match.group(0).split('.')
    if release_format == 'major':
        return parts[0]
    if release_format == 'sles':
        return f'{parts[0]}.{parts[1] if len(parts) > 1 else "0"}'
    if release_format == 'amazon':
        return '.'.join(parts[:2]) if len(parts[0]) == 4 and len(parts) > 1 else parts[0]
    return '.'.join(parts[:2])


def distribution_release(os_facts, table=None):
    """``(os id, release key)`` from the probe's ``os`` fact, e.g. ('centos', '6'); (None, None) if unknown."""
    os_facts = os_facts or {}
    os_id = os_facts.get('id')
    if not os_id:
        return None, None
    table = table or lifecycle_table()
    release_format = table.format_for(os_id, os_facts.get('family'))
    return os_id, release_key(release_format, os_facts.get('version_id') or os_facts.get('version'))


@dataclass(frozen=True)
class PlatformGuess:
    os_id: str
    version: str | None
    stream: bool = False


# (pattern over the lowercased platform name, os id), first match wins.
_PLATFORM_NAMES = (
    (re.compile(r'\bred\s*hat\b|\brhel\b|\bredhat\b'), 'rhel'),
    (re.compile(r'\bcentos\b'), 'centos'),
    (re.compile(r'\brocky\b'), 'rocky'),
    (re.compile(r'\balma\s*(linux)?\b'), 'almalinux'),
    (re.compile(r'\boracle\s+(enterprise\s+)?linux\b|\boel\b|\bol(?=[0-9])'), 'ol'),
    (re.compile(r'\bscientific\b'), 'scientific'),
    (re.compile(r'\bubuntu\b'), 'ubuntu'),
    (re.compile(r'\bdebian\b'), 'debian'),
    (re.compile(r'\bopensuse\b'), 'opensuse'),
    (re.compile(r'\bsles\b|\bsuse\b'), 'sles'),
    (re.compile(r'\balpine\b'), 'alpine'),
    (re.compile(r'\bamazon\s*linux\b|\bamzn\b'), 'amzn'),
    (re.compile(r'\bwindows\b'), 'windows'),
    (re.compile(r'\bfedora\b'), 'fedora'),
)
_SERVICE_PACK = re.compile(r'\bsp\s*([0-9]+)\b')


@lru_cache(maxsize=1024)
def parse_platform(name):
    """Guess the OS a NetBox platform name stands for: 'CentOS 6', 'ubuntu-22-04', 'SLES 12 SP5',
    'Windows Server 2012 R2', 'Debian bookworm'. None when the name names no OS we know."""
    if not name:
        return None
    text = re.sub(r'(?<=\d)[-_](?=\d)', '.', name.lower())
    text = re.sub(r'[-_/]+', ' ', text)
    for pattern, os_id in _PLATFORM_NAMES:
        match = pattern.search(text)
        if not match:
            continue
        rest = text[match.end():]
        if os_id == 'windows':
            return PlatformGuess(os_id, release_key('windows', rest))
        version = _NUMBER.search(rest)
        value = version.group(0) if version else None
        if os_id == 'sles' and value and '.' not in value:
            service_pack = _SERVICE_PACK.search(rest)
            value = f'{value}.{service_pack.group(1)}' if service_pack else value
        if value is None and os_id in ('debian', 'ubuntu'):
            table = lifecycle_table()
            product = table.product_for(os_id)
            for word in rest.split():
                value = table.codename_release(product, word)
                if value:
                    break
        return PlatformGuess(os_id, value, stream='stream' in text)
    return None


def lifecycle_for(os_id, release, name='', table=None):
    """The :class:`Lifecycle` of one release, or None when the data does not know it."""
    table = table or lifecycle_table()
    product = table.product_for(os_id, name)
    if product is None or not release:
        return None
    return table.lookup(product, release)


def display_release(release_format, release):
    """'11 SP1' for SLES 11.1, '2012 R2' for Windows 2012-r2, the release itself otherwise."""
    if release_format == 'sles' and '.' in release:
        major, service_pack = release.split('.', 1)
        return major if service_pack == '0' else f'{major} SP{service_pack}'
    if release_format == 'windows':
        return release.replace('-', ' ').upper()
    return release


def _years(days):
    return days / 365.25


def _age(days):
    if days < 60:
        return f'{days} days'
    if days < 730:
        return f'{round(days / 30.44)} months'
    return f'{_years(days):.1f} years'


@register
class EndOfLifeRule(Rule):
    name = 'eol'
    title = 'End-of-life operating system'
    description = 'The OS release is past (or close to) the end of its standard security support.'
    default_settings = {
        # An info finding this many days before the end of standard support (0: none).
        'warn_days': 90,
        # Severity by years past the end of standard support, when no extended support is running.
        'severity_after_years': [[0, 'medium'], [1, 'high'], [3, 'critical']],
        # While an extended phase runs: free (Debian LTS) or paid (ESM, ELS, LTSS, ESU: covered only if bought).
        'free_extended_severity': 'low',
        'paid_extended_severity': 'medium',
        # Judge hosts without os facts from their NetBox platform name.
        'use_platform': True,
    }

    def per_host(self, host, settings, today):
        table = lifecycle_table()
        os_facts = host.fact('os', {})
        basis = 'probe'
        os_id, release = distribution_release(os_facts, table)
        label = os_facts.get('pretty_name') or os_facts.get('name')
        name = ' '.join(filter(None, (os_facts.get('name'), os_facts.get('pretty_name'))))
        if not os_id and settings['use_platform'] and host.platform:
            guess = parse_platform(host.platform)
            if guess is None:
                return []
            os_id, basis, label = guess.os_id, 'platform', host.platform
            name = 'stream' if guess.stream else ''
            release = release_key(table.format_for(os_id), guess.version)
        if not os_id or not release:
            return []
        lifecycle = lifecycle_for(os_id, release, name, table)
        if lifecycle is None:
            return []
        return self._judge(host, lifecycle, label, basis, settings, today, table)

    def _judge(self, host, lifecycle, label, basis, settings, today, table):
        extended = [
            {'name': phase.name, 'end': phase.end.isoformat(), 'paid': phase.paid, 'active': today <= phase.end}
            for phase in lifecycle.extended
        ]
        active = [phase for phase in lifecycle.extended if today <= phase.end]
        days_past = (today - lifecycle.eol).days
        if days_past < 0:
            if -days_past > settings['warn_days']:
                return []
            phase, severity = 'approaching', 'info'
        elif active:
            phase = 'extended-support'
            free = any(not item.paid for item in active)
            severity = settings['free_extended_severity'] if free else settings['paid_extended_severity']
        else:
            phase, severity = 'unsupported', 'info'
            for years, level in settings['severity_after_years']:
                if _years(days_past) >= years:
                    severity = level
        product = table.products[lifecycle.product_id]
        name = f'{lifecycle.product} {display_release(product["release_format"], lifecycle.release)}'
        evidence = {
            'product': lifecycle.product,
            'release': lifecycle.release,
            'os': label,
            'basis': basis,
            'phase': phase,
            'eol': lifecycle.eol.isoformat(),
            'extended': extended,
            'source': lifecycle.source,
        }
        if lifecycle.estimated:
            evidence['estimated'] = True
        if lifecycle.older_than_known:
            evidence['eol_is_upper_bound'] = True
        if phase == 'approaching':
            title = f'{name} reaches end of life on {lifecycle.eol.isoformat()}'
            when = f'in {_age(-days_past)}'
        else:
            title = f'{name} is past end of life ({lifecycle.eol.isoformat()})'
            when = f'{_age(days_past)} ago'
        bound = ' at the latest (older than every release in the lifecycle data)' if lifecycle.older_than_known else ''
        parts = [f'{label}: standard support ended{bound} {lifecycle.eol.isoformat()}, {when}.'
                 if phase != 'approaching' else f'{label}: standard support ends {lifecycle.eol.isoformat()}, {when}.']
        if extended:
            parts.append('Extended support: ' + '; '.join(
                f'{item["name"]} until {item["end"]} ({"paid" if item["paid"] else "free"}, '
                f'{"running" if item["active"] else "ended"})' for item in extended
            ) + '.')
        else:
            parts.append('No extended support is published for this release.')
        if basis == 'platform':
            parts.append('Judged from the NetBox platform: the host has no probe facts.')
        if lifecycle.note:
            parts.append(f'Note: {lifecycle.note}.')
        parts.append(f'Source: {lifecycle.source}')
        supported = table.supported_releases(product, today)
        if supported:
            target = f'{lifecycle.product} {display_release(product["release_format"], supported[-1])}'
            recommendation = f'Plan the upgrade to a supported release (e.g. {target}).'
        else:
            recommendation = f'{lifecycle.product} has no supported release left: migrate to a supported distribution.'
        if phase == 'extended-support' and any(item.paid for item in active):
            recommendation += ' Until then, make sure the host is enrolled in the paid extended support.'
        elif phase == 'unsupported':
            recommendation += (' Until then, treat every new vulnerability on this host as unpatched and limit '
                               'its exposure.')
        return [self.finding(host.key, severity, title, evidence, ' '.join(parts), recommendation)]
