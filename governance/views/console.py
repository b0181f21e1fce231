"""The policy console: the hub, and list/create/edit/disable pages for every policy object."""

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from governance.access import role_required
from governance.models import Approval, Backend, Category, Clearance
from governance.roles import Role


@require_GET
@role_required(Role.POLICY_ADMIN)
def policy(request: HttpRequest) -> HttpResponse:
    """The policy console's overview: categories and their routing, backends and attributes."""
    categories = Category.objects.prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("backend")),
        Prefetch("clearances", queryset=Clearance.objects.select_related("group", "user")),
    )
    backends = Backend.objects.all()
    return render(
        request,
        "governance/policy.html",
        {"categories": categories, "backends": backends, "today": timezone.localdate()},
    )
