"""Discovery rules: pure functions from hosts (NetBox objects plus probe facts) to findings.

Importing this package registers every rule (each module registers its own on import); :func:`run_rules`
runs them. The Discovery model, its UI and the job that stores findings are built on top of this package.
"""

from . import (  # noqa: F401
    cluster_drift,
    disk,
    eol,
    exposed_services,
    haproxy_checks,
    inventory,
    redundancy,
    staleness,
    vulnerable_packages,
)
from .base import SEVERITIES, Finding, HostView, Rule, register, registry, run_rules

__all__ = ('SEVERITIES', 'Finding', 'HostView', 'Rule', 'register', 'registry', 'run_rules')
