from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from governance.access import role_required
from governance.roles import Role

PAGE_SIZE = 50


@require_GET
@role_required(Role.AUDITOR)
def events(request: HttpRequest) -> HttpResponse:
    """The trail, newest first, paged by sequence number (keyset: no OFFSET, fast at any depth)."""
    rows = AuditEvent.objects.order_by("-sequence")
    before = request.GET.get("before", "")
    if before.isdigit():
        rows = rows.filter(sequence__lt=int(before))
    page = list(rows[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].sequence if len(page) > PAGE_SIZE else None
    return render(
        request,
        "audit/events.html",
        {"events": page[:PAGE_SIZE], "older": older, "paged": bool(before)},
    )
