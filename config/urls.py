from django.urls import include, path

from governance import views as governance_views

urlpatterns = [
    path("", governance_views.home, name="home"),
    path("healthz", governance_views.healthz, name="healthz"),
    # Before allauth's own: the address is read-only here (governance.views.own_email).
    path("accounts/email/", governance_views.own_email, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("", include("governance.urls")),
    path("chat/", include("chat.urls")),
    path("audit/", include("audit.urls")),
    path("", include("api.urls")),
    path("privacy/", include("privacy.urls")),
    path("training/", include("training.urls")),
]

handler400 = "governance.views.bad_request"
handler403 = "governance.views.permission_denied"
handler404 = "governance.views.page_not_found"
handler500 = "governance.views.server_error"
