"""The plugin's settings: `PLUGINS_CONFIG['netbox_triage']`, defaults and start-up validation.

Everything reads settings through `get_setting()` so a misconfiguration fails once, loudly, at
start-up (`validate_settings()` runs from `ready()`), not deep inside a background job.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = (
    'DEFAULT_SETTINGS',
    'SSH_CONFIG_PATH',
    'get_setting',
    'validate_settings',
)

PLUGIN_NAME = 'netbox_triage'

# A path written verbatim into an exported ssh_config: no spaces, quotes or `${}`, and `%` only as
# one of ssh's own tokens (an unknown token would make ssh reject the whole file).
SSH_CONFIG_PATH = re.compile(r'^(?:[A-Za-z0-9_.~/@+-]|%[%CdhikLlnpru])+$')

DEFAULT_SETTINGS = {
    # Networks the plugin may open connections to (CIDRs). Empty means nowhere: a rescue has a
    # scope, and the operator must state it. See docs/configuration.md.
    'allowed_networks': [],
    # How far before an incident's start a timeline entry may be dated (minutes).
    'timeline_grace_minutes': 60,
    # Currency proposed for new loss rates.
    'default_currency': 'USD',
    # SSH probing. Secrets stay in files or the environment: never in the database.
    'ssh_username': 'root',
    'ssh_port': 22,
    'ssh_key_files': [],
    'ssh_use_agent': True,
    'ssh_password_env': None,
    'ssh_jump_host': None,
    'known_hosts_file': None,
    'connect_timeout': 5,
    'auth_timeout': 10,
    'command_timeout': 60,
    'probe_concurrency': 50,
    'probe_chunk_size': 500,
    # Run a probe job's SSH connections in a forked child process (where the job's process has no other
    # thread), so recording the results into NetBox does not wait on them for the interpreter.
    'probe_in_subprocess': True,
    'raw_section_max_bytes': 64 * 1024,
    # The ~/.ssh/config export (docs/exports.md): which primary IP becomes HostName when a host has
    # both, and the IdentityFile line (a path on the operator's machine, never key material).
    'ssh_config_prefer': 'ipv4',
    'ssh_config_identity_file': None,
    # Discovery rules (docs/discoveries.md): per-rule overrides of each rule's own settings, e.g.
    # {'disk': {'used_percent': 90}}, and the rules to leave out entirely.
    'rule_settings': {},
    'disabled_rules': [],
    # After the rules, check exposed admin services (Jenkins, Elasticsearch, Docker) with anonymous HTTP
    # requests to the host's own addresses, inside `allowed_networks`.
    'active_http_checks': True,
    # Monit bundles (docs/exports.md): where a bundle is installed on a host, and the environment variable
    # holding the Slack incoming webhook its alert script posts to (a secret: never in NetBox data or in a
    # bundle NetBox serves; `triage_export monit --with-secrets` writes it into the bundle's secrets file).
    # `monit_collector_url` is the URL a host's Monit reports to (`set mmonit`), without credentials: they
    # are `monit_collector_user` and the password in `monit_collector_password_env`. Empty: no `set mmonit`.
    'monit_prefix': '/etc/monit',
    'monit_slack_webhook_env': 'TRIAGE_MONIT_SLACK_WEBHOOK_URL',
    'monit_collector_url': '',
    # Topology diagrams (docs/exports.md): the most nodes one diagram may hold (larger inventories
    # are split per site or group), and the hard limit on one render (seconds).
    'topology_node_limit': 300,
    'topology_render_timeout': 120,
    # The Monit collector (docs/monitoring.md): an endpoint speaking Monit's `set mmonit` protocol. Off until
    # enabled. Monit authenticates with HTTP Basic: the user name is `monit_collector_user` (a NetBox user the
    # collector's changes are attributed to; it must exist and be active) and the password is read from the
    # environment variable named by `monit_collector_password_env` (never from NetBox data).
    'monit_collector_enabled': False,
    'monit_collector_user': 'monit-collector',
    'monit_collector_password_env': 'TRIAGE_MONIT_COLLECTOR_PASSWORD',
    # Larger bodies are refused (413) before they are read.
    'monit_collector_max_bytes': 512 * 1024,
    # A Monit that missed this many of its own poll cycles is "silent" (checked every minute).
    'monit_collector_missed_cycles': 3,
    # How many recent reports and events each coverage keeps.
    'monit_collector_history': 20,
    # Discoveries raised by the silence job: "monitoring went silent", and "not monitored" for active hosts
    # with no monitoring configured (None: do not raise it).
    'monitoring_silent_severity': 'high',
    'monitoring_unmonitored_severity': 'low',
}


# Settings that are gone, and what replaces them: refused at start-up with that message.
RETIRED_SETTINGS = {
    'hostkey_state_dir': 'nothing read it: host keys (and jump host keys) are pinned in NetBox, in HostFacts, or '
                         'checked against known_hosts_file',
    'monit_slack_webhook_url': 'the webhook is a secret: put it in the environment variable named by '
                               "monit_slack_webhook_env (default 'TRIAGE_MONIT_SLACK_WEBHOOK_URL'); "
                               '`triage_export monit --with-secrets` writes it into the bundles',
}


def get_setting(name):
    """Return one plugin setting, falling back to its default."""
    if name not in DEFAULT_SETTINGS:
        raise KeyError(f'unknown netbox_triage setting {name!r}')
    return settings.PLUGINS_CONFIG.get(PLUGIN_NAME, {}).get(name, DEFAULT_SETTINGS[name])


def timeline_grace():
    return timedelta(minutes=get_setting('timeline_grace_minutes'))


def _fail(name, message):
    raise ImproperlyConfigured(f"PLUGINS_CONFIG['{PLUGIN_NAME}']['{name}']: {message}")


def validate_settings():
    """Check every setting once at start-up; raise ImproperlyConfigured with the setting's name."""
    configured = settings.PLUGINS_CONFIG.get(PLUGIN_NAME, {})
    for name in sorted(set(configured) & set(RETIRED_SETTINGS)):
        _fail(name, f'no longer a setting: {RETIRED_SETTINGS[name]}')
    unknown = sorted(set(configured) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ImproperlyConfigured(f"PLUGINS_CONFIG['{PLUGIN_NAME}']: unknown setting(s) {', '.join(unknown)}")

    from .connections import Scope, ScopeError

    try:
        Scope(get_setting('allowed_networks'))  # the same parser the connection guard uses
    except ScopeError as exc:
        _fail('allowed_networks', str(exc))

    for name in ('timeline_grace_minutes', 'ssh_port', 'connect_timeout', 'auth_timeout', 'command_timeout',
                 'probe_concurrency', 'probe_chunk_size', 'raw_section_max_bytes'):
        value = get_setting(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            _fail(name, f'must be a non-negative number (got {value!r})')
    if not isinstance(get_setting('probe_in_subprocess'), bool):
        _fail('probe_in_subprocess', f"must be True or False (got {get_setting('probe_in_subprocess')!r})")
    if not 0 < get_setting('ssh_port') < 65536:
        _fail('ssh_port', 'must be a TCP port number')
    if not isinstance(get_setting('ssh_key_files'), (list, tuple)):
        _fail('ssh_key_files', 'must be a list of private key file paths')

    if get_setting('ssh_config_prefer') not in ('ipv4', 'ipv6'):
        _fail('ssh_config_prefer', f"must be 'ipv4' or 'ipv6' (got {get_setting('ssh_config_prefer')!r})")
    identity_file = get_setting('ssh_config_identity_file')
    if identity_file is not None:
        if not isinstance(identity_file, str) or not SSH_CONFIG_PATH.match(identity_file):
            _fail('ssh_config_identity_file', f'{identity_file!r} is not a plain file path: letters, digits, '
                                              f'~ / . _ - + @ and ssh tokens such as %d or %h only')

    from .rules import registry

    rule_settings = get_setting('rule_settings')
    if not isinstance(rule_settings, dict):
        _fail('rule_settings', "must be a dict of rule name to that rule's settings")
    for name, overrides in rule_settings.items():
        if name not in registry:
            _fail('rule_settings', f'unknown rule {name!r}; known: {", ".join(registry.names())}')
        try:
            registry[name].settings(overrides)
        except (ValueError, TypeError, AttributeError) as exc:
            _fail('rule_settings', str(exc))
    disabled = get_setting('disabled_rules')
    if not isinstance(disabled, (list, tuple)) or any(name not in registry for name in disabled):
        _fail('disabled_rules', f'must be a list of rule names among {", ".join(registry.names())}')

    _validate_collector_settings()

    import pycountry

    currency = get_setting('default_currency')
    if not isinstance(currency, str) or pycountry.currencies.get(alpha_3=currency.upper()) is None:
        _fail('default_currency', f'{currency!r} is not an ISO 4217 currency code')


def _validate_collector_settings():
    import os

    if not isinstance(get_setting('monit_collector_enabled'), bool):
        _fail('monit_collector_enabled', 'must be True or False')
    for name in ('monit_collector_user', 'monit_collector_password_env', 'monit_slack_webhook_env'):
        value = get_setting(name)
        if not isinstance(value, str) or not re.fullmatch(r'[A-Za-z0-9_.@+-]{1,150}', value):
            _fail(name, f'{value!r} must be a plain name (letters, digits, _ . @ + -)')
    if ':' in get_setting('monit_collector_user'):
        _fail('monit_collector_user', 'must not contain ":" (HTTP Basic separates user and password with it)')
    for name, low in (('monit_collector_max_bytes', 1024), ('monit_collector_missed_cycles', 1),
                      ('monit_collector_history', 0)):
        value = get_setting(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            _fail(name, f'must be an integer of at least {low} (got {value!r})')
    from .rules.base import SEVERITIES

    if get_setting('monitoring_silent_severity') not in SEVERITIES:
        _fail('monitoring_silent_severity', f'must be one of {", ".join(SEVERITIES)}')
    if get_setting('monitoring_unmonitored_severity') not in (*SEVERITIES, None):
        _fail('monitoring_unmonitored_severity', f'must be one of {", ".join(SEVERITIES)} or None')
    from .exporters.monit import WEBHOOK, collector_credentials_error, collector_url_error

    # The URL is written into every bundle: it must carry no credential (Monit's user and password come from
    # monit_collector_user and the environment, into a secrets file kept on the host).
    url_error = collector_url_error(get_setting('monit_collector_url'))
    if url_error:
        _fail('monit_collector_url', url_error)
    if get_setting('monit_collector_enabled'):
        password_env = get_setting('monit_collector_password_env')
        password = os.environ.get(password_env)
        if not password:
            _fail('monit_collector_password_env', f'the collector is enabled but the environment variable '
                                                  f'{password_env} is empty or unset')
        # Monit, the only client, sends the user and password of its set mmonit URL verbatim.
        credentials_error = collector_credentials_error(get_setting('monit_collector_user'), password)
        if credentials_error:
            name, message = credentials_error
            _fail(name, message if name == 'monit_collector_user' else
                  f'{message} (environment variable {password_env})')
    webhook_env = get_setting('monit_slack_webhook_env')
    webhook = (os.environ.get(webhook_env) or '').strip()
    if webhook and not WEBHOOK.match(webhook):
        _fail('monit_slack_webhook_env', f'the environment variable {webhook_env} must hold an https:// URL of '
                                         f'letters, digits and . _ ~ / % + = -')
