"""The audit trail over REST: read-only, for auditors, filtered as on the auditor's page."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.settings import api_settings

from api.pagination import SizeChecked
from api.permissions import RecordsTokenUse, role_permission
from audit.api.serializers import AuditEventSerializer
from audit.filters import EventFilter
from audit.models import AuditEvent
from config.numbers import whole_number
from governance.models import HostingClass
from governance.roles import Role

FILTERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (inclusive)."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="To this day (inclusive)."),
    OpenApiParameter("actor", str, description="The actor's email address, or 'system'."),
    OpenApiParameter("action", str, enum=AuditEvent.Action.values),
    OpenApiParameter("category", str),
    OpenApiParameter(
        "backend",
        str,
        description="A backend's name as the events spell it, in any case; a name no event "
        "holds is a 400 listing those the trail holds.",
    ),
    OpenApiParameter(
        "hosting",
        str,
        enum=HostingClass.values,
        description="Chat requests sent to a backend hosted so (with action: chat.request "
        "only). Not indexed: give since/until too on a long trail.",
    ),
    OpenApiParameter("outcome", str, enum=AuditEvent.Outcome.values),
    OpenApiParameter(
        "target_type",
        str,
        description="What the events are about: chat.conversation, governance.user, …",
    ),
    OpenApiParameter("target", str, description="That object's id (target_id); needs target_type."),
]


class NewestFirst(SizeChecked, CursorPagination):
    """Keyset paging by sequence number: as fast on the millionth page as on the first."""

    ordering = "-sequence"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

    def decode_cursor(self, request):
        """DRF checks a cursor's offset, not its position: a forged one ("p=abc") failed in
        the query."""
        cursor = super().decode_cursor(request)
        if cursor and cursor.position is not None and whole_number(cursor.position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class AuditEventViewSet(RecordsTokenUse, viewsets.ReadOnlyModelViewSet):
    """Audit events, newest first. They never hold message text."""

    serializer_class = AuditEventSerializer
    permission_classes = [role_permission(Role.AUDITOR)]
    pagination_class = NewestFirst
    lookup_field = "sequence"
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.select_related("actor")
        if self.action != "list":
            return events
        filters = EventFilter(self.request.query_params or None)
        if filters.is_bound and not filters.is_valid():
            raise ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: errors
                    for name, errors in filters.errors.items()
                }
            )
        return filters.apply(events)
