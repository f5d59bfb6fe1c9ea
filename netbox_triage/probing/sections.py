"""Split the raw output of ``script.sh`` into its marked sections.

The probe prints ``@@triage:probe v1@@`` and then, per section, either::

    @@triage:begin <name>@@
    <body>
    @@triage:end <name> rc=<exit code> ms=<elapsed ms or -1>@@

or ``@@triage:absent <name>@@``. The script always writes one newline between the body and the end
marker; that newline is not part of the body.

Everything here treats the bytes as hostile, and these are the rules it follows:

- A marker is a whole line (a trailing CR is ignored) matching the exact syntax above, with a name
  of ``[a-z0-9_]{1,64}``. Anything else outside a section is junk and is skipped: banners before
  the header, shell noise after the last section.
- Inside section S only ``end S`` closes it. ``end T``, ``absent T`` or the header inside S are body
  text of S and flag S as tampered. A ``begin X`` inside S closes S as truncated (output was cut:
  the script never nests) and opens X.
- A section without an end marker is kept and flagged ``truncated``; a body over
  ``max_section_bytes`` is cut there and flagged ``capped``; input over ``max_input_bytes`` is cut
  and the section it ends in is truncated.
- ``script.sh`` prefixes every body line that starts with ``@@triage`` with a space, so file
  contents cannot forge markers. When a host forges them anyway (no sed, a replaced shell), the
  damage stays within the section that carried them: an injected ``end S`` closes S early; the
  genuine ``end S`` that follows is then a stray, and a stray end naming the section just closed
  re-extends it over everything up to the stray (flagged tampered). A stray end naming an older
  section only flags that section and those printed between it and the stray as tampered; it
  never moves or drops data. A section forged inside another body is therefore tampered or
  truncated, and never beats the genuine one (see the next rule). What a forger cannot be stopped
  from is adding a flagged section the host did not print at all.
- A name seen more than once keeps one occurrence: untampered and complete first, then complete,
  then the first seen. A real section beats an absent marker. ``duplicates`` counts the others.
- Floods are bounded: at most ``MAX_MARKERS`` marker lines are honoured (the rest is text), at most
  ``MAX_NOTES`` problems are listed, and the work is linear in the input size.

Bodies are decoded as UTF-8 with ``errors='replace'``; CRLF becomes LF, lone CRs are kept.
"""

import re
from dataclasses import dataclass, field

__all__ = (
    'DEFAULT_INPUT_CAP',
    'DEFAULT_SECTION_CAP',
    'FALLBACK_SECTIONS',
    'SECTION_ORDER',
    'ProbeOutput',
    'Section',
    'split_probe',
    'split_sections',
)

DEFAULT_SECTION_CAP = 64 * 1024
DEFAULT_INPUT_CAP = 16 * 1024 * 1024
# A real run prints about 40 marker lines; past these limits the host is flooding us.
MAX_MARKERS = 10_000
MAX_NOTES = 200
PROBE_VERSION = 'v1'

# The sections script.sh prints, in its order. A fallback is only printed when its primary tool is
# missing, so a complete run names every section except the fallbacks it did not need.
SECTION_ORDER = (
    'meta',
    'os_release',
    'redhat_release',
    'suse_release',
    'debian_version',
    'lsb_release',
    'alpine_release',
    'issue',
    'uname',
    'hostname',
    'uptime',
    'loadavg',
    'virt_detect',
    'dmi',
    'virt_hints',
    'cgroup',
    'cpuinfo',
    'lscpu',
    'meminfo',
    'filesystems',
    'ip_addr',
    'ip_link',
    'ifconfig',
    'ss_listen',
    'ss_established',
    'netstat_listen',
    'netstat_established',
    'packages_rpm',
    'packages_dpkg',
    'packages_apk',
    'openssl_version',
    'haproxy_version',
    'haproxy_cfg',
    'monit_version',
    'java_version',
)
FALLBACK_SECTIONS = {
    'ifconfig': 'ip_addr',
    'netstat_listen': 'ss_listen',
    'netstat_established': 'ss_established',
}

_PREFIX = b'@@triage:'
_MAX_MARKER_LEN = 160
_MARKER_LINE = re.compile(rb'^@@triage:[^\n]{0,%d}' % _MAX_MARKER_LEN, re.MULTILINE)
_HEADER = re.compile(rb'@@triage:probe (v[0-9]{1,4})@@')
_BEGIN = re.compile(rb'@@triage:begin ([a-z0-9_]{1,64})@@')
_END = re.compile(rb'@@triage:end ([a-z0-9_]{1,64}) rc=(-?[0-9]{1,9}) ms=(-?[0-9]{1,12})@@')
_ABSENT = re.compile(rb'@@triage:absent ([a-z0-9_]{1,64})@@')


@dataclass
class Section:
    """One section as the host printed it; ``body`` is capped and decoded."""

    name: str
    body: str = ''
    rc: int | None = None
    ms: int | None = None
    absent: bool = False
    truncated: bool = False
    capped: bool = False
    tampered: bool = False
    duplicates: int = 0

    @property
    def present(self):
        return not self.absent

    @property
    def ok(self):
        """Present, ended normally and exited 0."""
        return not self.absent and not self.truncated and self.rc == 0

    def status(self):
        """A small JSON-ready summary, with only the flags that are set."""
        if self.absent:
            return {'absent': True}
        data = {'rc': self.rc, 'ms': self.ms}
        for flag in ('truncated', 'capped', 'tampered'):
            if getattr(self, flag):
                data[flag] = True
        if self.duplicates:
            data['duplicates'] = self.duplicates
        return data


@dataclass
class ProbeOutput:
    """The split of one probe run: header version, sections by name and what looked wrong.

    ``notes`` holds ``(section name or None, message)`` pairs.
    """

    version: str | None
    sections: dict[str, Section]
    notes: list[tuple[str | None, str]] = field(default_factory=list)
    input_capped: bool = False


@dataclass
class _Marker:
    kind: str
    name: str
    start: int
    stop: int
    rc: int | None = None
    ms: int | None = None


@dataclass
class _Occurrence:
    name: str
    absent: bool
    body_start: int = 0
    body_stop: int | None = None
    rc: int | None = None
    ms: int | None = None
    ended: bool = False
    tampered: bool = False


def _markers(data):
    """Yield the marker lines of ``data`` in order; other lines starting with the prefix are skipped."""
    for match in _MARKER_LINE.finditer(data):
        stop = match.end()
        if stop < len(data) and data[stop] != 0x0A:
            continue
        line = match.group(0).rstrip(b'\r')
        if m := _BEGIN.fullmatch(line):
            yield _Marker('begin', m.group(1).decode(), match.start(), stop)
        elif m := _END.fullmatch(line):
            yield _Marker('end', m.group(1).decode(), match.start(), stop, int(m.group(2)), int(m.group(3)))
        elif m := _ABSENT.fullmatch(line):
            yield _Marker('absent', m.group(1).decode(), match.start(), stop)
        elif m := _HEADER.fullmatch(line):
            yield _Marker('header', m.group(1).decode(), match.start(), stop)


def _note(notes, section, message):
    if len(notes) < MAX_NOTES:
        notes.append((section, message))
    elif len(notes) == MAX_NOTES:
        notes.append((None, 'more problems than listed here'))


def _walk(data, notes):
    """Run the marker state machine; return the header version and every occurrence in order."""
    version = None
    occurrences = []
    latest = {}
    # Stray ends flag index ranges; a difference array applies them all in one pass at the end.
    flagged = {}
    current = None
    for count, marker in enumerate(_markers(data)):
        if count >= MAX_MARKERS:
            _note(notes, None, f'more than {MAX_MARKERS} marker lines; the rest was read as text')
            break
        if current is not None:
            if marker.kind == 'end' and marker.name == current.name:
                current.body_stop, current.rc, current.ms, current.ended = marker.start, marker.rc, marker.ms, True
                current = None
            elif marker.kind == 'begin':
                current.body_stop = marker.start
                current = _Occurrence(marker.name, False, body_start=marker.stop + 1)
                latest[marker.name] = len(occurrences)
                occurrences.append(current)
            else:
                current.tampered = True
            continue
        if marker.kind == 'begin':
            current = _Occurrence(marker.name, False, body_start=marker.stop + 1)
            latest[marker.name] = len(occurrences)
            occurrences.append(current)
        elif marker.kind == 'absent':
            occurrences.append(_Occurrence(marker.name, True))
        elif marker.kind == 'header':
            if version is None:
                version = marker.name
        else:
            # A stray end: re-extend the section just closed, else only flag (see the module docstring).
            index = latest.get(marker.name)
            if index is None:
                _note(notes, marker.name, 'end marker without a section')
            elif index == len(occurrences) - 1:
                occurrence = occurrences[index]
                occurrence.body_stop, occurrence.rc, occurrence.ms = marker.start, marker.rc, marker.ms
                occurrence.tampered = True
                _note(notes, marker.name, 'repeated end marker; section re-extended to the last one')
            else:
                flagged[index] = flagged.get(index, 0) + 1
                flagged[len(occurrences)] = flagged.get(len(occurrences), 0) - 1
                _note(notes, marker.name, 'stray end marker after other sections; they are flagged tampered')
    if current is not None:
        current.body_stop = len(data)
    depth = 0
    for index, occurrence in enumerate(occurrences):
        depth += flagged.get(index, 0)
        occurrence.tampered = occurrence.tampered or depth > 0
    return version, occurrences


def _body(data, occurrence, cap):
    stop = occurrence.body_stop if occurrence.body_stop is not None else len(data)
    start = min(occurrence.body_start, stop)
    if stop > start and data[stop - 1] == 0x0A:
        stop -= 1
        if stop > start and data[stop - 1] == 0x0D:
            stop -= 1
    capped = stop - start > cap
    chunk = data[start:min(stop, start + cap)]
    return chunk.replace(b'\r\n', b'\n').decode('utf-8', errors='replace'), capped


def _rank(section):
    return (section.absent, section.tampered or section.truncated, section.truncated)


def split_probe(raw, max_section_bytes=DEFAULT_SECTION_CAP, max_input_bytes=DEFAULT_INPUT_CAP):
    """Split raw probe output into sections; never raises on odd input, whatever its size."""
    if isinstance(raw, str):
        raw = raw.encode('utf-8', errors='surrogateescape')
    data = bytes(raw[:max_input_bytes])
    notes = []
    input_capped = len(raw) > max_input_bytes
    if input_capped:
        _note(notes, None, f'input longer than {max_input_bytes} bytes; the rest was ignored')
    version, occurrences = _walk(data, notes)
    if version is None:
        _note(notes, None, 'no probe header')
    elif version != PROBE_VERSION:
        _note(notes, None, f'unknown probe version {version}')

    sections = {}
    for occurrence in occurrences:
        if occurrence.absent:
            section = Section(occurrence.name, absent=True)
        else:
            body, capped = _body(data, occurrence, max_section_bytes)
            section = Section(
                occurrence.name,
                body=body,
                rc=occurrence.rc,
                ms=occurrence.ms,
                truncated=not occurrence.ended,
                capped=capped,
                tampered=occurrence.tampered,
            )
            if section.truncated:
                _note(notes, section.name, 'truncated: no end marker')
            if capped:
                _note(notes, section.name, f'body over {max_section_bytes} bytes was cut')
            if section.tampered:
                _note(notes, section.name, 'marker lines inside or around the body')
        kept = sections.get(section.name)
        if kept is None:
            sections[section.name] = section
            continue
        if _rank(section) < _rank(kept):
            section.duplicates = kept.duplicates
            sections[section.name] = kept = section
        kept.duplicates += 1
        _note(notes, section.name, 'printed more than once')
    rank = {name: index for index, name in enumerate(SECTION_ORDER)}
    ordered = sorted(sections, key=lambda name: rank.get(name, len(rank)))
    return ProbeOutput(
        version=version,
        sections={name: sections[name] for name in ordered},
        notes=notes,
        input_capped=input_capped,
    )


def split_sections(raw, max_section_bytes=DEFAULT_SECTION_CAP, max_input_bytes=DEFAULT_INPUT_CAP):
    """``{name: Section}`` for raw probe output; see :func:`split_probe`."""
    return split_probe(raw, max_section_bytes, max_input_bytes).sections
