"""netbox-triage: a NetBox plugin for the night an infrastructure breaks."""

from netbox.plugins import PluginConfig

__version__ = '0.1.0'


class TriageConfig(PluginConfig):
    name = 'netbox_triage'
    verbose_name = 'Triage'
    description = 'Incidents and business impact, SSH probing, discoveries, exports and monitoring coverage'
    version = __version__
    author = 'netbox-triage developers'
    base_url = 'triage'
    min_version = '4.7.0'
    max_version = '4.7.99'
    graphql_schema = 'graphql.schema.schema'

    def ready(self):
        super().ready()
        from .settings import validate_settings

        validate_settings()
        from . import signals  # noqa: F401
        from .events import register_event_types

        register_event_types()
        from . import widgets  # noqa: F401  (dashboard widgets)
        from .collector import jobs  # noqa: F401  (registers the monitoring-silence system job)
        from .tables import register_facts_columns

        register_facts_columns()


config = TriageConfig
