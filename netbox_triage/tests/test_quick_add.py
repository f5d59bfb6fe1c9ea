from django.test import TestCase
from django.urls import reverse

from dcim.models import Site
from ipam.models import IPAddress
from utilities.testing import TestCase as NetBoxTestCase
from virtualization.models import Cluster, ClusterType, VirtualMachine

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
    def test_form_creates_hosts_and_needs_permission(self):
        site = Site.objects.create(name='s1', slug='s1')
        url = reverse('plugins:netbox_triage:quick_add')
        data = {'addresses': '192.0.2.7', 'kind': 'vm', 'site': site.pk, 'name_prefix': 'q-'}
        self.assertEqual(self.client.post(url, data).status_code, 403)
        self.add_permissions('virtualization.add_virtualmachine', 'ipam.add_ipaddress')
        self.assertEqual(self.client.get(url).status_code, 200)
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(VirtualMachine.objects.filter(name='q-192-0-2-7', site=site).exists())
        response = self.client.post(url, {**data, 'addresses': 'not-an-ip'})
        self.assertContains(response, 'not an IP address')
