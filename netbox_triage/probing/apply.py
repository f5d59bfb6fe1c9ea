"""Write one probe result into NetBox: HostFacts, the platform, and a VM's resources.

Atomic per host, and quiet: the change-logged save happens only when something meaningful
changed; the probe's own timestamps are written with a plain UPDATE (no changelog noise).
The probe never deletes or converts objects: a device that is really a VM is only flagged.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from dcim.models import Device, Platform

from ..choices import ProbeStatusChoices
from ..models import HostFacts
from .facts import parse_probe_output
from .parsers.text import clean

__all__ = ('apply_probe_result',)

# Columns copied out of the facts; comparing them (and the facts) decides whether to save.
TRACKED_FIELDS = (
    'status', 'error', 'target', 'facts', 'raw_sections', 'os_family', 'os_name', 'os_version', 'os_pretty_name',
    'kernel', 'architecture', 'virtualization', 'kind_mismatch', 'hostkey', 'hostkey_fingerprint',
    'hostkey_offered',
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
    os = facts.get('os') or {}
    name = _text(os.get('name'), 80)
    version = _text(os.get('version_id') or os.get('version'), 30)
    if not name:
        return None
    return f'{name} {version}'.strip() if version and version not in name else name


def _update_platform(host, facts):
    name = platform_name(facts)
    if not name:
        return False
    if host.platform_id and host.platform.name == name:
        return False
    slug = slugify(name)[:100] or 'platform'
    platform = Platform.objects.filter(name=name).first() or Platform.objects.filter(slug=slug).first()
    if platform is None:
        platform = Platform(name=name, slug=slug, description='Created by the netbox-triage probe')
        platform.full_clean()
        platform.save()
    host.platform = platform
    return True


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
    if sizes:
        disk = sum(sizes) // (1024 * 1024)
        if vm.disk != disk:
            vm.disk = disk
            changed = True
    return changed


def apply_probe_result(host, result, *, raw_section_max_bytes=64 * 1024, now=None):
    """Record `result` (a transport ProbeResult) for `host`; returns (HostFacts, changed)."""
    now = now or timezone.now()
    with transaction.atomic():
        record = _facts_for(host)
        if record.pk:
            record.snapshot()
        before = {name: getattr(record, name) for name in TRACKED_FIELDS}
        record.target = _text(f'{result.host}:{result.port}' + (f' ({result.address})' if result.address else ''),
                              300)
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
                record.error = _text('; '.join(notes), 2000)
                record.facts = parsed.facts
                record.raw_sections = parsed.sections
                for name, value in _columns(parsed.facts).items():
                    setattr(record, name, value)
                record.kind_mismatch = _kind_mismatch(host, parsed.facts)
                host.snapshot()
                host_changed = _update_platform(host, parsed.facts)
                if host._meta.model_name == 'virtualmachine':
                    host_changed = _update_vm_resources(host, parsed.facts) or host_changed
            if result.hostkey_first_use and result.hostkey:
                record.hostkey = result.hostkey
            if result.hostkey_fingerprint:
                record.hostkey_fingerprint = result.hostkey_fingerprint
            record.hostkey_offered = ''
        else:
            record.status = result.status
            record.error = _text(result.error, 2000)
            if result.status == ProbeStatusChoices.HOSTKEY_MISMATCH and result.hostkey:
                record.hostkey_offered = result.hostkey
        changed = not record.pk or any(getattr(record, name) != value for name, value in before.items())
        if changed:
            record.full_clean()
            record.save()
        if host_changed:
            host.full_clean()
            host.save()
        stamps = {'probed_at': now, 'duration_ms': result.duration_ms}
        if record.status == ProbeStatusChoices.OK:
            stamps['last_ok_at'] = now
        HostFacts.objects.filter(pk=record.pk).update(**stamps)
        for name, value in stamps.items():
            setattr(record, name, value)
    return record, changed or host_changed
