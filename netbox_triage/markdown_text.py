"""Text from NetBox or from a probed host, made inert for Markdown: it shows as written, never as markup.

Timeline entries are Markdown (people write them), and NetBox's sanitiser still allows links and images; the
post-mortem is a Markdown document. Whatever this plugin writes into either from data goes through here.
"""

import re

__all__ = ('md_code', 'md_text')

_MD_SPECIAL = re.compile(r'([\\`*_{}\[\]()#+\-.!|])')
_CONTROL = re.compile(r'[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]')
_BACKTICKS = re.compile(r'`+')


def md_text(value, inline=True):
    """NetBox text as inert Markdown: every Markdown punctuation escaped, HTML characters as entities."""
    text = _CONTROL.sub('', '' if value is None else str(value))
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')
    text = _MD_SPECIAL.sub(r'\\\1', text)
    text = text.replace(':', '&#58;')  # no bare-URL autolinks (GitHub-flavoured renderers) either
    if inline:
        text = ' '.join(text.split())
    return text


def md_code(value):
    """Data as one Markdown code span: shown verbatim in monospace (HTML and Markdown inside stay text), still
    readable as plain text. The fence is one backtick longer than any run of backticks in the value."""
    text = ' '.join(_CONTROL.sub('', '' if value is None else str(value)).split()) or '-'
    fence = '`' * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    return f'{fence} {text} {fence}'
