"""The triage board: its figures on known data, grouping, permissions, escaping and a constant query count.

The fleet below has one host in each state (probe failed, critical, high, stale, never probed, ok) spread over
sites, roles, a cluster and tags, so every figure is known in advance. The board is computed with
``board_figures()`` and rendered with the board template; once the plugin's home page is wired
(``plugins:netbox_triage:board``), the page itself is fetched too.
"""

from datetime import timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.models import ObjectType
from dcim.models import Device, DeviceRole, DeviceType, Manufacturer, Site
from extras.models import Tag
from users.models import ObjectPermission, User
from utilities.testing import TestCase
from utilities.testing.query_counts import assert_expected_query_count
from virtualization.models import Cluster, ClusterType, VirtualMachine

from netbox_triage.board import (
    BOARD_GROUPINGS,
    HOST_STATES,
    board_figures,
    changed_hosts,
    fleet_figures,
    group_tiles,
    open_incident_figures,
)
from netbox_triage.choices import *
from netbox_triage.collector.summary import coverage_summary
from netbox_triage.models import *
from netbox_triage.probing.apply import apply_probe_result

from .test_host_facts import probe_result

HOSTILE = '<script>alert("x")</script>'

VIEW_ALL = (
    'dcim.view_device', 'dcim.view_site', 'dcim.view_devicerole', 'virtualization.view_virtualmachine',
    'virtualization.view_cluster', 'extras.view_tag', 'netbox_triage.view_incident',
    'netbox_triage.view_timelineentry', 'netbox_triage.view_hostfacts', 'netbox_triage.view_discovery',
    'netbox_triage.view_monitoringcoverage',
)


def make_device(name, site, role=None, **attrs):
    manufacturer, _ = Manufacturer.objects.get_or_create(name='Manufacturer 1', slug='manufacturer-1')
    device_type, _ = DeviceType.objects.get_or_create(model='Server', slug='server', manufacturer=manufacturer)
    role = role or DeviceRole.objects.get_or_create(name='Server', slug='server')[0]
    return Device.objects.create(name=name, site=site, device_type=device_type, role=role, **attrs)



def render_board(board, user):
    request = RequestFactory().get('/plugins/triage/')
    request.user = user
    return render_to_string('netbox_triage/board.html', {'board': board}, request=request)


class BoardDataMixin:
    """Eight hosts, one per state, and the incidents, discoveries and coverage around them."""

    @classmethod
    def setUpTestData(cls):
        now = timezone.now()
        cls.now = now
        cls.alpha = Site.objects.create(name='Alpha', slug='alpha')
        cls.hostile_site = Site.objects.create(name=HOSTILE, slug='hostile')
        cls.gamma = Site.objects.create(name='Gamma', slug='gamma')
        cls.web = DeviceRole.objects.create(name='Web', slug='web')
        cls.db = DeviceRole.objects.create(name='Database', slug='database')
        cls.cluster = Cluster.objects.create(name='Backend', type=ClusterType.objects.create(name='KVM', slug='kvm'))
        cls.tier1 = Tag.objects.create(name='Tier 1', slug='tier-1')
        cls.hostile_tag = Tag.objects.create(name=HOSTILE, slug='hostile-tag')

        def device(name, site, role=None, cluster=None, tags=()):
            host = make_device(name, site, role=role or cls.web, cluster=cluster)
            host.tags.set(tags)
            return host

        cls.d_failed = device('d-failed', cls.alpha, tags=[cls.tier1])
        cls.d_critical = device('d-critical', cls.alpha, role=cls.db)
        cls.d_high = device('d-high', cls.hostile_site, tags=[cls.tier1, cls.hostile_tag])
        cls.d_stale = device('d-stale', cls.hostile_site)
        cls.d_never = device('d-never', cls.gamma)
        cls.d_ok = device(HOSTILE, cls.gamma, role=cls.db, cluster=cls.cluster)
        cls.vm_ok = VirtualMachine.objects.create(name='vm-ok', cluster=cls.cluster, role=cls.web)
        cls.vm_never = VirtualMachine.objects.create(name='vm-never', cluster=cls.cluster)

        hour_ago = now - timedelta(hours=1)
        for host, status, probed in (
            (cls.d_failed, ProbeStatusChoices.UNREACHABLE, hour_ago),
            (cls.d_critical, ProbeStatusChoices.OK, hour_ago),
            (cls.d_high, ProbeStatusChoices.OK, hour_ago),
            (cls.d_stale, ProbeStatusChoices.OK, now - timedelta(days=10)),
            (cls.d_ok, ProbeStatusChoices.OK, hour_ago),
            (cls.vm_ok, ProbeStatusChoices.OK, hour_ago),
            (cls.vm_never, ProbeStatusChoices.NEVER, None),
        ):
            lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
            facts = HostFacts.objects.create(status=status, os_pretty_name=f'OS of {host.name}', **lookup)
            # As the probe leaves them when nothing changed: the stamps moved by update(), after the last save.
            HostFacts.objects.filter(pk=facts.pk).update(
                probed_at=probed, last_ok_at=probed if status == ProbeStatusChoices.OK else None,
                last_updated=(probed - timedelta(minutes=5)) if probed else facts.last_updated,
            )

        def discovery(obj, severity, status=DiscoveryStatusChoices.OPEN, title=None):
            return Discovery.objects.create(
                object_type=ContentType.objects.get_for_model(obj) if obj else None, object_id=obj.pk if obj else None,
                rule='manual', severity=severity, status=status, title=title or f'{severity} about {obj}',
            )

        discovery(cls.d_critical, SeverityChoices.CRITICAL)
        discovery(cls.d_critical, SeverityChoices.MEDIUM)
        discovery(cls.d_high, SeverityChoices.HIGH, status=DiscoveryStatusChoices.ACKNOWLEDGED)
        discovery(cls.d_high, SeverityChoices.MEDIUM)
        discovery(cls.d_failed, SeverityChoices.CRITICAL)  # a failed probe is worse still
        discovery(cls.d_ok, SeverityChoices.LOW, title=HOSTILE)
        discovery(cls.d_ok, SeverityChoices.CRITICAL, status=DiscoveryStatusChoices.RESOLVED)  # not counted
        discovery(cls.vm_ok, SeverityChoices.CRITICAL, status=DiscoveryStatusChoices.FALSE_POSITIVE)  # nor this
        discovery(cls.cluster, SeverityChoices.MEDIUM)  # counted for the fleet, about no host
        discovery(None, SeverityChoices.INFO)

        # Check types count only from reporting rows (what is proven): d-ok's disk and cpu, and its failing check;
        # the silent row's disk, memory and failures do not count.
        MonitoringCoverage.objects.create(device=cls.d_ok, system=MonitoringSystemChoices.MONIT,
                                          state=MonitoringStateChoices.REPORTING, check_types=['disk', 'cpu'],
                                          failing_checks=1)
        MonitoringCoverage.objects.create(device=cls.d_ok, system=MonitoringSystemChoices.ZABBIX,
                                          state=MonitoringStateChoices.PLANNED, check_types=['network'])
        MonitoringCoverage.objects.create(device=cls.d_critical, system=MonitoringSystemChoices.MONIT,
                                          state=MonitoringStateChoices.SILENT, check_types=['disk', 'memory'],
                                          failing_checks=2)
        MonitoringCoverage.objects.create(virtual_machine=cls.vm_ok, system=MonitoringSystemChoices.NAGIOS,
                                          state=MonitoringStateChoices.CONFIGURED)

        started = now - timedelta(hours=4)
        cls.incident = Incident.objects.create(title=f'Checkout down {HOSTILE}', started_at=started,
                                               severity=SeverityChoices.CRITICAL)
        BusinessImpact.objects.create(incident=cls.incident, effective_from=started,
                                      loss_per_day=Decimal('1000000'), currency='USD')
        BusinessImpact.objects.create(incident=cls.incident, effective_from=now - timedelta(hours=2),
                                      loss_per_day=Decimal('200000'), currency='USD')
        cls.quiet = Incident.objects.create(title='Slow reports', started_at=now - timedelta(hours=1),
                                            severity=SeverityChoices.LOW, status=IncidentStatusChoices.MONITORING)
        cls.resolved = Incident.objects.create(title='Old outage', started_at=now - timedelta(days=3),
                                               resolved_at=now - timedelta(days=2),
                                               status=IncidentStatusChoices.RESOLVED)
        TimelineEntry.objects.create(incident=cls.incident, timestamp=now - timedelta(minutes=30),
                                     kind=TimelineKindChoices.ACTION, text=f'Took be-3 out **{HOSTILE}**')
        TimelineEntry.objects.create(incident=cls.resolved, timestamp=now - timedelta(days=2),
                                     kind=TimelineKindChoices.NOTE, text='All good again')


class BoardFiguresTest(BoardDataMixin, TestCase):
    user_permissions = VIEW_ALL

    def test_fleet_figures(self):
        fleet = fleet_figures(self.user, now=self.now)
        self.assertEqual((fleet.hosts, fleet.devices, fleet.virtual_machines), (8, 6, 2))
        self.assertEqual(fleet.probed, 6)  # failed, critical, high, stale, ok, vm-ok
        self.assertEqual(fleet.stale, 1)
        self.assertEqual(fleet.unreachable, 1)
        self.assertEqual(fleet.never_probed, 2)  # d-never (no facts) and vm-never (status never)
        self.assertEqual(fleet.by_state, {
            'failed': 1, 'critical': 1, 'high': 1, 'stale': 1, 'never': 2, 'unknown': 0, 'ok': 2,
        })
        self.assertEqual(fleet.worst_state.value, 'failed')
        # Discoveries about hosts (active only), and every active discovery the user may view.
        self.assertEqual(fleet.discoveries, {'critical': 2, 'high': 1, 'medium': 2, 'low': 1, 'info': 0})
        self.assertEqual(fleet.all_discoveries, {'critical': 2, 'high': 1, 'medium': 3, 'low': 1, 'info': 1})
        # A host counts once, in its best state: d-ok reporting (and planned), d-critical silent, vm-ok configured.
        self.assertEqual(fleet.coverage, {'none': 5, 'planned': 0, 'configured': 1, 'silent': 1, 'reporting': 1})
        self.assertEqual(fleet.monitored, 3)

    def test_coverage_summary_per_state_and_check_type(self):
        fleet = fleet_figures(self.user, now=self.now)
        self.assertEqual({kind: n for kind, n in fleet.check_types.items() if n}, {'disk': 1, 'cpu': 1})
        self.assertEqual(set(fleet.check_types), set(MonitoringCheckTypeChoices.values()))
        self.assertEqual(fleet.failing_checks, 1)
        # The board's figures are the collector's fleet summary, computed in the board's one grouped statement.
        expected = coverage_summary()
        self.assertEqual(fleet.coverage_summary(), {key: expected[key] for key in
                                                    ('hosts', 'by_state', 'by_check_type', 'failing_checks')})
        self.assertEqual([(kind, hosts) for kind, _label, _color, hosts, _url in fleet.check_type_figures][:2],
                         [('disk', 1), ('cpu', 1)])
        url = dict((kind, url) for kind, _label, _color, _hosts, url in fleet.check_type_figures)['disk']
        self.assertEqual(url, f"{reverse('plugins:netbox_triage:monitoringcoverage_list')}?state=reporting"
                              '&check_type=disk')
        tiles = {tile.name: tile for tile in group_tiles(self.user, 'site', now=self.now)}
        self.assertEqual((tiles['Gamma'].check_types['disk'], tiles['Gamma'].failing_checks), (1, 1))
        self.assertEqual((tiles['Alpha'].check_types['disk'], tiles['Alpha'].failing_checks), (0, 0))  # silent

    def test_stale_threshold_follows_the_staleness_rule(self):
        with self.settings(PLUGINS_CONFIG={'netbox_triage': {
                'rule_settings': {'staleness': {'stale_after_days': [[30, 'medium']]}}}}):
            fleet = fleet_figures(self.user, now=self.now)
        self.assertEqual((fleet.stale, fleet.stale_after), (0, timedelta(days=30)))
        self.assertEqual(fleet.by_state['ok'], 3)

    def test_tiles_by_site(self):
        tiles = {tile.name: tile for tile in group_tiles(self.user, 'site', now=self.now)}
        self.assertEqual(set(tiles), {'Alpha', HOSTILE, 'Gamma', 'No site'})
        alpha = tiles['Alpha']
        self.assertEqual((alpha.hosts, alpha.state.value, alpha.failed, alpha.probed), (2, 'failed', 1, 2))
        self.assertEqual(alpha.by_state['critical'], 1)
        self.assertEqual(alpha.discoveries['critical'], 2)
        self.assertEqual(alpha.coverage['silent'], 1)
        hostile = tiles[HOSTILE]
        self.assertEqual((hostile.hosts, hostile.state.value, hostile.stale), (2, 'high', 1))
        self.assertEqual(tiles['Gamma'].state.value, 'never')
        self.assertEqual(tiles['Gamma'].discoveries['low'], 1)
        self.assertEqual(tiles['Gamma'].coverage['reporting'], 1)
        no_site = tiles['No site']
        self.assertEqual((no_site.virtual_machines, no_site.devices, no_site.state.value), (2, 0, 'never'))
        # Links: the group's page and the filtered lists.
        self.assertEqual(alpha.url, self.alpha.get_absolute_url())
        self.assertEqual(alpha.device_list_url, f"{reverse('dcim:device_list')}?site_id={self.alpha.pk}")
        self.assertIsNone(alpha.vm_list_url)  # no VM there
        self.assertEqual(no_site.vm_list_url, f"{reverse('virtualization:virtualmachine_list')}?site_id=null")
        self.assertIsNone(no_site.url)
        # Worst first.
        self.assertEqual([tile.state.value for tile in tiles.values()][:1], ['failed'])
        order = [tile.name for tile in group_tiles(self.user, 'site', now=self.now)]
        self.assertEqual(order, ['Alpha', HOSTILE, 'Gamma', 'No site'])

    def test_tiles_by_role_cluster_and_tag(self):
        by_role = {tile.name: tile for tile in group_tiles(self.user, 'role', now=self.now)}
        self.assertEqual({name: (t.hosts, t.state.value) for name, t in by_role.items()},
                         {'Web': (5, 'failed'), 'Database': (2, 'critical'), 'No role': (1, 'never')})
        self.assertEqual(by_role['Web'].device_list_url, f"{reverse('dcim:device_list')}?role_id={self.web.pk}")

        by_cluster = {tile.name: tile for tile in group_tiles(self.user, 'cluster', now=self.now)}
        self.assertEqual({name: (t.hosts, t.state.value) for name, t in by_cluster.items()},
                         {'Backend': (3, 'never'), 'No cluster': (5, 'failed')})
        backend = by_cluster['Backend']
        self.assertEqual((backend.devices, backend.virtual_machines), (1, 2))
        self.assertEqual(backend.discovery_list_url,
                         f"{reverse('plugins:netbox_triage:discovery_list')}?cluster_id={self.cluster.pk}"
                         '&is_active=true')

        # A host with two tags is in both tiles; hosts without a tag share one.
        by_tag = {tile.name: tile for tile in group_tiles(self.user, 'tag', now=self.now)}
        self.assertEqual({name: (t.hosts, t.state.value) for name, t in by_tag.items()},
                         {'Tier 1': (2, 'failed'), HOSTILE: (1, 'high'), 'No tag': (6, 'critical')})
        self.assertEqual(by_tag['Tier 1'].device_list_url, f"{reverse('dcim:device_list')}?tag=tier-1")
        self.assertEqual(by_tag[HOSTILE].discoveries, {'critical': 0, 'high': 1, 'medium': 1, 'low': 0, 'info': 0})

    def test_filtered_list_links_show_the_tile_hosts(self):
        self.add_permissions('dcim.view_device', 'virtualization.view_virtualmachine')
        for group_by in BOARD_GROUPINGS:
            for tile in group_tiles(self.user, group_by, now=self.now):
                for url, count in ((tile.device_list_url, tile.devices), (tile.vm_list_url, tile.virtual_machines)):
                    if not url:
                        continue
                    with self.subTest(group_by=group_by, tile=tile.name, url=url):
                        response = self.client.get(url + '&export=table')
                        self.assertHttpStatus(response, 200)
                        rows = response.content.decode().strip().splitlines()[1:]
                        self.assertEqual(len(rows), count)

    def test_fleet_is_the_same_whatever_the_grouping(self):
        fleets = {group_by: board_figures(self.user, group_by, now=self.now).fleet for group_by in BOARD_GROUPINGS}
        for group_by, fleet in fleets.items():
            with self.subTest(group_by=group_by):
                self.assertEqual(fleet, fleets['tag'])  # tags: computed on its own; the others: from the tiles
        self.assertEqual(fleets['site'].hosts, 8)

    def test_unknown_group_falls_back_to_site(self):
        self.assertEqual(board_figures(self.user, 'nonsense', now=self.now).group_by, 'site')

    def test_open_incidents_loss_figures(self):
        figures, total = open_incident_figures(self.user, now=self.now)
        self.assertEqual(total, 2)
        self.assertEqual([item.incident for item in figures], [self.incident, self.quiet])  # most severe first
        item = figures[0]
        self.assertEqual(item.currency, 'USD')
        self.assertEqual(item.current_rate, Decimal('200000.00'))
        self.assertEqual(item.total_lost, Decimal('100000.00'))  # 1m/day for 2 h, then 200k/day for 2 h
        self.assertEqual(item.saved, Decimal('66666.67'))
        self.assertEqual(item.elapsed, timedelta(hours=4))
        self.assertIsNone(figures[1].currency)  # no loss rate yet

    def test_mixed_currencies_give_no_figures(self):
        BusinessImpact.objects.bulk_create([BusinessImpact(incident=self.quiet, effective_from=self.now,
                                                           loss_per_day=1, currency=code) for code in ('USD', 'EUR')])
        figures, _total = open_incident_figures(self.user, now=self.now)
        self.assertIn('several currencies', figures[1].error)
        self.assertIsNone(figures[1].total_lost)

    def test_timeline_newest_first_across_incidents(self):
        board = board_figures(self.user, now=self.now)
        # Incidents and loss rates also write system entries of their own.
        self.assertEqual(board.timeline, list(TimelineEntry.objects.order_by('-timestamp', '-pk')))
        self.assertEqual(board.timeline[-1].text, 'All good again')  # resolved incidents' entries too
        self.assertIn(self.resolved, {entry.incident for entry in board.timeline})

    def test_changed_hosts_follow_the_probe(self):
        """A probe that changes facts saves them; one that changes nothing only moves probed_at."""
        self.assertEqual(changed_hosts(self.user, now=self.now), ([], 0))
        result = probe_result(self.d_never, status=ProbeStatusChoices.UNREACHABLE, error='no route to host')
        apply_probe_result(self.d_never, result)  # first probe: new facts
        changed, total = changed_hosts(self.user)
        self.assertEqual(([item.host for item in changed], total), ([self.d_never], 1))
        self.assertEqual(changed[0].changelog_url,
                         reverse('plugins:netbox_triage:hostfacts_changelog', args=[changed[0].facts.pk]))
        _facts, was_changed = apply_probe_result(self.d_never, result)  # the same again: nothing changed
        self.assertFalse(was_changed)
        self.assertEqual(changed_hosts(self.user), ([], 0))
        apply_probe_result(self.d_never, probe_result(self.d_never, status=ProbeStatusChoices.TIMEOUT))
        self.assertEqual(changed_hosts(self.user)[1], 1)
        # Older than the window: not news any more.
        self.assertEqual(changed_hosts(self.user, now=self.now + timedelta(days=2))[1], 0)


class BoardPermissionsTest(BoardDataMixin, TestCase):
    """The board shows only what the user may view."""

    def grant(self, model, constraints=None, user=None):
        permission = ObjectPermission.objects.create(name=f'view {model._meta.label}', actions=['view'],
                                                     constraints=constraints)
        permission.object_types.add(ObjectType.objects.get_for_model(model))
        permission.users.add(user or self.user)

    def fresh_user(self):
        return User.objects.get(pk=self.user.pk)  # no cached permissions

    def test_nothing_to_view(self):
        board = board_figures(self.fresh_user(), now=self.now)
        self.assertEqual((board.fleet.hosts, board.tiles, board.incidents, board.timeline, board.changed),
                         (0, [], [], [], []))
        self.assertIsNone(board.fleet.all_discoveries)
        self.assertIsNone(board.fleet.coverage)
        html = render_board(board, self.fresh_user())
        self.assertIn('You may not view incidents.', html)
        self.assertIn('You may not view discoveries.', html)
        self.assertNotIn('Checkout down', html)

    def test_constrained_hosts_and_hidden_models(self):
        self.grant(Device, {'site__slug': 'alpha'})
        self.grant(Site)
        user = self.fresh_user()
        board = board_figures(user, now=self.now)
        self.assertEqual((board.fleet.hosts, board.fleet.devices, board.fleet.virtual_machines), (2, 2, 0))
        # No facts, discoveries or coverage may be viewed: no probe or discovery figure leaks into the states.
        self.assertEqual(board.fleet.by_state['unknown'], 2)
        self.assertEqual(board.fleet.discoveries['critical'], 0)
        self.assertEqual([tile.name for tile in board.tiles], ['Alpha'])
        html = render_board(board, user)
        self.assertIn('You may not view host facts', html)
        self.assertNotIn('d-critical', html)

    def test_constrained_discoveries_and_groups(self):
        self.grant(Device)
        self.grant(VirtualMachine)
        self.grant(HostFacts)
        self.grant(Discovery, {'severity__in': ['low', 'medium']})
        self.grant(Site, {'slug': 'alpha'})
        self.grant(Incident, {'severity': 'low'})
        self.grant(TimelineEntry)
        user = self.fresh_user()
        board = board_figures(user, now=self.now)
        self.assertEqual(board.fleet.all_discoveries, {'critical': 0, 'high': 0, 'medium': 3, 'low': 1, 'info': 0})
        self.assertEqual(board.fleet.by_state['critical'] + board.fleet.by_state['high'], 0)
        self.assertEqual([item.incident for item in board.incidents], [self.quiet])
        self.assertEqual(board.timeline, [])  # the entries belong to incidents the user may not view
        names = {tile.name for tile in board.tiles}
        self.assertIn('Alpha', names)
        self.assertNotIn(HOSTILE, names)  # a site the user may not view: counted, not named
        self.assertIn(f'site #{self.hostile_site.pk}', names)
        self.assertIsNone(board.fleet.coverage)
        self.assertIsNone(board.fleet.check_types)
        self.assertIsNone(board.fleet.coverage_summary())

    def test_constrained_coverage_counts_only_visible_rows(self):
        self.grant(Device)
        self.grant(MonitoringCoverage, {'system': MonitoringSystemChoices.ZABBIX})
        user = self.fresh_user()
        fleet = board_figures(user, now=self.now).fleet
        # d-ok's reporting Monit row is not visible: its planned Zabbix row is all that counts.
        self.assertEqual(fleet.coverage['planned'], 1)
        self.assertEqual(fleet.coverage['reporting'], 0)
        self.assertEqual((sum(fleet.check_types.values()), fleet.failing_checks), (0, 0))
        html = render_board(board_figures(user, now=self.now), user)
        self.assertIn('0 reporting hosts with a failing check', html)


class BoardTemplateTest(BoardDataMixin, TestCase):
    user_permissions = VIEW_ALL

    def test_render_escapes_netbox_data(self):
        for group_by in BOARD_GROUPINGS:
            with self.subTest(group_by=group_by):
                html = render_board(board_figures(self.user, group_by, now=self.now), self.user)
                self.assertNotIn(HOSTILE, html)
                self.assertNotIn('<script>alert', html)
        html = render_board(board_figures(self.user, 'site', now=self.now), self.user)
        self.assertIn('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;', html)  # site and incident names
        self.assertIn('Checkout down', html)
        self.assertIn('USD 200,000.00', html)
        self.assertIn('USD 100,000.00', html)
        self.assertIn('USD 66,666.67', html)
        self.assertIn('Took be-3 out', html)
        for state in HOST_STATES:
            self.assertIn(f'text-bg-{state.color}', html)
        self.assertIn('data-state="failed"', html)
        for key in BOARD_GROUPINGS:
            self.assertIn(f'href="?group_by={key}"', html)
        # The coverage summary: hosts per check type (every type, zeros dimmed) and failing checks.
        coverage = html[html.index('id="board-check-types"'):]
        self.assertRegex(coverage, r'data-check-type="disk">Disk <strong>1</strong>')
        self.assertRegex(coverage, r'opacity-50" data-check-type="memory">Memory <strong>0</strong>')
        self.assertIn('1 reporting host with a failing check', coverage)

    def test_render_adds_no_query(self):
        board = board_figures(self.user, 'tag', now=self.now)
        render_board(board, self.user)  # warm the user's own caches (config, permissions)
        with CaptureQueriesContext(connection) as ctx:
            render_board(board, self.user)
        own = [q['sql'] for q in ctx.captured_queries if 'netbox_triage' in q['sql'] or 'dcim_' in q['sql']]
        self.assertEqual(own, [])


class BoardQueryCountTest(TestCase):
    """The same number of queries for N and 2N hosts, discoveries and timeline entries."""

    model = Incident
    query_count_model_label = 'board'

    user_permissions = VIEW_ALL

    @classmethod
    def setUpTestData(cls):
        cls.sites = [Site.objects.create(name=f'Site {i}', slug=f'site-{i}') for i in range(3)]
        cls.tags = [Tag.objects.create(name=f'Tag {i}', slug=f'tag-{i}') for i in range(3)]
        cls.cluster = Cluster.objects.create(name='C', type=ClusterType.objects.create(name='T', slug='t'))
        cls.incident = Incident.objects.create(title='Night', started_at=timezone.now() - timedelta(hours=2))
        BusinessImpact.objects.create(incident=cls.incident, effective_from=cls.incident.started_at,
                                      loss_per_day=Decimal('1000'), currency='USD')
        cls.hosts_made = 0

    def add_hosts(self, number):
        start = type(self).hosts_made
        type(self).hosts_made += number
        now = timezone.now()
        for i in range(start, start + number):
            site = self.sites[i % len(self.sites)]
            host = (make_device(f'dev-{i}', site) if i % 3
                    else VirtualMachine.objects.create(name=f'vm-{i}', cluster=self.cluster))
            host.tags.set(self.tags[: i % 3])
            lookup = {'device': host} if isinstance(host, Device) else {'virtual_machine': host}
            facts = HostFacts.objects.create(status=ProbeStatusChoices.OK if i % 4 else ProbeStatusChoices.TIMEOUT,
                                             **lookup)
            HostFacts.objects.filter(pk=facts.pk).update(probed_at=now, last_ok_at=now)
            for severity in (SeverityChoices.CRITICAL, SeverityChoices.LOW)[: 1 + i % 2]:
                Discovery.objects.create(object_type=ContentType.objects.get_for_model(host), object_id=host.pk,
                                         rule='manual', severity=severity, title=f'{severity} {host}')
            MonitoringCoverage.objects.create(**lookup, state=MonitoringStateChoices.REPORTING,
                                              check_types=['disk', 'cpu'][: 1 + i % 2], failing_checks=i % 2)
            TimelineEntry.objects.create(incident=self.incident, text=f'Entry {i}')
            incident = Incident.objects.create(title=f'Incident {i}', started_at=now - timedelta(hours=1))
            BusinessImpact.objects.create(incident=incident, effective_from=incident.started_at,
                                          loss_per_day=Decimal('10'), currency='USD')

    def measure(self, group_by):
        user = User.objects.get(pk=self.user.pk)
        user.has_perm('dcim.view_device')  # load the permissions, as a request would have
        with CaptureQueriesContext(connection) as ctx:
            board = board_figures(user, group_by)
        with CaptureQueriesContext(connection) as render_ctx:
            render_board(board, user)
        return (len(ctx.captured_queries), len(render_ctx.captured_queries)), board

    def test_constant_query_count(self):
        for group_by in BOARD_GROUPINGS:
            with self.cleanupSubTest(group_by=group_by):
                type(self).hosts_made = 0
                self.add_hosts(6)
                small, board = self.measure(group_by)
                self.assertEqual(board.fleet.hosts, 6)
                self.add_hosts(12)
                large, board = self.measure(group_by)
                self.assertEqual(board.fleet.hosts, 18)
                self.assertEqual((board.fleet.check_types['disk'], board.fleet.check_types['cpu']), (18, 9))
                self.assertEqual(board.fleet.failing_checks, 9)
                self.assertEqual(len(board.incidents), 19)
                self.assertEqual(small, large)  # (figures, template render)
                self.assertLessEqual(large[0], 12)

    def test_board_page(self):
        url = reverse('plugins:netbox_triage:board')
        self.assertEqual(url, '/plugins/triage/')
        self.add_hosts(6)
        self.client.get(url)
        with assert_expected_query_count(self, 'board_page'):  # baseline in query_counts.json
            self.client.get(url + '?group_by=tag')
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url + '?group_by=tag')
        self.assertHttpStatus(response, 200)
        small = len(ctx.captured_queries)
        self.add_hosts(12)
        with CaptureQueriesContext(connection) as ctx:
            response = self.client.get(url + '?group_by=tag')
        self.assertHttpStatus(response, 200)
        self.assertEqual(len(ctx.captured_queries), small)
        self.assertContains(response, 'Tag 1')


class BoardWidgetsTest(BoardDataMixin, TestCase):
    user_permissions = VIEW_ALL

    def request(self, user=None):
        request = RequestFactory().get('/')
        request.user = user or self.user
        return request

    def test_widgets_register(self):
        from netbox.registry import registry

        from netbox_triage.widgets import FleetSanityWidget, OpenIncidentsWidget

        self.assertIs(registry['widgets']['netbox_triage.OpenIncidentsWidget'], OpenIncidentsWidget)
        self.assertIs(registry['widgets']['netbox_triage.FleetSanityWidget'], FleetSanityWidget)

    def test_open_incidents_widget(self):
        from netbox_triage.widgets import OpenIncidentsWidget

        html = OpenIncidentsWidget().render(self.request())
        self.assertIn('USD 200,000.00', html)
        self.assertIn('USD 100,0', html)  # a little more than 100,000 by now
        self.assertIn('Slow reports', html)
        self.assertNotIn('Old outage', html)
        self.assertNotIn(HOSTILE, html)
        self.assertIn('Checkout down &lt;script&gt;', html)
        html = OpenIncidentsWidget(config={'max_items': 1}).render(self.request())
        self.assertNotIn('Slow reports', html)
        self.assertIn('All 2 open incidents', html)
        nobody = User.objects.create_user(username='nobody')
        self.assertIn('You may not view incidents.', OpenIncidentsWidget().render(self.request(nobody)))

    def test_fleet_sanity_widget(self):
        from netbox_triage.widgets import FleetSanityWidget

        with CaptureQueriesContext(connection) as ctx:
            html = FleetSanityWidget().render(self.request())
        self.assertLessEqual(len(ctx.captured_queries), 6)
        for figure in ('8', '6', '1'):
            self.assertIn(f'\n          {figure}\n', html)
        self.assertIn('2 critical', html)
        self.assertIn('1 reporting', html)
        self.assertRegex(html, r'data-check-type="disk">1 disk</a>')
        self.assertNotIn('data-check-type="memory"', html)  # only the types some host proves
        self.assertIn('1 host failing a check', html)
        nobody = User.objects.create_user(username='nobody')
        html = FleetSanityWidget().render(self.request(nobody))
        self.assertNotIn('critical', html)
        self.assertNotIn('probed', html)
