"""The running kernel, from the ``uname`` section (``key=value`` lines written by the script).

The running kernel is what matters in a rescue: an installed but not rebooted kernel package
fixes nothing, so rules compare this release with the kernel packages.
"""

from .text import clean, key_values

__all__ = ('kernel_facts',)


def kernel_facts(text):
    """``{name, release, version, arch}`` from the uname section; missing keys are None."""
    values = key_values(text)
    return {
        'name': clean(values.get('kernel_name'), 64) or None,
        'release': clean(values.get('release'), 128) or None,
        'version': clean(values.get('version')) or None,
        'arch': clean(values.get('machine'), 32) or None,
    }
