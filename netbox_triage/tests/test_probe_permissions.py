"""Who may probe which host, at every door: "Probe now"/"Probe selected" (ProbeView), the incident's "probe the
affected hosts" (IncidentActionView) and POST /api/plugins/triage/probe/.

Probing writes to NetBox, so each door needs add and change on HostFacts and change on each host (object
permission constraints apply); hosts the user may view but not change are skipped and named. `enqueue_probe` is
mocked: what would be enqueued is the point here, the jobs themselves run in test_jobs_and_exports.py and the
end-to-end tests.
"""

from datetime import UTC, datetime
from unittest import mock

from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.urls import reverse

from core.models import ObjectType
from dcim.models import Device
from tenancy.models import Tenant
from users.models import ObjectPermission
from utilities.testing import APITestCase, TestCase, create_test_device, create_test_virtualmachine
from virtualization.models import VirtualMachine

from netbox_triage.models import HostFacts, Incident, IncidentObject
from netbox_triage.probing.apply import apply_probe_result

from .test_host_facts import probe_result

T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
PROBERS = ('netbox_triage.add_hostfacts', 'netbox_triage.change_hostfacts')


def grant(user, model, actions, constraints=None):
    """An ObjectPermission on `model` for `user`, optionally constrained (NetBox's own machinery)."""
    permission = ObjectPermission.objects.create(
        name=f'{model._meta.model_name} {"/".join(actions)} {constraints}', actions=actions, constraints=constraints)
    permission.users.add(user)
    permission.object_types.add(ObjectType.objects.get_for_model(model))


class TwoTenantsMixin:
    """A device and a VM of tenant "blue" and of tenant "red", all probed once; the user will be blue."""

    @classmethod
    def setUpTestData(cls):
        cls.blue = Tenant.objects.create(name='Blue', slug='blue')
        cls.red = Tenant.objects.create(name='Red', slug='red')
        cls.blue_device = create_test_device('blue-db', tenant=cls.blue)
        cls.red_device = create_test_device('red-db', tenant=cls.red)
        cls.blue_vm = create_test_virtualmachine('blue-web')
        cls.red_vm = create_test_virtualmachine('red-web')
        for vm, tenant in ((cls.blue_vm, cls.blue), (cls.red_vm, cls.red)):
            vm.tenant = tenant
            vm.save()
        for host in (cls.blue_device, cls.red_device, cls.blue_vm, cls.red_vm):
            apply_probe_result(host, probe_result(host, 'ubuntu2204'))

    def may_view_all_but_change_blue(self):
        """View on every host, change on tenant blue's hosts only, and the probe permissions."""
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine', *PROBERS)
        grant(self.user, Device, ['change'], {'tenant__slug': 'blue'})
        grant(self.user, VirtualMachine, ['change'], {'tenant__slug': 'blue'})


def names(enqueue):
    return sorted(host.name for host in enqueue.call_args.args[0])


class ProbeViewPermissionTest(TwoTenantsMixin, TestCase):
    def post(self, model='device', **data):
        return self.client.post(reverse('plugins:netbox_triage:probe', kwargs={'model': model}), data)

    def messages(self, response):
        return [str(message) for message in get_messages(response.wsgi_request)]

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_view_and_add_hostfacts_are_not_enough(self, enqueue):
        self.add_permissions('dcim.view_device', 'dcim.change_device', 'netbox_triage.add_hostfacts')
        self.assertHttpStatus(self.post(pk=[self.blue_device.pk]), 403)
        self.add_permissions('netbox_triage.change_hostfacts')
        self.remove_permissions('dcim.change_device')
        response = self.post(pk=[self.blue_device.pk])
        self.assertHttpStatus(response, 302)
        enqueue.assert_not_called()
        self.assertIn('Not probed, as you may not change them: blue-db.', self.messages(response))

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_selected_hosts_are_probed_where_the_user_may_change_them(self, enqueue):
        self.may_view_all_but_change_blue()
        response = self.post(pk=[self.blue_device.pk, self.red_device.pk])
        self.assertHttpStatus(response, 302)
        self.assertEqual(names(enqueue), ['blue-db'])
        self.assertEqual(enqueue.call_args.kwargs, {'user': self.user})
        self.assertIn('Not probed, as you may not change them: red-db.', self.messages(response))

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_probe_all_of_a_filtered_list(self, enqueue):
        self.may_view_all_but_change_blue()
        self.assertHttpStatus(self.post(model='virtualmachine', _all='1', filter=''), 302)
        self.assertEqual(names(enqueue), ['blue-web'])
        enqueue.reset_mock()
        response = self.post(model='virtualmachine', _all='1', filter='tenant=red')
        enqueue.assert_not_called()
        self.assertIn('Not probed, as you may not change them: red-web.', self.messages(response))

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_hosts_the_user_may_not_view_are_not_named(self, enqueue):
        self.add_permissions(*PROBERS, 'dcim.change_device')
        grant(self.user, Device, ['view'], {'tenant__slug': 'blue'})
        response = self.post(pk=[self.blue_device.pk, self.red_device.pk])
        self.assertEqual(names(enqueue), ['blue-db'])
        self.assertFalse(any('red-db' in message for message in self.messages(response)))

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_facts_the_user_may_not_change_are_not_probed(self, enqueue):
        """Change on every device, but on the facts of blue's hosts only: red-db (probed before) is skipped, a
        host never probed has no facts to protect yet."""
        self.add_permissions('dcim.view_device', 'dcim.change_device', 'netbox_triage.add_hostfacts')
        grant(self.user, HostFacts, ['change'], {'device__tenant__slug': 'blue'})
        fresh = create_test_device('red-new', tenant=self.red)
        response = self.post(pk=[self.blue_device.pk, self.red_device.pk, fresh.pk])
        self.assertEqual(names(enqueue), ['blue-db', 'red-new'])
        self.assertIn('Not probed, as you may not change them: red-db.', self.messages(response))

    def test_probe_now_button_follows_the_permission(self):
        self.may_view_all_but_change_blue()
        self.add_permissions('netbox_triage.view_hostfacts')
        self.assertContains(self.client.get(self.blue_device.get_absolute_url()), 'Probe now')
        self.assertNotContains(self.client.get(self.red_device.get_absolute_url()), 'Probe now')
        self.remove_permissions('netbox_triage.change_hostfacts')
        self.assertNotContains(self.client.get(self.blue_device.get_absolute_url()), 'Probe now')
        self.assertNotContains(self.client.get(reverse('dcim:device_list')), 'Probe selected')


class IncidentProbeActionPermissionTest(TwoTenantsMixin, TestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.incident = Incident.objects.create(title='Checkout down', started_at=T0)
        for host in (cls.blue_device, cls.red_device, cls.blue_vm, cls.red_vm):
            IncidentObject.objects.create(incident=cls.incident, object_type=ContentType.objects.get_for_model(host),
                                          object_id=host.pk)
        cls.url = reverse('plugins:netbox_triage:incident_action', kwargs={'pk': cls.incident.pk})

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_only_the_affected_hosts_the_user_may_change(self, enqueue):
        self.may_view_all_but_change_blue()
        self.add_permissions('netbox_triage.view_incident')
        response = self.client.post(self.url, {'action': 'probe'})
        self.assertHttpStatus(response, 302)
        self.assertEqual(names(enqueue), ['blue-db', 'blue-web'])
        self.assertIn('Not probed, as you may not change them: red-db, red-web.',
                      [str(message) for message in get_messages(response.wsgi_request)])

    @mock.patch('netbox_triage.views.enqueue_probe')
    def test_refused_without_change_on_host_facts(self, enqueue):
        self.add_permissions('netbox_triage.view_incident', 'dcim.view_device', 'dcim.change_device',
                             'netbox_triage.add_hostfacts')
        self.assertHttpStatus(self.client.post(self.url, {'action': 'probe'}), 403)
        enqueue.assert_not_called()
        self.assertNotContains(self.client.get(self.incident.get_absolute_url()), 'Probe them')


class ProbeAPIPermissionTest(TwoTenantsMixin, APITestCase):
    def post(self, data):
        return self.client.post(reverse('plugins-api:netbox_triage-api:probe'), data, format='json', **self.header)

    @mock.patch('netbox_triage.api.views.enqueue_probe', return_value=[])
    def test_skipped_hosts_are_listed(self, enqueue):
        self.may_view_all_but_change_blue()
        response = self.post({'devices': [self.blue_device.pk, self.red_device.pk],
                              'virtual_machines': [self.blue_vm.pk, self.red_vm.pk]})
        self.assertHttpStatus(response, 202)
        self.assertEqual(names(enqueue), ['blue-db', 'blue-web'])
        self.assertEqual(response.data['hosts'], 2)
        self.assertEqual(
            sorted((entry['object_type'], entry['id'], entry['name']) for entry in response.data['skipped']),
            [('dcim.device', self.red_device.pk, 'red-db'),
             ('virtualization.virtualmachine', self.red_vm.pk, 'red-web')],
        )

    @mock.patch('netbox_triage.api.views.enqueue_probe', return_value=[])
    def test_filters_are_restricted_too(self, enqueue):
        self.may_view_all_but_change_blue()
        response = self.post({'device_filter': {'tenant': ['blue', 'red']}})
        self.assertHttpStatus(response, 202)
        self.assertEqual(names(enqueue), ['blue-db'])
        enqueue.reset_mock()
        response = self.post({'device_filter': {'tenant': ['red']}, 'virtual_machine_filter': {'tenant': ['red']}})
        self.assertHttpStatus(response, 403)
        self.assertEqual(len(response.data['skipped']), 2)
        enqueue.assert_not_called()

    @mock.patch('netbox_triage.api.views.enqueue_probe', return_value=[])
    def test_refused_without_change_permissions(self, enqueue):
        self.add_permissions('dcim.view_device', 'dcim.change_device', 'netbox_triage.add_hostfacts')
        self.assertHttpStatus(self.post({'devices': [self.blue_device.pk]}), 403)
        self.add_permissions('netbox_triage.change_hostfacts')
        self.remove_permissions('dcim.change_device')
        response = self.post({'devices': [self.blue_device.pk]})
        self.assertHttpStatus(response, 403)
        self.assertEqual(response.data['skipped'][0]['reason'], 'you may not change this device')
        enqueue.assert_not_called()
