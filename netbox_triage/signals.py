"""Timeline entries the ledger writes by itself: status changes and loss-rate changes."""

from decimal import Decimal

from django.db.models.signals import post_init, post_save
from django.dispatch import receiver
from django.utils import timezone

from netbox.context import current_request

from .choices import ImpactBasisChoices, TimelineKindChoices
from .models import BusinessImpact, Incident, TimelineEntry


def _author():
    request = current_request.get()
    user = getattr(request, 'user', None)
    return user if user is not None and user.is_authenticated else None


# The fields whose change is worth a timeline entry. Read from __dict__: a deferred field (e.g.
# `.only('title')`) must not cost a query per instance loaded.
IMPACT_FIELDS = ('effective_from', 'loss_per_day', 'currency', 'basis')


@receiver(post_init, sender=Incident)
def remember_status(instance, **kwargs):
    instance._loaded_status = instance.__dict__.get('status') if instance.pk else None


@receiver(post_save, sender=Incident)
def record_status_change(instance, created, raw=False, **kwargs):
    if raw:
        return
    previous = getattr(instance, '_loaded_status', None)
    if not created and previous and previous != instance.status:
        TimelineEntry.objects.create(
            incident=instance,
            timestamp=timezone.now(),
            kind=TimelineKindChoices.STATUS,
            text=f'Status changed from {Incident(status=previous).get_status_display()} '
                 f'to {instance.get_status_display()}.',
            author=_author(),
        )
    instance._loaded_status = instance.status


@receiver(post_init, sender=BusinessImpact)
def remember_impact(instance, **kwargs):
    instance._loaded_impact = _impact_values(instance) if instance.pk else None


def _impact_values(instance):
    return tuple(instance.__dict__.get(name) for name in IMPACT_FIELDS)


@receiver(post_save, sender=BusinessImpact)
def record_impact_change(instance, created, raw=False, **kwargs):
    if raw:
        return
    previous, instance._loaded_impact = getattr(instance, '_loaded_impact', None), _impact_values(instance)
    if not created and previous == instance._loaded_impact:
        return  # saved without a change to the rate (a note, a tag, …)
    verb = 'Loss rate set to' if created else 'Loss rate changed to'
    basis = 'estimate' if instance.basis == ImpactBasisChoices.ESTIMATE else 'measured'
    text = (
        f'{verb} {instance.currency} {Decimal(instance.loss_per_day):,.2f} per day '
        f'from {instance.effective_from:%Y-%m-%d %H:%M %Z} ({basis}).'
    )
    if instance.note:
        text += f' {instance.note}'
    TimelineEntry.objects.create(
        incident_id=instance.incident_id,
        timestamp=max(instance.effective_from, instance.incident.started_at),
        kind=TimelineKindChoices.SYSTEM,
        text=text,
        author=_author(),
    )
