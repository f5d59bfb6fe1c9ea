from django.core.management.base import BaseCommand, CommandError

from dcim.models import DeviceRole, DeviceType, Site
from virtualization.models import Cluster

from netbox_triage.quick_add import parse_addresses, quick_add_hosts


class Command(BaseCommand):
    help = 'Create minimal devices or VMs (name, interface, primary IP) from addresses or CIDRs, ready to probe.'

    def add_arguments(self, parser):
        parser.add_argument('addresses', nargs='+', help='IP addresses and/or CIDRs, e.g. 10.0.0.1 10.0.11.0/29')
        parser.add_argument('--kind', choices=('vm', 'device'), default='vm')
        parser.add_argument('--site', help='site slug (required for devices)')
        parser.add_argument('--role', help='device role slug')
        parser.add_argument('--cluster', help='cluster name (VMs need a site or a cluster)')
        parser.add_argument('--device-type', help='device type slug (required for devices)')
        parser.add_argument('--prefix', default='host-', help='name prefix (default host-)')

    def handle(self, *args, **options):
        def lookup(model, **kwargs):
            value = next(iter(kwargs.values()))
            if value is None:
                return None
            obj = model.objects.filter(**kwargs).first()
            if obj is None:
                raise CommandError(f'no {model._meta.verbose_name} {value!r}')
            return obj

        try:
            addresses = parse_addresses(' '.join(options['addresses']))
        except ValueError as exc:
            raise CommandError(str(exc))
        try:
            result = quick_add_hosts(
                addresses, kind=options['kind'], site=lookup(Site, slug=options['site']),
                role=lookup(DeviceRole, slug=options['role']), cluster=lookup(Cluster, name=options['cluster']),
                device_type=lookup(DeviceType, slug=options['device_type']), name_prefix=options['prefix'],
            )
        except Exception as exc:  # a validation error names the field; nothing was created (atomic)
            raise CommandError(f'nothing created: {exc}')
        for host in result.created:
            self.stdout.write(f'created {host._meta.verbose_name} {host.name}')
        for address, reason in result.skipped:
            self.stdout.write(f'skipped {address}: {reason}')
        self.stdout.write(f'{len(result.created)} created, {len(result.skipped)} skipped')
