"""The loss chart and the post-mortem (Markdown, PDF through headless Chromium) and their doors."""

import io
import shutil
import unittest
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import markdown
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from utilities.testing import APITestCase, create_test_device

from netbox_triage.charts import loss_chart_svg
from netbox_triage.choices import *
from netbox_triage.impact import Rate, loss_series, summarise_loss
from netbox_triage.models import *
from netbox_triage.postmortem import md_text, render_pdf, render_postmortem

T0 = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script> [click](javascript:alert(2)) ![x](http://evil.example/p.png) **b** # h http://evil.example'


class LossSeriesTest(unittest.TestCase):
    rates = [Rate(T0, Decimal('1000000'), 'USD'), Rate(T0 + timedelta(hours=2), Decimal('200000'), 'USD')]

    def test_breakpoints_agree_with_the_summary(self):
        now = T0 + timedelta(hours=4)
        points = loss_series(self.rates, T0, now=now)
        self.assertEqual([p.at for p in points], [T0, T0 + timedelta(hours=2), now])
        self.assertEqual([p.rate for p in points], [Decimal('1000000.00'), Decimal('200000.00'),
                                                    Decimal('200000.00')])
        self.assertEqual(points[-1].total_lost, summarise_loss(self.rates, T0, now=now).total_lost)
        self.assertEqual(points[1].total_lost, Decimal('83333.33'))

    def test_resolved_incident_ends_at_zero(self):
        points = loss_series(self.rates, T0, now=T0 + timedelta(days=1), resolved_at=T0 + timedelta(hours=3))
        self.assertEqual(points[-1].at, T0 + timedelta(hours=3))
        self.assertEqual(points[-1].rate, Decimal('0.00'))

    def test_chart_is_well_formed_svg_that_follows_the_text_colour(self):
        svg = loss_chart_svg(self.rates, T0, now=T0 + timedelta(hours=4))
        root = ET.fromstring(svg)
        self.assertEqual(root.tag, '{http://www.w3.org/2000/svg}svg')
        self.assertIn('currentColor', svg)
        self.assertIn('USD per day', svg)
        self.assertNotIn('<script', svg)
        self.assertEqual(len(root.findall('{http://www.w3.org/2000/svg}path')), 2)


class MarkdownTextTest(unittest.TestCase):

    def test_hostile_text_stays_text(self):
        html = markdown.markdown(md_text(HOSTILE), extensions=['tables'])
        self.assertNotIn('<script', html)
        self.assertNotIn('<a', html)
        self.assertNotIn('<img', html)
        self.assertNotIn('<strong', html)
        self.assertNotIn('<h1', html)
        self.assertIn('&lt;script&gt;', html)
        self.assertNotIn('http://', md_text('see http://evil.example'))  # no bare-URL autolink either

    def test_table_cells_cannot_be_split(self):
        self.assertNotIn('\n', md_text('a\nb | c'))
        self.assertIn('\\|', md_text('a | b'))


@override_settings(EXEMPT_VIEW_PERMISSIONS=['*'])
class PostmortemTest(APITestCase):

    @classmethod
    def setUpTestData(cls):
        cls.incident = Incident.objects.create(title=HOSTILE, started_at=T0, summary=HOSTILE,
                                               severity=SeverityChoices.CRITICAL)
        BusinessImpact.objects.create(incident=cls.incident, effective_from=T0, loss_per_day=Decimal('1000000'),
                                      currency='USD', note=HOSTILE)
        BusinessImpact.objects.create(incident=cls.incident, effective_from=T0 + timedelta(hours=2),
                                      loss_per_day=Decimal('200000'), currency='USD')
        device = create_test_device(HOSTILE[:60])
        from django.contrib.contenttypes.models import ContentType

        device_type = ContentType.objects.get_for_model(device)
        IncidentObject.objects.create(incident=cls.incident, object_type=device_type, object_id=device.pk)
        TimelineEntry.objects.create(incident=cls.incident, timestamp=T0 + timedelta(minutes=5), text=HOSTILE)
        Discovery.objects.create(title=HOSTILE, rule='manual', severity='high', object_type=device_type,
                                 object_id=device.pk, recommendation=HOSTILE, evidence_text=HOSTILE)
        Discovery.objects.create(title='Old one', rule='manual', severity='low', object_type=device_type,
                                 object_id=device.pk, status=DiscoveryStatusChoices.RESOLVED)

    def setUp(self):
        super().setUp()
        self.client.force_login(self.user)

    def test_sections_and_figures(self):
        text = render_postmortem(self.incident, now=T0 + timedelta(hours=4)).markdown
        for heading in ('## Summary', '## Business impact', '## Affected objects', '## Timeline', '## Discoveries',
                        '## Topology', '## Follow-up actions'):
            self.assertIn(heading, text)
        self.assertIn('| Lost | USD 100,000.00 |', text)  # 2 h at 1m/day + 2 h at 200k/day
        self.assertIn('![Loss over time](data:image/svg+xml;base64,', text)
        self.assertIn('Old one', text)  # resolved discoveries are part of the story
        self.assertIn('- [ ] ', text)

    def test_hostile_names_are_inert_in_markdown_and_html(self):
        postmortem = render_postmortem(self.incident, now=T0 + timedelta(hours=4))
        html = postmortem.html()
        self.assertNotIn('<script', html)
        self.assertNotIn('href', html)  # the words stay, as text: no link
        self.assertNotIn('src="http', html)
        self.assertNotIn('<a ', html)
        self.assertEqual(html.count('<img'), 1)  # the chart only: no image from the data
        self.assertEqual(html.count('<h1'), 1)

    @unittest.skipUnless(shutil.which('chromium'), 'Chromium prints the PDF (apt-get install chromium)')
    def test_pdf(self):
        pdf = render_pdf(render_postmortem(self.incident, now=T0 + timedelta(hours=4)))
        self.assertTrue(pdf.startswith(b'%PDF'))
        self.assertGreater(len(pdf), 5000)

    def test_ui_and_rest_downloads(self):
        url = reverse('plugins:netbox_triage:incident_postmortem', kwargs={'pk': self.incident.pk})
        response = self.client.get(url)
        self.assertHttpStatus(response, 200)
        self.assertEqual(response['Content-Type'], 'text/markdown; charset=utf-8')
        self.assertIn(f'postmortem-incident-{self.incident.pk}.md', response['Content-Disposition'])
        self.add_permissions('netbox_triage.view_incident')
        api = reverse('plugins-api:netbox_triage-api:incident-postmortem', kwargs={'pk': self.incident.pk})
        response = self.client.get(api + '?format=md', **self.header)
        self.assertEqual(response.status_code, 200)
        self.assertIn(b'## Timeline', response.content)
        self.assertEqual(self.client.get(api + '?format=json', **self.header).json()['markdown'][:14],
                         '# Post-mortem:')

    @override_settings(EXEMPT_VIEW_PERMISSIONS=[])
    def test_restricted_user_sees_only_what_they_may_view(self):
        self.add_permissions('netbox_triage.view_discovery')
        text = render_postmortem(self.incident, user=self.user, now=T0 + timedelta(hours=4)).markdown
        self.assertIn('No timeline entry.', text)  # no view permission on timeline entries
        self.assertIn('Old one', text)

    def test_command(self):
        out = io.StringIO()
        call_command('triage_report', str(self.incident.pk), stdout=out)
        self.assertIn('# Post-mortem:', out.getvalue())
