"""NetBox dashboard widgets with the triage board's figures: the open incidents' losses, and the fleet at a glance.

They read the same functions as the board (``board.py``), restricted to the user who looks, in a fixed number of
queries. Their markup is small enough to live here; Django's autoescape applies to every value.
"""

from functools import cache

from django import forms
from django.template import engines
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from extras.dashboard.utils import register_widget
from extras.dashboard.widgets import DashboardWidget, WidgetConfigForm

from .board import fleet_figures, open_incident_figures

__all__ = ('FleetSanityWidget', 'OpenIncidentsWidget')


@cache
def _template(source):
    """Compiled once, on first use (not at import, which runs from the plugin's ready())."""
    return engines['django'].from_string(source)


def _board_url():
    try:
        return reverse('plugins:netbox_triage:board')
    except NoReverseMatch:  # the board page is not wired (yet): the widgets still show their figures
        return None


INCIDENTS_TEMPLATE = """{% load i18n helpers %}
{% if not can_view %}
  <div class="text-muted p-2"><i class="mdi mdi-lock-outline"></i> {% trans "You may not view incidents." %}</div>
{% elif items %}
  <table class="table table-sm table-hover mb-0">
    <thead><tr>
      <th>{% trans "Incident" %}</th>
      <th class="text-end">{% trans "Rate now / day" %}</th>
      <th class="text-end">{% trans "Lost" %}</th>
      <th class="text-end">{% trans "Saved" %}</th>
      <th>{% trans "Since" %}</th>
    </tr></thead>
    <tbody>
    {% for item in items %}
      <tr>
        <td><a href="{{ item.incident.get_absolute_url }}">{{ item.incident.title }}</a>
          {% badge item.incident.get_status_display bg_color=item.incident.get_status_color %}</td>
        {% if item.error %}
          <td colspan="3" class="text-danger small">{{ item.error }}</td>
        {% elif not item.currency %}
          <td colspan="3" class="text-muted small text-center">{% trans "no loss rate yet" %}</td>
        {% else %}
          <td class="text-end text-nowrap">{{ item.currency }} {{ item.current_rate|floatformat:"2g" }}</td>
          <td class="text-end text-nowrap text-danger">{{ item.currency }} {{ item.total_lost|floatformat:"2g" }}</td>
          <td class="text-end text-nowrap text-success">{{ item.currency }} {{ item.saved|floatformat:"2g" }}</td>
        {% endif %}
        <td class="text-nowrap small">{{ item.incident.started_at|timesince:now }}</td>
      </tr>
    {% endfor %}
    </tbody>
  </table>
  {% if total > items|length %}
    <div class="small p-1">
      <a href="{{ list_url }}">{% blocktrans %}All {{ total }} open incidents{% endblocktrans %}</a>
    </div>
  {% endif %}
{% else %}
  <div class="text-muted p-2">{% trans "No open incident." %}</div>
{% endif %}
"""


@register_widget
class OpenIncidentsWidget(DashboardWidget):
    default_title = _('Open incidents')
    description = _('What each open incident costs: loss rate now, lost so far, saved by mitigations, time since '
                    'its start.')
    default_config = {'max_items': 10}
    width = 6
    height = 3

    class ConfigForm(WidgetConfigForm):
        max_items = forms.IntegerField(label=_('Incidents shown'), min_value=1, max_value=50, initial=10)

    def render(self, request):
        now = timezone.now()
        items, total = open_incident_figures(request.user, now=now, limit=self.config.get('max_items') or 10)
        return _template(INCIDENTS_TEMPLATE).render({
            'items': items, 'total': total, 'now': now,
            'can_view': request.user.has_perm('netbox_triage.view_incident'),
            'list_url': reverse('plugins:netbox_triage:incident_list') + '?is_open=true',
        }, request)


FLEET_TEMPLATE = """{% load i18n %}
<div class="row g-2 text-center">
  {% for figure in figures %}
    <div class="col">
      <a href="{{ figure.url }}" class="text-reset">
        <div class="h2 mb-0{% if figure.value and figure.alert %} {{ figure.alert }}{% endif %}">
          {{ figure.value }}
        </div>
        <div class="small text-muted">{{ figure.label }}</div>
      </a>
    </div>
  {% endfor %}
</div>
{% if fleet.all_discoveries is not None %}
  <div class="mt-2 small">{% trans "Open discoveries" %}:
    {% for label, color, count, url in fleet.discovery_rows %}
      <a href="{{ url }}" class="badge text-bg-{{ color }} text-decoration-none">{{ count }} {{ label|lower }}</a>
    {% endfor %}
  </div>
{% endif %}
{% if fleet.coverage is not None %}
  <div class="mt-1 small">{% trans "Monitoring" %}:
    {% for label, color, count in fleet.coverage_rows %}
      <span class="badge text-bg-{{ color }}">{{ count }} {{ label|lower }}</span>
    {% endfor %}
  </div>
  <div class="mt-1 small">{% trans "Proven checks" %}:
    {% if fleet.coverage.reporting %}
      {% for kind, label, color, count, url in fleet.check_type_figures %}{% if count %}
        <a href="{{ url }}" class="badge text-bg-{{ color }} text-decoration-none"
           data-check-type="{{ kind }}">{{ count }} {{ label|lower }}</a>
      {% endif %}{% endfor %}
      {% if fleet.failing_checks %}
        <span class="text-danger">{% blocktrans trimmed count counter=fleet.failing_checks %}
          {{ counter }} host failing a check{% plural %}{{ counter }} hosts failing a check
        {% endblocktrans %}</span>
      {% endif %}
    {% else %}
      <span class="text-muted">{% trans "none: no host reports" %}</span>
    {% endif %}
  </div>
{% endif %}
{% if board_url %}
  <div class="mt-2 small">
    <a href="{{ board_url }}">{% trans "Triage board" %} <i class="mdi mdi-arrow-right"></i></a>
  </div>
{% endif %}
"""


@register_widget
class FleetSanityWidget(DashboardWidget):
    default_title = _('Fleet sanity')
    description = _('Hosts known, probed, stale and unreachable; open discoveries by severity; monitoring coverage '
                    'by state and by check type.')
    width = 4
    height = 3

    def render(self, request):
        fleet = fleet_figures(request.user)
        figures = [{'label': _('known'), 'value': fleet.hosts, 'url': fleet.links['devices']}]
        if fleet.can_view_facts:
            figures += [
                {'label': _('probed'), 'value': fleet.probed, 'url': fleet.links['facts']},
                {'label': _('stale'), 'value': fleet.stale, 'url': fleet.links['stale'], 'alert': 'text-warning'},
                {'label': _('unreachable'), 'value': fleet.failed, 'url': fleet.links['failed'],
                 'alert': 'text-danger'},
            ]
        return _template(FLEET_TEMPLATE).render(
            {'fleet': fleet, 'figures': figures, 'board_url': _board_url()}, request,
        )
