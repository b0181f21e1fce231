from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from api import responses, v1, views

app_name = "api"

urlpatterns = [
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<uuid:public_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/tokens/revoke-all/", views.tokens_revoke_all, name="tokens_revoke_all"),
    # OpenAI-compatible: clients append these to a base URL ending in /v1 (no slash after).
    path("v1/models", v1.models, name="models"),
    path("v1/models/<str:model_id>", v1.model, name="model"),
    path("v1/chat/completions", v1.chat_completions, name="chat_completions"),
    path("v1/responses", responses.responses, name="responses"),
    re_path(r"^v1/", v1.unknown),
    # The REST API: each app's viewsets, the OpenAPI schema and its browsable docs.
    path("api/governance/", include("governance.api.urls")),
    path("api/audit/", include("audit.api.urls")),
    path("api/privacy/", include("privacy.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Swagger UI sets style attributes as it renders; its script is a file (the split view).
        csp_update({"style-src": ["'unsafe-inline'"]})(views.ApiDocs.as_view()),
        name="docs",
    ),
    re_path(r"^api/", views.rest_not_found),  # last: a JSON 404, not the site's page
]
