"""Filesystems that are (nearly) full, or that answer slowly: two classic causes of a night's outage.

A full /var/lib/redis stops persistence, a full /backup quietly stops backups; a ``df`` that takes
800 ms on an NFS mount means a struggling server or network, and every process touching it waits too.
Read-only image filesystems (squashfs snaps, ISO images) are always 100 % and are skipped.

One finding per filesystem and condition. Its fingerprint keeps the mount, the condition and the
severity but not the exact figure, so a finding marked as expected (a backup volume kept at 96 %) stays
quiet while it creeps from 96 to 97 % and speaks again when it gets worse.
"""

from .base import Rule, register

__all__ = ('DiskRule',)


@register
class DiskRule(Rule):
    name = 'disk'
    title = 'Disk full or slow'
    description = 'A filesystem is over the usage threshold or answers df slowly.'
    default_settings = {
        'used_percent': 95,
        'critical_percent': 99,
        'slow_ms': 300,
        'very_slow_ms': 3000,
        'ignore_fstypes': ['squashfs', 'iso9660', 'udf', 'cramfs', 'erofs'],
        'ignore_mounts': [],
    }

    def per_host(self, host, settings, today):
        findings = []
        ignore_types = set(settings['ignore_fstypes'])
        ignore_mounts = set(settings['ignore_mounts'])
        for filesystem in host.fact('filesystems', []):
            mount = filesystem.get('mount')
            if not mount or mount in ignore_mounts or filesystem.get('fstype') in ignore_types:
                continue
            used = filesystem.get('used_percent')
            if used is not None and used >= settings['used_percent']:
                findings.append(self._full(host, filesystem, used, settings))
            elapsed = filesystem.get('df_ms')
            if elapsed is not None and elapsed >= settings['slow_ms']:
                findings.append(self._slow(host, filesystem, elapsed, settings))
        return findings

    @staticmethod
    def _describe(filesystem):
        details = ', '.join(filter(None, (filesystem.get('fstype'), filesystem.get('device'))))
        return f'{filesystem["mount"]}' + (f' ({details})' if details else '')

    def _full(self, host, filesystem, used, settings):
        severity = 'critical' if used >= settings['critical_percent'] else 'high'
        available = filesystem.get('available_bytes')
        evidence = {
            'condition': 'full',
            'mount': filesystem['mount'],
            'device': filesystem.get('device'),
            'fstype': filesystem.get('fstype'),
            'used_percent': used,
            'available_bytes': available,
            'threshold_percent': settings['used_percent'],
        }
        free = f', {available / 2**30:.1f} GiB free' if isinstance(available, int) else ''
        text = f'{self._describe(filesystem)} is {used} % full{free} (threshold {settings["used_percent"]} %).'
        return self.finding(
            host.key, severity, f'{filesystem["mount"]} is {used} % full', evidence, text,
            'Free space or grow the filesystem before writes fail; find what grew (du -xh --max-depth=2).',
            identity={'condition': 'full', 'mount': filesystem['mount'], 'severity': severity},
        )

    def _slow(self, host, filesystem, elapsed, settings):
        severity = 'high' if elapsed >= settings['very_slow_ms'] else 'medium'
        evidence = {
            'condition': 'slow',
            'mount': filesystem['mount'],
            'device': filesystem.get('device'),
            'fstype': filesystem.get('fstype'),
            'df_ms': elapsed,
            'threshold_ms': settings['slow_ms'],
        }
        text = f'df on {self._describe(filesystem)} took {elapsed} ms (threshold {settings["slow_ms"]} ms).'
        remote = filesystem.get('fstype') in ('nfs', 'nfs4', 'cifs', 'smb3', 'glusterfs', 'ceph', 'fuse.sshfs')
        recommendation = ('Check the file server and the network path to it (nfsstat, mount options); processes '
                          'touching this mount hang while it is slow.' if remote else
                          'Check the disk and its controller (dmesg, smartctl, iostat -x): slow metadata answers '
                          'often precede a failing disk.')
        return self.finding(
            host.key, severity, f'{filesystem["mount"]} answers slowly ({elapsed} ms)', evidence, text,
            recommendation, identity={'condition': 'slow', 'mount': filesystem['mount'], 'severity': severity},
        )
