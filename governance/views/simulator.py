"""The policy simulator: scan and decide without sending or storing anything."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from chat.services import passed_over
from governance.access import role_required
from governance.forms import SimulatorForm
from governance.models import Category
from governance.policy_cache import read_version
from governance.roles import Role
from governance.simulation import simulate
from governance.views.common import wants_partial


@require_http_methods(["GET", "POST"])
@role_required(Role.POLICY_ADMIN)
def simulator(request: HttpRequest) -> HttpResponse:
    """Paste text, pick a sender and a category: see the findings and the exact decision.

    Nothing is sent, stored or logged: the text lives only in this request.
    """
    categories = Category.objects.filter(is_active=True)
    form = SimulatorForm(
        request.POST or None, categories=categories, initial={"user": request.user.email}
    )
    result = now = None
    if request.method == "POST" and form.is_valid():
        sender = form.cleaned_data["user"]
        result = simulate(
            user=sender, chosen=form.cleaned_data["category"], text=form.cleaned_data["text"]
        )
        now = passed_over(result.decision, read_version(sender.pk))
    template = "governance/simulator.html"
    if wants_partial(request):
        template += "#simulator"
    return render(
        request,
        template,
        {
            "form": form,
            "result": result,
            "sender": result and form.cleaned_data["user"],
            "now": now,
        },
        status=422 if form.errors else 200,
    )
