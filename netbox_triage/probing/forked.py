"""Run the SSH transport in a forked child process, so the job's writer has an interpreter to itself.

In one process the transport's threads (paramiko's packet loops, key exchanges) and the thread writing
results into NetBox share one interpreter lock: a probe job's writer then ran at the transport's pace, on
one core. Here the child runs :func:`~netbox_triage.probing.transport.run_many` (the same code, the same
scope check before every connection) and, with ``prepare``, parses each output; the parent receives the
results over a pipe and records them.

- The child holds no database or Redis work: it inherited their sockets and never touches them, and it
  leaves with ``os._exit`` (no atexit handler, no connection closed under the parent's feet).
- It dies with the parent (``PR_SET_PDEATHSIG``): a killed work-horse leaves no prober behind. The parent
  kills it when it stops early for any reason (an RQ job timeout included).
- Frames are length-prefixed pickles read with an unpickler that knows two classes only, the result and
  the parsed output: host output travels inside their byte and text fields, never as code.
- A host the child never reported (it crashed, or was killed) still gets a result: status ``error``.

Fork is used only where it is safe: a POSIX system and no other thread in the process at that moment
(`usable()`); elsewhere the caller keeps :func:`run_many` in its own threads.
"""

import ctypes
import fcntl
import io
import os
import pickle
import select
import signal
import struct
import threading
from collections.abc import Callable, Iterable

from .transport import DEFAULT_MAX_OUTPUT_BYTES, ProbeResult, ProbeStatus, Target, run_many

__all__ = ('PROCESS_NAME', 'run_many_forked', 'usable')

_HEADER = struct.Struct('!I')
_PIPE_BYTES = 1024 * 1024  # what Linux lets an unprivileged process ask for (/proc/sys/fs/pipe-max-size)
_ALLOWED_CLASSES = {
    ('netbox_triage.probing.transport', 'ProbeResult'),
    ('netbox_triage.probing.facts', 'ParsedProbe'),
}
_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15
PROCESS_NAME = 'triage-probe'  # the child's name in ps, top and /proc/PID/comm


def usable() -> bool:
    """Whether forking is safe here: POSIX, and this is the process's only thread (a fork copies a lock
    another thread holds, which would never be released in the child)."""
    return hasattr(os, 'fork') and threading.active_count() == 1


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_CLASSES:
            raise pickle.UnpicklingError(f'{module}.{name} is not a probe result')
        return super().find_class(module, name)


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL when the parent dies, and a name of its own in `ps` and /proc (PROCESS_NAME)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(_PR_SET_NAME, PROCESS_NAME.encode())
    except (OSError, AttributeError):  # not Linux: the closed pipe still ends the child at its next result
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _send(fd: int, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _child(fd, parent, targets, script, credentials, timeouts, scope, hostkey_policy, concurrency,
           max_output_bytes, prepare):
    code = 1
    try:
        _die_with_parent(parent)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # the job's timeout is the parent's to enforce

        def send(result):
            if prepare is not None:
                try:
                    prepare(result)
                except Exception:  # noqa: BLE001 - the parent then does the work itself, and records any error
                    result.parsed = None
            _send(fd, ('result', result))

        run_many(targets, script, credentials, timeouts, scope, hostkey_policy, concurrency, send,
                 max_output_bytes=max_output_bytes, keep_output=False)
        _send(fd, ('end', None))
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, whatever it was
        try:
            _send(fd, ('failed', f'{type(exc).__name__}: {exc}'))
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _frames(buffer: bytearray):
    """Complete frames at the start of `buffer`, removed from it."""
    while len(buffer) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + size:
            return
        data = bytes(buffer[_HEADER.size:_HEADER.size + size])
        del buffer[:_HEADER.size + size]
        yield _Unpickler(io.BytesIO(data)).load()


def run_many_forked(
    targets: Iterable[Target],
    script: bytes,
    credentials,
    timeouts,
    scope,
    hostkey_policy=None,
    concurrency: int = 20,
    on_result: Callable[[ProbeResult], None] | None = None,
    *,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    prepare: Callable[[ProbeResult], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    idle_seconds: float = 1.0,
) -> list[ProbeResult]:
    """:func:`run_many` in a forked child; ``on_result`` and ``on_idle`` are called in this thread.

    ``prepare(result)`` runs in the child before a result is sent (e.g. parsing its output into
    ``result.parsed``). Results come back in ``targets`` order, without their output.
    """
    targets = list(targets)
    if not targets:
        return []
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # fewer, larger writes; Linux only
    except (AttributeError, OSError):
        pass
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, parent, targets, script, credentials, timeouts, scope, hostkey_policy, concurrency,
               max_output_bytes, prepare)
    os.close(write_fd)
    index = {target.key: position for position, target in enumerate(targets)}
    results: list[ProbeResult | None] = [None] * len(targets)
    failure = ''
    buffer = bytearray()
    poller = select.poll()  # not select(): a descriptor numbered over 1023 would make it fail
    poller.register(read_fd, select.POLLIN)
    try:
        while True:
            if not poller.poll(idle_seconds * 1000 if on_idle else None):
                on_idle()  # nothing arrived for a while: the caller may flush what it holds
                continue
            chunk = os.read(read_fd, _PIPE_BYTES)
            if not chunk:
                break
            buffer += chunk
            for kind, payload in _frames(buffer):
                if kind == 'result' and payload.key in index and results[index[payload.key]] is None:
                    results[index[payload.key]] = payload
                    if on_result is not None:
                        on_result(payload)
                    payload.stdout = payload.stderr = b''
                    payload.parsed = None
                elif kind == 'failed':
                    failure = payload
    finally:
        os.close(read_fd)
        _reap(pid)
    for position, target in enumerate(targets):
        if results[position] is None:
            result = ProbeResult(key=target.key, name=target.name, host=target.host, port=target.port,
                                 status=ProbeStatus.ERROR,
                                 error='the probe process ended before this host was probed'
                                       + (f' ({failure})' if failure else ''))
            results[position] = result
            if on_result is not None:
                on_result(result)
    return results


def _reap(pid: int) -> None:
    """Stop the child if it still runs (the parent ended early) and collect it: no zombie, no orphan."""
    try:
        finished, _status = os.waitpid(pid, os.WNOHANG)
        if not finished:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except ChildProcessError:
        pass
