"""``GET /v1/models`` and ``GET /v1/models/{model}``: the backends a token's owner may use,
and ``auto`` (none for someone without the Staff role: the completions refuse them); and
OpenAI's 404 for any other path under /v1/."""

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt

from api.authentication import MFA_REQUIRED, record_use
from api.v1.governed import AUTO, NOT_STAFF, _authenticate, _refuse, _usable_backends
from api.v1.problems import Problem, _not_allowed, _server_error, _unknown_model
from config.connections import in_database_thread
from governance.access import holds, must_enrol_mfa
from governance.roles import Role

logger = logging.getLogger(__name__)


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    """The backends the token's owner may use (in any category they are cleared for), and auto."""
    listing = await _listing(request)
    if isinstance(listing, HttpResponse):
        return listing
    return JsonResponse({"object": "list", "data": listing})


@csrf_exempt
async def model(request: HttpRequest, model_id: str) -> HttpResponse:
    """One model of :func:`models`' list (the client's ``models.retrieve``)."""
    listing = await _listing(request)
    if isinstance(listing, HttpResponse):
        return listing
    for entry in listing:
        if entry["id"] == model_id:
            return JsonResponse(entry)
    return _unknown_model(model_id).response()


async def _listing(request: HttpRequest) -> list[dict] | HttpResponse:
    """The models for the token's owner, or the response that refuses the request."""
    if request.method not in ("GET", "HEAD"):
        return _not_allowed("GET", "HEAD")
    try:
        return await in_database_thread(_models)(request)
    except Problem as problem:
        return problem.response()
    except Exception:
        logger.exception("%s failed unexpectedly", request.path)
        return _server_error().response()


@csrf_exempt
async def unknown(request: HttpRequest) -> HttpResponse:
    """Any other path under /v1/: OpenAI's 404, naming what Steward serves (an embeddings
    call from an OpenAI client would otherwise get a page of HTML)."""
    error = {
        "message": f"Steward has no {request.method} {request.path}; it serves GET /v1/models, "
        "GET /v1/models/{model}, POST /v1/chat/completions and POST /v1/responses.",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_url",
    }
    return JsonResponse({"error": error}, status=404)


def _models(request: HttpRequest) -> list[dict]:
    token = _authenticate(request)
    version = token.policy_version  # read with the token
    # Refused as the completions refuse: a clearance without the role (one held personally,
    # the Staff role since taken away) lists models no request could use.
    if not holds(token.user, Role.STAFF, version):
        _refuse(request, token, NOT_STAFF, code="not_staff")
    if must_enrol_mfa(token.user, version):
        _refuse(request, token, MFA_REQUIRED, code="mfa_required")
    with transaction.atomic():
        record_use(request, token)
    usable = _usable_backends(token.user, version)
    data = [_model(AUTO, "steward", {"categories": sorted({n for _, ns in usable for n in ns})})]
    for spec, numbers in usable:
        extra = {"backend": spec.name, "hosting_class": spec.hosting_class, "categories": numbers}
        data.append(_model(slugify(spec.name), "steward", extra))
    return data


def _model(model_id: str, owner: str, steward: dict) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner, "steward": steward}
