import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_address, ip_network

from django.test import RequestFactory

from core.models import ObjectChange
from dcim.models import Device
from ipam.models import IPAddress
from netbox.context_managers import event_tracking
from users.models import User
from utilities.testing import TestCase
from virtualization.models import VirtualMachine

from netbox_triage.choices import *
from netbox_triage.collector.ingest import ingest_report
from netbox_triage.collector.parser import MonitReport
from netbox_triage.demo import DEMO_HOSTS, DEMO_MONIT_DAEMONS, FLEET_PORT, demo_monit_id, load_demo, loopback_for
from netbox_triage.models import *

NOW = datetime(2024, 5, 1, 23, 0, tzinfo=UTC)


class LoopbackTestCase(TestCase):

    def test_loopback_for(self):
        self.assertEqual(loopback_for('10.0.11.3/24'), '127.100.11.3')
        self.assertEqual(loopback_for('10.0.0.1'), '127.100.0.1')


class LoadDemoTestCase(TestCase):

    def load(self):
        """Run load_demo() as a request would, so that change logging records what it does."""
        request = RequestFactory().get('/')
        request.user = self.user
        request.id = uuid.uuid4()
        with event_tracking(request):
            return load_demo(now=NOW)

    def test_hosts(self):
        result = self.load()
        hosts = result['hosts']
        self.assertEqual(len(hosts), 12)
        self.assertEqual(Device.objects.count() + VirtualMachine.objects.count(), 12)
        self.assertEqual(VirtualMachine.objects.count(), sum(spec.is_vm for spec in DEMO_HOSTS))
        for name, host in hosts.items():
            with self.subTest(host=name):
                host.refresh_from_db()
                address = host.primary_ip4.address.ip
                self.assertIn(ip_address(address), ip_network('10.0.0.0/16'))
                ssh = host.local_context_data['triage']['ssh']
                self.assertEqual(ssh['port'], FLEET_PORT)
                x, y = str(address).split('.')[2:]
                self.assertEqual(ssh['host'], f'127.100.{x}.{y}')
                self.assertEqual(host.get_config_context()['triage']['ssh']['host'], ssh['host'])
                # The primary address is the host's own.
                self.assertEqual(host.primary_ip4.assigned_object.parent_object, host)

    def test_incident(self):
        result = self.load()
        self.assertTrue(result['incident_created'])
        incident = Incident.objects.get()
        self.assertEqual(result['incident'], incident)
        self.assertEqual(incident.status, IncidentStatusChoices.MITIGATING)
        self.assertEqual(incident.started_at, NOW - timedelta(hours=3))

        rates = list(incident.impacts.values_list('effective_from', 'loss_per_day', 'currency'))
        self.assertEqual(rates, [
            (incident.started_at, Decimal('1000000.00'), 'USD'),
            (incident.started_at + timedelta(hours=2), Decimal('200000.00'), 'USD'),
        ])
        summary = incident.loss_summary(now=NOW)
        self.assertEqual(summary.total_lost, Decimal('91666.67'))
        self.assertEqual(summary.current_rate, Decimal('200000.00'))
        self.assertEqual(summary.saved, Decimal('33333.33'))
        # An hour earlier, before the mitigation: the first rate only.
        earlier = incident.loss_summary(now=NOW - timedelta(hours=2))
        self.assertEqual(earlier.total_lost, Decimal('41666.67'))
        self.assertEqual(earlier.current_rate, Decimal('1000000.00'))

        self.assertEqual(incident.affected_objects.count(), 6)
        self.assertEqual(incident.timeline.filter(kind=TimelineKindChoices.SYSTEM).count(), 2)
        finding = incident.timeline.get(kind=TimelineKindChoices.FINDING)
        self.assertEqual(finding.object.name, 'be-3')
        self.assertGreater(ObjectChange.objects.count(), 0)

    def test_idempotent(self):
        first = self.load()
        counts = {
            model: model.objects.count()
            for model in (Device, VirtualMachine, IPAddress, Incident, IncidentObject, BusinessImpact, TimelineEntry)
        }
        changes = ObjectChange.objects.count()
        self.assertGreater(changes, 0)

        second = self.load()
        self.assertFalse(second['incident_created'])
        self.assertEqual(second['incident'], first['incident'])
        self.assertEqual(ObjectChange.objects.count(), changes, list(
            ObjectChange.objects.order_by('-pk').values_list('changed_object_type__model', 'object_repr')[:10]
        ))
        for model, count in counts.items():
            self.assertEqual(model.objects.count(), count, model.__name__)

    def test_monit_agents(self):
        """Each demo monit daemon's fixed ID is mapped to its seed host, so its reports land there (all daemons run
        on one machine under one hostname); the silent and unmonitored hosts get no agent."""
        self.load()
        self.assertEqual(set(DEMO_MONIT_DAEMONS), {'haproxy-1', 'be-1', 'be-2', 'fe-1', 'fe-2', 'redis-1'})
        agents = {agent.hostname: agent for agent in MonitAgent.objects.all()}
        self.assertEqual(set(agents), set(DEMO_MONIT_DAEMONS))
        for name in DEMO_MONIT_DAEMONS:
            with self.subTest(host=name):
                agent = agents[name]
                self.assertRegex(agent.monit_id, r'^[0-9a-f]{32}$')
                self.assertEqual(agent.monit_id, demo_monit_id(name))
                self.assertEqual(agent.host.name, name)
                coverage = MonitoringCoverage.objects.get(system='monit', **(
                    {'device': agent.host} if isinstance(agent.host, Device) else {'virtual_machine': agent.host}))
                self.assertEqual(coverage.state, 'reporting')
        self.assertEqual(len({demo_monit_id(name) for name in DEMO_MONIT_DAEMONS}), len(DEMO_MONIT_DAEMONS))
        silent = set(MonitoringCoverage.objects.filter(state='silent').values_list('virtual_machine__name',
                                                                                    'device__name'))
        self.assertEqual({a or b for a, b in silent}, {'be-3', 'mysql-2'})
        self.assertTrue(User.objects.filter(username='monit-collector', is_active=True).exists())

        # A report from fe-1's daemon, sent from this machine under another name, lands on fe-1 by its ID.
        report = MonitReport(monit_id=demo_monit_id('fe-1'), hostname='demo-machine', version='5.33.0', uptime=5,
                             poll=30)
        result = ingest_report(report, client_address='127.0.0.1')
        self.assertEqual(result.outcome, 'reporting')
        self.assertEqual(MonitAgent.objects.count(), len(DEMO_MONIT_DAEMONS))
        fe1 = VirtualMachine.objects.get(name='fe-1')
        self.assertEqual(MonitoringCoverage.objects.get(virtual_machine=fe1, system='monit').reported_hostname,
                         'demo-machine')
