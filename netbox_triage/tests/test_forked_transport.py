"""The forked prober (probing/forked.py): the same results as the in-process transport, parsing in the child, and
no child left behind whichever side stops first. The simulated fleet runs in a process of its own, as in a job."""

import io
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from netbox_triage.connections import Scope
from netbox_triage.fleet import FleetHost
from netbox_triage.fleet.manifest import dump_manifest
from netbox_triage.probing import forked
from netbox_triage.probing.facts import ParsedProbe
from netbox_triage.probing.runner import _parse
from netbox_triage.probing.transport import Credentials, ProbeResult, Target, Timeouts

REPO = Path(__file__).resolve().parents[2]
NET = '127.79.2'
BEHAVIOURS = {1: 'normal', 2: 'normal', 3: 'normal', 4: 'refuse', 5: 'auth_reject', 6: 'hang'}
EXPECTED = {1: 'ok', 2: 'ok', 3: 'ok', 4: 'unreachable', 5: 'auth_failed', 6: 'timeout'}
TIMEOUTS = Timeouts(connect=2, banner=1.5, auth=3, command=10)
SECTION_CAP = 64 * 1024


def _alive(pid):
    """A process that still runs (a zombie waiting for a parent that is not ours to reap counts as ended)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ('Z', 'X')


def _probers_of(pid):
    """The forked probers among `pid`'s children, found by the name the child gives itself."""
    found = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        for child in (task / 'children').read_text().split():
            try:
                if Path(f'/proc/{child}/comm').read_text().strip() == forked.PROCESS_NAME:
                    found.append(int(child))
            except FileNotFoundError:
                pass
    return found


class ForkedProberTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix='triage-forked-'))
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(cls.tmp / 'id')], check=True)
        manifest = cls.tmp / 'fleet.json'
        dump_manifest([FleetHost(f'{NET}.{n}', 0, 'ubuntu2204', behaviour, name=f'forked-{n}')
                       for n, behaviour in BEHAVIOURS.items()], manifest)
        with __import__('socket').socket() as sock:
            sock.bind((f'{NET}.1', 0))
            cls.port = sock.getsockname()[1]
        pidfile = cls.tmp / 'fleet.pid'
        cls.fleet = subprocess.Popen(
            [sys.executable, '-m', 'netbox_triage.fleet.server', '--manifest', str(manifest), '--port', str(cls.port),
             '--authorized-key', str(cls.tmp / 'id.pub'), '--pidfile', str(pidfile), '--state-dir',
             str(cls.tmp / 'state')],
            cwd=REPO, env={**os.environ, 'PYTHONPATH': str(REPO)}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not pidfile.exists():
            if cls.fleet.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the fleet did not start')
            time.sleep(0.05)
        cls.credentials = Credentials(key_files=(str(cls.tmp / 'id'),))
        cls.scope = Scope([f'{NET}.0/24'])

    @classmethod
    def tearDownClass(cls):
        cls.fleet.terminate()
        cls.fleet.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # This test process may hold threads of earlier tests (the transport's watchdog): the runner would not fork
        # then (forked.usable()), but these tests call the forked prober directly, knowing it.
        warnings.filterwarnings('ignore', message='.*use of fork\\(\\) may lead to deadlocks',
                                category=DeprecationWarning)
        self.addCleanup(warnings.resetwarnings)

    def targets(self, numbers=BEHAVIOURS):
        return [Target(key=f'dcim.device:{n}', name=f'forked-{n}', host=f'{NET}.{n}', port=self.port)
                for n in numbers]

    def run_forked(self, targets, **kwargs):
        return forked.run_many_forked(targets, b'', self.credentials, TIMEOUTS, self.scope, concurrency=10, **kwargs)

    def test_each_host_gets_its_status_parsed_in_the_child(self):
        seen, threads = [], set()

        def on_result(result):
            threads.add(threading.get_ident())
            seen.append((result.key, result.status, result.parsed, result.stdout))

        results = self.run_forked(self.targets(), on_result=on_result, prepare=lambda r: _parse(r, SECTION_CAP))
        self.assertEqual([r.key for r in results], [t.key for t in self.targets()])
        self.assertEqual({r.key: r.status for r in results},
                         {f'dcim.device:{n}': status for n, status in EXPECTED.items()})
        self.assertEqual(sorted(key for key, *_ in seen), sorted(t.key for t in self.targets()))  # once each
        self.assertEqual(threads, {threading.get_ident()})  # on_result runs in the caller's thread
        for key, status, parsed, stdout in seen:
            with self.subTest(key=key):
                if status == 'ok':
                    self.assertIsInstance(parsed, ParsedProbe)  # parsed in the child: facts arrive, not output
                    self.assertEqual(parsed.facts['os']['name'], 'Ubuntu')
                    self.assertEqual(stdout, b'')
                else:
                    self.assertIsNone(parsed)
        self.assertTrue(all(r.stdout == b'' and r.parsed is None for r in results))  # nothing kept once handed over
        self.assertEqual(_probers_of(os.getpid()), [])

    def test_the_caller_is_called_back_while_nothing_arrives(self):
        idle, seen = [], []
        results = self.run_forked(self.targets([6]), on_result=seen.append, on_idle=lambda: idle.append(len(seen)),
                                  idle_seconds=0.2)  # the hanging host answers nothing for 1.5 s
        self.assertEqual([r.status for r in results], ['timeout'])
        self.assertGreaterEqual(len(idle), 3)
        self.assertEqual(set(idle), {0})  # all of them while the result was still awaited

    def test_prepare_runs_in_another_process(self):
        pids = []

        def prepare(result):
            result.parsed = {'pid': os.getpid()}

        self.run_forked(self.targets([1]), on_result=lambda r: pids.append(r.parsed['pid']), prepare=prepare)
        self.assertEqual(len(pids), 1)
        self.assertNotEqual(pids[0], os.getpid())
        self.assertFalse(_alive(pids[0]))  # ended and reaped

    def test_a_child_that_dies_leaves_no_host_unrecorded(self):
        count = [0]

        def prepare(result):
            count[0] += 1
            if count[0] == 2:
                os._exit(3)  # as if the OOM killer took it

        seen = []
        results = self.run_forked(self.targets(), on_result=seen.append, prepare=prepare)
        self.assertEqual(len(seen), len(BEHAVIOURS))
        self.assertEqual(len(results), len(BEHAVIOURS))
        lost = [r for r in results if r.error.startswith('the probe process ended before this host was probed')]
        self.assertEqual(len(lost), len(BEHAVIOURS) - 1)
        self.assertTrue(all(r.status == 'error' for r in lost))

    def test_the_caller_stopping_early_ends_the_child(self):
        pids = []

        def prepare(result):
            result.parsed = {'pid': os.getpid()}

        def on_result(result):
            pids.append(result.parsed['pid'])
            raise RuntimeError('the job was stopped')

        # The hanging host keeps the child busy well after the first result.
        slow = Timeouts(connect=2, banner=30, auth=3, command=10)
        started = time.monotonic()
        with self.assertRaisesRegex(RuntimeError, 'the job was stopped'):
            forked.run_many_forked(self.targets([1, 6]), b'', self.credentials, slow, self.scope, concurrency=2,
                                   on_result=on_result, prepare=prepare)
        self.assertLess(time.monotonic() - started, 15)
        self.assertEqual(len(pids), 1)
        self.assertFalse(_alive(pids[0]))
        self.assertEqual(_probers_of(os.getpid()), [])

    def test_the_child_dies_with_its_parent(self):
        script = textwrap.dedent(f"""
            import sys, time
            from netbox_triage.connections import Scope
            from netbox_triage.probing import forked
            from netbox_triage.probing.transport import Credentials, Target, Timeouts
            print('forking', flush=True)
            forked.run_many_forked([Target(key='h', name='h', host='{NET}.6', port={self.port})], b'',
                                   Credentials(key_files=({str(self.tmp / 'id')!r},)),
                                   Timeouts(connect=2, banner=60, auth=3, command=10), Scope(['{NET}.0/24']))
        """)
        parent = subprocess.Popen([sys.executable, '-c', script], cwd=REPO,
                                  env={**os.environ, 'PYTHONPATH': str(REPO)}, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        try:
            self.assertEqual(parent.stdout.readline().strip(), b'forking')
            deadline = time.monotonic() + 20
            while not (children := _probers_of(parent.pid)):
                self.assertLess(time.monotonic(), deadline, 'no forked prober appeared')
                time.sleep(0.05)
            parent.kill()  # SIGKILL: no finally, no clean-up in the parent
            parent.wait(10)
            deadline = time.monotonic() + 5
            while _alive(children[0]):
                self.assertLess(time.monotonic(), deadline, 'the prober outlived its parent')
                time.sleep(0.05)
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()
            parent.stdout.close()

    def test_frames_carry_probe_results_and_nothing_else(self):
        result = ProbeResult(key='k', name='n', host='h', port=22, stdout=b'\x80cos\nsystem\n')
        frame = pickle.dumps(result)
        self.assertEqual(forked._Unpickler(io.BytesIO(frame)).load(), result)
        for smuggled in (os.system, signal.SIGKILL, Path('/etc/passwd')):
            with self.subTest(smuggled=smuggled), self.assertRaisesRegex(pickle.UnpicklingError, 'not a probe result'):
                forked._Unpickler(io.BytesIO(pickle.dumps(smuggled))).load()

    def test_usable_only_without_other_threads(self):
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        try:
            self.assertFalse(forked.usable())
        finally:
            stop.set()
            thread.join()


class ProberSettingTests(SimpleTestCase):
    def test_probe_in_subprocess_is_a_boolean(self):
        from netbox_triage.settings import validate_settings

        for value in ('yes', 1, None):
            with self.subTest(value=value), override_settings(PLUGINS_CONFIG={'netbox_triage': {
                    'allowed_networks': ['127.0.0.0/8'], 'probe_in_subprocess': value}}):
                with self.assertRaisesRegex(ImproperlyConfigured, 'probe_in_subprocess.*True or False'):
                    validate_settings()


if __name__ == '__main__':
    unittest.main()
