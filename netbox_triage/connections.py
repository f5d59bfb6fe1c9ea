"""The one place where netbox-triage opens outbound connections, and the scope it may reach.

Every socket the plugin dials (SSH probes, jump hosts, tunnels through a jump host, the active HTTP
checks of the discovery rules, anything later) comes from :func:`open_connection`,
:func:`open_tunnel` or :func:`http_get`. They resolve the target first, check EVERY resolved address
against the configured :class:`Scope` and only then send a packet, to the vetted address (never
resolving again, so a name cannot change between check and use). A target outside the scope raises
:class:`OutOfScope`, which callers turn into a per-host ``out_of_scope`` status.

The scope comes from ``PLUGINS_CONFIG['netbox_triage']['allowed_networks']``: a list of CIDRs, IPv4 or
IPv6. The default is an empty list, which allows nothing: an operator must say where probes may go.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

__all__ = (
    'DEFAULT_ALLOWED_NETWORKS',
    'HttpResponse',
    'OutOfScope',
    'Resolver',
    'Scope',
    'ScopeError',
    'UnresolvableHost',
    'check_target',
    'http_get',
    'open_connection',
    'open_tunnel',
    'resolve_in_scope',
)

# Documented production default: nothing is reachable until the operator lists networks.
DEFAULT_ALLOWED_NETWORKS = ()

# A resolver has getaddrinfo's shape: (host, port) -> [(family, type, proto, canonname, sockaddr), ...].
# Tests inject one to make a name resolve wherever they need without touching /etc/hosts.
Resolver = Callable[[str, int], list[tuple]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ScopeError(ValueError):
    """The allowed_networks setting is malformed; the message says which entry and why."""


class UnresolvableHost(OSError):
    """A target name did not resolve to any address."""


class OutOfScope(Exception):
    """A target resolves (at least partly) outside the allowed networks; nothing was sent to it."""

    def __init__(self, target: str, port: int, address: str | None, scope: 'Scope', reason: str = ''):
        self.target = target
        self.port = port
        self.address = address
        self.scope = scope
        if reason:
            detail = reason
        elif address is None or address == target:
            detail = f'{target} is outside the allowed networks'
        else:
            detail = f'{target} resolves to {address}, outside the allowed networks'
        super().__init__(f'refused to connect to {target} port {port}: {detail} ({scope.describe()})')


def _parse_network(entry) -> IPNetwork:
    if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return entry
    if not isinstance(entry, str):
        raise ScopeError(f'allowed_networks: {entry!r} is not a CIDR string (e.g. "10.0.0.0/16" or "2001:db8::/48")')
    text = entry.strip()
    if not text:
        raise ScopeError('allowed_networks: empty entry; remove it or write a CIDR such as "10.0.0.0/16"')
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ScopeError(f'allowed_networks: {text!r} is not a valid IPv4 or IPv6 network ({exc})') from None
        raise ScopeError(
            f'allowed_networks: {text!r} has host bits set; did you mean {str(loose)!r}?'
        ) from None


def _normalise_address(address: str) -> IPAddress:
    """Parse a resolved address, dropping an IPv6 zone and unwrapping IPv4-mapped IPv6."""
    parsed = ipaddress.ip_address(address.split('%', 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


@dataclass(frozen=True, init=False)
class Scope:
    """The networks the plugin may connect to; an empty scope allows nothing."""

    networks: tuple[IPNetwork, ...] = field(default=())

    def __init__(self, networks: Iterable = ()):
        if isinstance(networks, (str, bytes)):
            raise ScopeError(
                f'allowed_networks must be a list of CIDR strings, not the single string {networks!r}; '
                f'write [{networks!r}]'
            )
        if networks is None:
            raise ScopeError('allowed_networks must be a list of CIDR strings; use [] to allow nothing')
        try:
            entries = list(networks)
        except TypeError:
            kind = type(networks).__name__
            raise ScopeError(f'allowed_networks must be a list of CIDR strings, not {kind}') from None
        object.__setattr__(self, 'networks', tuple(_parse_network(entry) for entry in entries))

    @classmethod
    def from_settings(cls) -> 'Scope':
        """Read PLUGINS_CONFIG['netbox_triage']['allowed_networks'] (Django is imported only here)."""
        from django.conf import settings

        plugin_settings = getattr(settings, 'PLUGINS_CONFIG', {}).get('netbox_triage', {}) or {}
        return cls(plugin_settings.get('allowed_networks', DEFAULT_ALLOWED_NETWORKS))

    def __contains__(self, address) -> bool:
        try:
            address = _normalise_address(str(address))
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def describe(self) -> str:
        if not self.networks:
            return 'allowed_networks is empty, so nothing is allowed'
        return 'allowed_networks: ' + ', '.join(str(net) for net in self.networks)

    def __str__(self) -> str:
        return ', '.join(str(net) for net in self.networks) or '(nothing)'


def _default_resolver(host: str, port: int) -> list[tuple]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


def resolve_in_scope(host: str, port: int, scope: Scope, *, resolver: Resolver | None = None) -> list[tuple]:
    """Resolve ``host`` and return its sockaddrs, or raise OutOfScope unless every address is in scope.

    A name with one address inside and one outside the scope is refused: which address a later
    connection would use is not ours to guess.
    """
    if not scope:
        raise OutOfScope(host, port, None, scope, reason='no network is allowed')
    literal = host[1:-1] if host.startswith('[') and host.endswith(']') else host
    try:
        _normalise_address(literal)
    except ValueError:
        literal = None
    try:
        if literal is not None:
            # An address literal is parsed, never looked up: no DNS packet leaves for it.
            infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        else:
            infos = (resolver or _default_resolver)(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f'cannot resolve {host}: {exc}') from None
    sockaddrs = []
    for info in infos:
        sockaddr = info[4]
        try:
            address = _normalise_address(sockaddr[0])
        except ValueError:
            reason = f'{host} resolves to {sockaddr[0]!r}'
            raise OutOfScope(host, port, str(sockaddr[0]), scope, reason=reason) from None
        if address not in scope:
            raise OutOfScope(host, port, str(address), scope)
        if sockaddr not in sockaddrs:
            sockaddrs.append(sockaddr)
    if not sockaddrs:
        raise UnresolvableHost(f'cannot resolve {host}: no address')
    return sockaddrs


def check_target(host: str, port: int, scope: Scope, *, resolver: Resolver | None = None) -> str:
    """Return the first vetted address of ``host`` as text; raise OutOfScope like resolve_in_scope."""
    return resolve_in_scope(host, port, scope, resolver=resolver)[0][0]


def open_connection(
    host: str,
    port: int,
    *,
    scope: Scope,
    timeout: float,
    resolver: Resolver | None = None,
) -> socket.socket:
    """Return a TCP socket connected to ``host``:``port`` after checking the scope.

    Tries each vetted address in turn (like socket.create_connection) and raises the last OSError
    (ConnectionRefusedError, TimeoutError, ...) if none answers. The socket keeps ``timeout`` set.
    """
    sockaddrs = resolve_in_scope(host, port, scope, resolver=resolver)
    last_error: OSError | None = None
    for sockaddr in sockaddrs:
        family = socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error


def open_tunnel(
    jump_transport,
    host: str,
    port: int,
    *,
    scope: Scope,
    timeout: float,
    resolver: Resolver | None = None,
):
    """Open a direct-tcpip channel through an authenticated paramiko Transport to ``host``:``port``.

    The target is resolved HERE and must be in scope; the jump host is given the vetted address, never
    the name, so it cannot resolve it somewhere else.
    """
    address = check_target(host, port, scope, resolver=resolver)
    return jump_transport.open_channel(
        'direct-tcpip', dest_addr=(address, port), src_addr=('127.0.0.1', 0), timeout=timeout
    )


@dataclass
class HttpResponse:
    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    truncated: bool = False
    # Redirect targets that were not followed (another host, or the redirect limit was reached).
    redirect_not_followed: str | None = None


class _ScopedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, scope, timeout, resolver):
        super().__init__(host, port, timeout=timeout)
        self._scope = scope
        self._resolver = resolver

    def connect(self):
        self.sock = open_connection(
            self.host, self.port, scope=self._scope, timeout=self.timeout, resolver=self._resolver
        )


class _ScopedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, scope, timeout, resolver, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self._scope = scope
        self._resolver = resolver

    def connect(self):
        sock = open_connection(self.host, self.port, scope=self._scope, timeout=self.timeout, resolver=self._resolver)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def http_get(
    url: str,
    *,
    scope: Scope,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    follow_redirects: int = 0,
    verify_tls: bool = True,
    resolver: Resolver | None = None,
) -> HttpResponse:
    """GET ``url`` through the scope guard, reading at most ``max_bytes`` of body.

    Redirects are followed only to the same scheme, host and port, at most ``follow_redirects``
    times; any other redirect is returned as is (``redirect_not_followed`` names its target).
    """
    for hop in range(follow_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError(f'http_get needs an http:// or https:// URL, not {url!r}')
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        if parts.scheme == 'https':
            context = ssl.create_default_context()
            if not verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = _ScopedHTTPSConnection(
                parts.hostname, port, scope=scope, timeout=timeout, resolver=resolver, context=context
            )
        else:
            conn = _ScopedHTTPConnection(parts.hostname, port, scope=scope, timeout=timeout, resolver=resolver)
        path = parts.path or '/'
        if parts.query:
            path = f'{path}?{parts.query}'
        try:
            conn.request('GET', path, headers={'User-Agent': 'netbox-triage', **(headers or {})})
            response = conn.getresponse()
            body = response.read(max_bytes + 1)
            result = HttpResponse(
                url=url,
                status=response.status,
                reason=response.reason,
                headers={key.lower(): value for key, value in response.getheaders()},
                body=body[:max_bytes],
                truncated=len(body) > max_bytes,
            )
        finally:
            conn.close()
        location = result.headers.get('location')
        if result.status not in (301, 302, 303, 307, 308) or not location:
            return result
        target = urljoin(url, location)
        target_parts = urlsplit(target)
        target_port = target_parts.port or (443 if target_parts.scheme == 'https' else 80)
        same_origin = (target_parts.scheme, target_parts.hostname, target_port) == (parts.scheme, parts.hostname, port)
        if not same_origin or hop == follow_redirects:
            result.redirect_not_followed = target
            return result
        url = target
    return result
