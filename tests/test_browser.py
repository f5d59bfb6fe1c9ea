"""The night, walked in a real browser: headless Chromium (Debian's) driven by Playwright on a live NetBox with
the demo loaded, an RQ worker and the simulated seed fleet on loopback.

It opens the board and the incident, adds a timeline entry, probes the affected hosts, sees the discoveries
appear, downloads the SSH config and the post-mortem; it visits every page of the plugin in light and dark
mode and fails on any JavaScript error; and a host whose probe output carries `<script>` must show it as
text everywhere. Screenshots go to .netbox/log/browser/.
"""

import os
import shutil
import subprocess
import time
import unittest

from tests.live import INSTANCE, NETBOX, PASSWORD, USERNAME, environment, live_netbox, netbox

CHROMIUM = '/usr/bin/chromium'
SHOTS = INSTANCE / 'log' / 'browser'
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']
HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


# This test's own seed fleet: the seed addresses (10.0.x.y in NetBox) mapped to 127.107.x.y, so it runs beside
# the demo's fleet (127.100.x.y) and the other end-to-end tests'.
FLEET_PREFIX = '127.107'


def fleet_address(netbox_address):
    return f'{FLEET_PREFIX}.{".".join(netbox_address.split(".")[2:4])}'


@unittest.skipUnless(sync_playwright and os.path.exists(CHROMIUM), 'needs playwright and Debian chromium')
class BrowserNightTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = live_netbox()
        netbox('triage_demo')
        from netbox_triage.fleet.manifest import SEED_HOSTS, FleetHost
        from netbox_triage.fleet.server import FleetServer
        from netbox_triage.fleet.web import start_seed_web

        public_key = (INSTANCE / 'ssh' / 'id_ed25519.pub').read_text()
        hosts = [FleetHost(address=fleet_address(address), port=2222, profile=profile, name=name,
                           netbox_address=address) for name, address, profile in SEED_HOSTS]
        cls.fleet = FleetServer(hosts, state_dir=INSTANCE / 'e2e-browser-fleet', authorized_keys=[public_key])
        cls.fleet.start()
        cls.web = start_seed_web(hosts)
        # Point each seed host's triage.ssh override at this fleet (the demo points them at its own).
        netbox('shell', '--no-imports', '-c', (
            'from dcim.models import Device\n'
            'from virtualization.models import VirtualMachine\n'
            f'mapping = {({h.name: h.address for h in hosts})!r}\n'
            'for model in (Device, VirtualMachine):\n'
            '    for host in model.objects.filter(name__in=mapping):\n'
            '        host.local_context_data = {"triage": {"ssh": {"host": mapping[host.name], "port": 2222}}}\n'
            '        host.save()\n'
        ))
        cls.worker = subprocess.Popen(
            [str(NETBOX), 'rqworker', 'high', 'default', 'low'], env=environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        # A host whose probe output is hostile: its facts carry markup in every text field we show.
        netbox('shell', '--no-imports', '-c', (
            'from virtualization.models import VirtualMachine\n'
            'from netbox_triage.models import HostFacts, Discovery\n'
            'from django.contrib.contenttypes.models import ContentType\n'
            f'h = {HOSTILE!r}\n'
            'vm, _ = VirtualMachine.objects.get_or_create(name="xss-host")\n'
            'HostFacts.objects.update_or_create(virtual_machine=vm, defaults=dict(status="ok", os_pretty_name=h, '
            'kernel=h, raw_sections={"os": h}, facts={"os": {"pretty_name": h}}))\n'
            'Discovery.objects.get_or_create(rule="manual", title=h, defaults=dict(evidence_text=h, recommendation=h, '
            'object_type=ContentType.objects.get_for_model(vm), object_id=vm.pk, severity="high"))\n'
        ))
        SHOTS.mkdir(parents=True, exist_ok=True)
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()
        cls.worker.terminate()
        cls.worker.wait(timeout=30)
        for web in cls.web:
            web.shutdown()
            web.server_close()
        cls.fleet.stop()

    def new_page(self, dark=False):
        context = self.browser.new_context(viewport={'width': 1440, 'height': 1100}, accept_downloads=True)
        if dark:
            context.add_init_script("localStorage.setItem('netbox-color-mode', 'dark')")
        page = context.new_page()
        errors = []
        page.on('pageerror', lambda error: errors.append(str(error)))
        page.goto(f'{self.server.url}/login/')
        page.fill('input[name=username]', USERNAME)
        page.fill('input[name=password]', PASSWORD)
        page.click('button[type=submit]')
        page.wait_for_load_state()
        return page, errors

    def open(self, page, path):
        response = page.goto(f'{self.server.url}{path}')
        self.assertLess(response.status, 400, f'{path}: HTTP {response.status}')
        return response

    def incident_url(self, page):
        """The demo's incident (other end-to-end tests add incidents of their own to this database)."""
        self.open(page, '/plugins/triage/incidents/?q=Checkout+failing')
        return page.locator('table a:text("Checkout failing for one customer in three")').first.get_attribute('href')

    def test_1_walk_the_night(self):
        page, errors = self.new_page()
        self.open(page, '/plugins/triage/')
        page.screenshot(path=str(SHOTS / 'board.png'), full_page=True)
        incident = self.incident_url(page)
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
        deadline = time.monotonic() + 180
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
            self.assertIn('port 2222', resolved)
        page.locator('button:has-text("Post-mortem")').click()
        with page.expect_download() as download:
            page.locator('a.dropdown-item:has-text("Markdown")').click()
        postmortem = download.value.path().read_text()
        self.assertIn('Browser test&#58; consultant on site', postmortem)  # ':' is written as an entity
        self.assertIn('## Discoveries', postmortem)
        self.assertEqual(errors, [])

    def test_2_every_page_without_javascript_errors_in_light_and_dark(self):
        paths = ['/plugins/triage/', '/plugins/triage/incidents/', '/plugins/triage/discoveries/',
                 '/plugins/triage/dependencies/', '/plugins/triage/host-facts/', '/plugins/triage/timeline-entries/',
                 '/plugins/triage/business-impacts/', '/plugins/triage/affected-objects/',
                 '/plugins/triage/quick-add/', '/plugins/triage/monitoring-coverage/', '/plugins/triage/monit-agents/',
                 '/dcim/devices/', '/virtualization/virtual-machines/']
        for dark in (False, True):
            page, errors = self.new_page(dark=dark)
            incident = self.incident_url(page)
            topology = f'/plugins/triage/topology/netbox_triage.incident/{incident.rstrip("/").rsplit("/", 1)[-1]}/'
            for path in paths + [incident, topology]:
                self.open(page, path)
                if dark:
                    self.assertEqual(page.evaluate("document.documentElement.getAttribute('data-bs-theme')"), 'dark')
            # The first row of each list, opened.
            for path in ('/plugins/triage/discoveries/', '/plugins/triage/dependencies/',
                         '/plugins/triage/host-facts/', '/plugins/triage/monitoring-coverage/',
                         '/virtualization/clusters/', '/dcim/sites/', '/dcim/devices/'):
                self.open(page, path)
                link = page.locator('table.object-list tbody a[href]').first
                if link.count():
                    self.open(page, link.get_attribute('href'))
            page.screenshot(path=str(SHOTS / f'incident-{"dark" if dark else "light"}.png'), full_page=True)
            self.assertEqual(errors, [], f'JavaScript errors ({"dark" if dark else "light"} mode)')

    def test_3_hostile_probe_output_is_text_everywhere(self):
        page, errors = self.new_page()
        self.open(page, '/virtualization/virtual-machines/?q=xss-host')
        self.open(page, page.locator('table a:text("xss-host")').first.get_attribute('href'))
        pages = [page.url]
        self.open(page, '/plugins/triage/host-facts/?q=xss')
        pages.append(page.url)
        facts_link = page.locator('table tbody a[href*="/host-facts/"]').first
        if facts_link.count():
            pages.append(f'{self.server.url}{facts_link.get_attribute("href")}')
        pages += [f'{self.server.url}/plugins/triage/discoveries/', f'{self.server.url}/plugins/triage/']
        for url in pages:
            page.goto(url)
            self.assertIsNone(page.evaluate('window.__xss'), url)
            self.assertEqual(page.locator('img[src=x]').count(), 0, url)
        page.goto(pages[0])
        self.assertIn('&lt;script&gt;window.__xss', page.content())
        self.assertEqual(errors, [])


if __name__ == '__main__':
    unittest.main()
