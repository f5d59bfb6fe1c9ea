"""Version lines of tools that may not come from a package (OpenSSL, Monit, Java in /opt).

A tarball install is invisible to rpm and dpkg, so the binaries themselves are asked too.
"""

import re

from .text import clean

__all__ = ('java_version', 'monit_version', 'openssl_version')

_MONIT = re.compile(r'Monit version ([0-9][0-9A-Za-z.+-]{0,31})')
_JAVA = re.compile(r'^(?:\S{0,32} ?version "([^"]{1,64})"|JAVA_VERSION="([^"]{1,64})")', re.MULTILINE)


def openssl_version(text):
    """The first line of ``openssl version -a``: 'OpenSSL 1.0.1e-fips 11 Feb 2013'."""
    for line in text.splitlines():
        if line.strip():
            return clean(line, 128)
    return None


def monit_version(text):
    """'5.25.1' from 'This is Monit version 5.25.1'."""
    match = _MONIT.search(text)
    return clean(match.group(1), 32) if match else None


def java_version(text):
    """'1.8.0_392' or '17.0.9' from the first line of ``java -version``, or from the JDK's ``release`` file."""
    match = _JAVA.search(text)
    return clean(match.group(1) or match.group(2), 64) if match else None
