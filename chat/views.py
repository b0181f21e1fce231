from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.access import role_required
from governance.models import Category
from governance.roles import Role


@require_GET
@role_required(Role.STAFF)
def home(request: HttpRequest) -> HttpResponse:
    """The chat start page: the user's conversations and the categories they may start one in."""
    categories = Category.objects.cleared_for(request.user)
    return render(request, "chat/home.html", {"categories": categories})
