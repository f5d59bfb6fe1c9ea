from django.urls import include, path

from utilities.urls import get_model_urls

from . import views

urlpatterns = [
    path('', views.BoardView.as_view(), name='board'),
    path('incidents/', include(get_model_urls('netbox_triage', 'incident', detail=False))),
    path('incidents/<int:pk>/', include(get_model_urls('netbox_triage', 'incident'))),
    path('affected-objects/', include(get_model_urls('netbox_triage', 'incidentobject', detail=False))),
    path('affected-objects/<int:pk>/', include(get_model_urls('netbox_triage', 'incidentobject'))),
    path('business-impacts/', include(get_model_urls('netbox_triage', 'businessimpact', detail=False))),
    path('business-impacts/<int:pk>/', include(get_model_urls('netbox_triage', 'businessimpact'))),
    path('timeline-entries/', include(get_model_urls('netbox_triage', 'timelineentry', detail=False))),
    path('timeline-entries/<int:pk>/', include(get_model_urls('netbox_triage', 'timelineentry'))),
    path('host-facts/', include(get_model_urls('netbox_triage', 'hostfacts', detail=False))),
    path('host-facts/<int:pk>/', include(get_model_urls('netbox_triage', 'hostfacts'))),
    path('discoveries/', include(get_model_urls('netbox_triage', 'discovery', detail=False))),
    path('discoveries/<int:pk>/', include(get_model_urls('netbox_triage', 'discovery'))),
    path('dependencies/', include(get_model_urls('netbox_triage', 'dependency', detail=False))),
    path('dependencies/<int:pk>/', include(get_model_urls('netbox_triage', 'dependency'))),
    path('monitoring-coverage/', include(get_model_urls('netbox_triage', 'monitoringcoverage', detail=False))),
    path('monitoring-coverage/<int:pk>/', include(get_model_urls('netbox_triage', 'monitoringcoverage'))),
    path('unmonitored/devices/', views.UnmonitoredDeviceListView.as_view(), name='unmonitored_devices'),
    path('unmonitored/virtual-machines/', views.UnmonitoredVirtualMachineListView.as_view(),
         name='unmonitored_virtualmachines'),
    path('monit-agents/', include(get_model_urls('netbox_triage', 'monitagent', detail=False))),
    path('monit-agents/<int:pk>/', include(get_model_urls('netbox_triage', 'monitagent'))),
    # Actions that are not views of a model.
    path('host-facts/<int:pk>/accept-hostkey/', views.AcceptHostKeyView.as_view(),
         name='hostfacts_accept_hostkey'),
    path('probe/<str:model>/', views.ProbeView.as_view(), name='probe'),
    path('export/ssh-config/', views.SSHConfigExportView.as_view(), name='ssh_config_export'),
    path('export/monit/', views.MonitExportView.as_view(), name='monit_export'),
    path('quick-add/', views.QuickAddView.as_view(), name='quick_add'),
    path('run-rules/', views.RunRulesView.as_view(), name='run_rules'),
    path('incidents/<int:pk>/actions/', views.IncidentActionView.as_view(), name='incident_action'),
    path('topology/<str:object_type>/<int:pk>/', views.TopologyView.as_view(), name='topology'),
    path('collector/', include('netbox_triage.collector.urls')),
]
