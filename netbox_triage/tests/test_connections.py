"""The scope guard: nothing leaves for a target outside allowed_networks, names included.

"Nothing leaves" is proved with a listening socket on a loopback address the scope excludes: had a
SYN been sent, the kernel would have completed the handshake and accept() would return.
"""

import http.server
import socket
import threading
import unittest
from types import SimpleNamespace
from unittest import mock

from netbox_triage.connections import (
    OutOfScope,
    Scope,
    ScopeError,
    UnresolvableHost,
    http_get,
    open_connection,
    resolve_in_scope,
)

IN_SCOPE = '127.0.0.2'
OUT_OF_SCOPE = '127.0.0.77'


def _listener(address: str, family=socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock


def _accepted(listener: socket.socket) -> bool:
    """True if a connection reached the listener (non-blocking: never waits)."""
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _resolver(*addresses):
    """A getaddrinfo stand-in that makes any name resolve to ``addresses``."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return [
            (socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_STREAM, 6, '',
             (a, port, 0, 0) if ':' in a else (a, port))
            for a in addresses
        ]

    resolve.calls = calls
    return resolve


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(('::1', 0))
        return True
    except OSError:
        return False


class ScopeParsingTests(unittest.TestCase):
    def test_ipv4_and_ipv6_networks(self):
        scope = Scope(['127.0.0.0/30', '::1/128', '10.0.0.0/16'])
        self.assertIn('127.0.0.2', scope)
        self.assertIn('::1', scope)
        self.assertIn('10.0.255.1', scope)
        self.assertNotIn('127.0.0.77', scope)
        self.assertNotIn('10.1.0.1', scope)
        self.assertNotIn('not-an-address', scope)

    def test_ipv4_mapped_ipv6_is_judged_as_ipv4(self):
        scope = Scope(['127.0.0.0/30'])
        self.assertIn('::ffff:127.0.0.2', scope)
        self.assertNotIn('::ffff:127.0.0.77', scope)

    def test_host_bits_set_suggests_the_network(self):
        with self.assertRaisesRegex(ScopeError, r"'10\.0\.0\.1/8' has host bits set; did you mean '10\.0\.0\.0/8'"):
            Scope(['10.0.0.1/8'])

    def test_invalid_entries_are_named(self):
        with self.assertRaisesRegex(ScopeError, r"'10\.0\.0\.0/33' is not a valid IPv4 or IPv6 network"):
            Scope(['10.0.0.0/33'])
        with self.assertRaisesRegex(ScopeError, r"'dmz' is not a valid"):
            Scope(['127.0.0.0/8', 'dmz'])
        with self.assertRaisesRegex(ScopeError, 'is not a CIDR string'):
            Scope([167772160])
        with self.assertRaisesRegex(ScopeError, 'empty entry'):
            Scope([' '])

    def test_a_single_string_is_not_taken_for_a_list(self):
        with self.assertRaisesRegex(ScopeError, r"not the single string '10\.0\.0\.0/8'; write \['10\.0\.0\.0/8'\]"):
            Scope('10.0.0.0/8')
        with self.assertRaisesRegex(ScopeError, 'use \\[\\] to allow nothing'):
            Scope(None)

    def test_empty_scope_allows_nothing(self):
        scope = Scope([])
        self.assertFalse(scope)
        self.assertNotIn('127.0.0.1', scope)
        self.assertIn('nothing is allowed', scope.describe())

    def test_from_settings_reads_plugins_config(self):
        fake = SimpleNamespace(PLUGINS_CONFIG={'netbox_triage': {'allowed_networks': ['192.0.2.0/24']}})
        with mock.patch('django.conf.settings', fake):
            self.assertEqual([str(n) for n in Scope.from_settings().networks], ['192.0.2.0/24'])
        with mock.patch('django.conf.settings', SimpleNamespace(PLUGINS_CONFIG={})):
            self.assertFalse(Scope.from_settings())


class RefusedBeforeAnyPacketTests(unittest.TestCase):
    def setUp(self):
        self.outside = _listener(OUT_OF_SCOPE)
        self.inside = _listener(IN_SCOPE)
        self.addCleanup(self.outside.close)
        self.addCleanup(self.inside.close)
        self.scope = Scope(['127.0.0.0/30'])

    def test_address_outside_the_scope_never_sees_a_syn(self):
        port = self.outside.getsockname()[1]
        with self.assertRaises(OutOfScope) as caught:
            open_connection(OUT_OF_SCOPE, port, scope=self.scope, timeout=1)
        self.assertFalse(_accepted(self.outside))
        message = str(caught.exception)
        self.assertIn(OUT_OF_SCOPE, message)
        self.assertIn(str(port), message)
        self.assertIn('127.0.0.0/30', message)

    def test_the_same_listener_is_reached_when_in_scope(self):
        # Control for the test above: the non-blocking accept() does see a connection when one is made.
        port = self.outside.getsockname()[1]
        sock = open_connection(OUT_OF_SCOPE, port, scope=Scope(['127.0.0.0/8']), timeout=1)
        sock.close()
        self.assertTrue(_accepted(self.outside))

    def test_name_resolving_outside_the_scope_is_refused(self):
        port = self.outside.getsockname()[1]
        resolver = _resolver(OUT_OF_SCOPE)
        with self.assertRaisesRegex(OutOfScope, r'db\.example resolves to 127\.0\.0\.77, outside'):
            open_connection('db.example', port, scope=self.scope, timeout=1, resolver=resolver)
        self.assertEqual(resolver.calls, ['db.example'])
        self.assertFalse(_accepted(self.outside))

    def test_name_resolving_partly_outside_the_scope_is_refused(self):
        port = self.inside.getsockname()[1]
        resolver = _resolver(IN_SCOPE, OUT_OF_SCOPE)
        with self.assertRaises(OutOfScope):
            open_connection('split.example', port, scope=self.scope, timeout=1, resolver=resolver)
        self.assertFalse(_accepted(self.inside))
        self.assertFalse(_accepted(self.outside))

    def test_name_resolving_inside_connects_to_the_vetted_address(self):
        port = self.inside.getsockname()[1]
        sock = open_connection('app.example', port, scope=self.scope, timeout=1, resolver=_resolver(IN_SCOPE))
        self.assertEqual(sock.getpeername(), (IN_SCOPE, port))
        sock.close()
        self.assertTrue(_accepted(self.inside))

    def test_literals_are_not_looked_up(self):
        def resolver(host, port):
            raise AssertionError('an address literal must not go to the resolver')

        port = self.inside.getsockname()[1]
        open_connection(IN_SCOPE, port, scope=self.scope, timeout=1, resolver=resolver).close()
        self.assertTrue(_accepted(self.inside))

    def test_empty_scope_refuses_everything_without_resolving(self):
        resolver = _resolver(IN_SCOPE)
        port = self.inside.getsockname()[1]
        for host in (IN_SCOPE, 'app.example', '::1'):
            with self.assertRaisesRegex(OutOfScope, 'nothing is allowed'):
                open_connection(host, port, scope=Scope([]), timeout=1, resolver=resolver)
        self.assertEqual(resolver.calls, [])
        self.assertFalse(_accepted(self.inside))

    def test_ipv4_mapped_literal_outside_is_refused(self):
        port = self.outside.getsockname()[1]
        with self.assertRaises(OutOfScope):
            open_connection(f'::ffff:{OUT_OF_SCOPE}', port, scope=self.scope, timeout=1)
        self.assertFalse(_accepted(self.outside))

    def test_unresolvable_name(self):
        def resolver(host, port):
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')

        with self.assertRaisesRegex(UnresolvableHost, 'cannot resolve nowhere.example'):
            resolve_in_scope('nowhere.example', 22, self.scope, resolver=resolver)


@unittest.skipUnless(_ipv6_available(), 'IPv6 loopback is not available')
class IPv6Tests(unittest.TestCase):
    def setUp(self):
        self.listener = _listener('::1', socket.AF_INET6)
        self.addCleanup(self.listener.close)
        self.port = self.listener.getsockname()[1]

    def test_ipv6_loopback_in_scope(self):
        for host in ('::1', '[::1]'):
            sock = open_connection(host, self.port, scope=Scope(['::1/128']), timeout=1)
            self.assertEqual(sock.family, socket.AF_INET6)
            sock.close()
            self.assertTrue(_accepted(self.listener))

    def test_ipv6_loopback_outside_an_ipv4_scope(self):
        with self.assertRaisesRegex(OutOfScope, r'::1 is outside the allowed networks \(allowed_networks: 127'):
            open_connection('::1', self.port, scope=Scope(['127.0.0.0/8']), timeout=1)
        self.assertFalse(_accepted(self.listener))

    def test_name_resolving_to_ipv6_outside(self):
        with self.assertRaises(OutOfScope):
            open_connection('v6.example', self.port, scope=Scope(['127.0.0.0/8']), timeout=1,
                            resolver=_resolver('::1'))
        self.assertFalse(_accepted(self.listener))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/away'):
            self.send_response(302)
            self.send_header('Location', self.server.away_url)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if self.path.startswith('/here'):
            self.send_response(301)
            self.send_header('Location', '/big')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        body = b'x' * 10000 if self.path == '/big' else b'jenkins'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpGetTests(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer((IN_SCOPE, 0), _Handler)
        self.outside = _listener(OUT_OF_SCOPE)
        self.server.away_url = f'http://{OUT_OF_SCOPE}:{self.outside.getsockname()[1]}/login'
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(self.outside.close)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.base = f'http://{IN_SCOPE}:{self.server.server_address[1]}'
        self.scope = Scope(['127.0.0.0/30'])

    def test_get_in_scope(self):
        response = http_get(f'{self.base}/', scope=self.scope, timeout=2, max_bytes=1024)
        self.assertEqual((response.status, response.body, response.truncated), (200, b'jenkins', False))

    def test_body_is_capped(self):
        response = http_get(f'{self.base}/big', scope=self.scope, timeout=2, max_bytes=100)
        self.assertEqual(len(response.body), 100)
        self.assertTrue(response.truncated)

    def test_same_host_redirect_followed_when_allowed(self):
        response = http_get(f'{self.base}/here', scope=self.scope, timeout=2, max_bytes=100, follow_redirects=1)
        self.assertEqual((response.status, len(response.body)), (200, 100))

    def test_redirect_to_another_host_is_not_followed(self):
        response = http_get(f'{self.base}/away', scope=Scope(['127.0.0.0/8']), timeout=2, max_bytes=100,
                            follow_redirects=3)
        self.assertEqual(response.status, 302)
        self.assertEqual(response.redirect_not_followed, self.server.away_url)
        self.assertFalse(_accepted(self.outside))

    def test_url_outside_the_scope(self):
        url = f'http://{OUT_OF_SCOPE}:{self.outside.getsockname()[1]}/'
        with self.assertRaises(OutOfScope):
            http_get(url, scope=self.scope, timeout=1, max_bytes=100)
        self.assertFalse(_accepted(self.outside))


if __name__ == '__main__':
    unittest.main()
