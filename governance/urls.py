from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("policy/", views.policy, name="policy"),
    path("policy/users/", views.users, name="users"),
    path("policy/users/<uuid:public_id>/", views.user_detail, name="user"),
    path("policy/simulator/", views.simulator, name="simulator"),
    # The policy console's editing pages.
    path("policy/backends/new/", views.backend_new, name="backend_new"),
    path("policy/backends/<uuid:public_id>/", views.backend_detail, name="backend"),
    path("policy/backends/<uuid:public_id>/state/", views.backend_state, name="backend_state"),
    path("policy/backends/<uuid:public_id>/delete/", views.backend_delete, name="backend_delete"),
    path("policy/backends/<uuid:public_id>/test/", views.backend_test, name="backend_test"),
    path("policy/approvals/", views.approvals, name="approvals"),
    path(
        "policy/approvals/<slug:category>/<uuid:backend>/preference/",
        views.approval_preference,
        name="approval_preference",
    ),
    path(
        "policy/approvals/<slug:category>/<uuid:backend>/revoke/",
        views.approval_revoke,
        name="approval_revoke",
    ),
    path("policy/clearances/", views.clearances, name="clearances"),
    path("policy/clearances/revoke/", views.clearance_revoke, name="clearance_revoke"),
    path("policy/categories/new/", views.category_new, name="category_new"),
    path("policy/categories/<slug:slug>/", views.category_detail, name="category"),
    path(
        "policy/categories/<slug:slug>/findings/",
        views.category_findings,
        name="category_findings",
    ),
    path("policy/categories/<slug:slug>/state/", views.category_state, name="category_state"),
    path("policy/rules/", views.rules, name="rules"),
    path("policy/rules/new/", views.rule_new, name="rule_new"),
    path("policy/rules/<uuid:public_id>/", views.rule_detail, name="rule"),
    path("policy/rules/<uuid:public_id>/state/", views.rule_state, name="rule_state"),
    path("policy/rules/<uuid:public_id>/delete/", views.rule_delete, name="rule_delete"),
    path("policy/term-lists/", views.term_lists, name="term_lists"),
    path("policy/term-lists/new/", views.term_list_new, name="term_list_new"),
    path("policy/term-lists/<uuid:public_id>/", views.term_list_detail, name="term_list"),
    path(
        "policy/term-lists/<uuid:public_id>/state/",
        views.term_list_state,
        name="term_list_state",
    ),
    path(
        "policy/term-lists/<uuid:public_id>/delete/",
        views.term_list_delete,
        name="term_list_delete",
    ),
]
