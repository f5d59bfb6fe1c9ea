"""Choice sets shared by the plugin's models, forms, filters and API."""

from django.utils.translation import gettext_lazy as _

from utilities.choices import ChoiceSet


class SeverityChoices(ChoiceSet):
    """One severity scale for incidents and discoveries, so the board can compare them."""

    INFO = 'info'
    LOW = 'low'
    MEDIUM = 'medium'
    HIGH = 'high'
    CRITICAL = 'critical'

    CHOICES = [
        (INFO, _('Info'), 'gray'),
        (LOW, _('Low'), 'blue'),
        (MEDIUM, _('Medium'), 'yellow'),
        (HIGH, _('High'), 'orange'),
        (CRITICAL, _('Critical'), 'red'),
    ]


class IncidentStatusChoices(ChoiceSet):
    INVESTIGATING = 'investigating'
    MITIGATING = 'mitigating'
    MONITORING = 'monitoring'
    RESOLVED = 'resolved'

    CHOICES = [
        (INVESTIGATING, _('Investigating'), 'red'),
        (MITIGATING, _('Mitigating'), 'orange'),
        (MONITORING, _('Monitoring'), 'blue'),
        (RESOLVED, _('Resolved'), 'green'),
    ]

    OPEN = (INVESTIGATING, MITIGATING, MONITORING)


class ImpactBasisChoices(ChoiceSet):
    """Whether a loss rate is a guess made in the room or a figure someone measured."""

    ESTIMATE = 'estimate'
    MEASURED = 'measured'

    CHOICES = [
        (ESTIMATE, _('Estimate'), 'yellow'),
        (MEASURED, _('Measured'), 'green'),
    ]


class TimelineKindChoices(ChoiceSet):
    NOTE = 'note'
    ACTION = 'action'
    FINDING = 'finding'
    MITIGATION = 'mitigation'
    STATUS = 'status'
    SYSTEM = 'system'

    CHOICES = [
        (NOTE, _('Note'), 'gray'),
        (ACTION, _('Action'), 'blue'),
        (FINDING, _('Finding'), 'orange'),
        (MITIGATION, _('Mitigation'), 'green'),
        (STATUS, _('Status change'), 'purple'),
        (SYSTEM, _('System'), 'cyan'),
    ]


class ProbeStatusChoices(ChoiceSet):
    """How the last probe of a host ended; one status per failure mode, so nothing is lumped."""

    NEVER = 'never'
    OK = 'ok'
    UNREACHABLE = 'unreachable'
    TIMEOUT = 'timeout'
    AUTH_FAILED = 'auth_failed'
    HOSTKEY_MISMATCH = 'hostkey_mismatch'
    OUT_OF_SCOPE = 'out_of_scope'
    PARSE_ERROR = 'parse_error'
    NO_ADDRESS = 'no_address'
    ERROR = 'error'

    CHOICES = [
        (NEVER, _('Never probed'), 'gray'),
        (OK, _('OK'), 'green'),
        (UNREACHABLE, _('Unreachable'), 'red'),
        (TIMEOUT, _('Timeout'), 'orange'),
        (AUTH_FAILED, _('Authentication failed'), 'red'),
        (HOSTKEY_MISMATCH, _('Host key mismatch'), 'purple'),
        (OUT_OF_SCOPE, _('Out of scope'), 'dark'),
        (PARSE_ERROR, _('Parse error'), 'yellow'),
        (NO_ADDRESS, _('No address'), 'gray'),
        (ERROR, _('Error'), 'red'),
    ]


class DiscoveryStatusChoices(ChoiceSet):
    """Where a discovery stands. Rules move open/acknowledged ones to resolved (and back); a person's
    false-positive verdict is left alone until the evidence changes."""

    OPEN = 'open'
    ACKNOWLEDGED = 'acknowledged'
    RESOLVED = 'resolved'
    FALSE_POSITIVE = 'false_positive'

    CHOICES = [
        (OPEN, _('Open'), 'red'),
        (ACKNOWLEDGED, _('Acknowledged'), 'orange'),
        (RESOLVED, _('Resolved'), 'green'),
        (FALSE_POSITIVE, _('False positive'), 'gray'),
    ]

    ACTIVE = (OPEN, ACKNOWLEDGED)


class DependencyKindChoices(ChoiceSet):
    USES = 'uses'
    REPLICA = 'replica'
    STANDBY = 'standby'
    OTHER = 'other'

    CHOICES = [
        (USES, _('Uses'), 'blue'),
        (REPLICA, _('Replica of'), 'red'),
        (STANDBY, _('Standby / failover for'), 'orange'),
        (OTHER, _('Other'), 'gray'),
    ]


class DependencyOriginChoices(ChoiceSet):
    """Who made a dependency: a person, or the probe from a host's established connections."""

    MANUAL = 'manual'
    PROBE = 'probe'

    CHOICES = [
        (MANUAL, _('Manual'), 'blue'),
        (PROBE, _('Probe'), 'cyan'),
    ]


class DependencyStatusChoices(ChoiceSet):
    """A discovered dependency waits for a person to confirm or hide it; hidden ones stay hidden."""

    DISCOVERED = 'discovered'
    CONFIRMED = 'confirmed'
    HIDDEN = 'hidden'

    CHOICES = [
        (DISCOVERED, _('Discovered'), 'cyan'),
        (CONFIRMED, _('Confirmed'), 'green'),
        (HIDDEN, _('Hidden'), 'gray'),
    ]


class MonitoringSystemChoices(ChoiceSet):
    """Who watches a host. Monit reports to the plugin's collector; the others are recorded by hand."""

    MONIT = 'monit'
    PROMETHEUS = 'prometheus'
    ZABBIX = 'zabbix'
    NAGIOS = 'nagios'
    CHECKMK = 'checkmk'
    NEW_RELIC = 'newrelic'
    OTHER = 'other'

    CHOICES = [
        (MONIT, _('Monit'), 'green'),
        (PROMETHEUS, _('Prometheus'), 'orange'),
        (ZABBIX, _('Zabbix'), 'red'),
        (NAGIOS, _('Nagios'), 'gray'),
        (CHECKMK, _('Checkmk'), 'teal'),
        (NEW_RELIC, _('New Relic'), 'cyan'),
        (OTHER, _('Other'), 'dark'),
    ]


class MonitoringStateChoices(ChoiceSet):
    """How far a host's monitoring by one system got. Only the collector proves "reporting" (for Monit);
    "silent" means it reported once and then stopped."""

    NONE = 'none'
    PLANNED = 'planned'
    CONFIGURED = 'configured'
    REPORTING = 'reporting'
    SILENT = 'silent'

    CHOICES = [
        (NONE, _('None'), 'gray'),
        (PLANNED, _('Planned'), 'blue'),
        (CONFIGURED, _('Configured'), 'cyan'),
        (REPORTING, _('Reporting'), 'green'),
        (SILENT, _('Silent'), 'red'),
    ]

    # A host counts as monitored when one of its systems is in one of these states.
    MONITORED = (CONFIGURED, REPORTING, SILENT)


class MonitoringCheckTypeChoices(ChoiceSet):
    """What a monitoring check covers (a Monit service maps to one or more of these)."""

    DISK = 'disk'
    CPU = 'cpu'
    MEMORY = 'memory'
    LOAD = 'load'
    NETWORK = 'network'
    OS_RELEASE = 'os_release'
    REMOTE_SERVICE = 'remote_service'
    PROCESS = 'process'
    FILE = 'file'
    PROGRAM = 'program'
    OTHER = 'other'

    CHOICES = [
        (DISK, _('Disk'), 'orange'),
        (CPU, _('CPU'), 'blue'),
        (MEMORY, _('Memory'), 'purple'),
        (LOAD, _('Load'), 'indigo'),
        (NETWORK, _('Network'), 'cyan'),
        (OS_RELEASE, _('OS release'), 'gray'),
        (REMOTE_SERVICE, _('Remote service'), 'green'),
        (PROCESS, _('Process'), 'teal'),
        (FILE, _('File'), 'yellow'),
        (PROGRAM, _('Program'), 'dark'),
        (OTHER, _('Other'), 'gray'),
    ]
