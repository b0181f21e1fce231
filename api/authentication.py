"""Bearer-token authentication, for the REST API (a DRF class) and /v1 (the same steps)."""

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from api import services
from api.models import ApiToken
from api.ratelimit import RateLimited
from audit.models import AuditEvent
from audit.services import record
from governance.access import must_enrol_mfa

#: A token of someone whose role requires two-factor authentication, and who has none set up,
#: waits for it as the site does (config.middleware.RequireMfaMiddleware).
MFA_REQUIRED = (
    "Your role requires two-factor authentication: set it up in Steward (Account → "
    "Two-factor authentication) before using an API token."
)


def bearer_token(request: HttpRequest) -> ApiToken | None:
    """The usable token the request carries, counted against its rate limit.

    None when there is no ``Authorization: Bearer`` header; raises
    :class:`services.TokenRefused` for a bad one and :class:`RateLimited`
    past the limit (see :func:`services.authenticate`).
    """
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise services.TokenRefused("Send the token as 'Authorization: Bearer <token>'.")
    return services.authenticate(header[1].decode("ascii", errors="replace"))


def record_use(
    request: HttpRequest, token: ApiToken, *, outcome=AuditEvent.Outcome.SUCCESS, **details
) -> None:
    """One ``api.request`` event: which token was used for what (never the request's body);
    ``outcome``: blocked for a request refused its permissions, failure for a bad one."""
    record(
        action=AuditEvent.Action.API_REQUEST,
        actor=token.user,
        target=token,
        outcome=outcome,
        # A NUL is no character a JSON column takes (a request for /v1/models/%00).
        details={"method": request.method, "path": request.path.replace("\x00", ""), **details},
    )


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer stw_…``: the REST API acts as the token's owner; every use
    is audited, and each token is rate limited."""

    def authenticate(self, request):
        try:
            token = bearer_token(request._request)
        except services.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        except RateLimited as exc:
            raise exceptions.Throttled(wait=exc.wait) from None
        if token is None:
            return None
        if must_enrol_mfa(token.user):
            record_use(
                request._request, token, outcome=AuditEvent.Outcome.BLOCKED, refused=MFA_REQUIRED
            )
            raise exceptions.PermissionDenied(MFA_REQUIRED)
        view = (request.parser_context or {}).get("view")
        if getattr(view, "records_token_use_when_answered", False):
            # Recorded with the answer's outcome (api.permissions.RecordsTokenUse).
            request._request.token_use_to_record = token
        else:
            record_use(request._request, token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="steward"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token (drf-spectacular finds it by its target)."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema) -> dict:
        return build_bearer_security_scheme_object(
            header_name="AUTHORIZATION", token_prefix="Bearer", bearer_format="stw_…"
        )
