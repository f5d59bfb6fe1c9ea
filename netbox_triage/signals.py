"""Timeline entries the ledger writes by itself: status changes and loss-rate changes."""

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


@receiver(post_init, sender=Incident)
def remember_status(instance, **kwargs):
    instance._loaded_status = instance.status if instance.pk else None


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


@receiver(post_save, sender=BusinessImpact)
def record_impact_change(instance, created, raw=False, **kwargs):
    if raw:
        return
    verb = 'Loss rate set to' if created else 'Loss rate changed to'
    basis = 'estimate' if instance.basis == ImpactBasisChoices.ESTIMATE else 'measured'
    text = (
        f'{verb} {instance.currency} {instance.loss_per_day:,.2f} per day '
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
