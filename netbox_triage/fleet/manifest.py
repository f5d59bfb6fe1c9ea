"""Which simulated hosts the fleet serves: one loopback address each, a profile and a behaviour.

The demo's NetBox seed gives hosts 10.0.x.y addresses that must never be dialled; the fleet answers
for them on 127.100.x.y instead (:func:`loopback_address`). Benchmarks use :func:`scale_fleet`,
which numbers hosts from 127.101.0.1 upwards.
"""

import ipaddress
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = (
    'BEHAVIOURS',
    'DEFAULT_PORT',
    'FleetHost',
    'SEED_HOSTS',
    'dump_manifest',
    'load_manifest',
    'loopback_address',
    'scale_fleet',
    'seed_fleet',
)

DEFAULT_PORT = 2222
DEFAULT_SLOW_LATENCY_MS = 50.0

# normal: answers the probe with its profile.  hang: accepts TCP, never sends the SSH banner.
# refuse: nothing listens (the kernel answers RST).  auth_reject: rejects every credential.
# garbage: answers with binary bytes.  flood: answers with 10 MB.  hostkey_change: a new host key at
# every start (and on rotate_hostkey()).  slow: like normal, with latency added to every round trip.
# stall: accepts the exec, then never answers (for the command timeout).
BEHAVIOURS = ('normal', 'hang', 'refuse', 'auth_reject', 'garbage', 'flood', 'hostkey_change', 'slow', 'stall')

# (name, NetBox address, profile) of the demo seed.
SEED_HOSTS = (
    ('haproxy-1', '10.0.0.1', 'centos6-heartbleed'),
    ('haproxy-2', '10.0.0.2', 'centos6-patched'),
    ('be-1', '10.0.11.1', 'rhel4'),
    ('be-2', '10.0.11.2', 'debian6'),
    ('be-3', '10.0.11.3', 'ubuntu1404'),
    ('fe-1', '10.0.10.1', 'ubuntu2204'),
    ('fe-2', '10.0.10.2', 'ubuntu2204'),
    ('fe-3', '10.0.10.3', 'ubuntu2204-jenkins'),
    ('redis-1', '10.0.12.1', 'debian12-redis'),
    ('redis-2', '10.0.12.2', 'debian12'),
    ('mysql-1', '10.0.13.1', 'mysql-baremetal'),
    ('mysql-2', '10.0.13.2', 'centos7'),
)

_SEED_NETWORK = ipaddress.ip_network('10.0.0.0/16')
_SEED_LOOPBACK = ipaddress.ip_network('127.100.0.0/16')
_SCALE_FIRST = ipaddress.ip_address('127.101.0.0')


@dataclass(frozen=True)
class FleetHost:
    address: str
    port: int
    profile: str
    behaviour: str = 'normal'
    name: str = ''
    # Added to every client-to-server round trip; 'slow' hosts default to 50 ms.
    latency_ms: float = 0.0
    # The address NetBox knows the host by (seed only); never dialled.
    netbox_address: str | None = None

    def __post_init__(self):
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f'{self.name or self.address}: unknown behaviour {self.behaviour!r}; one of {BEHAVIOURS}')
        address = ipaddress.ip_address(self.address)
        if not address.is_loopback:
            raise ValueError(f'{self.name or self.address}: fleet hosts listen on loopback addresses only')
        if self.behaviour == 'slow' and not self.latency_ms:
            object.__setattr__(self, 'latency_ms', DEFAULT_SLOW_LATENCY_MS)
        if not self.name:
            object.__setattr__(self, 'name', self.address)


def loopback_address(netbox_address: str) -> str:
    """Map a seed address 10.0.x.y to the fleet's 127.100.x.y (never 127.0.0.1 and friends)."""
    address = ipaddress.ip_address(netbox_address)
    if address not in _SEED_NETWORK:
        raise ValueError(f'{netbox_address} is not a demo seed address (10.0.0.0/16)')
    offset = int(address) - int(_SEED_NETWORK.network_address)
    return str(_SEED_LOOPBACK.network_address + offset)


def seed_fleet(port: int = DEFAULT_PORT) -> list[FleetHost]:
    """The 12 demo hosts, each on the loopback twin of its NetBox address."""
    return [
        FleetHost(address=loopback_address(address), port=port, profile=profile, name=name, netbox_address=address)
        for name, address, profile in SEED_HOSTS
    ]


def scale_fleet(
    n: int,
    latency_ms: float = DEFAULT_SLOW_LATENCY_MS,
    hang_fraction: float = 0.0,
    *,
    port: int = DEFAULT_PORT,
    profile: str = 'ubuntu2204',
) -> list[FleetHost]:
    """``n`` hosts on 127.101.0.1, 127.101.0.2, ... (x.y.z.0 and .255 skipped), for benchmarks.

    Hanging hosts are spread evenly through the list so that they meet the workers at a steady rate.
    """
    if not 0.0 <= hang_fraction <= 1.0:
        raise ValueError('hang_fraction must be between 0 and 1')
    hosts = []
    value = int(_SCALE_FIRST)
    hung = 0
    for index in range(n):
        value += 1
        while value & 0xFF in (0, 255):
            value += 1
        address = ipaddress.ip_address(value)
        if not address.is_loopback:
            raise ValueError(f'scale_fleet: {n} hosts do not fit in 127.101.0.0 upwards')
        hang = int((index + 1) * hang_fraction) > hung
        hung += hang
        hosts.append(FleetHost(
            address=str(address),
            port=port,
            profile=profile,
            behaviour='hang' if hang else 'normal',
            name=f'scale-{index + 1:05d}',
            latency_ms=latency_ms,
        ))
    return hosts


def dump_manifest(hosts: list[FleetHost], path) -> None:
    """Write hosts as JSON: {"hosts": [{"address": ..., "port": ..., ...}, ...]}."""
    Path(path).write_text(json.dumps({'hosts': [asdict(host) for host in hosts]}, indent=1) + '\n')


def load_manifest(path, *, port: int | None = None) -> list[FleetHost]:
    """Read a JSON manifest; ``port`` (if given) replaces every host's port."""
    data = json.loads(Path(path).read_text())
    entries = data['hosts'] if isinstance(data, dict) else data
    hosts = []
    for number, entry in enumerate(entries, 1):
        try:
            host = FleetHost(**entry)
        except TypeError as exc:
            raise ValueError(f'{path}: host #{number}: {exc}') from None
        hosts.append(replace(host, port=port) if port is not None else host)
    return hosts
