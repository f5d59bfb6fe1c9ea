"""The night, walked in a real browser: headless Chromium (Debian's) driven by Playwright on a live NetBox with
the demo loaded, an RQ worker and the simulated seed fleet on loopback.

The steps run in order (test_1…test_3) on an instance of their own (database `TRIAGE_E2E_BROWSER_DB`, Redis DBs
`TRIAGE_E2E_BROWSER_REDIS_DB` and the next one, fleet on 127.107.x.y):

1. the walk: open the board and the incident, add a timeline entry, probe the affected hosts, see the discoveries
   appear, download the SSH config and the post-mortem;
2. every page of the plugin, enumerated from its URLconf, its navigation and the NetBox pages it extends (with
   the objects step 1 left behind), in light and dark mode: no JavaScript error, no console error;
3. two hosts (a device and a VM, affected by the incident) whose probe output carries markup in its OS names,
   hostname, kernel, a mount point, a process and package names (the fleet's `hostile-markup` profile) are
   probed through "Probe now" and the worker; every page that shows their facts, discoveries or timeline shows
   the markup as text: no element injected, no dialog, no JavaScript error.

Screenshots go to .netbox/log/browser/.
"""

import html.parser
import json
import os
import re
import shutil
import subprocess
import time
import unittest

from tests.live import INSTANCE, PASSWORD, USERNAME, IsolatedNetBox

CHROMIUM = '/usr/bin/chromium'
SHOTS = INSTANCE / 'log' / 'browser'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']
DATABASE = os.environ.get('TRIAGE_E2E_BROWSER_DB', 'netbox_triage_e2e_browser')
REDIS_DB = int(os.environ.get('TRIAGE_E2E_BROWSER_REDIS_DB', '2'))
INCIDENT_TITLE = 'Checkout failing for one customer in three'
WAIT_SECONDS = 180

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


# This test's own seed fleet: the seed addresses (10.0.x.y in NetBox) mapped to 127.107.x.y, so it runs beside
# the demo's fleet (127.100.x.y) and the other end-to-end tests'.
FLEET_PREFIX = '127.107'
FLEET_PORT = 2222


def fleet_address(netbox_address):
    return f'{FLEET_PREFIX}.{".".join(netbox_address.split(".")[2:4])}'


# The hostile hosts: NetBox names are plain, everything the probe brings back is not. What the pages must show
# as text, as netbox_triage/fleet/profiles/src/hostile-markup/ prints it (after the parsers' own hygiene).
HOSTILE_HOSTS = {'xss-device': f'{FLEET_PREFIX}.66.1', 'xss-vm': f'{FLEET_PREFIX}.66.2'}
PRETTY = '<script>window.__xss=1</script><img src=x onerror=alert(2)> "\' onmouseover=alert(11) Ubuntu 14.04.6 LTS'
PLATFORM = 'Ubuntu <i class=xss>LTS</i> 14.04'
KERNEL = '3.13.0-170-generic<img src=x onerror=alert(4)>'
DISK = '/srv/<img src=x onerror=alert(6)> is 99 % full'
HOSTNAME = '<svg onload=alert(3)>'
PROCESS = '<img src=x onerror=alert(7)>'
PACKAGE = '<script>window.__xss=8</script>'

# Run in the live instance (`netbox shell`): point the seed hosts at this test's fleet, add the hostile hosts (and
# a service, so the service page the plugin extends exists; test_3 makes them affected objects of the incident),
# put the plugin's widgets on the test user's dashboard and its facts columns on the device and VM lists. Prints
# the ids the steps need.
SETUP = """
import json
from django.contrib.contenttypes.models import ContentType
from dcim.models import Device, DeviceRole, DeviceType, Site
from extras.dashboard.utils import get_dashboard
from ipam.models import Service
from tenancy.models import Tenant
from users.models import User
from virtualization.models import VirtualMachine
from netbox_triage.models import Incident
from netbox_triage.widgets import FleetSanityWidget, OpenIncidentsWidget

data = json.loads(%r)
for model in (Device, VirtualMachine):
    for host in model.objects.filter(name__in=data['fleet']):
        host.local_context_data = {'triage': {'ssh': {'host': data['fleet'][host.name], 'port': data['port']}}}
        host.save()
site, role = Site.objects.get(name='Customer DC'), DeviceRole.objects.get(name='Backend')
common = dict(site=site, role=role, tenant=Tenant.objects.get(name='Web shop'))
device, _ = Device.objects.get_or_create(name='xss-device', defaults=dict(
    device_type=DeviceType.objects.get(model='Rack server'), **common))
vm, _ = VirtualMachine.objects.get_or_create(name='xss-vm', defaults=common)
for host in (device, vm):
    host.local_context_data = {'triage': {'ssh': {'host': data['hostile'][host.name], 'port': data['port']}}}
    host.save()
service, _ = Service.objects.get_or_create(
    name='xss-service', parent_object_type=ContentType.objects.get_for_model(vm), parent_object_id=vm.pk,
    defaults=dict(port_mappings=['tcp/9000']))
incident = Incident.objects.get(title=data['incident'])
user = User.objects.get(username=data['username'])
dashboard = get_dashboard(user)
for widget in (OpenIncidentsWidget, FleetSanityWidget):
    if not any(item['class'] == widget.name for item in dashboard.config.values()):
        dashboard.add_widget(widget(title=str(widget.default_title)))
dashboard.save()
for table in ('DeviceTable', 'VirtualMachineTable'):
    user.config.set(f'tables.{table}.columns', data['columns'], commit=True)
print(json.dumps({'device': device.pk, 'vm': vm.pk, 'incident': incident.pk}))
"""
LIST_COLUMNS = ['name', 'status', 'site', 'role', 'platform', 'triage_probe_status', 'triage_os', 'triage_kernel',
                'triage_virtualization', 'triage_probed_at', 'triage_monitoring']

# Run in the live instance: every page of the plugin, from its URLconf (each named route a browser can GET, with
# the first object of its model) and its menu, the board in each grouping, the dashboard, and the NetBox pages its
# template extensions add to (first object, or the list for list buttons). Downloads and POST-only actions are left
# out (test_1 and test_3 use them); `missing` names the models without an object to show.
ENUMERATE = """
import json
from django.apps import apps
from django.urls import URLPattern, URLResolver, reverse
from utilities.views import get_viewname
from netbox_triage import template_content, urls
from netbox_triage.board import BOARD_GROUPINGS
from netbox_triage.jobs import TOPOLOGY_MODELS
from netbox_triage.navigation import menu

NOT_PAGES = ('_bulk_edit', '_bulk_delete')  # POST targets: a GET only redirects to the list
DOWNLOADS = {'incident_postmortem', 'ssh_config_export', 'monit_export'}
pages, missing, left_out = [], [], []

def first(model):
    obj = model.objects.order_by('pk').only('pk').first()
    if obj is None and model._meta.label_lower not in missing:
        missing.append(model._meta.label_lower)
    return obj

def walk(patterns, params=()):
    for item in patterns:
        if isinstance(item, URLResolver):
            yield from walk(item.url_patterns, (*params, *item.pattern.converters))
        elif isinstance(item, URLPattern) and item.name:
            yield item, (*params, *item.pattern.converters)

for pattern, params in walk(urls.urlpatterns):
    name, view = pattern.name, getattr(pattern.callback, 'view_class', None)
    viewname = f'plugins:netbox_triage:{name}'
    if view is None or not hasattr(view, 'get') or name in DOWNLOADS or name.endswith(NOT_PAGES):
        left_out.append(name)
    elif not params:
        pages.append(reverse(viewname))
    elif set(params) == {'pk'}:
        obj = first(pattern.default_args.get('model') or view.queryset.model)
        if obj is not None:
            pages.append(reverse(viewname, kwargs={'pk': obj.pk}))
    elif set(params) == {'object_type', 'pk'}:
        for label in sorted(TOPOLOGY_MODELS):
            obj = first(apps.get_model(label))
            if obj is not None:
                pages.append(reverse(viewname, kwargs={'object_type': label, 'pk': obj.pk}))
    else:
        left_out.append(name)
for item in (item for group in menu.groups for item in group.items):
    pages += [reverse(link) for link in (item.link, *(button.link for button in item.buttons))]
board = reverse('plugins:netbox_triage:board')
pages += [f'{board}?group_by={group_by}' for group_by in BOARD_GROUPINGS]
pages.append('/')  # the dashboard, with the plugin's widgets
for extension in template_content.template_extensions:
    for label in extension.models:
        model = apps.get_model(label)
        if 'list_buttons' in vars(extension):
            pages.append(reverse(get_viewname(model, 'list')))
        elif (obj := first(model)) is not None:
            pages.append(obj.get_absolute_url())
print(json.dumps({'pages': list(dict.fromkeys(pages)), 'missing': missing, 'left_out': left_out}))
"""

# In the page: what hostile text may have turned into. Markup shown as text leaves none of these.
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    if (el.matches('.xss, img[src="x"], svg[onload]')) found.push(el.outerHTML.slice(0, 200));
    for (const attr of el.attributes) {
      if (/alert\\(|__xss/.test(attr.value) && (attr.name.startsWith('on') || attr.name === 'href'
                                              || attr.name === 'src')) {
        found.push(`<${el.tagName.toLowerCase()} ${attr.name}="${attr.value}">`);
      }
    }
    if (el.tagName === 'SCRIPT' && el.textContent.includes('__xss')) found.push(el.outerHTML.slice(0, 200));
  }
  return {found, xss: window.__xss === undefined ? null : String(window.__xss)};
}"""


class _Elements(html.parser.HTMLParser):
    """The tags and the text of an HTML fragment (for the post-mortem's Markdown, rendered)."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@unittest.skipUnless(sync_playwright and os.path.exists(CHROMIUM), 'needs playwright and Debian chromium')
class BrowserNightTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        from netbox_triage.fleet.manifest import SEED_HOSTS, FleetHost
        from netbox_triage.fleet.server import FleetServer
        from netbox_triage.fleet.web import start_seed_web

        cls.server = IsolatedNetBox(DATABASE, REDIS_DB, keep_db=os.environ.get('TRIAGE_E2E_KEEP_DB') == '1')
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.server.netbox('triage_demo')
        public_key = (INSTANCE / 'ssh' / 'id_ed25519.pub').read_text()
        hosts = [FleetHost(address=fleet_address(address), port=FLEET_PORT, profile=profile, name=name,
                           netbox_address=address) for name, address, profile in SEED_HOSTS]
        hosts += [FleetHost(address=address, port=FLEET_PORT, profile='hostile-markup', name=name)
                  for name, address in HOSTILE_HOSTS.items()]
        cls.fleet = FleetServer(hosts, state_dir=INSTANCE / 'e2e-browser-fleet', authorized_keys=[public_key])
        cls.fleet.start()
        cls.addClassCleanup(cls.fleet.stop)
        cls.web = start_seed_web(hosts)
        for web in cls.web:
            cls.addClassCleanup(web.server_close)
            cls.addClassCleanup(web.shutdown)
        data = {
            'fleet': {name: fleet_address(address) for name, address, _profile in SEED_HOSTS},
            'hostile': HOSTILE_HOSTS, 'port': FLEET_PORT, 'incident': INCIDENT_TITLE, 'username': USERNAME,
            'columns': LIST_COLUMNS,
        }
        output = cls.server.netbox('shell', '--no-imports', '-c', SETUP % json.dumps(data)).stdout
        cls.ids = json.loads(output.strip().splitlines()[-1])
        SHOTS.mkdir(parents=True, exist_ok=True)
        cls.playwright = sync_playwright().start()
        cls.addClassCleanup(cls.playwright.stop)
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        cls.addClassCleanup(cls.browser.close)

    def new_page(self, dark=False):
        """A logged-in page; returns it and the list its JavaScript errors, console errors and dialogs go to."""
        context = self.browser.new_context(viewport={'width': 1440, 'height': 1100}, accept_downloads=True)
        self.addCleanup(context.close)
        if dark:
            context.add_init_script("localStorage.setItem('netbox-color-mode', 'dark')")
        page = context.new_page()
        errors = []
        page.on('pageerror', lambda error: errors.append(f'{page.url}: pageerror: {error}'))
        page.on('console', lambda message: errors.append(f'{page.url}: console.error: {message.text}')
                if message.type == 'error' else None)

        def dialog(opened):
            errors.append(f'{page.url}: {opened.type} dialog: {opened.message}')
            opened.dismiss()
        page.on('dialog', dialog)
        page.goto(f'{self.server.url}/login/')
        page.fill('input[name=username]', USERNAME)
        page.fill('input[name=password]', PASSWORD)
        page.click('button[type=submit]')
        page.wait_for_load_state()
        return page, errors

    def open(self, page, path):
        response = page.goto(path if path.startswith('http') else f'{self.server.url}{path}')
        self.assertLess(response.status, 400, f'{path}: HTTP {response.status}')
        return response

    def link(self, page, selector, what):
        """The href of the first element matching `selector`; fails (never skips) when the page has none."""
        found = page.locator(selector)
        self.assertGreater(found.count(), 0, f'{page.url}: no {what} ({selector})')
        return found.first.get_attribute('href')

    def incident_url(self):
        return f'/plugins/triage/incidents/{self.ids["incident"]}/'

    def test_1_walk_the_night(self):
        page, errors = self.new_page()
        self.open(page, '/plugins/triage/')
        page.screenshot(path=str(SHOTS / 'board.png'), full_page=True)
        incident = self.incident_url()
        self.open(page, incident)
        # A timeline entry, through the incident page's inline form.
        page.fill('textarea[name=text], input[name=text]', 'Browser test: consultant on site')
        page.locator('button:has-text("Add entry")').click()
        page.wait_for_load_state()
        self.assertIn('Browser test: consultant on site', page.content())
        # Probe the affected hosts (quick action), then wait for their discoveries.
        page.locator('button:has-text("Affected hosts")').click()
        page.locator('button:has-text("Probe them")').click()
        page.wait_for_load_state()
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            self.open(page, incident)
            if 'Red Hat Enterprise Linux 4 is past end of life' in page.content():
                break
            time.sleep(3)
        self.assertIn('Red Hat Enterprise Linux 4 is past end of life', page.content())
        self.assertIn('Heartbleed', page.content())
        page.screenshot(path=str(SHOTS / 'incident.png'), full_page=True)
        # Downloads: the affected hosts' SSH config, the post-mortem.
        page.locator('button:has-text("Affected hosts")').click()
        with page.expect_download() as download:
            page.locator('a:has-text("SSH config")').click()
        ssh_config = download.value.path().read_text()
        self.assertIn('Host be-1', ssh_config)
        if shutil.which('ssh'):
            resolved = subprocess.run(['ssh', '-G', '-F', str(download.value.path()), 'be-1'], capture_output=True,
                                      text=True, check=True).stdout
            # be-1 (10.0.11.1 in NetBox) is mapped to this test's fleet: the export dials what the probe does.
            self.assertIn(f'hostname {fleet_address("10.0.11.1")}', resolved)
            self.assertIn(f'port {FLEET_PORT}', resolved)
        postmortem = self.download_postmortem(page)
        self.assertIn('Browser test&#58; consultant on site', postmortem)  # ':' is written as an entity
        self.assertIn('## Discoveries', postmortem)
        self.assertEqual(errors, [])

    def download_postmortem(self, page):
        self.open(page, self.incident_url())
        page.locator('button:has-text("Post-mortem")').click()
        with page.expect_download() as download:
            page.locator('a.dropdown-item:has-text("Markdown")').click()
        return download.value.path().read_text()

    def test_2_every_page_without_javascript_errors_in_light_and_dark(self):
        found = json.loads(self.server.netbox('shell', '--no-imports', '-c', ENUMERATE).stdout.strip().splitlines()[-1])
        self.assertEqual(found['missing'], [], 'models without an object to show (test_1 probes the hosts)')
        pages = found['pages']
        for required in ('/plugins/triage/unmonitored/devices/', '/plugins/triage/unmonitored/virtual-machines/',
                         '/plugins/triage/incidents/add/', '/plugins/triage/?group_by=tag', '/dcim/devices/'):
            self.assertIn(required, pages)
        for pattern in (r'/timeline-entries/\d+/$', r'/business-impacts/\d+/$', r'/affected-objects/\d+/$',
                        r'/monit-agents/\d+/$', r'/monitoring-coverage/\d+/$', r'/monitoring-coverage/\d+/edit/$',
                        r'/topology/dcim\.site/\d+/$', r'/topology/virtualization\.cluster/\d+/$',
                        r'/host-facts/\d+/$', r'/discoveries/\d+/edit/$', r'/ipam/services/\d+/$'):
            self.assertTrue(any(re.search(pattern, path) for path in pages), f'no page matches {pattern}')
        for dark in (False, True):
            page, errors = self.new_page(dark=dark)
            mode = 'dark' if dark else 'light'
            for path in pages:
                with self.subTest(path=path, mode=mode):
                    self.open(page, path)
                    page.wait_for_load_state('networkidle')
                    if dark:
                        self.assertEqual(page.evaluate("document.documentElement.getAttribute('data-bs-theme')"),
                                         'dark')
            self.open(page, self.incident_url())
            page.screenshot(path=str(SHOTS / f'incident-{mode}.png'), full_page=True)
            self.assertEqual(errors, [], f'JavaScript errors, console errors or dialogs ({mode} mode)')

    def check_inert(self, page, errors, expected=()):
        """Hostile text on this page is text: each of `expected` is in the page's text, nothing was injected, no
        dialog opened, no JavaScript or console error. Returns what is wrong (the test reports every page)."""
        page.wait_for_load_state('networkidle')
        text = page.evaluate('document.body.textContent')
        where = page.url.removeprefix(self.server.url)
        leaks = [f'{where}: not shown as text: {value!r}' for value in expected if value not in text]
        found = page.evaluate(INJECTED)
        leaks += [f'{where}: injected: {element}' for element in found['found']]
        if found['xss'] is not None:
            leaks.append(f'{where}: a script ran (window.__xss = {found["xss"]})')
        leaks += errors
        errors.clear()
        return leaks

    def wait_for_text(self, page, path, value):
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            self.open(page, path)
            if value in page.evaluate('document.body.textContent'):
                return
            self.assertLess(time.monotonic(), deadline, f'{path}: no {value!r} after {WAIT_SECONDS} s')
            time.sleep(2)

    def test_3_hostile_probe_output_is_text_everywhere(self):
        page, errors = self.new_page()
        leaks = []
        hosts = {'xss-device': f'/dcim/devices/{self.ids["device"]}/',
                 'xss-vm': f'/virtualization/virtual-machines/{self.ids["vm"]}/'}
        # Affected objects of the incident (REST API), then probed through the UI's "Probe now", the RQ worker and
        # the simulated fleet; the rules run after the probe and write the critical findings into the timeline.
        api = self.playwright.request.new_context(base_url=self.server.url, extra_http_headers={
            'Authorization': f'Bearer {self.server.token}', 'Accept': 'application/json'})
        self.addCleanup(api.dispose)
        for model, key in (('dcim.device', 'device'), ('virtualization.virtualmachine', 'vm')):
            response = api.post('/api/plugins/triage/affected-objects/', data={
                'incident': self.ids['incident'], 'object_type': model, 'object_id': self.ids[key]})
            self.assertEqual(response.status, 201, response.text())
        for name, path in hosts.items():
            self.open(page, path)
            button = page.locator('button:has-text("Probe now")')
            self.assertEqual(button.count(), 1, f'{name}: no "Probe now" button')
            # The click posts a form: wait for its answer, or the next page opened could cut the request short.
            with page.expect_navigation():
                button.click()
            page.wait_for_load_state()
        for name, path in hosts.items():
            self.wait_for_text(page, path, PRETTY)
            self.wait_for_text(page, path, DISK)  # the disk rule's discovery, in the host's Discoveries panel

        # The host pages (Facts and Discoveries panels) and the lists with the facts columns.
        for name, path in hosts.items():
            self.open(page, path)
            leaks += self.check_inert(page, errors, (PRETTY, KERNEL, DISK, PLATFORM))
            page.screenshot(path=str(SHOTS / f'hostile-{name}.png'), full_page=True)
        for path in ('/dcim/devices/?q=xss-', '/virtualization/virtual-machines/?q=xss-'):
            self.open(page, path)
            leaks += self.check_inert(page, errors, (PRETTY, KERNEL, PLATFORM))
        # Host facts: the list, then each host's facts (raw sections and parsed facts).
        self.open(page, '/plugins/triage/host-facts/?q=xss-')
        leaks += self.check_inert(page, errors, (PRETTY, KERNEL))
        facts_links = page.locator('table tbody a[href*="/host-facts/"]')
        hrefs = [facts_links.nth(i).get_attribute('href') for i in range(facts_links.count())]
        facts_pages = sorted({href for href in hrefs if re.fullmatch(r'/plugins/triage/host-facts/\d+/', href)})
        self.assertEqual(len(facts_pages), 2, "the host facts list does not link both hostile hosts' facts")
        for path in facts_pages:
            self.open(page, path)
            leaks += self.check_inert(page, errors, (PRETTY, KERNEL, HOSTNAME, PROCESS, PACKAGE, DISK.split(' is ')[0]))
        # Their discoveries: the lists and each discovery's page (the EOL evidence quotes the OS's pretty name).
        discovery_pages = set()
        for query in (f'device_id={self.ids["device"]}', f'virtual_machine_id={self.ids["vm"]}'):
            self.open(page, f'/plugins/triage/discoveries/?{query}')
            leaks += self.check_inert(page, errors, (DISK,))
            self.open(page, self.link(page, 'table tbody a[href*="/discoveries/"]:has-text("past end of life")',
                                      'end-of-life discovery'))
            discovery_pages.add(page.url)
            leaks += self.check_inert(page, errors, (PRETTY,))
            self.open(page, f'/plugins/triage/discoveries/?{query}')
            self.open(page, self.link(page, 'table tbody a[href*="/discoveries/"]:has-text("% full")',
                                      'disk discovery'))
            discovery_pages.add(page.url)
            leaks += self.check_inert(page, errors, (DISK,))
        self.assertEqual(len(discovery_pages), 4)

        # The incident: affected hosts, discoveries, timeline (the rules wrote the critical ones into it).
        incident = self.incident_url()
        topology = f'/plugins/triage/topology/netbox_triage.incident/{self.ids["incident"]}/'
        self.open(page, topology)
        page.locator('form button[type=submit]:has-text("Render")').click()
        page.wait_for_load_state()
        svgs = self.wait_for_topology(page, topology, hosts)
        self.open(page, incident)
        leaks += self.check_inert(page, errors, (PRETTY, DISK, f'Discovery (critical): {DISK}.'))
        self.assertGreater(page.locator('img[src^="data:image/svg+xml"]').count(), 0, 'no topology panel')
        page.screenshot(path=str(SHOTS / 'hostile-incident.png'), full_page=True)
        self.open(page, topology)
        leaks += self.check_inert(page, errors)
        self.assertGreater(page.locator('.card-body img[src^="data:image/svg+xml"]').count(), 0,
                           'the topology page shows no diagram')
        for svg in svgs:
            self.assertNotRegex(svg, r'(?i)<script|<foreignObject|\son\w+\s*=|javascript:')
            self.assertNotIn('<img', svg)
        # The board, in each grouping, and the timeline list.
        for query in ('', '?group_by=site', '?group_by=role', '?group_by=cluster', '?group_by=tag'):
            self.open(page, f'/plugins/triage/{query}')
            leaks += self.check_inert(page, errors, (f'Discovery (critical): {DISK}.',))
        self.open(page, '/plugins/triage/timeline-entries/?q=full')
        leaks += self.check_inert(page, errors, (f'Discovery (critical): {DISK}.',))
        page.screenshot(path=str(SHOTS / 'hostile-timeline.png'), full_page=True)

        # The post-mortem's Markdown: the markup is escaped text, rendered or not.
        postmortem = self.download_postmortem(page)
        self.assertNotRegex(postmortem, r'(?i)<(script|img|svg|i)\b')
        import markdown

        rendered = _Elements()
        rendered.feed(markdown.markdown(postmortem))
        # Its own pictures (the loss chart, the diagram) are data: images; nothing else may become an element.
        self.assertEqual([(tag, attrs) for tag, attrs in rendered.tags if tag in ('script', 'svg', 'i')
                          or tag == 'img' and not attrs.get('src', '').startswith('data:image/')], [])
        self.assertIn(DISK, ''.join(rendered.text))
        leaks += errors
        if leaks:
            self.fail('markup from the probe output is not plain text on these pages:\n' + '\n'.join(leaks))

    def wait_for_topology(self, page, topology, hosts):
        """The SVG parts of the newest render once it draws the hostile hosts (rendered by the worker)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            self.open(page, topology)
            links = page.locator('a[href*="download=svg"]')
            svgs = [page.request.get(f'{self.server.url}{topology}{links.nth(i).get_attribute("href")}').text()
                    for i in range(links.count())]
            if all(any(name in svg for svg in svgs) for name in hosts):
                return svgs
            self.assertLess(time.monotonic(), deadline, f'{topology}: no diagram of {", ".join(hosts)}')
            time.sleep(3)


if __name__ == '__main__':
    unittest.main()
