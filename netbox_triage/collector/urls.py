from django.urls import path

from . import views

# Plain paths: Monit POSTs here with HTTP Basic credentials, no NetBox session.
urlpatterns = [
    path('monit/', views.MonitCollectorView.as_view(), name='monit_collector'),
]
