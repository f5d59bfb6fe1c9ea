"""Turn the raw bytes of one probe run into facts: a JSON-ready dict with a fixed set of keys.

Each family of facts is parsed on its own; a parser that trips over one section records the
problem in ``errors`` and leaves its keys at their empty value, so one hostile or broken section
never costs the rest. Keys are always present (None, [] or {} when the host did not say), which
keeps the stored JSON and everything reading it simple.
"""

import logging
from dataclasses import dataclass, field

from .parsers.cpu import cpu_facts
from .parsers.filesystems import filesystem_facts
from .parsers.haproxy import haproxy_facts
from .parsers.host import hostname_facts, load_average, uptime_seconds
from .parsers.kernel import kernel_facts
from .parsers.memory import memory_facts
from .parsers.meta import probe_meta
from .parsers.network import interface_facts
from .parsers.os import os_facts
from .parsers.packages import apk_packages, components, dpkg_packages, rpm_packages
from .parsers.sockets import established_facts, listening_facts
from .parsers.text import clean, clean_block
from .parsers.versions import java_version, monit_version, openssl_version
from .parsers.virt import virtualization_facts
from .sections import DEFAULT_SECTION_CAP, split_probe

__all__ = ('FACT_KEYS', 'ParsedProbe', 'parse_probe_output')

logger = logging.getLogger('netbox_triage.probing')

# Every key of ParsedProbe.facts with its value when the host said nothing.
FACT_KEYS = {
    'probe': dict,
    'os': dict,
    'kernel': dict,
    'hostname': lambda: None,
    'hostname_raw': lambda: None,
    'uptime_seconds': lambda: None,
    'load_average': lambda: None,
    'virtualization': dict,
    'cpu': dict,
    'memory': dict,
    'filesystems': list,
    'interfaces': list,
    'listening': list,
    'established': list,
    'packages': dict,
    'components': dict,
    'openssl_version': lambda: None,
    'haproxy': lambda: None,
    'monit_version': lambda: None,
    'java_version': lambda: None,
}

# Sections whose non-zero exit status is normal (systemd-detect-virt exits 1 on bare metal).
_RC_EXPECTED = {'virt_detect': (0, 1)}


@dataclass
class ParsedProbe:
    """Facts (JSON-ready), raw section bodies and the problems met on the way.

    Section bodies are capped and lose control characters and terminal escapes (tabs and newlines
    stay), so they can be stored as JSON in PostgreSQL, which refuses NUL, and shown safely.
    """

    facts: dict
    sections: dict[str, str] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)


def _body(sections, name):
    section = sections.get(name)
    if section is None or section.absent:
        return None
    return section.body


def _probe(split):
    meta = probe_meta(_body(split.sections, 'meta') or '')
    meta['version'] = split.version
    meta['sections'] = {name: section.status() for name, section in split.sections.items()}
    return {'probe': meta}


def _os(sections):
    return {'os': os_facts(sections)}


def _kernel(sections):
    text = _body(sections, 'uname')
    return {'kernel': kernel_facts(text) if text is not None else {}}


def _host(sections):
    facts = {}
    text = _body(sections, 'hostname')
    if text is not None:
        hostname, raw, problem = hostname_facts(text)
        facts.update(hostname=hostname, hostname_raw=raw)
        if problem:
            facts['_errors'] = [('hostname', problem)]
    if (text := _body(sections, 'uptime')) is not None:
        facts['uptime_seconds'] = uptime_seconds(text)
    if (text := _body(sections, 'loadavg')) is not None:
        facts['load_average'] = load_average(text)
    return facts


def _virtualization(sections):
    return {'virtualization': virtualization_facts(sections)}


def _cpu(sections):
    cpuinfo, lscpu = _body(sections, 'cpuinfo'), _body(sections, 'lscpu')
    if cpuinfo is None and lscpu is None:
        return {}
    facts = {'cpu': cpu_facts(cpuinfo or '', lscpu or '')}
    section = sections.get('cpuinfo')
    if section is not None and section.capped:
        facts['_errors'] = [('cpuinfo', 'capped: CPU counts may be low')]
    return facts


def _memory(sections):
    text = _body(sections, 'meminfo')
    return {'memory': memory_facts(text)} if text is not None else {}


def _filesystems(sections):
    text = _body(sections, 'filesystems')
    return {'filesystems': filesystem_facts(text)} if text is not None else {}


def _interfaces(sections):
    ip_addr, ip_link, ifconfig = (_body(sections, name) for name in ('ip_addr', 'ip_link', 'ifconfig'))
    return {'interfaces': interface_facts(ip_addr, ip_link, ifconfig)}


def _sockets(sections):
    facts = {}
    for key, parse, names in (
        ('listening', listening_facts, ('ss_listen', 'netstat_listen')),
        ('established', established_facts, ('ss_established', 'netstat_established')),
    ):
        for name in names:
            text = _body(sections, name)
            if text is not None:
                facts[key] = parse(text, name.split('_')[0])
                break
    return facts


def _packages(sections):
    packages = {}
    for name, parse in (('packages_rpm', rpm_packages), ('packages_dpkg', dpkg_packages),
                        ('packages_apk', apk_packages)):
        text = _body(sections, name)
        if text is not None:
            for package, entry in parse(text).items():
                packages.setdefault(package, entry)
    return {'packages': packages, 'components': components(packages)}


def _versions(sections):
    facts = {}
    for key, name, parse in (
        ('openssl_version', 'openssl_version', openssl_version),
        ('monit_version', 'monit_version', monit_version),
        ('java_version', 'java_version', java_version),
    ):
        text = _body(sections, name)
        if text is not None:
            facts[key] = parse(text)
    return facts


def _haproxy(sections):
    version_text = _body(sections, 'haproxy_version')
    config = sections.get('haproxy_cfg')
    config_text = None
    errors = []
    if config is not None and not config.absent:
        if config.rc not in (0, None) and not config.body.strip():
            errors.append(('haproxy_cfg', f'could not be read (rc={config.rc})'))
        else:
            config_text = config.body
    found = config is not None and not config.absent
    facts = {'haproxy': haproxy_facts(version_text, config_text, bool(found and config.capped), found)}
    if version_text is None and found:
        errors.append(('haproxy_version', 'haproxy.cfg exists but the haproxy binary was not found in PATH'))
    if errors:
        facts['_errors'] = errors
    return facts


STEPS = (
    ('os', _os),
    ('kernel', _kernel),
    ('host', _host),
    ('virtualization', _virtualization),
    ('cpu', _cpu),
    ('memory', _memory),
    ('filesystems', _filesystems),
    ('interfaces', _interfaces),
    ('sockets', _sockets),
    ('packages', _packages),
    ('versions', _versions),
    ('haproxy', _haproxy),
)


def parse_probe_output(raw: bytes, max_section_bytes: int = DEFAULT_SECTION_CAP) -> ParsedProbe:
    """Parse one probe run. Never raises on what a host printed; problems land in ``errors``."""
    split = split_probe(raw, max_section_bytes=max_section_bytes)
    sections = split.sections
    errors = [{'section': name or 'probe', 'message': message} for name, message in split.notes]
    facts = {key: default() for key, default in FACT_KEYS.items()}
    facts.update(_probe(split))
    for name, section in sections.items():
        if section.absent or section.truncated or section.rc in _RC_EXPECTED.get(name, (0,)):
            continue
        if not section.body.strip():
            errors.append({'section': name, 'message': f'exited rc={section.rc} without output'})
    for step, parse in STEPS:
        try:
            found = parse(sections)
        except Exception as exc:  # One broken section must not cost the other facts.
            logger.debug('probe parser %s failed', step, exc_info=True)
            errors.append({'section': step, 'message': clean(f'parser failed: {type(exc).__name__}: {exc}', 512)})
            continue
        for section_name, message in found.pop('_errors', ()):
            errors.append({'section': section_name, 'message': message})
        facts.update(found)
    return ParsedProbe(
        facts=facts,
        sections={
            name: clean_block(section.body, limit=max_section_bytes)
            for name, section in sections.items()
            if not section.absent
        },
        errors=errors,
    )
