"""Host key trust for the probe: trust on first use with pins kept in NetBox, or a strict known_hosts.

The transport asks the policy after the key exchange and before authentication, so a host whose
key does not match is never sent a credential nor a command.
"""

import base64
import binascii
import fnmatch
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = (
    'HostKey',
    'HostKeyPin',
    'HostKeyPolicy',
    'HostKeyVerdict',
    'KnownHosts',
    'StrictKnownHosts',
    'TrustOnFirstUse',
    'fingerprint',
    'key_algorithms',
)

# Key type (as in a known_hosts line) -> the host key algorithms that produce it, best first.
_ALGORITHMS = {
    'ssh-rsa': ('rsa-sha2-512', 'rsa-sha2-256'),
}


def fingerprint(blob: bytes) -> str:
    """The OpenSSH SHA256 fingerprint of a public key blob ('SHA256:' + unpadded base64)."""
    return 'SHA256:' + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip('=')


def key_algorithms(key_type: str) -> tuple[str, ...]:
    """The host key algorithms to offer first so that the server presents a key of ``key_type``."""
    return _ALGORITHMS.get(key_type, (key_type,))


@dataclass(frozen=True)
class HostKey:
    """A public host key: its type ('ssh-ed25519', ...) and base64 blob, as in known_hosts."""

    key_type: str
    base64: str

    @classmethod
    def from_pkey(cls, pkey) -> 'HostKey':
        return cls(pkey.get_name(), pkey.get_base64())

    @classmethod
    def parse(cls, text: str) -> 'HostKey':
        """Parse 'ssh-ed25519 AAAA... [comment]' (an .pub file or a known_hosts key part)."""
        parts = text.split()
        if len(parts) < 2:
            raise ValueError(f'not a public key (expected "TYPE BASE64"): {text[:60]!r}')
        key_type, data = parts[0], parts[1]
        try:
            blob = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f'public key of type {key_type} has invalid base64') from None
        # The blob starts with its own type name: a cheap consistency check that catches swapped columns.
        if len(blob) < 4 or blob[4:4 + int.from_bytes(blob[:4], 'big')].decode(errors='replace') != key_type:
            raise ValueError(f'public key blob does not match its type {key_type!r}')
        return cls(key_type, data)

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.base64)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    def __str__(self) -> str:
        return f'{self.key_type} {self.base64}'


@dataclass(frozen=True)
class HostKeyPin:
    """What NetBox keeps for a host: a full public key, or only its SHA256 fingerprint."""

    fingerprint: str
    key: HostKey | None = None

    @classmethod
    def parse(cls, text: str) -> 'HostKeyPin':
        text = text.strip()
        if text.startswith('SHA256:'):
            if len(text) != 50:
                raise ValueError(f'not a SHA256 host key fingerprint: {text!r}')
            return cls(fingerprint=text)
        key = HostKey.parse(text)
        return cls(fingerprint=key.fingerprint, key=key)

    @property
    def key_type(self) -> str | None:
        return self.key.key_type if self.key else None

    def matches(self, key: HostKey) -> bool:
        return hmac.compare_digest(self.fingerprint, key.fingerprint)


@dataclass(frozen=True)
class HostKeyVerdict:
    accepted: bool
    # No pin existed: the caller should store the key it was shown.
    first_use: bool = False
    message: str = ''
    expected: tuple[str, ...] = ()


class HostKeyPolicy(Protocol):
    """How the transport decides whether to trust the key a server presented."""

    def preferred_key_types(self, names: list[str], port: int, pin: HostKeyPin | None) -> list[str]:
        """Host key types to ask for first (so a server with several keys shows the known one)."""

    def check(self, names: list[str], port: int, pin: HostKeyPin | None, key: HostKey) -> HostKeyVerdict:
        """``names``: what was dialled first, then the device name and the address actually reached."""


def _mismatch(what: str, expected: tuple[str, ...], key: HostKey) -> HostKeyVerdict:
    return HostKeyVerdict(
        accepted=False,
        message=(
            f'host key mismatch: {what} expects {" or ".join(expected)}, the server presented '
            f'{key.key_type} {key.fingerprint}; nothing was sent to it (possible impersonation or a reinstall)'
        ),
        expected=expected,
    )


@dataclass(frozen=True)
class TrustOnFirstUse:
    """Accept and report an unknown key; afterwards only the pinned key is accepted."""

    def preferred_key_types(self, names, port, pin):
        return [pin.key_type] if pin and pin.key_type else []

    def check(self, names, port, pin, key):
        if pin is None:
            return HostKeyVerdict(accepted=True, first_use=True, message=f'first use: pin {key.fingerprint}')
        if pin.matches(key):
            return HostKeyVerdict(accepted=True)
        return _mismatch('the pinned key', (pin.fingerprint,), key)


def _host_token(name: str, port: int) -> str:
    return name if port == 22 else f'[{name}]:{port}'


@dataclass
class _Entry:
    patterns: tuple[str, ...]
    negated: tuple[str, ...]
    hashed: tuple[tuple[bytes, bytes], ...]
    key: HostKey
    revoked: bool


@dataclass
class KnownHosts:
    """An OpenSSH known_hosts file (hashed entries, wildcards, negation, [host]:port, @revoked).

    Load it once per job with :meth:`load` and share the object across hosts: lookups do not touch
    the file again. @cert-authority lines are ignored (host certificates are not supported).
    """

    path: str = ''
    _exact: dict[str, list[_Entry]] = field(default_factory=dict, repr=False)
    _other: list[_Entry] = field(default_factory=list, repr=False)
    _revoked: set[str] = field(default_factory=set, repr=False)
    skipped_lines: int = 0

    @classmethod
    def load(cls, path) -> 'KnownHosts':
        return cls.parse(Path(path).read_text(encoding='utf-8', errors='replace'), path=str(path))

    @classmethod
    def parse(cls, text: str, path: str = '') -> 'KnownHosts':
        known = cls(path=path)
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            fields = line.split()
            marker = None
            if fields[0].startswith('@'):
                marker, fields = fields[0], fields[1:]
            if len(fields) < 3 or marker not in (None, '@revoked'):
                known.skipped_lines += 1
                continue
            try:
                key = HostKey.parse(f'{fields[1]} {fields[2]}')
            except ValueError:
                known.skipped_lines += 1
                continue
            if marker == '@revoked':
                known._revoked.add(key.fingerprint)
                continue
            patterns, negated, hashed = [], [], []
            for pattern in fields[0].split(','):
                if pattern.startswith('|1|'):
                    try:
                        salt, digest = pattern[3:].split('|', 1)
                        hashed.append((base64.b64decode(salt), base64.b64decode(digest)))
                    except (ValueError, binascii.Error):
                        continue
                elif pattern.startswith('!'):
                    negated.append(pattern[1:].lower())
                elif pattern:
                    patterns.append(pattern.lower())
            entry = _Entry(tuple(patterns), tuple(negated), tuple(hashed), key, revoked=False)
            wildcard = negated or hashed or any(ch in pattern for pattern in patterns for ch in '*?')
            if wildcard:
                known._other.append(entry)
            else:
                for pattern in patterns:
                    known._exact.setdefault(pattern, []).append(entry)
        return known

    def lookup(self, name: str, port: int = 22) -> list[HostKey]:
        """The keys recorded for ``name`` on ``port`` (OpenSSH's '[name]:port' form when port != 22)."""
        token = _host_token(name.lower(), port)
        found = [entry.key for entry in self._exact.get(token, ())]
        encoded = token.encode()
        for entry in self._other:
            if any(fnmatch.fnmatchcase(token, pattern) for pattern in entry.negated):
                continue
            if any(fnmatch.fnmatchcase(token, pattern) for pattern in entry.patterns) or any(
                hmac.compare_digest(hmac.digest(salt, encoded, 'sha1'), digest) for salt, digest in entry.hashed
            ):
                found.append(entry.key)
        return found

    def is_revoked(self, key: HostKey) -> bool:
        return key.fingerprint in self._revoked


@dataclass(frozen=True)
class StrictKnownHosts:
    """Accept only keys listed in a known_hosts file; an unknown host is refused, like StrictHostKeyChecking."""

    known_hosts: KnownHosts

    def _keys(self, names, port) -> list[HostKey]:
        keys: list[HostKey] = []
        for name in dict.fromkeys(names):
            for key in self.known_hosts.lookup(name, port):
                if key not in keys:
                    keys.append(key)
        return keys

    def preferred_key_types(self, names, port, pin):
        return list(dict.fromkeys(key.key_type for key in self._keys(names, port)))

    def check(self, names, port, pin, key):
        if self.known_hosts.is_revoked(key):
            return HostKeyVerdict(accepted=False, message=f'host key {key.fingerprint} is marked @revoked')
        keys = self._keys(names, port)
        where = self.known_hosts.path or 'known_hosts'
        if not keys:
            looked_up = ', '.join(_host_token(name, port) for name in dict.fromkeys(names))
            return HostKeyVerdict(
                accepted=False,
                message=(
                    f'host unknown in {where} (looked up {looked_up}); '
                    f'strict mode refuses it. It presented {key.key_type} {key.fingerprint}'
                ),
            )
        if key in keys:
            return HostKeyVerdict(accepted=True)
        return _mismatch(where, tuple(known.fingerprint for known in keys), key)
