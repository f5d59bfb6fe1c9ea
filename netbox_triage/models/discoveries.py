"""What the discovery rules found: one Discovery per rule, subject and evidence."""

import uuid

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.choices import ObjectChangeActionChoices
from netbox.config import get_config
from netbox.models import PrimaryModel
from utilities.querysets import RestrictedQuerySet

from ..choices import DiscoveryStatusChoices, SeverityChoices
from .incidents import AFFECTED_OBJECT_MODELS
from .serialization import serialize_object_fast

__all__ = ('Discovery', 'severity_counts')


class DiscoveryQuerySet(RestrictedQuerySet):

    def active(self):
        return self.filter(status__in=DiscoveryStatusChoices.ACTIVE)

    def about(self, obj):
        """Discoveries about ``obj``; for a cluster, also those about its devices and VMs."""
        query = models.Q(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
        if obj._meta.label_lower == 'virtualization.cluster':
            query |= _members_of([obj.pk])
        return self.filter(query)

    def for_incident(self, incident):
        """Discoveries linked to ``incident`` or about its affected objects (and the members of its clusters)."""
        from .incidents import IncidentObject

        query = models.Q(incident=incident)
        cluster_type = ContentType.objects.get_by_natural_key('virtualization', 'cluster')
        clusters = []
        for object_type_id, object_id in IncidentObject.objects.filter(incident=incident).values_list(
            'object_type_id', 'object_id'
        ):
            query |= models.Q(object_type_id=object_type_id, object_id=object_id)
            if object_type_id == cluster_type.pk:
                clusters.append(object_id)
        if clusters:
            query |= _members_of(clusters)
        return self.filter(query)


def _members_of(cluster_ids):
    from dcim.models import Device
    from virtualization.models import VirtualMachine

    return models.Q(
        object_type=ContentType.objects.get_for_model(Device),
        object_id__in=Device.objects.filter(cluster_id__in=cluster_ids).values('pk'),
    ) | models.Q(
        object_type=ContentType.objects.get_for_model(VirtualMachine),
        object_id__in=VirtualMachine.objects.filter(cluster_id__in=cluster_ids).values('pk'),
    )


# Highest severity first: ``.order_by(SEVERITY_ORDER, ...)``.
SEVERITY_ORDER = models.Case(
    *(models.When(severity=value, then=models.Value(rank)) for rank, value in enumerate(
        reversed(SeverityChoices.values()))),
    default=models.Value(99),
)


def severity_counts(queryset):
    """{severity: count} for every severity (zeros included), highest first, in one query."""
    counts = dict(queryset.order_by().values_list('severity').annotate(n=models.Count('pk')))
    return {value: counts.get(value, 0) for value in reversed(SeverityChoices.values())}


class Discovery(PrimaryModel):
    """A finding of a rule about a device, VM, service or cluster (or the fleet, with no object).

    Rules identify a discovery by (rule, subject key, fingerprint): the fingerprint hashes the evidence
    that matters, so re-running a rule updates ``last_seen`` in place, and a false positive stays quiet
    until its evidence changes (which gives a new fingerprint, hence a new discovery).
    """

    object_type = models.ForeignKey(
        to='contenttypes.ContentType',
        on_delete=models.PROTECT,
        related_name='+',
        limit_choices_to=AFFECTED_OBJECT_MODELS,
        blank=True,
        null=True,
    )
    object_id = models.PositiveBigIntegerField(blank=True, null=True)
    object = GenericForeignKey(ct_field='object_type', fk_field='object_id')
    subject_key = models.CharField(
        verbose_name=_('subject key'), max_length=100, blank=True, editable=False,
        help_text=_("What the rule judged, e.g. 'dcim.device:12'; empty for a fleet-wide finding"),
    )
    rule = models.CharField(verbose_name=_('rule'), max_length=50)
    severity = models.CharField(
        verbose_name=_('severity'), max_length=30, choices=SeverityChoices, default=SeverityChoices.MEDIUM
    )
    status = models.CharField(
        verbose_name=_('status'), max_length=30, choices=DiscoveryStatusChoices, default=DiscoveryStatusChoices.OPEN
    )
    title = models.CharField(verbose_name=_('title'), max_length=300)
    evidence = models.JSONField(verbose_name=_('evidence'), default=dict, blank=True)
    evidence_text = models.TextField(verbose_name=_('evidence (text)'), blank=True)
    recommendation = models.TextField(verbose_name=_('recommendation'), blank=True)
    fingerprint = models.CharField(verbose_name=_('fingerprint'), max_length=64, blank=True, editable=False)
    first_seen = models.DateTimeField(verbose_name=_('first seen'), default=timezone.now)
    last_seen = models.DateTimeField(verbose_name=_('last seen'), default=timezone.now)
    resolved_at = models.DateTimeField(verbose_name=_('resolved at'), blank=True, null=True)
    incident = models.ForeignKey(
        to='netbox_triage.Incident',
        on_delete=models.SET_NULL,
        related_name='discoveries',
        blank=True,
        null=True,
    )

    objects = DiscoveryQuerySet.as_manager()

    clone_fields = ('object_type', 'object_id', 'rule', 'severity', 'incident')

    class Meta:
        ordering = ('-first_seen', '-pk')
        verbose_name = _('discovery')
        verbose_name_plural = _('discoveries')
        indexes = (
            models.Index(fields=('object_type', 'object_id')),
            models.Index(fields=('status', 'severity')),
        )
        constraints = (
            models.UniqueConstraint(
                fields=('rule', 'subject_key', 'fingerprint'),
                name='%(app_label)s_%(class)s_unique_finding',
                violation_error_message=_('This rule already recorded this finding for this object.'),
            ),
        )

    def serialize_object(self, exclude=None):
        """NetBox's snapshot, built faster (models/serialization.py): the rules record thousands at once."""
        return serialize_object_fast(self, exclude=exclude or ())

    def to_objectchange(self, action):
        """NetBox's change record (``ChangeLoggingMixin.to_objectchange``, compared field by field in the tests), with
        the object's type and id set as plain columns: the generic relation's setter looks the content type up
        through a new copy of its manager for every object, a tenth of a first run of the rules at 10,000 hosts."""
        from core.models import ObjectChange  # as NetBox does: core.models imports the plugin machinery

        exclude = ['last_updated'] if get_config().CHANGELOG_SKIP_EMPTY_CHANGES else []
        objectchange = ObjectChange(
            changed_object_type=ContentType.objects.get_for_model(self),
            changed_object_id=self.pk,
            object_repr=str(self)[:200],
            action=action,
            message=self._changelog_message or '',
        )
        if hasattr(self, '_prechange_snapshot'):
            objectchange.prechange_data = self._prechange_snapshot
        if action in (ObjectChangeActionChoices.ACTION_CREATE, ObjectChangeActionChoices.ACTION_UPDATE):
            self._postchange_snapshot = self.serialize_object(exclude=exclude)
            objectchange.postchange_data = self._postchange_snapshot
        return objectchange

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:discovery', args=[self.pk])

    def get_status_color(self):
        return DiscoveryStatusChoices.colors.get(self.status)

    def get_severity_color(self):
        return SeverityChoices.colors.get(self.severity)

    @property
    def is_active(self):
        return self.status in DiscoveryStatusChoices.ACTIVE

    def clean(self):
        super().clean()
        if bool(self.object_type_id) != bool(self.object_id):
            raise ValidationError(_('A discovery about an object needs both its type and its ID.'))
        if self.object_type_id and self.object_id and self.object is None:
            raise ValidationError({'object_id': _('No such object.')})

    def save(self, *args, **kwargs):
        # A discovery recorded by hand (or through the API) has no rule fingerprint: give it a unique one, so
        # two such notes about one object do not collide with each other or with a rule's findings.
        if not self.fingerprint:
            self.fingerprint = f'manual-{uuid.uuid4().hex}'
        # A person's discovery follows its object; a rule's keeps the key the rule gave it (set here only
        # when a rule's discovery is created without one).
        if self.fingerprint.startswith('manual-') or not self.subject_key:
            if self.object_type_id and self.object_id:
                ct = ContentType.objects.get_for_id(self.object_type_id)
                self.subject_key = f'{ct.app_label}.{ct.model}:{self.object_id}'
            else:
                self.subject_key = ''
        if self.status == DiscoveryStatusChoices.RESOLVED and not self.resolved_at:
            self.resolved_at = timezone.now()
        elif self.status in DiscoveryStatusChoices.ACTIVE:
            self.resolved_at = None
        super().save(*args, **kwargs)
