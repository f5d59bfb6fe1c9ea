"""HAProxy's version, the OpenSSL it was built with and runs on, and its configuration.

HAProxy linked against a Heartbleed-era OpenSSL is exposed even when the OpenSSL package looks
fine, and a backend without health checks keeps sending traffic to a dead server: both questions
need ``haproxy -vv`` and haproxy.cfg. The configuration is kept as cleaned text (capped by the
probe); the rules read it.
"""

import re

from .text import clean, clean_block

__all__ = ('haproxy_facts',)

_VERSION = re.compile(r'^HA-?Proxy version (\S{1,64})', re.MULTILINE)
_BUILT = re.compile(r'^\s*Built with OpenSSL version\s*:\s*(.+)$', re.MULTILINE)
_RUNNING = re.compile(r'^\s*Running on OpenSSL version\s*:\s*(.+)$', re.MULTILINE)


def haproxy_facts(version_text=None, config_text=None, config_capped=False, config_found=None):
    """``{version, openssl_built, openssl_running, config, config_capped}``; None when not on the host.

    ``config_found`` says haproxy.cfg exists even when it could not be read (``config_text`` None).
    """
    if config_found is None:
        config_found = config_text is not None
    if version_text is None and not config_found:
        return None
    text = version_text or ''
    version = _VERSION.search(text)
    built = _BUILT.search(text)
    running = _RUNNING.search(text)
    return {
        'version': clean(version.group(1), 64) if version else None,
        'openssl_built': clean(built.group(1), 128) if built else None,
        'openssl_running': clean(running.group(1), 128) if running else None,
        'config': clean_block(config_text) if config_text is not None else None,
        'config_capped': bool(config_capped),
    }
