"""Monitoring coverage: which system watches which host, and whether that is proven by reports.

A coverage row is one (host, monitoring system) pair. People record the systems they know of (Prometheus,
Zabbix, a Nagios someone set up years ago) by hand; Monit coverage is written by the collector from the
reports Monit itself sends (``collector/``), so "reporting" means "we heard from it", not "someone said so".
"""

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from netbox.models import NetBoxModel, PrimaryModel

from ..choices import MonitoringCheckTypeChoices, MonitoringStateChoices, MonitoringSystemChoices

__all__ = ('MonitAgent', 'MonitoringCoverage')


class MonitoringCoverage(PrimaryModel):
    """How one monitoring system covers one device or virtual machine.

    ``checks`` lists what the system checks on the host, one entry per check:
    ``{"name": "rootfs", "type": "disk", "status": "ok"}`` (``type`` from MonitoringCheckTypeChoices; the
    collector also records Monit's service type). ``check_types`` is the set of types, copied out for filters.
    ``history`` keeps the last reports and events, oldest first (see ``collector/ingest.py``).
    """

    device = models.ForeignKey(
        to='dcim.Device', on_delete=models.CASCADE, related_name='triage_coverage', blank=True, null=True,
    )
    virtual_machine = models.ForeignKey(
        to='virtualization.VirtualMachine', on_delete=models.CASCADE, related_name='triage_coverage', blank=True,
        null=True,
    )
    system = models.CharField(
        verbose_name=_('system'), max_length=30, choices=MonitoringSystemChoices, default=MonitoringSystemChoices.MONIT,
    )
    state = models.CharField(
        verbose_name=_('state'), max_length=30, choices=MonitoringStateChoices, default=MonitoringStateChoices.PLANNED,
    )
    checks = models.JSONField(verbose_name=_('checks'), default=list, blank=True)
    check_types = ArrayField(
        base_field=models.CharField(max_length=30, choices=MonitoringCheckTypeChoices),
        verbose_name=_('check types'), default=list, blank=True,
    )
    failing_checks = models.PositiveIntegerField(verbose_name=_('failing checks'), default=0)
    last_report = models.DateTimeField(verbose_name=_('last report'), blank=True, null=True)
    silent_since = models.DateTimeField(verbose_name=_('silent since'), blank=True, null=True)
    poll_interval = models.PositiveIntegerField(
        verbose_name=_('poll interval (s)'), blank=True, null=True,
        help_text=_("The system's own check cycle, as it reported it"),
    )
    agent_version = models.CharField(verbose_name=_('agent version'), max_length=50, blank=True,
                                     help_text=_('e.g. the Monit version that reported'))
    agent_uptime = models.PositiveBigIntegerField(verbose_name=_('agent uptime (s)'), blank=True, null=True)
    reported_hostname = models.CharField(verbose_name=_('reported hostname'), max_length=255, blank=True)
    ui_url = models.URLField(verbose_name=_('UI link'), max_length=500, blank=True,
                             help_text=_("Where this host is seen in the system's own UI"))
    history = models.JSONField(verbose_name=_('recent history'), default=list, blank=True)

    clone_fields = ('system', 'state', 'check_types', 'ui_url')

    class Meta:
        ordering = ('system', 'pk')
        verbose_name = _('monitoring coverage')
        verbose_name_plural = _('monitoring coverage')
        indexes = (models.Index(fields=('system', 'state', 'last_report')),)
        constraints = (
            models.CheckConstraint(
                condition=(
                    models.Q(device__isnull=False, virtual_machine__isnull=True)
                    | models.Q(device__isnull=True, virtual_machine__isnull=False)
                ),
                name='%(app_label)s_%(class)s_one_host',
                violation_error_message=_('Monitoring coverage belongs to exactly one device or virtual machine.'),
            ),
            models.UniqueConstraint(
                fields=('device', 'system'), condition=models.Q(device__isnull=False),
                name='%(app_label)s_%(class)s_unique_device_system',
                violation_error_message=_('This device already has coverage by this system.'),
            ),
            models.UniqueConstraint(
                fields=('virtual_machine', 'system'), condition=models.Q(virtual_machine__isnull=False),
                name='%(app_label)s_%(class)s_unique_vm_system',
                violation_error_message=_('This virtual machine already has coverage by this system.'),
            ),
        )

    def __str__(self):
        return f'{self.get_system_display()} on {self.host}' if self.host else f'Monitoring coverage #{self.pk}'

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:monitoringcoverage', args=[self.pk])

    def get_state_color(self):
        return MonitoringStateChoices.colors.get(self.state)

    def get_system_color(self):
        return MonitoringSystemChoices.colors.get(self.system)

    @property
    def host(self):
        return self.device or self.virtual_machine

    def clean(self):
        super().clean()
        if bool(self.device_id) == bool(self.virtual_machine_id):
            raise ValidationError(_('Monitoring coverage belongs to exactly one device or virtual machine.'))
        unknown = sorted(set(self.check_types or ()) - set(MonitoringCheckTypeChoices.values()))
        if unknown:
            raise ValidationError({'check_types': _('Unknown check type(s): {types}').format(types=', '.join(unknown))})

    def save(self, *args, **kwargs):
        # Checks recorded by hand (or through the API) also count for the check-type filters.
        if self.checks and not self.check_types:
            self.check_types = sorted({c.get('type') for c in self.checks if isinstance(c, dict)
                                       and c.get('type') in MonitoringCheckTypeChoices.values()})
        super().save(*args, **kwargs)


class MonitAgent(NetBoxModel):
    """A Monit daemon that reported to the collector, known by its Monit ID (``$HOME/.monit.id``).

    The collector matches a new agent to a device or VM by the hostname Monit reports, then by its addresses;
    one it cannot match waits here, unmapped, for a person to set its device or VM (the next report then
    lands on that host). A mapping, once made, is kept: a renamed host keeps reporting to the same object.
    """

    monit_id = models.CharField(verbose_name=_('Monit ID'), max_length=64, unique=True)
    hostname = models.CharField(verbose_name=_('reported hostname'), max_length=255, blank=True)
    address = models.GenericIPAddressField(verbose_name=_('reported from'), blank=True, null=True,
                                           help_text=_('The address the report came from'))
    httpd_address = models.CharField(verbose_name=_('Monit HTTP address'), max_length=100, blank=True)
    version = models.CharField(verbose_name=_('Monit version'), max_length=50, blank=True)
    device = models.ForeignKey(
        to='dcim.Device', on_delete=models.SET_NULL, related_name='+', blank=True, null=True,
    )
    virtual_machine = models.ForeignKey(
        to='virtualization.VirtualMachine', on_delete=models.SET_NULL, related_name='+', blank=True, null=True,
    )
    match_note = models.CharField(verbose_name=_('match'), max_length=300, blank=True,
                                  help_text=_('How the collector matched this agent, or why it could not'))
    first_seen = models.DateTimeField(verbose_name=_('first seen'))
    last_seen = models.DateTimeField(verbose_name=_('last seen'))
    reports = models.PositiveBigIntegerField(verbose_name=_('reports'), default=0)

    class Meta:
        ordering = ('hostname', 'pk')
        verbose_name = _('Monit agent')
        verbose_name_plural = _('Monit agents')
        constraints = (
            models.CheckConstraint(
                condition=~models.Q(device__isnull=False, virtual_machine__isnull=False),
                name='%(app_label)s_%(class)s_at_most_one_host',
                violation_error_message=_('A Monit agent maps to one device or one virtual machine, not both.'),
            ),
        )

    def __str__(self):
        return self.hostname or self.monit_id

    def get_absolute_url(self):
        return reverse('plugins:netbox_triage:monitagent', args=[self.pk])

    @property
    def host(self):
        return self.device or self.virtual_machine

    @property
    def is_mapped(self):
        return bool(self.device_id or self.virtual_machine_id)

    def clean(self):
        super().clean()
        if self.device_id and self.virtual_machine_id:
            raise ValidationError(_('A Monit agent maps to one device or one virtual machine, not both.'))
