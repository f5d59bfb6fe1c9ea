"""Bare metal, virtual machine or container, and which hypervisor or runtime.

It decides where a host goes in NetBox (a Device or a VirtualMachine) and what a failure can take
down with it. ``systemd-detect-virt`` is trusted when present; older hosts are judged from DMI
strings, Xen files, container markers, /proc/1/cgroup and the CPU's hypervisor flag, in that order.
Every clue found is listed in ``evidence`` so a human can check the verdict. Types use
systemd-detect-virt's vocabulary (kvm, vmware, microsoft, xen, oracle, docker, lxc, ...).
"""

import re

from .text import clean, key_values

__all__ = (
    'CONTAINER_TYPES',
    'VM_TYPES',
    'virtualization_facts',
)

VM_TYPES = frozenset((
    'kvm', 'qemu', 'vmware', 'microsoft', 'xen', 'oracle', 'bochs', 'uml', 'parallels', 'bhyve', 'zvm', 'amazon',
    'powervm', 'acrn', 'apple', 'sre', 'google', 'qnx', 'vm-other',
))
CONTAINER_TYPES = frozenset((
    'docker', 'lxc', 'lxc-libvirt', 'podman', 'systemd-nspawn', 'openvz', 'rkt', 'wsl', 'proot', 'pouch',
    'kubernetes', 'container-other',
))

# (needle in lowercased "sys_vendor product_name bios_vendor board_vendor", type)
_DMI_SIGNS = (
    ('vmware', 'vmware'),
    ('virtualbox', 'oracle'),
    ('innotek', 'oracle'),
    ('microsoft corporation virtual machine', 'microsoft'),
    ('hvm domu', 'xen'),
    ('xen', 'xen'),
    ('amazon ec2', 'amazon'),
    ('google compute engine', 'google'),
    ('qemu', 'kvm'),
    ('kvm', 'kvm'),
    ('openstack', 'kvm'),
    ('rhev', 'kvm'),
    ('ovirt', 'kvm'),
    ('nutanix', 'kvm'),
    ('digitalocean', 'kvm'),
    ('bochs', 'bochs'),
    ('parallels', 'parallels'),
    ('bhyve', 'bhyve'),
)
_LSCPU_VENDORS = {'kvm': 'kvm', 'vmware': 'vmware', 'microsoft': 'microsoft', 'xen': 'xen', 'qemu': 'qemu'}
_CGROUP_SIGNS = (
    (re.compile(r'/docker[/-]|docker-[0-9a-f]{12}'), 'docker'),
    (re.compile(r'/kubepods'), 'kubernetes'),
    (re.compile(r'/lxc[/.]|/lxc\.payload'), 'lxc'),
    (re.compile(r'libpod-|/machine\.slice/libpod'), 'podman'),
    (re.compile(r'/machine\.slice/machine-'), 'systemd-nspawn'),
)


def _body(sections, name):
    section = sections.get(name)
    if section is None or section.absent:
        return None
    return section.body


def _kind(virt_type):
    if virt_type == 'none':
        return 'none'
    if virt_type in CONTAINER_TYPES:
        return 'container'
    return 'guest'


def virtualization_facts(sections):
    """``{role, type, evidence}``; role is guest, host, none, container or unknown."""
    evidence = []
    verdict = None

    detect = _body(sections, 'virt_detect')
    if detect is not None:
        value = clean(detect.strip().splitlines()[0] if detect.strip() else '', 32).lower()
        if re.fullmatch(r'[a-z0-9-]{1,32}', value or ''):
            evidence.append(f'systemd-detect-virt: {value}')
            verdict = value

    hints = key_values(_body(sections, 'virt_hints') or '')
    caps = clean(hints.get('xen_capabilities'), 64)
    if caps:
        evidence.append(f'/proc/xen/capabilities: {caps}')
        if 'control_d' in caps:
            return {'role': 'host', 'type': 'xen', 'evidence': evidence}
    container = None
    for key, value, found in (
        ('dockerenv', '/.dockerenv exists', 'docker'),
        ('containerenv', '/run/.containerenv exists', 'podman'),
        ('openvz', '/proc/vz without /proc/bc', 'openvz'),
    ):
        if hints.get(key) == '1':
            evidence.append(value)
            container = container or found
    if hints.get('container'):
        value = clean(hints['container'], 32).lower()
        evidence.append(f'PID 1 environment container={value}')
        container = container or (value if value in CONTAINER_TYPES else 'container-other')
    cgroup = _body(sections, 'cgroup') or ''
    for pattern, found in _CGROUP_SIGNS:
        if pattern.search(cgroup):
            evidence.append(f'/proc/1/cgroup mentions {found}')
            container = container or found
            break

    dmi = key_values(_body(sections, 'dmi') or '')
    dmi_text = ' '.join(clean(dmi.get(key), 128) or '' for key in ('sys_vendor', 'product_name', 'bios_vendor',
                                                                   'board_vendor', 'bios_version')).lower()
    dmi_type = None
    if dmi_text.strip():
        names = filter(None, (dmi.get('sys_vendor'), dmi.get('product_name')))
        evidence.append('DMI: ' + clean(' / '.join(names), 160))
        dmi_type = next((found for needle, found in _DMI_SIGNS if needle in dmi_text), None)

    hypervisor = clean(hints.get('hypervisor_type'), 32)
    if hypervisor:
        evidence.append(f'/sys/hypervisor/type: {hypervisor}')
    if hints.get('proc_xen') == '1':
        evidence.append('/proc/xen exists')
    lscpu = key_values(_body(sections, 'lscpu') or '', ':')
    lscpu_vendor = clean(lscpu.get('Hypervisor vendor'), 32)
    if lscpu_vendor:
        evidence.append(f'lscpu hypervisor vendor: {lscpu_vendor}')
    flags = re.search(r'^flags\s*:(.*)$', _body(sections, 'cpuinfo') or '', re.MULTILINE)
    cpu_flag = bool(flags and 'hypervisor' in flags.group(1).split())
    if cpu_flag:
        evidence.append('CPU flag: hypervisor')
    if hints.get('dev_kvm') == '1':
        evidence.append('/dev/kvm exists')

    if verdict:
        virt_type = verdict
    elif container:
        virt_type = container
    elif dmi_type:
        virt_type = dmi_type
    elif (hypervisor or '').lower() == 'xen' or hints.get('proc_xen') == '1':
        virt_type = 'xen'
    elif lscpu_vendor:
        virt_type = _LSCPU_VENDORS.get(lscpu_vendor.lower(), 'vm-other')
    elif cpu_flag:
        virt_type = 'vm-other'
    elif dmi_text.strip():
        virt_type = 'none'
    else:
        return {'role': 'unknown', 'type': 'unknown', 'evidence': evidence}
    return {'role': _kind(virt_type), 'type': virt_type, 'evidence': evidence}
