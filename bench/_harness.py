"""What the benchmark scripts in bench/ share: a throwaway database, timing with a query count, their doc section.

A database benchmark copies the migrated template (`netbox_triage_template`) into a database of its own (named
by its TRIAGE_DB_NAME), fills and times it, and drops it at the end; each benchmark writes its figures between its
own markers in docs/benchmarks.md. Every script used to carry its own copy of these helpers. The scripts run as
`python bench/NAME.py`, so this directory is on sys.path and `from _harness import ...` finds this module. Nothing
here imports Django at module level: each script sets its environment (database, Redis, NETBOX_ROOT) first.
"""

import re
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / 'docs' / 'benchmarks.md'
TEMPLATE_DB = 'netbox_triage_template'


def log(message):
    print(message, file=sys.stderr, flush=True)


def psql(sql, timeout=None):
    """One statement as the postgres superuser on 127.0.0.1; the CompletedProcess (text)."""
    return subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', sql],
                          capture_output=True, text=True, timeout=timeout)


def _drop_statement(db, force):
    return f'DROP DATABASE IF EXISTS {db}' + (' WITH (FORCE)' if force else '')


def create_database(db, *, replace=False, force=False, timeout=None):
    """Copy the template into ``db``, waiting (up to 5 minutes) while another session copies it.

    ``replace``: first drop a ``db`` that a killed run left behind (``force``: even with sessions still on it);
    ``timeout``: the seconds each psql call may take (none by default).
    """
    if not re.fullmatch(r'[a-z0-9_]+', db):
        raise SystemExit(f'TRIAGE_DB_NAME {db!r}: letters, digits and _ only')
    if replace:
        psql(_drop_statement(db, force), timeout)
    for _ in range(60):
        result = psql(f'CREATE DATABASE {db} OWNER netbox_triage TEMPLATE {TEMPLATE_DB}', timeout)
        if result.returncode == 0:
            return
        if 'is being accessed by other users' not in result.stderr:
            raise SystemExit(f'cannot create {db}: {result.stderr.strip()}')
        time.sleep(5)  # another session is copying the template right now
    raise SystemExit('the template database stayed busy for 5 minutes')


def drop_database(db, *, force=False, timeout=None):
    """Close Django's connections (when Django is set up) and drop ``db``; a failure is logged, not raised."""
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up yet
        pass
    result = psql(_drop_statement(db, force), timeout)
    if result.returncode:
        log(f'could not drop {db}: {result.stderr.strip()}')


@contextmanager
def throwaway_database(db, *, keep=False, replace=False):
    """``create_database(db)`` for the ``with`` block, dropped when it ends however it ends, unless ``keep``."""
    create_database(db, replace=replace)
    try:
        yield
    finally:
        if not keep:
            drop_database(db)


class QueryCounter:
    """Counts statements Django sends (cheaper than CaptureQueriesContext, which would slow the template down)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(name, fn, rounds, warmup=True, unit='s'):
    """Time ``rounds`` calls of ``fn`` (after one untimed call, unless not ``warmup``) and count the queries of
    the last; log the figures in ``unit`` ('s' or 'ms') and return them with what the last call returned."""
    from django.db import connection

    if warmup:
        fn()
    times, counter, result = [], QueryCounter(), None
    for _ in range(rounds):
        counter.count = 0
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
    figure = {'name': name, 'median': statistics.median(times), 'min': min(times), 'max': max(times),
              'rounds': rounds, 'queries': counter.count}
    scale, digits = {'s': (1, 3), 'ms': (1000, 0)}[unit]
    median, low, high = (f'{figure[key] * scale:.{digits}f}' for key in ('median', 'min', 'max'))
    log(f"{name}: median {median} {unit} (min {low}, max {high}), {figure['queries']} queries")
    return figure, result


def write_doc_section(section, begin, end):
    """Put ``section`` in docs/benchmarks.md (re-read now) in place of the text from ``begin`` to ``end``, markers
    included, or append it if they are not there; other benchmarks' sections stay as they are."""
    text = DOC.read_text() if DOC.exists() else '# Benchmarks\n'
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _old, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip('\n') + '\n\n' + section + '\n'
    DOC.write_text(text)
