"""A simulated fleet of SSH hosts on loopback addresses, for tests, the demo and benchmarks."""

from netbox_triage.fleet.manifest import (
    BEHAVIOURS,
    FleetHost,
    load_manifest,
    loopback_address,
    scale_fleet,
    seed_fleet,
)

__all__ = (
    'BEHAVIOURS',
    'FleetHost',
    'FleetServer',
    'HostStats',
    'load_manifest',
    'loopback_address',
    'scale_fleet',
    'seed_fleet',
)


def __getattr__(name):
    # Imported lazily so that `python -m netbox_triage.fleet.server` does not find the module already loaded.
    if name in ('FleetServer', 'HostStats'):
        from netbox_triage.fleet import server

        return getattr(server, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
