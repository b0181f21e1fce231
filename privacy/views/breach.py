"""A breach's scope: what the calls to one backend carried in a window."""

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.asked_here import asked_here, without_token
from config.downloads import attachment
from privacy import breach
from privacy.forms import BreachScopeForm
from privacy.views.common import officer


@require_GET
@officer
@asked_here(
    "run a breach scope (what the calls to a backend carried in a window)",
    button="Run the breach scope",
    when=lambda request: bool(without_token(request.GET)),  # the empty form records nothing
)
def breach_scope(request: HttpRequest) -> HttpResponse:
    """What the calls to one backend carried in a window, for a provider's incident report.

    A GET form, so a report has an address and its CSV the same query; each run is
    recorded in the trail with the counts it showed.
    """
    query = without_token(request.GET)  # the CSV's link adds its own
    end = BreachScopeForm.latest_end()
    initial = {"start": end - dt.timedelta(days=7), "end": end}
    form = BreachScopeForm(query or None, initial=initial)
    scope = None
    if form.is_valid():
        scope = breach.report(actor=request.user, what="page", **form.cleaned_data)
    ctx = {"form": form, "scope": scope, "query": query.urlencode()}
    return render(request, "privacy/breach.html", ctx, status=422 if form.errors else 200)


@require_GET
@officer
@asked_here(
    "download the conversations a breach scope reaches, as CSV",
    button="Download the conversations (CSV)",
)
def breach_scope_csv(request: HttpRequest) -> HttpResponse:
    """The conversations a breach scope reaches, one a row, for the officer's notifications."""
    form = BreachScopeForm(without_token(request.GET))
    if not form.is_valid():
        ctx = {"form": form, "scope": None, "query": ""}
        return render(request, "privacy/breach.html", ctx, status=422)
    scope = breach.report(actor=request.user, what="csv", **form.cleaned_data)
    return attachment(
        breach.csv_text(scope),
        filename=breach.csv_name(scope),
        content_type="text/csv; charset=utf-8",
    )
