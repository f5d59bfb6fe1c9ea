"""What every discovery rule shares: the host as rules see it, a finding, the rule base and the registry.

Rules are pure domain code: they read :class:`HostView` objects (plain data built from NetBox objects and
their probe facts by the caller) and return :class:`Finding` objects. Nothing here touches the database,
so every rule is testable with hand-made hosts and real probe output.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = (
    'SEVERITIES',
    'Finding',
    'HostView',
    'Registry',
    'Rule',
    'endpoint',
    'max_severity',
    'register',
    'registry',
    'run_rules',
    'severity_rank',
)

logger = logging.getLogger('netbox_triage.rules')

# Same values as choices.SeverityChoices (kept free of Django here), lowest first.
SEVERITIES = ('info', 'low', 'medium', 'high', 'critical')
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def severity_rank(severity):
    return _RANK[severity]


def max_severity(severities):
    """The highest of some severities ('info' for none)."""
    return max(severities, key=severity_rank, default='info')


def endpoint(address, port):
    """'10.0.0.1:80', '[::]:22': an address and port the way people write them."""
    address = address or '*'
    return f'[{address}]:{port}' if ':' in address else f'{address}:{port}'


def _json_ready(value):
    """Evidence goes to a JSONField: refuse what json cannot write instead of storing a repr."""
    json.dumps(value, sort_keys=True, allow_nan=False)
    return value


def fingerprint_of(rule, subject, data):
    """A stable hash of what was found: the same evidence gives the same fingerprint, run after run."""
    text = json.dumps({'rule': rule, 'subject': subject, 'data': data}, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Finding:
    """One thing a rule found about one host (``subject``) or a group of hosts (``subject`` None or a group key).

    ``evidence`` is JSON-ready and says exactly what was seen; ``evidence_text`` says the same for a human.
    ``fingerprint`` hashes the evidence (or ``identity``, when a rule knows that part of its evidence moves
    without meaning anything, like a disk going from 96 % to 97 %), so a finding marked as a false positive
    can stay quiet until what it is based on changes.
    """

    rule: str
    subject: str | None
    severity: str
    title: str
    evidence: dict
    evidence_text: str
    recommendation: str = ''
    identity: dict | None = field(default=None, repr=False)
    fingerprint: str = ''

    def __post_init__(self):
        if self.severity not in _RANK:
            raise ValueError(f'{self.rule}: unknown severity {self.severity!r}; one of {SEVERITIES}')
        _json_ready(self.evidence)
        if self.identity is not None:
            _json_ready(self.identity)
        if not self.fingerprint:
            data = self.identity if self.identity is not None else self.evidence
            self.fingerprint = fingerprint_of(self.rule, self.subject, data)

    def as_dict(self):
        return {
            'rule': self.rule,
            'subject': self.subject,
            'severity': self.severity,
            'title': self.title,
            'evidence': self.evidence,
            'evidence_text': self.evidence_text,
            'recommendation': self.recommendation,
            'fingerprint': self.fingerprint,
        }


@dataclass(frozen=True, eq=False)
class HostView:
    """What rules see of one host: who it is in NetBox and what the last probe said.

    ``key`` names the NetBox object ('dcim.device:12', 'virtualization.virtualmachine:7'); ``facts`` is
    the ``ParsedProbe.facts`` dict (empty when never probed); ``cluster_key`` names the cluster object so
    group findings can point at it. ``hostkey_changed`` is a flag, or the new key's fingerprint as text.
    """

    key: str
    name: str
    kind: str  # 'device' or 'vm'
    facts: dict = field(default_factory=dict)
    platform: str | None = None
    role: str | None = None
    site: str | None = None
    cluster: str | None = None
    tags: tuple = ()
    probed_at: datetime | None = None
    hostkey_changed: bool | str = False
    is_active: bool = True
    cluster_key: str | None = None

    def __post_init__(self):
        if self.kind not in ('device', 'vm'):
            raise ValueError(f'{self.key}: kind must be "device" or "vm", not {self.kind!r}')

    def fact(self, name, default=None):
        value = (self.facts or {}).get(name)
        return default if value is None else value


class Rule:
    """A discovery rule. Subclasses set ``name``, ``title``, ``default_settings`` and implement
    :meth:`per_host` (called once per host) and/or :meth:`fleet` (called once with every host)."""

    name = ''
    title = ''
    description = ''
    default_settings: dict = {}

    def settings(self, overrides=None):
        """Defaults updated with ``overrides``; an unknown key is a mistake and fails loudly."""
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(self.default_settings))
        if unknown:
            raise ValueError(f'rule {self.name!r}: unknown setting(s) {", ".join(unknown)}')
        merged = dict(self.default_settings)
        merged.update(overrides)
        return merged

    def per_host(self, host: HostView, settings: dict, today: date) -> list[Finding]:
        return []

    def fleet(self, hosts: list[HostView], settings: dict, today: date) -> list[Finding]:
        return []

    @classmethod
    def has_per_host(cls):
        return cls.per_host is not Rule.per_host

    @classmethod
    def has_fleet(cls):
        return cls.fleet is not Rule.fleet

    def finding(self, subject, severity, title, evidence, evidence_text, recommendation='', identity=None):
        return Finding(
            rule=self.name,
            subject=subject,
            severity=severity,
            title=title,
            evidence=evidence,
            evidence_text=evidence_text,
            recommendation=recommendation,
            identity=identity,
        )


class Registry:
    """The rules by name, in registration order."""

    def __init__(self):
        self._rules = {}

    def register(self, cls):
        """Class decorator: ``@register`` above a :class:`Rule` subclass."""
        if not cls.name or not isinstance(cls.name, str):
            raise ValueError(f'{cls.__name__}: a rule needs a name')
        if cls.name in self._rules and type(self._rules[cls.name]) is not cls:
            raise ValueError(f'rule {cls.name!r} is registered twice')
        if not (cls.has_per_host() or cls.has_fleet()):
            raise ValueError(f'rule {cls.name!r} implements neither per_host() nor fleet()')
        self._rules[cls.name] = cls()
        return cls

    def __getitem__(self, name):
        return self._rules[name]

    def __contains__(self, name):
        return name in self._rules

    def __iter__(self):
        return iter(self._rules.values())

    def names(self):
        return list(self._rules)

    def select(self, only=None):
        if only is None:
            return list(self._rules.values())
        if isinstance(only, str):
            only = [only]
        unknown = sorted(set(only) - set(self._rules))
        if unknown:
            raise ValueError(f'unknown rule(s) {", ".join(unknown)}; known: {", ".join(self._rules)}')
        return [rule for name, rule in self._rules.items() if name in set(only)]

    def run(self, hosts: Iterable[HostView], settings=None, today=None, only=None) -> list[Finding]:
        """Run the selected rules over ``hosts``. A rule that raises costs only its own findings: the
        failure becomes one error finding for that rule (and one log entry), and the other rules run on."""
        hosts = list(hosts)
        settings = settings or {}
        unknown = sorted(set(settings) - set(self._rules))
        if unknown:
            raise ValueError(f'settings for unknown rule(s) {", ".join(unknown)}')
        if today is None:
            today = date.today()
        elif isinstance(today, datetime):
            today = today.date()
        findings = []
        for rule in self.select(only):
            merged = rule.settings(settings.get(rule.name))
            failures = []
            if rule.has_per_host():
                for host in hosts:
                    try:
                        findings.extend(rule.per_host(host, merged, today))
                    except Exception as exc:  # One host's odd facts must not cost the other hosts.
                        failures.append((host.key, exc))
            if rule.has_fleet():
                try:
                    findings.extend(rule.fleet(hosts, merged, today))
                except Exception as exc:
                    failures.append((None, exc))
            if failures:
                findings.append(_error_finding(rule, failures))
        return findings


def _error_finding(rule, failures):
    subject, first = failures[0]
    logger.error(
        'rule %s failed on %d host(s)/run(s); first on %s', rule.name, len(failures), subject or 'the fleet',
        exc_info=(type(first), first, first.__traceback__),
    )
    error = f'{type(first).__name__}: {first}'[:500]
    hosts = [key for key, _exc in failures if key][:20]
    return Finding(
        rule=rule.name,
        subject=None,
        severity='low',
        title=f'Rule "{rule.title or rule.name}" failed; its findings may be incomplete',
        evidence={'error': error, 'failures': len(failures), 'hosts': hosts},
        evidence_text=f'{len(failures)} failure(s), first: {error}' + (
            f' (hosts: {", ".join(hosts)})' if hosts else ''),
        recommendation='See the server log for the traceback and report it; the other rules ran normally.',
    )


registry = Registry()
register = registry.register


def run_rules(hosts, settings=None, today=None, only=None) -> list[Finding]:
    """Run the registered rules (all, or the names in ``only``) over ``hosts``; see :meth:`Registry.run`.

    ``settings`` maps a rule name to its overrides, e.g. ``{'disk': {'used_percent': 90}}``.
    """
    return registry.run(hosts, settings=settings, today=today, only=only)
