from django.test import TestCase
from django.urls import reverse_lazy

from core.models import ObjectType
from dcim.models import Device, Site
from ipam.models import IPAddress
from users.models import ObjectPermission, User
from utilities.exceptions import PermissionsViolation
from utilities.testing import TestCase as NetBoxTestCase
from virtualization.models import Cluster, ClusterType, VirtualMachine, VMInterface

from netbox_triage.quick_add import MAX_ADDRESSES, parse_addresses, quick_add_hosts


class ParseAddressesTest(TestCase):
    def test_addresses_and_cidrs(self):
        parsed = parse_addresses('10.0.0.1, 10.0.11.0/30\n2001:db8::1')
        self.assertEqual([str(a) for a in parsed], ['10.0.0.1/32', '10.0.11.1/30', '10.0.11.2/30', '2001:db8::1/128'])

    def test_garbage_is_named(self):
        with self.assertRaisesRegex(ValueError, "'10.0.0.x'"):
            parse_addresses('10.0.0.1 10.0.0.x')

    def test_too_many(self):
        with self.assertRaisesRegex(ValueError, str(MAX_ADDRESSES)):
            parse_addresses('10.0.0.0/8')
        with self.assertRaisesRegex(ValueError, str(MAX_ADDRESSES)):
            parse_addresses('2001:db8::/64')  # counted, not listed: 2**64 addresses would never end
        self.assertEqual(len(parse_addresses('10.0.0.1 10.0.0.2 10.1.0.0/20')), MAX_ADDRESSES)  # 2 + 4,094 hosts
        with self.assertRaisesRegex(ValueError, r"'10.1.0.0/20'.*more than 4096"):
            parse_addresses('10.0.0.1 10.0.0.2 10.0.0.3 10.1.0.0/20')


class QuickAddHostsTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.cluster = Cluster.objects.create(name='c1', type=ClusterType.objects.create(name='t', slug='t'))

    def test_creates_vms_with_primary_ips_and_is_idempotent(self):
        result = quick_add_hosts(parse_addresses('10.0.11.0/30'), kind='vm', cluster=self.cluster)
        self.assertEqual(sorted(h.name for h in result.created), ['host-10-0-11-1', 'host-10-0-11-2'])
        vm = VirtualMachine.objects.get(name='host-10-0-11-1')
        self.assertEqual(str(vm.primary_ip4.address), '10.0.11.1/30')
        again = quick_add_hosts(parse_addresses('10.0.11.0/30 10.0.11.9'), kind='vm', cluster=self.cluster)
        self.assertEqual(len(again.created), 1)
        self.assertEqual({address for address, _reason in again.skipped}, {'10.0.11.1', '10.0.11.2'})
        self.assertEqual(IPAddress.objects.count(), 3)


class QuickAddViewTest(NetBoxTestCase):
    """The add permission on every model quick add creates, and NetBox's object constraints on what it created."""

    url = reverse_lazy('plugins:netbox_triage:quick_add')

    @classmethod
    def setUpTestData(cls):
        cls.sites = [Site.objects.create(name=f's{i}', slug=f's{i}') for i in (1, 2)]

    def created(self):
        return (VirtualMachine.objects.count(), VMInterface.objects.count(), IPAddress.objects.count())

    def test_form_creates_hosts_and_needs_permission(self):
        site = self.sites[0]
        url = self.url
        data = {'addresses': '192.0.2.7', 'kind': 'vm', 'site': site.pk, 'name_prefix': 'q-'}
        self.assertEqual(self.client.post(url, data).status_code, 403)
        self.add_permissions('virtualization.add_virtualmachine', 'ipam.add_ipaddress', 'dcim.view_site')
        self.assertEqual(self.client.get(url).status_code, 403, 'the interface is created too')
        self.assertEqual(self.client.post(url, data).status_code, 403)
        self.add_permissions('virtualization.add_vminterface')
        self.assertEqual(self.client.get(url).status_code, 200)
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(VirtualMachine.objects.filter(name='q-192-0-2-7', site=site).exists())
        response = self.client.post(url, {**data, 'addresses': 'not-an-ip'})
        self.assertContains(response, 'not an IP address')

    def test_devices_need_their_own_permissions(self):
        self.add_permissions('virtualization.add_virtualmachine', 'virtualization.add_vminterface',
                             'ipam.add_ipaddress', 'dcim.add_device', 'dcim.view_site')
        response = self.client.post(self.url, {'addresses': '192.0.2.9', 'kind': 'device', 'site': self.sites[0].pk,
                                               'name_prefix': 'q-'})
        self.assertContains(response, 'dcim.add_interface', status_code=403)
        self.assertFalse(Device.objects.exists())

    def test_object_constraints_on_the_host(self):
        """A user who may add VMs in site s1 only: nothing is created in s2, everything in s1."""
        self.add_permissions('virtualization.add_vminterface', 'ipam.add_ipaddress', 'dcim.view_site')
        grant(self.user, VirtualMachine, {'site__slug': 's1'})
        data = {'addresses': '192.0.2.0/30', 'kind': 'vm', 'site': self.sites[1].pk, 'name_prefix': 'q-'}
        response = self.client.post(self.url, data)
        self.assertContains(response, 'Nothing created: your object permissions do not allow adding virtual machine '
                                      'q-192-0-2-1 and 1 more')
        self.assertEqual(self.created(), (0, 0, 0))
        response = self.client.post(self.url, {**data, 'site': self.sites[0].pk})
        self.assertHttpStatus(response, 302)
        self.assertEqual(self.created(), (2, 2, 2))

    def test_object_constraints_on_every_created_object(self):
        """The VM is allowed, its IP address is not (only reserved ones): the VM and its interface go too."""
        self.add_permissions('virtualization.add_virtualmachine', 'virtualization.add_vminterface', 'dcim.view_site')
        grant(self.user, IPAddress, {'status': 'reserved'})
        data = {'addresses': '192.0.2.7', 'kind': 'vm', 'site': self.sites[0].pk, 'name_prefix': 'q-'}
        response = self.client.post(self.url, data)
        self.assertContains(response, 'do not allow adding IP address 192.0.2.7/32')
        self.assertEqual(self.created(), (0, 0, 0))

    def test_sites_the_user_may_not_view_are_refused(self):
        self.add_permissions('virtualization.add_virtualmachine', 'virtualization.add_vminterface',
                             'ipam.add_ipaddress')
        grant(self.user, Site, {'slug': 's1'}, action='view')
        data = {'addresses': '192.0.2.7', 'kind': 'vm', 'site': self.sites[1].pk, 'name_prefix': 'q-'}
        self.assertHttpStatus(self.client.post(self.url, data), 200)  # the form again, with the error
        self.assertEqual(self.created(), (0, 0, 0))

    def test_the_domain_function_checks_a_user_too(self):
        user = User.objects.create_user(username='constrained')
        grant(user, VMInterface, None)
        grant(user, IPAddress, None)
        grant(user, VirtualMachine, {'site__slug': 's1'})
        with self.assertRaises(PermissionsViolation):
            quick_add_hosts(parse_addresses('192.0.2.7'), kind='vm', site=self.sites[1], user=user)
        self.assertEqual(self.created(), (0, 0, 0))
        result = quick_add_hosts(parse_addresses('192.0.2.7'), kind='vm', site=self.sites[0], user=user)
        self.assertEqual([host.name for host in result.created], ['host-192-0-2-7'])


def grant(user, model, constraints, action='add'):
    permission = ObjectPermission.objects.create(name=f'{action} {model._meta.label} {constraints}',
                                                 actions=[action], constraints=constraints)
    permission.users.add(user)
    permission.object_types.add(ObjectType.objects.get_for_model(model))
