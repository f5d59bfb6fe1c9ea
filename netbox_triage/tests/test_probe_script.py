"""Run the real probe script on this machine under dash, bash and busybox sh, as ``sh -s`` would over SSH.

Nothing here opens a network connection: the script only reads local files and runs local commands.
"""

import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from netbox_triage.probing.facts import parse_probe_output
from netbox_triage.probing.sections import FALLBACK_SECTIONS, SECTION_ORDER, split_probe

SCRIPT = Path(__file__).resolve().parent.parent / 'probing' / 'script.sh'
SHELLS = (('dash', ('dash', '-s')), ('bash', ('bash', '-s')), ('busybox sh', ('busybox', 'sh', '-s')))
MARKER = re.compile(rb'^@@triage:(?:probe v1|begin [a-z0-9_]+|end [a-z0-9_]+ rc=-?\d+ ms=-?\d+|absent [a-z0-9_]+)@@$')
TIME_LIMIT = 30
UPTIME_CLOCK = 'uptime' if os.access('/proc/uptime', os.R_OK) else 'none'


# An old bash to run the script under too, e.g. bash 3.2 (Red Hat 4 and 5) built from the GNU sources: Debian has
# none. Unset, its test is skipped; docs/probing.md says how it was built and run.
OLD_BASH = os.environ.get('TRIAGE_TEST_OLD_BASH')


def shell_command(label):
    command = dict(SHELLS)[label]
    if shutil.which(command[0]) is None:
        raise unittest.SkipTest(f'{command[0]} is not installed on this machine; {label} run skipped')
    return [shutil.which(command[0]), *command[1:]]


def run_probe(command, env=None, stdin_suffix=b''):
    environment = {key: value for key, value in os.environ.items() if not key.startswith('TRIAGE_')}
    environment.update(env or {})
    started = time.monotonic()
    result = subprocess.run(command, input=SCRIPT.read_bytes() + stdin_suffix, capture_output=True,
                            timeout=TIME_LIMIT * 2, env=environment)
    return result, time.monotonic() - started


def restricted_path(directory, commands, fake=None):
    """A PATH directory holding only ``commands`` (symlinked) and ``fake`` scripts {name: body}."""
    for name in commands:
        found = shutil.which(name)
        if found:
            os.symlink(found, os.path.join(directory, name))
    for name, body in (fake or {}).items():
        path = os.path.join(directory, name)
        with open(path, 'w') as handle:
            handle.write('#!/bin/sh\n' + body)
        os.chmod(path, 0o755)
    return directory


class ScriptShapeMixin:
    def assert_well_formed(self, output):
        """Header first; every section is begin..end or absent, in script order, each once."""
        self.assertTrue(output.endswith(b'@@\n'))
        lines = output[:-1].split(b'\n')
        self.assertEqual(lines[0], b'@@triage:probe v1@@')
        names, current = [], None
        for line in lines[1:]:
            if not line.startswith(b'@@triage'):
                self.assertIsNotNone(current, f'text outside a section: {line[:80]!r}')
                continue
            self.assertRegex(line, MARKER)
            kind, name = line[9:].rstrip(b'@').split(b' ')[:2]
            name = name.decode()
            if kind == b'begin':
                self.assertIsNone(current)
                current = name
                names.append(name)
            elif kind == b'end':
                self.assertEqual(current, name)
                current = None
            else:
                self.assertIsNone(current)
                names.append(name)
        self.assertIsNone(current, 'the last section never ended')
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names, [name for name in SECTION_ORDER if name in names])
        missing = set(SECTION_ORDER) - set(names)
        self.assertLessEqual(missing, set(FALLBACK_SECTIONS))
        for fallback in missing:
            self.assertIn(FALLBACK_SECTIONS[fallback], names)
        return names


class ProbeScriptTests(ScriptShapeMixin, unittest.TestCase):
    def check_shell(self, command):
        result, elapsed = run_probe(command)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, b'')
        self.assertLess(elapsed, TIME_LIMIT)
        self.assert_well_formed(result.stdout)
        split = split_probe(result.stdout)
        self.assertEqual(split.notes, [])
        parsed = parse_probe_output(result.stdout)
        facts = parsed.facts
        uname = os.uname()
        self.assertEqual(facts['kernel']['release'], uname.release)
        self.assertEqual(facts['kernel']['arch'], uname.machine)
        self.assertEqual(facts['kernel']['name'], uname.sysname)
        hostname = socket.gethostname()
        self.assertEqual(facts['hostname_raw'], hostname)
        if re.fullmatch(r'[A-Za-z0-9_.-]+', hostname):
            self.assertEqual(facts['hostname'], hostname.lower())
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            release = None
        if release:
            self.assertEqual(facts['os']['id'], release.get('ID'))
            if release.get('VERSION_ID'):
                self.assertEqual(facts['os']['version_id'], release['VERSION_ID'])
            self.assertEqual(facts['os']['pretty_name'], release.get('PRETTY_NAME'))
        self.assertGreater(facts['memory']['total_bytes'], 0)
        self.assertGreaterEqual(facts['cpu']['threads'], 1)
        self.assertEqual(facts['probe']['escape'], 'sed' if shutil.which('sed') else 'none')
        self.assertTrue(any(fs['mount'] == '/' for fs in facts['filesystems']) or not shutil.which('df'))
        self.assertGreaterEqual(facts['uptime_seconds'], 0)
        return parsed

    def test_dash(self):
        self.check_shell(shell_command('dash'))

    def test_bash(self):
        self.check_shell(shell_command('bash'))

    def test_busybox_sh(self):
        self.check_shell(shell_command('busybox sh'))

    @unittest.skipUnless(OLD_BASH, 'TRIAGE_TEST_OLD_BASH (the path of an old bash, e.g. 3.2) is not set')
    def test_old_bash(self):
        version = subprocess.run([OLD_BASH, '-c', 'echo "$BASH_VERSION"'], capture_output=True, text=True, timeout=10)
        self.assertRegex(version.stdout, r'^[1-4]\.', 'TRIAGE_TEST_OLD_BASH is not an old bash')
        for mode in ((), ('--posix',)):
            with self.subTest(mode=mode):
                syntax = subprocess.run([OLD_BASH, *mode, '-n', str(SCRIPT)], capture_output=True, timeout=30)
                self.assertEqual((syntax.returncode, syntax.stderr), (0, b''))
        self.check_shell([OLD_BASH, '-s'])

    def test_syntax_is_posix(self):
        for label, command in SHELLS:
            if shutil.which(command[0]) is None:
                continue
            with self.subTest(shell=label):
                result = subprocess.run([*command[:-1], '-n', str(SCRIPT)], capture_output=True, timeout=30)
                self.assertEqual(result.returncode, 0, result.stderr)
        result = subprocess.run([shutil.which('bash') or 'bash', '--posix', '-n', str(SCRIPT)], capture_output=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_nothing_after_the_script_runs_and_open_stdin_does_not_hang(self):
        command = shell_command('dash')
        result, _elapsed = run_probe(command, stdin_suffix=b'\necho LEAKED-AFTER-EXIT\n')
        self.assertNotIn(b'LEAKED-AFTER-EXIT', result.stdout)
        pipes = {'stdin': subprocess.PIPE, 'stdout': subprocess.PIPE, 'stderr': subprocess.PIPE}
        with subprocess.Popen(command, **pipes) as process:
            process.stdin.write(SCRIPT.read_bytes())
            process.stdin.flush()
            try:
                stdout, _stderr = process.communicate(timeout=TIME_LIMIT)
            except (subprocess.TimeoutExpired, ValueError):
                process.kill()
                raise
        self.assertEqual(process.returncode, 0)
        self.assertTrue(stdout.startswith(b'@@triage:probe v1@@\n'))


class MinimalHostTests(ScriptShapeMixin, unittest.TestCase):
    """PATH restricted to a handful of commands, as on a stripped-down appliance."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix='triage-path-')
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.shell = shell_command('dash')

    def run_minimal(self, commands, fake=None, timeout_seconds=2):
        restricted_path(self.directory, commands, fake)
        result, elapsed = run_probe(self.shell, env={'PATH': self.directory, 'TRIAGE_PATH': self.directory,
                                                     'TRIAGE_TIMEOUT': str(timeout_seconds)})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(elapsed, TIME_LIMIT)
        self.assert_well_formed(result.stdout)
        return result, elapsed

    def test_few_commands_and_a_hanging_rpm(self):
        result, elapsed = self.run_minimal(('cat', 'head', 'sed', 'date', 'sleep', 'uname'),
                                           fake={'rpm': 'exec sleep 60\n'})
        self.assertLess(elapsed, 20)
        parsed = parse_probe_output(result.stdout)
        sections = parsed.facts['probe']['sections']
        self.assertEqual(parsed.facts['probe']['timeout'], 'watchdog')
        self.assertNotEqual(sections['packages_rpm']['rc'], 0)
        self.assertGreaterEqual(sections['packages_rpm']['ms'], 1500)
        for name in ('ip_addr', 'ss_listen', 'netstat_listen', 'packages_dpkg', 'lscpu', 'filesystems'):
            self.assertEqual(sections[name], {'absent': True}, name)
        self.assertEqual(parsed.facts['kernel']['release'], os.uname().release)
        if Path('/etc/os-release').is_file():
            self.assertEqual(parsed.facts['os']['id'], platform.freedesktop_os_release().get('ID'))

    def test_no_commands_at_all(self):
        result, _elapsed = self.run_minimal(())
        parsed = parse_probe_output(result.stdout)
        # The shell reads /proc/uptime itself: a clock even without date.
        self.assertEqual(parsed.facts['probe']['clock'], UPTIME_CLOCK)
        if UPTIME_CLOCK == 'uptime':
            self.assertGreaterEqual(parsed.facts['probe']['sections']['meta']['ms'], 0)
        else:
            self.assertEqual(parsed.facts['probe']['sections']['meta']['ms'], -1)
        self.assertEqual(parsed.facts['kernel']['release'], os.uname().release)
        if Path('/etc/os-release').is_file():
            self.assertEqual(parsed.facts['os']['id'], platform.freedesktop_os_release().get('ID'))

    def test_head_without_cat_or_sed(self):
        result, _elapsed = self.run_minimal(('head',))
        parsed = parse_probe_output(result.stdout)
        self.assertEqual((parsed.facts['probe']['escape'], parsed.facts['probe']['clock']), ('none', UPTIME_CLOCK))
        self.assertTrue(parsed.sections['meminfo'].startswith('MemTotal:'))
        self.assertGreater(parsed.facts['memory']['total_bytes'], 0)

    def test_java_version_from_the_release_file_without_starting_a_jvm(self):
        home = Path(self.directory) / 'jdk-17'
        (home / 'bin').mkdir(parents=True)
        started = Path(self.directory) / 'jvm-started'
        java = home / 'bin' / 'java'
        java.write_text(f'#!/bin/sh\n: > {started}\necho \'openjdk version "11.0.1"\' >&2\n')
        java.chmod(0o755)
        (home / 'release').write_text('@@triage:end java_version rc=0 ms=1@@\nIMPLEMENTOR="Eclipse Adoptium"\n'
                                      'JAVA_RUNTIME_VERSION="17.0.9+9"\nJAVA_VERSION="17.0.9"\n')
        os.symlink(java, os.path.join(self.directory, 'java'))
        result, _elapsed = self.run_minimal(('cat', 'head', 'sed', 'readlink'))
        parsed = parse_probe_output(result.stdout)
        self.assertEqual(parsed.facts['java_version'], '17.0.9')
        self.assertFalse(started.exists(), 'java was started although its release file was there')
        section = split_probe(result.stdout).sections['java_version']
        self.assertFalse(section.tampered)
        self.assertTrue(section.body.startswith(' @@triage:end java_version rc=0 ms=1@@\n'))

    def test_version_output_is_escaped_and_capped_by_the_shell(self):
        flood = ('echo "@@triage:end monit_version rc=0 ms=1@@"\necho "@@triage:begin java_version@@"\n'
                 'echo "This is Monit version 5.26.0"\n'
                 'i=0\nwhile [ $i -lt 3000 ]; do echo "line $i"; i=$((i + 1)); done\n')
        result, _elapsed = self.run_minimal(('cat', 'head', 'sed'), fake={'monit': flood})
        split = split_probe(result.stdout)
        monit = split.sections['monit_version']
        self.assertFalse(monit.tampered)
        self.assertTrue(monit.body.startswith(
            ' @@triage:end monit_version rc=0 ms=1@@\n @@triage:begin java_version@@\n'))
        self.assertLessEqual(monit.body.count('\n'), 512)
        self.assertEqual(split.sections['java_version'].absent, True)
        self.assertEqual(parse_probe_output(result.stdout).facts['monit_version'], '5.26.0')

    def test_java_without_a_release_file_is_asked(self):
        started = Path(self.directory) / 'jvm-started'
        result, _elapsed = self.run_minimal(('cat', 'head', 'sed', 'readlink'), fake={
            'java': f': > {started}\necho \'java version "1.6.0_45"\' >&2\n'})
        parsed = parse_probe_output(result.stdout)
        self.assertEqual(parsed.facts['java_version'], '1.6.0_45')
        self.assertTrue(started.exists())

    def test_sockets_from_one_ss_run_or_two_from_an_old_ss(self):
        """A current ss answers for listening and established sockets in one run (State column); an old one that
        does not understand two state filters is asked twice, as before."""
        listen = 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))'
        estab = 'ESTAB 0 0 10.0.0.5:41000 10.0.0.9:3306 users:(("java",pid=7,fd=9))'
        calls = Path(self.directory) / 'ss-calls'
        modern = (f'echo "$*" >> {calls}\n'
                  'echo "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process"\n'
                  f"echo '{listen}'\necho '{estab}'\n")
        old = (f'echo "$*" >> {calls}\n'
               'case "$*" in\n'
               '  *listening*) echo "ss: wrong state filter" >&2; exit 1 ;;\n'
               '  *-ltnp*) echo "State Recv-Q Send-Q Local Address:Port Peer Address:Port"\n'
               f"     echo '{listen}' ;;\n"
               '  *) echo "Recv-Q Send-Q Local Address:Port Peer Address:Port"\n'
               f"     echo '{estab.split(' ', 1)[1]}' ;;\n"
               'esac\n')
        for label, body, expected_calls in (('modern', modern, 1), ('old', old, 3)):
            with self.subTest(ss=label):
                calls.unlink(missing_ok=True)
                for name in os.listdir(self.directory):
                    if name != 'ss-calls':
                        os.unlink(os.path.join(self.directory, name))
                result, _elapsed = self.run_minimal(('cat', 'head', 'sed'), fake={'ss': body})
                facts = parse_probe_output(result.stdout).facts
                self.assertEqual([(s['address'], s['port'], s['process']) for s in facts['listening']],
                                 [('0.0.0.0', 22, 'sshd')])
                self.assertEqual([(c['peer_address'], c['peer_port'], c['process']) for c in facts['established']],
                                 [('10.0.0.9', 3306, 'java')])
                self.assertEqual(len(calls.read_text().splitlines()), expected_calls)

    def test_output_is_capped_and_escaped(self):
        line = '0123456789' * 6
        flood = ('echo "@@triage:end lscpu rc=0 ms=1@@"\necho "@@triage:begin hostname@@"\necho pwned\n'
                 f'i=0\nwhile [ $i -lt 4000 ]; do echo "{line}"; i=$((i + 1)); done\n')
        result, _elapsed = self.run_minimal(('cat', 'head', 'sed', 'date', 'sleep', 'hostname'),
                                            fake={'lscpu': flood}, timeout_seconds=10)
        split = split_probe(result.stdout)
        lscpu = split.sections['lscpu']
        self.assertFalse(lscpu.tampered)
        self.assertTrue(lscpu.body.startswith(' @@triage:end lscpu rc=0 ms=1@@\n @@triage:begin hostname@@\npwned\n'))
        self.assertLessEqual(len(lscpu.body.encode()), 65536)
        self.assertNotEqual(split.sections['hostname'].body.strip(), 'pwned')


if __name__ == '__main__':
    unittest.main()
