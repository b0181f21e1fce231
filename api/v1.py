"""The OpenAI-compatible endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client works with ``base_url`` set to ``<Steward>/v1`` and a personal
API token as its key. A request goes through the chat's governed path
(:func:`chat.services.send_request`), then the web process streams the
answer itself (:mod:`api.relay`) with the real values put back. Errors have
OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so the
clients raise their usual exceptions.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt

from api import relay
from api.authentication import MFA_REQUIRED, RateLimited, bearer_token, record_use
from api.models import ApiToken
from api.parsers import BROKEN_TEXT, holds_broken_text
from api.services import TokenRefused
from audit.models import AuditEvent
from chat import answering, services
from chat.llm import ChatMessage, Sampling
from chat.markdown import restore_outside_links
from chat.pseudonyms import Pseudonymiser
from config.bodies import FORM_BODY_TOO_LARGE
from config.connections import in_database_thread
from config.numbers import whole_number
from governance.access import holds, must_enrol_mfa
from governance.detection import detect
from governance.models import Backend, Category, User
from governance.policy import HARMLESS_TYPES, eligible_backends, entity_phrase
from governance.policy_cache import Version
from governance.roles import Role
from governance.simulation import policy_snapshot

logger = logging.getLogger(__name__)

AUTO = "auto"
CATEGORY_HEADER = "X-Steward-Category"
#: OpenAI's roles, as the backends are given them ("developer" is OpenAI's newer "system").
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class Problem(Exception):
    """A request answered with an OpenAI-style error."""

    def __init__(
        self, status: int, message: str, *, kind: str, code: str, headers=None, param=None
    ):
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}
        return {"error": error}

    def response(self) -> JsonResponse:
        return JsonResponse(self.body(), status=self.status, headers=self.headers)


@dataclass(frozen=True)
class Asked:
    """What a request asks of the model, read by its endpoint's rules."""

    parts: list[tuple[str, str]]  # (role, text)
    sampling: Sampling


@dataclass(frozen=True)
class Prepared:
    """A governed request whose answer is ready to be streamed."""

    answer: object
    messages: list[ChatMessage]
    pseudonymiser: Pseudonymiser
    headers: dict[str, str]
    model: str
    stream: bool
    include_usage: bool
    #: The request's JSON, for what an answer repeats of it (the Responses API's settings).
    body: dict


@dataclass(frozen=True)
class Endpoint:
    """One of OpenAI's ways to ask for an answer: how a request is read, and how its answer
    is written, whole or as server-sent events (:func:`answer_request`)."""

    asked: Callable[[dict, Version], Asked]
    whole: Callable[[Prepared, answering.Progress], dict]
    events: Callable[[relay.Relay, Prepared], AsyncIterator[bytes]]


# --- GET /v1/models ----------------------------------------------------------------------


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


def _usable_backends(user: User, version: Version) -> list[tuple]:
    """(backend spec, category numbers it may serve for ``user``), from the cached policy."""
    policy = policy_snapshot(version)
    today = timezone.localdate()
    serves: dict[str, tuple] = {}
    for number in sorted(policy.cleared(user.pk, version.group_ids)):
        for spec in eligible_backends(policy.categories[number], policy.backends, today=today):
            serves.setdefault(spec.key, (spec, []))[1].append(number)
    return list(serves.values())


# --- POST /v1/chat/completions -----------------------------------------------------------


async def answer_request(request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
    """A governed answer, streamed (server-sent events) or whole, in ``endpoint``'s terms."""
    if request.method != "POST":
        return _not_allowed("POST")
    try:
        prepared = await in_database_thread(_prepare)(request, endpoint.asked)
    except Problem as problem:
        return problem.response()
    except Exception:
        logger.exception("%s failed unexpectedly", request.path)
        return _server_error().response()
    answer = relay.Relay(
        prepared.answer,
        prepared.messages,
        chunks_wanted=prepared.stream,
        loop_lives=isinstance(request, ASGIRequest),
    )
    answer.start()
    if prepared.stream:
        events = endpoint.events(answer, prepared)
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
    else:
        response = await _whole(answer, prepared, endpoint.whole)
    for name, value in prepared.headers.items():
        response[name] = value
    return response


def _prepare(request: HttpRequest, read: Callable[[dict, Version], Asked]) -> Prepared:
    """Authenticate, read the request, and send it through the governed path.

    1. The token (401), its rate limit (429), the Staff role (403).
    2. The body: JSON (400), what it asks (``read``: the endpoint's text messages and
       sampling; 400), the model (404 unknown) and the category (header, then
       ``metadata.category``, then the user's default; 404 unknown). A request refused
       here is recorded too, by its error's code.
    3. :func:`chat.services.send_request`: refused (not cleared, a category
       that keeps nothing or blocks everything) or blocked by the policy → 403,
       recorded either way.
    """
    token = _authenticate(request)
    user = token.user
    version = token.policy_version  # the request's one reading (with the token), and groups
    if not holds(user, Role.STAFF, version):
        _refuse(request, token, "Only the Staff role may chat with models.", code="not_staff")
    if must_enrol_mfa(user, version):
        _refuse(request, token, MFA_REQUIRED, code="mfa_required")
    try:
        body = _body(request)
        asked = read(body, version)
        category = _category(request, body, user, version)
        backend = _backend(body.get("model"), user, version)
    except Problem as problem:
        _record_refused(request, token, problem)
        raise
    via = {"via": "api", "token": token.lookup}
    try:
        sent = services.send_request(
            author=user,
            category=category,
            parts=asked.parts,
            backend=backend,
            via=via,
            version=version,
            sampling=asked.sampling.to_store(),
        )
    except services.ChatError as exc:
        kind = "policy_violation" if category.blocks_all else "permission_error"
        _refuse(request, token, str(exc), code=_code(exc), kind=kind, category=category)
    decision = sent.decision
    effective = sent.message.conversation.category
    decided = {
        "X-Steward-Decision": str(decision.outcome),
        "X-Steward-Category": str(effective.number),
        "X-Steward-Category-Slug": effective.slug,
    }
    if decision.blocked:
        reasons = " ".join(decision.reasons)
        raise Problem(
            403,
            f"Blocked by policy: {reasons}",
            kind="policy_violation",
            code="blocked",
            headers=decided,
        )
    answer = sent.answer
    conversation = answer.conversation
    options = body.get("stream_options")
    return Prepared(
        answer=answer,
        messages=[
            ChatMessage(role="system", content=answering.SYSTEM_PROMPT),
            *(ChatMessage(role=role, content=text) for role, text in sent.outgoing),
        ],
        pseudonymiser=Pseudonymiser(
            conversation.pseudonyms() if sent.mapping is None else sent.mapping
        ),
        headers={**decided, "X-Steward-Backend": answer.backend_name},
        model=slugify(answer.backend_name),
        stream=body.get("stream") is True,
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        body=body,
    )


def _authenticate(request: HttpRequest) -> ApiToken:
    try:
        token = bearer_token(request)
    except TokenRefused as exc:
        raise Problem(401, str(exc), kind="authentication_error", code="invalid_api_key") from None
    except RateLimited as exc:
        raise Problem(
            429,
            str(exc),
            kind="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(exc.wait)},
        ) from None
    if token is None:
        raise Problem(
            401,
            "Send a personal API token: 'Authorization: Bearer <token>'.",
            kind="authentication_error",
            code="missing_api_key",
        )
    return token


def _refuse(request, token, message: str, *, code: str, kind="permission_error", category=None):
    """Refuse before the governed path, and record the attempt (a request refused is a use)."""
    with transaction.atomic():
        record_use(
            request,
            token,
            outcome=AuditEvent.Outcome.BLOCKED,
            refused=message,
            **({"category_number": category.number} if category else {}),
        )
    raise Problem(403, message, kind=kind, code=code)


def _record_refused(request: HttpRequest, token: ApiToken, problem: Problem) -> None:
    """Record a request refused for what it asks, by its error's code and status: never by
    its message, which may repeat what the request held (a category or model named)."""
    with transaction.atomic():
        record_use(
            request,
            token,
            outcome=AuditEvent.Outcome.FAILURE,
            status=problem.status,
            error=problem.code,
        )


def _code(exc: Exception) -> str:
    """``request_refused`` for a plain refusal; a subclass names itself (AcknowledgementRequired
    → ``acknowledgement_required``)."""
    name = type(exc).__name__
    if name == "ChatError":
        return "request_refused"
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class _NotJsonNumber(ValueError):
    """NaN or Infinity: Python's json reads them, no JSON parser must (nor writes them back)."""


def _no_constant(name: str):
    raise _NotJsonNumber(name)


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body, parse_constant=_no_constant)
    except _NotJsonNumber as exc:
        raise bad(
            f"The request body is not valid JSON: {exc} is not a JSON number.", code="invalid_json"
        ) from None
    except RequestDataTooBig:
        raise too_large(FORM_BODY_TOO_LARGE) from None
    except (ValueError, UnicodeDecodeError):
        raise bad("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # what json raises for a body nested too deeply
        raise bad("The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", code="invalid_json")
    if holds_broken_text(body):
        raise bad(BROKEN_TEXT, code="invalid_text")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad(
            "Name a model ('auto' lets the policy choose).", code="missing_model", param="model"
        )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad("'stream' must be true or false.", code="invalid_stream", param="stream")
    if body.get("stream_options") is not None:
        if not isinstance(body["stream_options"], dict):
            raise bad(
                "'stream_options' must be an object.", code="invalid_value", param="stream_options"
            )
        if body.get("stream") is not True:
            raise bad(
                "'stream_options' is allowed only when 'stream' is true.",
                code="invalid_value",
                param="stream_options",
            )
    return body


def _chat_asked(body: dict, version: Version) -> Asked:
    """A chat completion's request: its ``messages``, and its sampling."""
    refuse_unsupported(body)
    return Asked(parts=_parts(body.get("messages")), sampling=sampling_asked(body, version))


def _parts(messages) -> list[tuple[str, str]]:
    """The request's messages as (role, text); only text goes through Steward."""
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list.", code="invalid_messages", param="messages")
    parts = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise bad(
                "Each message needs a role: system, developer, user or assistant "
                "(tools are not supported).",
                code="invalid_messages",
                param="messages",
            )
        if message.get("tool_calls") or message.get("function_call"):
            raise bad(
                "Tool calls are not supported: send the earlier turns as text.",
                code="invalid_messages",
                param="messages",
            )
        parts.append((ROLES[role], text_of(message.get("content"))))
    return within_limits(parts, "messages")


def within_limits(parts: list[tuple[str, str]], param: str) -> list[tuple[str, str]]:
    """``parts``, if they hold some text and no more than a message may (else 400), counted
    as the chat counts them: joined into one text."""
    size = len(services.PART_SEPARATOR.join(text for _, text in parts))
    if not any(text.strip() for _, text in parts):
        raise bad(f"The {param} have no text.", code="empty_messages", param=param)
    if size > services.MAX_MESSAGE_CHARS:
        raise bad(
            f"The {param} hold {size:,} characters; the limit is {services.MAX_MESSAGE_CHARS:,}.",
            code="context_length_exceeded",
            param=param,
        )
    return parts


#: The sampling parameters passed on to the backend, with OpenAI's ranges.
RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
#: A seed is a 64-bit signed integer.
SEEDS = range(-(2**63), 2**63)
#: The longest answer that may be asked for: what a 32-bit integer holds, as some backends
#: take it (a larger number reached them and failed there, a 502 far from the cause).
MAX_LENGTH_ASKED = 2**31 - 1


def sampling_asked(
    body: dict, version: Version, limits=("max_completion_tokens", "max_tokens")
) -> Sampling:
    """temperature, top_p, the answer's length (``limits``: its names, newest first),
    ``stop``, ``seed`` and the two penalties as asked; each backend is given them in its own
    terms, or not at all where it has none (chat.llm)."""
    asked = {}
    for name, (low, high) in RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low <= value <= high:
            raise bad(
                f"'{name}' must be a number from {low:g} to {high:g}.",
                code="invalid_value",
                param=name,
            )
        asked[name] = float(value)
    for name in limits:
        value = body.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_LENGTH_ASKED
        ):
            raise bad(
                f"'{name}' must be a whole number from 1 to {MAX_LENGTH_ASKED:,}.",
                code="invalid_value",
                param=name,
            )
        asked.setdefault("max_tokens", value)
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed not in SEEDS:
            raise bad(
                "'seed' must be a whole number (64 bits).", code="invalid_value", param="seed"
            )
        asked["seed"] = seed
    stop = _stop(body.get("stop"), version)
    return Sampling(**asked, stop=stop)


#: OpenAI's limits on ``stop``: up to four sequences; ours on each one's length.
MAX_STOP_SEQUENCES, MAX_STOP_CHARS = 4, 200


def _stop(value, version: Version) -> tuple[str, ...] | None:
    """The stop sequences, scanned like the messages: they leave for the backend too, so
    one that holds anything the scanner or a rule finds (a value that would be a
    placeholder there, a protected term, a blocked keyword) is refused."""
    if value is None:
        return None
    sequences = [value] if isinstance(value, str) else value
    if (
        not isinstance(sequences, list)
        or not 1 <= len(sequences) <= MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in sequences)
    ):
        raise bad(
            f"'stop' must be a string or a list of up to {MAX_STOP_SEQUENCES}, each of 1 to "
            f"{MAX_STOP_CHARS} characters.",
            code="invalid_value",
            param="stop",
        )
    try:
        found = [detect(sequence, version=version) for sequence in sequences]
    except Exception:
        logger.exception("scanner failed on a request's stop sequences")
        raise Problem(
            503,
            "Steward could not check the stop sequences, so nothing was sent; try again.",
            kind="server_error",
            code="scan_failed",
        ) from None
    kinds = Counter(
        str(f.type) for d in found for f in d.scan.findings if str(f.type) not in HARMLESS_TYPES
    )
    if kinds or any(d.rule_hits for d in found):
        what = ", ".join(entity_phrase(kind, count) for kind, count in sorted(kinds.items()))
        raise bad(
            f"A stop sequence may not hold {what or 'what a detection rule looks for'}: it "
            "would reach the backend as it is.",
            code="invalid_value",
            param="stop",
        )
    return tuple(sequences)


#: What a request may ask for that changes the answer's shape, and how its value is
#: harmless: a client that asks for several choices, tool calls, JSON output or log
#: probabilities and is quietly given one plain answer fails later, further from the cause.
UNSUPPORTED = {
    "n": (
        lambda value: value is None or (type(value) is int and value == 1),  # not True
        "Steward gives one answer per request: 'n' must be 1.",
    ),
    "tools": (lambda value: not value, "Tools are not supported: the answer is text only."),
    "functions": (lambda value: not value, "Functions are not supported: the answer is text only."),
    "tool_choice": (
        lambda value: value in (None, "none", "auto"),
        "Tools are not supported: 'tool_choice' may only be 'none' or 'auto'.",
    ),
    "function_call": (
        lambda value: value in (None, "none", "auto"),
        "Functions are not supported: 'function_call' may only be 'none' or 'auto'.",
    ),
    "response_format": (
        lambda value: value is None or (isinstance(value, dict) and value.get("type") == "text"),
        'Only text answers are supported: \'response_format\' may only be {"type": "text"}. '
        "Ask for JSON in the message instead.",
    ),
    "logprobs": (lambda value: not value, "Log probabilities are not available through Steward."),
    "top_logprobs": (
        lambda value: not value,
        "Log probabilities are not available through Steward.",
    ),
    "modalities": (
        lambda value: value is None or value == ["text"],
        "Only text answers are supported: 'modalities' may only be [\"text\"].",
    ),
    "audio": (lambda value: value is None, "Only text answers are supported: no 'audio'."),
    "parallel_tool_calls": (
        lambda value: value is None,
        "Tools are not supported: 'parallel_tool_calls' has no tools to call.",
    ),
}
#: Tools a request says not to call (``tool_choice: "none"``) are dropped, not refused: a
#: text-only answer is what it asks for. Each by the choice that leaves it unused.
NOT_CALLED = {
    "tools": ("tool_choice", "none"),
    "parallel_tool_calls": ("tool_choice", "none"),
    "functions": ("function_call", "none"),
}
#: What a request may hold without being refused, besides :data:`UNSUPPORTED`'s, read by
#: :func:`refuse_unsupported`: ``HONOURED``, and ``IGNORED``, which is accepted and not passed
#: on because the answer is the same without it (who the end user is, which Steward knows
#: from the token; whether OpenAI keeps the completion, or which price tier serves it; a
#: caching hint). Anything else is refused: the README promises unsupported parameters are
#: refused, not ignored (a JSON schema, a logit bias or a reasoning effort quietly dropped
#: changes the answer).
IGNORED = frozenset(
    {
        "user",
        "safety_identifier",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
HONOURED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "metadata",  # its category; the rest is the caller's
        *RANGES,
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
    }
)


def refuse_unsupported(
    body: dict, unsupported: dict = UNSUPPORTED, accepted: frozenset = HONOURED | IGNORED
) -> None:
    """400 naming the first parameter Steward neither honours nor knows to be harmless to
    drop, or one it knows set to what it cannot give (tools, JSON output, several
    choices). A parameter set to null asks for nothing."""
    for name, value in body.items():
        if value is not None and name not in accepted and name not in unsupported:
            raise bad(
                f"Steward does not support the parameter {_shown(name)}: a parameter it cannot "
                "honour is refused, not ignored (see the README's list).",
                code="unsupported_parameter",
                param=name[:80],
            )
    for name, (harmless, message) in unsupported.items():
        if name in body and not harmless(body[name]) and not _not_called(name, body):
            raise bad(message, code="unsupported_parameter", param=name)


def _not_called(name: str, body: dict) -> bool:
    choice, none = NOT_CALLED.get(name, (None, None))
    return choice is not None and body.get(choice) == none


def text_of(content, *, kinds=("text",), param="messages") -> str:
    """A message's content as text: a string, or a list of text parts (their ``type`` one of
    ``kinds``); anything else (an image, a file, audio) is 400 naming ``param``."""
    if isinstance(content, str):
        return content
    if content is None:
        raise bad("A message has no content: give its text.", code="invalid_content", param=param)
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") in kinds and isinstance(p.get("text"), str)
        for p in content
    ):
        return "\n".join(p["text"] for p in content)
    raise bad("Only text content is supported.", code="invalid_content", param=param)


def _category(request: HttpRequest, body: dict, user: User, version: Version) -> Category:
    """The header, else ``metadata.category``, else the lowest category the user may chat in."""
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    named = str(_header(request, CATEGORY_HEADER) or metadata.get("category") or "").strip()
    categories = services.active_categories(version)
    if not named:
        cleared = policy_snapshot(version).cleared(user.pk, version.group_ids)  # active ones
        usable = [
            number
            for number in sorted(cleared)
            if not categories[number].blocks_all and categories[number].retention_days is not None
        ]
        if not usable:
            raise Problem(
                403,
                "You are not cleared for any category.",
                kind="permission_error",
                code="not_cleared",
            )
        return services.category_by_number(usable[0], version)
    if (asked := whole_number(named)) is not None:
        number = asked if asked in categories else None
    else:
        number = next((n for n, c in categories.items() if c.slug == named.lower()), None)
    if number is None:
        raise Problem(
            404,
            f"There is no category {_shown(named)}.",
            kind="not_found_error",
            code="unknown_category",
        )
    return services.category_by_number(number, version)


def _backend(model: str, user: User, version: Version) -> Backend | None:
    """None for ``auto``; else the backend of that name (or its id in /v1/models) the user
    may use somewhere. One they may not is as unknown as one that does not exist."""
    if model == AUTO:
        return None
    for spec, _ in _usable_backends(user, version):
        if model in (slugify(spec.name), spec.name) or model.casefold() == spec.name.casefold():
            return services.backend_by_key(spec.key, version)
    raise _unknown_model(model)


def _header(request: HttpRequest, name: str) -> str | None:
    """A header as the client wrote it: servers hand headers over decoded as Latin-1, so
    UTF-8 ("é") read as "Ã©"."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8 after all: as it came
        return value


def _shown(name: str) -> str:
    """A name the client sent, quoted for a message: a long one cut (it is echoed back)."""
    return repr(name if len(name) <= 80 else name[:80] + "…")


def _unknown_model(model: str) -> Problem:
    return Problem(
        404,
        f"The model {_shown(model)} does not exist or you do not have access to it.",
        kind="invalid_request_error",
        code="model_not_found",
    )


def too_large(message: str) -> Problem:
    """A body over a limit: Django's (:func:`_body`), or the server's (``config.asgi``)."""
    return Problem(413, message, kind="invalid_request_error", code="request_too_large")


def bad(message: str, *, code: str, param: str | None = None) -> Problem:
    return Problem(400, message, kind="invalid_request_error", code=code, param=param)


def _server_error() -> Problem:
    """What an unexpected failure answers: OpenAI's shape, not a page of HTML (nothing was
    sent to a model; the request's writes were rolled back)."""
    return Problem(
        500,
        "Steward failed to handle this request; nothing was sent to a model. Try again; if it "
        "goes on, tell your administrator (the time helps them find it in the log).",
        kind="server_error",
        code="internal_error",
    )


def _not_allowed(method: str, *also: str) -> JsonResponse:
    """405: use ``method`` (``also``: further methods allowed, named in Allow only)."""
    problem = Problem(
        405, f"Use {method}.", kind="invalid_request_error", code="method_not_allowed"
    )
    response = problem.response()
    response["Allow"] = ", ".join((method, *also))
    return response


# --- answers -------------------------------------------------------------------------------


def _completion_id(prepared: Prepared) -> str:
    return f"chatcmpl-{prepared.answer.public_id.hex}"


def tokens_used(progress: answering.Progress) -> tuple[int, int] | None:
    """The answer's (input, output) tokens, if its backend counted them."""
    if progress.usage is None:
        return None
    return progress.usage.input_tokens or 0, progress.usage.output_tokens or 0


def _usage(progress: answering.Progress) -> dict | None:
    if (used := tokens_used(progress)) is None:
        return None
    prompt, completion = used
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


#: A backend's refusals that are about its own setup, not the request: a model or an
#: address it does not know (404), its proxy's sign-in (407), its own timeout (408).
SETUP_STATUSES = {404, 407, 408}
#: Failures a request sent again would meet again: the backend's key or Steward's setup.
LASTING_KINDS = {"auth", "config", "expired"}


def _backend_failure(progress: answering.Progress) -> Problem:
    """A failed answer in HTTP's terms, with the vendor's error code when it gave one
    (clients know ``context_length_exceeded``), else the failure's kind.

    A backend's refusal of the request itself (a 4xx: longer than its context window, its
    content filter) is 400, its rate limit 429 (with its Retry-After), anything else 502.
    No client retries it (``x-should-retry: false``, which OpenAI's clients obey): the
    request was governed, recorded and answered in a conversation, and a retry would be
    all that again. Where sending it again may go better, the message says so.
    """
    failure = progress.failure
    status = failure.status if failure is not None and failure.kind == "http" else None
    code = (failure.code if failure is not None else None) or progress.error_kind
    headers = {"x-should-retry": "false"}
    wait = failure.retry_after if status == 429 else None
    if status == 429:
        answered, code = 429, failure.code or "rate_limit_exceeded"
        if wait:
            headers["Retry-After"] = str(wait)
    elif status is not None and 400 <= status < 500 and status not in SETUP_STATUSES:
        answered = 400
    else:
        answered = 502
    message = progress.error
    passing = status is None or status >= 500 or status in (408, 429)
    if passing and progress.error_kind not in LASTING_KINDS:
        stop = "" if message.endswith((".", "!", "?")) else "."
        after = f" after {wait} seconds" if wait else ""
        message += f"{stop} Steward did not retry it: the request may be sent again{after}."
    return Problem(answered, message, kind="backend_error", code=code, headers=headers)


async def _whole(answer: relay.Relay, prepared: Prepared, render) -> HttpResponse:
    try:
        async for item in answer.items():
            progress = item
    except BaseException:  # the client went away (the view was cancelled)
        answer.abandon()
        raise
    await answer.settle(progress)
    if progress.error_kind:  # what came before the failure is in the author's history
        return _backend_failure(progress).response()
    return JsonResponse(render(prepared, progress))


def _completion(prepared: Prepared, progress: answering.Progress) -> dict:
    return {
        "id": _completion_id(prepared),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": prepared.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": restore_outside_links(
                        progress.text, prepared.pseudonymiser.values()
                    ),
                    "refusal": None,
                },
                "finish_reason": progress.finish,
                "logprobs": None,
            }
        ],
        "usage": _usage(progress),
    }


def _chunks(answer: relay.Relay, prepared: Prepared) -> AsyncIterator[bytes]:
    """OpenAI's ``chat.completion.chunk`` events, placeholders restored, then ``[DONE]``."""
    base = {
        "id": _completion_id(prepared),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": prepared.model,
    }

    def event(delta: dict, finish=None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**base, "choices": [choice], **extra})

    def closing(progress: answering.Progress) -> bytes:
        if progress.error_kind:
            events = [_sse(_backend_failure(progress).body())]
        else:
            events = [event({}, progress.finish)]
            if prepared.include_usage:
                events.append(_sse({**base, "choices": [], "usage": _usage(progress)}))
        return b"".join([*events, b"data: [DONE]\n\n"])

    return streamed(
        answer,
        prepared,
        opening=event({"role": "assistant", "content": ""}),
        piece=lambda text: event({"content": text}),
        closing=closing,
    )


#: A comment line goes out after this long without a word (a reasoning model thinking, a
#: built-in answer waiting for the model): proxies and load balancers close a connection
#: idle for about a minute. Clients skip comments (the SSE format's own rule).
KEEP_ALIVE_SECONDS = 15


async def streamed(
    answer: relay.Relay,
    prepared: Prepared,
    *,
    opening: bytes,
    piece: Callable[[str], bytes],
    closing: Callable[[answering.Progress], bytes],
) -> AsyncIterator[bytes]:
    """An answer as server-sent events: ``opening``, a ``piece`` for each text with its
    placeholders restored (those that arrived together, written at once), and, once the
    answer is settled, its ``closing``; a comment after ``KEEP_ALIVE_SECONDS`` of silence.
    A client that goes away stops the answer."""
    restorer = relay.Restorer(prepared.pseudonymiser)
    finished = False
    progress = None
    try:
        yield opening
        async for batch in answer.batches(idle_seconds=KEEP_ALIVE_SECONDS):
            if not batch:
                yield b": keep-alive\n\n"
                continue
            events = []
            for item in batch:
                if isinstance(item, answering.Progress):
                    progress = item
                else:
                    text = restorer.feed(item)
                    if text:
                        events.append(piece(text))
            if events:
                yield b"".join(events)
        tail = restorer.flush()
        if tail:
            yield piece(tail)
        await answer.settle(progress)
        finished = True
        yield closing(progress)
    finally:
        if not finished:
            answer.abandon()


CHAT_COMPLETIONS = Endpoint(asked=_chat_asked, whole=_completion, events=_chunks)


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    """A chat completion, streamed (server-sent events) or whole, governed like a chat message."""
    return await answer_request(request, CHAT_COMPLETIONS)


def _sse(data: dict) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"
