"""Admin services that often run without authentication (Jenkins and the like), listening beyond loopback.

The probe shows who listens where; it cannot show whether the service asks for a password. So the
passive finding (:class:`ExposedServicesRule`) says "reachable, authentication unknown", and
:func:`judge_http_exposure` settles it with a few anonymous HTTP requests through a caller-supplied
``http_get`` (the active check is wired later; nothing here opens a connection). Anonymous access to
Jenkins' /script is remote code execution; anonymous /api/json lists every job and often its secrets.

A service is recognised by its own process name (``dockerd``), or by a generic one (``java``) together with
the service's package: a ``java`` on :8080 without the jenkins package is an application server, not
Jenkins. Redis, Memcached and MongoDB are in the catalogue but off by default: a cache or database must
listen on its service network, and only a protocol check can tell an open one from a protected one.
"""

import json
from dataclasses import dataclass, field

from .base import Finding, Rule, endpoint, register

__all__ = (
    'SERVICES',
    'ExposedServicesRule',
    'HttpAnswer',
    'Service',
    'Verdict',
    'exposed_sockets',
    'judge_http_exposure',
)

GENERIC_PROCESSES = frozenset(('java', 'python', 'python3', 'node', 'ruby', 'perl', 'beam.smp'))


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    packages: tuple = ()
    processes: tuple = ()  # names that are this service whatever the port
    ports: tuple = ()  # when set, only these ports (e.g. Docker's plain-HTTP 2375, not TLS 2376)
    http: bool = True
    risk: str = ''


SERVICES = {
    'jenkins': Service('jenkins', 'Jenkins', packages=('jenkins',), processes=('jenkins',),
                       risk='anonymous users may run Groovy on the controller (/script) or read jobs and secrets'),
    'elasticsearch': Service('elasticsearch', 'Elasticsearch', packages=('elasticsearch',),
                             processes=('elasticsearch',), ports=(9200,),
                             risk='before 8.0 security was off by default: every index is readable and writable'),
    'docker': Service('docker', 'Docker Engine API (plain HTTP)', processes=('dockerd', 'docker'), ports=(2375,),
                      risk='the Docker API on plain HTTP is root on the host for anyone who reaches it'),
    'redis': Service('redis', 'Redis', packages=('redis', 'redis-server'), processes=('redis-server',), http=False,
                     risk='without requirepass, CONFIG SET turns a reachable Redis into a file write'),
    'memcached': Service('memcached', 'Memcached', packages=('memcached',), processes=('memcached',), http=False,
                         risk='no authentication by default; readable cache and UDP amplification'),
    'mongodb': Service('mongodb', 'MongoDB', packages=('mongodb-org-server', 'mongodb-server', 'mongodb'),
                       processes=('mongod',), http=False, risk='old defaults had no authentication'),
}


def _is_loopback(address):
    return bool(address) and (address.startswith('127.') or address in ('::1', 'localhost'))


def exposed_sockets(facts, service):
    """The listening sockets of ``service`` on a non-loopback address: ``[{address, port, process}]``."""
    packages = facts.get('packages') or {}
    installed = any(name in packages for name in service.packages)
    found = []
    for sock in facts.get('listening') or ():
        process = sock.get('process') or ''
        if _is_loopback(sock.get('address')):
            continue
        if service.ports and sock.get('port') not in service.ports:
            continue
        if process in service.processes or (process in GENERIC_PROCESSES and installed):
            found.append({'address': sock['address'], 'port': sock['port'], 'process': process})
    return found


@register
class ExposedServicesRule(Rule):
    name = 'exposed_services'
    title = 'Exposed service without authentication'
    description = 'An admin service that is often left without authentication listens beyond loopback.'
    default_settings = {
        'services': ['jenkins', 'elasticsearch', 'docker'],
        'severity': 'medium',
    }

    def per_host(self, host, settings, today):
        if not host.facts:
            return []
        findings = []
        for key in settings['services']:
            service = SERVICES[key]
            sockets = exposed_sockets(host.facts, service)
            if not sockets:
                continue
            sockets.sort(key=lambda sock: (sock['port'], sock['address']))
            where = ', '.join(f'{endpoint(sock["address"], sock["port"])} ({sock["process"]})' for sock in sockets)
            evidence = {'service': service.key, 'sockets': sockets, 'authentication': 'unknown'}
            version = _package_version(host.facts, service)
            if version:
                evidence['version'] = version
            text = (f'{service.name}{" " + version if version else ""} listens on {where}; the probe cannot see '
                    f'whether it asks for a password. Risk: {service.risk}.')
            recommendation = (f'Check anonymous access to {service.name}' +
                              (' (/script and /api/json)' if key == 'jenkins' else '') +
                              '; require authentication, or bind it to loopback behind a reverse proxy.')
            findings.append(self.finding(host.key, settings['severity'], f'{service.name} reachable beyond loopback',
                                         evidence, text, recommendation))
        return findings


def _package_version(facts, service):
    packages = facts.get('packages') or {}
    for name in service.packages:
        if name in packages:
            return packages[name].get('full')
    return None


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict = field(default_factory=dict)
    body: str = ''


@dataclass
class Verdict:
    """What anonymous HTTP requests showed: 'anonymous-admin', 'anonymous-read', 'protected', 'unreachable'
    or 'not-this-service'; ``checks`` lists each request and its status; ``finding`` is set when exposed."""

    state: str
    checks: list
    finding: Finding | None = None


def _answer(http_get, path):
    try:
        answer = http_get(path)
    except Exception as exc:  # The caller's transport: any failure means "could not check".
        return None, f'{type(exc).__name__}: {exc}'[:200]
    if isinstance(answer, tuple):
        answer = HttpAnswer(*answer)
    headers = {str(key).lower(): str(value) for key, value in (answer.headers or {}).items()}
    return HttpAnswer(int(answer.status), headers, answer.body or ''), None


def _json(body):
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _login_page(answer):
    location = answer.headers.get('location', '')
    redirected = answer.status in (301, 302, 303, 307, 308) and 'login' in location.lower()
    return redirected or answer.status in (401, 403)


def _jenkins(get):
    """Anonymous /script is code execution; anonymous /api/json is read access to every job."""
    checks = []
    script, error = get('/script')
    checks.append({'path': '/script', 'status': script.status if script else None, 'error': error})
    api, error = get('/api/json')
    checks.append({'path': '/api/json', 'status': api.status if api else None, 'error': error})
    answers = [answer for answer in (script, api) if answer is not None]
    if not answers:
        return 'unreachable', checks, None
    if not any('x-jenkins' in answer.headers or 'jenkins' in answer.body[:4096].lower() for answer in answers):
        return 'not-this-service', checks, None
    version = next((answer.headers['x-jenkins'] for answer in answers if 'x-jenkins' in answer.headers), None)
    if script and script.status == 200 and 'script console' in script.body.lower() and 'j_username' not in script.body:
        return 'anonymous-admin', checks, version
    data = _json(api.body) if api and api.status == 200 else None
    if data is not None and ('jobs' in data or 'hudson' in str(data.get('_class', '')).lower()):
        return 'anonymous-read', checks, version
    return 'protected', checks, version


def _elasticsearch(get):
    checks = []
    root, error = get('/')
    checks.append({'path': '/', 'status': root.status if root else None, 'error': error})
    if root is None:
        return 'unreachable', checks, None
    data = _json(root.body) if root.status == 200 else None
    if data is not None and 'cluster_name' in data:
        return 'anonymous-read', checks, (data.get('version') or {}).get('number')
    if root.status == 401 and 'elastic' in root.headers.get('www-authenticate', '').lower() + root.body.lower():
        return 'protected', checks, None
    return ('protected' if _login_page(root) else 'not-this-service'), checks, None


def _docker(get):
    checks = []
    answer, error = get('/version')
    checks.append({'path': '/version', 'status': answer.status if answer else None, 'error': error})
    if answer is None:
        return 'unreachable', checks, None
    data = _json(answer.body) if answer.status == 200 else None
    if data is not None and 'ApiVersion' in data:
        return 'anonymous-admin', checks, data.get('Version')
    return ('protected' if _login_page(answer) else 'not-this-service'), checks, None


_JUDGES = {'jenkins': _jenkins, 'elasticsearch': _elasticsearch, 'docker': _docker}
_SEVERITY = {'anonymous-admin': 'critical', 'anonymous-read': 'high'}


def judge_http_exposure(host_key, service_key, http_get, address=None, port=None):
    """Judge one service from anonymous HTTP answers. ``http_get(path)`` returns an :class:`HttpAnswer`
    (or a ``(status, headers, body)`` tuple) for a GET of ``path`` on the service, and may raise when the
    service cannot be reached. Returns a :class:`Verdict` whose ``finding`` is set when anonymous users get in.
    """
    judge = _JUDGES.get(service_key)
    if judge is None:
        raise ValueError(f'no HTTP check for {service_key!r}; known: {", ".join(_JUDGES)}')
    state, checks, version = judge(lambda path: _answer(http_get, path))
    verdict = Verdict(state, checks)
    if state not in _SEVERITY:
        return verdict
    service = SERVICES[service_key]
    where = endpoint(address, port) if address and port else 'the service'
    access = {'anonymous-admin': 'administrative access (code execution)', 'anonymous-read': 'read access'}[state]
    evidence = {
        'service': service_key,
        'access': state,
        'address': address,
        'port': port,
        'checks': [{'path': check['path'], 'status': check['status']} for check in checks],
    }
    if version:
        evidence['version'] = version
    seen = ', '.join(f'GET {check["path"]} -> {check["status"]}' for check in checks)
    text = f'{service.name}{" " + version if version else ""} on {where} gives anonymous {access}: {seen}.'
    verdict.finding = Finding(
        rule=ExposedServicesRule.name,
        subject=host_key,
        severity=_SEVERITY[state],
        title=f'{service.name} allows anonymous {access}',
        evidence=evidence,
        evidence_text=text,
        recommendation=f'Require authentication on {service.name} now (for Jenkins: Manage Jenkins > Security, '
                       'no anonymous permissions), then review what it exposed: credentials, jobs, agents.',
    )
    return verdict
