"""Probe a set of devices/VMs and record the results: the one implementation behind the UI button,
the REST endpoint, the background job and `netbox triage_probe`."""

import os
import uuid
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib.resources import files

from django.db.models import Prefetch

from dcim.models import Device
from netbox.context import current_request
from netbox.context_managers import event_tracking
from utilities.request import NetBoxFakeRequest
from virtualization.models import VirtualMachine

from ..choices import ProbeStatusChoices
from ..connections import Scope
from ..models import HostFacts
from ..settings import get_setting
from .apply import apply_probe_result
from .hostkeys import KnownHosts, StrictKnownHosts, TrustOnFirstUse
from .targets import TargetError, host_key, target_for
from .transport import Credentials, ProbeResult, Timeouts, run_many

__all__ = ('ProbeSummary', 'change_logging', 'hosts_from_keys', 'probe_hosts', 'probe_script', 'requesting_user')


@contextmanager
def _logged_as(user):
    request = NetBoxFakeRequest({'id': uuid.uuid4(), 'user': user, 'META': {}, 'COOKIES': {}, 'POST': {},
                                 'GET': {}, 'FILES': {}, 'path': ''})
    with event_tracking(request):
        yield


def change_logging(user):
    """Record the probe's changes in NetBox's changelog (and fire event rules) as `user`, if any."""
    return _logged_as(user) if user is not None else nullcontext()


def requesting_user():
    """The user of the change-logging context (a job's user, a request's, `--user`), or None without one."""
    return getattr(current_request.get(), 'user', None)


def probe_script():
    return files('netbox_triage.probing').joinpath('script.sh').read_bytes()


@dataclass
class ProbeSummary:
    total: int = 0
    done: int = 0
    statuses: Counter = field(default_factory=Counter)
    changed: int = 0
    failures: list = field(default_factory=list)  # (host name, status, message)
    scope: str = ''

    def as_dict(self):
        return {
            'total': self.total, 'done': self.done, 'changed': self.changed, 'statuses': dict(self.statuses),
            'failures': [{'host': h, 'status': s, 'error': e} for h, s, e in self.failures[:200]],
            'scope': self.scope,
        }


def _host_queryset(model):
    return model.objects.select_related('platform', 'primary_ip4', 'primary_ip6').prefetch_related(
        Prefetch('triage_facts', queryset=HostFacts.objects.all())
    ).annotate_config_context_data()


def hosts_from_keys(keys):
    """['dcim.device:1', 'virtualization.virtualmachine:2', …] → device and VM instances, in order."""
    ids = {'dcim.device': [], 'virtualization.virtualmachine': []}
    for key in keys:
        label, _sep, pk = key.partition(':')
        if label in ids and pk.isdigit():
            ids[label].append(int(pk))
    found = {}
    for label, model in (('dcim.device', Device), ('virtualization.virtualmachine', VirtualMachine)):
        if ids[label]:
            for obj in _host_queryset(model).filter(pk__in=ids[label]):
                found[host_key(obj)] = obj
    return [found[key] for key in keys if key in found]


def credentials_from_settings():
    password_env = get_setting('ssh_password_env')
    return Credentials(
        key_files=tuple(get_setting('ssh_key_files')),
        use_agent=bool(get_setting('ssh_use_agent')),
        password=os.environ.get(password_env) if password_env else None,
    )


def timeouts_from_settings():
    return Timeouts(
        connect=get_setting('connect_timeout'), banner=get_setting('connect_timeout'),
        auth=get_setting('auth_timeout'), command=get_setting('command_timeout'),
    )


def hostkey_policy_from_settings():
    path = get_setting('known_hosts_file')
    if path:
        return StrictKnownHosts(KnownHosts.load(path))  # loaded once per run, shared by every host
    return TrustOnFirstUse()


def _pins(host):
    """The host's own pinned key and its jump host's, from the prefetched HostFacts (no query)."""
    try:
        facts = host.triage_facts
    except HostFacts.DoesNotExist:
        return {}
    return {'pinned_host_key': facts.hostkey or None, 'pinned_jump_host_key': facts.jump_hostkey or None}


def probe_hosts(hosts, *, on_progress=None, log=None, user=None):
    """Probe `hosts` (devices/VMs) concurrently and record each result as it arrives.

    A host's failure is its own status, including a result that cannot be recorded; the run always goes on.
    `user` (default: the change-logging context's) decides whether the probe may add platforms.
    Returns a ProbeSummary.
    """
    hosts = list(hosts)
    user = user if user is not None else requesting_user()
    scope = Scope.from_settings()
    summary = ProbeSummary(total=len(hosts), scope=scope.describe())
    by_key = {host_key(host): host for host in hosts}
    targets = []

    def record(host, result):
        facts, changed = apply_probe_result(
            host, result, raw_section_max_bytes=get_setting('raw_section_max_bytes'), user=user
        )
        summary.done += 1
        summary.statuses[facts.status] += 1
        summary.changed += int(changed)
        if facts.status != ProbeStatusChoices.OK:
            summary.failures.append((host.name, facts.status, facts.error))
            if log:
                log(f'{host.name}: {facts.status}: {facts.error}')
        if on_progress:
            on_progress(summary)

    for host in hosts:
        try:
            targets.append(target_for(host, **_pins(host)))
        except TargetError as exc:
            status = ProbeStatusChoices.NO_ADDRESS if 'no primary IP' in str(exc) else ProbeStatusChoices.ERROR
            record(host, ProbeResult(key=host_key(host), name=host.name, host='', port=0, status=status,
                                     error=str(exc)))

    if targets:
        run_many(
            targets, probe_script(), credentials_from_settings(), timeouts_from_settings(), scope,
            hostkey_policy_from_settings(), concurrency=get_setting('probe_concurrency'),
            on_result=lambda result: record(by_key[result.key], result), keep_output=False,
        )
    return summary
