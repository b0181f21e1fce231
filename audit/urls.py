from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.events, name="events"),
    path("events/<int:sequence>/", views.event_detail, name="event"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("verify/", views.verify, name="verify"),
    path("checkpoints/", views.checkpoints, name="checkpoints"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("charts/<slug:name>.svg", views.chart, name="chart"),
    path("report/", views.report, name="report"),
]
