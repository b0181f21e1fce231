from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("requests/new/", views.request_new, name="request_new"),
    path("requests/<uuid:public_id>/", views.request_detail, name="request"),
    path("requests/<uuid:public_id>/verify/", views.request_verify, name="request_verify"),
    path("requests/<uuid:public_id>/scope/", views.request_scope, name="request_scope"),
    path("requests/<uuid:public_id>/approve/", views.request_approve, name="request_approve"),
    path("requests/<uuid:public_id>/reject/", views.request_reject, name="request_reject"),
    path(
        "requests/<uuid:public_id>/reject/confirm/",
        views.request_reject_confirm,
        name="request_reject_confirm",
    ),
    path(
        "requests/<uuid:public_id>/reject/withdraw/",
        views.request_reject_withdraw,
        name="request_reject_withdraw",
    ),
    path("requests/<uuid:public_id>/extend/", views.request_extend, name="request_extend"),
    path("requests/<uuid:public_id>/told/", views.request_tell, name="request_tell"),
    path(
        "requests/<uuid:public_id>/recipients-told/",
        views.request_recipient_told,
        name="request_recipient_told",
    ),
    path("requests/<uuid:public_id>/release/", views.request_release, name="request_release"),
    path(
        "requests/<uuid:public_id>/check-copy/", views.request_check_copy, name="request_check_copy"
    ),
    path("requests/<uuid:public_id>/retry/", views.request_retry, name="request_retry"),
    path("requests/<uuid:public_id>/finish/", views.request_finish, name="request_finish"),
    path("requests/<uuid:public_id>/receipt.json", views.request_receipt, name="request_receipt"),
    path("requests/<uuid:public_id>/letter/", views.request_letter, name="request_letter"),
    path("requests/<uuid:public_id>/archive.zip", views.request_archive, name="request_archive"),
    path("holds/", views.holds, name="holds"),
    path("holds/<uuid:public_id>/release/", views.hold_release, name="hold_release"),
    path(
        "holds/<uuid:public_id>/release/confirm/",
        views.hold_release_confirm,
        name="hold_release_confirm",
    ),
    path(
        "holds/<uuid:public_id>/release/withdraw/",
        views.hold_release_withdraw,
        name="hold_release_withdraw",
    ),
    path("purges/", views.purges, name="purges"),
    path("purges/run/", views.purge_now, name="purge_now"),
    path("purges/schedule/", views.purge_schedule, name="purge_schedule"),
    path("purges/<uuid:public_id>/", views.purge_detail, name="purge"),
    path("your-data/", views.mine, name="mine"),
    path("how-steward-uses-your-data/", views.notice, name="notice"),
    path("records/", views.processing_records, name="records"),
    path("records.csv", views.processing_records_csv, name="records_csv"),
    path("breach/", views.breach_scope, name="breach"),
    path("breach/conversations.csv", views.breach_scope_csv, name="breach_csv"),
]
