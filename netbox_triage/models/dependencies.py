"""Who talks to whom: the edges of the topology diagram."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from netbox.models import PrimaryModel

from ..choices import DependencyKindChoices, DependencyOriginChoices, DependencyStatusChoices
from .incidents import AFFECTED_OBJECT_MODELS

__all__ = ('Dependency',)


class Dependency(PrimaryModel):
    """``source`` depends on ``target`` (uses it, replicates it, stands by for it) over a port.

    People draw dependencies by hand; the probe adds the ones it sees in established TCP connections
    (origin "probe", status "discovered"), which a person confirms or hides. A hidden one is never
    shown again by the probe.
    """

    source_type = models.ForeignKey(
        to='contenttypes.ContentType', on_delete=models.PROTECT, related_name='+',
        limit_choices_to=AFFECTED_OBJECT_MODELS,
    )
    source_id = models.PositiveBigIntegerField()
    source = GenericForeignKey(ct_field='source_type', fk_field='source_id')
    target_type = models.ForeignKey(
        to='contenttypes.ContentType', on_delete=models.PROTECT, related_name='+',
        limit_choices_to=AFFECTED_OBJECT_MODELS,
    )
    target_id = models.PositiveBigIntegerField()
    target = GenericForeignKey(ct_field='target_type', fk_field='target_id')
    kind = models.CharField(
        verbose_name=_('kind'), max_length=30, choices=DependencyKindChoices, default=DependencyKindChoices.USES
    )
    port = models.PositiveIntegerField(
        verbose_name=_('port'), blank=True, null=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    label = models.CharField(verbose_name=_('label'), max_length=100, blank=True,
                             help_text=_('e.g. MySQL, Redis, HTTP'))
    origin = models.CharField(
        verbose_name=_('origin'), max_length=30, choices=DependencyOriginChoices,
        default=DependencyOriginChoices.MANUAL,
    )
    status = models.CharField(
        verbose_name=_('status'), max_length=30, choices=DependencyStatusChoices,
        default=DependencyStatusChoices.CONFIRMED,
    )
    last_seen = models.DateTimeField(
        verbose_name=_('last seen'), blank=True, null=True,
        help_text=_('When the probe last saw the connection'),
    )

    clone_fields = ('source_type', 'source_id', 'target_type', 'kind', 'port', 'label')

    class Meta:
        ordering = ('source_type', 'source_id', 'target_type', 'target_id', 'port', 'pk')
        verbose_name = _('dependency')
        verbose_name_plural = _('dependencies')
        indexes = (
            models.Index(fields=('source_type', 'source_id')),
            models.Index(fields=('target_type', 'target_id')),
        )
        constraints = (
            models.UniqueConstraint(
                fields=('source_type', 'source_id', 'target_type', 'target_id', 'kind', 'port'),
                name='%(app_label)s_%(class)s_unique_edge',
                nulls_distinct=False,
                violation_error_message=_('This dependency already exists.'),
            ),
        )

    def __str__(self):
        port = f':{self.port}' if self.port else ''
        return f'{self.source} → {self.target}{port}' if self.source and self.target else f'Dependency #{self.pk}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:dependency', args=[self.pk])

    def get_kind_color(self):
        return DependencyKindChoices.colors.get(self.kind)

    def get_origin_color(self):
        return DependencyOriginChoices.colors.get(self.origin)

    def get_status_color(self):
        return DependencyStatusChoices.colors.get(self.status)

    def clean(self):
        super().clean()
        if self.source_type_id and self.source_id and self.source is None:
            raise ValidationError({'source_id': _('No such object.')})
        if self.target_type_id and self.target_id and self.target is None:
            raise ValidationError({'target_id': _('No such object.')})
        if (self.source_type_id, self.source_id) == (self.target_type_id, self.target_id):
            raise ValidationError(_('An object cannot depend on itself.'))
