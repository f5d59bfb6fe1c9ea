"""NetBox disagrees with the host: a Device that is a VM, a VM that is bare metal, a wrong platform.

Each mismatch sends the night's responder the wrong way: to a rack for a VM, to a hypervisor for a
physical box, to Ubuntu instructions for a RHEL 4 machine. The probe's verdicts are the evidence
(virtualization clues, release files); a host whose virtualization the probe could not tell is left
alone, and so is a platform name that names no OS this rule knows (a switch OS, 'Linux').
"""

from .base import Rule, register
from .eol import parse_platform

__all__ = ('InventoryRule', 'platform_matches')

# os ids that name the same distribution.
_SAME = {'sles_sap': 'sles', 'sled': 'sles', 'opensuse-leap': 'opensuse', 'opensuse-tumbleweed': 'opensuse'}


def _version_parts(text):
    parts = []
    for part in str(text or '').split('.'):
        if not part.isdigit():
            break
        parts.append(int(part))
    return parts


def platform_matches(platform, os_facts):
    """True or False when the platform name can be compared with the probe's os facts; None when it cannot."""
    guess = parse_platform(platform)
    os_id = (os_facts or {}).get('id')
    if guess is None or not os_id:
        return None
    if _SAME.get(guess.os_id, guess.os_id) != _SAME.get(os_id, os_id):
        return False
    if guess.os_id == 'windows' or not guess.version:
        return True
    mine = _version_parts(guess.version)
    theirs = _version_parts(os_facts.get('version_id') or os_facts.get('version'))
    common = min(len(mine), len(theirs))
    return common == 0 or mine[:common] == theirs[:common]


@register
class InventoryRule(Rule):
    name = 'inventory'
    title = 'Inventory mismatch'
    description = 'NetBox records the host differently from what the probe found.'
    default_settings = {
        'check_kind': True,
        'check_platform': True,
        'severity': 'medium',
    }

    def per_host(self, host, settings, today):
        if not host.facts:
            return []
        findings = []
        if settings['check_kind']:
            findings.extend(self._kind(host, settings))
        if settings['check_platform'] and host.platform:
            findings.extend(self._platform(host, settings))
        return findings

    def _kind(self, host, settings):
        virtualization = host.fact('virtualization', {})
        role, kind = virtualization.get('role'), virtualization.get('type')
        clues = list(virtualization.get('evidence') or [])
        if host.kind == 'device' and role in ('guest', 'container'):
            what = 'container' if role == 'container' else 'virtual machine'
            title = f'{host.name} is a Device in NetBox but a {what} ({kind})'
            recommendation = ('Record it as a VirtualMachine in its cluster, so that the hypervisor it depends on '
                              'shows up in impact and topology.')
            check = 'device-is-virtual'
        elif host.kind == 'vm' and role in ('none', 'host'):
            what = 'hypervisor host' if role == 'host' else 'physical machine'
            title = f'{host.name} is a VirtualMachine in NetBox but a {what}'
            recommendation = 'Record it as a Device (with its rack, power and cabling).'
            check = 'vm-is-bare-metal'
        else:
            return []
        evidence = {'check': check, 'netbox': host.kind, 'virtualization': role, 'type': kind, 'clues': clues}
        text = f'NetBox: {"Device" if host.kind == "device" else "VirtualMachine"}; probe: {what}' + (
            f' ({kind})' if kind and kind != 'none' else '') + (f'. Clues: {"; ".join(clues)}.' if clues else '.')
        return [self.finding(host.key, settings['severity'], title, evidence, text, recommendation)]

    def _platform(self, host, settings):
        os_facts = host.fact('os', {})
        if platform_matches(host.platform, os_facts) is not False:
            return []
        found = os_facts.get('pretty_name') or ' '.join(filter(None, (os_facts.get('id'), os_facts.get('version_id'))))
        evidence = {
            'check': 'platform',
            'platform': host.platform,
            'os_id': os_facts.get('id'),
            'os_version': os_facts.get('version_id'),
            'os': found,
        }
        text = f'NetBox platform "{host.platform}"; the probe found {found} (from {os_facts.get("source") or "?"}).'
        return [self.finding(
            host.key, settings['severity'], f'Platform "{host.platform}" disagrees with the probe: {found}', evidence,
            text, 'Correct the platform in NetBox: runbooks, exports and the end-of-life rule read it.',
        )]
