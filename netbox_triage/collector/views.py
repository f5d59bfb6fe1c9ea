"""The collector's door: a plain Django view Monit POSTs its status and events to (`set mmonit <url>`).

Not a NetBox view: there is no session and no CSRF token, only HTTP Basic credentials checked against the
settings (auth.py). Every refusal is a 4xx with a one-line plain-text reason, and nothing is written:
credentials are checked before the body is read, the size before it is parsed, and the parse before any
query. Monit treats any 2xx as delivered; an unknown host gets 202 (kept for a person to map).
"""

import logging

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..settings import get_setting
from .auth import check_credentials, collector_user
from .ingest import ingest_report
from .parser import MonitPayloadError, parse_monit_xml

__all__ = ('MonitCollectorView',)

logger = logging.getLogger('netbox_triage.collector')


def _answer(status, text, **headers):
    response = HttpResponse(text + '\n', status=status, content_type='text/plain; charset=utf-8')
    for name, value in headers.items():
        response[name.replace('_', '-')] = value
    return response


def _read_body(request, limit):
    """The body, or a refusal when it is larger than ``limit`` (declared or actual) or compressed."""
    encoding = request.META.get('HTTP_CONTENT_ENCODING', '').strip().lower()
    if encoding not in ('', 'identity'):
        raise MonitPayloadError(f'Content-Encoding {encoding[:20]!r} is not accepted (send plain XML)', 415)
    declared = request.META.get('CONTENT_LENGTH') or ''
    if declared.strip().isdigit() and int(declared) > limit:
        raise MonitPayloadError(f'body of {int(declared)} bytes is over the limit of {limit} bytes', 413)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise MonitPayloadError(f'body is over the limit of {limit} bytes', 413)
    return body


@method_decorator(csrf_exempt, name='dispatch')
class MonitCollectorView(View):
    http_method_names = ['post']

    def post(self, request):
        if not get_setting('monit_collector_enabled'):
            return _answer(404, 'the Monit collector is not enabled')
        if not check_credentials(request.META.get('HTTP_AUTHORIZATION')):
            return _answer(401, 'wrong or missing credentials', WWW_Authenticate='Basic realm="netbox-triage monit"')
        try:
            report = parse_monit_xml(_read_body(request, get_setting('monit_collector_max_bytes')))
        except MonitPayloadError as exc:
            logger.warning('monit collector: refused a report from %s: %s', request.META.get('REMOTE_ADDR'),
                           exc.reason)
            return _answer(exc.status, f'refused: {exc.reason}')
        user = collector_user()
        if user is None:
            return _answer(503, f'the collector user {get_setting("monit_collector_user")!r} does not exist or is '
                                'not active')
        # Saves below are change-logged as the collector's user (NetBox's middleware tracks this request).
        request.user = user
        result = ingest_report(report, client_address=request.META.get('REMOTE_ADDR'))
        if result.outcome == 'unknown_host':
            return _answer(202, f'accepted: unknown host {report.hostname!r} ({result.note}); listed for mapping')
        if result.resumed:
            from .silence import judge_monitoring

            judge_monitoring([result.host_key])
        return _answer(200, f'ok: {result.host_key} reporting, {len(report.checks)} check(s)')
