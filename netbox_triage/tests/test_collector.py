"""The Monit collector: recorded Monit 5.26 and 5.33 payloads, hostile bodies, credentials, host matching,
history, the silence job and its discoveries, the fleet summary."""

import base64
import json
import os
from datetime import timedelta
from pathlib import Path
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import Job, ObjectChange
from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
from ipam.models import IPAddress
from netbox.registry import registry
from users.models import User
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.choices import DiscoveryStatusChoices
from netbox_triage.collector.parser import MonitPayloadError, parse_monit_xml
from netbox_triage.collector.silence import check_silence, judge_monitoring, mark_silent
from netbox_triage.collector.summary import coverage_summary
from netbox_triage.models import Discovery, MonitAgent, MonitoringCoverage

DATA = Path(__file__).parent / 'data' / 'monit'
PASSWORD = 'collector-Pw-1'
ENV = {'TRIAGE_MONIT_COLLECTOR_PASSWORD': PASSWORD}
CONFIG = {'netbox_triage': {'monit_collector_enabled': True, 'monit_collector_max_bytes': 64 * 1024,
                            'monit_collector_history': 6}}
# Monit's own web-interface credentials and program output, present in the recorded payloads.
SECRETS = ('s3cretWebPw', 'monit-web-S3cret', 'PRETTY_NAME')


def fixture(name):
    return (DATA / name).read_bytes()


def basic(user='monit-collector', password=PASSWORD):
    return 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()


@override_settings(PLUGINS_CONFIG=CONFIG)
class CollectorTestCase(TestCase):
    def setUp(self):
        patcher = mock.patch.dict(os.environ, ENV)
        patcher.start()
        self.addCleanup(patcher.stop)

    @classmethod
    def setUpTestData(cls):
        site = Site.objects.create(name='DC', slug='dc')
        maker = Manufacturer.objects.create(name='M', slug='m')
        dtype = DeviceType.objects.create(manufacturer=maker, model='T', slug='t')
        role = DeviceRole.objects.create(name='Backend', slug='backend')
        cls.be1 = Device.objects.create(name='be-1', site=site, device_type=dtype, role=role)
        cls.mysql2 = Device.objects.create(name='mysql-2', site=site, device_type=dtype, role=role)
        cls.lb = Device.objects.create(name='lb-7', site=site, device_type=dtype, role=role)
        address = IPAddress.objects.create(address='192.0.2.7/24')
        cls.lb.primary_ip4 = address  # not assigned to an interface: only checked by the lookup, not saved as such
        Device.objects.filter(pk=cls.lb.pk).update(primary_ip4=address)
        cluster = Cluster.objects.create(name='Frontend', type=ClusterType.objects.create(name='C', slug='c'),
                                         scope=site)
        cls.fe1 = VirtualMachine.objects.create(name='fe-1', cluster=cluster, site=site, role=role)
        cls.user = User.objects.create(username='monit-collector')

    def post(self, body, auth=None, remote='198.51.100.10', **extra):
        return self.client.post(reverse('plugins:netbox_triage:monit_collector'), data=body, content_type='text/xml',
                                HTTP_AUTHORIZATION=auth if auth is not None else basic(), REMOTE_ADDR=remote, **extra)

    def assertNothingStored(self):
        self.assertFalse(MonitAgent.objects.exists())
        self.assertFalse(MonitoringCoverage.objects.exists())


class ParserTest(TestCase):
    def test_monit_533_status(self):
        report = parse_monit_xml(fixture('monit-5.33-status.xml'))
        self.assertEqual(report.monit_id, 'f7ffd58d49e90cd63f17a5997ae64f15')
        self.assertEqual((report.version, report.hostname, report.poll), ('5.33.0', 'be-1', 2))
        self.assertEqual([c.name for c in report.checks], ['be-1', 'rootfs', 'lo', 'os_release', 'local_ssh', 'sshd'])
        self.assertEqual(report.check_types, ['cpu', 'disk', 'load', 'memory', 'network', 'os_release', 'process',
                                              'remote_service'])
        self.assertEqual(report.failed, ['local_ssh'])
        self.assertIsNone(report.event)
        self.assertEqual(report.platform['cpu'], 2)

    def test_monit_526_event(self):
        report = parse_monit_xml(fixture('monit-5.26-event-failed.xml'))
        self.assertEqual((report.version, report.hostname, report.poll, report.uptime),
                         ('5.26.0', 'fe-1.shop.example', 30, 86442))
        self.assertEqual(report.failed, ['fs_root'])
        self.assertEqual((report.event.service, report.event.state), ('fs_root', 'failed'))
        self.assertIn('space usage 96.2%', report.event.message)
        self.assertFalse(report.event.instance)

    def test_monit_stopped_event(self):
        report = parse_monit_xml(fixture('monit-5.33-event-stopped.xml'))
        self.assertTrue(report.event.instance)
        self.assertEqual(report.event.message, 'Monit 5.33.0 stopped')

    def test_format_1(self):
        body = (b'<?xml version="1.0" encoding="ISO-8859-1"?><monit><server><id>abc</id><incarnation>1</incarnation>'
                b'<version>5.2.5</version><uptime>5</uptime><poll>60</poll><localhostname>old</localhostname></server>'
                b'<service type="0"><name>root</name><status>0</status><monitor>1</monitor></service></monit>')
        report = parse_monit_xml(body)
        self.assertEqual((report.monit_id, report.version, report.checks[0].service), ('abc', '5.2.5', 'filesystem'))

    def test_credentials_are_not_read(self):
        report = parse_monit_xml(fixture('monit-5.33-status.xml'))
        text = repr(report) + json.dumps([c.as_dict() for c in report.checks])
        for secret in SECRETS:
            self.assertNotIn(secret, text)

    def test_hostile_and_broken(self):
        cases = {
            'billion-laughs.xml': 'DTDForbidden', 'external-entity.xml': 'DTDForbidden',
            'malformed.xml': 'malformed XML', 'not-monit.xml': 'root element is <rss>',
        }
        for name, reason in cases.items():
            with self.subTest(name), self.assertRaises(MonitPayloadError) as caught:
                parse_monit_xml(fixture(name))
            self.assertIn(reason, caught.exception.reason)
        with self.assertRaisesRegex(MonitPayloadError, 'attribute'):
            parse_monit_xml(b'<monit id="x"><server/><services><service name="' + b'A' * 5000 + b'"/></services>'
                            b'</monit>')
        with self.assertRaisesRegex(MonitPayloadError, 'empty'):
            parse_monit_xml(b'  ')

    def test_control_characters_are_removed(self):
        body = (b'<monit id="x" version="5.33.0"><server><localhostname>be-1</localhostname></server><services>'
                b'<service name="evil&#x200b;[31m&#x202e;name"><type>2</type><status>0</status><monitor>1</monitor>'
                b'</service></services></monit>')
        self.assertEqual(parse_monit_xml(body).checks[0].name, 'evil[31mname')


class CollectorIngestTest(CollectorTestCase):
    def test_monit_533_reports_a_device(self):
        response = self.post(fixture('monit-5.33-status.xml'))
        self.assertEqual(response.status_code, 200, response.content)
        coverage = MonitoringCoverage.objects.get(device=self.be1)
        self.assertEqual((coverage.system, coverage.state, coverage.agent_version, coverage.poll_interval),
                         ('monit', 'reporting', '5.33.0', 2))
        self.assertEqual(coverage.failing_checks, 1)
        self.assertIn('remote_service', coverage.check_types)
        self.assertEqual({c['name']: c['status'] for c in coverage.checks}['local_ssh'], 'failed')
        self.assertEqual(coverage.ui_url, 'http://10.0.11.1:2812/')
        agent = MonitAgent.objects.get()
        self.assertEqual((agent.device, agent.address, agent.reports), (self.be1, '198.51.100.10', 1))
        self.assertIn('host name', agent.match_note)
        # Created as the collector's user, in the changelog.
        change = ObjectChange.objects.get(changed_object_id=coverage.pk,
                                          changed_object_type__model='monitoringcoverage')
        self.assertEqual(change.user, self.user)

    def test_monit_526_reports_a_vm_by_short_name(self):
        self.assertEqual(self.post(fixture('monit-5.26-status.xml')).status_code, 200)
        coverage = MonitoringCoverage.objects.get(virtual_machine=self.fe1)
        self.assertEqual((coverage.agent_version, coverage.poll_interval, coverage.agent_uptime, coverage.ui_url),
                         ('5.26.0', 30, 86412, ''))  # its httpd listens on localhost only: no link
        self.assertEqual(coverage.check_types, ['cpu', 'disk', 'load', 'memory', 'network', 'os_release',
                                                'remote_service'])
        self.assertEqual(coverage.failing_checks, 0)
        self.assertEqual(coverage.reported_hostname, 'fe-1.shop.example')

    def test_events_and_compact_history(self):
        for _ in range(3):
            self.post(fixture('monit-5.26-status.xml'))
        coverage = MonitoringCoverage.objects.get(virtual_machine=self.fe1)
        self.assertEqual(len(coverage.history), 1)
        self.assertEqual(coverage.history[0]['reports'], 3)
        self.post(fixture('monit-5.26-event-failed.xml'))
        coverage.refresh_from_db()
        kinds = [entry['kind'] for entry in coverage.history]
        self.assertEqual(kinds, ['status', 'event', 'status'])
        self.assertEqual(coverage.history[1]['state'], 'failed')
        self.assertEqual(coverage.history[2]['failed'], ['fs_root'])
        self.assertEqual(coverage.failing_checks, 1)
        for _ in range(6):  # the cap (monit_collector_history = 6)
            self.post(fixture('monit-5.26-event-failed.xml'))
        coverage.refresh_from_db()
        self.assertEqual(len(coverage.history), 6)

    def test_monit_restart_starts_a_new_status_entry(self):
        self.post(fixture('monit-5.26-event-failed.xml'))  # uptime 86442
        self.post(fixture('monit-5.33-event-stopped.xml'))  # another agent (be-1)
        body = fixture('monit-5.26-event-failed.xml').replace(b'<uptime>86442</uptime>', b'<uptime>3</uptime>')
        self.post(body)
        history = MonitoringCoverage.objects.get(virtual_machine=self.fe1).history
        self.assertEqual([entry['kind'] for entry in history], ['event', 'status', 'event', 'status'])

    def test_no_credentials_or_program_output_stored(self):
        for name in ('monit-5.33-status.xml', 'monit-5.33-event-failed.xml', 'monit-5.33-event-stopped.xml',
                     'monit-5.26-status.xml', 'monit-5.26-event-failed.xml'):
            self.assertIn(self.post(fixture(name)).status_code, (200, 202))
        judge_monitoring()
        dump = json.dumps([list(model.objects.values()) for model in (
            MonitoringCoverage, MonitAgent, Discovery, ObjectChange, Job)], default=str)
        for secret in SECRETS + (PASSWORD,):
            self.assertNotIn(secret, dump)

    def test_repeated_reports_write_no_changelog_and_few_queries(self):
        self.post(fixture('monit-5.33-status.xml'))
        changes = ObjectChange.objects.count()
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(self.post(fixture('monit-5.33-status.xml')).status_code, 200)
        self.assertEqual(ObjectChange.objects.count(), changes)
        self.assertLessEqual(len(queries), 8, [q['sql'][:120] for q in queries])

    def test_unknown_host_is_listed_then_mapped(self):
        body = fixture('monit-5.26-status.xml').replace(b'fe-1.shop.example', b'ghost-9')
        response = self.post(body, remote='203.0.113.9')
        self.assertEqual(response.status_code, 202)
        self.assertIn(b'unknown host', response.content)
        agent = MonitAgent.objects.get()
        self.assertFalse(agent.is_mapped)
        self.assertEqual(agent.hostname, 'ghost-9')
        self.assertIn("no device or VM named 'ghost-9'", agent.match_note)
        self.assertFalse(MonitoringCoverage.objects.exists())
        self.post(body, remote='203.0.113.9')
        agent.refresh_from_db()
        self.assertEqual(agent.reports, 2)
        # A person maps it; the next report lands on that host.
        agent.device = self.mysql2
        agent.save()
        self.assertEqual(self.post(body, remote='203.0.113.9').status_code, 200)
        self.assertEqual(MonitoringCoverage.objects.get().device, self.mysql2)

    def test_matched_by_address(self):
        body = fixture('monit-5.26-status.xml').replace(b'fe-1.shop.example', b'localhost.localdomain')
        self.assertEqual(self.post(body, remote='192.0.2.7').status_code, 200)
        self.assertEqual(MonitoringCoverage.objects.get().device, self.lb)
        self.assertIn('address 192.0.2.7', MonitAgent.objects.get().match_note)

    def test_loopback_matches_no_one(self):
        body = fixture('monit-5.26-status.xml').replace(b'fe-1.shop.example', b'localhost')
        self.assertEqual(self.post(body, remote='127.0.0.1').status_code, 202)


class CollectorRefusalTest(CollectorTestCase):
    def test_credentials(self):
        body = fixture('monit-5.33-status.xml')
        for auth in ('', basic(password='wrong'), basic(user='admin'), 'Basic !!!', 'Bearer x',
                     'Basic ' + base64.b64encode(b'no-colon').decode()):
            with self.subTest(auth=auth):
                response = self.post(body, auth=auth)
                self.assertEqual(response.status_code, 401)
                self.assertIn('Basic', response['WWW-Authenticate'])
                self.assertIn(b'credentials', response.content)
        self.assertNothingStored()

    def test_no_password_in_the_environment_accepts_nothing(self):
        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_COLLECTOR_PASSWORD': ''}):
            self.assertEqual(self.post(fixture('monit-5.33-status.xml'), auth=basic(password='')).status_code, 401)
        self.assertNothingStored()

    @override_settings(PLUGINS_CONFIG={'netbox_triage': {}})
    def test_disabled(self):
        self.assertEqual(self.post(fixture('monit-5.33-status.xml')).status_code, 404)
        self.assertNothingStored()

    def test_collector_user_missing(self):
        User.objects.filter(username='monit-collector').update(is_active=False)
        response = self.post(fixture('monit-5.33-status.xml'))
        self.assertEqual(response.status_code, 503)
        self.assertNothingStored()

    def test_only_post(self):
        response = self.client.get(reverse('plugins:netbox_triage:monit_collector'), HTTP_AUTHORIZATION=basic())
        self.assertEqual(response.status_code, 405)

    def test_hostile_payloads(self):
        cases = [
            (fixture('billion-laughs.xml'), 400, b'DTDForbidden'),
            (fixture('external-entity.xml'), 400, b'DTDForbidden'),
            (fixture('malformed.xml'), 400, b'malformed XML'),
            (fixture('not-monit.xml'), 400, b'not a Monit report'),
            (b'', 400, b'empty body'),
            (b'<monit id="x"><server><localhostname>be-1</localhostname></server><services><service name="'
             + b'A' * 20000 + b'"/></services></monit>', 400, b'attribute'),
            (fixture('monit-5.33-status.xml') + b' ' * (64 * 1024), 413, b'over the limit'),
        ]
        for body, status, reason in cases:
            with self.subTest(reason=reason):
                response = self.post(body)
                self.assertEqual(response.status_code, status, response.content)
                self.assertIn(reason, response.content)
        response = self.post(fixture('monit-5.33-status.xml'), HTTP_CONTENT_ENCODING='gzip')
        self.assertEqual(response.status_code, 415)
        self.assertNothingStored()

    def test_declared_length_over_the_limit_is_refused_unread(self):
        response = self.post(fixture('monit-5.33-status.xml'), CONTENT_LENGTH=str(10 * 1024 * 1024))
        self.assertEqual(response.status_code, 413)
        self.assertNothingStored()


class SilenceTest(CollectorTestCase):
    def _age(self, coverage, seconds):
        last_report = timezone.now() - timedelta(seconds=seconds)
        MonitoringCoverage.objects.filter(pk=coverage.pk).update(last_report=last_report)

    def test_missed_cycles_make_it_silent_and_raise_then_resolve(self):
        self.post(fixture('monit-5.33-status.xml'))  # poll 2 s
        coverage = MonitoringCoverage.objects.get(device=self.be1)
        self.assertEqual(mark_silent(), [])
        self._age(coverage, 3 * 2 + 4)  # inside the grace
        self.assertEqual(mark_silent(), [])
        self._age(coverage, 3 * 2 + 6)
        summary = check_silence()
        self.assertEqual(summary.silenced, 1)
        coverage.refresh_from_db()
        self.assertEqual(coverage.state, 'silent')
        self.assertIsNotNone(coverage.silent_since)
        self.assertEqual(coverage.history[-1]['kind'], 'silent')
        silent = Discovery.objects.get(rule='monitoring', subject_key=f'dcim.device:{self.be1.pk}')
        self.assertEqual((silent.status, silent.severity), ('open', 'high'))
        self.assertIn('went silent', silent.title)
        # Hosts with no monitoring: "not monitored" (low).
        unmonitored = Discovery.objects.filter(rule='monitoring', title__endswith='is not monitored')
        self.assertEqual({d.object for d in unmonitored}, {self.mysql2, self.lb, self.fe1})
        # Idempotent.
        again = check_silence()
        self.assertEqual((again.silenced, again.created, again.resolved), (0, 0, 0))
        # Reports resume: reporting again, and the discovery resolves at once.
        self.assertEqual(self.post(fixture('monit-5.33-status.xml')).status_code, 200)
        coverage.refresh_from_db()
        self.assertEqual((coverage.state, coverage.silent_since), ('reporting', None))
        silent.refresh_from_db()
        self.assertEqual(silent.status, DiscoveryStatusChoices.RESOLVED)
        # A VM that starts reporting resolves its "not monitored".
        self.post(fixture('monit-5.26-status.xml'))
        self.assertEqual(Discovery.objects.get(rule='monitoring', subject_key=f'virtualization.virtualmachine:'
                                               f'{self.fe1.pk}').status, DiscoveryStatusChoices.RESOLVED)

    def test_planned_is_not_monitored_configured_is(self):
        MonitoringCoverage.objects.create(device=self.mysql2, system='zabbix', state='planned')
        MonitoringCoverage.objects.create(device=self.lb, system='prometheus', state='configured')
        judge_monitoring()
        titles = set(Discovery.objects.filter(rule='monitoring').values_list('title', flat=True))
        self.assertIn('mysql-2 is not monitored', titles)
        self.assertNotIn('lb-7 is not monitored', titles)
        evidence = Discovery.objects.get(title='mysql-2 is not monitored').evidence
        self.assertEqual(evidence['planned'], ['Zabbix'])

    def test_probe_rules_leave_monitoring_discoveries_alone(self):
        from netbox_triage.rules.runner import run_discovery

        judge_monitoring()
        active = Discovery.objects.filter(rule='monitoring', status='open').count()
        self.assertGreater(active, 0)
        run_discovery(active_checks=False)
        self.assertEqual(Discovery.objects.filter(rule='monitoring', status='open').count(), active)

    def test_silence_job_is_a_system_job(self):
        from netbox_triage.collector.jobs import MonitoringSilenceJob

        self.assertEqual(registry['system_jobs'][MonitoringSilenceJob], {'interval': 1})


class SummaryAndSettingsTest(CollectorTestCase):
    def test_coverage_summary(self):
        self.post(fixture('monit-5.33-status.xml'))
        MonitoringCoverage.objects.create(virtual_machine=self.fe1, system='prometheus', state='configured')
        MonitoringCoverage.objects.create(device=self.mysql2, system='newrelic', state='planned')
        with self.assertNumQueries(3):
            summary = coverage_summary()
        self.assertEqual(summary['hosts'], 4)
        self.assertEqual(summary['by_state'], {'none': 1, 'planned': 1, 'configured': 1, 'reporting': 1, 'silent': 0})
        self.assertEqual(summary['by_check_type']['disk'], 1)
        self.assertEqual(summary['by_check_type']['file'], 0)
        self.assertEqual(summary['failing_checks'], 1)
        self.assertEqual(summary['by_role']['Backend']['reporting'], 1)
        self.assertEqual(sum(summary['by_site']['DC'].values()), 4)
        only_vms = coverage_summary(vms=VirtualMachine.objects.all())
        self.assertEqual((only_vms['hosts'], only_vms['by_state']['configured']), (1, 1))

    def test_enabled_without_password_fails_at_start_up(self):
        from netbox_triage.settings import validate_settings

        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_COLLECTOR_PASSWORD': ''}):
            with self.assertRaisesRegex(ImproperlyConfigured, 'TRIAGE_MONIT_COLLECTOR_PASSWORD'):
                validate_settings()
        validate_settings()
        with override_settings(PLUGINS_CONFIG={'netbox_triage': {'monit_collector_missed_cycles': 0}}):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_missed_cycles'):
                validate_settings()
        with override_settings(PLUGINS_CONFIG={'netbox_triage': {'monit_collector_user': 'a:b'}}):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_user'):
                validate_settings()

    def test_secrets_stay_out_of_the_settings(self):
        from netbox_triage.settings import validate_settings

        def config(**values):
            return override_settings(PLUGINS_CONFIG={'netbox_triage': {**CONFIG['netbox_triage'], **values}})

        # The collector URL is written into every bundle: a credential in it stops NetBox, without echoing it.
        for url in ('http://monit-collector:Leaked-pw@netbox.example/plugins/triage/collector/monit/',
                    'https://Leaked-pw@netbox.example/'):
            with self.subTest(url=url), config(monit_collector_url=url):
                with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_url.*must not carry credentials') \
                        as caught:
                    validate_settings()
                self.assertNotIn('Leaked-pw', str(caught.exception))
        with config(monit_collector_url='http://netbox.example:8080/plugins/triage/collector/monit/'):
            validate_settings()
        with config(monit_collector_url='http://netbox.example/x y'):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_url'):
                validate_settings()
        # The webhook moved to the environment; the old setting says where.
        with config(monit_slack_webhook_url='https://hooks.slack.com/services/T/B/x'):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_slack_webhook_url.*monit_slack_webhook_env'):
                validate_settings()
        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_SLACK_WEBHOOK_URL': 'http://hooks.example/'}):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_slack_webhook_env'):
                validate_settings()
        # Monit sends the password of its set mmonit URL verbatim: one it cannot send is refused, not echoed.
        with mock.patch.dict(os.environ, {'TRIAGE_MONIT_COLLECTOR_PASSWORD': 'pw with@Leaked#'}):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_password_env') as caught:
                validate_settings()
            self.assertNotIn('Leaked', str(caught.exception))
        with config(monit_collector_user='monit@collector'):
            with self.assertRaisesRegex(ImproperlyConfigured, 'monit_collector_user'):
                validate_settings()

    def test_demo_coverage_mix(self):
        from netbox_triage.demo import DEMO_COVERAGE, create_demo_coverage

        hosts = {'be-1': self.be1, 'mysql-2': self.mysql2, 'fe-1': self.fe1}
        self.assertEqual(create_demo_coverage(hosts), 3)
        self.assertEqual(create_demo_coverage(hosts), 0)
        states = dict(MonitoringCoverage.objects.values_list('device__name', 'state').exclude(device=None))
        self.assertEqual(states, {'be-1': 'reporting', 'mysql-2': 'silent'})
        self.assertEqual({state for _n, _s, state, _f, _m in DEMO_COVERAGE} >= {'reporting', 'silent', 'planned'},
                         True)
