"""`netbox triage_export <export> [filters]`: the CLI door to netbox_triage.exporters.

One subcommand per export (`ssh-config`, `monit`, `topology`); each takes the same host filters as the device and
VM lists. The file goes to standard output or `--output`; what was skipped, and why, to standard error.
"""

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.text import Text

from users.models import User
from virtualization.models import Cluster

from netbox_triage.exporters.hosts import HOST_TYPES, host_querysets
from netbox_triage.exporters.monit import MonitSecrets, write_monit_tarball
from netbox_triage.exporters.ssh_config import render_ssh_config


def add_export_filters(parser):
    """The host selection every export shares; repeat an option to match any of its values (tags: all)."""
    parser.add_argument('--site', action='append', default=[], help='site slug')
    parser.add_argument('--role', action='append', default=[], help='device/VM role slug')
    parser.add_argument('--tenant', action='append', default=[], help='tenant slug')
    parser.add_argument('--tag', action='append', default=[], help='tag slug (a host must carry every tag given)')
    parser.add_argument('--cluster', action='append', default=[], help='cluster name')
    parser.add_argument('--status', action='append', default=[], help='status value, e.g. active')
    parser.add_argument('--host-type', action='append', default=[], choices=list(HOST_TYPES),
                        help='export only devices or only virtual machines')
    parser.add_argument('--output', '-o', help='write to this file instead of standard output')


def export_filters(options):
    """List-view query parameters for host_querysets() from the command's options."""
    params = {name: options[name] for name in ('site', 'role', 'tenant', 'tag', 'status') if options[name]}
    if options['host_type']:
        params['host_type'] = options['host_type']
    if options['cluster']:
        # The device filterset knows clusters by ID only; resolve names here so both kinds filter alike.
        clusters = dict(Cluster.objects.filter(name__in=options['cluster']).values_list('pk', 'name'))
        missing = sorted(set(options['cluster']) - set(clusters.values()))
        if missing:
            raise CommandError(f"no cluster named {', '.join(missing)}")
        params['cluster_id'] = list(clusters)
    return params


class Command(BaseCommand):
    help = ('Export devices and virtual machines to other tools (ssh-config: an ~/.ssh/config; monit: a tar.gz '
            'of Monit bundles; topology: diagrams as PNG, SVG and Python source).')

    def add_arguments(self, parser):
        exports = parser.add_subparsers(dest='export', required=True, metavar='EXPORT')
        ssh_config = exports.add_parser('ssh-config', help='an ~/.ssh/config: one Host block per device/VM')
        add_export_filters(ssh_config)
        ssh_config.add_argument('--prefer', choices=('ipv4', 'ipv6'),
                                help='primary IP used as HostName when a host has both (default: setting)')
        monit = exports.add_parser('monit', help='a tar.gz of Monit bundles: <host>/monitrc, its scripts and secrets')
        add_export_filters(monit)
        monit.add_argument('--prefix', help='where the bundles will be installed on the hosts (default: the '
                                            'monit_prefix setting, /etc/monit)')
        monit.add_argument('--with-secrets', action='store_true',
                           help="fill each host's secrets/mmonit.monitrc (the collector's user and password) and "
                                'secrets/slack-webhook.url from the environment variables the settings name, so an '
                                'installed bundle reports without further work; the file is written mode 0600')
        topology = exports.add_parser('topology', help='diagrams: topology[-N].png, .svg and the editable .py source')
        add_export_filters(topology)
        topology.add_argument('--incident', type=int, metavar='ID', help='the hosts of this incident (instead of '
                                                                        'the filters)')
        topology.add_argument('--group-by', default='cluster', choices=('cluster', 'role', 'tag'))
        topology.add_argument('--output-dir', default='.', help='where to write the files (default: here)')
        topology.add_argument('--format', action='append', choices=('png', 'svg', 'py'),
                              help='only these formats (repeatable; default all three)')
        topology.add_argument('--user', help='draw only what this NetBox user may view: hosts, neighbours, '
                                             'dependencies, services, clusters, facts, discoveries (default: '
                                             'everything)')

    def handle(self, *args, **options):
        export = options['export']
        if export == 'monit':
            return self.handle_monit(options)
        if export == 'topology':
            return self.handle_topology(options)
        if export != 'ssh-config':
            raise CommandError(f'unknown export {export!r}')
        try:
            devices, virtual_machines = host_querysets(export_filters(options))
            result = render_ssh_config(devices, virtual_machines, prefer=options['prefer'])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options['output']:
            Path(options['output']).write_text(result.text, encoding='utf-8')
        else:
            self.stdout.write(result.text, ending='')

        console = Console(file=self.stderr, highlight=False)
        where = options['output'] or 'standard output'
        console.print(Text(f'{len(result.hosts)} host(s) written to {where}, {len(result.skipped)} skipped'))
        for skipped in result.skipped:
            # Names and reasons are data, not rich markup.
            console.print(Text(f'  skipped {skipped.object_type} #{skipped.id} {skipped.name!r}: {skipped.reason}'))

    def handle_monit(self, options):
        """The tar.gz goes to --output or to standard output (never to a terminal); the summary to standard error.

        --with-secrets is the operator's door on the NetBox server: the only one that puts the collector's password
        and the Slack webhook (from the environment) into a bundle, and then only into its secrets files.
        """
        secrets = None
        if options['with_secrets']:
            try:
                secrets = MonitSecrets.from_environment()
            except ValueError as exc:
                raise CommandError(f'--with-secrets: {exc}') from exc
        if options['output']:
            # A bundle with secrets is readable by its owner only, from its first byte.
            mode = 0o600 if secrets else 0o666
            fd = os.open(options['output'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            if secrets:
                os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
            target = os.fdopen(fd, 'wb')
        else:
            stream = getattr(self.stdout, '_out', sys.stdout)
            if stream.isatty():
                raise CommandError('refusing to write a tar.gz to a terminal: use --output FILE or redirect')
            stream.flush()
            target = getattr(stream, 'buffer', stream)
        try:
            devices, virtual_machines = host_querysets(export_filters(options))
            bundle = write_monit_tarball(devices, virtual_machines, target, prefix=options['prefix'], secrets=secrets)
        except ValueError as exc:
            if options['output']:
                target.close()
                Path(options['output']).unlink(missing_ok=True)
            raise CommandError(str(exc)) from exc
        if options['output']:
            target.close()
        else:
            target.flush()

        console = Console(file=self.stderr, highlight=False)
        where = options['output'] or 'standard output'
        console.print(Text(f'{len(bundle.hosts)} Monit bundle(s) for {bundle.prefix} written to {where}, '
                           f'{len(bundle.skipped)} host(s) skipped'))
        for skipped in bundle.skipped:
            console.print(Text(f'  skipped {skipped.object_type} #{skipped.id} {skipped.name!r}: {skipped.reason}'))
        if secrets:
            # What was filled in, never the values.
            filled = [f"the collector's password ({secrets.password_env})"] if secrets.collector_password else []
            if secrets.webhook:
                filled.append(f'the Slack webhook ({secrets.webhook_env})')
            else:
                console.print(Text(f'  {secrets.webhook_env} is empty: no Slack webhook, alerts go to syslog only'))
            console.print(Text(f"  secrets files filled with {' and '.join(filled) if filled else 'nothing'}: "
                               f'keep this bundle private and delete it once installed'))
        for host in bundle.hosts:
            for item in host.left_out:
                console.print(Text(f'  {host.alias}: left out {item.what}: {item.reason}'))

    def handle_topology(self, options):
        """Render synchronously (the renderer keeps its own hard timeout); files to --output-dir, notes to stderr.

        An admin tool: without --user it draws everything; with it, exactly what the UI would draw for that user.
        """
        from netbox_triage.exporters.topology import (
            TopologyError,
            topology_for_hosts,
            topology_for_object,
            write_topology_files,
        )
        from netbox_triage.models import Incident

        user = None
        if options['user']:
            user = User.objects.filter(username=options['user']).first()
            if user is None:
                raise CommandError(f"no NetBox user {options['user']!r}")
        try:
            if options['incident']:
                incidents = Incident.objects.all() if user is None else Incident.objects.restrict(user, 'view')
                incident = incidents.filter(pk=options['incident']).first()
                if incident is None:
                    raise CommandError(f"no incident #{options['incident']}" + (' this user may view' if user else ''))
                topology = topology_for_object(incident, user=user, group_by=options['group_by'])
            else:
                topology = topology_for_hosts(export_filters(options), user=user, group_by=options['group_by'])
            paths, messages = write_topology_files(topology, options['output_dir'],
                                                   formats=tuple(options['format'] or ('png', 'svg', 'py')))
        except (TopologyError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        console = Console(file=self.stderr, highlight=False)
        for path in paths:
            self.stdout.write(str(path))
        for message in messages:
            console.print(Text(message))
        if not any(path.suffix in ('.png', '.svg') for path in paths) and set(options['format'] or ('png',)) - {'py'}:
            raise CommandError('no picture was rendered (see the messages above)')
