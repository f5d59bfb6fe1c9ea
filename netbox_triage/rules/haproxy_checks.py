"""HAProxy backends whose servers are not health checked: a dead server keeps getting its share of traffic.

A server is checked when its ``server`` line, or a ``default-server`` line in force when it was declared
(in its own section before it, or in the ``defaults`` section it inherits, named with ``from`` or the last
one above it), says ``check`` and nothing later says ``no-check``; ``track`` also counts (the server
follows another one's checks). ``option httpchk`` alone checks nothing: it only says *how* to check, and
the finding says so when a backend has it without ``check``.

Only haproxy.cfg is read: HAProxy has no include directive, and configuration split into more files is
given to it with more ``-f`` options (``conf.d/``), which the probe does not read. The finding says so,
and so does it when a ``.if`` block may switch parts of the file off.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .base import Rule, register

__all__ = ('HaproxyChecksRule', 'parse_haproxy_config')

SECTIONS = frozenset((
    'global', 'defaults', 'frontend', 'backend', 'listen', 'peers', 'resolvers', 'userlist', 'program',
    'http-errors', 'ring', 'cache', 'mailers', 'fcgi-app', 'log-forward', 'crt-store', 'traces', 'acme',
    'namespace_list', 'dynamic-update',
))
PROXIES = frozenset(('backend', 'listen'))
# Server keywords that take one argument (so that `cookie check` is not read as the `check` keyword).
ONE_ARGUMENT = frozenset((
    'addr', 'agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'ca-file', 'check-alpn', 'check-proto',
    'check-sni', 'ciphers', 'ciphersuites', 'client-sigalgs', 'cookie', 'crl-file', 'crt', 'curves', 'downinter',
    'error-limit', 'fall', 'fastinter', 'guid', 'hash-key', 'id', 'init-addr', 'init-state', 'inter', 'log-proto',
    'max-reuse', 'maxconn', 'maxqueue', 'minconn', 'namespace', 'npn', 'observe', 'on-error', 'on-marked-down',
    'on-marked-up', 'pool-conn-name', 'pool-low-conn', 'pool-max-conn', 'pool-purge-delay', 'port', 'proto',
    'proxy-v2-options', 'redir', 'resolve-net', 'resolve-opts', 'resolve-prefer', 'resolvers', 'rise', 'shard',
    'sigalgs', 'slowstart', 'sni', 'socks4', 'source', 'ssl-max-ver', 'ssl-min-ver', 'tcp-ut', 'track', 'usesrc',
    'verify', 'verifyhost', 'weight', 'ws',
))
CHECK_OPTIONS = frozenset((
    'httpchk', 'ssl-hello-chk', 'tcp-check', 'mysql-check', 'pgsql-check', 'redis-check', 'smtpchk', 'ldap-check',
    'spop-check',
))
_ESCAPES = re.compile(r'["\'\\]')


def _words(line):
    """One configuration line as HAProxy splits it: quotes, backslash escapes, '#' comments."""
    if not _ESCAPES.search(line):
        return line.split('#', 1)[0].split()
    words, current, quote, escaped, started = [], [], None, False, False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == '\\' and quote != "'":
            escaped = started = True
        elif quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in '"\'':
            quote, started = char, True
        elif char == '#':
            break
        elif char.isspace():
            if started:
                words.append(''.join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append(''.join(current))
    return words


@dataclass
class ServerDefaults:
    check: bool = False
    agent: bool = False
    track: bool = False

    def copy(self):
        return ServerDefaults(self.check, self.agent, self.track)

    def apply(self, params):
        """Apply server keywords; returns flags seen that are not defaults (disabled, backup)."""
        flags = set()
        index = 0
        while index < len(params):
            word = params[index]
            if word == 'check':
                self.check = True
            elif word == 'no-check':
                self.check = False
            elif word == 'agent-check':
                self.agent = True
            elif word == 'no-agent-check':
                self.agent = False
            elif word == 'track':
                self.track = True
            elif word in ('disabled', 'backup'):
                flags.add(word)
            elif word == 'enabled':
                flags.discard('disabled')
            if word in ONE_ARGUMENT:
                index += 1
            index += 1
        return flags


@dataclass
class Server:
    name: str
    line: int
    checked: bool
    disabled: bool = False
    backup: bool = False
    template: bool = False


@dataclass
class Proxy:
    kind: str
    name: str
    line: int
    defaults: ServerDefaults
    servers: list = field(default_factory=list)
    check_options: list = field(default_factory=list)
    disabled: bool = False


@dataclass
class HaproxyConfig:
    proxies: list
    notes: list


def _section_name(words):
    name = words[1] if len(words) > 1 and words[1] != 'from' else ''
    parent = None
    if 'from' in words[1:]:
        position = words.index('from', 1)
        parent = words[position + 1] if position + 1 < len(words) else None
    return name, parent


@lru_cache(maxsize=256)
def parse_haproxy_config(text):
    """The backend and listen sections of a haproxy.cfg with, for each server, whether it is checked."""
    proxies, notes = [], []
    named_defaults, last_defaults = {}, ServerDefaults()
    section, current, defaults = None, None, None
    conditional = False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if stripped.startswith('.'):
            conditional = conditional or stripped.startswith('.if')
            continue
        words = _words(raw)
        if not words:
            continue
        keyword = words[0]
        if keyword in SECTIONS:
            section, current = keyword, None
            name, parent = _section_name(words)
            base = named_defaults.get(parent, last_defaults) if parent else last_defaults
            if keyword == 'defaults':
                defaults = base.copy() if parent else ServerDefaults()
                last_defaults = defaults
                if name:
                    named_defaults[name] = defaults
            elif keyword in PROXIES:
                current = Proxy(keyword, name, number, base.copy())
                proxies.append(current)
            continue
        if keyword == 'include' or keyword.startswith('include'):
            notes.append(f'line {number}: "{keyword}" is not a HAProxy directive; nothing was included')
            continue
        if section == 'defaults' and keyword == 'default-server':
            defaults.apply(words[1:])
        elif current is None:
            continue
        elif keyword == 'default-server':
            current.defaults.apply(words[1:])
        elif keyword in ('server', 'server-template'):
            state = current.defaults.copy()
            skip = 3 if keyword == 'server' else 4
            flags = state.apply(words[skip:])
            current.servers.append(Server(
                name=words[1] if len(words) > 1 else '?',
                line=number,
                checked=state.check or state.agent or state.track,
                disabled='disabled' in flags,
                backup='backup' in flags,
                template=keyword == 'server-template',
            ))
        elif keyword == 'option' and len(words) > 1 and words[1] in CHECK_OPTIONS:
            current.check_options.append(words[1])
        elif keyword == 'disabled':
            current.disabled = True
    if conditional:
        notes.append('the file has .if blocks: sections they switch off may have been counted')
    return HaproxyConfig(proxies, notes)


@register
class HaproxyChecksRule(Rule):
    name = 'haproxy_checks'
    title = 'Load balancer without health checks'
    description = 'HAProxy sends traffic to servers it never checks: a dead one keeps failing its share.'
    default_settings = {
        # Backends with fewer active servers have nothing to fail over to; checks change little there.
        'min_servers': 2,
        'severity': 'high',
    }

    def per_host(self, host, settings, today):
        haproxy = host.fact('haproxy')
        if not haproxy or not haproxy.get('config'):
            return []
        config = parse_haproxy_config(haproxy['config'])
        backends = []
        for proxy in config.proxies:
            active = [server for server in proxy.servers if not server.disabled]
            unchecked = [server for server in active if not server.checked]
            if proxy.disabled or len(active) < settings['min_servers'] or not unchecked:
                continue
            item = {
                'section': f'{proxy.kind} {proxy.name}'.strip(),
                'line': proxy.line,
                'servers': len(active),
                'unchecked': [server.name for server in unchecked],
            }
            if proxy.check_options:
                item['check_options'] = sorted(set(proxy.check_options))
            backends.append(item)
        if not backends:
            return []
        notes = list(config.notes)
        if haproxy.get('config_capped'):
            notes.append('haproxy.cfg was cut at the probe size limit: later sections were not read')
        evidence = {'backends': backends, 'notes': notes, 'read': 'haproxy.cfg only'}
        lines = []
        for item in backends:
            line = (f'{item["section"]} (line {item["line"]}): {len(item["unchecked"])} of {item["servers"]} servers '
                    f'without "check" ({", ".join(item["unchecked"])})')
            if item.get('check_options'):
                line += f'; "option {item["check_options"][0]}" is set but never runs without "check"'
            lines.append(line)
        text = '; '.join(lines) + '. A server that dies keeps receiving its share of requests.'
        text += ' Only haproxy.cfg was read (files passed with more -f options, such as conf.d/, were not).'
        if notes:
            text += ' Notes: ' + '; '.join(notes) + '.'
        version = haproxy.get('version')
        title = f'HAProxy{" " + version if version else ""}: {len(backends)} backend(s) without health checks'
        recommendation = ('Add "check" to the server lines, or "default-server check" (with inter/fall/rise) in '
                          'the defaults section, plus "option httpchk" with a health URL for HTTP backends.')
        return [self.finding(host.key, settings['severity'], title, evidence, text, recommendation)]
