"""Where to connect for a host: NetBox's primary IP, overridden by the `triage.ssh` config context.

The config context (site, role, or the host's own local context) may say:

    {"triage": {"ssh": {"host": "127.100.0.1", "port": 2222, "username": "root",
                        "jump": "bastion.example:22"}}}

`host` replaces the address to dial (the demo maps 10.0.x.y onto loopback this way), `jump` names
a jump host (`[user@]host[:port]`). Values come from many hands: they are validated here by
allowlist, and a host whose values are not acceptable is reported, not probed.
"""

import re
from dataclasses import dataclass

from ..settings import get_setting
from .transport import Target

__all__ = ('TargetError', 'host_key', 'target_for')

HOSTNAME = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$')
IPV6 = re.compile(r'^[0-9A-Fa-f:.]+$')
USERNAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]{0,31}$')


class TargetError(ValueError):
    """The host cannot be dialled as configured (no address, or an unacceptable value)."""


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    username: str


def host_key(host):
    """A stable key for a device or VM, e.g. 'dcim.device:12'."""
    return f'{host._meta.label_lower}:{host.pk}'


def _valid_host(value, what):
    value = str(value).strip()
    if value.startswith('[') and value.endswith(']'):
        value = value[1:-1]
    if not (HOSTNAME.match(value) or (':' in value and IPV6.match(value))):
        raise TargetError(f'{what} {value!r} is not a host name or an IP address')
    return value


def _valid_port(value, what):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise TargetError(f'{what} {value!r} is not a port number') from None
    if not 0 < port < 65536:
        raise TargetError(f'{what} {port} is not a port number')
    return port


def _valid_username(value, what):
    value = str(value)
    if not USERNAME.match(value):
        raise TargetError(f'{what} {value!r} is not an acceptable user name')
    return value


def _parse_jump(spec, default_username):
    """Accept '[user@]host[:port]' or {'host': …, 'port': …, 'username': …}."""
    if isinstance(spec, dict):
        return _Endpoint(
            _valid_host(spec.get('host', ''), 'jump host'),
            _valid_port(spec.get('port', 22), 'jump port'),
            _valid_username(spec.get('username', default_username), 'jump user'),
        )
    spec = str(spec).strip()
    username = default_username
    if '@' in spec:
        username, spec = spec.rsplit('@', 1)
    port = 22
    match = re.match(r'^\[(.+)\](?::(\d+))?$', spec) or re.match(r'^([^:]+)(?::(\d+))?$', spec)
    if not match:
        raise TargetError(f'jump host {spec!r} is not [user@]host[:port]')
    host, port_text = match.groups()
    if port_text:
        port = port_text
    return _Endpoint(_valid_host(host, 'jump host'), _valid_port(port, 'jump port'),
                     _valid_username(username, 'jump user'))


def ssh_context(host):
    context = host.get_config_context() or {}
    triage = context.get('triage') if isinstance(context, dict) else None
    ssh = triage.get('ssh') if isinstance(triage, dict) else None
    return ssh if isinstance(ssh, dict) else {}


def target_for(host, pinned_host_key=None, pinned_jump_host_key=None):
    """Build the transport Target for a device or VM, or raise TargetError saying why not.

    The pins are the keys trusted on first use for this host and for the jump host it is reached through.
    """
    ssh = ssh_context(host)
    username = _valid_username(ssh.get('username', get_setting('ssh_username')), 'user')
    port = _valid_port(ssh.get('port', get_setting('ssh_port')), 'port')
    if ssh.get('host'):
        address = _valid_host(ssh['host'], 'host')
    else:
        primary = host.primary_ip4 or host.primary_ip6
        if primary is None:
            raise TargetError('no primary IP address and no triage.ssh.host override')
        address = str(primary.address.ip)
    jump_spec = ssh.get('jump', get_setting('ssh_jump_host'))
    jump = None
    if jump_spec:
        endpoint = _parse_jump(jump_spec, username)
        jump = Target(key=f'jump:{endpoint.host}:{endpoint.port}', name=endpoint.host, host=endpoint.host,
                      port=endpoint.port, username=endpoint.username,
                      pinned_host_key=pinned_jump_host_key or None)
    return Target(
        key=host_key(host), name=host.name or host_key(host), host=address, port=port, username=username,
        jump=jump, pinned_host_key=pinned_host_key or None,
    )
