from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from dcim.models import Device, DeviceRole, DeviceType, Site
from ipam.models import Service
from netbox.forms import NetBoxModelForm, PrimaryModelForm
from tenancy.forms import TenancyForm
from utilities.forms.fields import CommentField, DynamicModelChoiceField
from utilities.forms.rendering import FieldSet
from utilities.forms.widgets import DateTimePicker
from virtualization.models import Cluster, VirtualMachine

from ..choices import MonitoringCheckTypeChoices
from ..models import *
from ..settings import get_setting

__all__ = (
    'BusinessImpactForm',
    'MonitAgentForm',
    'MonitoringCoverageForm',
    'DependencyForm',
    'DiscoveryForm',
    'IncidentForm',
    'IncidentObjectForm',
    'QuickAddForm',
    'TimelineEntryForm',
)

# The object selectors offered where a form links to "a device, VM, service or cluster".
OBJECT_SELECTORS = (
    ('device', Device, _('Device')),
    ('virtual_machine', VirtualMachine, _('Virtual machine')),
    ('service', Service, _('Service')),
    ('cluster', Cluster, _('Cluster')),
)


class ObjectSelectorMixin(forms.Form):
    """One optional selector per linkable model; at most one may be set (the generic `object`)."""

    device = DynamicModelChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine = DynamicModelChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine')
    )
    service = DynamicModelChoiceField(queryset=Service.objects.all(), required=False, label=_('Service'))
    cluster = DynamicModelChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))

    selector_required = False

    def _init_selectors(self):
        instance = self.instance
        if instance.pk and instance.object_type_id and instance.object is not None:
            for field, model, _label in OBJECT_SELECTORS:
                if isinstance(instance.object, model):
                    self.initial[field] = instance.object.pk

    def _clean_selectors(self):
        chosen = [(field, self.cleaned_data.get(field)) for field, _model, _label in OBJECT_SELECTORS]
        chosen = [(field, obj) for field, obj in chosen if obj]
        if len(chosen) > 1:
            raise ValidationError(_('Choose one object only.'))
        if not chosen:
            if self.selector_required:
                raise ValidationError(_('Choose a device, virtual machine, service or cluster.'))
            self.instance.object_type = None
            self.instance.object_id = None
            return
        obj = chosen[0][1]
        self.instance.object_type = ContentType.objects.get_for_model(obj)
        self.instance.object_id = obj.pk

    def _get_validation_exclusions(self):
        # The selectors set object_type/object_id, which are not form fields: validate them anyway,
        # or the model's constraints on them (one row per affected object) end in an IntegrityError.
        exclude = super()._get_validation_exclusions()
        if self.instance.object_type_id:
            exclude -= {'object_type', 'object_id'}
        return exclude

    def _update_errors(self, errors):
        # Model errors about object_type/object_id belong to the selectors: show them above the form.
        if hasattr(errors, 'error_dict'):
            for name in ('object_type', 'object_id'):
                if name in errors.error_dict and name not in self.fields:
                    errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(errors.error_dict.pop(name))
        super()._update_errors(errors)


class IncidentForm(TenancyForm, PrimaryModelForm):
    summary = CommentField(label=_('Summary'), required=False)

    fieldsets = (
        FieldSet('title', 'status', 'severity', 'description', 'tags', name=_('Incident')),
        FieldSet('started_at', 'detected_at', 'resolved_at', name=_('Times')),
        FieldSet('summary', name=_('Summary')),
        FieldSet('tenant_group', 'tenant', name=_('Tenancy')),
    )

    class Meta:
        model = Incident
        fields = (
            'title', 'status', 'severity', 'started_at', 'detected_at', 'resolved_at', 'summary', 'tenant_group',
            'tenant', 'description', 'owner', 'comments', 'tags',
        )
        widgets = {
            'started_at': DateTimePicker(),
            'detected_at': DateTimePicker(),
            'resolved_at': DateTimePicker(),
        }


class IncidentObjectForm(ObjectSelectorMixin, NetBoxModelForm):
    incident = DynamicModelChoiceField(queryset=Incident.objects.all(), label=_('Incident'))
    selector_required = True

    fieldsets = (
        FieldSet('incident', 'note', 'tags', name=_('Incident')),
        FieldSet('device', 'virtual_machine', 'service', 'cluster', name=_('Affected object (choose one)')),
    )

    class Meta:
        model = IncidentObject
        fields = ('incident', 'note', 'tags')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_selectors()

    def clean(self):
        super().clean()
        self._clean_selectors()
        return self.cleaned_data


class BusinessImpactForm(PrimaryModelForm):
    incident = DynamicModelChoiceField(queryset=Incident.objects.all(), label=_('Incident'))

    fieldsets = (
        FieldSet('incident', 'effective_from', 'loss_per_day', 'currency', 'basis', 'note', 'tags',
                 name=_('Loss rate')),
    )

    class Meta:
        model = BusinessImpact
        fields = (
            'incident', 'effective_from', 'loss_per_day', 'currency', 'basis', 'note', 'description', 'owner',
            'comments', 'tags',
        )
        widgets = {'effective_from': DateTimePicker()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.initial.get('currency'):
            self.initial['currency'] = get_setting('default_currency')


class TimelineEntryForm(ObjectSelectorMixin, PrimaryModelForm):
    incident = DynamicModelChoiceField(queryset=Incident.objects.all(), label=_('Incident'))
    text = CommentField(label=_('Text'), required=True)

    fieldsets = (
        FieldSet('incident', 'timestamp', 'kind', 'text', 'tags', name=_('Timeline entry')),
        FieldSet('device', 'virtual_machine', 'service', 'cluster', name=_('Linked object (optional)')),
    )

    class Meta:
        model = TimelineEntry
        fields = ('incident', 'timestamp', 'kind', 'text', 'description', 'owner', 'comments', 'tags')
        widgets = {'timestamp': DateTimePicker()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_selectors()

    def clean(self):
        super().clean()
        self._clean_selectors()
        return self.cleaned_data


class QuickAddForm(forms.Form):
    """Addresses or CIDRs pasted by a person → minimal devices/VMs (see netbox_triage.quick_add)."""

    addresses = forms.CharField(
        label=_('Addresses'), widget=forms.Textarea(attrs={'rows': 6}),
        help_text=_('IP addresses and/or CIDRs, separated by spaces, commas or new lines'),
    )
    kind = forms.ChoiceField(label=_('Create'), choices=(('vm', _('Virtual machines')), ('device', _('Devices'))))
    site = DynamicModelChoiceField(queryset=Site.objects.all(), required=False, label=_('Site'))
    cluster = DynamicModelChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))
    role = DynamicModelChoiceField(queryset=DeviceRole.objects.all(), required=False, label=_('Role'))
    device_type = DynamicModelChoiceField(
        queryset=DeviceType.objects.all(), required=False, label=_('Device type'), help_text=_('Devices only')
    )
    name_prefix = forms.CharField(label=_('Name prefix'), initial='host-', max_length=40)

    fieldsets = (
        FieldSet('addresses', 'kind', 'name_prefix', name=_('Hosts')),
        FieldSet('site', 'cluster', 'role', 'device_type', name=_('Placement')),
    )

    def clean_addresses(self):
        from ..quick_add import parse_addresses

        try:
            return parse_addresses(self.cleaned_data['addresses'])
        except ValueError as exc:
            raise ValidationError(str(exc))


class DiscoveryForm(ObjectSelectorMixin, PrimaryModelForm):
    """Rules write discoveries; people triage them (acknowledge, mark false positive, link an incident) and may
    record one by hand (rule "manual")."""

    incident = DynamicModelChoiceField(queryset=Incident.objects.all(), required=False, label=_('Incident'))
    # Plain text, shown as such (it quotes probe output): not CommentField, whose help promises Markdown.
    evidence_text = forms.CharField(
        label=_('Evidence'), required=False, widget=forms.Textarea(attrs={'rows': 6, 'class': 'font-monospace'})
    )

    fieldsets = (
        FieldSet('title', 'rule', 'severity', 'status', 'incident', 'tags', name=_('Discovery')),
        FieldSet('device', 'virtual_machine', 'service', 'cluster', name=_('About (optional)')),
        FieldSet('evidence_text', 'recommendation', name=_('Evidence')),
    )

    class Meta:
        model = Discovery
        fields = ('title', 'rule', 'severity', 'status', 'incident', 'evidence_text', 'recommendation',
                  'description', 'owner', 'comments', 'tags')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_selectors()
        if not self.instance.pk and not self.initial.get('rule'):
            self.initial['rule'] = 'manual'

    def clean(self):
        super().clean()
        self._clean_selectors()
        return self.cleaned_data


class DependencyForm(PrimaryModelForm):
    """Two ends, each a device, VM, service or cluster: one selector per model and end."""

    source_device = DynamicModelChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    source_virtual_machine = DynamicModelChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    source_service = DynamicModelChoiceField(queryset=Service.objects.all(), required=False, label=_('Service'))
    source_cluster = DynamicModelChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))
    target_device = DynamicModelChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    target_virtual_machine = DynamicModelChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    target_service = DynamicModelChoiceField(queryset=Service.objects.all(), required=False, label=_('Service'))
    target_cluster = DynamicModelChoiceField(queryset=Cluster.objects.all(), required=False, label=_('Cluster'))

    fieldsets = (
        FieldSet('source_device', 'source_virtual_machine', 'source_service', 'source_cluster',
                 name=_('Source (choose one)')),
        FieldSet('target_device', 'target_virtual_machine', 'target_service', 'target_cluster',
                 name=_('Target (choose one)')),
        FieldSet('kind', 'port', 'label', 'status', 'tags', name=_('Dependency')),
    )

    class Meta:
        model = Dependency
        fields = ('kind', 'port', 'label', 'status', 'description', 'owner', 'comments', 'tags')

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for end in ('source', 'target'):
            obj = getattr(self.instance, end) if getattr(self.instance, f'{end}_type_id', None) else None
            for field, model, _label in OBJECT_SELECTORS:
                if obj is not None and isinstance(obj, model):
                    self.initial[f'{end}_{field}'] = obj.pk

    def clean(self):
        super().clean()
        for end in ('source', 'target'):
            chosen = [self.cleaned_data.get(f'{end}_{field}') for field, _model, _label in OBJECT_SELECTORS]
            chosen = [obj for obj in chosen if obj]
            if len(chosen) != 1:
                raise ValidationError(_('Choose exactly one {end} object.').format(end=end))
            setattr(self.instance, f'{end}_type', ContentType.objects.get_for_model(chosen[0]))
            setattr(self.instance, f'{end}_id', chosen[0].pk)
        return self.cleaned_data

    def _get_validation_exclusions(self):
        exclude = super()._get_validation_exclusions()
        return exclude - {'source_type', 'source_id', 'target_type', 'target_id'}

    def _update_errors(self, errors):
        if hasattr(errors, 'error_dict'):
            for name in ('source_type', 'source_id', 'target_type', 'target_id'):
                if name in errors.error_dict and name not in self.fields:
                    errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(errors.error_dict.pop(name))
        super()._update_errors(errors)


class MonitoringCoverageForm(PrimaryModelForm):
    """What a person records: which system watches a host, in which state, checking what. Monit rows are kept
    by the collector from Monit's own reports."""

    device = DynamicModelChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine = DynamicModelChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))
    check_types = forms.MultipleChoiceField(label=_('Check types'), choices=MonitoringCheckTypeChoices,
                                            required=False)

    fieldsets = (
        FieldSet('device', 'virtual_machine', name=_('Host (choose one)')),
        FieldSet('system', 'state', 'check_types', 'ui_url', 'tags', name=_('Coverage')),
    )

    class Meta:
        model = MonitoringCoverage
        fields = ('device', 'virtual_machine', 'system', 'state', 'check_types', 'ui_url', 'description', 'owner',
                  'comments', 'tags')


class MonitAgentForm(NetBoxModelForm):
    """Map a Monit agent the collector could not match to its device or virtual machine."""

    device = DynamicModelChoiceField(queryset=Device.objects.all(), required=False, label=_('Device'))
    virtual_machine = DynamicModelChoiceField(
        queryset=VirtualMachine.objects.all(), required=False, label=_('Virtual machine'))

    fieldsets = (FieldSet('device', 'virtual_machine', 'tags', name=_('Map to (choose one)')),)

    class Meta:
        model = MonitAgent
        fields = ('device', 'virtual_machine', 'tags')
