"""The doors to the domain code: background jobs (probe → rules, fleet rules after a batch, topology) and the
Monit and topology downloads in the UI and the REST API.

Jobs run in-process here (`immediate=True`: NetBox's own synchronous path); the RQ worker runs them in the
end-to-end tests (tests/test_discoveries_e2e.py).
"""

import base64
import io
import tarfile
import uuid
from unittest import mock

from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from core.choices import JobStatusChoices
from core.models import Job
from dcim.models import Site
from users.models import ObjectPermission
from utilities.testing import APITestCase, TestCase
from virtualization.models import VirtualMachine

from netbox_triage.demo import load_demo
from netbox_triage.fleet.manifest import SEED_HOSTS
from netbox_triage.jobs import RulesJob, TopologyJob, latest_topology, topology_key
from netbox_triage.models import *
from netbox_triage.probing.apply import apply_probe_result

from .test_host_facts import probe_result

DEMO_SETTINGS = {'allowed_networks': ['127.0.0.0/8', '::1/128'], 'active_http_checks': False}


def load_probed_demo():
    demo = load_demo()
    for name, _address, profile in SEED_HOSTS:
        host = type(demo['hosts'][name]).objects.get(pk=demo['hosts'][name].pk)
        apply_probe_result(host, probe_result(host, profile), raw_section_max_bytes=65536)
    return demo


@override_settings(PLUGINS_CONFIG={'netbox_triage': DEMO_SETTINGS})
class RulesJobTest(TestCase):

    @classmethod
    def setUpTestData(cls):
        cls.demo = load_probed_demo()

    def test_rules_job_records_discoveries_and_its_summary(self):
        job = RulesJob.enqueue(name='Triage rules', user=self.user, hosts=None, immediate=True)
        job.refresh_from_db()
        self.assertEqual(job.status, JobStatusChoices.STATUS_COMPLETED, job.error)
        self.assertGreater(job.data['rules']['created'], 20)
        self.assertTrue(Discovery.objects.filter(rule='cluster_drift').exists())

    def test_fleet_rules_wait_for_the_probe_jobs_of_their_batch(self):
        probe = Job.objects.create(name='Triage probe (1/2)', job_id=uuid.uuid4(),
                                   status=JobStatusChoices.STATUS_RUNNING)
        with mock.patch.object(RulesJob, 'enqueue', wraps=RulesJob.enqueue) as enqueue:
            RulesJob.enqueue(name='Triage rules (fleet, after probe)', user=self.user, hosts=[], after=[probe.pk],
                             immediate=True)
            # The running job made it look again later, with the same batch and no rule run yet.
            self.assertEqual(enqueue.call_count, 2)
            again = enqueue.call_args_list[1].kwargs
        self.assertEqual((again['after'], again['waited']), ([probe.pk], 10))
        self.assertIn('schedule_at', again)
        self.assertFalse(Discovery.objects.exists())

    def test_per_host_rules_leave_other_hosts_alone(self):
        be1 = self.demo['hosts']['be-1']
        RulesJob.enqueue(name='Triage rules', user=self.user, hosts=[f'virtualization.virtualmachine:{be1.pk}'],
                         fleet=False, immediate=True)
        self.assertEqual(set(Discovery.objects.values_list('subject_key', flat=True)),
                         {f'virtualization.virtualmachine:{be1.pk}'})

    def test_triage_rules_command(self):
        out = io.StringIO()
        call_command('triage_rules', '--vm', 'be-1', '--user', self.user.username, stdout=out)
        self.assertIn('Red Hat Enterprise Linux 4', out.getvalue())
        out = io.StringIO()
        call_command('triage_rules', '--vm', 'be-1', stdout=out)
        self.assertRegex(out.getvalue(), r'unchanged\s*│\s*\d')
        call_command('triage_rules', '--list', stdout=io.StringIO())


@override_settings(PLUGINS_CONFIG={'netbox_triage': DEMO_SETTINGS}, EXEMPT_VIEW_PERMISSIONS=['*'])
class TopologyDoorsTest(APITestCase):

    @classmethod
    def setUpTestData(cls):
        cls.demo = load_probed_demo()
        cls.incident = cls.demo['incident']

    def setUp(self):
        super().setUp()
        self.client.force_login(self.user)  # the UI views; the REST ones use the token header

    def render(self, obj):
        job = TopologyJob.enqueue(name=f'Triage topology: {obj} ({topology_key(obj)})', user=self.user,
                                  object_key=topology_key(obj), group_by='cluster', immediate=True)
        job.refresh_from_db()
        self.assertEqual(job.status, JobStatusChoices.STATUS_COMPLETED, job.error)
        return job

    def test_job_keeps_pictures_and_source_and_the_page_shows_them(self):
        job = self.render(self.incident)
        part = job.data['parts'][0]
        self.assertTrue(base64.b64decode(part['png']).startswith(b'\x89PNG'))
        self.assertIn('<svg', part['svg'])
        self.assertNotIn('<script', part['svg'])
        self.assertIn('from diagrams', part['source'])
        self.assertEqual(latest_topology(self.incident, self.user)[1], job)
        url = reverse('plugins:netbox_triage:topology', args=['netbox_triage.incident', self.incident.pk])
        response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        self.assertContains(response, 'data:image/svg+xml;base64,')
        png = self.client.get(url + '?download=png')
        self.assertEqual(png['Content-Type'], 'image/png')
        self.assertTrue(png.content.startswith(b'\x89PNG'))
        self.assertHttpStatus(self.client.get(url + '?download=exe'), 404)
        self.assertHttpStatus(self.client.get(url + '?download=png&part=9'), 404)
        # The incident page's panel shows the same picture.
        page = self.client.get(self.incident.get_absolute_url())
        self.assertContains(page, 'data:image/svg+xml;base64,')

    def test_page_posts_a_render_job(self):
        site = Site.objects.get(name='Customer DC')
        url = reverse('plugins:netbox_triage:topology', args=['dcim.site', site.pk])
        with mock.patch('netbox_triage.views.enqueue_topology') as enqueue:
            response = self.client.post(url, {'group_by': 'role'})
            self.assertHttpStatus(response, 302)
            enqueue.assert_called_once_with(site, user=self.user, group_by='role')
            self.assertHttpStatus(self.client.post(url, {'group_by': 'colour'}), 400)
        self.assertHttpStatus(self.client.get(reverse('plugins:netbox_triage:topology', args=['dcim.device', 1])), 404)

    def test_objects_the_user_may_not_view_are_404(self):
        obj_perm = ObjectPermission(name='one site', actions=['view'], constraints={'name': 'elsewhere'})
        obj_perm.save()
        obj_perm.users.add(self.user)
        obj_perm.object_types.add(*[ct for ct in __import__('core.models', fromlist=['ObjectType']).ObjectType
                                    .objects.filter(app_label='dcim', model='site')])
        site = Site.objects.get(name='Customer DC')
        with override_settings(EXEMPT_VIEW_PERMISSIONS=[]):
            response = self.client.get(reverse('plugins:netbox_triage:topology', args=['dcim.site', site.pk]))
        self.assertHttpStatus(response, 404)

    def test_rest_get_post_and_download(self):
        self.add_permissions('dcim.view_device')
        url = reverse('plugins-api:netbox_triage-api:topology')
        params = f'?object_type=netbox_triage.incident&object_id={self.incident.pk}'
        response = self.client.get(url + params, **self.header)
        self.assertEqual((response.status_code, response.data['job']), (200, None))
        self.assertEqual(self.client.get(url + params + '&download=png', **self.header).status_code, 404)
        self.render(self.incident)
        response = self.client.get(url + params, **self.header)
        self.assertEqual(response.data['parts'][0]['ok'], True)
        svg = self.client.get(url + params + '&download=svg', **self.header)
        self.assertEqual(svg['Content-Type'], 'image/svg+xml')
        self.assertIn(b'<svg', svg.content)
        self.assertEqual(self.client.get(url + '?object_type=dcim.device&object_id=1', **self.header).status_code,
                         400)
        with mock.patch('netbox_triage.jobs.TopologyJob.enqueue') as enqueue:
            enqueue.return_value = Job(pk=7, job_id=uuid.uuid4(), status='pending')
            response = self.client.post(url, {'object_type': 'netbox_triage.incident',
                                              'object_id': self.incident.pk}, format='json', **self.header)
        self.assertEqual((response.status_code, response.data['job']), (202, 7))


@override_settings(PLUGINS_CONFIG={'netbox_triage': DEMO_SETTINGS})
class MonitDoorsTest(APITestCase):

    @classmethod
    def setUpTestData(cls):
        cls.demo = load_probed_demo()

    def setUp(self):
        super().setUp()
        self.client.force_login(self.user)

    def members(self, data):
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:gz') as tar:
            return tar.getnames()

    def test_ui_download_of_one_host_and_of_a_list(self):
        self.add_permissions('virtualization.view_virtualmachine', 'dcim.view_device')
        be1 = self.demo['hosts']['be-1']
        url = reverse('plugins:netbox_triage:monit_export')
        response = self.client.get(f'{url}?host_type=virtualmachine&id={be1.pk}')
        self.assertHttpStatus(response, 200)
        self.assertEqual(response['Content-Type'], 'application/gzip')
        self.assertIn('monit-be-1.tar.gz', response['Content-Disposition'])
        names = self.members(response.content)
        self.assertIn('be-1/monitrc', names)
        self.assertFalse(any(name.startswith('fe-1/') for name in names))
        everything = self.members(self.client.get(url).content)
        self.assertIn('haproxy-1/monitrc', everything)
        self.assertHttpStatus(self.client.get(url + '?prefix=relative/path'), 400)

    def test_ui_download_honours_permissions(self):
        self.add_permissions('virtualization.view_virtualmachine')  # no devices
        names = self.members(self.client.get(reverse('plugins:netbox_triage:monit_export')).content)
        self.assertIn('be-1/monitrc', names)
        self.assertNotIn('haproxy-1/monitrc', names)

    def test_rest_tarball_and_json(self):
        self.add_permissions('virtualization.view_virtualmachine', 'dcim.view_device')
        url = reverse('plugins-api:netbox_triage-api:monit_export')
        response = self.client.get(url + '?cluster_id=' + str(VirtualMachine.objects.get(name='be-1').cluster_id),
                                   **self.header)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(sorted(n for n in self.members(response.content) if n.endswith('/monitrc')),
                         ['be-1/monitrc', 'be-2/monitrc', 'be-3/monitrc'])
        summary = self.client.get(url + '?format=json', **self.header)
        self.assertEqual(summary.status_code, 200)
        self.assertIn('hosts', summary.json())
        self.assertEqual(self.client.get(url + '?no_such_filter=1', **self.header).status_code, 400)
        self.assertEqual(APIClient().get(url, HTTP_AUTHORIZATION='Bearer nbt_x.y').status_code, 403)


@override_settings(PLUGINS_CONFIG={'netbox_triage': DEMO_SETTINGS}, EXEMPT_VIEW_PERMISSIONS=['*'])
class IncidentActionsTest(TestCase):
    """The incident workspace's quick actions act on the hosts the incident affects, and on nothing else."""

    @classmethod
    def setUpTestData(cls):
        cls.demo = load_probed_demo()
        cls.incident = cls.demo['incident']

    def test_probe_the_affected_hosts(self):
        self.add_permissions('netbox_triage.add_hostfacts', 'netbox_triage.change_hostfacts', 'dcim.change_device',
                             'virtualization.change_virtualmachine')
        url = reverse('plugins:netbox_triage:incident_action', kwargs={'pk': self.incident.pk})
        with mock.patch('netbox_triage.views.enqueue_probe') as enqueue:
            self.assertHttpStatus(self.client.post(url, {'action': 'probe'}), 302)
        names = sorted(host.name for host in enqueue.call_args.args[0])
        # haproxy-1 and mysql-1 directly, be-1..3 directly and through the Backend Cluster.
        self.assertEqual(names, ['be-1', 'be-2', 'be-3', 'haproxy-1', 'mysql-1'])
        self.assertHttpStatus(self.client.post(url, {'action': 'rules'}), 403)
        self.assertHttpStatus(self.client.post(url, {'action': 'reboot'}), 400)

    def test_exports_of_the_affected_hosts(self):
        response = self.client.get(reverse('plugins:netbox_triage:ssh_config_export') + f'?incident={self.incident.pk}')
        self.assertHttpStatus(response, 200)
        text = response.content.decode()
        self.assertIn('Host be-1', text)
        self.assertNotIn('Host fe-1', text)
        self.assertHttpStatus(self.client.get(reverse('plugins:netbox_triage:ssh_config_export') + '?incident=999'),
                              400)
