"""Build the simulated fleet's probe outputs, ``<profile>.out``, from ``src/<profile>/``.

Each file in ``src/<profile>/`` is the body of the section it is named after, copied byte for byte,
and printed exactly as ``probing/script.sh`` prints it. A section without a file is printed absent,
except a fallback whose primary section is present (the script never runs it). Optional files:

- ``_base``: the name of another profile whose files fill in the sections this one lacks;
- ``_status``: one ``<section> rc=<n> ms=<n>`` or ``<section> absent`` per line, and ``@crlf`` to
  turn every newline of the output into CRLF (as a PTY in the way would);
- ``_prefix`` and ``_suffix``: raw bytes before the header and after the last section (banners,
  duplicates, junk).

    python -m netbox_triage.fleet.profiles.build          # write every .out
    python -m netbox_triage.fleet.profiles.build --check  # exit 1 if an .out differs from its source
"""

import argparse
import re
import sys
from pathlib import Path

from netbox_triage.probing.sections import FALLBACK_SECTIONS, SECTION_ORDER

__all__ = ('PROFILES_DIR', 'build_profile', 'profile_names')

PROFILES_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PROFILES_DIR / 'src'

# Typical run times in ms when a profile does not say; package queries dominate.
DEFAULT_MS = {
    'meta': 4,
    'uname': 5,
    'hostname': 2,
    'virt_detect': 9,
    'dmi': 3,
    'virt_hints': 2,
    'cpuinfo': 4,
    'lscpu': 14,
    'filesystems': 12,
    'ip_addr': 6,
    'ip_link': 5,
    'ifconfig': 7,
    'ss_listen': 11,
    'ss_established': 9,
    'netstat_listen': 38,
    'netstat_established': 41,
    'packages_rpm': 1480,
    'packages_dpkg': 190,
    'packages_apk': 70,
    'openssl_version': 8,
    'haproxy_version': 12,
    'monit_version': 6,
    'java_version': 170,
}
_STATUS = re.compile(
    r'^(?P<name>[a-z0-9_]+)\s+(?:(?P<absent>absent)|(?:rc=(?P<rc>-?\d+))?\s*(?:ms=(?P<ms>-?\d+))?)\s*$'
)


def profile_names():
    return sorted(path.name for path in SOURCE_DIR.iterdir() if path.is_dir())


def _read_status(directory):
    status, options = {}, set()
    path = directory / '_status'
    if not path.is_file():
        return status, options
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split('#')[0].strip()
        if not line:
            continue
        if line.startswith('@'):
            options.add(line[1:])
            continue
        match = _STATUS.match(line)
        if not match:
            raise ValueError(f'{path}:{number}: cannot read {line!r}')
        status[match.group('name')] = match.groupdict()
    return status, options


def _sources(name, seen=()):
    """Section files, status and options of a profile, with its bases' underneath."""
    directory = SOURCE_DIR / name
    if not directory.is_dir() or name in seen:
        raise ValueError(f'no profile source {directory} (or a _base loop)')
    files, status, options = {}, {}, set()
    base = directory / '_base'
    if base.is_file():
        files, status, options = _sources(base.read_text().strip(), (*seen, name))
    own_status, own_options = _read_status(directory)
    for path in directory.iterdir():
        if path.is_file() and not path.name.startswith('_'):
            if path.name not in SECTION_ORDER:
                raise ValueError(f'{path}: {path.name!r} is not a section script.sh prints')
            files[path.name] = path.read_bytes()
            status.pop(path.name, None)
    status.update(own_status)
    return files, status, options | own_options


def build_profile(name):
    """The bytes the probe would print on this profile's host."""
    files, status, options = _sources(name)
    directory = SOURCE_DIR / name
    out = bytearray()
    if (directory / '_prefix').is_file():
        out += (directory / '_prefix').read_bytes()
    out += b'@@triage:probe v1@@\n'
    present = {section for section in files if not (status.get(section) or {}).get('absent')}
    for section in SECTION_ORDER:
        primary = FALLBACK_SECTIONS.get(section)
        if primary and primary in present:
            continue
        override = status.get(section) or {}
        if section not in present:
            out += b'@@triage:absent %s@@\n' % section.encode()
            continue
        rc = override.get('rc') or '0'
        ms = override.get('ms') or str(DEFAULT_MS.get(section, 1))
        out += b'@@triage:begin %s@@\n' % section.encode()
        out += files[section]
        out += b'\n@@triage:end %s rc=%s ms=%s@@\n' % (section.encode(), rc.encode(), ms.encode())
    if (directory / '_suffix').is_file():
        out += (directory / '_suffix').read_bytes()
    if 'crlf' in options:
        out = re.sub(rb'(?<!\r)\n', b'\r\n', bytes(out))
    return bytes(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='only compare; exit 1 when an .out is stale')
    parser.add_argument('profiles', nargs='*', help='default: every profile under src/')
    args = parser.parse_args(argv)
    stale = []
    for name in args.profiles or profile_names():
        target = PROFILES_DIR / f'{name}.out'
        data = build_profile(name)
        if target.is_file() and target.read_bytes() == data:
            continue
        stale.append(name)
        if not args.check:
            target.write_bytes(data)
            print(f'wrote {target.name} ({len(data)} bytes)')
    if args.check and stale:
        print('stale profiles: ' + ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
