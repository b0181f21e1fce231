from django.urls import path, register_converter

from audit import views


class SequenceConverter:
    """An event's number, signed: a row slipped in below #1 must have its page (and links
    to it must not break the list that shows it)."""

    regex = "-?[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(SequenceConverter, "sequence")

app_name = "audit"

urlpatterns = [
    path("", views.events, name="events"),
    path("events/<sequence:sequence>/", views.event_detail, name="event"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("verify/", views.verify, name="verify"),
    path("chain/", views.chain_panel, name="chain"),
    path("checkpoints/", views.checkpoints, name="checkpoints"),
    path("checkpoints.jsonl", views.checkpoints_file, name="checkpoints_file"),
    path("checkpoints/check/", views.check_checkpoints, name="check_checkpoints"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("charts/<slug:name>.svg", views.chart, name="chart"),
    path("report/", views.report, name="report"),
]
