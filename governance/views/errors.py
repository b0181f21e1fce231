"""Error pages; config.urls names these as handler400/403/404/500, settings as
CSRF_FAILURE_VIEW."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.bodies import FORM_BODY_LIMIT


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django would not read: a body past what a form takes (a huge paste), too
    many fields, a malformed one. Nothing of it was saved."""
    if isinstance(exception, RequestDataTooBig):
        return render(request, "400.html", {"too_large": FORM_BODY_LIMIT}, status=413)
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused CSRF check: almost always a form whose token went stale (a tab left open,
    a sign-in elsewhere). Django's reason is for developers; it is logged, not shown."""
    return render(request, "403_csrf.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors here: the database may be what failed.
    from django.template.loader import get_template

    return HttpResponse(get_template("500.html").render({}), status=500)
