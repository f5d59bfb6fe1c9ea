"""URL namespaces for NetBox's test harness: a plugin's views live under `plugins:`/`plugins-api:`."""

__all__ = ('PluginURLMixin',)


class PluginURLMixin:
    """Point `ViewTestCases` and `APIViewTestCases` at the plugin's URL namespaces.

    The harness builds `<app_label>:<model>_<action>` and `<app_label>-api:<model>-list`; a plugin's
    URLs are `plugins:netbox_triage:…` and `plugins-api:netbox_triage-api:…`.
    """

    def _get_base_url(self):
        return f'plugins:{self.model._meta.app_label}:{self.model._meta.model_name}_{{}}'

    def _get_view_namespace(self):
        return f'plugins-api:{self.model._meta.app_label}-api'
