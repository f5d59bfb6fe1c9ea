"""Probe a set of devices/VMs and record the results: the one implementation behind the UI button,
the REST endpoint, the background job and `netbox triage_probe`."""

import copy
import os
import time
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
from . import forked
from .apply import apply_probe_results
from .facts import parse_probe_output
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


PROBER_CHILD = f'a forked child process ({forked.PROCESS_NAME})'
PROBER_THREADS = 'threads of this process'


@dataclass
class ProbeSummary:
    total: int = 0
    done: int = 0
    statuses: Counter = field(default_factory=Counter)
    changed: int = 0
    failures: list = field(default_factory=list)  # (host name, status, message)
    scope: str = ''
    prober: str = ''  # where the SSH connections ran: PROBER_CHILD or PROBER_THREADS

    def as_dict(self):
        return {
            'total': self.total, 'done': self.done, 'changed': self.changed, 'statuses': dict(self.statuses),
            'failures': [{'host': h, 'status': s, 'error': e} for h, s, e in self.failures[:200]],
            'scope': self.scope, 'prober': self.prober,
        }


def _host_queryset(model, with_facts=False):
    """Hosts with what probing them reads: their platform, addresses, tags (for the changelog's snapshots), a
    device's type (the platform's manufacturer rule) and what NetBox's save reads (a device's rack, a VM's cluster
    and its site), and of their facts only the pinned keys (all: `with_facts`)."""
    related = ('platform', 'primary_ip4', 'primary_ip6',
               *(('device_type', 'rack') if model is Device else ('cluster', 'cluster___site')))
    facts = HostFacts.objects.all()
    if not with_facts:
        facts = facts.only('device_id', 'virtual_machine_id', 'hostkey', 'jump_hostkey')
    return model.objects.select_related(*related).prefetch_related(
        'tags', Prefetch('triage_facts', queryset=facts)
    ).annotate_config_context_data()


def hosts_from_keys(keys, with_facts=False):
    """['dcim.device:1', 'virtualization.virtualmachine:2', …] → device and VM instances, in order (with their whole
    HostFacts if `with_facts`, else only their pinned keys)."""
    ids = {'dcim.device': [], 'virtualization.virtualmachine': []}
    for key in keys:
        label, _sep, pk = key.partition(':')
        if label in ids and pk.isdigit():
            ids[label].append(int(pk))
    found = {}
    for label, model in (('dcim.device', Device), ('virtualization.virtualmachine', VirtualMachine)):
        if ids[label]:
            for obj in _host_queryset(model, with_facts).filter(pk__in=ids[label]):
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

    def record(host, facts, changed):
        summary.done += 1
        summary.statuses[facts.status] += 1
        summary.changed += int(changed)
        if facts.status != ProbeStatusChoices.OK:
            summary.failures.append((host.name, facts.status, facts.error))
            if log:
                log(f'{host.name}: {facts.status}: {facts.error}')

    writer = _BatchWriter(record, user, on_progress=lambda: on_progress and on_progress(summary))
    for host in hosts:
        try:
            targets.append(target_for(host, **_pins(host)))
        except TargetError as exc:
            status = ProbeStatusChoices.NO_ADDRESS if 'no primary IP' in str(exc) else ProbeStatusChoices.ERROR
            writer.add(host, ProbeResult(key=host_key(host), name=host.name, host='', port=0, status=status,
                                         error=str(exc)))

    try:
        if targets:
            transport = dict(
                targets=targets, script=probe_script(), credentials=credentials_from_settings(),
                timeouts=timeouts_from_settings(), scope=scope, hostkey_policy=hostkey_policy_from_settings(),
                concurrency=get_setting('probe_concurrency'),
                on_result=lambda result: writer.add(by_key[result.key], result),
                on_idle=writer.flush, idle_seconds=WRITE_INTERVAL,
            )
            if get_setting('probe_in_subprocess') and forked.usable():
                summary.prober = PROBER_CHILD
                section_cap = get_setting('raw_section_max_bytes')
                forked.run_many_forked(**transport, prepare=lambda result: _parse(result, section_cap))
            else:
                summary.prober = PROBER_THREADS
                run_many(**transport, keep_output=False)
    finally:
        writer.flush()
    return summary


def _parse(result, max_section_bytes):
    """Parse a result's output where it arrives (the forked prober's child): the writer gets the facts."""
    if result.ok:
        result.parsed = parse_probe_output(result.stdout, max_section_bytes=max_section_bytes)
        result.stdout = b''


# Results are written in transactions of up to WRITE_BATCH hosts, or of what arrived within WRITE_INTERVAL seconds
# (apply_probe_results: one host's failure is still its own).
WRITE_BATCH = 25
WRITE_INTERVAL = 1.0


class _BatchWriter:
    """Collects (host, result) pairs and records them in batches; `record(host, facts, changed)` then counts each."""

    def __init__(self, record, user, on_progress=None):
        self.record, self.user, self.on_progress = record, user, on_progress
        self.pending, self.since = [], None
        self.platforms = {}  # shared by the batches of one run (apply_probe_results empties it when one fails)

    def add(self, host, result):
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append((host, copy.copy(result)))  # run_many empties the result's output once this returns
        if len(self.pending) >= WRITE_BATCH or time.monotonic() - self.since >= WRITE_INTERVAL:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        outcomes = apply_probe_results(pending, raw_section_max_bytes=get_setting('raw_section_max_bytes'),
                                       user=self.user, platforms=self.platforms)
        for (host, _result), (facts, changed) in zip(pending, outcomes):
            self.record(host, facts, changed)
        if self.on_progress:
            self.on_progress()
