"""What the SSH probe learnt about a host: one HostFacts per device or virtual machine."""

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from netbox.models import NetBoxModel

from ..choices import ProbeStatusChoices
from ..probing.hostkeys import HostKey
from .serialization import serialize_object_fast

__all__ = ('HostFacts',)


class HostFacts(NetBoxModel):
    """Parsed facts, size-capped raw sections and the outcome of the last probe of one host.

    The host is a device or a virtual machine (exactly one). Columns that lists filter and sort on
    (OS, kernel, virtualization) are copied out of `facts` so they need no JSON lookups.
    """

    device = models.OneToOneField(
        to='dcim.Device', on_delete=models.CASCADE, related_name='triage_facts', blank=True, null=True
    )
    virtual_machine = models.OneToOneField(
        to='virtualization.VirtualMachine', on_delete=models.CASCADE, related_name='triage_facts', blank=True,
        null=True,
    )
    status = models.CharField(
        verbose_name=_('probe status'), max_length=30, choices=ProbeStatusChoices, default=ProbeStatusChoices.NEVER
    )
    error = models.TextField(verbose_name=_('error'), blank=True)
    target = models.CharField(verbose_name=_('target'), max_length=300, blank=True,
                              help_text=_('What the probe dialled (address:port, via jump host)'))
    probed_at = models.DateTimeField(verbose_name=_('probed at'), blank=True, null=True)
    last_ok_at = models.DateTimeField(verbose_name=_('last successful probe'), blank=True, null=True)
    duration_ms = models.PositiveIntegerField(verbose_name=_('duration (ms)'), blank=True, null=True)
    facts = models.JSONField(verbose_name=_('facts'), default=dict, blank=True)
    raw_sections = models.JSONField(verbose_name=_('raw sections'), default=dict, blank=True)
    os_family = models.CharField(verbose_name=_('OS family'), max_length=50, blank=True)
    os_name = models.CharField(verbose_name=_('OS'), max_length=100, blank=True)
    os_version = models.CharField(verbose_name=_('OS version'), max_length=50, blank=True)
    os_pretty_name = models.CharField(verbose_name=_('OS pretty name'), max_length=200, blank=True)
    kernel = models.CharField(verbose_name=_('kernel'), max_length=100, blank=True)
    architecture = models.CharField(verbose_name=_('architecture'), max_length=30, blank=True)
    virtualization = models.CharField(verbose_name=_('virtualization'), max_length=50, blank=True,
                                      help_text=_('none (bare metal), kvm, vmware, xen, microsoft, docker, …'))
    kind_mismatch = models.BooleanField(
        verbose_name=_('kind mismatch'), default=False,
        help_text=_('A device that is really a VM, or a VM that is really bare metal'),
    )
    hostkey = models.CharField(verbose_name=_('pinned host key'), max_length=1000, blank=True,
                               help_text=_('Trusted on first use; a different key refuses the probe'))
    hostkey_fingerprint = models.CharField(verbose_name=_('host key fingerprint'), max_length=100, blank=True)
    hostkey_offered = models.CharField(
        verbose_name=_('offered host key'), max_length=1000, blank=True,
        help_text=_('The different key a host presented; an admin may accept it'),
    )
    hostkey_offered_by_jump = models.BooleanField(
        verbose_name=_('offered by the jump host'), default=False,
        help_text=_("The offered key is the jump host's, not the host's own"),
    )
    jump_hostkey = models.CharField(
        verbose_name=_('pinned jump host key'), max_length=1000, blank=True,
        help_text=_('The key of the jump host this host is reached through, trusted on first use'),
    )
    platform_derived = models.CharField(
        verbose_name=_('platform from the probe'), max_length=100, blank=True,
        help_text=_('The platform the last successful probe derived. The probe sets the platform only when the host '
                    'has none or still has this one: a platform a person chose stays'),
    )

    class Meta:
        ordering = ('pk',)
        verbose_name = _('host facts')
        verbose_name_plural = _('host facts')
        indexes = (models.Index(fields=('status', 'probed_at')),)
        constraints = (
            models.CheckConstraint(
                condition=(
                    models.Q(device__isnull=False, virtual_machine__isnull=True)
                    | models.Q(device__isnull=True, virtual_machine__isnull=False)
                ),
                name='%(app_label)s_%(class)s_one_host',
                violation_error_message=_('Host facts belong to exactly one device or virtual machine.'),
            ),
        )

    def __str__(self):
        return f'Facts of {self.host}' if self.host else f'Host facts #{self.pk}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:hostfacts', args=[self.pk])

    def get_status_color(self):
        return ProbeStatusChoices.colors.get(self.status)

    @property
    def host(self):
        return self.device or self.virtual_machine

    @property
    def jump_hostkey_fingerprint(self):
        try:
            return HostKey.parse(self.jump_hostkey).fingerprint if self.jump_hostkey else ''
        except ValueError:
            return ''

    def serialize_object(self, exclude=None):
        """NetBox's snapshot without the raw sections: the same output unparsed, up to 64 KB a section, never even
        encoded for the changelog and event payloads."""
        return serialize_object_fast(self, exclude=[*(exclude or ()), 'raw_sections'])

    def accept_offered_hostkey(self):
        """Pin the key offered at the last mismatch (the host's own, or its jump host's); the caller saves."""
        if self.hostkey_offered_by_jump:
            self.jump_hostkey = self.hostkey_offered
        else:
            self.hostkey = self.hostkey_offered
        self.hostkey_offered, self.hostkey_offered_by_jump = '', False

    def clean(self):
        super().clean()
        if bool(self.device_id) == bool(self.virtual_machine_id):
            raise ValidationError(_('Host facts belong to exactly one device or virtual machine.'))
