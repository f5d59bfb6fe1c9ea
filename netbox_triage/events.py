"""The plugin's own NetBox event types, so event rules can react to discoveries without code.

A discovery raised or resolved is queued like NetBox's own object events and dispatched when the
request or job that made it completes (the rules' runner works inside ``event_tracking``). The queue
key carries the event type: NetBox's own key (one per object) would fold "discovery raised" into the
"object created" event of the same row.
"""

from django.utils.translation import gettext_lazy as _

from netbox.context import current_request, events_queue
from netbox.events import EVENT_TYPE_KIND_SUCCESS, EVENT_TYPE_KIND_WARNING, EventType

__all__ = ('DISCOVERY_RAISED', 'DISCOVERY_RESOLVED', 'enqueue_discovery_event', 'register_event_types')

DISCOVERY_RAISED = 'netbox_triage.discovery_raised'
DISCOVERY_RESOLVED = 'netbox_triage.discovery_resolved'


def register_event_types():
    EventType(DISCOVERY_RAISED, _('Discovery raised'), kind=EVENT_TYPE_KIND_WARNING).register()
    EventType(DISCOVERY_RESOLVED, _('Discovery resolved'), kind=EVENT_TYPE_KIND_SUCCESS).register()


def enqueue_discovery_event(discovery, event_type):
    """Queue ``event_type`` for ``discovery``; a no-op outside a request or an event-tracked job."""
    from core.models import ObjectType
    from extras.events import EventContext

    request = current_request.get()
    if request is None:
        return
    queue = events_queue.get()
    snapshot = getattr(discovery, '_postchange_snapshot', None) or discovery.serialize_object()
    queue[f'{discovery._meta.label_lower}:{discovery.pk}:{event_type}'] = EventContext(
        object_type=ObjectType.objects.get_for_model(discovery),
        object_id=discovery.pk,
        object=discovery,
        event_type=event_type,
        snapshots={'prechange': getattr(discovery, '_prechange_snapshot', None), 'postchange': snapshot},
        request=request,
        user=request.user,
    )
    events_queue.set(queue)
