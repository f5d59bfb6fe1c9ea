"""Write one probe result into NetBox: HostFacts, the platform, and a VM's resources.

Atomic per host, and quiet: the change-logged save happens only when something meaningful
changed (`changes.stable_facts`); readings that move on every run (uptime, free space, timings)
and the probe's own timestamps are written with a plain UPDATE (no changelog noise). One host
that cannot be recorded is an `error` for that host only: the others of its chunk carry on.
The probe never deletes or converts objects: a device that is really a VM is only flagged.
"""

import copy
import logging

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, When
from django.utils import timezone
from django.utils.text import slugify
from rq.timeouts import JobTimeoutException

from dcim.models import Device, Platform
from extras.models import Tag

from ..choices import ProbeStatusChoices
from ..models import HostFacts
from .changes import stable_facts
from .facts import parse_probe_output
from .parsers.text import clean

__all__ = ('apply_probe_result', 'apply_probe_results', 'platform_name')

logger = logging.getLogger('netbox_triage.probing')

# Columns whose change (with the stable view of the facts) makes a change-logged save.
TRACKED_FIELDS = (
    'status', 'error', 'target', 'os_family', 'os_name', 'os_version', 'os_pretty_name', 'kernel', 'architecture',
    'virtualization', 'kind_mismatch', 'hostkey', 'hostkey_fingerprint', 'hostkey_offered', 'hostkey_offered_by_jump',
    'jump_hostkey', 'platform_derived',
)


def _text(value, limit):
    """Probe output is hostile: one line of plain text, the parsers' own hygiene, never None."""
    return clean(value, limit) or ''


def _host_field(host):
    """The HostFacts foreign key that points at `host`: 'device' or 'virtual_machine'."""
    return 'device' if isinstance(host, Device) else 'virtual_machine'


def _new_facts(host):
    facts = HostFacts(**{_host_field(host): host})
    facts._prefetched_objects_cache = {'tags': Tag.objects.none()}  # a new row has none: no query to say so
    return facts


def _facts_for(hosts):
    """Each host's HostFacts, locked, in at most two statements (devices, VMs) instead of one per host; a new,
    unsaved record for a host that has none."""
    pks = {'device': [], 'virtual_machine': []}
    for host in hosts:
        pks[_host_field(host)].append(host.pk)
    found = {}
    for field, ids in pks.items():
        if ids:
            for facts in HostFacts.objects.select_for_update().filter(**{f'{field}__in': ids}).order_by('pk'):
                found[(field, getattr(facts, f'{field}_id'))] = facts
    return [found.get((_host_field(host), host.pk)) or _new_facts(host) for host in hosts]


def _columns(facts):
    os = facts.get('os') or {}
    kernel = facts.get('kernel') or {}
    virt = facts.get('virtualization') or {}
    return {
        'os_family': _text(os.get('family'), 50),
        'os_name': _text(os.get('name'), 100),
        'os_version': _text(os.get('version_id') or os.get('version'), 50),
        'os_pretty_name': _text(os.get('pretty_name'), 200),
        'kernel': _text(kernel.get('release'), 100),
        'architecture': _text(kernel.get('arch'), 30),
        'virtualization': _text(virt.get('type'), 50),
    }


def _kind_mismatch(host, facts):
    role = (facts.get('virtualization') or {}).get('role')
    if isinstance(host, Device):
        return role in ('guest', 'container')
    return role == 'none'


def platform_name(facts):
    """The NetBox platform the probe's os facts name, e.g. 'CentOS 6.5' (at most 100 characters, Platform's)."""
    os = facts.get('os') or {}
    name = _text(os.get('name'), 80)
    version = _text(os.get('version_id') or os.get('version'), 30)
    if not name:
        return None
    return (f'{name} {version}' if version and version not in name else name)[:100].strip()


def _platform_slug(name):
    return slugify(name)[:100] or 'platform'


def _is_platform(platform, name):
    return bool(name) and (platform.name == name or platform.slug == _platform_slug(name))


def _may_add_platform(user):
    """No requesting NetBox user means the server's operator (a management command without --user)."""
    return user is None or user.has_perm('dcim.add_platform')


def _update_platform(host, record, facts, user, platforms=None):
    """Set the platform the probe derived, unless a person chose another one; returns (changed, note).

    The probe owns the platform while it is empty or still the one the previous successful probe derived;
    otherwise it stays as the person left it, and the inventory rule reports any disagreement. `platforms`
    ({name: Platform}) spares the lookup to the other hosts of one transaction.
    """
    name = platform_name(facts)
    if not name:
        return False, ''
    previous, record.platform_derived = record.platform_derived, name
    current = host.platform if host.platform_id else None
    if current is not None and (_is_platform(current, name) or not _is_platform(current, previous)):
        return False, ''
    slug = _platform_slug(name)
    platform = (platforms or {}).get(name) or _find_platform(name, slug)
    if platform is None:
        if not _may_add_platform(user):
            return False, (f'platform "{name}" is not in NetBox and the requesting user may not add platforms '
                           f'(dcim.add_platform): the platform was left as it was')
        platform = Platform(name=name, slug=slug, description='Created by the netbox-triage probe')
        platform.full_clean()
        try:
            with transaction.atomic():
                platform.save()
        except IntegrityError:  # another worker's chunk created it a moment ago
            platform = _find_platform(name, slug)
            if platform is None:
                raise
    if platforms is not None:
        platforms[name] = platform
    host.platform = platform
    return True, ''


def _find_platform(name, slug):
    return Platform.objects.filter(Q(name=name) | Q(slug=slug)).order_by(
        Case(When(name=name, then=0), default=1)).first()


def _update_vm_resources(vm, facts):
    changed = False
    cpu = facts.get('cpu') or {}
    memory = facts.get('memory') or {}
    threads = cpu.get('threads') or cpu.get('cores')
    if isinstance(threads, int) and threads > 0 and vm.vcpus != threads:
        vm.vcpus = threads
        changed = True
    total = memory.get('total_bytes')
    if isinstance(total, int) and total > 0 and vm.memory != total // (1024 * 1024):
        vm.memory = total // (1024 * 1024)
        changed = True
    sizes = [fs.get('size_bytes') for fs in facts.get('filesystems') or [] if isinstance(fs.get('size_bytes'), int)]
    # NetBox keeps a VM's disk equal to the sum of its virtual disks when it has any: those are the record.
    if sizes and not vm.virtual_disk_count:
        disk = sum(sizes) // (1024 * 1024)
        if vm.disk != disk:
            vm.disk = disk
            changed = True
    return changed


# The host fields a probe may set; nothing else of a device or VM is touched.
PROBE_FIELDS = ('platform', 'vcpus', 'memory', 'disk')


def _validate_probe_fields(host, original):
    """Validate what the probe changed, as NetBox's own checks of those fields do: the field validators, and for a
    device the rule that a platform limited to one manufacturer fits its device type. The rest of the record is left
    as it was (a host's unrelated inconsistency is a person's to fix, not a reason to drop its probe), and NetBox's
    whole-device checks, a dozen queries each, are not rerun for it."""
    changed = [name for name in PROBE_FIELDS if hasattr(host, name) and
               getattr(host, f'{name}_id' if name == 'platform' else name) !=
               getattr(original, f'{name}_id' if name == 'platform' else name)]
    # The platform is one this transaction found or created (its row exists: no query to ask again, and a
    # platform deleted meanwhile fails the save on its foreign key, which records the host on its own).
    host.clean_fields(exclude=[f.name for f in host._meta.concrete_fields if f.name not in changed or
                               f.name == 'platform'])
    platform = host.platform if 'platform' in changed and host.platform_id else None
    if platform is not None and platform.manufacturer_id and isinstance(host, Device) and \
            platform.manufacturer_id != host.device_type.manufacturer_id:
        raise ValidationError({'platform': f'platform {platform.name} is limited to {platform.manufacturer} devices, '
                                           f'but this device is a {host.device_type.manufacturer}'})


def apply_probe_result(host, result, *, raw_section_max_bytes=64 * 1024, now=None, user=None):
    """Record `result` (a transport ProbeResult) for `host`; returns (HostFacts, changed).

    `user` is who asked for the probe (None: the server's operator): a platform the probe needs is created
    only if they may add platforms. Never raises for one host's trouble: a result that cannot be written is
    rolled back and recorded as that host's `error`.
    """
    now = now or timezone.now()
    try:
        return _apply(host, result, raw_section_max_bytes, now, user)
    except JobTimeoutException:
        raise  # the worker's time is up for the whole job, not one host's problem
    except Exception as exc:
        logger.warning('recording the probe result of %s failed', host, exc_info=True)
        return _record_failure(host, result, f'recording the probe result failed: {_describe(exc)}', now), True


def apply_probe_results(pairs, *, raw_section_max_bytes=64 * 1024, now=None, user=None, platforms=None):
    """Record several (host, result) pairs in one transaction; returns [(HostFacts, changed)] in their order.

    NetBox does work per committed transaction that changed a searchable object (it enqueues a job to re-index
    it): on a first probe, where every host's platform changes, that was a third of the time. If any host cannot
    be recorded, the batch is rolled back and every pair recorded on its own (``apply_probe_result``), so one
    host's trouble is still its own. A killed worker loses the uncommitted batch, never half of a host.
    `platforms` ({name: Platform}) carries the platforms found or created from one batch to the next of a job;
    it is emptied when a batch fails (a platform created in it was rolled back).
    """
    now = now or timezone.now()
    pairs = list(pairs)
    platforms = {} if platforms is None else platforms
    # A failed batch leaves its in-memory changes on the hosts (a platform assigned, VM resources): the one-by-one
    # pass starts again from copies taken before.
    untouched = [(copy.copy(host), result) for host, result in pairs]
    try:
        with transaction.atomic():
            # No savepoint per host: NetBox keeps one re-index batch per savepoint scope.
            records = _facts_for([host for host, _result in pairs])
            return [_apply(host, result, raw_section_max_bytes, now, user, savepoint=False, platforms=platforms,
                           record=record)
                    for (host, result), record in zip(pairs, records)]
    except JobTimeoutException:
        raise
    except Exception:
        platforms.clear()
        logger.info('recording %d probe results together failed; recording them one by one', len(pairs),
                    exc_info=True)
    return [apply_probe_result(host, result, raw_section_max_bytes=raw_section_max_bytes, now=now, user=user)
            for host, result in untouched]


def _snapshot_of(instance):
    """NetBox's pre-change snapshot of an unmodified copy of an object (``snapshot()`` without the copy)."""
    instance.snapshot()
    return instance._prechange_snapshot


def _describe(exc):
    """One line for the host's error: a validation error's messages, else the exception's type and text."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, 'error_dict'):
            return '; '.join(' '.join(messages) if field == NON_FIELD_ERRORS else f'{field}: {" ".join(messages)}'
                             for field, messages in exc.message_dict.items())
        return ' '.join(exc.messages)
    return f'{type(exc).__name__}: {exc}'


def _target_text(result):
    return _text(f'{result.host}:{result.port}' + (f' ({result.address})' if result.address else ''), 300)


def _stamp(record, result, now):
    """The probe's own timestamps: a plain UPDATE, no changelog entry, `last_updated` left alone."""
    stamps = {'probed_at': now, 'duration_ms': result.duration_ms}
    if record.status == ProbeStatusChoices.OK:
        stamps['last_ok_at'] = now
    return stamps


def _record_failure(host, result, message, now):
    """Write `message` as the host's `error` in a transaction of its own; the last good facts stay."""
    try:
        with transaction.atomic():
            [record] = _facts_for([host])
            if record.pk:
                record.snapshot()
            record.status = ProbeStatusChoices.ERROR
            record.error = _text(message, 2000)
            record.target = _target_text(result)
            record.save()
            stamps = _stamp(record, result, now)
            HostFacts.objects.filter(pk=record.pk).update(**stamps)
    except JobTimeoutException:
        raise
    except Exception:
        logger.exception('recording the failure of %s failed too', host)
        return HostFacts(status=ProbeStatusChoices.ERROR, error=_text(message, 2000), **{_host_field(host): host})
    for name, value in stamps.items():
        setattr(record, name, value)
    return record


def _apply(host, result, raw_section_max_bytes, now, user, savepoint=True, platforms=None, record=None):
    with transaction.atomic(savepoint=savepoint):
        if record is None:
            [record] = _facts_for([host])
        # What they were, for the changelog's pre-change snapshot: taken only when a change-logged save follows
        # (serialising the facts JSON and the tags costs more than the rest of an unchanged host's write).
        original_record, original_host = copy.copy(record), copy.copy(host)
        before = {name: getattr(record, name) for name in TRACKED_FIELDS}
        before_facts, before_raw = record.facts, record.raw_sections
        record.target = _target_text(result)
        host_changed = False
        if result.status == ProbeStatusChoices.OK:
            parsed = result.parsed if result.parsed is not None else \
                parse_probe_output(result.stdout, max_section_bytes=raw_section_max_bytes)
            if not parsed.sections:
                record.status = ProbeStatusChoices.PARSE_ERROR
                record.error = 'the host answered, but not with probe output (no sections found)'
            else:
                record.status = ProbeStatusChoices.OK
                notes = [f"{error['section']}: {error['message']}" for error in parsed.errors]
                if result.truncated:
                    notes.insert(0, 'output truncated at the size limit')
                record.facts = parsed.facts
                record.raw_sections = parsed.sections
                for name, value in _columns(parsed.facts).items():
                    setattr(record, name, value)
                record.kind_mismatch = _kind_mismatch(host, parsed.facts)
                host_changed, note = _update_platform(host, record, parsed.facts, user, platforms)
                if note:
                    notes.append(note)
                if host._meta.model_name == 'virtualmachine':
                    host_changed = _update_vm_resources(host, parsed.facts) or host_changed
                record.error = _text('; '.join(notes), 2000)
            if result.hostkey_first_use and result.hostkey:
                record.hostkey = result.hostkey
            if result.hostkey_fingerprint:
                record.hostkey_fingerprint = result.hostkey_fingerprint
            record.hostkey_offered, record.hostkey_offered_by_jump = '', False
        else:
            record.status = result.status
            record.error = _text(result.error, 2000)
            if result.status == ProbeStatusChoices.HOSTKEY_MISMATCH:
                # The jump host is checked first: a target key means the jump host passed and the target failed.
                if result.hostkey:
                    record.hostkey_offered, record.hostkey_offered_by_jump = result.hostkey, False
                elif result.jump_hostkey:
                    record.hostkey_offered, record.hostkey_offered_by_jump = result.jump_hostkey, True
        if result.jump_hostkey_first_use and result.jump_hostkey and not record.jump_hostkey:
            # Pinned whatever became of the target: the probe trusted this key and offered the jump host credentials.
            record.jump_hostkey = result.jump_hostkey
        changed = (not record.pk or any(getattr(record, name) != value for name, value in before.items())
                   or stable_facts(record.facts) != stable_facts(before_facts))
        stamps = _stamp(record, result, now)
        for name, value in stamps.items():
            setattr(record, name, value)
        if changed:
            if record.pk:
                record._prechange_snapshot = _snapshot_of(original_record)
            # The probe times are saved with the change: no second statement for them.
            # HostFacts is one per host by its database constraints (and the row lock above): no unique queries;
            # its host is the row this job loaded (no query to ask whether it exists); the facts and raw sections
            # are built JSON-ready here (validating them would serialise them again).
            record.full_clean(exclude=['facts', 'raw_sections', 'device', 'virtual_machine'], validate_unique=False,
                              validate_constraints=False)
            record.save()
        else:
            # Only readings moved (uptime, free space, timings, ephemeral ports): stored without a changelog entry.
            if record.facts != before_facts:
                stamps['facts'] = record.facts
            if record.raw_sections != before_raw:
                stamps['raw_sections'] = record.raw_sections
            HostFacts.objects.filter(pk=record.pk).update(**stamps)
        if host_changed:
            host._prechange_snapshot = _snapshot_of(original_host)
            _validate_probe_fields(host, original_host)
            host.save()
    return record, changed or host_changed
