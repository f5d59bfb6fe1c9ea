"""Take the README's screenshots from a running demo (`make demo`), in headless Chromium.

Usage: .venv/bin/python scripts/screenshots.py [BASE_URL]. Uses Debian's /usr/bin/chromium through
Playwright (its own browser download cannot work on these machines).
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else 'http://127.0.0.1:8000'
OUT = Path(__file__).resolve().parent.parent / 'docs' / 'img'
CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path='/usr/bin/chromium', args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1440, 'height': 1100})
        page.goto(f'{BASE}/login/')
        page.fill('input[name=username]', 'admin')
        page.fill('input[name=password]', 'admin')
        page.click('button[type=submit]')
        page.goto(f'{BASE}/plugins/triage/')
        page.wait_for_load_state('networkidle')
        page.screenshot(path=str(OUT / 'board.png'), full_page=True)
        page.goto(f'{BASE}/plugins/triage/incidents/')
        page.click('table a[href*="/plugins/triage/incidents/"]')
        page.wait_for_load_state('networkidle')
        page.screenshot(path=str(OUT / 'incident.png'), full_page=True)
        page.goto(f'{BASE}/plugins/triage/incidents/')
        page.screenshot(path=str(OUT / 'incidents.png'))
        browser.close()
    print(f'screenshots written to {OUT}')


if __name__ == '__main__':
    main()
