"""Hostile-text hygiene shared by the parsers.

Probe output comes from hosts we are rescuing, some of them compromised: every value that reaches
the facts passes through :func:`clean` (one line) or :func:`clean_block` (multi-line text), which
strip terminal escapes and control or bidi characters and cap the length. Values stay plain
strings: HTML escaping is the template's job, and nothing here is ever evaluated.
"""

import re

__all__ = (
    'MAX_TEXT',
    'clean',
    'clean_block',
    'key_values',
    'to_int',
)

MAX_TEXT = 256

_ESCAPES = re.compile(r'\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|[@-Z\\-_])')
_LINE_CONTROLS = re.compile('[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]')
_BLOCK_CONTROLS = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]')
_SPACES = re.compile(r'[ \t]+')
_INT = re.compile(r'-?[0-9]{1,18}')


def clean(value, limit=MAX_TEXT):
    """One line of plain text: escapes and controls removed, whitespace collapsed, length capped."""
    if value is None:
        return None
    text = _ESCAPES.sub('', str(value)[: limit * 4])
    text = _LINE_CONTROLS.sub(' ', text)
    return _SPACES.sub(' ', text).strip()[:limit]


def clean_block(value, limit=64 * 1024):
    """Multi-line text (a configuration file): keeps newlines and tabs, drops other controls."""
    if value is None:
        return None
    text = _ESCAPES.sub('', str(value)[: limit * 2]).replace('\r\n', '\n')
    return _BLOCK_CONTROLS.sub('', text)[:limit]


def to_int(value):
    """An integer from a decimal string, or None; never float('inf') or a 10 000-digit number."""
    if value is None:
        return None
    text = str(value).strip()
    if not _INT.fullmatch(text):
        return None
    return int(text)


def key_values(text, separator='='):
    """``key<sep>value`` lines as a dict (last one wins, like a shell); other lines are ignored."""
    result = {}
    for line in text.splitlines():
        key, found, value = line.partition(separator)
        key = key.strip()
        if found and key and len(key) <= 64:
            result[key] = value.strip()
    return result
