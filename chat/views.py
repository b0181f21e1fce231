"""The chat pages: conversations, sending, stopping, retrying, exporting, deleting.

The answer's live stream is an async view of its own (:mod:`chat.streaming`).
"""

import json
from datetime import datetime
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib import messages as flash
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseClientRefresh,
    reswap,
    retarget,
)

from api import ratelimit
from audit.models import AuditEvent
from audit.services import record
from audit.words import without_blocked
from chat import services
from chat.access import (
    conversations_listed_for,
    get_conversation_for_user,
    get_message_for_user,
)
from chat.markdown import HTML_CLOSER, leaves_html_open
from chat.models import Conversation, Message
from chat.turns import turn_for, turns_for
from config.asked_here import asked_here
from config.downloads import attachment, local_time
from governance.access import role_holders, role_required
from governance.models import Category, Clearance
from governance.policy import Outcome, is_prohibited, reason_once_sent
from governance.roles import Role
from training.services import acknowledgement_status

#: Conversations per page of the list; "Older conversations" loads the next page.
CONVERSATION_LIST_LIMIT = 200


def wants_partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


@require_GET
@role_required(Role.STAFF)
def home(request: HttpRequest) -> HttpResponse:
    """The user's conversations (searchable by title) and the categories they may start one in.

    Someone who has yet to acknowledge the current policy is sent to read it first.
    """
    training = acknowledgement_status(request.user)
    if training.gated:
        return _to(request, _acknowledge_url(reverse("chat:home")))
    query = request.GET.get("q", "").strip()[:100]
    after = _place(request.GET.get("before", ""))
    conversations, older = _conversation_page(request.user, query, after)
    older_url = ""
    if older:
        params = {"q": query, "before": older} if query else {"before": older}
        older_url = reverse("chat:home") + "?" + urlencode(params)
    template = "chat/home.html"
    partial = wants_partial(request)
    if partial:
        # "Older conversations" adds rows to the list; the search replaces the list.
        template += "#older-conversations" if after else "#conversation-list"
    return render(
        request,
        template,
        {
            "conversations": conversations,
            "query": query,
            "older_url": older_url,
            "paged": after is not None,
            "announce": partial and after is None,
            **_picker(request.user),
            "training": training,
        },
    )


@require_POST
@role_required(Role.STAFF)
def start(request: HttpRequest) -> HttpResponse:
    """Start a conversation in the chosen category and open it."""
    category = Category.objects.filter(slug=request.POST.get("category", "")).first()
    if category is None:
        flash.error(request, "Choose a category for the conversation.")
        return _to(request, reverse("chat:home"))
    try:
        conversation = services.start_conversation(owner=request.user, category=category)
    except services.AcknowledgementRequired:
        return _to(request, _acknowledge_url(reverse("chat:home")))
    except services.ChatError as exc:
        flash.error(request, str(exc))
        return _to(request, reverse("chat:home"))
    return _to(request, reverse("chat:conversation", args=[conversation.public_id]))


@require_GET
@role_required(Role.STAFF)
def conversation(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One conversation: its newest turns, the message box and the live policy preview.

    ``?before=<a message's id>``: the page of turns before that message instead, for
    "Show earlier messages" without script and for a way back to an older turn. The
    ``?all=1`` that once showed every turn (2.4 MB of HTML at 1,500 messages) may be
    bookmarked: it opens the newest page.
    """
    conversation = get_conversation_for_user(request.user, public_id)
    before = None
    if request.GET.get("before"):
        before = _message_in(conversation, request.GET["before"])
    context = _page_context(request, conversation, before=before)
    return render(request, "chat/conversation.html", context)


@require_GET
@role_required(Role.STAFF)
def earlier(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The page of turns before ``?before=<a message's id>`` in the author's conversation,
    for the page to put above the ones it shows."""
    conversation = get_conversation_for_user(request.user, public_id)
    before = _message_in(conversation, request.GET.get("before", ""))
    turns, oldest_shown = _page_of_turns(conversation, before=before)
    context = {"conversation": conversation, "turns": turns, "earlier": oldest_shown}
    return render(request, "chat/conversation.html#earlier-page", context)


@require_POST
@role_required(Role.STAFF)
def send(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Send a message; htmx gets the new turns to append and an empty message box.

    Only the new turns are rendered (re-rendering the whole thread, every answer
    decrypted and turned into HTML again, made sending slower as a conversation
    grew); the title and the list beside it come too after the first message.
    The page's own script sends through :func:`chat.streaming.send_and_stream`
    instead, which answers the same and then streams the answer on that response.
    """
    return sent_turns(request, public_id, live=False)[0]


@role_required(Role.STAFF)
def send_for_stream(request: HttpRequest, public_id: UUID):
    """:func:`send` for :func:`chat.streaming.send_and_stream`: (the response, the answer to
    stream after it or None); the login redirect alone for an anonymous visitor."""
    return sent_turns(request, public_id, live=True)


def sent_turns(
    request: HttpRequest, public_id: UUID, *, live: bool
) -> tuple[HttpResponse, Message | None]:
    """Send the message; the response, and the answer on its way when the response shows it.

    ``live``: the page reads the answer on this response, so its turn opens no
    stream of its own.
    """
    conversation = get_conversation_for_user(request.user, public_id)
    text = request.POST.get("text", "")
    untitled = not conversation.title_sealed
    empty = untitled and not conversation.messages.exists()
    try:
        _refuse_if_too_fast(request.user)
        sent = services.send_message(conversation=conversation, author=request.user, text=text)
    except services.AcknowledgementRequired:
        url = _acknowledge_url(reverse("chat:conversation", args=[public_id]))
        return _to(request, url), None
    except services.ChatError as exc:
        refused = {"text": text, "error": str(exc)}  # what was typed stays in the box
        if not wants_partial(request):
            context = {**_page_context(request, conversation), **refused}
            return render(request, "chat/conversation.html", context, status=422), None
        context = {"conversation": conversation, **refused}
        response = render(request, "chat/conversation.html#composer", context, status=422)
        return reswap(retarget(response, "#composer"), "outerHTML"), None
    if not wants_partial(request):
        # To the question just sent: it, the answer on its way and the box below it (at
        # "#composer" a phone showed the box at the top, the new turns out of view above).
        url = reverse("chat:conversation", args=[public_id]) + f"#turn-{sent.message.public_id}"
        return HttpResponseRedirect(url), None
    if sent.decision.outcome is Outcome.ESCALATE:
        return HttpResponseClientRefresh(), None  # the page now belongs to another category
    # The row as the service locked and saved it (title, mapping; its category came along).
    conversation = sent.message.conversation
    new = [sent.message] if sent.answer is None else [sent.message, sent.answer]
    titled = untitled and bool(conversation.title_sealed)
    context = {
        "conversation": conversation,
        "turns": turns_for(conversation, new),
        "was_empty": empty,
        "titled": titled,
        "live": live,
    }
    if titled:
        context.update(title=conversation.title, **_side_list(request.user))
    return render(request, "chat/partials/after_send.html", context), sent.answer


@require_POST
@role_required(Role.STAFF)
def preview(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """What would happen to the text being typed; nothing is stored or sent.

    Each preview scans the text, so a person may ask for only so many a minute
    (:func:`previews_per_minute`, counted apart from their sends): past that, the
    preview area says when previews come back (422, which the page swaps in)."""
    conversation = get_conversation_for_user(request.user, public_id)
    limit = previews_per_minute()
    wait = ratelimit.retry_after(f"preview:{request.user.pk}", limit=limit)
    if wait is not None:
        too_fast = (
            f"Previews are paused for {wait} second{'' if wait == 1 else 's'}: more than "
            f"{limit} were asked for in a minute. What you send is still checked."
        )
        response = render(
            request,
            "chat/conversation.html#preview",
            {"conversation": conversation, "too_fast": too_fast},
            status=422,
        )
        response["Retry-After"] = str(wait)
        return response
    text = request.POST.get("text", "")
    simulation = None
    too_long = ""
    if text.strip():
        try:
            text = services.clean_text(text)
        except services.ChatError as refusal:
            # Said before sending, as the send would refuse it (the box keeps all of a paste).
            too_long = str(refusal)
        else:
            simulation = services.preview(author=request.user, conversation=conversation, text=text)
    return render(
        request,
        "chat/conversation.html#preview",
        {"conversation": conversation, "simulation": simulation, "too_long": too_long},
    )


@require_GET
@role_required(Role.STAFF)
def turn(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One turn, fresh from the database (the stream's end fetches the final answer).

    ``?settled=1`` answers 204 while the answer is still on its way: the page
    asks every few seconds, in case its stream broke and no end event comes.
    """
    message = get_message_for_user(request.user, public_id)
    if request.GET.get("settled") and message.in_flight:
        return HttpResponse(status=204)
    return render(request, "chat/conversation.html#turn", {"turn": turn_for(message)})


@require_POST
@role_required(Role.STAFF)
def stop(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Stop an answer being generated; the stream ends and the page shows what came."""
    message = get_message_for_user(request.user, public_id)
    services.cancel_answer(answer=message, author=request.user)
    if wants_partial(request):
        return HttpResponse(status=204)
    return HttpResponseRedirect(_turn_anchor(message))


@require_POST
@role_required(Role.STAFF)
def retry(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Ask again for a failed or stopped answer."""
    message = get_message_for_user(request.user, public_id)
    try:
        _refuse_if_too_fast(request.user)
        message = services.retry_answer(answer=message, author=request.user)
    except services.AcknowledgementRequired:
        return _to(request, _acknowledge_url(_turn_anchor(message)))
    except services.ChatError as exc:
        if not wants_partial(request):
            flash.error(request, str(exc))
            return HttpResponseRedirect(_turn_anchor(message))
        return render(
            request,
            "chat/conversation.html#turn",
            {"turn": turn_for(message), "turn_error": str(exc)},
        )
    if not wants_partial(request):
        return HttpResponseRedirect(_turn_anchor(message))
    return render(request, "chat/conversation.html#turn", {"turn": turn_for(message)})


def _exportable(request: HttpRequest, public_id: UUID, fmt: str) -> Conversation:
    """The author's conversation, in a format it exports to; anything else is a 404 (before
    asking whether to export it, too)."""
    conversation = get_conversation_for_user(request.user, public_id)
    if fmt not in ("md", "json"):
        raise Http404("Export as md or json.")
    return conversation


@require_GET
@role_required(Role.STAFF)
@asked_here("export this conversation", button="Export the conversation", check=_exportable)
def export(request: HttpRequest, public_id: UUID, fmt: str) -> HttpResponse:
    """The conversation as Markdown or JSON, values restored: for its author only."""
    conversation = _exportable(request, public_id, fmt)
    turns = turns_for(conversation, _messages(conversation), html=False)
    record(
        action=AuditEvent.Action.CHAT_EXPORTED,
        actor=request.user,
        target=conversation,
        category=conversation.category.name,
        details={"format": fmt, "messages": len(turns)},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "json":
        body = json.dumps(_export_json(conversation, turns), ensure_ascii=False, indent=2)
        content_type = "application/json; charset=utf-8"
    else:
        body = _export_markdown(conversation, turns)
        content_type = "text/markdown; charset=utf-8"
    return attachment(body, filename=f"conversation-{stamp}.{fmt}", content_type=content_type)


@require_POST
@role_required(Role.STAFF)
def rename(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Rename a conversation; htmx gets the new heading and list, or the form again with
    what was typed and why it was refused."""
    conversation = get_conversation_for_user(request.user, public_id)
    typed = request.POST.get("title", "")
    try:
        services.rename_conversation(conversation=conversation, actor=request.user, title=typed)
    except services.ChatError as exc:
        refused = {"rename_title": typed, "rename_error": str(exc)}
        if not wants_partial(request):
            context = {**_page_context(request, conversation), **refused}
            return render(request, "chat/conversation.html", context, status=422)
        context = {"conversation": conversation, "title": _title_of(conversation), **refused}
        return render(request, "chat/conversation.html#title-block", context, status=422)
    if not wants_partial(request):
        flash.success(request, "Conversation renamed.")
        return HttpResponseRedirect(reverse("chat:conversation", args=[public_id]))
    context = {
        "conversation": conversation,
        "title": conversation.title,
        **_side_list(request.user),
    }
    return render(request, "chat/partials/renamed.html", context)


@require_POST
@role_required(Role.STAFF)
def delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Delete a conversation for good (its key goes with it)."""
    conversation = get_conversation_for_user(request.user, public_id)
    try:
        services.delete_conversation(conversation=conversation, actor=request.user)
    except services.ChatError as exc:
        flash.error(request, str(exc))
        return _to(request, reverse("chat:conversation", args=[public_id]))
    flash.success(request, "Conversation deleted.")
    return _to(request, reverse("chat:home"))


# --- helpers -------------------------------------------------------------------------------


def _refuse_if_too_fast(user) -> None:
    """Count one message for ``user`` (a send or a retry, each on its way to a model);
    past the API's limit a minute (``STEWARD_API_REQUESTS_PER_MINUTE``, counted apart from
    their API tokens' requests), refuse it before anything is stored or sent. Nobody types
    that fast: a script with the session cookie would otherwise call the models, paid ones
    included, as often as it liked. Not recorded, as the API's refusals past its limit are
    not: a loop would fill the trail."""
    wait = ratelimit.retry_after(f"chat:{user.pk}")
    if wait is not None:
        raise services.ChatError(
            "You are sending messages faster than Steward takes them from one person (at "
            f"most {settings.STEWARD_API_REQUESTS_PER_MINUTE} a minute): wait {wait} "
            f"second{'' if wait == 1 else 's'}, then send it again."
        )


def previews_per_minute() -> int:
    """Live previews a person may ask for a minute: four times their messages'
    (``STEWARD_API_REQUESTS_PER_MINUTE``), and never fewer than the 150 one message box
    asks for typed without a stop (one at each 400 ms pause): the page asks while they
    type, not when they choose to. Enough to stop a script scanning text in a loop."""
    return max(150, 4 * settings.STEWARD_API_REQUESTS_PER_MINUTE)


def _to(request: HttpRequest, url: str) -> HttpResponse:
    """Navigate: a client redirect for htmx (never a 302 to an htmx POST), else a 302."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def _acknowledge_url(back: str) -> str:
    """The policy to acknowledge, coming back to ``back`` afterwards."""
    return reverse("training:acknowledge") + "?" + urlencode({"next": back})


def _turn_anchor(message: Message) -> str:
    """The turn on its conversation's page: the page it opens with when the turn is among
    its newest (an answer stopped or retried usually is), else the page that ends with it
    (``?before=`` the turn after it)."""
    conversation = message.conversation
    newer = conversation.messages.filter(
        Q(created_at__gt=message.created_at) | Q(created_at=message.created_at, id__gt=message.pk)
    ).order_by("created_at", "id")
    next_ones = list(newer.values_list("public_id", flat=True)[:TURNS_PER_PAGE])
    page = f"?before={next_ones[0]}" if len(next_ones) == TURNS_PER_PAGE else ""
    url = reverse("chat:conversation", args=[conversation.public_id])
    return f"{url}{page}#turn-{message.public_id}"


def _may_start(category: Category) -> bool:
    """Whether a conversation may be started in ``category`` (by someone cleared for it)."""
    return category.stores_content and not category.blocks_all


#: The policy admins a person not cleared for a category is told to ask, by name.
NAMED_ADMINS = 3


def _picker(user) -> dict:
    """The start form's categories: those ``user`` may pick, and below them the active ones
    they may not, each with why (``never_sent``: prohibited, no clearance would open it)
    and, for the others, whom to ask for clearance."""
    theirs = Clearance.objects.for_user(user).filter(category=OuterRef("pk"))
    active = Category.objects.filter(is_active=True).annotate(cleared=Exists(theirs))
    startable, closed = [], []
    for category in active:
        if category.cleared and _may_start(category):
            startable.append(category)
        elif is_prohibited(category):
            closed.append({"category": category, "never_sent": True})
        elif not category.cleared and _may_start(category):  # a clearance would open it
            closed.append({"category": category, "never_sent": False})
    asks = any(not c["never_sent"] for c in closed)
    return {
        "categories": startable,
        "closed_categories": closed,
        "ask_for_clearance": _ask_for_clearance(user) if asks else "",
    }


def _ask_for_clearance(user) -> str:
    """Whom to ask for a clearance: the policy admins by name (a few, the rest in a word)."""
    if user.has_perm(Role.POLICY_ADMIN.permission):
        return "you can clear yourself under Policy → Clearances"
    admins = role_holders(Role.POLICY_ADMIN).exclude(pk=user.pk)
    names = [admin.display_name for admin in admins[: NAMED_ADMINS + 1]]
    if not names:
        return "ask your administrator"
    if len(names) > NAMED_ADMINS:
        names[NAMED_ADMINS:] = ["another policy admin"]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"ask a policy admin ({listed})"


def _side_list(user) -> dict:
    """The user's newest conversations (a conversation page's side list), with their titles,
    and whether there are older ones (the chat page lists them all)."""
    conversations, older = _conversation_page(user)
    return {"conversations": conversations, "side_more": bool(older)}


def _conversation_page(
    user, query: str = "", after: tuple[datetime, UUID] | None = None
) -> tuple[list[dict], str]:
    """A page of the user's conversations, newest first, with their titles (decrypted here,
    for them); and where the next, older, page starts (``""`` if nothing is older).

    That place is ``<last activity>~<public id>`` of the page's last row (the id breaks
    ties); the next page comes ``after`` it, as :func:`_place` reads it back.
    Titles are sealed, so a search decrypts them, newest first, until it has a page of
    matches and one more: each is a few microseconds of AES, fine for thousands.
    """
    conversations = conversations_listed_for(user)
    if after:
        last_activity, public_id = after
        conversations = conversations.filter(last_activity_at__lte=last_activity).exclude(
            last_activity_at=last_activity, public_id__gte=public_id
        )
    wanted = CONVERSATION_LIST_LIMIT + 1
    if not query:
        rows = [{"conversation": c, "title": _title_of(c)} for c in conversations[:wanted]]
    else:
        folded = query.casefold()
        rows = []
        for item in conversations.iterator(chunk_size=500):
            title = _title_of(item)
            if folded in title.casefold():
                rows.append({"conversation": item, "title": title})
                if len(rows) == wanted:
                    break
    if len(rows) < wanted:
        return rows, ""
    rows = rows[:CONVERSATION_LIST_LIMIT]
    last = rows[-1]["conversation"]
    return rows, f"{last.last_activity_at.isoformat()}~{last.public_id}"


def _place(before: str) -> tuple[datetime, UUID] | None:
    """The last activity and public id an older page starts after; None (the newest page)
    if there is none, or it is garbled."""
    when, _, public_id = before.partition("~")
    try:
        last_activity = parse_datetime(when)
        if last_activity and timezone.is_aware(last_activity):
            return last_activity, UUID(public_id)
    except ValueError:
        pass
    return None


def _messages(conversation: Conversation):
    return conversation.messages.select_related("backend").order_by("created_at", "id")


#: The newest turns a conversation opens with; the earlier ones come a page at a time,
#: when asked for (400 turns' Markdown took 0.4 s to render on a fast machine, 1 s on a slow one).
TURNS_PER_PAGE = 60


def _page_of_turns(
    conversation: Conversation, *, before: Message | None = None
) -> tuple[list, Message | None]:
    """The newest ``TURNS_PER_PAGE`` turns (of those before ``before``), oldest first, and
    the oldest of them if there are earlier ones still."""
    messages = _messages(conversation)
    if before is not None:
        messages = messages.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.pk)
        )
    newest = list(messages.order_by("-created_at", "-id")[: TURNS_PER_PAGE + 1])
    page = newest[:TURNS_PER_PAGE][::-1]
    return turns_for(conversation, page), page[0] if len(newest) > TURNS_PER_PAGE else None


def _message_in(conversation: Conversation, public_id: str) -> Message:
    """The message of ``conversation`` with that id; 404 for any other (another's too)."""
    try:
        return conversation.messages.get(public_id=UUID(public_id))
    except (ValueError, Message.DoesNotExist):
        raise Http404("No such message in this conversation.") from None


def _page_context(
    request: HttpRequest, conversation: Conversation, *, before: Message | None = None
) -> dict:
    """The conversation page's context: its newest turns, or those ``before`` a message."""
    turns, oldest_shown = _page_of_turns(conversation, before=before)
    return {
        "conversation": conversation,
        "title": _title_of(conversation),
        "turns": turns,
        "earlier": oldest_shown,
        # An earlier page: the way back to the newest, and a message box that goes there.
        "paged": before is not None,
        **_side_list(request.user),
    }


def _title_of(conversation: Conversation) -> str:
    return conversation.title or "New conversation"


def _export_json(conversation: Conversation, turns) -> dict:
    return {
        "conversation": str(conversation.public_id),
        "title": conversation.title,
        "category": {"number": conversation.category.number, "name": conversation.category.name},
        "created_at": local_time(conversation.created_at),
        "messages": [
            {
                "id": str(t.message.public_id),
                "role": t.message.role,
                "status": t.message.status,
                "created_at": local_time(t.message.created_at),
                "text": t.text,
                "sent_as": t.sent or None,
                "backend": t.message.backend_name or None,
                "decision": t.message.decision or None,
                "reasons": [reason_once_sent(reason) for reason in t.message.reasons],
                "error": t.message.error or None,
                "finish_reason": t.message.finish_reason or None,
            }
            for t in turns
        ],
    }


def _export_markdown(conversation: Conversation, turns) -> str:
    """The conversation as Markdown: its header, then its turns, each closing the HTML it
    leaves open (:func:`_html_closed`)."""
    category = conversation.category
    header = [
        f"# {conversation.title or 'Conversation'}",
        "",
        f"Category {category.number} ({category.name}) · started "
        f"{timezone.localtime(conversation.created_at):%Y-%m-%d %H:%M}",
    ]
    lines = [*_html_closed(header), ""]
    for t in turns:
        who = "You" if t.message.role == Message.Role.USER else (t.message.backend_name or "Model")
        turn = [f"## {who} · {timezone.localtime(t.message.created_at):%Y-%m-%d %H:%M}", ""]
        if t.message.status == Message.Status.BLOCKED:
            reasons = (without_blocked(reason) for reason in t.message.reasons)
            turn.append("*Blocked, not sent:* " + " ".join(reasons))
        else:
            turn.append(t.text or f"*{t.message.get_status_display()}*")
        if t.message.error:
            turn += ["", f"*{t.message.error}*"]
        if t.cut_short:
            turn += ["", f"*{t.cut_short}*"]
        lines += [*_html_closed(turn), ""]
    return "\n".join(lines)


def _html_closed(block: list[str]) -> list[str]:
    """``block``'s lines of Markdown, then :data:`HTML_CLOSER` if it leaves HTML open.
    Rendered with raw HTML (GitHub, VS Code), what follows would be read into the tag left
    open (an image's address, say), the author's values included: a turn's text, and the
    header's title (the owner's, or their first message's) and category name as well."""
    if leaves_html_open("\n".join(block)):
        return [*block, "", HTML_CLOSER]
    return block
