"""Topology diagrams honour NetBox object permissions, in every door.

A user restricted to tenant A never sees a host of tenant B in a diagram: not in a render they request (nodes,
labels, edges to hidden neighbours, services, clusters, facts, discoveries), and not through a render someone who
sees more made (the object pages' panel, the topology page and its downloads, REST, the post-mortem, the CLI).
Renders are real: `diagrams` and Graphviz's `dot` run in a subprocess, as in production.
"""

import base64
import io
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import skipUnless

from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.choices import JobStatusChoices
from core.models import Job, ObjectType
from dcim.models import Device, Site
from ipam.models import IPAddress, Service
from tenancy.models import Tenant
from users.models import ObjectPermission, Token, User
from utilities.testing import APITestCase, create_test_device
from utilities.testing.api import TOKEN_PREFIX
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.choices import DependencyKindChoices, SeverityChoices
from netbox_triage.exporters.topology import SHOWN_MODELS, generate_source, topology_for_object
from netbox_triage.jobs import RECENT_RENDERS, TopologyJob, latest_topology, topology_key, viewable_render
from netbox_triage.models import Dependency, Discovery, HostFacts, Incident, IncidentObject

DOT = shutil.which('dot')
SVG_URI = 'data:image/svg+xml;base64,'
NOTHING = 'No diagram you may see yet'
# What only tenant B's readers (and admins) may see: names, the address, labels, the hidden finding.
SECRETS = ('secret', '198.51.100.7', 'nope')


def depend(source, target, kind=DependencyKindChoices.USES, port=None, label=''):
    return Dependency.objects.create(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk,
        kind=kind, port=port, label=label,
    )


def service(name, host, port):
    return Service.objects.create(parent=host, name=name, port_mappings=[f'tcp/{port}'])


def finding(obj, rule, severity):
    return Discovery.objects.create(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk, rule=rule,
                                    title=f'{rule} finding', severity=severity, subject_key=f'{rule}:{obj.pk}')


def names(topology):
    return {node.name for part in topology.parts for node in part.nodes}


@override_settings(EXEMPT_VIEW_PERMISSIONS=[])
class TopologyPermissionTest(APITestCase):
    """`testuser` may view tenant A's hosts and clusters, the `ok-` services and dependencies, the `ok` rule's
    discoveries and the Debian hosts' facts; `admin` is a superuser."""

    @classmethod
    def setUpTestData(cls):
        tenant_a = Tenant.objects.create(name='Tenant A', slug='tenant-a')
        tenant_b = Tenant.objects.create(name='Tenant B', slug='tenant-b')
        cls.site = Site.objects.create(name='Shared DC', slug='shared-dc')
        cluster_type = ClusterType.objects.create(name='VMware', slug='vmware')
        cls.cluster_a = Cluster.objects.create(name='Cluster A', type=cluster_type, tenant=tenant_a)
        cls.cluster_b = Cluster.objects.create(name='secret-cluster-b', type=cluster_type, tenant=tenant_b)
        cls.a1 = create_test_device('a-web-1', site=cls.site, tenant=tenant_a, cluster=cls.cluster_a)
        cls.a2 = create_test_device('a-app-2', site=cls.site, tenant=tenant_a, cluster=cls.cluster_a)
        cls.b1 = create_test_device('secret-b-db-1', site=cls.site, tenant=tenant_b)
        cls.bvm = VirtualMachine.objects.create(name='secret-b-vm', site=cls.site, cluster=cls.cluster_b,
                                                tenant=tenant_b)
        Device.objects.filter(pk=cls.b1.pk).update(primary_ip4=IPAddress.objects.create(address='198.51.100.7/24'))

        depend(cls.a1, cls.a2, port=8080, label='ok-app')
        depend(cls.a1, cls.a2, kind=DependencyKindChoices.OTHER, port=9999, label='nope-dependency')
        depend(cls.a1, cls.b1, port=3306, label='ok-mysql')  # visible dependency, hidden neighbour
        depend(cls.a2, service('ok-redis', cls.b1, 6379), port=6379, label='ok-redis')  # visible service, hidden host
        depend(cls.a1, service('nope-pg', cls.a2, 5432), port=5432, label='ok-pg')  # hidden service, visible host
        depend(cls.a1, cls.cluster_b, label='ok-backup')  # hidden cluster
        depend(cls.b1, cls.bvm, kind=DependencyKindChoices.REPLICA, label='ok-replica')
        finding(cls.a1, 'ok', SeverityChoices.HIGH)
        finding(cls.a1, 'nope', SeverityChoices.CRITICAL)  # on a visible host, but not for the tenant's eyes
        finding(cls.b1, 'ok', SeverityChoices.CRITICAL)
        HostFacts.objects.create(device=cls.a1, os_name='Debian',
                                 facts={'listening': [{'port': 80, 'process': 'nginx'}]})
        HostFacts.objects.create(device=cls.a2, os_name='Hidden OS',
                                 facts={'listening': [{'port': 5432, 'process': 'postgres'}]})
        cls.incident = Incident.objects.create(title='The night', started_at=timezone.now(), tenant=tenant_a)
        for obj in (cls.a1, cls.b1, cls.cluster_b):
            IncidentObject.objects.create(incident=cls.incident, object_type=ContentType.objects.get_for_model(obj),
                                          object_id=obj.pk)
        cls.admin = User.objects.create_user(username='admin', is_superuser=True)

    def setUp(self):
        super().setUp()
        for name, constraints in (
            ('dcim.view_device', {'tenant__slug': 'tenant-a'}),
            ('virtualization.view_virtualmachine', {'tenant__slug': 'tenant-a'}),
            ('virtualization.view_cluster', {'tenant__slug': 'tenant-a'}),
            ('ipam.view_service', {'name__startswith': 'ok-'}),
            ('dcim.view_site', None),
            ('netbox_triage.view_dependency', {'label__startswith': 'ok-'}),
            ('netbox_triage.view_discovery', {'rule': 'ok'}),
            ('netbox_triage.view_hostfacts', {'os_name': 'Debian'}),
            ('netbox_triage.view_incident', {'tenant__slug': 'tenant-a'}),
        ):
            app_label, codename = name.split('.')
            action, _sep, model = codename.partition('_')
            permission = ObjectPermission.objects.create(name=name, actions=[action], constraints=constraints)
            permission.users.add(self.user)
            permission.object_types.add(ObjectType.objects.get(app_label=app_label, model=model))
        self.client.force_login(self.user)
        token = Token.objects.create(user=self.admin)
        self.admin_header = {'HTTP_AUTHORIZATION': f'Bearer {TOKEN_PREFIX}{token.key}.{token.token}'}

    # --- a render the user asks for ------------------------------------------------------------------------

    def assert_tenant_only(self, topology):
        self.assertLessEqual(names(topology), {'a-web-1', 'a-app-2'})
        for part in topology.parts:
            source = generate_source(part)
            for secret in SECRETS:
                self.assertNotIn(secret, source)
        # What the render records it shows is all the user may view, so their own render is shown back to them.
        for label, ids in topology.objects.items():
            visible = SHOWN_MODELS[label].objects.restrict(self.user, 'view').filter(pk__in=ids).count()
            self.assertEqual(visible, len(ids), label)

    def test_a_render_shows_only_what_the_user_may_view(self):
        for obj in (self.site, self.cluster_a, self.incident):
            with self.subTest(obj=str(obj)):
                self.assert_tenant_only(topology_for_object(obj, user=self.user))

        mine = topology_for_object(self.site, user=self.user)
        graph = mine.parts[0]
        nodes = {node.name: node for node in graph.nodes}
        self.assertEqual(set(nodes), {'a-web-1', 'a-app-2'})
        self.assertEqual([(e.label, e.port) for e in graph.edges], [('ok-app', 8080)])
        self.assertEqual((nodes['a-web-1'].findings, nodes['a-web-1'].severity), (1, SeverityChoices.HIGH))
        self.assertEqual((nodes['a-web-1'].icon, nodes['a-app-2'].icon), ('nginx', 'server'))  # a2's facts: hidden
        self.assertEqual(mine.objects['netbox_triage.discovery'],
                         list(Discovery.objects.filter(rule='ok', object_id=self.a1.pk).values_list('pk', flat=True)))

        # The same object, unrestricted (the CLI's default, or an admin): the secrets are really there.
        everything = topology_for_object(self.site, user=None)
        self.assertEqual(names(everything), {'a-web-1', 'a-app-2', 'secret-b-db-1', 'secret-b-vm', 'secret-cluster-b'})
        source = generate_source(everything.parts[0])
        for text in ('198.51.100.7', 'nope-dependency', 'ok-mysql', 'ok-pg', '[!] 2 open, critical'):
            self.assertIn(text, source)
        self.assertEqual(names(topology_for_object(self.site, user=self.admin)), names(everything))

    def test_a_cluster_page_draws_no_hidden_neighbour(self):
        everything = topology_for_object(self.cluster_a, user=None)
        self.assertIn('secret-b-db-1', names(everything))
        self.assertIn('secret-cluster-b', names(everything))
        mine = topology_for_object(self.cluster_a, user=self.user)
        self.assertEqual(names(mine), {'a-web-1', 'a-app-2'})
        self.assertFalse([node for node in mine.parts[0].nodes if node.neighbour])

    def test_a_restricted_render_costs_the_same_queries_for_any_number_of_hosts(self):
        def cost():
            topology_for_object(self.site, user=self.user)  # warm the permission and content type caches
            with CaptureQueriesContext(connection) as queries:
                topology = topology_for_object(self.site, user=self.user)
            return len(queries), topology

        small, before = cost()
        for n in range(10):
            for tenant, prefix in ((self.a1.tenant, 'a-more'), (self.b1.tenant, 'secret-more')):
                host = create_test_device(f'{prefix}-{n}', site=self.site, tenant=tenant)
                depend(host, self.a1, port=443, label='ok-more')
                finding(host, 'ok', SeverityChoices.LOW)
                HostFacts.objects.create(device=host, os_name='Debian', facts={})
        large, after = cost()
        self.assertEqual(small, large)
        self.assertEqual((len(names(before)), len(names(after))), (2, 12))
        self.assertEqual(len(after.objects['netbox_triage.hostfacts']), 11)

    def test_the_cli_draws_everything_or_what_user_may_view(self):
        def source(*options):
            with tempfile.TemporaryDirectory() as directory:
                call_command('triage_export', 'topology', *options, '--format', 'py', '--output-dir', directory,
                             stdout=io.StringIO(), stderr=io.StringIO())
                return Path(directory, 'topology.py').read_text()

        for selection in (('--site', 'shared-dc'), ('--incident', str(self.incident.pk))):
            with self.subTest(selection=selection):
                self.assertIn('secret-b-db-1', source(*selection))
                mine = source(*selection, '--user', 'testuser')
                self.assertIn('a-web-1', mine)
                for secret in SECRETS:
                    self.assertNotIn(secret, mine)
        with self.assertRaisesMessage(Exception, "no NetBox user 'nobody'"):
            source('--site', 'shared-dc', '--user', 'nobody')

    # --- saved renders --------------------------------------------------------------------------------------

    def render(self, obj, user):
        job = TopologyJob.enqueue(name=f'Triage topology: {obj} ({topology_key(obj)})', user=user,
                                  object_key=topology_key(obj), group_by='cluster', immediate=True)
        job.refresh_from_db()
        self.assertEqual(job.status, JobStatusChoices.STATUS_COMPLETED, job.error)
        self.assertTrue(job.data['parts'][0]['png'], job.data['parts'][0]['message'])
        return job

    def doors(self, obj, header=None):
        """What each door shows the logged-in user (UI) or the token's user (REST) of the saved renders."""
        url = reverse('plugins:netbox_triage:topology', args=[obj._meta.label_lower, obj.pk])
        api = reverse('plugins-api:netbox_triage-api:topology')
        params = f'?object_type={obj._meta.label_lower}&object_id={obj.pk}'
        page = self.client.get(url)
        self.assertHttpStatus(page, 200)
        panel = self.client.get(obj.get_absolute_url())
        self.assertHttpStatus(panel, 200)
        downloads = {kind: self.client.get(f'{url}?download={kind}') for kind in ('png', 'svg', 'py')}
        rest = self.client.get(api + params, **(header or self.header))
        self.assertHttpStatus(rest, 200)
        rest_downloads = {kind: self.client.get(f'{api}{params}&download={kind}', **(header or self.header))
                          for kind in ('png', 'svg', 'py')}
        return page.content.decode(), panel.content.decode(), downloads, rest.data, rest_downloads

    def postmortem(self):
        response = self.client.get(reverse('plugins:netbox_triage:incident_postmortem', args=[self.incident.pk]))
        self.assertHttpStatus(response, 200)
        return response.content.decode()

    @skipUnless(DOT, 'Graphviz (dot) is not installed')
    def test_an_admins_render_never_reaches_a_restricted_user(self):
        site_render, incident_render = self.render(self.site, self.admin), self.render(self.incident, self.admin)
        self.assertIn(self.b1.pk, site_render.data['objects']['dcim.device'])
        self.assertIn('secret-b-db-1', site_render.data['parts'][0]['source'])

        for obj in (self.site, self.incident):
            with self.subTest(obj=str(obj)):
                page, panel, downloads, rest, rest_downloads = self.doors(obj)
                for html in (page, panel):  # (assertTrue: a failure need not print the whole page)
                    self.assertTrue(SVG_URI not in html, 'a picture is shown')
                    self.assertTrue(NOTHING in html and 'name="group_by"' in html, 'no message or Render button')
                for response in (*downloads.values(), *rest_downloads.values()):
                    self.assertHttpStatus(response, 404)
                self.assertEqual((rest['job'], rest['parts']), (None, []))
                self.assertIn(NOTHING, rest['messages'][0])
        postmortem = self.postmortem()
        self.assertTrue('data:image/png' not in postmortem.split('## Topology')[1], "the admin's diagram is embedded")
        self.assertIn('No diagram you may see was rendered', postmortem)

        # The admin still sees the admin's render, in every door.
        self.client.force_login(self.admin)
        for obj, job in ((self.site, site_render), (self.incident, incident_render)):
            with self.subTest(admin=str(obj)):
                page, panel, downloads, rest, rest_downloads = self.doors(obj, self.admin_header)
                svg = SVG_URI + base64.b64encode(job.data['parts'][0]['svg'].encode()).decode()
                self.assertTrue(svg in page and svg in panel, "the admin's picture is not shown")
                self.assertEqual(downloads['png'].content, base64.b64decode(job.data['parts'][0]['png']))
                self.assertIn(b'secret-b-db-1', downloads['py'].content)
                self.assertEqual(rest['job'], job.pk)
                self.assertIn(b'secret-b-db-1', rest_downloads['svg'].content)
        self.assertTrue(f'data:image/png;base64,{incident_render.data["parts"][0]["png"]}' in self.postmortem())

    @skipUnless(DOT, 'Graphviz (dot) is not installed')
    def test_the_user_sees_the_newest_render_they_may_view_in_full(self):
        mine = {obj: self.render(obj, self.user) for obj in (self.site, self.incident)}
        for job in mine.values():
            for secret in SECRETS:
                self.assertNotIn(secret, job.data['parts'][0]['source'])
                self.assertNotIn(secret, job.data['parts'][0]['svg'])
        admins = {obj: self.render(obj, self.admin) for obj in (self.site, self.incident)}

        for obj in (self.site, self.incident):
            with self.subTest(obj=str(obj)):
                self.assertEqual(latest_topology(obj, self.user)[1], mine[obj])
                self.assertEqual(latest_topology(obj, self.admin)[1], admins[obj])
                page, panel, downloads, rest, rest_downloads = self.doors(obj)
                part = mine[obj].data['parts'][0]
                svg = SVG_URI + base64.b64encode(part['svg'].encode()).decode()
                self.assertTrue(svg in page and svg in panel, "the user's own picture is not shown")
                self.assertEqual(downloads['png'].content, base64.b64decode(part['png']))
                self.assertEqual(downloads['py'].content.decode(), part['source'])
                self.assertEqual(rest['job'], mine[obj].pk)
                self.assertEqual(rest_downloads['svg'].content.decode(), part['svg'])
                for response in (*downloads.values(), *rest_downloads.values()):
                    for secret in SECRETS:
                        self.assertNotIn(secret.encode(), response.content)
        postmortem = self.postmortem()
        self.assertTrue(f'data:image/png;base64,{mine[self.incident].data["parts"][0]["png"]}' in postmortem)
        self.assertTrue(admins[self.incident].data['parts'][0]['png'] not in postmortem)

    # --- which saved render, at what cost ---------------------------------------------------------------------

    def saved(self, objects, minutes=0):
        """A completed render of the site recording `objects` (no pictures: only the choice is under test)."""
        data = {'object': topology_key(self.site), 'group_by': 'cluster', 'parts': [], 'messages': []}
        if objects is not None:
            data['objects'] = objects
        return Job.objects.create(name=f'Triage topology: {self.site} ({topology_key(self.site)})',
                                  job_id=uuid.uuid4(), status=JobStatusChoices.STATUS_COMPLETED, data=data,
                                  completed=timezone.now() + timedelta(minutes=minutes))

    def test_only_renders_of_objects_the_user_may_all_view_are_chosen(self):
        mine = {'dcim.device': [self.a1.pk, self.a2.pk]}
        visible = self.saved(mine)
        self.assertEqual(viewable_render(self.site, self.user), visible.pk)
        # Newer renders the user may not view in full are passed over, whatever makes them so.
        deleted = create_test_device('a-gone', site=self.site, tenant=self.a1.tenant)
        gone = deleted.pk
        deleted.delete()
        for minutes, objects in enumerate((
            {'dcim.device': [self.a1.pk, self.b1.pk]},  # a hidden host
            {**mine, 'netbox_triage.discovery': list(Discovery.objects.values_list('pk', flat=True))},
            {'dcim.device': [self.a1.pk, gone]},  # deleted since: nobody can tell what it showed
            {'dcim.device': [self.a1.pk], 'auth.user': [self.admin.pk]},  # a model renders never show
            None,  # a render from before renders recorded what they show
        ), start=1):
            newest = self.saved(objects, minutes)
            # Only the few newest renders are looked at: past them, there is no diagram for this user.
            expected = visible.pk if minutes < RECENT_RENDERS else None
            self.assertEqual(viewable_render(self.site, self.user), expected, objects)
            self.assertEqual(viewable_render(self.site, self.admin), newest.pk)
            self.assertEqual(viewable_render(self.site, None), newest.pk)
        self.assertEqual(Job.objects.filter(completed__gt=visible.completed).count(), RECENT_RENDERS)

    def test_the_choice_costs_the_same_queries_for_any_number_of_nodes(self):
        many = [create_test_device(f'a-{n}', site=self.site, tenant=self.a1.tenant).pk for n in range(40)]
        discoveries = [finding(host, 'ok', SeverityChoices.LOW).pk for host in Device.objects.filter(pk__in=many)]

        def cost(devices, findings):
            Job.objects.all().delete()
            for minutes in range(3):
                self.saved({'dcim.device': devices, 'netbox_triage.discovery': findings,
                            'virtualization.cluster': [self.cluster_a.pk]}, minutes)
            job = self.saved({'dcim.device': devices + [self.b1.pk]}, 5)  # the newest: not for this user
            viewable_render(self.site, self.user)  # warm the user's permission cache
            with CaptureQueriesContext(connection) as queries:
                chosen = viewable_render(self.site, self.user)
            self.assertNotEqual(chosen, job.pk)
            self.assertIsNotNone(chosen)
            return len(queries)

        small, large = cost(many[:2], discoveries[:2]), cost(many, discoveries)
        self.assertEqual(small, large)
        self.assertLessEqual(large, 1 + 3)  # the renders' object lists, then one query per model they record
