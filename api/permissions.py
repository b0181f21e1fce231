"""DRF permissions that ask what the pages ask: does the user hold the role (governance.roles);
and the record of each token's use, made once its outcome is known."""

from django.db import transaction
from rest_framework.permissions import BasePermission

from api.authentication import record_use
from audit.models import AuditEvent
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


class RecordsTokenUse:
    """A viewset whose token uses are each one ``api.request`` event, written when the
    answer is known, with its outcome, as /v1 records its own: success, blocked (401/403,
    with the status) or failure (any other 4xx or 5xx, with the status). Written when the
    token is read, a request refused its role was shown to auditors as a success.
    """

    records_token_use_when_answered = True

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.record_token_use(response.status_code)
        return response

    def handle_exception(self, exc):
        try:
            return super().handle_exception(exc)
        except Exception:
            self.record_token_use(500)  # raised on, to the site's 500
            raise

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
