"""The post-mortem of an incident: a Markdown document, and a PDF printed from it by headless Chromium.

Everything that comes from NetBox (titles, names, notes, evidence, the summary) is written as escaped
text: Markdown's punctuation is backslash-escaped and `<`, `>`, `&` become entities, so a hostile name
cannot become a link, an image, a heading or a script in either format. The HTML for the PDF is also
cleaned with nh3 before Chromium sees it, and Chromium runs without network access to anything.
"""

import base64
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import markdown
import nh3
from django.utils import timezone

from .charts import loss_chart_svg
from .choices import DiscoveryStatusChoices
from .impact import MixedCurrenciesError, Rate
from .markdown_text import md_text

__all__ = ('Postmortem', 'PostmortemError', 'loss_chart_for', 'md_text', 'render_postmortem', 'render_pdf')

CHROMIUM = '/usr/bin/chromium'
PDF_TIMEOUT = 90
TIMELINE_LIMIT = 2000
DISCOVERY_LIMIT = 1000


class PostmortemError(Exception):
    """The PDF could not be printed (no Chromium, timeout, crash)."""


def _cell(value):
    return md_text(value) or '—'


def _when(value):
    return f'{value:%Y-%m-%d %H:%M %Z}' if value else '—'


def _rates(incident):
    return [Rate(i.effective_from, i.loss_per_day, i.currency) for i in incident.impacts.all()]


def loss_chart_for(incident, now=None):
    """The incident's loss chart as SVG text (None without loss rates)."""
    rates = _rates(incident)
    if not rates:
        return None
    return loss_chart_svg(rates, incident.started_at, now=now or timezone.now(), resolved_at=incident.resolved_at)


@dataclass
class Postmortem:
    markdown: str
    filename: str

    def html(self):
        """Standalone, sanitised HTML of the Markdown (the PDF's source)."""
        body = markdown.markdown(self.markdown, extensions=['tables'])
        body = nh3.clean(body, url_schemes={'data'}, tags={
            'h1', 'h2', 'h3', 'p', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'ul', 'ol', 'li', 'strong', 'em',
            'code', 'pre', 'img', 'br', 'hr', 'blockquote',
        }, attributes={'img': {'src', 'alt'}, 'th': {'align'}, 'td': {'align'}})
        return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Post-mortem</title><style>'
                'body{font-family:sans-serif;font-size:11pt;margin:2em;color:#111}'
                'table{border-collapse:collapse;width:100%;margin:0.5em 0 1em}'
                'th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top;font-size:9.5pt}'
                'img{max-width:100%}h1{font-size:18pt}h2{font-size:14pt;margin-top:1.5em}'
                '</style></head><body>' + body + '</body></html>')


def render_postmortem(incident, user=None, now=None):
    """The Markdown post-mortem of ``incident``; with ``user``, only what that user may view is included."""
    from .jobs import latest_topology
    from .models import Discovery, IncidentObject, TimelineEntry

    def visible(queryset):
        return queryset.restrict(user, 'view') if user is not None else queryset

    now = now or timezone.now()
    out = [f'# Post-mortem: {md_text(incident.title)}', '']
    out += [
        '| | |', '|---|---|',
        f'| Status | {_cell(incident.get_status_display())} |',
        f'| Severity | {_cell(incident.get_severity_display())} |',
        f'| Started | {_when(incident.started_at)} |',
        f'| Detected | {_when(incident.detected_at)} |',
        f'| Resolved | {_when(incident.resolved_at)} |',
        f'| Duration | {_duration((incident.resolved_at or now) - incident.started_at)} |',
        f'| Tenant | {_cell(incident.tenant)} |',
        f'| Report generated | {_when(now)} |',
        '',
    ]
    out += ['## Summary', '']
    if incident.summary or incident.description:
        for paragraph in (incident.description, incident.summary):
            if paragraph:
                out += [md_text(line, inline=False) for line in str(paragraph).splitlines()] + ['']
    else:
        out += ['No summary was written.', '']

    out += ['## Business impact', '']
    try:
        summary = incident.loss_summary(now=now)
    except MixedCurrenciesError as exc:
        out += [md_text(str(exc)), '']
    else:
        if summary.currency:
            money = f'{md_text(summary.currency)} {{:,.2f}}'
            out += [
                '| | |', '|---|---|',
                f'| Loss rate {"at resolution" if incident.resolved_at else "now"} | '
                f'{money.format(summary.current_rate)} per day |',
                f'| Lost | {money.format(summary.total_lost)} |',
                f'| Saved by mitigations | {money.format(summary.saved)} (against the first rate of '
                f'{money.format(summary.first_rate)} per day) |',
                '',
                '| Effective from | Loss per day | Basis | Note |', '|---|---|---|---|',
            ]
            for impact in incident.impacts.all():
                out.append(f'| {_when(impact.effective_from)} | {money.format(impact.loss_per_day)} | '
                           f'{_cell(impact.get_basis_display())} | {_cell(impact.note)} |')
            chart = loss_chart_for(incident, now=now)
            out += ['', f'![Loss over time](data:image/svg+xml;base64,{base64.b64encode(chart.encode()).decode()})',
                    '']
        else:
            out += ['No loss rate was recorded.', '']

    affected = visible(IncidentObject.objects.filter(incident=incident)).prefetch_related('object')
    out += ['## Affected objects', '']
    rows = [f'| {_cell(item.object_type.name if item.object_type else "")} | {_cell(item.object)} | '
            f'{_cell(item.note)} |' for item in affected.select_related('object_type')]
    out += (['| Type | Object | Note |', '|---|---|---|', *rows] if rows else ['None recorded.']) + ['']

    entries = list(visible(TimelineEntry.objects.filter(incident=incident)).select_related('author')
                   .order_by('timestamp', 'pk')[:TIMELINE_LIMIT + 1])
    out += ['## Timeline', '']
    if entries:
        out += ['| Time | Kind | What happened | By |', '|---|---|---|---|']
        out += [f'| {_when(e.timestamp)} | {_cell(e.get_kind_display())} | {_cell(e.text)} | {_cell(e.author)} |'
                for e in entries[:TIMELINE_LIMIT]]
        if len(entries) > TIMELINE_LIMIT:
            out.append(f'| | | … the first {TIMELINE_LIMIT} entries only | |')
    else:
        out.append('No timeline entry.')
    out.append('')

    discoveries = list(visible(Discovery.objects.for_incident(incident)).prefetch_related('object')
                       .order_by('status', 'severity', 'pk')[:DISCOVERY_LIMIT])
    out += ['## Discoveries', '']
    if discoveries:
        out += ['| Severity | Discovery | About | Status | First seen | Resolved |', '|---|---|---|---|---|---|']
        out += [f'| {_cell(d.get_severity_display())} | {_cell(d.title)} | {_cell(d.object or "fleet")} | '
                f'{_cell(d.get_status_display())} | {_when(d.first_seen)} | {_when(d.resolved_at)} |'
                for d in discoveries]
    else:
        out.append('No discovery about the affected objects.')
    out.append('')

    # The newest diagram the reader may view in full: never an admin's render showing hosts they may not see.
    _pending, job = latest_topology(incident, user)
    parts = (job.data or {}).get('parts') or [] if job else []
    out += ['## Topology', '']
    pictures = [part for part in parts if part.get('png')]
    if pictures:
        for part in pictures:
            out += [f'![{md_text(part["title"])}](data:image/png;base64,{part["png"]})', '']
    else:
        out += ['No diagram you may see was rendered (render it from the incident page).', '']

    out += ['## Follow-up actions', '']
    follow_ups = {}
    for discovery in discoveries:
        if discovery.status in DiscoveryStatusChoices.ACTIVE and discovery.recommendation:
            follow_ups.setdefault(discovery.recommendation, []).append(discovery)
    if follow_ups:
        for recommendation, items in follow_ups.items():
            about = ', '.join(sorted({md_text(d.object or 'fleet') for d in items}))
            out.append(f'- [ ] {md_text(recommendation)} ({about})')
    else:
        out.append('- [ ] Nothing open: confirm with the team and close the incident.')
    out.append('')
    return Postmortem(markdown='\n'.join(out), filename=f'postmortem-incident-{incident.pk}')


def _duration(delta):
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    return ' '.join(part for part in (f'{days} d' if days else '', f'{hours} h' if hours or days else '',
                                      f'{minutes} min') if part)


def render_pdf(postmortem, timeout=PDF_TIMEOUT):
    """Print the post-mortem's HTML to PDF with headless Chromium (no network, throw-away profile)."""
    chromium = shutil.which('chromium') or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if chromium is None:
        raise PostmortemError('Chromium is not installed (apt-get install chromium): the PDF cannot be printed; '
                              'the Markdown is available.')
    with tempfile.TemporaryDirectory(prefix='triage-postmortem-') as directory:
        source, target = Path(directory, 'postmortem.html'), Path(directory, 'postmortem.pdf')
        source.write_text(postmortem.html(), encoding='utf-8')
        command = [
            chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--proxy-server=127.0.0.1:9', '--proxy-bypass-list=<-loopback>', f'--user-data-dir={directory}/profile',
            '--no-pdf-header-footer', f'--print-to-pdf={target}', source.as_uri(),
        ]
        try:
            subprocess.run(command, cwd=directory, env={'HOME': directory, 'PATH': '/usr/bin:/bin'},
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PostmortemError(f'Chromium did not print the PDF within {timeout} s.') from None
        if not target.is_file() or not target.read_bytes().startswith(b'%PDF'):
            raise PostmortemError('Chromium did not write a PDF.')
        return target.read_bytes()
