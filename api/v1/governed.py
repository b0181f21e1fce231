"""The governed path every /v1 answer takes: the token, the request read by its endpoint's
rules, :func:`chat.services.send_request` (scanned, decided, recorded, pseudonymised), then
the answer relayed by the web process itself (:mod:`api.relay`), whole or as server-sent
events, with the real values put back."""

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from api import relay
from api.authentication import MFA_REQUIRED, RateLimited, bearer_token, record_use
from api.models import ApiToken
from api.services import TokenRefused
from api.v1.problems import Problem, _not_allowed, _server_error, _shown, _unknown_model
from api.v1.reading import Asked, _body
from audit.models import AuditEvent
from chat import answering, llm, services
from chat.llm import ChatMessage
from chat.pseudonyms import Pseudonymiser
from config.connections import in_database_thread
from config.numbers import whole_number
from governance.access import holds, must_enrol_mfa
from governance.models import Backend, Category, User
from governance.policy import eligible_backends
from governance.policy_cache import Version
from governance.roles import Role
from governance.simulation import policy_snapshot

logger = logging.getLogger(__name__)

AUTO = "auto"
CATEGORY_HEADER = "X-Steward-Category"


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


#: Why a token of someone without the Staff role is refused, by the completions and the list
#: of models alike.
NOT_STAFF = "Only the Staff role may chat with models."


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
        _refuse(request, token, NOT_STAFF, code="not_staff")
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
        message = _refusal_message(request, exc, user, category, version)
        _refuse(request, token, message, code=_code(exc), kind=kind, category=category)
    decision = sent.decision
    effective = sent.message.conversation.category
    decided = {
        "X-Steward-Decision": str(decision.outcome),
        "X-Steward-Category": str(effective.number),
        "X-Steward-Category-Slug": effective.slug,
    }
    if decision.blocked:
        # Each reason starts "Blocked: …", the chat's words; a prefix would say it twice.
        reasons = " ".join(decision.reasons)
        raise Problem(
            403,
            f"{reasons} Nothing was sent to a model.",
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


def _refusal_message(
    request: HttpRequest, exc: Exception, user: User, category: Category, version: Version
) -> str:
    """The chat's refusal, with what a program's author cannot see on a page: where to
    acknowledge the policy, or which categories they may use instead."""
    if isinstance(exc, services.AcknowledgementRequired):
        url = request.build_absolute_uri(reverse("training:acknowledge"))
        return (
            "Read and acknowledge the current usage policy before you chat, through the API "
            f"too: sign in to Steward at {url}, then send the request again."
        )
    if category.number in policy_snapshot(version).cleared(user.pk, version.group_ids):
        return str(exc)
    usable = _usable_categories(user, version)
    if not usable:
        return f"{exc} Ask your policy admin to clear you for it."
    return (
        f"{exc} You may use {usable}: name one in the {CATEGORY_HEADER} header. "
        "A policy admin clears people for the others."
    )


def _usable_categories(user: User, version: Version) -> str:
    """The categories ``user`` may send to, as a message names them: "1 (public), 2 (internal)"."""
    cleared = policy_snapshot(version).cleared(user.pk, version.group_ids)  # active ones
    categories = services.active_categories(version)
    return ", ".join(
        f"{number} ({categories[number].slug})"
        for number in sorted(cleared)
        if number in categories and not categories[number].blocks_all
    )


def _code(exc: Exception) -> str:
    """``request_refused`` for a plain refusal; a subclass names itself (AcknowledgementRequired
    → ``acknowledgement_required``)."""
    name = type(exc).__name__
    if name == "ChatError":
        return "request_refused"
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


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
                "You are not cleared for any category: ask your policy admin to clear you for "
                "the one your data belongs in.",
                kind="permission_error",
                code="not_cleared",
            )
        return services.category_by_number(usable[0], version)
    if (asked := whole_number(named)) is not None:
        number = asked if asked in categories else None
    else:
        number = next((n for n, c in categories.items() if c.slug == named.lower()), None)
    if number is None:
        usable = _usable_categories(user, version)
        yours = f" Yours: {usable}." if usable else ""
        raise Problem(
            404,
            f"There is no category {_shown(named)}.{yours}",
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


def _usable_backends(user: User, version: Version) -> list[tuple]:
    """(backend spec, category numbers it may serve for ``user``), from the cached policy."""
    policy = policy_snapshot(version)
    today = timezone.localdate()
    serves: dict[str, tuple] = {}
    for number in sorted(policy.cleared(user.pk, version.group_ids)):
        for spec in eligible_backends(policy.categories[number], policy.backends, today=today):
            serves.setdefault(spec.key, (spec, []))[1].append(number)
    return list(serves.values())


def tokens_used(progress: answering.Progress) -> tuple[int, int] | None:
    """The answer's (input, output) tokens, if its backend counted them."""
    if progress.usage is None:
        return None
    return progress.usage.input_tokens or 0, progress.usage.output_tokens or 0


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
    if code == llm.TOO_LONG and failure is not None and str(failure) != message:
        message += f" ({failure})"  # the vendor's words: its limit, what was asked of it
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
