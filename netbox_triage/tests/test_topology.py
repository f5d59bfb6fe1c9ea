"""Topology diagrams: the demo's picture, hostile names, splitting, the render sandbox and query counts.

Every render here is real: `diagrams` and Graphviz's `dot` run in a subprocess, as in production.
"""

import ast
import shutil
import time
from unittest import skipUnless

from defusedxml.ElementTree import fromstring as parse_xml
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from dcim.models import Device, DeviceRole, Site
from ipam.models import IPAddress
from utilities.testing import TestCase, create_test_device
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.choices import DependencyKindChoices, DiscoveryStatusChoices, SeverityChoices
from netbox_triage.demo import load_demo
from netbox_triage.exporters.topology import (
    ICONS,
    TopologyError,
    build_topology,
    choose_icon,
    generate_source,
    incident_hosts,
    make_svg_self_contained,
    render_source,
    render_topology,
    topology_for_object,
)
from netbox_triage.models import Dependency, Discovery, HostFacts, Incident

DOT = shutil.which('dot')
SVG = '{http://www.w3.org/2000/svg}'


def plugin_config(**values):
    return {**settings.PLUGINS_CONFIG, 'netbox_triage': {**settings.PLUGINS_CONFIG['netbox_triage'], **values}}


def depend(source, target, kind=DependencyKindChoices.USES, port=None, label='', **kwargs):
    return Dependency.objects.create(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk,
        kind=kind, port=port, label=label, **kwargs,
    )


def device(name, role=None, **attrs):
    host = create_test_device(name, **attrs)
    if role is not None:
        host.role = role
        host.save()
    return host


def svg_texts(svg):
    return [element.text or '' for element in parse_xml(svg.encode()).iter(f'{SVG}text')]


@skipUnless(DOT, 'Graphviz (dot) is not installed')
class DemoTopologyTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.demo = load_demo()
        cls.hosts = cls.demo['hosts']

    def test_the_demo_draws_the_seed_picture(self):
        topology = topology_for_object(Site.objects.get(name='Customer DC'), user=None)
        self.assertEqual(len(topology.parts), 1)
        graph = topology.parts[0]
        self.assertEqual(graph.groups, ['Backend Cluster', 'Cache HA', 'Database HA', 'Entrypoint', 'Frontend Cluster'])
        icons = {node.name: node.icon for node in graph.nodes}
        self.assertEqual(icons['haproxy-1'], 'haproxy')
        self.assertEqual({icons[f'be-{n}'] for n in (1, 2, 3)}, {'spring'})
        self.assertEqual({icons[f'fe-{n}'] for n in (1, 2, 3)}, {'angular'})
        self.assertEqual((icons['redis-2'], icons['mysql-2']), ('redis', 'mysql'))

        source = generate_source(graph)
        ast.parse(source)
        for line in (
            "haproxy_1 - Edge(label=text('standby'), color='red', style='dashed') - haproxy_2",
            "redis_1 - Edge(label=text('replica'), color='red', style='dashed') - redis_2",
            "mysql_1 - Edge(label=text('replica'), color='red', style='dashed') - mysql_2",
            "[be_1, be_2, be_3] >> Edge(label=text('Redis :6379'), color='brown') >> redis_1",
            "[be_1, be_2, be_3] >> Edge(label=text('MySQL :3306'), color='black') >> mysql_1",
            "haproxy_1 >> Edge(label=text('HTTP :80'), color='red') >> [fe_1, fe_2, fe_3]",
            "haproxy_1 >> Edge(label=text('HTTP :8080'), color='darkgreen') >> [be_1, be_2, be_3]",
            "    with Cluster(text('Entrypoint')):",
            "        haproxy_1 = HAProxy(text('haproxy-1 - 10.0.0.1'))",
            "        be_3 = Spring(text('be-3 - 10.0.11.3'))",
        ):
            self.assertIn(line, source)

        started = time.monotonic()
        render = render_topology(graph)
        self.assertLess(time.monotonic() - started, 10)
        self.assertTrue(render.ok, render.message)
        self.assertTrue(render.png.startswith(b'\x89PNG\r\n\x1a\n'))
        texts = svg_texts(render.svg)
        for label in ('haproxy-1 - 10.0.0.1', 'fe-2 - 10.0.10.2', 'mysql-2 - 10.0.13.2', 'standby', 'replica',
                      'Entrypoint', 'Database HA', 'Customer DC'):
            self.assertIn(label, texts)
        # Self-contained: each icon inlined once, every node draws one.
        root = parse_xml(render.svg.encode())
        images = list(root.iter(f'{SVG}image'))
        self.assertEqual(len(images), 5)  # HAProxy, Spring, Angular, Redis, MySQL
        self.assertTrue(all(i.get('{http://www.w3.org/1999/xlink}href').startswith('data:image/png;base64,')
                            for i in images))
        self.assertEqual(len(list(root.iter(f'{SVG}use'))), 12)
        self.assertNotIn('site-packages', render.svg)

    def test_a_cluster_shows_what_it_talks_to(self):
        topology = topology_for_object(Cluster.objects.get(name='Backend Cluster'), user=None)
        nodes = {node.name: node for node in topology.parts[0].nodes}
        self.assertEqual({name for name, node in nodes.items() if not node.neighbour}, {'be-1', 'be-2', 'be-3'})
        self.assertTrue(nodes['redis-1'].neighbour and nodes['mysql-1'].neighbour and nodes['haproxy-1'].neighbour)
        self.assertNotIn('fe-1', nodes)
        self.assertIn("fontcolor='gray45'", generate_source(topology.parts[0]))

    def test_an_incident_draws_its_hosts_and_clusters(self):
        incident = Incident.objects.get(pk=self.demo['incident'].pk)
        devices, vms = incident_hosts(incident)
        names = {host.name for host in [*devices, *vms]}
        self.assertEqual(names, {'be-1', 'be-2', 'be-3', 'haproxy-1', 'mysql-1'})
        topology = topology_for_object(incident, user=None, group_by='role')
        self.assertIn('Backend', topology.parts[0].groups)

    def test_open_discoveries_mark_their_nodes(self):
        fe3 = self.hosts['fe-3']
        for severity, status in ((SeverityChoices.CRITICAL, DiscoveryStatusChoices.OPEN),
                                 (SeverityChoices.MEDIUM, DiscoveryStatusChoices.ACKNOWLEDGED),
                                 (SeverityChoices.CRITICAL, DiscoveryStatusChoices.RESOLVED)):
            Discovery.objects.create(object_type=ContentType.objects.get_for_model(fe3), object_id=fe3.pk,
                                     rule='exposed', title=f'Jenkins {severity} {status}', severity=severity,
                                     status=status, subject_key=f'x:{severity}{status}')
        graph = topology_for_object(Site.objects.get(name='Customer DC'), user=None).parts[0]
        node = next(node for node in graph.nodes if node.name == 'fe-3')
        self.assertEqual((node.findings, node.severity), (2, SeverityChoices.CRITICAL))
        self.assertIn("fe_3 = Angular(text('fe-3 - 10.0.10.3\\n[!] 2 open, critical'), fontcolor='red3')",
                      generate_source(graph))

    def test_discovered_dependencies_are_dotted_and_hidden_ones_are_not_drawn(self):
        hosts = self.hosts
        depend(hosts['fe-1'], hosts['redis-1'], port=6379, label='Redis', origin='probe', status='discovered')
        depend(hosts['fe-2'], hosts['mysql-1'], port=3306, label='MySQL', origin='probe', status='hidden')
        source = generate_source(topology_for_object(Site.objects.get(name='Customer DC'), user=None).parts[0])
        self.assertIn("fe_1 >> Edge(label=text('Redis :6379 (discovered)'), color='brown', style='dotted') >> redis_1",
                      source)
        self.assertNotIn('fe_2 >>', source)

    def test_group_by_must_be_known(self):
        with self.assertRaises(TopologyError):
            build_topology(Device.objects.all(), VirtualMachine.objects.none(), user=None, group_by='rack')


class IconTest(TestCase):
    def test_icons_from_role_platform_and_services(self):
        redis = {'listening': [{'port': 6379, 'process': 'redis-server'}]}
        jenkins = {'listening': [{'port': 8080, 'process': 'java'}, {'port': 50000, 'process': 'java'}]}
        postgres = {'listening': [{'port': 5432, 'process': 'postmaster'}]}
        cases = [
            ((False, 'Load balancer', 'CentOS 6', None), 'haproxy'),
            ((False, 'Load balancer', '', {'listening': [{'port': 80, 'process': 'nginx'}]}), 'nginx'),
            ((True, '', '', redis), 'redis'),
            ((True, '', '', jenkins), 'jenkins'),
            ((True, '', '', {'components': {'java': ['openjdk-17-jre']}}), 'spring'),
            ((False, 'Database', '', postgres), 'postgresql'),
            ((False, 'Database', '', {'components': {'mysql': ['mariadb-server']}}), 'mysql'),
            ((False, 'DB', '', {'listening': [{'port': 3306, 'process': 'mariadbd'}]}), 'mariadb'),
            ((True, 'Frontend', '', None), 'angular'),
            ((True, 'Static web', '', {'listening': [{'port': 80, 'process': 'nginx'}]}), 'angular'),
            ((False, '', '', {'listening': [{'port': 80, 'process': 'nginx'}]}), 'nginx'),
            ((False, '', '', None), 'server'),
            ((True, 'Misc', 'Debian 12', {'listening': 'garbage'}), 'vm'),
        ]
        for args, icon in cases:
            with self.subTest(args=args):
                self.assertEqual(choose_icon(*args), icon)
                self.assertIn(icon, ICONS)


HOSTILE = [
    'quo"te\'s',
    'line\nbreak\r\x07bel',
    '<script>alert(1)</script>',
    '"]; evil [label="pwned',
    'back\\slash\\N\\G\\',
    "__import__('os').system('touch /tmp/pwned')",
    '<b>html</b>',
    'bidi\u202egnp.exe',
    '-->]]><!--',
]


@skipUnless(DOT, 'Graphviz (dot) is not installed')
class HostileTopologyTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        site = Site.objects.create(name='<script>site</script>', slug='hostile')
        cluster_type = ClusterType.objects.create(name='t', slug='t')
        cls.devices = []
        for index, name in enumerate(HOSTILE):
            cluster = Cluster.objects.create(name=f'{name} c{index}', type=cluster_type)
            device = create_test_device(f'{name}{index}', site=site, cluster=cluster)
            ip = IPAddress.objects.create(address=f'192.0.2.{index + 1}/24')
            device.primary_ip4 = ip  # not assigned: the label only reads it
            Device.objects.filter(pk=device.pk).update(primary_ip4=ip)
            cls.devices.append(device)
        for source, target, name in zip(cls.devices, cls.devices[1:], HOSTILE):
            depend(source, target, port=1234, label=name[:100])

    def test_hostile_names_are_inert_literals_and_text(self):
        graph = build_topology(Device.objects.all(), VirtualMachine.objects.none(), user=None,
                               title=HOSTILE[5]).parts[0]
        source = generate_source(graph)
        tree = ast.parse(source)
        # Code only calls what the generator writes: every call is to a known name, every string a literal.
        allowed = {'Diagram', 'Cluster', 'Edge', 'text', *(name for _module, name in ICONS.values())}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                self.assertIsInstance(node.func, ast.Name)
                self.assertIn(node.func.id, allowed)
            self.assertNotIsInstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.JoinedStr))
        self.assertNotIn('\u202e', source)

        render = render_source(source)
        self.assertTrue(render.ok, render.message)
        self.assertNotIn('<script', render.svg)
        self.assertNotIn('<b>', render.svg)
        root = parse_xml(render.svg.encode())
        self.assertEqual(len([g for g in root.iter(f'{SVG}g') if g.get('class') == 'node']), len(HOSTILE))
        self.assertEqual(len([g for g in root.iter(f'{SVG}g') if g.get('class') == 'cluster']), len(HOSTILE))
        texts = '\n'.join(svg_texts(render.svg))
        self.assertIn('<script>alert(1)</script>2 - 192.0.2.3', [n.label for n in graph.nodes])
        for fragment in ('<script>alert(1)</script>', '"]; evil [label="pwned', 'back\\slash\\N\\G\\',
                         "__import__('os')", 'line break bel', '<b>html</b>'):
            self.assertIn(fragment, texts)
        self.assertFalse([g for g in root.iter(f'{SVG}g') if (g.findtext(f'{SVG}title') or '').strip() == 'evil'])

    def test_the_svg_cleaner_removes_active_content(self):
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="x()">'
            '<script>alert(1)</script><g onclick="y()"><text>ok</text>'
            '<a xlink:href="javascript:z()"><text>link</text></a>'
            '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'
            '<image xlink:href="/etc/passwd" x="0" y="0" width="10" height="10"/>'
            '<image xlink:href="https://example.com/x.png" x="0" y="0" width="10" height="10"/></g></svg>'
        )
        cleaned, removed = make_svg_self_contained(svg)
        for bad in ('script', 'onload', 'onclick', 'javascript', 'foreignObject', 'passwd', 'example.com', '<a'):
            self.assertNotIn(bad, cleaned)
        self.assertIn('>ok</text>', cleaned)
        self.assertEqual(removed['image'], 2)

    def test_external_entities_are_refused(self):
        svg = ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>')
        with self.assertRaises(Exception):
            make_svg_self_contained(svg)


@skipUnless(DOT, 'Graphviz (dot) is not installed')
class LimitsTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        cluster_type = ClusterType.objects.create(name='t', slug='t')
        cls.sites = [Site.objects.create(name=f'Site {n}', slug=f'site-{n}') for n in range(3)]
        role = DeviceRole.objects.create(name='Web', slug='web')
        cluster = Cluster.objects.create(name='Big', type=cluster_type)
        for site, count in zip(cls.sites, (2, 3, 5)):
            for n in range(count):
                device(f'{site.slug}-h{n}', site=site, role=role, cluster=cluster if count == 5 else None)

    @override_settings(PLUGINS_CONFIG=plugin_config(topology_node_limit=4))
    def test_large_inventories_are_split_per_site_with_a_message(self):
        topology = build_topology(Device.objects.all(), VirtualMachine.objects.none(), user=None)
        self.assertEqual([part.title for part in topology.parts], ['Topology - Site 0', 'Topology - Site 1'])
        self.assertTrue(all(len(part.nodes) <= 4 for part in topology.parts))
        message = ' '.join(topology.messages)
        self.assertIn('10 hosts are more than one diagram holds (4): split per site', message)
        self.assertIn("Site 'Site 2', cluster 'Big': 5 hosts, over the limit of 4; not drawn", message)

    @override_settings(PLUGINS_CONFIG=plugin_config(topology_node_limit=20))
    def test_under_the_limit_one_diagram(self):
        topology = build_topology(Device.objects.all(), VirtualMachine.objects.none(), user=None)
        self.assertEqual((len(topology.parts), topology.messages), (1, []))
        self.assertEqual(len(topology.parts[0].nodes), 10)

    @override_settings(PLUGINS_CONFIG=plugin_config(topology_render_timeout=1))
    def test_the_render_timeout_is_enforced(self):
        started = time.monotonic()
        render = render_source('import subprocess\nsubprocess.run(["sleep", "30"])\n')
        self.assertLess(time.monotonic() - started, 5)
        self.assertFalse(render.ok)
        self.assertIn('longer than 1 s and was stopped', render.message)

    def test_a_real_render_with_a_tiny_timeout_is_stopped(self):
        graph = build_topology(Device.objects.all(), VirtualMachine.objects.none(), user=None).parts[0]
        render = render_topology(graph, timeout=0.01)
        self.assertIn('was stopped', render.message)
        self.assertIsNone(render.png)

    def test_a_failing_program_says_why(self):
        render = render_source('raise SystemExit("no luck")\n', timeout=20)
        self.assertFalse(render.ok)
        self.assertIn('no luck', render.message)


class TopologyQueryCountTest(TestCase):
    """Building the graph costs the same number of queries for N and 2N hosts."""

    @classmethod
    def setUpTestData(cls):
        cluster_type = ClusterType.objects.create(name='t', slug='t')
        site = Site.objects.create(name='S', slug='s')
        cls.clusters = [Cluster.objects.create(name=f'C{n}', type=cluster_type) for n in range(2)]
        role = DeviceRole.objects.create(name='Database', slug='database')
        previous = None
        for n in range(24):
            cluster = cls.clusters[n % 2]
            if n % 2:
                host = VirtualMachine.objects.create(name=f'vm{n}', site=site, cluster=cluster, role=role)
                HostFacts.objects.create(virtual_machine=host, facts={'listening': [{'port': 5432,
                                                                                      'process': 'postgres'}]})
            else:
                host = device(f'dev{n}', site=site, cluster=cluster, role=role)
                HostFacts.objects.create(device=host, facts={'components': {'mysql': ['mysql-server']}})
            Discovery.objects.create(object_type=ContentType.objects.get_for_model(host), object_id=host.pk,
                                     rule='r', title='t', subject_key=f'k{n}')
            if previous is not None:
                depend(previous, host, port=5432)
            previous = host

    def count(self, devices, vms):
        build_topology(devices, vms, user=None)  # warm the content type cache
        with CaptureQueriesContext(connection) as queries:
            graph = build_topology(devices, vms, user=None).parts[0]
        return len(queries), graph

    def hosts(self, count):
        return (Device.objects.filter(name__in=[f'dev{n}' for n in range(count)]),
                VirtualMachine.objects.filter(name__in=[f'vm{n}' for n in range(count)]))

    def test_constant_queries(self):
        small, graph = self.count(*self.hosts(6))
        large, big_graph = self.count(*self.hosts(12))
        self.assertEqual(small, large)
        self.assertLessEqual(large, 12)
        self.assertEqual((len(graph.nodes), len(big_graph.nodes)), (7, 13))  # with the next host, greyed
        self.assertEqual(len(big_graph.edges), 12)
        everything = self.count(Device.objects.all(), VirtualMachine.objects.all())[1]
        self.assertEqual((len(everything.nodes), len(everything.edges)), (24, 23))
        self.assertTrue(any(node.icon == 'postgresql' for node in big_graph.nodes))
        self.assertTrue(any(node.icon == 'mysql' for node in big_graph.nodes))
        self.assertTrue(all(node.findings == 1 for node in big_graph.nodes))
