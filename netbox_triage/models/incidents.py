"""The incident ledger: incidents, what they affect, what they cost, and what happened when."""

from decimal import Decimal

import pycountry
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from netbox.models import NetBoxModel, PrimaryModel

from ..choices import ImpactBasisChoices, IncidentStatusChoices, SeverityChoices, TimelineKindChoices
from ..impact import MixedCurrenciesError, Rate, summarise_loss
from ..settings import timeline_grace

__all__ = (
    'AFFECTED_OBJECT_MODELS',
    'BusinessImpact',
    'Incident',
    'IncidentObject',
    'TimelineEntry',
)

# What an incident can affect (the "affected objects" of an incident).
AFFECTED_OBJECT_MODELS = Q(
    Q(app_label='dcim', model='device')
    | Q(app_label='virtualization', model='virtualmachine')
    | Q(app_label='virtualization', model='cluster')
    | Q(app_label='ipam', model='service')
)


class Incident(PrimaryModel):
    """A major issue being worked on: the root object of the night."""

    title = models.CharField(verbose_name=_('title'), max_length=200)
    status = models.CharField(
        verbose_name=_('status'),
        max_length=30,
        choices=IncidentStatusChoices,
        default=IncidentStatusChoices.INVESTIGATING,
    )
    severity = models.CharField(
        verbose_name=_('severity'),
        max_length=30,
        choices=SeverityChoices,
        default=SeverityChoices.HIGH,
    )
    started_at = models.DateTimeField(verbose_name=_('started at'), default=timezone.now)
    detected_at = models.DateTimeField(verbose_name=_('detected at'), blank=True, null=True)
    resolved_at = models.DateTimeField(verbose_name=_('resolved at'), blank=True, null=True)
    summary = models.TextField(verbose_name=_('summary'), blank=True, help_text=_('Markdown supported'))
    tenant = models.ForeignKey(
        to='tenancy.Tenant',
        on_delete=models.PROTECT,
        related_name='triage_incidents',
        blank=True,
        null=True,
    )

    clone_fields = ('status', 'severity', 'tenant')
    prerequisite_models = ()

    class Meta:
        ordering = ('-started_at', '-pk')
        verbose_name = _('incident')
        verbose_name_plural = _('incidents')
        indexes = (models.Index(fields=('status', 'started_at')),)

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:incident', args=[self.pk])

    def get_status_color(self):
        return IncidentStatusChoices.colors.get(self.status)

    def get_severity_color(self):
        return SeverityChoices.colors.get(self.severity)

    @property
    def is_open(self):
        return self.status in IncidentStatusChoices.OPEN

    def clean(self):
        super().clean()
        if self.resolved_at and self.started_at and self.resolved_at < self.started_at:
            raise ValidationError({'resolved_at': _('An incident cannot be resolved before it started.')})
        if self.detected_at and self.resolved_at and self.resolved_at < self.detected_at:
            raise ValidationError({'resolved_at': _('An incident cannot be resolved before it was detected.')})
        if self.status == IncidentStatusChoices.RESOLVED and not self.resolved_at:
            self.resolved_at = timezone.now()

    # Loss figures. They read `impacts.all()`, so list views prefetch `impacts` and stay at a
    # constant number of queries.
    def loss_summary(self, now=None):
        rates = [Rate(i.effective_from, i.loss_per_day, i.currency) for i in self.impacts.all()]
        return summarise_loss(rates, self.started_at, now=now or timezone.now(), resolved_at=self.resolved_at)

    def _loss_figure(self, name):
        try:
            return getattr(self.loss_summary(), name)
        except MixedCurrenciesError:
            return None

    @property
    def loss_error(self):
        try:
            self.loss_summary()
        except MixedCurrenciesError as exc:
            return str(exc)
        return None

    @property
    def currency(self):
        return self._loss_figure('currency')

    @property
    def current_loss_rate(self):
        return self._loss_figure('current_rate')

    @property
    def total_lost(self):
        return self._loss_figure('total_lost')

    @property
    def saved_by_mitigations(self):
        return self._loss_figure('saved')


class IncidentObject(NetBoxModel):
    """An object an incident affects: a device, virtual machine, service or cluster."""

    incident = models.ForeignKey(to=Incident, on_delete=models.CASCADE, related_name='affected_objects')
    object_type = models.ForeignKey(
        to='contenttypes.ContentType',
        on_delete=models.PROTECT,
        related_name='+',
        limit_choices_to=AFFECTED_OBJECT_MODELS,
    )
    object_id = models.PositiveBigIntegerField()
    object = GenericForeignKey(ct_field='object_type', fk_field='object_id')
    note = models.CharField(verbose_name=_('note'), max_length=200, blank=True)

    class Meta:
        ordering = ('incident', 'object_type', 'object_id')
        verbose_name = _('affected object')
        verbose_name_plural = _('affected objects')
        indexes = (models.Index(fields=('object_type', 'object_id')),)
        constraints = (
            models.UniqueConstraint(
                fields=('incident', 'object_type', 'object_id'),
                name='%(app_label)s_%(class)s_unique_object',
                violation_error_message=_('This object is already affected by this incident.'),
            ),
        )

    def __str__(self):
        return f'{self.incident}: {self.object}' if self.object else f'{self.incident}: #{self.object_id}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:incidentobject', args=[self.pk])

    def clean(self):
        super().clean()
        if self.object_type_id and self.object_id and self.object is None:
            raise ValidationError({'object_id': _('No such object.')})


class BusinessImpact(PrimaryModel):
    """A loss rate in force from a point in time: "we lose USD 1m a day"."""

    incident = models.ForeignKey(to=Incident, on_delete=models.CASCADE, related_name='impacts')
    effective_from = models.DateTimeField(verbose_name=_('effective from'), default=timezone.now)
    loss_per_day = models.DecimalField(
        verbose_name=_('loss per day'),
        max_digits=16,
        decimal_places=2,
        validators=[MinValueValidator(Decimal('0'), message=_('A loss rate cannot be negative.'))],
    )
    currency = models.CharField(verbose_name=_('currency'), max_length=3, help_text=_('ISO 4217 code, e.g. USD'))
    basis = models.CharField(
        verbose_name=_('basis'),
        max_length=30,
        choices=ImpactBasisChoices,
        default=ImpactBasisChoices.ESTIMATE,
    )
    note = models.CharField(verbose_name=_('note'), max_length=200, blank=True)

    clone_fields = ('incident', 'currency', 'basis')

    class Meta:
        ordering = ('incident', 'effective_from', 'pk')
        verbose_name = _('business impact')
        verbose_name_plural = _('business impacts')

    def __str__(self):
        return f'{self.currency} {self.loss_per_day:,}/day from {self.effective_from:%Y-%m-%d %H:%M}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:businessimpact', args=[self.pk])

    def get_basis_color(self):
        return ImpactBasisChoices.colors.get(self.basis)

    def clean(self):
        super().clean()
        if self.currency:
            self.currency = self.currency.strip().upper()
            if pycountry.currencies.get(alpha_3=self.currency) is None:
                raise ValidationError({'currency': _('{code} is not an ISO 4217 currency code.').format(
                    code=self.currency)})
        if self.incident_id and self.currency:
            others = (
                BusinessImpact.objects.filter(incident_id=self.incident_id)
                .exclude(pk=self.pk)
                .exclude(currency=self.currency)
                .values_list('currency', flat=True)
                .first()
            )
            if others:
                raise ValidationError({'currency': _(
                    'This incident already counts its losses in {other}; one incident uses one currency.'
                ).format(other=others)})


class TimelineEntry(PrimaryModel):
    """Something that happened during an incident, when, and who said so."""

    incident = models.ForeignKey(to=Incident, on_delete=models.CASCADE, related_name='timeline')
    timestamp = models.DateTimeField(verbose_name=_('timestamp'), default=timezone.now)
    kind = models.CharField(
        verbose_name=_('kind'),
        max_length=30,
        choices=TimelineKindChoices,
        default=TimelineKindChoices.NOTE,
    )
    text = models.TextField(verbose_name=_('text'), help_text=_('Markdown supported'))
    object_type = models.ForeignKey(
        to='contenttypes.ContentType',
        on_delete=models.PROTECT,
        related_name='+',
        blank=True,
        null=True,
    )
    object_id = models.PositiveBigIntegerField(blank=True, null=True)
    object = GenericForeignKey(ct_field='object_type', fk_field='object_id')
    author = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name='+',
        blank=True,
        null=True,
    )

    class Meta:
        ordering = ('-timestamp', '-pk')
        verbose_name = _('timeline entry')
        verbose_name_plural = _('timeline entries')
        indexes = (models.Index(fields=('incident', 'timestamp')),)

    def __str__(self):
        return f'{self.timestamp:%Y-%m-%d %H:%M} {self.get_kind_display()}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:timelineentry', args=[self.pk])

    def get_kind_color(self):
        return TimelineKindChoices.colors.get(self.kind)

    def clean(self):
        super().clean()
        if self.incident_id and self.timestamp:
            started_at = Incident.objects.filter(pk=self.incident_id).values_list('started_at', flat=True).first()
            if started_at and self.timestamp < started_at - timeline_grace():
                raise ValidationError({'timestamp': _(
                    'This entry is dated more than {minutes} minutes before the incident started ({started}).'
                ).format(
                    minutes=f'{timeline_grace().total_seconds() / 60:g}',
                    started=started_at.strftime('%Y-%m-%d %H:%M %Z'),
                )})
        if bool(self.object_type_id) != bool(self.object_id):
            raise ValidationError(_('A linked object needs both its type and its ID.'))
        if self.object_type_id and self.object_id and self.object is None:
            raise ValidationError({'object_id': _('No such object.')})
