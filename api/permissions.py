"""DRF permissions that ask what the pages ask: does the user hold the role (governance.roles);
and what every REST viewset does once it has its answer: record the token's use with its
outcome, and answer a failure of Steward's own in JSON."""

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.utils.log import log_response
from rest_framework.exceptions import APIException, ParseError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from api.authentication import record_use
from audit.models import AuditEvent
from config.bodies import FORM_BODY_TOO_LARGE
from config.middleware import holds_nul
from governance.roles import Role


class _HasRole(BasePermission):
    role: Role

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.role.permission))


def role_permission(role: Role) -> type[BasePermission]:
    """The permission class for endpoints of one role (403 for the signed-in without it)."""
    return type(
        f"Has{role.name.title().replace('_', '')}Role",
        (_HasRole,),
        {"role": role, "message": f"This endpoint is for the {role.label} role."},
    )


class BodyTooLarge(APIException):
    status_code = 413
    default_detail = FORM_BODY_TOO_LARGE
    default_code = "too_large"


class RecordsTokenUse:
    """A viewset whose token uses are each one ``api.request`` event, written when the
    answer is known, with its outcome, as /v1 records its own: success, blocked (401/403,
    with the status) or failure (any other 4xx or 5xx, with the status). Written when the
    token is read, a request refused its role was shown to auditors as a success.

    A failure of Steward's own is a JSON 500 too, not the site's page (with DEBUG, the
    traceback).
    """

    records_token_use_when_answered = True

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.record_token_use(response.status_code)
        return response

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):  # past what Django reads: no form is larger
            exc = BodyTooLarge()
        elif isinstance(exc, SuspiciousOperation):  # too many fields, say: as a page says
            exc = ParseError("The request could not be read: malformed, or too many fields.")
        elif holds_nul(exc):
            exc = ParseError("The request held a NUL character, which cannot be stored.")
        try:
            return super().handle_exception(exc)
        except Exception as unexpected:
            self.record_token_use(500)
            if settings.DEBUG:
                raise  # the developer's traceback page
            return self.server_error(unexpected)

    def server_error(self, exc: Exception) -> Response:
        """A JSON 500 (the site's is a page of HTML), logged with its traceback as Django
        logs one, and signalled as Django signals one (error reporters, the test client)."""
        request = self.request._request
        signals.got_request_exception.send(sender=None, request=request)
        response = Response(
            {
                "detail": "Steward failed to answer this request. If it happens again, give "
                f"your administrator its id: {getattr(request, 'request_id', '-')}."
            },
            status=500,
        )
        log_response(
            "Internal Server Error: %s",
            request.path,
            response=response,
            request=request,
            exception=exc,
        )
        return response

    def record_token_use(self, status: int) -> None:
        django_request = self.request._request
        token = getattr(django_request, "token_use_to_record", None)
        if token is None:
            return
        del django_request.token_use_to_record  # once, whatever happens next
        if status < 400:
            outcome, details = AuditEvent.Outcome.SUCCESS, {}
        elif status in (401, 403):
            outcome, details = AuditEvent.Outcome.BLOCKED, {"status": status}
        else:
            outcome, details = AuditEvent.Outcome.FAILURE, {"status": status}
        with transaction.atomic():
            record_use(django_request, token, outcome=outcome, **details)
