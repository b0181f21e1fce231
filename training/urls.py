from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("", views.home, name="home"),
    path("cards/", views.overview, name="overview"),
    path("cards/<int:number>/", views.card, name="card"),
    path("policy/", views.policy_document, name="policy"),
    path("policy/v<int:version>/", views.policy_version, name="policy_version"),
    path("policy/edit/", views.policy_edit, name="policy_edit"),
    path("policy/publish/", views.policy_publish, name="policy_publish"),
    path("policy/discard/", views.policy_discard, name="policy_discard"),
    path("acknowledge/", views.acknowledge, name="acknowledge"),
    path("quiz/<int:number>/", views.quiz, name="quiz"),
    path("questions/", views.questions, name="questions"),
    path("questions/new/", views.question_edit, name="question_new"),
    path("questions/<uuid:public_id>/", views.question_edit, name="question"),
    path("questions/<uuid:public_id>/delete/", views.question_delete, name="question_delete"),
    path("report/", views.report, name="report"),
    path("report.csv", views.report_csv, name="report_csv"),
    path("report/remind/", views.remind, name="remind"),
]
