"""Monit's status and event XML (what `set mmonit` POSTs), read safely into plain data.

The body is untrusted: defusedxml parses it with DTDs forbidden outright (Monit never sends one, so a
DOCTYPE means an entity bomb or an external-entity probe), and limits on attribute and text sizes reject
hostile documents that fit the body limit. Only the fields listed here are read; everything else,
notably ``<server><credentials>`` (the Monit web interface's user and password, which Monit includes in
every report) and program output, is never copied out of the parsed tree, so it cannot be persisted.

Formats: Monit 5.x sends format 2 to M/Monit (``<monit id=… incarnation=… version=…>``, ``<service
name=…><type>…``); format 1 (``<server><id>``, ``<service type=…><name>``) is read too. Service types
and event states are Monit's enums (monit.h).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

__all__ = ('MonitCheck', 'MonitEvent', 'MonitPayloadError', 'MonitReport', 'parse_monit_xml')

MAX_ATTRIBUTE = 1024  # a service name; Monit's own limit on names is far lower
MAX_TEXT = 64 * 1024  # program output and event messages are the longest texts Monit sends
MAX_SERVICES = 2000
MAX_NAME = 100
MAX_MESSAGE = 300

# Monit's Service_Type enum → (Monit's word, the check types that service covers).
SERVICE_TYPES = {
    0: ('filesystem', ('disk',)),
    1: ('directory', ('file',)),
    2: ('file', ('file',)),
    3: ('process', ('process',)),
    4: ('host', ('remote_service',)),
    5: ('system', ('cpu', 'memory', 'load')),
    6: ('fifo', ('file',)),
    7: ('program', ('program',)),
    8: ('network', ('network',)),
}
EVENT_STATES = {0: 'succeeded', 1: 'failed', 2: 'changed', 3: 'changed not', 4: 'init', 5: 'none'}
EVENT_INSTANCE = 65536  # Event_Instance: Monit itself started, stopped or reloaded
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]')


class MonitPayloadError(ValueError):
    """The body is not a Monit report we accept; ``status`` is the HTTP status to answer with."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class MonitCheck:
    name: str
    service: str  # Monit's service type word ('filesystem', 'system', …)
    types: tuple  # check types (MonitoringCheckTypeChoices values)
    status: str  # 'ok', 'failed', 'unmonitored', 'initializing'

    def as_dict(self):
        return {'name': self.name, 'service': self.service, 'types': list(self.types), 'status': self.status}


@dataclass(frozen=True)
class MonitEvent:
    service: str
    state: str
    message: str
    at: datetime | None
    instance: bool  # about Monit itself (started, stopped, reloaded)

    def as_dict(self):
        return {'kind': 'event', 'at': self.at.isoformat() if self.at else None, 'service': self.service,
                'state': self.state, 'message': self.message}


@dataclass
class MonitReport:
    monit_id: str
    version: str = ''
    incarnation: int | None = None
    uptime: int | None = None
    poll: int | None = None
    hostname: str = ''
    httpd_address: str = ''
    httpd_port: int | None = None
    platform: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    event: MonitEvent | None = None

    @property
    def check_types(self):
        return sorted({kind for check in self.checks for kind in check.types})

    @property
    def failed(self):
        return [check.name for check in self.checks if check.status == 'failed']


def clean_text(value, limit=MAX_NAME):
    """Printable text of at most ``limit`` characters: no control, bidi or zero-width characters."""
    return _CONTROL.sub('', value or '').strip()[:limit]


def _int(element, path, default=None):
    node = element.find(path)
    if node is None or node.text is None:
        return default
    try:
        return int(node.text.strip())
    except ValueError:
        try:
            return int(float(node.text.strip()))
        except ValueError:
            return default


def _text(element, path, limit=MAX_NAME):
    node = element.find(path)
    return clean_text(node.text, limit) if node is not None and node.text else ''


def _check_limits(root):
    services = 0
    for element in root.iter():
        for value in element.attrib.values():
            if len(value) > MAX_ATTRIBUTE:
                raise MonitPayloadError(f'an attribute of <{element.tag[:40]}> is longer than {MAX_ATTRIBUTE} '
                                        'characters')
        if element.text and len(element.text) > MAX_TEXT:
            raise MonitPayloadError(f'the text of <{element.tag[:40]}> is longer than {MAX_TEXT} characters')
        if element.tag == 'service':
            services += 1
    if services > MAX_SERVICES:
        raise MonitPayloadError(f'more than {MAX_SERVICES} services in one report')


def _check_status(service):
    monitor = _int(service, 'monitor', 1)
    if monitor == 0:
        return 'unmonitored'
    if _int(service, 'status', 0):
        return 'failed'
    if monitor == 2:
        return 'initializing'
    return 'ok'


def _check(service):
    name = service.get('name')
    if name is None:
        name = service.findtext('name') or ''
    code = service.get('type')
    code = int(code) if code is not None and code.strip().isdigit() else _int(service, 'type', -1)
    word, types = SERVICE_TYPES.get(code, ('other', ('other',)))
    name = clean_text(name)
    if word == 'program' and 'os_release' in name.lower().replace('-', '_'):
        types = ('os_release',)
    return MonitCheck(name=name, service=word, types=types, status=_check_status(service))


def _event(element):
    seconds = _int(element, 'collected_sec')
    at = datetime.fromtimestamp(seconds, tz=UTC) if seconds and 0 < seconds < 2 ** 40 else None
    return MonitEvent(
        service=_text(element, 'service'),
        state=EVENT_STATES.get(_int(element, 'state', 5), 'none'),
        message=_text(element, 'message', MAX_MESSAGE),
        at=at,
        instance=_int(element, 'id') == EVENT_INSTANCE,
    )


def parse_monit_xml(body):
    """Read a Monit status/event document (bytes) into a :class:`MonitReport`; raise MonitPayloadError."""
    body = (body or b'').lstrip()  # an XML declaration must come first; whitespace before it is harmless
    if not body:
        raise MonitPayloadError('empty body')
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MonitPayloadError(f'refused XML: {type(exc).__name__} (DTDs and entities are not accepted)') from None
    except ParseError as exc:
        raise MonitPayloadError(f'malformed XML: {exc}'[:200]) from None
    if root.tag != 'monit':
        raise MonitPayloadError(f'not a Monit report: the root element is <{clean_text(root.tag, 40)}>')
    _check_limits(root)
    server = root.find('server')
    if server is None:
        raise MonitPayloadError('not a Monit report: no <server> element')
    monit_id = clean_text(root.get('id') or server.findtext('id') or '', 64)
    hostname = _text(server, 'localhostname', 255)
    if not monit_id and not hostname:
        raise MonitPayloadError('not a Monit report: neither a Monit ID nor a host name')
    incarnation = root.get('incarnation') or server.findtext('incarnation') or ''
    report = MonitReport(
        monit_id=monit_id or f'name:{hostname}'[:64],
        version=clean_text(root.get('version') or server.findtext('version') or '', 50),
        incarnation=int(incarnation) if incarnation.strip().isdigit() else None,
        uptime=_int(server, 'uptime'),
        poll=_int(server, 'poll'),
        hostname=hostname,
        httpd_address=_text(server, 'httpd/address', 100),
        httpd_port=_int(server, 'httpd/port'),
    )
    platform = root.find('platform')
    if platform is not None:
        report.platform = {key: value for key, value in (
            ('name', _text(platform, 'name')), ('release', _text(platform, 'release')),
            ('machine', _text(platform, 'machine')), ('cpu', _int(platform, 'cpu')),
            ('memory_kb', _int(platform, 'memory')), ('swap_kb', _int(platform, 'swap')),
        ) if value not in ('', None)}
    services = root.find('services')
    for service in (services if services is not None else root).findall('service'):
        report.checks.append(_check(service))
    event = root.find('event')
    if event is not None:
        report.event = _event(event)
    return report
