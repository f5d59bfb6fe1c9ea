from django.urls import path

from netbox.api.routers import NetBoxRouter

from . import views

router = NetBoxRouter()
router.APIRootView = views.TriageRootView
router.register('incidents', views.IncidentViewSet)
router.register('affected-objects', views.IncidentObjectViewSet)
router.register('business-impacts', views.BusinessImpactViewSet)
router.register('timeline-entries', views.TimelineEntryViewSet)
router.register('host-facts', views.HostFactsViewSet)
router.register('discoveries', views.DiscoveryViewSet)
router.register('dependencies', views.DependencyViewSet)
router.register('monitoring-coverage', views.MonitoringCoverageViewSet)
router.register('monit-agents', views.MonitAgentViewSet)

urlpatterns = [
    path('probe/', views.ProbeView.as_view(), name='probe'),
    path('export/ssh-config/', views.SSHConfigExportView.as_view(), name='ssh_config_export'),
    path('export/monit/', views.MonitExportView.as_view(), name='monit_export'),
    path('topology/', views.TopologyView.as_view(), name='topology'),
    *router.urls,
]
