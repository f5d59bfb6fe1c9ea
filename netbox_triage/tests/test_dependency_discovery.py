"""Dependencies the probe discovers from established TCP connections, on the demo's probed fleet."""

import uuid

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import ObjectChange
from dcim.models import Device, Interface
from ipam.models import IPAddress
from netbox.context_managers import event_tracking
from users.models import User
from utilities.request import NetBoxFakeRequest
from utilities.testing import TestCase, create_test_device, create_test_virtualmachine
from virtualization.models import VirtualMachine, VMInterface

from netbox_triage.choices import DependencyKindChoices, DependencyOriginChoices, DependencyStatusChoices
from netbox_triage.demo import DEMO_DEPENDENCIES, load_demo
from netbox_triage.fleet.manifest import SEED_HOSTS
from netbox_triage.models import Dependency, HostFacts
from netbox_triage.probing.apply import apply_probe_result
from netbox_triage.probing.dependencies import connections_of, record_dependencies
from netbox_triage.probing.targets import host_key

from .test_host_facts import probe_result


def logged(user):
    return event_tracking(NetBoxFakeRequest({'id': uuid.uuid4(), 'user': user}))


def edge(source, target, port, kind=DependencyKindChoices.USES):
    return Dependency.objects.filter(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk, kind=kind, port=port,
    ).first()


class ConnectionsTest(TestCase):
    def test_direction_from_listening_ports(self):
        facts = {
            'listening': [{'port': 8080, 'process': 'java'}],
            'established': [
                {'local_address': '10.0.11.1', 'local_port': 8080, 'peer_address': '10.0.0.1', 'peer_port': 46112},
                {'local_address': '10.0.11.1', 'local_port': 51870, 'peer_address': '::ffff:10.0.13.1',
                 'peer_port': 3306},
                {'local_address': 'x', 'local_port': 'nope', 'peer_address': 'garbage', 'peer_port': 1},
                'not a dict',
            ],
        }
        self.assertEqual(list(connections_of(facts)), [('10.0.0.1', 8080, False), ('10.0.13.1', 3306, True)])

    def test_without_listening_facts_the_lower_port_is_the_service(self):
        facts = {'established': [{'local_port': 40000, 'peer_address': '10.0.0.9', 'peer_port': 5432},
                                 {'local_port': 443, 'peer_address': '10.0.0.8', 'peer_port': 50123}]}
        self.assertEqual(list(connections_of(facts)), [('10.0.0.9', 5432, True), ('10.0.0.8', 443, False)])


class DemoDependencyDiscoveryTest(TestCase):
    """The demo's 12 hosts with their fleet profiles applied, as after `triage_probe --all`."""

    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create(username='prober')
        load_demo()
        # Fresh from the database: load_demo() leaves string addresses on the primary IPs it created.
        cls.hosts = {host.name: host for model in (Device, VirtualMachine) for host in model.objects.all()}
        for name, _address, profile in SEED_HOSTS:
            apply_probe_result(cls.hosts[name], probe_result(cls.hosts[name], profile))
        cls.keys = [host_key(host) for host in cls.hosts.values()]

    def test_connections_become_dependencies(self):
        hosts = self.hosts
        with logged(self.user):
            record = record_dependencies(self.keys)
        # mysql-2 → mysql-1:3306 and redis-2 → redis-1:6379 are new (the demo draws them as replicas);
        # the other connections match the demo's hand-drawn edges.
        self.assertEqual(record.created, 2)
        self.assertEqual(record.hosts, 12)
        found = edge(hosts['mysql-2'], hosts['mysql-1'], 3306)
        self.assertEqual((found.origin, found.status, found.label), (DependencyOriginChoices.PROBE,
                                                                    DependencyStatusChoices.DISCOVERED, 'MySQL'))
        self.assertIsNotNone(found.last_seen)
        self.assertTrue(ObjectChange.objects.filter(changed_object_id=found.pk, user=self.user).exists())
        manual = edge(hosts['haproxy-1'], hosts['be-3'], 8080)
        self.assertEqual((manual.origin, manual.status), (DependencyOriginChoices.MANUAL,
                                                          DependencyStatusChoices.CONFIRMED))
        self.assertIsNotNone(manual.last_seen)
        # Seen from both ends (be-3 → redis-1, from be-3's and from redis-1's facts): one edge.
        self.assertEqual(Dependency.objects.count(), len(DEMO_DEPENDENCIES) + 2)
        # Clients outside NetBox (10.0.250.x) and the consultant's SSH sessions are not stored.
        self.assertEqual(dict(record.unknown_peers), {('10.0.250.99', 8080): 2, ('10.0.250.17', 443): 1,
                                                      ('10.0.250.23', 443): 1, ('10.0.250.41', 80): 1})

    def test_a_second_run_writes_nothing_but_last_seen(self):
        record_dependencies(self.keys)
        rows = Dependency.objects.count()
        changes = ObjectChange.objects.count()
        with logged(self.user):
            record = record_dependencies(self.keys)
        self.assertEqual((record.created, record.refreshed), (0, 13))  # 11 hand-drawn edges seen, 2 new
        self.assertEqual(Dependency.objects.count(), rows)
        self.assertEqual(ObjectChange.objects.count(), changes)

    def test_hidden_stays_hidden_and_confirmed_stays_confirmed(self):
        record_dependencies(self.keys)
        hidden = edge(self.hosts['redis-2'], self.hosts['redis-1'], 6379)
        hidden.status = DependencyStatusChoices.HIDDEN
        hidden.save()
        confirmed = edge(self.hosts['mysql-2'], self.hosts['mysql-1'], 3306)
        confirmed.status = DependencyStatusChoices.CONFIRMED
        confirmed.save()
        record = record_dependencies([self.hosts['redis-2'], self.hosts['mysql-2']])  # instances work too
        self.assertEqual(record.created, 0)
        hidden.refresh_from_db()
        confirmed.refresh_from_db()
        self.assertEqual((hidden.status, confirmed.status), (DependencyStatusChoices.HIDDEN,
                                                             DependencyStatusChoices.CONFIRMED))

    def test_unknown_keys_and_hosts_without_facts_are_ignored(self):
        self.assertEqual(record_dependencies(['dcim.device:999999', 'nonsense', 'dcim.site:1']).hosts, 0)


class DependencyPeerMappingTest(TestCase):
    def test_a_peer_is_found_by_assigned_ip_or_by_local_ssh_context(self):
        client = create_test_virtualmachine('client')
        db = create_test_device('db')
        cache = create_test_device('cache', local_context_data={'triage': {'ssh': {'host': '127.100.12.1'}}})
        IPAddress.objects.create(address='10.9.0.5/24',
                                 assigned_object=Interface.objects.create(device=db, name='eth0', type='virtual'))
        IPAddress.objects.create(address='10.9.0.7/24',
                                 assigned_object=VMInterface.objects.create(virtual_machine=client, name='eth0'))
        HostFacts.objects.create(virtual_machine=client, facts={
            'listening': [{'port': 22, 'process': 'sshd'}],
            'established': [
                {'local_port': 40000, 'peer_address': '10.9.0.5', 'peer_port': 5432},
                {'local_port': 40001, 'peer_address': '127.100.12.1', 'peer_port': 6379},
                {'local_port': 40002, 'peer_address': '10.9.0.7', 'peer_port': 8080},  # itself
                {'local_port': 22, 'peer_address': '10.9.0.5', 'peer_port': 50000},  # SSH: administration
            ],
        })
        record = record_dependencies([host_key(client)])
        self.assertEqual((record.created, record.unknown), (2, 0))
        self.assertEqual(edge(client, db, 5432).label, 'PostgreSQL')
        self.assertEqual(edge(client, cache, 6379).label, 'Redis')


class DependencyQueryCountTest(TestCase):
    """N and 2N hosts that all talk to each other cost the same number of queries."""

    @classmethod
    def setUpTestData(cls):
        cls.hosts = []
        for n in range(16):
            host = create_test_device(f'h{n}')
            interface = Interface.objects.create(device=host, name='eth0', type='virtual')
            IPAddress.objects.create(address=f'10.8.0.{n + 1}/24', assigned_object=interface)
            cls.hosts.append(host)
        for n, host in enumerate(cls.hosts):
            peers = [(m + 1, 5432) for m in range(16) if m != n][:4]
            HostFacts.objects.create(device=host, facts={
                'listening': [{'port': 5432, 'process': 'postgres'}],
                'established': [{'local_port': 40000 + i, 'peer_address': f'10.8.0.{m}', 'peer_port': port}
                                for i, (m, port) in enumerate(peers)] + [
                    {'local_port': 41000, 'peer_address': '203.0.113.9', 'peer_port': 443}],
            })

    def count(self, hosts):
        keys = [host_key(host) for host in hosts]
        record_dependencies(keys)  # the first run creates the edges
        with CaptureQueriesContext(connection) as queries:
            record = record_dependencies(keys)
        self.assertEqual(record.created, 0)
        self.assertGreater(record.refreshed, 0)
        return len(queries)

    def test_constant_queries(self):
        small = self.count(self.hosts[:8])
        large = self.count(self.hosts)
        self.assertEqual(small, large)
        self.assertLessEqual(large, 10)
