"""The rules runner: findings become Discovery rows, idempotently, with changelog, events and timeline entries.

Facts come from the simulated fleet's profiles (the bytes a seed host prints), applied as a probe would;
the active HTTP check talks to a real HTTP server on 127.0.0.1 standing in for Jenkins.
"""

import json
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import ObjectChange
from dcim.models import Device
from netbox.context_managers import event_tracking
from users.models import User
from utilities.request import NetBoxFakeRequest
from utilities.testing import TestCase, create_test_device, create_test_virtualmachine
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.choices import *
from netbox_triage.demo import load_demo
from netbox_triage.events import DISCOVERY_RAISED, DISCOVERY_RESOLVED
from netbox_triage.fleet.manifest import SEED_HOSTS
from netbox_triage.models import *
from netbox_triage.probing.apply import apply_probe_result
from netbox_triage.probing.facts import parse_probe_output
from netbox_triage.rules import Finding
from netbox_triage.rules.runner import record_findings, run_discovery

from .test_host_facts import PROFILES, probe_result

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
PLUGIN_SETTINGS = {'allowed_networks': ['127.0.0.0/8', '::1/128']}


def logged(user):
    return event_tracking(NetBoxFakeRequest({'id': uuid.uuid4(), 'user': user}))


def finding(subject, title='Something found', severity='high', rule='disk', **evidence):
    return Finding(rule=rule, subject=subject, severity=severity, title=title, evidence=evidence or {'x': 1},
                   evidence_text=title + '.')


class SeedFleetDiscoveriesTest(TestCase):
    """Every planted problem of the seed is found, nothing else: the issue's bar on the simulated fleet."""

    # (host or group, rule, severity) for the 12 seed hosts on 2026-11-22.
    EXPECTED = {
        ('haproxy-1', 'eol', 'critical'),  # CentOS 6
        ('haproxy-1', 'vulnerable_packages', 'critical'),  # Heartbleed
        ('haproxy-1', 'vulnerable_packages', 'high'),  # Shellshock
        ('haproxy-1', 'haproxy_checks', 'high'),  # backends without `check`
        ('haproxy-1', 'inventory', 'medium'),  # a Device that is a VMware VM
        ('haproxy-2', 'eol', 'critical'),
        ('haproxy-2', 'inventory', 'medium'),
        ('be-1', 'eol', 'critical'),  # Red Hat 4 in production
        ('be-1', 'vulnerable_packages', 'high'),
        ('be-1', 'inventory', 'medium'),  # the team believed Ubuntu 14.04: the probe leaves their platform
        ('be-2', 'eol', 'critical'),  # Debian 6 in the same cluster
        ('be-2', 'inventory', 'medium'),  # ditto
        ('be-3', 'eol', 'critical'),
        ('fe-1', 'vulnerable_packages', 'high'),
        ('fe-2', 'vulnerable_packages', 'high'),
        ('fe-3', 'vulnerable_packages', 'high'),
        ('fe-3', 'exposed_services', 'medium'),  # Jenkins beyond loopback (active check off here)
        ('redis-1', 'disk', 'high'),
        ('redis-1', 'eol', 'low'),
        ('redis-1', 'vulnerable_packages', 'high'),
        ('redis-2', 'eol', 'low'),
        ('redis-2', 'vulnerable_packages', 'high'),
        ('mysql-1', 'disk', 'high'),
        ('mysql-1', 'eol', 'high'),
        ('mysql-2', 'eol', 'high'),
        ('mysql-2', 'inventory', 'medium'),
        ('Entrypoint', 'cluster_drift', 'medium'),
        ('Backend Cluster', 'cluster_drift', 'medium'),
        ('Cache HA', 'cluster_drift', 'low'),
        ('Database HA', 'cluster_drift', 'medium'),
    }

    @classmethod
    def setUpTestData(cls):
        cls.consultant = User.objects.create(username='consultant')
        with logged(cls.consultant):
            cls.demo = load_demo(now=NOW - timedelta(hours=3))
            for name, _address, profile in SEED_HOSTS:
                host = cls.demo['hosts'][name]
                host = type(host).objects.get(pk=host.pk)  # primary IPs as loaded from the database
                apply_probe_result(host, probe_result(host, profile), raw_section_max_bytes=65536)

    def run_rules(self):
        with logged(self.consultant):
            return run_discovery(today=TODAY, now=timezone.now(), active_checks=False)

    def found(self):
        return {(str(d.object) if d.object else d.subject_key, d.rule, d.severity)
                for d in Discovery.objects.active().prefetch_related('object')}

    def test_planted_problems_found_and_nothing_else(self):
        self.run_rules()
        self.assertEqual(self.found(), self.EXPECTED)
        titles = set(Discovery.objects.values_list('title', flat=True))
        self.assertIn('Heartbleed (CVE-2014-0160): vulnerable openssl', titles)
        haproxy_2 = Discovery.objects.filter(subject_key=f'dcim.device:{self.demo["hosts"]["haproxy-2"].pk}')
        self.assertFalse(haproxy_2.filter(title__icontains='heartbleed').exists(), 'the patched OpenSSL host')

    def test_platforms_the_team_believed_stay_and_disagreements_are_found(self):
        self.run_rules()
        hosts = self.demo['hosts']
        for name in ('be-1', 'be-2', 'be-3', 'haproxy-1'):
            host = type(hosts[name]).objects.get(pk=hosts[name].pk)
            self.assertEqual(host.platform.name, {'haproxy-1': 'CentOS 6'}.get(name, 'Ubuntu 14.04'), name)
        platform = {str(d.object): d.evidence['os'] for d in Discovery.objects.active().filter(
            rule='inventory', evidence__check='platform').prefetch_related('object')}
        self.assertEqual(platform, {'be-1': 'Red Hat Enterprise Linux AS release 4 (Nahant Update 9)',
                                    'be-2': 'Debian GNU/Linux 6.0.10 (squeeze)'})

    def test_second_run_changes_nothing(self):
        first = self.run_rules()
        self.assertEqual(first.created, len(self.EXPECTED))
        changes = ObjectChange.objects.count()
        rows = list(Discovery.objects.order_by('pk').values_list('pk', 'status', 'title', 'last_updated'))
        entries = TimelineEntry.objects.count()
        second = self.run_rules()
        self.assertEqual((second.created, second.updated, second.reopened, second.resolved), (0, 0, 0, 0))
        self.assertEqual(second.unchanged, len(self.EXPECTED))
        self.assertEqual(ObjectChange.objects.count(), changes)
        self.assertEqual(TimelineEntry.objects.count(), entries)
        self.assertEqual(list(Discovery.objects.order_by('pk').values_list('pk', 'status', 'title', 'last_updated')),
                         rows)

    def test_high_and_critical_discoveries_reach_the_open_incident_timeline(self):
        self.run_rules()
        incident = self.demo['incident']
        entries = TimelineEntry.objects.filter(incident=incident, object_type__model='discovery')
        # haproxy-1, mysql-1 and the backend cluster's members (be-1..3) are affected in the demo.
        linked = {entry.object.subject_key for entry in entries}
        hosts = self.demo['hosts']
        self.assertIn(f'dcim.device:{hosts["haproxy-1"].pk}', linked)
        self.assertIn(f'virtualization.virtualmachine:{hosts["be-1"].pk}', linked)  # via the affected cluster
        self.assertNotIn(f'virtualization.virtualmachine:{hosts["fe-1"].pk}', linked)  # not affected
        self.assertTrue(all(entry.object.severity in ('high', 'critical') for entry in entries))
        self.assertEqual(Discovery.objects.filter(incident=incident).count(),
                         Discovery.objects.for_incident(incident).exclude(incident__isnull=True).count())

    def test_changes_are_logged_as_the_user(self):
        self.run_rules()
        changes = ObjectChange.objects.filter(changed_object_type__model='discovery')
        self.assertEqual(changes.count(), len(self.EXPECTED))
        self.assertEqual(set(changes.values_list('user_name', flat=True)), {'consultant'})
        self.assertEqual(changes.first().postchange_data['status'], 'open')


class RecordFindingsTest(TestCase):

    @classmethod
    def setUpTestData(cls):
        cls.consultant = User.objects.create(username='consultant')
        cls.device = create_test_device('db-1')
        cls.other = create_test_device('db-2')
        cls.key = f'dcim.device:{cls.device.pk}'
        cls.other_key = f'dcim.device:{cls.other.pk}'
        cls.incident = Incident.objects.create(title='Checkout down', started_at=NOW - timedelta(hours=1))
        IncidentObject.objects.create(incident=cls.incident, object_type=cls.device_type(), object_id=cls.device.pk)

    @staticmethod
    def device_type():
        from django.contrib.contenttypes.models import ContentType

        return ContentType.objects.get_for_model(Device)

    def record(self, findings, keys=None, now=None):
        with logged(self.consultant):
            return record_findings(findings, per_host_rules=['disk'], host_keys=keys or [self.key, self.other_key],
                                   now=now or timezone.now())

    def test_new_finding_links_the_open_incident_and_writes_a_timeline_entry(self):
        summary = self.record([finding(self.key, 'Disk full'), finding(self.other_key, 'Disk full too')])
        self.assertEqual(summary.created, 2)
        discovery = Discovery.objects.get(subject_key=self.key)
        self.assertEqual((discovery.object, discovery.incident, discovery.status),
                         (self.device, self.incident, DiscoveryStatusChoices.OPEN))
        self.assertIsNone(Discovery.objects.get(subject_key=self.other_key).incident)
        entry = TimelineEntry.objects.get(incident=self.incident, kind=TimelineKindChoices.FINDING)
        self.assertEqual(entry.object, discovery)
        self.assertIn('Disk full', entry.text)

    def test_snapshots_are_netbox_s_own(self):
        """Discovery.serialize_object() (changelog and event payloads, built faster) returns what NetBox's
        serialize_object() does: dates, the evidence JSON, foreign keys, custom fields and tags alike."""
        from extras.models import Tag
        from utilities.serialization import serialize_object

        self.record([finding(self.key, 'Disk full')])
        discovery = Discovery.objects.get(subject_key=self.key)
        discovery.evidence = {'mount': '/srv', 'percent': 97.5, 'nested': [{'a': None}], 'text': 'é <b>'}
        discovery.resolved_at = timezone.now()
        discovery.save()
        discovery.tags.add(Tag.objects.create(name='Night', slug='night'), Tag.objects.create(name='Alpha', slug='a'))
        discovery = Discovery.objects.get(pk=discovery.pk)
        self.assertEqual(discovery.serialize_object(), serialize_object(discovery))
        self.assertEqual(discovery.serialize_object(exclude=['evidence']), serialize_object(discovery,
                                                                                           exclude=['evidence']))
        self.assertEqual(discovery.serialize_object()['tags'], ['Alpha', 'Night'])

    def test_change_records_are_netbox_s_own(self):
        """Discovery.to_objectchange() (the object's type and id set as columns) builds the record NetBox's own
        method does, for every action, with and without a pre-change snapshot and a changelog message."""
        from netbox.models.features import ChangeLoggingMixin

        self.record([finding(self.key, 'Disk full')])
        discovery = Discovery.objects.get(subject_key=self.key)
        fields = ('changed_object_type_id', 'changed_object_id', 'related_object_type_id', 'related_object_id',
                  'object_repr', 'action', 'message', 'prechange_data', 'postchange_data', 'user_id', 'request_id')
        for action in ('create', 'update', 'delete'):
            for prepare in ((lambda d: None), (lambda d: d.snapshot()),
                            (lambda d: setattr(d, '_changelog_message', 'by the rules'))):
                ours, theirs = Discovery.objects.get(pk=discovery.pk), Discovery.objects.get(pk=discovery.pk)
                prepare(ours), prepare(theirs)
                mine, netbox = ours.to_objectchange(action), ChangeLoggingMixin.to_objectchange(theirs, action)
                with self.subTest(action=action):
                    self.assertEqual({f: getattr(mine, f) for f in fields}, {f: getattr(netbox, f) for f in fields})
                    self.assertEqual(mine.changed_object, discovery)
                    self.assertEqual(getattr(ours, '_postchange_snapshot', None),
                                     getattr(theirs, '_postchange_snapshot', None))

    def test_timeline_entry_shows_a_hostile_title_as_text(self):
        """Titles carry probe output (a mount point, a process name); timeline entries are Markdown, rendered by
        NetBox's sanitiser, which keeps links and images: the title must stay text."""
        from utilities.templatetags.builtins.filters import render_markdown

        title = 'Filesystem /srv/<img src=x onerror=alert(6)>`` [x](http://evil.example) **b** is 99 % full'
        self.record([finding(self.key, title)])
        self.record([], now=timezone.now() + timedelta(minutes=5))  # resolved: a second entry
        entries = TimelineEntry.objects.filter(incident=self.incident, kind=TimelineKindChoices.FINDING)
        self.assertEqual(entries.count(), 2)
        for entry in entries:
            html = str(render_markdown(entry.text))
            self.assertNotIn('<img', html)
            self.assertNotIn('<a ', html)
            self.assertNotIn('<strong>', html)
            self.assertIn('/srv/&lt;img src=x onerror=alert(6)&gt;`` [x](http://evil.example) **b** is 99 % full',
                          html)

    def test_medium_finding_writes_no_timeline_entry(self):
        self.record([finding(self.key, 'Slow disk', severity='medium')])
        self.assertFalse(TimelineEntry.objects.filter(kind=TimelineKindChoices.FINDING).exists())

    def test_last_seen_moves_without_a_changelog_entry(self):
        self.record([finding(self.key)], now=NOW)
        changes = ObjectChange.objects.count()
        summary = self.record([finding(self.key)], now=NOW + timedelta(minutes=5))
        self.assertEqual(summary.unchanged, 1)
        self.assertEqual(Discovery.objects.get().last_seen, NOW + timedelta(minutes=5))
        self.assertEqual(Discovery.objects.get().first_seen, NOW)
        self.assertEqual(ObjectChange.objects.count(), changes)

    def test_a_condition_that_is_gone_is_resolved_and_the_timeline_says_so_then_it_can_come_back(self):
        self.record([finding(self.key, 'Disk full')])
        summary = self.record([])
        self.assertEqual(summary.resolved, 1)
        discovery = Discovery.objects.get()
        self.assertEqual(discovery.status, DiscoveryStatusChoices.RESOLVED)
        self.assertIsNotNone(discovery.resolved_at)
        self.assertTrue(TimelineEntry.objects.filter(incident=self.incident, text__startswith='Discovery resolved')
                        .exists())
        summary = self.record([finding(self.key, 'Disk full')])
        self.assertEqual((summary.reopened, summary.created), (1, 0))
        discovery.refresh_from_db()
        self.assertEqual((discovery.status, discovery.resolved_at), (DiscoveryStatusChoices.OPEN, None))

    def test_hosts_outside_the_run_are_left_alone(self):
        self.record([finding(self.key), finding(self.other_key)])
        summary = self.record([], keys=[self.key])
        self.assertEqual(summary.resolved, 1)
        self.assertEqual(Discovery.objects.get(subject_key=self.other_key).status, DiscoveryStatusChoices.OPEN)

    def test_a_false_positive_stays_quiet_until_its_evidence_changes(self):
        self.record([finding(self.key, used=96)])
        Discovery.objects.update(status=DiscoveryStatusChoices.FALSE_POSITIVE)
        summary = self.record([finding(self.key, used=96)])
        self.assertEqual((summary.quiet, summary.created), (1, 0))
        summary = self.record([])  # gone: a person's verdict is not overwritten
        self.assertEqual(summary.resolved, 0)
        self.assertEqual(Discovery.objects.get().status, DiscoveryStatusChoices.FALSE_POSITIVE)
        summary = self.record([finding(self.key, used=99)])  # new evidence: a new discovery
        self.assertEqual(summary.created, 1)
        self.assertEqual(sorted(Discovery.objects.values_list('status', flat=True)),
                         [DiscoveryStatusChoices.FALSE_POSITIVE, DiscoveryStatusChoices.OPEN])

    def test_acknowledged_keeps_its_status_and_changed_text_is_an_update(self):
        self.record([finding(self.key, 'Disk 96 % full')])
        Discovery.objects.update(status=DiscoveryStatusChoices.ACKNOWLEDGED)
        changed = Finding(rule='disk', subject=self.key, severity='critical', title='Disk 99 % full',
                          evidence={'x': 1}, evidence_text='now worse')
        summary = self.record([changed])
        self.assertEqual(summary.updated, 1)
        discovery = Discovery.objects.get()
        self.assertEqual((discovery.status, discovery.severity, discovery.title),
                         (DiscoveryStatusChoices.ACKNOWLEDGED, 'critical', 'Disk 99 % full'))
        update = ObjectChange.objects.filter(changed_object_id=discovery.pk, action='update').get()
        self.assertEqual(update.prechange_data['title'], 'Disk 96 % full')

    def test_events_raised_and_resolved_reach_the_event_pipeline(self):
        with mock.patch('netbox.context_managers.flush_events') as flush:
            self.record([finding(self.key)])
            self.record([])
        types = [event['event_type'] for call in flush.call_args_list for event in call.args[0]]
        self.assertEqual(types.count(DISCOVERY_RAISED), 1)
        self.assertEqual(types.count(DISCOVERY_RESOLVED), 1)
        raised = next(e for call in flush.call_args_list for e in call.args[0] if e['event_type'] == DISCOVERY_RAISED)
        self.assertEqual(raised['data']['title'], 'Something found')

    def test_without_a_request_nothing_is_logged_but_rows_are_kept(self):
        record_findings([finding(self.key)], per_host_rules=['disk'], host_keys=[self.key])
        self.assertEqual(Discovery.objects.count(), 1)
        self.assertFalse(ObjectChange.objects.filter(changed_object_type__model='discovery').exists())

    def test_fleet_finding_without_an_object(self):
        with logged(self.consultant):
            record_findings([finding(None, 'Fleet-wide', rule='redundancy')], fleet_rules=['redundancy'])
        discovery = Discovery.objects.get()
        self.assertEqual((discovery.subject_key, discovery.object_type, discovery.object_id), ('', None, None))


class QueryCountTest(TestCase):
    """The runner's queries do not grow with the number of hosts."""

    def make_hosts(self, start, count, profile):
        facts = parse_probe_output(PROFILES.joinpath(f'{profile}.out').read_bytes()).facts
        cluster_type = ClusterType.objects.get_or_create(name='T', slug='t')[0]
        for index in range(start, start + count):
            cluster = Cluster.objects.get_or_create(name=f'c{index // 3}', type=cluster_type)[0]
            vm = create_test_virtualmachine(f'vm-{index}')
            vm.cluster = cluster
            vm.save()
            HostFacts.objects.create(virtual_machine=vm, status='ok', facts=facts, last_ok_at=NOW)

    def count(self):
        with CaptureQueriesContext(connection) as queries:
            run_discovery(today=TODAY, active_checks=False)
        return len(queries)

    def test_constant_queries(self):
        self.make_hosts(0, 6, 'centos6-heartbleed')
        self.count()  # first run creates
        first = self.count()  # steady state
        self.make_hosts(6, 12, 'debian6')
        self.count()
        second = self.count()
        self.assertEqual(first, second)
        self.assertGreater(Discovery.objects.count(), 18)


class FakeJenkins(BaseHTTPRequestHandler):
    """A Jenkins that serves /script to anyone (or asks for a login when `protected`)."""

    protected = False
    requests = []

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.protected:
            self.send_response(403)
            self.send_header('X-Jenkins', '2.99')
            self.end_headers()
            self.wfile.write(b'<html>Authentication required <form name="login">j_username</form></html>')
            return
        self.send_response(200)
        self.send_header('X-Jenkins', '2.99')
        self.send_header('Content-Type', 'text/html' if self.path == '/script' else 'application/json')
        self.end_headers()
        body = b'<html><h1>Script Console</h1></html>' if self.path == '/script' else json.dumps(
            {'_class': 'hudson.model.Hudson', 'jobs': []}).encode()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@override_settings(PLUGINS_CONFIG={'netbox_triage': PLUGIN_SETTINGS})
class ActiveHttpCheckTest(TestCase):
    """The worker's anonymous HTTP check of an exposed Jenkins, through the scope guard, on 127.0.0.1."""

    def setUp(self):
        FakeJenkins.requests = []
        FakeJenkins.protected = False
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), FakeJenkins)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        port = self.server.server_address[1]
        facts = parse_probe_output(PROFILES.joinpath('ubuntu2204-jenkins.out').read_bytes()).facts
        java = [sock for sock in facts['listening'] if sock.get('process') == 'java' and sock['port'] == 8080]
        java[0]['port'], java[0]['address'] = port, '0.0.0.0'
        self.vm = create_test_virtualmachine('fe-3')
        self.vm.local_context_data = {'triage': {'ssh': {'host': '127.0.0.1'}}}
        self.vm.save()
        HostFacts.objects.create(virtual_machine=self.vm, status='ok', facts=facts, last_ok_at=NOW)

    def run_exposure_rule(self):
        run_discovery(vms=VirtualMachine.objects.all(), devices=Device.objects.none(), fleet=False,
                      only=['exposed_services'], today=TODAY, active_checks=True)
        return list(Discovery.objects.active())

    def test_anonymous_script_console_is_critical(self):
        (discovery,) = self.run_exposure_rule()
        self.assertEqual(discovery.severity, 'critical')
        self.assertEqual(discovery.evidence['access'], 'anonymous-admin')
        self.assertIn('/script', FakeJenkins.requests)
        self.assertIn('GET /script -> 200', discovery.evidence_text)

    def test_a_jenkins_that_asks_for_a_login_is_no_discovery(self):
        FakeJenkins.protected = True
        self.assertEqual(self.run_exposure_rule(), [])
        self.assertTrue(FakeJenkins.requests)

    def test_outside_the_scope_no_request_is_made_and_the_passive_finding_stays(self):
        with override_settings(PLUGINS_CONFIG={'netbox_triage': {'allowed_networks': ['127.0.0.2/32']}}):
            (discovery,) = self.run_exposure_rule()
        self.assertEqual(FakeJenkins.requests, [])
        self.assertEqual(discovery.severity, 'medium')
        self.assertEqual(discovery.evidence['active_check'], ['unreachable'])
        self.assertIn('outside the allowed networks', discovery.evidence_text)
