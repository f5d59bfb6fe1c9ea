"""Write one probe result into NetBox: HostFacts, the platform, and a VM's resources.

Atomic per host, and quiet: the change-logged save happens only when something meaningful
changed (`changes.stable_facts`); readings that move on every run (uptime, free space, timings)
and the probe's own timestamps are written with a plain UPDATE (no changelog noise). One host
that cannot be recorded is an `error` for that host only: the others of its chunk carry on.
The probe never deletes or converts objects: a device that is really a VM is only flagged.
"""

import logging

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from rq.timeouts import JobTimeoutException

from dcim.models import Device, Platform

from ..choices import ProbeStatusChoices
from ..models import HostFacts
from .changes import stable_facts
from .facts import parse_probe_output
from .parsers.text import clean

__all__ = ('apply_probe_result', 'platform_name')

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


def _facts_for(host):
    lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
    facts = HostFacts.objects.select_for_update().filter(**lookup).first()
    return facts or HostFacts(**lookup)


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


def _update_platform(host, record, facts, user):
    """Set the platform the probe derived, unless a person chose another one; returns (changed, note).

    The probe owns the platform while it is empty or still the one the previous successful probe derived;
    otherwise it stays as the person left it, and the inventory rule reports any disagreement.
    """
    name = platform_name(facts)
    if not name:
        return False, ''
    previous, record.platform_derived = record.platform_derived, name
    current = host.platform if host.platform_id else None
    if current is not None and (_is_platform(current, name) or not _is_platform(current, previous)):
        return False, ''
    slug = _platform_slug(name)
    platform = Platform.objects.filter(name=name).first() or Platform.objects.filter(slug=slug).first()
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
            platform = Platform.objects.filter(name=name).first() or Platform.objects.filter(slug=slug).first()
            if platform is None:
                raise
    host.platform = platform
    return True, ''


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
            record = _facts_for(host)
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
        lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
        return HostFacts(status=ProbeStatusChoices.ERROR, error=_text(message, 2000), **lookup)
    for name, value in stamps.items():
        setattr(record, name, value)
    return record


def _apply(host, result, raw_section_max_bytes, now, user):
    with transaction.atomic():
        record = _facts_for(host)
        if record.pk:
            record.snapshot()
        before = {name: getattr(record, name) for name in TRACKED_FIELDS}
        before_facts, before_raw = record.facts, record.raw_sections
        record.target = _target_text(result)
        host_changed = False
        if result.status == ProbeStatusChoices.OK:
            parsed = parse_probe_output(result.stdout, max_section_bytes=raw_section_max_bytes)
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
                host.snapshot()
                host_changed, note = _update_platform(host, record, parsed.facts, user)
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
        if changed:
            record.full_clean()
            record.save()
        else:
            # Only readings moved (uptime, free space, timings, ephemeral ports): stored without a changelog entry.
            if record.facts != before_facts:
                stamps['facts'] = record.facts
            if record.raw_sections != before_raw:
                stamps['raw_sections'] = record.raw_sections
        if host_changed:
            host.full_clean()
            host.save()
        HostFacts.objects.filter(pk=record.pk).update(**stamps)
        for name, value in stamps.items():
            setattr(record, name, value)
    return record, changed or host_changed
