"""HTTP Basic authentication of the Monit collector, the way Monit sends it for `set mmonit
http://user:password@host/…`. The credentials come from the settings and the environment only."""

import base64
import binascii
import hmac
import os

from ..settings import get_setting

__all__ = ('basic_credentials', 'check_credentials', 'collector_user')


def basic_credentials(header):
    """(user, password) from an ``Authorization: Basic …`` header; None when absent or malformed."""
    scheme, _sep, value = (header or '').partition(' ')
    if scheme.lower() != 'basic' or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode('utf-8')
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(':')
    return (user, password) if sep else None


def check_credentials(header):
    """True when the header carries the collector's user and password. Constant-time comparisons; an unset
    password (environment variable empty) accepts nothing."""
    expected = os.environ.get(get_setting('monit_collector_password_env'), '')
    credentials = basic_credentials(header)
    if not expected or credentials is None:
        return False
    user, password = credentials
    user_ok = hmac.compare_digest(user.encode(), get_setting('monit_collector_user').encode())
    password_ok = hmac.compare_digest(password.encode(), expected.encode())
    return user_ok and password_ok


def collector_user():
    """The NetBox user the collector writes as (None when it does not exist or is not active)."""
    from users.models import User

    return User.objects.filter(username=get_setting('monit_collector_user'), is_active=True).first()
